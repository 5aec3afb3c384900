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
                return runs.Count == 1 && runs[0].GetProperty("modelVersions")[0].GetProperty("deployments").GetArrayLength() == 1 ? new[] { runs[0] } : null;
            }, TimeSpan.FromSeconds(30), "the ModelDeployed event to reach the tracker's lineage");
            var run = byGroup![0];
            Assert.Equal(runId, run.GetProperty("run").GetProperty("runId").GetString());
            Assert.Equal("0123456789abcdef0123456789abcdef01234567", run.GetProperty("run").GetProperty("codeVersion").GetProperty("gitCommit").GetString());
            Assert.Equal(execution, run.GetProperty("run").GetProperty("pipelineExecution").GetProperty("executionId").GetString());
            Assert.Equal("delay-model", run.GetProperty("run").GetProperty("pipelineExecution").GetProperty("pipeline").GetString());
            var version = run.GetProperty("modelVersions")[0];
            Assert.Equal(model, version.GetProperty("name").GetString());
            Assert.Equal(deploymentId, version.GetProperty("deployments")[0].GetProperty("deploymentId").GetString());
            Assert.Equal(JsonValueKind.Null, version.GetProperty("deployments")[0].GetProperty("retiredAt").ValueKind);
            var training = run.GetProperty("datasets").EnumerateArray().Single(d => d.GetProperty("context").GetString() == "training");
            Assert.Equal([(group, 1), ("weather", 2)], training.GetProperty("featureGroups").EnumerateArray()
                .Select(g => (g.GetProperty("name").GetString()!, g.GetProperty("version").GetInt32())).OrderBy(g => g.Item1 == "weather"));
            Assert.Equal(0, (await GetNativeAsync($"/api/lineage/feature-groups/{group}?version=2")).GetProperty("runs").GetArrayLength());
            Assert.Equal(runId, (await GetNativeAsync($"/api/lineage/datasets?digest={snapshotDigest}")).GetProperty("runs")[0].GetProperty("run").GetProperty("runId").GetString());
            Assert.Equal(runId, (await GetNativeAsync($"/api/lineage/pipeline-executions/{execution}")).GetProperty("runs")[0].GetProperty("run").GetProperty("runId").GetString());

            // Upstream from the deployment and from the model version.
            var upstream = await GetNativeAsync($"/api/lineage/deployments/{deploymentId}");
            Assert.Equal("1", upstream.GetProperty("modelVersion").GetProperty("version").GetString());
            Assert.Equal($"runs:/{runId}/model", upstream.GetProperty("source").GetString());
            Assert.Equal(runId, upstream.GetProperty("run").GetProperty("run").GetProperty("runId").GetString());
            Assert.Equal(2, upstream.GetProperty("run").GetProperty("datasets").GetArrayLength());
            Assert.Equal(runId, (await GetNativeAsync($"/api/lineage/model-versions/{model}/1")).GetProperty("run").GetProperty("run").GetProperty("runId").GetString());

            await bus.Publish(new ModelRetired(deploymentId, DateTimeOffset.UtcNow));
            await Poll.UntilAsync(async () =>
            {
                var d = (await GetNativeAsync($"/api/lineage/model-versions/{model}/1")).GetProperty("modelVersion").GetProperty("deployments")[0];
                return d.GetProperty("retiredAt").ValueKind == JsonValueKind.Null ? null : (object)true;
            }, TimeSpan.FromSeconds(30), "the ModelRetired event to reach the tracker's lineage");
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
}
