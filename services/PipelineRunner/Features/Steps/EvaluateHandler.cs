using System.Net;
using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Features.Steps;

/// <summary>What a better_than gate compares with: the version behind the alias and its run's metric (null: nothing to beat).</summary>
public sealed record Baseline(string? Version, string? RunId, double? Value);

/// <summary>
/// <c>evaluate</c>: gates over a metrics map — thresholds, and "better than the model version behind alias X by at least d",
/// whose metric is looked up in the registry (alias → version → run → metric). A gate not met answers passed=false with
/// the reasons, or with <c>fail_if_not_passed</c> fails the step (and so the execution) with them.
/// </summary>
public sealed class EvaluateHandler(IServiceProvider services) : IStepHandler
{
    public string Type => "evaluate";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        var problems = new List<DefinitionProblem>();
        var gates = new List<Gate>();
        foreach (var node in context.Inputs["gates"] as JsonArray ?? [])
            if (EvaluateGates.Bind(node, "gates", problems) is { } gate)
                gates.Add(gate);
        if (problems.Count > 0)
            return new StepFailed(FailureKinds.StepFailed, $"Invalid gate: {string.Join(" ", problems.Select(p => p.Message))}");

        var baselines = new Dictionary<(string, string, string), Baseline>();
        foreach (var gate in gates.Where(g => g.Model is not null))
        {
            var key = (gate.Model!, gate.Alias!, gate.Metric);
            if (!baselines.ContainsKey(key))
                baselines[key] = await LookUpAsync(services.GetRequiredService<TrackingClient>(), gate, ct);
        }
        var verdict = Judge(gates, context.Inputs["metrics"] as JsonObject ?? [], g => baselines[(g.Model!, g.Alias!, g.Metric)]);
        if (!verdict.Passed && context.Inputs["fail_if_not_passed"] is JsonValue f && f.TryGetValue<bool>(out var fail) && fail)
            return new StepFailed(FailureKinds.StepFailed, $"Gates not passed: {string.Join("; ", verdict.Reasons.Select(r => r!.ToString()))}.");
        return new StepSucceeded(new JsonObject
        {
            ["passed"] = verdict.Passed, ["reasons"] = verdict.Reasons, ["notes"] = verdict.Notes, ["baselines"] = verdict.Baselines,
        });
    }

    public sealed record Verdict(bool Passed, JsonArray Reasons, JsonArray Notes, JsonArray Baselines);

    /// <summary>The gates' verdict, pure: every gate is judged (all reasons are reported, not just the first).</summary>
    public static Verdict Judge(IReadOnlyList<Gate> gates, JsonObject metrics, Func<Gate, Baseline> baselineOf)
    {
        var reasons = new JsonArray();
        var notes = new JsonArray();
        var baselines = new JsonArray();
        foreach (var gate in gates)
        {
            if (metrics[gate.Metric] is not JsonValue value || value.GetValueKind() != System.Text.Json.JsonValueKind.Number)
            {
                reasons.Add($"metric '{gate.Metric}' is missing");
                continue;
            }
            var v = Expressions.AsNumber(value);
            if (gate.Model is null)
            {
                if (!EvaluateGates.Passes(gate, v))
                    reasons.Add($"{gate.Metric} = {v} is not {gate.Op} {gate.Threshold}");
                continue;
            }
            var b = baselineOf(gate);
            var entry = new JsonObject
            {
                ["metric"] = gate.Metric, ["model"] = gate.Model, ["alias"] = gate.Alias, ["version"] = b.Version, ["run_id"] = b.RunId,
                ["baseline"] = b.Value, ["candidate"] = v, ["by"] = gate.By, ["direction"] = gate.Direction,
            };
            baselines.Add(entry);
            if (b.Version is null)
            {
                notes.Add($"no version of '{gate.Model}' has alias '{gate.Alias}' yet: the {gate.Metric} gate passes (nothing to beat)");
                continue;
            }
            if (b.Value is not { } baseline)
            {
                notes.Add($"'{gate.Model}' v{b.Version} (alias '{gate.Alias}') has no {gate.Metric} in its run: the gate passes (nothing to compare)");
                continue;
            }
            if (!EvaluateGates.Beats(gate, v, baseline))
                reasons.Add(gate.Direction == "min"
                    ? $"{gate.Metric} = {v} is not at least {gate.By} below {baseline} of '{gate.Model}' v{b.Version} (alias '{gate.Alias}')"
                    : $"{gate.Metric} = {v} is not at least {gate.By} above {baseline} of '{gate.Model}' v{b.Version} (alias '{gate.Alias}')");
        }
        return new Verdict(reasons.Count == 0, reasons, notes, baselines);
    }

    /// <summary>alias → version → its run → the run's latest value of the metric; a missing alias or model is "nothing to beat".</summary>
    private static async Task<Baseline> LookUpAsync(TrackingClient tracker, Gate gate, CancellationToken ct)
    {
        ModelVersion version;
        try
        {
            version = await tracker.GetModelVersionByAliasAsync(gate.Model!, gate.Alias!, ct);
        }
        catch (MlflowApiException e) when (e.StatusCode == HttpStatusCode.NotFound || e.ErrorCode == MlflowApiException.ResourceDoesNotExist)
        {
            return new Baseline(null, null, null);
        }
        catch (MlflowApiException e)
        {
            throw new StepException((int)e.StatusCode >= 500 ? FailureKinds.ServiceFault : FailureKinds.StepFailed, $"Registry lookup of '{gate.Model}@{gate.Alias}': {e.Message}");
        }
        if (string.IsNullOrEmpty(version.RunId))
            return new Baseline(version.Version, null, null);
        var run = await tracker.GetRunAsync(version.RunId, ct);
        return new Baseline(version.Version, version.RunId, run.MetricValue(TrainHandler.TrackerKey(gate.Metric)) ?? run.MetricValue(gate.Metric));
    }
}
