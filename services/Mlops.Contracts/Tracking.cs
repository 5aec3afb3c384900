namespace Mlops.Contracts;

/// <summary>
/// A run of the experiment tracker reached a terminal status (FINISHED, FAILED or KILLED). Published through the
/// tracker's outbox in the same transaction as the status change.
/// </summary>
/// <param name="RunId">The MLflow run id (32 hex characters).</param>
/// <param name="ExperimentId">The MLflow experiment id (a string of an integer).</param>
/// <param name="Status">FINISHED, FAILED or KILLED.</param>
/// <param name="EndTime">When the run ended.</param>
/// <param name="Metrics">The run's latest value of every metric, by key.</param>
public sealed record RunFinished(string RunId, string ExperimentId, string Status, DateTimeOffset EndTime,
    IReadOnlyDictionary<string, double> Metrics);
