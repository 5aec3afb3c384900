using DuckDB.NET.Data;
using Mlops.FeatureStore.Data;
using Mlops.FeatureStore.Features.Ingestion;

namespace Mlops.FeatureStore.Features.TrainingSets;

/// <summary>
/// The point-in-time join in DuckDB, from local files: for each entity row and each group, the latest record with event
/// time ≤ the row's timestamp (ties: the later batch, then the later row) and within the group's TTL, else nulls; one
/// ASOF LEFT JOIN per group in an on-disk database (large inputs spill), written single-threaded as one Parquet file.
/// </summary>
public static class PointInTimeJoin
{
    /// <summary>
    /// The point-in-time join itself, from local files: entity rows (<paramref name="entityRelation"/>, a DuckDB table
    /// function) and each group's offline files, into one Parquet file at <paramref name="output"/>.
    /// </summary>
    public static async Task<(long Rows, List<SchemaField> Schema)> JoinAsync(string databasePath, string entityRelation, bool fromParquet,
        IReadOnlyList<GroupPlan> plans, string timestampColumn, IReadOnlyDictionary<string, string> local, string output,
        Func<long, long?, Task>? progress, CancellationToken ct, ILogger? log = null, Func<Task>? groupFilesReady = null)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var phases = new List<string>();
        using var duck = new DuckDBConnection($"DataSource={databasePath}");
        await duck.OpenAsync(ct);
        duck.Exec($"SET threads = 2; SET preserve_insertion_order = true; SET temp_directory = {Literal(databasePath + ".spill")};");
        var rowCount = LoadEntities(duck, entityRelation, fromParquet, plans, timestampColumn);
        phases.Add($"entities {watch.Elapsed.TotalSeconds:0.00} s");
        if (progress is not null) await progress(0, rowCount);
        if (groupFilesReady is not null)
        {
            await groupFilesReady();
            phases.Add($"offline files {watch.Elapsed.TotalSeconds:0.00} s");
        }
        for (var i = 0; i < plans.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            JoinGroup(duck, i, plans[i], local);
            phases.Add($"{plans[i].Schema.Group.Name} {watch.Elapsed.TotalSeconds:0.00} s");
            if (progress is not null) await progress(rowCount * (i + 1) / (plans.Count + 1), rowCount);
        }
        ct.ThrowIfCancellationRequested();
        duck.Exec($"CREATE TABLE result AS {FinalSelect(plans)}");
        phases.Add($"assembled {watch.Elapsed.TotalSeconds:0.00} s");
        // Written by one thread: the file's bytes depend only on the data (in row order), so the hash is reproducible.
        duck.Exec("SET threads = 1;");
        duck.Exec($"COPY result TO {Literal(output)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)");
        var schema = new List<SchemaField>();
        using (var describe = duck.CreateCommand())
        {
            describe.CommandText = $"DESCRIBE SELECT * FROM read_parquet({Literal(output)})";
            using var reader = describe.ExecuteReader();
            while (reader.Read())
                schema.Add(new SchemaField(reader.GetString(0), reader.GetString(1)));
        }
        phases.Add($"written {watch.Elapsed.TotalSeconds:0.00} s");
        log?.LogInformation("Point-in-time join of {Rows} rows: {Phases}", rowCount, string.Join(", ", phases));
        if (progress is not null) await progress(rowCount, rowCount);
        return (rowCount, schema);
    }

    /// <summary>The requested groups' key columns by name; a 400 if two groups give one name different types.</summary>
    internal static Dictionary<string, SchemaColumn> KeyColumns(IReadOnlyList<GroupPlan> plans)
    {
        var keys = new Dictionary<string, SchemaColumn>(StringComparer.Ordinal);
        foreach (var plan in plans)
            foreach (var key in plan.Schema.Columns.Take(plan.Schema.KeyCount))
            {
                if (keys.TryGetValue(key.Name, out var other) && other.Type != key.Type)
                    throw ProblemException.BadRequest($"Key column '{key.Name}' is {other.Type} in one requested group and {key.Type} in '{plan.Schema.Group.Name}'.");
                keys[key.Name] = key;
            }
        return keys;
    }

    private static long LoadEntities(DuckDBConnection duck, string relation, bool fromParquet, IReadOnlyList<GroupPlan> plans, string timestampColumn)
    {
        var keys = KeyColumns(plans);
        List<string> columns = [];
        try
        {
            using (var describe = duck.CreateCommand())
            {
                describe.CommandText = $"DESCRIBE SELECT * FROM {relation}";
                using var reader = describe.ExecuteReader();
                while (reader.Read())
                    columns.Add(reader.GetString(0));
            }
        }
        catch (DuckDBException e)
        {
            throw ProblemException.BadRequest($"The entity rows cannot be read: {Duck.Describe(e, "the entity rows")}");
        }
        var rowId = fromParquet ? "file_row_number" : "__row_id";
        var missing = keys.Keys.Append(timestampColumn).Where(c => !columns.Contains(c)).ToList();
        if (missing.Count > 0)
            throw ProblemException.BadRequest($"The entity rows lack column(s) {string.Join(", ", missing)} (the requested groups' keys and the timestamp column).");
        var select = columns.Where(c => c != rowId && c != "__row_id").Select(c =>
            c == timestampColumn ? $"CAST({Q(c)} AS TIMESTAMP) AS {Q(c)}"
            : keys.TryGetValue(c, out var key) ? $"CAST({Q(c)} AS {key.DuckDbType}) AS {Q(c)}"
            : Q(c));
        try
        {
            duck.Exec($"CREATE TABLE entities AS SELECT CAST({rowId} AS BIGINT) AS __row_id, {string.Join(", ", select)}, "
                + $"CAST({Q(timestampColumn)} AS TIMESTAMP) AS __ts, "
                + $"CAST(epoch_us(CAST({Q(timestampColumn)} AS TIMESTAMP)) AS HUGEINT) * {TieBreakScale} + ({TieBreakScale} - 1) AS __k FROM {relation}");
        }
        catch (DuckDBException e)
        {
            throw ProblemException.BadRequest($"The entity rows' keys or timestamps have the wrong type: {Duck.Describe(e, "the entity rows")}");
        }
        using var count = duck.CreateCommand();
        count.CommandText = "SELECT count(*) FROM entities";
        var rows = Convert.ToInt64(count.ExecuteScalar());
        count.CommandText = "SELECT count(*) FROM entities WHERE __ts IS NULL" + string.Concat(keys.Keys.Select(k => $" OR {Q(k)} IS NULL"));
        if (Convert.ToInt64(count.ExecuteScalar()) is > 0 and var bad)
            throw ProblemException.BadRequest($"{bad} entity row(s) have a null key or timestamp.");
        return rows;
    }

    // Each entity row's ASOF match among the group's records (every listed file, each version's columns, features it
    // lacks as NULL): the latest event time ≤ the row's timestamp, and of records with that event time the later batch,
    // then the later row. Both orders are one key, (event time in µs) × 2^63 + (batch × 2^32 + row), against the entity
    // row's (timestamp in µs) × 2^63 + (2^63 − 1): the ASOF join's own sort then settles ties, with no pass to dedupe
    // records per (entity, event time) first.
    private const string TieBreakScale = "9223372036854775808";

    private static void JoinGroup(DuckDBConnection duck, int index, GroupPlan plan, IReadOnlyDictionary<string, string> local)
    {
        var schema = plan.Schema;
        var keys = schema.Columns.Take(schema.KeyCount).ToList();
        var features = plan.Features.Select(f => schema.Columns[schema.IndexOf(f)]).ToList();
        var byVersion = plan.Files.GroupBy(f => f.Version).ToList();
        string records;
        if (byVersion.Count == 0)
        {
            records = $"SELECT {string.Join(", ", keys.Select(k => $"CAST(NULL AS {k.DuckDbType}) AS {Q(k.Name)}"))}, CAST(NULL AS TIMESTAMP) AS __et, "
                + $"CAST(NULL AS HUGEINT) AS __k, {string.Join(", ", features.Select(f => $"CAST(NULL AS {f.DuckDbType}) AS {Q(f.Name)}"))} LIMIT 0";
        }
        else
        {
            records = string.Join(" UNION ALL ", byVersion.Select(v =>
            {
                var definition = plan.Versions[v.Key];
                var files = string.Join(", ", v.Select(f => Literal(local[f.Key])));
                var columns = keys.Select(k => Q(k.Name))
                    .Append($"CAST({Q(schema.Group.EventTime)} AS TIMESTAMP) AS __et")
                    .Append($"CAST(epoch_us(CAST({Q(schema.Group.EventTime)} AS TIMESTAMP)) AS HUGEINT) * {TieBreakScale} + (__batch_id * 4294967296 + __row) AS __k")
                    .Concat(features.Select(f => definition.Feature(f.Name) is null ? $"CAST(NULL AS {f.DuckDbType}) AS {Q(f.Name)}" : Q(f.Name)));
                return $"SELECT {string.Join(", ", columns)} FROM read_parquet([{files}], hive_partitioning = false)";
            }));
        }
        var on = string.Join(" AND ", keys.Select(k => $"e.{Q(k.Name)} = g.{Q(k.Name)}"));
        duck.Exec($"CREATE TABLE j{index} AS SELECT e.__row_id, g.__et AS __et, {string.Join(", ", features.Select(f => $"g.{Q(f.Name)}"))} "
            + $"FROM entities e ASOF LEFT JOIN ({records}) g ON {on} AND e.__k >= g.__k");
    }

    private static string FinalSelect(IReadOnlyList<GroupPlan> plans)
    {
        var columns = new List<string> { "e.* EXCLUDE (__row_id, __ts, __k)" };
        var joins = new List<string>();
        for (var i = 0; i < plans.Count; i++)
        {
            var plan = plans[i];
            var fresh = plan.Schema.Group.TtlSeconds is { } ttl
                ? $"j{i}.__et >= e.__ts - INTERVAL {ttl} SECOND"
                : "TRUE";
            foreach (var feature in plan.Features)
                columns.Add($"CASE WHEN {fresh} THEN j{i}.{Q(feature)} END AS {Q($"{plan.Schema.Group.Name}__{feature}")}");
            joins.Add($"LEFT JOIN j{i} ON j{i}.__row_id = e.__row_id");
        }
        return $"SELECT {string.Join(", ", columns)} FROM entities e {string.Join(" ", joins)} ORDER BY e.__row_id";
    }

    private static string Q(string identifier) => Duck.Quote(identifier);
    private static string Literal(string path) => Duck.Literal(path);
}
