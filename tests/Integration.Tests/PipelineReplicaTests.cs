using System.Diagnostics;
using System.Text.Json.Nodes;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using MassTransit;
using Mlops.Contracts;

using static Mlops.Tests.PipelineApi;

namespace Mlops.Tests;

/// <summary>
/// The runner as two replicas in the running AppHost (the fixture sets PipelineRunner:Replicas=2): they share the
/// executions with no step run twice, and when one is killed (no shutdown, so it gives nothing up) the other takes its
/// leases over once they run out.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class PipelineReplicaTests(PlatformFixture platform)
{
    private HttpClient Client() => platform.CreateClient(ResourceNames.PipelineRunner);

    /// <summary>Which runner (host:pid:instance) claimed each step run of an execution, with its claims and attempt.</summary>
    private async Task<List<(string Step, int Item, string? Runner, int Claims, int Attempt)>> RunnersAsync(Guid execution)
    {
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.PipelineRunner);
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT step, item, runner, claims, attempt FROM step_runs WHERE execution_id = @id", db);
        cmd.Parameters.AddWithValue("id", execution);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<(string, int, string?, int, int)>();
        while (await r.ReadAsync())
            rows.Add((r.GetString(0), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt32(3), r.GetInt32(4)));
        return rows;
    }

    private static string Process(string runner) => string.Join(':', runner.Split(':')[..2]); // host:pid

    [Fact]
    public async Task TwoReplicas_ShareExecutions_WithNoStepRunTwice()
    {
        Assert.Equal(2, PlatformFixture.Replicas[ResourceNames.PipelineRunner]);
        // Both replicas listening, not only reported healthy: a replica started again by an earlier test (the kill below,
        // a restart) can be in the snapshot as healthy seconds before it listens, and then the other one claims every step.
        using (var ready = new CancellationTokenSource(PlatformFixture.StartTimeout))
            foreach (var replica in await platform.WaitForReplicasHealthyAsync(ResourceNames.PipelineRunner, 2, ready.Token))
                await platform.WaitForInstanceAnsweringAsync(replica, ready.Token);
        using var client = Client();
        var name = Unique("replicas");
        await UpsertAsync(client, name, """
            steps:
              a: {type: noop}
              b: {type: noop, depends_on: [a], inputs: {sleep_seconds: 1}}
              c: {type: noop, depends_on: [a], inputs: {sleep_seconds: 1}}
              d: {type: noop, depends_on: [b, c]}
              e: {type: noop, depends_on: [d]}
            """);
        // 96 one-second steps ready at about the same time: more than one replica's 8 workers take at once, so both claim.
        var ids = await Task.WhenAll(Enumerable.Range(0, 48).Select(_ => StartAsync(client, name, [])));
        await Task.WhenAll(ids.Select(id => WaitForAsync(client, id, "succeeded", TimeSpan.FromMinutes(2))));

        var runs = (await Task.WhenAll(ids.Select(RunnersAsync))).SelectMany(r => r).ToList();
        Assert.Equal(48 * 5, runs.Count);
        Assert.All(runs, r => Assert.True(r.Claims == 1 && r.Attempt == 1, $"{r.Step} claimed {r.Claims} times, attempt {r.Attempt}"));
        var processes = runs.GroupBy(r => Process(r.Runner!)).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(processes.Count == 2, $"step runs by runner process: {string.Join(", ", processes.Select(p => $"{p.Key} {p.Value}"))}");
    }

    [Fact]
    public async Task ReplicaKilledMidStep_TheOtherTakesItsLeaseOver_AndTheExecutionFinishes()
    {
        using var client = Client();
        var name = Unique("kill");
        await UpsertAsync(client, name, """
            steps:
              before: {type: noop}
              slow: {type: noop, depends_on: [before], inputs: {sleep_seconds: 3}}
              after: {type: noop, depends_on: [slow]}
            """);
        var id = await StartAsync(client, name, []);
        await Poll.UntilAsync(async () => Status(await GetAsync(client, id), "slow") == "running" ? "" : null, TimeSpan.FromSeconds(60), "slow to run");
        var owner = (await RunnersAsync(id)).Single(r => r.Step == "slow").Runner!;
        var pid = int.Parse(owner.Split(':')[1]);

        var killedAt = Stopwatch.StartNew();
        using (var victim = System.Diagnostics.Process.GetProcessById(pid))
            victim.Kill(entireProcessTree: true); // no shutdown: the lease is not given up and must run out

        // The replica the AppHost sees exit is the one to start again afterwards.
        using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var instance = (await platform.App.ResourceNotifications.WaitForResourceAsync(ResourceNames.PipelineRunner,
            e => e.Snapshot.State?.Text is "Exited" or "Finished" or "Stopped" or "FailedToStart", exit.Token)).ResourceId;
        try
        {
            var done = await WaitForAsync(client, id, "succeeded", TimeSpan.FromMinutes(2));
            var runs = await RunnersAsync(id);
            var slow = runs.Single(r => r.Step == "slow");
            Assert.Equal(2, slow.Claims);   // taken once more after the lease ran out, same attempt
            Assert.Equal(1, slow.Attempt);
            Assert.NotEqual(Process(owner), Process(slow.Runner!));
            Assert.Equal(1, runs.Single(r => r.Step == "after").Claims);
            Assert.Equal(1, runs.Single(r => r.Step == "before").Claims);
            Assert.True(killedAt.Elapsed < TimeSpan.FromSeconds(45), $"took {killedAt.Elapsed.TotalSeconds:0} s after the kill");
            _ = done;
        }
        finally
        {
            // Bring the killed replica back for the tests after this one.
            var commands = platform.App.Services.GetRequiredService<ResourceCommandService>();
            using var timeout = new CancellationTokenSource(PlatformFixture.StartTimeout);
            var start = await commands.ExecuteCommandAsync(instance, KnownResourceCommands.StartCommand, timeout.Token);
            Assert.True(start.Success, start.Message);
            await platform.WaitForReplicasHealthyAsync(ResourceNames.PipelineRunner, 2, timeout.Token);
            await platform.WaitForInstanceAnsweringAsync(instance, timeout.Token);
        }
    }

    [Fact]
    public async Task EveryStepOutcome_IsPublished_WithIdsForIdempotentConsumers()
    {
        using var client = Client();
        var name = Unique("events");
        await UpsertAsync(client, name, """
            parameters:
              go: {type: bool, default: false}
            steps:
              ok: {type: noop}
              flaky:
                type: noop
                depends_on: [ok]
                inputs: {fail_attempts: 1}
                retry: {exception_type: [Step.SERVICE_FAULT], interval_seconds: 0.2, max_attempts: 2}
              never: {type: noop, depends_on: [flaky], when: "${params.go}"}
            """);
        var steps = new List<PipelineStepCompleted>();
        var executions = new List<object>();
        var bus = await platform.StartTestBusAsync();
        try
        {
            var handle = bus.ConnectReceiveEndpoint($"pipeline-replica-tests-{Guid.NewGuid():N}", e =>
            {
                e.Handler<PipelineStepCompleted>(c => { if (c.Message.Pipeline == name) lock (steps) steps.Add(c.Message); return Task.CompletedTask; });
                e.Handler<PipelineExecutionStarted>(c => { if (c.Message.Pipeline == name) lock (executions) executions.Add(c.Message); return Task.CompletedTask; });
                e.Handler<PipelineExecutionCompleted>(c => { if (c.Message.Pipeline == name) lock (executions) executions.Add(c.Message); return Task.CompletedTask; });
            });
            await handle.Ready.WaitAsync(TimeSpan.FromSeconds(30));
            var id = await StartAsync(client, name, []);
            await WaitForAsync(client, id, "succeeded");
            await Poll.UntilAsync(() => Task.FromResult(steps.Count >= 4 && executions.Count >= 2 ? "" : null), TimeSpan.FromSeconds(30),
                () => $"4 step events and 2 execution events; got {string.Join("; ", steps.Select(s => $"{s.Step} {s.Status} a{s.Attempt}"))}");

            var outcomes = steps.OrderBy(s => s.EndedAt).Select(s => $"{s.Step}:{s.Status}:{s.Attempt}:{s.StepType}").ToArray();
            Assert.Equal(["ok:succeeded:1:noop", "flaky:retrying:1:noop", "flaky:succeeded:2:noop", "never:skipped:0:noop"], outcomes);
            Assert.All(steps, s => Assert.True(s.ExecutionId == id && s.Run == 1 && s.Item is null, $"{s}"));
            Assert.Equal("Step.SERVICE_FAULT", steps.Single(s => s.Status == "retrying").FailureKind);
            // Each outcome's natural key is distinct: a consumer keyed on it counts each once.
            Assert.Equal(steps.Count, steps.Select(s => (s.ExecutionId, s.Run, s.Step, s.Item, s.Attempt)).Distinct().Count());
            Assert.Contains(executions, e => e is PipelineExecutionStarted { Run: 1, StartedBy: "api" } st && st.ExecutionId == id);
            Assert.Contains(executions, e => e is PipelineExecutionCompleted { Run: 1, Status: "succeeded" } c && c.ExecutionId == id);
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
