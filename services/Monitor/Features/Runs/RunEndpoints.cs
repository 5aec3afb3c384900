using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.ServiceDefaults.Idempotency;
using Npgsql;

namespace Mlops.Monitor.Features.Runs;

/// <summary>Monitoring runs on demand, their reports, and the time series of every metric.</summary>
public static class RunEndpoints
{
    public static RouteGroupBuilder MapRunEndpoints(this RouteGroupBuilder api)
    {
        var runs = api.MapGroup("/runs").WithTags("Runs");
        runs.MapPost("/", Start);
        runs.MapGet("/", List);
        runs.MapGet("/{id:guid}", Get);
        runs.MapGet("/{id:guid}/report", Report);
        runs.MapGet("/{id:guid}/constraint_violations.json", Violations);
        runs.MapGet("/{id:guid}/report.html", Html);
        runs.MapGet("/{id:guid}/analysis.json", Analysis);
        api.MapGet("/metrics", Series).WithTags("Metrics");
        return runs;
    }

    public static void ValidateDrift(DriftOptions? drift, List<string> errors)
    {
        if (drift is null) return;
        void Method(string? name, string field)
        {
            if (name is not null && !DriftMethod.ByName.ContainsKey(name))
                errors.Add($"'{field}' must be one of {string.Join(", ", DriftMethod.ByName.Keys)}; got '{name}'.");
        }
        void Threshold(double? t, string field)
        {
            if (t is { } v && (!double.IsFinite(v) || v < 0)) errors.Add($"'{field}' must be a non-negative number; got {v}.");
        }
        Method(drift.Method, "drift.method");
        Threshold(drift.Threshold, "drift.threshold");
        if (drift.DriftShare is <= 0 or > 1 || double.IsNaN(drift.DriftShare)) errors.Add($"'drift.drift_share' must be in (0, 1]; got {drift.DriftShare}.");
        foreach (var (name, c) in drift.Columns ?? new Dictionary<string, ColumnDriftOptions>())
        {
            if (c is null) { errors.Add($"'drift.columns.{name}' must be an object."); continue; }
            Method(c.Method, $"drift.columns.{name}.method");
            Threshold(c.Threshold, $"drift.columns.{name}.threshold");
        }
    }

    /// <summary>
    /// Starts a run (pending; answered when done if <c>wait</c> allows). With an <c>Idempotency-Key</c> header a repeat of
    /// the same request (<c>wait</c> aside) answers the run the key started instead of starting another; the key with
    /// another request → 409 (<see cref="IdempotencyKey"/>).
    /// </summary>
    internal static async Task<Results<Created<RunResponse>, Accepted<RunResponse>, ValidationProblem, ProblemHttpResult>> Start(StartRunRequest request,
        [FromHeader(Name = IdempotencyKey.Header)] string? idempotencyKey, BaselineStore baselines, RunStore runs, CancellationToken ct)
    {
        var key = IdempotencyKey.Read(idempotencyKey);
        var errors = new List<string>();
        if (request.Baseline?.Name is null) errors.Add("'baseline.name' is required.");
        if ((request.Dataset is null) == (request.Capture is null)) errors.Add("Give exactly one of 'dataset' (an s3:// object) and 'capture' (an endpoint's window).");
        if (request.Dataset is { } d)
        {
            try { S3Location.Parse(d.Uri, "dataset.uri"); DatasetReader.ValidateColumns(d.Columns, "dataset.columns"); }
            catch (ProblemException e) { errors.Add(e.Message); }
        }
        if (request.Capture is { } c)
        {
            if (string.IsNullOrWhiteSpace(c.Endpoint)) errors.Add("'capture.endpoint' is required.");
            else BaselineService.CheckOptionalName(c.Endpoint, "capture.endpoint", errors);
            BaselineService.CheckOptionalName(c.Variant, "capture.variant", errors);
            if (c.Start is null) errors.Add("'capture.start' is required.");
            if (c.End is null) errors.Add("'capture.end' is required.");
            if (c.Start is { } s && c.End is { } e && e <= s) errors.Add($"'capture.end' ({e:O}) must be after 'capture.start' ({s:O}).");
            if (c.Start is { } s2 && c.End is { } e2 && e2 - s2 > TimeSpan.FromDays(31)) errors.Add("A capture window may span at most 31 days.");
        }
        if (request.Wait is < 0 or > 120) errors.Add($"'wait' must be between 0 and 120 seconds; got {request.Wait}.");
        ValidateDrift(request.Drift, errors);
        Quality.QualityOptions.Validate(request.Quality, request.Capture is not null, errors);
        Attribution.AttributionOptions.Validate(request.Attribution, request.Capture is not null, errors);
        if (errors.Count > 0) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["run"] = [.. errors] }, detail: string.Join(" ", errors));

        if (await baselines.FindAsync(request.Baseline!.Name!, request.Baseline.Version, ct) is not { } baseline)
            return BaselineEndpoints.NotFound(request.Baseline.Name!, request.Baseline.Version);
        // PostgreSQL keeps instants in UTC; any offset the caller wrote is the same instant.
        var capture = request.Capture is { } w ? w with { Start = w.Start!.Value.ToUniversalTime(), End = w.End!.Value.ToUniversalTime() } : null;
        var source = new RunSource(request.Dataset, capture, request.Quality, request.Attribution);
        RunRow run;
        if (key is null)
            run = await runs.InsertAsync(null, capture?.Endpoint, capture?.Variant, baseline, source, request.Drift ?? DriftOptions.Default, capture?.Start, capture?.End, ct);
        else
        {
            // The request as given (the baseline version as asked, not as resolved), instants in UTC; how long to wait is not part of it.
            var hash = IdempotencyKey.Hash(JsonSerializer.Serialize(request with { Capture = capture, Wait = null }, ModelMonitorJson.Options));
            (run, var same) = await runs.InsertOnceAsync(key, hash, capture?.Endpoint, capture?.Variant, baseline, source, request.Drift ?? DriftOptions.Default,
                capture?.Start, capture?.End, ct);
            if (!same)
                return IdempotencyKey.Reused(key, $"run {run.Id}", "the same baseline, dataset or capture window, drift and quality options").ToResult();
        }
        RunWorker.Nudge();
        if (request.Wait is > 0)
        {
            var deadline = DateTime.UtcNow.AddSeconds(request.Wait.Value);
            while (DateTime.UtcNow < deadline)
            {
                var current = (await runs.FindAsync(run.Id, ct))!;
                if (current.Status is RunStatuses.Completed or RunStatuses.Failed)
                    return TypedResults.Created($"/api/runs/{run.Id}", RunResponse.From(current));
                await Task.Delay(200, ct);
            }
        }
        return TypedResults.Accepted($"/api/runs/{run.Id}", RunResponse.From((await runs.FindAsync(run.Id, ct))!));
    }

    internal static async Task<Ok<RunList>> List(RunStore runs, string? endpoint, int? limit, CancellationToken ct) =>
        TypedResults.Ok(new RunList((await runs.ListAsync(endpoint, null, Math.Clamp(limit ?? 100, 1, 1000), ct)).Select(RunResponse.From).ToList()));

    internal static async Task<Results<Ok<RunResponse>, ProblemHttpResult>> Get(Guid id, RunStore runs, CancellationToken ct) =>
        await runs.FindAsync(id, ct) is { } run ? TypedResults.Ok(RunResponse.From(run)) : NotFound(id);

    internal static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> Report(Guid id, RunStore runs, MonitorArtifacts artifacts, CancellationToken ct) =>
        await Document(id, r => r.ReportUri, "application/json", runs, artifacts, ct);

    internal static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> Violations(Guid id, RunStore runs, MonitorArtifacts artifacts, CancellationToken ct) =>
        await Document(id, r => r.ViolationsUri, "application/json", runs, artifacts, ct);

    internal static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> Html(Guid id, RunStore runs, MonitorArtifacts artifacts, CancellationToken ct) =>
        await Document(id, r => r.ReportUri?.Replace("/report.json", "/report.html", StringComparison.Ordinal), "text/html; charset=utf-8", runs, artifacts, ct);

    /// <summary>Clarify's analysis.json of the run's feature attributions (runs with <c>attribution</c> that computed them).</summary>
    internal static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> Analysis(Guid id, RunStore runs, MonitorArtifacts artifacts, CancellationToken ct) =>
        await Document(id, r => r.ReportUri?.Replace("/report.json", "/analysis.json", StringComparison.Ordinal), "application/json", runs, artifacts, ct,
            $"Run '{id}' has no analysis.json: it computed no feature attributions (no 'attribution', or its report's attribution.reason says why).");

    private static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> Document(Guid id, Func<RunRow, string?> uri, string contentType, RunStore runs,
        MonitorArtifacts artifacts, CancellationToken ct, string? missing = null)
    {
        if (await runs.FindAsync(id, ct) is not { } run) return NotFound(id);
        if (uri(run) is not { } location)
            return TypedResults.Problem($"Run '{id}' is {run.Status}{(run.Error is null ? "" : $" ({run.Error})")}; it has no report yet.",
                statusCode: StatusCodes.Status409Conflict, title: "Not ready");
        var stream = await artifacts.OpenAsync(location, ct);
        return stream is null
            ? TypedResults.Problem(missing ?? $"Run '{id}''s report is missing from S3 ({location}).", statusCode: StatusCodes.Status404NotFound, title: "Not found")
            : TypedResults.Stream(stream, contentType);
    }

    public sealed record MetricPoint(Guid RunId, DateTimeOffset At, double Value);

    public sealed record MetricSeries(string Metric, string? Endpoint, IReadOnlyList<MetricPoint> Points);

    /// <summary>The time series of one metric (every run that recorded it), oldest first; optionally one endpoint's and a time range.</summary>
    internal static async Task<Results<Ok<MetricSeries>, ValidationProblem>> Series(string? metric, string? endpoint, DateTimeOffset? from, DateTimeOffset? to,
        NpgsqlDataSource db, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(metric))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["metric"] = ["'metric' is required (e.g. drift.share_of_drifted_columns)."] });
        var points = await db.ReadAllAsync("""
            SELECT run_id, at, value FROM metrics
            WHERE metric = @metric AND (@endpoint::text IS NULL OR endpoint = @endpoint)
              AND (@from::timestamptz IS NULL OR at >= @from) AND (@to::timestamptz IS NULL OR at < @to)
            ORDER BY run_seq LIMIT 10000
            """, r => new MetricPoint(r.GetGuid(0), r.GetFieldValue<DateTimeOffset>(1), r.GetDouble(2)), ct,
            ("metric", metric), ("endpoint", endpoint), ("from", from), ("to", to));
        return TypedResults.Ok(new MetricSeries(metric, endpoint, points));
    }

    private static ProblemHttpResult NotFound(Guid id) =>
        TypedResults.Problem($"Run '{id}' does not exist.", statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
