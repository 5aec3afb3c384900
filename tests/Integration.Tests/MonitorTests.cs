using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.S3;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using DuckDB.NET.Data;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Tests;

/// <summary>
/// The monitor through the running platform: a baseline suggested from flights (January 2001, every 25th row) in the
/// lake; captured traffic written in SageMaker's capture format by this test; drift, data quality, alarms and their
/// events; bad input. Expected drift (measured with NumPy/SciPy the way Evidently computes it): June's delay moves
/// (normed Wasserstein ≈ 0.108 ≥ 0.1), distance/origin/destination/hour do not; a second January sample moves nothing.
/// </summary>
public sealed class MonitorTests(PlatformFixture platform)
{
    private const string Bucket = ResourceNames.LakeBucket; // where Serving writes capture (and the monitor reads it)
    private static readonly string[] Features = ["delay", "distance", "origin", "destination", "hour"];
    private static readonly SemaphoreSlim BaselineLock = new(1);
    private static string? baselineName;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    [Fact]
    public async Task Baseline_FromFlights_HasModelMonitorStatisticsAndConstraints()
    {
        var name = await BaselineAsync();
        using var client = platform.CreateClient(ResourceNames.Monitor);
        var baseline = await client.GetFromJsonAsync<JsonObject>($"/api/baselines/{name}");
        Assert.Equal(1, (int)baseline!["version"]!);
        Assert.Equal("flights-delay", (string?)baseline["model_name"]);
        var stats = baseline["statistics"]!;
        var items = (long)stats["dataset"]!["item_count"]!;
        Assert.InRange(items, 20_000, 21_000);
        var features = stats["features"]!.AsArray();
        Assert.Equal(Features, features.Select(f => (string)f!["name"]!));
        var delay = features.Single(f => (string)f!["name"]! == "delay")!;
        Assert.Equal("Integral", (string?)delay["inferred_type"]);
        var common = delay["numerical_statistics"]!["common"]!;
        Assert.Equal(items, (long)common["num_present"]! + (long)common["num_missing"]!);
        Assert.Equal(10, delay["numerical_statistics"]!["distribution"]!["kll"]!["buckets"]!.AsArray().Count);
        var origin = features.Single(f => (string)f!["name"]! == "origin")!;
        Assert.True((long)origin["string_statistics"]!["distinct_count"]! > 100);

        var constraints = baseline["constraints"]!;
        var delayConstraint = constraints["features"]!.AsArray().Single(f => (string)f!["name"]! == "delay")!;
        Assert.False((bool)delayConstraint["num_constraints"]!["is_non_negative"]!); // flights leave early: negative delays
        var distanceConstraint = constraints["features"]!.AsArray().Single(f => (string)f!["name"]! == "distance")!;
        Assert.True((bool)distanceConstraint["num_constraints"]!["is_non_negative"]!);
        Assert.InRange((double)distanceConstraint["completeness"]!, 0.99, 1.0);
        Assert.Contains("ATL", constraints["features"]!.AsArray().Single(f => (string)f!["name"]! == "origin")!["string_constraints"]!["domains"]!.AsArray().Select(d => (string)d!));
        Assert.Equal(0.1, (double)constraints["monitoring_config"]!["domain_content_threshold"]!);
    }

    [Fact]
    public async Task CapturedJune_DriftsOnDelayOnly_SameMonthSampleDriftsNowhere_AndTheAlarmRaisesOnceThenClears()
    {
        var name = await BaselineAsync();
        var endpoint = $"flights-{Guid.NewGuid():N}"[..20];
        var alarmName = $"delay-drift-{endpoint}";
        var raised = new List<MonitorAlarmRaised>();
        var cleared = new List<MonitorAlarmCleared>();
        var bus = await platform.StartTestBusAsync();
        try
        {
            var handle = bus.ConnectReceiveEndpoint($"monitor-tests-{Guid.NewGuid():N}", e =>
            {
                e.Handler<MonitorAlarmRaised>(c => { if (c.Message.AlarmName == alarmName) lock (raised) raised.Add(c.Message); return Task.CompletedTask; });
                e.Handler<MonitorAlarmCleared>(c => { if (c.Message.AlarmName == alarmName) lock (cleared) cleared.Add(c.Message); return Task.CompletedTask; });
            });
            await handle.Ready.WaitAsync(TimeSpan.FromSeconds(30));

            using var client = platform.CreateClient(ResourceNames.Monitor);
            var put = await client.PutAsJsonAsync($"/api/alarms/{alarmName}", new
            {
                metric = "feature.delay.drift_score", endpoint, threshold = 0.1, comparison_operator = "GreaterThanOrEqualToThreshold",
                evaluation_periods = 1, datapoints_to_alarm = 1,
            }, Json);
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

            // June, every 25th row after the reference's: captured as MLflow dataframe_split requests, 100 rows each.
            var june = new DateTimeOffset(2030, 6, 1, 10, 0, 0, TimeSpan.Zero);
            await WriteCaptureAsync(endpoint, june, "month(date) = 6 AND file_row_number % 25 = 1");
            var juneRun = await RunCaptureAsync(client, name, endpoint, june, june.AddHours(1));
            Assert.Equal("completed", (string?)juneRun["status"]);
            var juneReport = await client.GetFromJsonAsync<JsonObject>($"/api/runs/{juneRun["id"]}/report");
            var drifted = DriftedColumns(juneReport!);
            Assert.Equal(new[] { "delay" }, drifted);
            var delay = juneReport!["drift"]!["columns"]!.AsArray().Single(c => (string)c!["column"]! == "delay")!;
            Assert.Equal("wasserstein", (string?)delay["method"]);
            Assert.Equal("jensenshannon", (string?)juneReport["drift"]!["columns"]!.AsArray().Single(c => (string)c!["column"]! == "origin")!["method"]);
            Assert.False((bool)juneReport["drift"]!["dataset_drifted"]!); // 1 of 5 columns < 0.5
            Assert.Contains(juneReport["violations"]!.AsArray(), v => (string)v!["constraint_check_type"]! == "baseline_drift_check" && (string)v["feature_name"]! == "delay");

            var alarm = await Poll.UntilAsync(async () =>
            {
                var a = await client.GetFromJsonAsync<JsonObject>($"/api/alarms/{alarmName}");
                return (string?)a!["state"] == "ALARM" ? a : null;
            }, TimeSpan.FromSeconds(30), "the delay alarm to enter ALARM");
            Assert.Contains("Threshold crossed", (string?)alarm["state_reason"]);

            // A second January sample: nothing moves, the alarm goes back to OK.
            var january = new DateTimeOffset(2030, 1, 1, 10, 0, 0, TimeSpan.Zero);
            await WriteCaptureAsync(endpoint, january, "month(date) = 1 AND file_row_number % 25 = 1");
            var janRun = await RunCaptureAsync(client, name, endpoint, january, january.AddHours(1));
            var janReport = await client.GetFromJsonAsync<JsonObject>($"/api/runs/{janRun["id"]}/report");
            Assert.Empty(DriftedColumns(janReport!));
            Assert.Equal("OK", (string?)janReport!["result"]);

            await Poll.UntilAsync(async () => { lock (cleared) return cleared.Count > 0 ? "cleared" : null; }, TimeSpan.FromSeconds(60), "MonitorAlarmCleared");
            await Task.Delay(TimeSpan.FromSeconds(3)); // room for a duplicate to (wrongly) arrive
            lock (raised)
            {
                var r = Assert.Single(raised);
                Assert.Equal(endpoint, r.Endpoint);
                Assert.Equal("data_drift", r.Check);
                Assert.Equal("flights-delay", r.ModelName);
                Assert.Equal((string?)juneRun["id"], r.MonitoringRunId);
                Assert.True(r.Value >= 0.1);
            }
            lock (cleared) Assert.Equal("OK", Assert.Single(cleared).State);

            var history = await client.GetFromJsonAsync<JsonObject>($"/api/alarms/{alarmName}/history");
            Assert.Equal(new[] { "INSUFFICIENT_DATA->ALARM", "ALARM->OK" },
                history!["history"]!.AsArray().Select(h => $"{h!["old_state"]}->{h["new_state"]}").ToArray());

            var series = await client.GetFromJsonAsync<JsonObject>($"/api/metrics?metric=feature.delay.drift_score&endpoint={endpoint}");
            var points = series!["points"]!.AsArray().Select(p => (double)p!["value"]!).ToList();
            Assert.Equal(2, points.Count);
            Assert.True(points[0] >= 0.1 && points[1] < 0.1, string.Join(", ", points));

            var html = await client.GetStringAsync($"/api/runs/{juneRun["id"]}/report.html");
            Assert.Contains("<svg", html);
            Assert.Contains("drift detected", html);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    [Fact]
    public async Task PlantedUnseenCategoryAndMissingColumn_AreViolations()
    {
        var name = await BaselineAsync();
        // January rows with 20% of origins replaced by an airport the baseline never saw, and no distance column.
        var key = $"monitor-tests/{Guid.NewGuid():N}/current.parquet";
        await UploadParquetAsync(key, $"""
            SELECT delay, CASE WHEN (file_row_number // 25) % 5 = 0 THEN 'ZZZ' ELSE origin END AS origin, destination, hour(date) AS hour
            FROM read_parquet('{Flights()}', file_row_number = true) WHERE month(date) = 1 AND file_row_number % 25 = 2
            """);
        using var client = platform.CreateClient(ResourceNames.Monitor);
        var response = await client.PostAsJsonAsync("/api/runs", new
        {
            baseline = new { name },
            dataset = new { uri = $"s3://{ResourceNames.LakeBucket}/{key}" },
            wait = 90,
        }, Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var run = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("VIOLATIONS", (string?)run["result"]);
        var violations = (await client.GetFromJsonAsync<JsonObject>($"/api/runs/{run["id"]}/constraint_violations.json"))!["violations"]!.AsArray();
        Assert.Contains(violations, v => (string)v!["constraint_check_type"]! == "missing_column_check" && (string)v["feature_name"]! == "distance");
        var unseen = Assert.Single(violations, v => (string)v!["constraint_check_type"]! == "categorical_values_check");
        Assert.Equal("origin", (string?)unseen!["feature_name"]);
        Assert.Contains("'ZZZ'", (string?)unseen["description"]);
    }

    [Fact]
    public async Task EmptyWindow_CompletesWithInsufficientData()
    {
        var name = await BaselineAsync();
        using var client = platform.CreateClient(ResourceNames.Monitor);
        var start = new DateTimeOffset(2031, 3, 3, 3, 0, 0, TimeSpan.Zero);
        var run = await RunCaptureAsync(client, name, $"nothing-{Guid.NewGuid():N}"[..20], start, start.AddHours(2));
        Assert.Equal("completed", (string?)run["status"]);
        Assert.Equal("INSUFFICIENT_DATA", (string?)run["result"]);
        Assert.Equal(0, (long)run["item_count"]!);
    }

    [Fact]
    public async Task TwoSchedulesOfOneEndpoint_TheirRunsNeverOverlap_AndNeverQueueUpBehindEachOther()
    {
        var name = await BaselineAsync();
        var endpoint = $"sched-{Guid.NewGuid():N}"[..20];
        using var client = platform.CreateClient(ResourceNames.Monitor);
        foreach (var s in new[] { "a", "b" })
        {
            var put = await client.PutAsJsonAsync($"/api/schedules/{endpoint}-{s}", new { endpoint, baseline = new { name }, interval_seconds = 1, window_seconds = 60 }, Json);
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }
        try
        {
            var runs = await Poll.UntilAsync(async () =>
            {
                var all = (await client.GetFromJsonAsync<JsonObject>($"/api/runs?endpoint={endpoint}&limit=1000"))!["runs"]!.AsArray();
                // Due every second while runs of the endpoint go one at a time: a schedule's waiting run takes the newer
                // window rather than another run queueing behind it.
                foreach (var waiting in all.Where(r => (string?)r!["status"] == "pending").GroupBy(r => (string?)r!["schedule"]))
                    Assert.True(waiting.Count() == 1, $"{waiting.Count()} runs of schedule {waiting.Key} wait at once");
                var list = all.Where(r => (string?)r!["status"] == "completed").ToList();
                return list.Count(r => (string?)r!["schedule"] == $"{endpoint}-a") >= 3 && list.Count(r => (string?)r!["schedule"] == $"{endpoint}-b") >= 3 ? list : null;
            }, TimeSpan.FromSeconds(90), "three completed runs of each schedule");
            var spans = runs.Select(r => (Start: DateTimeOffset.Parse((string)r!["started_at"]!), End: DateTimeOffset.Parse((string)r["completed_at"]!)))
                .OrderBy(s => s.Start).ToList();
            for (var i = 1; i < spans.Count; i++)
                Assert.True(spans[i].Start >= spans[i - 1].End, $"run {i} started at {spans[i].Start:O} before run {i - 1} ended at {spans[i - 1].End:O}");
        }
        finally
        {
            await client.DeleteAsync($"/api/schedules/{endpoint}-a");
            await client.DeleteAsync($"/api/schedules/{endpoint}-b");
        }
    }

    [Fact]
    public async Task BadInput_IsNamedNeverA500()
    {
        using var client = platform.CreateClient(ResourceNames.Monitor);
        var unknownBaseline = await client.PostAsJsonAsync("/api/runs", new { baseline = new { name = "no-such-baseline" }, dataset = new { uri = "s3://mlops-lake/x.parquet" } }, Json);
        Assert.Equal(HttpStatusCode.NotFound, unknownBaseline.StatusCode);
        Assert.Contains("no-such-baseline", await DetailAsync(unknownBaseline));

        var unknownSchedule = await client.GetAsync("/api/schedules/no-such-schedule");
        Assert.Equal(HttpStatusCode.NotFound, unknownSchedule.StatusCode);
        Assert.Contains("no-such-schedule", await DetailAsync(unknownSchedule));

        var unknownAlarm = await client.GetAsync("/api/alarms/no-such-alarm/history");
        Assert.Equal(HttpStatusCode.NotFound, unknownAlarm.StatusCode);
        Assert.Contains("no-such-alarm", await DetailAsync(unknownAlarm));

        var unknownDataset = await client.PostAsJsonAsync("/api/baselines", new { name = "missing-data", dataset = new { uri = "s3://mlops-lake/no/such/object.parquet" } }, Json);
        Assert.Equal(HttpStatusCode.NotFound, unknownDataset.StatusCode);
        Assert.Contains("s3://mlops-lake/no/such/object.parquet", await DetailAsync(unknownDataset));

        var badCron = await client.PutAsJsonAsync("/api/schedules/bad-cron", new { endpoint = "e", baseline = new { name = "x" }, cron = "61 * * * *" }, Json);
        Assert.Equal(HttpStatusCode.BadRequest, badCron.StatusCode);
        Assert.Contains("'cron'", await DetailAsync(badCron));

        var badAlarm = await client.PutAsJsonAsync("/api/alarms/bad-alarm", new
        {
            metric = "drift.share_of_drifted_columns", comparison_operator = "Bigger", evaluation_periods = 0, datapoints_to_alarm = 3,
        }, Json);
        Assert.Equal(HttpStatusCode.BadRequest, badAlarm.StatusCode);
        var body = await DetailAsync(badAlarm);
        foreach (var field in new[] { "'threshold'", "'comparison_operator'", "'evaluation_periods'", "'datapoints_to_alarm'" })
            Assert.Contains(field, body);

        var badDrift = await client.PostAsJsonAsync("/api/runs", new
        {
            baseline = new { name = "x" }, capture = new { endpoint = "e", start = "2030-01-01T00:00:00Z", end = "2029-01-01T00:00:00Z" },
            drift = new { method = "magic", threshold = -1, drift_share = 2 },
        }, Json);
        Assert.Equal(HttpStatusCode.BadRequest, badDrift.StatusCode);
        body = await DetailAsync(badDrift);
        foreach (var field in new[] { "'capture.end'", "'drift.method'", "'drift.threshold'", "'drift.drift_share'" })
            Assert.Contains(field, body);
    }

    [Fact]
    public async Task Run_RepeatedWithTheSameIdempotencyKey_AnswersTheSameRun_AndAnotherRequestIs409()
    {
        var name = await BaselineAsync();
        using var client = platform.CreateClient(ResourceNames.Monitor);
        var endpoint = $"idem-{Guid.NewGuid():N}"[..20];
        var start = new DateTimeOffset(2031, 4, 4, 4, 0, 0, TimeSpan.Zero);
        var key = $"it-{Guid.NewGuid():N}";
        Task<HttpResponseMessage> StartAsync(object window, int wait, string idempotencyKey)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/runs")
            {
                Content = JsonContent.Create(new { baseline = new { name }, capture = window, wait }, options: Json),
            };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return client.SendAsync(request);
        }
        async Task<int> RunsAsync() => (await client.GetFromJsonAsync<JsonObject>($"/api/runs?endpoint={endpoint}"))!["runs"]!.AsArray().Count;

        var first = await StartAsync(new { endpoint, start, end = start.AddHours(1) }, 90, key);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var run = (await first.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("completed", (string?)run["status"]);
        // The repeat (a runner taking the step over): the same instants written with another offset, not waiting this time.
        var local = TimeSpan.FromHours(2);
        var again = await StartAsync(new { endpoint, start = start.ToOffset(local), end = start.AddHours(1).ToOffset(local) }, 0, key);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var repeated = (await again.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(((string?)run["id"], "completed"), ((string?)repeated["id"], (string?)repeated["status"]));
        Assert.Equal(1, await RunsAsync());

        // Another window under the key: 409 naming the key and the run; an over-long key: 400. Neither starts a run.
        var conflict = await StartAsync(new { endpoint, start, end = start.AddHours(2) }, 0, key);
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Equal("application/problem+json", conflict.Content.Headers.ContentType?.MediaType);
        var detail = await DetailAsync(conflict);
        Assert.Contains(key, detail);
        Assert.Contains((string)run["id"]!, detail);
        var tooLong = await StartAsync(new { endpoint, start, end = start.AddHours(3) }, 0, new string('k', 256));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Contains("Idempotency-Key", await DetailAsync(tooLong));
        Assert.Equal(1, await RunsAsync());
    }

    /// <summary>A ProblemDetails' detail (JSON escapes quotes, so the raw body does not show them as written).</summary>
    private static async Task<string> DetailAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        return (string?)JsonNode.Parse(body)?["detail"] ?? body;
    }

    private static List<string> DriftedColumns(JsonObject report) =>
        (report["drift"] ?? throw new Xunit.Sdk.XunitException($"The report has no drift section: {report.ToJsonString()}"))["columns"]!.AsArray().Where(c => (bool)c!["drifted"]!).Select(c => (string)c!["column"]!).ToList();

    private async Task<JsonObject> RunCaptureAsync(HttpClient client, string baseline, string endpoint, DateTimeOffset start, DateTimeOffset end)
    {
        var response = await client.PostAsJsonAsync("/api/runs", new { baseline = new { name = baseline }, capture = new { endpoint, start, end }, wait = 90 }, Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <summary>One suggested baseline for the whole class: January 2001, every 25th row (≈20,000 rows), from a Parquet object in the lake.</summary>
    private async Task<string> BaselineAsync()
    {
        await BaselineLock.WaitAsync();
        try
        {
            if (baselineName is not null) return baselineName;
            var name = $"flights-jan-{Guid.NewGuid():N}"[..24];
            var key = $"monitor-tests/{name}/reference.parquet";
            await UploadParquetAsync(key, $"SELECT * FROM read_parquet('{Flights()}', file_row_number = true) WHERE month(date) = 1 AND file_row_number % 25 = 0");
            using var client = platform.CreateClient(ResourceNames.Monitor);
            var response = await client.PostAsJsonAsync("/api/baselines", new
            {
                name,
                dataset = new
                {
                    uri = $"s3://{ResourceNames.LakeBucket}/{key}",
                    columns = new object[]
                    {
                        new { name = "delay", kind = "numerical" }, new { name = "distance", kind = "numerical" },
                        new { name = "origin", kind = "categorical" }, new { name = "destination", kind = "categorical" },
                        new { name = "hour", kind = "categorical", expression = "hour(date)" },
                    },
                },
                model_name = "flights-delay",
                model_version = "1",
            }, Json);
            Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
            return baselineName = name;
        }
        finally
        {
            BaselineLock.Release();
        }
    }

    private async Task UploadParquetAsync(string key, string select)
    {
        var local = Path.Combine(Path.GetTempPath(), $"monitor-it-{Guid.NewGuid():N}.parquet");
        try
        {
            using (var duck = new DuckDBConnection("DataSource=:memory:"))
            {
                duck.Open();
                using var command = duck.CreateCommand();
                command.CommandText = $"COPY ({select}) TO '{local}' (FORMAT parquet)";
                command.ExecuteNonQuery();
            }
            using var s3 = await CreateS3Async();
            await using var file = File.OpenRead(local);
            await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, key, file, "application/vnd.apache.parquet");
        }
        finally
        {
            File.Delete(local);
        }
    }

    /// <summary>
    /// Writes flights rows as Serving's data capture (SageMaker's JSON Lines) for one hour: dataframe_split requests of
    /// 100 rows, outputs with one prediction per row, under data-capture/endpoint/AllTraffic/yyyy/mm/dd/hh/.
    /// </summary>
    private async Task WriteCaptureAsync(string endpoint, DateTimeOffset hour, string where)
    {
        var lines = new StringBuilder();
        using (var duck = new DuckDBConnection("DataSource=:memory:"))
        {
            duck.Open();
            using var command = duck.CreateCommand();
            command.CommandText = $"SELECT delay, distance, origin, destination, hour(date) FROM read_parquet('{Flights()}', file_row_number = true) WHERE {where} ORDER BY file_row_number";
            using var reader = command.ExecuteReader();
            var batch = new List<object?[]>();
            var n = 0;
            void Flush()
            {
                if (batch.Count == 0) return;
                var input = JsonSerializer.Serialize(new { dataframe_split = new { columns = Features, data = batch } });
                var output = JsonSerializer.Serialize(new { predictions = batch.Select(_ => 0.2).ToArray() });
                var at = hour.AddSeconds(n++ % 3600);
                lines.AppendLine(JsonSerializer.Serialize(new
                {
                    captureData = new
                    {
                        endpointInput = new { observedContentType = "application/json", mode = "INPUT", data = input, encoding = "JSON" },
                        endpointOutput = new { observedContentType = "application/json", mode = "OUTPUT", data = output, encoding = "JSON" },
                    },
                    eventMetadata = new { eventId = Guid.NewGuid().ToString(), inferenceId = Guid.NewGuid().ToString(), inferenceTime = at.ToString("yyyy-MM-ddTHH:mm:ss.fffZ") },
                    eventVersion = "0",
                }));
                batch.Clear();
            }
            while (reader.Read())
            {
                batch.Add([reader.IsDBNull(0) ? null : reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4)]);
                if (batch.Count == 100) Flush();
            }
            Flush();
        }
        using var s3 = await CreateS3Async();
        var key = $"data-capture/{endpoint}/AllTraffic/{hour:yyyy}/{hour:MM}/{hour:dd}/{hour:HH}/{hour:mm-ss}-{Guid.NewGuid():N}.jsonl";
        await new ObjectStore(s3).PutAsync(Bucket, key, new MemoryStream(Encoding.UTF8.GetBytes(lines.ToString())), "application/jsonlines");
    }

    private async Task<IAmazonS3> CreateS3Async()
    {
        var model = platform.App.Services.GetRequiredService<DistributedApplicationModel>();
        var secret = await model.Resources.OfType<ParameterResource>().Single(p => p.Name == ResourceNames.S3SecretKey).GetValueAsync(default);
        return S3Extensions.CreateClient(new S3Options { ServiceUrl = platform.App.GetEndpoint(ResourceNames.S3, "http").ToString(), AccessKey = "S3RVER", SecretKey = secret });
    }

    private static string Flights()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln"))) dir = dir.Parent;
        var path = Path.Combine(dir!.FullName, "eng", "node", "node_modules", "vega-datasets", "data", "flights-3m.parquet");
        Assert.True(File.Exists(path), $"{path} is missing: run eng/bootstrap.sh (npm ci in eng/node).");
        return path;
    }
}
