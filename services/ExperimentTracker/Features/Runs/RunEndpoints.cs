using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Features.Search;
using Mlops.ExperimentTracker.Mlflow;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Runs;

/// <summary>MLflow's runs API under <c>/api/2.0/mlflow/runs</c> and <c>/metrics</c>.</summary>
public static class RunEndpoints
{
    private const int SearchMaxResultsDefault = 1000;
    private const int SearchMaxResultsLimit = 50000;
    private const int HistoryMaxResultsDefault = 25000;
    private const int HistoryMaxResultsLimit = 25000;
    private static readonly string[] Statuses = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];
    private static readonly string[] TerminalStatuses = ["FINISHED", "FAILED", "KILLED"];

    public static RouteGroupBuilder MapRunEndpoints(this RouteGroupBuilder mlflow)
    {
        var runs = mlflow.MapGroup("/runs").WithTags("MLflow runs");
        runs.MapPost("/create", CreateRun).Accepts<CreateRunRequest>("application/json");
        runs.MapGet("/get", GetRun);
        runs.MapPost("/update", UpdateRun).Accepts<UpdateRunRequest>("application/json");
        runs.MapPost("/delete", DeleteRun).Accepts<RunIdRequest>("application/json");
        runs.MapPost("/restore", RestoreRun).Accepts<RunIdRequest>("application/json");
        runs.MapPost("/search", SearchRuns).Accepts<SearchRunsRequest>("application/json");
        runs.MapPost("/log-metric", LogMetric).Accepts<LogMetricRequest>("application/json");
        runs.MapPost("/log-parameter", LogParameter).Accepts<LogParamRequest>("application/json");
        runs.MapPost("/log-batch", LogBatch).Accepts<LogBatchRequest>("application/json");
        runs.MapPost("/set-tag", SetTag).Accepts<SetTagRequest>("application/json");
        runs.MapPost("/delete-tag", DeleteTag).Accepts<DeleteTagRequest>("application/json");
        mlflow.MapGet("/metrics/get-history", GetMetricHistory).WithTags("MLflow runs");
        return runs;
    }

    internal static async Task<JsonHttpResult<RunResponse>> CreateRun(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<CreateRunRequest>(ct);
        var experimentId = ExperimentEndpoints.ParseId(request.ExperimentId);
        var tags = Validate.Items(request.Tags, "tags").ToList();
        RunLogging.CheckLimits(0, 0, tags.Count);
        var runName = Validate.Length(ResolveRunName(request.RunName, tags), "Run name", Validate.MaxTagValueLength);
        tags.RemoveAll(t => t.Key == RunStore.RunNameTag);
        tags.Add(new KeyValue(RunStore.RunNameTag, runName));
        foreach (var tag in tags)
            Validate.Value(tag.Value, "Tag", Validate.EntityKey(tag.Key, "Tag"), Validate.MaxTagValueLength);

        var runId = Guid.NewGuid().ToString("N");
        var userId = request.UserId ?? "";
        var startTime = request.StartTime ?? TrackerSql.NowMs();
        var uniqueTags = tags.GroupBy(t => t.Key).Select(g => g.Last()).ToList();
        await using var connection = await db.OpenConnectionAsync(ct);
        // One round trip, one implicit transaction: the run goes only into an active experiment (locked against a
        // concurrent delete, which would miss the new run), its tags only where the run went; the answer is built from
        // what was written (a new run has no metrics or params), tags in the order a read returns them.
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Db.BatchCommand(
                    """
                    INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, artifact_uri)
                    SELECT @id, e.experiment_id, @name, @user, 'RUNNING', @start, rtrim(e.artifact_location, '/') || '/' || @id || '/artifacts'
                    FROM experiments e WHERE e.experiment_id = @experiment AND e.lifecycle_stage = 'active' FOR SHARE
                    RETURNING artifact_uri
                    """, ("id", runId), ("experiment", experimentId), ("name", runName), ("user", userId), ("start", startTime)),
                Db.BatchCommand(
                    """
                    WITH written AS (
                        INSERT INTO tags (run_id, key, value)
                        SELECT @run, k, v FROM unnest(@keys, @values) AS t(k, v) WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = @run)
                        RETURNING key, value)
                    SELECT key, value FROM written ORDER BY key
                    """, ("run", runId), ("keys", uniqueTags.Select(t => t.Key!).ToArray()), ("values", uniqueTags.Select(t => t.Value!).ToArray())),
            },
        };
        await batch.PrepareAsync(ct);
        string? artifactUri = null;
        var written = new List<KeyValue>();
        await using (var reader = await batch.ExecuteReaderAsync(ct))
        {
            if (await reader.ReadAsync(ct))
                artifactUri = reader.GetString(0);
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
                written.Add(new KeyValue(reader.GetString(0), reader.GetString(1)));
        }
        if (artifactUri is null)
            throw await NoActiveExperimentAsync(connection, experimentId, request.ExperimentId!, ct);
        var info = new RunInfo(runId, runId, runName, experimentId.ToString(), userId, "RUNNING", startTime, null, artifactUri, "active");
        return MlflowJson.Ok(new RunResponse(new Run(info, new RunData(null, null, written.NullIfEmpty()), new RunInputs(null))));
    }

    private static async Task<MlflowException> NoActiveExperimentAsync(NpgsqlConnection connection, long experimentId, string requested,
        CancellationToken ct)
    {
        await using var select = connection.Command("SELECT lifecycle_stage FROM experiments WHERE experiment_id = @id", null, ("id", experimentId));
        return await select.ExecuteScalarAsync(ct) is string stage
            ? MlflowException.Invalid($"The experiment {experimentId} must be in the 'active' state. Current state is {stage}.")
            : ExperimentEndpoints.NotFound(requested);
    }

    internal static async Task<JsonHttpResult<RunResponse>> GetRun([FromQuery(Name = "run_id")] string? runId,
        [FromQuery(Name = "run_uuid")] string? runUuid, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        return MlflowJson.Ok(new RunResponse(await RunStore.GetAsync(connection, RunStore.RequiredRunId(runId, runUuid), ct)));
    }

    /// <summary>Updates status, end time and name; a change into a terminal status publishes <see cref="RunFinished"/> in the same transaction.</summary>
    internal static async Task<JsonHttpResult<UpdateRunResponse>> UpdateRun(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<UpdateRunRequest>(ct);
        var runId = RunStore.RequiredRunId(request.RunId, request.RunUuid);
        var status = request.Status?.ToUpperInvariant();
        if (status is not null && !Statuses.Contains(status))
            throw MlflowException.Invalid($"Invalid value '{request.Status}' for parameter 'status': use one of {string.Join(", ", Statuses)}.");
        if (request.RunName is { Length: > 0 })
            Validate.Length(request.RunName, "Run name", Validate.MaxTagValueLength);

        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var before = await RunStore.GetActiveAsync(transaction, runId, forUpdate: true, ct);
        var finishes = status is not null && TerminalStatuses.Contains(status) && status != before.Status;
        // MLflow clients always send end_time with a terminal status; default it so a finished run never lacks one.
        var endTime = request.EndTime ?? (finishes ? before.EndTime ?? TrackerSql.NowMs() : before.EndTime);
        await transaction.ExecuteAsync("UPDATE runs SET status = coalesce(@status, status), end_time = @end WHERE run_id = @id", ct,
            ("status", status), ("end", endTime), ("id", runId));
        if (request.RunName is { Length: > 0 })
            await RunLogging.UpsertTagsAsync(transaction, runId, [new KeyValue(RunStore.RunNameTag, request.RunName)], ct);
        if (finishes)
            await transaction.EnqueueAsync(new RunFinished(runId, before.ExperimentId.ToString(), status!,
                DateTimeOffset.FromUnixTimeMilliseconds(endTime!.Value), await FinalMetricsAsync(transaction, runId, ct)), ct);
        await transaction.CommitAsync(ct);
        return MlflowJson.Ok(new UpdateRunResponse((await RunStore.GetAsync(connection, runId, ct)).Info));
    }

    internal static Task<JsonHttpResult<Empty>> DeleteRun(HttpRequest http, NpgsqlDataSource db, CancellationToken ct) =>
        SetLifecycleStageAsync(http, db, "deleted", ct);

    internal static Task<JsonHttpResult<Empty>> RestoreRun(HttpRequest http, NpgsqlDataSource db, CancellationToken ct) =>
        SetLifecycleStageAsync(http, db, "active", ct);

    private static async Task<JsonHttpResult<Empty>> SetLifecycleStageAsync(HttpRequest http, NpgsqlDataSource db, string stage, CancellationToken ct)
    {
        var runId = RunStore.RequiredRunId((await http.ReadBodyAsync<RunIdRequest>(ct)).RunId, null);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await RunStore.GetStateAsync(transaction, runId, forUpdate: true, ct);
        await transaction.ExecuteAsync(
            "UPDATE runs SET lifecycle_stage = @stage, deleted_time = CASE WHEN @stage = 'deleted' THEN @now END WHERE run_id = @id", ct,
            ("stage", stage), ("now", TrackerSql.NowMs()), ("id", runId));
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<SearchRunsResponse>> SearchRuns(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<SearchRunsRequest>(ct);
        var maxResults = PageToken.MaxResults(request.MaxResults, SearchMaxResultsDefault, SearchMaxResultsLimit);
        var offset = PageToken.Decode(request.PageToken);
        var stages = ViewType.LifecycleStages(request.RunViewType, "run_view_type");
        var experimentIds = (request.ExperimentIds ?? []).Select(id => long.TryParse(id, System.Globalization.NumberStyles.None, null, out var parsed)
            ? parsed
            : throw MlflowException.Invalid($"Invalid experiment id '{id}' in 'experiment_ids': experiment ids are integers.")).ToArray();
        var search = SearchSql.CompileRuns(request.Filter, request.OrderBy);
        var parameters = search.Parameters.Concat([
            new NpgsqlParameter("experiments", experimentIds), new NpgsqlParameter("stages", stages),
            new NpgsqlParameter("limit", maxResults + 1), new NpgsqlParameter("offset", offset)]);
        var where = $"r.experiment_id = ANY(@experiments) AND r.lifecycle_stage = ANY(@stages){search.Conditions}";
        await using var connection = await db.OpenConnectionAsync(ct);
        var runs = search.OrderedByKey is { } byKey
            ? await RunStore.LoadRowsAsync(connection, SearchSql.RunsPageByKey(byKey, RunStore.InfoColumns, where), parameters, ct)
            : await RunStore.LoadAsync(connection, where, parameters, ct, search.Joins, search.OrderBy, "LIMIT @limit OFFSET @offset");
        var (page, next) = PageToken.Slice(runs, maxResults, offset);
        return MlflowJson.Ok(new SearchRunsResponse(page, next));
    }

    internal static async Task<JsonHttpResult<Empty>> LogMetric(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<LogMetricRequest>(ct);
        var metric = new Metric(request.Key, request.Value, request.Timestamp, request.Step);
        await RunLogging.LogAsync(db, RunStore.RequiredRunId(request.RunId, request.RunUuid), [metric], [], [], ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> LogParameter(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<LogParamRequest>(ct);
        await RunLogging.LogAsync(db, RunStore.RequiredRunId(request.RunId, request.RunUuid), [], [new KeyValue(request.Key, request.Value)], [], ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> SetTag(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<SetTagRequest>(ct);
        await RunLogging.LogAsync(db, RunStore.RequiredRunId(request.RunId, request.RunUuid), [], [], [new KeyValue(request.Key, request.Value)], ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> LogBatch(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        if (http.ContentLength > RunLogging.MaxBatchRequestBytes)
            throw MlflowException.Invalid($"Batched logging API requests must be at most {RunLogging.MaxBatchRequestBytes} bytes; got {http.ContentLength}.");
        var request = await http.ReadBodyAsync<LogBatchRequest>(ct);
        await RunLogging.LogAsync(db, RunStore.RequiredRunId(request.RunId, null), Validate.Items(request.Metrics, "metrics"),
            Validate.Items(request.Params, "params"), Validate.Items(request.Tags, "tags"), ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<Empty>> DeleteTag(HttpRequest http, NpgsqlDataSource db, CancellationToken ct)
    {
        var request = await http.ReadBodyAsync<DeleteTagRequest>(ct);
        var runId = RunStore.RequiredRunId(request.RunId, null);
        var key = Validate.Required(request.Key, "key");
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await RunStore.GetActiveAsync(transaction, runId, forUpdate: false, ct);
        if (await transaction.ExecuteAsync("DELETE FROM tags WHERE run_id = @run AND key = @key", ct, ("run", runId), ("key", key)) == 0)
            throw MlflowException.NotFound($"No tag with name: {key} in run with id {runId}");
        await transaction.CommitAsync(ct);
        return MlflowJson.Empty();
    }

    internal static async Task<JsonHttpResult<MetricHistoryResponse>> GetMetricHistory([FromQuery(Name = "run_id")] string? runId,
        [FromQuery(Name = "run_uuid")] string? runUuid, [FromQuery(Name = "metric_key")] string? metricKey,
        [FromQuery(Name = "max_results")] long? maxResults, [FromQuery(Name = "page_token")] string? pageToken,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var id = RunStore.RequiredRunId(runId, runUuid);
        var key = Validate.Required(metricKey, "metric_key");
        var limit = PageToken.MaxResults(maxResults, HistoryMaxResultsDefault, HistoryMaxResultsLimit);
        var offset = PageToken.Decode(pageToken);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await RunStore.GetStateAsync(transaction, id, forUpdate: false, ct);
        var metrics = await connection.ReadAllAsync(
            """
            SELECT c.key, p.value, p.timestamp, p.step
            FROM metric_chunks c CROSS JOIN LATERAL unnest(c.points, c.timestamps, c.steps) AS p(value, timestamp, step)
            WHERE c.run_id = @run AND c.key = @key
            ORDER BY p.step, p.timestamp, p.value LIMIT @limit OFFSET @offset
            """, [new NpgsqlParameter("run", id), new NpgsqlParameter("key", key), new NpgsqlParameter("limit", limit + 1), new NpgsqlParameter("offset", offset)],
            reader => new Metric(reader.GetString(0), reader.GetDouble(1), reader.GetInt64(2), reader.GetInt64(3)), ct, transaction);
        var (page, next) = PageToken.Slice(metrics, limit, offset);
        return MlflowJson.Ok(new MetricHistoryResponse(page, next));
    }

    // MLflow names unnamed runs like this ("bold-fox-123"); the name is also the mlflow.runName tag.
    private static readonly string[] Adjectives = ["bold", "calm", "brave", "bright", "clever", "eager", "gentle", "keen", "lucky", "swift"];
    private static readonly string[] Nouns = ["fox", "owl", "lynx", "hawk", "otter", "whale", "panda", "heron", "bison", "wren"];

    private static string ResolveRunName(string? runName, IReadOnlyList<KeyValue> tags)
    {
        var tagged = tags.LastOrDefault(t => t.Key == RunStore.RunNameTag)?.Value;
        if (!string.IsNullOrEmpty(runName) && !string.IsNullOrEmpty(tagged) && runName != tagged)
            throw MlflowException.Invalid($"Both 'run_name' argument and '{RunStore.RunNameTag}' tag are specified, but with different values (run_name='{runName}', {RunStore.RunNameTag}='{tagged}').");
        if (!string.IsNullOrEmpty(runName))
            return runName;
        if (!string.IsNullOrEmpty(tagged))
            return tagged;
        return $"{Adjectives[Random.Shared.Next(Adjectives.Length)]}-{Nouns[Random.Shared.Next(Nouns.Length)]}-{Random.Shared.Next(1000)}";
    }

    // The bus carries JSON numbers only: NaN and infinities stay in the tracker (search and get still return them).
    private static async Task<IReadOnlyDictionary<string, double>> FinalMetricsAsync(NpgsqlTransaction transaction, string runId, CancellationToken ct)
    {
        var latest = await transaction.Connection!.ReadAllAsync($"SELECT m.key, {RunStore.LatestValue("m.value")} FROM runs r, jsonb_each(r.latest_metrics) m WHERE r.run_id = @run",
            [new NpgsqlParameter("run", runId)], reader => (Key: reader.GetString(0), Value: reader.GetDouble(1)), ct, transaction);
        return latest.Where(m => double.IsFinite(m.Value)).ToDictionary(m => m.Key, m => m.Value);
    }
}