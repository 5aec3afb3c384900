using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;
using Mlops.Samples.FlightsLoop;
using Mlops.SageMaker;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Mlops.Tests;

/// <summary>
/// The continuous-training loop through the real AppHost, two cases at once. The sample scenario's own run (the AppHost
/// starts it with the platform) is the loop that promotes: drift alarm → triggered execution → new version and run →
/// canary → promoted, alias moved. Beside it the test drives the same loop code with labels flipped upstream of the
/// retraining: the worse model passes its offline gates, goes out as a canary, and is rolled back by the quality alarm on
/// live ground truth with the alias left alone — while the pipeline runner and RabbitMQ are restarted mid-loop, and
/// Serving's replicas one after the other during the canary with the replayed traffic flowing. Then lineage both ways,
/// and nothing happened twice.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed partial class ContinuousTrainingLoopTests(PlatformFixture platform, ITestOutputHelper output)
{
    private const string Sample = "flights-delay";

    [Fact]
    public async Task Loop_DriftRetrainsAndPromotes_AWorseModelIsRolledBack_EvenWithRestarts_AndNothingHappensTwice()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(9));
        var narrative = WatchSampleNarrativeAsync(timeout.Token);
        var worse = RunWorseLoopWithFaultsAsync(timeout.Token);
        var sample = platform.App.ResourceNotifications.WaitForResourceAsync(ResourceNames.Sample,
            e => e.Snapshot.State?.Text is "Finished" or "Exited" or "FailedToStart", timeout.Token);
        await Task.WhenAll(worse, sample);

        var finished = await sample;
        Assert.True(finished.Snapshot.ExitCode == 0, $"the sample ended {finished.Snapshot.State?.Text} with exit code {finished.Snapshot.ExitCode}");
        await AssertPromotedAsync(Sample);
        // The sample's traffic went through the same restarts (its loop runs beside this one): none of it failed either.
        var traffic = await Poll.UntilAsync(() => Task.FromResult(narrative.Lines.Select(l => TrafficLine().Match(l)).FirstOrDefault(m => m.Success)),
            TimeSpan.FromSeconds(10), "the sample's traffic line");
        Assert.True(traffic.Groups["errors"].Value == "0", $"the sample's replay: {traffic.Value}");
        await AssertRolledBackAsync(await worse);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"Traffic: (?<requests>[\d,.]+) requests, (?<errors>[\d,.]+) answered with an error")]
    private static partial System.Text.RegularExpressions.Regex TrafficLine();

    /// <summary>The sample's narrative lines (its log lines with the narrative marker), copied to the test output as they come.</summary>
    private SampleNarrative WatchSampleNarrativeAsync(CancellationToken ct)
    {
        var narrative = new SampleNarrative();
        var logs = platform.App.Services.GetRequiredService<ResourceLoggerService>();
        var model = platform.App.Services.GetRequiredService<DistributedApplicationModel>();
        var resource = model.Resources.Single(r => r.Name == ResourceNames.Sample);
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in logs.WatchAsync(resource).WithCancellation(ct))
                    foreach (var line in batch)
                        if (line.Content.IndexOf("» ", StringComparison.Ordinal) is >= 0 and var at)
                        {
                            var text = line.Content[(at + 2)..];
                            narrative.Lines.Enqueue(text);
                            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} [{Sample}] {text}");
                        }
            }
            catch (OperationCanceledException)
            {
            }
            catch (InvalidOperationException)
            {
                // the test has ended (its output helper is gone)
            }
        }, ct);
        return narrative;
    }

    private sealed class SampleNarrative
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();
    }

    private async Task<(LoopSettings Settings, LoopOutcome Outcome, bool RunnerRestarted, ServingRestart ServingRestart)> RunWorseLoopWithFaultsAsync(CancellationToken ct)
    {
        var settings = new LoopSettings
        {
            Name = $"loop-worse-{Guid.NewGuid():N}"[..18],
            FlightsParquet = TrainingJobFlightsTests.Repo("eng", "node", "node_modules", "vega-datasets", "data", "flights-3m.parquet"),
            FlightsPerMonth = 2500,
            CorruptLabels = true,
            // Longer than the sample's 12 s + 12 s: Serving's rolling restart runs through the canary, and while a replica
            // stops the monitor's runs (which ask Serving for the endpoint's variants) stall for seconds; the verdict on
            // live ground truth needs two quality runs of challenger traffic inside the canary.
            CanaryWaitSeconds = 30,
            BakingSeconds = 20,
        };
        using var s3 = await platform.CreateS3ClientAsync();
        var clients = new LoopClients(platform.CreateClient(ResourceNames.FeatureStore), platform.CreateClient(ResourceNames.ExperimentTracker),
            platform.CreateClient(ResourceNames.PipelineRunner), platform.CreateClient(ResourceNames.Serving), platform.CreateClient(ResourceNames.Monitor),
            s3, ResourceNames.LakeBucket);
        var loop = new ContinuousTrainingLoop(settings, clients, line => output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} [{settings.Name}] {line}"));
        // Faults at four hops: RabbitMQ restarted while the drift alarm's event is on its way (the replay has begun, the
        // alarm follows within seconds), the monitor restarted once it has raised the alarm (its schedule, the quality
        // alarm that must judge the canary later), the pipeline runner restarted while the triggered execution trains,
        // Serving's replicas restarted one by one while the canary takes traffic (a rolling update of Serving itself).
        var faults = new List<Task>();
        var runnerRestarted = false;
        var servingRestart = new ServingRestart();
        loop.Stage += stage =>
        {
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} [{settings.Name}] stage {stage}");
            if (stage == "replaying")
                faults.Add(PipelineApi.RestartAsync(platform, ResourceNames.Messaging));
            if (stage == "alarm")
                faults.Add(PipelineApi.RestartAsync(platform, ResourceNames.Monitor));
            if (stage == "deploying")
            {
                faults.Add(PublishStaleAlarmAsync(settings));
                faults.Add(RestartServingReplicasDuringCanaryAsync(settings, servingRestart, ct));
            }
            if (stage == "training" && !runnerRestarted)
            {
                runnerRestarted = true;
                faults.Add(PipelineApi.RestartAsync(platform, ResourceNames.PipelineRunner));
            }
        };
        var outcome = await loop.RunAsync(ct);
        await Task.WhenAll(faults);
        return (settings, outcome, runnerRestarted, servingRestart);
    }

    /// <summary>What the rolling restart of Serving saw: the deployment's state as each replica went down.</summary>
    private sealed class ServingRestart
    {
        public List<string> StatesAtStop { get; } = [];
    }

    /// <summary>
    /// Once the canary takes traffic, restarts Serving's replicas one at a time as a rolling update would: stop one, wait
    /// until it is down, start it, wait until every replica is healthy again, then the next. The replay goes on meanwhile.
    /// </summary>
    private async Task RestartServingReplicasDuringCanaryAsync(LoopSettings settings, ServingRestart seen, CancellationToken ct)
    {
        using var serving = platform.CreateClient(ResourceNames.Serving);
        async Task<string?> RolloutStateAsync()
        {
            try
            {
                var list = await GetAsync(serving, $"/api/endpoints/{settings.Endpoint}/deployments");
                return list["deployments"]!.AsArray().Where(d => d!["from_version"] is not null).Select(d => d!["state"]!.GetValue<string>()).FirstOrDefault();
            }
            catch (HttpRequestException)
            {
                return "unknown (Serving restarting)";
            }
        }
        await Poll.UntilAsync(async () => await RolloutStateAsync() is "shifting" or "baking" ? "" : null, TimeSpan.FromMinutes(2),
            "the canary to take traffic");
        var commands = platform.App.Services.GetRequiredService<ResourceCommandService>();
        var replicas = PlatformFixture.Replicas[ResourceNames.Serving];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(PlatformFixture.StartTimeout);
        foreach (var id in await platform.WaitForReplicasHealthyAsync(ResourceNames.Serving, replicas, timeout.Token))
        {
            seen.StatesAtStop.Add(await RolloutStateAsync() ?? "none");
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} [{settings.Name}] stopping Serving replica {id} (rollout {seen.StatesAtStop[^1]})");
            var stop = await commands.ExecuteCommandAsync(id, KnownResourceCommands.StopCommand, timeout.Token);
            Assert.True(stop.Success, stop.Message);
            await platform.App.ResourceNotifications.WaitForResourceAsync(ResourceNames.Serving,
                e => e.ResourceId == id && e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped", timeout.Token);
            await Task.Delay(TimeSpan.FromSeconds(1), timeout.Token);
            var start = await commands.ExecuteCommandAsync(id, KnownResourceCommands.StartCommand, timeout.Token);
            Assert.True(start.Success, start.Message);
            // The replica itself answering, not only the AppHost's snapshot (which can still say healthy from before the
            // stop): otherwise the next replica is stopped while this one is still starting, and Serving is down.
            await platform.WaitForInstanceAnsweringAsync(id, timeout.Token);
            await platform.WaitForReplicasHealthyAsync(ResourceNames.Serving, replicas, timeout.Token);
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} [{settings.Name}] Serving replica {id} is back");
        }
    }

    /// <summary>
    /// An alarm of the endpoint raised an hour ago, delivered while the canary rolls out (a late, out-of-order event): it
    /// judged the configuration before the deployment and must not roll the canary back (the quality alarm does, later).
    /// </summary>
    private async Task PublishStaleAlarmAsync(LoopSettings settings)
    {
        await Task.Delay(TimeSpan.FromSeconds(3)); // the deploy step has put the canary out
        var bus = await platform.StartTestBusAsync();
        try
        {
            await bus.Publish(new Mlops.Contracts.MonitorAlarmRaised(Guid.NewGuid().ToString(), "an-old-alarm", 1, settings.Endpoint, null, settings.Model,
                null, "data_drift", "drift.share_of_drifted_columns", 1, 0.5, "raised long before this deployment", null, DateTimeOffset.UtcNow.AddHours(-1)));
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    /// <summary>The sample's loop: every hop by its state, then lineage both ways.</summary>
    private async Task AssertPromotedAsync(string name)
    {
        var settings = new LoopSettings { Name = name, FlightsParquet = "" };
        using var runner = platform.CreateClient(ResourceNames.PipelineRunner);
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        using var serving = platform.CreateClient(ResourceNames.Serving);
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));

        // The alarm: raised once.
        var history = await GetAsync(monitor, $"/api/alarms/{settings.DriftAlarm}/history");
        var raised = history["history"]!.AsArray().Where(h => h!["new_state"]!.GetValue<string>() == "ALARM").ToList();
        Assert.Single(raised);

        // The triggered execution: one firing, one execution beside the first; it succeeded.
        var (first, triggered) = await ExecutionsAsync(runner, settings);
        Assert.True(triggered["status"]!.GetValue<string>() == "succeeded", $"the triggered execution did not succeed: {triggered.ToJsonString()}");

        // The same alarm event again under a new MessageId (a redelivery from another relay) and an event of an alarm no
        // trigger listens to: neither starts anything.
        var alarm = await GetAsync(monitor, $"/api/alarms/{settings.DriftAlarm}");
        var bus = await platform.StartTestBusAsync();
        try
        {
            var again = new Mlops.Contracts.MonitorAlarmRaised(alarm["id"]!.ToString(), settings.DriftAlarm, raised[0]!["state_change_id"]!.GetValue<long>(),
                settings.Endpoint, null, settings.Model, null, "data_drift", $"feature.{settings.Group}__month.drifted", 1, 1, "a duplicate", null, DateTimeOffset.UtcNow);
            await bus.Publish(again);
            await bus.Publish(again with { AlarmId = Guid.NewGuid().ToString(), AlarmName = "not-a-retraining-alarm", StateChangeId = 1 });
            await Task.Delay(TimeSpan.FromSeconds(3));
        }
        finally
        {
            await bus.StopAsync();
        }
        Assert.Single((await GetAsync(runner, $"/api/pipelines/{settings.Pipeline}/triggers/{LoopSettings.Trigger}"))["firings"]!.AsArray());
        var version = PipelineApi.Step(triggered, "register")["outputs"]!["version"]!.GetValue<string>();
        var firstVersion = PipelineApi.Step(first, "register")["outputs"]!["version"]!.GetValue<string>();
        Assert.NotEqual(firstVersion, version);
        var train = PipelineApi.Step(triggered, "train")["outputs"]!;
        var run = await tracker.GetRunAsync(train["run_id"]!.GetValue<string>());
        Assert.Equal("FINISHED", run.Info.Status);
        Assert.Equal(triggered["id"]!.ToString(), run.Tag("mlops.pipeline.execution_id"));
        // Trained on more than the history: the labels that arrived after January–April are in its training set.
        Assert.True(PipelineApi.Step(triggered, "train_set")["outputs"]!["row_count"]!.GetValue<long>()
            > PipelineApi.Step(first, "train_set")["outputs"]!["row_count"]!.GetValue<long>());

        // The canary shift and the promotion.
        var deployment = await DeploymentOfAsync(serving, settings, triggered);
        Assert.Equal("succeeded", deployment["state"]!.GetValue<string>());
        var shares = deployment["history"]!.AsArray().Select(h => h!["new_share"]!.GetValue<int>()).ToList();
        Assert.Contains(settings.CanaryPercent, shares);
        Assert.Equal(100, shares[^1]);
        Assert.Equal("champion", deployment["strategy"]!["promote_alias"]!.GetValue<string>());
        Assert.Equal(version, (await tracker.GetModelVersionByAliasAsync(settings.Model, "champion")).Version);
        var endpoint = await GetAsync(serving, $"/api/endpoints/{settings.Endpoint}");
        Assert.Equal(version, endpoint["variants"]!.AsArray().Single()!["model_version"]!.GetValue<string>());

        // Lineage backwards: the live deployment → version → run → snapshot → feature-group versions.
        var lineage = await tracker.GetModelVersionLineageAsync(settings.Model, version);
        var deploymentRef = Assert.Single(lineage.ModelVersion.Deployments, d => d.Endpoint == settings.Endpoint && d.RetiredAt is null);
        Assert.StartsWith(deployment["deployment_id"]!.GetValue<string>(), deploymentRef.DeploymentId);
        Assert.Equal(run.Info.RunId, lineage.Run!.Run.RunId);
        var snapshot = Assert.Single(lineage.Run.Datasets, d => d.Context == "training");
        Assert.Equal($"snapshot-{PipelineApi.Step(triggered, "train_set")["outputs"]!["snapshot_id"]!.GetValue<string>()}", snapshot.Name);
        var groupVersion = Assert.Single(snapshot.FeatureGroups, g => g.Name == settings.Group).Version;
        // Forwards: that feature-group version → every run trained on it → their versions → the deployments they fed.
        var forward = await tracker.GetFeatureGroupLineageAsync(settings.Group, groupVersion);
        var fed = forward.Runs.SelectMany(r => r.ModelVersions).SelectMany(v => v.Deployments).Select(d => d.DeploymentId).ToList();
        Assert.Contains(deploymentRef.DeploymentId, fed);
        Assert.Contains(forward.Runs, r => r.Run.RunId == PipelineApi.Step(first, "train")["outputs"]!["run_id"]!.GetValue<string>());
    }

    /// <summary>The worse model: gates passed offline, canary rolled back by the quality alarm, alias untouched, nothing twice.</summary>
    private async Task AssertRolledBackAsync((LoopSettings Settings, LoopOutcome Outcome, bool RunnerRestarted, ServingRestart ServingRestart) worse)
    {
        var (settings, outcome, runnerRestarted, servingRestart) = worse;
        using var runner = platform.CreateClient(ResourceNames.PipelineRunner);
        using var serving = platform.CreateClient(ResourceNames.Serving);
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        var quality = await GetAsync(monitor, $"/api/alarms/{settings.QualityAlarm}/history");
        output.WriteLine($"[{settings.Name}] quality alarm history: {quality["history"]!.ToJsonString()}");
        // When the monitor's runs were asked for, ran and ended, and what they judged: where a late verdict comes from.
        var runs = (await GetAsync(monitor, $"/api/runs?endpoint={settings.Endpoint}&limit=40"))["runs"]?.AsArray() ?? [];
        foreach (var r in runs.Reverse())
            output.WriteLine($"  run {r!["created_at"]} → {r["started_at"]} → {r["completed_at"]} {r["schedule"] ?? "quality"} window {r["window_start"]}..{r["window_end"]} {r["status"]} items {r["item_count"]} {r["error"]}");
        var auc = await GetAsync(monitor, $"/api/metrics?metric=variant.{LoopSettings.ChallengerVariant}.quality.auc&endpoint={settings.Endpoint}");
        output.WriteLine($"  challenger AUC: {auc["points"]?.ToJsonString()}");

        Assert.Equal("failed", outcome.TriggeredStatus);
        Assert.Equal("rolled_back", outcome.DeploymentState);
        Assert.Contains(settings.QualityAlarm, outcome.DeploymentReason);
        Assert.Contains("rolled back", outcome.TriggeredError); // the execution says why
        Assert.NotNull(outcome.NewVersion);
        Assert.True(outcome.ChallengerRows > 0, "the canary served part of the traffic before it was rolled back");
        Assert.Equal(outcome.FirstVersion, outcome.ChampionAfter);
        Assert.Equal(outcome.FirstVersion, (await tracker.GetModelVersionByAliasAsync(settings.Model, "champion")).Version);
        var endpoint = await GetAsync(serving, $"/api/endpoints/{settings.Endpoint}");
        Assert.Equal(outcome.FirstVersion, endpoint["variants"]!.AsArray().Single()!["model_version"]!.GetValue<string>());
        output.WriteLine($"[{settings.Name}] traffic: {outcome.RequestErrors} of {outcome.Requests} replayed requests failed, {outcome.RequestsResent} resent; Serving replicas stopped during rollout states {string.Join(", ", servingRestart.StatesAtStop)}");
        Assert.True(outcome.RequestErrors == 0, $"{outcome.RequestErrors} of {outcome.Requests} replayed requests failed: {string.Join(" | ", outcome.Errors.Take(3))}");
        // A replica stopping can close, unanswered, the connections the proxy passes it in that moment (the caller resends
        // those requests, up to 3 attempts): a few per stopped replica, and none lost.
        Assert.True(outcome.RequestsResent <= 2 * PlatformFixture.Replicas[ResourceNames.Serving], $"{outcome.RequestsResent} requests resent");
        // The rolling restart of Serving began while the canary took traffic, and went through every replica.
        Assert.Equal(PlatformFixture.Replicas[ResourceNames.Serving], servingRestart.StatesAtStop.Count);
        Assert.True(servingRestart.StatesAtStop[0] is "shifting" or "baking", $"the first replica stopped during {servingRestart.StatesAtStop[0]}");

        // Nothing twice, through a RabbitMQ and a runner restart: one firing, one triggered execution, one training job for
        // its train step, one rollout (rolled back once).
        var (_, triggered) = await ExecutionsAsync(runner, settings);
        Assert.Equal(outcome.TriggeredExecution, triggered["id"]!.GetValue<Guid>());
        var train = PipelineApi.Step(triggered, "train");
        Assert.True(runnerRestarted, "the runner was restarted while the triggered execution trained");
        Assert.True(train["claims"]!.GetValue<int>() >= 2, train.ToJsonString());
        // The quality alarm that rolled the canary back has no trigger: recorded in its history, and nothing started.
        Assert.Contains(quality["history"]!.AsArray(), h => h!["new_state"]!.GetValue<string>() == "ALARM");
        var sageMaker = await platform.CreateSageMakerClientAsync();
        var jobs = await sageMaker.ListTrainingJobsAsync(new ListTrainingJobsRequest { NameContains = $"{settings.Pipeline}-train-", MaxResults = 100 });
        Assert.Equal(2, jobs.TrainingJobSummaries.Count); // the first champion's and the retraining's
        var deployments = (await GetAsync(serving, $"/api/endpoints/{settings.Endpoint}/deployments"))["deployments"]!.AsArray()
            .Where(d => d!["from_version"] is not null).ToList();
        var rollout = Assert.Single(deployments);
        Assert.Equal("rolled_back", rollout!["state"]!.GetValue<string>());
        Assert.Single(rollout["history"]!.AsArray(), h => h!["state"]!.GetValue<string>() == "rolled_back");
        // …and the rejected version was deployed once (one ModelDeployed, with the retirement the rollback published).
        var rejected = await tracker.GetModelVersionLineageAsync(settings.Model, outcome.NewVersion!);
        var served = Assert.Single(rejected.ModelVersion.Deployments, d => d.Endpoint == settings.Endpoint);
        Assert.NotNull(served.RetiredAt);
    }

    private static async Task<(JsonObject First, JsonObject Triggered)> ExecutionsAsync(HttpClient runner, LoopSettings settings)
    {
        var trigger = await GetAsync(runner, $"/api/pipelines/{settings.Pipeline}/triggers/{LoopSettings.Trigger}");
        var firing = Assert.Single(trigger["firings"]!.AsArray(), f => f!["execution_id"] is not null);
        var executions = JsonNode.Parse(await runner.GetStringAsync($"/api/executions?pipeline={settings.Pipeline}"))!.AsArray();
        Assert.Equal(2, executions.Count); // the first champion's and the one the alarm triggered
        var triggeredId = firing!["execution_id"]!.GetValue<Guid>();
        var firstId = executions.Select(e => e!["id"]!.GetValue<Guid>()).Single(id => id != triggeredId);
        return (await PipelineApi.GetAsync(runner, firstId), await PipelineApi.GetAsync(runner, triggeredId));
    }

    private static async Task<JsonObject> DeploymentOfAsync(HttpClient serving, LoopSettings settings, JsonObject execution)
    {
        var id = PipelineApi.Step(execution, "deploy")["outputs"]!["deployment_id"]!.GetValue<string>();
        return await GetAsync(serving, $"/api/endpoints/{settings.Endpoint}/deployments/{id}");
    }

    private static async Task<JsonObject> GetAsync(HttpClient client, string path) => JsonNode.Parse(await client.GetStringAsync(path))!.AsObject();
}
