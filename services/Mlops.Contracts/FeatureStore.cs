namespace Mlops.Contracts;

/// <summary>A feature group was defined (its first version). Published through the feature store's outbox.</summary>
/// <param name="Name">The group's unique name.</param>
/// <param name="Version">Always 1 for a new group.</param>
/// <param name="EntityKeys">The entity key columns.</param>
/// <param name="Features">The feature names of this version.</param>
/// <param name="CreatedAt">When the group was created.</param>
public sealed record FeatureGroupCreated(string Name, int Version, IReadOnlyList<string> EntityKeys, IReadOnlyList<string> Features,
    DateTimeOffset CreatedAt);

/// <summary>A feature group got a new, compatible version (an additive change), or was soft-deleted (Deleted is true).</summary>
public sealed record FeatureGroupUpdated(string Name, int Version, IReadOnlyList<string> Features, bool Deleted, DateTimeOffset UpdatedAt);

/// <summary>A batch of records was accepted into the online and offline stores of a feature group version.</summary>
/// <param name="Group">The feature group.</param>
/// <param name="Version">The group version the records were validated against.</param>
/// <param name="BatchId">The ingestion batch (monotonic; later batches win ties on event time).</param>
/// <param name="Rows">Records accepted.</param>
/// <param name="MinEventTime">Earliest event time in the batch.</param>
/// <param name="MaxEventTime">Latest event time in the batch.</param>
public sealed record FeaturesIngested(string Group, int Version, long BatchId, long Rows, DateTimeOffset MinEventTime,
    DateTimeOffset MaxEventTime);

/// <summary>An immutable, content-hashed training-set snapshot was written (Parquet plus a manifest in the artifact bucket).</summary>
/// <param name="SnapshotId">The snapshot's id.</param>
/// <param name="ContentHash">SHA-256 (hex) of the snapshot's Parquet file: same request and same data give the same hash.</param>
/// <param name="Rows">Rows in the snapshot (one per entity row of the request).</param>
/// <param name="DataUri">s3:// URI of the Parquet file.</param>
/// <param name="ManifestUri">s3:// URI of the manifest (schema, row count, hash, group versions, request).</param>
/// <param name="GroupVersions">The feature group versions used, by group name.</param>
/// <param name="CreatedAt">When the snapshot was written.</param>
public sealed record DatasetSnapshotCreated(string SnapshotId, string ContentHash, long Rows, string DataUri, string ManifestUri,
    IReadOnlyDictionary<string, int> GroupVersions, DateTimeOffset CreatedAt);
