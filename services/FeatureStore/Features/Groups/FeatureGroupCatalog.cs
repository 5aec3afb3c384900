using System.Collections.Concurrent;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.FeatureStore.Features.Groups;

/// <summary>The stored state of a group: its latest version's definition and its lifecycle times.</summary>
public sealed record FeatureGroupState(FeatureGroup Latest, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? DeletedAt);

/// <summary>
/// Reads and writes group definitions. Hot paths (ingestion, online reads) get the latest live version from a short-lived
/// cache, invalidated here on every change and expiring after <see cref="CacheLifetime"/> for changes made by other instances.
/// </summary>
public sealed class FeatureGroupCatalog(NpgsqlDataSource db)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (FeatureGroupState? State, DateTime Expires)> _cache = new();

    public static string Serialize(FeatureGroup group) => JsonSerializer.Serialize(group, FeatureStoreJson.Options);
    public static FeatureGroup Deserialize(string json) => JsonSerializer.Deserialize<FeatureGroup>(json, FeatureStoreJson.Options)!;

    /// <summary>The latest version of a live (not deleted) group, or a 404 naming it.</summary>
    public async Task<FeatureGroup> GetLiveAsync(string name, CancellationToken ct)
    {
        var state = await GetCachedAsync(name, ct);
        if (state is null || state.DeletedAt is not null)
            throw ProblemException.NotFound($"Feature group '{name}' does not exist{(state is null ? "" : " (it was deleted)")}.");
        return state.Latest;
    }

    public async Task<FeatureGroupState?> GetCachedAsync(string name, CancellationToken ct)
    {
        if (_cache.TryGetValue(name, out var entry) && entry.Expires > DateTime.UtcNow)
            return entry.State;
        await using var connection = await db.OpenConnectionAsync(ct);
        var state = await LoadAsync(connection, name, null, ct);
        _cache[name] = (state, DateTime.UtcNow + CacheLifetime);
        return state;
    }

    public void Invalidate(string name) => _cache.TryRemove(name, out _);

    private const string StateColumns = "v.definition::text, g.created_at, g.updated_at, g.deleted_at";

    /// <summary>The group with the given version's definition (the latest if null); null if the group or version is unknown.</summary>
    public static async Task<FeatureGroupState?> LoadAsync(NpgsqlConnection connection, string name, int? version, CancellationToken ct,
        NpgsqlTransaction? transaction = null, bool forUpdate = false) =>
        (await connection.ReadAllAsync(
            $"""
            SELECT {StateColumns}
            FROM feature_groups g JOIN feature_group_versions v ON v.name = g.name AND v.version = coalesce(@version, g.latest_version)
            WHERE g.name = @name {(forUpdate ? "FOR UPDATE OF g" : "")}
            """,
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", NpgsqlDbType.Integer) { Value = (object?)version ?? DBNull.Value }],
            ReadState, ct, transaction)).SingleOrDefault();

    public static Task<List<FeatureGroupState>> ListAsync(NpgsqlConnection connection, string? tag, bool includeDeleted, CancellationToken ct) =>
        connection.ReadAllAsync(
            $"""
            SELECT {StateColumns}
            FROM feature_groups g JOIN feature_group_versions v ON v.name = g.name AND v.version = g.latest_version
            WHERE (@tag::text IS NULL OR g.tags @> ARRAY[@tag::text]) AND (@includeDeleted OR g.deleted_at IS NULL)
            ORDER BY g.name
            """,
            [new NpgsqlParameter("tag", NpgsqlDbType.Text) { Value = (object?)tag ?? DBNull.Value }, new NpgsqlParameter("includeDeleted", includeDeleted)],
            ReadState, ct);

    private static FeatureGroupState ReadState(NpgsqlDataReader reader) =>
        new(Deserialize(reader.GetString(0)), reader.GetFieldValue<DateTimeOffset>(1), reader.GetFieldValue<DateTimeOffset>(2),
            reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3));
}
