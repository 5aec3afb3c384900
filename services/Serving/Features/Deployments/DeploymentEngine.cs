using Microsoft.Extensions.Options;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Client;
using Mlops.Serving.Features.Endpoints;
using Mlops.Serving.Features.Routing;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.Serving.Features.Deployments;

/// <summary>
/// Runs deployments: every tick it takes the deployments whose next step is due (row locks with SKIP LOCKED, so each
/// step is taken by exactly one replica) and advances them. All state is in PostgreSQL: a replica that restarts, or
/// another one, carries on from the stored step. On success the promoted alias moves in the registry before the
/// step commits (a failure there leaves the step due, to be retried); the replaced configuration's models are retired.
/// </summary>
public sealed class DeploymentEngine(NpgsqlDataSource db, TrackingClient tracker, RoutingTable routes, IOptions<ServingOptions> options,
    TimeProvider clock, ILogger<DeploymentEngine> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tick = TimeSpan.FromMilliseconds(options.Value.DeploymentTickMilliseconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (await TickAsync(stoppingToken) > 0)
                {
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "A deployment step failed; it stays due and is retried");
            }
            await Task.Delay(tick, clock, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Advances the due deployments (a blue/green one still waiting for its fleet is only postponed); answers how many were due.</summary>
    public async Task<int> TickAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var due = await EndpointStore.LockDueAsync(transaction, 1, ct);
        var stepped = new List<string>();
        foreach (var deployment in due)
        {
            var now = clock.GetUtcNow();
            var progress = new DeploymentProgress(deployment.State, deployment.NewShare, deployment.StartedAt);
            if (deployment.State == DeploymentStates.Provisioning)
            {
                var (cold, live) = await ReplicaRegistry.CountColdAsync(transaction, deployment.Endpoint, deployment.ToVersion, ct);
                progress = progress with { NewFleetWarm = live > 0 && cold == 0, ColdReplicas = live == 0 ? 1 : cold };
            }
            var step = DeploymentSchedule.Advance(deployment.Strategy, progress, now);
            if (!step.Recorded)
            {
                await EndpointStore.PostponeDeploymentAsync(transaction, deployment.DeploymentId, step.NextAt!.Value, ct);
                continue;
            }
            await ApplyAsync(transaction, deployment, step, now, ct);
            stepped.Add(deployment.Endpoint);
            logger.LogInformation("Deployment {Deployment} of {Endpoint}: {State}, {Share} % on configuration {Version}", deployment.DeploymentId,
                deployment.Endpoint, step.State, step.NewShare, deployment.ToVersion);
        }
        await transaction.CommitAsync(ct);
        // This replica serves the new split at once; the others at their next refresh.
        foreach (var endpoint in stepped)
            await routes.LoadAsync(endpoint, ct);
        return due.Count;
    }

    /// <summary>
    /// Rolls back the endpoint's deployment in progress (or the given one) inside <paramref name="transaction"/>: all traffic
    /// returns to the previous configuration. Null when there is nothing in progress to roll back.
    /// </summary>
    /// <param name="evidenceAt">When the evidence for the rollback arose (an alarm's raising): evidence older than the
    /// deployment judged the configuration before it — a late or out-of-order event — and rolls nothing back.</param>
    public async Task<DeploymentResponse?> RollBackAsync(NpgsqlTransaction transaction, string endpoint, string? deploymentId, string reason, CancellationToken ct,
        DateTimeOffset? evidenceAt = null)
    {
        var deployment = deploymentId is null
            ? await EndpointStore.LockActiveAsync(transaction, endpoint, ct)
            : await EndpointStore.LockDeploymentAsync(transaction, deploymentId, ct);
        if (deployment is null || deployment.Endpoint != endpoint || !DeploymentStates.InProgress(deployment.State))
            return null;
        if (evidenceAt is { } at && at < deployment.StartedAt)
        {
            logger.LogInformation("Deployment {Deployment} of {Endpoint} not rolled back: the evidence ({Reason}) is from {At:O}, before it started",
                deployment.DeploymentId, endpoint, reason, at);
            return null;
        }
        var now = clock.GetUtcNow();
        await ApplyAsync(transaction, deployment, DeploymentSchedule.RollBack(reason), now, ct);
        logger.LogWarning("Deployment {Deployment} of {Endpoint} rolled back: {Reason}", deployment.DeploymentId, endpoint, reason);
        return deployment;
    }

    private async Task ApplyAsync(NpgsqlTransaction transaction, DeploymentResponse d, DeploymentStep step, DateTimeOffset now, CancellationToken ct)
    {
        // A configuration that started without traffic (blue/green, shadow) is deployed at the step that gives it a share;
        // one rolled back before it ever had any was never deployed, so it is not retired either.
        var tookTraffic = d.NewShare > 0;
        if (!tookTraffic && step.State != DeploymentStates.RolledBack && (step.NewShare > 0 || step.State == DeploymentStates.Succeeded)
            && await EndpointStore.LoadConfigAsync(transaction, d.Endpoint, d.ToVersion, ct) is { } starting)
            await EndpointChanges.PublishDeployedAsync(transaction, starting, options.Value.Environment, now, ct);
        switch (step.State)
        {
            case DeploymentStates.Succeeded:
            {
                var next = await EndpointStore.LoadConfigAsync(transaction, d.Endpoint, d.ToVersion, ct)
                    ?? throw new InvalidDataException($"Deployment {d.DeploymentId} names configuration {d.ToVersion}, which is missing.");
                if (d.Strategy.PromoteAlias is { } alias)
                {
                    // The heaviest variant of each model carries the alias (usually there is one variant per model).
                    foreach (var model in next.Variants.GroupBy(v => v.ModelName))
                        await tracker.SetAliasAsync(model.Key, alias, model.MaxBy(v => v.Weight)!.ModelVersion, ct);
                }
                await EndpointStore.TouchEndpointAsync(transaction, d.Endpoint, d.ToVersion, ct);
                if (d.FromVersion is { } from && await EndpointStore.LoadConfigAsync(transaction, d.Endpoint, from, ct) is { } previous)
                    await EndpointChanges.PublishRetiredAsync(transaction, previous, now, ct);
                await transaction.EnqueueAsync(new DeploymentSucceeded(d.DeploymentId, d.Endpoint, d.Strategy.Type, d.ToVersion, d.Strategy.PromoteAlias, now), ct);
                break;
            }
            case DeploymentStates.RolledBack:
            {
                await EndpointStore.TouchEndpointAsync(transaction, d.Endpoint, null, ct);
                if (tookTraffic && await EndpointStore.LoadConfigAsync(transaction, d.Endpoint, d.ToVersion, ct) is { } rejected)
                    await EndpointChanges.PublishRetiredAsync(transaction, rejected, now, ct);
                await transaction.EnqueueAsync(new DeploymentRolledBack(d.DeploymentId, d.Endpoint, d.Strategy.Type, d.FromVersion, d.ToVersion, step.Note, now), ct);
                break;
            }
            default:
                await EndpointStore.TouchEndpointAsync(transaction, d.Endpoint, null, ct);
                break;
        }
        await EndpointStore.UpdateDeploymentAsync(transaction, d.DeploymentId, step, now, ct);
    }
}
