using System.Text.Json;
using Mlops.Monitor.Features.Alarms;
using Mlops.Monitor.Features.Quality;

namespace Mlops.Monitor.Tests;

/// <summary>The ground-truth merge: predictions by inference id, Model Monitor's ground-truth records, invalid labels named.</summary>
public sealed class QualityEvaluationTests
{
    private static PredictionCollector Served(params (string Id, string Variant, string Output)[] rows)
    {
        var c = new PredictionCollector();
        foreach (var (id, variant, output) in rows)
        {
            using var doc = JsonDocument.Parse(output);
            c.Add(id, variant, doc.RootElement);
        }
        return c;
    }

    [Fact]
    public void GroundTruthRecords_ParsedByEventId_LaterLabelWins()
    {
        var labels = new Dictionary<string, string>();
        GroundTruthReader.Add("""{"groundTruthData":{"data":"1","encoding":"CSV"},"eventMetadata":{"eventId":"a"},"eventVersion":"0"}""", labels);
        GroundTruthReader.Add("""{"groundTruthData":{"data":"0","encoding":"CSV"},"eventMetadata":{"eventId":"b"},"eventVersion":"0"}""", labels);
        GroundTruthReader.Add("""{"groundTruthData":{"data":"0","encoding":"CSV"},"eventMetadata":{"eventId":"a"},"eventVersion":"0"}""", labels);
        GroundTruthReader.Add("not json", labels);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "0", ["b"] = "0" }, labels);
    }

    [Fact]
    public void Binary_JoinsByInferenceId_PerVariant_AndNamesInvalidLabels()
    {
        var predictions = Served(
            ("i1", "blue", """{"predicted_label":true,"score":1.5,"probability":0.9}"""),
            ("i2", "blue", """{"predicted_label":false,"score":-1,"probability":0.2}"""),
            ("i3", "green", """{"predicted_label":true,"score":0.3,"probability":0.6}"""),
            ("i4", "green", """{"predicted_label":false,"score":-2,"probability":0.1}"""),
            ("i5", "green", """{"predicted_label":false,"score":-2,"probability":0.3}"""));
        var labels = new Dictionary<string, string> { ["i1"] = "1", ["i2"] = "0", ["i3"] = "0", ["i4"] = "1", ["i5"] = "maybe", ["other"] = "1" };
        var (report, metrics) = QualityEvaluation.Evaluate(new QualityOptions("BinaryClassification"), predictions, labels, null);
        Assert.Equal("binary", report.ProblemType);
        Assert.Equal(5, report.Joined);
        Assert.Equal(["i5"], report.InvalidLabelIds);
        Assert.Contains("i5", report.Reason);
        // Rows: (1, 1, .9), (0, 0, .2), (0, 1, .6), (1, 0, .1): accuracy 0.5; AUC: positives .9, .1 vs negatives .2, .6 → 2 of 4 pairs.
        Assert.Equal(0.5, metrics["quality.accuracy"], 12);
        Assert.Equal(0.5, metrics["quality.auc"], 12);
        Assert.Equal(1, report.ConfusionMatrix!["1"]["1"]);
        Assert.Equal(1, report.ConfusionMatrix["0"]["1"]);
        Assert.Equal(1, metrics["variant.blue.quality.accuracy"], 12);
        Assert.Equal(0, metrics["variant.green.quality.accuracy"], 12);
        Assert.Equal(1, metrics["quality.invalid_labels"]);
        Assert.Equal(4, metrics["quality.labels"] - metrics["quality.invalid_labels"]);
    }

    [Fact]
    public void Regression_UsesThePredictedNumber_AndRefusesTextLabels()
    {
        var predictions = Served(("a", "v", """{"predictions":[2.5]}"""), ("b", "v", """{"predicted_label":4,"score":4}"""), ("c", "v", "7"));
        var labels = new Dictionary<string, string> { ["a"] = "3", ["b"] = "4", ["c"] = "late" };
        var (report, metrics) = QualityEvaluation.Evaluate(new QualityOptions("regression"), predictions, labels, null);
        Assert.Equal(0.25, metrics["quality.mae"], 12);
        Assert.Equal(["c"], report.InvalidLabelIds);
    }

    [Fact]
    public void NoMatchingIds_IsAReason_NotAnError()
    {
        var (report, metrics) = QualityEvaluation.Evaluate(new QualityOptions("multiclass"), Served(("a", "v", "\"x\"")),
            new Dictionary<string, string> { ["b"] = "x" }, null);
        Assert.Null(report.Metrics);
        Assert.Contains("none with a matching inference id", report.Reason);
        Assert.False(metrics.ContainsKey("quality.accuracy"));
    }

    [Theory]
    [InlineData("1", null, true)]
    [InlineData("true", null, true)]
    [InlineData("0", null, false)]
    [InlineData("late", "late", true)]
    [InlineData("on_time", "late", false)]
    [InlineData("2", null, null)]
    [InlineData("yes", null, null)]
    public void ParseBinary(string text, string? positive, bool? expected) => Assert.Equal(expected, QualityEvaluation.ParseBinary(text, positive));

    [Theory]
    [InlineData("quality.auc", "model_quality")]
    [InlineData("variant.blue.quality.f1", "model_quality")]
    [InlineData("cbpe.auc", "model_quality_estimate")]
    [InlineData("variant.blue.drift.share_of_drifted_columns", "data_drift")]
    public void CheckOf_QualityMetrics(string metric, string check) => Assert.Equal(check, AlarmEvaluation.CheckOf(metric));

    [Fact]
    public void Validate_NamesEachBadField()
    {
        var errors = new List<string>();
        QualityOptions.Validate(new QualityOptions("ranking", ProbabilityThreshold: 1.5, LabelDelayHours: -1, CbpeReference: new CbpeReferenceWindow(null, null)), false, errors);
        Assert.Contains(errors, e => e.Contains("'quality' needs a 'capture' window"));
        Assert.Contains(errors, e => e.Contains("'quality.problem_type'"));
        Assert.Contains(errors, e => e.Contains("'quality.probability_threshold'"));
        Assert.Contains(errors, e => e.Contains("'quality.label_delay_hours'"));
        Assert.Contains(errors, e => e.Contains("'quality.cbpe_reference'"));
    }
}
