using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Amazon.S3;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Client;

namespace Mlops.Tests;

/// <summary>
/// Serving through the running AppHost, with the tests' flights delay model (FlightsModel) registered as champion:
/// endpoints, both inference protocols, data capture and ground truth in S3, canary traffic, rollback on an alarm.
/// </summary>
public sealed partial class ServingTests(PlatformFixture platform)
{
    private const string Model = FlightsModel.Name;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private static readonly object[][] Flights =
    [
        ["2001-05-03T08:15:00Z", "SFO", "LAX", 337],
        ["2001-05-04T17:40:00Z", "ORD", "JFK", 740],
        ["2001-05-05T06:05:00Z", "ATL", "SEA", 2182],
    ];

    [Fact]
    public async Task Endpoint_ServesTheChampion_ThroughEveryMlflowFormatAndV2_WithTheSameScores()
    {
        var champion = await ChampionAsync();
        var name = await CreateEndpointAsync(new { name = "primary", model_name = Model, alias = "champion" });
        using var client = platform.CreateClient(ResourceNames.Serving);

        var described = await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}");
        Assert.Equal(champion.Version, (string?)described!["variants"]![0]!["model_version"]);
        Assert.Equal("champion", (string?)described["variants"]![0]!["alias"]);
        Assert.Equal(100.0, (double)described["traffic"]![0]!["percent"]!);

        var columns = new[] { "date", "origin", "destination", "distance" };
        var records = Flights.Select(r => columns.Zip(r).ToDictionary(p => p.First, p => p.Second)).ToArray();
        var bodies = new Dictionary<string, HttpContent>
        {
            ["dataframe_split"] = JsonContent.Create(new { dataframe_split = new { columns, data = Flights } }),
            ["dataframe_records"] = JsonContent.Create(new { dataframe_records = records }),
            ["instances"] = JsonContent.Create(new { instances = records }),
            ["inputs (columnar)"] = JsonContent.Create(new { inputs = columns.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => Flights.Select(r => r[x.i]).ToArray()) }),
            ["csv"] = new StringContent("date,origin,destination,distance\n" + string.Join("\n", Flights.Select(r => string.Join(",", r))) + "\n",
                Encoding.UTF8, "text/csv"),
        };
        double[]? expected = null;
        foreach (var (format, body) in bodies)
        {
            var response = await client.PostAsync($"/endpoints/{name}/invocations", body);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{format}: {(int)response.StatusCode} {text}");
            var predictions = JsonNode.Parse(text)!["predictions"]!.AsArray();
            Assert.Equal(3, predictions.Count);
            Assert.All(predictions, p =>
            {
                Assert.Equal("primary", (string?)p!["variant"]);
                Assert.Equal(champion.Version, (string?)p["model_version"]);
                Assert.False(string.IsNullOrEmpty((string?)p["inference_id"]));
                Assert.InRange((double)p["probability"]!, 0, 1);
                Assert.IsType<bool>(p["predicted_label"]!.GetValue<bool>());
            });
            var scores = predictions.Select(p => (double)p!["score"]!).ToArray();
            expected ??= scores;
            Assert.Equal(expected, scores);
        }

        var metadata = await client.GetFromJsonAsync<JsonObject>($"/v2/models/{name}");
        var inputs = metadata!["inputs"]!.AsArray().Select(i => ((string?)i!["name"], (string?)i["datatype"])).ToList();
        Assert.Contains(("distance", "FP32"), inputs);
        Assert.Contains(("origin", "BYTES"), inputs);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v2/models/{name}/ready")).StatusCode);

        var infer = await client.PostAsJsonAsync($"/v2/models/{name}/infer", new
        {
            id = "v2-request",
            inputs = columns.Select((c, i) => new
            {
                name = c, shape = new[] { Flights.Length }, datatype = c == "distance" ? "FP32" : "BYTES", data = Flights.Select(r => r[i]).ToArray(),
            }),
        });
        var inferText = await infer.Content.ReadAsStringAsync();
        Assert.True(infer.StatusCode == HttpStatusCode.OK, inferText);
        var outputs = JsonNode.Parse(inferText)!["outputs"]!.AsArray().ToDictionary(o => (string)o!["name"]!, o => o!["data"]!.AsArray());
        Assert.Equal(expected, outputs["score"].Select(s => (double)s!).ToArray());
        Assert.Equal(["v2-request-0", "v2-request-1", "v2-request-2"], outputs["inference_id"].Select(s => (string)s!).ToArray());
        Assert.All(outputs["variant"], v => Assert.Equal("primary", (string?)v));

        // ModelDeployed reached the tracker through the outbox and the bus: the version's lineage names the endpoint.
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        await Poll.UntilAsync(async () => (await tracker.GetModelVersionLineageAsync(Model, champion.Version)).ModelVersion.Deployments
            .FirstOrDefault(d => d.Endpoint == name), Wait, $"the tracker's lineage of {Model} {champion.Version} to list endpoint {name}");
    }

    [Fact]
    public async Task AbVariants_SplitByWeight_AndAStickyKeyAlwaysGetsTheSameVariant()
    {
        var champion = await ChampionAsync();
        var name = await CreateEndpointAsync(
            new { name = "a", model_name = Model, model_version = champion.Version, weight = 1 },
            new { name = "b", model_name = Model, model_version = champion.Version, weight = 3 });
        using var client = platform.CreateClient(ResourceNames.Serving);
        var served = new Dictionary<string, int>();
        var sticky = new Dictionary<string, HashSet<string>>();
        for (var i = 0; i < 200; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/endpoints/{name}/invocations")
            {
                Content = JsonContent.Create(new { dataframe_split = new { columns = new[] { "date", "origin", "destination", "distance" }, data = new[] { Flights[0] } } }),
            };
            var key = $"user-{i % 20}";
            if (i >= 100)
                request.Headers.Add("X-Sticky-Key", key);
            var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var variant = response.Headers.GetValues("X-Invoked-Variant").Single();
            if (i < 100)
                served[variant] = served.GetValueOrDefault(variant) + 1;
            else
                (sticky.TryGetValue(key, out var seen) ? seen : sticky[key] = []).Add(variant);
        }
        Assert.InRange(served.GetValueOrDefault("b"), 55, 95); // 75 expected
        Assert.All(sticky.Values, seen => Assert.Single(seen));
    }

    [Fact]
    public async Task Invocation_WithSchemaErrors_Is400NamingTheColumn_AndUnknownEndpointIs404()
    {
        await ChampionAsync();
        var name = await CreateEndpointAsync(new { name = "primary", model_name = Model, alias = "champion" });
        using var client = platform.CreateClient(ResourceNames.Serving);

        var missing = await client.PostAsJsonAsync($"/endpoints/{name}/invocations",
            new { dataframe_split = new { columns = new[] { "date", "origin", "destination" }, data = new[] { new object[] { "2001-05-03T08:15:00Z", "SFO", "LAX" } } } });
        await AssertProblemAsync(missing, HttpStatusCode.BadRequest, "'distance'");

        var wrongType = await client.PostAsJsonAsync($"/endpoints/{name}/invocations",
            new { dataframe_records = new[] { new { date = "2001-05-03T08:15:00Z", origin = "SFO", destination = "LAX", distance = "far" } } });
        await AssertProblemAsync(wrongType, HttpStatusCode.BadRequest, "'distance'");

        var csv = await client.PostAsync($"/endpoints/{name}/invocations",
            new StringContent("date,origin,destination,distance\nnot-a-date,SFO,LAX,337\n", Encoding.UTF8, "text/csv"));
        await AssertProblemAsync(csv, HttpStatusCode.BadRequest, "'date'");

        var malformed = await client.PostAsync($"/endpoints/{name}/invocations", new StringContent("{\"dataframe_split\": ", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);

        var unknown = await client.PostAsJsonAsync("/endpoints/no-such-endpoint/invocations", new { instances = new[] { new { distance = 1 } } });
        await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "'no-such-endpoint'");

        var badVariant = new HttpRequestMessage(HttpMethod.Post, $"/endpoints/{name}/invocations")
        {
            Content = JsonContent.Create(new { dataframe_split = new { columns = new[] { "date", "origin", "destination", "distance" }, data = Flights } }),
        };
        badVariant.Headers.Add("X-Target-Variant", "nope");
        await AssertProblemAsync(await client.SendAsync(badVariant), HttpStatusCode.NotFound, "'nope'");

        var noVersion = await client.PostAsJsonAsync("/api/endpoints", new
        {
            name = $"it-missing-{Guid.NewGuid():N}"[..24], variants = new[] { new { name = "primary", model_name = Model, model_version = "999999" } },
        });
        await AssertProblemAsync(noVersion, HttpStatusCode.NotFound, "999999");
    }

    [Fact]
    public async Task Capture_WritesSageMakerRecords_PerVariantAndHour_AndGroundTruthLandsInModelMonitorFormat()
    {
        await ChampionAsync();
        var name = await CreateEndpointAsync(new { name = "primary", model_name = Model, alias = "champion" });
        using var client = platform.CreateClient(ResourceNames.Serving);
        var request = new HttpRequestMessage(HttpMethod.Post, $"/endpoints/{name}/invocations")
        {
            Content = JsonContent.Create(new { dataframe_split = new { columns = new[] { "date", "origin", "destination", "distance" }, data = Flights } }),
        };
        request.Headers.Add("X-Inference-Id", "capture-it");
        var invoked = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, invoked.StatusCode);

        using var s3 = await platform.CreateS3ClientAsync();
        var prefix = $"data-capture/{name}/primary/";
        var key = await Poll.UntilAsync(async () =>
        {
            var page = await s3.ListObjectsV2Async(new() { BucketName = ResourceNames.LakeBucket, Prefix = prefix });
            return page.S3Objects?.FirstOrDefault()?.Key;
        }, Wait, $"a capture file under s3://{ResourceNames.LakeBucket}/{prefix}");
        Assert.Matches(CaptureKey(), key[prefix.Length..]);

        var lines = (await ReadAsync(s3, key)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        var ids = new List<string>();
        foreach (var line in lines)
        {
            var record = JsonNode.Parse(line)!.AsObject();
            Assert.Equal(["captureData", "eventMetadata", "eventVersion"], record.Select(p => p.Key).ToArray());
            Assert.Equal("0", (string?)record["eventVersion"]);
            var input = record["captureData"]!["endpointInput"]!.AsObject();
            var output = record["captureData"]!["endpointOutput"]!.AsObject();
            Assert.Equal(["observedContentType", "mode", "data", "encoding"], input.Select(p => p.Key).ToArray());
            Assert.Equal(("application/json", "INPUT", "JSON"), ((string?)input["observedContentType"], (string?)input["mode"], (string?)input["encoding"]));
            Assert.Equal(("OUTPUT", "JSON"), ((string?)output["mode"], (string?)output["encoding"]));
            Assert.Contains((double)JsonNode.Parse((string)input["data"]!)!["distance"]!, new double[] { 337, 740, 2182 });
            Assert.InRange((double)JsonNode.Parse((string)output["data"]!)!["probability"]!, 0, 1);
            var metadata = record["eventMetadata"]!;
            Assert.True(Guid.TryParse((string?)metadata["eventId"], out _));
            Assert.True(DateTimeOffset.TryParse((string?)metadata["inferenceTime"], out var at) && Math.Abs((DateTimeOffset.UtcNow - at).TotalMinutes) < 10);
            ids.Add((string)metadata["inferenceId"]!);
        }
        Assert.Equal(["capture-it-0", "capture-it-1", "capture-it-2"], ids.Order().ToArray());

        var truth = await client.PostAsJsonAsync($"/api/endpoints/{name}/ground-truth",
            new { labels = new object[] { new { inference_id = "capture-it-0", label = true }, new { inference_id = "capture-it-1", label = false } } });
        var truthText = await truth.Content.ReadAsStringAsync();
        Assert.True(truth.StatusCode == HttpStatusCode.OK, truthText);
        var location = (string)JsonNode.Parse(truthText)!["location"]!;
        var truthPrefix = $"s3://{ResourceNames.LakeBucket}/ground-truth/{name}/";
        Assert.StartsWith(truthPrefix, location);
        Assert.Matches(CaptureKey(), location[truthPrefix.Length..]);
        var truthLines = (await ReadAsync(s3, location[$"s3://{ResourceNames.LakeBucket}/".Length..])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            ["""{"groundTruthData":{"data":"1","encoding":"CSV"},"eventMetadata":{"eventId":"capture-it-0"},"eventVersion":"0"}""",
             """{"groundTruthData":{"data":"0","encoding":"CSV"},"eventMetadata":{"eventId":"capture-it-1"},"eventVersion":"0"}"""],
            truthLines);
    }

    [Fact]
    public async Task Canary_ShiftsTheCanaryShare_ThenPromotes_AndAnAlarmWhileBakingRollsBackOnce()
    {
        var (champion, challenger, tracker, name) = await EndpointOnTheChampionWithAChallengerAsync();
        using var client = platform.CreateClient(ResourceNames.Serving);
        var alias = $"it-{Guid.NewGuid():N}"[..16];

        // Canary of 30 % held for an hour: the split is observable, then rolled back by hand.
        var canary = await UpdateAsync(client, name, challenger.Version,
            new { type = "canary", canary_percent = 30, wait_seconds = 3600, baking_seconds = 0 });
        Assert.Equal(("shifting", 30), ((string?)canary["state"], (int)canary["new_share"]!));
        var served = await CountVersionsAsync(client, name, 200);
        Assert.InRange(served.GetValueOrDefault(challenger.Version), 30, 95);
        Assert.Equal(200, served.Values.Sum());
        var rolledBack = await client.PostAsJsonAsync($"/api/endpoints/{name}/deployments/{canary["deployment_id"]}/rollback", new { reason = "test" });
        Assert.Equal(HttpStatusCode.OK, rolledBack.StatusCode);
        // The replica that took the rollback serves it at once, the other from its next refresh.
        await EveryReplicaAsync(async c => (await c.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}"))!["traffic"]!.AsArray() is { Count: > 0 } traffic
            && traffic.All(t => (double)t!["percent"]! == 0 || (string?)t["model_version"] == champion.Version), TimeSpan.FromSeconds(3),
            "routing all traffic to the champion within 3 s of the rollback");
        Assert.Equal(20, (await CountVersionsAsync(client, name, 20)).GetValueOrDefault(champion.Version));

        // Invalid strategies change nothing.
        var invalid = await client.PutAsJsonAsync($"/api/endpoints/{name}", new
        {
            variants = new[] { new { name = "primary", model_name = Model, model_version = challenger.Version } },
            deployment = new { type = "canary", canary_percent = 80, wait_seconds = 10 },
        });
        await AssertProblemAsync(invalid, HttpStatusCode.BadRequest, "canary_percent");

        // Linear in two steps of 50 % one second apart, a second of baking, then the alias moves to the new version.
        var linear = await UpdateAsync(client, name, challenger.Version,
            new { type = "linear", step_percent = 50, interval_seconds = 1, baking_seconds = 1, promote_alias = alias });
        var done = await WaitForDeploymentAsync(client, name, (string)linear["deployment_id"]!, "succeeded");
        Assert.Equal([50, 100, 100], done["history"]!.AsArray().Select(e => (int)e!["new_share"]!).ToArray());
        Assert.Equal(challenger.Version, (await tracker.GetModelVersionByAliasAsync(Model, alias)).Version);
        Assert.Equal(20, (await CountVersionsAsync(client, name, 20)).GetValueOrDefault(challenger.Version));

        // Back to the champion, all at once with an hour of baking; an alarm (delivered twice) rolls it back once.
        var bake = await UpdateAsync(client, name, champion.Version, new { type = "all_at_once", baking_seconds = 3600, promote_alias = alias });
        Assert.Equal("baking", (string?)bake["state"]);
        var bus = await platform.StartTestBusAsync();
        try
        {
            var alarm = new MonitorAlarmRaised($"alarm-{Guid.NewGuid():N}", "it-drift", 1, name, "primary", Model, champion.Version, "data_drift",
                "drift.share_of_drifted_columns", 0.9, 0.5, "Threshold crossed", null, DateTimeOffset.UtcNow);
            await bus.Publish(alarm);
            await bus.Publish(alarm);
        }
        finally
        {
            await bus.StopAsync();
        }
        var back = await WaitForDeploymentAsync(client, name, (string)bake["deployment_id"]!, "rolled_back");
        Assert.Contains("it-drift", (string?)back["reason"]);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var final = await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}/deployments/{bake["deployment_id"]}");
        Assert.Single(final!["history"]!.AsArray(), e => (string?)e!["state"] == "rolled_back");
        Assert.Equal(20, (await CountVersionsAsync(client, name, 20)).GetValueOrDefault(challenger.Version));
        Assert.Equal(challenger.Version, (await tracker.GetModelVersionByAliasAsync(Model, alias)).Version);
    }

    // Runs alone: ServingTestsFaults.
    internal async Task Deployment_InterruptedByAServingRestart_ResumesFromItsStoredStep()
    {
        var (champion, challenger, tracker, name) = await EndpointOnTheChampionWithAChallengerAsync();
        using (var client = platform.CreateClient(ResourceNames.Serving))
        {
            var linear = await UpdateAsync(client, name, challenger.Version, new { type = "linear", step_percent = 20, interval_seconds = 2, baking_seconds = 1 });
            Assert.Equal(20, (int)linear["new_share"]!);

            // Serving stops with the rollout at 20 %, stays down past the next step's time, and comes back.
            await platform.RestartAsync(ResourceNames.Serving, downFor: TimeSpan.FromSeconds(3));

            var done = await WaitForDeploymentAsync(client, name, (string)linear["deployment_id"]!, "succeeded");
            Assert.Equal([20, 40, 60, 80, 100, 100], done["history"]!.AsArray().Select(e => (int)e!["new_share"]!).ToArray());
            Assert.Equal(20, (await CountVersionsAsync(client, name, 20)).GetValueOrDefault(challenger.Version));
        }
    }

    [Fact]
    public async Task Update_RepeatedWithTheSameIdempotencyKey_AnswersTheSameDeployment_AndAnotherRequestIs409()
    {
        var (champion, challenger, _, name) = await EndpointOnTheChampionWithAChallengerAsync();
        using var client = platform.CreateClient(ResourceNames.Serving);
        var key = $"it-{Guid.NewGuid():N}";
        Task<HttpResponseMessage> PutAsync(string version, string endpoint, string idempotencyKey)
        {
            var request = new HttpRequestMessage(HttpMethod.Put, $"/api/endpoints/{endpoint}")
            {
                Content = JsonContent.Create(new
                {
                    variants = new[] { new { name = "primary", model_name = Model, model_version = version } },
                    deployment = new { type = "canary", canary_percent = 30, wait_seconds = 3600, baking_seconds = 0 },
                }),
            };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return client.SendAsync(request);
        }

        var first = await PutAsync(challenger.Version, name, key);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var id = (string)(await first.Content.ReadFromJsonAsync<JsonObject>())!["deployment_id"]!;
        // The repeat (a runner taking the step over) is answered the deployment in progress, not 409 for it; nothing new starts.
        var again = await PutAsync(challenger.Version, name, key);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var repeated = (await again.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal((id, "shifting"), ((string?)repeated["deployment_id"], (string?)repeated["state"]));
        await AssertCreatedNothingAsync();

        // Another body, or the key on another endpoint: 409 naming the key and the deployment; an over-long key: 400. Nothing changes.
        await AssertProblemAsync(await PutAsync(champion.Version, name, key), HttpStatusCode.Conflict, key);
        var other = await CreateEndpointAsync(new { name = "primary", model_name = Model, model_version = champion.Version });
        await AssertProblemAsync(await PutAsync(challenger.Version, other, key), HttpStatusCode.Conflict, id);
        await AssertProblemAsync(await PutAsync(challenger.Version, name, new string('k', 256)), HttpStatusCode.BadRequest, "Idempotency-Key");
        await AssertCreatedNothingAsync();
        Assert.Single((await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{other}/deployments"))!["deployments"]!.AsArray());

        // Ended, the deployment is still the answer to its key: the repeat starts no new one.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync($"/api/endpoints/{name}/deployments/{id}/rollback", new { reason = "test" })).StatusCode);
        var afterRollback = await PutAsync(challenger.Version, name, key);
        Assert.Equal(HttpStatusCode.Accepted, afterRollback.StatusCode);
        var ended = (await afterRollback.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal((id, "rolled_back"), ((string?)ended["deployment_id"], (string?)ended["state"]));
        await AssertCreatedNothingAsync();
        Assert.Null((await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}"))!["active_deployment"]);

        async Task AssertCreatedNothingAsync()
        {
            // The creation's deployment and this one; configurations 1 (creation) and 2 (this update), no third.
            Assert.Equal(2, (await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}/deployments"))!["deployments"]!.AsArray().Count);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/endpoints/{name}/configs/2")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/endpoints/{name}/configs/3")).StatusCode);
        }
    }

    [Fact]
    public async Task Invocation_WithoutTheApiKey_Is401()
    {
        using var anonymous = platform.CreateClient(ResourceNames.Serving, authenticated: false);
        var response = await anonymous.PostAsJsonAsync("/endpoints/any/invocations", new { instances = new[] { new { distance = 1 } } });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    private Task<ModelVersion> ChampionAsync() => FlightsModel.ChampionAsync(platform);

    /// <summary>
    /// An endpoint whose variant "primary" serves the champion, and a second version of the same package (the challenger):
    /// the registry has two versions to shift between.
    /// </summary>
    private async Task<(ModelVersion Champion, ModelVersion Challenger, TrackingClient Tracker, string Endpoint)> EndpointOnTheChampionWithAChallengerAsync()
    {
        var champion = await ChampionAsync();
        var tracker = new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker));
        var challenger = await tracker.RegisterModelAsync(Model, await tracker.GetRunAsync(champion.RunId!));
        return (champion, challenger, tracker, await CreateEndpointAsync(new { name = "primary", model_name = Model, model_version = champion.Version }));
    }

    private async Task<string> CreateEndpointAsync(params object[] variants)
    {
        var name = $"it-{Guid.NewGuid():N}"[..20];
        using var client = platform.CreateClient(ResourceNames.Serving);
        var response = await client.PostAsJsonAsync("/api/endpoints", new
        {
            name, variants, data_capture = new { enabled = true, sampling_percentage = 100 },
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"creating {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return name;
    }

    private static Task<JsonObject> UpdateAsync(HttpClient client, string name, string version, object deployment) =>
        UpdateAsync(client, name, [new { name = "primary", model_name = Model, model_version = version }], deployment);

    private static async Task<JsonObject> UpdateAsync(HttpClient client, string name, object[] variants, object deployment)
    {
        var response = await client.PutAsJsonAsync($"/api/endpoints/{name}", new { variants, deployment });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"updating {name}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static Task<JsonObject> WaitForDeploymentAsync(HttpClient client, string name, string id, string state)
    {
        JsonObject? last = null;
        return Poll.UntilAsync(async () =>
        {
            last = await client.GetFromJsonAsync<JsonObject>($"/api/endpoints/{name}/deployments/{id}");
            return (string?)last!["state"] == state ? last : null;
        }, Wait, () => $"deployment {id} to reach {state}; last seen {last?.ToJsonString()}");
    }

    /// <summary>Sends one-row invocations and counts the model versions that served them (every one must succeed).</summary>
    private static async Task<Dictionary<string, int>> CountVersionsAsync(HttpClient client, string name, int requests)
    {
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < requests; i++)
        {
            var response = await client.PostAsJsonAsync($"/endpoints/{name}/invocations",
                new { dataframe_split = new { columns = new[] { "date", "origin", "destination", "distance" }, data = new[] { Flights[i % Flights.Length] } } });
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"request {i}: {(int)response.StatusCode} {text}");
            var version = (string)JsonNode.Parse(text)!["predictions"]![0]!["model_version"]!;
            counts[version] = counts.GetValueOrDefault(version) + 1;
        }
        return counts;
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string mentions)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(mentions, (string?)JsonNode.Parse(text)!["detail"] ?? "");
    }

    private static async Task<string> ReadAsync(IAmazonS3 s3, string key)
    {
        using var response = await s3.GetObjectAsync(ResourceNames.LakeBucket, key);
        using var reader = new StreamReader(response.ResponseStream);
        return await reader.ReadToEndAsync();
    }

    // yyyy/mm/dd/hh/mm-ss-fff-<uuid>.jsonl
    [GeneratedRegex(@"^\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$")]
    private static partial Regex CaptureKey();
}

/// <summary>The test of <see cref="ServingTests"/> that restarts every Serving replica: in the faults collection, so it runs alone.</summary>
[Collection(FaultsCollection.Name)]
public sealed class ServingTestsFaults(PlatformFixture platform)
{
    [Fact]
    public Task Deployment_InterruptedByAServingRestart_ResumesFromItsStoredStep() => new ServingTests(platform).Deployment_InterruptedByAServingRestart_ResumesFromItsStoredStep();
}
