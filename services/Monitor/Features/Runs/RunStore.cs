using System.Text.Json;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Drift;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.Monitor.Features.Runs;

public sealed class RunStore(NpgsqlDataSource db)
{
    internal const string Columns = "id, seq, schedule_name, endpoint, variant, baseline_name, baseline_version, source, drift_options, window_start, window_end, " +
                                    "status, result, attempts, item_count, violation_count, dataset_drift, share_drifted, report_uri, violations_uri, error, created_at, started_at, completed_at";

    internal static RunRow Map(NpgsqlDataReader r) => new(r.GetGuid(0), r.GetInt64(1), r.GetNullableString(2), r.GetNullableString(3), r.GetNullableString(4),
        r.GetString(5), r.GetInt32(6), JsonSerializer.Deserialize<RunSource>(r.GetString(7), ModelMonitorJson.Options)!,
        JsonSerializer.Deserialize<DriftOptions>(r.GetString(8), ModelMonitorJson.Options)!,
        Nullable<DateTimeOffset>(r, 9), Nullable<DateTimeOffset>(r, 10), r.GetString(11), r.GetNullableString(12), r.GetInt32(13), Nullable<long>(r, 14),
        Nullable<int>(r, 15), Nullable<bool>(r, 16), Nullable<double>(r, 17), r.GetNullableString(18), r.GetNullableString(19), r.GetNullableString(20),
        r.GetFieldValue<DateTimeOffset>(21), Nullable<DateTimeOffset>(r, 22), Nullable<DateTimeOffset>(r, 23));

    private static T? Nullable<T>(NpgsqlDataReader r, int i) where T : struct => r.IsDBNull(i) ? null : r.GetFieldValue<T>(i);

    public static NpgsqlParameter Jsonb(string name, object value) =>
        new(name, NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(value, ModelMonitorJson.Options) };

    /// <summary>
    /// A schedule's run still waiting (not started) takes the newer window instead of a second run being queued behind it:
    /// when runs take longer than the schedule's interval, the queue stays one run long and the next run judges the latest
    /// traffic, rather than falling further behind with every interval (which delays every alarm on the endpoint). True if
    /// a waiting run was updated.
    /// </summary>
    public static async Task<bool> CoalescePendingAsync(NpgsqlTransaction transaction, string schedule, BaselineRow baseline, RunSource source, DriftOptions drift,
        DateTimeOffset start, DateTimeOffset end, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(
            """
            UPDATE runs SET source = @source, drift_options = @drift, window_start = @start, window_end = @end,
                baseline_name = @baseline, baseline_version = @version
            WHERE id = (SELECT id FROM runs WHERE schedule_name = @schedule AND status = 'pending' ORDER BY seq DESC LIMIT 1 FOR UPDATE SKIP LOCKED)
            """, transaction, ("schedule", schedule), ("baseline", baseline.Name), ("version", baseline.Version), ("start", start), ("end", end));
        command.Parameters.Add(Jsonb("source", source));
        command.Parameters.Add(Jsonb("drift", drift));
        return await command.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task<RunRow> InsertAsync(string? schedule, string? endpoint, string? variant, BaselineRow baseline, RunSource source, DriftOptions drift,
        DateTimeOffset? start, DateTimeOffset? end, CancellationToken ct, NpgsqlTransaction? transaction = null) =>
        (await InsertAsync(schedule, endpoint, variant, baseline, source, drift, start, end, null, null, ct, transaction))!;

    /// <summary>
    /// Starts a run under the caller's idempotency key, or finds the run started earlier under it: the run, and whether it
    /// came with the same request (by hash; false: the key was used for something else).
    /// </summary>
    public async Task<(RunRow Run, bool SameRequest)> InsertOnceAsync(string key, string requestHash, string? endpoint, string? variant, BaselineRow baseline,
        RunSource source, DriftOptions drift, DateTimeOffset? start, DateTimeOffset? end, CancellationToken ct)
    {
        if (await InsertAsync(null, endpoint, variant, baseline, source, drift, start, end, key, requestHash, ct) is { } run)
            return (run, true);
        return await db.ReadFirstOrDefaultAsync($"SELECT {Columns}, request_hash = @hash FROM runs WHERE idempotency_key = @key",
            r => (Map(r), r.GetBoolean(24)), ct, ("key", key), ("hash", requestHash));
    }

    /// <summary>The inserted run; null if <paramref name="key"/> is already taken.</summary>
    private async Task<RunRow?> InsertAsync(string? schedule, string? endpoint, string? variant, BaselineRow baseline, RunSource source, DriftOptions drift,
        DateTimeOffset? start, DateTimeOffset? end, string? key, string? requestHash, CancellationToken ct, NpgsqlTransaction? transaction = null)
    {
        var sql = $"""
            INSERT INTO runs (id, schedule_name, endpoint, variant, baseline_name, baseline_version, source, drift_options, window_start, window_end, status,
                              idempotency_key, request_hash)
            VALUES (@id, @schedule, @endpoint, @variant, @baseline, @version, @source, @drift, @start, @end, 'pending', @key, @hash)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING {Columns}
            """;
        NpgsqlConnection? own = null;
        var connection = transaction?.Connection ?? (own = await db.OpenConnectionAsync(ct));
        try
        {
            await using var command = connection.Command(sql, transaction, ("id", Guid.CreateVersion7()), ("schedule", schedule), ("endpoint", endpoint),
                ("variant", variant), ("baseline", baseline.Name), ("version", baseline.Version), ("start", start), ("end", end), ("key", key), ("hash", requestHash));
            command.Parameters.Add(Jsonb("source", source));
            command.Parameters.Add(Jsonb("drift", drift));
            await using var reader = await command.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct) ? Map(reader) : null;
        }
        finally
        {
            if (own is not null) await own.DisposeAsync();
        }
    }

    public Task<RunRow?> FindAsync(Guid id, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync($"SELECT {Columns} FROM runs WHERE id = @id", Map, ct, ("id", id));

    public Task<List<RunRow>> ListAsync(string? endpoint, string? schedule, int limit, CancellationToken ct) =>
        db.ReadAllAsync($"""
            SELECT {Columns} FROM runs
            WHERE (@endpoint::text IS NULL OR endpoint = @endpoint) AND (@schedule::text IS NULL OR schedule_name = @schedule)
            ORDER BY seq DESC LIMIT @limit
            """, Map, ct, ("endpoint", endpoint), ("schedule", schedule), ("limit", limit));

    /// <summary>
    /// Claims the oldest pending run whose endpoint has no running run. Two workers racing for one endpoint's runs are
    /// stopped by the one-running-per-endpoint index: the loser claims nothing this time.
    /// </summary>
    public async Task<RunRow?> ClaimAsync(TimeSpan lease, CancellationToken ct)
    {
        try
        {
            return await db.ReadFirstOrDefaultAsync($"""
                UPDATE runs SET status = 'running', attempts = attempts + 1, started_at = now(), lease_until = now() + @lease
                WHERE id = (
                    SELECT id FROM runs r WHERE r.status = 'pending'
                      AND (r.endpoint IS NULL OR NOT EXISTS (SELECT 1 FROM runs x WHERE x.endpoint = r.endpoint AND x.status = 'running'))
                    ORDER BY r.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING {Columns}
                """, Map, ct, ("lease", lease));
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return null;
        }
    }

    /// <summary>Runs whose lease ran out died with their worker: back to pending (retried), or failed after the last attempt.</summary>
    public async Task<int> RecoverDeadAsync(int maxAttempts, CancellationToken ct) =>
        await db.ExecuteAsync("""
            UPDATE runs SET status = CASE WHEN attempts >= @max THEN 'failed' ELSE 'pending' END,
                            error = CASE WHEN attempts >= @max THEN 'The run died (its lease expired) on every attempt.' ELSE error END,
                            completed_at = CASE WHEN attempts >= @max THEN now() ELSE completed_at END,
                            lease_until = NULL
            WHERE status = 'running' AND lease_until < now()
            """, ct, ("max", maxAttempts));

    /// <summary>A run its worker gave up on shutting down: pending again, the attempt not counted.</summary>
    public async Task ReleaseAsync(Guid id, CancellationToken ct) =>
        await db.ExecuteAsync("UPDATE runs SET status = 'pending', attempts = greatest(attempts - 1, 0), lease_until = NULL WHERE id = @id AND status = 'running'",
            ct, ("id", id));

    public async Task FailAsync(Guid id, string error, CancellationToken ct) =>
        await db.ExecuteAsync("UPDATE runs SET status = 'failed', error = @error, completed_at = now(), lease_until = NULL WHERE id = @id AND status = 'running'",
            ct, ("id", id), ("error", error));

    public async Task<bool> CompleteAsync(NpgsqlTransaction tx, RunRow run, RunReport report, string reportUri, string violationsUri, CancellationToken ct) =>
        await tx.ExecuteAsync("""
            UPDATE runs SET status = 'completed', result = @result, variant = coalesce(variant, @variant), item_count = @items, violation_count = @violations, dataset_drift = @drift,
                            share_drifted = @share, report_uri = @report, violations_uri = @violations_uri, completed_at = now(), lease_until = NULL
            WHERE id = @id AND status = 'running'
            """, ct, ("id", run.Id), ("result", report.Result), ("variant", report.Variant), ("items", report.ItemCount), ("violations", report.Violations.Count),
            ("drift", report.Drift?.DatasetDrifted), ("share", report.Drift?.ShareOfDriftedColumns), ("report", reportUri), ("violations_uri", violationsUri)) == 1;

    public static async Task InsertMetricsAsync(NpgsqlTransaction tx, RunRow run, IReadOnlyDictionary<string, double> metrics, DateTimeOffset at, CancellationToken ct)
    {
        if (metrics.Count == 0) return;
        await tx.ExecuteAsync("""
            INSERT INTO metrics (run_id, run_seq, endpoint, metric, value, at)
            SELECT @run, @seq, @endpoint, m, v, @at FROM unnest(@metrics, @values) AS t(m, v)
            """, ct, ("run", run.Id), ("seq", run.Seq), ("endpoint", run.Endpoint), ("metrics", metrics.Keys.ToArray()), ("values", metrics.Values.ToArray()), ("at", at));
    }
}
