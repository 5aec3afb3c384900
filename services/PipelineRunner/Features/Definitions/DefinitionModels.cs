using System.Text.Json.Nodes;

namespace Mlops.PipelineRunner.Features.Definitions;

/// <summary>A pipeline definition, parsed from YAML or JSON (one model for both).</summary>
/// <param name="Parallelism">At most this many steps of one execution run at once (null: no limit beyond the runner's).</param>
public sealed record PipelineDefinition(string? Description, IReadOnlyList<ParameterDefinition> Parameters,
    IReadOnlyList<StepDefinition> Steps, StepDefinition? ExitHandler, int? Parallelism)
{
    public StepDefinition? Step(string name) =>
        Steps.FirstOrDefault(s => s.Name == name) ?? (ExitHandler?.Name == name ? ExitHandler : null);
}

/// <param name="Type">string, number, integer, bool, list or map.</param>
public sealed record ParameterDefinition(string Name, string Type, JsonNode? Default, bool HasDefault);

/// <param name="ForEach">A reference to a list (<c>${params.p}</c> or <c>${steps.s.outputs.o}</c>): the step runs once per
/// item (<c>${item}</c> in its inputs) and its outputs are the items' outputs collected in order.</param>
/// <param name="Parallelism">With <paramref name="ForEach"/>: at most this many items at once.</param>
public sealed record StepDefinition(string Name, string Type, JsonObject Inputs, IReadOnlyList<string> DependsOn, string? When,
    string? ForEach, int? Parallelism, IReadOnlyList<RetryPolicy> Retry, int? TimeoutSeconds, CachePolicy? Cache);

/// <summary>SageMaker Pipelines' RetryPolicy: which failure kinds retry, after how long, growing by what factor, how often.</summary>
public sealed record RetryPolicy(IReadOnlyList<string> ExceptionTypes, double IntervalSeconds, double BackoffRate, int MaxAttempts)
{
    /// <summary>The delay before attempt <paramref name="nextAttempt"/> (2 for the first retry).</summary>
    public TimeSpan DelayBefore(int nextAttempt) =>
        TimeSpan.FromSeconds(IntervalSeconds * Math.Pow(BackoffRate, Math.Max(0, nextAttempt - 2)));
}

public sealed record CachePolicy(TimeSpan ExpireAfter);

/// <summary>A problem with a definition, and where in the document it is (<c>$.steps.train.inputs.algorithm</c>).</summary>
public sealed record DefinitionProblem(string Path, string Message);

/// <summary>The failure kinds a step reports and a retry policy names (SageMaker's, plus the step's own failure).</summary>
public static class FailureKinds
{
    /// <summary>A called service answered 5xx or could not be reached.</summary>
    public const string ServiceFault = "Step.SERVICE_FAULT";
    public const string Throttling = "Step.THROTTLING";
    /// <summary>The step itself failed (a training job failed, a gate was not met is NOT this: gates do not retry).</summary>
    public const string StepFailed = "Step.FAILED";
    public const string Timeout = "Step.TIMEOUT";
    public const string JobInternalError = "SageMaker.JOB_INTERNAL_ERROR";
    public const string CapacityError = "SageMaker.CAPACITY_ERROR";
    public const string ResourceLimit = "SageMaker.RESOURCE_LIMIT";
    public static readonly string[] All = [ServiceFault, Throttling, StepFailed, Timeout, JobInternalError, CapacityError, ResourceLimit];
}
