using MassTransit;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Lineage;

/// <summary>Records Serving's deployments for lineage, once per message (inbox), with the retirement if it was consumed first.</summary>
public sealed class ModelDeployedConsumer(NpgsqlDataSource db) : IConsumer<ModelDeployed>
{
    public Task Consume(ConsumeContext<ModelDeployed> context) =>
        db.ExecuteOnceAsync(context, nameof(ModelDeployedConsumer), async transaction =>
        {
            var m = context.Message;
            if (!int.TryParse(m.ModelVersion, out var version))
                throw new InvalidOperationException($"ModelDeployed {m.DeploymentId} names version '{m.ModelVersion}', which is not an integer.");
            await transaction.ExecuteAsync(
                """
                SELECT pg_advisory_xact_lock(hashtext(@id));
                INSERT INTO deployments (deployment_id, endpoint, model_name, model_version, environment, deployed_at, retired_at)
                VALUES (@id, @endpoint, @name, @version, @environment, @at,
                        (SELECT retired_at FROM deployment_retirements WHERE deployment_id = @id))
                ON CONFLICT (deployment_id) DO NOTHING;
                DELETE FROM deployment_retirements WHERE deployment_id = @id;
                """, context.CancellationToken, ("id", m.DeploymentId), ("endpoint", m.Endpoint), ("name", m.ModelName), ("version", version),
                ("environment", m.Environment), ("at", m.DeployedAt.ToUnixTimeMilliseconds()));
        });
}
