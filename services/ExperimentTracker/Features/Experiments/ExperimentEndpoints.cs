using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Search;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Experiments;

/// <summary>MLflow's experiments API under <c>/api/2.0/mlflow/experiments</c>.</summary>
public static class ExperimentEndpoints
{
    public const string DefaultExperimentId = "0";
    private const int SearchMaxResultsDefault = 1000;
    private const int SearchMaxResultsLimit = 50000;

    public static RouteGroupBuilder MapExperimentEndpoints(this RouteGroupBuilder mlflow)
    {
        var group = mlflow.MapGroup("/experiments").WithTags("MLflow experiments");
        group.MapPost("/create", CreateExperiment).Accepts<CreateExperimentRequest>("application/json");
        group.MapGet("/get", GetExperiment);
        group.MapGet("/get-by-name", GetExperimentByName);
        group.MapPost("/search", SearchExperiments).Accepts<SearchExperimentsRequest>("application/json");
        group.MapGet("/search", SearchExperimentsByQuery);
        group.MapPost("/update", UpdateExperiment).Accepts<UpdateExperimentRequest>("application/json");
        group.MapPost("/delete", DeleteExperiment).Accepts<ExperimentIdRequest>("application/json");
        group.MapPost("/restore", RestoreExperiment).Accepts<ExperimentIdRequest>("application/json");
        group.MapPost("/set-experiment-tag", SetExperimentTag).Accepts<SetExperimentTagRequest>("application/json");
        return group;
    }

    internal static async Task<JsonHttpResult<CreateExperimentResponse>> CreateExperiment(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<CreateExperimentRequest>(ct);
        var name = Validate.Name(request.Name, "name", "Experiment name", Validate.MaxExperimentNameLength);
        var tags = ValidTags(Validate.Items(request.Tags, "tags"));
        var now = TrackerSql.NowMs();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        long id;
        await using (var insert = connection.Command(
            """
            INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) VALUES (@name, '', @now, @now)
            ON CONFLICT (name) DO NOTHING RETURNING experiment_id
            """, transaction, ("name", name), ("now", now)))
            id = await insert.ExecuteScalarAsync(ct) as long? ?? throw MlflowException.AlreadyExists($"Experiment(name={name}) already exists.");
        // Artifacts are served through the tracker (mlflow-artifacts:), so clients never need the bucket's credentials.
        await transaction.ExecuteAsync("UPDATE experiments SET artifact_location = @location WHERE experiment_id = @id", ct,
            ("location", string.IsNullOrEmpty(request.ArtifactLocation) ? $"mlflow-artifacts:/{id}" : request.ArtifactLocation), ("id", id));
        foreach (var (key, value) in tags)
            await UpsertTagAsync(transaction, id, key, value, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new CreateExperimentResponse(id.ToString()));
    }

    internal static async Task<JsonHttpResult<GetExperimentResponse>> GetExperiment(
        [FromQuery(Name = "experiment_id")] string? experimentId, NpgsqlDataSource db, CancellationToken ct)
    {
        var id = ParseId(experimentId);
        await using var connection = await db.OpenConnectionAsync(ct);
        var experiments = await LoadAsync(connection, "e.experiment_id = @id", [new NpgsqlParameter("id", id)], ct);
        return MlflowJson.Ok(new GetExperimentResponse(experiments.SingleOrDefault() ?? throw NotFound(experimentId!)));
    }

    internal static async Task<JsonHttpResult<GetExperimentResponse>> GetExperimentByName(
        [FromQuery(Name = "experiment_name")] string? experimentName, NpgsqlDataSource db, CancellationToken ct)
    {
        var name = Validate.Required(experimentName, "experiment_name");
        await using var connection = await db.OpenConnectionAsync(ct);
        var experiments = await LoadAsync(connection, "e.name = @name", [new NpgsqlParameter("name", name)], ct);
        return MlflowJson.Ok(new GetExperimentResponse(experiments.SingleOrDefault()
            ?? throw MlflowException.NotFound($"Could not find experiment with name '{name}'")));
    }

    internal static async Task<JsonHttpResult<SearchExperimentsResponse>> SearchExperiments(HttpRequest http, NpgsqlDataSource db, CancellationToken ct) =>
        await SearchAsync(await http.ReadBodyAsync<SearchExperimentsRequest>(ct), db, ct);

    internal static Task<JsonHttpResult<SearchExperimentsResponse>> SearchExperimentsByQuery(
        [FromQuery(Name = "max_results")] long? maxResults, [FromQuery(Name = "page_token")] string? pageToken,
        [FromQuery(Name = "filter")] string? filter, [FromQuery(Name = "order_by")] string[]? orderBy,
        [FromQuery(Name = "view_type")] string? viewType, NpgsqlDataSource db, CancellationToken ct) =>
        SearchAsync(new SearchExperimentsRequest(maxResults, pageToken, filter, orderBy, viewType), db, ct);

    private static async Task<JsonHttpResult<SearchExperimentsResponse>> SearchAsync(SearchExperimentsRequest request, NpgsqlDataSource db, CancellationToken ct)
    {
        var maxResults = PageToken.MaxResults(request.MaxResults, SearchMaxResultsDefault, SearchMaxResultsLimit);
        var offset = PageToken.Decode(request.PageToken);
        var stages = ViewType.LifecycleStages(request.ViewType, "view_type");
        var search = SearchSql.CompileExperiments(request.Filter, request.OrderBy);
        var parameters = search.Parameters.Append(new NpgsqlParameter("stages", stages))
            .Append(new NpgsqlParameter("limit", maxResults + 1)).Append(new NpgsqlParameter("offset", offset)).ToList();
        await using var connection = await db.OpenConnectionAsync(ct);
        var experiments = await LoadAsync(connection,
            $"e.lifecycle_stage = ANY(@stages){search.Conditions}", parameters, ct,
            joins: search.Joins, orderBy: search.OrderBy, paging: "LIMIT @limit OFFSET @offset");
        var (page, next) = PageToken.Slice(experiments, maxResults, offset);
        return MlflowJson.Ok(new SearchExperimentsResponse(page, next));
    }

    internal static async Task<JsonHttpResult<Empty>> UpdateExperiment(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<UpdateExperimentRequest>(ct);
        var id = ParseId(request.ExperimentId);
        var newName = Validate.Name(request.NewName, "new_name", "Experiment name", Validate.MaxExperimentNameLength);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var stage = await LockAsync(transaction, id, request.ExperimentId!, ct);
        if (stage != "active")
            throw MlflowException.Invalid("Cannot rename a non-active experiment.");
        try
        {
            await transaction.ExecuteAsync("UPDATE experiments SET name = @name, last_update_time = @now WHERE experiment_id = @id", ct,
                ("name", newName), ("now", TrackerSql.NowMs()), ("id", id));
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            throw MlflowException.AlreadyExists($"Experiment(name={newName}) already exists.");
        }
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static Task<JsonHttpResult<Empty>> DeleteExperiment(HttpRequest http, NpgsqlDataSource db, CancellationToken ct) =>
        SetLifecycleStageAsync(http, db, "deleted", ct);

    internal static Task<JsonHttpResult<Empty>> RestoreExperiment(HttpRequest http, NpgsqlDataSource db, CancellationToken ct) =>
        SetLifecycleStageAsync(http, db, "active", ct);

    private static async Task<JsonHttpResult<Empty>> SetLifecycleStageAsync(HttpRequest http, NpgsqlDataSource db, string stage, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<ExperimentIdRequest>(ct);
        var id = ParseId(request.ExperimentId);
        if (stage == "deleted" && request.ExperimentId == DefaultExperimentId)
            throw MlflowException.Invalid($"Cannot delete the default experiment '{DefaultExperimentId}'. This is an internally reserved experiment.");
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await LockAsync(transaction, id, request.ExperimentId!, ct) == stage)
            throw MlflowException.Invalid(stage == "deleted" ? $"The experiment {id} is already deleted." : $"Cannot restore an active experiment ({id}).");
        // As in MLflow, the experiment's runs go with it; a restore brings back exactly the runs deleted with it (their
        // deleted_time is the experiment's deletion time, which nothing else changes while it is deleted), not the
        // runs deleted on their own before.
        var now = TrackerSql.NowMs();
        if (stage == "deleted")
        {
            // Strictly after any run deleted on its own, even within the same millisecond, so the marker is unambiguous.
            await using var after = connection.Command("SELECT greatest(@now, coalesce(max(deleted_time) + 1, 0)) FROM runs WHERE experiment_id = @id",
                transaction, ("now", now), ("id", id));
            now = (long)(await after.ExecuteScalarAsync(ct))!;
        }
        await transaction.ExecuteAsync(stage == "deleted"
            ? "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = @now WHERE experiment_id = @id AND lifecycle_stage = 'active'"
            : """
              UPDATE runs r SET lifecycle_stage = 'active', deleted_time = NULL FROM experiments e
              WHERE e.experiment_id = @id AND r.experiment_id = e.experiment_id AND r.deleted_time = e.last_update_time
              """, ct, ("now", now), ("id", id));
        await transaction.ExecuteAsync("UPDATE experiments SET lifecycle_stage = @stage, last_update_time = @now WHERE experiment_id = @id", ct,
            ("stage", stage), ("now", now), ("id", id));
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> SetExperimentTag(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<SetExperimentTagRequest>(ct);
        var id = ParseId(request.ExperimentId);
        var (key, value) = ValidTags([new KeyValue(request.Key, request.Value)]).Single();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        if (await LockAsync(transaction, id, request.ExperimentId!, ct) != "active")
            throw MlflowException.Invalid($"The experiment {id} must be in the 'active' state. Current state is deleted.");
        await UpsertTagAsync(transaction, id, key, value, ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    /// <summary>Experiment ids are integers; anything else names no experiment.</summary>
    public static long ParseId(string? experimentId)
    {
        Validate.Required(experimentId, "experiment_id");
        return long.TryParse(experimentId, System.Globalization.NumberStyles.None, null, out var id) ? id : throw NotFound(experimentId!);
    }

    public static MlflowException NotFound(string experimentId) => MlflowException.NotFound($"No Experiment with id={experimentId} exists");

    /// <summary>Locks the experiment row for the rest of the transaction and returns its lifecycle stage.</summary>
    public static async Task<string> LockAsync(NpgsqlTransaction transaction, long id, string experimentId, CancellationToken ct)
    {
        await using var select = transaction.Connection!.Command("SELECT lifecycle_stage FROM experiments WHERE experiment_id = @id FOR UPDATE",
            transaction, ("id", id));
        return await select.ExecuteScalarAsync(ct) as string ?? throw NotFound(experimentId);
    }

    private static List<(string Key, string Value)> ValidTags(IReadOnlyList<KeyValue> tags) =>
        tags.Select(t => (Key: Validate.EntityKey(t.Key, "Tag"), Value: Validate.Value(t.Value, "Tag", t.Key!, Validate.MaxExperimentTagValueLength)))
            .ToList();

    private static Task<int> UpsertTagAsync(NpgsqlTransaction transaction, long id, string key, string value, CancellationToken ct) =>
        transaction.ExecuteAsync(
            """
            INSERT INTO experiment_tags (experiment_id, key, value) VALUES (@id, @key, @value)
            ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value
            """, ct, ("id", id), ("key", key), ("value", value));

    private static Task<List<Experiment>> LoadAsync(NpgsqlConnection connection, string where, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct, string joins = "", string orderBy = "e.experiment_id", string paging = "") =>
        connection.ReadAllAsync(
            $"""
            SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.last_update_time, e.creation_time,
                   {TrackerSql.KeyValueArrays("experiment_tags", "t.experiment_id = e.experiment_id")}
            FROM experiments e{joins}
            WHERE {where}
            ORDER BY {orderBy}
            {paging}
            """, parameters,
            reader => new Experiment(reader.GetInt64(0).ToString(), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetInt64(4), reader.GetInt64(5), reader.KeyValues(6)), ct);
}
