using System.Globalization;
using System.Text;
using System.Text.Json;
using Mlops.Monitor.Features.Attribution;
using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;
using Mlops.Trainer.Model;

namespace Mlops.Monitor.Tests;

/// <summary>
/// Global attributions of a small trained model (the label is driven by x1 strongly, x2 weakly, never by x3), their NDCG when
/// the data shifts, the reservoir of captured rows, and Clarify's violation shape.
/// </summary>
public sealed class FeatureAttributionTests : IClassFixture<FeatureAttributionTests.LinearModel>
{
    private readonly LinearModel model;

    public FeatureAttributionTests(LinearModel model) => this.model = model;

    public sealed class LinearModel() : IDisposable
    {
        private readonly CsvModel model = new(Csv(3000, seed: 1), Csv(500, seed: 2),
            new Dictionary<string, string> { ["label"] = "label", ["algorithm"] = "sdca", ["importance_rows"] = "0" });

        public ModelPackage Package => model.Package;

        public void Dispose() => model.Dispose();
    }

    private static string Csv(int rows, int seed)
    {
        var random = new Random(seed);
        var csv = new StringBuilder("x1,x2,x3,label\n");
        foreach (var row in Rows(rows, random))
        {
            var score = 3 * (double)row["x1"]! + 0.7 * (double)row["x2"]! + random.NextDouble() - 0.5;
            csv.Append(string.Create(CultureInfo.InvariantCulture, $"{row["x1"]},{row["x2"]},{row["x3"]},{(score > 0 ? 1 : 0)}\n"));
        }
        return csv.ToString();
    }

    private static List<IReadOnlyDictionary<string, object?>> Rows(int n, Random random, double? x1 = null) =>
        [.. Enumerable.Range(0, n).Select(_ => (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?>
        {
            ["x1"] = x1 ?? random.NextDouble() * 2 - 1, ["x2"] = random.NextDouble() * 2 - 1, ["x3"] = random.NextDouble() * 2 - 1,
        })];

    [Fact]
    public void Permutation_RanksTheDrivingFeatureFirst_AndAColumnHeldConstantAtZero()
    {
        var table = model.Package.ToTable(Rows(400, new Random(3)));
        var importance = FeatureAttributions.PermutationImportance(model.Package, table);
        Assert.Equal(["x1", "x2", "x3"], importance.OrderByDescending(p => p.Value).Select(p => p.Key));
        Assert.True(importance["x1"] > 3 * importance["x2"], $"x1 {importance["x1"]}, x2 {importance["x2"]}");

        var constant = FeatureAttributions.PermutationImportance(model.Package, model.Package.ToTable(Rows(400, new Random(4), x1: 0.1)));
        Assert.Equal(0, constant["x1"]);
        // The baseline's ranking x1, x2, x3 against the shifted one x2, x3, x1, by hand (gains are the baseline's values).
        var (g1, g2, g3) = (importance["x1"], importance["x2"], importance["x3"]);
        var expected = (g2 + g3 / Math.Log2(3) + g1 / 2) / (g1 + g2 / Math.Log2(3) + g3 / 2);
        var ndcg = AttributionDrift.Ndcg(importance, constant);
        Assert.Equal(expected, ndcg, 12);
        Assert.True(AttributionDrift.Drifted(ndcg), $"NDCG {ndcg}");
    }

    [Fact]
    public void Contributions_OfALinearModel_FollowItsWeights_AndTheSameDataDoesNotDrift()
    {
        var explainer = ModelExplainer.TryCreate(model.Package, out var reason);
        Assert.True(explainer is not null, reason);
        var baseline = FeatureAttributions.MeanAbsoluteContributions(explainer!, model.Package.ToTable(Rows(400, new Random(5))));
        Assert.Equal(["x1", "x2", "x3"], baseline.OrderByDescending(p => p.Value).Select(p => p.Key));
        var again = FeatureAttributions.MeanAbsoluteContributions(explainer!, model.Package.ToTable(Rows(300, new Random(6))));
        Assert.False(AttributionDrift.Drifted(AttributionDrift.Ndcg(baseline, again)));
    }

    [Fact]
    public void RowSample_KeepsAtMostItsCapacity_EachRowOnce()
    {
        var sample = new RowSample(50, seed: 9);
        for (var i = 0; i < 1000; i++) sample.Add(new Dictionary<string, object?> { ["i"] = i });
        Assert.Equal(1000, sample.Seen);
        Assert.Equal(50, sample.Rows.Count);
        Assert.Equal(50, sample.Rows.Select(r => (int)r["i"]!).Distinct().Count());
        Assert.Contains(sample.Rows, r => (int)r["i"]! >= 50); // later rows get in
    }

    [Fact]
    public void CaptureAccumulator_SamplesJsonAndCsvRows_ForTheModel()
    {
        var profile = new DatasetProfile(1, [new ColumnProfile("x1", ColumnKind.Numerical, InferredTypes.Fractional, 1, 0, NumericDistribution.FromValues([0.5]), null),
            new ColumnProfile("x2", ColumnKind.Numerical, InferredTypes.Fractional, 1, 0, NumericDistribution.FromValues([0.5]), null)]);
        var sample = new RowSample(10);
        var accumulator = new CaptureAccumulator(profile, DateTimeOffset.MinValue, DateTimeOffset.MaxValue, sample: sample);
        accumulator.Add(Event("application/json", """{"dataframe_split":{"columns":["x1","x2"],"data":[[0.5,-1],[0.25,2]]}}"""));
        accumulator.Add(Event("text/csv", "0.75,3"));
        Assert.Equal(3, sample.Rows.Count);
        Assert.Equal(0.5, sample.Rows[0]["x1"]);
        Assert.Equal(2.0, sample.Rows[1]["x2"]);
        Assert.Equal("0.75", sample.Rows[2]["x1"]); // CSV fields are text; the package's binder parses them
        var table = model.Package.ToTable([.. sample.Rows.Select(r => (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?>(r) { ["x3"] = 0.0 })]);
        Assert.Equal(0.75f, ((float[])table["x1"].Values)[2]);
    }

    private static string Event(string type, string data) => JsonSerializer.Serialize(new
    {
        captureData = new { endpointInput = new { observedContentType = type, mode = "INPUT", data, encoding = type.Contains("json") ? "JSON" : "CSV" } },
        eventMetadata = new { eventId = Guid.NewGuid().ToString(), inferenceTime = "2026-01-01T00:00:00Z" },
        eventVersion = "0",
    });

    [Fact]
    public void Violation_HasClarifysShape()
    {
        var report = new AttributionReport(FeatureAttributions.Permutation, AttributionChecks.Label, "m", "3", 0.9, 0.7639720923277322, true, 10, 10, null, null, null);
        var json = JsonSerializer.Serialize(AttributionChecks.Violation(report), ModelMonitorJson.Options);
        using var doc = JsonDocument.Parse(json);
        var v = doc.RootElement;
        Assert.Equal("label0", v.GetProperty("label").GetString());
        Assert.Equal("permutation", v.GetProperty("metric_name").GetString());
        Assert.Equal("feature_attribution_drift_check", v.GetProperty("constraint_check_type").GetString());
        Assert.StartsWith("Feature attribution drift 0.7639720923277322 exceeds threshold 0.9", v.GetProperty("description").GetString());
        Assert.False(v.TryGetProperty("feature_name", out _));

        var analysis = JsonSerializer.Serialize(ExplainabilityAnalysis.Of("permutation", "label0", new Dictionary<string, double> { ["x1"] = 0.5 }), ModelMonitorJson.Options);
        Assert.Equal(0.5, JsonDocument.Parse(analysis).RootElement.GetProperty("explanations").GetProperty("permutation").GetProperty("label0")
            .GetProperty("global_shap_values").GetProperty("x1").GetDouble());
    }

    [Fact]
    public void Options_BadFieldsAreNamed()
    {
        var errors = new List<string>();
        AttributionOptions.Validate(new AttributionOptions("shap", 1.5, 3), isCapture: true, errors);
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("'attribution.method'"));
        Assert.Contains(errors, e => e.Contains("'attribution.threshold'"));
        Assert.Contains(errors, e => e.Contains("'attribution.max_rows'"));
    }
}
