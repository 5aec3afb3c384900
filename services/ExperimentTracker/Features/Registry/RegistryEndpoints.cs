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

/// <summary>MLflow's model registry: <c>/api/2.0/mlflow/registered-models</c> and <c>/model-versions</c> (create, get, search, delete).</summary>
public static class RegistryEndpoints
{
    private const int SearchMaxResultsDefault = 100;
    private const int SearchMaxResultsLimit = 1000;

    public static RouteGroupBuilder MapRegistryEndpoints(this RouteGroupBuilder mlflow)
    {
        var models = mlflow.MapGroup("/registered-models").WithTags("MLflow model registry");
        models.MapPost("/create", CreateRegisteredModel).Accepts<CreateRegisteredModelRequest>("application/json");
        models.MapGet("/get", GetRegisteredModel);
        models.MapGet("/search", SearchRegisteredModels);
        models.MapDelete("/delete", DeleteRegisteredModel).Accepts<RegisteredModelNameRequest>("application/json");
        var versions = mlflow.MapGroup("/model-versions").WithTags("MLflow model registry");
        versions.MapPost("/create", CreateModelVersion).Accepts<CreateModelVersionRequest>("application/json");
        versions.MapGet("/get", GetModelVersion);
        return models;
    }

    internal static async Task<JsonHttpResult<RegisteredModelResponse>> CreateRegisteredModel(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<CreateRegisteredModelRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var tags = ValidTags(request.Tags);
        var now = Db.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await transaction.ExecuteAsync(
            """
            INSERT INTO registered_models (name, creation_timestamp, last_updated_timestamp, description)
            VALUES (@name, @now, @now, @description) ON CONFLICT (name) DO NOTHING
            """, ct, ("name", name), ("now", now), ("description", request.Description)) == 0)
            throw MlflowException.AlreadyExists($"Registered Model (name={name}) already exists.");
        await InsertTagsAsync(transaction, "registered_model_tags", "name", name, null, tags, ct);
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
        var limit = PageToken.MaxResults(maxResults, SearchMaxResultsDefault, SearchMaxResultsLimit);
        var offset = PageToken.Decode(pageToken);
        var search = SearchSql.CompileRegisteredModels(filter, orderBy);
        await using var connection = await db.OpenConnectionAsync(ct);
        var models = await LoadModelsAsync(connection, $"TRUE{search.Conditions}",
            search.Parameters.Concat([new NpgsqlParameter("limit", limit + 1), new NpgsqlParameter("offset", offset)]), ct,
            search.Joins, search.OrderBy, "LIMIT @limit OFFSET @offset");
        var hasMore = models.Count > limit;
        return MlflowJson.Ok(new SearchRegisteredModelsResponse(models.Take(limit).ToList().NullIfEmpty(), hasMore ? PageToken.Encode(offset + limit) : null));
    }

    /// <summary>MLflow clients send the name in a DELETE body; a query parameter is accepted too.</summary>
    internal static async Task<JsonHttpResult<Empty>> DeleteRegisteredModel(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var name = Validate.Required(http.Query["name"].FirstOrDefault() ?? (await http.ReadBodyAsync<RegisteredModelNameRequest>(ct)).Name, "name");
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var delete = connection.Command("DELETE FROM registered_models WHERE name = @name", null, ("name", name));
        if (await delete.ExecuteNonQueryAsync(ct) == 0)
            throw ModelNotFound(name);
        return MlflowJson.Empty();
    }

    /// <summary>Numbers the version under a lock on its registered model and publishes <see cref="ModelVersionCreated"/> in the same transaction.</summary>
    internal static async Task<JsonHttpResult<ModelVersionResponse>> CreateModelVersion(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<CreateModelVersionRequest>(ct);
        var name = Validate.Required(request.Name, "name");
        var source = Validate.Required(request.Source, "source");
        var tags = ValidTags(request.Tags);
        var now = Db.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var model = connection.Command("SELECT 1 FROM registered_models WHERE name = @name FOR UPDATE", transaction, ("name", name)))
            if (await model.ExecuteScalarAsync(ct) is null)
                throw ModelNotFound(name);
        if (!string.IsNullOrEmpty(request.RunId))
            await RunStore.GetStateAsync(transaction, request.RunId, forUpdate: false, ct);
        int version;
        await using (var insert = connection.Command(
            """
            INSERT INTO model_versions (name, version, creation_timestamp, last_updated_timestamp, description, source, run_id, run_link)
            SELECT @name, coalesce(max(version), 0) + 1, @now, @now, @description, @source, @run, @link FROM model_versions WHERE name = @name
            RETURNING version
            """, transaction, ("name", name), ("now", now), ("description", request.Description), ("source", source),
            ("run", string.IsNullOrEmpty(request.RunId) ? null : request.RunId), ("link", request.RunLink)))
            version = (int)(await insert.ExecuteScalarAsync(ct))!;
        await InsertTagsAsync(transaction, "model_version_tags", "name", name, version, tags, ct);
        await transaction.ExecuteAsync("UPDATE registered_models SET last_updated_timestamp = @now WHERE name = @name", ct, ("now", now), ("name", name));
        await transaction.EnqueueAsync(new ModelVersionCreated(name, version.ToString(), source,
            string.IsNullOrEmpty(request.RunId) ? null : request.RunId, DateTimeOffset.FromUnixTimeMilliseconds(now)), ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(await GetVersionAsync(connection, name, version.ToString(), ct)));
    }

    internal static async Task<JsonHttpResult<ModelVersionResponse>> GetModelVersion(
        [FromQuery(Name = "name")] string? name, [FromQuery(Name = "version")] string? version, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        return MlflowJson.Ok(new ModelVersionResponse(
            await GetVersionAsync(connection, Validate.Required(name, "name"), Validate.Required(version, "version"), ct)));
    }

    private static MlflowException ModelNotFound(string name) => MlflowException.NotFound($"Registered Model with name={name} not found");

    private static List<KeyValue> ValidTags(IReadOnlyList<KeyValue>? tags) =>
        Validate.Items(tags, "tags").Select(t => new KeyValue(Validate.EntityKey(t.Key, "Tag"), Validate.Value(t.Value, "Tag", t.Key!, Validate.MaxExperimentTagValueLength)))
            .GroupBy(t => t.Key).Select(g => g.Last()).ToList();

    private static Task<int> InsertTagsAsync(NpgsqlTransaction transaction, string table, string owner, string name, int? version,
        List<KeyValue> tags, CancellationToken ct) =>
        tags.Count == 0
            ? Task.FromResult(0)
            : transaction.ExecuteAsync(version is null
                ? $"INSERT INTO {table} ({owner}, key, value) SELECT @name, k, v FROM unnest(@keys, @values) AS t(k, v)"
                : $"INSERT INTO {table} ({owner}, version, key, value) SELECT @name, @version, k, v FROM unnest(@keys, @values) AS t(k, v)",
                ct, ("name", name), ("version", version), ("keys", tags.Select(t => t.Key!).ToArray()), ("values", tags.Select(t => t.Value!).ToArray()));

    private static async Task<RegisteredModel> GetModelAsync(NpgsqlConnection connection, string name, CancellationToken ct) =>
        (await LoadModelsAsync(connection, "m.name = @name", [new NpgsqlParameter("name", name)], ct)).SingleOrDefault() ?? throw ModelNotFound(name);

    private static async Task<ModelVersion> GetVersionAsync(NpgsqlConnection connection, string name, string version, CancellationToken ct)
    {
        var found = int.TryParse(version, System.Globalization.NumberStyles.None, null, out var number)
            ? await LoadVersionsAsync(connection, "v.name = @name AND v.version = @version",
                [new NpgsqlParameter("name", name), new NpgsqlParameter("version", number)], ct)
            : [];
        return found.SingleOrDefault() ?? throw MlflowException.NotFound($"Model Version (name={name}, version={version}) not found");
    }

    private static async Task<List<RegisteredModel>> LoadModelsAsync(NpgsqlConnection connection, string where, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct, string joins = "", string orderBy = "m.name", string paging = "")
    {
        var models = await connection.ReadAllAsync(
            $"""
            SELECT m.name, m.creation_timestamp, m.last_updated_timestamp, m.user_id, m.description,
                   {Db.KeyValueArrays("registered_model_tags", "t.name = m.name")}
            FROM registered_models m{joins}
            WHERE {where}
            ORDER BY {orderBy}
            {paging}
            """, parameters,
            reader => new RegisteredModel(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetNullableString(3),
                reader.GetNullableString(4), null, reader.KeyValues(5)), ct);
        if (models.Count == 0)
            return [];
        // MLflow's latest_versions: the newest version in each stage.
        var latest = (await LoadVersionsAsync(connection, "v.name = ANY(@names) AND v.version = (SELECT max(l.version) FROM model_versions l WHERE l.name = v.name AND l.current_stage = v.current_stage)",
            [new NpgsqlParameter("names", models.Select(m => m.Name).ToArray())], ct)).ToLookup(v => v.Name);
        return models.Select(m => m with { LatestVersions = latest[m.Name].ToList().NullIfEmpty() }).ToList();
    }

    private static Task<List<ModelVersion>> LoadVersionsAsync(NpgsqlConnection connection, string where, NpgsqlParameter[] parameters, CancellationToken ct) =>
        connection.ReadAllAsync(
            $"""
            SELECT v.name, v.version, v.creation_timestamp, v.last_updated_timestamp, v.user_id, v.current_stage, v.description, v.source,
                   v.run_id, v.status, v.run_link, {Db.KeyValueArrays("model_version_tags", "t.name = v.name AND t.version = v.version")}
            FROM model_versions v
            WHERE {where}
            ORDER BY v.name, v.version
            """, parameters,
            reader => new ModelVersion(reader.GetString(0), reader.GetInt32(1).ToString(), reader.GetInt64(2), reader.GetInt64(3),
                reader.GetNullableString(4), reader.GetString(5), reader.GetNullableString(6), reader.GetString(7), reader.GetNullableString(8),
                reader.GetString(9), reader.GetNullableString(10), reader.KeyValues(11)), ct);
}
