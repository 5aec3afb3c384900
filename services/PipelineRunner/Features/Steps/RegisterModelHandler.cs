using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>
/// <c>register_model</c>: a registry version in the ExperimentTracker (source = the trained model's URI, linked to its
/// run), with the step's tags and the pipeline's own, and optionally an alias moved to it. The version carries a tag naming
/// this step attempt, so a runner taking the step over finds the version it made instead of registering a second one.
/// </summary>
public sealed class RegisterModelHandler(IServiceProvider services) : IStepHandler
{
    public const string StepRunTag = "mlops.pipeline.step_run";
    public string Type => "register_model";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        StepInputRules.EnsureValid(Type, context.Inputs, context.Step);
        var tracker = services.GetRequiredService<TrackingClient>();
        var name = context.Inputs["model_name"]!.ToString();
        var runId = context.Inputs["run_id"]!.ToString();
        var source = context.Inputs["model_uri"]!.ToString();
        var marker = $"{context.ExecutionId}/{context.Step}/{context.Item}/a{context.Attempt}";

        var existing = (await tracker.SearchModelVersionsAsync($"run_id = '{runId}'", ct: ct))
            .FirstOrDefault(v => v.Name == name && v.Tags?.Any(t => t.Key == StepRunTag && t.Value == marker) == true);
        var version = existing ?? await tracker.CreateModelVersionAsync(name, source, runId, Tags(context, marker),
            StepInputRules.Str(context.Inputs["description"]), ct);
        var outputs = new JsonObject { ["model_name"] = name, ["version"] = version.Version, ["source"] = version.Source };
        if (StepInputRules.Str(context.Inputs["alias"]) is { } alias)
        {
            await tracker.SetAliasAsync(name, alias, version.Version, ct);
            outputs["alias"] = alias;
        }
        return new StepSucceeded(outputs);
    }

    /// <summary>The step's tags (values as strings) plus the pipeline execution and step attempt that registered it.</summary>
    public static Dictionary<string, string> Tags(StepContext context, string marker)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in context.Inputs["tags"] as JsonObject ?? [])
            tags[k] = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : v?.ToJsonString() ?? "";
        tags[TrainHandler.ExecutionTag] = context.ExecutionId.ToString();
        tags["mlops.pipeline.name"] = context.Pipeline;
        tags[StepRunTag] = marker;
        return tags;
    }
}
