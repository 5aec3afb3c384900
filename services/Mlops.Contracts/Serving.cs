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

/// <summary>A deployment ended well: its configuration serves all traffic (and its alias, if any, moved).</summary>
/// <param name="DeploymentId">Serving's deployment id (<c>dep-…</c>).</param>
/// <param name="Endpoint">The endpoint.</param>
/// <param name="Strategy">How it rolled out: all_at_once, canary, linear, blue_green or shadow.</param>
/// <param name="ConfigVersion">The endpoint configuration now current.</param>
/// <param name="PromotedAlias">The registry alias moved to the new versions, if one was asked for.</param>
/// <param name="SucceededAt">When.</param>
public sealed record DeploymentSucceeded(string DeploymentId, string Endpoint, string Strategy, int ConfigVersion, string? PromotedAlias,
    DateTimeOffset SucceededAt);

/// <summary>A deployment was rolled back: all traffic is on the previous configuration again.</summary>
/// <param name="DeploymentId">Serving's deployment id (<c>dep-…</c>).</param>
/// <param name="Endpoint">The endpoint.</param>
/// <param name="Strategy">How it was rolling out.</param>
/// <param name="FromConfigVersion">The configuration serving again.</param>
/// <param name="RejectedConfigVersion">The configuration rolled back.</param>
/// <param name="Reason">Why: a built-in alarm, a Monitor alarm, the execution timeout or a manual rollback, in words.</param>
/// <param name="RolledBackAt">When.</param>
public sealed record DeploymentRolledBack(string DeploymentId, string Endpoint, string Strategy, int? FromConfigVersion, int RejectedConfigVersion,
    string Reason, DateTimeOffset RolledBackAt);
