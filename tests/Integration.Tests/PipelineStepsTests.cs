using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;
using Mlops.PipelineRunner.Client;
using Mlops.SageMaker;

using static Mlops.Tests.PipelineApi;

namespace Mlops.Tests;

/// <summary>
/// The pipeline step types that call the other services, through the running AppHost on the flights data: a feature-store
/// training set, a training job tracked in the tracker, gates, registration, and what happens when the runner dies mid-job.
/// </summary>
public sealed class PipelineStepsTests(PlatformFixture platform)
{
    private static readonly TimeSpan Finish = TimeSpan.FromMinutes(4);

    /// <summary>training_set ×2 → train → evaluate (threshold and better-than-champion) → register_model with an alias.</summary>
    private const string FlightsPipeline = """
        parameters:
          features: {type: list}
          train_rows: {type: list}
          validation_rows: {type: list}
          model: {type: string}
          experiment: {type: string}
          min_auc: {type: number, default: 0.3}
        steps:
          train_set:
            type: training_set
            inputs: {features: "${params.features}", entity_rows: "${params.train_rows}"}
            cache: {expire_after: 1h}
          validation_set:
            type: training_set
            inputs: {features: "${params.features}", entity_rows: "${params.validation_rows}"}
            cache: {expire_after: 1h}
          train:
            type: train
            inputs:
              train: ${steps.train_set.outputs.data_uri}
              validation: ${steps.validation_set.outputs.data_uri}
              snapshot_id: ${steps.train_set.outputs.snapshot_id}
              validation_snapshot_id: ${steps.validation_set.outputs.snapshot_id}
              algorithm: lightgbm
              experiment: ${params.experiment}
              hyperparameters: {label: label, num_iterations: 20, importance_rows: 0, diagnostics_rows: 200}
              max_runtime_seconds: 600
            cache: {expire_after: 1h}
          gate:
            type: evaluate
            inputs:
              metrics: ${steps.train.outputs.metrics}
              fail_if_not_passed: true
              gates:
                - {metric: "validation:auc", op: ">=", threshold: "${params.min_auc}"}
                - {metric: "validation:auc", better_than: {model: "${params.model}", alias: champion}, by: 0.0}
          register:
            type: register_model
            depends_on: [gate]
            inputs:
              model_name: ${params.model}
              run_id: ${steps.train.outputs.run_id}
              model_uri: ${steps.train.outputs.model_uri}
              alias: champion
              tags: {team: tests}
        """;

    private HttpClient Runner() => platform.CreateClient(ResourceNames.PipelineRunner);

    [Fact]
    public async Task FlightsPipeline_RunsEndToEnd_AndTheModelVersionsLineageReachesTheSnapshotAndFeatureGroups()
    {
        var (group, parameters) = await FlightsDataAsync(trainRows: 600, validationRows: 300);
        using var client = Runner();
        var name = Unique("flights");
        await UpsertAsync(client, name, FlightsPipeline);
        var id = await StartAsync(client, name, parameters);
        var done = await WaitForAsync(client, id, "succeeded");

        var trainSet = Step(done, "train_set")["outputs"]!;
        var train = Step(done, "train")["outputs"]!;
        var gate = Step(done, "gate")["outputs"]!;
        var register = Step(done, "register")["outputs"]!;
        Assert.Equal(600, trainSet["row_count"]!.GetValue<long>());
        Assert.Equal(1, trainSet["group_versions"]![group]!.GetValue<int>());
        Assert.StartsWith("s3://", trainSet["data_uri"]!.GetValue<string>());
        var jobName = train["job_name"]!.GetValue<string>();
        Assert.StartsWith($"{name}-train-", jobName);
        Assert.EndsWith("-a1", jobName);
        Assert.EndsWith("model.tar.gz", train["model_uri"]!.GetValue<string>());
        Assert.InRange(train["metrics"]!["validation:auc"]!.GetValue<double>(), 0.3, 1.0);
        Assert.True(gate["passed"]!.GetValue<bool>());
        Assert.Contains("nothing to beat", gate["notes"]![0]!.GetValue<string>()); // no champion yet: the gate says why it passed

        // The training service ran exactly that job; its log is the step's log.
        var sageMaker = await platform.CreateSageMakerClientAsync();
        var job = await sageMaker.DescribeTrainingJobAsync(jobName);
        Assert.Equal(TrainingJobStatus.Completed, job.TrainingJobStatus);
        Assert.Equal(train["model_uri"]!.GetValue<string>(), job.ModelArtifacts!.S3ModelArtifacts);
        var log = await new PipelineRunnerClient(client).GetStepLogAsync(id, "train");
        Assert.Contains("validation:auc", log);

        // Lineage: model version → run (params, metrics, execution) → snapshots → feature-group versions.
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        var model = parameters["model"]!.GetValue<string>();
        var version = register["version"]!.GetValue<string>();
        Assert.Equal(version, (await tracker.GetModelVersionByAliasAsync(model, "champion")).Version);
        var lineage = await tracker.GetModelVersionLineageAsync(model, version);
        Assert.Equal(train["model_uri"]!.GetValue<string>(), lineage.Source);
        Assert.Equal(train["run_id"]!.GetValue<string>(), lineage.Run!.Run.RunId);
        Assert.Equal(id.ToString(), lineage.Run.Run.PipelineExecution!.ExecutionId);
        var snapshot = Assert.Single(lineage.Run.Datasets, d => d.Context == "training");
        Assert.Equal($"snapshot-{trainSet["snapshot_id"]!.GetValue<string>()}", snapshot.Name);
        Assert.Contains(snapshot.FeatureGroups, g => g.Name == group && g.Version == 1);
        Assert.Contains(lineage.Run.Datasets, d => d.Context == "validation");
        var run = await tracker.GetRunAsync(train["run_id"]!.GetValue<string>());
        Assert.Equal("lightgbm", run.Param("algorithm"));
        Assert.Equal("20", run.Param("num_iterations"));
        Assert.Equal(train["metrics"]!["validation:auc"]!.GetValue<double>(), run.MetricValue("validation/auc"));
        Assert.Equal("FINISHED", run.Info.Status);
        Assert.Equal(id.ToString(), run.Tag("mlops.pipeline.execution_id"));
        var registered = await tracker.GetModelVersionAsync(model, version);
        Assert.Contains(registered.Tags!, t => t.Key == "team" && t.Value == "tests");
    }

    [Fact]
    public async Task FailingGate_StopsTheExecutionBeforeRegister_WithTheReason_AndAnIdenticalExecutionIsServedFromTheCache()
    {
        var (_, parameters) = await FlightsDataAsync(trainRows: 400, validationRows: 200);
        parameters["min_auc"] = 1.01; // no model reaches it
        using var client = Runner();
        var name = Unique("gate");
        await UpsertAsync(client, name, FlightsPipeline);

        var first = await WaitForAsync(client, await StartAsync(client, name, parameters), "failed");
        Assert.Equal("failed", Status(first, "gate"));
        Assert.Equal("not_run", Status(first, "register"));
        var error = first["error"]!.GetValue<string>();
        Assert.Contains("gate", error);
        Assert.Contains("is not >= 1.01", error);
        Assert.Contains("is not >= 1.01", Step(first, "gate")["error"]!.GetValue<string>());

        var second = await WaitForAsync(client, await StartAsync(client, name, parameters), "failed", TimeSpan.FromSeconds(60));
        foreach (var step in new[] { "train_set", "validation_set", "train" })
            Assert.Equal("cached", Status(second, step));
        Assert.Equal(Step(first, "train")["outputs"]!.ToJsonString(), Step(second, "train")["outputs"]!.ToJsonString());
        Assert.Equal("not_run", Status(second, "register"));
        Assert.Contains("is not >= 1.01", second["error"]!.GetValue<string>());

        // One training job for the two executions: the second never reached SageMaker.
        var sageMaker = await platform.CreateSageMakerClientAsync();
        var jobs = await sageMaker.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = name, MaxResults = 100 });
        Assert.Single(jobs.TrainingJobSummaries);
    }

    // Runs alone: PipelineStepsTestsFaults.
    internal async Task RunnerStoppedMidTraining_AfterRestartTheExecutionFinishes_WithExactlyOneTrainingJobForTheStep()
    {
        var (_, parameters) = await FlightsDataAsync(trainRows: 600, validationRows: 300);
        using var client = Runner();
        var name = Unique("crash");
        // More iterations than the other tests, so the job is still training when the runner goes down.
        await UpsertAsync(client, name, FlightsPipeline.Replace("num_iterations: 20", "num_iterations: 400"));
        var id = await StartAsync(client, name, parameters);
        var sageMaker = await platform.CreateSageMakerClientAsync();
        await Poll.UntilAsync(async () =>
        {
            var jobs = await sageMaker.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = name });
            return jobs.TrainingJobSummaries.Count > 0 ? jobs : null;
        }, Finish, "the train step's training job to exist");

        await PipelineApi.RestartAsync(platform, ResourceNames.PipelineRunner);

        using var after = Runner();
        var done = await WaitForAsync(after, id, "succeeded");
        var train = Step(done, "train");
        Assert.Equal(1, train["attempt"]!.GetValue<int>());
        Assert.True(train["claims"]!.GetValue<int>() >= 2, train.ToJsonString()); // taken over after the restart
        var all = await sageMaker.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = name, MaxResults = 100 });
        var only = Assert.Single(all.TrainingJobSummaries);
        Assert.Equal(train["outputs"]!["job_name"]!.GetValue<string>(), only.TrainingJobName);
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        var experiment = (await tracker.FindExperimentAsync(parameters["experiment"]!.GetValue<string>()))!;
        Assert.Single((await tracker.SearchRunsAsync([experiment.ExperimentId])).Runs); // and one run, found again by its job
    }

    [Fact]
    public async Task FlightsPipeline_DeploysTheRegisteredVersion_AndItsQualityCheckPasses_WhileAMissingColumnFailsTheCheck()
    {
        var (group, parameters) = await FlightsDataAsync(trainRows: 400, validationRows: 200);
        var endpoint = $"flights-{Guid.NewGuid():N}"[..24];
        var baseline = $"flights-{Guid.NewGuid():N}"[..24];
        parameters["endpoint"] = endpoint;
        parameters["baseline"] = baseline;

        // The baseline: the validation rows' training set as the Monitor profiles it (the same request gives the same bytes).
        using var store = platform.CreateClient(ResourceNames.FeatureStore);
        async Task<string> SnapshotAsync(JsonArray features)
        {
            var response = await store.PostAsJsonAsync("/api/training-sets", new JsonObject
            {
                ["features"] = features, ["entity_rows"] = parameters["validation_rows"]!.DeepClone(),
            });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, body);
            return JsonNode.Parse(body)!["data_uri"]!.GetValue<string>();
        }
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        var created = await monitor.PostAsJsonAsync("/api/baselines", new JsonObject
        {
            ["name"] = baseline, ["dataset"] = new JsonObject { ["uri"] = await SnapshotAsync((JsonArray)parameters["features"]!.DeepClone()) },
        });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());

        using var client = Runner();
        var name = Unique("deploy");
        await UpsertAsync(client, name, FlightsPipeline
            .Replace("model_uri: ${steps.train.outputs.model_uri}", "model_uri: ${steps.train.outputs.artifact_uri}")
            .Replace("min_auc: {type: number, default: 0.3}", "min_auc: {type: number, default: 0.3}\n  endpoint: {type: string}\n  baseline: {type: string}")
            + """

              deploy:
                type: deploy
                depends_on: [register]
                inputs: {endpoint: "${params.endpoint}", model_name: "${params.model}", alias: champion, strategy: {type: all_at_once}}
              quality:
                type: quality_check
                inputs: {baseline: "${params.baseline}", dataset_uri: "${steps.validation_set.outputs.data_uri}"}
            """);
        var done = await WaitForAsync(client, await StartAsync(client, name, parameters), "succeeded");
        var version = Step(done, "register")["outputs"]!["version"]!.GetValue<string>();
        var deployed = Step(done, "deploy")["outputs"]!;
        Assert.Equal(endpoint, deployed["endpoint"]!.GetValue<string>());
        Assert.Equal(version, deployed["model_version"]!.GetValue<string>());
        var quality = Step(done, "quality")["outputs"]!;
        Assert.Equal("OK", quality["result"]!.GetValue<string>());
        Assert.True(quality["passed"]!.GetValue<bool>());

        // The endpoint serves the registered version.
        using var serving = platform.CreateClient(ResourceNames.Serving);
        var flight = parameters["validation_rows"]![0]!;
        var invoked = await serving.PostAsJsonAsync($"/endpoints/{endpoint}/invocations", new JsonObject
        {
            ["dataframe_records"] = new JsonArray(new JsonObject
            {
                ["origin"] = flight["origin"]!.DeepClone(), ["event_timestamp"] = flight["event_timestamp"]!.DeepClone(),
                [$"{group}__distance"] = 337, [$"{group}__destination"] = "LAX",
            }),
        });
        var answer = await invoked.Content.ReadAsStringAsync();
        Assert.True(invoked.StatusCode == HttpStatusCode.OK, answer);
        Assert.Equal(version, JsonNode.Parse(answer)!["predictions"]![0]!["model_version"]!.GetValue<string>());

        // Data without one of the baseline's columns: the check fails the execution, naming the violation.
        var check = Unique("quality");
        await UpsertAsync(client, check, """
            parameters: {baseline: {type: string}, data: {type: string}}
            steps:
              quality: {type: quality_check, inputs: {baseline: "${params.baseline}", dataset_uri: "${params.data}"}}
            """);
        var failed = await WaitForAsync(client, await StartAsync(client, check, new JsonObject
        {
            ["baseline"] = baseline, ["data"] = await SnapshotAsync(new JsonArray($"{group}:distance")),
        }), "failed");
        Assert.Contains("missing_column_check", failed["error"]!.GetValue<string>());
        Assert.Contains($"{group}__destination", failed["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task TransformCleansALakeObject_AndIngestLoadsIt_WhileIngestingTheRawObjectFailsWithTheFeatureStoresProblem()
    {
        using var store = platform.CreateClient(ResourceNames.FeatureStore);
        var group = $"flights_{Guid.NewGuid():N}"[..20];
        Assert.Equal(HttpStatusCode.Created, (await store.PostAsJsonAsync("/api/feature-groups", FeatureStoreTests.FlightsGroup(group))).StatusCode);
        // 200 flights as a raw CSV in the lake, two of them dirty: no delay (not_null), a lowercase destination (pattern).
        var records = JsonNode.Parse(await File.ReadAllTextAsync(TrainingJobFlightsTests.Repo("eng", "node", "node_modules", "vega-datasets", "data", "flights-2k.json")))!
            .AsArray().Take(200).ToList();
        var csv = new StringBuilder("date,delay,distance,origin,destination\n");
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i]!;
            var date = DateTime.Parse((string)r["date"]!, CultureInfo.InvariantCulture).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            csv.Append($"{date},{(i == 3 ? "" : (string?)r["delay"]?.ToString())},{r["distance"]},{r["origin"]},{(i == 7 ? "xx" : (string)r["destination"]!)}\n");
        }
        var rawKey = $"pipeline-tests/{group}/raw.csv";
        using (var s3 = await platform.CreateS3ClientAsync())
            await s3.PutObjectAsync(new() { BucketName = ResourceNames.LakeBucket, Key = rawKey, ContentBody = csv.ToString(), UseChunkEncoding = false });

        using var client = Runner();
        var name = Unique("clean");
        await UpsertAsync(client, name, """
            parameters: {group: {type: string}, raw: {type: string}, clean: {type: string}}
            steps:
              clean:
                type: transform
                inputs:
                  tables: {raw: "${params.raw}"}
                  sql: >-
                    SELECT CAST(date AS TIMESTAMP) AS date, CAST(delay AS BIGINT) AS delay, CAST(distance AS BIGINT) AS distance, origin, destination
                    FROM raw WHERE delay IS NOT NULL AND regexp_matches(destination, '^[A-Z]{3}$')
                  output_key: ${params.clean}
              load: {type: ingest, inputs: {feature_group: "${params.group}", object_key: "${steps.clean.outputs.object_key}"}}
            """);
        var parameters = new JsonObject { ["group"] = group, ["raw"] = rawKey, ["clean"] = $"pipeline-tests/{group}/clean.parquet" };
        var done = await WaitForAsync(client, await StartAsync(client, name, parameters), "succeeded");
        Assert.Equal(198, Step(done, "clean")["outputs"]!["row_count"]!.GetValue<long>());
        Assert.Equal($"s3://{ResourceNames.LakeBucket}/pipeline-tests/{group}/clean.parquet", Step(done, "clean")["outputs"]!["uri"]!.GetValue<string>());
        Assert.Equal(198, Step(done, "load")["outputs"]!["rows"]!.GetValue<long>());
        var statistics = JsonNode.Parse(await store.GetStringAsync($"/api/feature-groups/{group}/statistics"))!;
        Assert.Contains("198", statistics.ToJsonString());

        var raw = Unique("raw");
        await UpsertAsync(client, raw, """
            parameters: {group: {type: string}, raw: {type: string}}
            steps:
              load: {type: ingest, inputs: {feature_group: "${params.group}", object_key: "${params.raw}"}}
            """);
        var failed = await WaitForAsync(client, await StartAsync(client, raw, new JsonObject { ["group"] = group, ["raw"] = rawKey }), "failed");
        var error = failed["error"]!.GetValue<string>();
        Assert.Contains("FeatureStore job", error);
        Assert.Contains("delay", error); // the record problem: row 3 has no delay (not_null)
        Assert.Equal(198, Step(done, "load")["outputs"]!["rows"]!.GetValue<long>()); // and nothing of the raw file was added
    }

    [Fact]
    public async Task Approval_WaitsForAPerson_ApproveGoesOn_RejectFails_AndDecidingWhatIsNotWaitingIs409()
    {
        using var client = Runner();
        var name = Unique("approve");
        await UpsertAsync(client, name, """
            steps:
              ask: {type: approval, inputs: {message: "ship it?", timeout_seconds: 600}}
              after: {type: noop, depends_on: [ask], inputs: {by: "${steps.ask.outputs.approved_by}"}}
            """);
        var approved = await StartAsync(client, name, new JsonObject());
        using (var early = await client.PostAsJsonAsync($"/api/executions/{approved}/steps/after/approve", new { }))
            Assert.Equal(HttpStatusCode.Conflict, early.StatusCode); // not an approval step
        await Poll.UntilAsync(async () => Status(await GetAsync(client, approved), "ask") == "waiting" ? "" : null, Finish, "the approval to wait");
        var typed = new PipelineRunnerClient(client); // the .NET client's approval calls
        var afterApprove = await typed.ApproveStepAsync(approved, "ask", by: "alice", comment: "lgtm");
        Assert.Equal(approved, afterApprove.Id);
        var done = await WaitForAsync(client, approved, "succeeded", TimeSpan.FromSeconds(60));
        Assert.Equal("alice", Step(done, "after")["outputs"]!["by"]!.GetValue<string>());
        var again = await Assert.ThrowsAsync<PipelineRunnerException>(() => typed.ApproveStepAsync(approved, "ask", by: "bob"));
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Contains("succeeded", again.Detail);

        var rejected = await StartAsync(client, name, new JsonObject());
        await Poll.UntilAsync(async () => Status(await GetAsync(client, rejected), "ask") == "waiting" ? "" : null, Finish, "the approval to wait");
        await typed.RejectStepAsync(rejected, "ask", by: "carol", comment: "not yet");
        var failed = await WaitForAsync(client, rejected, "failed", TimeSpan.FromSeconds(60));
        Assert.Contains("Rejected by carol: not yet", failed["error"]!.GetValue<string>());
        Assert.Equal("not_run", Status(failed, "after"));
        using (var unknown = await client.PostAsJsonAsync($"/api/executions/{Guid.NewGuid()}/steps/ask/approve", new { }))
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var unknownTyped = await Assert.ThrowsAsync<PipelineRunnerException>(() => typed.RejectStepAsync(Guid.NewGuid(), "ask"));
        Assert.Equal(HttpStatusCode.NotFound, unknownTyped.Status);
    }

    [Fact]
    public async Task StepInputs_InvalidOnUpsert_Answer400WithPaths()
    {
        using var client = Runner();
        using var response = await client.PutAsync($"/api/pipelines/{Unique("bad-inputs")}", new StringContent("""
            steps:
              set: {type: training_set, inputs: {features: [nope]}}
              train: {type: train, inputs: {train: "http://x", validation: "s3://b/v", algorithm: xgboost}}
            """, Encoding.UTF8, "application/yaml"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        var paths = JsonNode.Parse(body)!["problems"]!.AsArray().Select(p => p!["path"]!.GetValue<string>()).ToList();
        Assert.Contains("$.steps.set.inputs.features[0]", paths);
        Assert.Contains("$.steps.set.inputs.entity_rows", paths);
        Assert.Contains("$.steps.train.inputs.train", paths);
        Assert.Contains("$.steps.train.inputs.algorithm", paths);
    }

    /// <summary>
    /// A flights feature group of the 2,000-flight sample and entity rows from it (origin at the flight's time, labelled
    /// delayed or not): the first rows to train on, the next to validate — the point-in-time join gives the features.
    /// </summary>
    private async Task<(string Group, JsonObject Parameters)> FlightsDataAsync(int trainRows, int validationRows)
    {
        using var store = platform.CreateClient(ResourceNames.FeatureStore);
        var group = $"flights_{Guid.NewGuid():N}"[..20];
        Assert.Equal(HttpStatusCode.Created, (await store.PostAsJsonAsync("/api/feature-groups", FeatureStoreTests.FlightsGroup(group))).StatusCode);
        var records = JsonNode.Parse(await File.ReadAllTextAsync(TrainingJobFlightsTests.Repo("eng", "node", "node_modules", "vega-datasets", "data", "flights-2k.json")))!.AsArray();
        var ingested = await store.PostAsJsonAsync($"/api/feature-groups/{group}/records", new JsonObject { ["records"] = records.DeepClone() });
        Assert.True(ingested.IsSuccessStatusCode, await ingested.Content.ReadAsStringAsync());
        JsonArray Rows(IEnumerable<JsonNode?> flights) => new([.. flights.Select(f => (JsonNode)new JsonObject
        {
            ["origin"] = (string)f!["origin"]!,
            ["event_timestamp"] = DateTime.Parse((string)f["date"]!, CultureInfo.InvariantCulture).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["label"] = (long)f["delay"]! > 15 ? 1 : 0,
        })]);
        return (group, new JsonObject
        {
            ["features"] = new JsonArray($"{group}:distance", $"{group}:destination"),
            ["train_rows"] = Rows(records.Take(trainRows)),
            ["validation_rows"] = Rows(records.Skip(trainRows).Take(validationRows)),
            ["model"] = $"flights-{Guid.NewGuid():N}"[..20],
            ["experiment"] = $"pipeline-steps-{Guid.NewGuid():N}",
        });
    }
}

/// <summary>The test of <see cref="PipelineStepsTests"/> that restarts the pipeline runner: in the faults collection, so it runs alone.</summary>
[Collection(FaultsCollection.Name)]
public sealed class PipelineStepsTestsFaults(PlatformFixture platform)
{
    [Fact]
    public Task RunnerStoppedMidTraining_AfterRestartTheExecutionFinishes_WithExactlyOneTrainingJobForTheStep() => new PipelineStepsTests(platform).RunnerStoppedMidTraining_AfterRestartTheExecutionFinishes_WithExactlyOneTrainingJobForTheStep();
}
