using System.Text.Json.Nodes;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>A cron schedule: <c>cron</c> with 5 fields (minutes) or 6 (seconds first), <c>time_zone</c> (default UTC).</summary>
public sealed record CreateScheduleRequest(string? Name, string? Cron, string? TimeZone, JsonObject? Parameters, int? Version, bool? Enabled);

public sealed record ScheduleFiring(DateTimeOffset Occurrence, int Skipped, Guid? ExecutionId, string? Error, DateTimeOffset FiredAt);

public sealed record ScheduleResponse(Guid Id, string Pipeline, string Name, string Cron, string TimeZone, JsonObject Parameters, int? Version,
    bool Enabled, DateTimeOffset CreatedAt, DateTimeOffset? LastOccurrence, DateTimeOffset? NextOccurrence, IReadOnlyList<ScheduleFiring>? Firings);

/// <summary>
/// An event trigger: <c>event</c> (features_ingested, monitor_alarm_raised, model_version_created), <c>filter</c> (event
/// field → value it must equal), <c>parameters</c> (pipeline parameter → value, <c>${event.field}</c> references),
/// <c>debounce_seconds</c> (0: every event starts at once).
/// </summary>
public sealed record CreateTriggerRequest(string? Name, string? Event, JsonObject? Filter, JsonObject? Parameters, int? DebounceSeconds, int? Version);

public sealed record TriggerFiring(string EventKey, Guid? MessageId, string Status, Guid? ExecutionId, string? Error, DateTimeOffset ReceivedAt);

public sealed record TriggerResponse(Guid Id, string Pipeline, string Name, string Event, JsonObject Filter, JsonObject Parameters,
    int DebounceSeconds, int? Version, DateTimeOffset CreatedAt, IReadOnlyList<TriggerFiring>? Firings);

public sealed class TriggerOptions
{
    public const string Section = "Triggers";

    /// <summary>How often the scheduler looks for due occurrences and debounced starts.</summary>
    public TimeSpan Tick { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest debounce window a trigger may ask for.</summary>
    public int MaxDebounceSeconds { get; set; } = 86_400;
}
