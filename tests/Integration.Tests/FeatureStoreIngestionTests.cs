using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.S3;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using DuckDB.NET.Data;
using Microsoft.Extensions.DependencyInjection;
using Mlops.ServiceDefaults.Storage;
using Npgsql;

namespace Mlops.Tests;

/// <summary>
/// Ingestion, online reads and training sets through the running AppHost, on the flights data (vega-datasets) and on
/// small hand-checked batches: late arrivals, ties, TTL, entities with no history, rejected batches leaving no trace.
/// </summary>
public sealed class FeatureStoreIngestionTests(PlatformFixture platform)
{
    private static string UniqueName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    private static string Flights(string file)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln")))
            dir = dir.Parent;
        var path = Path.Combine(dir!.FullName, "eng", "node", "node_modules", "vega-datasets", "data", file);
        Assert.True(File.Exists(path), $"{path} is missing: run eng/bootstrap.sh (npm ci in eng/node).");
        return path;
    }

    private static async Task<JsonObject> OkAsync(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    private async Task<string> CreateAsync(HttpClient client, JsonObject definition)
    {
        await OkAsync(await client.PostAsJsonAsync("/api/feature-groups", definition), HttpStatusCode.Created);
        return (string)definition["name"]!;
    }

    private static JsonObject ScoresGroup(string name, long? ttlSeconds) => new()
    {
        ["name"] = name,
        ["entity_keys"] = new JsonArray(new JsonObject { ["name"] = "user_id", ["type"] = "int64" }),
        ["event_time"] = "ts",
        ["ttl_seconds"] = ttlSeconds,
        ["features"] = new JsonArray(new JsonObject { ["name"] = "score", ["type"] = "double" }),
    };

    private static JsonObject Score(long user, DateTime ts, double score) =>
        new() { ["user_id"] = user, ["ts"] = ts.ToString("O", CultureInfo.InvariantCulture), ["score"] = score };

    private static Task<HttpResponseMessage> IngestAsync(HttpClient client, string group, params JsonObject[] records) =>
        client.PostAsJsonAsync($"/api/feature-groups/{group}/records", new JsonObject { ["records"] = new JsonArray([.. records]) });

    private static async Task<JsonObject> ReadOnlineAsync(HttpClient client, string[] features, params JsonObject[] entities) =>
        await OkAsync(await client.PostAsJsonAsync("/api/online/features",
            new JsonObject { ["features"] = new JsonArray([.. features.Select(f => (JsonNode)f)]), ["entities"] = new JsonArray([.. entities]) }));

    private async Task<IAmazonS3> S3Async()
    {
        var model = platform.App.Services.GetRequiredService<DistributedApplicationModel>();
        var secret = await model.Resources.OfType<ParameterResource>().Single(p => p.Name == ResourceNames.S3SecretKey).GetValueAsync(default);
        return S3Extensions.CreateClient(new S3Options
        {
            ServiceUrl = platform.App.GetEndpoint(ResourceNames.S3, "http").ToString(), AccessKey = "S3RVER", SecretKey = secret,
        });
    }

    private async Task<long> ScalarAsync(string sql, string group)
    {
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.FeatureStore);
        await using var command = new NpgsqlCommand(sql, db);
        command.Parameters.AddWithValue("g", group);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    private async Task<long> LakeObjectsAsync(IAmazonS3 s3, string group)
    {
        long count = 0;
        string? token = null;
        do
        {
            var page = await s3.ListObjectsV2Async(new() { BucketName = ResourceNames.LakeBucket, Prefix = $"feature-store/offline/group={group}/", ContinuationToken = token });
            count += page.S3Objects?.Count ?? 0;
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        } while (token is not null);
        return count;
    }

    private static Task<JsonObject> FinishedJobAsync(HttpClient client, string jobId) => Poll.UntilAsync(async () =>
    {
        var state = await client.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}");
        return (string)state!["status"]! is "succeeded" or "failed" or "cancelled" ? state : null;
    }, TimeSpan.FromMinutes(2), $"job {jobId} to finish");

    /// <summary>The snapshot's Parquet file, read back with DuckDB: the given columns, row by row.</summary>
    private async Task<List<object?[]>> DownloadSnapshotAsync(JsonObject manifest, string columns)
    {
        using var s3 = await S3Async();
        var dataUri = new Uri((string)manifest["data_uri"]!);
        var path = Path.Combine(Path.GetTempPath(), $"fs-it-{Guid.NewGuid():N}.parquet");
        try
        {
            await using (var data = await new ObjectStore(s3).GetAsync(dataUri.Host, dataUri.AbsolutePath.TrimStart('/')))
            await using (var file = File.Create(path))
                await data.CopyToAsync(file);
            using var duck = new DuckDBConnection("DataSource=:memory:");
            duck.Open();
            using var command = duck.CreateCommand();
            command.CommandText = $"SELECT {columns} FROM read_parquet('{path}')";
            using var reader = command.ExecuteReader();
            var rows = new List<object?[]>();
            while (reader.Read())
            {
                var row = new object?[reader.FieldCount];
                for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                rows.Add(row);
            }
            return rows;
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Flights_JsonBatch_OnlineLatestPerOrigin_OfflineInS3_Statistics_PointInTimeTrainingSet()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var group = await CreateAsync(client, FeatureStoreTests.FlightsGroup(UniqueName("flights")));
        var records = JsonNode.Parse(await File.ReadAllTextAsync(Flights("flights-2k.json")))!.AsArray();

        var result = await OkAsync(await client.PostAsJsonAsync($"/api/feature-groups/{group}/records", new JsonObject { ["records"] = records.DeepClone() }));
        Assert.Equal(2000, (long)result["rows"]!);

        // Hand-computed expectation: per origin the record with the latest date; on equal dates the later record.
        var expected = records.Select((r, i) => (Record: r!, Index: i, Date: DateTime.Parse((string)r!["date"]!, CultureInfo.InvariantCulture)))
            .GroupBy(r => (string)r.Record["origin"]!)
            .ToDictionary(g => g.Key, g => g.OrderBy(r => r.Date).ThenBy(r => r.Index).Last().Record);
        var origins = expected.Keys.Order(StringComparer.Ordinal).Take(5).ToList();
        var online = await ReadOnlineAsync(client, [$"{group}:delay", $"{group}:destination", $"{group}:distance"],
            [.. origins.Select(o => new JsonObject { ["origin"] = o }), new JsonObject { ["origin"] = "ZZZ" }]);
        for (var i = 0; i < origins.Count; i++)
        {
            var row = online["results"]![i]!;
            Assert.Equal((long)expected[origins[i]]["delay"]!, (long)row["values"]![0]!);
            Assert.Equal((string)expected[origins[i]]["destination"]!, (string)row["values"]![1]!);
            Assert.Equal((long)expected[origins[i]]["distance"]!, (long)row["values"]![2]!);
            Assert.Equal(["PRESENT", "PRESENT", "PRESENT"], row["statuses"]!.AsArray().Select(s => (string)s!));
        }
        Assert.Equal(["NOT_FOUND", "NOT_FOUND", "NOT_FOUND"], online["results"]![origins.Count]!["statuses"]!.AsArray().Select(s => (string)s!));

        // Offline: every listed file is in the lake under group=/version=/event_date=, and the rows add up.
        using var s3 = await S3Async();
        var listed = await ScalarAsync("SELECT count(*) FROM offline_files WHERE group_name = @g", group);
        Assert.True(listed > 0);
        Assert.Equal(listed, await LakeObjectsAsync(s3, group));
        Assert.Equal(2000, await ScalarAsync("SELECT sum(rows) FROM ingestion_batches WHERE group_name = @g", group));

        // Statistics: count and mean of delay as computed here.
        var stats = await client.GetFromJsonAsync<JsonObject>($"/api/feature-groups/{group}/statistics");
        var delay = stats!["features"]!.AsArray().Single(f => (string)f!["feature"]! == "delay")!;
        Assert.Equal(2000, (long)delay["count"]!);
        Assert.Equal(records.Average(r => (double)(long)r!["delay"]!), (double)delay["mean"]!, 6);
        Assert.Equal(records.Min(r => (long)r!["delay"]!), (double)delay["min"]!);
        // The median from the stored t-digest sits at the middle rank of the batch's delays.
        var median = (double)delay["quantiles"]!["p50"]!;
        var atOrBelow = records.Count(r => (long)r!["delay"]! <= median) / (double)records.Count;
        var below = records.Count(r => (long)r!["delay"]! < median) / (double)records.Count;
        Assert.True(below <= 0.52 && atOrBelow >= 0.48, $"p50 {median}: {below:P1} below, {atOrBelow:P1} at or below");
        var destination = stats["features"]!.AsArray().Single(f => (string)f!["feature"]! == "destination")!;
        var topDestination = records.GroupBy(r => (string)r!["destination"]!).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First();
        Assert.Equal(topDestination.Count(), (long)destination["top_values"]![topDestination.Key]!);

        // A training set on the flights: per origin and time, the latest flight at or before it (hand-computed here).
        var parsed = records.Select((r, i) => (Record: r!, Index: i,
            Date: DateTime.SpecifyKind(DateTime.Parse((string)r!["date"]!, CultureInfo.InvariantCulture), DateTimeKind.Utc))).ToList();
        var first = parsed.Min(r => r.Date);
        var middle = parsed.OrderBy(r => r.Date).ElementAt(parsed.Count / 2).Date;
        var rows = origins.SelectMany(o => new[] { middle, middle.AddDays(3), first.AddMinutes(-1) }.Select(t => (Origin: o, At: t))).ToList();
        var training = await OkAsync(await client.PostAsJsonAsync("/api/training-sets", new JsonObject
        {
            ["features"] = new JsonArray($"{group}:delay", $"{group}:destination"),
            ["entity_rows"] = new JsonArray([.. rows.Select(r => (JsonNode)new JsonObject
                { ["origin"] = r.Origin, ["event_timestamp"] = r.At.ToString("O", CultureInfo.InvariantCulture) })]),
        }), HttpStatusCode.Created);
        var snapshot = await DownloadSnapshotAsync(training, $"\"{group}__delay\", \"{group}__destination\"");
        Assert.Equal(rows.Count, snapshot.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            var latest = parsed.Where(r => (string)r.Record["origin"]! == rows[i].Origin && r.Date <= rows[i].At)
                .OrderBy(r => r.Date).ThenBy(r => r.Index).Select(r => r.Record).LastOrDefault();
            Assert.Equal(latest is null ? null : (long?)(long)latest["delay"]!, snapshot[i][0] is null ? null : Convert.ToInt64(snapshot[i][0]));
            Assert.Equal(latest is null ? null : (string)latest["destination"]!, (string?)snapshot[i][1]);
            if (rows[i].At < first)
                Assert.Null(snapshot[i][0]);
        }

        // The FeaturesIngested event went through the outbox.
        Assert.Equal(1, await ScalarAsync(
            "SELECT count(*) FROM outbox_messages WHERE message_type = 'Mlops.Contracts.FeaturesIngested' AND body->>'group' = @g AND (body->>'rows')::bigint = 2000", group));
    }

    [Fact]
    public async Task LateArrivalsTiesAndTtl_OnlineAndTrainingSet_MatchHandCheckedValues()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var group = await CreateAsync(client, ScoresGroup(UniqueName("scores"), ttlSeconds: 3600));
        var now = DateTime.UtcNow;
        now = new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);

        await OkAsync(await IngestAsync(client, group, Score(1, now.AddMinutes(-10), 1.0), Score(2, now.AddHours(-3), 7.0)));
        await OkAsync(await IngestAsync(client, group, Score(1, now.AddMinutes(-20), 2.0)));   // late: older than what is stored
        await OkAsync(await IngestAsync(client, group, Score(1, now.AddMinutes(-10), 3.0)));   // tie on event time: later batch wins

        var online = await ReadOnlineAsync(client, [$"{group}:score"],
            new JsonObject { ["user_id"] = 1 }, new JsonObject { ["user_id"] = 2 }, new JsonObject { ["user_id"] = 9 });
        var results = online["results"]!.AsArray();
        Assert.Equal(3.0, (double)results[0]!["values"]![0]!);
        Assert.Equal("PRESENT", (string)results[0]!["statuses"]![0]!);
        Assert.Null(results[1]!["values"]![0]);
        Assert.Equal("OUTSIDE_MAX_AGE", (string)results[1]!["statuses"]![0]!);
        Assert.Equal("NOT_FOUND", (string)results[2]!["statuses"]![0]!);

        JsonObject Row(long user, DateTime at, int label) =>
            new() { ["user_id"] = user, ["event_timestamp"] = at.ToString("O", CultureInfo.InvariantCulture), ["label"] = label };
        var request = new JsonObject
        {
            ["features"] = new JsonArray($"{group}:score"),
            ["entity_rows"] = new JsonArray(
                Row(1, now.AddMinutes(-15), 1),   // → 2.0, the late arrival is the latest at that time
                Row(1, now, 0),                   // → 3.0, the tie went to the later batch
                Row(1, now.AddMinutes(-30), 1),   // → null, nothing yet
                Row(2, now.AddMinutes(-150), 0),  // → 7.0, 30 minutes old: within the TTL
                Row(2, now, 1),                   // → null, 3 hours old: outside the TTL
                Row(9, now, 0)),                  // → null, no history
        };
        var manifest = await OkAsync(await client.PostAsJsonAsync("/api/training-sets", request), HttpStatusCode.Created);
        Assert.Equal(6, (long)manifest["row_count"]!);
        Assert.Equal(1, (int)manifest["group_versions"]![group]!);
        Assert.Equal(["user_id", "event_timestamp", "label", $"{group}__score"], manifest["schema"]!.AsArray().Select(f => (string)f!["name"]!));

        var snapshot = await DownloadSnapshotAsync(manifest, $"\"{group}__score\", label");
        Assert.Equal([2.0, 3.0, null, 7.0, null, null], snapshot.Select(r => (double?)r[0]));
        Assert.Equal([1L, 0L, 1L, 0L, 1L, 0L], snapshot.Select(r => Convert.ToInt64(r[1])));

        // Same request, same data → same content hash; a new snapshot id.
        var again = await OkAsync(await client.PostAsJsonAsync("/api/training-sets", request.DeepClone()), HttpStatusCode.Created);
        Assert.Equal((string)manifest["content_hash"]!, (string)again["content_hash"]!);
        Assert.NotEqual((string)manifest["snapshot_id"]!, (string)again["snapshot_id"]!);
        var stored = await client.GetFromJsonAsync<JsonObject>($"/api/training-sets/{manifest["snapshot_id"]}");
        Assert.Equal((string)manifest["content_hash"]!, (string)stored!["content_hash"]!);
        Assert.Equal(1, await ScalarAsync(
            "SELECT count(*) FROM outbox_messages WHERE message_type = 'Mlops.Contracts.DatasetSnapshotCreated' AND body->>'snapshotId' = @g",
            (string)manifest["snapshot_id"]!));
    }

    [Fact]
    public async Task OnlineRead_AfterTheGroupGetsANewVersion_AppliesItToTheSameFeatureList_AndBadReferencesAreNamed()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var group = await CreateAsync(client, ScoresGroup(UniqueName("plan"), ttlSeconds: 3600));
        var now = DateTime.UtcNow;
        await OkAsync(await IngestAsync(client, group, Score(1, now.AddHours(-3), 7.0)));
        string[] features = [$"{group}:score"];

        var before = (await ReadOnlineAsync(client, features, new JsonObject { ["user_id"] = 1 }))["results"]![0]!;
        Assert.Equal("OUTSIDE_MAX_AGE", (string)before["statuses"]![0]!);

        // The same list of references, read again after a new version widened the TTL to 4 hours: the read must not
        // keep what it resolved against version 1.
        var v2 = ScoresGroup(group, ttlSeconds: 4 * 3600);
        Assert.Equal(2, (int)(await OkAsync(await client.PutAsJsonAsync($"/api/feature-groups/{group}", v2)))["version"]!);
        var after = (await ReadOnlineAsync(client, features, new JsonObject { ["user_id"] = 1 }))["results"]![0]!;
        Assert.Equal("PRESENT", (string)after["statuses"]![0]!);
        Assert.Equal(7.0, (double)after["values"]![0]!);

        // References that are not group:feature are the caller's error (400, naming the reference), for online reads and
        // training sets alike; a feature the live version lacks is a 404 naming it and the version.
        foreach (var bad in new[] { group, $"{group}:", ":score", $"{group}:score:extra" })
        {
            var online = await OkAsync(await client.PostAsJsonAsync("/api/online/features", new JsonObject
            {
                ["features"] = new JsonArray(bad), ["entities"] = new JsonArray(new JsonObject { ["user_id"] = 1 }),
            }), HttpStatusCode.BadRequest);
            Assert.Contains($"'{bad}' is not a feature reference", (string)online["detail"]!);
            var training = await OkAsync(await client.PostAsJsonAsync("/api/training-sets", new JsonObject
            {
                ["features"] = new JsonArray(bad),
                ["entity_rows"] = new JsonArray(new JsonObject { ["user_id"] = 1, ["event_timestamp"] = now.ToString("O", CultureInfo.InvariantCulture) }),
            }), HttpStatusCode.BadRequest);
            Assert.Contains($"'{bad}' is not a feature reference", (string)training["detail"]!);
        }
        var missing = await OkAsync(await client.PostAsJsonAsync("/api/training-sets", new JsonObject
        {
            ["features"] = new JsonArray($"{group}:rank"),
            ["entity_rows"] = new JsonArray(new JsonObject { ["user_id"] = 1, ["event_timestamp"] = now.ToString("O", CultureInfo.InvariantCulture) }),
        }), HttpStatusCode.NotFound);
        Assert.Contains($"Feature 'rank' does not exist in feature group '{group}' (version 2)", (string)missing["detail"]!);
    }

    [Fact]
    public async Task EveryFeatureType_IncludingFloatVectors_RoundTripsThroughBothStores()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var group = await CreateAsync(client, new JsonObject
        {
            ["name"] = UniqueName("types"),
            ["entity_keys"] = new JsonArray(new JsonObject { ["name"] = "account", ["type"] = "string" }, new JsonObject { ["name"] = "shard", ["type"] = "int64" }),
            ["event_time"] = "ts",
            ["features"] = new JsonArray(
                new JsonObject { ["name"] = "n", ["type"] = "int64" },
                new JsonObject { ["name"] = "x", ["type"] = "double" },
                new JsonObject { ["name"] = "s", ["type"] = "string", ["constraints"] = new JsonObject { ["allowed_values"] = new JsonArray("a", "b") } },
                new JsonObject { ["name"] = "flag", ["type"] = "bool" },
                new JsonObject { ["name"] = "seen", ["type"] = "timestamp" },
                new JsonObject { ["name"] = "embedding", ["type"] = "float_vector", ["dimension"] = 3 }),
        });
        var record = new JsonObject
        {
            ["account"] = "acme", ["shard"] = 7, ["ts"] = "2024-05-01T12:00:00Z", ["n"] = 42, ["x"] = 2.5, ["s"] = "b", ["flag"] = true,
            ["seen"] = "2024-04-30T08:00:00.123456Z", ["embedding"] = new JsonArray(0.5, -1.25, 3),
        };
        await OkAsync(await IngestAsync(client, group, record));

        var features = new[] { "n", "x", "s", "flag", "seen", "embedding" }.Select(f => $"{group}:{f}").ToArray();
        var online = await ReadOnlineAsync(client, features, new JsonObject { ["account"] = "acme", ["shard"] = 7 });
        var values = online["results"]![0]!["values"]!.AsArray();
        Assert.Equal(42, (long)values[0]!);
        Assert.Equal(2.5, (double)values[1]!);
        Assert.Equal("b", (string)values[2]!);
        Assert.True((bool)values[3]!);
        Assert.Equal("2024-04-30T08:00:00.123456Z", (string)values[4]!);
        Assert.Equal([0.5, -1.25, 3.0], values[5]!.AsArray().Select(v => (double)v!));
        Assert.All(online["results"]![0]!["event_times"]!.AsArray(), t => Assert.Equal("2024-05-01T12:00:00Z", (string)t!));

        // A null feature comes back as null with its own status, beside present ones of the same record.
        var withNull = record.DeepClone().AsObject();
        (withNull["shard"], withNull["x"], withNull["ts"]) = (8, null, "2024-05-01T12:00:00.25Z");
        await OkAsync(await IngestAsync(client, group, withNull));
        var nullRead = (await ReadOnlineAsync(client, [$"{group}:x", $"{group}:n"], new JsonObject { ["account"] = "acme", ["shard"] = 8 }))["results"]![0]!;
        Assert.Equal(["NULL_VALUE", "PRESENT"], nullRead["statuses"]!.AsArray().Select(s => (string)s!));
        Assert.Null(nullRead["values"]![0]);
        Assert.Equal(42, (long)nullRead["values"]![1]!);
        Assert.Equal("2024-05-01T12:00:00.25Z", (string)nullRead["event_times"]![0]!);

        // A wrong dimension and a value outside allowed_values are refused with their fields.
        var bad = record.DeepClone().AsObject();
        bad["embedding"] = new JsonArray(1, 2);
        bad["s"] = "c";
        var problem = await OkAsync(await IngestAsync(client, group, bad), HttpStatusCode.BadRequest);
        Assert.Equal(["s", "embedding"], problem["problems"]!.AsArray().Select(p => (string)p!["field"]!));

        var manifest = await OkAsync(await client.PostAsJsonAsync("/api/training-sets", new JsonObject
        {
            ["features"] = new JsonArray([.. features.Select(f => (JsonNode)f)]),
            ["entity_rows"] = new JsonArray(new JsonObject { ["account"] = "acme", ["shard"] = 7, ["event_timestamp"] = "2024-05-02T00:00:00Z" }),
        }), HttpStatusCode.Created);
        var types = manifest["schema"]!.AsArray().ToDictionary(f => (string)f!["name"]!, f => (string)f!["type"]!);
        Assert.Equal("BIGINT", types[$"{group}__n"]);
        Assert.Equal("DOUBLE", types[$"{group}__x"]);
        Assert.Equal("BOOLEAN", types[$"{group}__flag"]);
        Assert.Equal("TIMESTAMP", types[$"{group}__seen"]);
        Assert.Equal("FLOAT[]", types[$"{group}__embedding"]);
    }

    [Fact]
    public async Task Batch_OverTheBodyLimit_Answers413StatingTheLimit()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var group = await CreateAsync(client, ScoresGroup(UniqueName("big"), null));
        var body = new StringBuilder("{\"records\": [");
        var record = $"{{\"user_id\": 1, \"ts\": \"2024-01-01T00:00:00Z\", \"score\": 1.0, \"pad\": \"{new string('x', 1000)}\"}},";
        while (body.Length < 33 * 1024 * 1024) body.Append(record);
        body.Append("{}]}");
        // Expect: 100-continue, as a well-behaved client sending a large body does, so the server refuses before the upload.
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/feature-groups/{group}/records")
        {
            Content = new StringContent(body.ToString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.ExpectContinue = true;
        var response = await client.SendAsync(request);
        var problem = await OkAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains((32 * 1024 * 1024).ToString(CultureInfo.InvariantCulture), (string)problem["detail"]!);
        Assert.Equal(0, await ScalarAsync("SELECT count(*) FROM ingestion_batches WHERE group_name = @g", group));
    }

    [Fact]
    public async Task BadBatch_IsRejectedWithRowAndField_AndLeavesNoTrace()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var group = await CreateAsync(client, FeatureStoreTests.FlightsGroup(UniqueName("bad")));
        JsonObject Flight(string? origin, JsonNode? delay, long distance, string destination) => new()
        {
            ["date"] = "2001-01-01T10:00:00Z", ["origin"] = origin, ["delay"] = delay, ["distance"] = distance, ["destination"] = destination,
        };
        await OkAsync(await IngestAsync(client, group, Flight("SFO", 5, 300, "LAX")));

        using var s3 = await S3Async();
        async Task<long[]> TraceAsync() =>
        [
            await ScalarAsync("SELECT count(*) FROM online_features WHERE group_name = @g", group),
            await ScalarAsync("SELECT count(*) FROM offline_files WHERE group_name = @g", group),
            await ScalarAsync("SELECT count(*) FROM ingestion_batches WHERE group_name = @g", group),
            await ScalarAsync("SELECT coalesce(sum(count), 0) FROM feature_statistics WHERE group_name = @g", group),
            await ScalarAsync("SELECT count(*) FROM outbox_messages WHERE body->>'group' = @g", group),
            await LakeObjectsAsync(s3, group),
        ];
        var before = await TraceAsync();

        var bad = new JsonObject { ["records"] = new JsonArray(
            Flight("OAK", 1, 100, "SEA"),          // fine
            Flight("OAK", "abc", 100, "SEA"),      // wrong type
            Flight(null, 1, 100, "SEA"),           // missing key
            Flight("OAK", 1, -5, "SEA"),           // below min
            Flight("OAK", 1, 100, "sea"),          // pattern
            new JsonObject { ["origin"] = "OAK", ["delay"] = 1, ["date"] = "2001-01-01", ["seats"] = 3 }) }; // unknown column
        var response = await client.PostAsJsonAsync($"/api/feature-groups/{group}/records", bad);
        var problem = await OkAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problems = problem["problems"]!.AsArray().Select(p => ((long)p!["row"]!, (string)p["field"]!)).ToList();
        Assert.Equal([(1L, "delay"), (2L, "origin"), (3L, "distance"), (4L, "destination"), (5L, "seats")], problems);
        Assert.Equal(5, (long)problem["problem_count"]!);
        Assert.Contains("nothing was written", (string)problem["detail"]!);

        // A malformed Parquet upload and malformed JSON are 400 too; an unknown group is 404.
        var garbage = new ByteArrayContent(Encoding.UTF8.GetBytes("PAR1 this is not parquet"));
        garbage.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.apache.parquet");
        var parquetProblem = await OkAsync(await client.PostAsync($"/api/feature-groups/{group}/files", garbage), HttpStatusCode.BadRequest);
        Assert.Contains("cannot be read as Parquet", (string)parquetProblem["detail"]!);
        await OkAsync(await client.PostAsync($"/api/feature-groups/{group}/records", new StringContent("{\"records\": [", Encoding.UTF8, "application/json")),
            HttpStatusCode.BadRequest);
        var unknown = await OkAsync(await IngestAsync(client, "no_such_group", Flight("SFO", 1, 1, "LAX")), HttpStatusCode.NotFound);
        Assert.Contains("no_such_group", (string)unknown["detail"]!);
        var unknownFeature = await OkAsync(await client.PostAsJsonAsync("/api/online/features", new JsonObject
        {
            ["features"] = new JsonArray($"{group}:seats"), ["entities"] = new JsonArray(new JsonObject { ["origin"] = "SFO" }),
        }), HttpStatusCode.NotFound);
        Assert.Contains("'seats'", (string)unknownFeature["detail"]!);

        Assert.Equal(before, await TraceAsync());
    }

    [Fact]
    public async Task Files_CsvAndParquetUploads_AndLakeImportJob_IngestFlights()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var group = await CreateAsync(client, FeatureStoreTests.FlightsGroup(UniqueName("files")));
        var work = Directory.CreateTempSubdirectory("fs-it-files-");
        try
        {
            // 500 flights from the 3-million-row Parquet file, as Parquet and as CSV.
            var parquet = Path.Combine(work.FullName, "flights.parquet");
            var csv = Path.Combine(work.FullName, "flights.csv");
            using (var duck = new DuckDBConnection("DataSource=:memory:"))
            {
                duck.Open();
                using var command = duck.CreateCommand();
                command.CommandText =
                    $"""
                    COPY (SELECT * FROM read_parquet('{Flights("flights-3m.parquet")}') LIMIT 500) TO '{parquet}' (FORMAT parquet);
                    COPY (SELECT * FROM read_parquet('{parquet}')) TO '{csv}' (HEADER, DELIMITER ',');
                    """;
                command.ExecuteNonQuery();
            }

            var parquetContent = new ByteArrayContent(await File.ReadAllBytesAsync(parquet));
            parquetContent.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.apache.parquet");
            Assert.Equal(500, (long)(await OkAsync(await client.PostAsync($"/api/feature-groups/{group}/files", parquetContent)))["rows"]!);
            var csvContent = new ByteArrayContent(await File.ReadAllBytesAsync(csv));
            csvContent.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
            Assert.Equal(500, (long)(await OkAsync(await client.PostAsync($"/api/feature-groups/{group}/files", csvContent)))["rows"]!);

            // The lake import: the same file put in the lake bucket, imported by a job with progress.
            using var s3 = await S3Async();
            var key = $"tests/feature-store/{group}/flights.parquet";
            await using (var file = File.OpenRead(parquet))
                await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, key, file);
            var accepted = await OkAsync(await client.PostAsJsonAsync($"/api/feature-groups/{group}/imports", new JsonObject { ["object_key"] = key }),
                HttpStatusCode.Accepted);
            var jobId = (string)accepted["job_id"]!;
            var job = await FinishedJobAsync(client, jobId);
            Assert.True((string)job["status"]! == "succeeded", job.ToJsonString());
            Assert.Equal(500, (long)job["rows_done"]!);
            Assert.Equal(500, (long)job["rows_total"]!);
            Assert.Equal(500, (long)job["result"]!["rows"]!);

            // Cancelling a finished job changes nothing; an unknown job is 404.
            var cancelled = await OkAsync(await client.PostAsync($"/api/jobs/{jobId}/cancel", null));
            Assert.Equal("succeeded", (string)cancelled["status"]!);
            await OkAsync(await client.PostAsync($"/api/jobs/{Guid.NewGuid()}/cancel", null), HttpStatusCode.NotFound);

            Assert.Equal(1500, await ScalarAsync("SELECT sum(rows) FROM ingestion_batches WHERE group_name = @g", group));
            var missing = await OkAsync(await client.PostAsJsonAsync($"/api/feature-groups/{group}/imports", new JsonObject { ["object_key"] = "tests/none.parquet" }),
                HttpStatusCode.NotFound);
            Assert.Contains("tests/none.parquet", (string)missing["detail"]!);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    // CSV: a group with a string feature, so that a quote taken as data would show in the stored value.
    private static JsonObject VisitsGroup(string name) => new()
    {
        ["name"] = name,
        ["entity_keys"] = new JsonArray(new JsonObject { ["name"] = "user_id", ["type"] = "int64" }),
        ["event_time"] = "ts",
        ["features"] = new JsonArray(new JsonObject { ["name"] = "page", ["type"] = "string" }, new JsonObject { ["name"] = "score", ["type"] = "double" }),
    };

    private static Task<HttpResponseMessage> UploadAsync(HttpClient client, string group, string body, string? contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType is not null)
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return client.PostAsync($"/api/feature-groups/{group}/files", content);
    }

    /// <summary>A group with one accepted CSV batch (user 1), and a check that later refused uploads changed nothing.</summary>
    private async Task<(string Group, Func<long[], Task> NothingWrittenAsync)> CsvGroupAsync(HttpClient client, string prefix)
    {
        var group = await CreateAsync(client, VisitsGroup(UniqueName(prefix)));
        await OkAsync(await UploadAsync(client, group, "user_id,ts,page,score\n1,2024-01-01T00:00:00Z,home,1.5\n", "text/csv"));
        var statistics = (await client.GetFromJsonAsync<JsonObject>($"/api/feature-groups/{group}/statistics"))!.ToJsonString();
        return (group, async users =>
        {
            var online = await ReadOnlineAsync(client, [$"{group}:page", $"{group}:score"], [.. users.Append(1).Select(u => new JsonObject { ["user_id"] = u })]);
            Assert.Equal(["PRESENT", "PRESENT"], online["results"]!.AsArray()[^1]!["statuses"]!.AsArray().Select(x => (string)x!));
            online["results"]!.AsArray().RemoveAt(users.Length);
            Assert.All(online["results"]!.AsArray(), r => Assert.Equal(["NOT_FOUND", "NOT_FOUND"], r!["statuses"]!.AsArray().Select(x => (string)x!)));
            Assert.Equal(statistics, (await client.GetFromJsonAsync<JsonObject>($"/api/feature-groups/{group}/statistics"))!.ToJsonString());
            Assert.Equal(1, await ScalarAsync("SELECT sum(rows) FROM ingestion_batches WHERE group_name = @g", group));
        });
    }

    /// <summary>Uploads a CSV that must be refused: a 400 ProblemDetails naming no server path.</summary>
    private static async Task<JsonObject> RefusedCsvAsync(HttpClient client, string group, string csv)
    {
        var response = await UploadAsync(client, group, csv, "text/csv");
        var problem = await OkAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        AssertNoServerPath(problem);
        return problem;
    }

    private static void AssertNoServerPath(JsonNode problem)
    {
        var text = problem.ToJsonString();
        Assert.DoesNotContain(Path.GetTempPath().TrimEnd('/'), text);
        Assert.DoesNotContain("/tmp", text);
        Assert.DoesNotContain("fs-upload", text);
        Assert.DoesNotContain("fs-import", text);
    }

    [Theory]
    [InlineData("2,2024-01-02T00:00:00Z,cart,2.5,9", 5)] // one field too many
    [InlineData("2,2024-01-02T00:00:00Z", 2)]            // too few
    public async Task CsvUpload_RaggedRow_Is400NamingTheLineAndFieldCounts_AndWritesNothing(string ragged, int fields)
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, nothingWrittenAsync) = await CsvGroupAsync(client, "ragged");

        var problem = await RefusedCsvAsync(client, group, $"user_id,ts,page,score\n3,2024-01-02T00:00:00Z,home,1.0\n{ragged}\n4,2024-01-02T00:00:00Z,home,1.0\n");
        Assert.Contains($"line 3 has {fields} field(s) but the header has 4", (string)problem["detail"]!);
        Assert.Equal(3, (long)problem["line"]!);
        Assert.Equal(4, (int)problem["expected_fields"]!);
        Assert.Equal(fields, (int)problem["actual_fields"]!);
        await nothingWrittenAsync([2, 3, 4]);
    }

    [Fact]
    public async Task CsvUpload_UnterminatedQuote_Is400NamingTheLine_AndWritesNothing()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, nothingWrittenAsync) = await CsvGroupAsync(client, "quote");

        var problem = await RefusedCsvAsync(client, group,
            "user_id,ts,page,score\n3,2024-01-02T00:00:00Z,home,1.0\n5,2024-01-02T00:00:00Z,\"home,1.0\n6,2024-01-02T00:00:00Z,cart,2.0\n");
        Assert.Contains("opens on line 3 is never closed", (string)problem["detail"]!);
        Assert.Equal(3, (long)problem["line"]!);
        await nothingWrittenAsync([3, 5, 6]);
    }

    [Fact]
    public async Task CsvUpload_BadValue_ProblemNamesTheRecordAndTheFilesLine_AndWritesNothing()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, nothingWrittenAsync) = await CsvGroupAsync(client, "csvvalue");

        // The first record spans lines 2-3, so the bad value's record (row 1) starts on line 4.
        var problem = await RefusedCsvAsync(client, group, "user_id,ts,page,score\n3,2024-01-02T00:00:00Z,\"multi\nline\",1.0\n4,2024-01-02T00:00:00Z,home,abc\n");
        var first = problem["problems"]!.AsArray().Single()!;
        Assert.Equal((1L, "score", 4L), ((long)first["row"]!, (string)first["field"]!, (long)first["line"]!));
        Assert.Contains("'abc' is not a number", (string)first["reason"]!);
        await nothingWrittenAsync([3, 4]);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/plain")]
    [InlineData("text/csv; charset=iso-8859-1")]
    [InlineData(null)]
    public async Task FileUpload_UnsupportedContentType_Is415ListingTheAcceptedTypes(string? contentType)
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, nothingWrittenAsync) = await CsvGroupAsync(client, "media");

        var response = await UploadAsync(client, group, "user_id,ts,page,score\n7,2024-01-02T00:00:00Z,home,1.0\n", contentType);
        var problem = await OkAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var accepted = problem["accepted_types"]!.AsArray().Select(t => (string)t!).ToList();
        Assert.Contains("text/csv", accepted);
        Assert.Contains("application/vnd.apache.parquet", accepted);
        Assert.Contains("text/csv", (string)problem["detail"]!);
        await nothingWrittenAsync([7]);
    }

    [Fact]
    public async Task FileUpload_UnreadableParquet_ErrorNamesNoServerPath()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, nothingWrittenAsync) = await CsvGroupAsync(client, "paths");

        var problem = await OkAsync(await UploadAsync(client, group, "PAR1 this is not parquet PAR1", "application/vnd.apache.parquet"),
            HttpStatusCode.BadRequest);
        Assert.Contains("cannot be read as Parquet", (string)problem["detail"]!);
        Assert.Contains("the uploaded file", (string)problem["detail"]!);
        AssertNoServerPath(problem);
        await nothingWrittenAsync([]);
    }

    [Theory]
    [InlineData("csv", "user_id,ts,page,score\n8,2024-01-02T00:00:00Z,home\n", "line 2 has 3 field(s) but the header has 4")]
    [InlineData("csv", "user_id,ts,page,score\n8,2024-01-02T00:00:00Z,\"home,1.0\n", "opens on line 2 is never closed")]
    [InlineData("parquet", "PAR1 this is not parquet PAR1", "cannot be read as Parquet")]
    public async Task LakeImport_MalformedFile_FailsTheJobWithTheUploadsProblem_AndWritesNothing(string format, string body, string detail)
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, nothingWrittenAsync) = await CsvGroupAsync(client, "lakebad");
        using var s3 = await S3Async();
        var key = $"tests/feature-store/{group}/bad.{format}";
        await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, key, new MemoryStream(Encoding.UTF8.GetBytes(body)));

        var accepted = await OkAsync(await client.PostAsJsonAsync($"/api/feature-groups/{group}/imports", new JsonObject { ["object_key"] = key }),
            HttpStatusCode.Accepted);
        var job = await FinishedJobAsync(client, (string)accepted["job_id"]!);
        Assert.True((string)job["status"]! == "failed", job.ToJsonString());
        var error = job["error"]!;
        Assert.Equal(400, (int)error["status"]!);
        Assert.Contains(detail, (string)error["detail"]!);
        if (format == "csv")
            Assert.Equal(2, (long)error["line"]!);
        else
            Assert.Contains($"s3://{ResourceNames.LakeBucket}/{key}", (string)error["detail"]!);
        AssertNoServerPath(error);
        await nothingWrittenAsync([8]);
    }

    [Fact]
    public async Task LakeImport_RepeatedWithTheSameIdempotencyKey_AnswersTheSameJob_AndAnotherRequestIs409()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, _) = await CsvGroupAsync(client, "lakeidem");
        using var s3 = await S3Async();
        var key = $"tests/feature-store/{group}/more.csv";
        await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, key,
            new MemoryStream(Encoding.UTF8.GetBytes("user_id,ts,page,score\n9,2024-01-03T00:00:00Z,cart,2.5\n")));
        var idempotencyKey = $"it-{Guid.NewGuid():N}";
        Task<HttpResponseMessage> ImportAsync(string format)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/api/feature-groups/{group}/imports")
            {
                Content = JsonContent.Create(new JsonObject { ["object_key"] = key, ["format"] = format }),
            };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return client.SendAsync(request);
        }

        var first = (string)(await OkAsync(await ImportAsync("csv"), HttpStatusCode.Accepted))["job_id"]!;
        var job = await FinishedJobAsync(client, first);
        Assert.True((string)job["status"]! == "succeeded", job.ToJsonString());
        // The repeat (a runner taking the step over) finds the job, done, and imports nothing again.
        var again = await OkAsync(await ImportAsync("csv"), HttpStatusCode.Accepted);
        Assert.Equal(first, (string)again["job_id"]!);
        Assert.Equal("succeeded", (string)again["status"]!);
        Assert.Equal(2, await ScalarAsync("SELECT sum(rows) FROM ingestion_batches WHERE group_name = @g", group));

        var conflict = await OkAsync(await ImportAsync("parquet"), HttpStatusCode.Conflict);
        Assert.Contains(idempotencyKey, (string)conflict["detail"]!);
        Assert.Contains(first, (string)conflict["detail"]!);
    }

    [Fact]
    public async Task TrainingSet_RepeatedWithTheSameIdempotencyKey_AnswersTheSameSnapshotOrJob_AndAnotherRequestIs409()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, _) = await CsvGroupAsync(client, "setidem");
        JsonObject Inline(int user) => new()
        {
            ["features"] = new JsonArray($"{group}:score"),
            ["entity_rows"] = new JsonArray(new JsonObject { ["user_id"] = user, ["event_timestamp"] = "2024-02-01T00:00:00Z" }),
        };
        var lake = new JsonObject { ["features"] = new JsonArray($"{group}:score"), ["entity_source"] = new JsonObject { ["object_key"] = $"tests/{group}/none.parquet" } };
        Task<HttpResponseMessage> PostAsync(JsonObject request, string key)
        {
            var message = new HttpRequestMessage(HttpMethod.Post, "/api/training-sets") { Content = JsonContent.Create(request.DeepClone()) };
            message.Headers.Add("Idempotency-Key", key);
            return client.SendAsync(message);
        }
        async Task<string> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
        {
            var problem = await OkAsync(response, status);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            return (string)problem["detail"]!;
        }

        // Answered at once: the repeat is the same snapshot (no second one with that content), built once.
        var key = $"it-{Guid.NewGuid():N}";
        var first = await OkAsync(await PostAsync(Inline(1), key), HttpStatusCode.Created);
        var snapshot = (string)first["snapshot_id"]!;
        var again = await OkAsync(await PostAsync(Inline(1), key), HttpStatusCode.Created);
        Assert.Equal((snapshot, (string)first["content_hash"]!), ((string)again["snapshot_id"]!, (string)again["content_hash"]!));
        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM dataset_snapshots WHERE content_hash = @g", (string)first["content_hash"]!));
        Assert.Equal(1, await ScalarAsync(
            "SELECT count(*) FROM outbox_messages WHERE message_type = 'Mlops.Contracts.DatasetSnapshotCreated' AND body->>'contentHash' = @g",
            (string)first["content_hash"]!));
        // Other entity rows, or a request that would be a job, under the key: 409 naming the key and the snapshot.
        foreach (var other in new[] { Inline(2), lake })
        {
            var detail = await ProblemAsync(await PostAsync(other, key), HttpStatusCode.Conflict);
            Assert.Contains(key, detail);
            Assert.Contains(snapshot, detail);
        }

        // Answered as a job: the repeat is the same job; a request answered at once under its key is another request.
        var jobKey = $"it-{Guid.NewGuid():N}";
        var job = (string)(await OkAsync(await PostAsync(lake, jobKey), HttpStatusCode.Accepted))["job_id"]!;
        Assert.Equal(job, (string)(await OkAsync(await PostAsync(lake, jobKey), HttpStatusCode.Accepted))["job_id"]!);
        Assert.Contains(job, await ProblemAsync(await PostAsync(Inline(1), jobKey), HttpStatusCode.Conflict));
        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM jobs WHERE request->'entity_source'->>'object_key' = @g", $"tests/{group}/none.parquet"));

        Assert.Contains("Idempotency-Key", await ProblemAsync(await PostAsync(Inline(3), new string('k', 256)), HttpStatusCode.BadRequest));
        Assert.Equal(1, await ScalarAsync("SELECT count(*) FROM dataset_snapshots WHERE manifest->'group_versions' ? @g", group));
    }

    [Fact]
    public async Task TrainingSet_UnreadableEntitySource_FailsTheJobWith400_NamingNoServerPath()
    {
        using var client = platform.CreateClient(ResourceNames.FeatureStore);
        var (group, _) = await CsvGroupAsync(client, "entities");
        using var s3 = await S3Async();
        var key = $"tests/feature-store/{group}/entities.parquet";
        await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, key, new MemoryStream(Encoding.UTF8.GetBytes("PAR1 not parquet either PAR1")));

        var accepted = await OkAsync(await client.PostAsJsonAsync("/api/training-sets", new JsonObject
        {
            ["features"] = new JsonArray($"{group}:score"), ["entity_source"] = new JsonObject { ["object_key"] = key },
        }), HttpStatusCode.Accepted);
        var job = await FinishedJobAsync(client, (string)accepted["job_id"]!);
        Assert.True((string)job["status"]! == "failed", job.ToJsonString());
        Assert.Equal(400, (int)job["error"]!["status"]!);
        Assert.Contains("The entity rows cannot be read", (string)job["error"]!["detail"]!);
        AssertNoServerPath(job["error"]!);
    }
}
