namespace Mlops.Contracts;

/// <summary>A pipeline execution was started (by the API, a schedule or an event trigger). Published through the runner's outbox.</summary>
/// <param name="ExecutionId">The execution.</param>
/// <param name="Pipeline">The pipeline's name.</param>
/// <param name="Version">The pinned pipeline version.</param>
/// <param name="StartedAt">When.</param>
/// <param name="StartedBy">What started it: <c>api</c>, <c>schedule:&lt;name&gt;</c>, <c>trigger:&lt;name&gt;</c> or <c>retry</c> (absent in older events).</param>
/// <param name="Run">1 for the first start, n + 1 after the n-th retry from failure: (ExecutionId, Run) identifies the start.</param>
public sealed record PipelineExecutionStarted(Guid ExecutionId, string Pipeline, int Version, DateTimeOffset StartedAt, string? StartedBy = null,
    int? Run = null);

/// <summary>A pipeline execution ended: succeeded, failed or stopped.</summary>
/// <param name="ExecutionId">The execution.</param>
/// <param name="Pipeline">The pipeline's name.</param>
/// <param name="Version">The pinned pipeline version.</param>
/// <param name="Status">succeeded, failed or stopped.</param>
/// <param name="Error">Why it failed (the first failed step), if it did.</param>
/// <param name="EndedAt">When.</param>
/// <param name="Run">Which start of the execution ended (see <see cref="PipelineExecutionStarted.Run"/>): (ExecutionId, Run) identifies the end.</param>
public sealed record PipelineExecutionCompleted(Guid ExecutionId, string Pipeline, int Version, string Status, string? Error, DateTimeOffset EndedAt,
    int? Run = null);

/// <summary>
/// A step run (a step, or one item of a fan-out) ended an attempt: <c>succeeded</c>, <c>cached</c> (outputs reused from an
/// identical earlier step), <c>skipped</c>, <c>failed</c>, <c>stopped</c>, or <c>retrying</c> (the attempt failed and the
/// retry policy runs it again). (ExecutionId, Run, Step, Item, Attempt) identifies the outcome: an idempotent consumer keys on it.
/// </summary>
/// <param name="ExecutionId">The execution.</param>
/// <param name="Pipeline">The pipeline's name.</param>
/// <param name="Version">The pinned pipeline version.</param>
/// <param name="Step">The step's name.</param>
/// <param name="Status">succeeded, cached, skipped, failed, stopped or retrying.</param>
/// <param name="Error">Why the attempt failed or the step was skipped, if it was.</param>
/// <param name="EndedAt">When.</param>
/// <param name="Item">The fan-out item's index; null for a step.</param>
/// <param name="Attempt">The attempt (1, 2, …); 0 for an outcome the planner decided without running the step (cached, skipped).</param>
/// <param name="StepType">The step's type (train, deploy, …).</param>
/// <param name="FailureKind">Why it failed, as retry policies name it (Step.SERVICE_FAULT, SageMaker.CAPACITY_ERROR, …).</param>
/// <param name="Run">Which start of the execution (see <see cref="PipelineExecutionStarted.Run"/>).</param>
public sealed record PipelineStepCompleted(Guid ExecutionId, string Pipeline, int Version, string Step, string Status, string? Error,
    DateTimeOffset EndedAt, int? Item = null, int? Attempt = null, string? StepType = null, string? FailureKind = null, int? Run = null);
