using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mlops.Contracts;
using Mlops.PipelineRunner.Client;
using Mlops.ServiceDefaults.Data;
using Mlops.ServiceDefaults.Messaging;

namespace Mlops.Tests;

/// <summary>Cron schedules and event triggers of the pipeline runner, through the running AppHost and the typed client.</summary>
public sealed class PipelineTriggerTests(PlatformFixture platform)
{
    private const string Pipeline = """
        parameters:
          group: {type: string, default: none}
          batch: {type: integer, default: 0}
        steps:
          echo: {type: noop, inputs: {group: "${params.group}", batch: "${params.batch}"}}
        """;

    private PipelineRunnerClient Client() => new(platform.CreateClient(ResourceNames.PipelineRunner));

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..28];

    [Fact]
    public async Task CronSchedule_EveryFiveSeconds_FiresEachOccurrenceOnTime_AndOnce()
    {
        var runner = Client();
        var pipeline = Unique("cron");
        await runner.UpsertPipelineAsync(pipeline, Pipeline);
        var created = await runner.CreateScheduleAsync(pipeline,
            new("every-5s", "*/5 * * * * *", "Europe/Paris", new JsonObject { ["group"] = "scheduled" }));
        Assert.Equal("Europe/Paris", created.TimeZone);
        Assert.NotNull(created.NextOccurrence);

        var schedule = await Poll.UntilAsync(async () =>
            await runner.GetScheduleAsync(pipeline, "every-5s") is { Firings.Count: >= 3 } s ? s : null,
            TimeSpan.FromSeconds(40), "three occurrences of the every-5-seconds schedule");
        await runner.DeleteScheduleAsync(pipeline, "every-5s");

        var firings = schedule.Firings!.OrderBy(f => f.Occurrence).ToList();
        Assert.All(firings, f => Assert.Equal(0, f.Occurrence.Second % 5));
        Assert.Equal(firings.Count, firings.Select(f => f.Occurrence).Distinct().Count());
        Assert.All(firings.Zip(firings.Skip(1)), p => Assert.Equal(TimeSpan.FromSeconds(5), p.Second.Occurrence - p.First.Occurrence));
        Assert.All(firings, f => Assert.Null(f.Error));

        // Each occurrence started exactly one execution, within a couple of seconds of its time (the scheduler ticks every 0.5 s).
        var executions = await runner.ListExecutionsAsync(pipeline);
        foreach (var firing in firings)
        {
            var execution = Assert.Single(executions, e => e.Id == firing.ExecutionId);
            Assert.InRange((execution.CreatedAt - firing.Occurrence).TotalSeconds, -0.5, 2.5);
            Assert.Equal("scheduled", (string?)execution.Parameters["group"]);
        }
        // Nothing else started: at most one more occurrence fired between the read and the delete, and no two executions share one.
        Assert.InRange(executions.Count, firings.Count, firings.Count + 1);
        var starts = executions.Select(e => e.CreatedAt).Order().ToList();
        Assert.All(starts.Zip(starts.Skip(1)), p => Assert.True(p.Second - p.First > TimeSpan.FromSeconds(3), $"two executions {p.Second - p.First} apart"));
        var done = await runner.WaitForExecutionAsync(firings[0].ExecutionId!.Value, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.Equal("succeeded", done.Status);

        // Deleted: no later occurrence fires.
        var afterDelete = (await runner.ListExecutionsAsync(pipeline)).Count;
        await Task.Delay(TimeSpan.FromSeconds(6));
        Assert.Equal(afterDelete, (await runner.ListExecutionsAsync(pipeline)).Count);
    }

    [Fact]
    public async Task FeaturesIngested_DeliveredTwice_StartsOneExecution_WithParametersFromTheEvent()
    {
        var runner = Client();
        var pipeline = Unique("ingest");
        var group = Unique("grp").Replace('-', '_');
        await runner.UpsertPipelineAsync(pipeline, Pipeline);
        await runner.CreateTriggerAsync(pipeline, new("on-ingest", "features_ingested", new JsonObject { ["group"] = group },
            new JsonObject { ["group"] = "${event.group}", ["batch"] = "${event.batch_id}" }));

        // The same batch published twice (two MessageIds, as a producer retrying after a lost ack would), then another batch.
        var batch = new FeaturesIngested(group, 1, 77, 10, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow);
        await PublishFromFeatureStoreAsync(batch, batch, batch with { BatchId = 78 });

        var trigger = await Poll.UntilAsync(async () =>
            await runner.GetTriggerAsync(pipeline, "on-ingest") is { Firings.Count: 2 } t && t.Firings.All(f => f.Status == "started") ? t : null,
            TimeSpan.FromSeconds(30), "both batches to start their executions");
        await Task.Delay(TimeSpan.FromSeconds(2)); // a late duplicate would show up by now
        trigger = await runner.GetTriggerAsync(pipeline, "on-ingest");
        Assert.Equal([$"{group}/1/77", $"{group}/1/78"], trigger.Firings!.Select(f => f.EventKey).Order());

        var executions = await runner.ListExecutionsAsync(pipeline);
        Assert.Equal(2, executions.Count);
        var first = await runner.WaitForExecutionAsync(trigger.Firings!.Single(f => f.EventKey.EndsWith("/77")).ExecutionId!.Value,
            new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.Equal("succeeded", first.Status);
        Assert.Equal(group, (string?)first.Parameters["group"]);
        Assert.Equal(77, (int)first.Parameters["batch"]!);
        Assert.Equal(77, (int)first.Steps!.Single(s => s.Step == "echo").Inputs!["batch"]!);
    }

    [Fact]
    public async Task MonitorAlarmRaised_AnOlderStateChangeDeliveredLate_IsRecordedStale_AndStartsNothing()
    {
        var runner = Client();
        var pipeline = Unique("alarm-order");
        var alarm = Guid.NewGuid().ToString();
        await runner.UpsertPipelineAsync(pipeline, Pipeline);
        await runner.CreateTriggerAsync(pipeline, new("on-alarm", "monitor_alarm_raised", new JsonObject { ["alarm_id"] = alarm },
            new JsonObject { ["batch"] = "${event.state_change_id}" }));

        var latest = new MonitorAlarmRaised(alarm, "order-alarm", 5, "ep", null, "model", null, "data_drift", "m", 1, 0.5, "drifted", null, DateTimeOffset.UtcNow);
        var bus = await platform.StartTestBusAsync();
        try
        {
            await bus.Publish(latest);
            await Poll.UntilAsync(async () => await runner.GetTriggerAsync(pipeline, "on-alarm") is { Firings: [{ Status: "started" }] } t ? t : null,
                TimeSpan.FromSeconds(30), "the alarm's state change 5 to start an execution");
            // An ALARM from before the last OK/ALARM cycle, redelivered late (new key, newer clock), and state change 5 again.
            await bus.Publish(latest with { StateChangeId = 3, RaisedAt = DateTimeOffset.UtcNow });
            await bus.Publish(latest with { Reason = "a duplicate" });
            var trigger = await Poll.UntilAsync(async () => await runner.GetTriggerAsync(pipeline, "on-alarm") is { Firings.Count: 2 } t ? t : null,
                TimeSpan.FromSeconds(30), "the late state change 3 to be recorded");
            await Task.Delay(TimeSpan.FromSeconds(1)); // the duplicate would show up by now
            trigger = await runner.GetTriggerAsync(pipeline, "on-alarm");
            var stale = Assert.Single(trigger.Firings!, f => f.EventKey == $"{alarm}/3");
            Assert.Equal("stale", stale.Status);
            Assert.Null(stale.ExecutionId);
            Assert.Equal("started", Assert.Single(trigger.Firings!, f => f.EventKey == $"{alarm}/5").Status);
            Assert.Equal(2, trigger.Firings!.Count);
            Assert.Single(await runner.ListExecutionsAsync(pipeline));
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    [Fact]
    public async Task MonitorAlarmRaised_FiringsFromBeforeTheOrderTable_AreBackFilled_SoALateOlderStateChangeIsStale()
    {
        var runner = Client();
        var pipeline = Unique("alarm-backfill");
        var alarm = Guid.NewGuid().ToString();
        await runner.UpsertPipelineAsync(pipeline, Pipeline);
        await runner.CreateTriggerAsync(pipeline, new("on-alarm", "monitor_alarm_raised", new JsonObject { ["alarm_id"] = alarm },
            new JsonObject { ["batch"] = "${event.state_change_id}" }));

        // Firings as a runner before migration 0006 left them: state changes 2 and 5 acted on, 9 recorded stale (not acted
        // on), and no order row.
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.PipelineRunner);
        Guid triggerId;
        await using (var find = db.Command("SELECT id FROM pipeline_triggers WHERE pipeline = @p AND name = 'on-alarm'", null, ("p", pipeline)))
            triggerId = (Guid)(await find.ExecuteScalarAsync())!;
        await using (var seed = db.Command(
            """
            INSERT INTO trigger_firings (trigger_id, event_key, status) VALUES (@id, @a || '/2', 'started'), (@id, @a || '/5', 'started'), (@id, @a || '/9', 'stale');
            DELETE FROM trigger_event_order WHERE trigger_id = @id;
            """, null, ("id", triggerId), ("a", alarm)))
            await seed.ExecuteNonQueryAsync();
        var backfill = await File.ReadAllTextAsync(TrainingJobFlightsTests.Repo("services", "PipelineRunner", "Migrations", "0007_trigger_alarm_order_backfill.sql"));
        for (var run = 0; run < 2; run++) // idempotent
        {
            await using var migrate = db.Command(backfill);
            await migrate.ExecuteNonQueryAsync();
        }
        async Task<(long, string)> OrderAsync()
        {
            await using var read = db.Command("SELECT sequence, event_key FROM trigger_event_order WHERE trigger_id = @id AND subject = @a", null,
                ("id", triggerId), ("a", alarm));
            await using var reader = await read.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync(), "no order row was back-filled");
            return (reader.GetInt64(0), reader.GetString(1));
        }
        Assert.Equal((5L, $"{alarm}/5"), await OrderAsync());

        // State change 4 arrives late: older than 5, recorded stale; 6 is newer and starts the pipeline.
        var bus = await platform.StartTestBusAsync();
        try
        {
            var late = new MonitorAlarmRaised(alarm, "order-alarm", 4, "ep", null, "model", null, "data_drift", "m", 1, 0.5, "drifted", null, DateTimeOffset.UtcNow);
            await bus.Publish(late);
            await Poll.UntilAsync(async () => await runner.GetTriggerAsync(pipeline, "on-alarm") is { } t && t.Firings!.Any(f => f.EventKey == $"{alarm}/4") ? t : null,
                TimeSpan.FromSeconds(30), "state change 4 to be recorded");
            await bus.Publish(late with { StateChangeId = 6 });
            var trigger = await Poll.UntilAsync(async () => await runner.GetTriggerAsync(pipeline, "on-alarm") is { } t
                && t.Firings!.Any(f => f.EventKey == $"{alarm}/6" && f.Status == "started") ? t : null, TimeSpan.FromSeconds(30), "state change 6 to start an execution");
            Assert.Equal("stale", Assert.Single(trigger.Firings!, f => f.EventKey == $"{alarm}/4").Status);
            Assert.Single(await runner.ListExecutionsAsync(pipeline));
            Assert.Equal((6L, $"{alarm}/6"), await OrderAsync());
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    [Fact]
    public async Task DebouncedTrigger_FoldsABurstOfEvents_IntoOneExecution_WithTheLastConsumedEventsParameters()
    {
        var runner = Client();
        var pipeline = Unique("burst");
        var group = Unique("grp").Replace('-', '_');
        await runner.UpsertPipelineAsync(pipeline, Pipeline);
        await runner.CreateTriggerAsync(pipeline, new("debounced", "FeaturesIngested", new JsonObject { ["group"] = group },
            new JsonObject { ["group"] = "${event.group}", ["batch"] = "${event.batch_id}" }, DebounceSeconds: 3));

        await PublishFromFeatureStoreAsync([.. new long[] { 1, 2, 3 }.Select(id => new FeaturesIngested(group, 1, id, 5, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow))]);

        var trigger = await Poll.UntilAsync(async () =>
            await runner.GetTriggerAsync(pipeline, "debounced") is { Firings.Count: 3 } t && t.Firings.All(f => f.Status == "started") ? t : null,
            TimeSpan.FromSeconds(30), "the burst's debounced start");
        var execution = Assert.Single(trigger.Firings!.Select(f => f.ExecutionId).Distinct());
        Assert.Single(await runner.ListExecutionsAsync(pipeline));
        var done = await runner.WaitForExecutionAsync(execution!.Value, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        // The last event consumed wins; consumers may take a burst slightly out of order, so any of the three is right.
        Assert.Contains((int)done.Parameters["batch"]!, new[] { 1, 2, 3 });
        Assert.Equal("succeeded", done.Status);
    }

    [Fact]
    public async Task ModelVersionCreated_FromTheTracker_StartsTheTriggeredPipeline_AndATypeMismatchIsRecordedNotRetried()
    {
        var runner = Client();
        var pipeline = Unique("on-model");
        var model = Unique("trig-model");
        await runner.UpsertPipelineAsync(pipeline, Pipeline);
        await runner.CreateTriggerAsync(pipeline, new("label", "model_version_created", new JsonObject { ["name"] = model },
            new JsonObject { ["group"] = "${event.name} v${event.version}" }));
        // The event's version is a string ("1"): mapped onto an integer parameter it cannot start the pipeline.
        await runner.CreateTriggerAsync(pipeline, new("typed", "model_version_created", new JsonObject { ["name"] = model },
            new JsonObject { ["batch"] = "${event.version}" }));

        using var tracker = platform.CreateClient(ResourceNames.ExperimentTracker);
        foreach (var (path, body) in new[]
        {
            ("/api/2.0/mlflow/registered-models/create", new JsonObject { ["name"] = model }),
            ("/api/2.0/mlflow/model-versions/create", new JsonObject { ["name"] = model, ["source"] = "s3://mlops-artifacts/none/model.tar.gz" }),
        })
        {
            using var response = await tracker.PostAsJsonAsync(path, body);
            Assert.True(response.IsSuccessStatusCode, $"{path}: {await response.Content.ReadAsStringAsync()}");
        }

        var label = await Poll.UntilAsync(async () => await runner.GetTriggerAsync(pipeline, "label") is { Firings.Count: 1 } t ? t : null,
            TimeSpan.FromSeconds(30), "the tracker's ModelVersionCreated to reach the trigger");
        var firing = Assert.Single(label.Firings!);
        Assert.Equal(($"{model}/1", "started"), (firing.EventKey, firing.Status));
        var done = await runner.WaitForExecutionAsync(firing.ExecutionId!.Value, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.Equal($"{model} v1", (string?)done.Parameters["group"]);

        var typed = await Poll.UntilAsync(async () => await runner.GetTriggerAsync(pipeline, "typed") is { Firings.Count: 1 } t ? t : null,
            TimeSpan.FromSeconds(30), "the second trigger's firing");
        var failed = Assert.Single(typed.Firings!);
        Assert.Equal("failed", failed.Status);
        Assert.Null(failed.ExecutionId);
        Assert.Contains("$.parameters.batch", failed.Error);
        Assert.Single(await runner.ListExecutionsAsync(pipeline));
    }

    [Fact]
    public async Task InvalidSchedulesAndTriggers_Are400NamingTheProblem_AndChangeNothing()
    {
        var runner = Client();
        var pipeline = Unique("bad");
        await runner.UpsertPipelineAsync(pipeline, Pipeline);

        var cron = await Assert.ThrowsAsync<PipelineRunnerException>(() => runner.CreateScheduleAsync(pipeline, new("s", "*/5 * * *")));
        Assert.Equal(HttpStatusCode.BadRequest, cron.Status);
        Assert.Contains("*/5 * * *", cron.Detail);
        Assert.Equal("$.cron", Assert.Single(cron.Problems).Path);

        var zone = await Assert.ThrowsAsync<PipelineRunnerException>(() => runner.CreateScheduleAsync(pipeline, new("s", "0 3 * * *", "Mars/Base")));
        Assert.Contains("Mars/Base", zone.Detail);
        Assert.Equal("$.time_zone", Assert.Single(zone.Problems).Path);

        var parameter = await Assert.ThrowsAsync<PipelineRunnerException>(() =>
            runner.CreateScheduleAsync(pipeline, new("s", "0 3 * * *", null, new JsonObject { ["batch"] = "many" })));
        Assert.Equal("$.parameters.batch", Assert.Single(parameter.Problems).Path);

        var unknownEvent = await Assert.ThrowsAsync<PipelineRunnerException>(() => runner.CreateTriggerAsync(pipeline, new("t", "features_ingestd")));
        Assert.Contains("features_ingested", unknownEvent.Detail);
        var field = await Assert.ThrowsAsync<PipelineRunnerException>(() =>
            runner.CreateTriggerAsync(pipeline, new("t", "monitor_alarm_raised", new JsonObject { ["endpont"] = "e" })));
        Assert.Equal("$.filter.endpont", Assert.Single(field.Problems).Path);

        Assert.Empty(await runner.ListSchedulesAsync(pipeline));
        Assert.Empty(await runner.ListTriggersAsync(pipeline));
        var missing = await Assert.ThrowsAsync<PipelineRunnerException>(() => runner.CreateScheduleAsync("no-such-pipeline-x", new("s", "0 3 * * *")));
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        var gone = await Assert.ThrowsAsync<PipelineRunnerException>(() => runner.GetTriggerAsync(pipeline, "nope"));
        Assert.Equal(HttpStatusCode.NotFound, gone.Status);

        await runner.CreateScheduleAsync(pipeline, new("nightly", "0 3 * * *"));
        var twice = await Assert.ThrowsAsync<PipelineRunnerException>(() => runner.CreateScheduleAsync(pipeline, new("nightly", "0 4 * * *")));
        Assert.Equal(HttpStatusCode.Conflict, twice.Status);
        await runner.DeleteScheduleAsync(pipeline, "nightly");
    }

    /// <summary>Each event in its own transaction of the feature store's outbox: published by its relay, in order, each under a new MessageId.</summary>
    private async Task PublishFromFeatureStoreAsync(params FeaturesIngested[] events)
    {
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.FeatureStore);
        foreach (var message in events)
        {
            await using var tx = await db.BeginTransactionAsync();
            await tx.EnqueueAsync(message);
            await tx.CommitAsync();
        }
    }
}
