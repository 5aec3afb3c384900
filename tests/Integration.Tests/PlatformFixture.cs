using MassTransit;
using System.Net.Http.Headers;
using System.Net;
using System.Net.Sockets;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Amazon.S3;
using Microsoft.Extensions.Options;
using Mlops.SageMaker;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

// One AppHost for the whole assembly. Test classes run side by side (one collection each, xunit.runner.json caps how many
// at once), except those that stop, restart or kill a resource everyone uses, or that take every training slot: those
// are in the faults collection, which xunit runs alone after all the others.
[assembly: AssemblyFixture(typeof(Mlops.Tests.PlatformFixture))]

namespace Mlops.Tests;

/// <summary>
/// Tests that stop, restart or kill a shared resource (RabbitMQ, PostgreSQL, a service's replicas) or fill a shared
/// limit: run one at a time, after every other collection has finished, so no other test sees their faults.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultsCollection
{
    public const string Name = "platform-faults";
}

/// <summary>
/// The real AppHost in LocalProcesses mode (PostgreSQL, RabbitMQ, s3rver as processes) with throwaway data, the
/// dashboard on, and every service exporting traces to an OTLP collector this fixture controls.
/// </summary>
public sealed class PlatformFixture : IAsyncLifetime
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(6);
    public static readonly string[] Infrastructure = [ResourceNames.Postgres, ResourceNames.Messaging, ResourceNames.S3, ResourceNames.TrainingService];
    public static readonly string[] Services =
        [ResourceNames.FeatureStore, ResourceNames.ExperimentTracker, ResourceNames.PipelineRunner, ResourceNames.Monitor, ResourceNames.Serving];

    /// <summary>Replicas of the services that scale out (AppHost settings PipelineRunner:Replicas and Serving:Replicas).</summary>
    public static readonly IReadOnlyDictionary<string, int> Replicas = new Dictionary<string, int>
    {
        [ResourceNames.PipelineRunner] = 2,
        [ResourceNames.Serving] = 2,
    };

    /// <summary>The TrainingImage of tests/Integration.Tests/training/byo-train.sh.</summary>
    public const string ByoImage = "byo-script:1";

    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"mlops-it-{Guid.NewGuid():N}");

    public DistributedApplication App { get; private set; } = null!;
    public OtlpCollector Otlp { get; } = new();
    public string ApiKey { get; private set; } = "";
    /// <summary>The administrator key (administrative operations); the platform API key gets 403 there.</summary>
    public string AdminKey { get; private set; } = "";
    public Uri DashboardUrl { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await Otlp.StartAsync();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = true },
            [
                "--Infrastructure:Mode=LocalProcesses",
                $"--Infrastructure:DataDirectory={_dataDirectory}",
                "--Infrastructure:Durable=false",
                $"--ASPNETCORE_URLS=http://127.0.0.1:{FreePort()}",
                $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{FreePort()}",
                "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true",
                // The sample scenario (the continuous-training loop) runs as it does for a developer, on a smaller sample.
                "--Sample:FlightsPerMonth=2500",
                $"--PipelineRunner:Replicas={Replicas[ResourceNames.PipelineRunner]}",
                $"--Serving:Replicas={Replicas[ResourceNames.Serving]}",
            ]);

        // Added after the AppHost's own OTLP settings, so these win: traces go to the collector the tests read.
        foreach (var project in builder.Resources.OfType<ProjectResource>().ToList())
            builder.CreateResourceBuilder(project)
                .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", Otlp.Endpoint)
                .WithEnvironment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                .WithEnvironment("OTEL_BSP_SCHEDULE_DELAY", "200");

        // The tests' bring-your-own training program, as one more image of the local training service; short stop grace.
        var training = builder.Resources.OfType<ProjectResource>().Single(r => r.Name == ResourceNames.TrainingService);
        builder.CreateResourceBuilder(training)
            .WithEnvironment("TrainingService__Images__10__Name", ByoImage)
            .WithEnvironment("TrainingService__Images__10__Command", "bash")
            .WithEnvironment("TrainingService__Images__10__Arguments__0", Path.Combine(AppContext.BaseDirectory, "training", "byo-train.sh"))
            .WithEnvironment("TrainingService__StopGracePeriodSeconds", "5");

        App = await builder.BuildAsync();
        StartWritingResourceLogs();
        using var timeout = new CancellationTokenSource(StartTimeout);
        await App.StartAsync(timeout.Token);
        await WaitHealthyAsync(timeout.Token);
        DashboardUrl = await App.GetDashboardUrlAsync(timeout.Token)
            ?? throw new InvalidOperationException("The AppHost reported no dashboard URL.");

        var model = App.Services.GetRequiredService<DistributedApplicationModel>();
        ApiKey = (await model.Resources.OfType<ParameterResource>().Single(p => p.Name == ResourceNames.ApiKey).GetValueAsync(timeout.Token))!;
        AdminKey = (await model.Resources.OfType<ParameterResource>().Single(p => p.Name == ResourceNames.AdminKey).GetValueAsync(timeout.Token))!;
    }

    public async Task WaitHealthyAsync(CancellationToken ct)
    {
        try
        {
            foreach (var name in Infrastructure.Concat(Services))
                await App.ResourceNotifications.WaitForResourceHealthyAsync(name, ct);
            foreach (var (name, count) in Replicas)
                await WaitForReplicasHealthyAsync(name, count, ct);
        }
        catch (OperationCanceledException e)
        {
            throw new TimeoutException($"Not all resources became healthy. Service health: {await DescribeHealthAsync()}", e);
        }
    }

    /// <summary>The instance ids of a resource's replicas (e.g. <c>pipelinerunner-abcd1234</c>), once that many are healthy.</summary>
    public async Task<IReadOnlyList<string>> WaitForReplicasHealthyAsync(string resource, int count, CancellationToken ct)
    {
        var healthy = new HashSet<string>();
        await foreach (var e in App.ResourceNotifications.WatchAsync(ct))
        {
            if (e.Resource.Name != resource)
                continue;
            if (e.Snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy && e.Snapshot.State?.Text == "Running")
                healthy.Add(e.ResourceId);
            else
                healthy.Remove(e.ResourceId);
            if (healthy.Count >= count)
                return [.. healthy.Order()];
        }
        throw new OperationCanceledException(ct);
    }

    /// <summary>
    /// Stops every replica of a service, waits until all are down (and <paramref name="downFor"/> more), starts them and
    /// waits until all are healthy again. With replicas Aspire names instances apart, so the command goes to the resource.
    /// </summary>
    public async Task RestartAsync(string resource, TimeSpan? downFor = null)
    {
        var commands = App.Services.GetRequiredService<ResourceCommandService>();
        var model = App.Services.GetRequiredService<DistributedApplicationModel>();
        var target = model.Resources.Single(r => r.Name == resource);
        using var timeout = new CancellationTokenSource(StartTimeout);
        var instances = await WaitForReplicasHealthyAsync(resource, Replicas.GetValueOrDefault(resource, 1), timeout.Token);
        var stop = await commands.ExecuteCommandAsync(target, KnownResourceCommands.StopCommand, timeout.Token);
        Assert.True(stop.Success, stop.Message);
        foreach (var id in instances)
            await App.ResourceNotifications.WaitForResourceAsync(resource,
                e => e.ResourceId == id && e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped", timeout.Token);
        if (downFor is { } pause)
            await Task.Delay(pause, timeout.Token);
        var start = await commands.ExecuteCommandAsync(target, KnownResourceCommands.StartCommand, timeout.Token);
        Assert.True(start.Success, start.Message);
        if (Services.Contains(resource))
            foreach (var id in instances)
                await WaitForInstanceAnsweringAsync(id, timeout.Token);
        await WaitForReplicasHealthyAsync(resource, instances.Count, timeout.Token);
    }

    /// <summary>A service instance's own address (its port, not the AppHost's proxy, which spreads requests over the replicas).</summary>
    public Uri InstanceAddress(string id) => TryInstanceAddress(id) ?? throw new InvalidOperationException($"{id} has no ASPNETCORE_URLS (not running?)");

    /// <summary>Null while the instance has no environment yet (stopped, or starting after a stop).</summary>
    private Uri? TryInstanceAddress(string id) =>
        App.ResourceNotifications.TryGetCurrentState(id, out var state)
        && state.Snapshot.EnvironmentVariables.FirstOrDefault(v => v.Name == "ASPNETCORE_URLS")?.Value is { Length: > 0 } urls
            ? new Uri(urls.Split(';').First(u => u.StartsWith("http://", StringComparison.Ordinal)).Replace("+", "localhost").Replace("*", "localhost"))
            : null;

    /// <summary>
    /// Waits until a service instance answers its own /health with 200 (healthy and ready). Right after a start command
    /// the AppHost's snapshot of the instance can still carry the health it had before it stopped (seen: a Serving
    /// replica reported Running and Healthy half a second after its start, 13 s before it listened), so a wait on the
    /// snapshot alone returns while the instance is still down.
    /// </summary>
    public async Task WaitForInstanceAnsweringAsync(string id, CancellationToken ct)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (true)
        {
            if (TryInstanceAddress(id) is { } address)
            {
                try
                {
                    using var response = await client.GetAsync(new Uri(address, "/health"), ct);
                    if (response.IsSuccessStatusCode)
                        return;
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(250), ct);
        }
    }

    private async Task<string> DescribeHealthAsync()
    {
        var reports = new List<string>();
        foreach (var service in Services)
        {
            try
            {
                using var client = CreateClient(service, authenticated: false);
                var response = await client.GetAsync("/health");
                reports.Add($"{service}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
            catch (Exception e)
            {
                reports.Add($"{service}: {e.Message}");
            }
        }
        return string.Join(" | ", reports);
    }

    public HttpClient CreateClient(string service, bool authenticated = true)
    {
        var client = App.CreateHttpClient(service, "http");
        client.Timeout = TimeSpan.FromSeconds(60);
        if (authenticated)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        return client;
    }

    /// <summary>A client that sends the administrator key, for administrative operations.</summary>
    public HttpClient CreateAdminClient(string service)
    {
        var client = CreateClient(service, authenticated: false);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return client;
    }

    /// <summary>A SageMaker client of the local training service, signing with its key pair (or with <paramref name="secretKey"/>).</summary>
    public async Task<SageMakerClient> CreateSageMakerClientAsync(string? secretKey = null) =>
        new(new HttpClient { Timeout = TimeSpan.FromSeconds(60) }, Options.Create(new SageMakerOptions
        {
            ServiceUrl = App.GetEndpoint(ResourceNames.TrainingService, "http").ToString(),
            Region = "us-east-1",
            AccessKey = await ParameterAsync(ResourceNames.TrainingServiceAccessKey),
            SecretKey = secretKey ?? await ParameterAsync(ResourceNames.TrainingServiceSecretKey),
        }));

    /// <summary>An S3 client of the platform's S3 emulator.</summary>
    public async Task<IAmazonS3> CreateS3ClientAsync() => S3Extensions.CreateClient(new S3Options
    {
        ServiceUrl = App.GetEndpoint(ResourceNames.S3, "http").ToString(),
        AccessKey = "S3RVER",
        SecretKey = await ParameterAsync(ResourceNames.S3SecretKey),
    });

    public async Task<string> ParameterAsync(string name)
    {
        var model = App.Services.GetRequiredService<DistributedApplicationModel>();
        return (await model.Resources.OfType<ParameterResource>().Single(p => p.Name == name).GetValueAsync(default))!;
    }

    /// <summary>A MassTransit bus of the test's own on the platform's RabbitMQ, to publish events as another service would.</summary>
    public async Task<MassTransit.IBusControl> StartTestBusAsync()
    {
        var broker = new Uri((await App.GetConnectionStringAsync(ResourceNames.Messaging))!);
        var credentials = broker.UserInfo.Split(':', 2);
        var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(rabbit => rabbit.Host(broker.Host, (ushort)broker.Port, "/", host =>
        {
            host.Username(Uri.UnescapeDataString(credentials[0]));
            host.Password(Uri.UnescapeDataString(credentials[1]));
        }));
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        return bus;
    }

    /// <summary>A connection to a service's own database, as the service itself sees it.</summary>
    public async Task<NpgsqlConnection> OpenDatabaseAsync(string service)
    {
        var server = await App.GetConnectionStringAsync(ResourceNames.Postgres);
        // Not pooled: a pooled connection outlives the database outage and restart tests and fails its next use (57P01).
        var connection = new NpgsqlConnection($"{server};Database={service};Pooling=false");
        await connection.OpenAsync();
        return connection;
    }

    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _logWriters = [];

    /// <summary>
    /// With MLOPS_IT_LOGS set to a folder, every resource instance's console log (services, infrastructure, the sample)
    /// is written there as it comes, one file per instance (replicas apart), across the instance's restarts: the AppHost
    /// keeps only the current run's lines of a restarted instance, and the throwaway data folder goes with the run.
    /// </summary>
    private void StartWritingResourceLogs()
    {
        if (Environment.GetEnvironmentVariable("MLOPS_IT_LOGS") is not { Length: > 0 } folder)
            return;
        Directory.CreateDirectory(folder);
        var logs = App.Services.GetRequiredService<ResourceLoggerService>();
        var seen = new HashSet<string>();
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in App.ResourceNotifications.WatchAsync(_stopping.Token))
                    if (seen.Add(e.ResourceId))
                        lock (_logWriters)
                            _logWriters.Add(WriteLogAsync(logs, e.ResourceId, Path.Combine(folder, $"{e.ResourceId}.log")));
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    private async Task WriteLogAsync(ResourceLoggerService logs, string id, string path)
    {
        await using var file = new StreamWriter(path) { AutoFlush = true };
        try
        {
            await foreach (var batch in logs.WatchAsync(id).WithCancellation(_stopping.Token))
                foreach (var line in batch)
                    await file.WriteLineAsync(line.IsErrorMessage ? $"! {line.Content}" : line.Content);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (App is not null)
        {
            await _stopping.CancelAsync();
            Task[] writers;
            lock (_logWriters)
                writers = [.. _logWriters];
            await Task.WhenAll(writers);
            await App.StopAsync();
            await App.DisposeAsync();
        }
        await Otlp.DisposeAsync();
        _stopping.Dispose();
        try { Directory.Delete(_dataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
