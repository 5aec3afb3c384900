using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace Mlops.Benchmarks;

/// <summary>
/// Where to send a benchmark's requests. The AppHost proxies every project endpoint (a development convenience with a
/// cost of its own: another process and hop per request); production has no such hop, so benchmarks measure the
/// service's own port, which the AppHost hands the service as ASPNETCORE_URLS.
/// </summary>
internal static class ServiceAddress
{
    public static (Uri Address, string Description) Direct(DistributedApplication app, string resource)
    {
        var proxied = app.GetEndpoint(resource, "http");
        if (app.ResourceNotifications.TryGetCurrentState(resource, out var state))
        {
            var urls = state.Snapshot.EnvironmentVariables.FirstOrDefault(e => e.Name == "ASPNETCORE_URLS")?.Value;
            var http = urls?.Split(';').FirstOrDefault(u => u.StartsWith("http://", StringComparison.Ordinal));
            if (http is not null)
                return (new Uri(http.Replace("+", "localhost").Replace("*", "localhost")), "the service's own port, not the AppHost proxy");
        }
        return (proxied, "through the AppHost's endpoint proxy (the service's own port was not found)");
    }

    /// <summary>
    /// The own ports of a resource's replicas (WithReplicas), once <paramref name="count"/> of them are healthy, or as many
    /// as were by <paramref name="timeout"/>.
    /// </summary>
    public static async Task<IReadOnlyList<Uri>> ReplicasAsync(DistributedApplication app, string resource, int count, TimeSpan timeout)
    {
        var found = new Dictionary<string, Uri>();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var e in app.ResourceNotifications.WatchAsync(cancel.Token))
            {
                if (e.Resource.Name != resource || e.Snapshot.HealthStatus != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
                    continue;
                var urls = e.Snapshot.EnvironmentVariables.FirstOrDefault(v => v.Name == "ASPNETCORE_URLS")?.Value;
                if (urls?.Split(';').FirstOrDefault(u => u.StartsWith("http://", StringComparison.Ordinal)) is not { } http)
                    continue;
                found[e.ResourceId] = new Uri(http.Replace("+", "localhost").Replace("*", "localhost"));
                if (found.Values.Distinct().Count() >= count)
                    break;
            }
        }
        catch (OperationCanceledException) when (found.Count > 0)
        {
        }
        return [.. found.Values.Distinct()];
    }
}
