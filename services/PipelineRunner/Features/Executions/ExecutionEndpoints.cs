using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.Contracts;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Pipelines;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.PipelineRunner.Features.Executions;

/// <summary>Executions: start (under a pipeline), list, describe with steps and DAG, stop, retry from failure.</summary>
public static class ExecutionEndpoints
{
    public static RouteGroupBuilder MapExecutionEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/pipelines/{name}/executions", StartExecution).WithTags("Executions");
        var executions = api.MapGroup("/executions").WithTags("Executions");
        executions.MapGet("/", ListExecutions);
        executions.MapGet("/{id:guid}", GetExecution);
        executions.MapGet("/{id:guid}/steps", GetSteps);
        executions.MapPost("/{id:guid}/stop", StopExecution);
        executions.MapPost("/{id:guid}/retry", RetryExecution);
        return executions;
    }

    internal static async Task<Created<ExecutionResponse>> StartExecution(string name, StartExecutionRequest? request, NpgsqlDataSource db,
        PipelineStore pipelines, ExecutionStore store, CancellationToken ct)
    {
        request ??= new StartExecutionRequest(null, null, null, null);
        var version = await pipelines.GetVersionAsync(name, request.Version, ct)
            ?? throw ProblemException.NotFound(request.Version is { } v ? $"Pipeline '{name}' has no version {v}." : $"Pipeline '{name}' does not exist.");
        var definition = pipelines.Bind(name, version.Version, version.Definition);
        var problems = new List<DefinitionProblem>();
        var parameters = ParameterValues.Resolve(definition, request.Parameters, problems);
        if (request.SelectedSteps is { } selected)
        {
            if (request.ReferenceExecutionId is null)
                problems.Add(new("$.selected_steps", "Selective execution reuses a reference execution's outputs: give reference_execution_id."));
            for (var i = 0; i < selected.Count; i++)
                if (definition.Steps.All(s => s.Name != selected[i]))
                    problems.Add(new($"$.selected_steps[{i}]", $"Pipeline '{name}' v{version.Version} has no step '{selected[i]}'."));
        }
        if (problems.Count > 0)
            throw Invalid("The execution's request is invalid.", problems);

        var id = Guid.CreateVersion7();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await InsertExecutionAsync(tx, id, name, version.Version, parameters, request.ReferenceExecutionId, "api", ct);
        if (request.ReferenceExecutionId is { } reference)
        {
            await using var check = connection.Command("SELECT pipeline FROM executions WHERE id = @id", tx, ("id", reference));
            var referencePipeline = await check.ExecuteScalarAsync(ct) as string
                ?? throw ProblemException.NotFound($"Reference execution {reference} does not exist.");
            if (referencePipeline != name)
                throw Invalid("The execution's request is invalid.",
                    [new("$.reference_execution_id", $"Execution {reference} belongs to pipeline '{referencePipeline}', not '{name}'.")]);
            // Every step not selected keeps the reference's outputs (if it has them); selected steps, and steps whose
            // reference run has no outputs, run again.
            await tx.ExecuteAsync(
                """
                INSERT INTO step_runs (execution_id, step, item, status, attempt, inputs, outputs, cache_key, ended_at)
                SELECT @id, step, -1, 'reused', 0, inputs, outputs, cache_key, now() FROM step_runs
                WHERE execution_id = @reference AND item = -1 AND status IN ('succeeded', 'cached', 'reused') AND step <> 'exit_handler'
                  AND NOT (step = ANY(@selected))
                """, ct, ("id", id), ("reference", reference), ("selected", (request.SelectedSteps ?? []).ToArray()));
        }
        await BeginAsync(tx, store, id, name, version.Version, "api", ct);
        await tx.CommitAsync(ct);
        var response = await DescribeAsync(db, pipelines, id, ct);
        return TypedResults.Created($"/api/executions/{id}", response!);
    }

    /// <summary>
    /// The execution's row, running, with parameters already resolved against the pinned version, and the traceparent its
    /// steps' spans take as parent (a <c>pipeline execution</c> span under the current request or message).
    /// </summary>
    public static Task InsertExecutionAsync(NpgsqlTransaction tx, Guid id, string pipeline, int version, JsonObject parameters, Guid? reference,
        string startedBy, CancellationToken ct) =>
        tx.ExecuteAsync(
            """
            INSERT INTO executions (id, pipeline, version, status, parameters, reference_execution_id, traceparent)
            VALUES (@id, @name, @version, 'running', @parameters::jsonb, @reference, @traceparent)
            """, ct, ("id", id), ("name", pipeline), ("version", version), ("parameters", parameters.ToJsonString()), ("reference", reference),
            ("traceparent", PipelineTelemetry.NewTraceParent(pipeline, id, startedBy)));

    /// <summary>
    /// Publishes <see cref="PipelineExecutionStarted"/> (naming what started it: api, schedule:&lt;name&gt;, trigger:&lt;name&gt;)
    /// and starts the first steps, in the caller's transaction.
    /// </summary>
    public static async Task BeginAsync(NpgsqlTransaction tx, ExecutionStore store, Guid id, string pipeline, int version, string startedBy,
        CancellationToken ct)
    {
        await tx.EnqueueAsync(new PipelineExecutionStarted(id, pipeline, version, DateTimeOffset.UtcNow, startedBy, 1), ct);
        var view = await store.LoadForUpdateAsync(tx, id, ct);
        await store.AdvanceAsync(tx, view!, ct);
        PipelineTelemetry.ExecutionStarted(pipeline);
    }

    internal static async Task<Ok<List<ExecutionResponse>>> ListExecutions(NpgsqlDataSource db, string? pipeline, string? status, int? limit,
        CancellationToken ct)
    {
        var max = Math.Clamp(limit ?? 100, 1, 1000);
        var rows = await db.ReadAllAsync(
            $"""
            SELECT {ExecutionColumns} FROM executions
            WHERE (@pipeline::text IS NULL OR pipeline = @pipeline) AND (@status::text IS NULL OR status = @status)
            ORDER BY created_at DESC LIMIT @limit
            """, r => ReadExecution(r, null, null), ct, ("pipeline", pipeline), ("status", status), ("limit", max));
        return TypedResults.Ok(rows);
    }

    internal static async Task<Results<Ok<ExecutionResponse>, ProblemHttpResult>> GetExecution(Guid id, NpgsqlDataSource db, PipelineStore pipelines,
        CancellationToken ct) =>
        await DescribeAsync(db, pipelines, id, ct) is { } e ? TypedResults.Ok(e) : Problems.NotFound($"Execution {id} does not exist.");

    internal static async Task<Results<Ok<IReadOnlyList<StepRunResponse>>, ProblemHttpResult>> GetSteps(Guid id, NpgsqlDataSource db,
        PipelineStore pipelines, CancellationToken ct) =>
        await DescribeAsync(db, pipelines, id, ct) is { } e ? TypedResults.Ok(e.Steps!) : Problems.NotFound($"Execution {id} does not exist.");

    /// <summary>Stops an execution: nothing new starts, running steps are cancelled by their runners, the exit handler runs.</summary>
    internal static async Task<Accepted<ExecutionResponse>> StopExecution(Guid id, NpgsqlDataSource db, PipelineStore pipelines, ExecutionStore store,
        CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var view = await store.LoadForUpdateAsync(tx, id, ct) ?? throw ProblemException.NotFound($"Execution {id} does not exist.");
        if (ExecutionStatus.IsTerminal(view.Status))
            throw ProblemException.Conflict($"Execution {id} is {view.Status}: only a running execution can be stopped.");
        await tx.ExecuteAsync("UPDATE executions SET stop_requested = true, status = 'stopping' WHERE id = @id", ct, ("id", id));
        // Steps no runner holds stop here (running ones stop in their runner, which publishes their outcome).
        var stoppedNow = await connection.ReadAllAsync(
            """
            UPDATE step_runs SET status = 'stopped', ended_at = now() WHERE execution_id = @id AND status IN ('ready', 'waiting')
            RETURNING step, item, attempt
            """, [new NpgsqlParameter("id", id)], r => (Step: r.GetString(0), Item: r.GetInt32(1), Attempt: r.GetInt32(2)), ct, tx);
        foreach (var s in stoppedNow)
            await tx.EnqueueAsync(ExecutionStore.StepCompleted(view, s.Step, s.Item, s.Attempt, StepStatus.Stopped, "Stopped.", null), ct);
        view = await store.LoadForUpdateAsync(tx, id, ct);
        await store.AdvanceAsync(tx, view!, ct);
        await tx.CommitAsync(ct);
        return TypedResults.Accepted($"/api/executions/{id}", (await DescribeAsync(db, pipelines, id, ct))!);
    }

    /// <summary>Runs a failed or stopped execution again from where it ended: succeeded steps keep their outputs.</summary>
    internal static async Task<Accepted<ExecutionResponse>> RetryExecution(Guid id, NpgsqlDataSource db, PipelineStore pipelines, ExecutionStore store,
        CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var view = await store.LoadForUpdateAsync(tx, id, ct) ?? throw ProblemException.NotFound($"Execution {id} does not exist.");
        if (view.Status is not (ExecutionStatus.Failed or ExecutionStatus.Stopped))
            throw ProblemException.Conflict($"Execution {id} is {view.Status}: only a failed or stopped execution can be retried.");
        var fanOuts = view.Definition.Steps.Where(s => s.ForEach is not null).Select(s => s.Name).ToArray();
        await tx.ExecuteAsync(
            """
            -- The retry stays in the execution's trace; an execution from before traces were stored gets one now.
            UPDATE executions SET status = 'running', stop_requested = false, error = NULL, ended_at = NULL, run = run + 1,
                traceparent = coalesce(traceparent, @traceparent) WHERE id = @id;
            DELETE FROM step_runs WHERE execution_id = @id AND step = 'exit_handler';
            -- A fan-out that had expanded keeps its succeeded items and runs the others again.
            UPDATE step_runs p SET status = 'running', error = NULL, ended_at = NULL
            WHERE p.execution_id = @id AND p.item = -1 AND p.step = ANY(@fanouts) AND p.status IN ('failed', 'stopped', 'not_run')
              AND EXISTS (SELECT 1 FROM step_runs i WHERE i.execution_id = @id AND i.step = p.step AND i.item >= 0);
            UPDATE step_runs SET status = 'pending', error = NULL, failure_kind = NULL, ended_at = NULL, lease_owner = NULL, lease_until = NULL
            WHERE execution_id = @id AND status IN ('failed', 'stopped', 'not_run');
            """, ct, ("id", id), ("fanouts", fanOuts), ("traceparent", PipelineTelemetry.NewTraceParent(view.Pipeline, id, "retry")));
        view = await store.LoadForUpdateAsync(tx, id, ct);
        await tx.EnqueueAsync(new PipelineExecutionStarted(id, view!.Pipeline, view.Version, DateTimeOffset.UtcNow, "retry", view.Run), ct);
        await store.AdvanceAsync(tx, view, ct);
        await tx.CommitAsync(ct);
        PipelineTelemetry.ExecutionStarted(view.Pipeline);
        return TypedResults.Accepted($"/api/executions/{id}", (await DescribeAsync(db, pipelines, id, ct))!);
    }

    public static ProblemException Invalid(string detail, IEnumerable<DefinitionProblem> problems) =>
        ProblemException.BadRequest(detail, new Dictionary<string, object?>
        {
            ["problems"] = problems.Select(p => new Dictionary<string, string> { ["path"] = p.Path, ["message"] = p.Message }).ToList(),
        });

    private const string ExecutionColumns =
        "id, pipeline, version, status, parameters::text, stop_requested, error, reference_execution_id, created_at, ended_at";

    private static ExecutionResponse ReadExecution(NpgsqlDataReader r, IReadOnlyList<StepRunResponse>? steps, ExecutionDag? dag) =>
        new(r.GetGuid(0), r.GetString(1), r.GetInt32(2), r.GetString(3), JsonNode.Parse(r.GetString(4))!, r.GetBoolean(5), r.GetNullableString(6),
            r.IsDBNull(7) ? null : r.GetGuid(7), r.GetFieldValue<DateTimeOffset>(8), r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9), steps, dag);

    public static async Task<ExecutionResponse?> DescribeAsync(NpgsqlDataSource db, PipelineStore pipelines, Guid id, CancellationToken ct)
    {
        var execution = await db.ReadFirstOrDefaultAsync($"SELECT {ExecutionColumns} FROM executions WHERE id = @id",
            r => ReadExecution(r, null, null), ct, ("id", id));
        if (execution is null)
            return null;
        var version = (await pipelines.GetVersionAsync(execution.Pipeline, execution.Version, ct))!;
        var definition = pipelines.Bind(execution.Pipeline, execution.Version, version.Definition);
        string TypeOf(string step) => definition.Step(step)?.Type ?? "";
        var steps = await db.ReadAllAsync(
            """
            SELECT step, item, status, attempt, claims, inputs::text, outputs::text, cache_key, error, failure_kind, started_at, ended_at, attempts::text
            FROM step_runs WHERE execution_id = @id ORDER BY started_at NULLS LAST, step, item
            """,
            r =>
            {
                DateTimeOffset? started = r.IsDBNull(10) ? null : r.GetFieldValue<DateTimeOffset>(10);
                DateTimeOffset? ended = r.IsDBNull(11) ? null : r.GetFieldValue<DateTimeOffset>(11);
                return new StepRunResponse(r.GetString(0), r.GetInt32(1) < 0 ? null : r.GetInt32(1), TypeOf(r.GetString(0)), r.GetString(2),
                    r.GetInt32(3), r.GetInt32(4), r.IsDBNull(5) ? null : JsonNode.Parse(r.GetString(5)), r.IsDBNull(6) ? null : JsonNode.Parse(r.GetString(6)),
                    r.GetNullableString(7), r.GetNullableString(8), r.GetNullableString(9), started, ended,
                    started is { } s && ended is { } e ? (e - s).TotalMilliseconds : null, JsonNode.Parse(r.GetString(12))!);
            }, ct, ("id", id));
        var byStep = steps.Where(s => s.Item is null).ToDictionary(s => s.Step, s => s.Status);
        var nodes = definition.Steps.Append(definition.ExitHandler).OfType<StepDefinition>()
            .Select(s => new DagNode(s.Name, s.Type, byStep.GetValueOrDefault(s.Name, StepStatus.Pending))).ToList();
        var edges = definition.Steps.SelectMany(s => Dag.Upstream(definition, s).Select(u => new DagEdge(u, s.Name))).ToList();
        return execution with { Steps = steps, Dag = new ExecutionDag(nodes, edges) };
    }
}
