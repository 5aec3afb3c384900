using System.Text.Json.Nodes;

namespace Mlops.PipelineRunner.Client;

/// <summary>A pipeline and its latest version.</summary>
public sealed record PipelineSummary(string Name, int LatestVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>An immutable pipeline version; <see cref="Created"/> is false when an upsert matched the latest version.</summary>
public sealed record PipelineVersion(string Pipeline, int Version, string DefinitionHash, string SourceFormat, JsonNode Definition,
    DateTimeOffset CreatedAt, bool Created);

/// <summary>How to start an execution: parameters, a pinned version, or selective execution against a reference.</summary>
public sealed record StartExecutionRequest(JsonObject? Parameters = null, int? Version = null, Guid? ReferenceExecutionId = null,
    IReadOnlyList<string>? SelectedSteps = null);

/// <summary>A step run (one per step, one per fan-out item).</summary>
public sealed record StepRun(string Step, int? Item, string Type, string Status, int Attempt, int Claims, JsonNode? Inputs, JsonNode? Outputs,
    string? CacheKey, string? Error, string? FailureKind, DateTimeOffset? StartedAt, DateTimeOffset? EndedAt, double? DurationMs, JsonNode Attempts);

public sealed record DagNode(string Step, string Type, string Status);

public sealed record DagEdge(string From, string To);

public sealed record ExecutionDag(IReadOnlyList<DagNode> Nodes, IReadOnlyList<DagEdge> Edges);

/// <summary>An execution; <see cref="Steps"/> and <see cref="Dag"/> are filled by a get, not by a list.</summary>
public sealed record Execution(Guid Id, string Pipeline, int Version, string Status, JsonNode Parameters, bool StopRequested, string? Error,
    Guid? ReferenceExecutionId, DateTimeOffset CreatedAt, DateTimeOffset? EndedAt, IReadOnlyList<StepRun>? Steps, ExecutionDag? Dag)
{
    /// <summary>succeeded, failed or stopped.</summary>
    public bool IsTerminal => Status is "succeeded" or "failed" or "stopped";
}

/// <summary>A cron schedule to create: 5 fields (minutes) or 6 (seconds first); time zone by IANA id (default UTC).</summary>
public sealed record CreateScheduleRequest(string Name, string Cron, string? TimeZone = null, JsonObject? Parameters = null, int? Version = null,
    bool? Enabled = null);

public sealed record ScheduleFiring(DateTimeOffset Occurrence, int Skipped, Guid? ExecutionId, string? Error, DateTimeOffset FiredAt);

public sealed record Schedule(Guid Id, string Pipeline, string Name, string Cron, string TimeZone, JsonObject Parameters, int? Version, bool Enabled,
    DateTimeOffset CreatedAt, DateTimeOffset? LastOccurrence, DateTimeOffset? NextOccurrence, IReadOnlyList<ScheduleFiring>? Firings);

/// <summary>
/// An event trigger to create: <paramref name="Event"/> is features_ingested, monitor_alarm_raised or model_version_created;
/// <paramref name="Filter"/> maps event fields to the values they must equal; <paramref name="Parameters"/> may reference
/// event fields as <c>${event.field}</c>.
/// </summary>
public sealed record CreateTriggerRequest(string Name, string Event, JsonObject? Filter = null, JsonObject? Parameters = null,
    int? DebounceSeconds = null, int? Version = null);

public sealed record TriggerFiring(string EventKey, Guid? MessageId, string Status, Guid? ExecutionId, string? Error, DateTimeOffset ReceivedAt);

public sealed record Trigger(Guid Id, string Pipeline, string Name, string Event, JsonObject Filter, JsonObject Parameters, int DebounceSeconds,
    int? Version, DateTimeOffset CreatedAt, IReadOnlyList<TriggerFiring>? Firings);

/// <summary>One problem of a refused request, with its path in the request or definition document.</summary>
public sealed record Problem(string Path, string Message);
