using System.Text.Json;
using Mlops.Monitor.Features.Bias;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;
using Mlops.Monitor.Features.Quality;

namespace Mlops.Monitor.Tests;

/// <summary>Bias over captured traffic: the facet taken from the captured inputs, Clarify's metrics, drift when the interval leaves the allowed range.</summary>
public sealed class BiasDriftTests
{
    // Facet d = "F": 100 rows, 20 predicted positive; facet a = "M": 300 rows, 150 predicted positive; labels as predicted
    // except 10 of each side's negatives. DPPL = 150/300 − 20/100 = 0.3, DI = 0.2/0.5 = 0.4.
    private static List<BiasRow> Planted()
    {
        var rows = new List<BiasRow>();
        for (var i = 0; i < 100; i++) rows.Add(new BiasRow("F", i < 20 || i >= 90, i < 20));
        for (var i = 0; i < 300; i++) rows.Add(new BiasRow("M", i < 150 || i >= 290, i < 150));
        rows.Add(new BiasRow(null, true, true)); // no facet captured: left out
        return rows;
    }

    [Fact]
    public void Evaluate_PlantedBias_ValuesAsClarify_IntervalsBracketThem_DriftOnlyOutsideTheRange()
    {
        var options = new BiasMonitorOptions(new FacetSpec("gender", ["F"]), Baseline: new Dictionary<string, double> { ["DI"] = 0.9 },
            AllowedRanges: new Dictionary<string, double[]> { ["DPPL"] = [-1, 1] });
        var (report, metrics, violations) = BiasDrift.Evaluate(options, Planted());
        Assert.Null(report.Reason);
        Assert.Equal(new FacetCounts(100, 300), report.Rows);
        var dppl = report.PostTraining!["DPPL"];
        Assert.Equal(0.3, dppl.Value, 12);
        Assert.True(dppl.Lower < 0.3 && 0.3 < dppl.Upper);
        Assert.False(dppl.Drifted); // [-1, 1] holds every DPPL
        var di = report.PostTraining["DI"];
        Assert.Equal(0.4, di.Value, 12);
        Assert.Equal(0.9, di.AllowedRange![0], 12); // no further from 1 than the baseline's 0.9
        Assert.Equal(1.1, di.AllowedRange[1], 12);
        Assert.True(di.Drifted);
        Assert.Equal(0.5, report.PreTraining!["CI"].Value, 12); // (300 − 100)/400
        Assert.Null(report.PreTraining["CI"].Drifted);         // no baseline, no range: not checked
        var v = Assert.Single(violations);
        Assert.Equal(BiasDrift.CheckType, v.ConstraintCheckType);
        Assert.Contains("DI", v.Description);
        Assert.Equal(1, metrics["bias.drifted_metrics"]);
        Assert.Equal(1, metrics["bias.DI.drifted"]);
        Assert.Equal(0.3, metrics["bias.DPPL"], 12);
    }

    [Fact]
    public void ByFacetValue_EachValueAgainstTheRest_ByHand()
    {
        // Values F (100 rows, 20% predicted positive) and M (300 rows, 50%): M as facet d gives DPPL = 0.2 − 0.5 = −0.3.
        var (report, _, _) = BiasDrift.Evaluate(new BiasMonitorOptions(new FacetSpec("gender", ["F"])), Planted());
        Assert.Equal(0.3, report.ByFacetValue!["F"]["DPPL"], 12);
        Assert.Equal(-0.3, report.ByFacetValue["M"]["DPPL"], 12);
        Assert.Equal(2.5, report.ByFacetValue["M"]["DI"], 12);
        Assert.Equal(["M", "F"], report.ByFacetValue.Keys); // most frequent first
    }

    [Fact]
    public void QualityChart_DrawsRealisedEstimateAndBand_PerWindow()
    {
        var t = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var html = QualityEndpoints.Render("ep", "auc",
        [
            new QualityPoint(Guid.NewGuid(), t, t.AddHours(1), 0.81, 0.8, 0.77, 0.83),
            new QualityPoint(Guid.NewGuid(), t.AddHours(1), t.AddHours(2), null, 0.79, 0.76, 0.82),
        ]);
        Assert.Contains("<polygon class=\"band\"", html);
        Assert.Contains("<polyline class=\"est\"", html);
        Assert.Contains("realised 0.81", html);
        Assert.Contains("[0.77, 0.83]", html);
        Assert.Contains("No run of this endpoint", QualityEndpoints.Render("ep", "auc", []));
    }

    [Fact]
    public void Evaluate_IntervalOverlappingTheRange_IsNotDrift()
    {
        // DPPL 0.3 with a baseline of 0.29: its interval (±1.96σ, σ ≈ 0.05 at these counts) still overlaps [-0.29, 0.29].
        var options = new BiasMonitorOptions(new FacetSpec("gender", ["F"]), Baseline: new Dictionary<string, double> { ["DPPL"] = 0.29 });
        var (report, _, violations) = BiasDrift.Evaluate(options, Planted());
        Assert.False(report.PostTraining!["DPPL"].Drifted);
        Assert.Empty(violations);
    }

    [Fact]
    public void Evaluate_MissingFacetOrSensitiveValue_IsAReasonWithoutMetrics()
    {
        var (absent, m1, _) = BiasDrift.Evaluate(new BiasMonitorOptions(new FacetSpec("gender", ["X"])), Planted());
        Assert.Contains("'X'", absent.Reason);
        Assert.Empty(m1);
        var (none, m2, _) = BiasDrift.Evaluate(new BiasMonitorOptions(new FacetSpec("age", Threshold: 40)), [new BiasRow(null, true, false)]);
        Assert.Contains("'age'", none.Reason);
        Assert.Empty(m2);
    }

    [Fact]
    public void Validate_NamesEveryBadField()
    {
        var errors = new List<string>();
        BiasDrift.Validate(new BiasMonitorOptions(new FacetSpec(null), new Dictionary<string, double> { ["XYZ"] = 1 },
            new Dictionary<string, double[]> { ["DPPL"] = [1, 0] }), "regression", errors);
        Assert.Contains(errors, e => e.Contains("problem_type binary"));
        Assert.Contains(errors, e => e.Contains("'quality.bias.facet.column'"));
        Assert.Contains(errors, e => e.Contains("'XYZ'"));
        Assert.Contains(errors, e => e.Contains("'quality.bias.allowed_ranges.DPPL'"));
    }

    [Fact]
    public void CaptureAccumulator_KeepsTheFacetValuePerInferenceId()
    {
        var start = new DateTimeOffset(2030, 6, 1, 10, 0, 0, TimeSpan.Zero);
        var baseline = new DatasetProfile(1, [new ColumnProfile("origin", ColumnKind.Categorical, InferredTypes.String, 1, 0, null, CategoricalDistribution.FromValues(["ATL"]))]);
        var collector = new PredictionCollector("origin");
        var acc = new CaptureAccumulator(baseline, start, start.AddHours(1), collector, "primary");
        string Event(string id, string input) => JsonSerializer.Serialize(new
        {
            captureData = new
            {
                endpointInput = new { observedContentType = "application/json", mode = "INPUT", data = input, encoding = "JSON" },
                endpointOutput = new { observedContentType = "application/json", mode = "OUTPUT", data = "{\"predicted_label\": true, \"probability\": 0.7}", encoding = "JSON" },
            },
            eventMetadata = new { eventId = id, inferenceId = id, inferenceTime = start.AddMinutes(1).ToString("yyyy-MM-ddTHH:mm:ss.fffZ") },
            eventVersion = "0",
        });
        acc.Add(Event("a", """{"origin": "ORD", "distance": 700}"""));
        acc.Add(Event("b", """{"distance": 300}"""));
        acc.Add(Event("c", """{"dataframe_split": {"columns": ["origin"], "data": [["SFO"], ["LAX"]]}}""")); // two rows: no single value
        Assert.Equal(new Dictionary<string, string> { ["a"] = "ORD" }, collector.FacetById);
        Assert.Equal(3, collector.ById.Count);
    }
}
