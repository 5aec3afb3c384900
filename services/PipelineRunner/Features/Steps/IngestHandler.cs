using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>ingest</c>: a FeatureStore lake import (<c>POST /api/feature-groups/{group}/imports</c>) of an object in the lake
/// bucket, followed to its end. All or nothing: a malformed file fails the job and the step with the FeatureStore's
/// problem (e.g. the CSV line), writing nothing. The job's id is recorded, so a runner taking over follows the same job;
/// the import is requested with the attempt's idempotency key, so a runner that died between the FeatureStore accepting
/// it and recording the id makes the taker-over find the same job rather than import twice.
/// </summary>
public sealed class IngestHandler(IServiceProvider services) : IStepHandler
{
    public string Type => "ingest";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var store = services.GetRequiredService<FeatureStoreApi>();
        var jobId = context.ExternalId;
        if (jobId is null)
        {
            var request = new JsonObject { ["object_key"] = context.Inputs["object_key"]!.ToString() };
            if (StepInputRules.Str(context.Inputs["format"]) is { } format)
                request["format"] = format;
            var job = await store.PostAsync($"api/feature-groups/{Uri.EscapeDataString(context.Inputs["feature_group"]!.ToString())}/imports", request, ct, context.IdempotencyKey);
            jobId = job["job_id"]!.ToString();
            await context.RecordExternalIdAsync(jobId, ct);
        }
        var result = await FeatureStoreJobs.WaitAsync(store, jobId, ct);
        return new StepSucceeded(new JsonObject
        {
            ["job_id"] = jobId, ["rows"] = result["rows"]?.DeepClone(), ["batch_id"] = result["batch_id"]?.DeepClone(),
            ["group_version"] = result["version"]?.DeepClone(),
        });
    }

    /// <summary>A stopped step cancels its import (a running one stops within a second, writing nothing).</summary>
    public async Task CancelAsync(StepContext context, CancellationToken ct)
    {
        if (context.CurrentExternalId is { } jobId)
            await services.GetRequiredService<FeatureStoreApi>().PostAsync($"api/jobs/{Uri.EscapeDataString(jobId)}/cancel", new JsonObject(), ct);
    }
}
