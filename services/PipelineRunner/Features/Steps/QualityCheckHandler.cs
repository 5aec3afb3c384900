using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>quality_check</c>: an on-demand Monitor run of a dataset (an S3 object, e.g. a snapshot's data_uri) or of an
/// endpoint's captured data over the last <c>window_seconds</c> against a baseline; violations of the baseline's
/// constraints fail the step (unless <c>fail_on_violations: false</c>), naming them. The run's id is recorded, so a runner
/// taking the step over follows the same run; the run is requested with the attempt's idempotency key (and a capture window
/// ending at the attempt's start), so one that died before recording it is answered the same run.
/// </summary>
public sealed class QualityCheckHandler(IServiceProvider services, TimeProvider time) : IStepHandler
{
    public static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    public string Type => "quality_check";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var monitor = services.GetRequiredService<MonitorApi>();
        var runId = context.ExternalId;
        if (runId is null)
        {
            // The attempt's key, and a window ending when the attempt started (not now): a runner taking over after this
            // one died before recording the run sends the same request and key, and is answered the same run.
            var end = context.StartedAt == default ? time.GetUtcNow() : context.StartedAt;
            var started = await monitor.PostAsync("api/runs", Request(context.Inputs, end), ct, context.IdempotencyKey);
            runId = started["id"]!.ToString();
            await context.RecordExternalIdAsync(runId, ct);
        }
        JsonObject run;
        while (true)
        {
            run = await monitor.GetAsync($"api/runs/{Uri.EscapeDataString(runId)}", ct);
            var status = run["status"]?.ToString();
            if (status == "failed")
                return new StepFailed(FailureKinds.StepFailed, $"Monitor run {runId} failed: {run["error"]}");
            if (status == "completed")
                break;
            await Task.Delay(Poll, ct);
        }
        var result = run["result"]?.ToString() ?? "";
        var violations = new JsonArray();
        if (result == "VIOLATIONS")
        {
            var document = await monitor.GetAsync($"api/runs/{Uri.EscapeDataString(runId)}/constraint_violations.json", ct);
            foreach (var v in document["violations"] as JsonArray ?? [])
                violations.Add(new JsonObject
                {
                    ["feature_name"] = v?["feature_name"]?.DeepClone(), ["constraint_check_type"] = v?["constraint_check_type"]?.DeepClone(),
                    ["description"] = v?["description"]?.DeepClone(),
                });
        }
        var failOnViolations = context.Inputs["fail_on_violations"] is not JsonValue f || !f.TryGetValue<bool>(out var b) || b;
        if (result == "VIOLATIONS" && failOnViolations)
            return new StepFailed(FailureKinds.StepFailed, $"Monitor run {runId} found {run["violation_count"]} violation(s) of baseline " +
                $"'{context.Inputs["baseline"]}': {string.Join("; ", violations.Select(v => $"{v!["feature_name"]}: {v["constraint_check_type"]}"))}");
        return new StepSucceeded(new JsonObject
        {
            ["run_id"] = runId, ["result"] = result, ["passed"] = result == "OK", ["violation_count"] = run["violation_count"]?.DeepClone() ?? 0,
            ["violations"] = violations, ["item_count"] = run["item_count"]?.DeepClone(), ["dataset_drift"] = run["dataset_drift"]?.DeepClone(),
            ["report_uri"] = run["report_uri"]?.DeepClone(),
        });
    }

    /// <summary>The Monitor's run request: a dataset, or an endpoint's capture over [now − window, now) (default one hour).</summary>
    public static JsonObject Request(JsonObject inputs, DateTimeOffset now)
    {
        var baseline = new JsonObject { ["name"] = inputs["baseline"]!.ToString() };
        if (inputs["baseline_version"] is JsonValue bv)
            baseline["version"] = (int)Expressions.AsNumber(bv);
        var request = new JsonObject { ["baseline"] = baseline };
        if (StepInputRules.Str(inputs["dataset_uri"]) is { } uri)
        {
            request["dataset"] = new JsonObject { ["uri"] = uri };
            if (StepInputRules.Str(inputs["format"]) is { } format)
                request["dataset"]!["format"] = format;
        }
        else
        {
            var window = inputs["window_seconds"] is JsonValue w ? Expressions.AsNumber(w) : 3600;
            request["capture"] = new JsonObject
            {
                ["endpoint"] = inputs["endpoint"]!.ToString(), ["variant"] = StepInputRules.Str(inputs["variant"]),
                ["start"] = now.AddSeconds(-window).ToString("O"), ["end"] = now.ToString("O"),
            };
        }
        if (inputs["drift"] is JsonObject drift)
            request["drift"] = drift.DeepClone();
        return request;
    }
}
