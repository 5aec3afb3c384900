using Mlops.Contracts;
using Mlops.ExperimentTracker.Client;
using Mlops.SageMaker;
using Mlops.ServiceDefaults.Storage;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;

namespace Mlops.PipelineRunner.Features.Tuning;

public sealed class TuningOptions
{
    public const string Section = "Tuning";
    /// <summary>Between two passes over a job (describe trials, decide, start new ones).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>A worker that dies without shutting down leaves its jobs to another after this long.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(20);
    /// <summary>Jobs one worker steps at once.</summary>
    public int MaxJobs { get; set; } = 16;
}

/// <summary>
/// Runs tuning jobs: every poll it leases the active jobs (its own and those whose lease ran out), and for each one
/// resumes the runner from the stored state, steps it once, brings the tracker runs up to date, and stores the state
/// again. The library's runner persists new trials before it starts their training jobs and, resumed, checks a trial's job
/// before starting it; trial names come from the job's name and seed. So a worker that restarts (or takes over from one
/// that died) follows the same trials: none lost, none started twice.
/// </summary>
public sealed class TuningWorker(TuningStore store, TuningJobs tuningJobs, IServiceProvider services, TuningMetrics metrics,
    Microsoft.Extensions.Options.IOptions<TuningOptions> options, ILogger<TuningWorker> logger) : BackgroundService
{
    private readonly Guid _owner = Guid.NewGuid();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var claimed = await store.ClaimAsync(_owner, o.Lease, o.MaxJobs, stoppingToken);
                await Task.WhenAll(claimed.Select(c => PassAsync(c.Record, c.StopRequested, stoppingToken)));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Tuning pass failed; trying again");
            }
            try
            {
                await Task.Delay(o.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            // Shutting down is not dying: the next worker (this one restarted, or another replica) takes the jobs at once.
            await store.ReleaseAsync(_owner, cancellationToken);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Could not give up tuning leases; they expire by themselves");
        }
    }

    private async Task PassAsync(TuningJobRecord record, bool stopRequested, CancellationToken ct)
    {
        var name = record.State.Definition.HyperParameterTuningJobName!;
        var lease = options.Value.Lease;
        try
        {
            var before = record.State;
            async Task Persist(TuningJobState state, CancellationToken token)
            {
                record = record with { State = state };
                if (!await store.SaveAsync(_owner, record, lease, token))
                    throw new LeaseLostException(name);
            }
            var runner = TuningJobRunner.Resume(record.State, tuningJobs.TrialJobs(record), Persist);
            if (stopRequested)
                runner.RequestStop();
            var ended = await runner.StepAsync(ct);
            record = record with { State = runner.State };
            metrics.Record(before, runner.State);
            foreach (var failed in runner.State.Trials.Where(t => t.Status == TrialStatus.Failed && before.Trials.All(b => b.TrainingJobName != t.TrainingJobName || b.Status != TrialStatus.Failed)))
                logger.LogWarning("Trial {Trial} of tuning job {Job} failed: {Reason}", failed.TrainingJobName, name, failed.FailureReason);

            var tracking = new TuningTracking(services.GetRequiredService<TrackingClient>(), services.GetRequiredService<ITrainingJobs>(),
                services.GetRequiredService<ObjectStore>());
            record = await tracking.SyncAsync(record, ct);
            if (!ended)
            {
                if (!await store.SaveAsync(_owner, record, lease, ct))
                    throw new LeaseLostException(name);
                return;
            }
            record = await tracking.FinishAsync(record, ct);
            record = record with { EndedAt = DateTimeOffset.UtcNow };
            await CompleteAsync(record, ct);
        }
        catch (LeaseLostException)
        {
            metrics.Forget(name);
            logger.LogInformation("Tuning job {Job} is stepped by another worker now", name);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // A service that did not answer (tracker, SageMaker): the job stays as stored and the next pass tries again.
            logger.LogWarning(e, "Pass over tuning job {Job} failed; the next pass retries", name);
        }
    }

    private async Task CompleteAsync(TuningJobRecord record, CancellationToken ct)
    {
        var state = record.State;
        var best = state.BestTrial;
        var objective = state.Definition.HyperParameterTuningJobConfig!.HyperParameterTuningJobObjective!.MetricName!;
        var completed = new TuningJobCompleted(state.Definition.HyperParameterTuningJobName!, TuningViews.Status(record), state.CompletionReason,
            objective, best?.TrainingJobName, best?.ObjectiveValue, best is null ? null : record.Runs.GetValueOrDefault(best.TrainingJobName),
            record.BestModelUri, state.Trials.Count, state.Trials.Count(t => t.StoppedEarly),
            record.ParentRunId, record.EndedAt!.Value);
        if (!await store.CompleteAsync(_owner, record, completed, ct))
            throw new LeaseLostException(completed.TuningJobName);
        metrics.Forget(completed.TuningJobName);
        logger.LogInformation("Tuning job {Job} {Status} ({Reason}); best {Best} = {Value}", completed.TuningJobName, completed.Status,
            completed.CompletionReason, completed.BestTrainingJobName, completed.BestObjectiveValue);
    }

    private sealed class LeaseLostException(string job) : Exception($"Tuning job {job} is leased to another worker.");
}
