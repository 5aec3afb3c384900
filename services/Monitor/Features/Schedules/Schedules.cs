using Cronos;
using Microsoft.AspNetCore.Http.HttpResults;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Runs;
using Npgsql;

namespace Mlops.Monitor.Features.Schedules;

/// <summary>A monitoring schedule of one endpoint: every run reads the captured data of the window before its due time.</summary>
/// <param name="Cron">A cron expression (5 fields, or 6 with seconds), UTC. Give either this or <paramref name="IntervalSeconds"/>.</param>
/// <param name="IntervalSeconds">Run every this many seconds (at least 1).</param>
/// <param name="WindowSeconds">How much captured data each run reads (default: the interval, or one hour for cron).</param>
/// <param name="Quality">Model quality (and bias, CBPE, the training comparison) on every scheduled run, as on an on-demand capture run.</param>
/// <param name="EndTimeOffset">Model Monitor's end-time offset, an ISO 8601 duration ≤ 0 (e.g. <c>-PT1H</c>): the run due at T reads
/// the window ending at T + offset, so that labels arriving late are there when it runs (default <c>PT0S</c>).</param>
/// <param name="Attribution">Feature-attribution drift on every scheduled run, as on an on-demand run.</param>
public sealed record PutScheduleRequest(string? Endpoint, string? Variant, BaselineRef? Baseline, string? Cron = null, int? IntervalSeconds = null,
    int? WindowSeconds = null, DriftOptions? Drift = null, Quality.QualityOptions? Quality = null, string? EndTimeOffset = null,
    Attribution.AttributionOptions? Attribution = null);

public sealed record ScheduleRow(string Name, string Endpoint, string? Variant, string BaselineName, int? BaselineVersion, string? Cron,
    int? IntervalSeconds, int WindowSeconds, DriftOptions Drift, DateTimeOffset NextRunAt, DateTimeOffset CreatedAt,
    Quality.QualityOptions? Quality = null, int EndOffsetSeconds = 0, Attribution.AttributionOptions? Attribution = null);

public sealed record ScheduleList(IReadOnlyList<ScheduleRow> Schedules);

public sealed class ScheduleStore(NpgsqlDataSource db)
{
    private const string Columns = "name, endpoint, variant, baseline_name, baseline_version, cron, interval_seconds, window_seconds, drift_options, next_run_at, created_at, " +
                                   "quality_options, end_offset_seconds, attribution_options";

    internal static ScheduleRow Map(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetNullableString(2), r.GetString(3),
        r.IsDBNull(4) ? null : r.GetInt32(4), r.GetNullableString(5), r.IsDBNull(6) ? null : r.GetInt32(6), r.GetInt32(7),
        System.Text.Json.JsonSerializer.Deserialize<DriftOptions>(r.GetString(8), ModelMonitorJson.Options)!, r.GetFieldValue<DateTimeOffset>(9), r.GetFieldValue<DateTimeOffset>(10),
        r.IsDBNull(11) ? null : System.Text.Json.JsonSerializer.Deserialize<Quality.QualityOptions>(r.GetString(11), ModelMonitorJson.Options), r.GetInt32(12),
        r.IsDBNull(13) ? null : System.Text.Json.JsonSerializer.Deserialize<Attribution.AttributionOptions>(r.GetString(13), ModelMonitorJson.Options));

    public static CronExpression? ParseCron(string? cron, List<string> errors)
    {
        if (cron is null) return null;
        try
        {
            return CronExpression.Parse(cron, cron.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            errors.Add($"'cron' is not a valid cron expression ('{cron}'): {e.Message}");
            return null;
        }
    }

    public static DateTimeOffset Next(ScheduleRow s, DateTimeOffset after)
    {
        if (s.IntervalSeconds is { } seconds) return after.AddSeconds(seconds);
        var errors = new List<string>();
        return ParseCron(s.Cron, errors)!.GetNextOccurrence(after, TimeZoneInfo.Utc) ?? DateTimeOffset.MaxValue;
    }

    public async Task<ScheduleRow> PutAsync(string name, PutScheduleRequest r, DateTimeOffset firstRun, int window, int endOffset, CancellationToken ct)
    {
        await using var command = db.Command($"""
            INSERT INTO schedules (name, endpoint, variant, baseline_name, baseline_version, cron, interval_seconds, window_seconds, drift_options, next_run_at,
                quality_options, end_offset_seconds, attribution_options)
            VALUES (@name, @endpoint, @variant, @baseline, @version, @cron, @interval, @window, @drift, @next, @quality, @offset, @attribution)
            ON CONFLICT (name) DO UPDATE SET endpoint = excluded.endpoint, variant = excluded.variant, baseline_name = excluded.baseline_name,
                baseline_version = excluded.baseline_version, cron = excluded.cron, interval_seconds = excluded.interval_seconds,
                window_seconds = excluded.window_seconds, drift_options = excluded.drift_options, next_run_at = excluded.next_run_at,
                quality_options = excluded.quality_options, end_offset_seconds = excluded.end_offset_seconds,
                attribution_options = excluded.attribution_options
            RETURNING {Columns}
            """, ("name", name), ("endpoint", r.Endpoint), ("variant", r.Variant), ("baseline", r.Baseline!.Name), ("version", r.Baseline.Version),
            ("cron", r.Cron), ("interval", r.IntervalSeconds), ("window", window), ("next", firstRun), ("offset", endOffset));
        command.Parameters.Add(RunStore.Jsonb("drift", r.Drift ?? DriftOptions.Default));
        command.Parameters.Add(r.Quality is null ? new NpgsqlParameter("quality", NpgsqlTypes.NpgsqlDbType.Jsonb) { Value = DBNull.Value } : RunStore.Jsonb("quality", r.Quality));
        command.Parameters.Add(r.Attribution is null ? new NpgsqlParameter("attribution", NpgsqlTypes.NpgsqlDbType.Jsonb) { Value = DBNull.Value } : RunStore.Jsonb("attribution", r.Attribution));
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return Map(reader);
    }

    public Task<ScheduleRow?> FindAsync(string name, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync($"SELECT {Columns} FROM schedules WHERE name = @name", Map, ct, ("name", name));

    public Task<List<ScheduleRow>> ListAsync(CancellationToken ct) => db.ReadAllAsync($"SELECT {Columns} FROM schedules ORDER BY name", Map, ct);

    public Task<int> DeleteAsync(string name, CancellationToken ct) => db.ExecuteAsync("DELETE FROM schedules WHERE name = @name", ct, ("name", name));

    /// <summary>
    /// Turns each due schedule into a pending run for the window before its due time and moves it to its next time, one
    /// schedule row locked at a time (SKIP LOCKED: replicas share the work, none enqueues a window twice). A schedule whose
    /// previous run has not started yet moves that run to the new window instead (<see cref="RunStore.CoalescePendingAsync"/>).
    /// </summary>
    public async Task<int> EnqueueDueAsync(BaselineStore baselines, RunStore runs, CancellationToken ct)
    {
        var enqueued = 0;
        while (true)
        {
            await using var connection = await db.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            var due = await connection.ReadAllAsync($"SELECT {Columns} FROM schedules WHERE next_run_at <= now() ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                [], Map, ct, tx);
            if (due.Count == 0) return enqueued;
            var s = due[0];
            var baseline = await baselines.FindAsync(s.BaselineName, s.BaselineVersion, ct);
            var next = Next(s, s.NextRunAt);
            // A schedule that fell far behind (the service was down) runs once for the latest window, not once per missed one.
            if (next < DateTimeOffset.UtcNow) next = Next(s, DateTimeOffset.UtcNow);
            if (baseline is not null)
            {
                var end = s.NextRunAt.AddSeconds(s.EndOffsetSeconds);
                var source = new RunSource(null, new CaptureWindow(s.Endpoint, s.Variant, end.AddSeconds(-s.WindowSeconds), end), s.Quality, s.Attribution);
                if (!await RunStore.CoalescePendingAsync(tx, s.Name, baseline, source, s.Drift, end.AddSeconds(-s.WindowSeconds), end, ct))
                {
                    await runs.InsertAsync(s.Name, s.Endpoint, s.Variant, baseline, source, s.Drift, end.AddSeconds(-s.WindowSeconds), end, ct, tx);
                    enqueued++;
                }
            }
            await tx.ExecuteAsync("UPDATE schedules SET next_run_at = @next WHERE name = @name", ct, ("next", next), ("name", s.Name));
            await tx.CommitAsync(ct);
        }
    }
}

public static class ScheduleEndpoints
{
    public static RouteGroupBuilder MapScheduleEndpoints(this RouteGroupBuilder api)
    {
        var schedules = api.MapGroup("/schedules").WithTags("Schedules");
        schedules.MapPut("/{name}", Put);
        schedules.MapGet("/", List);
        schedules.MapGet("/{name}", Get);
        schedules.MapGet("/{name}/runs", Runs);
        schedules.MapDelete("/{name}", Delete);
        return schedules;
    }

    internal static async Task<Results<Ok<ScheduleRow>, ValidationProblem, ProblemHttpResult>> Put(string name, PutScheduleRequest request, ScheduleStore store,
        BaselineStore baselines, CancellationToken ct)
    {
        var errors = new List<string>();
        try { BaselineService.ValidateName(name, "name"); } catch (ProblemException e) { errors.Add(e.Message); }
        if (string.IsNullOrWhiteSpace(request.Endpoint)) errors.Add("'endpoint' is required.");
        else BaselineService.CheckOptionalName(request.Endpoint, "endpoint", errors);
        BaselineService.CheckOptionalName(request.Variant, "variant", errors);
        if (request.Baseline?.Name is null) errors.Add("'baseline.name' is required.");
        if ((request.Cron is null) == (request.IntervalSeconds is null)) errors.Add("Give exactly one of 'cron' and 'interval_seconds'.");
        var cron = ScheduleStore.ParseCron(request.Cron, errors);
        if (request.IntervalSeconds is < 1) errors.Add($"'interval_seconds' must be at least 1; got {request.IntervalSeconds}.");
        if (request.WindowSeconds is < 1) errors.Add($"'window_seconds' must be at least 1; got {request.WindowSeconds}.");
        RunEndpoints.ValidateDrift(request.Drift, errors);
        Quality.QualityOptions.Validate(request.Quality, isCapture: true, errors);
        Attribution.AttributionOptions.Validate(request.Attribution, isCapture: true, errors);
        var endOffset = 0;
        if (request.EndTimeOffset is { } offsetText)
        {
            try
            {
                var offset = System.Xml.XmlConvert.ToTimeSpan(offsetText);
                if (offset > TimeSpan.Zero || offset < TimeSpan.FromDays(-31)) errors.Add($"'end_time_offset' must be between -P31D and PT0S; got '{offsetText}'.");
                else endOffset = (int)offset.TotalSeconds;
            }
            catch (FormatException)
            {
                errors.Add($"'end_time_offset' is not an ISO 8601 duration (e.g. -PT1H); got '{offsetText}'.");
            }
        }
        if (errors.Count > 0) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["schedule"] = [.. errors] }, detail: string.Join(" ", errors));
        if (await baselines.FindAsync(request.Baseline!.Name!, request.Baseline.Version, ct) is null) return BaselineEndpoints.NotFound(request.Baseline.Name!, request.Baseline.Version);

        var now = DateTimeOffset.UtcNow;
        var first = request.IntervalSeconds is { } seconds ? now.AddSeconds(seconds) : cron!.GetNextOccurrence(now, TimeZoneInfo.Utc) ?? DateTimeOffset.MaxValue;
        var window = request.WindowSeconds ?? request.IntervalSeconds ?? 3600;
        return TypedResults.Ok(await store.PutAsync(name, request, first, window, endOffset, ct));
    }

    internal static async Task<Ok<ScheduleList>> List(ScheduleStore store, CancellationToken ct) => TypedResults.Ok(new ScheduleList(await store.ListAsync(ct)));

    internal static async Task<Results<Ok<ScheduleRow>, ProblemHttpResult>> Get(string name, ScheduleStore store, CancellationToken ct) =>
        await store.FindAsync(name, ct) is { } s ? TypedResults.Ok(s) : NotFound(name);

    internal static async Task<Results<Ok<RunList>, ProblemHttpResult>> Runs(string name, ScheduleStore store, RunStore runs, CancellationToken ct) =>
        await store.FindAsync(name, ct) is null ? NotFound(name) : TypedResults.Ok(new RunList((await runs.ListAsync(null, name, 1000, ct)).Select(RunResponse.From).ToList()));

    internal static async Task<Results<NoContent, ProblemHttpResult>> Delete(string name, ScheduleStore store, CancellationToken ct) =>
        await store.DeleteAsync(name, ct) == 1 ? TypedResults.NoContent() : NotFound(name);

    private static ProblemHttpResult NotFound(string name) =>
        TypedResults.Problem($"Schedule '{name}' does not exist.", statusCode: StatusCodes.Status404NotFound, title: "Not found");
}
