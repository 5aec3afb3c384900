using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Features.Runs;
using Mlops.ExperimentTracker.Features.Search;
using Mlops.ExperimentTracker.Mlflow;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Registry;

/// <summary>
/// MLflow's model registry: <c>/api/2.0/mlflow/registered-models/...</c> and <c>/model-versions/...</c>. Every change is
/// written to the audit trail in its transaction; stage and alias changes also publish events through the outbox.
/// </summary>
public static partial class RegistryEndpoints
{
    public static readonly string[] Stages = ["None", "Staging", "Production", "Archived"];
    private const int ModelSearchDefault = 100;
    private const int ModelSearchLimit = 1000;
    private const int VersionSearchDefault = 10000;
    private const int VersionSearchLimit = 200000;
    private const int MaxAliasLength = 255;

    public static RouteGroupBuilder MapRegistryEndpoints(this RouteGroupBuilder mlflow)
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

        var versions = mlflow.MapGroup("/model-versions").WithTags("MLflow model registry");
        versions.MapPost("/create", CreateModelVersion).Accepts<CreateModelVersionRequest>("application/json");
        versions.MapGet("/get", GetModelVersion);
        versions.MapPatch("/update", UpdateModelVersion).Accepts<UpdateModelVersionRequest>("application/json");
        versions.MapDelete("/delete", DeleteModelVersion);
        versions.MapGet("/search", SearchModelVersions);
        versions.MapPost("/transition-stage", TransitionStage).Accepts<TransitionStageRequest>("application/json");
        versions.MapGet("/get-download-uri", GetDownloadUri);
        versions.MapPost("/set-tag", SetVersionTag).Accepts<ModelVersionTagRequest>("application/json");
        versions.MapDelete("/delete-tag", DeleteVersionTag);
        return models;
    }

    // ---- registered models -------------------------------------------------------------------------------------

    internal static async Task<JsonHttpResult<RegisteredModelResponse>> CreateRegisteredModel(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<CreateRegisteredModelRequest>(ct);
        var name = ModelName(request.Name);
        var tags = ValidTags(request.Tags);
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
        var aliases = await connection.ReadAllAsync("SELECT alias, version FROM registered_model_aliases WHERE name = @name",
            [new NpgsqlParameter("name", name)], r => (Alias: r.GetString(0), Version: r.GetInt32(1)), ct, transaction);
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
        var latest = await LoadVersionsAsync(connection,
            """
            v.name = @name AND (cardinality(@stages) = 0 OR v.current_stage = ANY(@stages))
            AND v.version = (SELECT max(l.version) FROM model_versions l WHERE l.name = v.name AND l.current_stage = v.current_stage)
            """, [new NpgsqlParameter("name", name), new NpgsqlParameter("stages", stages)], ct);
        return MlflowJson.Ok(new ModelVersionsResponse(latest.NullIfEmpty()));
    }

    internal static async Task<JsonHttpResult<Empty>> SetModelTag(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<RegisteredModelTagRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var tag = ValidTags([new KeyValue(request.Key, request.Value)])[0];
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
        var previous = await delete.ExecuteScalarAsync(ct) as int?
            ?? throw MlflowException.NotFound($"Registered model alias {alias} not found.");
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
        return MlflowJson.Ok(new ModelVersionResponse(found.SingleOrDefault()
            ?? throw MlflowException.NotFound($"Registered model alias {alias} not found.")));
    }

    // ---- model versions ----------------------------------------------------------------------------------------

    /// <summary>Numbers the version under a lock on its registered model and publishes <see cref="ModelVersionCreated"/> in the same transaction.</summary>
    internal static async Task<JsonHttpResult<ModelVersionResponse>> CreateModelVersion(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<CreateModelVersionRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var source = Validate.Required(request.Source, "source");
        var tags = ValidTags(request.Tags);
        var runId = string.IsNullOrEmpty(request.RunId) ? null : request.RunId;
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        if (runId is not null)
            await RunStore.GetStateAsync(transaction, runId, forUpdate: false, ct);
        int version;
        await using (var insert = connection.Command(
            """
            INSERT INTO model_versions (name, version, creation_timestamp, last_updated_timestamp, description, source, run_id, run_link)
            SELECT @name, coalesce(max(version), 0) + 1, @now, @now, @description, @source, @run, @link FROM model_versions WHERE name = @name
            RETURNING version
            """, transaction, ("name", name), ("now", now), ("description", request.Description), ("source", source),
            ("run", runId), ("link", request.RunLink)))
            version = (int)(await insert.ExecuteScalarAsync(ct))!;
        await InsertTagsAsync(transaction, "model_version_tags", name, version, tags, ct);
        await TouchModelAsync(transaction, name, now, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "create_model_version", name, version, new { source, run_id = runId }, ct);
        await transaction.EnqueueAsync(new ModelVersionCreated(name, version.ToString(), source, runId, DateTimeOffset.FromUnixTimeMilliseconds(now)), ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, name, version, ct)));
    }

    internal static async Task<JsonHttpResult<ModelVersionResponse>> GetModelVersion(
        [FromQuery(Name = "name")] string? name, [FromQuery(Name = "version")] string? version, NpgsqlDataSource db, CancellationToken ct)
    {
        var model = Validate.Required(name, "name");
        var number = VersionNumber(model, Validate.Required(version, "version"));
        await using var connection = await db.OpenConnectionAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, model, number, ct)));
    }

    internal static async Task<JsonHttpResult<ModelVersionResponse>> UpdateModelVersion(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<UpdateModelVersionRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await transaction.ExecuteAsync(
            "UPDATE model_versions SET description = @description, last_updated_timestamp = @now WHERE name = @name AND version = @version", ct,
            ("description", request.Description), ("now", now), ("name", name), ("version", version)) == 0)
            throw VersionNotFound(name, version);
        await RegistryAudit.RecordAsync(transaction, http, now, "update_model_version", name, version, new { description = request.Description }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, name, version, ct)));
    }

    /// <summary>Deletes the version (its artifacts stay with the run that made them); aliases on it go too, and are announced.</summary>
    internal static async Task<JsonHttpResult<Empty>> DeleteModelVersion(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyOrQueryAsync<ModelVersionRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        var aliases = await connection.ReadAllAsync("SELECT alias FROM registered_model_aliases WHERE name = @name AND version = @version",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", version)], r => r.GetString(0), ct, transaction);
        if (await transaction.ExecuteAsync("DELETE FROM model_versions WHERE name = @name AND version = @version", ct,
            ("name", name), ("version", version)) == 0)
            throw VersionNotFound(name, version);
        foreach (var alias in aliases)
            await AnnounceAliasAsync(transaction, http, now, name, alias, null, version, ct);
        await TouchModelAsync(transaction, name, now, ct);
        await RegistryAudit.RecordAsync(transaction, http, now, "delete_model_version", name, version, new { }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<SearchModelVersionsResponse>> SearchModelVersions(
        [FromQuery(Name = "filter")] string? filter, [FromQuery(Name = "max_results")] long? maxResults,
        [FromQuery(Name = "order_by")] string[]? orderBy, [FromQuery(Name = "page_token")] string? pageToken,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var limit = PageToken.MaxResults(maxResults, VersionSearchDefault, VersionSearchLimit);
        var offset = PageToken.Decode(pageToken);
        var search = SearchSql.CompileModelVersions(filter, orderBy);
        await using var connection = await db.OpenConnectionAsync(ct);
        var versions = await LoadVersionsAsync(connection, $"TRUE{search.Conditions}",
            search.Parameters.Concat([new NpgsqlParameter("limit", limit + 1), new NpgsqlParameter("offset", offset)]), ct,
            search.Joins, search.OrderBy, "LIMIT @limit OFFSET @offset");
        var (page, next) = PageToken.Slice(versions, limit, offset);
        return MlflowJson.Ok(new SearchModelVersionsResponse(page, next));
    }

    /// <summary>
    /// Moves a version to another stage; with <c>archive_existing_versions</c> (Staging or Production only) the other
    /// versions in that stage move to Archived. Publishes <see cref="ModelVersionStageChanged"/>.
    /// </summary>
    internal static async Task<JsonHttpResult<ModelVersionResponse>> TransitionStage(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<TransitionStageRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var stage = CanonicalStage(Validate.Required(request.Stage, "stage"), "stage");
        var archiveOthers = request.ArchiveExistingVersions ?? false;
        if (archiveOthers && stage is not ("Staging" or "Production"))
            throw MlflowException.Invalid($"Model version transition cannot archive existing model versions because '{stage}' is not an Active stage. Valid stages are Staging, Production.");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await LockModelAsync(transaction, name, ct);
        await using var select = connection.Command("SELECT current_stage FROM model_versions WHERE name = @name AND version = @version",
            transaction, ("name", name), ("version", version));
        var from = await select.ExecuteScalarAsync(ct) as string ?? throw VersionNotFound(name, version);
        await transaction.ExecuteAsync(
            "UPDATE model_versions SET current_stage = @stage, last_updated_timestamp = @now WHERE name = @name AND version = @version", ct,
            ("stage", stage), ("now", now), ("name", name), ("version", version));
        var archived = archiveOthers
            ? await connection.ReadAllAsync(
                """
                UPDATE model_versions SET current_stage = 'Archived', last_updated_timestamp = @now
                WHERE name = @name AND version <> @version AND current_stage = @stage RETURNING version
                """, [new NpgsqlParameter("now", now), new NpgsqlParameter("name", name), new NpgsqlParameter("version", version),
                    new NpgsqlParameter("stage", stage)], r => r.GetInt32(0).ToString(), ct, transaction)
            : [];
        await TouchModelAsync(transaction, name, now, ct);
        var actor = RegistryAudit.Actor(http);
        await RegistryAudit.RecordAsync(transaction, http, now, "transition_stage", name, version,
            new { from, to = stage, archived_versions = archived }, ct);
        await transaction.EnqueueAsync(new ModelVersionStageChanged(name, version.ToString(), from, stage, archived, actor,
            DateTimeOffset.FromUnixTimeMilliseconds(now)), ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, name, version, ct)));
    }

    /// <summary>Where the version's files are: its source, with a <c>runs:/&lt;run&gt;/path</c> source resolved to the run's artifacts.</summary>
    internal static async Task<JsonHttpResult<DownloadUriResponse>> GetDownloadUri(
        [FromQuery(Name = "name")] string? name, [FromQuery(Name = "version")] string? version, NpgsqlDataSource db, CancellationToken ct)
    {
        var model = Validate.Required(name, "name");
        var number = VersionNumber(model, Validate.Required(version, "version"));
        await using var connection = await db.OpenConnectionAsync(ct);
        var found = await GetVersionAsync(connection, model, number, ct);
        var match = RunsUri().Match(found.Source);
        if (!match.Success)
            return MlflowJson.Ok(new DownloadUriResponse(found.Source));
        await using var select = connection.Command("SELECT artifact_uri FROM runs WHERE run_id = @id", null, ("id", match.Groups[1].Value));
        var root = await select.ExecuteScalarAsync(ct) as string ?? throw RunStore.NotFound(match.Groups[1].Value);
        var path = match.Groups[2].Value.Trim('/');
        return MlflowJson.Ok(new DownloadUriResponse(path.Length == 0 ? root : $"{root.TrimEnd('/')}/{path}"));
    }

    internal static async Task<JsonHttpResult<Empty>> SetVersionTag(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyAsync<ModelVersionTagRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var tag = ValidTags([new KeyValue(request.Key, request.Value)])[0];
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await EnsureVersionAsync(transaction, name, version, ct);
        await transaction.ExecuteAsync(
            """
            INSERT INTO model_version_tags (name, version, key, value) VALUES (@name, @version, @key, @value)
            ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value
            """, ct, ("name", name), ("version", version), ("key", tag.Key), ("value", tag.Value));
        await RegistryAudit.RecordAsync(transaction, http, now, "set_model_version_tag", name, version, new { key = tag.Key, value = tag.Value }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> DeleteVersionTag(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.Request.ReadBodyOrQueryAsync<ModelVersionTagRequest>(ct);
        var (name, version) = VersionKey(request.Name, request.Version);
        var key = Validate.Required(request.Key, "key");
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await EnsureVersionAsync(transaction, name, version, ct);
        if (await transaction.ExecuteAsync("DELETE FROM model_version_tags WHERE name = @name AND version = @version AND key = @key", ct,
            ("name", name), ("version", version), ("key", key)) == 0)
            throw MlflowException.NotFound($"No tag with name: {key} in model version (name={name}, version={version})");
        await RegistryAudit.RecordAsync(transaction, http, now, "delete_model_version_tag", name, version, new { key }, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static MlflowException ModelNotFound(string name) => MlflowException.NotFound($"Registered Model with name={name} not found");

    private static MlflowException VersionNotFound(string name, int version) =>
        MlflowException.NotFound($"Model Version (name={name}, version={version}) not found");

    private static string ModelName(string? name, string parameter = "name")
    {
        Validate.Required(name, parameter);
        if (name!.Length > Validate.MaxEntityKeyLength)
            throw MlflowException.Invalid($"Registered model name is {name.Length} characters; at most {Validate.MaxEntityKeyLength} are allowed.");
        if (name.Any(char.IsControl) || name.Contains('/'))
            throw MlflowException.Invalid($"Invalid registered model name '{name}': it must not contain '/' or control characters.");
        return name;
    }

    /// <summary>MLflow's alias rules: a key-like name, not <c>latest</c> and not of the form <c>v&lt;number&gt;</c> (both are reserved).</summary>
    private static string AliasName(string? alias)
    {
        Validate.Required(alias, "alias");
        if (alias!.Length > MaxAliasLength)
            throw MlflowException.Invalid($"Alias is {alias.Length} characters; at most {MaxAliasLength} are allowed.");
        if (!AliasPattern().IsMatch(alias))
            throw MlflowException.Invalid($"Invalid alias name '{alias}': use letters, digits, '_' and '-'.");
        if (alias.Equals("latest", StringComparison.OrdinalIgnoreCase) || ReservedVersionAlias().IsMatch(alias))
            throw MlflowException.Invalid($"'{alias}' is reserved and cannot be used as an alias.");
        return alias;
    }

    private static int VersionNumber(string name, string version) =>
        int.TryParse(version, System.Globalization.NumberStyles.None, null, out var number) && number > 0
            ? number
            : throw MlflowException.Invalid($"Invalid model version '{version}' for model {name}: versions are positive integers.");

    private static (string Name, int Version) VersionKey(string? name, string? version)
    {
        var model = Validate.Required(name, "name");
        return (model, VersionNumber(model, Validate.Required(version, "version")));
    }

    private static string CanonicalStage(string stage, string parameter) =>
        Stages.FirstOrDefault(s => s.Equals(stage, StringComparison.OrdinalIgnoreCase))
        ?? throw MlflowException.Invalid($"Invalid Model Version stage: {stage} in '{parameter}'. Value must be one of {string.Join(", ", Stages)}.");

    private static List<KeyValue> ValidTags(IReadOnlyList<KeyValue>? tags) =>
        Validate.Items(tags, "tags").Select(t => new KeyValue(Validate.EntityKey(t.Key, "Tag"), Validate.Value(t.Value, "Tag", t.Key!, Validate.MaxExperimentTagValueLength)))
            .GroupBy(t => t.Key).Select(g => g.Last()).ToList();

    private static async Task LockModelAsync(NpgsqlTransaction transaction, string name, CancellationToken ct)
    {
        await using var model = transaction.Connection!.Command("SELECT 1 FROM registered_models WHERE name = @name FOR UPDATE", transaction, ("name", name));
        if (await model.ExecuteScalarAsync(ct) is null)
            throw ModelNotFound(name);
    }

    private static async Task EnsureVersionAsync(NpgsqlTransaction transaction, string name, int version, CancellationToken ct)
    {
        await using var select = transaction.Connection!.Command("SELECT 1 FROM model_versions WHERE name = @name AND version = @version FOR SHARE",
            transaction, ("name", name), ("version", version));
        if (await select.ExecuteScalarAsync(ct) is null)
            throw VersionNotFound(name, version);
    }

    private static Task<int> TouchModelAsync(NpgsqlTransaction transaction, string name, long now, CancellationToken ct) =>
        transaction.ExecuteAsync("UPDATE registered_models SET last_updated_timestamp = @now WHERE name = @name", ct, ("now", now), ("name", name));

    private static async Task AnnounceAliasAsync(NpgsqlTransaction transaction, HttpContext http, long now, string name, string alias,
        int? version, int? previous, CancellationToken ct)
    {
        await RegistryAudit.RecordAsync(transaction, http, now, version is null ? "delete_alias" : "set_alias", name, version ?? previous,
            new { alias, version = version?.ToString(), previous_version = previous?.ToString() }, ct);
        await transaction.EnqueueAsync(new ModelAliasChanged(name, alias, version?.ToString(), previous?.ToString(), RegistryAudit.Actor(http),
            DateTimeOffset.FromUnixTimeMilliseconds(now)), ct);
    }

    private static Task<int> InsertTagsAsync(NpgsqlTransaction transaction, string table, string name, int? version,
        List<KeyValue> tags, CancellationToken ct) =>
        tags.Count == 0
            ? Task.FromResult(0)
            : transaction.ExecuteAsync(version is null
                ? $"INSERT INTO {table} (name, key, value) SELECT @name, k, v FROM unnest(@keys, @values) AS t(k, v)"
                : $"INSERT INTO {table} (name, version, key, value) SELECT @name, @version, k, v FROM unnest(@keys, @values) AS t(k, v)",
                ct, ("name", name), ("version", version), ("keys", tags.Select(t => t.Key!).ToArray()), ("values", tags.Select(t => t.Value!).ToArray()));

    private static async Task<RegisteredModel> GetModelAsync(NpgsqlConnection connection, string name, CancellationToken ct) =>
        (await LoadModelsAsync(connection, "m.name = @name", [new NpgsqlParameter("name", name)], ct)).SingleOrDefault() ?? throw ModelNotFound(name);

    private static async Task<ModelVersion> GetVersionAsync(NpgsqlConnection connection, string name, int version, CancellationToken ct) =>
        (await LoadVersionsAsync(connection, "v.name = @name AND v.version = @version",
            [new NpgsqlParameter("name", name), new NpgsqlParameter("version", version)], ct)).SingleOrDefault()
        ?? throw VersionNotFound(name, version);

    private static async Task<List<RegisteredModel>> LoadModelsAsync(NpgsqlConnection connection, string where, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct, string joins = "", string orderBy = "m.name", string paging = "")
    {
        var models = await connection.ReadAllAsync(
            $"""
            SELECT m.name, m.creation_timestamp, m.last_updated_timestamp, m.user_id, m.description,
                   {TrackerSql.KeyValueArrays("registered_model_tags", "t.name = m.name")},
                   (SELECT coalesce(array_agg(a.alias ORDER BY a.alias), ARRAY[]::text[]) FROM registered_model_aliases a WHERE a.name = m.name),
                   (SELECT coalesce(array_agg(a.version ORDER BY a.alias), ARRAY[]::integer[]) FROM registered_model_aliases a WHERE a.name = m.name)
            FROM registered_models m{joins}
            WHERE {where}
            ORDER BY {orderBy}
            {paging}
            """, parameters,
            reader => new RegisteredModel(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetNullableString(3),
                reader.GetNullableString(4), null, reader.KeyValues(5),
                reader.GetFieldValue<string[]>(7).Zip(reader.GetFieldValue<int[]>(8), (a, v) => new RegisteredModelAlias(a, v.ToString())).ToList().NullIfEmpty()),
            ct);
        if (models.Count == 0)
            return [];
        // MLflow's latest_versions: the newest version in each stage.
        var latest = (await LoadVersionsAsync(connection, "v.name = ANY(@names) AND v.version = (SELECT max(l.version) FROM model_versions l WHERE l.name = v.name AND l.current_stage = v.current_stage)",
            [new NpgsqlParameter("names", models.Select(m => m.Name).ToArray())], ct)).ToLookup(v => v.Name);
        return models.Select(m => m with { LatestVersions = latest[m.Name].ToList().NullIfEmpty() }).ToList();
    }

    private static Task<List<ModelVersion>> LoadVersionsAsync(NpgsqlConnection connection, string where, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct, string joins = "", string orderBy = "v.name, v.version", string paging = "") =>
        connection.ReadAllAsync(
            $"""
            SELECT v.name, v.version, v.creation_timestamp, v.last_updated_timestamp, v.user_id, v.current_stage, v.description, v.source,
                   v.run_id, v.status, v.run_link, {TrackerSql.KeyValueArrays("model_version_tags", "t.name = v.name AND t.version = v.version")},
                   (SELECT coalesce(array_agg(a.alias ORDER BY a.alias), ARRAY[]::text[]) FROM registered_model_aliases a WHERE a.name = v.name AND a.version = v.version)
            FROM model_versions v{joins}
            WHERE {where}
            ORDER BY {orderBy}
            {paging}
            """, parameters,
            reader => new ModelVersion(reader.GetString(0), reader.GetInt32(1).ToString(), reader.GetInt64(2), reader.GetInt64(3),
                reader.GetNullableString(4), reader.GetString(5), reader.GetNullableString(6), reader.GetString(7), reader.GetNullableString(8),
                reader.GetString(9), reader.GetNullableString(10), reader.KeyValues(11), reader.GetFieldValue<string[]>(13).ToList().NullIfEmpty()), ct);

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex("^[vV][0-9]+$")]
    private static partial Regex ReservedVersionAlias();

    [GeneratedRegex("^runs:/([0-9a-f]{32})(/.*)?$")]
    private static partial Regex RunsUri();
}
