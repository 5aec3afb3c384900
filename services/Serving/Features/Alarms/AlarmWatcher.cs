using Microsoft.Extensions.Options;
using Mlops.Serving.Features.Deployments;
using Mlops.Serving.Features.Routing;
using Npgsql;

namespace Mlops.Serving.Features.Alarms;

/// <summary>
/// Evaluates the built-in alarms of every deployment in progress on this replica every
/// <c>Serving:AlarmEvaluationMilliseconds</c> (200) and rolls a deployment back the moment one of its new variants breaches:
/// the replica that sees it commits the rollback and serves the old split at once, the others at their next refresh. Each
/// replica judges its own measurements, so a variant failing on any replica is rolled back.
/// </summary>
public sealed class AlarmWatcher(RoutingTable routes, NpgsqlDataSource db, DeploymentEngine engine, IOptions<ServingOptions> options,
    ILogger<AlarmWatcher> logger) : BackgroundService
{
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

    /// <summary>Rolls back every deployment whose new variants breach an alarm here; answers how many.</summary>
    public async Task<int> EvaluateAsync(CancellationToken ct)
    {
        var rolledBack = 0;
        foreach (var route in routes.Routes)
        {
            if (route is not { DeploymentId: { } deployment, Next: { Count: > 0 } next, Strategy: { } strategy })
                continue;
            var alarms = strategy.EffectiveAlarms;
            var reason = next.Where(v => v.Window is not null)
                .Select(v => BuiltInAlarms.Breach(alarms, v.Spec.Name, v.Window!.Read(alarms.WindowSeconds!.Value)))
                .FirstOrDefault(r => r is not null);
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
        return rolledBack;
    }
}
