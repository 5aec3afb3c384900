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

/// <summary>A new version of a registered model was created in the model registry (published through the tracker's outbox).</summary>
/// <param name="Name">The registered model's name.</param>
/// <param name="Version">The new version number, as MLflow writes it (a string of an integer).</param>
/// <param name="Source">Where the model's files are (an artifact URI).</param>
/// <param name="RunId">The run that produced the model, if known.</param>
/// <param name="CreatedAt">When the version was created.</param>
public sealed record ModelVersionCreated(string Name, string Version, string Source, string? RunId, DateTimeOffset CreatedAt);
