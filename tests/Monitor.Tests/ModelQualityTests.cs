using Mlops.Monitor.Features.Quality;

namespace Mlops.Monitor.Tests;

/// <summary>Model quality and CBPE on small hand-checked examples (and Model Monitor's documented binary example).</summary>
public sealed class ModelQualityTests
{
    private static BinaryRow B(int label, int predicted, double? p = null) => new(label == 1, predicted == 1, p);

    [Fact]
    public void Binary_ModelMonitorsDocumentedExample()
    {
        // Model Monitor's documentation: confusion {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}, recall 1, precision 1/3,
        // accuracy 0.5, recall/precision/accuracy of the best constant classifier 1, 0.25, 0.25, TNR 1/3, FPR 2/3, FNR 0.
        BinaryRow[] rows = [B(1, 1), B(0, 1), B(0, 1), B(0, 0)];
        var c = ModelQualityMetrics.Confusion(rows).AsModelMonitor();
        Assert.Equal(1, c["0"]["0"]);
        Assert.Equal(2, c["0"]["1"]);
        Assert.Equal(0, c["1"]["0"]);
        Assert.Equal(1, c["1"]["1"]);
        var m = ModelQualityMetrics.Binary(rows);
        Assert.Equal(1, m["recall"], 12);
        Assert.Equal(1 / 3.0, m["precision"], 12);
        Assert.Equal(0.5, m["accuracy"], 12);
        Assert.Equal(1, m["recall_best_constant_classifier"], 12);
        Assert.Equal(0.25, m["precision_best_constant_classifier"], 12);
        Assert.Equal(0.25, m["accuracy_best_constant_classifier"], 12);
        Assert.Equal(1 / 3.0, m["true_negative_rate"], 12);
        Assert.Equal(2 / 3.0, m["false_positive_rate"], 12);
        Assert.Equal(0, m["false_negative_rate"], 12);
        Assert.Equal(0.5, m["f1"], 12);                              // 2 · (1/3) · 1 / (4/3)
        Assert.Equal(0.4, m["f1_best_constant_classifier"], 12);     // 2 · 0.25 / 1.25
        Assert.Equal(5 / 13.0, m["f0_5"], 12);                     // 1.25 · (1/3) · 1 / (0.25 · 1/3 + 1)
        Assert.False(m.ContainsKey("auc")); // no probabilities, no AUC
    }

    [Fact]
    public void Auc_RankSum_WithTiesAtHalf()
    {
        Assert.Equal(1, ModelQualityMetrics.Auc([B(1, 1, 0.9), B(0, 1, 0.8), B(0, 0, 0.3), B(0, 0, 0.1)]), 12);
        Assert.Equal(2 / 3.0, ModelQualityMetrics.Auc([B(1, 0, 0.4), B(0, 1, 0.5), B(0, 0, 0.3), B(0, 0, 0.1)]), 12);
        Assert.Equal(0.5, ModelQualityMetrics.Auc([B(1, 1, 0.5), B(0, 1, 0.5)]), 12);
        Assert.True(double.IsNaN(ModelQualityMetrics.Auc([B(1, 1, 0.5), B(1, 1, 0.7)])));
    }

    [Fact]
    public void LogLoss_MeanNegativeLogLikelihood_Clipped()
    {
        Assert.Equal(-(Math.Log(0.8) + Math.Log(0.6)) / 2, ModelQualityMetrics.LogLoss([B(1, 1, 0.8), B(0, 0, 0.4)]), 12);
        Assert.Equal(-Math.Log(1e-15), ModelQualityMetrics.LogLoss([B(1, 0, 0.0)]), 9);
    }

    [Fact]
    public void Multiclass_WeightedBySupport()
    {
        MulticlassRow[] rows = [new("a", "a"), new("a", "b"), new("b", "b"), new("c", "a")];
        var m = ModelQualityMetrics.Multiclass(rows);
        Assert.Equal(0.5, m["accuracy"], 12);
        Assert.Equal(0.375, m["weighted_precision"], 12);   // (2 · 0.5 + 1 · 0.5 + 1 · 0) / 4
        Assert.Equal(0.5, m["weighted_recall"], 12);        // (2 · 0.5 + 1 · 1 + 1 · 0) / 4
        Assert.Equal((1 + 2 / 3.0) / 4, m["weighted_f1"], 12);
        Assert.Equal(0.5, m["accuracy_best_constant_classifier"], 12);
        Assert.Equal(0.25, m["weighted_precision_best_constant_classifier"], 12);
        Assert.Equal(1 / 3.0, m["weighted_f1_best_constant_classifier"], 12);
    }

    [Fact]
    public void Regression_ErrorsR2_AndBestConstants()
    {
        RegressionRow[] rows = [new(1, 1), new(2, 2), new(3, 3), new(4, 5)];
        var m = ModelQualityMetrics.Regression(rows);
        Assert.Equal(0.25, m["mae"], 12);
        Assert.Equal(0.25, m["mse"], 12);
        Assert.Equal(0.5, m["rmse"], 12);
        Assert.Equal(1 - 1 / 5.0, m["r2"], 12);                  // Σ(y − ȳ)² = 5
        Assert.Equal(1, m["mae_best_constant_classifier"], 12);  // |y − 2.5|
        Assert.Equal(1.25, m["mse_best_constant_classifier"], 12);
    }

    [Fact]
    public void BinaryWithDeviation_SortedOnceWithMasks_EqualsTheMetricsOnEachSample()
    {
        // Rounded probabilities so ties cross the sample boundaries.
        var random = new Random(8);
        var rows = Enumerable.Range(0, 1_000).Select(_ => { var p = Math.Round(random.NextDouble(), 2); return new BinaryRow(random.NextDouble() < p, p >= 0.5, p); }).ToArray();
        var fast = ModelQualityMetrics.BinaryWithDeviation(rows);
        var generic = ModelQualityMetrics.WithDeviation(rows, ModelQualityMetrics.Binary);
        Assert.Equal(generic.Keys.Order(), fast.Keys.Order());
        foreach (var (k, v) in generic)
        {
            Assert.Equal(v.Value, fast[k].Value, 12);
            Assert.Equal(v.StandardDeviation!.Value, fast[k].StandardDeviation!.Value, 12);
        }
    }

    [Fact]
    public void Deviation_OnlyFrom200Labels_Repeatable_AndBracketsTheValue()
    {
        var random = new Random(3);
        var rows = Enumerable.Range(0, 250).Select(_ => { var p = random.NextDouble(); return new BinaryRow(random.NextDouble() < p, p >= 0.5, p); }).ToArray();
        var a = ModelQualityMetrics.WithDeviation(rows, ModelQualityMetrics.Binary);
        var b = ModelQualityMetrics.WithDeviation(rows, ModelQualityMetrics.Binary);
        Assert.Equal(a["auc"], b["auc"]);
        Assert.NotNull(a["auc"].StandardDeviation);
        Assert.InRange(a["auc"].StandardDeviation!.Value, 1e-6, 0.1);
        Assert.True(a["auc"].Lower < a["auc"].Value && a["auc"].Value < a["auc"].Upper);
        Assert.Null(ModelQualityMetrics.WithDeviation(rows[..199], ModelQualityMetrics.Binary)["auc"].StandardDeviation);
    }

    [Fact]
    public void Isotonic_PoolsViolators_InterpolatesAndClips()
    {
        var c = IsotonicCalibrator.Fit([0.1, 0.2, 0.3, 0.4], [false, true, false, true]); // fitted 0, ½, ½, 1
        Assert.Equal(0, c.Predict(0.05), 12);
        Assert.Equal(0.5, c.Predict(0.25), 12);
        Assert.Equal(0.75, c.Predict(0.35), 12);
        Assert.Equal(1, c.Predict(0.9), 12);
    }

    [Fact]
    public void Isotonic_PredictAscending_EqualsPredictPerScore()
    {
        var random = new Random(4);
        var scores = Enumerable.Range(0, 500).Select(_ => Math.Round(random.NextDouble(), 2)).ToArray();
        var c = IsotonicCalibrator.Fit(scores, scores.Select(s => random.NextDouble() < s).ToArray());
        var queries = Enumerable.Range(-5, 111).Select(i => i / 100.0 + (i % 3 == 0 ? 0.005 : 0)).Order().ToArray();
        var swept = new double[queries.Length];
        c.PredictAscending(queries, swept);
        for (var i = 0; i < queries.Length; i++) Assert.Equal(c.Predict(queries[i]), swept[i], 12);
    }

    [Fact]
    public void Cbpe_ExpectedConfusionMatrix_ByHand()
    {
        // Calibrated: 0.2 → 1 of 5 positive, 0.8 → 4 of 5.
        var reference = Enumerable.Repeat(0.2, 5).Select((s, i) => (s, i == 0)).Concat(Enumerable.Repeat(0.8, 5).Select((s, i) => (s, i < 4))).ToArray();
        var calibrator = IsotonicCalibrator.Fit(reference.Select(r => r.Item1).ToArray(), reference.Select(r => r.Item2).ToArray());
        var m = Cbpe.Expected([0.2, 0.8, 0.8], [false, true, true], calibrator);
        // TP = 1.6, FP = 0.4, FN = 0.2, TN = 0.8.
        Assert.Equal(0.8, m["accuracy"], 12);
        Assert.Equal(0.8, m["precision"], 12);
        Assert.Equal(1.6 / 1.8, m["recall"], 12);
        Assert.Equal(3.2 / 3.8, m["f1"], 12);
        // Expected ROC: (0, 0) → (1/3, 8/9) → (1, 1): 1/3 · 8/9 / 2 + 2/3 · (8/9 + 1) / 2 = 7/9.
        Assert.Equal(7 / 9.0, m["auc"], 12);
    }

    [Fact]
    public void Cbpe_OnCalibratedScores_EstimatesTheRealisedAucWithinItsBand()
    {
        var random = new Random(11);
        BinaryRow Draw() { var p = random.NextDouble(); return new BinaryRow(random.NextDouble() < p, p >= 0.5, p); }
        var reference = Enumerable.Range(0, 20_000).Select(_ => Draw()).ToArray();
        var chunk = Enumerable.Range(0, 5_000).Select(_ => Draw()).ToArray();
        var estimate = Cbpe.Estimate(reference, chunk.Select(r => r.Probability!.Value).ToArray(), chunk.Select(r => r.Predicted).ToArray());
        var realised = ModelQualityMetrics.Binary(chunk);
        foreach (var metric in new[] { "auc", "accuracy", "precision", "recall", "f1" })
        {
            var e = estimate[metric];
            Assert.InRange(realised[metric], e.Lower, e.Upper);
            Assert.InRange(e.SamplingError, 1e-4, 0.05);
        }
    }

    [Fact]
    public void Cbpe_SamplingError_DoesNotDependOnTheOrderTheReferenceWasRead()
    {
        // Capture objects from several Serving replicas list in no fixed order: the same rows must give the same band.
        var random = new Random(5);
        BinaryRow Draw() { var p = random.NextDouble(); return new BinaryRow(random.NextDouble() < p, p >= 0.5, p); }
        var reference = Enumerable.Range(0, 1_000).Select(_ => Draw()).ToArray();
        var chunk = Enumerable.Range(0, 1_000).Select(_ => Draw()).ToArray();
        var (scores, predicted) = (chunk.Select(r => r.Probability!.Value).ToArray(), chunk.Select(r => r.Predicted).ToArray());
        var shuffled = reference.OrderBy(_ => random.Next()).ToArray();
        var (a, b) = (Cbpe.Estimate(reference, scores, predicted), Cbpe.Estimate(shuffled, scores, predicted));
        foreach (var metric in new[] { "auc", "accuracy", "precision", "recall", "f1" })
            Assert.Equal(a[metric], b[metric]);
    }
}
