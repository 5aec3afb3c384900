using Microsoft.Extensions.Options;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Schedules;

namespace Mlops.Monitor.Features.Runs;

/// <summary>
/// The monitor's one loop: turns due schedules into runs, returns dead runs (lease expired) to pending, and executes
/// pending runs one at a time — never two of one endpoint at once, across replicas (the database enforces it).
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
            try
            {
                using var scope = services.CreateScope();
                var runs = scope.ServiceProvider.GetRequiredService<RunStore>();
                await scope.ServiceProvider.GetRequiredService<ScheduleStore>().EnqueueDueAsync(scope.ServiceProvider.GetRequiredService<BaselineStore>(), runs, stoppingToken);
                await runs.RecoverDeadAsync(options.Value.MaxAttempts, stoppingToken);
                var executor = scope.ServiceProvider.GetRequiredService<RunExecutor>();
                while (!stoppingToken.IsCancellationRequested && await runs.ClaimAsync(options.Value.RunLease, stoppingToken) is { } run)
                {
                    try
                    {
                        await executor.ExecuteAsync(run, stoppingToken);
                    }
                    catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                    {
                        // Shutting down: the run goes back to pending at once, so a restart (or another replica) takes it
                        // without waiting out its lease — until then no other run of its endpoint could start.
                        await runs.ReleaseAsync(run.Id, CancellationToken.None);
                        throw;
                    }
                }
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
            await Signal.WaitAsync(options.Value.SchedulerPollInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }
}
