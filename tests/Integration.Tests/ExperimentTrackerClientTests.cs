using System.Net;
using System.Security.Cryptography;
using Mlops.ExperimentTracker.Client;

namespace Mlops.Tests;

/// <summary>The typed .NET client against the running tracker: the flow a data scientist follows from a notebook.</summary>
public sealed class ExperimentTrackerClientTests(PlatformFixture platform)
{
    private readonly TrackingClient _client = new(platform.CreateClient(ResourceNames.ExperimentTracker));

    [Fact]
    public async Task NotebookFlow_TrackTrainRegisterPromoteAndTraceBack()
    {
        var experiment = $"client-{Guid.NewGuid():N}";
        var model = $"client-model-{Guid.NewGuid():N}";
        var weights = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        Run finished;
        await using (var run = await _client.StartRunAsync(experiment, "lightgbm", gitCommit: "abc123", pipelineExecutionId: "exec-1"))
        {
            await run.LogParamsAsync(new Dictionary<string, string> { ["learning_rate"] = "0.1", ["num_leaves"] = "31" });
            // 2,500 points: more than one log-batch call may carry, so the client splits them.
            await _client.LogBatchAsync(run.RunId, Enumerable.Range(0, 2500).Select(step => new Metric("train_loss", 1.0 / (step + 1), 1_700_000_000_000 + step, step)));
            await run.LogMetricsAsync(new Dictionary<string, double> { ["auc"] = 0.66, ["accuracy"] = 0.84 });
            await _client.LogFeatureStoreSnapshotAsync(run.RunId, "snap-42", "sha256-abcdef", [("flights", 3)]);
            await run.UploadArtifactAsync("model/model.zip", new MemoryStream(weights));
            finished = run.Run;
        }

        var fetched = await _client.GetRunAsync(finished.Info.RunId);
        Assert.Equal("FINISHED", fetched.Info.Status);
        Assert.Equal("0.1", fetched.Param("learning_rate"));
        Assert.Equal(0.66, fetched.MetricValue("auc"));
        Assert.Equal(1.0 / 2500, fetched.MetricValue("train_loss"));
        Assert.Equal("abc123", fetched.Tag("mlflow.source.git.commit"));
        Assert.Equal(2500, (await _client.GetMetricHistoryAsync(fetched.Info.RunId, "train_loss")).Count);
        Assert.Equal([new ArtifactFile("model/model.zip", false, weights.Length)], await _client.ListArtifactsAsync(fetched.Info.RunId, "model"));

        var version = await _client.RegisterModelAsync(model, fetched);
        Assert.Equal("1", version.Version);
        await _client.SetAliasAsync(model, "champion", version.Version);
        var champion = await _client.GetModelVersionByAliasAsync(model, "champion");
        Assert.Equal(fetched.Info.RunId, champion.RunId);
        await using (var downloaded = await _client.OpenArtifactUriAsync(await _client.GetDownloadUriAsync(model, champion.Version) + "/model.zip"))
        {
            var copy = new MemoryStream();
            await downloaded.CopyToAsync(copy);
            Assert.Equal(SHA256.HashData(weights), SHA256.HashData(copy.ToArray()));
        }
        Assert.Equal("Production", (await _client.TransitionStageAsync(model, "1", "Production")).CurrentStage);

        var lineage = await _client.GetModelVersionLineageAsync(model, "1");
        Assert.Equal("abc123", lineage.Run!.Run.CodeVersion!.GitCommit);
        Assert.Equal("exec-1", lineage.Run.Run.PipelineExecution!.ExecutionId);
        Assert.Equal([new FeatureGroupRef("flights", 3)], lineage.Run.Datasets.Single().FeatureGroups);
        Assert.Contains((await _client.GetFeatureGroupLineageAsync("flights", 3)).Runs, r => r.Run.RunId == fetched.Info.RunId);

        // A failed trial is recorded as FAILED; comparison shows both.
        string failedId;
        await using (var failing = await _client.StartRunAsync(experiment, "too-deep"))
        {
            failedId = failing.RunId;
            await failing.LogParamsAsync(new Dictionary<string, string> { ["learning_rate"] = "0.5" });
            failing.Fail();
        }
        Assert.Equal("FAILED", (await _client.GetRunAsync(failedId)).Info.Status);
        var comparison = await _client.CompareRunsAsync([fetched.Info.RunId, failedId], paramKeys: ["learning_rate"]);
        Assert.True(comparison.Params.Single().Differs);
        var experimentId = (await _client.FindExperimentAsync(experiment))!.ExperimentId;
        var all = new List<Run>();
        await foreach (var run in _client.SearchAllRunsAsync([experimentId], "params.learning_rate = '0.5'"))
            all.Add(run);
        Assert.Equal([failedId], all.Select(r => r.Info.RunId));
    }

    [Fact]
    public async Task Errors_AreTypedWithMlflowsCodes()
    {
        var missing = await Assert.ThrowsAsync<MlflowApiException>(() => _client.GetRunAsync(Guid.NewGuid().ToString("N")));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(MlflowApiException.ResourceDoesNotExist, missing.ErrorCode);
        var name = $"client-dup-{Guid.NewGuid():N}";
        await _client.CreateExperimentAsync(name);
        Assert.Equal(MlflowApiException.ResourceAlreadyExists,
            (await Assert.ThrowsAsync<MlflowApiException>(() => _client.CreateExperimentAsync(name))).ErrorCode);
        Assert.Equal(await _client.GetOrCreateExperimentAsync(name), (await _client.FindExperimentAsync(name))!.ExperimentId);
        var lineage = await Assert.ThrowsAsync<MlflowApiException>(() => _client.GetRunLineageAsync("nope"));
        Assert.Equal(HttpStatusCode.NotFound, lineage.StatusCode);
        Assert.Equal("Unknown run", lineage.ErrorCode);
    }

    [Fact]
    public async Task CollectGarbage_DryRunByDefault_AdministratorKeyOnly()
    {
        var experiment = await _client.CreateExperimentAsync($"client-gc-{Guid.NewGuid():N}");
        var run = await _client.CreateRunAsync(experiment);
        await _client.DeleteRunAsync(run.Info.RunId);
        var admin = new TrackingClient(platform.CreateAdminClient(ResourceNames.ExperimentTracker));

        var forbidden = await Assert.ThrowsAsync<MlflowApiException>(() => _client.CollectGarbageAsync([run.Info.RunId], dryRun: false));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        var report = await admin.CollectGarbageAsync([run.Info.RunId]);
        Assert.True(report.DryRun);
        Assert.Equal([run.Info.RunId], report.DeletedRuns);
        Assert.Equal("deleted", (await _client.GetRunAsync(run.Info.RunId)).Info.LifecycleStage);

        var collected = await admin.CollectGarbageAsync([run.Info.RunId], dryRun: false);
        Assert.False(collected.DryRun);
        Assert.Equal([run.Info.RunId], collected.DeletedRuns);
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<MlflowApiException>(() => _client.GetRunAsync(run.Info.RunId))).StatusCode);
    }
}
