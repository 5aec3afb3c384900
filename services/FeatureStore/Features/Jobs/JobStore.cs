using System.Text.Json;
using Npgsql;

namespace Mlops.FeatureStore.Features.Jobs;

/// <summary>The <c>jobs</c> table: queueing, claiming (SKIP LOCKED), progress, cancel requests and outcomes.</summary>
public static class JobStore
{
    public static async Task<Guid> EnqueueAsync(NpgsqlDataSource db, string kind, object request, CancellationToken ct)
    {
        var id = Guid.CreateVersion7();
        await db.ExecuteAsync(
            "INSERT INTO jobs (job_id, kind, status, request, created_at, updated_at) VALUES (@id, @kind, 'queued', @request::jsonb, now(), now()); NOTIFY fs_jobs;",
            ct, ("id", id), ("kind", kind), ("request", JsonSerializer.Serialize(request, FeatureStoreJson.Options)));
        return id;
    }

    /// <summary>
    /// Queues a job under the caller's idempotency key, or finds the job queued earlier under it: its id, and whether it
    /// was for the same kind and request (false: the key was used for something else).
    /// </summary>
    public static async Task<(Guid Id, bool SameRequest)> EnqueueOnceAsync(NpgsqlDataSource db, string kind, object request, string key, CancellationToken ct)
    {
        var json = JsonSerializer.Serialize(request, FeatureStoreJson.Options);
        if (await db.ReadFirstOrDefaultAsync(
                """
                WITH inserted AS (
                    INSERT INTO jobs (job_id, kind, status, request, idempotency_key, created_at, updated_at)
                    VALUES (@id, @kind, 'queued', @request::jsonb, @key, now(), now())
                    ON CONFLICT (idempotency_key) DO NOTHING RETURNING job_id)
                SELECT job_id FROM inserted
                """, reader => (Guid?)reader.GetGuid(0), ct, ("id", Guid.CreateVersion7()), ("kind", kind), ("request", json), ("key", key)) is { } id)
        {
            await db.ExecuteAsync("NOTIFY fs_jobs", ct);
            return (id, true);
        }
        return await db.ReadFirstOrDefaultAsync(
            "SELECT job_id, kind = @kind AND request = @request::jsonb FROM jobs WHERE idempotency_key = @key",
            reader => (reader.GetGuid(0), reader.GetBoolean(1)), ct, ("kind", kind), ("request", json), ("key", key));
    }

    /// <summary>The job queued under an idempotency key, or null.</summary>
    public static Task<Guid?> FindByIdempotencyKeyAsync(NpgsqlDataSource db, string key, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync("SELECT job_id FROM jobs WHERE idempotency_key = @key", reader => (Guid?)reader.GetGuid(0), ct, ("key", key));

    public static Task<JobResponse?> LoadAsync(NpgsqlDataSource db, Guid id, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync(
            "SELECT job_id, kind, status, rows_done, rows_total, result::text, error::text, cancel_requested, created_at, updated_at FROM jobs WHERE job_id = @id",
            reader => new JobResponse(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4), Json(reader.GetNullableString(5)), Json(reader.GetNullableString(6)),
                reader.GetBoolean(7), reader.GetFieldValue<DateTimeOffset>(8), reader.GetFieldValue<DateTimeOffset>(9)),
            ct, ("id", id));

    /// <summary>Asks a job to stop: a queued one is cancelled at once. False if there is no such job.</summary>
    public static async Task<bool> RequestCancelAsync(NpgsqlDataSource db, Guid id, CancellationToken ct) =>
        await db.ExecuteAsync(
            """
            UPDATE jobs SET cancel_requested = true, updated_at = now(),
                status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END
            WHERE job_id = @id
            """, ct, ("id", id)) > 0;

    public static async Task<bool> IsCancelRequestedAsync(NpgsqlDataSource db, Guid id, CancellationToken ct) =>
        await db.ReadFirstOrDefaultAsync("SELECT cancel_requested FROM jobs WHERE job_id = @id", reader => reader.GetBoolean(0), ct, ("id", id));

    public static Task ReportAsync(NpgsqlDataSource db, Guid id, long done, long? total) =>
        db.ExecuteAsync("UPDATE jobs SET rows_done = @done, rows_total = coalesce(@total::bigint, rows_total), updated_at = now() WHERE job_id = @id",
            CancellationToken.None, ("id", id), ("done", done), ("total", total));

    /// <summary>Jobs left running by an instance that stopped are queued again.</summary>
    public static Task RequeueRunningAsync(NpgsqlDataSource db, CancellationToken ct) =>
        db.ExecuteAsync("UPDATE jobs SET status = 'queued', updated_at = now() WHERE status = 'running'", ct);

    /// <summary>The oldest queued job, now running; null if none is queued (or every queued one is being claimed elsewhere).</summary>
    public static Task<ClaimedJob?> ClaimNextAsync(NpgsqlDataSource db, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync(
            """
            UPDATE jobs SET status = 'running', updated_at = now()
            WHERE job_id = (SELECT job_id FROM jobs WHERE status = 'queued' ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING job_id, kind, request::text
            """,
            reader => new ClaimedJob(reader.GetGuid(0), reader.GetString(1), Json(reader.GetString(2))!.Value), ct);

    public static Task FinishAsync(NpgsqlDataSource db, Guid id, string status, object? result, object? error) =>
        db.ExecuteAsync("UPDATE jobs SET status = @status, result = @result::jsonb, error = @error::jsonb, updated_at = now() WHERE job_id = @id",
            CancellationToken.None, ("id", id), ("status", status),
            ("result", result is null ? null : JsonSerializer.Serialize(result, FeatureStoreJson.Options)),
            ("error", error is null ? null : JsonSerializer.Serialize(error, FeatureStoreJson.Options)));

    private static JsonElement? Json(string? text)
    {
        if (text is null)
            return null;
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
