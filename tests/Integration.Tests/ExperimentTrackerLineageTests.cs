using System.Net;
using System.Text.Json;
using Mlops.Contracts;

namespace Mlops.Tests;

/// <summary>runs/log-inputs and the lineage queries: feature groups and datasets → run → model version → deployment, both ways.</summary>
public sealed partial class ExperimentTrackerTests
{
    [Fact]
    public async Task Lineage_FromFeatureGroupsAndDatasets_ThroughRunsAndModels_ToDeployments_BothWays()
    {
        var experiment = await CreateExperimentAsync(Unique("lineage"));
        var execution = Guid.NewGuid().ToString("N");
        var group = Unique("flights");
        var runId = (await PostAsync("runs/create", new
        {
            experiment_id = experiment,
            tags = new[]
            {
                new { key = "mlflow.source.git.commit", value = "0123456789abcdef0123456789abcdef01234567" },
                new { key = "mlflow.source.name", value = "train.csx" },
                new { key = "mlops.pipeline.execution_id", value = execution },
                new { key = "mlops.pipeline.name", value = "delay-model" },
            },
        })).GetProperty("run").GetProperty("info").GetProperty("run_id").GetString()!;
        var snapshotDigest = Guid.NewGuid().ToString("N")[..16];
        var snapshot = new
        {
            tags = new[] { new { key = "mlflow.data.context", value = "training" } },
            dataset = new
            {
                name = "delay-training-set", digest = snapshotDigest, source_type = "mlops-feature-store",
                source = JsonSerializer.Serialize(new { snapshot_id = "snap-1", feature_groups = new object[] { new { name = group, version = 1 }, new { name = "weather", version = 2 } } }),
                schema = "{\"mlflow_colspec\": []}",
            },
        };
        var holdout = new
        {
            tags = new[] { new { key = "mlflow.data.context", value = "evaluation" } },
            dataset = new { name = "june", digest = "feedbeef", source_type = "s3", source = "{\"uri\": \"s3://mlops-lake/flights/june.parquet\"}" },
        };
        await PostAsync("runs/log-inputs", new { run_id = runId, datasets = new object[] { snapshot, holdout } });
        await PostAsync("runs/log-inputs", new { run_id = runId, datasets = new object[] { snapshot } }); // the same input again changes nothing

        var inputs = (await GetRunAsync(runId)).GetProperty("inputs").GetProperty("dataset_inputs").EnumerateArray().ToList();
        Assert.Equal(["delay-training-set", "june"], inputs.Select(i => i.GetProperty("dataset").GetProperty("name").GetString()));
        Assert.Equal("mlops-feature-store", inputs[0].GetProperty("dataset").GetProperty("source_type").GetString());
        Assert.Equal("training", Tag(inputs[0], "mlflow.data.context"));

        var model = Unique("lineage-model");
        await PostAsync("registered-models/create", new { name = model });
        await PostAsync("model-versions/create", new { name = model, source = $"runs:/{runId}/model", run_id = runId });
        var deploymentId = Guid.NewGuid().ToString("N");
        var bus = await platform.StartTestBusAsync();
        try
        {
            await bus.Publish(new ModelDeployed(deploymentId, "delay", model, "1", "production", DateTimeOffset.UtcNow));
            // Downstream from the feature group: the run, its model version and the deployment the Serving event announced.
            var byGroup = await Poll.UntilAsync(async () =>
            {
                var found = await GetNativeAsync($"/api/lineage/feature-groups/{group}?version=1");
                var runs = found.GetProperty("runs").EnumerateArray().ToList();
                return runs.Count == 1 && runs[0].GetProperty("model_versions")[0].GetProperty("deployments").GetArrayLength() == 1 ? new[] { runs[0] } : null;
            }, TimeSpan.FromSeconds(30), "the ModelDeployed event to reach the tracker's lineage");
            var run = byGroup![0];
            Assert.Equal(runId, run.GetProperty("run").GetProperty("run_id").GetString());
            Assert.Equal("0123456789abcdef0123456789abcdef01234567", run.GetProperty("run").GetProperty("code_version").GetProperty("git_commit").GetString());
            Assert.Equal(execution, run.GetProperty("run").GetProperty("pipeline_execution").GetProperty("execution_id").GetString());
            Assert.Equal("delay-model", run.GetProperty("run").GetProperty("pipeline_execution").GetProperty("pipeline").GetString());
            var version = run.GetProperty("model_versions")[0];
            Assert.Equal(model, version.GetProperty("name").GetString());
            Assert.Equal(deploymentId, version.GetProperty("deployments")[0].GetProperty("deployment_id").GetString());
            Assert.Equal(JsonValueKind.Null, version.GetProperty("deployments")[0].GetProperty("retired_at").ValueKind);
            var training = run.GetProperty("datasets").EnumerateArray().Single(d => d.GetProperty("context").GetString() == "training");
            Assert.Equal([(group, 1), ("weather", 2)], training.GetProperty("feature_groups").EnumerateArray()
                .Select(g => (g.GetProperty("name").GetString()!, g.GetProperty("version").GetInt32())).OrderBy(g => g.Item1 == "weather"));
            Assert.Equal(runId, (await GetNativeAsync($"/api/lineage/datasets?digest={snapshotDigest}")).GetProperty("runs")[0].GetProperty("run").GetProperty("run_id").GetString());
            Assert.Equal(runId, (await GetNativeAsync($"/api/lineage/pipeline-executions/{execution}")).GetProperty("runs")[0].GetProperty("run").GetProperty("run_id").GetString());

            // Upstream from the deployment and from the model version.
            var upstream = await GetNativeAsync($"/api/lineage/deployments/{deploymentId}");
            Assert.Equal("1", upstream.GetProperty("model_version").GetProperty("version").GetString());
            Assert.Equal($"runs:/{runId}/model", upstream.GetProperty("source").GetString());
            Assert.Equal(runId, upstream.GetProperty("run").GetProperty("run").GetProperty("run_id").GetString());
            Assert.Equal(2, upstream.GetProperty("run").GetProperty("datasets").GetArrayLength());
            Assert.Equal(runId, (await GetNativeAsync($"/api/lineage/model-versions/{model}/1")).GetProperty("run").GetProperty("run").GetProperty("run_id").GetString());

            await bus.Publish(new ModelRetired(deploymentId, DateTimeOffset.UtcNow));
            await Poll.UntilAsync(async () =>
            {
                var d = (await GetNativeAsync($"/api/lineage/model-versions/{model}/1")).GetProperty("model_version").GetProperty("deployments")[0];
                return d.GetProperty("retired_at").ValueKind == JsonValueKind.Null ? null : (object)true;
            }, TimeSpan.FromSeconds(30), "the ModelRetired event to reach the tracker's lineage");

            // A retirement consumed before its deployment (each event has a queue of its own): the deployment, when it
            // arrives, is recorded retired at that time, never live.
            var early = Guid.NewGuid().ToString("N");
            var retiredAt = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await bus.Publish(new ModelRetired(early, retiredAt));
            await Poll.UntilAsync(async () =>
            {
                await using var db = await platform.OpenDatabaseAsync(ResourceNames.ExperimentTracker);
                await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM deployment_retirements WHERE deployment_id = @id", db);
                command.Parameters.AddWithValue("id", early);
                return (long)(await command.ExecuteScalarAsync())! == 1 ? "" : null;
            }, TimeSpan.FromSeconds(30), "the early ModelRetired event to be consumed");
            await bus.Publish(new ModelDeployed(early, "delay", model, "1", "production", retiredAt.AddSeconds(-5)));
            var late = await Poll.UntilAsync(async () => (await GetNativeAsync($"/api/lineage/model-versions/{model}/1")).GetProperty("model_version")
                .GetProperty("deployments").EnumerateArray().FirstOrDefault(d => d.GetProperty("deployment_id").GetString() == early) is { ValueKind: JsonValueKind.Object } d
                ? new[] { d } : null, TimeSpan.FromSeconds(30), "the late ModelDeployed event to reach the tracker's lineage");
            Assert.Equal(retiredAt, late[0].GetProperty("retired_at").GetDateTimeOffset());
        }
        finally
        {
            await bus.StopAsync();
        }

        using (var unknown = await _client.GetAsync($"/api/lineage/runs/{Guid.NewGuid():N}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        }
        using (var noDigest = await _client.GetAsync("/api/lineage/datasets"))
            Assert.Equal(HttpStatusCode.BadRequest, noDigest.StatusCode);
        // A version of the group no run trained on is unknown to the tracker, not an empty lineage.
        Assert.Contains($"No run references feature group '{group}' version 2",
            await AssertNativeNotFoundAsync($"/api/lineage/feature-groups/{group}?version=2"));
    }

    [Fact]
    public async Task Lineage_OfAFeatureGroupPipelineExecutionOrDatasetNoRunReferences_Is404NamingIt()
    {
        var group = Unique("never-trained-on");
        var execution = Guid.NewGuid().ToString("N");
        var digest = Guid.NewGuid().ToString("N")[..16];
        Assert.Contains($"No run references feature group '{group}'.", await AssertNativeNotFoundAsync($"/api/lineage/feature-groups/{group}"));
        Assert.Contains($"No run references pipeline execution '{execution}'", await AssertNativeNotFoundAsync($"/api/lineage/pipeline-executions/{execution}"));
        Assert.Contains($"No run read a dataset with digest '{digest}'", await AssertNativeNotFoundAsync($"/api/lineage/datasets?digest={digest}"));

        // Once a run references them, they are known (here through the run's pipeline tag).
        var runId = (await PostAsync("runs/create", new
        {
            experiment_id = await CreateExperimentAsync(Unique("lineage-404")),
            tags = new[] { new { key = "mlops.pipeline.execution_id", value = execution } },
        })).GetProperty("run").GetProperty("info").GetProperty("run_id").GetString();
        Assert.Equal(runId, (await GetNativeAsync($"/api/lineage/pipeline-executions/{execution}")).GetProperty("runs")[0].GetProperty("run").GetProperty("run_id").GetString());
    }

    [Fact]
    public async Task LogInputs_AnInvalidDatasetRejectsTheWholeRequest_AndWritesNothing()
    {
        var runId = await CreateRunAsync(await CreateExperimentAsync(Unique("inputs")));
        var good = new { dataset = new { name = "ok", digest = "abc", source_type = "s3", source = "s3://x" } };
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-inputs",
            new { run_id = runId, datasets = new object[] { good, new { dataset = new { name = "no-digest", source_type = "s3", source = "s3://y" } } } }));
        var message = await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-inputs",
            new { run_id = runId, datasets = new object[] { good, new { dataset = new { name = "fs", digest = "d", source_type = "mlops-feature-store", source = "not json" } } } }));
        Assert.Contains("datasets[1].dataset.source", message);
        await AssertErrorAsync(HttpStatusCode.BadRequest, "INVALID_PARAMETER_VALUE", Post("runs/log-inputs",
            new { run_id = runId, datasets = new object[] { new { dataset = new { name = "d", digest = new string('x', 37), source_type = "s3", source = "s" } } } }));
        await AssertErrorAsync(HttpStatusCode.NotFound, "RESOURCE_DOES_NOT_EXIST", Post("runs/log-inputs", new { run_id = Guid.NewGuid().ToString("N"), datasets = new[] { good } }));
        Assert.False((await GetRunAsync(runId)).GetProperty("inputs").TryGetProperty("dataset_inputs", out _));
    }

    private async Task<JsonElement> GetNativeAsync(string pathAndQuery) => await ReadOkAsync(await _client.GetAsync(pathAndQuery));

    /// <summary>Asserts a native endpoint's 404 ProblemDetails and returns its detail.</summary>
    private async Task<string> AssertNativeNotFoundAsync(string pathAndQuery)
    {
        using var response = await _client.GetAsync(pathAndQuery);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString()!;
    }
}
