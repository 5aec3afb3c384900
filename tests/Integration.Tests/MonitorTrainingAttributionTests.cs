using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Mlops.Trainer.SageMaker;
using Mlops.Trainer.Samples;

namespace Mlops.Tests;

/// <summary>
/// Feature-attribution drift against the training importance, through the running platform. A model of four numeric inputs
/// whose label is driven by a strongly, b less, c a little and d not at all is trained (the trainer, in the test process, as
/// FlightsModel is) and registered: its package records its permutation importance (AUC drop), ranking a first. It serves
/// with capture on; ground truth is posted through Serving. Traffic of the same world keeps the ranking; traffic where a's
/// link to the label is broken (a shuffled among the rows, the labels kept, so a's distribution — what input drift sees — is
/// unchanged) makes a's importance collapse: NDCG below 0.90, a violation, MonitorAlarmRaised. The model retrained on that
/// world records another ranking (a no longer first) and its importance on the same kind of data does not drift.
/// </summary>
public sealed class MonitorTrainingAttributionTests(PlatformFixture platform, ITestOutputHelper output)
{
    private sealed record Row(double A, double B, double C, double D, bool Label);

    [Fact]
    public async Task ScrambledImportantFeature_DriftsAgainstTheTrainingImportance_AndTheModelRetrainedOnItDoesNot()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var modelName = $"attr-training-{id}";
        var v1 = await TrainAsync(modelName, World(4000, seed: 1), World(1000, seed: 2));
        var v2 = await TrainAsync(modelName, Scrambled(World(4000, seed: 3), seed: 4), Scrambled(World(1000, seed: 5), seed: 6));

        var endpoint = $"mt-{id}";
        using var serving = platform.CreateClient(ResourceNames.Serving);
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        await MonitorScenario.DeployAsync(serving, endpoint, modelName, v1);
        var baselineName = $"attr-training-{endpoint}";
        await MonitorScenario.CreateBaselineAsync(platform, monitor, baselineName, Csv(World(300, seed: 7), withLabel: false));
        var training = new { reference = "training" };

        var bad = await monitor.PostAsJsonAsync("/api/runs", new
        {
            baseline = new { name = baselineName }, capture = new { endpoint, start = DateTimeOffset.UtcNow.AddMinutes(-5), end = DateTimeOffset.UtcNow },
            attribution = new { reference = "yesterday", label = "label" },
        }, MonitorScenario.Json);
        var badText = await bad.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        foreach (var field in new[] { "attribution.reference", "attribution.label" }) Assert.Contains(field, badText);
        var contributions = await monitor.PostAsJsonAsync("/api/runs", new
        {
            baseline = new { name = baselineName }, capture = new { endpoint, start = DateTimeOffset.UtcNow.AddMinutes(-5), end = DateTimeOffset.UtcNow },
            attribution = new { reference = "training", method = "feature_contribution" },
        }, MonitorScenario.Json);
        Assert.Equal(HttpStatusCode.BadRequest, contributions.StatusCode);
        Assert.Contains("attribution.method", await contributions.Content.ReadAsStringAsync());

        var alarmName = $"attr-training-{endpoint}";
        await using (var alarm = await AlarmListener.StartAsync(platform, monitor, alarmName, new
        {
            metric = "attribution.drifted", endpoint, threshold = 0, comparison_operator = "GreaterThanThreshold", evaluation_periods = 1,
        }))
        {
            // The same world, scored; before its labels arrive there is nothing to measure importance with: the part's reason.
            var t0 = DateTimeOffset.UtcNow.AddSeconds(-1);
            var same = await ScoreAsync(serving, endpoint, World(400, seed: 8));
            var t1 = DateTimeOffset.UtcNow;
            await MonitorScenario.WaitForCaptureAsync(platform, endpoint);
            var (unlabelled, _) = await MonitorScenario.RunAsync(monitor, Run(baselineName, endpoint, t0, t1, training));
            var u = unlabelled["attribution"]!;
            Assert.Contains("ground truth", (string?)u["reason"]);
            Assert.Null(u["ndcg"]);
            Assert.Null(unlabelled["metrics"]!["attribution.ndcg"]);
            Assert.Equal("INSUFFICIENT_DATA", (string?)(await monitor.GetFromJsonAsync<JsonObject>($"/api/alarms/{alarmName}"))!["state"]);

            await MonitorScenario.PostLabelsAsync(serving, endpoint, same);
            var (kept, _) = await MonitorScenario.RunAsync(monitor, Run(baselineName, endpoint, t0, t1, training));
            var k = kept["attribution"]!;
            Assert.True(k["reason"] is null, (string?)k["reason"]);
            Assert.Equal(("training", "permutation", "auc", v1), ((string?)k["reference"], (string?)k["method"], (string?)k["metric"], (string?)k["model_version"]));
            Assert.Equal(400, (int)k["current_rows"]!);
            Assert.Equal(1000, (long)k["baseline_rows"]!); // the validation rows the trainer measured on
            Assert.Equal("a", Top(k["baseline"]!));
            Assert.Equal("a", Top(k["current"]!));
            Assert.True((double)k["ndcg"]! >= 0.9, $"NDCG {k["ndcg"]} of the same world");
            Assert.False((bool)k["drifted"]!);
            output.WriteLine($"same world: NDCG {k["ndcg"]}; training {k["baseline"]!.ToJsonString()}; current {k["current"]!.ToJsonString()}");
            Assert.Equal("OK", (string?)(await monitor.GetFromJsonAsync<JsonObject>($"/api/alarms/{alarmName}"))!["state"]);

            // The world where a no longer tells the label: the model still leans on a, which now explains nothing.
            var t2 = DateTimeOffset.UtcNow;
            var broken = await ScoreAsync(serving, endpoint, Scrambled(World(400, seed: 9), seed: 10));
            var t3 = DateTimeOffset.UtcNow.AddSeconds(1);
            await Task.Delay(TimeSpan.FromSeconds(3)); // Serving flushes capture every second
            await MonitorScenario.PostLabelsAsync(serving, endpoint, broken);
            var (drifted, runId) = await MonitorScenario.RunAsync(monitor, Run(baselineName, endpoint, t2, t3, training));
            var d = drifted["attribution"]!;
            Assert.True(d["reason"] is null, (string?)d["reason"]);
            Assert.Equal(400, (int)d["current_rows"]!);
            Assert.True((double)d["current"]!["a"]! < 0.02, $"a's importance {d["current"]!["a"]} with its link to the label broken");
            Assert.NotEqual("a", Top(d["current"]!));
            output.WriteLine($"a scrambled: NDCG {d["ndcg"]}; current {d["current"]!.ToJsonString()}");
            Assert.True((double)d["ndcg"]! < 0.9, $"NDCG {d["ndcg"]}");
            Assert.True((bool)d["drifted"]!);
            Assert.Equal("VIOLATIONS", (string?)drifted["result"]);
            var violation = Assert.Single(drifted["violations"]!.AsArray(), v => (string?)v!["constraint_check_type"] == "feature_attribution_drift_check")!;
            Assert.Contains("training importance (auc)", (string?)violation["description"]);
            // Input drift does not see it: a's values are the same values, in other rows.
            Assert.Equal(0, (double)drifted["metrics"]!["feature.a.drifted"]!);
            Assert.Contains("training (validation) and 400 current labelled rows", await monitor.GetStringAsync($"/api/runs/{runId}/report.html"));
            var analysis = await monitor.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}/analysis.json");
            Assert.Equal((double)d["current"]!["a"]!, (double)analysis!["explanations"]!["permutation"]!["label0"]!["global_shap_values"]!["a"]!, 12);

            var r = Assert.Single(await alarm.RaisedAsync());
            Assert.Equal("feature_attribution_drift", r.Check);
            Assert.Equal(endpoint, r.Endpoint);
            Assert.Equal(v1, r.ModelVersion);
            Assert.Equal(runId, r.MonitoringRunId);
        }

        // Dataset runs with the label column: the same broken world against v1 drifts; against v2, retrained on it, whose recorded
        // ranking no longer puts a first, it does not.
        var brokenData = await MonitorScenario.PutCsvAsync(platform, $"{endpoint}/broken.csv", Csv(Scrambled(World(600, seed: 11), seed: 12), withLabel: true));
        foreach (var (version, expectDrift) in new[] { (v1, true), (v2, false) })
        {
            var name = $"attr-training-{endpoint}-v{version}";
            await MonitorScenario.CreateBaselineAsync(platform, monitor, name, Csv(World(300, seed: 7), withLabel: false), modelName, version);
            var (report, _) = await MonitorScenario.RunAsync(monitor, new { baseline = new { name }, dataset = new { uri = brokenData }, attribution = training });
            var a = report["attribution"]!;
            output.WriteLine($"dataset, version {version}: NDCG {a["ndcg"]}; training {a["baseline"]?.ToJsonString()}; current {a["current"]?.ToJsonString()}");
            Assert.True(a["reason"] is null, (string?)a["reason"]);
            Assert.Equal(version, (string?)a["model_version"]);
            Assert.Equal(600, (int)a["current_rows"]!);
            Assert.True((bool)a["drifted"]! == expectDrift, $"model version {version}: NDCG {a["ndcg"]}, training {a["baseline"]!.ToJsonString()}, current {a["current"]!.ToJsonString()}");
            if (version == v2) Assert.NotEqual("a", Top(a["baseline"]!)); // the retrained model's recorded ranking changed
        }
        var missing = $"attr-training-{endpoint}-v{v2}";
        var (noLabel, _) = await MonitorScenario.RunAsync(monitor, new { baseline = new { name = missing }, dataset = new { uri = brokenData }, attribution = new { reference = "training", label = "outcome" } });
        Assert.Contains("no label column 'outcome'", (string?)noLabel["attribution"]!["reason"]);
    }

    private static object Run(string baseline, string endpoint, DateTimeOffset start, DateTimeOffset end, object attribution) =>
        new { baseline = new { name = baseline }, capture = new { endpoint, start, end }, attribution };

    private static string Top(JsonNode values) => values.AsObject().OrderByDescending(p => (double)p.Value!).First().Key;

    // a, b, c, d uniform in [-1, 1] (three decimals); the label from 3a + 1.2b + 0.4c and noise.
    private static List<Row> World(int n, int seed)
    {
        var random = new Random(seed);
        double Next() => Math.Round(random.NextDouble() * 2 - 1, 3);
        return [.. Enumerable.Range(0, n).Select(_ =>
        {
            var (a, b, c, d) = (Next(), Next(), Next(), Next());
            return new Row(a, b, c, d, 3 * a + 1.2 * b + 0.4 * c + (random.NextDouble() - 0.5) * 1.5 > 0);
        })];
    }

    // a shuffled among the rows, everything else (the labels too) kept.
    private static List<Row> Scrambled(List<Row> rows, int seed)
    {
        var a = rows.Select(r => r.A).ToArray();
        new Random(seed).Shuffle(a);
        return [.. rows.Select((r, i) => r with { A = a[i] })];
    }

    private static string Csv(IEnumerable<Row> rows, bool withLabel)
    {
        var csv = new StringBuilder(withLabel ? "a,b,c,d,label\n" : "a,b,c,d\n");
        foreach (var r in rows)
            csv.Append(string.Create(CultureInfo.InvariantCulture, $"{r.A},{r.B},{r.C},{r.D}")).Append(withLabel ? (r.Label ? ",1\n" : ",0\n") : "\n");
        return csv.ToString();
    }

    private async Task<string> TrainAsync(string modelName, List<Row> train, List<Row> validation)
    {
        var root = Directory.CreateTempSubdirectory("mlops-it-attr-").FullName;
        try
        {
            var layout = new TrainingLayout(root);
            foreach (var (channel, rows) in new[] { ("train", train), ("validation", validation) })
            {
                Directory.CreateDirectory(layout.ChannelDirectory(channel));
                await File.WriteAllTextAsync(Path.Combine(layout.ChannelDirectory(channel), $"{channel}.csv"), Csv(rows, withLabel: true));
            }
            FlightsSample.WriteConfig(layout, new Dictionary<string, string> { ["label"] = "label", ["algorithm"] = "sdca" }, new Dictionary<string, ChannelConfig>());
            return (await FlightsModel.TrainAndRegisterAsync(platform, modelName, layout)).Version;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<List<(string InferenceId, object Label)>> ScoreAsync(HttpClient serving, string endpoint, List<Row> rows)
    {
        var served = new List<(string, object)>();
        foreach (var batch in rows.Chunk(100))
        {
            var answer = await serving.PostAsJsonAsync($"/endpoints/{endpoint}/invocations", new
            {
                dataframe_split = new { columns = new[] { "a", "b", "c", "d" }, data = batch.Select(r => new object[] { r.A, r.B, r.C, r.D }).ToArray() },
            });
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == HttpStatusCode.OK, text);
            var predictions = JsonNode.Parse(text)!["predictions"]!.AsArray();
            Assert.Equal(batch.Length, predictions.Count);
            for (var i = 0; i < batch.Length; i++) served.Add(((string)predictions[i]!["inference_id"]!, batch[i].Label));
        }
        return served;
    }
}
