using System.Text.Json.Nodes;
using Mlops.Contracts;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Pipelines;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.PipelineRunner.Features.Executions;

/// <summary>
/// The durable state machine's SQL. Every change takes the execution row's lock, loads the step runs, lets the
/// <see cref="Planner"/> decide, and writes the decisions, the start commands (ready rows) and the events in the same
/// transaction; a NOTIFY on commit wakes the runners.
/// </summary>
public sealed class ExecutionStore(PipelineStore pipelines)
{
    public const string NotifyChannel = "pipeline_steps";

    public PipelineStore Pipelines => pipelines;

    public async Task<ExecutionView?> LoadForUpdateAsync(NpgsqlTransaction tx, Guid id, CancellationToken ct)
    {
        string pipeline, status;
        int version, run;
        bool stop;
        JsonObject parameters;
        await using (var cmd = tx.Connection!.Command(
            "SELECT pipeline, version, status, stop_requested, parameters::text, run FROM executions WHERE id = @id FOR UPDATE", tx, ("id", id)))
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await r.ReadAsync(ct))
                return null;
            (pipeline, version, status, stop, parameters, run) = (r.GetString(0), r.GetInt32(1), r.GetString(2), r.GetBoolean(3),
                JsonNode.Parse(r.GetString(4))!.AsObject(), r.GetInt32(5));
        }
        var definition = await pipelines.DefinitionAsync(tx, pipeline, version, ct);
        var steps = await tx.Connection!.ReadAllAsync("SELECT step, item, status, outputs::text, error FROM step_runs WHERE execution_id = @id",
            [new NpgsqlParameter("id", id)],
            r => new StepView(r.GetString(0), r.GetInt32(1), r.GetString(2), r.IsDBNull(3) ? null : JsonNode.Parse(r.GetString(3))?.AsObject(),
                r.IsDBNull(4) ? null : r.GetString(4)),
            ct, tx);
        return new ExecutionView(id, pipeline, version, status, stop, definition, parameters, steps, run);
    }

    /// <summary>Lets the planner decide over the current state and writes what it decided. Answers whether any step was started.</summary>
    public async Task<bool> AdvanceAsync(NpgsqlTransaction tx, ExecutionView view, CancellationToken ct)
    {
        var (decisions, settled) = await Planner.SettleAsync(view, start => CacheLookupAsync(tx, view.Definition, start, ct));
        var started = false;
        foreach (var decision in decisions)
        {
            switch (decision)
            {
                case StartStep s:
                    started = true;
                    await tx.ExecuteAsync(
                        """
                        INSERT INTO step_runs (execution_id, step, item, status, attempt, inputs, cache_key, ready_at)
                        VALUES (@id, @step, @item, 'ready', 1, @inputs::jsonb, @key, now())
                        ON CONFLICT (execution_id, step, item) DO UPDATE SET status = 'ready', attempt = step_runs.attempt + 1,
                            inputs = excluded.inputs, cache_key = excluded.cache_key, ready_at = now(), error = NULL, failure_kind = NULL,
                            outputs = NULL, ended_at = NULL, external_id = NULL, claims = 0
                        """, ct, ("id", view.Id), ("step", s.Step), ("item", s.Item), ("inputs", s.Inputs.ToJsonString()), ("key", s.CacheKey));
                    break;
                case ExpandStep e:
                    await UpsertStatusAsync(tx, view.Id, e.Step, -1, StepStatus.Running, null, null, ct);
                    for (var i = 0; i < e.Items.Count; i++)
                        await UpsertStatusAsync(tx, view.Id, e.Step, i, StepStatus.Pending, null, null, ct);
                    break;
                case CompleteStep c:
                    await UpsertStatusAsync(tx, view.Id, c.Step, c.Item, c.Status, c.Outputs, c.Error, ct);
                    if (c.Status is StepStatus.Succeeded or StepStatus.Cached or StepStatus.Failed or StepStatus.Skipped)
                    {
                        await tx.EnqueueAsync(StepCompleted(view, c.Step, c.Item, 0, c.Status, c.Error, null), ct);
                        PipelineTelemetry.StepFinished(view.Pipeline, view.Definition.Step(c.Step)?.Type, c.Status, null);
                    }
                    break;
                case FinishExecution f:
                    await using (var finish = tx.Connection!.Command(
                        "UPDATE executions SET status = @status, error = @error, ended_at = now() WHERE id = @id RETURNING ended_at - created_at",
                        tx, ("id", view.Id), ("status", f.Status), ("error", f.Error)))
                        PipelineTelemetry.ExecutionFinished(view.Pipeline, f.Status, await finish.ExecuteScalarAsync(ct) as TimeSpan?);
                    await tx.ExecuteAsync(
                        """
                        UPDATE step_runs SET status = 'not_run' WHERE execution_id = @id AND status IN ('pending', 'running', 'ready');
                        INSERT INTO step_runs (execution_id, step, item, status, ended_at)
                        SELECT @id, s, -1, 'not_run', now() FROM unnest(@steps) AS s ON CONFLICT DO NOTHING
                        """, ct, ("id", view.Id), ("status", f.Status), ("error", f.Error),
                        ("steps", view.Definition.Steps.Select(s => s.Name).ToArray()));
                    await tx.EnqueueAsync(new PipelineExecutionCompleted(view.Id, view.Pipeline, view.Version, f.Status, f.Error,
                        DateTimeOffset.UtcNow, view.Run), ct);
                    break;
            }
        }
        if (started)
            await tx.ExecuteAsync($"NOTIFY {NotifyChannel}", ct);
        _ = settled;
        return started;
    }

    /// <summary>
    /// The event of one step run's outcome, enqueued in the transaction that records it. Attempt 0: decided by the planner
    /// without a runner (cached, skipped, a condition, a fan-out's parent).
    /// </summary>
    public static PipelineStepCompleted StepCompleted(ExecutionView view, string step, int item, int attempt, string status, string? error,
        string? failureKind) =>
        new(view.Id, view.Pipeline, view.Version, step, status, error, DateTimeOffset.UtcNow, item < 0 ? null : item, attempt,
            view.Definition.Step(step)?.Type, failureKind, view.Run);

    private static async Task UpsertStatusAsync(NpgsqlTransaction tx, Guid id, string step, int item, string status, JsonObject? outputs,
        string? error, CancellationToken ct)
    {
        await using var cmd = tx.Connection!.Command(
            """
            INSERT INTO step_runs (execution_id, step, item, status, outputs, error, ended_at)
            VALUES (@id, @step, @item, @status, @outputs, @error, CASE WHEN @terminal THEN now() END)
            ON CONFLICT (execution_id, step, item) DO UPDATE SET status = excluded.status, outputs = coalesce(excluded.outputs, step_runs.outputs),
                error = excluded.error, ended_at = excluded.ended_at
            """, tx, ("id", id), ("step", step), ("item", item), ("status", status), ("error", error), ("terminal", StepStatus.IsTerminal(status)));
        cmd.Parameters.AddWithValue("outputs", NpgsqlDbType.Jsonb, (object?)outputs?.ToJsonString() ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>A cache hit: an earlier succeeded run of a step with the same key, within the step's expire_after.</summary>
    private static async Task<CompleteStep?> CacheLookupAsync(NpgsqlTransaction tx, PipelineDefinition definition, StartStep start, CancellationToken ct)
    {
        if (definition.Step(start.Step)?.Cache is not { } cache)
            return null;
        await using var cmd = tx.Connection!.Command(
            """
            SELECT outputs::text, execution_id FROM step_runs
            WHERE cache_key = @key AND status = 'succeeded' AND ended_at > now() - @expire ORDER BY ended_at DESC LIMIT 1
            """, tx, ("key", start.CacheKey), ("expire", cache.ExpireAfter));
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
            return null;
        var outputs = JsonNode.Parse(r.GetString(0))!.AsObject();
        return new CompleteStep(start.Step, start.Item, StepStatus.Cached, outputs, null);
    }
}
