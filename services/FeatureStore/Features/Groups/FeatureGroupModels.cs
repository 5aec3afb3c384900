using System.Text.Json.Serialization;

namespace Mlops.FeatureStore.Features.Groups;

/// <summary>The value types a feature (or an entity key: string and int64 only) may have.</summary>
public static class FeatureTypes
{
    public const string Int64 = "int64";
    public const string Double = "double";
    public const string String = "string";
    public const string Bool = "bool";
    public const string Timestamp = "timestamp";
    public const string FloatVector = "float_vector";

    public static readonly string[] All = [Int64, Double, String, Bool, Timestamp, FloatVector];
    public static readonly string[] KeyTypes = [String, Int64];
}

public sealed record EntityKey(string Name, string Type);

public sealed record FeatureConstraints(double? Min = null, double? Max = null, IReadOnlyList<string>? AllowedValues = null,
    string? Pattern = null, bool NotNull = false);

/// <param name="Dimension">For float vectors: the required length, if fixed.</param>
public sealed record FeatureDefinition(string Name, string Type, string? Description = null, FeatureConstraints? Constraints = null,
    int? Dimension = null);

/// <summary>What a client sends to create a group or a new version of it.</summary>
public sealed record FeatureGroupRequest(string? Name, string? Description, string? Owner, IReadOnlyList<string>? Tags,
    IReadOnlyList<EntityKey>? EntityKeys, string? EventTime, long? TtlSeconds, IReadOnlyList<FeatureDefinition>? Features);

/// <summary>One immutable version of a feature group's definition.</summary>
public sealed record FeatureGroup(string Name, int Version, string? Description, string? Owner, IReadOnlyList<string> Tags,
    IReadOnlyList<EntityKey> EntityKeys, string EventTime, long? TtlSeconds, IReadOnlyList<FeatureDefinition> Features)
{
    [JsonIgnore] public TimeSpan? Ttl => TtlSeconds is { } s ? TimeSpan.FromSeconds(s) : null;

    public FeatureDefinition? Feature(string name) => Features.FirstOrDefault(f => f.Name == name);

    /// <summary>True if the two versions define the same data (names, types, constraints, TTL) and metadata.</summary>
    public bool SameAs(FeatureGroup other) =>
        Description == other.Description && Owner == other.Owner && Tags.SequenceEqual(other.Tags)
        && EntityKeys.SequenceEqual(other.EntityKeys) && EventTime == other.EventTime && TtlSeconds == other.TtlSeconds
        && Features.Count == other.Features.Count && Features.Zip(other.Features).All(p => SameFeature(p.First, p.Second));

    private static bool SameFeature(FeatureDefinition a, FeatureDefinition b) =>
        a.Name == b.Name && a.Type == b.Type && a.Description == b.Description && a.Dimension == b.Dimension
        && SameConstraints(a.Constraints, b.Constraints);

    private static bool SameConstraints(FeatureConstraints? a, FeatureConstraints? b) =>
        (a ?? new()) is var x && (b ?? new()) is var y
        && x.Min == y.Min && x.Max == y.Max && x.Pattern == y.Pattern && x.NotNull == y.NotNull
        && (x.AllowedValues ?? []).SequenceEqual(y.AllowedValues ?? []);
}

public sealed record FeatureGroupResponse(string Name, int Version, int LatestVersion, string? Description, string? Owner,
    IReadOnlyList<string> Tags, IReadOnlyList<EntityKey> EntityKeys, string EventTime, long? TtlSeconds,
    IReadOnlyList<FeatureDefinition> Features, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? DeletedAt)
{
    public static FeatureGroupResponse From(FeatureGroupState state, FeatureGroup? version = null)
    {
        var g = version ?? state.Latest;
        return new(g.Name, g.Version, state.Latest.Version, g.Description, g.Owner, g.Tags, g.EntityKeys, g.EventTime, g.TtlSeconds, g.Features,
            state.CreatedAt, state.UpdatedAt, state.DeletedAt);
    }
}

public sealed record FeatureGroupList(IReadOnlyList<FeatureGroupResponse> FeatureGroups);
