using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mlops.ExperimentTracker.Benchmarks;

/// <summary>
/// The tracker to measure: a running one (URL and API key), or the whole AppHost started here the way the integration
/// tests start it (Aspire.Hosting.Testing, LocalProcesses mode, data in a temporary folder unless one is named).
/// </summary>
internal sealed class Platform : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(6);
    private DistributedApplication? _app;
    private string? _throwawayData;

    public required Uri BaseAddress { get; init; }
    public required string ApiKey { get; init; }
    public required string Description { get; init; }

    public static Platform External(string url, string apiKey) =>
        new() { BaseAddress = new Uri(url.TrimEnd('/') + "/"), ApiKey = apiKey, Description = "given by --url" };

    public static async Task<Platform> StartAsync(bool durable, string? dataDirectory, bool proxied)
    {
        var throwaway = dataDirectory is null;
        var data = dataDirectory ?? Path.Combine(Path.GetTempPath(), $"mlops-bench-{Guid.NewGuid():N}");
        Console.WriteLine($"starting the AppHost (LocalProcesses, data {data}, PostgreSQL durable={durable.ToString().ToLowerInvariant()})");
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            [
                "--Infrastructure:Mode=LocalProcesses",
                $"--Infrastructure:DataDirectory={data}",
                $"--Infrastructure:Durable={durable.ToString().ToLowerInvariant()}",
                $"--ASPNETCORE_URLS=http://127.0.0.1:{Mlops.Benchmarks.Machine.FreePort()}",
                $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{Mlops.Benchmarks.Machine.FreePort()}",
                "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true",
                // The sample scenario trains a model once the tracker is up: it would compete with the measurement.
                "--Sample:Enabled=false",
            ]);
        Mlops.Benchmarks.ServiceUnderTest.Isolate(builder, ResourceNames.ExperimentTracker);
        // Resource logs and start-up health probes would bury the figures; the services' own logging is unchanged.
        builder.Services.AddLogging(logging => logging
            .SetMinimumLevel(LogLevel.Warning)
            .AddFilter("AppHost.Resources", LogLevel.None)
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None));
        var app = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(StartTimeout);
        await app.StartAsync(timeout.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync(ResourceNames.ExperimentTracker, timeout.Token);

        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        var apiKey = await model.Resources.OfType<ParameterResource>().Single(p => p.Name == ResourceNames.ApiKey).GetValueAsync(timeout.Token);
        var (address, description) = proxied
            ? (app.GetEndpoint(ResourceNames.ExperimentTracker, "http"), "through the AppHost's endpoint proxy")
            : Mlops.Benchmarks.ServiceAddress.Direct(app, ResourceNames.ExperimentTracker);
        return new Platform
        {
            BaseAddress = new Uri(address.ToString().TrimEnd('/') + "/"),
            ApiKey = apiKey!,
            Description = description,
            _app = app,
            _throwawayData = throwaway ? data : null,
        };
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        if (_throwawayData is not null)
            try { Directory.Delete(_throwawayData, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
