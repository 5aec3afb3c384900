using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mlops.ServiceDefaults.Data;

namespace Mlops.Tests;

/// <summary>Hard delete with artifact garbage collection (<c>/api/admin/gc</c>) and run comparison (<c>/api/runs/compare</c>).</summary>
public sealed partial class ExperimentTrackerTests
{
    [Fact]
    public async Task GarbageCollection_PurgesDeletedRunsAndTheirArtifacts_KeepsRegisteredOnes_AndRefusesLiveOnes()
    {
        var experiment = await CreateExperimentAsync(Unique("gc"));
        var doomed = await CreateRunAsync(experiment);
        var registered = await CreateRunAsync(experiment);
        var live = await CreateRunAsync(experiment);
        foreach (var run in new[] { doomed, registered, live })
        {
            await PostAsync("runs/log-batch", new { run_id = run, metrics = new[] { new { key = "loss", value = 0.5, timestamp = 1, step = 0 } }, @params = new[] { new { key = "lr", value = "0.1" } } });
            await ReadOkAsync(await _client.PutAsync($"{Artifacts}/{experiment}/{run}/artifacts/model/weights.bin", new ByteArrayContent(new byte[1024])));
        }
        var model = Unique("gc-model");
        await PostAsync("registered-models/create", new { name = model });
        await PostAsync("model-versions/create", new { name = model, source = $"runs:/{registered}/model", run_id = registered });
        await PostAsync("runs/delete", new { run_id = doomed });
        await PostAsync("runs/delete", new { run_id = registered });

        // Live or unknown runs are refused by name, and nothing is collected.
        var refused = await _admin.PostAsJsonAsync("/api/admin/gc", new { run_ids = new[] { doomed, live, "nope" }, dry_run = false });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var problem = await refused.Content.ReadAsStringAsync();
        Assert.Contains($"{live} is not deleted", problem);
        Assert.Contains("nope no such run", problem);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync($"{Artifacts}/{experiment}/{doomed}/artifacts/model/weights.bin")).StatusCode);

        // A dry run reports and changes nothing.
        var dry = await GcAsync(new { run_ids = new[] { doomed, registered }, dry_run = true });
        Assert.True(dry.GetProperty("dry_run").GetBoolean());
        Assert.Equal([doomed], dry.GetProperty("deleted_runs").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(registered, dry.GetProperty("kept_runs")[0].GetProperty("run_id").GetString());
        Assert.Equal("deleted", (await GetRunAsync(doomed)).GetProperty("info").GetProperty("lifecycle_stage").GetString());

        var collected = await GcAsync(new { run_ids = new[] { doomed, registered }, dry_run = false });
        Assert.False(collected.GetProperty("dry_run").GetBoolean());
        Assert.Equal([doomed], collected.GetProperty("deleted_runs").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(1, collected.GetProperty("artifact_objects_deleted").GetInt32());
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/runs/get?run_id={doomed}"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Artifacts}/{experiment}/{doomed}/artifacts/model/weights.bin"));
        await using (var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker))
        await using (var rows = db.Command(
            "SELECT (SELECT count(*) FROM metric_chunks WHERE run_id = @r) + (SELECT count(*) FROM params WHERE run_id = @r) + (SELECT count(*) FROM runs WHERE run_id = @r) + (SELECT count(*) FROM tags WHERE run_id = @r)",
            null, ("r", doomed)))
            Assert.Equal(0L, await rows.ExecuteScalarAsync());
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync($"{Artifacts}/{experiment}/{registered}/artifacts/model/weights.bin")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync($"{Artifacts}/{experiment}/{live}/artifacts/model/weights.bin")).StatusCode);

        // A deleted experiment goes with all its runs and whatever is under its prefix.
        var gone = await CreateExperimentAsync(Unique("gc-experiment"));
        var inside = await CreateRunAsync(gone);
        await ReadOkAsync(await _client.PutAsync($"{Artifacts}/{gone}/{inside}/artifacts/a.txt", new ByteArrayContent("a"u8.ToArray())));
        await PostAsync("experiments/delete", new { experiment_id = gone });
        var purged = await GcAsync(new { experiment_ids = new[] { gone }, dry_run = false });
        Assert.Equal([gone], purged.GetProperty("deleted_experiments").EnumerateArray().Select(e => e.GetString()));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/experiments/get?experiment_id={gone}"));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", _client.GetAsync($"{Api}/runs/get?run_id={inside}"));
        Assert.Empty(Files(await ReadOkAsync(await _client.GetAsync($"{Artifacts}?path={gone}"))));
    }

    [Fact]
    public async Task GarbageCollection_LeavesARunRestoredWhileItRuns_WithItsArtifacts()
    {
        var experiment = await CreateExperimentAsync(Unique("gc-restore"));
        var run = await CreateRunAsync(experiment);
        await ReadOkAsync(await _client.PutAsync($"{Artifacts}/{experiment}/{run}/artifacts/model/weights.bin", new ByteArrayContent(new byte[512])));
        await PostAsync("runs/delete", new { run_id = run });

        // A restore in flight: the run's row changed and locked, not yet committed, when the collection reads its candidates.
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker);
        await using var restore = await db.BeginTransactionAsync();
        await using (var update = db.Command("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_id = @r", restore, ("r", run)))
            Assert.Equal(1, await update.ExecuteNonQueryAsync());
        var collecting = _admin.PostAsJsonAsync("/api/admin/gc", new { run_ids = new[] { run }, dry_run = false });
        await using (var watcher = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker))
            await Poll.UntilAsync(async () =>
            {
                if (collecting.IsCompleted)
                    return "done"; // finished without waiting: the assertions below say whether it kept the run
                await using var waiting = watcher.Command(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'", null);
                return (long)(await waiting.ExecuteScalarAsync())! > 0 ? "waiting" : null;
            }, TimeSpan.FromSeconds(30), "the collection to reach the run's lock");
        await restore.CommitAsync();

        var collected = await ReadOkAsync(await collecting);
        Assert.Empty(collected.GetProperty("deleted_runs").EnumerateArray());
        Assert.Equal(0, collected.GetProperty("artifact_objects_deleted").GetInt32());
        Assert.Equal("active", (await GetRunAsync(run)).GetProperty("info").GetProperty("lifecycle_stage").GetString());
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync($"{Artifacts}/{experiment}/{run}/artifacts/model/weights.bin")).StatusCode);
    }

    [Fact]
    public async Task CompareRuns_ParamsAndLatestMetrics_ColumnPerRun()
    {
        var experiment = await CreateExperimentAsync(Unique("compare"));
        var runs = new List<string>();
        foreach (var (lr, auc) in new[] { ("0.1", 0.70), ("0.01", 0.75), ("0.1", 0.72) })
        {
            var run = await CreateRunAsync(experiment);
            runs.Add(run);
            await PostAsync("runs/log-batch", new
            {
                run_id = run,
                metrics = new[] { new { key = "auc", value = auc - 0.1, timestamp = 1, step = 0 }, new { key = "auc", value = auc, timestamp = 2, step = 1 } },
                @params = new[] { new { key = "lr", value = lr }, new { key = "seed", value = "42" } },
            });
        }
        await PostAsync("runs/log-metric", new { run_id = runs[2], key = "loss", value = 0.3, timestamp = 3, step = 0 });

        var compared = await ReadOkAsync(await _client.PostAsJsonAsync("/api/runs/compare", new { run_ids = runs }));
        Assert.Equal(runs, compared.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("run_id").GetString()));
        var lrRow = compared.GetProperty("params").EnumerateArray().Single(p => p.GetProperty("key").GetString() == "lr");
        Assert.Equal(["0.1", "0.01", "0.1"], lrRow.GetProperty("values").EnumerateArray().Select(v => v.GetString()));
        Assert.True(lrRow.GetProperty("differs").GetBoolean());
        Assert.False(compared.GetProperty("params").EnumerateArray().Single(p => p.GetProperty("key").GetString() == "seed").GetProperty("differs").GetBoolean());
        var aucRow = compared.GetProperty("metrics").EnumerateArray().Single(m => m.GetProperty("key").GetString() == "auc");
        Assert.Equal([0.70, 0.75, 0.72], aucRow.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal(runs[1], aucRow.GetProperty("max_run_id").GetString());
        Assert.Equal(runs[0], aucRow.GetProperty("min_run_id").GetString());
        var lossRow = compared.GetProperty("metrics").EnumerateArray().Single(m => m.GetProperty("key").GetString() == "loss");
        Assert.Equal([JsonValueKind.Null, JsonValueKind.Null, JsonValueKind.Number], lossRow.GetProperty("values").EnumerateArray().Select(v => v.ValueKind));

        var onlyAuc = await ReadOkAsync(await _client.PostAsJsonAsync("/api/runs/compare", new { run_ids = runs, metric_keys = new[] { "auc" }, param_keys = Array.Empty<string>() }));
        Assert.Equal(["auc"], onlyAuc.GetProperty("metrics").EnumerateArray().Select(m => m.GetProperty("key").GetString()));
        Assert.Equal(0, onlyAuc.GetProperty("params").GetArrayLength());

        var unknown = Guid.NewGuid().ToString("N");
        using (var missing = await _client.PostAsJsonAsync("/api/runs/compare", new { run_ids = new[] { runs[0], unknown } }))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Contains(unknown, await missing.Content.ReadAsStringAsync());
        }
        using (var tooMany = await _client.PostAsJsonAsync("/api/runs/compare", new { run_ids = Enumerable.Range(0, 5001).Select(i => $"r{i}") }))
            Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        using (var duplicated = await _client.PostAsJsonAsync("/api/runs/compare", new { run_ids = new[] { runs[0], runs[0] } }))
            Assert.Equal(HttpStatusCode.BadRequest, duplicated.StatusCode);
    }

    [Fact]
    public async Task GarbageCollection_WithoutABodyOrWithAnEmptyOne_IsADryRun_NothingDeleted()
    {
        var experiment = await CreateExperimentAsync(Unique("gc-default"));
        var run = await CreateRunAsync(experiment);
        await ReadOkAsync(await _client.PutAsync($"{Artifacts}/{experiment}/{run}/artifacts/a.txt", new ByteArrayContent("a"u8.ToArray())));
        await PostAsync("runs/delete", new { run_id = run });

        foreach (var request in new Func<Task<HttpResponseMessage>>[]
                 {
                     () => _admin.PostAsync("/api/admin/gc", null),
                     () => _admin.PostAsJsonAsync("/api/admin/gc", new { }),
                     () => _admin.PostAsJsonAsync("/api/admin/gc", new { run_ids = new[] { run } }),
                 })
        {
            var report = await ReadOkAsync(await request());
            Assert.True(report.GetProperty("dry_run").GetBoolean());
            Assert.Contains(run, report.GetProperty("deleted_runs").EnumerateArray().Select(r => r.GetString()));
            Assert.Equal(0, report.GetProperty("artifact_objects_deleted").GetInt32());
        }
        Assert.Equal("deleted", (await GetRunAsync(run)).GetProperty("info").GetProperty("lifecycle_stage").GetString());
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync($"{Artifacts}/{experiment}/{run}/artifacts/a.txt")).StatusCode);
    }

    [Fact]
    public async Task GarbageCollection_WithThePlatformKey_Is403NamingTheAdministratorKey_NothingDeleted()
    {
        var run = await CreateRunAsync(await CreateExperimentAsync(Unique("gc-forbidden")));
        await PostAsync("runs/delete", new { run_id = run });

        using var refused = await _client.PostAsJsonAsync("/api/admin/gc", new { run_ids = new[] { run }, dry_run = false });

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Contains("administrator key", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString());
        Assert.Equal("deleted", (await GetRunAsync(run)).GetProperty("info").GetProperty("lifecycle_stage").GetString());
    }

    [Fact]
    public async Task OpenApi_NativeOperationsListTheirProblemResponses_AndSnakeCaseSchemas()
    {
        var document = await ReadOkAsync(await _client.GetAsync("/openapi/v1.json"));
        var paths = document.GetProperty("paths");
        string[] Statuses(string path, string method) =>
            paths.GetProperty(path).GetProperty(method).GetProperty("responses").EnumerateObject().Select(r => r.Name).ToArray();

        Assert.Subset(Statuses("/api/admin/gc", "post").ToHashSet(), new HashSet<string> { "200", "400", "403" });
        Assert.Subset(Statuses("/api/lineage/feature-groups/{name}", "get").ToHashSet(), new HashSet<string> { "200", "404" });
        Assert.Subset(Statuses("/api/lineage/pipeline-executions/{executionId}", "get").ToHashSet(), new HashSet<string> { "200", "404" });
        Assert.Subset(Statuses("/api/runs/compare", "post").ToHashSet(), new HashSet<string> { "200", "400", "404" });
        Assert.Subset(Statuses("/api/registry/audit", "get").ToHashSet(), new HashSet<string> { "200", "400" });
        var gc = document.GetProperty("components").GetProperty("schemas").GetProperty("GcRequest").GetProperty("properties");
        Assert.Equal(["dry_run", "experiment_ids", "older_than_minutes", "run_ids"], gc.EnumerateObject().Select(p => p.Name).Order());
    }

    private async Task<JsonElement> GcAsync(object request) => await ReadOkAsync(await _admin.PostAsJsonAsync("/api/admin/gc", request));
}
