using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;

namespace Mlops.PipelineRunner.Features.Executions;

/// <summary>What a runner knows about the step run it claimed.</summary>
public sealed record StepContext(Guid ExecutionId, string Pipeline, string Step, int Item, int Attempt, StepDefinition Definition, JsonObject Inputs);

public abstract record StepResult;
public sealed record StepSucceeded(JsonObject Outputs) : StepResult;
/// <param name="Kind">One of <see cref="FailureKinds"/>: what a retry policy matches.</param>
public sealed record StepFailed(string Kind, string Message) : StepResult;

public interface IStepHandler
{
    string Type { get; }
    Task<StepResult> RunAsync(StepContext context, CancellationToken ct);
}

/// <summary>Does nothing but answer its inputs as outputs (after <c>sleep_seconds</c>, if given): for wiring, tests and benchmarks.</summary>
public sealed class NoopHandler : IStepHandler
{
    public string Type => "noop";

    public async Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        if (context.Inputs["sleep_seconds"] is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number)
            await Task.Delay(TimeSpan.FromSeconds(Expressions.AsNumber(v)), ct);
        // fail_attempts: n makes the first n attempts fail as a service fault (to exercise retry policies).
        if (context.Inputs["fail_attempts"] is JsonValue f && f.GetValueKind() == System.Text.Json.JsonValueKind.Number
            && context.Attempt <= Expressions.AsNumber(f))
            return new StepFailed(FailureKinds.ServiceFault, $"Attempt {context.Attempt} failed on purpose (fail_attempts: {Expressions.AsNumber(f)}).");
        return new StepSucceeded((JsonObject)context.Inputs.DeepClone());
    }
}

public sealed class FailHandler : IStepHandler
{
    public string Type => "fail";

    public Task<StepResult> RunAsync(StepContext context, CancellationToken ct) =>
        Task.FromResult<StepResult>(new StepFailed(FailureKinds.StepFailed, context.Inputs["message"]?.ToString() ?? "Failed."));
}

/// <summary>Threshold gates over a metrics map. A gate not met is not an error of the step: it answers passed=false with reasons.</summary>
public sealed class EvaluateHandler : IStepHandler
{
    public string Type => "evaluate";

    public Task<StepResult> RunAsync(StepContext context, CancellationToken ct)
    {
        var metrics = context.Inputs["metrics"] as JsonObject ?? [];
        var reasons = new JsonArray();
        var problems = new List<DefinitionProblem>();
        foreach (var node in context.Inputs["gates"] as JsonArray ?? [])
        {
            if (EvaluateGates.Bind(node, "gates", problems) is not { } gate)
                return Task.FromResult<StepResult>(new StepFailed(FailureKinds.StepFailed, $"Invalid gate: {problems[^1].Message}"));
            if (gate.Model is not null)
                return Task.FromResult<StepResult>(new StepFailed(FailureKinds.StepFailed,
                    "better_than gates are not runnable in this build (the tracker lookup is not wired yet)."));
            if (metrics[gate.Metric] is not JsonValue value || value.GetValueKind() != System.Text.Json.JsonValueKind.Number)
            {
                reasons.Add($"metric '{gate.Metric}' is missing");
                continue;
            }
            var v = Expressions.AsNumber(value);
            if (!EvaluateGates.Passes(gate, v))
                reasons.Add($"{gate.Metric} = {v} is not {gate.Op} {gate.Threshold}");
        }
        return Task.FromResult<StepResult>(new StepSucceeded(new JsonObject { ["passed"] = reasons.Count == 0, ["reasons"] = reasons }));
    }
}
