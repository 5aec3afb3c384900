using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.PipelineRunner.Features.Tuning;

/// <summary>
/// Tuning jobs' SQL. A job is one row holding its whole record (JSON). Workers take active jobs by a lease (owner,
/// lease_until), renewed on every save; a save by a worker that lost the lease changes nothing, so two workers never both
/// step a job. The end of a job and its <see cref="TuningJobCompleted"/> event commit in one transaction (outbox).
/// </summary>
public sealed class TuningStore(NpgsqlDataSource db)
{
    public static readonly string[] Active = ["InProgress", "Stopping"];

    /// <summary>False when a job by that name exists.</summary>
    public async Task<bool> InsertAsync(TuningJobRecord record, CancellationToken ct)
    {
        try
        {
            await db.ExecuteAsync(
                """
                INSERT INTO tuning_jobs (name, status, request, state, created_at, updated_at)
                VALUES (@name, @status, @request::jsonb, @state::jsonb, @created, @created)
                """, ct, ("name", Name(record)), ("status", TuningViews.Status(record)),
                ("request", System.Text.Json.JsonSerializer.Serialize(record.Request, TuningJson.Options)), ("state", record.ToJson()),
                ("created", record.CreatedAt));
            return true;
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return false;
        }
    }

    public Task<TuningJobRecord?> GetAsync(string name, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync("SELECT state::text FROM tuning_jobs WHERE name = @name", r => TuningJobRecord.FromJson(r.GetString(0)), ct,
            ("name", name));

    public Task<List<TuningJobRecord>> GetManyAsync(IReadOnlyCollection<string> names, CancellationToken ct) =>
        db.ReadAllAsync("SELECT state::text FROM tuning_jobs WHERE name = ANY(@names)", r => TuningJobRecord.FromJson(r.GetString(0)), ct,
            ("names", names.ToArray()));

    public Task<List<TuningJobRecord>> ListAsync(string? status, int limit, CancellationToken ct) =>
        db.ReadAllAsync(
            """
            SELECT state::text FROM tuning_jobs WHERE (@status::text IS NULL OR status = @status)
            ORDER BY created_at DESC, name LIMIT @limit
            """, r => TuningJobRecord.FromJson(r.GetString(0)), ct, ("status", status), ("limit", limit));

    /// <summary>Marks the job to stop (its worker stops the running trials); answers its status, or null if it does not exist.</summary>
    public async Task<string?> RequestStopAsync(string name, CancellationToken ct)
    {
        await db.ExecuteAsync("UPDATE tuning_jobs SET stop_requested = true WHERE name = @name AND status = ANY(@active)", ct,
            ("name", name), ("active", Active));
        return await db.ReadFirstOrDefaultAsync("SELECT status FROM tuning_jobs WHERE name = @name", r => r.GetString(0), ct, ("name", name));
    }

    /// <summary>Active jobs this worker holds or whose lease has run out, now leased to it, with whether a stop was asked.</summary>
    public Task<List<(TuningJobRecord Record, bool StopRequested)>> ClaimAsync(Guid owner, TimeSpan lease, int max, CancellationToken ct) =>
        db.ReadAllAsync(
            """
            UPDATE tuning_jobs SET owner = @owner, lease_until = now() + @lease
            WHERE name IN (SELECT name FROM tuning_jobs
                           WHERE status = ANY(@active) AND (owner = @owner OR lease_until IS NULL OR lease_until < now())
                           ORDER BY created_at LIMIT @max FOR UPDATE SKIP LOCKED)
            RETURNING state::text, stop_requested
            """, r => (TuningJobRecord.FromJson(r.GetString(0)), r.GetBoolean(1)), ct,
            ("owner", owner), ("lease", lease), ("active", Active), ("max", max));

    /// <summary>Writes the record and renews the lease; false when this worker no longer holds the job.</summary>
    public async Task<bool> SaveAsync(Guid owner, TuningJobRecord record, TimeSpan lease, CancellationToken ct) =>
        await db.ExecuteAsync(
            """
            UPDATE tuning_jobs SET state = @state::jsonb, status = @status, updated_at = now(), lease_until = now() + @lease
            WHERE name = @name AND owner = @owner AND status = ANY(@active)
            """, ct, ("state", record.ToJson()), ("status", TuningViews.Status(record)), ("lease", lease), ("name", Name(record)),
            ("owner", owner), ("active", Active)) == 1;

    /// <summary>Records the end and enqueues the event in one transaction; false when this worker no longer holds the job.</summary>
    public async Task<bool> CompleteAsync(Guid owner, TuningJobRecord record, TuningJobCompleted completed, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var updated = await tx.ExecuteAsync(
            """
            UPDATE tuning_jobs SET state = @state::jsonb, status = @status, updated_at = now(), ended_at = now(), owner = NULL, lease_until = NULL,
                failure_reason = @failure
            WHERE name = @name AND owner = @owner AND status = ANY(@active)
            """, ct, ("state", record.ToJson()), ("status", TuningViews.Status(record)), ("failure", record.FailureReason), ("name", Name(record)),
            ("owner", owner), ("active", Active));
        if (updated != 1)
            return false;
        await tx.EnqueueAsync(completed, ct);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Gives this worker's leases up (on shutdown), so another worker or the restarted one takes the jobs at once.</summary>
    public Task ReleaseAsync(Guid owner, CancellationToken ct) =>
        db.ExecuteAsync("UPDATE tuning_jobs SET owner = NULL, lease_until = NULL WHERE owner = @owner", ct, ("owner", owner));

    private static string Name(TuningJobRecord record) => record.State.Definition.HyperParameterTuningJobName!;
}
