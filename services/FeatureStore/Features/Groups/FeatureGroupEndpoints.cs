using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.FeatureStore.Features.Groups;

/// <summary>Feature group definitions under <c>/api/feature-groups</c>: create, new versions, list, search by tag, get, soft delete.</summary>
public static class FeatureGroupEndpoints
{
    public static RouteGroupBuilder MapFeatureGroupEndpoints(this RouteGroupBuilder api)
    {
        var groups = api.MapGroup("/feature-groups").WithTags("Feature groups");
        groups.MapPost("/", Create).ProducesProblem(StatusCodes.Status409Conflict);
        groups.MapPut("/{name}", Update).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        groups.MapGet("/", List);
        groups.MapGet("/{name}", Get).ProducesProblem(StatusCodes.Status404NotFound);
        groups.MapDelete("/{name}", Delete).ProducesProblem(StatusCodes.Status404NotFound);
        return groups;
    }

    internal static async Task<Results<Created<FeatureGroupResponse>, ValidationProblem, ProblemHttpResult>> Create(FeatureGroupRequest request,
        NpgsqlDataSource db, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        var (group, errors) = DefinitionRules.Validate(request, null, 1);
        if (group is null)
            return TypedResults.ValidationProblem(errors, "The feature group definition is invalid.");

        var now = DateTimeOffset.UtcNow;
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var inserted = await transaction.ExecuteAsync(
            """
            INSERT INTO feature_groups (name, latest_version, tags, created_at, updated_at) VALUES (@name, 1, @tags, @now, @now)
            ON CONFLICT (name) DO NOTHING
            """, ct, ("name", group.Name), ("tags", group.Tags.ToArray()), ("now", now));
        if (inserted == 0)
        {
            var existing = await FeatureGroupCatalog.LoadAsync(connection, group.Name, null, ct, transaction);
            return Problems.Conflict(existing?.DeletedAt is not null
                ? $"Feature group '{group.Name}' already exists (deleted at {existing.DeletedAt:O}); its name stays reserved because its data stays in the offline store."
                : $"Feature group '{group.Name}' already exists; send a new version with PUT /api/feature-groups/{group.Name}.");
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
    internal static async Task<Results<Ok<FeatureGroupResponse>, ValidationProblem, ProblemHttpResult>> Update(string name, FeatureGroupRequest request,
        NpgsqlDataSource db, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var state = await FeatureGroupCatalog.LoadAsync(connection, name, null, ct, transaction, forUpdate: true);
        if (state is null || state.DeletedAt is not null)
            return Problems.NotFound($"Feature group '{name}' does not exist{(state is null ? "" : " (it was deleted)")}.");

        var (next, errors) = DefinitionRules.Validate(request, name, state.Latest.Version + 1);
        if (next is null)
            return TypedResults.ValidationProblem(errors, "The feature group definition is invalid.");
        if (next.SameAs(state.Latest))
            return TypedResults.Ok(FeatureGroupResponse.From(state));
        var reasons = DefinitionRules.Incompatibilities(state.Latest, next);
        if (reasons.Count > 0)
            return Problems.Conflict(
                $"The definition is not a compatible new version of '{name}' (version {state.Latest.Version}): {string.Join(" ", reasons)}", reasons);

        var now = DateTimeOffset.UtcNow;
        await InsertVersionAsync(transaction, next, now, ct);
        await transaction.ExecuteAsync("UPDATE feature_groups SET latest_version = @version, tags = @tags, updated_at = @now WHERE name = @name", ct,
            ("name", name), ("version", next.Version), ("tags", next.Tags.ToArray()), ("now", now));
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

    internal static async Task<Results<Ok<FeatureGroupResponse>, ProblemHttpResult>> Get(string name, [FromQuery] int? version, NpgsqlDataSource db,
        CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        if (await FeatureGroupCatalog.LoadAsync(connection, name, null, ct) is not { } state)
            return Problems.NotFound($"Feature group '{name}' does not exist.");
        if (version is null)
            return TypedResults.Ok(FeatureGroupResponse.From(state));
        return await FeatureGroupCatalog.LoadAsync(connection, name, version, ct) is { } versioned
            ? TypedResults.Ok(FeatureGroupResponse.From(state, versioned.Latest))
            : Problems.NotFound($"Feature group '{name}' has no version {version} (latest is {state.Latest.Version}).");
    }

    /// <summary>Soft delete: the definition, its offline data and snapshots stay; ingestion and reads refuse the group.</summary>
    internal static async Task<Results<NoContent, ProblemHttpResult>> Delete(string name, NpgsqlDataSource db, FeatureGroupCatalog catalog, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var state = await FeatureGroupCatalog.LoadAsync(connection, name, null, ct, transaction, forUpdate: true);
        if (state is null || state.DeletedAt is not null)
            return Problems.NotFound($"Feature group '{name}' does not exist{(state is null ? "" : " (it was already deleted)")}.");
        await transaction.ExecuteAsync("UPDATE feature_groups SET deleted_at = @now, updated_at = @now WHERE name = @name", ct, ("name", name), ("now", now));
        // The online rows are no longer served; the offline files stay (training-set snapshots may refer to them).
        await transaction.ExecuteAsync("DELETE FROM online_features WHERE group_name = @name", ct, ("name", name));
        await transaction.EnqueueAsync(new FeatureGroupUpdated(name, state.Latest.Version, [.. state.Latest.Features.Select(f => f.Name)], true, now), ct);
        await transaction.CommitAsync(ct);
        catalog.Invalidate(name);
        return TypedResults.NoContent();
    }

    private static Task InsertVersionAsync(NpgsqlTransaction transaction, FeatureGroup group, DateTimeOffset now, CancellationToken ct) =>
        transaction.ExecuteAsync(
            "INSERT INTO feature_group_versions (name, version, definition, created_at) VALUES (@name, @version, @definition::jsonb, @now)", ct,
            ("name", group.Name), ("version", group.Version), ("definition", FeatureGroupCatalog.Serialize(group)), ("now", now));
}
