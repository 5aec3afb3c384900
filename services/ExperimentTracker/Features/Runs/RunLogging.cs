using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Runs;

/// <summary>
/// Every write of metrics, params and tags (log-metric, log-parameter, set-tag and log-batch are batches of one kind):
/// the whole batch is validated before anything is written, and written in one transaction.
/// </summary>
public static class RunLogging
{
    public const int MaxMetricsPerBatch = 1000;
    public const int MaxParamsPerBatch = 100;
    public const int MaxTagsPerBatch = 100;
    public const int MaxEntitiesPerBatch = 1000;
    public const long MaxBatchRequestBytes = 1_000_000;

    private sealed record ValidMetric(string Key, double Value, long Timestamp, long Step);

    public static async Task LogAsync(NpgsqlDataSource db, string runId, IReadOnlyList<Metric> metrics, IReadOnlyList<KeyValue> runParams,
        IReadOnlyList<KeyValue> tags, CancellationToken ct)
    {
        CheckLimits(metrics.Count, runParams.Count, tags.Count);
        var validMetrics = metrics.Select(ValidateMetric).ToList();
        var validParams = ValidateParams(runParams);
        // Tags are last-writer-wins, within a batch too.
        var validTags = tags.Select(t => new KeyValue(Validate.EntityKey(t.Key, "Tag"), Validate.Value(t.Value, "Tag", t.Key!, Validate.MaxTagValueLength)))
            .GroupBy(t => t.Key).Select(g => g.Last()).OrderBy(t => t.Key, StringComparer.Ordinal).ToList();

        await using var connection = await db.OpenConnectionAsync(ct);
        // Every statement travels in one batch (one round trip) and writes only if the run is active; the batch then
        // reads the run's state, so an unknown or deleted run is reported with nothing written. Params are compared
        // after they are inserted, which needs an explicit transaction to roll back a changed param; without params
        // the batch is its own (implicit) transaction. The statements' text is fixed, so they are prepared: once per
        // pooled connection, after which PostgreSQL skips parsing and planning them.
        await using var transaction = validParams.Count > 0 ? await connection.BeginTransactionAsync(ct) : null;
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Db.BatchCommand("SELECT lifecycle_stage FROM runs WHERE run_id = @run", ("run", runId)));
        if (validParams.Count > 0)
            AddParams(batch, runId, validParams);
        if (validMetrics.Count > 0)
            AddMetrics(batch, runId, validMetrics);
        if (validTags.Count > 0)
            AddTags(batch, runId, validTags, ActiveRun);
        await batch.PrepareAsync(ct);
        await using (var reader = await batch.ExecuteReaderAsync(ct))
        {
            var stage = await reader.ReadAsync(ct) ? reader.GetString(0) : throw RunStore.NotFound(runId);
            if (stage != "active")
                throw RunStore.NotActive(runId, stage);
            if (validParams.Count > 0)
            {
                await reader.NextResultAsync(ct);
                await CheckParamsAsync(reader, runId, validParams, ct);
            }
        }
        if (transaction is not null)
            await transaction.CommitAsync(ct);
    }

    public static void CheckLimits(int metrics, int runParams, int tags)
    {
        if (metrics > MaxMetricsPerBatch)
            throw MlflowException.Invalid($"A batch logging request can contain at most {MaxMetricsPerBatch} metrics. Got {metrics} metrics. Please split up metrics across multiple requests and try again.");
        if (runParams > MaxParamsPerBatch)
            throw MlflowException.Invalid($"A batch logging request can contain at most {MaxParamsPerBatch} params. Got {runParams} params. Please split up params across multiple requests and try again.");
        if (tags > MaxTagsPerBatch)
            throw MlflowException.Invalid($"A batch logging request can contain at most {MaxTagsPerBatch} tags. Got {tags} tags. Please split up tags across multiple requests and try again.");
        if (metrics + runParams + tags > MaxEntitiesPerBatch)
            throw MlflowException.Invalid($"A batch logging request can contain at most {MaxEntitiesPerBatch} metrics, params and tags in total. Got {metrics + runParams + tags}.");
    }

    /// <summary>Upserts tags in the caller's transaction; <c>mlflow.runName</c> is the run's name, so it renames the run.</summary>
    public static async Task UpsertTagsAsync(NpgsqlTransaction transaction, string runId, IReadOnlyList<KeyValue> tags, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(transaction.Connection, transaction);
        AddTags(batch, runId, tags, "TRUE");
        await batch.ExecuteNonQueryAsync(ct);
    }

    // The condition every batched write carries: it writes only to an active run.
    private const string ActiveRun = "EXISTS (SELECT 1 FROM runs WHERE run_id = @run AND lifecycle_stage = 'active')";

    private static void AddTags(NpgsqlBatch batch, string runId, IReadOnlyList<KeyValue> tags, string condition)
    {
        batch.BatchCommands.Add(Db.BatchCommand(
            $"""
            INSERT INTO tags (run_id, key, value) SELECT @run, k, v FROM unnest(@keys, @values) AS t(k, v) WHERE {condition}
            ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value
            """, ("run", runId), ("keys", tags.Select(t => t.Key!).ToArray()), ("values", tags.Select(t => t.Value!).ToArray())));
        if (tags.LastOrDefault(t => t.Key == RunStore.RunNameTag) is { } name)
            batch.BatchCommands.Add(Db.BatchCommand($"UPDATE runs SET run_name = @name WHERE run_id = @run AND {condition}",
                ("name", name.Value), ("run", runId)));
    }

    private static ValidMetric ValidateMetric(Metric metric)
    {
        var key = Validate.EntityKey(metric.Key, "Metric");
        var value = metric.Value ?? throw MlflowException.Invalid($"Got invalid value None for metric '{key}': a number (or \"NaN\", \"Infinity\") is required.");
        var timestamp = metric.Timestamp ?? throw MlflowException.Invalid($"Got invalid timestamp None for metric '{key}' (value={value}). Timestamp must be a nonnegative long (64-bit integer).");
        if (timestamp < 0)
            throw MlflowException.Invalid($"Got invalid timestamp {timestamp} for metric '{key}'. Timestamp must be a nonnegative long (64-bit integer).");
        return new ValidMetric(key, value, timestamp, metric.Step ?? 0);
    }

    private static List<KeyValue> ValidateParams(IReadOnlyList<KeyValue> runParams)
    {
        var valid = runParams.Select(p => new KeyValue(Validate.EntityKey(p.Key, "Param"), Validate.Value(p.Value, "Param", p.Key!, Validate.MaxParamValueLength)))
            .ToList();
        var conflicting = valid.GroupBy(p => p.Key).FirstOrDefault(g => g.Select(p => p.Value).Distinct().Count() > 1);
        if (conflicting is not null)
            throw MlflowException.Invalid($"Duplicate parameter keys have been submitted: '{conflicting.Key}' with values {string.Join(", ", conflicting.Select(p => $"'{p.Value}'").Distinct())}. Params are immutable.");
        // Sorted, as tags are: concurrent batches on one run then take row locks in the same order and cannot deadlock.
        return valid.DistinctBy(p => p.Key).OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
    }

    // Insert-then-compare holds under concurrency: a racing insert of the same key commits first, ours does nothing, and
    // the comparison (a later statement, so a later snapshot) sees the committed value. A mismatch throws before commit,
    // so the whole batch rolls back.
    private static void AddParams(NpgsqlBatch batch, string runId, List<KeyValue> runParams)
    {
        var keys = runParams.Select(p => p.Key!).ToArray();
        batch.BatchCommands.Add(Db.BatchCommand(
            $"INSERT INTO params (run_id, key, value) SELECT @run, k, v FROM unnest(@keys, @values) AS p(k, v) WHERE {ActiveRun} ON CONFLICT (run_id, key) DO NOTHING",
            ("run", runId), ("keys", keys), ("values", runParams.Select(p => p.Value!).ToArray())));
        batch.BatchCommands.Add(Db.BatchCommand("SELECT key, value FROM params WHERE run_id = @run AND key = ANY(@keys)", ("run", runId), ("keys", keys)));
    }

    private static async Task CheckParamsAsync(NpgsqlDataReader reader, string runId, List<KeyValue> runParams, CancellationToken ct)
    {
        var requested = runParams.ToDictionary(p => p.Key!, p => p.Value!);
        while (await reader.ReadAsync(ct))
        {
            var (key, existing) = (reader.GetString(0), reader.GetString(1));
            if (existing != requested[key])
                throw MlflowException.Invalid(
                    $"Changing param values is not allowed. Param with key='{key}' was already logged with value='{existing}' for run ID='{runId}'. Attempted logging new value '{requested[key]}'.");
        }
    }

    // History and latest values in one statement, so the points travel once. The run's row is updated first: its
    // latest-values document (see migration 0006) takes each key's newest point of the batch where it is greater than
    // the stored one (MLflow's "latest" is the greatest (step, timestamp, value), not the last one written), and the
    // update's RETURNING is what the history chunks are inserted from, so they are written only while the run exists
    // and is active, under its row lock. The stored document is expanded once (jsonb_each), not looked up per key: each
    // lookup would decompress it again. The history gets one chunk per key (see migration 0005). The points are grouped
    // here rather than by the database (1,000 array_agg groups outgrow work_mem and spill to disk): they travel ordered
    // by key, each key's chunk a slice [lo:hi] of the three arrays, with each key's newest point beside it.
    private static void AddMetrics(NpgsqlBatch batch, string runId, List<ValidMetric> metrics)
    {
        var points = metrics.OrderBy(m => m.Key, StringComparer.Ordinal).ToArray(); // stable: a key's points keep their order
        var keys = new List<string>();
        var (lo, hi, newest) = (new List<int>(), new List<int>(), new List<ValidMetric>());
        for (var i = 0; i < points.Length; i++)
        {
            if (i == 0 || points[i].Key != points[i - 1].Key)
            {
                keys.Add(points[i].Key);
                lo.Add(i + 1);
                hi.Add(i + 1);
                newest.Add(points[i]);
                continue;
            }
            hi[^1] = i + 1;
            if (IsNewer(points[i], newest[^1]))
                newest[^1] = points[i];
        }
        batch.BatchCommands.Add(Db.BatchCommand(
            """
            WITH run AS (
                UPDATE runs SET latest_metrics = runs.latest_metrics || coalesce((
                    SELECT jsonb_object_agg(n.k, jsonb_build_array(n.s, n.t, n.v))
                    FROM unnest(@keys, @newestSteps, @newestTimestamps, @newestValues) AS n(k, s, t, v)
                    LEFT JOIN jsonb_each(runs.latest_metrics) AS e ON e.key = n.k
                    WHERE e.key IS NULL
                       OR (n.s, n.t, n.v) > ((e.value ->> 0)::bigint, (e.value ->> 1)::bigint, (e.value ->> 2)::double precision)), '{}')
                WHERE run_id = @run AND lifecycle_stage = 'active'
                RETURNING run_id)
            INSERT INTO metric_chunks (run_id, key, steps, timestamps, points)
            SELECT run.run_id, k, (@steps::bigint[])[l:h], (@timestamps::bigint[])[l:h], (@values::double precision[])[l:h]
            FROM run, unnest(@keys, @lo, @hi) AS c(k, l, h)
            """,
            ("run", runId),
            ("steps", points.Select(m => m.Step).ToArray()),
            ("timestamps", points.Select(m => m.Timestamp).ToArray()),
            ("values", points.Select(m => m.Value).ToArray()),
            ("keys", keys.ToArray()),
            ("lo", lo.ToArray()),
            ("hi", hi.ToArray()),
            ("newestValues", newest.Select(m => m.Value).ToArray()),
            ("newestTimestamps", newest.Select(m => m.Timestamp).ToArray()),
            ("newestSteps", newest.Select(m => m.Step).ToArray())));
    }

    // (step, timestamp, value) compared as PostgreSQL compares them, where NaN is greater than any number.
    private static bool IsNewer(ValidMetric a, ValidMetric b) =>
        a.Step != b.Step ? a.Step > b.Step
        : a.Timestamp != b.Timestamp ? a.Timestamp > b.Timestamp
        : double.IsNaN(a.Value) ? !double.IsNaN(b.Value)
        : !double.IsNaN(b.Value) && a.Value > b.Value;
}
