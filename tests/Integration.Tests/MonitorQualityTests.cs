using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Mlops.Contracts;
using Mlops.ExperimentTracker.Client;

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

    [Fact]
    public async Task GroundTruthPostedThroughServing_GivesTheAucAndF1ComputedDirectly_AndAQualityAlarmRaises()
    {
        var champion = await FlightsModel.ChampionAsync(platform);

        var endpoint = $"mq-{Guid.NewGuid():N}"[..20];
        using var serving = platform.CreateClient(ResourceNames.Serving);
        await MonitorScenario.DeployAsync(serving, endpoint, Model, champion.Version);

        // A small baseline (the run needs one): three flights columns as CSV in the lake.
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        var flights = FlightsModel.Flights();
        var csv = new StringBuilder("origin,destination,distance\n");
        foreach (var f in flights.Take(200)) csv.Append($"{f.Origin},{f.Destination},{f.Distance}\n");
        var baselineName = $"quality-{endpoint}";
        await MonitorScenario.CreateBaselineAsync(platform, monitor, baselineName, csv.ToString(), Model);

        await using var alarm = await AlarmListener.StartAsync(platform, monitor, $"auc-{endpoint}", new
        {
            metric = "quality.auc", endpoint, threshold = 1.01, comparison_operator = "LessThanThreshold", evaluation_periods = 1,
        });

        // Score the flights through Serving in batches of 100; the answers carry inference ids, labels and probabilities.
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        var served = (await FlightsModel.ScoreAsync(serving, endpoint, flights, endpoint))
            .Select(s => (Id: s.InferenceId, s.Predicted, s.Probability, s.Label, s.Flight.Origin)).ToList();
        // Late labels: posted after scoring, through Serving's ground-truth API (one in ten left unlabelled).
        var labelled = served.Where((_, i) => i % 10 != 3).ToList();
        await MonitorScenario.PostLabelsAsync(serving, endpoint, labelled.Select(s => (s.Id, (object)s.Label)));
        await MonitorScenario.WaitForCaptureAsync(platform, endpoint);

        var (report, runId) = await MonitorScenario.RunAsync(monitor, new
        {
            baseline = new { name = baselineName },
            capture = new { endpoint, start, end = DateTimeOffset.UtcNow.AddMinutes(1) },
            quality = new { problem_type = "BinaryClassification" },
        });
        var quality = report["quality"]!;
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

        var r = Assert.Single(await alarm.RaisedAsync());
        Assert.Equal("model_quality", r.Check);
        Assert.Equal(endpoint, r.Endpoint);
        Assert.Equal("primary", r.Variant);
        Assert.Equal(Model, r.ModelName);
        Assert.Equal(champion.Version, r.ModelVersion);
        Assert.Equal(runId, r.MonitoringRunId);

        await ScheduledQualityAndBias_OverTheSameTraffic_ComparesWithTraining_AndABiasAlarmRaises(monitor, endpoint, champion, labelled);
    }

    // The same captured traffic and labels through a schedule with quality and bias: Clarify's DPPL for the busiest origin
    // as computed here, drifted against an allowed range it cannot meet, a bias_drift_check violation, MonitorAlarmRaised
    // for bias.drifted_metrics (check bias_drift), and the training run's AUC from the tracker beside the window's.
    private async Task ScheduledQualityAndBias_OverTheSameTraffic_ComparesWithTraining_AndABiasAlarmRaises(HttpClient monitor, string endpoint,
        ModelVersion champion, List<(string Id, bool Predicted, double Probability, bool Label, string Origin)> labelled)
    {
        var origin = labelled.GroupBy(s => s.Origin).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;
        double Share(IEnumerable<(string Id, bool Predicted, double Probability, bool Label, string Origin)> rows) => rows.Average(s => s.Predicted ? 1.0 : 0.0);
        var dppl = Share(labelled.Where(s => s.Origin != origin)) - Share(labelled.Where(s => s.Origin == origin));

        await using var alarm = await AlarmListener.StartAsync(platform, monitor, $"bias-{endpoint}", new
        {
            metric = "bias.drifted_metrics", endpoint, threshold = 0, comparison_operator = "GreaterThanThreshold", evaluation_periods = 1,
        });

        var schedule = $"qs-{endpoint}";
        var bad = await monitor.PutAsJsonAsync($"/api/schedules/{schedule}", new
        {
            endpoint, baseline = new { name = $"quality-{endpoint}" }, interval_seconds = 5, end_time_offset = "PT1H",
            quality = new { problem_type = "binary", bias = new { facet = new { column = "origin" }, allowed_ranges = new Dictionary<string, double[]> { ["DPPL"] = [1, 0] } } },
        }, MonitorScenario.Json);
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
        }, MonitorScenario.Json);
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

            var r = (await alarm.RaisedAsync())[0];
            Assert.Equal("bias_drift", r.Check);
            Assert.Equal(endpoint, r.Endpoint);
            Assert.Equal(champion.Version, r.ModelVersion);
        }
        finally
        {
            await monitor.DeleteAsync($"/api/schedules/{schedule}");
        }
    }
}
