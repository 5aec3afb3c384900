using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Mlops.AppHost.Infrastructure;

/// <summary>Composes PostgreSQL, RabbitMQ and S3 for the selected <see cref="InfrastructureMode"/>.</summary>
public static class InfrastructureExtensions
{
    /// <summary>The configuration keys of this file, for the README and error messages.</summary>
    public const string DataDirectoryKey = "Infrastructure:DataDirectory";
    public const string DurableKey = "Infrastructure:Durable";
    public const string SkipBootstrapKey = "Infrastructure:SkipBootstrap";
    public const string RegionKey = "Infrastructure:S3Region";

    // s3rver accepts only this access key id (it does not check SigV4 signatures); LocalStack accepts any.
    internal const string S3rverAccessKey = "S3RVER";
    internal const string LocalStackAccessKey = "test";

    /// <summary>Adds the infrastructure for <c>Infrastructure:Mode</c> (Auto, Containers, LocalProcesses, External).</summary>
    public static PlatformInfrastructure AddMlopsInfrastructure(this IDistributedApplicationBuilder builder)
    {
        // Publishing describes a deployment, not this machine: Auto means containers there, without probing for a runtime.
        var mode = InfrastructureModeSelector.Select(builder.Configuration[InfrastructureModeSelector.ConfigurationKey],
            () => !builder.ExecutionContext.IsRunMode
                  || InfrastructureModeSelector.ContainerRuntimeAnswers(builder.Configuration["DOTNET_ASPIRE_CONTAINER_RUNTIME"]));
        return mode switch
        {
            InfrastructureMode.Containers => builder.AddContainerInfrastructure(),
            InfrastructureMode.LocalProcesses => builder.AddLocalProcessInfrastructure(),
            _ => builder.AddExternalInfrastructure(),
        };
    }

    public static PlatformInfrastructure AddContainerInfrastructure(this IDistributedApplicationBuilder builder)
    {
        var postgres = builder.AddPostgres(ResourceNames.Postgres, password: builder.AddSecret(ResourceNames.PostgresPassword))
            .WithDataVolume("mlops-postgres");
        var messaging = builder.AddRabbitMQ(ResourceNames.Messaging, builder.AddRabbitMqUser(), builder.AddSecret(ResourceNames.RabbitMqPassword))
            .WithDataVolume("mlops-rabbitmq");
        var s3Secret = builder.AddSecret(ResourceNames.S3SecretKey);
        var s3 = builder.AddContainer(ResourceNames.S3, "localstack/localstack", "4.4")
            .WithHttpEndpoint(targetPort: 4566, name: "http")
            .WithEnvironment("SERVICES", "s3")
            .WithVolume("mlops-localstack", "/var/lib/localstack");
        var connection = new S3Connection(s3, s3.GetEndpoint("http"), "us-east-1", LocalStackAccessKey, s3Secret);
        s3.WithBucketsHealthCheck(builder, connection);
        return new(InfrastructureMode.Containers, postgres, messaging, connection);
    }

    public static PlatformInfrastructure AddLocalProcessInfrastructure(this IDistributedApplicationBuilder builder)
    {
        var repoRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        var eng = Path.Combine(repoRoot, "eng");
        var data = LocalDataDirectory.Ensure(builder.Configuration[DataDirectoryKey] ?? Path.Combine(repoRoot, ".mlops-data"),
            runsAsRoot: Environment.IsPrivilegedProcess);
        var durable = builder.Configuration.GetValue(DurableKey, true);
        // Installing servers is for running them here; publishing only describes resources.
        if (builder.ExecutionContext.IsRunMode && !builder.Configuration.GetValue(SkipBootstrapKey, false))
            Bootstrap.Run(Path.Combine(eng, "bootstrap.sh"));

        var pgPassword = builder.AddSecret(ResourceNames.PostgresPassword);
        var pgPort = FreePort.Next();
        var postgres = builder.AddResource(new LocalPostgresResource(ResourceNames.Postgres, "bash", eng, pgPassword.Resource))
            .WithArgs(Path.Combine(eng, "local", "postgres.sh"))
            .WithEndpoint(port: pgPort, targetPort: pgPort, scheme: "tcp", name: LocalPostgresResource.EndpointName, isProxied: false)
            .WithEnvironment("MLOPS_PG_DATA", Path.Combine(data, "postgres"))
            .WithEnvironment("MLOPS_PG_PORT", pgPort.ToString())
            .WithEnvironment("MLOPS_PG_PASSWORD", pgPassword)
            .WithEnvironment("MLOPS_PG_DURABLE", durable ? "true" : "false");
        postgres.WithConnectionHealthCheck(builder, "postgres-accepts-connections", HealthChecks.PostgresAsync);

        var rabbitPort = FreePort.Next();
        var rabbitUser = builder.AddRabbitMqUser();
        var rabbitPassword = builder.AddSecret(ResourceNames.RabbitMqPassword);
        var messaging = builder.AddResource(new LocalRabbitMqResource(ResourceNames.Messaging, "bash", eng, rabbitUser.Resource, rabbitPassword.Resource))
            .WithArgs(Path.Combine(eng, "local", "rabbitmq.sh"))
            .WithEndpoint(port: rabbitPort, targetPort: rabbitPort, scheme: "tcp", name: LocalRabbitMqResource.EndpointName, isProxied: false)
            .WithEnvironment("MLOPS_RABBITMQ_DATA", Path.Combine(data, "rabbitmq"))
            .WithEnvironment("MLOPS_RABBITMQ_PORT", rabbitPort.ToString())
            .WithEnvironment("MLOPS_RABBITMQ_DIST_PORT", FreePort.Next().ToString())
            .WithEnvironment("MLOPS_RABBITMQ_USER", rabbitUser)
            .WithEnvironment("MLOPS_RABBITMQ_PASSWORD", rabbitPassword);
        messaging.WithConnectionHealthCheck(builder, "rabbitmq-accepts-connections", HealthChecks.RabbitMqAsync);

        var s3Port = FreePort.Next();
        // s3rver encrypts list continuation tokens with DES, which Node's OpenSSL 3 refuses unless the legacy provider is on:
        // without it every paged listing fails with 500.
        var s3 = builder.AddExecutable(ResourceNames.S3, "node", eng, "--openssl-legacy-provider",
                Path.Combine(eng, "node", "node_modules", "s3rver", "bin", "s3rver.js"),
                "--directory", Path.Combine(data, "s3"), "--address", "127.0.0.1", "--port", s3Port.ToString(), "--silent",
                "--configure-bucket", ResourceNames.LakeBucket, "--configure-bucket", ResourceNames.ArtifactBucket)
            .WithHttpEndpoint(port: s3Port, targetPort: s3Port, name: "http", isProxied: false);
        var connection = new S3Connection(s3, s3.GetEndpoint("http"), "us-east-1", S3rverAccessKey, builder.AddSecret(ResourceNames.S3SecretKey));
        s3.WithBucketsHealthCheck(builder, connection);
        return new(InfrastructureMode.LocalProcesses, postgres, messaging, connection);
    }

    public static PlatformInfrastructure AddExternalInfrastructure(this IDistributedApplicationBuilder builder) =>
        new(InfrastructureMode.External,
            builder.AddConnectionString(ResourceNames.Postgres),
            builder.AddConnectionString(ResourceNames.Messaging),
            new S3Connection(null, null, builder.Configuration[RegionKey] ?? "us-east-1", null, null));

    /// <summary>The platform's two keys, secret parameters generated on first run and kept in user secrets.</summary>
    public static PlatformKeys AddPlatformKeys(this IDistributedApplicationBuilder builder) =>
        new(builder.AddSecret(ResourceNames.ApiKey), builder.AddSecret(ResourceNames.AdminKey));

    /// <summary>
    /// Gives a service its database (connection string <paramref name="connectionName"/>, a database named after the
    /// service), the bus, S3, both keys and a health check, each reference paired with its wait.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithPlatform(this IResourceBuilder<ProjectResource> service,
        PlatformInfrastructure infrastructure, PlatformKeys keys, string connectionName)
    {
        var databaseName = service.Resource.Name;
        // The same keys the production deployment provides (PlatformSettings, shared with deploy/).
        service.WithEnvironment(PlatformSettings.DatabaseConnection(connectionName),
                ReferenceExpression.Create($"{infrastructure.Postgres.Resource.ConnectionStringExpression};Database={databaseName}"))
            .WaitFor(infrastructure.Postgres)
            .WithReference(infrastructure.Messaging).WaitFor(infrastructure.Messaging)
            .WithEnvironment(PlatformSettings.ApiKey, keys.ApiKey)
            .WithEnvironment(PlatformSettings.AdminKey, keys.AdminKey)
            .WithS3(infrastructure.S3)
            .WithHttpHealthCheck("/health");
        return service;
    }

    /// <summary>Gives a project the lake and artifact buckets and where S3 is (the emulator, paired with its wait, or real AWS).</summary>
    public static IResourceBuilder<ProjectResource> WithS3(this IResourceBuilder<ProjectResource> service, S3Connection s3)
    {
        service.WithEnvironment(PlatformSettings.LakeBucket, ResourceNames.LakeBucket)
            .WithEnvironment(PlatformSettings.ArtifactBucket, ResourceNames.ArtifactBucket)
            .WithEnvironment(PlatformSettings.S3Region, s3.Region);
        if (s3.Emulator is not null && s3.Endpoint is not null)
        {
            service.WithEnvironment("S3__ServiceUrl", s3.Endpoint)
                .WithEnvironment("S3__ForcePathStyle", "true")
                .WithEnvironment("S3__AccessKey", s3.AccessKey)
                .WaitFor(s3.Emulator);
            if (s3.SecretKey is not null)
                service.WithEnvironment("S3__SecretKey", s3.SecretKey);
        }
        return service;
    }

    internal static IResourceBuilder<ParameterResource> AddSecret(this IDistributedApplicationBuilder builder, string name) =>
        builder.AddParameter(name, new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);

    private static IResourceBuilder<ParameterResource> AddRabbitMqUser(this IDistributedApplicationBuilder builder) =>
        builder.AddParameter(ResourceNames.RabbitMqUser, "mlops");

    private static void WithConnectionHealthCheck<T>(this IResourceBuilder<T> resource, IDistributedApplicationBuilder builder, string key,
        Func<string, CancellationToken, Task> probe) where T : IResourceWithConnectionString
    {
        builder.Services.AddHealthChecks().AddAsyncCheck(key, async ct =>
        {
            try
            {
                var connectionString = await resource.Resource.ConnectionStringExpression.GetValueAsync(ct);
                await probe(connectionString!, ct);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e)
            {
                return HealthCheckResult.Unhealthy(e.Message);
            }
        });
        resource.WithHealthCheck(key);
    }

    // Healthy only once both buckets exist, so services that wait for S3 never see a missing bucket.
    private static void WithBucketsHealthCheck<T>(this IResourceBuilder<T> resource, IDistributedApplicationBuilder builder, S3Connection connection)
        where T : IResourceWithEndpoints
    {
        var key = $"{resource.Resource.Name}-buckets";
        builder.Services.AddHealthChecks().AddAsyncCheck(key, async ct =>
        {
            try
            {
                var secret = connection.SecretKey is null ? "" : await connection.SecretKey.Resource.GetValueAsync(ct);
                await HealthChecks.EnsureBucketsAsync(connection.Endpoint!.Url, connection.AccessKey!, secret ?? "",
                    [ResourceNames.LakeBucket, ResourceNames.ArtifactBucket], ct);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e)
            {
                return HealthCheckResult.Unhealthy(e.Message);
            }
        });
        resource.WithHealthCheck(key);
    }
}
