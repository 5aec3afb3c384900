using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;
using Npgsql;

namespace Mlops.Tests;

/// <summary>Serving as two replicas (the fixture sets Serving:Replicas=2), each addressed on its own port.</summary>
public sealed partial class ServingTests
{
    /// <summary>A client per Serving replica, on the replica's own port (not the AppHost's proxy, which spreads requests).</summary>
    private async Task<HttpClient[]> ReplicaClientsAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var ids = await platform.WaitForReplicasHealthyAsync(ResourceNames.Serving, PlatformFixture.Replicas[ResourceNames.Serving], timeout.Token);
        return [.. ids.Select(id =>
        {
            var client = new HttpClient { BaseAddress = platform.InstanceAddress(id), Timeout = TimeSpan.FromSeconds(60) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.ApiKey);
            return client;
        })];
    }

    /// <summary>
    /// Waits until every Serving replica, each on its own port, passes <paramref name="probe"/>: a deployment's step or
    /// rollback is served at once by the replica that took it and by the others from their next refresh.
    /// </summary>
    private async Task EveryReplicaAsync(Func<HttpClient, Task<bool>> probe, TimeSpan timeout, string what)
    {
        var replicas = await ReplicaClientsAsync();
        try
        {
            await Task.WhenAll(replicas.Select((c, i) => Poll.UntilAsync(async () => await probe(c) ? "" : null, timeout, $"replica {i + 1} of {replicas.Length}: {what}")));
        }
        finally
        {
            foreach (var c in replicas)
                c.Dispose();
        }
    }

    [Fact]
    public async Task EveryChangeOfAnEndpoint_IsNotifiedAsItCommits_AndTheOtherReplicaServesItThen()
    {
        var (champion, challenger, _, name) = await EndpointOnTheChampionWithAChallengerAsync();
        // What the replicas listen to, heard on a connection of the test's own.
        await using var db = await platform.OpenDatabaseAsync(ResourceNames.Serving);
        var notified = new ConcurrentQueue<string>();
        db.Notification += (_, e) => notified.Enqueue(e.Payload);
        await using (var listen = new NpgsqlCommand("LISTEN serving_endpoints", db))
            await listen.ExecuteNonQueryAsync();
        using var stop = new CancellationTokenSource();
        var hearing = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
                await db.WaitAsync(stop.Token);
        });

        var replicas = await ReplicaClientsAsync();
        var latencies = new List<double>();
        try
        {
            // Updates made on one replica, alternating the version: each is notified with the endpoint's name, and the
            // other replica routes the new configuration (the time until it does is printed: a notification, not its refresh).
            for (var i = 0; i < 6; i++)
            {
                var version = i % 2 == 0 ? challenger.Version : champion.Version;
                var update = await UpdateAsync(replicas[0], name, version, new { type = "all_at_once" });
                var config = (int)update["to_version"]!;
                var applied = Stopwatch.StartNew();
                await Poll.UntilAsync(async () => (await replicas[1].GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}"))!["traffic"]!.AsArray()
                    .Any(t => (int)t!["config_version"]! == config && (double)t["percent"]! == 100) ? "" : null, TimeSpan.FromSeconds(10),
                    $"the other replica routing configuration {config}");
                latencies.Add(applied.Elapsed.TotalMilliseconds);
                await WaitForDeploymentAsync(replicas[0], name, (string)update["deployment_id"]!, "succeeded");
            }
            await Poll.UntilAsync(() => Task.FromResult(notified.Count(n => n == name) >= 6 ? "" : null), TimeSpan.FromSeconds(10),
                () => $"a notification per update of {name} ({notified.Count(n => n == name)} so far)");
        }
        finally
        {
            foreach (var c in replicas)
                c.Dispose();
            await stop.CancelAsync();
            await hearing.ContinueWith(_ => { });
        }
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"other replica routing each update after (ms, from the update's answer): {string.Join(", ", latencies.Select(l => l.ToString("0")))}");
    }

    [Fact]
    public async Task TwoReplicas_ANewEndpointAnswersOnBoth_AndTheAlarmJudgesTheFleetsTraffic_AndBothServeTheRollback()
    {
        var champion = await ChampionAsync();
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        var bad = await RegisterVersionNeedingAColumnCallersLackAsync(tracker, champion, "carrier");
        var replicas = await ReplicaClientsAsync();
        Assert.Equal(2, replicas.Length);
        try
        {
            // Created on one replica, answered on the other at once (it loads a route it does not know yet on demand).
            var name = $"it-{Guid.NewGuid():N}"[..20];
            var created = await replicas[0].PostAsJsonAsync("/api/endpoints", new
            {
                name, variants = new[] { new { name = "primary", model_name = Model, model_version = champion.Version } },
            });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var first = await InvokeAsync(replicas[1], name, Flights[0]);
            Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync());

            // A bad version: 3 failed requests on each replica. Alone neither reaches min_requests (6); the fleet does.
            var deployment = await UpdateAsync(replicas[0], name, bad.Version,
                new { type = "all_at_once", baking_seconds = 3600, alarms = new { min_requests = 6, window_seconds = 60 } });
            for (var i = 0; i < 3; i++)
                await AssertProblemAsync(await InvokeAsync(replicas[0], name, Flights[i]), HttpStatusCode.BadRequest, "'carrier'");
            // The other replica serves the new configuration from its next refresh; until then it answers from the old one.
            var failed = 0;
            await Poll.UntilAsync(async () =>
            {
                if ((await InvokeAsync(replicas[1], name, Flights[failed % Flights.Length])).StatusCode == HttpStatusCode.BadRequest)
                    failed++;
                return failed == 3 ? "" : null;
            }, TimeSpan.FromSeconds(10), () => $"3 failed requests on the second replica ({failed} so far)");
            var breached = Stopwatch.StartNew();

            var back = await WaitForDeploymentAsync(replicas[1], name, (string)deployment["deployment_id"]!, "rolled_back");
            Assert.Contains("built-in alarm: variant primary failed 6 of 6 requests", (string?)back["reason"]);
            // Every replica serves the restored split within a second of the decision.
            await Task.WhenAll(replicas.Select(c => Poll.UntilAsync(async () =>
                (await InvokeAsync(c, name, Flights[0])).StatusCode == HttpStatusCode.OK ? "" : null, TimeSpan.FromSeconds(5), "the champion again")));
            Assert.True(breached.Elapsed < TimeSpan.FromSeconds(2), $"both replicas served the rollback {breached.ElapsedMilliseconds} ms after the sixth failure");
            Assert.Equal(20, (await CountVersionsAsync(replicas[1], name, 20)).GetValueOrDefault(champion.Version));
        }
        finally
        {
            foreach (var c in replicas)
                c.Dispose();
        }
    }
}
