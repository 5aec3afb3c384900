using System.Text.Json;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;

namespace Mlops.FeatureStore.Features.TrainingSets;

/// <param name="Features"><c>group:feature</c> references.</param>
/// <param name="EntityRows">Inline entity rows: the groups' key columns, the timestamp column, and any other columns (labels), kept as-is.</param>
/// <param name="EntitySource">Or a Parquet object in the lake bucket holding the entity rows (always run as a job).</param>
/// <param name="TimestampColumn">The entity rows' timestamp column; default <c>event_timestamp</c>.</param>
public sealed record TrainingSetRequest(IReadOnlyList<string>? Features, IReadOnlyList<Dictionary<string, JsonElement>>? EntityRows,
    EntitySource? EntitySource, string? TimestampColumn);

public sealed record EntitySource(string? ObjectKey);

public sealed record SchemaField(string Name, string Type);

/// <summary>The manifest written next to every snapshot (and returned by the API).</summary>
public sealed record SnapshotManifest(Guid SnapshotId, DateTimeOffset CreatedAt, string ContentHash, long RowCount,
    IReadOnlyList<SchemaField> Schema, IReadOnlyDictionary<string, int> GroupVersions, IReadOnlyDictionary<string, long> LastBatchIds,
    string DataUri, string ManifestUri, ManifestRequest Request, double Seconds);

/// <summary>The request as recorded: inline entity rows are recorded by count and SHA-256, not copied.</summary>
public sealed record ManifestRequest(IReadOnlyList<string> Features, string TimestampColumn, string EntitySource, long EntityRows, string? EntityRowsSha256);

/// <summary>One group's part of a training set: the features asked for, its version definitions and its listed offline files.</summary>
public sealed record GroupPlan(GroupSchema Schema, List<string> Features, Dictionary<int, FeatureGroup> Versions, List<(string Key, int Version)> Files);
