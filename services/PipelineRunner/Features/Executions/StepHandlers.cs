using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;

namespace Mlops.PipelineRunner.Features.Executions;

/// <summary>What a runner knows about the step run it claimed.</summary>
/// <param name="StartedAt">When the attempt first started (kept across re-claims after a lost lease).</param>
/// <param name="ExternalId">What an earlier claim of this attempt recorded (e.g. the training job's name), or null.</param>
/// <param name="RecordExternalId">Records the attempt's external resource, so logs and a later claim find it.</param>
public sealed record StepContext(Guid ExecutionId, string Pipeline, string Step, int Item, int Attempt, StepDefinition Definition, JsonObject Inputs,
    DateTimeOffset StartedAt = default, string? ExternalId = null, Func<string, CancellationToken, Task>? RecordExternalId = null, int Run = 1)
{
    private string? _recorded;

    /// <summary>
    /// The attempt's idempotency key for calls that start work elsewhere (a lake import, a deployment), sent as the
    /// <c>Idempotency-Key</c> header: a function of execution, run, step, item and attempt only, so a runner taking the same
    /// attempt over after another died sends the same key and the callee answers the work it started before; a retry
    /// (a new attempt, or a new run) is new work.
    /// </summary>
    public string IdempotencyKey => IdempotencyKeyOf(ExecutionId, Run, Step, Item, Attempt);

    public static string IdempotencyKeyOf(Guid executionId, int run, string step, int item, int attempt) =>
        $"pipeline-{executionId:N}-r{run}-a{attempt}-" +
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{step}/{item}")))[..16];

    /// <summary>The external resource of this attempt as far as known now: recorded by this claim, else by an earlier one.</summary>
    public string? CurrentExternalId => _recorded ?? ExternalId;

    public Task RecordExternalIdAsync(string id, CancellationToken ct)
    {
        _recorded = id;
        return RecordExternalId?.Invoke(id, ct) ?? Task.CompletedTask;
    }
}

public abstract record StepResult;
public sealed record StepSucceeded(JsonObject Outputs) : StepResult;
/// <param name="Kind">One of <see cref="FailureKinds"/>: what a retry policy matches.</param>
public sealed record StepFailed(string Kind, string Message) : StepResult;
/// <summary>A handler's failure with its kind (what a retry policy matches), thrown from deep inside a call.</summary>
public class StepException(string kind, string message) : Exception(message)
{
    public string Kind { get; } = kind;
}

/// <summary>The step waits for someone outside (an approval): it holds no runner; <paramref name="Until"/> is when it times out.</summary>
public sealed record StepWaiting(DateTimeOffset? Until) : StepResult;

public interface IStepHandler
{
    string Type { get; }
    Task<StepResult> RunAsync(StepContext context, CancellationToken ct);

    /// <summary>
    /// Called when a running step is stopped or times out (not when the runner shuts down: then the step is taken again
    /// and must find its work again): stops whatever the step started elsewhere, e.g. a training job.
    /// </summary>
    Task CancelAsync(StepContext context, CancellationToken ct) => Task.CompletedTask;
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

