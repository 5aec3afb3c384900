using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DuckDB.NET.Data;
using Mlops.FeatureStore.Data;
using Microsoft.Extensions.Options;
using Mlops.Contracts;
using Mlops.FeatureStore.Features.Groups;
using Mlops.ServiceDefaults.Messaging;
using Mlops.ServiceDefaults.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.FeatureStore.Features.Ingestion;

public sealed record IngestionResult(long BatchId, string Group, int Version, long Rows, DateTimeOffset MinEventTime, DateTimeOffset MaxEventTime,
    int OfflineFiles, int OnlineEntities, double Seconds);

/// <summary>
/// All-or-nothing ingestion of one batch into both stores. Every record is converted and checked first, into a private
/// in-memory DuckDB table; only a batch without problems is written: its Parquet files to the lake (Hive partitions
/// group/version/event_date), then one PostgreSQL transaction that lists those files, upserts the online store
/// (latest by event time, then batch, then row), merges the statistics and enqueues <see cref="FeaturesIngested"/>.
/// If that transaction fails the uploaded files are deleted; they were never listed, so no reader saw them.
/// </summary>
public sealed class IngestionPipeline(NpgsqlDataSource db, ObjectStore store, IOptions<StorageOptions> storage, ILogger<IngestionPipeline> logger)
{
    public const string OfflinePrefix = "feature-store/offline";
    private const int UploadParallelism = 4;

    public static string GroupPrefix(string group, int version) => $"{OfflinePrefix}/group={group}/version={version}/";

    public async Task<IngestionResult> IngestAsync(GroupSchema schema, IRecordSource source, string sourceName,
        Func<long, long?, Task>? progress, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        var group = schema.Group;
        var batchId = await db.ReadFirstOrDefaultAsync("SELECT nextval('ingestion_batch_ids')", reader => reader.GetInt64(0), ct);

        var work = Directory.CreateTempSubdirectory("fs-ingest-");
        try
        {
            using var duck = new DuckDBConnection("DataSource=:memory:");
            await duck.OpenAsync(ct);
            duck.Exec($"SET threads = 2; SET preserve_insertion_order = false; SET temp_directory = '{work.FullName}/spill';");
            duck.Exec($"CREATE TABLE records ({string.Join(", ", schema.Columns.Select(c => $"{Duck.Quote(c.Name)} {c.DuckDbType}"))}, "
                + $"__batch_id BIGINT, __row BIGINT, {DefinitionRules.PartitionColumn} DATE)");

            var problems = new ProblemList();
            var winners = new Dictionary<string, Winner>(StringComparer.Ordinal);
            var stats = schema.Columns.Skip(schema.FirstFeatureIndex).Select(c => new FeatureStatistics(c)).ToArray();
            var raw = new object?[schema.Columns.Length];
            var values = new object?[schema.Columns.Length];
            var minTime = DateTime.MaxValue;
            var maxTime = DateTime.MinValue;
            long rows = 0;
            using (var appender = duck.CreateAppender("records"))
            {
                for (long row = 0; ; row++)
                {
                    if ((row & 0xFFF) == 0)
                    {
                        ct.ThrowIfCancellationRequested();
                        if (progress is not null && (row & 0xFFFF) == 0 && row > 0)
                            await progress(row, source.Total);
                    }
                    var before = problems.Count;
                    if (!source.Read(raw, row, problems))
                        break;
                    rows++;
                    for (var i = 0; i < raw.Length; i++)
                        if (GroupSchema.Convert(schema.Columns[i], raw[i], out values[i]) is { } reason)
                            problems.Add(row, schema.Columns[i].Name, reason, source.Line);
                    if (problems.Count != before || problems.Count > 0)
                        continue; // a rejected batch writes nothing; keep reading only to count its problems

                    var eventTime = (DateTime)values[schema.EventTimeIndex]!;
                    if (eventTime < minTime) minTime = eventTime;
                    if (eventTime > maxTime) maxTime = eventTime;
                    Append(appender, schema, values, batchId, row, eventTime);
                    Offer(winners, schema, values, eventTime, row);
                    for (var f = 0; f < stats.Length; f++)
                        stats[f].Add(values[schema.FirstFeatureIndex + f]);
                }
            }

            if (problems.Count > 0)
                throw ProblemException.BadRequest(
                    $"The batch was rejected and nothing was written: {problems.Count} problem(s) in {rows} record(s); the first {problems.First.Count} are listed (rows are 0-based; a CSV file's problems also give their line).",
                    new Dictionary<string, object?> { ["problems"] = problems.First, ["problem_count"] = problems.Count, ["rows"] = rows });
            if (rows == 0)
                throw ProblemException.BadRequest("The batch holds no records.");
            if (progress is not null)
                await progress(rows, source.Total ?? rows);

            var validated = started.Elapsed;
            // One Parquet file per event date, named after the batch.
            var output = Path.Combine(work.FullName, "out");
            duck.Exec($"COPY records TO '{output}' (FORMAT parquet, PARTITION_BY ({DefinitionRules.PartitionColumn}), FILENAME_PATTERN 'part-{batchId}-{{i}}', COMPRESSION zstd)");
            var files = Directory.GetFiles(output, "*.parquet", SearchOption.AllDirectories)
                .Select(path => new OfflineFile(path, $"{GroupPrefix(group.Name, group.Version)}{Path.GetRelativePath(output, path).Replace('\\', '/')}",
                    DateOnly.ParseExact(Path.GetFileName(Path.GetDirectoryName(path))!.Split('=')[1], "yyyy-MM-dd", CultureInfo.InvariantCulture),
                    new FileInfo(path).Length))
                .OrderBy(f => f.Key, StringComparer.Ordinal).ToList();

            var written = started.Elapsed;
            var uploaded = new ConcurrentBag<string>();
            try
            {
                await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = UploadParallelism, CancellationToken = ct }, async (file, token) =>
                {
                    await using var content = File.OpenRead(file.Path);
                    await store.PutAsync(storage.Value.LakeBucket, file.Key, content, "application/vnd.apache.parquet", token);
                    uploaded.Add(file.Key);
                });
                var stored = started.Elapsed;
                var result = new IngestionResult(batchId, group.Name, group.Version, rows, new DateTimeOffset(minTime), new DateTimeOffset(maxTime),
                    files.Count, winners.Count, 0);
                await CommitAsync(schema, result, sourceName, files, winners, stats, ct);
                logger.LogInformation("Ingested batch {BatchId} into {Group} v{Version}: {Rows} rows, {Files} files, {Entities} entities in {Seconds:0.00} s "
                    + "(read and check {Validated:0.00} s, Parquet {Written:0.00} s, upload {Uploaded:0.00} s, PostgreSQL {Committed:0.00} s)",
                    batchId, group.Name, group.Version, rows, files.Count, winners.Count, started.Elapsed.TotalSeconds, validated.TotalSeconds,
                    (written - validated).TotalSeconds, (stored - written).TotalSeconds, (started.Elapsed - stored).TotalSeconds);
                return result with { Seconds = started.Elapsed.TotalSeconds };
            }
            catch
            {
                foreach (var key in uploaded)
                {
                    try { await store.DeleteAsync(storage.Value.LakeBucket, key, CancellationToken.None); }
                    catch (Exception e) { logger.LogWarning(e, "Could not delete unlisted offline file {Key}", key); }
                }
                throw;
            }
        }
        finally
        {
            try { work.Delete(recursive: true); } catch (IOException) { }
        }
    }

    private sealed record OfflineFile(string Path, string Key, DateOnly EventDate, long Size);

    private sealed class Winner(DateTime eventTime, long row, object?[] values)
    {
        public DateTime EventTime = eventTime;
        public long Row = row;
        public readonly object?[] Values = values;
    }

    // Latest per entity within the batch; an equal event time later in the batch wins (ingestion order).
    private static void Offer(Dictionary<string, Winner> winners, GroupSchema schema, object?[] values, DateTime eventTime, long row)
    {
        var key = GroupSchema.EntityKey(values.AsSpan(0, schema.KeyCount));
        if (winners.TryGetValue(key, out var current))
        {
            if (eventTime < current.EventTime)
                return;
            current.EventTime = eventTime;
            current.Row = row;
            Array.Copy(values, schema.FirstFeatureIndex, current.Values, 0, current.Values.Length);
            return;
        }
        winners[key] = new Winner(eventTime, row, values[schema.FirstFeatureIndex..]);
    }

    private static void Append(DuckDBAppender appender, GroupSchema schema, object?[] values, long batchId, long row, DateTime eventTime)
    {
        var r = appender.CreateRow();
        for (var i = 0; i < values.Length; i++)
        {
            r = values[i] switch
            {
                null => r.AppendNullValue(),
                long l => r.AppendValue(l),
                double d => r.AppendValue(d),
                string s => r.AppendValue(s),
                bool b => r.AppendValue(b),
                DateTime t => r.AppendValue(t),
                float[] v => r.AppendValue((IEnumerable<float>)v),
                var other => throw new InvalidOperationException($"Unexpected value {other.GetType()} in column {schema.Columns[i].Name}."),
            };
        }
        r.AppendValue(batchId).AppendValue(row).AppendValue(DateOnly.FromDateTime(eventTime)).EndRow();
    }

    private async Task CommitAsync(GroupSchema schema, IngestionResult result, string sourceName, List<OfflineFile> files,
        Dictionary<string, Winner> winners, FeatureStatistics[] stats, CancellationToken ct)
    {
        var group = schema.Group;
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);

        // The group must still be live, at the version the batch was checked against (a concurrent new version is additive,
        // so the batch stays valid for the version it names).
        var live = await connection.ReadAllAsync("SELECT deleted_at IS NULL FROM feature_groups WHERE name = @name FOR SHARE",
            [new NpgsqlParameter("name", group.Name)], reader => reader.GetBoolean(0), ct, transaction);
        if (live is not [true])
            throw ProblemException.NotFound($"Feature group '{group.Name}' was deleted while the batch was being written; nothing was written.");

        await transaction.ExecuteAsync(
            """
            INSERT INTO ingestion_batches (batch_id, group_name, version, rows, min_event_time, max_event_time, source, created_at)
            VALUES (@batch, @group, @version, @rows, @min, @max, @source, now());
            INSERT INTO offline_files (object_key, batch_id, group_name, version, event_date, size_bytes)
            SELECT k, @batch, @group, @version, d, s FROM unnest(@keys, @dates, @sizes) AS f(k, d, s);
            CREATE TEMP TABLE online_stage (entity_key text, event_time timestamptz, row_no integer, values json) ON COMMIT DROP;
            """, ct,
            ("batch", result.BatchId), ("group", group.Name), ("version", group.Version), ("rows", result.Rows), ("min", result.MinEventTime),
            ("max", result.MaxEventTime), ("source", sourceName), ("keys", files.Select(f => f.Key).ToArray()),
            ("dates", files.Select(f => f.EventDate).ToArray()), ("sizes", files.Select(f => f.Size).ToArray()));

        var features = schema.Columns.Skip(schema.FirstFeatureIndex).ToArray();
        await using (var copy = await connection.BeginBinaryImportAsync("COPY online_stage (entity_key, event_time, row_no, values) FROM STDIN (FORMAT BINARY)", ct))
        {
            var buffer = new ArrayBufferWriter<byte>(1024);
            foreach (var (key, winner) in winners)
            {
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(key, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(winner.EventTime, NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync(checked((int)winner.Row), NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(OnlineJson(features, winner.Values, buffer), NpgsqlDbType.Json, ct);
            }
            await copy.CompleteAsync(ct);
        }

        await transaction.ExecuteAsync(
            """
            INSERT INTO online_features AS o (group_name, entity_key, version, event_time, batch_id, row_no, values)
            SELECT @group, entity_key, @version, event_time, @batch, row_no, values FROM online_stage ORDER BY entity_key
            ON CONFLICT (group_name, entity_key) DO UPDATE
                SET version = excluded.version, event_time = excluded.event_time, batch_id = excluded.batch_id,
                    row_no = excluded.row_no, values = excluded.values
                WHERE (excluded.event_time, excluded.batch_id, excluded.row_no) > (o.event_time, o.batch_id, o.row_no)
            """, ct, ("group", group.Name), ("version", group.Version), ("batch", result.BatchId));

        await FeatureStatistics.MergeAsync(transaction, group.Name, group.Version, stats, ct);
        await transaction.EnqueueAsync(new FeaturesIngested(group.Name, group.Version, result.BatchId, result.Rows, result.MinEventTime, result.MaxEventTime), ct);
        await transaction.CommitAsync(ct);
    }

    private static string OnlineJson(SchemaColumn[] features, object?[] values, ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            for (var i = 0; i < features.Length; i++)
            {
                json.WritePropertyName(features[i].Name);
                WriteValue(json, values[i]);
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case long l: json.WriteNumberValue(l); break;
            case double d: json.WriteNumberValue(d); break;
            case string s: json.WriteStringValue(s); break;
            case bool b: json.WriteBooleanValue(b); break;
            case DateTime t: json.WriteStringValue(t.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)); break;
            case float[] v:
                json.WriteStartArray();
                foreach (var f in v) json.WriteNumberValue(f);
                json.WriteEndArray();
                break;
            default: throw new InvalidOperationException($"Unexpected value {value.GetType()}.");
        }
    }
}
