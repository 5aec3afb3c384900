using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Client;
using Mlops.PipelineRunner.Client;
using Mlops.SageMaker;

using static Mlops.Tests.PipelineApi;

namespace Mlops.Tests;

/// <summary>
/// Hyperparameter tuning through the running AppHost on the flights delay data: Bayesian LightGBM tuning against the default
/// hyperparameters, Hyperband stopping poor trials at its rungs, stop and warm start, a tune step followed by register_model, and a
/// runner restart in the middle of all of them. The cases run concurrently (trials are small jobs; the budget is wall time).
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class TuningTests(PlatformFixture platform, ITestOutputHelper output)
{
    private static readonly TimeSpan Finish = TimeSpan.FromMinutes(4);

    private static readonly Dictionary<string, string> Statics = new()
    {
        ["algorithm"] = "lightgbm", ["label"] = "label", ["num_iterations"] = "20", ["importance_rows"] = "0", ["diagnostics_rows"] = "100",
    };

    private PipelineRunnerClient Client() => new(platform.CreateClient(ResourceNames.PipelineRunner));

    private static JsonObject Request(string name, string strategy, int max, string train, string validation, JsonObject? ranges = null,
        Dictionary<string, string>? statics = null, long seed = 7, JsonObject? extra = null, int parallel = 2)
    {
        var config = new JsonObject
        {
            ["Strategy"] = strategy,
            ["HyperParameterTuningJobObjective"] = new JsonObject { ["Type"] = "Maximize", ["MetricName"] = "validation:auc" },
            ["ResourceLimits"] = new JsonObject { ["MaxNumberOfTrainingJobs"] = max, ["MaxParallelTrainingJobs"] = parallel },
            ["ParameterRanges"] = ranges ?? LightGbmRanges(),
            ["RandomSeed"] = seed,
        };
        foreach (var (k, v) in extra ?? [])
            config[k] = v?.DeepClone();
        var staticsJson = new JsonObject();
        foreach (var (k, v) in statics ?? Statics)
            staticsJson[k] = v;
        return new JsonObject
        {
            ["HyperParameterTuningJobName"] = name,
            ["HyperParameterTuningJobConfig"] = config,
            ["TrainingJobDefinition"] = new JsonObject
            {
                ["StaticHyperParameters"] = staticsJson,
                ["InputDataConfig"] = new JsonArray(Channel("train", train), Channel("validation", validation)),
                ["StoppingCondition"] = new JsonObject { ["MaxRuntimeInSeconds"] = 600 },
            },
            ["Experiment"] = $"tuning-tests-{name}",
        };
    }

    private static JsonObject Channel(string name, string uri) =>
        new() { ["ChannelName"] = name, ["DataSource"] = new JsonObject { ["S3DataSource"] = new JsonObject { ["S3Uri"] = uri } } };

    private static JsonObject LightGbmRanges() => new()
    {
        ["ContinuousParameterRanges"] = new JsonArray(new JsonObject
        {
            ["Name"] = "learning_rate", ["MinValue"] = "0.02", ["MaxValue"] = "0.5", ["ScalingType"] = "Logarithmic",
        }),
        ["IntegerParameterRanges"] = new JsonArray(
            new JsonObject { ["Name"] = "num_leaves", ["MinValue"] = "2", ["MaxValue"] = "32" },
            new JsonObject { ["Name"] = "min_data_in_leaf", ["MinValue"] = "5", ["MaxValue"] = "100", ["ScalingType"] = "Logarithmic" }),
    };

    private static string Name(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..18];

    [Fact]
    public async Task ABadTuningJob_Answers400NamingEveryProblem_AndStartsNothing()
    {
        var client = Client();
        var name = Name("bad");
        var request = Request(name, "Bayesian", 3, "s3://bucket/train", "not-a-uri", new JsonObject
        {
            ["ContinuousParameterRanges"] = new JsonArray(
                new JsonObject { ["Name"] = "learning_rate", ["MinValue"] = "0.5", ["MaxValue"] = "0.1" },                             // inverted
                new JsonObject { ["Name"] = "l2_regularization", ["MinValue"] = "0", ["MaxValue"] = "1", ["ScalingType"] = "Logarithmic" }), // log over 0
            ["IntegerParameterRanges"] = new JsonArray(new JsonObject { ["Name"] = "num_iterations", ["MinValue"] = "5", ["MaxValue"] = "50" }), // static too
        });
        request["HyperParameterTuningJobConfig"]!["HyperParameterTuningJobObjective"]!["MetricName"] = "validation:nonsense";
        request["HyperParameterTuningJobConfig"]!["ResourceLimits"]!["MaxParallelTrainingJobs"] = 5;
        request["WarmStartConfig"] = new JsonObject
        {
            ["ParentHyperParameterTuningJobs"] = new JsonArray(new JsonObject { ["HyperParameterTuningJobName"] = "no-such-parent" }),
            ["WarmStartType"] = "IdenticalDataAndAlgorithm",
        };

        var refused = await Assert.ThrowsAsync<PipelineRunnerException>(() => client.CreateTuningJobAsync(request));
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        var problems = refused.Problems.Select(p => $"{p.Path}: {p.Message}").ToList();
        Assert.Contains(refused.Problems, p => p.Path.EndsWith("ContinuousParameterRanges[0].MaxValue") || p.Path.EndsWith("ContinuousParameterRanges[0]"));
        Assert.Contains(refused.Problems, p => p.Path.Contains("ContinuousParameterRanges[1]") && p.Message.Contains("0"));
        Assert.Contains(refused.Problems, p => p.Path.Contains("HyperParameterTuningJobObjective.MetricName") && p.Message.Contains("validation:nonsense"));
        Assert.Contains(refused.Problems, p => p.Message.Contains("num_iterations"));
        Assert.Contains(refused.Problems, p => p.Path.Contains("MaxParallelTrainingJobs"));
        Assert.Contains(refused.Problems, p => p.Path.StartsWith("WarmStartConfig") && p.Message.Contains("no-such-parent"));
        Assert.Contains(refused.Problems, p => p.Path == "TrainingJobDefinition.InputDataConfig[1].DataSource.S3DataSource.S3Uri");
        Assert.True(refused.Problems.Count >= 7, string.Join("\n", problems));

        var missing = await Assert.ThrowsAsync<PipelineRunnerException>(() => client.DescribeTuningJobAsync(name));
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        var sageMaker = await platform.CreateSageMakerClientAsync();
        Assert.Empty((await sageMaker.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = name })).TrainingJobSummaries);

        // Malformed JSON and no API key are refused too, never a 500.
        using var raw = platform.CreateClient(ResourceNames.PipelineRunner);
        using var malformed = await raw.PostAsync("/api/tuning-jobs", new StringContent("{\"HyperParameterTuningJobConfig\": [", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        using var anonymous = platform.CreateClient(ResourceNames.PipelineRunner, authenticated: false);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/tuning-jobs")).StatusCode);
    }

    [Fact]
    public async Task TuningJobs_Bayesian_Hyperband_StopAndWarmStart_AndATuneStep_AllSurviveARunnerRestart()
    {
        // Every job's TuningJobCompleted must reach RabbitMQ: the test's own receive endpoint is bound before any job starts.
        var completed = new List<TuningJobCompleted>();
        var bus = await platform.StartTestBusAsync();
        try
        {
            var handle = bus.ConnectReceiveEndpoint($"tuning-tests-{Guid.NewGuid():N}", e =>
                e.Handler<TuningJobCompleted>(c => { lock (completed) completed.Add(c.Message); return Task.CompletedTask; }));
            await handle.Ready.WaitAsync(TimeSpan.FromSeconds(30));
            await RunCasesAsync(completed);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    private async Task RunCasesAsync(List<TuningJobCompleted> completed)
    {
        var clock = Stopwatch.StartNew();
        var flights = await TrainingJobFlightsTests.SnapshotsAsync(platform);
        var client = Client();
        var sageMaker = await platform.CreateSageMakerClientAsync();
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));

        // 1. Bayesian over LightGBM's learning rate, leaves and leaf size; and the default hyperparameters as one job beside it.
        var bayesian = Name("bayes");
        await client.CreateTuningJobAsync(Request(bayesian, "Bayesian", 6, flights.Train, flights.Validation));
        var defaultJob = $"default-{Guid.NewGuid():N}";
        await sageMaker.CreateTrainingJobAsync(new TrainingJobs(sageMaker, Microsoft.Extensions.Options.Options.Create(new TrainingOptions
            {
                OutputPath = $"s3://{ResourceNames.ArtifactBucket}/jobs", VolumeSizeInGB = 5,
            }))
            .BuildRequest(new TrainerJobRequest(defaultJob, flights.Train, flights.Validation, "lightgbm",
                Statics.Where(s => s.Key != "algorithm").ToDictionary())));

        // 2. Hyperband over the boosting iterations as SageMaker runs it: every trial one job at MaxResource (4,050 iterations),
        //    stopped at a rung (50, 150, 450, 1,350) unless in the top third of the trials of its bracket that reached it so far.
        //    R = 81: the first 81 trials are all in the most aggressive bracket; one at a time, so each meets the earlier ones.
        var hyperband = Name("hband");
        await client.CreateTuningJobAsync(Request(hyperband, "Hyperband", 4, flights.Train, flights.Validation, parallel: 1,
            statics: new(Statics) { ["num_iterations"] = "4050" }, extra: new JsonObject
            {
                ["StrategyConfig"] = new JsonObject { ["HyperbandStrategyConfig"] = new JsonObject { ["MinResource"] = 50, ["MaxResource"] = 4050 } },
            }));

        // 3. A random job stopped after its first result.
        var stopped = Name("stop");
        await client.CreateTuningJobAsync(Request(stopped, "Random", 8, flights.Train, flights.Validation));

        // 4. A pipeline: tune (2 trials) → register_model of the best trial.
        using var http = platform.CreateClient(ResourceNames.PipelineRunner);
        var pipeline = Unique("tune");
        var model = $"tuned-{Guid.NewGuid():N}"[..20];
        await UpsertAsync(http, pipeline, """
            parameters: {train: {type: string}, validation: {type: string}, model: {type: string}}
            steps:
              tune:
                type: tune
                inputs:
                  train: ${params.train}
                  validation: ${params.validation}
                  algorithm: lightgbm
                  static_hyperparameters: {label: label, num_iterations: 20, importance_rows: 0, diagnostics_rows: 100}
                  config:
                    Strategy: Random
                    HyperParameterTuningJobObjective: {Type: Maximize, MetricName: "validation:auc"}
                    ResourceLimits: {MaxNumberOfTrainingJobs: 2, MaxParallelTrainingJobs: 2}
                    ParameterRanges:
                      IntegerParameterRanges: [{Name: num_leaves, MinValue: 2, MaxValue: 16}]
                    RandomSeed: 3
              register:
                type: register_model
                inputs: {model_name: "${params.model}", run_id: "${steps.tune.outputs.run_id}", model_uri: "${steps.tune.outputs.model_uri}", alias: champion}
            """);
        var execution = await StartAsync(http, pipeline, new JsonObject
        {
            ["train"] = flights.Train, ["validation"] = flights.Validation, ["model"] = model,
        });

        // Stop the random job once a trial has a result.
        await Poll.UntilAsync(async () =>
        {
            var job = await client.DescribeTuningJobAsync(stopped);
            Assert.False(job.IsTerminal, $"{stopped} ended before it was stopped: {Trials(job)}");
            return job.TrainingJobs.Any(t => t.TrainingJobStatus == "Completed") ? "" : null;
        }, Finish, "a trial of the job to stop to complete");
        var stopping = await client.StopTuningJobAsync(stopped);
        Assert.Contains(stopping.HyperParameterTuningJobStatus, new[] { "InProgress", "Stopping" });

        // 5. The runner restarts while the Bayesian job has trials running: no trial is lost, none runs twice.
        await Poll.UntilAsync(async () => (await client.DescribeTuningJobAsync(bayesian)).TrainingJobs.Any(t => t.TrainingJobStatus == "InProgress") ? "" : null,
            Finish, "a Bayesian trial to be running");
        var beforeRestart = await client.DescribeTuningJobAsync(bayesian);
        await RestartAsync(platform, ResourceNames.PipelineRunner);
        client = Client();

        var stoppedJob = await Wait(client, stopped);
        Assert.Equal("Stopped", stoppedJob.HyperParameterTuningJobStatus);
        Assert.True(stoppedJob.TrainingJobs.Count < 8, $"{stoppedJob.TrainingJobs.Count} trials");
        Assert.All(stoppedJob.TrainingJobs, t => Assert.Contains(t.TrainingJobStatus, new[] { "Completed", "Stopped", "Failed" }));
        var stopAgain = await Assert.ThrowsAsync<PipelineRunnerException>(() => client.StopTuningJobAsync(stopped));
        Assert.Equal(HttpStatusCode.Conflict, stopAgain.Status);

        // Warm start from the stopped job: its finished trials seed the surrogate, so the child models from its first trial.
        var warm = Name("warm");
        var warmRequest = Request(warm, "Bayesian", 2, flights.Train, flights.Validation);
        warmRequest["WarmStartConfig"] = new JsonObject
        {
            ["ParentHyperParameterTuningJobs"] = new JsonArray(new JsonObject { ["HyperParameterTuningJobName"] = stopped }),
            ["WarmStartType"] = "IdenticalDataAndAlgorithm",
        };
        await client.CreateTuningJobAsync(warmRequest);

        var bayes = await Wait(client, bayesian);
        var hband = await Wait(client, hyperband);
        var warmJob = await Wait(client, warm);
        var pipelineRun = await WaitForAsync(http, execution, "succeeded", Finish);
        var defaults = await sageMaker.DescribeTrainingJobAsync(defaultJob);
        var elapsed = clock.Elapsed;

        // Bayesian: the budget ran, the best is at least as good as the defaults, each trial a child run with its params.
        Assert.True(bayes.BestTrainingJob is not null, Trials(bayes));
        Assert.Equal("Completed", bayes.HyperParameterTuningJobStatus);
        Assert.Equal(6, bayes.TrainingJobs.Count);
        Assert.True(bayes.TrainingJobs.Count >= beforeRestart.TrainingJobs.Count);
        var defaultAuc = defaults.FinalMetricDataList!.Single(m => m.MetricName == "validation:auc").Value;
        var best = bayes.BestTrainingJob!;
        var bestAuc = best.FinalHyperParameterTuningJobObjectiveMetric!.Value;
        Assert.True(bestAuc >= defaultAuc, $"best {bestAuc} vs default {defaultAuc}");
        Assert.EndsWith("model.tar.gz", best.ModelUri);
        Assert.EndsWith("/model", best.ArtifactUri);
        Assert.Equal(6, bayes.BestSoFar.Count);
        Assert.Equal(bestAuc, bayes.BestSoFar[^1]);
        await AssertTrialsAreChildRunsAsync(tracker, sageMaker, bayes, Statics.Keys.Append("learning_rate").Append("num_leaves"));

        // Hyperband: every trial ran at MaxResource, none was retrained; poor ones were stopped at a rung by their intermediate
        // AUC (the first trial always continues: nothing to compare with), and a stopped trial is never the best.
        Assert.Equal("Completed", hband.HyperParameterTuningJobStatus);
        Assert.Equal(4, hband.TrainingJobs.Count);
        Assert.All(hband.TrainingJobs, t => Assert.Equal(("4050", 0), (t.TunedHyperParameters["num_iterations"], t.HyperbandBracket)));
        Assert.Equal(4, hband.TrainingJobs.Select(t => (t.TunedHyperParameters["learning_rate"], t.TunedHyperParameters["num_leaves"], t.TunedHyperParameters["min_data_in_leaf"])).Distinct().Count());
        var halved = hband.TrainingJobs.Where(t => t.StoppedEarly).ToList();
        Assert.True(halved.Count >= 1, Trials(hband));
        Assert.False(hband.TrainingJobs[0].StoppedEarly, Trials(hband));
        Assert.All(halved, t => Assert.Equal(("Stopped", "Hyperband rung"), (t.TrainingJobStatus, t.EarlyStoppingReason)));
        Assert.DoesNotContain(hband.BestTrainingJob!.TrainingJobName, halved.Select(t => t.TrainingJobName));
        // At most every iteration: these 1,500-row jobs are fast, and on a loaded machine a stop decided at a rung can land
        // after the job's last iteration (the job still ends Stopped; seen once at 16,200 of 16,200). The decision is what
        // this asserts; what stopping saves is the benchmark's (benchmarks/README.md).
        Assert.InRange(hband.IterationsRun!.Value, (4 - halved.Count) * 4050 + halved.Count * 50, 4 * 4050);
        await AssertTrialsAreChildRunsAsync(tracker, sageMaker, hband, ["num_iterations"]);
        foreach (var t in halved)
        {
            var run = await tracker.GetRunAsync(t.RunId!);
            Assert.Equal(("true", "Hyperband rung"), (run.Tag("mlops.tuning.stopped_early"), run.Tag("mlops.tuning.early_stopping_reason")));
            // The objective's history as the rungs judged it, stepped by the iteration LightGBM reported it at (every 50).
            var history = await tracker.GetMetricHistoryAsync(t.RunId!, "validation/auc_by_iteration");
            Assert.NotEmpty(history);
            Assert.All(history, m => Assert.True(m.Step > 0 && m.Step % 50 == 0, $"step {m.Step} is not a LightGBM report iteration"));
            Assert.Equal(history.Count, history.Select(m => m.Step).Distinct().Count());
            // The training job itself was stopped, before its last iteration.
            var job = await sageMaker.DescribeTrainingJobAsync(t.TrainingJobName);
            Assert.Equal("Stopped", job.TrainingJobStatus);
        }

        // Warm start: the parent's finished trials were taken in.
        Assert.Equal("Completed", warmJob.HyperParameterTuningJobStatus);
        Assert.Equal(stoppedJob.TrainingJobs.Count(t => t.FinalHyperParameterTuningJobObjectiveMetric is not null), warmJob.WarmStartTrialCount);
        Assert.True(warmJob.WarmStartTrialCount >= 1);
        Assert.Equal(2, warmJob.TrainingJobs.Count);

        // The tune step's best trial was registered.
        var tune = Step(pipelineRun, "tune")["outputs"]!;
        Assert.Equal(2, tune["trials"]!.GetValue<int>());
        var version = await tracker.GetModelVersionByAliasAsync(model, "champion");
        Assert.Equal(tune["model_uri"]!.GetValue<string>(), version.Source);
        Assert.Equal(tune["run_id"]!.GetValue<string>(), version.RunId);
        var tuneRun = await tracker.GetRunAsync(tune["run_id"]!.GetValue<string>());
        Assert.Equal(tune["parent_run_id"]!.GetValue<string>(), tuneRun.Tag("mlflow.parentRunId"));
        Assert.Equal(execution.ToString(), tuneRun.Tag("mlops.pipeline.execution_id"));
        Assert.InRange(tune["metrics"]!["validation:auc"]!.GetValue<double>(), 0.3, 1.0);

        // Each job's TuningJobCompleted came through the outbox to the bus (the Bayesian one across the runner's restart) with
        // the outcome the API describes. At least once: a consumer deduplicates by MessageId, so copies are not counted here.
        string[] names = [bayesian, hyperband, stopped, warm];
        await Poll.UntilAsync(() => Task.FromResult(names.All(n => { lock (completed) return completed.Any(c => c.TuningJobName == n); }) ? "" : null),
            TimeSpan.FromSeconds(30), () => $"TuningJobCompleted for {string.Join(", ", names)}; got {string.Join(", ", completed.Select(c => c.TuningJobName))}");
        TuningJobCompleted Event(string name) { lock (completed) return completed.First(c => c.TuningJobName == name); }
        var bayesEvent = Event(bayesian);
        Assert.Equal(("Completed", "validation:auc", best.TrainingJobName, bestAuc, 6), (bayesEvent.Status, bayesEvent.ObjectiveMetric,
            bayesEvent.BestTrainingJobName, bayesEvent.BestObjectiveValue, bayesEvent.Trials));
        Assert.Equal((best.RunId, best.ModelUri, bayes.ParentRunId), (bayesEvent.BestRunId, bayesEvent.BestModelUri, bayesEvent.ParentRunId));
        var hbandEvent = Event(hyperband);
        Assert.Equal(("Completed", 4, halved.Count), (hbandEvent.Status, hbandEvent.Trials, hbandEvent.TrialsStoppedEarly));
        var stopEvent = Event(stopped);
        Assert.Equal(("Stopped", stoppedJob.TrainingJobs.Count), (stopEvent.Status, stopEvent.Trials));
        Assert.Equal(("Completed", 2), (Event(warm).Status, Event(warm).Trials));

        var listed = await client.ListTuningJobsAsync(limit: 1000);
        Assert.Contains(listed, j => j.HyperParameterTuningJobName == bayesian && j.BestTrainingJobName == best.TrainingJobName);
        output.WriteLine($"tuning cases: {elapsed.TotalSeconds:0.0} s; Bayesian best AUC {bestAuc:0.0000} vs default {defaultAuc:0.0000}; " +
            $"Hyperband iterations {hband.IterationsRun} of {4 * 4050}, {halved.Count} stopped at a rung; {Trials(hband)}");
    }

    private static string Trials(TuningJob job) =>
        string.Join("; ", job.TrainingJobs.Select(t =>
            $"{t.TrainingJobName} {t.TrainingJobStatus} {t.FinalHyperParameterTuningJobObjectiveMetric?.Value} {t.FailureReason}{(t.StoppedEarly ? $" stopped early ({t.EarlyStoppingReason})" : "")}{(t.HyperbandRung is { } r ? $" rungs passed {r}" : "")}"));

    private async Task<TuningJob> Wait(PipelineRunnerClient client, string name)
    {
        using var timeout = new CancellationTokenSource(Finish);
        while (true)
        {
            try
            {
                return await client.WaitForTuningJobAsync(name, timeout.Token);
            }
            catch (HttpRequestException)
            {
                await Task.Delay(500, timeout.Token); // the runner is restarting
            }
        }
    }

    /// <summary>Every trial is exactly one training job and one child run of the job's parent run, with its params and metrics.</summary>
    private static async Task AssertTrialsAreChildRunsAsync(TrackingClient tracker, SageMakerClient sageMaker, TuningJob job, IEnumerable<string> parameters)
    {
        var jobs = await sageMaker.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = job.HyperParameterTuningJobName + "-", MaxResults = 100 });
        Assert.Equal(job.TrainingJobs.Select(t => t.TrainingJobName).Order(), jobs.TrainingJobSummaries.Select(s => s.TrainingJobName).Order());
        var children = (await tracker.SearchRunsAsync([job.ExperimentId!], $"tags.`mlflow.parentRunId` = '{job.ParentRunId}'")).Runs;
        Assert.Equal(job.TrainingJobs.Count, children.Count);
        foreach (var trial in job.TrainingJobs)
        {
            var run = Assert.Single(children, r => r.Tag("mlops.training_job") == trial.TrainingJobName);
            Assert.Equal(trial.RunId, run.Info.RunId);
            foreach (var p in parameters)
                Assert.NotNull(run.Param(p));
            foreach (var (k, v) in trial.TunedHyperParameters)
                Assert.Equal(v, run.Param(k));
            if (trial.TrainingJobStatus == "Completed")
            {
                Assert.Equal("FINISHED", run.Info.Status);
                Assert.Equal(trial.FinalHyperParameterTuningJobObjectiveMetric!.Value, run.MetricValue("validation/auc")!.Value, 6);
            }
        }
        var parent = await tracker.GetRunAsync(job.ParentRunId!);
        Assert.Equal("FINISHED", parent.Info.Status);
        Assert.Equal(job.BestTrainingJob?.TrainingJobName, parent.Tag("mlops.tuning.best_training_job"));
    }
}
