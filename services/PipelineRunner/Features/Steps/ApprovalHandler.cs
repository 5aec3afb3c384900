using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Pipelines;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>approval</c>: waits for a person. The step holds no runner while it waits (status <c>waiting</c>); a decision through
/// the API completes it (approve) or fails it (reject), and the planner goes on in the same transaction. With
/// <c>timeout_seconds</c> the row falls due again at its deadline and fails as <c>Step.TIMEOUT</c> if nobody decided.
/// </summary>
public sealed class ApprovalHandler(TimeProvider time) : IStepHandler
{
    public string Type => "approval";

    public Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        DateTimeOffset? deadline = context.Inputs["timeout_seconds"] is JsonValue t
            ? context.StartedAt + TimeSpan.FromSeconds(Expressions.AsNumber(t))
            : null;
        if (deadline is { } d && time.GetUtcNow() >= d)
            return Task.FromResult<StepResult>(new StepFailed(FailureKinds.Timeout,
                $"Nobody approved or rejected within {Expressions.AsNumber(context.Inputs["timeout_seconds"]!)} s."));
        return Task.FromResult<StepResult>(new StepWaiting(deadline));
    }
}

public sealed record ApprovalDecision(string? By, string? Comment);

public static class ApprovalEndpoints
{
    public static RouteGroupBuilder MapApprovalEndpoints(this RouteGroupBuilder executions)
    {
        executions.MapPost("/{id:guid}/steps/{step}/approve", (Guid id, string step, int? item, ApprovalDecision? decision, HttpContext http,
                NpgsqlDataSource db, PipelineStore pipelines, ExecutionStore store, CancellationToken ct) =>
            DecideAsync(id, step, item, approve: true, decision, http, db, pipelines, store, ct));
        executions.MapPost("/{id:guid}/steps/{step}/reject", (Guid id, string step, int? item, ApprovalDecision? decision, HttpContext http,
                NpgsqlDataSource db, PipelineStore pipelines, ExecutionStore store, CancellationToken ct) =>
            DecideAsync(id, step, item, approve: false, decision, http, db, pipelines, store, ct));
        return executions;
    }

    /// <summary>
    /// Approves or rejects a waiting approval step. Unknown execution or step → 404; a step that is not an approval, or an
    /// approval that is not waiting (not reached yet, decided, timed out, stopped) → 409, and nothing changes.
    /// </summary>
    internal static async Task<Results<Ok<ExecutionResponse>, ProblemHttpResult>> DecideAsync(Guid id, string step, int? item, bool approve,
        ApprovalDecision? decision, HttpContext http, NpgsqlDataSource db, PipelineStore pipelines, ExecutionStore store, CancellationToken ct)
    {
        if (decision?.Comment is { Length: > 10_000 })
            throw ProblemException.BadRequest("'comment' is at most 10,000 characters.");
        if (decision?.By is { Length: > 250 })
            throw ProblemException.BadRequest("'by' is at most 250 characters.");
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var view = await store.LoadForUpdateAsync(tx, id, ct) ?? throw ProblemException.NotFound($"Execution {id} does not exist.");
        var definition = view.Definition.Step(step)
            ?? throw ProblemException.NotFound($"Pipeline '{view.Pipeline}' v{view.Version} has no step '{step}'.");
        if (definition.Type != "approval")
            throw ProblemException.Conflict($"Step '{step}' is a {definition.Type} step, not an approval.");
        var row = view.Steps.FirstOrDefault(s => s.Step == step && s.Item == (item ?? -1));
        if (row?.Status != StepStatus.Waiting)
            throw ProblemException.Conflict(
                $"Step '{step}' of execution {id} is {row?.Status ?? StepStatus.Pending}: only a waiting approval can be {(approve ? "approved" : "rejected")}.");

        var by = decision?.By ?? http.Request.Headers["X-Mlops-Actor"].FirstOrDefault() ?? "api-key";
        var at = DateTimeOffset.UtcNow;
        var rejection = $"Rejected by {by}{(string.IsNullOrEmpty(decision?.Comment) ? "." : $": {decision.Comment}")}";
        if (approve)
        {
            await using var cmd = connection.Command(
                """
                UPDATE step_runs SET status = 'succeeded', outputs = @outputs, ended_at = now(), ready_at = NULL
                WHERE execution_id = @id AND step = @step AND item = @item AND status = 'waiting'
                """, tx, ("id", id), ("step", step), ("item", item ?? -1));
            cmd.Parameters.AddWithValue("outputs", NpgsqlDbType.Jsonb,
                new JsonObject { ["approved_by"] = by, ["comment"] = decision?.Comment ?? "", ["approved_at"] = at.ToString("O") }.ToJsonString());
            await cmd.ExecuteNonQueryAsync(ct);
        }
        else
            await tx.ExecuteAsync(
                """
                UPDATE step_runs SET status = 'failed', error = @error, failure_kind = @kind, ended_at = now(), ready_at = NULL
                WHERE execution_id = @id AND step = @step AND item = @item AND status = 'waiting'
                """, ct, ("id", id), ("step", step), ("item", item ?? -1), ("kind", FailureKinds.StepFailed),
                ("error", rejection));
        int attempt;
        await using (var read = connection.Command("SELECT attempt FROM step_runs WHERE execution_id = @id AND step = @step AND item = @item", tx,
                         ("id", id), ("step", step), ("item", item ?? -1)))
            attempt = (int)(await read.ExecuteScalarAsync(ct))!;
        await tx.EnqueueAsync(approve
            ? ExecutionStore.StepCompleted(view, step, item ?? -1, attempt, StepStatus.Succeeded, null, null)
            : ExecutionStore.StepCompleted(view, step, item ?? -1, attempt, StepStatus.Failed, rejection, FailureKinds.StepFailed), ct);
        view = await store.LoadForUpdateAsync(tx, id, ct);
        await store.AdvanceAsync(tx, view!, ct);
        await tx.CommitAsync(ct);
        return TypedResults.Ok((await ExecutionEndpoints.DescribeAsync(db, pipelines, id, ct))!);
    }
}
