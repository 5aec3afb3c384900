using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.FeatureStore.Features.Jobs;

public static class JobStatus
{
    public const string Queued = "queued", Running = "running", Succeeded = "succeeded", Failed = "failed", Cancelled = "cancelled";
}

public static class JobKinds
{
    public const string LakeImport = "lake_import";
    public const string TrainingSet = "training_set";
}

public sealed record JobResponse(Guid JobId, string Kind, string Status, long RowsDone, long? RowsTotal, JsonElement? Result, JsonElement? Error,
    bool CancelRequested, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Jobs under <c>/api/jobs</c>: status with progress (rows done/total), and cancel.</summary>
public static class JobEndpoints
{
    public static RouteGroupBuilder MapJobEndpoints(this RouteGroupBuilder api)
    {
        var jobs = api.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapGet("/{id:guid}", Get);
        jobs.MapPost("/{id:guid}/cancel", Cancel);
        return jobs;
    }

    public static async Task<Guid> EnqueueAsync(NpgsqlDataSource db, string kind, object request, CancellationToken ct)
    {
        var id = Guid.CreateVersion7();
        await using var command = db.CreateCommand(
            "INSERT INTO jobs (job_id, kind, status, request, created_at, updated_at) VALUES (@id, @kind, 'queued', @request, now(), now()); NOTIFY fs_jobs;");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("kind", kind);
        command.Parameters.AddWithValue("request", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(request, FeatureStoreJson.Options));
        await command.ExecuteNonQueryAsync(ct);
        return id;
    }

    internal static async Task<Ok<JobResponse>> Get(Guid id, NpgsqlDataSource db, CancellationToken ct) =>
        TypedResults.Ok(await LoadAsync(db, id, ct) ?? throw ProblemException.NotFound($"Job '{id}' does not exist."));

    /// <summary>A queued job is cancelled at once; a running one stops at its next check and writes nothing.</summary>
    internal static async Task<Ok<JobResponse>> Cancel(Guid id, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            """
            UPDATE jobs SET cancel_requested = true, updated_at = now(),
                status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END
            WHERE job_id = @id
            """);
        command.Parameters.AddWithValue("id", id);
        if (await command.ExecuteNonQueryAsync(ct) == 0)
            throw ProblemException.NotFound($"Job '{id}' does not exist.");
        return TypedResults.Ok((await LoadAsync(db, id, ct))!);
    }

    public static async Task<JobResponse?> LoadAsync(NpgsqlDataSource db, Guid id, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            "SELECT job_id, kind, status, rows_done, rows_total, result::text, error::text, cancel_requested, created_at, updated_at FROM jobs WHERE job_id = @id");
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
            return null;
        return new JobResponse(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3),
            reader.IsDBNull(4) ? null : reader.GetInt64(4),
            reader.IsDBNull(5) ? null : JsonDocument.Parse(reader.GetString(5)).RootElement.Clone(),
            reader.IsDBNull(6) ? null : JsonDocument.Parse(reader.GetString(6)).RootElement.Clone(),
            reader.GetBoolean(7), reader.GetFieldValue<DateTimeOffset>(8), reader.GetFieldValue<DateTimeOffset>(9));
    }
}

/// <summary>What a job's handler may report while it runs.</summary>
public sealed class JobContext(NpgsqlDataSource db, Guid id, JsonElement request)
{
    public Guid Id { get; } = id;
    public JsonElement Request { get; } = request;

    public async Task ReportAsync(long done, long? total)
    {
        await using var command = db.CreateCommand(
            "UPDATE jobs SET rows_done = @done, rows_total = coalesce(@total, rows_total), updated_at = now() WHERE job_id = @id");
        command.Parameters.AddWithValue("id", Id);
        command.Parameters.AddWithValue("done", done);
        command.Parameters.Add(new NpgsqlParameter("total", NpgsqlDbType.Bigint) { Value = (object?)total ?? DBNull.Value });
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }
}

/// <summary>
/// Runs queued jobs one at a time per instance (the machine's cores go to one job's DuckDB), claimed with SKIP LOCKED so
/// several instances share the queue. A cancel request cancels the job's token within a second; the job then writes nothing.
/// Jobs found running at start-up (a crashed instance) are queued again.
/// </summary>
public sealed class JobRunner(NpgsqlDataSource db, IServiceProvider services, ILogger<JobRunner> logger) : BackgroundService
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan IdleFallback = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        NpgsqlConnection? listener = null;
        try
        {
            await using (var requeue = db.CreateCommand("UPDATE jobs SET status = 'queued', updated_at = now() WHERE status = 'running'"))
                await requeue.ExecuteNonQueryAsync(stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    // Enqueueing NOTIFYs fs_jobs: an idle runner (of any instance) wakes at once. The timed wait is only a
                    // fallback (Npgsql ends it with an exception, so it is not made short).
                    listener ??= await ListenAsync(stoppingToken);
                    if (!await RunNextAsync(stoppingToken))
                        await listener.WaitAsync(IdleFallback, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    logger.LogError(e, "The job runner failed; retrying");
                    // Only a listener that failed itself is replaced: a healthy one would go back to the pool still
                    // listening (pooled connections are not reset, see AddMlopsDatabase).
                    if (listener is { State: not System.Data.ConnectionState.Open })
                    {
                        await listener.DisposeAsync();
                        listener = null;
                    }
                    await Task.Delay(PollInterval, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (listener is not null)
                await listener.DisposeAsync();
        }
    }

    private async Task<NpgsqlConnection> ListenAsync(CancellationToken ct)
    {
        var connection = await db.OpenConnectionAsync(ct);
        await using var listen = new NpgsqlCommand("LISTEN fs_jobs", connection);
        await listen.ExecuteNonQueryAsync(ct);
        return connection;
    }

    private async Task<bool> RunNextAsync(CancellationToken stoppingToken)
    {
        Guid id;
        string kind;
        JsonElement request;
        await using (var claim = db.CreateCommand(
            """
            UPDATE jobs SET status = 'running', updated_at = now()
            WHERE job_id = (SELECT job_id FROM jobs WHERE status = 'queued' ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING job_id, kind, request::text
            """))
        await using (var reader = await claim.ExecuteReaderAsync(stoppingToken))
        {
            if (!await reader.ReadAsync(stoppingToken))
                return false;
            id = reader.GetGuid(0);
            kind = reader.GetString(1);
            request = JsonDocument.Parse(reader.GetString(2)).RootElement.Clone();
        }

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var watcher = WatchCancelAsync(id, cancel);
        string status;
        object? result = null;
        object? error = null;
        try
        {
            var context = new JobContext(db, id, request);
            result = kind switch
            {
                JobKinds.LakeImport => await services.GetRequiredService<LakeImport>().RunAsync(context, cancel.Token),
                JobKinds.TrainingSet => await services.GetRequiredService<TrainingSets.TrainingSetJob>().RunAsync(context, cancel.Token),
                _ => throw new InvalidOperationException($"Unknown job kind '{kind}'."),
            };
            status = JobStatus.Succeeded;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
        {
            status = JobStatus.Cancelled;
            error = new { title = "Cancelled", detail = "The job was cancelled; nothing was written." };
        }
        catch (ProblemException e)
        {
            status = JobStatus.Failed;
            error = new Dictionary<string, object?>((e.Extensions ?? new Dictionary<string, object?>()).Append(new("status", e.Status))
                .Append(new("title", e.Title)).Append(new("detail", e.Message)));
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogError(e, "Job {JobId} ({Kind}) failed", id, kind);
            status = JobStatus.Failed;
            error = new { status = 500, title = "Unexpected error", detail = "The job failed; see the service's logs with the job id." };
        }
        finally
        {
            await cancel.CancelAsync();
            try { await watcher; } catch (OperationCanceledException) { }
        }

        await using var finish = db.CreateCommand(
            "UPDATE jobs SET status = @status, result = @result, error = @error, updated_at = now() WHERE job_id = @id");
        finish.Parameters.AddWithValue("id", id);
        finish.Parameters.AddWithValue("status", status);
        finish.Parameters.Add(new NpgsqlParameter("result", NpgsqlDbType.Jsonb) { Value = result is null ? DBNull.Value : JsonSerializer.Serialize(result, FeatureStoreJson.Options) });
        finish.Parameters.Add(new NpgsqlParameter("error", NpgsqlDbType.Jsonb) { Value = error is null ? DBNull.Value : JsonSerializer.Serialize(error, FeatureStoreJson.Options) });
        await finish.ExecuteNonQueryAsync(CancellationToken.None);
        return true;
    }

    private async Task WatchCancelAsync(Guid id, CancellationTokenSource cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            await Task.Delay(PollInterval, cancel.Token);
            await using var command = db.CreateCommand("SELECT cancel_requested FROM jobs WHERE job_id = @id");
            command.Parameters.AddWithValue("id", id);
            if (await command.ExecuteScalarAsync(cancel.Token) is true)
                await cancel.CancelAsync();
        }
    }
}
