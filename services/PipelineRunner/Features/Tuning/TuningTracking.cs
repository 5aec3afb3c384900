using System.Globalization;
using Mlops.ExperimentTracker.Client;
using Mlops.PipelineRunner.Features.Steps;
using Mlops.SageMaker;
using Mlops.ServiceDefaults.Storage;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;

namespace Mlops.PipelineRunner.Features.Tuning;

/// <summary>
/// A tuning job in the tracker: a parent run for the job and a child run (<c>mlflow.parentRunId</c>) per trial with its
/// hyperparameters as params and its metrics; trials stopped early are tagged so. Runs are found again by their tags
/// (<c>mlops.tuning_parent</c>, <c>mlops.training_job</c>), so a worker that lost its record of a run does not make a second.
/// </summary>
public sealed class TuningTracking(TrackingClient tracker, ITrainingJobs jobs, ObjectStore store)
{
    public const string JobTag = "mlops.tuning_job";
    public const string ParentTag = "mlops.tuning_parent";
    public const string StoppedEarlyTag = "mlops.tuning.stopped_early";

    /// <summary>Creates what is missing (the parent run, runs of new trials) and finishes the runs of trials that ended.</summary>
    public async Task<TuningJobRecord> SyncAsync(TuningJobRecord record, CancellationToken ct)
    {
        var name = record.State.Definition.HyperParameterTuningJobName!;
        if (record.ParentRunId is null)
        {
            var experimentId = await tracker.GetOrCreateExperimentAsync(record.Request.Experiment ?? $"tuning-{name}", ct);
            var parent = await FindAsync(experimentId, ParentTag, name, ct) ?? await CreateParentAsync(record, experimentId, name, ct);
            record = record with { ExperimentId = experimentId, ParentRunId = parent.Info.RunId };
        }
        var runs = new Dictionary<string, string>(record.Runs);
        var finished = new HashSet<string>(record.Finished);
        foreach (var trial in record.State.Trials.Where(t => t.Status != TrialStatus.Pending))
        {
            if (!runs.TryGetValue(trial.TrainingJobName, out var runId))
            {
                var run = await FindAsync(record.ExperimentId!, TrainHandler.JobTag, trial.TrainingJobName, ct)
                    ?? await CreateTrialAsync(record, trial, ct);
                runs[trial.TrainingJobName] = runId = run.Info.RunId;
            }
            if (trial.IsTerminal && !finished.Contains(trial.TrainingJobName))
            {
                await FinishTrialAsync(record, trial, runId, ct);
                finished.Add(trial.TrainingJobName);
            }
        }
        return record with { Runs = runs, Finished = finished };
    }

    /// <summary>
    /// Once the job has ended: the best trial's model copied into its run's artifacts (servable, registrable), the best
    /// reported on the parent run (metric, tags), and the parent run finished.
    /// </summary>
    public async Task<TuningJobRecord> FinishAsync(TuningJobRecord record, CancellationToken ct)
    {
        var objective = record.State.Definition.HyperParameterTuningJobConfig!.HyperParameterTuningJobObjective!.MetricName!;
        var parentId = record.ParentRunId!;
        var curve = record.State.BestSoFar();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var metrics = curve.Select((v, i) => (v, i)).Where(p => double.IsFinite(p.v))
            .Select(p => new Metric($"best_so_far/{TrainHandler.TrackerKey(objective)}", p.v, now, p.i + 1)).ToList();
        var tags = new Dictionary<string, string>
        {
            ["mlops.tuning.status"] = TuningViews.Status(record),
            ["mlops.tuning.trials"] = record.State.Trials.Count.ToString(CultureInfo.InvariantCulture),
        };
        if (record.State.CompletionReason is { } reason)
            tags["mlops.tuning.completion_reason"] = reason;
        if (record.State.BestTrial is { } best && record.Runs.TryGetValue(best.TrainingJobName, out var bestRun))
        {
            var job = await jobs.DescribeAsync(best.TrainingJobName, ct);
            var modelUri = job.ModelArtifacts?.S3ModelArtifacts;
            string? artifactUri = null;
            if (modelUri is not null)
            {
                artifactUri = await TrainHandler.PublishModelAsync(store, tracker, await tracker.GetRunAsync(bestRun, ct), modelUri, ct);
                await tracker.LogBatchAsync(bestRun, tags: new Dictionary<string, string> { ["mlops.model_uri"] = modelUri, ["mlops.tuning.best"] = "true" }, ct: ct);
                tags["mlops.model_uri"] = modelUri;
            }
            tags["mlops.tuning.best_training_job"] = best.TrainingJobName;
            tags["mlops.tuning.best_run_id"] = bestRun;
            metrics.Add(new Metric(TrainHandler.TrackerKey(objective), best.ObjectiveValue!.Value, now, 0));
            record = record with
            {
                BestModelUri = modelUri,
                BestArtifactUri = artifactUri,
                BestFinalMetrics = (job.FinalMetricDataList ?? []).Where(m => double.IsFinite(m.Value)).ToDictionary(m => m.MetricName, m => m.Value),
            };
        }
        await tracker.LogBatchAsync(parentId, metrics, tags: tags, ct: ct);
        await tracker.FinishRunAsync(parentId, record.State.Status == TuningJobStatus.Completed && record.FailureReason is null ? "FINISHED" : "KILLED", ct);
        return record;
    }

    private async Task<Run?> FindAsync(string experimentId, string tag, string value, CancellationToken ct) =>
        (await tracker.SearchRunsAsync([experimentId], $"tags.`{tag}` = '{value}'", maxResults: 1, ct: ct)).Runs.FirstOrDefault();

    private async Task<Run> CreateParentAsync(TuningJobRecord record, string experimentId, string name, CancellationToken ct)
    {
        var config = record.State.Definition.HyperParameterTuningJobConfig!;
        var tags = Tags(record);
        tags[ParentTag] = name;
        var run = await tracker.CreateRunAsync(experimentId, name, tags, ct: ct);
        var parameters = new Dictionary<string, string>
        {
            ["tuning.strategy"] = config.Strategy!,
            ["tuning.objective"] = $"{config.HyperParameterTuningJobObjective!.Type} {config.HyperParameterTuningJobObjective.MetricName}",
            ["tuning.max_training_jobs"] = record.State.MaxNumberOfTrainingJobs.ToString(CultureInfo.InvariantCulture),
            ["tuning.max_parallel_training_jobs"] = config.ResourceLimits!.MaxParallelTrainingJobs!.Value.ToString(CultureInfo.InvariantCulture),
            ["tuning.early_stopping"] = config.TrainingJobEarlyStoppingType ?? "Off",
            ["tuning.random_seed"] = record.State.Seed.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (k, v) in record.State.Definition.StaticHyperParameters ?? new Dictionary<string, string>())
            parameters[k] = v;
        await tracker.LogBatchAsync(run.Info.RunId, parameters: parameters, ct: ct);
        return run;
    }

    private async Task<Run> CreateTrialAsync(TuningJobRecord record, TrialRecord trial, CancellationToken ct)
    {
        var tags = Tags(record);
        tags["mlflow.parentRunId"] = record.ParentRunId!;
        tags[TrainHandler.JobTag] = trial.TrainingJobName;
        tags["mlops.tuning.trial"] = (trial.Index + 1).ToString(CultureInfo.InvariantCulture);
        var run = await tracker.CreateRunAsync(record.ExperimentId!, trial.TrainingJobName, tags, ct: ct);
        var parameters = new Dictionary<string, string>(record.State.Definition.StaticHyperParameters ?? new Dictionary<string, string>());
        foreach (var (k, v) in trial.HyperParameters)
            parameters[k] = v;
        await tracker.LogBatchAsync(run.Info.RunId, parameters: parameters, ct: ct);
        return run;
    }

    private async Task FinishTrialAsync(TuningJobRecord record, TrialRecord trial, string runId, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var objective = record.State.Definition.HyperParameterTuningJobConfig!.HyperParameterTuningJobObjective!.MetricName!;
        var metrics = new List<Metric>();
        var tags = new Dictionary<string, string> { ["mlops.tuning.trial_status"] = trial.Status.ToString() };
        try
        {
            var job = await jobs.DescribeAsync(trial.TrainingJobName, ct);
            metrics.AddRange((job.FinalMetricDataList ?? []).Where(m => double.IsFinite(m.Value))
                .Select(m => new Metric(TrainHandler.TrackerKey(m.MetricName), m.Value, now, 0)));
            if (job.ModelArtifacts?.S3ModelArtifacts is { } model && trial.Status == TrialStatus.Completed)
                tags["mlops.model_uri"] = model;
        }
        catch (SageMakerException e) when (e.IsNotFound)
        {
        }
        // The objective's per-iteration values (what the median rule and Hyperband's rungs judged), as the metric's history:
        // step = the iteration the job reported the value at (the report's number when the jobs report none).
        var iterations = trial.IntermediateIterations.Count == trial.IntermediateValues.Count ? trial.IntermediateIterations : null;
        metrics.AddRange(trial.IntermediateValues.Select((v, i) => new Metric($"{TrainHandler.TrackerKey(objective)}_by_iteration", v, now, iterations?[i] ?? i + 1)));
        if (trial.StoppedEarly)
        {
            tags[StoppedEarlyTag] = "true";
            tags["mlops.tuning.early_stopping_reason"] = TuningViews.EarlyStoppingReason(trial)!;
        }
        if (trial.FailureReason is { } failure)
            tags["mlops.tuning.failure_reason"] = failure.Length > 5000 ? failure[..5000] : failure;
        await tracker.LogBatchAsync(runId, metrics, tags: tags, ct: ct);
        await tracker.FinishRunAsync(runId, trial.Status switch
        {
            TrialStatus.Completed => "FINISHED",
            TrialStatus.Failed => "FAILED",
            _ => "KILLED",
        }, ct);
    }

    private static Dictionary<string, string> Tags(TuningJobRecord record)
    {
        var tags = (record.Request.Tags ?? []).GroupBy(t => t.Key).ToDictionary(g => g.Key, g => g.Last().Value);
        tags[JobTag] = record.State.Definition.HyperParameterTuningJobName!;
        return tags;
    }
}
