namespace Mlops.Monitor.Features.Quality;

/// <summary>
/// Isotonic regression of labels on scores (pool-adjacent-violators), predicting by linear interpolation between the
/// fitted values at the distinct scores and clipping outside them, as scikit-learn's IsotonicRegression(out_of_bounds="clip").
/// </summary>
public sealed class IsotonicCalibrator
{
    private readonly double[] x;
    private readonly double[] y;

    private IsotonicCalibrator(double[] x, double[] y) => (this.x, this.y) = (x, y);

    public static IsotonicCalibrator Fit(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        if (scores.Count == 0) throw new ArgumentException("No reference rows to calibrate on.");
        // Scores sorted once with their labels; distinct scores with their label sums and weights, ascending.
        var keys = new double[scores.Count];
        var ys = new double[scores.Count];
        for (var i = 0; i < keys.Length; i++) (keys[i], ys[i]) = (scores[i], labels[i] ? 1.0 : 0.0);
        Array.Sort(keys, ys);
        var xs = new List<double>();
        var sums = new List<double>();
        var weights = new List<double>();
        for (var i = 0; i < keys.Length;)
        {
            var j = i;
            double sum = 0;
            for (; j < keys.Length && keys[j] == keys[i]; j++) sum += ys[j];
            xs.Add(keys[i]);
            sums.Add(sum);
            weights.Add(j - i);
            i = j;
        }
        // PAVA over blocks: merge while a block's mean exceeds the next one's.
        var blocks = new List<(double Sum, double W, int First, int Last)>();
        for (var i = 0; i < xs.Count; i++)
        {
            blocks.Add((sums[i], weights[i], i, i));
            while (blocks.Count > 1 && blocks[^2].Sum / blocks[^2].W > blocks[^1].Sum / blocks[^1].W)
            {
                var (last, before) = (blocks[^1], blocks[^2]);
                blocks.RemoveRange(blocks.Count - 2, 2);
                blocks.Add((before.Sum + last.Sum, before.W + last.W, before.First, last.Last));
            }
        }
        var fitted = new double[xs.Count];
        foreach (var block in blocks)
            for (var i = block.First; i <= block.Last; i++) fitted[i] = block.Sum / block.W;
        return new IsotonicCalibrator(xs.ToArray(), fitted);
    }

    /// <summary><see cref="Predict"/> for scores in ascending order, by one sweep along the fitted knots.</summary>
    public void PredictAscending(ReadOnlySpan<double> ascending, Span<double> output)
    {
        var j = 0; // the first knot ≥ the score
        for (var k = 0; k < ascending.Length; k++)
        {
            var score = ascending[k];
            if (score <= x[0]) { output[k] = y[0]; continue; }
            if (score >= x[^1]) { output[k] = y[^1]; continue; }
            while (x[j] < score) j++;
            output[k] = x[j] == score ? y[j] : y[j - 1] + (y[j] - y[j - 1]) * (score - x[j - 1]) / (x[j] - x[j - 1]);
        }
    }

    public double Predict(double score)
    {
        if (score <= x[0]) return y[0];
        if (score >= x[^1]) return y[^1];
        var i = Array.BinarySearch(x, score);
        if (i >= 0) return y[i];
        i = ~i; // x[i − 1] < score < x[i]
        return y[i - 1] + (y[i] - y[i - 1]) * (score - x[i - 1]) / (x[i] - x[i - 1]);
    }
}

/// <summary>An estimated metric with its sampling error; the band NannyML draws is estimate ± 3σ.</summary>
public sealed record EstimatedMetric(double Value, double SamplingError, double Lower, double Upper);

/// <summary>
/// NannyML's confidence-based performance estimation for a binary classifier with probabilities, before labels arrive:
/// calibrate the scores on labelled reference data (isotonic), then treat each calibrated probability p as the expected
/// label: the expected confusion matrix is TP = Σ_{ŷ=1} p, FP = Σ_{ŷ=1} (1 − p), FN = Σ_{ŷ=0} p, TN = Σ_{ŷ=0} (1 − p),
/// from which accuracy, precision, recall and F1 follow; the expected ROC curve ranks rows by score with cumulative
/// expected positives and negatives, and its area is the AUC estimate. Sampling error: the standard deviation of the
/// realised metric over bootstrap samples of the chunk's size drawn from the reference (seeded, in a canonical order); chunks over 20,000 rows
/// are bootstrapped at 20,000 and the deviation scaled by √(20,000/n).
/// </summary>
public static class Cbpe
{
    private const int BootstrapSamples = 30;
    private const int MaxBootstrapSize = 20_000;

    public static Dictionary<string, double> Expected(IReadOnlyList<double> scores, IReadOnlyList<bool> predicted, IsotonicCalibrator calibrator)
    {
        // Sorted once by score (Array.Sort on keys with an index array): calibration is then a sweep along the calibrator's
        // knots instead of a binary search per row, and the expected ROC curve walks the same order from the top.
        var keys = new double[scores.Count];
        var order = new int[scores.Count];
        for (var i = 0; i < keys.Length; i++) (keys[i], order[i]) = (scores[i], i);
        Array.Sort(keys, order);
        var calibrated = new double[keys.Length];
        calibrator.PredictAscending(keys, calibrated);
        double tp = 0, fp = 0, fn = 0, tn = 0;
        for (var k = 0; k < keys.Length; k++)
        {
            var p = calibrated[k] = Math.Clamp(calibrated[k], 0, 1);
            if (predicted[order[k]]) { tp += p; fp += 1 - p; }
            else { fn += p; tn += 1 - p; }
        }
        double n = scores.Count;
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["accuracy"] = n == 0 ? double.NaN : (tp + tn) / n,
            ["precision"] = tp + fp == 0 ? double.NaN : tp / (tp + fp),
            ["recall"] = tp + fn == 0 ? double.NaN : tp / (tp + fn),
            ["f1"] = 2 * tp + fp + fn == 0 ? double.NaN : 2 * tp / (2 * tp + fp + fn),
            ["auc"] = SortedExpectedAuc(keys, calibrated),
        };
    }

    /// <summary>
    /// The area under the expected ROC curve: thresholds at the distinct scores (descending), trapezoids between them.
    /// The scores are sorted once, ascending with their calibrated probabilities (Array.Sort on keys and items), and walked from the top.
    /// </summary>
    public static double ExpectedAuc(IReadOnlyList<double> scores, IReadOnlyList<double> calibrated)
    {
        var keys = new double[scores.Count];
        var expected = new double[scores.Count];
        for (var i = 0; i < keys.Length; i++) (keys[i], expected[i]) = (scores[i], calibrated[i]);
        Array.Sort(keys, expected);
        return SortedExpectedAuc(keys, expected);
    }

    /// <summary>The expected ROC area over scores sorted ascending with their calibrated probabilities.</summary>
    private static double SortedExpectedAuc(double[] keys, double[] expected)
    {
        double totalP = 0;
        foreach (var p in expected) totalP += p;
        var totalN = keys.Length - totalP;
        if (totalP <= 0 || totalN <= 0) return double.NaN;
        double tps = 0, fps = 0, area = 0, prevTpr = 0, prevFpr = 0;
        for (var k = keys.Length - 1; k >= 0;)
        {
            var s = keys[k];
            for (; k >= 0 && keys[k] == s; k--)
            {
                tps += expected[k];
                fps += 1 - expected[k];
            }
            double tpr = tps / totalP, fpr = fps / totalN;
            area += (fpr - prevFpr) * (tpr + prevTpr) / 2;
            (prevTpr, prevFpr) = (tpr, fpr);
        }
        return area;
    }

    /// <summary>Estimates for a chunk (its scores and predicted labels) with sampling errors from the labelled reference.</summary>
    public static Dictionary<string, EstimatedMetric> Estimate(IReadOnlyList<BinaryRow> reference, IReadOnlyList<double> scores, IReadOnlyList<bool> predicted,
        int seed = 17)
    {
        var referenceScores = new double[reference.Count];
        var referenceLabels = new bool[reference.Count];
        for (var i = 0; i < reference.Count; i++) (referenceScores[i], referenceLabels[i]) = (reference[i].Probability!.Value, reference[i].Label);
        var calibrator = IsotonicCalibrator.Fit(referenceScores, referenceLabels);
        var expected = Expected(scores, predicted, calibrator);
        // The bootstrap draws from the reference in a canonical order (by score, then label, then prediction), so the same
        // reference rows give the same sampling error whatever order they were read in (capture objects from several
        // replicas list in no fixed order).
        var canonical = reference.OrderBy(r => r.Probability).ThenBy(r => r.Label).ThenBy(r => r.Predicted).ToArray();
        var random = new Random(seed);
        var realised = new List<Dictionary<string, double>>();
        // A metric's sampling error falls as 1/√n: bootstrap at most MaxBootstrapSize rows and scale to the chunk's size.
        var size = Math.Min(scores.Count, MaxBootstrapSize);
        var scale = scores.Count == 0 ? 1 : Math.Sqrt((double)size / scores.Count);
        var sample = new BinaryRow[size];
        for (var b = 0; b < BootstrapSamples && scores.Count > 0; b++)
        {
            for (var i = 0; i < sample.Length; i++) sample[i] = canonical[random.Next(canonical.Length)];
            var m = ModelQualityMetrics.Binary(sample);
            realised.Add(m);
        }
        return expected.ToDictionary(p => p.Key, p =>
        {
            var xs = realised.Select(m => m.GetValueOrDefault(p.Key, double.NaN)).Where(double.IsFinite).ToArray();
            var sd = xs.Length < 2 ? double.NaN : scale * Math.Sqrt(xs.Sum(x => (x - xs.Average()) * (x - xs.Average())) / (xs.Length - 1));
            return new EstimatedMetric(p.Value, sd, p.Value - 3 * sd, p.Value + 3 * sd);
        });
    }
}
