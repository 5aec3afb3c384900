using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.FeatureStore.Features.Groups;

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

/// <summary>Feature group definitions under <c>/api/feature-groups</c>: create, new versions, list, search by tag, get, soft delete.</summary>
public static class FeatureGroupEndpoints
{
    public static RouteGroupBuilder MapFeatureGroupEndpoints(this RouteGroupBuilder api)
    {
        var groups = api.MapGroup("/feature-groups").WithTags("Feature groups");
        groups.MapPost("/", Create);
        groups.MapPut("/{name}", Update);
        groups.MapGet("/", List);
        groups.MapGet("/{name}", Get);
        groups.MapDelete("/{name}", Delete);
        return groups;
    }

    internal static async Task<Results<Created<FeatureGroupResponse>, ValidationProblem>> Create(FeatureGroupRequest request,
        NpgsqlDataSource db, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        var (group, errors) = DefinitionRules.Validate(request, null, 1);
        if (group is null)
            return TypedResults.ValidationProblem(errors, "The feature group definition is invalid.");

        var now = DateTimeOffset.UtcNow;
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var insert = new NpgsqlCommand(
            """
            INSERT INTO feature_groups (name, latest_version, tags, created_at, updated_at) VALUES (@name, 1, @tags, @now, @now)
            ON CONFLICT (name) DO NOTHING
            """, connection, transaction))
        {
            insert.Parameters.AddWithValue("name", group.Name);
            insert.Parameters.AddWithValue("tags", group.Tags.ToArray());
            insert.Parameters.AddWithValue("now", now);
            if (await insert.ExecuteNonQueryAsync(ct) == 0)
            {
                var existing = await FeatureGroupCatalog.LoadAsync(connection, group.Name, null, ct, transaction);
                throw ProblemException.Conflict(existing?.DeletedAt is not null
                    ? $"Feature group '{group.Name}' already exists (deleted at {existing.DeletedAt:O}); its name stays reserved because its data stays in the offline store."
                    : $"Feature group '{group.Name}' already exists; send a new version with PUT /api/feature-groups/{group.Name}.");
            }
        }
        await InsertVersionAsync(transaction, group, now, ct);
        await transaction.EnqueueAsync(new FeatureGroupCreated(group.Name, 1, [.. group.EntityKeys.Select(k => k.Name)],
            [.. group.Features.Select(f => f.Name)], now), ct);
        await transaction.CommitAsync(ct);
        catalog.Invalidate(group.Name);
        return TypedResults.Created($"/api/feature-groups/{group.Name}",
            FeatureGroupResponse.From(new FeatureGroupState(group, now, now, null)));
    }

    /// <summary>A new version: compatible (additive) changes only; an identical definition changes nothing.</summary>
    internal static async Task<Results<Ok<FeatureGroupResponse>, ValidationProblem>> Update(string name, FeatureGroupRequest request,
        NpgsqlDataSource db, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var state = await FeatureGroupCatalog.LoadAsync(connection, name, null, ct, transaction, forUpdate: true);
        if (state is null || state.DeletedAt is not null)
            throw ProblemException.NotFound($"Feature group '{name}' does not exist{(state is null ? "" : " (it was deleted)")}.");

        var (next, errors) = DefinitionRules.Validate(request, name, state.Latest.Version + 1);
        if (next is null)
            return TypedResults.ValidationProblem(errors, "The feature group definition is invalid.");
        if (next.SameAs(state.Latest))
            return TypedResults.Ok(FeatureGroupResponse.From(state));
        var reasons = DefinitionRules.Incompatibilities(state.Latest, next);
        if (reasons.Count > 0)
            throw ProblemException.Conflict(
                $"The definition is not a compatible new version of '{name}' (version {state.Latest.Version}): {string.Join(" ", reasons)}", reasons);

        var now = DateTimeOffset.UtcNow;
        await InsertVersionAsync(transaction, next, now, ct);
        await using (var update = new NpgsqlCommand(
            "UPDATE feature_groups SET latest_version = @version, tags = @tags, updated_at = @now WHERE name = @name", connection, transaction))
        {
            update.Parameters.AddWithValue("name", name);
            update.Parameters.AddWithValue("version", next.Version);
            update.Parameters.AddWithValue("tags", next.Tags.ToArray());
            update.Parameters.AddWithValue("now", now);
            await update.ExecuteNonQueryAsync(ct);
        }
        await transaction.EnqueueAsync(new FeatureGroupUpdated(name, next.Version, [.. next.Features.Select(f => f.Name)], false, now), ct);
        await transaction.CommitAsync(ct);
        catalog.Invalidate(name);
        return TypedResults.Ok(FeatureGroupResponse.From(state with { Latest = next, UpdatedAt = now }));
    }

    internal static async Task<Ok<FeatureGroupList>> List([FromQuery] string? tag, [FromQuery(Name = "include_deleted")] bool? includeDeleted,
        NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var states = await FeatureGroupCatalog.ListAsync(connection, string.IsNullOrEmpty(tag) ? null : tag, includeDeleted ?? false, ct);
        return TypedResults.Ok(new FeatureGroupList([.. states.Select(s => FeatureGroupResponse.From(s))]));
    }

    internal static async Task<Ok<FeatureGroupResponse>> Get(string name, [FromQuery] int? version, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        var state = await FeatureGroupCatalog.LoadAsync(connection, name, null, ct)
            ?? throw ProblemException.NotFound($"Feature group '{name}' does not exist.");
        if (version is null)
            return TypedResults.Ok(FeatureGroupResponse.From(state));
        var versioned = await FeatureGroupCatalog.LoadAsync(connection, name, version, ct)
            ?? throw ProblemException.NotFound($"Feature group '{name}' has no version {version} (latest is {state.Latest.Version}).");
        return TypedResults.Ok(FeatureGroupResponse.From(state, versioned.Latest));
    }

    /// <summary>Soft delete: the definition, its offline data and snapshots stay; ingestion and reads refuse the group.</summary>
    internal static async Task<NoContent> Delete(string name, NpgsqlDataSource db, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var state = await FeatureGroupCatalog.LoadAsync(connection, name, null, ct, transaction, forUpdate: true);
        if (state is null || state.DeletedAt is not null)
            throw ProblemException.NotFound($"Feature group '{name}' does not exist{(state is null ? "" : " (it was already deleted)")}.");
        await using (var update = new NpgsqlCommand("UPDATE feature_groups SET deleted_at = @now, updated_at = @now WHERE name = @name", connection, transaction))
        {
            update.Parameters.AddWithValue("name", name);
            update.Parameters.AddWithValue("now", now);
            await update.ExecuteNonQueryAsync(ct);
        }
        // The online rows are no longer served; the offline files stay (training-set snapshots may refer to them).
        await using (var purge = new NpgsqlCommand("DELETE FROM online_features WHERE group_name = @name", connection, transaction))
        {
            purge.Parameters.AddWithValue("name", name);
            await purge.ExecuteNonQueryAsync(ct);
        }
        await transaction.EnqueueAsync(new FeatureGroupUpdated(name, state.Latest.Version, [.. state.Latest.Features.Select(f => f.Name)], true, now), ct);
        await transaction.CommitAsync(ct);
        catalog.Invalidate(name);
        return TypedResults.NoContent();
    }

    private static async Task InsertVersionAsync(NpgsqlTransaction transaction, FeatureGroup group, DateTimeOffset now, CancellationToken ct)
    {
        await using var insert = new NpgsqlCommand(
            "INSERT INTO feature_group_versions (name, version, definition, created_at) VALUES (@name, @version, @definition, @now)",
            transaction.Connection, transaction);
        insert.Parameters.AddWithValue("name", group.Name);
        insert.Parameters.AddWithValue("version", group.Version);
        insert.Parameters.AddWithValue("definition", NpgsqlDbType.Jsonb, FeatureGroupCatalog.Serialize(group));
        insert.Parameters.AddWithValue("now", now);
        await insert.ExecuteNonQueryAsync(ct);
    }
}
