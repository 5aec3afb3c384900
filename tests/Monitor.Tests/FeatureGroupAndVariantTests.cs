using Mlops.Monitor.Features.Baselines;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Platform;
using Mlops.Monitor.Features.Profiles;
using Mlops.Monitor.Features.Runs;

namespace Mlops.Monitor.Tests;

/// <summary>Baselines from a feature group's statistics; per-variant capture (profile merge, metric naming, Serving's output).</summary>
public sealed class FeatureGroupAndVariantTests
{
    private static GroupStatistics Group() => new("flights", 3,
    [
        new("carrier", "string", 10, 2, null, null, null, null, null, new Dictionary<string, long> { ["AA"] = 5, ["UA"] = 3 }),
        new("late", "bool", 10, 0, null, null, null, null, null, new Dictionary<string, long> { ["true"] = 4, ["false"] = 6 }),
        new("stops", "int64", 10, 0, 0.9, 0.7, 0, 2, null, new Dictionary<string, long> { ["0"] = 3, ["1"] = 5, ["2"] = 2 }),
        new("delay", "double", 1000, 0, 12.5, 30, -20, 200,
            new Dictionary<string, double> { ["p01"] = -15, ["p05"] = -10, ["p25"] = 0, ["p50"] = 5, ["p75"] = 15, ["p95"] = 60, ["p99"] = 120 }, null),
        new("tail", "string", 100, 0, null, null, null, null, null, new Dictionary<string, long> { ["N1"] = 60, ["N2"] = 30 }), // 10 rows not in the top list
        new("departed", "timestamp", 10, 0, 1e9, 1, 1e9, 1e9, null, null),
    ]);

    [Fact]
    public void Suggest_ExactWhereTopValuesCoverTheFeature()
    {
        var (profile, statistics, constraints) = FeatureGroupBaseline.Suggest(Group());
        Assert.Equal(["carrier", "late", "stops", "delay", "tail"], profile.Columns.Select(c => c.Name)); // timestamps left out
        Assert.Equal(1000, profile.ItemCount);
        var stops = profile.Find("stops")!;
        Assert.Equal([0.0, 1.0, 2.0], stops.Numeric!.Values);
        Assert.Equal([3L, 5L, 2L], stops.Numeric.Counts);
        Assert.Equal(InferredTypes.Integral, stops.InferredType);
        var carrier = profile.Find("carrier")!;
        Assert.Equal(8, carrier.NumPresent);
        Assert.Equal(2, carrier.NumMissing);
        Assert.Equal(0.8, constraints.Features.Single(f => f.Name == "carrier").Completeness, 12);
        Assert.Equal(["AA", "UA"], constraints.Features.Single(f => f.Name == "carrier").StringConstraints!.Domains);
        // An incomplete top list suggests no domain: unseen values could be the ones the FeatureStore did not keep.
        Assert.Null(constraints.Features.Single(f => f.Name == "tail").StringConstraints);
        // statistics.json carries the FeatureStore's exact moments, not the reconstruction's.
        var delay = statistics.Features.Single(f => f.Name == "delay").NumericalStatistics!;
        Assert.Equal(12.5, delay.Mean);
        Assert.Equal(12_500, delay.Sum);
        Assert.Equal(30, delay.StdDev);
        Assert.Equal("featurestore://flights/versions/3", FeatureGroupBaseline.Uri(Group()));
    }

    [Fact]
    public void FromQuantiles_FollowsThePiecewiseLinearQuantileFunction()
    {
        var delay = Group().Features.Single(f => f.Feature == "delay");
        var d = FeatureGroupBaseline.FromQuantiles(delay, 1000, integral: false);
        Assert.Equal(1000, d.Count);
        Assert.Equal(FeatureGroupBaseline.ReconstructionPoints, d.Distinct);
        // The point at u = 0.0005 lies between min (−20 at 0) and p01 (−15 at 0.01): −20 + 5 · 0.05 = −19.75.
        Assert.Equal(-19.75, d.Values[0], 9);
        // Half the mass lies at or below the median (5).
        long below = 0;
        for (var i = 0; i < d.Values.Length; i++) if (d.Values[i] <= 5) below += d.Counts[i];
        Assert.Equal(500, below);
        // Fewer present values than points: one point per value; integers rounded.
        var small = FeatureGroupBaseline.FromQuantiles(delay with { Count = 3 }, 3, integral: true);
        Assert.Equal(3, small.Count);
        Assert.All(small.Values, v => Assert.Equal(Math.Round(v), v));
    }

    [Fact]
    public void ProfileMerge_AddsCounts_AndCountsAColumnOneSideLacksAsMissing()
    {
        var a = new DatasetProfile(2, [
            new ColumnProfile("x", ColumnKind.Numerical, InferredTypes.Integral, 2, 0, new NumericDistribution([1, 2], [1, 1]), null),
            new ColumnProfile("c", ColumnKind.Categorical, InferredTypes.String, 2, 0, null, CategoricalDistribution.FromValues(["a", "b"]))]);
        var b = new DatasetProfile(3, [
            new ColumnProfile("x", ColumnKind.Numerical, InferredTypes.Fractional, 2, 1, new NumericDistribution([2, 2.5], [1, 1]), null)]);
        var m = ProfileMerge.Merge(a, b);
        Assert.Equal(5, m.ItemCount);
        var x = m.Find("x")!;
        Assert.Equal([1.0, 2.0, 2.5], x.Numeric!.Values);
        Assert.Equal([1L, 2L, 1L], x.Numeric.Counts);
        Assert.Equal(InferredTypes.Fractional, x.InferredType);
        Assert.Equal(1, x.NumMissing);
        var c = m.Find("c")!;
        Assert.Equal(3, c.NumMissing); // b's three rows had no 'c'
        Assert.Equal(2, c.NumPresent);
    }

    [Theory]
    [InlineData("variant.blue.drift.share_of_drifted_columns", null, "blue")]
    [InlineData("variant.AllTraffic.feature.delay.drift_score", "x", "AllTraffic")]
    [InlineData("drift.share_of_drifted_columns", "green", "green")]
    [InlineData("quality.auc", null, null)]
    public void VariantOfMetric_PrefixNamesTheVariant(string metric, string? runVariant, string? expected) =>
        Assert.Equal(expected, RunExecutor.VariantOfMetric(metric, runVariant));

    [Fact]
    public void ServingOutput_PredictedLabelIsThePrediction()
    {
        var start = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var baseline = new DatasetProfile(1, [
            new ColumnProfile("distance", ColumnKind.Numerical, InferredTypes.Integral, 1, 0, NumericDistribution.FromValues([1]), null),
            new ColumnProfile("prediction", ColumnKind.Categorical, InferredTypes.String, 1, 0, null, CategoricalDistribution.FromValues(["true"]))]);
        var acc = new CaptureAccumulator(baseline, start, start.AddHours(1));
        foreach (var (label, p) in new[] { ("true", 0.8), ("false", 0.3), ("true", 0.6) })
            acc.Add(System.Text.Json.JsonSerializer.Serialize(new
            {
                captureData = new
                {
                    endpointInput = new { observedContentType = "application/json", mode = "INPUT", data = "{\"distance\":337}", encoding = "JSON" },
                    endpointOutput = new { observedContentType = "application/json", mode = "OUTPUT", data = $"{{\"predicted_label\":{label},\"score\":1.2,\"probability\":{p}}}", encoding = "JSON" },
                },
                eventMetadata = new { eventId = "e", inferenceId = Guid.NewGuid().ToString(), inferenceTime = start.AddMinutes(1).ToString("yyyy-MM-ddTHH:mm:ss.fffZ") },
                eventVersion = "0",
            }));
        var profile = acc.Build();
        Assert.Equal(2, profile.Predictions!.Categorical!.Counts["true"]);
        Assert.Equal(1, profile.Predictions.Categorical.Counts["false"]);
    }
}
