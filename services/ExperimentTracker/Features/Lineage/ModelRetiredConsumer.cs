using MassTransit;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Lineage;

/// <summary>Marks a deployment retired when Serving announces it, once per message (inbox); a later retirement keeps the first time.</summary>
public sealed class ModelRetiredConsumer(NpgsqlDataSource db) : IConsumer<ModelRetired>
{
    public Task Consume(ConsumeContext<ModelRetired> context) =>
        db.ExecuteOnceAsync(context, nameof(ModelRetiredConsumer), transaction =>
            transaction.ExecuteAsync("UPDATE deployments SET retired_at = @at WHERE deployment_id = @id AND retired_at IS NULL",
                context.CancellationToken, ("at", context.Message.RetiredAt.ToUnixTimeMilliseconds()), ("id", context.Message.DeploymentId)));
}
