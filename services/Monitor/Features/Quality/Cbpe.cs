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
        // Distinct scores with their label means and weights, ascending.
        var groups = scores.Select((s, i) => (S: s, L: labels[i] ? 1.0 : 0.0)).GroupBy(p => p.S).OrderBy(g => g.Key)
            .Select(g => (X: g.Key, Sum: g.Sum(p => p.L), W: (double)g.Count())).ToList();
        // PAVA over blocks: merge while a block's mean exceeds the next one's.
        var blocks = new List<(double Sum, double W, int First, int Last)>();
        for (var i = 0; i < groups.Count; i++)
        {
            blocks.Add((groups[i].Sum, groups[i].W, i, i));
            while (blocks.Count > 1 && blocks[^2].Sum / blocks[^2].W > blocks[^1].Sum / blocks[^1].W)
            {
                var (b, a) = (blocks[^1], blocks[^2]);
                blocks.RemoveRange(blocks.Count - 2, 2);
                blocks.Add((a.Sum + b.Sum, a.W + b.W, a.First, b.Last));
            }
        }
        var fitted = new double[groups.Count];
        foreach (var b in blocks)
            for (var i = b.First; i <= b.Last; i++) fitted[i] = b.Sum / b.W;
        return new IsotonicCalibrator(groups.Select(g => g.X).ToArray(), fitted);
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
/// realised metric over bootstrap samples of the chunk's size drawn from the reference (seeded); chunks over 20,000 rows
/// are bootstrapped at 20,000 and the deviation scaled by √(20,000/n).
/// </summary>
public static class Cbpe
{
    private const int BootstrapSamples = 30;
    private const int MaxBootstrapSize = 20_000;

    public static Dictionary<string, double> Expected(IReadOnlyList<double> scores, IReadOnlyList<bool> predicted, IsotonicCalibrator calibrator)
    {
        double tp = 0, fp = 0, fn = 0, tn = 0;
        var calibrated = new double[scores.Count];
        for (var i = 0; i < scores.Count; i++)
        {
            var p = calibrated[i] = Math.Clamp(calibrator.Predict(scores[i]), 0, 1);
            if (predicted[i]) { tp += p; fp += 1 - p; }
            else { fn += p; tn += 1 - p; }
        }
        double n = scores.Count;
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["accuracy"] = n == 0 ? double.NaN : (tp + tn) / n,
            ["precision"] = tp + fp == 0 ? double.NaN : tp / (tp + fp),
            ["recall"] = tp + fn == 0 ? double.NaN : tp / (tp + fn),
            ["f1"] = 2 * tp + fp + fn == 0 ? double.NaN : 2 * tp / (2 * tp + fp + fn),
            ["auc"] = ExpectedAuc(scores, calibrated),
        };
    }

    /// <summary>The area under the expected ROC curve: thresholds at the distinct scores (descending), trapezoids between them.</summary>
    public static double ExpectedAuc(IReadOnlyList<double> scores, IReadOnlyList<double> calibrated)
    {
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        double totalP = calibrated.Sum(), totalN = calibrated.Count - totalP;
        if (totalP <= 0 || totalN <= 0) return double.NaN;
        double tps = 0, fps = 0, area = 0, prevTpr = 0, prevFpr = 0;
        for (var k = 0; k < order.Length;)
        {
            var s = scores[order[k]];
            while (k < order.Length && scores[order[k]] == s)
            {
                tps += calibrated[order[k]];
                fps += 1 - calibrated[order[k]];
                k++;
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
        var calibrator = IsotonicCalibrator.Fit(reference.Select(r => r.Probability!.Value).ToArray(), reference.Select(r => r.Label).ToArray());
        var expected = Expected(scores, predicted, calibrator);
        var random = new Random(seed);
        var realised = new List<Dictionary<string, double>>();
        // A metric's sampling error falls as 1/√n: bootstrap at most MaxBootstrapSize rows and scale to the chunk's size.
        var size = Math.Min(scores.Count, MaxBootstrapSize);
        var scale = scores.Count == 0 ? 1 : Math.Sqrt((double)size / scores.Count);
        var sample = new BinaryRow[size];
        for (var b = 0; b < BootstrapSamples && scores.Count > 0; b++)
        {
            for (var i = 0; i < sample.Length; i++) sample[i] = reference[random.Next(reference.Count)];
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
