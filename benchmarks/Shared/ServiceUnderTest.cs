using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace Mlops.Benchmarks;

/// <summary>
/// The conditions both harnesses measure a service under: the service alone with its infrastructure, run as deployed,
/// and a load generator that adds as little latency of its own as it can.
/// </summary>
internal static class ServiceUnderTest
{
    private static readonly string[] Services =
        [ResourceNames.FeatureStore, ResourceNames.ExperimentTracker, ResourceNames.PipelineRunner, ResourceNames.Monitor, ResourceNames.Serving, ResourceNames.Sample,
         ResourceNames.TrainingService];

    /// <summary>
    /// The load generator's sockets complete inline on their event threads instead of hopping to the thread pool: on 2
    /// cores shared by client, service and PostgreSQL, that hop is the client's share of every measured latency. The
    /// runtime reads the setting at the first socket operation, so call this before anything opens one.
    /// </summary>
    public static void InlineClientSockets() => Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

    /// <summary>
    /// Removes the other services from the AppHost's model (idle, they still took ~15% of the 2 cores: telemetry export,
    /// outbox polls, bus heartbeats, which showed as latency spikes) and runs <paramref name="service"/> as deployed: the
    /// Production environment (no developer exception page, no DI scope validation), the runtime's default socket
    /// completions (not the harness's inline ones), and no OTLP endpoint (the harness runs no collector, and an exporter
    /// retrying an endpoint nobody listens on is a cost no deployment has; traces and metrics are still recorded).
    /// </summary>
    public static void Isolate(IDistributedApplicationTestingBuilder builder, string service)
    {
        foreach (var other in Services.Where(s => s != service))
            if (builder.Resources.FirstOrDefault(r => r.Name == other) is { } resource)
                builder.Resources.Remove(resource);
        builder.CreateResourceBuilder((ProjectResource)builder.Resources.Single(r => r.Name == service))
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production")
            .WithEnvironment("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "0")
            .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "");
    }
}
