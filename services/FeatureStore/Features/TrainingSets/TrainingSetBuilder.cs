using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Mlops.FeatureStore.Data;
using Microsoft.Extensions.Options;
using Mlops.Contracts;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;
using Mlops.ServiceDefaults.Messaging;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

namespace Mlops.FeatureStore.Features.TrainingSets;

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

    /// <param name="idempotency">The caller's key and its request's hash, stored with the snapshot (unique: a concurrent
    /// build under the same key that stored first makes this one fail with a unique violation, writing nothing).</param>
    public async Task<SnapshotManifest> BuildAsync(TrainingSetRequest request, Func<long, long?, Task>? progress, CancellationToken ct,
        (string Key, string RequestHash)? idempotency = null)
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
            var (rowCount, schemaFields) = await PointInTimeJoin.JoinAsync(Path.Combine(work.FullName, "join.duckdb"), entityRelation, request.EntityRows is null,
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
                    """
                    INSERT INTO dataset_snapshots (snapshot_id, content_hash, rows, manifest, created_at, idempotency_key, request_hash)
                    VALUES (@id, @hash, @rows, @manifest::jsonb, @created, @key, @request_hash)
                    """,
                    ct, ("id", id), ("hash", hash), ("rows", rowCount), ("manifest", manifestJson), ("created", manifest.CreatedAt),
                    ("key", idempotency?.Key), ("request_hash", idempotency?.RequestHash));
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
        var keyColumns = PointInTimeJoin.KeyColumns(plans);
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

    private static string Literal(string path) => Duck.Literal(path);
}
