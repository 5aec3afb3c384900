using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Steps;

namespace Mlops.PipelineRunner.Tests;

/// <summary>The service-calling step types: their inputs' validation, the training job's name, the gates' verdict.</summary>
public sealed class StepTypeTests
{
    private static List<DefinitionProblem> Problems(string yaml) => DefinitionParser.Parse(yaml, json: false).Problems.ToList();

    [Theory]
    [InlineData("{type: training_set, inputs: {features: [], entity_source: e.parquet}}", "$.steps.s.inputs.features", "at least one")]
    [InlineData("{type: training_set, inputs: {features: [delay], entity_source: e.parquet}}", "$.steps.s.inputs.features[0]", "group:feature")]
    [InlineData("{type: training_set, inputs: {features: ['g:f']}}", "$.steps.s.inputs.entity_rows", "exactly one")]
    [InlineData("{type: training_set, inputs: {features: ['g:f'], entity_source: e.parquet, entity_rows: [{a: 1}]}}", "$.steps.s.inputs.entity_source", "exactly one")]
    [InlineData("{type: training_set, inputs: {features: ['g:f'], entity_rows: [1]}}", "$.steps.s.inputs.entity_rows[0]", "map of column")]
    [InlineData("{type: training_set, inputs: {features: ['g:f'], entity_source: /abs/e.parquet}}", "$.steps.s.inputs.entity_source", "object key")]
    [InlineData("{type: training_set, inputs: {features: ['g:f'], entity_source: e.parquet, timestamp_column: Bad-Col}}", "$.steps.s.inputs.timestamp_column", "identifier")]
    [InlineData("{type: train, inputs: {train: 'http://x/y', validation: 's3://b/v', algorithm: lightgbm}}", "$.steps.s.inputs.train", "s3://bucket/key")]
    [InlineData("{type: train, inputs: {train: 's3://b/t', validation: 's3://b/v', algorithm: xgboost}}", "$.steps.s.inputs.algorithm", "lightgbm")]
    [InlineData("{type: train, inputs: {train: 's3://b/t', validation: 's3://b/v', algorithm: sdca, hyperparameters: {algorithm: x}}}", "$.steps.s.inputs.hyperparameters.algorithm", "its own input")]
    [InlineData("{type: train, inputs: {train: 's3://b/t', validation: 's3://b/v', algorithm: sdca, hyperparameters: {l: [1]}}}", "$.steps.s.inputs.hyperparameters.l", "string, number or bool")]
    [InlineData("{type: train, inputs: {train: 's3://b/t', validation: 's3://b/v', algorithm: sdca, max_runtime_seconds: 0}}", "$.steps.s.inputs.max_runtime_seconds", "whole number")]
    [InlineData("{type: train, inputs: {train: 's3://b/t', validation: 's3://b/v', algorithm: sdca, snapshot_id: nope}}", "$.steps.s.inputs.snapshot_id", "UUID")]
    [InlineData("{type: train, inputs: {train: 's3://b/t', algorithm: sdca}}", "$.steps.s.inputs.validation", "needs input")]
    [InlineData("{type: register_model, inputs: {model_name: 'a/b', run_id: r, model_uri: 's3://b/m.tar.gz'}}", "$.steps.s.inputs.model_name", "no '/'")]
    [InlineData("{type: register_model, inputs: {model_name: m, run_id: r, model_uri: 'not a uri'}}", "$.steps.s.inputs.model_uri", "absolute URI")]
    [InlineData("{type: register_model, inputs: {model_name: m, run_id: r, model_uri: 's3://b/m', alias: latest}}", "$.steps.s.inputs.alias", "not 'latest'")]
    [InlineData("{type: register_model, inputs: {model_name: m, run_id: r, model_uri: 's3://b/m', alias: v2}}", "$.steps.s.inputs.alias", "v<number>")]
    [InlineData("{type: register_model, inputs: {model_name: m, run_id: r, model_uri: 's3://b/m', tags: {t: {x: 1}}}}", "$.steps.s.inputs.tags.t", "string, number or bool")]
    [InlineData("{type: approval, inputs: {timeout_seconds: -5}}", "$.steps.s.inputs.timeout_seconds", "whole number")]
    [InlineData("{type: approval, inputs: {timeout_seconds: 1.5}}", "$.steps.s.inputs.timeout_seconds", "whole number")]
    [InlineData("{type: evaluate, inputs: {metrics: {}, gates: [{metric: auc, better_than: {model: m}}]}}", "$.steps.s.inputs.gates[0].better_than.alias", "alias")]
    [InlineData("{type: evaluate, inputs: {metrics: {}, gates: [{metric: auc, op: '>', threshold: 1}], fail_if_not_passed: yes please}}", "$.steps.s.inputs.fail_if_not_passed", "bool")]
    [InlineData("{type: deploy, inputs: {endpoint: 'bad name', model_name: m, alias: champion}}", "$.steps.s.inputs.endpoint", "endpoint name")]
    [InlineData("{type: deploy, inputs: {endpoint: e, model_name: m}}", "$.steps.s.inputs.model_version", "exactly one")]
    [InlineData("{type: deploy, inputs: {endpoint: e, model_name: m, model_version: '1', alias: champion}}", "$.steps.s.inputs.alias", "exactly one")]
    [InlineData("{type: deploy, inputs: {endpoint: e, model_name: m, alias: champion, strategy: {type: big_bang}}}", "$.steps.s.inputs.strategy.type", "all_at_once")]
    [InlineData("{type: deploy, inputs: {endpoint: e, model_name: m, alias: champion, strategy: {speed: 3}}}", "$.steps.s.inputs.strategy.speed", "Unknown strategy key")]
    [InlineData("{type: deploy, inputs: {endpoint: e, model_name: m, alias: champion, sampling_percentage: 150}}", "$.steps.s.inputs.sampling_percentage", "from 0 to 100")]
    [InlineData("{type: deploy, inputs: {endpoint: e, model_name: m, alias: champion, variant: 'a_b'}}", "$.steps.s.inputs.variant", "variant name")]
    [InlineData("{type: quality_check, inputs: {baseline: b}}", "$.steps.s.inputs.dataset_uri", "exactly one")]
    [InlineData("{type: quality_check, inputs: {baseline: b, dataset_uri: 's3://b/k', endpoint: e}}", "$.steps.s.inputs.endpoint", "exactly one")]
    [InlineData("{type: quality_check, inputs: {baseline: b, dataset_uri: 'file:///tmp/x'}}", "$.steps.s.inputs.dataset_uri", "s3://bucket/key")]
    [InlineData("{type: quality_check, inputs: {baseline: b, dataset_uri: 's3://b/k', format: xlsx}}", "$.steps.s.inputs.format", "parquet, csv")]
    [InlineData("{type: quality_check, inputs: {baseline: b, dataset_uri: 's3://b/k', window_seconds: 60}}", "$.steps.s.inputs.window_seconds", "give 'endpoint'")]
    [InlineData("{type: quality_check, inputs: {baseline: b, endpoint: e, fail_on_violations: 1}}", "$.steps.s.inputs.fail_on_violations", "bool")]
    public void InvalidInputs_AreNamedWithTheirPath(string step, string path, string message)
    {
        var problems = Problems($"steps: {{s: {step}}}");
        Assert.True(problems.Any(p => p.Path == path && p.Message.Contains(message)),
            $"expected {path} ~ '{message}', got: {string.Join(" | ", problems.Select(p => $"{p.Path}: {p.Message}"))}");
    }

    [Fact]
    public void FlightsPipeline_WithReferences_IsValid_AndReferencesAreCheckedOnlyOnceResolved()
    {
        var problems = Problems("""
            parameters:
              rows: {type: list}
              validation_rows: {type: list}
              model: {type: string, default: flights}
            steps:
              train_set: {type: training_set, inputs: {features: ["flights:distance"], entity_rows: "${params.rows}"}}
              validation_set: {type: training_set, inputs: {features: ["flights:distance"], entity_rows: "${params.validation_rows}"}}
              train:
                type: train
                inputs:
                  train: ${steps.train_set.outputs.data_uri}
                  validation: ${steps.validation_set.outputs.data_uri}
                  snapshot_id: ${steps.train_set.outputs.snapshot_id}
                  algorithm: lightgbm
                  hyperparameters: {label: label, num_iterations: 20}
              gate:
                type: evaluate
                inputs:
                  metrics: ${steps.train.outputs.metrics}
                  fail_if_not_passed: true
                  gates: [{metric: "validation:auc", better_than: {model: "${params.model}", alias: champion}, by: 0.01}]
              approve: {type: approval, depends_on: [gate], inputs: {timeout_seconds: 3600}}
              register:
                type: register_model
                depends_on: [approve]
                inputs: {model_name: "${params.model}", run_id: "${steps.train.outputs.run_id}", model_uri: "${steps.train.outputs.model_uri}", alias: challenger}
            """);
        Assert.Empty(problems);
    }

    [Fact]
    public void ResolvedInputs_AreCheckedAgainByTheHandler()
    {
        var inputs = new JsonObject { ["train"] = "s3://b/t", ["validation"] = "ftp://nope", ["algorithm"] = "lightgbm" };
        var e = Assert.Throws<StepException>(() => StepInputRules.EnsureValid("train", inputs, "train"));
        Assert.Equal(FailureKinds.StepFailed, e.Kind);
        Assert.Contains("$.steps.train.inputs.validation", e.Message);
    }

    [Fact]
    public void JobName_IsDeterministic_PerExecutionStepItemAndAttempt()
    {
        var execution = Guid.Parse("019a0000-0000-7000-8000-000000000001");
        var name = TrainHandler.JobName("flights", "train", execution, -1, 1);
        Assert.Equal(name, TrainHandler.JobName("flights", "train", execution, -1, 1));
        Assert.StartsWith("flights-train-", name);
        Assert.EndsWith("-a1", name);
        Assert.NotEqual(name, TrainHandler.JobName("flights", "train", execution, -1, 2));
        Assert.NotEqual(name, TrainHandler.JobName("flights", "train", Guid.NewGuid(), -1, 1));
        Assert.NotEqual(name, TrainHandler.JobName("flights", "train2", execution, -1, 1));
        Assert.NotEqual(name, TrainHandler.JobName("flights", "train", execution, 0, 1));
    }

    [Fact]
    public async Task IdempotencyKey_IsTheSameForTheSameAttemptTakenOver_AndSentAsTheHeader()
    {
        var execution = Guid.Parse("019a0000-0000-7000-8000-000000000002");
        var step = new StepDefinition("ingest", "ingest", [], [], null, null, null, [], null, null);
        // The first claim, and a runner's takeover of the same attempt after the first died before recording the job id:
        // another claim time, no external id, the same (execution, run, step, item, attempt).
        var first = new StepContext(execution, "p", "ingest", 2, 1, step, [], DateTimeOffset.UtcNow, null, null, Run: 3);
        var takeover = new StepContext(execution, "p", "ingest", 2, 1, step, [], DateTimeOffset.UtcNow.AddMinutes(5), null, null, Run: 3);
        Assert.Equal(first.IdempotencyKey, takeover.IdempotencyKey);
        Assert.Equal(first.IdempotencyKey, StepContext.IdempotencyKeyOf(execution, 3, "ingest", 2, 1));
        Assert.InRange(first.IdempotencyKey.Length, 1, 255);
        // A retry (next attempt), a retried execution (next run), another item, step or execution is new work.
        Assert.NotEqual(first.IdempotencyKey, StepContext.IdempotencyKeyOf(execution, 3, "ingest", 2, 2));
        Assert.NotEqual(first.IdempotencyKey, StepContext.IdempotencyKeyOf(execution, 4, "ingest", 2, 1));
        Assert.NotEqual(first.IdempotencyKey, StepContext.IdempotencyKeyOf(execution, 3, "ingest", 3, 1));
        Assert.NotEqual(first.IdempotencyKey, StepContext.IdempotencyKeyOf(execution, 3, "deploy", 2, 1));
        Assert.NotEqual(first.IdempotencyKey, StepContext.IdempotencyKeyOf(Guid.NewGuid(), 3, "ingest", 2, 1));

        var sent = new List<string?>();
        var api = new FeatureStoreApi(new HttpClient(new Recording(sent)) { BaseAddress = new Uri("http://fs/") });
        await api.PostAsync("api/feature-groups/g/imports", new JsonObject(), CancellationToken.None, first.IdempotencyKey);
        await api.PostAsync("api/feature-groups/g/imports", new JsonObject(), CancellationToken.None, takeover.IdempotencyKey);
        Assert.Equal([first.IdempotencyKey, first.IdempotencyKey], sent);
    }

    private sealed class Recording(List<string?> keys) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            keys.Add(request.Headers.TryGetValues(ServiceApi.IdempotencyKeyHeader, out var v) ? v.Single() : null);
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.Accepted)
            {
                Content = new StringContent("""{"job_id":"j1"}""", System.Text.Encoding.UTF8, "application/json"),
            });
        }
    }

    [Theory]
    [InlineData("flights_delay_model_with_a_very_long_name", "train_the_model_on_the_snapshot_of_today", 3, 20)]
    [InlineData("___", "___", -1, 1)]
    [InlineData("p", "s", 12345, 7)]
    public void JobName_IsAValidSageMakerName(string pipeline, string step, int item, int attempt)
    {
        var name = TrainHandler.JobName(pipeline, step, Guid.NewGuid(), item, attempt);
        Assert.InRange(name.Length, 1, 63);
        Assert.Matches("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", name);
        Assert.DoesNotContain("--", name);
    }

    [Fact]
    public void HyperParameters_AreSageMakerStrings()
    {
        var hp = TrainHandler.HyperParameters(new JsonObject
        {
            ["hyperparameters"] = new JsonObject { ["num_iterations"] = 20, ["learning_rate"] = 0.05, ["unbalanced"] = true, ["label"] = "label" },
        });
        Assert.Equal("20", hp["num_iterations"]);
        Assert.Equal("0.05", hp["learning_rate"]);
        Assert.Equal("true", hp["unbalanced"]);
        Assert.Equal("label", hp["label"]);
    }

    private static Gate Threshold(string metric, string op, double t) => new(metric, op, t, null, null, 0, "max");
    private static Gate BetterThan(string metric, double by, string direction = "max") => new(metric, null, null, "flights", "champion", by, direction);

    [Fact]
    public void Gates_ThresholdsAndBetterThan_AllReasonsReported()
    {
        var metrics = new JsonObject { ["validation:auc"] = 0.70, ["validation:rmse"] = 2.0 };
        var verdict = EvaluateHandler.Judge(
            [Threshold("validation:auc", ">=", 0.75), BetterThan("validation:auc", 0.01), BetterThan("validation:rmse", 0.5, "min"), Threshold("missing", ">", 0)],
            metrics, g => g.Metric == "validation:auc" ? new Baseline("3", "run-3", 0.695) : new Baseline("3", "run-3", 2.2));
        Assert.False(verdict.Passed);
        var reasons = verdict.Reasons.Select(r => r!.ToString()).ToList();
        Assert.Equal(4, reasons.Count);
        Assert.Contains(reasons, r => r.Contains("is not >= 0.75"));
        Assert.Contains(reasons, r => r.Contains("not at least 0.01 above 0.695") && r.Contains("v3"));
        Assert.Contains(reasons, r => r.Contains("not at least 0.5 below 2.2"));
        Assert.Contains(reasons, r => r.Contains("'missing' is missing"));
        Assert.Equal(2, verdict.Baselines.Count);
    }

    [Fact]
    public void Gates_BetterThanByAtLeastTheMargin_Pass()
    {
        var verdict = EvaluateHandler.Judge([BetterThan("validation:auc", 0.01), BetterThan("validation:rmse", 0.5, "min")],
            new JsonObject { ["validation:auc"] = 0.71, ["validation:rmse"] = 1.5 },
            g => g.Metric == "validation:auc" ? new Baseline("3", "r", 0.70) : new Baseline("3", "r", 2.0));
        Assert.True(verdict.Passed, string.Join("; ", verdict.Reasons));
    }

    [Fact]
    public void Gates_NoChampionYet_PassesAndSaysSo()
    {
        var verdict = EvaluateHandler.Judge([BetterThan("validation:auc", 0.5)], new JsonObject { ["validation:auc"] = 0.1 },
            _ => new Baseline(null, null, null));
        Assert.True(verdict.Passed);
        Assert.Contains("nothing to beat", Assert.Single(verdict.Notes)!.ToString());
    }

    [Fact]
    public void TrainingSetRequest_MapsTheEntitySourceToTheLakeObject()
    {
        var request = TrainingSetHandler.Request(new JsonObject
        {
            ["features"] = new JsonArray("g:f"), ["entity_source"] = "entities/x.parquet", ["timestamp_column"] = "ts",
        });
        Assert.Equal("entities/x.parquet", request["entity_source"]!["object_key"]!.GetValue<string>());
        Assert.Equal("ts", request["timestamp_column"]!.GetValue<string>());
        Assert.Null(request["entity_rows"]);
    }

    [Fact]
    public void TrainingSetOutputs_ComeFromTheManifest()
    {
        var outputs = TrainingSetHandler.Outputs(JsonNode.Parse("""
            {"snapshot_id": "0b6a5c2e-6f1e-4f7e-9a51-1d1c3f7a9e11", "content_hash": "abc", "row_count": 10,
             "data_uri": "s3://a/s/data.parquet", "manifest_uri": "s3://a/s/manifest.json", "group_versions": {"flights": 2}}
            """)!.AsObject());
        Assert.Equal("abc", outputs["content_hash"]!.GetValue<string>());
        Assert.Equal(2, outputs["group_versions"]!["flights"]!.GetValue<int>());
        Assert.Equal("s3://a/s/data.parquet", outputs["data_uri"]!.GetValue<string>());
    }

    [Fact]
    public void Deploy_OneVariantWithAllTraffic_AndAllAtOnceByDefault()
    {
        var variant = DeployHandler.Variant(new JsonObject { ["model_name"] = "flights", ["model_version"] = "3" });
        Assert.Equal("primary", variant["name"]!.GetValue<string>());
        Assert.Equal("3", variant["model_version"]!.GetValue<string>());
        Assert.Null(variant["alias"]);
        var byAlias = DeployHandler.Variant(new JsonObject { ["model_name"] = "flights", ["alias"] = "champion", ["variant"] = "blue" });
        Assert.Equal("champion", byAlias["alias"]!.GetValue<string>());
        Assert.Null(byAlias["model_version"]);
        Assert.Equal("all_at_once", DeployHandler.Strategy(new JsonObject())["type"]!.GetValue<string>());
        var canary = DeployHandler.Strategy(new JsonObject { ["strategy"] = new JsonObject { ["type"] = "canary", ["canary_percent"] = 10 } });
        Assert.Equal("canary", canary["type"]!.GetValue<string>());
        Assert.Equal(10, canary["canary_percent"]!.GetValue<int>());
    }

    [Fact]
    public void QualityCheck_ReadsADataset_OrTheEndpointsCaptureOverTheWindowBeforeNow()
    {
        var now = DateTimeOffset.Parse("2026-12-01T12:00:00Z");
        var dataset = QualityCheckHandler.Request(new JsonObject { ["baseline"] = "b", ["baseline_version"] = 2, ["dataset_uri"] = "s3://a/k.parquet" }, now);
        Assert.Equal("s3://a/k.parquet", dataset["dataset"]!["uri"]!.GetValue<string>());
        Assert.Equal(2, dataset["baseline"]!["version"]!.GetValue<int>());
        Assert.Null(dataset["capture"]);
        var capture = QualityCheckHandler.Request(new JsonObject { ["baseline"] = "b", ["endpoint"] = "e", ["window_seconds"] = 600 }, now);
        Assert.Equal("e", capture["capture"]!["endpoint"]!.GetValue<string>());
        Assert.Equal(now.AddMinutes(-10), DateTimeOffset.Parse(capture["capture"]!["start"]!.GetValue<string>()));
        Assert.Equal(now, DateTimeOffset.Parse(capture["capture"]!["end"]!.GetValue<string>()));
    }

    [Fact]
    public void AlreadyExists_IsRecognisedAsTheSameJob()
    {
        Assert.True(TrainHandler.IsAlreadyExists(new Mlops.SageMaker.SageMakerException("ValidationException",
            "Training job names must be unique within an AWS account and region, and a training job with this name already exists (arn)", 400)));
        Assert.False(TrainHandler.IsAlreadyExists(new Mlops.SageMaker.SageMakerException("ValidationException", "bad channel", 400)));
    }

    [Fact]
    public void SageMakerErrors_AreTheKindsRetryPoliciesName_AJobLimitIsResourceLimitNotAFailedStep()
    {
        // The local training service's refusal at MaxConcurrentJobs (other pipelines and tuning jobs hold every slot).
        var limit = new Mlops.SageMaker.SageMakerException("ResourceLimitExceeded", "The account-level limit of 8 training jobs in progress is reached (8 in progress).", 400);
        Assert.Equal(FailureKinds.ResourceLimit, TrainHandler.FailureKindOf(limit));
        Assert.Equal(FailureKinds.Throttling, TrainHandler.FailureKindOf(new Mlops.SageMaker.SageMakerException("ThrottlingException", "Rate exceeded", 400)));
        Assert.Equal(FailureKinds.ServiceFault, TrainHandler.FailureKindOf(new Mlops.SageMaker.SageMakerException("InternalFailure", "boom", 500)));
        Assert.Equal(FailureKinds.StepFailed, TrainHandler.FailureKindOf(new Mlops.SageMaker.SageMakerException("ValidationException", "bad channel", 400)));

        // A train step whose policy names SageMaker.RESOURCE_LIMIT waits and tries again; a failed job is not retried by it.
        RetryPolicy[] policy = [new([FailureKinds.ResourceLimit], 5, 2, 5)];
        Assert.Equal(TimeSpan.FromSeconds(5), Planner.RetryDelay(policy, TrainHandler.FailureKindOf(limit), attemptsSoFar: 1));
        Assert.Equal(TimeSpan.FromSeconds(40), Planner.RetryDelay(policy, FailureKinds.ResourceLimit, attemptsSoFar: 4));
        Assert.Null(Planner.RetryDelay(policy, FailureKinds.ResourceLimit, attemptsSoFar: 5));
        Assert.Null(Planner.RetryDelay(policy, FailureKinds.StepFailed, attemptsSoFar: 1));
    }

    [Theory]
    [InlineData("InternalServerError: the training service shut down while this job was in progress.", "SageMaker.JOB_INTERNAL_ERROR")]
    [InlineData("AlgorithmError: label column 'y' not found", "Step.FAILED")]
    public void FailedJob_IsTheFailureKindARetryPolicyNames(string reason, string kind) =>
        Assert.Equal(kind, TrainHandler.FailureKind(new Mlops.SageMaker.DescribeTrainingJobResponse
        {
            TrainingJobName = "j", TrainingJobArn = "arn:j", TrainingJobStatus = "Failed", SecondaryStatus = "Failed", FailureReason = reason,
        }));
}

/// <summary>The transform's SQL on the embedded DuckDB, over local files.</summary>
public sealed class TransformSqlTests : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("transform-test-");

    public void Dispose() => _work.Delete(recursive: true);

    private string Csv(string name, string text)
    {
        var path = Path.Combine(_work.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Sql_JoinsAndFilters_AndWritesParquet()
    {
        var flights = Csv("flights.csv", "origin,delay\nSFO,10\nSFO,30\nLAX,-5\nJFK,60\n");
        var airports = Csv("airports.csv", "code,state\nSFO,CA\nLAX,CA\nJFK,NY\n");
        var output = Path.Combine(_work.FullName, "out.parquet");
        var rows = TransformHandler.RunSql("""
            SELECT f.origin, a.state, avg(f.delay) AS mean_delay FROM flights f JOIN airports a ON a.code = f.origin
            WHERE a.state = 'CA' GROUP BY ALL ORDER BY origin;
            """, new Dictionary<string, string> { ["flights"] = flights, ["airports"] = airports }, _work.FullName, output);
        Assert.Equal(2, rows);
        Assert.True(new FileInfo(output).Length > 0);
    }

    [Theory]
    [InlineData("SELECT * FROM read_csv('/etc/passwd')")]
    [InlineData("SELECT 1; SELECT 2")]
    [InlineData("SELECT nope FROM flights")]
    public void Sql_OutsideItsTables_OrBroken_FailsTheStep(string sql)
    {
        var flights = Csv("flights.csv", "origin,delay\nSFO,10\n");
        var e = Assert.Throws<StepException>(() => TransformHandler.RunSql(sql, new Dictionary<string, string> { ["flights"] = flights },
            _work.FullName, Path.Combine(_work.FullName, "out.parquet")));
        Assert.Equal(FailureKinds.StepFailed, e.Kind);
    }

    [Fact]
    public void Sql_ReadingAFileOutsideItsFolder_IsRefusedByDuckDB()
    {
        var e = Assert.Throws<StepException>(() => TransformHandler.RunSql("SELECT * FROM read_csv('/etc/hostname')",
            new Dictionary<string, string>(), _work.FullName, Path.Combine(_work.FullName, "out.parquet")));
        Assert.Contains("disabled", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Sql_CannotWriteOutsideItsFolder()
    {
        var target = Path.Combine(Path.GetTempPath(), $"escape-{Guid.NewGuid():N}.csv");
        Assert.Throws<StepException>(() => TransformHandler.RunSql($"SELECT 1) TO '{target}' (FORMAT csv); COPY (SELECT 1",
            new Dictionary<string, string>(), _work.FullName, Path.Combine(_work.FullName, "out.parquet")));
        Assert.False(File.Exists(target));
    }

    [Fact]
    public void Tables_AreLakeKeysOrS3Uris()
    {
        Assert.Equal(("mlops-lake", "raw/flights.parquet"), TransformHandler.Locate("raw/flights.parquet", "mlops-lake"));
        Assert.Equal(("mlops-artifacts", "feature-store/snapshots/x/data.parquet"),
            TransformHandler.Locate("s3://mlops-artifacts/feature-store/snapshots/x/data.parquet", "mlops-lake"));
    }
}
