using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Mlops.Tests;

/// <summary>
/// NannyML's CBPE through the running platform: the tests' flights model (trained on January–April) serves May flights,
/// labelled at once (the calibration reference), then June flights — the held-out month — whose labels arrive only after
/// their window has closed. Before they arrive the run estimates AUC with its band; once they land, the realised AUC (as
/// computed here from the invocation answers) lies within that band, both on demand and in a schedule whose
/// end_time_offset puts its window back over June's traffic.
/// </summary>
public sealed class MonitorCbpeTests(PlatformFixture platform)
{
    private sealed record Served(string Id, double Probability, bool Label);

    [Fact]
    public async Task CbpeOnAHeldOutMonth_IsWithinItsBandOfTheRealisedAuc_WhenTheLateLabelsLandInTheirWindow()
    {
        var champion = await FlightsModel.ChampionAsync(platform);
        var endpoint = $"mc-{Guid.NewGuid():N}"[..20];
        using var serving = platform.CreateClient(ResourceNames.Serving);
        await MonitorScenario.DeployAsync(serving, endpoint, FlightsModel.Name, champion.Version);

        var may = FlightsModel.FlightsOfMonth(5, 1000);
        var june = FlightsModel.FlightsOfMonth(6, 1000);
        Assert.Equal(1000, june.Count);
        using var monitor = platform.CreateClient(ResourceNames.Monitor);
        var csv = new StringBuilder("origin,destination,distance\n");
        foreach (var f in may.Take(200)) csv.Append($"{f.Origin},{f.Destination},{f.Distance}\n");
        var baselineName = $"cbpe-{endpoint}";
        await MonitorScenario.CreateBaselineAsync(platform, monitor, baselineName, csv.ToString());

        // May: the labelled reference CBPE calibrates on.
        var r0 = DateTimeOffset.UtcNow.AddSeconds(-1);
        var reference = await ScoreAsync(serving, endpoint, may, "may");
        var r1 = DateTimeOffset.UtcNow;
        await PostLabelsAsync(serving, endpoint, reference);
        await Task.Delay(TimeSpan.FromSeconds(10)); // a gap, so the schedule's window below cannot reach May's traffic

        // June: served now, labelled only after its window closed.
        var c0 = DateTimeOffset.UtcNow;
        var current = await ScoreAsync(serving, endpoint, june, "june");
        var c1 = DateTimeOffset.UtcNow;
        await Task.Delay(TimeSpan.FromSeconds(4)); // Serving flushes capture every second
        var quality = new { problem_type = "binary", cbpe_reference = new { start = r0, end = r1 } };

        var before = await RunAsync(monitor, baselineName, endpoint, c0, c1, quality);
        var estimated = before["quality"]!["estimated"]!["auc"]!;
        Assert.Equal(0, (long)before["quality"]!["joined"]!);
        Assert.Null(before["quality"]!["metrics"]);
        var (estimate, sigma) = ((double)estimated["value"]!, (double)estimated["sampling_error"]!);
        Assert.True(sigma > 0 && sigma < 0.1, $"sampling error {sigma}");
        Assert.Equal(estimate - 3 * sigma, (double)estimated["lower"]!, 9);

        // The late labels, posted now that June's window has closed, land in June's window.
        await PostLabelsAsync(serving, endpoint, current);
        var auc = Auc(current);
        var after = await RunAsync(monitor, baselineName, endpoint, c0, c1, quality);
        var q = after["quality"]!;
        Assert.Equal(current.Count, (long)q["joined"]!);
        Assert.Equal(auc, (double)q["metrics"]!["auc"]!["value"]!, 9);
        Assert.Equal(estimate, (double)q["estimated"]!["auc"]!["value"]!, 9); // the same predictions and reference: the same estimate
        Assert.True(Math.Abs(estimate - auc) <= 3 * sigma, $"CBPE AUC {estimate} ± 3·{sigma} vs realised {auc}");
        Assert.True((bool)q["estimate_within_band"]!["auc"]!);
        Assert.Equal(1, (double)after["metrics"]!["cbpe.auc.within_band"]!);
        Assert.Equal(estimate - auc, (double)after["metrics"]!["cbpe.auc.error"]!, 9);

        // A schedule due a few seconds from now whose end_time_offset puts its window back over June's traffic (Model Monitor's
        // end-time offset): its first run holds June's predictions and their late labels, and none of May's.
        var schedule = $"cs-{endpoint}";
        var due = DateTimeOffset.UtcNow.AddSeconds(5);
        var offset = (int)Math.Floor((c1.AddSeconds(3) - due).TotalSeconds);
        var put = await monitor.PutAsJsonAsync($"/api/schedules/{schedule}", new
        {
            endpoint, baseline = new { name = baselineName }, interval_seconds = 5, window_seconds = (int)Math.Ceiling((c1 - c0).TotalSeconds) + 7,
            end_time_offset = string.Create(CultureInfo.InvariantCulture, $"-PT{-offset}S"), quality,
        }, MonitorScenario.Json);
        Assert.True(put.StatusCode == HttpStatusCode.OK, await put.Content.ReadAsStringAsync());
        try
        {
            var runId = await Poll.UntilAsync(async () =>
            {
                var runs = await monitor.GetFromJsonAsync<JsonObject>($"/api/schedules/{schedule}/runs");
                return runs!["runs"]!.AsArray().Select(r => r!).Where(r => (string?)r["status"] is "completed" or "failed")
                    .OrderBy(r => (DateTimeOffset)r["window_end"]!).FirstOrDefault() is { } done ? (string)done["id"]! : null;
            }, TimeSpan.FromSeconds(90), "the first completed run of the CBPE schedule");
            var scheduled = await monitor.GetFromJsonAsync<JsonObject>($"/api/runs/{runId}/report");
            var windowEnd = (DateTimeOffset)scheduled!["window_end"]!;
            Assert.True(windowEnd >= c1 && windowEnd < c1.AddSeconds(15), $"window end {windowEnd:O}, June's traffic ended {c1:O}");
            var sq = scheduled["quality"]!;
            Assert.Equal(current.Count, (long)sq["predictions"]!);
            Assert.Equal(current.Count, (long)sq["joined"]!);
            Assert.Equal(auc, (double)sq["metrics"]!["auc"]!["value"]!, 9);
            Assert.True((bool)sq["estimate_within_band"]!["auc"]!);
        }
        finally
        {
            await monitor.DeleteAsync($"/api/schedules/{schedule}");
        }
    }

    private static async Task<List<Served>> ScoreAsync(HttpClient serving, string endpoint, List<FlightsModel.Flight> flights, string tag) =>
        [.. (await FlightsModel.ScoreAsync(serving, endpoint, flights, $"{endpoint}-{tag}")).Select(s => new Served(s.InferenceId, s.Probability, s.Label))];

    private static Task PostLabelsAsync(HttpClient serving, string endpoint, List<Served> served) =>
        MonitorScenario.PostLabelsAsync(serving, endpoint, served.Select(s => (s.Id, (object)s.Label)));

    // AUC by counting pairs (ties half).
    private static double Auc(List<Served> rows)
    {
        double pairs = 0, wins = 0;
        foreach (var p in rows.Where(s => s.Label))
            foreach (var n in rows.Where(s => !s.Label))
            {
                pairs++;
                wins += p.Probability > n.Probability ? 1 : p.Probability == n.Probability ? 0.5 : 0;
            }
        Assert.True(pairs > 0, "the flights hold both delayed and on-time ones");
        return wins / pairs;
    }

    private static async Task<JsonObject> RunAsync(HttpClient monitor, string baseline, string endpoint, DateTimeOffset start, DateTimeOffset end, object quality) =>
        (await MonitorScenario.RunAsync(monitor, new { baseline = new { name = baseline }, capture = new { endpoint, start, end }, quality })).Report;
}
