using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Routing;
using Npgsql;

namespace Mlops.Serving.Features.Alarms;

/// <summary>
/// Evaluates the built-in alarms of every deployment in progress on this replica every
/// <c>Serving:AlarmEvaluationMilliseconds</c> (200) and rolls a deployment back the moment one of its new variants breaches.
/// The alarms judge the endpoint's whole traffic: each evaluation writes this replica's window of each new variant to
/// <c>variant_windows</c> and adds the windows the other live replicas wrote in the last <see cref="Freshness"/>, so a
/// variant's error rate and p99 are the fleet's, however the load balancer spreads the requests. The replica that sees
/// the breach commits the rollback and serves the old split at once, the others at their next refresh.
/// </summary>
public sealed class AlarmWatcher(RoutingTable routes, NpgsqlDataSource db, DeploymentEngine engine, ReplicaRegistry replicas,
    IOptions<ServingOptions> options, ILogger<AlarmWatcher> logger) : BackgroundService
{
    /// <summary>How recent another replica's window must be to count (a replica that stopped drops out after it).</summary>
    public static readonly TimeSpan Freshness = TimeSpan.FromSeconds(2);

    private DateTimeOffset _cleaned = DateTimeOffset.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.AlarmEvaluationMilliseconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await EvaluateAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Evaluating the built-in alarms failed; trying again");
            }
            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Rolls back every deployment whose new variants breach an alarm over the fleet's traffic; answers how many.</summary>
    public async Task<int> EvaluateAsync(CancellationToken ct)
    {
        var rolledBack = 0;
        foreach (var route in routes.Routes)
        {
            if (route is not { DeploymentId: { } deployment, Next: { Count: > 0 } next, Strategy: { } strategy })
                continue;
            var alarms = strategy.EffectiveAlarms;
            var seconds = alarms.WindowSeconds!.Value;
            string? reason = null;
            foreach (var variant in next.Where(v => v.Window is not null))
            {
                // Every variant's window is written (the other replicas add it up), even once one has breached.
                var fleet = await FleetAsync(route.Name, variant, variant.Window!.ReadCounts(seconds), seconds, ct);
                reason ??= BuiltInAlarms.Breach(alarms, variant.Spec.Name, fleet.Stats);
            }
            if (reason is null)
                continue;
            await using (var connection = await db.OpenConnectionAsync(ct))
            await using (var transaction = await connection.BeginTransactionAsync(ct))
            {
                // By deployment id: a route that is a moment old never rolls back a newer deployment.
                if (await engine.RollBackAsync(transaction, route.Name, deployment, reason, ct) is not null)
                    rolledBack++;
                await transaction.CommitAsync(ct);
            }
            await routes.LoadAsync(route.Name, ct);
        }
        if (DateTimeOffset.UtcNow - _cleaned > TimeSpan.FromMinutes(1))
        {
            _cleaned = DateTimeOffset.UtcNow;
            await db.ExecuteAsync("DELETE FROM variant_windows WHERE updated_at < now() - interval '10 minutes'", ct);
        }
        return rolledBack;
    }

    /// <summary>Writes this replica's window of a variant and answers it added to the fresh windows of the other replicas.</summary>
    private async Task<WindowCounts> FleetAsync(string endpoint, LiveVariant variant, WindowCounts mine, int seconds, CancellationToken ct)
    {
        var others = await db.ReadAllAsync(
            """
            WITH mine AS (
                INSERT INTO variant_windows (endpoint, config_version, variant, replica_id, window_seconds, requests, errors, latency)
                VALUES (@endpoint, @config, @variant, @replica, @seconds, @requests, @errors, @latency)
                ON CONFLICT (endpoint, config_version, variant, replica_id) DO UPDATE SET window_seconds = excluded.window_seconds,
                    requests = excluded.requests, errors = excluded.errors, latency = excluded.latency, updated_at = now())
            SELECT requests, errors, latency FROM variant_windows
            WHERE endpoint = @endpoint AND config_version = @config AND variant = @variant AND replica_id <> @replica
              AND window_seconds = @seconds AND updated_at > now() - make_interval(secs => @freshness)
            """, r => new WindowCounts(r.GetInt64(0), r.GetInt64(1), r.GetFieldValue<long[]>(2)), ct,
            ("endpoint", endpoint), ("config", variant.ConfigVersion), ("variant", variant.Spec.Name), ("replica", replicas.ReplicaId),
            ("seconds", seconds), ("requests", mine.Requests), ("errors", mine.Errors), ("latency", mine.Latency),
            ("freshness", Freshness.TotalSeconds));
        return others.Aggregate(mine, (sum, other) => sum.Add(other));
    }
}
