using MassTransit;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Lineage;

/// <summary>
/// Marks a deployment retired when Serving announces it, once per message (inbox); a later retirement keeps the first time.
/// A retirement consumed before its deployment (the two events have queues of their own) is kept until the deployment's
/// row is written (<see cref="ModelDeployedConsumer"/>), so the deployment is never shown live after it was retired.
/// </summary>
public sealed class ModelRetiredConsumer(NpgsqlDataSource db) : IConsumer<ModelRetired>
{
    public Task Consume(ConsumeContext<ModelRetired> context) =>
        db.ExecuteOnceAsync(context, nameof(ModelRetiredConsumer), async transaction =>
        {
            var (id, at) = (context.Message.DeploymentId, context.Message.RetiredAt.ToUnixTimeMilliseconds());
            // Serialized with the deployment's own event (ModelDeployedConsumer takes the same lock): it either is seen by
            // the update or sees the early retirement.
            await transaction.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtext(@id))", context.CancellationToken, ("id", id));
            if (await transaction.ExecuteAsync("UPDATE deployments SET retired_at = COALESCE(retired_at, @at) WHERE deployment_id = @id",
                    context.CancellationToken, ("at", at), ("id", id)) == 0)
                await transaction.ExecuteAsync(
                    "INSERT INTO deployment_retirements (deployment_id, retired_at) VALUES (@id, @at) ON CONFLICT (deployment_id) DO NOTHING",
                    context.CancellationToken, ("id", id), ("at", at));
        });
}
