using Microsoft.Extensions.Options;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Schedules;

namespace Mlops.Monitor.Features.Runs;

/// <summary>
/// The monitor's one loop: turns due schedules into runs, returns dead runs (lease expired) to pending, and executes
/// pending runs one at a time — never two of one endpoint at once, across replicas (the database enforces it). Due
/// schedules are enqueued before every run, not only once the queue is empty: a monitor kept busy by runs asked for on
/// demand (each asked for as the last one ends) would otherwise never come back to its schedules.
/// </summary>
public sealed class RunWorker(IServiceProvider services, IOptions<MonitorOptions> options, ILogger<RunWorker> logger) : BackgroundService
{
    private static readonly SemaphoreSlim Signal = new(0);

    /// <summary>Wakes the loop now (a run was just requested).</summary>
    public static void Nudge()
    {
        if (Signal.CurrentCount == 0) Signal.Release();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var ran = false;
            try
            {
                using var scope = services.CreateScope();
                var runs = scope.ServiceProvider.GetRequiredService<RunStore>();
                ran = await TurnAsync(
                    ct => scope.ServiceProvider.GetRequiredService<ScheduleStore>().EnqueueDueAsync(scope.ServiceProvider.GetRequiredService<BaselineStore>(), runs, ct),
                    ct => runs.RecoverDeadAsync(options.Value.MaxAttempts, ct),
                    ct => runs.ClaimAsync(options.Value.RunLease, ct),
                    scope.ServiceProvider.GetRequiredService<RunExecutor>().ExecuteAsync,
                    id => runs.ReleaseAsync(id, CancellationToken.None),
                    stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The database or S3 is away: the claimed run keeps its lease and is retried when it expires.
                logger.LogError(e, "Monitor loop failed; retrying");
            }
            // A turn that ran a run goes straight on to the next; an idle one waits to be nudged or for the poll.
            if (!ran)
                await Signal.WaitAsync(options.Value.SchedulerPollInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// One turn of the loop: due schedules become runs and dead runs go back to pending, then at most one run is claimed
    /// and executed. True if a run was executed.
    /// </summary>
    public static async Task<bool> TurnAsync(Func<CancellationToken, Task<int>> enqueueDue, Func<CancellationToken, Task<int>> recoverDead,
        Func<CancellationToken, Task<RunRow?>> claim, Func<RunRow, CancellationToken, Task> execute, Func<Guid, Task> release, CancellationToken stoppingToken)
    {
        await enqueueDue(stoppingToken);
        await recoverDead(stoppingToken);
        if (await claim(stoppingToken) is not { } run)
            return false;
        try
        {
            await execute(run, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: the run goes back to pending at once, so a restart (or another replica) takes it without
            // waiting out its lease — until then no other run of its endpoint could start.
            await release(run.Id);
            throw;
        }
        return true;
    }
}
