namespace Mlops.Contracts;

/// <summary>
/// A model version went live behind an endpoint (published by Serving). The tracker records it as the end of the
/// model's lineage.
/// </summary>
/// <param name="DeploymentId">Unique per deployment (a new rollout of the same version is a new deployment).</param>
/// <param name="Endpoint">The serving endpoint's name.</param>
/// <param name="ModelName">The registered model.</param>
/// <param name="ModelVersion">The version deployed (a string of an integer, as MLflow writes it).</param>
/// <param name="Environment">Where, e.g. staging or production.</param>
/// <param name="DeployedAt">When it started taking traffic.</param>
public sealed record ModelDeployed(string DeploymentId, string Endpoint, string ModelName, string ModelVersion, string Environment,
    DateTimeOffset DeployedAt);

/// <summary>A deployment stopped taking traffic (rolled back, replaced or removed).</summary>
/// <param name="DeploymentId">The deployment, as <see cref="ModelDeployed"/> named it.</param>
/// <param name="RetiredAt">When.</param>
public sealed record ModelRetired(string DeploymentId, DateTimeOffset RetiredAt);
