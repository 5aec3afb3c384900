using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using DuckDB.NET.Data;
using Mlops.FeatureStore.Data;
using Microsoft.Extensions.Options;
using Mlops.Contracts;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;
using Mlops.ServiceDefaults.Messaging;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

namespace Mlops.FeatureStore.Features.TrainingSets;

/// <param name="Features"><c>group:feature</c> references.</param>
/// <param name="EntityRows">Inline entity rows: the groups' key columns, the timestamp column, and any other columns (labels), kept as-is.</param>
/// <param name="EntitySource">Or a Parquet object in the lake bucket holding the entity rows (always run as a job).</param>
/// <param name="TimestampColumn">The entity rows' timestamp column; default <c>event_timestamp</c>.</param>
public sealed record TrainingSetRequest(IReadOnlyList<string>? Features, IReadOnlyList<Dictionary<string, JsonElement>>? EntityRows,
    EntitySource? EntitySource, string? TimestampColumn);

public sealed record EntitySource(string? ObjectKey);

public sealed record SchemaField(string Name, string Type);

/// <summary>The manifest written next to every snapshot (and returned by the API).</summary>
public sealed record SnapshotManifest(Guid SnapshotId, DateTimeOffset CreatedAt, string ContentHash, long RowCount,
    IReadOnlyList<SchemaField> Schema, IReadOnlyDictionary<string, int> GroupVersions, IReadOnlyDictionary<string, long> LastBatchIds,
    string DataUri, string ManifestUri, ManifestRequest Request, double Seconds);

/// <summary>The request as recorded: inline entity rows are recorded by count and SHA-256, not copied.</summary>
public sealed record ManifestRequest(IReadOnlyList<string> Features, string TimestampColumn, string EntitySource, long EntityRows, string? EntityRowsSha256);

/// <summary>
/// Point-in-time-correct training sets with DuckDB: for each entity row and each group, the latest record with event time
/// ≤ the row's timestamp (ties: the later batch, then the later row) and within the group's TTL, else nulls. The offline
/// files listed for the group (all versions; features a version lacks read as null) are downloaded and joined with an
/// ASOF LEFT JOIN in an on-disk DuckDB database, so large inputs spill rather than fill memory. The result keeps the
/// entity rows' order and columns, adds <c>group__feature</c> columns, and is written as one Parquet file whose SHA-256
/// is the snapshot's content hash (single-threaded write, so same request and same data give the same bytes).
/// </summary>
public sealed class TrainingSetBuilder(NpgsqlDataSource db, ObjectStore store, IOptions<StorageOptions> storage, FeatureGroupCatalog catalog,
    ILogger<TrainingSetBuilder> logger)
{
    public const string DefaultTimestampColumn = "event_timestamp";
    public const string SnapshotPrefix = "feature-store/snapshots";
    public const int SynchronousRowLimit = 10_000;

    /// <summary>One group's part of a training set: the features asked for, its version definitions and its listed offline files.</summary>
    public sealed record GroupPlan(GroupSchema Schema, List<string> Features, Dictionary<int, FeatureGroup> Versions, List<(string Key, int Version)> Files);

    /// <summary>Checks the request's shape and features (400/404) before any work or job is queued.</summary>
    public async Task ValidateAsync(TrainingSetRequest request, CancellationToken ct)
    {
        if (request.Features is not { Count: > 0 })
            throw ProblemException.BadRequest("'features' must list at least one 'group:feature' reference.");
        if ((request.EntityRows is null) == (request.EntitySource is null))
            throw ProblemException.BadRequest("Give either 'entity_rows' (inline) or 'entity_source' (a Parquet object in the lake bucket), not both.");
        if (request.EntityRows is { Count: 0 })
            throw ProblemException.BadRequest("'entity_rows' is empty.");
        if (request.EntitySource is { ObjectKey: null or "" })
            throw ProblemException.BadRequest("'entity_source.object_key' is required.");
        await ResolveAsync(request.Features, ct);
    }

    private async Task<Dictionary<string, (GroupSchema Schema, List<string> Features)>> ResolveAsync(IReadOnlyList<string> features, CancellationToken ct)
    {
        var groups = new Dictionary<string, (GroupSchema Schema, List<string> Features)>(StringComparer.Ordinal);
        foreach (var reference in features)
        {
            var (group, feature) = FeatureReference.Parse(reference);
            if (!groups.TryGetValue(group, out var entry))
                groups[group] = entry = (GroupSchema.For(await catalog.GetLiveAsync(group, ct)), []);
            FeatureReference.RequireFeature(entry.Schema.Group, feature);
            if (!entry.Features.Contains(feature))
                entry.Features.Add(feature);
        }
        return groups;
    }

    public async Task<SnapshotManifest> BuildAsync(TrainingSetRequest request, Func<long, long?, Task>? progress, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        await ValidateAsync(request, ct);
        var timestampColumn = request.TimestampColumn ?? DefaultTimestampColumn;
        var resolved = await ResolveAsync(request.Features!, ct);
        var work = Directory.CreateTempSubdirectory("fs-training-");
        using var downloadsCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var offlineReady = Task.CompletedTask;
        try
        {
            var plans = new List<GroupPlan>();
            await using (var connection = await db.OpenConnectionAsync(ct))
                foreach (var (name, (schema, features)) in resolved)
                    plans.Add(await PlanAsync(connection, schema, features, ct));

            // Offline files of every group, downloaded once, while the entity rows are fetched and loaded.
            var downloads = plans.SelectMany(p => p.Files).Select(f => f.Key).Distinct().ToList();
            var local = downloads.ToDictionary(k => k, k => Path.Combine(work.FullName, "offline", k));
            offlineReady = Parallel.ForEachAsync(downloads, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = downloadsCancel.Token }, async (key, token) =>
            {
                Directory.CreateDirectory(Path.GetDirectoryName(local[key])!);
                await using var source = await store.GetAsync(storage.Value.LakeBucket, key, token);
                await using var file = File.Create(local[key]);
                await source.CopyToAsync(file, token);
            });

            // Entity rows → a local Parquet or JSON file.
            string entityRelation;
            string? inlineHash = null;
            long inlineCount = 0;
            if (request.EntityRows is { } rows)
            {
                var path = Path.Combine(work.FullName, "entities.ndjson");
                inlineHash = await WriteInlineEntitiesAsync(rows, plans, timestampColumn, path, ct);
                inlineCount = rows.Count;
                entityRelation = $"read_json({Literal(path)}, format = 'newline_delimited', sample_size = -1)";
            }
            else
            {
                var path = Path.Combine(work.FullName, "entities.parquet");
                try
                {
                    await using var source = await store.GetAsync(storage.Value.LakeBucket, request.EntitySource!.ObjectKey!, ct);
                    await using var file = File.Create(path);
                    await source.CopyToAsync(file, ct);
                }
                catch (Amazon.S3.AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    throw ProblemException.NotFound($"The lake bucket has no object '{request.EntitySource!.ObjectKey}'.");
                }
                entityRelation = $"read_parquet({Literal(path)}, file_row_number = true)";
            }

            var output = Path.Combine(work.FullName, "data.parquet");
            var downloaded = TimeSpan.Zero;
            async Task InputsReadyAsync()
            {
                await offlineReady;
                downloaded = DateTime.UtcNow - started;
            }
            var (rowCount, schemaFields) = await JoinAsync(Path.Combine(work.FullName, "join.duckdb"), entityRelation, request.EntityRows is null,
                plans, timestampColumn, local, output, progress, ct, logger, InputsReadyAsync);

            string hash;
            await using (var data = File.OpenRead(output))
                hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(data, ct));

            var id = Guid.CreateVersion7();
            var bucket = storage.Value.ArtifactBucket;
            var dataKey = $"{SnapshotPrefix}/{id}/data.parquet";
            var manifestKey = $"{SnapshotPrefix}/{id}/manifest.json";
            var manifest = new SnapshotManifest(id, DateTimeOffset.UtcNow, hash, rowCount, schemaFields,
                plans.ToDictionary(p => p.Schema.Group.Name, p => p.Schema.Group.Version),
                plans.ToDictionary(p => p.Schema.Group.Name, p => p.Files.Count == 0 ? 0L : p.Files.Max(f => BatchOf(f.Key))),
                $"s3://{bucket}/{dataKey}", $"s3://{bucket}/{manifestKey}",
                new ManifestRequest(request.Features!, timestampColumn,
                    request.EntitySource is { } s ? $"s3://{storage.Value.LakeBucket}/{s.ObjectKey}" : "inline",
                    request.EntityRows is null ? rowCount : inlineCount, inlineHash),
                (DateTime.UtcNow - started).TotalSeconds);
            var manifestJson = JsonSerializer.Serialize(manifest, FeatureStoreJson.Options);

            await using (var data = File.OpenRead(output))
                await store.PutAsync(bucket, dataKey, data, "application/vnd.apache.parquet", ct);
            await store.PutAsync(bucket, manifestKey, new MemoryStream(System.Text.Encoding.UTF8.GetBytes(manifestJson)), "application/json", ct);

            await using (var connection = await db.OpenConnectionAsync(ct))
            await using (var transaction = await connection.BeginTransactionAsync(ct))
            {
                await transaction.ExecuteAsync(
                    "INSERT INTO dataset_snapshots (snapshot_id, content_hash, rows, manifest, created_at) VALUES (@id, @hash, @rows, @manifest::jsonb, @created)",
                    ct, ("id", id), ("hash", hash), ("rows", rowCount), ("manifest", manifestJson), ("created", manifest.CreatedAt));
                await transaction.EnqueueAsync(new DatasetSnapshotCreated(id.ToString(), hash, rowCount, manifest.DataUri, manifest.ManifestUri,
                    manifest.GroupVersions, manifest.CreatedAt), ct);
                await transaction.CommitAsync(ct);
            }
            logger.LogInformation("Snapshot {SnapshotId}: {Rows} rows, {Groups} groups, {Files} offline files, hash {Hash}, {Seconds:0.00} s (inputs ready after {Downloaded:0.00} s)",
                id, rowCount, plans.Count, downloads.Count, hash, manifest.Seconds, downloaded.TotalSeconds);
            return manifest;
        }
        finally
        {
            // A request refused half way (bad entity rows) stops the downloads before their folder goes. A download's
            // own failure has already surfaced where the join awaited the files; here it no longer matters.
            await downloadsCancel.CancelAsync();
            try { await offlineReady; } catch (Exception) { }
            try { work.Delete(recursive: true); } catch (IOException) { }
        }
    }

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

    private static long BatchOf(string key) =>
        long.Parse(Path.GetFileNameWithoutExtension(key).Split('-')[1], CultureInfo.InvariantCulture);

    private static async Task<GroupPlan> PlanAsync(NpgsqlConnection connection, GroupSchema schema, List<string> features, CancellationToken ct)
    {
        NpgsqlParameter[] Parameters() => [new("name", schema.Group.Name), new("latest", schema.Group.Version)];
        var versions = (await connection.ReadAllAsync("SELECT version, definition::text FROM feature_group_versions WHERE name = @name AND version <= @latest",
            Parameters(), reader => (Version: reader.GetInt32(0), Definition: FeatureGroupCatalog.Deserialize(reader.GetString(1))), ct))
            .ToDictionary(v => v.Version, v => v.Definition);
        var files = await connection.ReadAllAsync(
            "SELECT object_key, version FROM offline_files WHERE group_name = @name AND version <= @latest ORDER BY object_key",
            Parameters(), reader => (reader.GetString(0), reader.GetInt32(1)), ct);
        return new GroupPlan(schema, features, versions, files);
    }

    /// <summary>Inline rows as NDJSON with a row id, keys converted to the groups' key types and timestamps normalized; returns their SHA-256.</summary>
    private static async Task<string> WriteInlineEntitiesAsync(IReadOnlyList<Dictionary<string, JsonElement>> rows, List<GroupPlan> plans,
        string timestampColumn, string path, CancellationToken ct)
    {
        var keyColumns = KeyColumns(plans);
        var timestamp = new SchemaColumn(timestampColumn, FeatureTypes.Timestamp, ColumnRole.EventTime, null);
        var problems = new ProblemList();
        await using var file = File.Create(path);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var json = new Utf8JsonWriter(file);
        for (var r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            if (row is null) { problems.Add(r, "", "the entity row is null"); continue; }
            json.WriteStartObject();
            json.WriteNumber("__row_id", r);
            foreach (var (name, value) in row)
            {
                if (name.StartsWith("__", StringComparison.Ordinal)) { problems.Add(r, name, "column names starting with '__' are reserved"); continue; }
                json.WritePropertyName(name);
                object? converted;
                if (name == timestampColumn)
                {
                    if (GroupSchema.Convert(timestamp, value, out converted) is { } reason) { problems.Add(r, name, reason); json.WriteNullValue(); continue; }
                    json.WriteStringValue(((DateTime)converted!).ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture));
                }
                else if (keyColumns.TryGetValue(name, out var key))
                {
                    if (GroupSchema.Convert(key, value, out converted) is { } reason) { problems.Add(r, name, reason); json.WriteNullValue(); continue; }
                    IngestionPipeline.WriteValue(json, converted);
                }
                else
                    value.WriteTo(json);
            }
            json.WriteEndObject();
            await json.FlushAsync(ct);
            file.WriteByte((byte)'\n');
            json.Reset(); // one JSON value per line
            foreach (var required in keyColumns.Keys.Append(timestampColumn))
                if (!row.ContainsKey(required))
                    problems.Add(r, required, "is required (a key of a requested group, or the timestamp column)");
        }
        if (problems.Count > 0)
            throw ProblemException.BadRequest($"{problems.Count} problem(s) in the entity rows; the first {problems.First.Count} are listed (rows are 0-based).",
                new Dictionary<string, object?> { ["problems"] = problems.First, ["problem_count"] = problems.Count });
        await file.FlushAsync(ct);
        file.Position = 0;
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
    }

    private static Dictionary<string, SchemaColumn> KeyColumns(IReadOnlyList<GroupPlan> plans)
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
