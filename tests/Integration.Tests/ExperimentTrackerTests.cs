using System.Net;
using System.Text;
using System.Text.Json;
using Mlops.ServiceDefaults.Data;

namespace Mlops.Tests;

/// <summary>The MLflow REST API 2.0 of the ExperimentTracker, through the running AppHost, with MLflow's JSON shapes.</summary>
public sealed partial class ExperimentTrackerTests(PlatformFixture platform)
{
    private const string Api = "/api/2.0/mlflow";
    private readonly HttpClient _client = platform.CreateClient(ResourceNames.ExperimentTracker);
    private readonly HttpClient _admin = platform.CreateAdminClient(ResourceNames.ExperimentTracker);

    [Fact]
    public async Task Experiment_CreateGetRenameDeleteRestore()
    {
        var name = Unique("exp");
        var id = await CreateExperimentAsync(name, new { key = "team", value = "ml" });
        Assert.True(long.TryParse(id, out _));

        var byId = (await GetAsync($"experiments/get?experiment_id={id}")).GetProperty("experiment");
        Assert.Equal(id, byId.GetProperty("experiment_id").GetString());
        Assert.Equal(name, byId.GetProperty("name").GetString());
        Assert.Equal("active", byId.GetProperty("lifecycle_stage").GetString());
        Assert.Equal($"mlflow-artifacts:/{id}", byId.GetProperty("artifact_location").GetString());
        Assert.True(byId.GetProperty("creation_time").GetInt64() > 1_600_000_000_000);
        Assert.Equal("ml", Tag(byId, "team"));

        var byName = (await GetAsync($"experiments/get-by-name?experiment_name={Uri.EscapeDataString(name)}")).GetProperty("experiment");
        Assert.Equal(id, byName.GetProperty("experiment_id").GetString());

        var renamed = Unique("renamed");
        await PostAsync("experiments/update", new { experiment_id = id, new_name = renamed });
        await PostAsync("experiments/set-experiment-tag", new { experiment_id = id, key = "team", value = "platform" });
        var updated = (await GetAsync($"experiments/get?experiment_id={id}")).GetProperty("experiment");
        Assert.Equal(renamed, updated.GetProperty("name").GetString());
        Assert.Equal("platform", Tag(updated, "team"));

        var runDeletedAlone = await CreateRunAsync(id);
        var runDeletedWithExperiment = await CreateRunAsync(id);
        await PostAsync("runs/delete", new { run_id = runDeletedAlone });
        string RunStage(JsonElement run) => run.GetProperty("info").GetProperty("lifecycle_stage").GetString()!;

        await PostAsync("experiments/delete", new { experiment_id = id });
        Assert.Equal("deleted", (await GetAsync($"experiments/get?experiment_id={id}")).GetProperty("experiment").GetProperty("lifecycle_stage").GetString());
        Assert.Equal("deleted", RunStage(await GetRunAsync(runDeletedWithExperiment)));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/create", new { experiment_id = id }));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("experiments/delete", new { experiment_id = id }));
        await PostAsync("experiments/restore", new { experiment_id = id });
        Assert.Equal("active", (await GetAsync($"experiments/get?experiment_id={id}")).GetProperty("experiment").GetProperty("lifecycle_stage").GetString());
        Assert.Equal("active", RunStage(await GetRunAsync(runDeletedWithExperiment)));
        Assert.Equal("deleted", RunStage(await GetRunAsync(runDeletedAlone)));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("experiments/restore", new { experiment_id = id }));
    }

    [Fact]
    public async Task Experiment_DuplicateNameOnCreateOrRename_IsResourceAlreadyExists()
    {
        var name = Unique("dup");
        await CreateExperimentAsync(name);
        var other = await CreateExperimentAsync(Unique("other"));

        await AssertErrorAsync(HttpStatusCode.BadRequest, "RESOURCE_ALREADY_EXISTS", Post("experiments/create", new { name }));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "RESOURCE_ALREADY_EXISTS", Post("experiments/update", new { experiment_id = other, new_name = name }));
    }

    [Fact]
    public async Task DefaultExperiment_Exists()
    {
        var experiment = (await GetAsync("experiments/get?experiment_id=0")).GetProperty("experiment");
        Assert.Equal("Default", experiment.GetProperty("name").GetString());
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("experiments/delete", new { experiment_id = "0" }));
    }

    [Fact]
    public async Task SearchExperiments_FilterOrderAndPaging()
    {
        var prefix = Unique("search");
        foreach (var suffix in new[] { "c", "a", "b" })
            await CreateExperimentAsync($"{prefix}-{suffix}", new { key = "kind", value = suffix == "b" ? "odd" : "even" });

        var first = await PostAsync("experiments/search", new { filter = $"name LIKE '{prefix}-%'", order_by = new[] { "name ASC" }, max_results = 2 });
        Assert.Equal([$"{prefix}-a", $"{prefix}-b"], Names(first, "experiments", e => e.GetProperty("name").GetString()!));
        var second = await PostAsync("experiments/search",
            new { filter = $"name LIKE '{prefix}-%'", order_by = new[] { "name ASC" }, max_results = 2, page_token = first.GetProperty("next_page_token").GetString() });
        Assert.Equal([$"{prefix}-c"], Names(second, "experiments", e => e.GetProperty("name").GetString()!));
        Assert.False(second.TryGetProperty("next_page_token", out _));

        var tagged = await GetAsync($"experiments/search?filter={Uri.EscapeDataString($"name LIKE '{prefix}%' AND tags.kind = 'odd'")}");
        Assert.Equal([$"{prefix}-b"], Names(tagged, "experiments", e => e.GetProperty("name").GetString()!));
    }

    [Fact]
    public async Task Run_CreateGetUpdateFinish_PublishesRunFinishedThroughTheOutbox()
    {
        var experimentId = await CreateExperimentAsync(Unique("lifecycle"));
        var created = await PostAsync("runs/create",
            new { experiment_id = experimentId, run_name = "first", start_time = 1_700_000_000_000, tags = new[] { new { key = "mlflow.user", value = "ann" } } });
        var info = created.GetProperty("run").GetProperty("info");
        var runId = info.GetProperty("run_id").GetString()!;
        Assert.Equal(32, runId.Length);
        Assert.Equal(runId, info.GetProperty("run_uuid").GetString());
        Assert.Equal("first", info.GetProperty("run_name").GetString());
        Assert.Equal(experimentId, info.GetProperty("experiment_id").GetString());
        Assert.Equal("RUNNING", info.GetProperty("status").GetString());
        Assert.Equal(1_700_000_000_000, info.GetProperty("start_time").GetInt64());
        Assert.Equal("active", info.GetProperty("lifecycle_stage").GetString());
        Assert.Equal($"mlflow-artifacts:/{experimentId}/{runId}/artifacts", info.GetProperty("artifact_uri").GetString());
        Assert.False(info.TryGetProperty("end_time", out _));
        Assert.Equal("first", Tag(created.GetProperty("run").GetProperty("data"), "mlflow.runName"));
        Assert.Equal("ann", Tag(created.GetProperty("run").GetProperty("data"), "mlflow.user"));
        Assert.Equal(JsonValueKind.Object, created.GetProperty("run").GetProperty("inputs").ValueKind);

        await PostAsync("runs/log-metric", new { run_id = runId, key = "loss", value = 0.25, timestamp = 1_700_000_000_500, step = 1 });
        var updated = await PostAsync("runs/update", new { run_id = runId, status = "FINISHED", end_time = 1_700_000_001_000, run_name = "renamed" });
        var runInfo = updated.GetProperty("run_info");
        Assert.Equal("FINISHED", runInfo.GetProperty("status").GetString());
        Assert.Equal(1_700_000_001_000, runInfo.GetProperty("end_time").GetInt64());
        Assert.Equal("renamed", runInfo.GetProperty("run_name").GetString());
        Assert.Equal("renamed", Tag((await GetRunAsync(runId)).GetProperty("data"), "mlflow.runName"));

        await using var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker);
        var sentAt = await Poll.UntilAsync(async () =>
        {
            await using var select = db.Command(
                "SELECT body::text, sent_at FROM outbox_messages WHERE message_type = 'Mlops.Contracts.RunFinished' AND body->>'runId' = @run", null, ("run", runId));
            await using var reader = await select.ExecuteReaderAsync();
            if (!await reader.ReadAsync())
                throw new InvalidOperationException($"No RunFinished outbox row for run {runId}.");
            var body = JsonDocument.Parse(reader.GetString(0)).RootElement;
            Assert.Equal("FINISHED", body.GetProperty("status").GetString());
            Assert.Equal(experimentId, body.GetProperty("experimentId").GetString());
            Assert.Equal(0.25, body.GetProperty("metrics").GetProperty("loss").GetDouble());
            return reader.IsDBNull(1) ? null : (object)reader.GetFieldValue<DateTimeOffset>(1);
        }, TimeSpan.FromSeconds(30), $"the RunFinished outbox row of run {runId} to be relayed (sent_at set)");
        Assert.NotNull(sentAt);

        // Only the change into a terminal status is an event.
        await PostAsync("runs/update", new { run_id = runId, status = "FINISHED", end_time = 1_700_000_002_000 });
        await using var count = db.Command("SELECT count(*) FROM outbox_messages WHERE body->>'runId' = @run", null, ("run", runId));
        Assert.Equal(1L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public async Task LogBatch_WritesEverything_AndABatchWithOneBadItemWritesNothing()
    {
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("batch")));
        var metrics = Enumerable.Range(0, 960).Select(i => new { key = $"m{i % 20}", value = (double)i, timestamp = 1_700_000_000_000 + i, step = i / 20 }).ToArray();
        await PostAsync("runs/log-batch", new
        {
            run_id = runId,
            metrics,
            @params = new[] { new { key = "lr", value = "0.01" }, new { key = "depth", value = "6" } },
            tags = new[] { new { key = "stage", value = "a" }, new { key = "stage", value = "b" } },
        });
        var data = (await GetRunAsync(runId)).GetProperty("data");
        Assert.Equal(20, data.GetProperty("metrics").GetArrayLength());
        Assert.Equal(959, Metric(data, "m19").GetProperty("value").GetDouble());
        Assert.Equal(47, Metric(data, "m19").GetProperty("step").GetInt64());
        Assert.Equal("0.01", Param(data, "lr"));
        Assert.Equal("b", Tag(data, "stage"));

        // The last metric is bad (no timestamp): nothing of the batch may land, not even the valid param, tag and metrics.
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-batch", new
        {
            run_id = runId,
            metrics = new object[] { new { key = "good", value = 1.0, timestamp = 1L, step = 0L }, new { key = "bad", value = 1.0 } },
            @params = new[] { new { key = "new-param", value = "x" } },
            tags = new[] { new { key = "stage", value = "c" } },
        }));
        // Too many params for one batch.
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-batch",
            new { run_id = runId, @params = Enumerable.Range(0, 101).Select(i => new { key = $"p{i}", value = "v" }).ToArray() }));
        // A bad key (path traversal) anywhere rejects the batch.
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-batch",
            new { run_id = runId, tags = new[] { new { key = "fine", value = "x" }, new { key = "../etc", value = "x" } } }));

        data = (await GetRunAsync(runId)).GetProperty("data");
        Assert.Equal(20, data.GetProperty("metrics").GetArrayLength());
        Assert.Null(Param(data, "new-param"));
        Assert.Null(Tag(data, "fine"));
        Assert.Equal("b", Tag(data, "stage"));
    }

    [Fact]
    public async Task LogParam_ChangedValue_IsRejectedAndTheWholeBatchWithItWritesNothing()
    {
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("params")));
        await PostAsync("runs/log-parameter", new { run_id = runId, key = "lr", value = "0.1" });
        await PostAsync("runs/log-parameter", new { run_id = runId, key = "lr", value = "0.1" }); // same value: allowed

        var error = await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE",
            Post("runs/log-parameter", new { run_id = runId, key = "lr", value = "0.2" }));
        Assert.Contains("lr", error);
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-batch", new
        {
            run_id = runId,
            metrics = new[] { new { key = "acc", value = 0.9, timestamp = 1L, step = 0L } },
            @params = new[] { new { key = "lr", value = "0.3" }, new { key = "other", value = "1" } },
        }));

        var data = (await GetRunAsync(runId)).GetProperty("data");
        Assert.Equal("0.1", Param(data, "lr"));
        Assert.Null(Param(data, "other"));
        Assert.False(data.TryGetProperty("metrics", out _));
    }

    [Fact]
    public async Task MetricHistory_KeepsEveryPoint_LatestIsHighestStep()
    {
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("history")));
        foreach (var (step, value) in new[] { (2L, 0.3), (0L, 0.9), (1L, 0.5) })
            await PostAsync("runs/log-metric", new { run_id = runId, key = "loss", value, timestamp = 1_700_000_000_000 + step, step });
        await PostAsync("runs/log-metric", new { run_id = runId, key = "loss", value = "NaN", timestamp = 1_600_000_000_000, step = 0 });

        var history = await GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss");
        var points = history.GetProperty("metrics").EnumerateArray().ToList();
        Assert.Equal(4, points.Count);
        Assert.Equal([0L, 0L, 1L, 2L], points.Select(p => p.GetProperty("step").GetInt64()));
        Assert.Equal("NaN", points[0].GetProperty("value").GetString());

        var latest = Metric((await GetRunAsync(runId)).GetProperty("data"), "loss");
        Assert.Equal(0.3, latest.GetProperty("value").GetDouble());
        Assert.Equal(2, latest.GetProperty("step").GetInt64());

        var page = await GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss&max_results=3");
        Assert.Equal(3, page.GetProperty("metrics").GetArrayLength());
        var rest = await GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss&max_results=3&page_token={Uri.EscapeDataString(page.GetProperty("next_page_token").GetString()!)}");
        Assert.Equal(2, rest.GetProperty("metrics")[0].GetProperty("step").GetInt64());
    }

    [Fact]
    public async Task MetricHistory_FromBatches_KeepsEachPointsStepTimestampAndValueTogether()
    {
        // A batch stores each key's points together (one chunk per key); reading them back must not mix them up.
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("chunks")));
        await PostAsync("runs/log-batch", new
        {
            run_id = runId,
            metrics = new object[]
            {
                new { key = "acc", value = 0.5, timestamp = 105L, step = 5L },
                new { key = "loss", value = 0.9, timestamp = 100L, step = 0L },
                new { key = "acc", value = 0.3, timestamp = 103L, step = 3L },
                new { key = "acc", value = "Infinity", timestamp = 104L, step = 4L },
                new { key = "acc", value = 0.2, timestamp = 107L, step = 5L },
            },
        });
        await PostAsync("runs/log-batch", new
        {
            run_id = runId,
            metrics = new object[] { new { key = "acc", value = 0.1, timestamp = 101L, step = 1L }, new { key = "acc", value = 0.6, timestamp = 106L, step = 5L } },
        });

        var acc = (await GetAsync($"metrics/get-history?run_id={runId}&metric_key=acc")).GetProperty("metrics").EnumerateArray()
            .Select(p => (p.GetProperty("step").GetInt64(), p.GetProperty("timestamp").GetInt64(), p.GetProperty("value").ToString())).ToList();
        Assert.Equal([(1L, 101L, "0.1"), (3L, 103L, "0.3"), (4L, 104L, "Infinity"), (5L, 105L, "0.5"), (5L, 106L, "0.6"), (5L, 107L, "0.2")], acc);
        var loss = (await GetAsync($"metrics/get-history?run_id={runId}&metric_key=loss")).GetProperty("metrics");
        Assert.Equal(1, loss.GetArrayLength());
        Assert.Equal(0.9, loss[0].GetProperty("value").GetDouble());

        // The newest point is the greatest (step, timestamp, value), whichever batch or position it came in.
        var latest = Metric((await GetRunAsync(runId)).GetProperty("data"), "acc");
        Assert.Equal(0.2, latest.GetProperty("value").GetDouble());
        Assert.Equal(107, latest.GetProperty("timestamp").GetInt64());
    }

    [Fact]
    public async Task LatestMetrics_WideAndConcurrentBatches_KeepEveryKeysGreatestPoint()
    {
        // A run's latest values are one document, merged by each batch: batches racing on one run must not lose each
        // other's keys, an older point must not replace a newer one, and NaN and infinities must come back as logged.
        var experimentId = await CreateExperimentAsync(Unique("wide"));
        var runId = await CreateRunAsync(experimentId);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(b => PostAsync("runs/log-batch", new
        {
            run_id = runId,
            metrics = Enumerable.Range(0, 125).Select(k => new { key = $"m{b * 125 + k}", value = (object)(b * 125 + k), timestamp = 10L, step = 1L }),
        })));
        await PostAsync("runs/log-batch", new
        {
            run_id = runId,
            metrics = new object[]
            {
                new { key = "m1", value = -1.0, timestamp = 99L, step = 0L },          // an older step: stays 1
                new { key = "m2", value = "NaN", timestamp = 10L, step = 1L },         // same step and time, NaN is greatest
                new { key = "m3", value = "-Infinity", timestamp = 11L, step = 1L },   // a later time
                new { key = "m4", value = 0.1 + 0.2, timestamp = 10L, step = 2L },     // a later step; exact double back
            },
        });

        var metrics = (await GetRunAsync(runId)).GetProperty("data").GetProperty("metrics").EnumerateArray()
            .ToDictionary(m => m.GetProperty("key").GetString()!, m => (Value: m.GetProperty("value").ToString(), Step: m.GetProperty("step").GetInt64()));
        Assert.Equal(1000, metrics.Count);
        Assert.All(Enumerable.Range(5, 995), i => Assert.Equal((i.ToString(), 1L), metrics[$"m{i}"]));
        Assert.Equal(("1", 1L), metrics["m1"]);
        Assert.Equal(("NaN", 1L), metrics["m2"]);
        Assert.Equal(("-Infinity", 1L), metrics["m3"]);
        Assert.Equal(((0.1 + 0.2).ToString("R", System.Globalization.CultureInfo.InvariantCulture), 2L), metrics["m4"]);
        Assert.Equal(2, (await GetAsync($"metrics/get-history?run_id={runId}&metric_key=m1")).GetProperty("metrics").GetArrayLength());

        // Search reads the same document: a filter on one of the thousand keys, and orders as MLflow's: numbers in the
        // asked direction, then NaN, then runs without the metric.
        var (other, none) = (await CreateRunAsync(experimentId), await CreateRunAsync(experimentId));
        await PostAsync("runs/log-batch", new { run_id = other, metrics = new[] { new { key = "m2", value = 5.0, timestamp = 1L, step = 0L } } });
        var found = await PostAsync("runs/search", new { experiment_ids = new[] { experimentId }, filter = "metrics.m999 >= 999" });
        Assert.Equal([runId], Names(found, "runs", r => r.GetProperty("info").GetProperty("run_id").GetString()!));
        foreach (var direction in new[] { "ASC", "DESC" })
        {
            var ordered = await PostAsync("runs/search", new { experiment_ids = new[] { experimentId }, order_by = new[] { $"metrics.m2 {direction}" } });
            Assert.Equal([other, runId, none], Names(ordered, "runs", r => r.GetProperty("info").GetProperty("run_id").GetString()!));
        }
    }

    [Fact]
    public async Task SearchRuns_MetricFilterOrderAndPaging()
    {
        var experimentId = await CreateExperimentAsync(Unique("runsearch"));
        var runs = new Dictionary<string, double>();
        for (var i = 1; i <= 7; i++)
        {
            var runId = await CreateRunAsync(experimentId);
            runs[runId] = i / 10.0;
            await PostAsync("runs/log-batch", new
            {
                run_id = runId,
                metrics = new[] { new { key = "acc", value = i / 10.0, timestamp = 1L, step = 0L } },
                @params = new[] { new { key = "parity", value = i % 2 == 0 ? "even" : "odd" } },
            });
        }
        await CreateRunAsync(experimentId); // no metric: never matches a metric filter

        var seen = new List<double>();
        string? token = null;
        do
        {
            var page = await PostAsync("runs/search", new
            {
                experiment_ids = new[] { experimentId },
                filter = "metrics.acc > 0.25 and params.parity = 'odd'",
                order_by = new[] { "metrics.acc DESC" },
                max_results = 1,
                page_token = token,
            });
            seen.AddRange(Names(page, "runs", r => Metric(r.GetProperty("data"), "acc").GetProperty("value").GetDouble()));
            token = page.TryGetProperty("next_page_token", out var next) ? next.GetString() : null;
        }
        while (token is not null);
        Assert.Equal([0.7, 0.5, 0.3], seen);

        var ascending = await PostAsync("runs/search", new { experiment_ids = new[] { experimentId }, order_by = new[] { "metrics.acc ASC" } });
        var all = Names(ascending, "runs", r => r.GetProperty("info").GetProperty("run_id").GetString()!);
        Assert.Equal(8, all.Count);
        Assert.Equal(runs.OrderBy(r => r.Value).Select(r => r.Key), all.Take(7)); // the run without the metric sorts last

        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE",
            Post("runs/search", new { experiment_ids = new[] { experimentId }, filter = "metrics.acc > '1'; DROP TABLE runs; --" }));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE",
            Post("runs/search", new { experiment_ids = new[] { experimentId }, order_by = new[] { "metrics.acc SIDEWAYS" } }));
        var hostile = await PostAsync("runs/search", new { experiment_ids = new[] { experimentId }, filter = "params.parity = '''; DROP TABLE runs; --'" });
        Assert.False(hostile.TryGetProperty("runs", out _));
        Assert.Equal(8, (await PostAsync("runs/search", new { experiment_ids = new[] { experimentId } })).GetProperty("runs").GetArrayLength());
    }

    [Theory]
    [InlineData("ASC")]
    [InlineData("DESC")]
    public async Task SearchRuns_OrderedByAMetric_PagesThroughRunsWithAndWithoutIt(string direction)
    {
        var experimentId = await CreateExperimentAsync(Unique("keyorder"));
        var values = new Dictionary<string, double>();
        var without = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            // Start times ascend, so runs without the metric come newest first; two runs share a value (tie on start time).
            var runId = (await PostAsync("runs/create", new { experiment_id = experimentId, start_time = 1_000L + i })).GetProperty("run")
                .GetProperty("info").GetProperty("run_id").GetString()!;
            if (i % 3 == 2)
            {
                without.Add(runId);
                continue;
            }
            values[runId] = i == 4 ? 0.3 : i / 10.0;
            await PostAsync("runs/log-metric", new { run_id = runId, key = "acc", value = values[runId], timestamp = 1L });
        }
        var withValue = direction == "ASC" ? values.OrderBy(v => v.Value) : values.OrderByDescending(v => v.Value);
        var expected = withValue.ThenByDescending(v => 1_000 + values.Keys.ToList().IndexOf(v.Key)).Select(v => v.Key)
            .Concat(Enumerable.Reverse(without)).ToList();

        foreach (var pageSize in new[] { 1, 2, 3, 7, 100 })
        {
            var seen = new List<string>();
            string? token = null;
            do
            {
                var page = await PostAsync("runs/search", new
                {
                    experiment_ids = new[] { experimentId }, order_by = new[] { $"metrics.acc {direction}" }, max_results = pageSize, page_token = token,
                });
                seen.AddRange(Names(page, "runs", r => r.GetProperty("info").GetProperty("run_id").GetString()!));
                token = page.TryGetProperty("next_page_token", out var next) ? next.GetString() : null;
            }
            while (token is not null);
            Assert.Equal(expected, seen);
        }
    }

    [Fact]
    public async Task DeletedRun_IsHiddenFromSearchUnlessAskedFor()
    {
        var experimentId = await CreateExperimentAsync(Unique("deleted"));
        var kept = await CreateRunAsync(experimentId);
        var deleted = await CreateRunAsync(experimentId);
        await PostAsync("runs/delete", new { run_id = deleted });

        async Task<List<string>> SearchAsync(string? viewType) => Names(
            await PostAsync("runs/search", new { experiment_ids = new[] { experimentId }, run_view_type = viewType }),
            "runs", r => r.GetProperty("info").GetProperty("run_id").GetString()!);

        Assert.Equal([kept], await SearchAsync(null));
        Assert.Equal([deleted], await SearchAsync("DELETED_ONLY"));
        Assert.Equal(new[] { deleted, kept }.Order(), (await SearchAsync("ALL")).Order());
        Assert.Equal("deleted", (await GetRunAsync(deleted)).GetProperty("info").GetProperty("lifecycle_stage").GetString());
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE",
            Post("runs/log-metric", new { run_id = deleted, key = "x", value = 1, timestamp = 1 }));

        await PostAsync("runs/restore", new { run_id = deleted });
        Assert.Equal(2, (await SearchAsync("ACTIVE_ONLY")).Count);
    }

    [Fact]
    public async Task Tags_SetOverwriteAndDelete()
    {
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("tags")));
        await PostAsync("runs/set-tag", new { run_id = runId, key = "note", value = "one" });
        await PostAsync("runs/set-tag", new { run_id = runId, key = "note", value = "two" });
        Assert.Equal("two", Tag((await GetRunAsync(runId)).GetProperty("data"), "note"));

        await PostAsync("runs/delete-tag", new { run_id = runId, key = "note" });
        Assert.Null(Tag((await GetRunAsync(runId)).GetProperty("data"), "note"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("runs/delete-tag", new { run_id = runId, key = "note" }));
    }

    [Fact]
    public async Task UnknownIds_AreResourceDoesNotExist()
    {
        var missingRun = Guid.NewGuid().ToString("N");
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/experiments/get?experiment_id=987654321"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/experiments/get?experiment_id=abc"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/experiments/get-by-name?experiment_name={Unique("none")}"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/runs/get?run_id={missingRun}"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/metrics/get-history?run_id={missingRun}&metric_key=x"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("runs/log-metric", new { run_id = missingRun, key = "x", value = 1, timestamp = 1 }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("runs/update", new { run_id = missingRun, status = "FINISHED" }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("runs/create", new { experiment_id = "987654321" }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("experiments/delete", new { experiment_id = "987654321" }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "ENDPOINT_NOT_FOUND", Post("runs/teleport", new { run_id = missingRun }));

        // A body not declared JSON (curl's -d sends a form type) is refused as MLflow's server refuses it, naming the header.
        var name = Unique("content-type");
        var json = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { name }));
        var form = new ByteArrayContent(json);
        form.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-www-form-urlencoded");
        Assert.Contains("Content-Type must be one of ['application/json']",
            await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", _client.PostAsync($"{Api}/experiments/create", form)));
        Assert.Contains("Content-Type header is missing",
            await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", _client.PostAsync($"{Api}/experiments/create", new ByteArrayContent(json))));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/experiments/get-by-name?experiment_name={name}"));
    }

    [Fact]
    public async Task CreateRun_AnswersWhatGetReturns()
    {
        var experimentId = await CreateExperimentAsync(Unique("create-answer"));
        var created = (await PostAsync("runs/create", new
        {
            experiment_id = experimentId, user_id = "ada", start_time = 1_700_000_000_123L, run_name = "answer",
            tags = new[] { new { key = "zeta", value = "1" }, new { key = "alpha", value = "2" }, new { key = "alpha", value = "3" } },
        })).GetProperty("run");
        var read = await GetRunAsync(created.GetProperty("info").GetProperty("run_id").GetString()!);
        Assert.Equal(read.GetRawText(), created.GetRawText());
        Assert.Equal("3", Tag(created.GetProperty("data"), "alpha"));
    }

    [Fact]
    public async Task LogBatch_ToADeletedOrUnknownRun_WritesNothing()
    {
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("guarded")));
        await PostAsync("runs/delete", new { run_id = runId });
        var batch = new
        {
            run_id = runId,
            metrics = new[] { new { key = "loss", value = 0.5, timestamp = 1L, step = 0L } },
            @params = new[] { new { key = "lr", value = "0.1" } },
            tags = new[] { new { key = "mlflow.runName", value = "renamed" }, new { key = "note", value = "x" } },
        };
        // With params (an explicit transaction) and without (the batch's own), to a deleted run and to an unknown one.
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-batch", batch));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-batch", new { batch.run_id, batch.metrics, batch.tags }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("runs/log-batch", batch with { run_id = Guid.NewGuid().ToString("N") }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST",
            Post("runs/log-batch", new { run_id = Guid.NewGuid().ToString("N"), batch.metrics, batch.tags }));

        await PostAsync("runs/restore", new { run_id = runId });
        var data = (await GetRunAsync(runId)).GetProperty("data");
        Assert.False(data.TryGetProperty("metrics", out _));
        Assert.False(data.TryGetProperty("params", out _));
        Assert.Null(Tag(data, "note"));
        Assert.NotEqual("renamed", Tag(data, "mlflow.runName"));
    }

    [Fact]
    public async Task Registry_CreateModelAndVersions_GetSearchDelete()
    {
        var prefix = Unique("model");
        var name = $"{prefix}-a";
        var created = (await PostAsync("registered-models/create",
            new { name, description = "flights delay", tags = new[] { new { key = "owner", value = "ml" } } })).GetProperty("registered_model");
        Assert.Equal(name, created.GetProperty("name").GetString());
        Assert.Equal("flights delay", created.GetProperty("description").GetString());
        Assert.Equal("ml", Tag(created, "owner"));
        Assert.True(created.GetProperty("creation_timestamp").GetInt64() > 1_600_000_000_000);
        Assert.False(created.TryGetProperty("latest_versions", out _));
        await AssertErrorAsync(HttpStatusCode.BadRequest, "RESOURCE_ALREADY_EXISTS", Post("registered-models/create", new { name }));

        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("registry")));
        var v1 = (await PostAsync("model-versions/create", new { name, source = $"mlflow-artifacts:/1/{runId}/artifacts/model", run_id = runId }))
            .GetProperty("model_version");
        Assert.Equal("1", v1.GetProperty("version").GetString());
        Assert.Equal("None", v1.GetProperty("current_stage").GetString());
        Assert.Equal("READY", v1.GetProperty("status").GetString());
        Assert.Equal(runId, v1.GetProperty("run_id").GetString());
        var v2 = (await PostAsync("model-versions/create", new { name, source = "s3://bucket/model", tags = new[] { new { key = "gate", value = "passed" } } }))
            .GetProperty("model_version");
        Assert.Equal("2", v2.GetProperty("version").GetString());
        Assert.Equal("passed", Tag(v2, "gate"));

        var fetched = (await GetAsync($"model-versions/get?name={name}&version=1")).GetProperty("model_version");
        Assert.Equal(v1.GetProperty("source").GetString(), fetched.GetProperty("source").GetString());
        var model = (await GetAsync($"registered-models/get?name={name}")).GetProperty("registered_model");
        Assert.Equal(["2"], Names(model, "latest_versions", v => v.GetProperty("version").GetString()!));

        await PostAsync("registered-models/create", new { name = $"{prefix}-b" });
        var filter = Uri.EscapeDataString($"name LIKE '{prefix}-%'");
        var first = await GetAsync($"registered-models/search?filter={filter}&max_results=1&order_by=name%20DESC");
        Assert.Equal([$"{prefix}-b"], Names(first, "registered_models", m => m.GetProperty("name").GetString()!));
        var second = await GetAsync($"registered-models/search?filter={filter}&max_results=1&order_by=name%20DESC&page_token={Uri.EscapeDataString(first.GetProperty("next_page_token").GetString()!)}");
        Assert.Equal([name], Names(second, "registered_models", m => m.GetProperty("name").GetString()!));

        await using (var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker))
        await using (var count = db.Command(
            "SELECT count(*) FROM outbox_messages WHERE message_type = 'Mlops.Contracts.ModelVersionCreated' AND body->>'name' = @name", null, ("name", name)))
            Assert.Equal(2L, await count.ExecuteScalarAsync());

        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/model-versions/get?name={name}&version=3"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("model-versions/create", new { name = Unique("none"), source = "s3://x" }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST",
            Post("model-versions/create", new { name, source = "s3://x", run_id = Guid.NewGuid().ToString("N") }));
        using (var delete = new HttpRequestMessage(HttpMethod.Delete, $"{Api}/registered-models/delete")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { name }), Encoding.UTF8, "application/json"),
        })
            await ReadOkAsync(await _client.SendAsync(delete));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/registered-models/get?name={name}"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/model-versions/get?name={name}&version=1"));
    }

    [Theory]
    [InlineData("experiments/create", "{\"name\": ")]
    [InlineData("runs/log-batch", "[1, 2]")]
    [InlineData("runs/log-metric", "{\"run_id\": \"x\", \"key\": \"k\", \"value\": {\"nested\": 1}, \"timestamp\": 1}")]
    [InlineData("runs/search", "{\"max_results\": \"many\"}")]
    [InlineData("runs/search", "{\"max_results\": 50001}")]
    [InlineData("runs/search", "{\"run_view_type\": \"SOME\"}")]
    [InlineData("runs/search", "{\"page_token\": \"garbage\"}")]
    [InlineData("experiments/create", "{}")]
    [InlineData("experiments/create", "{\"name\": \"n\", \"tags\": [null]}")]
    [InlineData("runs/log-batch", "{\"run_id\": \"x\", \"metrics\": [null]}")]
    [InlineData("runs/search", "{\"order_by\": [null]}")]
    [InlineData("experiments/create", "{\"name\": \"nul\\u0000byte\"}")]
    [InlineData("runs/delete", "{\"run_id\": \"a\\u0000\"}")]
    [InlineData("runs/update", "{\"run_id\": \"x\", \"status\": \"DONE\"}")]
    public async Task BadInput_IsInvalidParameterValueInMlflowFormat(string path, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        var message = await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", _client.PostAsync($"{Api}/{path}", content));
        Assert.False(string.IsNullOrWhiteSpace(message));
    }

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    private Task<HttpResponseMessage> Post(string path, object body) =>
        _client.PostAsync($"{Api}/{path}", new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));

    private async Task<JsonElement> PostAsync(string path, object body) => await ReadOkAsync(await Post(path, body));

    private async Task<JsonElement> GetAsync(string pathAndQuery) => await ReadOkAsync(await _client.GetAsync($"{Api}/{pathAndQuery}"));

    private static async Task<JsonElement> ReadOkAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {response.RequestMessage?.RequestUri}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    /// <returns>The error's message.</returns>
    private static async Task<string> AssertErrorAsync(HttpStatusCode status, string errorCode, Task<HttpResponseMessage> call)
    {
        var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status} {errorCode}, got {(int)response.StatusCode}: {text}");
        var error = JsonDocument.Parse(text).RootElement;
        Assert.Equal(errorCode, error.GetProperty("error_code").GetString());
        return error.GetProperty("message").GetString()!;
    }

    private async Task<string> CreateExperimentAsync(string name, params object[] tags) =>
        (await PostAsync("experiments/create", new { name, tags })).GetProperty("experiment_id").GetString()!;

    private async Task<string> CreateRunAsync(string experimentId) =>
        (await PostAsync("runs/create", new { experiment_id = experimentId })).GetProperty("run").GetProperty("info").GetProperty("run_id").GetString()!;

    private async Task<JsonElement> GetRunAsync(string runId) => (await GetAsync($"runs/get?run_id={runId}")).GetProperty("run");

    // MLflow leaves empty lists out of its responses.
    private static List<T> Names<T>(JsonElement response, string list, Func<JsonElement, T> select) =>
        response.TryGetProperty(list, out var items) ? items.EnumerateArray().Select(select).ToList() : [];

    private static string? KeyValue(JsonElement owner, string list, string key) =>
        Names(owner, list, e => e).Where(e => e.GetProperty("key").GetString() == key).Select(e => e.GetProperty("value").GetString()).FirstOrDefault();

    private static string? Tag(JsonElement owner, string key) => KeyValue(owner, "tags", key);

    private static string? Param(JsonElement data, string key) => KeyValue(data, "params", key);

    private static JsonElement Metric(JsonElement data, string key) =>
        Names(data, "metrics", e => e).Single(e => e.GetProperty("key").GetString() == key);
}
