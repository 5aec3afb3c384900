using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Features.Runs;

public sealed record BaselineRef(string? Name, int? Version = null);

/// <summary>The captured data of an endpoint (all variants unless one is named) for [start, end).</summary>
public sealed record CaptureWindow(string? Endpoint, string? Variant, DateTimeOffset? Start, DateTimeOffset? End);

/// <summary>An on-demand run over a dataset or over captured data.</summary>
/// <param name="Wait">Seconds to wait for the run to finish before answering (0–120; default 0: answer at once).</param>
/// <param name="Quality">Model quality from ground truth merged by inference id (capture runs only).</param>
/// <param name="Attribution">Feature-attribution drift of the served model (Clarify's model-explainability monitor) against the baseline's dataset.</param>
public sealed record StartRunRequest(BaselineRef? Baseline, DatasetRef? Dataset = null, CaptureWindow? Capture = null, DriftOptions? Drift = null, int? Wait = null,
    Quality.QualityOptions? Quality = null, Attribution.AttributionOptions? Attribution = null);

/// <summary>What a run reads, as stored with it.</summary>
public sealed record RunSource(DatasetRef? Dataset, CaptureWindow? Capture, Quality.QualityOptions? Quality = null, Attribution.AttributionOptions? Attribution = null);

public sealed record RunRow(Guid Id, long Seq, string? ScheduleName, string? Endpoint, string? Variant, string BaselineName, int BaselineVersion,
    RunSource Source, DriftOptions Drift, DateTimeOffset? WindowStart, DateTimeOffset? WindowEnd, string Status, string? Result, int Attempts,
    long? ItemCount, int? ViolationCount, bool? DatasetDrift, double? ShareDrifted, string? ReportUri, string? ViolationsUri, string? Error,
    DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt);

public sealed record RunResponse(Guid Id, string? Schedule, string? Endpoint, string? Variant, BaselineRef Baseline, RunSource Source,
    DateTimeOffset? WindowStart, DateTimeOffset? WindowEnd, string Status, string? Result, int Attempts, long? ItemCount, int? ViolationCount,
    bool? DatasetDrift, double? ShareOfDriftedColumns, string? ReportUri, string? ViolationsUri, string? Error, DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, RunLinks Links)
{
    public static RunResponse From(RunRow r) => new(r.Id, r.ScheduleName, r.Endpoint, r.Variant, new BaselineRef(r.BaselineName, r.BaselineVersion), r.Source,
        r.WindowStart, r.WindowEnd, r.Status, r.Result, r.Attempts, r.ItemCount, r.ViolationCount, r.DatasetDrift, r.ShareDrifted, r.ReportUri,
        r.ViolationsUri, r.Error, r.CreatedAt, r.StartedAt, r.CompletedAt,
        new RunLinks($"/api/runs/{r.Id}", $"/api/runs/{r.Id}/report", $"/api/runs/{r.Id}/constraint_violations.json", $"/api/runs/{r.Id}/report.html"));
}

public sealed record RunLinks(string Self, string Report, string ConstraintViolations, string Html);

public sealed record RunList(IReadOnlyList<RunResponse> Runs);

/// <summary>The run's report (JSON in S3).</summary>
public sealed record RunReport(Guid RunId, string Result, BaselineRef Baseline, RunSource Source, DateTimeOffset? WindowStart, DateTimeOffset? WindowEnd,
    long ItemCount, string? Reason, IReadOnlyList<Violation> Violations, DatasetDrift? Drift, ColumnDrift? PredictionDrift, string? PredictionDriftReason,
    Statistics? CurrentStatistics, IReadOnlyDictionary<string, double> Metrics, CaptureSummary? Capture, DateTimeOffset CompletedAt,
    string? Variant = null, IReadOnlyList<VariantReport>? Variants = null, Quality.QualityReport? Quality = null,
    Attribution.AttributionReport? Attribution = null);

/// <summary>One variant's part of a capture run: its rows, violations and drift, and the model version it serves (from Serving).</summary>
public sealed record VariantReport(string Variant, string? ModelName, string? ModelVersion, long ItemCount, IReadOnlyList<Violation> Violations,
    DatasetDrift? Drift, ColumnDrift? PredictionDrift, CaptureSummary Capture);

public sealed record CaptureSummary(int Files, long Events, long UnreadableEvents);

public static class RunStatuses
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

public static class RunResults
{
    public const string Ok = "OK";
    public const string Violations = "VIOLATIONS";
    public const string InsufficientData = "INSUFFICIENT_DATA";
}
