using Mlops.ExperimentTracker.Data;
using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;

namespace Mlops.ExperimentTracker.Features.Runs;

/// <summary>Reading runs: info rows by any condition, then their latest metrics, params and tags in one batch.</summary>
public static class RunStore
{
    public const string RunNameTag = "mlflow.runName";

    public sealed record RunState(long ExperimentId, string Status, string LifecycleStage, long? EndTime);

    /// <summary>The run's state, optionally locked for the rest of the transaction; unknown run → RESOURCE_DOES_NOT_EXIST.</summary>
    public static async Task<RunState> GetStateAsync(NpgsqlTransaction transaction, string runId, bool forUpdate, CancellationToken ct)
    {
        await using var select = transaction.Connection!.Command(
            $"SELECT experiment_id, status, lifecycle_stage, end_time FROM runs WHERE run_id = @id{(forUpdate ? " FOR UPDATE" : "")}",
            transaction, ("id", runId));
        await using var reader = await select.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
            throw NotFound(runId);
        return new RunState(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetInt64(3));
    }

    /// <summary>As <see cref="GetStateAsync"/>, for writes MLflow allows only on active runs.</summary>
    public static async Task<RunState> GetActiveAsync(NpgsqlTransaction transaction, string runId, bool forUpdate, CancellationToken ct)
    {
        var state = await GetStateAsync(transaction, runId, forUpdate, ct);
        return state.LifecycleStage == "active" ? state : throw NotActive(runId, state.LifecycleStage);
    }

    public static MlflowException NotActive(string runId, string lifecycleStage) =>
        MlflowException.Invalid($"The run {runId} must be in the 'active' state. Current state is {lifecycleStage}.");

    public static MlflowException NotFound(string runId) => MlflowException.NotFound($"Run with id={runId} not found");

    /// <summary>
    /// The value in an entry of a run's <c>latest_metrics</c> document (<c>[step, timestamp, value]</c>, migration 0006)
    /// as a double precision; NaN and the infinities are stored as strings, which this reads back too.
    /// </summary>
    public static string LatestValue(string entry) => $"({entry} ->> 2)::double precision";

    public static string RequiredRunId(string? runId, string? runUuid) => Validate.Required(string.IsNullOrEmpty(runId) ? runUuid : runId, "run_id");

    public static async Task<Run> GetAsync(NpgsqlConnection connection, string runId, CancellationToken ct) =>
        (await LoadAsync(connection, "r.run_id = @id", [new NpgsqlParameter("id", runId)], ct)).SingleOrDefault() ?? throw NotFound(runId);

    /// <summary>The run info columns over alias <c>r</c>, in the order <see cref="LoadRowsAsync"/> reads them.</summary>
    public const string InfoColumns = "r.run_id, r.run_name, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage";

    public static Task<List<Run>> LoadAsync(NpgsqlConnection connection, string where, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct, string joins = "", string orderBy = "r.run_id", string paging = "") =>
        LoadRowsAsync(connection,
            $"""
            SELECT {InfoColumns}
            FROM runs r{joins}
            WHERE {where}
            ORDER BY {orderBy}
            {paging}
            """, parameters, ct);

    /// <summary>Runs whose info rows <paramref name="pageSql"/> selects (<see cref="InfoColumns"/> first), in its order, with their data.</summary>
    public static async Task<List<Run>> LoadRowsAsync(NpgsqlConnection connection, string pageSql, IEnumerable<NpgsqlParameter> parameters,
        CancellationToken ct)
    {
        var infos = await connection.ReadAllAsync(pageSql, parameters,
            reader => new RunInfo(reader.GetString(0), reader.GetString(0), reader.GetString(1), reader.GetInt64(2).ToString(),
                reader.GetString(3), reader.GetString(4), reader.GetInt64(5), reader.IsDBNull(6) ? null : reader.GetInt64(6),
                reader.GetString(7), reader.GetString(8)), ct);
        if (infos.Count == 0)
            return [];

        var ids = infos.Select(i => i.RunId).ToArray();
        var metrics = ids.ToDictionary(id => id, _ => new List<Metric>());
        var runParams = ids.ToDictionary(id => id, _ => new List<KeyValue>());
        var tags = ids.ToDictionary(id => id, _ => new List<KeyValue>());
        var inputs = ids.ToDictionary(id => id, _ => new List<DatasetInput>());
        await using (var batch = new NpgsqlBatch(connection))
        {
            foreach (var sql in new[]
            {
                $"SELECT r.run_id, m.key, {LatestValue("m.value")}, (m.value ->> 1)::bigint, (m.value ->> 0)::bigint FROM runs r, jsonb_each(r.latest_metrics) m WHERE r.run_id = ANY(@ids) ORDER BY r.run_id, m.key",
                "SELECT run_id, key, value FROM params WHERE run_id = ANY(@ids) ORDER BY run_id, key",
                "SELECT run_id, key, value FROM tags WHERE run_id = ANY(@ids) ORDER BY run_id, key",
                """
                SELECT i.run_id, i.tags::text, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
                FROM run_inputs i JOIN datasets d ON d.dataset_id = i.dataset_id WHERE i.run_id = ANY(@ids) ORDER BY i.run_id, d.dataset_id
                """,
            })
                batch.BatchCommands.Add(Db.BatchCommand(sql, ("ids", ids)));
            // Fixed text: prepared once per pooled connection, then neither parsed nor planned again.
            await batch.PrepareAsync(ct);
            await using var reader = await batch.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                metrics[reader.GetString(0)].Add(new Metric(reader.GetString(1), reader.GetDouble(2), reader.GetInt64(3), reader.GetInt64(4)));
            foreach (var target in new[] { runParams, tags })
            {
                await reader.NextResultAsync(ct);
                while (await reader.ReadAsync(ct))
                    target[reader.GetString(0)].Add(new KeyValue(reader.GetString(1), reader.GetString(2)));
            }
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
                inputs[reader.GetString(0)].Add(new DatasetInput(
                    System.Text.Json.JsonSerializer.Deserialize<List<KeyValue>>(reader.GetString(1), MlflowJson.Options)!.NullIfEmpty(),
                    new Dataset(reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                        reader.GetNullableString(6), reader.GetNullableString(7))));
        }
        return infos.Select(info => new Run(info,
            new RunData(metrics[info.RunId].NullIfEmpty(), runParams[info.RunId].NullIfEmpty(), tags[info.RunId].NullIfEmpty()),
            new RunInputs(inputs[info.RunId].NullIfEmpty()))).ToList();
    }
}
