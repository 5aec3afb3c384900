namespace Mlops.Tuning.Runner;

public enum TrialJobStatus { InProgress, Completed, Failed, Stopping, Stopped, NotFound }

/// <summary>A training job as the tuner sees it: its status, its latest metric values, why it failed.</summary>
public sealed record TrialJobDescription(TrialJobStatus Status, IReadOnlyDictionary<string, double> FinalMetrics, string? FailureReason = null);

/// <summary>One intermediate value of a trial's objective; <paramref name="Iteration"/> when the job said which (the trainer's
/// <c>metric validation:auc=… iteration=k</c> lines), null when only the order is known.</summary>
public sealed record IntermediateValue(double Value, int? Iteration = null);

/// <summary>
/// The training jobs a tuning job's trials run as. <see cref="TrainingJobsTrialAdapter"/> puts the platform's
/// <c>ITrainingJobs</c> (SageMaker's API, real or the local training service) behind it; tests use an in-process objective.
/// </summary>
public interface ITrialTrainingJobs
{
    /// <summary>Creates the job; <paramref name="hyperParameters"/> are the static and the trial's tuned ones, merged.</summary>
    Task StartAsync(string trainingJobName, IReadOnlyDictionary<string, string> hyperParameters, CancellationToken ct = default);

    Task<TrialJobDescription> DescribeAsync(string trainingJobName, CancellationToken ct = default);

    /// <summary>The metric's values so far, oldest first: what the median stopping rule judges, and (with their iterations)
    /// what Hyperband judges at its rungs.</summary>
    Task<IReadOnlyList<IntermediateValue>> GetIntermediateValuesAsync(string trainingJobName, string metricName, CancellationToken ct = default);

    Task StopAsync(string trainingJobName, CancellationToken ct = default);
}
