using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>training_set</c>: a point-in-time-correct training set from the FeatureStore (<c>POST /api/training-sets</c>), an
/// immutable content-hashed snapshot. Small inline requests answer at once; larger ones (or an <c>entity_source</c>) are
/// a FeatureStore job, whose id is recorded so that a runner taking the step over follows the same job. The request carries
/// the attempt's idempotency key, so a repeat after a runner died unrecorded builds nothing twice.
/// </summary>
public sealed class TrainingSetHandler(IServiceProvider services, ILogger<TrainingSetHandler> logger) : IStepHandler
{
    public string Type => "training_set";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var store = services.GetRequiredService<FeatureStoreApi>();
        JsonObject manifest;
        if (context.ExternalId is { } jobId)
        {
            logger.LogInformation("Step {Step} follows FeatureStore job {Job} started by an earlier claim", context.Step, jobId);
            manifest = await FeatureStoreJobs.WaitAsync(store, jobId, ct);
        }
        else
        {
            // With the attempt's key: a runner taking over after this one died before recording the job (or before the
            // snapshot's answer arrived) is answered the same job or snapshot.
            var answer = await store.PostAsync("api/training-sets", Request(context.Inputs), ct, context.IdempotencyKey);
            if (answer["job_id"] is { } job && answer["snapshot_id"] is null)
            {
                await context.RecordExternalIdAsync(job.ToString(), ct);
                manifest = await FeatureStoreJobs.WaitAsync(store, job.ToString(), ct);
            }
            else
                manifest = answer;
        }
        return new StepSucceeded(Outputs(manifest));
    }

    /// <summary>The FeatureStore request: the step's inputs, with <c>entity_source</c> as the lake object it names.</summary>
    public static JsonObject Request(JsonObject inputs)
    {
        var request = new JsonObject { ["features"] = inputs["features"]?.DeepClone() };
        if (inputs["entity_rows"] is { } rows)
            request["entity_rows"] = rows.DeepClone();
        if (StepInputRules.Str(inputs["entity_source"]) is { } key)
            request["entity_source"] = new JsonObject { ["object_key"] = key };
        if (StepInputRules.Str(inputs["timestamp_column"]) is { } ts)
            request["timestamp_column"] = ts;
        return request;
    }

    /// <summary>The step's outputs from a snapshot manifest.</summary>
    public static JsonObject Outputs(JsonObject manifest) => new()
    {
        ["snapshot_id"] = manifest["snapshot_id"]?.ToString(),
        ["data_uri"] = manifest["data_uri"]?.DeepClone(),
        ["manifest_uri"] = manifest["manifest_uri"]?.DeepClone(),
        ["content_hash"] = manifest["content_hash"]?.DeepClone(),
        ["row_count"] = manifest["row_count"]?.DeepClone(),
        ["group_versions"] = manifest["group_versions"]?.DeepClone() ?? new JsonObject(),
    };
}

/// <summary>A FeatureStore job (<c>/api/jobs/{id}</c>) followed to its end: its result, or its error as the step's failure.</summary>
public static class FeatureStoreJobs
{
    public static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);

    public static async Task<JsonObject> WaitAsync(FeatureStoreApi store, string jobId, CancellationToken ct)
    {
        while (true)
        {
            var job = await store.GetAsync($"api/jobs/{Uri.EscapeDataString(jobId)}", ct);
            switch (job["status"]?.ToString())
            {
                case "succeeded":
                    return job["result"] as JsonObject
                        ?? throw new StepException(FailureKinds.ServiceFault, $"FeatureStore job {jobId} succeeded without a result.");
                case "failed" or "cancelled":
                    var error = job["error"];
                    var kind = error?["status"]?.GetValue<int>() is >= 500 ? FailureKinds.ServiceFault : FailureKinds.StepFailed;
                    // The job's error is the problem an HTTP request would have got: its detail, and the record problems if any.
                    var problems = error?["problems"] is JsonArray p ? " " + Truncate(p.ToJsonString(), 1000) : "";
                    throw new StepException(kind, $"FeatureStore job {jobId} {job["status"]}: {error?["detail"] ?? error?.ToJsonString() ?? "no error given"}{problems}");
            }
            await Task.Delay(Poll, ct);
        }
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "…";
}
