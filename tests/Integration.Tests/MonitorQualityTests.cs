using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Client;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Tests;

/// <summary>
/// Model quality through the running platform: flights scored by the tests' flights model (FlightsModel) through Serving (capture on),
/// their real outcomes (delay > 15 min) posted as ground truth through Serving, then a monitor run over the capture window
/// merges them by inference id. Its AUC and F1 must equal the ones computed here, directly, from the invocation answers
/// and the labels; an alarm on quality.auc raises MonitorAlarmRaised naming the variant and the model version it serves.
/// </summary>
public sealed class MonitorQualityTests(PlatformFixture platform)
{
    private const string Model = FlightsModel.Name;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    [Fact]
    public async Task GroundTruthPostedThroughServing_GivesTheAucAndF1ComputedDirectly_AndAQualityAlarmRaises()
    {
        var champion = await FlightsModel.ChampionAsync(platform);

        var endpoint = $"mq-{Guid.NewGuid():N}"[..20];
        using var serving = platform.CreateClient(ResourceNames.Serving);
        var created = await serving.PostAsJsonAsync("/api/endpoints", new
        {
            name = endpoint, variants = new[] { new { name = "primary", model_name = Model, model_version = champion.Version } },
            data_capture = new { enabled = true, sampling_percentage = 100 },
        });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());

        // A small baseline (the run needs one): three flights columns as CSV in the lake.
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        using var s3 = await platform.CreateS3ClientAsync();
        var flights = FlightsModel.Flights();
        var csvKey = $"monitor-it/{endpoint}/baseline.csv";
        var csv = new StringBuilder("origin,destination,distance\n");
        foreach (var f in flights.Take(200)) csv.Append($"{f.Origin},{f.Destination},{f.Distance}\n");
        await new ObjectStore(s3).PutAsync(ResourceNames.LakeBucket, csvKey, new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "text/csv");
        var baselineName = $"quality-{endpoint}";
        var baseline = await monitor.PostAsJsonAsync("/api/baselines", new { name = baselineName, dataset = new { uri = $"s3://{ResourceNames.LakeBucket}/{csvKey}" }, model_name = Model }, Json);
        Assert.True(baseline.StatusCode == HttpStatusCode.Created, await baseline.Content.ReadAsStringAsync());

        var raised = new List<MonitorAlarmRaised>();
        var alarmName = $"auc-{endpoint}";
        var bus = await platform.StartTestBusAsync();
        try
        {
            var handle = bus.ConnectReceiveEndpoint($"monitor-quality-tests-{Guid.NewGuid():N}", e =>
                e.Handler<MonitorAlarmRaised>(c => { if (c.Message.AlarmName == alarmName) lock (raised) raised.Add(c.Message); return Task.CompletedTask; }));
            await handle.Ready.WaitAsync(TimeSpan.FromSeconds(30));
            var put = await monitor.PutAsJsonAsync($"/api/alarms/{alarmName}", new
            {
                metric = "quality.auc", endpoint, threshold = 1.01, comparison_operator = "LessThanThreshold", evaluation_periods = 1,
            }, Json);
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

            // Score the flights through Serving in batches of 100; the answers carry inference ids, labels and probabilities.
            var start = DateTimeOffset.UtcNow.AddMinutes(-1);
            var served = new List<(string Id, bool Predicted, double Probability, bool Label, string Origin)>();
            foreach (var (batch, b) in flights.Chunk(100).Select((x, i) => (x, i)))
            {
                var request = new HttpRequestMessage(HttpMethod.Post, $"/endpoints/{endpoint}/invocations")
                {
                    Content = JsonContent.Create(new
                    {
                        dataframe_split = new
                        {
                            columns = new[] { "date", "origin", "destination", "distance" },
                            data = batch.Select(f => new object[] { f.Date, f.Origin, f.Destination, f.Distance }).ToArray(),
                        },
                    }),
                };
                request.Headers.Add("X-Inference-Id", $"{endpoint}-{b}");
                var answer = await serving.SendAsync(request);
                var text = await answer.Content.ReadAsStringAsync();
                Assert.True(answer.StatusCode == HttpStatusCode.OK, text);
                var predictions = JsonNode.Parse(text)!["predictions"]!.AsArray();
                Assert.Equal(batch.Length, predictions.Count);
                for (var i = 0; i < batch.Length; i++)
                    served.Add(((string)predictions[i]!["inference_id"]!, (bool)predictions[i]!["predicted_label"]!, (double)predictions[i]!["probability"]!, batch[i].Delay > 15,
                        batch[i].Origin));
            }
            // Late labels: posted after scoring, through Serving's ground-truth API (one in ten left unlabelled).
            var labelled = served.Where((_, i) => i % 10 != 3).ToList();
            var truth = await serving.PostAsJsonAsync($"/api/endpoints/{endpoint}/ground-truth",
                new { labels = labelled.Select(s => new { inference_id = s.Id, label = s.Label }).ToArray() });
            Assert.True(truth.StatusCode == HttpStatusCode.OK, await truth.Content.ReadAsStringAsync());
            await Poll.UntilAsync(async () =>
            {
                var page = await s3.ListObjectsV2Async(new() { BucketName = ResourceNames.LakeBucket, Prefix = $"data-capture/{endpoint}/primary/" });
                return page.S3Objects is { Count: > 0 } ? "captured" : null;
            }, TimeSpan.FromSeconds(60), "the capture files of the scored flights");
            await Task.Delay(TimeSpan.FromSeconds(3)); // Serving flushes capture every second: let the last batch land

            var run = await monitor.PostAsJsonAsync("/api/runs", new
            {
                baseline = new { name = baselineName },
                capture = new { endpoint, start, end = DateTimeOffset.UtcNow.AddMinutes(1) },
                quality = new { problem_type = "BinaryClassification" },
                wait = 90,
            }, Json);
            var runText = await run.Content.ReadAsStringAsync();
            Assert.True(run.StatusCode == HttpStatusCode.Created, runText);
            var runId = (string)JsonNode.Parse(runText)!["id"]!;
            Assert.Equal("completed", (string?)JsonNode.Parse(runText)!["status"]);
            var report = await monitor.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}/report");
            var quality = report!["quality"]!;
            Assert.Equal(served.Count, (long)quality["predictions"]!);
            Assert.Equal(labelled.Count, (long)quality["joined"]!);
            Assert.Equal(0, (int)quality["invalid_labels"]!);

            // Directly: AUC by counting pairs (ties half), F1 from the confusion counts.
            double pairs = 0, wins = 0;
            foreach (var p in labelled.Where(s => s.Label))
                foreach (var n in labelled.Where(s => !s.Label))
                {
                    pairs++;
                    wins += p.Probability > n.Probability ? 1 : p.Probability == n.Probability ? 0.5 : 0;
                }
            double tp = labelled.Count(s => s.Label && s.Predicted), fp = labelled.Count(s => !s.Label && s.Predicted), fn = labelled.Count(s => s.Label && !s.Predicted);
            var f1 = 2 * tp / (2 * tp + fp + fn);
            Assert.True(pairs > 0, "the labelled flights hold both delayed and on-time ones");
            Assert.Equal(wins / pairs, (double)quality["metrics"]!["auc"]!["value"]!, 9);
            Assert.Equal(f1, (double)quality["metrics"]!["f1"]!["value"]!, 9);
            Assert.NotNull(quality["metrics"]!["auc"]!["standard_deviation"]); // ≥ 200 labels
            Assert.Equal((long)tp, (long)quality["confusion_matrix"]!["1"]!["1"]!);

            var series = await monitor.GetFromJsonAsync<JsonObject>($"/api/metrics?metric=quality.auc&endpoint={endpoint}");
            Assert.Equal(wins / pairs, (double)series!["points"]!.AsArray().Single()!["value"]!, 9);

            await Poll.UntilAsync(async () => { await Task.Yield(); lock (raised) return raised.Count > 0 ? "raised" : null; }, TimeSpan.FromSeconds(60), "MonitorAlarmRaised for quality.auc");
            lock (raised)
            {
                var r = Assert.Single(raised);
                Assert.Equal("model_quality", r.Check);
                Assert.Equal(endpoint, r.Endpoint);
                Assert.Equal("primary", r.Variant);
                Assert.Equal(Model, r.ModelName);
                Assert.Equal(champion.Version, r.ModelVersion);
                Assert.Equal(runId, r.MonitoringRunId);
            }

            await ScheduledQualityAndBias_OverTheSameTraffic_ComparesWithTraining_AndABiasAlarmRaises(monitor, endpoint, champion, labelled, bus);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    // The same captured traffic and labels through a schedule with quality and bias: Clarify's DPPL for the busiest origin
    // as computed here, drifted against an allowed range it cannot meet, a bias_drift_check violation, MonitorAlarmRaised
    // for bias.drifted_metrics (check bias_drift), and the training run's AUC from the tracker beside the window's.
    private async Task ScheduledQualityAndBias_OverTheSameTraffic_ComparesWithTraining_AndABiasAlarmRaises(HttpClient monitor, string endpoint,
        ModelVersion champion, List<(string Id, bool Predicted, double Probability, bool Label, string Origin)> labelled, IBusControl bus)
    {
        var origin = labelled.GroupBy(s => s.Origin).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;
        double Share(IEnumerable<(string Id, bool Predicted, double Probability, bool Label, string Origin)> rows) => rows.Average(s => s.Predicted ? 1.0 : 0.0);
        var dppl = Share(labelled.Where(s => s.Origin != origin)) - Share(labelled.Where(s => s.Origin == origin));

        var raised = new List<MonitorAlarmRaised>();
        var alarmName = $"bias-{endpoint}";
        var handle = bus.ConnectReceiveEndpoint($"monitor-bias-tests-{Guid.NewGuid():N}", e =>
            e.Handler<MonitorAlarmRaised>(c => { if (c.Message.AlarmName == alarmName) lock (raised) raised.Add(c.Message); return Task.CompletedTask; }));
        await handle.Ready.WaitAsync(TimeSpan.FromSeconds(30));
        var alarm = await monitor.PutAsJsonAsync($"/api/alarms/{alarmName}", new
        {
            metric = "bias.drifted_metrics", endpoint, threshold = 0, comparison_operator = "GreaterThanThreshold", evaluation_periods = 1,
        }, Json);
        Assert.Equal(HttpStatusCode.OK, alarm.StatusCode);

        var schedule = $"qs-{endpoint}";
        var bad = await monitor.PutAsJsonAsync($"/api/schedules/{schedule}", new
        {
            endpoint, baseline = new { name = $"quality-{endpoint}" }, interval_seconds = 5, end_time_offset = "PT1H",
            quality = new { problem_type = "binary", bias = new { facet = new { column = "origin" }, allowed_ranges = new Dictionary<string, double[]> { ["DPPL"] = [1, 0] } } },
        }, Json);
        var badText = await bad.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        foreach (var field in new[] { "end_time_offset", "quality.bias.facet.sensitive_values", "quality.bias.allowed_ranges.DPPL" }) Assert.Contains(field, badText);

        var put = await monitor.PutAsJsonAsync($"/api/schedules/{schedule}", new
        {
            endpoint, baseline = new { name = $"quality-{endpoint}" }, interval_seconds = 5, window_seconds = 900, end_time_offset = "-PT0S",
            quality = new
            {
                problem_type = "binary", compare_with_training = true,
                bias = new { facet = new { column = "origin", sensitive_values = new[] { origin } }, allowed_ranges = new Dictionary<string, double[]> { ["DPPL"] = [5, 6] } },
            },
        }, Json);
        Assert.True(put.StatusCode == HttpStatusCode.OK, await put.Content.ReadAsStringAsync());
        try
        {
            var runId = await Poll.UntilAsync(async () =>
            {
                var runs = await monitor.GetFromJsonAsync<JsonObject>($"/api/schedules/{schedule}/runs");
                return runs!["runs"]!.AsArray().Select(r => r!).FirstOrDefault(r => (string?)r["status"] is "completed" or "failed") is { } done ? (string)done["id"]! : null;
            }, TimeSpan.FromSeconds(60), "a completed run of the quality schedule");
            var report = await monitor.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}/report");
            Assert.Equal("VIOLATIONS", (string?)report!["result"]);
            var bias = report["quality"]!["bias"]!;
            Assert.Equal(labelled.Count(s => s.Origin == origin), (long)bias["rows"]!["facet_d"]!);
            var measured = bias["post_training"]!["DPPL"]!;
            Assert.Equal(dppl, (double)measured["value"]!, 9);
            Assert.True((double)measured["lower"]! <= dppl && dppl <= (double)measured["upper"]!);
            Assert.True((bool)measured["drifted"]!);
            Assert.Contains(report["violations"]!.AsArray(), v => (string?)v!["constraint_check_type"] == "bias_drift_check" && ((string)v["description"]!).Contains("DPPL"));

            // The training run's AUC, as the tracker has it, beside the window's.
            var training = report["quality"]!["training"]!["auc"]!;
            Assert.Equal(champion.Version, (string?)training["model_version"]);
            var run = await new TrackingClient(platform.CreateClient(ResourceNames.ExperimentTracker)).GetRunAsync(champion.RunId!);
            Assert.Equal(run.MetricValue((string)training["training_metric"]!)!.Value, (double)training["training"]!, 9);
            Assert.Equal((double)report["quality"]!["metrics"]!["auc"]!["value"]! - (double)training["training"]!, (double)training["difference"]!, 9);

            // Quality over time (the on-demand run and the scheduled ones) and the run's page with its bias section.
            var series = await monitor.GetFromJsonAsync<JsonObject>($"/api/quality/series?endpoint={endpoint}&metric=auc");
            Assert.Contains(series!["points"]!.AsArray(), p => (string?)p!["run_id"] == runId && (double)p["realised"]! == (double)report["quality"]!["metrics"]!["auc"]!["value"]!);
            var chart = await monitor.GetAsync($"/api/quality/chart.html?endpoint={endpoint}&metric=auc");
            Assert.Equal(HttpStatusCode.OK, chart.StatusCode);
            Assert.Contains("<polyline class=\"real\"", await chart.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.BadRequest, (await monitor.GetAsync($"/api/quality/series?endpoint={endpoint}&metric=quality.auc")).StatusCode);
            var page = await monitor.GetStringAsync($"/api/runs/{runId}/report.html");
            Assert.Contains("Bias (facet origin)", page);
            Assert.Contains($"DPPL per value of origin", page);

            await Poll.UntilAsync(async () => { await Task.Yield(); lock (raised) return raised.Count > 0 ? "raised" : null; }, TimeSpan.FromSeconds(60), "MonitorAlarmRaised for bias.drifted_metrics");
            lock (raised)
            {
                var r = raised[0];
                Assert.Equal("bias_drift", r.Check);
                Assert.Equal(endpoint, r.Endpoint);
                Assert.Equal(champion.Version, r.ModelVersion);
            }
        }
        finally
        {
            await monitor.DeleteAsync($"/api/schedules/{schedule}");
        }
    }
}
