using System.Text.Json;
using Mlops.FeatureStore.Features.Ingestion;
using Mlops.FeatureStore.Features.TrainingSets;
using Npgsql;

namespace Mlops.FeatureStore.Features.Jobs;

/// <summary>What a job's handler may report while it runs.</summary>
public sealed class JobContext(NpgsqlDataSource db, Guid id, JsonElement request)
{
    public Guid Id { get; } = id;
    public JsonElement Request { get; } = request;

    public Task ReportAsync(long done, long? total) => JobStore.ReportAsync(db, Id, done, total);
}

/// <summary>
/// Runs queued jobs one at a time per instance (the machine's cores go to one job's DuckDB), claimed with SKIP LOCKED so
/// several instances share the queue. A cancel request cancels the job's token within a second; the job then writes nothing.
/// Jobs found running at start-up (a crashed instance) are queued again. A job refused for its input fails with the
/// problem (status, title, detail and extensions) as its error; any other failure with a generic error and a log entry.
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
            await JobStore.RequeueRunningAsync(db, stoppingToken);
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
        await using var listen = connection.Command("LISTEN fs_jobs");
        await listen.ExecuteNonQueryAsync(ct);
        return connection;
    }

    private async Task<bool> RunNextAsync(CancellationToken stoppingToken)
    {
        if (await JobStore.ClaimNextAsync(db, stoppingToken) is not { } claimed)
            return false;
        var (id, kind, request) = claimed;

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
                JobKinds.TrainingSet => await services.GetRequiredService<TrainingSetJob>().RunAsync(context, cancel.Token),
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

        await JobStore.FinishAsync(db, id, status, result, error);
        return true;
    }

    private async Task WatchCancelAsync(Guid id, CancellationTokenSource cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            await Task.Delay(PollInterval, cancel.Token);
            if (await JobStore.IsCancelRequestedAsync(db, id, cancel.Token))
                await cancel.CancelAsync();
        }
    }
}
