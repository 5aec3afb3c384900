using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Mlops.Tests;

/// <summary>
/// Feature-attribution drift through the running platform (Clarify's model-explainability monitor): the tests' flights model
/// (FlightsModel) served with capture on; a baseline of other flights; the monitor loads the served version's package itself
/// and explains both. Traffic like the baseline's keeps the attribution ranking (NDCG ≥ 0.90); the same flights with the
/// baseline's two most important features held constant lose them (permutation importance 0), so the ranking changes: a
/// feature_attribution_drift_check violation, analysis.json, and MonitorAlarmRaised for attribution.drifted.
/// </summary>
public sealed class MonitorAttributionTests(PlatformFixture platform)
{
    [Fact]
    public async Task ShiftedTraffic_FlagsAttributionDrift_AndTrafficLikeTheBaselineDoesNot()
    {
        var champion = await FlightsModel.ChampionAsync(platform);
        var endpoint = $"ma-{Guid.NewGuid():N}"[..20];
        using var serving = platform.CreateClient(ResourceNames.Serving);
        await MonitorScenario.DeployAsync(serving, endpoint, FlightsModel.Name, champion.Version);

        // The baseline: 300 flights as CSV (the model's four inputs); the traffic: 300 other flights from the same file.
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        var csv = new StringBuilder("date,origin,destination,distance\n");
        foreach (var f in FlightsModel.Flights(remainder: 7)) csv.Append($"{f.Date},{f.Origin},{f.Destination},{f.Distance}\n");
        var baselineName = $"attr-{endpoint}";
        await MonitorScenario.CreateBaselineAsync(platform, monitor, baselineName, csv.ToString(), FlightsModel.Name);
        var traffic = FlightsModel.Flights(remainder: 3);

        var bad = await monitor.PostAsJsonAsync("/api/runs", new
        {
            baseline = new { name = baselineName }, capture = new { endpoint, start = DateTimeOffset.UtcNow.AddMinutes(-5), end = DateTimeOffset.UtcNow },
            attribution = new { method = "shap", threshold = 2, max_rows = 1 },
        }, MonitorScenario.Json);
        var badText = await bad.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        foreach (var field in new[] { "attribution.method", "attribution.threshold", "attribution.max_rows" }) Assert.Contains(field, badText);

        // Traffic like the baseline's.
        var start = DateTimeOffset.UtcNow.AddSeconds(-1);
        await FlightsModel.ScoreAsync(serving, endpoint, traffic);
        var middle = DateTimeOffset.UtcNow;
        await MonitorScenario.WaitForCaptureAsync(platform, endpoint);
        var (unshifted, _) = await RunAsync(monitor, baselineName, endpoint, start, middle, new { method = "permutation" });
        var a = unshifted["attribution"]!;
        Assert.Null(a["reason"]);
        Assert.Equal("permutation", (string?)a["method"]);
        Assert.Equal(champion.Version, (string?)a["model_version"]);
        Assert.Equal(300, (int)a["baseline_rows"]!);
        Assert.Equal(300, (int)a["current_rows"]!);
        Assert.True((double)a["ndcg"]! >= 0.9, $"NDCG {(double)a["ndcg"]!} of traffic like the baseline's");
        Assert.False((bool)a["drifted"]!);
        Assert.DoesNotContain(unshifted["violations"]!.AsArray(), v => (string?)v!["constraint_check_type"] == "feature_attribution_drift_check");
        Assert.Equal((double)a["ndcg"]!, (double)unshifted["metrics"]!["attribution.ndcg"]!, 12);

        // The default method for this LightGBM model is ML.NET's feature contributions; the same traffic does not drift there either.
        var (contributions, _) = await RunAsync(monitor, baselineName, endpoint, start, middle, new { });
        Assert.Equal("feature_contribution", (string?)contributions["attribution"]!["method"]);
        Assert.False((bool)contributions["attribution"]!["drifted"]!, $"NDCG {contributions["attribution"]!["ndcg"]}");

        // The same flights with the baseline's two most important features held at one value each: nothing left for them to explain.
        var top = a["baseline"]!.AsObject().OrderByDescending(p => (double)p.Value!).Select(p => p.Key).Take(2).ToHashSet();
        var first = traffic[0];
        var shifted = traffic.Select(f => new FlightsModel.Flight(top.Contains("date") ? first.Date : f.Date, top.Contains("origin") ? first.Origin : f.Origin,
            top.Contains("destination") ? first.Destination : f.Destination, top.Contains("distance") ? first.Distance : f.Distance, f.Delay)).ToList();

        var alarmName = $"attr-{endpoint}";
        await using var alarm = await AlarmListener.StartAsync(platform, monitor, alarmName, new
        {
            metric = "attribution.drifted", endpoint, threshold = 0, comparison_operator = "GreaterThanThreshold", evaluation_periods = 1,
        });
        await FlightsModel.ScoreAsync(serving, endpoint, shifted);
        var end = DateTimeOffset.UtcNow.AddSeconds(1);
        await Task.Delay(TimeSpan.FromSeconds(3)); // Serving flushes capture every second
        var (drifted, runId) = await RunAsync(monitor, baselineName, endpoint, middle, end, new { method = "permutation" });
        var d = drifted["attribution"]!;
        Assert.Equal(300, (int)d["current_rows"]!);
        foreach (var feature in top) Assert.Equal(0, (double)d["current"]![feature]!);
        Assert.True((double)d["ndcg"]! < 0.9, $"NDCG {(double)d["ndcg"]!} with {string.Join(", ", top)} held constant");
        Assert.True((bool)d["drifted"]!);
        Assert.Equal("VIOLATIONS", (string?)drifted["result"]);
        var violation = Assert.Single(drifted["violations"]!.AsArray(), v => (string?)v!["constraint_check_type"] == "feature_attribution_drift_check")!;
        Assert.Equal("label0", (string?)violation["label"]);
        Assert.Equal("permutation", (string?)violation["metric_name"]);
        Assert.StartsWith("Feature attribution drift ", (string?)violation["description"]);

        var violations = await monitor.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}/constraint_violations.json");
        Assert.Contains(violations!["violations"]!.AsArray(), v => (string?)v!["constraint_check_type"] == "feature_attribution_drift_check");
        var analysis = await monitor.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}/analysis.json");
        Assert.Equal("1.0", (string?)analysis!["version"]);
        var values = analysis["explanations"]!["permutation"]!["label0"]!["global_shap_values"]!.AsObject();
        Assert.Equal(4, values.Count);
        foreach (var feature in top) Assert.Equal(0, (double)values[feature]!);
        Assert.Contains("Feature attribution drift", await monitor.GetStringAsync($"/api/runs/{runId}/report.html"));
        var r = Assert.Single(await alarm.RaisedAsync());
        Assert.Equal("feature_attribution_drift", r.Check);
        Assert.Equal(endpoint, r.Endpoint);
        Assert.Equal(champion.Version, r.ModelVersion);
        Assert.Equal(runId, r.MonitoringRunId);
    }

    private static Task<(JsonObject Report, string RunId)> RunAsync(HttpClient monitor, string baseline, string endpoint, DateTimeOffset start,
        DateTimeOffset end, object attribution) =>
        MonitorScenario.RunAsync(monitor, new { baseline = new { name = baseline }, capture = new { endpoint, start, end }, attribution });
}
