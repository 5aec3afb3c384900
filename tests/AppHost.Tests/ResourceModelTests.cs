using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Mlops.AppHost.Infrastructure;

namespace Mlops.Tests;

/// <summary>The AppHost's model for each infrastructure mode, built but not started (Containers cannot run on these machines).</summary>
public sealed class ResourceModelTests
{
    private static readonly string[] Services =
        [ResourceNames.FeatureStore, ResourceNames.ExperimentTracker, ResourceNames.PipelineRunner, ResourceNames.Monitor, ResourceNames.Serving];

    private static Task<IDistributedApplicationTestingBuilder> BuildModelAsync(params string[] args) =>
        DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(args);

    [Fact]
    public async Task Containers_UsesPostgresRabbitMqAndLocalStackContainers()
    {
        await using var builder = await BuildModelAsync("--Infrastructure:Mode=Containers");

        Assert.IsType<PostgresServerResource>(Resource(builder, ResourceNames.Postgres));
        Assert.IsType<RabbitMQServerResource>(Resource(builder, ResourceNames.Messaging));
        var s3 = Assert.IsType<ContainerResource>(Resource(builder, ResourceNames.S3));
        var image = s3.Annotations.OfType<ContainerImageAnnotation>().Single();
        Assert.Equal("localstack/localstack", image.Image);
        Assert.Equal(4566, s3.Annotations.OfType<EndpointAnnotation>().Single().TargetPort);
        Assert.Contains(s3.Annotations, a => a is HealthCheckAnnotation { Key: "s3-buckets" });

        foreach (var name in Services)
        {
            var env = await PublishedEnvironmentAsync(builder, name);
            AssertDatabaseConnection(env, name, "Host={postgres.bindings.tcp.host};Port={postgres.bindings.tcp.port}");
            Assert.Equal("{messaging.connectionString}", env["ConnectionStrings__messaging"]);
            Assert.Equal("{s3.bindings.http.url}", env["S3__ServiceUrl"]);
            Assert.Equal("{api-key.value}", env["Auth__ApiKey"]);
            Assert.Equal("{admin-key.value}", env["Auth__AdminKey"]);
            Assert.Equal(ResourceNames.LakeBucket, env["Storage__LakeBucket"]);
            AssertWaitsFor(builder, name, ResourceNames.Postgres, ResourceNames.Messaging, ResourceNames.S3);
            // Every key the production deployment provides (one shared list) comes from the AppHost too; the OTLP endpoint is
            // Aspire's own wiring to its dashboard, which this model has none of.
            var connection = PlatformSettings.Services.Single(s => s.Service == name).DatabaseConnectionName;
            Assert.All(PlatformSettings.For(connection).Where(k => k != PlatformSettings.OtlpEndpoint), key => Assert.Contains(key, env.Keys));
        }
    }

    [Fact]
    public async Task SampleScenario_WaitsForEveryService_FindsTheFlightsDataAndTheLake_AndCanBeTurnedOff()
    {
        await using var builder = await BuildModelAsync("--Infrastructure:Mode=Containers", "--Sample:FlightsPerMonth=1234");
        var env = await PublishedEnvironmentAsync(builder, ResourceNames.Sample);
        Assert.EndsWith(Path.Combine("vega-datasets", "data", "flights-3m.parquet"), env["Sample__FlightsParquet"]);
        Assert.Equal("1234", env["Sample__FlightsPerMonth"]);
        Assert.Equal("{api-key.value}", env["Auth__ApiKey"]);
        Assert.Equal(ResourceNames.LakeBucket, env[PlatformSettings.LakeBucket]); // the labelled flights it writes for retraining
        foreach (var service in new[] { ResourceNames.FeatureStore, ResourceNames.ExperimentTracker, ResourceNames.PipelineRunner, ResourceNames.Serving, ResourceNames.Monitor })
        {
            Assert.Contains($"services__{service}__http__0", env.Keys);
            AssertWaitsFor(builder, ResourceNames.Sample, service);
        }
        // Read from .git without running git: the checked-out commit, 40 hex digits (or empty outside a clone).
        Assert.Matches("^([0-9a-f]{40})?$", env["Sample__GitCommit"]);

        await using var without = await BuildModelAsync("--Infrastructure:Mode=Containers", "--Sample:Enabled=false");
        Assert.DoesNotContain(without.Resources, r => r.Name == ResourceNames.Sample);
    }

    [Fact]
    public async Task LocalProcesses_RunsInfrastructureAsProcessesOnFixedLoopbackPorts()
    {
        var data = Path.Combine(Path.GetTempPath(), $"mlops-model-{Guid.NewGuid():N}");
        await using var builder = await BuildModelAsync("--Infrastructure:Mode=LocalProcesses", "--Infrastructure:SkipBootstrap=true",
            $"--Infrastructure:DataDirectory={data}");

        var postgres = Assert.IsType<LocalPostgresResource>(Resource(builder, ResourceNames.Postgres));
        var rabbit = Assert.IsType<LocalRabbitMqResource>(Resource(builder, ResourceNames.Messaging));
        var s3 = Assert.IsType<ExecutableResource>(Resource(builder, ResourceNames.S3));
        Assert.Equal("node", s3.Command);

        // Fixed, unproxied ports: connection strings stay valid when a process is stopped and started again.
        foreach (var resource in new IResource[] { postgres, rabbit, s3 })
        {
            var endpoint = resource.Annotations.OfType<EndpointAnnotation>().Single();
            Assert.False(endpoint.IsProxied);
            Assert.NotNull(endpoint.Port);
            Assert.Equal(endpoint.Port, endpoint.TargetPort);
            Assert.NotEmpty(resource.Annotations.OfType<HealthCheckAnnotation>());
        }
        var ports = new[] { postgres, rabbit, (IResource)s3 }.Select(r => r.Annotations.OfType<EndpointAnnotation>().Single().Port).ToList();
        Assert.Equal(ports.Count, ports.Distinct().Count());

        var pgEnv = await PublishedEnvironmentAsync(builder, ResourceNames.Postgres);
        Assert.Equal(Path.Combine(data, "postgres"), pgEnv["MLOPS_PG_DATA"]);
#pragma warning disable CS0618
        var args = await s3.GetArgumentValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618
        Assert.Contains(ResourceNames.LakeBucket, args);
        Assert.Contains(ResourceNames.ArtifactBucket, args);
        Assert.Contains(Path.Combine(data, "s3"), args);

        foreach (var name in Services)
        {
            var env = await PublishedEnvironmentAsync(builder, name);
            AssertDatabaseConnection(env, name, "Host=127.0.0.1;Port={postgres.bindings.tcp.port}");
            Assert.Equal("true", env["S3__ForcePathStyle"]);
            AssertWaitsFor(builder, name, ResourceNames.Postgres, ResourceNames.Messaging, ResourceNames.S3);
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(data)); // the folder exists; nothing has started in it
        Directory.Delete(data);
    }

    [Fact]
    public async Task External_TakesConnectionStringsAndRealS3()
    {
        await using var builder = await BuildModelAsync("--Infrastructure:Mode=External", "--Infrastructure:S3Region=eu-west-1");

        foreach (var name in new[] { ResourceNames.Postgres, ResourceNames.Messaging })
        {
            var resource = Assert.IsAssignableFrom<IResourceWithConnectionString>(Resource(builder, name));
            Assert.IsNotAssignableFrom<ExecutableResource>(resource);
            Assert.IsNotAssignableFrom<ContainerResource>(resource);
        }
        Assert.DoesNotContain(builder.Resources, r => r.Name == ResourceNames.S3);
        var env = await PublishedEnvironmentAsync(builder, ResourceNames.Monitor);
        Assert.False(env.ContainsKey("S3__ServiceUrl"), "real AWS needs no endpoint override");
        Assert.Equal("eu-west-1", env["S3__Region"]);
    }

    [Fact]
    public async Task TrainingService_IsAResourceWithItsKeyPair_AndThePipelineRunnerCallsIt()
    {
        var data = Path.Combine(Path.GetTempPath(), $"mlops-model-{Guid.NewGuid():N}");
        await using var builder = await BuildModelAsync("--Infrastructure:Mode=LocalProcesses", "--Infrastructure:SkipBootstrap=true",
            $"--Infrastructure:DataDirectory={data}");

        var training = Assert.IsType<ProjectResource>(Resource(builder, ResourceNames.TrainingService));
        Assert.Contains(training.Annotations, a => a is HealthCheckAnnotation);
        AssertWaitsFor(builder, ResourceNames.TrainingService, ResourceNames.S3);
        var env = await PublishedEnvironmentAsync(builder, ResourceNames.TrainingService);
        Assert.Equal($"{{{ResourceNames.TrainingServiceSecretKey}.value}}", env["TrainingService__SecretKey"]);
        Assert.Equal(Path.Combine(data, "training-service"), env["TrainingService__StateDirectory"]);
        Assert.Equal("{s3.bindings.http.url}", env["S3__ServiceUrl"]);
        Assert.True(Assert.IsType<ParameterResource>(Resource(builder, ResourceNames.TrainingServiceSecretKey)).Secret);

        var runner = await PublishedEnvironmentAsync(builder, ResourceNames.PipelineRunner);
        Assert.Equal($"{{{ResourceNames.TrainingService}.bindings.http.url}}", runner["SageMaker__ServiceUrl"]);
        Assert.Equal($"{{{ResourceNames.TrainingServiceSecretKey}.value}}", runner["SageMaker__SecretKey"]);
        Assert.Equal("mlops-trainer:latest", runner["Training__TrainerImage"]);
        AssertWaitsFor(builder, ResourceNames.PipelineRunner, ResourceNames.TrainingService);
        Directory.Delete(data);
    }

    [Fact]
    public async Task External_PointsTrainingJobsAtSageMaker()
    {
        await using var builder = await BuildModelAsync("--Infrastructure:Mode=External", "--Infrastructure:S3Region=eu-west-1",
            "--Infrastructure:TrainerImage=123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-trainer:1");
        Assert.DoesNotContain(builder.Resources, r => r.Name == ResourceNames.TrainingService);
        var runner = await PublishedEnvironmentAsync(builder, ResourceNames.PipelineRunner);
        Assert.False(runner.ContainsKey("SageMaker__ServiceUrl"), "real SageMaker needs no endpoint override");
        Assert.False(runner.ContainsKey("SageMaker__SecretKey"), "credentials come from the AWS chain");
        Assert.Equal("eu-west-1", runner["SageMaker__Region"]);
        Assert.Equal("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-trainer:1", runner["Training__TrainerImage"]);
    }

    [Fact]
    public async Task UnknownMode_FailsStartupListingValidModes()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => BuildModelAsync("--Infrastructure:Mode=Kubernetes"));
        var messages = string.Join(" | ", Flatten(error).Select(e => e.Message));
        Assert.Contains("Valid modes: Auto, Containers, LocalProcesses, External", messages);
    }

    [Fact]
    public async Task Services_HaveHttpHealthChecksAndNoLiteralSecrets()
    {
        await using var builder = await BuildModelAsync("--Infrastructure:Mode=Containers");
        foreach (var name in Services)
            Assert.Contains(Resource(builder, name).Annotations, a => a is HealthCheckAnnotation);
        foreach (var secret in new[] { ResourceNames.ApiKey, ResourceNames.PostgresPassword, ResourceNames.RabbitMqPassword })
            Assert.True(Assert.IsType<ParameterResource>(Resource(builder, secret)).Secret, $"{secret} must be a secret parameter");
    }

    // Each service gets its own database on the shared server: the server's connection string plus Database=<service>.
    private static void AssertDatabaseConnection(Dictionary<string, string> env, string service, string serverPrefix)
    {
        var connectionString = env[$"ConnectionStrings__{service}-db"];
        Assert.StartsWith(serverPrefix, connectionString);
        Assert.EndsWith($";Database={service}", connectionString);
    }

    private static IResource Resource(IDistributedApplicationTestingBuilder builder, string name) =>
        builder.Resources.Single(r => r.Name == name);

    // The manifest form ("{postgres.connectionString};Database=...") shows the wiring without starting anything.
#pragma warning disable CS0618 // Still the simplest way to read a resource's environment in publish form.
    private static async Task<Dictionary<string, string>> PublishedEnvironmentAsync(IDistributedApplicationTestingBuilder builder, string name) =>
        await ((IResourceWithEnvironment)Resource(builder, name)).GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618

    private static void AssertWaitsFor(IDistributedApplicationTestingBuilder builder, string name, params string[] dependencies)
    {
        var waits = Resource(builder, name).Annotations.OfType<WaitAnnotation>().Select(w => w.Resource.Name).ToHashSet();
        foreach (var dependency in dependencies)
            Assert.Contains(dependency, waits);
    }

    private static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
            yield return current;
        if (e is AggregateException aggregate)
            foreach (var inner in aggregate.InnerExceptions.SelectMany(Flatten))
                yield return inner;
    }
}
