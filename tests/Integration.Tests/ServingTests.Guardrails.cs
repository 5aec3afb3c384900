using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Mlops.ExperimentTracker.Client;

namespace Mlops.Tests;

/// <summary>Serving's blue/green and shadow deployments and its built-in alarms, through the running AppHost.</summary>
public sealed partial class ServingTests
{
    private static readonly string[] Columns = ["date", "origin", "destination", "distance"];

    [Fact]
    public async Task Shadow_MirrorsRequestsToTheShadowVariant_CapturedUnderIt_AndItsAnswersAreNeverReturned()
    {
        var (champion, challenger, tracker, name) = await EndpointOnTheChampionWithAChallengerAsync();
        using var client = platform.CreateClient(ResourceNames.Serving);

        // Guardrails: a shadow variant needs a name of its own, and a share to mirror; both refused with the field named, nothing changed.
        var clash = await client.PutAsJsonAsync($"/api/endpoints/{name}", new
        {
            variants = new[] { new { name = "primary", model_name = Model, model_version = challenger.Version } },
            deployment = new { type = "shadow", shadow_percent = 100, wait_seconds = 3600 },
        });
        await AssertProblemAsync(clash, HttpStatusCode.BadRequest, "variants[0].name 'primary'");
        var noShare = await client.PutAsJsonAsync($"/api/endpoints/{name}", new
        {
            variants = new[] { new { name = "shadow", model_name = Model, model_version = challenger.Version } },
            deployment = new { type = "shadow", wait_seconds = 3600 },
        });
        await AssertProblemAsync(noShare, HttpStatusCode.BadRequest, "deployment.shadow_percent");
        Assert.Null((await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}"))!["active_deployment"]);

        var shadow = await UpdateAsync(client, name, [new { name = "shadow", model_name = Model, model_version = challenger.Version }],
            new { type = "shadow", shadow_percent = 100, wait_seconds = 3600 });
        // Nothing is mirrored until every replica has the shadow variant loaded; then each one mirrors from its next refresh.
        Assert.Equal(("provisioning", 0), ((string?)shadow["state"], (int)shadow["new_share"]!));
        var shadowing = await WaitForDeploymentAsync(client, name, (string)shadow["deployment_id"]!, "shadowing");
        Assert.Contains("loaded on every replica", (string?)shadowing["history"]!.AsArray().Last()!["note"]);
        await EveryReplicaAsync(async c => (await c.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}"))!["traffic"]!.AsArray()
            .Any(t => (string?)t!["variant"] == "shadow" && (double?)t["mirrored_percent"] == 100), TimeSpan.FromSeconds(10), "mirroring to the shadow variant");
        var traffic = (await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}"))!["traffic"]!.AsArray()
            .ToDictionary(t => (string)t!["variant"]!, t => ((double)t!["percent"]!, (double?)t["mirrored_percent"]));
        Assert.Equal((100.0, (double?)null), traffic["primary"]);
        Assert.Equal((0.0, (double?)100.0), traffic["shadow"]);

        var ids = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var id = $"{name}-s{i}";
            var response = await InvokeAsync(client, name, Flights[i % Flights.Length], id);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"request {i}: {(int)response.StatusCode} {text}");
            Assert.Equal("primary", response.Headers.GetValues("X-Invoked-Variant").Single());
            var prediction = JsonNode.Parse(text)!["predictions"]!.AsArray().Single()!;
            Assert.Equal(("primary", champion.Version, id), ((string?)prediction["variant"], (string?)prediction["model_version"], (string?)prediction["inference_id"]));
            ids.Add(id);
        }
        await AssertProblemAsync(await InvokeAsync(client, name, Flights[0], targetVariant: "shadow"), HttpStatusCode.NotFound, "'shadow'");

        // Every mirrored request is captured under the shadow variant, with the inference id of the answer the caller got.
        using var s3 = await platform.CreateS3ClientAsync();
        var captured = await Poll.UntilAsync(async () =>
        {
            var records = await ReadCaptureAsync(s3, $"data-capture/{name}/shadow/");
            return ids.All(records.ContainsKey) ? records : null;
        }, Wait, $"capture records of all 20 mirrored requests under data-capture/{name}/shadow/");
        Assert.Equal(ids.Order(), captured.Keys.Order());
        Assert.All(captured.Values, output => Assert.InRange((double)output["probability"]!, 0, 1));
        var live = await Poll.UntilAsync(async () => await ReadCaptureAsync(s3, $"data-capture/{name}/primary/") is { Count: 20 } r ? r : null,
            Wait, $"the 20 live answers captured under data-capture/{name}/primary/");
        Assert.Equal(ids.Order(), live.Keys.Order());
        // The mirror's counters are each replica's own: the fleet scored every mirrored request.
        var mirrors = new List<JsonObject>();
        foreach (var replica in await ReplicaClientsAsync())
            using (replica)
                mirrors.Add((await replica.GetFromJsonAsync<JsonObject>("/api/shadow"))!);
        Assert.True(mirrors.Sum(m => (long)m["scored"]!) >= 20, string.Join(" ", mirrors.Select(m => m.ToJsonString())));

        var rolledBack = await client.PostAsJsonAsync($"/api/endpoints/{name}/deployments/{shadow["deployment_id"]}/rollback", new { reason = "shadow test done" });
        Assert.Equal(HttpStatusCode.OK, rolledBack.StatusCode);
    }

    [Fact]
    public async Task BlueGreen_SwitchesOnceTheFleetIsLoadedEverywhere_FailsNoRequest_AndRollsBackInstantlyWhileBaking()
    {
        var (champion, challenger, tracker, name) = await EndpointOnTheChampionWithAChallengerAsync();
        var alias = $"it-{Guid.NewGuid():N}"[..16];
        using var client = platform.CreateClient(ResourceNames.Serving);

        foreach (var (deployment, field) in new (object, string)[]
        {
            (new { type = "blue_green", wait_seconds = 10 }, "deployment.wait_seconds"),
            (new { type = "blue_green", baking_seconds = 60, max_execution_seconds = 100 }, "deployment.max_execution_seconds"),
            (new { type = "blue_green", baking_seconds = 900, max_execution_seconds = 900 }, "must exceed the 900 s"),
        })
        {
            var invalid = await client.PutAsJsonAsync($"/api/endpoints/{name}", new
            {
                variants = new[] { new { name = "primary", model_name = Model, model_version = challenger.Version } }, deployment,
            });
            await AssertProblemAsync(invalid, HttpStatusCode.BadRequest, field);
        }

        // Continuous traffic through the whole switch: not one request may fail.
        using var stop = new CancellationTokenSource();
        var failures = new ConcurrentQueue<string>();
        var served = new ConcurrentDictionary<string, int>();
        var load = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var response = await InvokeAsync(client, name, Flights[i % Flights.Length]);
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                    failures.Enqueue($"{(int)response.StatusCode} {text}");
                else
                    served.AddOrUpdate((string)JsonNode.Parse(text)!["predictions"]![0]!["model_version"]!, 1, (_, n) => n + 1);
            }
        });
        var green = await UpdateAsync(client, name, challenger.Version,
            new { type = "blue_green", baking_seconds = 2, promote_alias = alias, max_execution_seconds = 600 });
        Assert.Equal(("provisioning", 0), ((string?)green["state"], (int)green["new_share"]!));
        var done = await WaitForDeploymentAsync(client, name, (string)green["deployment_id"]!, "succeeded");
        await Task.Delay(500);
        await stop.CancelAsync();
        await load;
        Assert.Empty(failures);
        var history = done["history"]!.AsArray();
        Assert.Equal([("provisioning", 0), ("baking", 100), ("succeeded", 100)],
            history.Select(e => ((string)e!["state"]!, (int)e["new_share"]!)).ToArray());
        Assert.Contains("every replica", (string?)history[1]!["note"]);
        Assert.True(served.GetValueOrDefault(champion.Version) > 0 && served.GetValueOrDefault(challenger.Version) > 0,
            $"traffic before and after the switch: {string.Join(", ", served)}");
        Assert.Equal(challenger.Version, (await tracker.GetModelVersionByAliasAsync(Model, alias)).Version);

        // Back to the champion with an hour of baking: the challenger fleet stays loaded, so a rollback is served at once.
        var blue = await UpdateAsync(client, name, champion.Version, new { type = "blue_green", baking_seconds = 3600, promote_alias = alias });
        await WaitForDeploymentAsync(client, name, (string)blue["deployment_id"]!, "baking");
        // The replica that took the step serves it at once, the others from their next refresh (≤ 200 ms by default): no model loads.
        await EveryReplicaAsync(async c => (await CountVersionsAsync(c, name, 1)).ContainsKey(champion.Version), TimeSpan.FromSeconds(3),
            "the blue fleet answering within 3 s of the switch");
        Assert.Equal(20, (await CountVersionsAsync(client, name, 20)).GetValueOrDefault(champion.Version));
        // Rolled back on one replica: it answers from the old fleet at once, the others within their refresh.
        var replicas = await ReplicaClientsAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            var rolledBack = await replicas[0].PostAsJsonAsync($"/api/endpoints/{name}/deployments/{blue["deployment_id"]}/rollback", new { reason = "test" });
            Assert.Equal(HttpStatusCode.OK, rolledBack.StatusCode);
            Assert.Equal(1, (await CountVersionsAsync(replicas[0], name, 1)).GetValueOrDefault(challenger.Version));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"rollback to the first answer of the old fleet took {clock.ElapsedMilliseconds} ms");
        }
        finally
        {
            foreach (var c in replicas)
                c.Dispose();
        }
        await EveryReplicaAsync(async c => (await CountVersionsAsync(c, name, 1)).ContainsKey(challenger.Version), TimeSpan.FromSeconds(3),
            "the old fleet answering within 3 s of the rollback");
        Assert.Equal(20, (await CountVersionsAsync(client, name, 20)).GetValueOrDefault(challenger.Version));
        Assert.Equal(challenger.Version, (await tracker.GetModelVersionByAliasAsync(Model, alias)).Version);
    }

    [Fact]
    public async Task BadModel_IsRolledBackByTheBuiltInErrorRateAlarmWithinASecond_AndTheAliasStays()
    {
        var champion = await ChampionAsync();
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        var bad = await RegisterVersionNeedingAColumnCallersLackAsync(tracker, champion, "carrier");
        var alias = $"it-{Guid.NewGuid():N}"[..16];
        await tracker.SetAliasAsync(Model, alias, champion.Version);
        var name = await CreateEndpointAsync(new { name = "primary", model_name = Model, model_version = champion.Version });
        using var client = platform.CreateClient(ResourceNames.Serving);

        var deployment = await UpdateAsync(client, name, bad.Version,
            new { type = "all_at_once", baking_seconds = 3600, promote_alias = alias, alarms = new { min_requests = 5, window_seconds = 30 } });
        Assert.Equal("baking", (string?)deployment["state"]);
        for (var i = 0; i < 5; i++)
            await AssertProblemAsync(await InvokeAsync(client, name, Flights[i % Flights.Length]), HttpStatusCode.BadRequest, "'carrier'");
        var breached = DateTimeOffset.UtcNow;

        var back = await WaitForDeploymentAsync(client, name, (string)deployment["deployment_id"]!, "rolled_back");
        var reason = (string?)back["reason"];
        Assert.Contains("built-in alarm: variant primary failed 5 of 5 requests", reason);
        var rolledBackAt = (DateTimeOffset)back["history"]!.AsArray().Last()!["at"]!;
        Assert.True(rolledBackAt - breached < TimeSpan.FromSeconds(1),
            $"the alarm's rollback came {(rolledBackAt - breached).TotalMilliseconds:0} ms after the fifth failed request");
        // The replica that decided serves the champion at once, the other from its next refresh (≤ 200 ms by default, longer
        // under load): counting through the proxy before then can meet the bad version on that replica.
        await EveryReplicaAsync(async c => (await InvokeAsync(c, name, Flights[0])).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(5),
            "serving the champion again");
        Assert.Equal(20, (await CountVersionsAsync(client, name, 20)).GetValueOrDefault(champion.Version));
        Assert.Equal(champion.Version, (await tracker.GetModelVersionByAliasAsync(Model, alias)).Version);
    }

    [Fact]
    public async Task Explain_AddsEachInputColumnsContribution_ThroughBothProtocols()
    {
        await ChampionAsync();
        var name = await CreateEndpointAsync(new { name = "primary", model_name = Model, alias = "champion" });
        using var client = platform.CreateClient(ResourceNames.Serving);

        var response = await client.PostAsJsonAsync($"/endpoints/{name}/invocations?explain=true", new { dataframe_split = new { columns = Columns, data = Flights } });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var predictions = JsonNode.Parse(text)!["predictions"]!.AsArray();
        Assert.All(predictions, p => Assert.Equal(Columns.Order(), p!["explanation"]!.AsObject().Select(c => c.Key).Order()));
        Assert.Contains(predictions, p => p!["explanation"]!.AsObject().Any(c => (double)c.Value! != 0));
        var plain = JsonNode.Parse(await (await InvokeAsync(client, name, Flights[0])).Content.ReadAsStringAsync())!["predictions"]![0]!;
        Assert.Null(plain["explanation"]);

        var infer = await client.PostAsJsonAsync($"/v2/models/{name}/infer", new
        {
            inputs = Columns.Select((c, i) => new { name = c, shape = new[] { Flights.Length }, datatype = c == "distance" ? "FP32" : "BYTES", data = Flights.Select(r => r[i]).ToArray() }),
            parameters = new { explain = true },
        });
        var inferText = await infer.Content.ReadAsStringAsync();
        Assert.True(infer.StatusCode == HttpStatusCode.OK, inferText);
        var explanations = JsonNode.Parse(inferText)!["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "explanation")!["data"]!.AsArray();
        Assert.Equal(Flights.Length, explanations.Count);
        Assert.All(explanations, e => Assert.Contains("\"distance\"", (string)e!));

        await AssertProblemAsync(await client.PostAsJsonAsync($"/endpoints/{name}/invocations?explain=maybe", new { dataframe_split = new { columns = Columns, data = Flights } }),
            HttpStatusCode.BadRequest, "explain");
    }

    /// <summary>
    /// A deliberately bad version: the champion's model whose package asks for one more input column, which no caller
    /// sends, so every request routed to it fails (400 naming the column) while it loads and warms up like any other.
    /// </summary>
    private static async Task<ModelVersion> RegisterVersionNeedingAColumnCallersLackAsync(TrackingClient tracker, ModelVersion champion, string column)
    {
        var uri = (await tracker.GetDownloadUriAsync(Model, champion.Version)).TrimEnd('/');
        JsonObject manifest;
        await using (var json = await tracker.OpenArtifactUriAsync($"{uri}/package.json"))
            manifest = JsonNode.Parse(json)!.AsObject();
        manifest["input_schema"]!.AsArray().Add(new JsonObject { ["name"] = column, ["type"] = "text" });
        using var model = new MemoryStream();
        await using (var zip = await tracker.OpenArtifactUriAsync($"{uri}/model.zip"))
            await zip.CopyToAsync(model);
        await using var run = await tracker.StartRunAsync("it-serving-bad-models", $"needs-{column}");
        await run.UploadArtifactAsync("model/package.json", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString())));
        model.Position = 0;
        await run.UploadArtifactAsync("model/model.zip", model);
        return await tracker.RegisterModelAsync(Model, run.Run);
    }

    private static Task<HttpResponseMessage> InvokeAsync(HttpClient client, string name, object[] row, string? inferenceId = null, string? targetVariant = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/endpoints/{name}/invocations")
        {
            Content = JsonContent.Create(new { dataframe_split = new { columns = Columns, data = new[] { row } } }),
        };
        if (inferenceId is not null)
            request.Headers.Add("X-Inference-Id", inferenceId);
        if (targetVariant is not null)
            request.Headers.Add("X-Target-Variant", targetVariant);
        return client.SendAsync(request);
    }

    /// <summary>Every capture record under a prefix: inference id → the captured output.</summary>
    private static async Task<Dictionary<string, JsonNode>> ReadCaptureAsync(Amazon.S3.IAmazonS3 s3, string prefix)
    {
        var records = new Dictionary<string, JsonNode>();
        var page = await s3.ListObjectsV2Async(new() { BucketName = ResourceNames.LakeBucket, Prefix = prefix });
        foreach (var o in page.S3Objects ?? [])
        {
            foreach (var line in (await ReadAsync(s3, o.Key)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var record = JsonNode.Parse(line)!;
                records[(string)record["eventMetadata"]!["inferenceId"]!] = JsonNode.Parse((string)record["captureData"]!["endpointOutput"]!["data"]!)!;
            }
        }
        return records;
    }
}
