namespace Mlops.Contracts;

/// <summary>A pipeline execution was started (by the API, a schedule or an event trigger). Published through the runner's outbox.</summary>
/// <param name="ExecutionId">The execution.</param>
/// <param name="Pipeline">The pipeline's name.</param>
/// <param name="Version">The pinned pipeline version.</param>
/// <param name="StartedAt">When.</param>
/// <param name="StartedBy">What started it: <c>api</c>, <c>schedule:&lt;name&gt;</c> or <c>trigger:&lt;name&gt;</c> (absent in older events).</param>
public sealed record PipelineExecutionStarted(Guid ExecutionId, string Pipeline, int Version, DateTimeOffset StartedAt, string? StartedBy = null);

/// <summary>A pipeline execution ended: succeeded, failed or stopped.</summary>
/// <param name="ExecutionId">The execution.</param>
/// <param name="Pipeline">The pipeline's name.</param>
/// <param name="Version">The pinned pipeline version.</param>
/// <param name="Status">succeeded, failed or stopped.</param>
/// <param name="Error">Why it failed (the first failed step), if it did.</param>
/// <param name="EndedAt">When.</param>
public sealed record PipelineExecutionCompleted(Guid ExecutionId, string Pipeline, int Version, string Status, string? Error, DateTimeOffset EndedAt);

/// <summary>A step of a pipeline execution ended: succeeded, cached (outputs reused from an identical earlier step) or failed.</summary>
public sealed record PipelineStepCompleted(Guid ExecutionId, string Pipeline, int Version, string Step, string Status, string? Error,
    DateTimeOffset EndedAt);
