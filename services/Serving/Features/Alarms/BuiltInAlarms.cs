using System.Collections.Concurrent;
using System.Globalization;
using Mlops.Serving.Features.Endpoints;

namespace Mlops.Serving.Features.Alarms;

/// <summary>
/// The built-in alarms of a deployment, evaluated on the new configuration's variants from this replica's measurements
/// (<see cref="VariantWindow"/>). No verdict until a variant has <c>min_requests</c> in the window (CloudWatch's
/// INSUFFICIENT_DATA); then the error rate and the p99 latency are compared with their thresholds.
/// </summary>
public sealed class BuiltInAlarms(TimeProvider clock)
{
    private readonly ConcurrentDictionary<(string Endpoint, int Config, string Variant), VariantWindow> _windows = new();

    /// <summary>The window of a variant of a configuration (one per endpoint, configuration version and variant, kept across route reloads).</summary>
    public VariantWindow For(string endpoint, int configVersion, string variant) =>
        _windows.GetOrAdd((endpoint, configVersion, variant), _ => new VariantWindow(clock));

    /// <summary>Forgets the windows of configurations no route serves any more.</summary>
    public void Retain(Func<string, int, bool> live)
    {
        foreach (var key in _windows.Keys.Where(k => !live(k.Endpoint, k.Config)))
            _windows.TryRemove(key, out _);
    }

    /// <summary>Why the alarm fires for a variant with these measurements, or null (no breach, or not enough requests yet).</summary>
    public static string? Breach(DeploymentAlarms alarms, string variant, WindowStats stats)
    {
        var window = alarms.WindowSeconds ?? DeploymentAlarms.Defaults.WindowSeconds!.Value;
        if (stats.Requests < (alarms.MinRequests ?? DeploymentAlarms.Defaults.MinRequests!.Value))
            return null;
        if (alarms.MaxErrorRate is { } maxRate && stats.ErrorRate > maxRate)
            return string.Create(CultureInfo.InvariantCulture,
                $"built-in alarm: variant {variant} failed {stats.Errors} of {stats.Requests} requests in {window} s (error rate {stats.ErrorRate:0.###} > {maxRate})");
        if (alarms.MaxP99Ms is { } maxP99 && stats.P99Ms is { } p99 && p99 > maxP99)
            return string.Create(CultureInfo.InvariantCulture,
                $"built-in alarm: variant {variant} p99 latency {p99:0.###} ms over {stats.Requests} requests in {window} s > {maxP99} ms");
        return null;
    }
}
