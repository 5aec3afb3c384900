namespace Mlops.Contracts;

/// <summary>
/// A model version moved between MLflow stages (None, Staging, Production, Archived), published through the tracker's
/// outbox in the same transaction as the change.
/// </summary>
/// <param name="Name">The registered model.</param>
/// <param name="Version">The version that moved (a string of an integer, as MLflow writes it).</param>
/// <param name="FromStage">Its stage before.</param>
/// <param name="ToStage">Its stage now.</param>
/// <param name="ArchivedVersions">Other versions moved from <paramref name="ToStage"/> to Archived by the same call (archive_existing_versions).</param>
/// <param name="Actor">Who made the change (see the registry audit trail).</param>
/// <param name="ChangedAt">When.</param>
public sealed record ModelVersionStageChanged(string Name, string Version, string FromStage, string ToStage,
    IReadOnlyList<string> ArchivedVersions, string Actor, DateTimeOffset ChangedAt);

/// <summary>
/// A registered model's alias (e.g. <c>champion</c>) was set, moved or deleted; deployments that follow an alias react to
/// this. Published through the tracker's outbox in the same transaction as the change.
/// </summary>
/// <param name="Name">The registered model.</param>
/// <param name="Alias">The alias.</param>
/// <param name="Version">The version it points at now; null when the alias was deleted.</param>
/// <param name="PreviousVersion">The version it pointed at before; null when it is new.</param>
/// <param name="Actor">Who made the change (see the registry audit trail).</param>
/// <param name="ChangedAt">When.</param>
public sealed record ModelAliasChanged(string Name, string Alias, string? Version, string? PreviousVersion, string Actor, DateTimeOffset ChangedAt);
