using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.PipelineRunner.Features.Pipelines;
using Mlops.SageMaker;
using Npgsql;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>Step logs: a train step's is its training job's log; other steps' are their attempts and errors.</summary>
public static class StepLogEndpoints
{
    public static RouteGroupBuilder MapStepLogEndpoints(this RouteGroupBuilder executions)
    {
        executions.MapGet("/{id:guid}/steps/{step}/logs", GetLog).Produces<string>(contentType: "text/plain");
        return executions;
    }

    internal static async Task<Results<ContentHttpResult, ProblemHttpResult>> GetLog(Guid id, string step, int? item, NpgsqlDataSource db,
        PipelineStore pipelines, IServiceProvider services, CancellationToken ct)
    {
        var execution = await db.ReadFirstOrDefaultAsync("SELECT pipeline, version FROM executions WHERE id = @id",
            r => (Pipeline: r.GetString(0), Version: r.GetInt32(1)), ct, ("id", id));
        if (execution.Pipeline is null)
            return Problems.NotFound($"Execution {id} does not exist.");
        var version = (await pipelines.GetVersionAsync(execution.Pipeline, execution.Version, ct))!;
        var definition = pipelines.Bind(execution.Pipeline, execution.Version, version.Definition).Step(step);
        if (definition is null)
            return Problems.NotFound($"Pipeline '{execution.Pipeline}' v{execution.Version} has no step '{step}'.");
        var run = await db.ReadFirstOrDefaultAsync(
            "SELECT status, attempt, external_id, error, attempts::text FROM step_runs WHERE execution_id = @id AND step = @step AND item = @item",
            r => (Status: r.GetString(0), Attempt: r.GetInt32(1), ExternalId: r.GetNullableString(2), Error: r.GetNullableString(3),
                Attempts: r.GetString(4)), ct, ("id", id), ("step", step), ("item", item ?? -1));
        if (run.Status is null)
            return Problems.NotFound($"Step '{step}' of execution {id} has not run yet.");

        if (definition.Type == "train")
        {
            if (run.ExternalId is null)
                return Problems.NotFound($"Step '{step}' of execution {id} has no training job yet.");
            try
            {
                var log = await services.GetRequiredService<SageMakerClient>().GetLocalTrainingJobLogAsync(run.ExternalId, ct);
                return TypedResults.Text(log, "text/plain", Encoding.UTF8);
            }
            catch (Exception e) when (e is SageMakerException or HttpRequestException)
            {
                return new ProblemException(StatusCodes.Status502BadGateway, "Log not available",
                    $"The training service did not give the log of job {run.ExternalId}: {e.Message}").ToResult();
            }
        }
        var text = new StringBuilder();
        foreach (var attempt in JsonNode.Parse(run.Attempts)!.AsArray())
            text.AppendLine($"attempt {attempt!["attempt"]}: {attempt["failure_kind"]}: {attempt["error"]}");
        text.AppendLine($"attempt {run.Attempt}: {run.Status}{(run.Error is null ? "" : $": {run.Error}")}");
        return TypedResults.Text(text.ToString(), "text/plain", Encoding.UTF8);
    }
}
