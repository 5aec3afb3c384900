using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Features.Search;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;
using static Mlops.ExperimentTracker.Features.Registry.RegistryStore;
using static Mlops.ExperimentTracker.Features.Registry.RegistryValidation;

namespace Mlops.ExperimentTracker.Features.Registry;

/// <summary>
/// MLflow's registered models, <c>/api/2.0/mlflow/registered-models/...</c>, with their tags and aliases. Every change
/// is written to the audit trail in its transaction; alias changes also publish <see cref="ModelAliasChanged"/> through
/// the outbox.
/// </summary>
public static class ModelEndpoints
{
    private const int ModelSearchDefault = 100;
    private const int ModelSearchLimit = 1000;

    public static RouteGroupBuilder MapModelEndpoints(this RouteGroupBuilder mlflow)
    {
        var models = mlflow.MapGroup("/registered-models").WithTags("MLflow model registry");
        models.MapPost("/create", CreateRegisteredModel).Accepts<CreateRegisteredModelRequest>("application/json");
        models.MapGet("/get", GetRegisteredModel);
        models.MapGet("/search", SearchRegisteredModels);
        models.MapPost("/rename", RenameRegisteredModel).Accepts<RenameRegisteredModelRequest>("application/json");
        models.MapPatch("/update", UpdateRegisteredModel).Accepts<UpdateRegisteredModelRequest>("application/json");
        models.MapDelete("/delete", DeleteRegisteredModel);
        models.MapPost("/get-latest-versions", GetLatestVersions).Accepts<GetLatestVersionsRequest>("application/json");
        models.MapGet("/get-latest-versions", GetLatestVersions);
        models.MapPost("/set-tag", SetModelTag).Accepts<RegisteredModelTagRequest>("application/json");
        models.MapDelete("/delete-tag", DeleteModelTag);
        models.MapPost("/alias", SetAlias).Accepts<AliasRequest>("application/json");
        models.MapDelete("/alias", DeleteAlias);
        models.MapGet("/alias", GetByAlias);
        return models;
    }

    internal static async Task<JsonHttpResult<RegisteredModelResponse>> CreateRegisteredModel(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<CreateRegisteredModelRequest>(ct);
        var name = ModelName(request.Name);
        var tags = Tags(request.Tags);
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await transaction.ExecuteAsync(
            """
            INSERT INTO registered_models (name, creation_timestamp, last_updated_timestamp, description)
            VALUES (@name, @now, @now, @description) ON CONFLICT (name) DO NOTHING
            """, ct, ("name", name), ("now", now), ("description", request.Description)) == 0)
            throw MlflowException.AlreadyExists($"Registered Model (name={name}) already exists.");
        await InsertTagsAsync(transaction, "registered_model_tags", name, null, tags, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "create_registered_model", name, null, new { description = request.Description, tags = tags.Count }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new RegisteredModelResponse(await GetModelAsync(connection, name, ct)));
    }

    internal static async Task<JsonHttpResult<RegisteredModelResponse>> GetRegisteredModel(
        [FromQuery(Name = "name")] string? name, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        return MlflowJson.Ok(new RegisteredModelResponse(await GetModelAsync(connection, Validate.Required(name, "name"), ct)));
    }

    internal static async Task<JsonHttpResult<SearchRegisteredModelsResponse>> SearchRegisteredModels(
        [FromQuery(Name = "filter")] string? filter, [FromQuery(Name = "max_results")] long? maxResults,
        [FromQuery(Name = "order_by")] string[]? orderBy, [FromQuery(Name = "page_token")] string? pageToken,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var limit = PageToken.MaxResults(maxResults, ModelSearchDefault, ModelSearchLimit);
        var offset = PageToken.Decode(pageToken);
        var search = SearchSql.CompileRegisteredModels(filter, orderBy);
        await using var connection = await db.OpenConnectionAsync(ct);
        var models = await LoadModelsAsync(connection, $"TRUE{search.Conditions}",
            search.Parameters.Concat([new NpgsqlParameter("limit", limit + 1), new NpgsqlParameter("offset", offset)]), ct,
            search.Joins, search.OrderBy, "LIMIT @limit OFFSET @offset");
        var (page, next) = PageToken.Slice(models, limit, offset);
        return MlflowJson.Ok(new SearchRegisteredModelsResponse(page, next));
    }

    /// <summary>Renames the model; its versions, tags and aliases follow (ON UPDATE CASCADE).</summary>
    internal static async Task<JsonHttpResult<RegisteredModelResponse>> RenameRegisteredModel(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<RenameRegisteredModelRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var newName = ModelName(request.NewName, "new_name");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        try
        {
            if (await transaction.ExecuteAsync("UPDATE registered_models SET name = @new, last_updated_timestamp = @now WHERE name = @name", ct,
                ("new", newName), ("now", now), ("name", name)) == 0)
                throw ModelNotFound(name);
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            throw MlflowException.AlreadyExists($"Registered Model (name={newName}) already exists.");
        }
        await RegistryAudit.RecordAsync(transaction, http, now, "rename_registered_model", newName, null, new { from = name, to = newName }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new RegisteredModelResponse(await GetModelAsync(connection, newName, ct)));
    }

    internal static async Task<JsonHttpResult<RegisteredModelResponse>> UpdateRegisteredModel(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<UpdateRegisteredModelRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await transaction.ExecuteAsync("UPDATE registered_models SET description = @description, last_updated_timestamp = @now WHERE name = @name",
            ct, ("description", request.Description), ("now", now), ("name", name)) == 0)
            throw ModelNotFound(name);
        await RegistryAudit.RecordAsync(transaction, http, now, "update_registered_model", name, null, new { description = request.Description }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new RegisteredModelResponse(await GetModelAsync(connection, name, ct)));
    }

    /// <summary>Deletes the model with its versions, tags and aliases, as MLflow does; each alias removed is announced.</summary>
    internal static async Task<JsonHttpResult<Empty>> DeleteRegisteredModel(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var name = Validate.Required((await http.Request.ReadBodyOrQueryAsync<RegisteredModelNameRequest>(ct)).Name, "name");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        var aliases = await AliasesAsync(transaction, name, null, ct);
        await transaction.ExecuteAsync("DELETE FROM registered_models WHERE name = @name", ct, ("name", name));
        foreach (var (alias, version) in aliases)
            await AnnounceAliasAsync(transaction, http, now, name, alias, null, version, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "delete_registered_model", name, null, new { }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    /// <summary>The newest version in each of the requested stages (every stage when none is given).</summary>
    internal static async Task<JsonHttpResult<ModelVersionsResponse>> GetLatestVersions(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        GetLatestVersionsRequest request = HttpMethods.IsGet(http.Method)
            ? new(http.Query["name"].FirstOrDefault(), http.Query["stages"].Where(s => s is not null).ToList()!)
            : await http.ReadBodyAsync<GetLatestVersionsRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var stages = Validate.Items(request.Stages, "stages").Select(s => CanonicalStage(s, "stages")).Distinct().ToArray();
        await using var connection = await db.OpenConnectionAsync(ct);
        await GetModelAsync(connection, name, ct);
        var latest = await LoadVersionsAsync(connection, $"v.name = @name AND (cardinality(@stages) = 0 OR v.current_stage = ANY(@stages)) AND {NewestInItsStage}",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("stages", stages)], ct);
        return MlflowJson.Ok(new ModelVersionsResponse(latest.NullIfEmpty()));
    }

    internal static async Task<JsonHttpResult<Empty>> SetModelTag(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<RegisteredModelTagRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var tag = Tags([new KeyValue(request.Key, request.Value)])[0];
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        await transaction.ExecuteAsync(
            "INSERT INTO registered_model_tags (name, key, value) VALUES (@name, @key, @value) ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
            ct, ("name", name), ("key", tag.Key), ("value", tag.Value));
        await TouchModelAsync(transaction, name, now, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "set_registered_model_tag", name, null, new { key = tag.Key, value = tag.Value }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> DeleteModelTag(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyOrQueryAsync<RegisteredModelTagRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var key = Validate.Required(request.Key, "key");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        if (await transaction.ExecuteAsync("DELETE FROM registered_model_tags WHERE name = @name AND key = @key", ct, ("name", name), ("key", key)) == 0)
            throw MlflowException.NotFound($"No tag with name: {key} in registered model {name}");
        await TouchModelAsync(transaction, name, now, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "delete_registered_model_tag", name, null, new { key }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    /// <summary>Points an alias at a version (creating or moving it) and publishes <see cref="ModelAliasChanged"/>.</summary>
    internal static async Task<JsonHttpResult<Empty>> SetAlias(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<AliasRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var alias = AliasName(request.Alias);
        var version = VersionNumber(name, Validate.Required(request.Version, "version"));
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        await EnsureVersionAsync(transaction, name, version, ct);
        await using var upsert = connection.Command(
            """
            WITH previous AS (SELECT version FROM registered_model_aliases WHERE name = @name AND alias = @alias)
            INSERT INTO registered_model_aliases (name, alias, version) VALUES (@name, @alias, @version)
            ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version
            RETURNING (SELECT version FROM previous)
            """, transaction, ("name", name), ("alias", alias), ("version", version));
        var previous = await upsert.ExecuteScalarAsync(ct) as int?;
        if (previous != version)
        {
            await TouchModelAsync(transaction, name, now, ct);
            await AnnounceAliasAsync(transaction, http, now, name, alias, version, previous, ct);
        }
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> DeleteAlias(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyOrQueryAsync<AliasRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var alias = Validate.Required(request.Alias, "alias");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        await using var delete = connection.Command("DELETE FROM registered_model_aliases WHERE name = @name AND alias = @alias RETURNING version",
            transaction, ("name", name), ("alias", alias));
        var previous = await delete.ExecuteScalarAsync(ct) as int? ?? throw AliasNotFound(alias);
        await TouchModelAsync(transaction, name, now, ct);
        await AnnounceAliasAsync(transaction, http, now, name, alias, null, previous, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<ModelVersionResponse>> GetByAlias(
        [FromQuery(Name = "name")] string? name, [FromQuery(Name = "alias")] string? alias, NpgsqlDataSource db, CancellationToken ct)
    {
        Validate.Required(name, "name");
        Validate.Required(alias, "alias");
        await using var connection = await db.OpenConnectionAsync(ct);
        var found = await LoadVersionsAsync(connection,
            "(v.name, v.version) = (SELECT a.name, a.version FROM registered_model_aliases a WHERE a.name = @name AND a.alias = @alias)",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("alias", alias)], ct);
        return MlflowJson.Ok(new ModelVersionResponse(found.SingleOrDefault() ?? throw AliasNotFound(alias!)));
    }
}
