namespace Mlops.Contracts;

/// <summary>
/// A hyperparameter tuning job ended: Completed (its budget, a completion criterion or the strategy ran out), Stopped on
/// request, or Failed. Published through the pipeline runner's outbox in the transaction that records the end.
/// </summary>
/// <param name="TuningJobName">HyperParameterTuningJobName.</param>
/// <param name="Status">Completed, Stopped or Failed.</param>
/// <param name="CompletionReason">Why no more trials started (e.g. <c>MaxNumberOfTrainingJobs reached</c>), or the failure.</param>
/// <param name="ObjectiveMetric">The objective's metric name, e.g. <c>validation:auc</c>.</param>
/// <param name="BestTrainingJobName">The best trial's training job; null when no trial completed.</param>
/// <param name="BestObjectiveValue">The best trial's objective value.</param>
/// <param name="BestRunId">The best trial's tracker run.</param>
/// <param name="BestModelUri">The best trial's model.tar.gz.</param>
/// <param name="Trials">Trials started.</param>
/// <param name="TrialsStoppedEarly">Trials stopped early (median rule) or not promoted (Hyperband).</param>
/// <param name="ParentRunId">The tuning job's parent run in the tracker.</param>
/// <param name="EndedAt">When.</param>
public sealed record TuningJobCompleted(string TuningJobName, string Status, string? CompletionReason, string ObjectiveMetric,
    string? BestTrainingJobName, double? BestObjectiveValue, string? BestRunId, string? BestModelUri, int Trials, int TrialsStoppedEarly,
    string? ParentRunId, DateTimeOffset EndedAt);
