namespace Mlops.Monitor.Features.Quality;

/// <summary>A metric as Model Monitor reports it: the value and, with at least 200 labels, its standard deviation.</summary>
/// <param name="StandardDeviation">Model Monitor's: the metric on five random 80% samples (without replacement), their sample
/// standard deviation (n − 1); null below <see cref="ModelQualityMetrics.MinLabelsForDeviation"/> labels.</param>
/// <param name="Lower">A 95% interval from that deviation: value ± 1.96 σ (null without a deviation).</param>
public sealed record MetricValue(double Value, double? StandardDeviation = null, double? Lower = null, double? Upper = null);

/// <summary>One labelled prediction of a binary classifier: the label, the predicted label, and the positive-class probability if any.</summary>
public readonly record struct BinaryRow(bool Label, bool Predicted, double? Probability);

public readonly record struct MulticlassRow(string Label, string Predicted);

public readonly record struct RegressionRow(double Label, double Predicted);

/// <summary>Model Monitor's binary confusion matrix, keyed actual label → predicted label ("0"/"1").</summary>
public sealed record ConfusionMatrix(long TruePositives, long FalsePositives, long TrueNegatives, long FalseNegatives)
{
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> AsModelMonitor() => new Dictionary<string, IReadOnlyDictionary<string, long>>
    {
        ["0"] = new Dictionary<string, long> { ["0"] = TrueNegatives, ["1"] = FalsePositives },
        ["1"] = new Dictionary<string, long> { ["0"] = FalseNegatives, ["1"] = TruePositives },
    };
}

/// <summary>
/// Model quality from joined labels, with Model Monitor's metrics and definitions: binary (confusion matrix, accuracy,
/// precision, recall, rates, F0.5/F1/F2, AUC, log-loss, and the best constant classifier — Model Monitor's is the one that
/// always predicts the positive class: recall 1, precision and accuracy = the positive share), multiclass (accuracy and
/// support-weighted precision, recall, F1, with the constant classifier that predicts the most frequent label), regression
/// (MAE, MSE, RMSE, R², with the best constants: the median for MAE, the mean for MSE/RMSE, R² 0).
/// Undefined metrics (precision with no predicted positive, AUC with one class) are NaN.
/// </summary>
public static class ModelQualityMetrics
{
    public const int MinLabelsForDeviation = 200;
    private const int Samples = 5;
    private const double SampleShare = 0.8;
    private const double LogLossEpsilon = 1e-15;

    public static ConfusionMatrix Confusion(IReadOnlyList<BinaryRow> rows)
    {
        long tp = 0, fp = 0, tn = 0, fn = 0;
        foreach (var r in rows)
        {
            if (r.Predicted) { if (r.Label) tp++; else fp++; }
            else if (r.Label) fn++; else tn++;
        }
        return new ConfusionMatrix(tp, fp, tn, fn);
    }

    /// <summary>Every binary metric by name (the names Model Monitor uses), plain values.</summary>
    public static Dictionary<string, double> Binary(IReadOnlyList<BinaryRow> rows) => new BinaryColumns(rows).Metrics(null);

    /// <summary>
    /// The binary metrics with Model Monitor's deviation — the same numbers as <see cref="WithDeviation{T}"/> with
    /// <see cref="Binary"/> — but the rows are sorted by probability once and each 80% sample is a mask over that order, so
    /// six AUCs over a million rows cost one sort.
    /// </summary>
    public static Dictionary<string, MetricValue> BinaryWithDeviation(IReadOnlyList<BinaryRow> rows, int seed = 17)
    {
        var columns = new BinaryColumns(rows);
        var include = new bool[rows.Count];
        return Deviation(rows.Count, () => columns.Metrics(null), (index, take) =>
        {
            Array.Clear(include);
            for (var i = 0; i < take; i++) include[index[i]] = true;
            return columns.Metrics(include);
        }, seed);
    }

    /// <summary>ROC AUC by the rank-sum (Mann–Whitney) identity, tied scores sharing their average rank (sklearn's value).</summary>
    public static double Auc(IReadOnlyList<BinaryRow> rows) => new BinaryColumns(rows).Auc(null);

    /// <summary>Mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15] (sklearn's log_loss).</summary>
    public static double LogLoss(IReadOnlyList<BinaryRow> rows)
    {
        double sum = 0;
        foreach (var r in rows) sum += LogLossTerm(r.Label, r.Probability!.Value);
        return sum / rows.Count;
    }

    private static double LogLossTerm(bool label, double probability)
    {
        var p = Math.Clamp(probability, LogLossEpsilon, 1 - LogLossEpsilon);
        return label ? -Math.Log(p) : -Math.Log(1 - p);
    }

    /// <summary>
    /// Binary rows as columns, with the row order by probability computed once (Array.Sort of the keys with an index array);
    /// metrics over a subset (a mask) walk that order instead of sorting again.
    /// </summary>
    private sealed class BinaryColumns
    {
        private readonly bool[] label;
        private readonly bool[] predicted;
        private readonly double[]? probability;
        private double[]? sortedProbability;
        private int[]? order;

        public BinaryColumns(IReadOnlyList<BinaryRow> rows)
        {
            label = new bool[rows.Count];
            predicted = new bool[rows.Count];
            probability = rows.Count > 0 ? new double[rows.Count] : null;
            for (var i = 0; i < rows.Count; i++)
            {
                var r = rows[i];
                label[i] = r.Label;
                predicted[i] = r.Predicted;
                if (probability is not null)
                {
                    if (r.Probability is { } p) probability[i] = p;
                    else probability = null;
                }
            }
        }

        public Dictionary<string, double> Metrics(bool[]? include)
        {
            double tp = 0, fp = 0, tn = 0, fn = 0, n = 0, logLoss = 0;
            for (var i = 0; i < label.Length; i++)
            {
                if (include is not null && !include[i]) continue;
                n++;
                if (predicted[i]) { if (label[i]) tp++; else fp++; }
                else if (label[i]) fn++; else tn++;
                if (probability is not null) logLoss += LogLossTerm(label[i], probability[i]);
            }
            var precision = Ratio(tp, tp + fp);
            var recall = Ratio(tp, tp + fn);
            var prevalence = Ratio(tp + fn, n);
            var m = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["accuracy"] = Ratio(tp + tn, n),
                ["precision"] = precision,
                ["recall"] = recall,
                ["true_positive_rate"] = recall,
                ["true_negative_rate"] = Ratio(tn, tn + fp),
                ["false_positive_rate"] = Ratio(fp, fp + tn),
                ["false_negative_rate"] = Ratio(fn, fn + tp),
                ["f0_5"] = FBeta(precision, recall, 0.5),
                ["f1"] = FBeta(precision, recall, 1),
                ["f2"] = FBeta(precision, recall, 2),
                // Always predicting the positive class: recall 1, precision = accuracy = the positive share.
                ["recall_best_constant_classifier"] = tp + fn > 0 ? 1 : double.NaN,
                ["precision_best_constant_classifier"] = prevalence,
                ["accuracy_best_constant_classifier"] = prevalence,
                ["f0_5_best_constant_classifier"] = FBeta(prevalence, 1, 0.5),
                ["f1_best_constant_classifier"] = FBeta(prevalence, 1, 1),
                ["f2_best_constant_classifier"] = FBeta(prevalence, 1, 2),
            };
            if (n > 0 && probability is not null)
            {
                m["auc"] = Auc(include);
                m["log_loss"] = logLoss / n;
            }
            return m;
        }

        /// <summary>Rank-sum AUC over the included rows: ties (equal probabilities) share the average of their ranks among the included.</summary>
        public double Auc(bool[]? include)
        {
            if (probability is null) return double.NaN;
            if (order is null)
            {
                sortedProbability = (double[])probability.Clone();
                order = new int[probability.Length];
                for (var i = 0; i < order.Length; i++) order[i] = i;
                Array.Sort(sortedProbability, order);
            }
            var keys = sortedProbability!;
            double rankSum = 0;
            long rank = 0, positives = 0;
            for (var i = 0; i < keys.Length;)
            {
                var j = i;
                long count = 0, groupPositives = 0;
                for (; j < keys.Length && keys[j] == keys[i]; j++)
                {
                    var row = order[j];
                    if (include is not null && !include[row]) continue;
                    count++;
                    if (label[row]) groupPositives++;
                }
                rankSum += groupPositives * (rank + (count + 1) / 2.0); // ranks rank+1 … rank+count
                rank += count;
                positives += groupPositives;
                i = j;
            }
            var negatives = rank - positives;
            if (positives == 0 || negatives == 0) return double.NaN;
            return (rankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
        }
    }

    /// <summary>Accuracy and support-weighted precision, recall and F1 (sklearn's average="weighted"), and the majority-label constant's.</summary>
    public static Dictionary<string, double> Multiclass(IReadOnlyList<MulticlassRow> rows)
    {
        var labels = rows.Select(r => r.Label).Concat(rows.Select(r => r.Predicted)).Distinct(StringComparer.Ordinal).ToList();
        double n = rows.Count, correct = rows.Count(r => r.Label == r.Predicted);
        double wp = 0, wr = 0, wf = 0;
        foreach (var label in labels)
        {
            double support = rows.Count(r => r.Label == label);
            if (support == 0) continue; // weight 0
            double tp = rows.Count(r => r.Label == label && r.Predicted == label);
            double predicted = rows.Count(r => r.Predicted == label);
            var p = predicted == 0 ? 0 : tp / predicted; // sklearn's zero_division=0 under weighting
            var rc = tp / support;
            var f = p + rc == 0 ? 0 : 2 * p * rc / (p + rc);
            wp += support * p; wr += support * rc; wf += support * f;
        }
        var majority = rows.GroupBy(r => r.Label, StringComparer.Ordinal).Select(g => (double)g.Count() / n).DefaultIfEmpty(double.NaN).Max();
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["accuracy"] = Ratio(correct, n),
            ["weighted_precision"] = n == 0 ? double.NaN : wp / n,
            ["weighted_recall"] = n == 0 ? double.NaN : wr / n,
            ["weighted_f1"] = n == 0 ? double.NaN : wf / n,
            // Predicting the most frequent label m (share s): accuracy s; recall 1 on m, 0 elsewhere → weighted s;
            // precision s on m, 0 elsewhere → weighted s²; F1 2s/(1 + s) on m → weighted 2s²/(1 + s).
            ["accuracy_best_constant_classifier"] = majority,
            ["weighted_recall_best_constant_classifier"] = majority,
            ["weighted_precision_best_constant_classifier"] = majority * majority,
            ["weighted_f1_best_constant_classifier"] = 2 * majority * majority / (1 + majority),
        };
    }

    public static Dictionary<string, double> Regression(IReadOnlyList<RegressionRow> rows)
    {
        double n = rows.Count;
        if (n == 0) return new Dictionary<string, double>(StringComparer.Ordinal) { ["mae"] = double.NaN, ["mse"] = double.NaN, ["rmse"] = double.NaN, ["r2"] = double.NaN };
        double abs = 0, sq = 0, mean = rows.Average(r => r.Label), ss = 0;
        foreach (var r in rows)
        {
            var e = r.Label - r.Predicted;
            abs += Math.Abs(e);
            sq += e * e;
            ss += (r.Label - mean) * (r.Label - mean);
        }
        var sorted = rows.Select(r => r.Label).Order().ToArray();
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        var maeConstant = rows.Sum(r => Math.Abs(r.Label - median)) / n;
        return new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["mae"] = abs / n,
            ["mse"] = sq / n,
            ["rmse"] = Math.Sqrt(sq / n),
            ["r2"] = ss == 0 ? double.NaN : 1 - sq / ss,
            ["mae_best_constant_classifier"] = maeConstant,
            ["mse_best_constant_classifier"] = ss / n,
            ["rmse_best_constant_classifier"] = Math.Sqrt(ss / n),
            ["r2_best_constant_classifier"] = 0,
        };
    }

    /// <summary>
    /// The metrics with Model Monitor's deviation: computed on the rows, then on five random 80% samples without replacement
    /// (seeded, so a run's numbers repeat) when there are at least 200 rows.
    /// </summary>
    public static Dictionary<string, MetricValue> WithDeviation<T>(IReadOnlyList<T> rows, Func<IReadOnlyList<T>, Dictionary<string, double>> metrics, int seed = 17) =>
        Deviation(rows.Count, () => metrics(rows), (index, take) => metrics(index.Take(take).Select(i => rows[i]).ToArray()), seed);

    /// <summary>The metrics on all rows, then on five seeded 80% samples (index[0..take) of a partial Fisher–Yates) from 200 rows.</summary>
    private static Dictionary<string, MetricValue> Deviation(int count, Func<Dictionary<string, double>> all,
        Func<int[], int, Dictionary<string, double>> sampleMetrics, int seed)
    {
        var values = all();
        if (count < MinLabelsForDeviation)
            return values.ToDictionary(p => p.Key, p => new MetricValue(p.Value));
        var random = new Random(seed);
        var take = (int)Math.Floor(count * SampleShare);
        var index = new int[count];
        for (var i = 0; i < index.Length; i++) index[i] = i;
        var samples = new List<Dictionary<string, double>>();
        for (var s = 0; s < Samples; s++)
        {
            // Partial Fisher–Yates: the first `take` positions are a uniform sample without replacement.
            for (var i = 0; i < take; i++)
            {
                var j = random.Next(i, index.Length);
                (index[i], index[j]) = (index[j], index[i]);
            }
            samples.Add(sampleMetrics(index, take));
        }
        return values.ToDictionary(p => p.Key, p =>
        {
            var xs = samples.Select(x => x.GetValueOrDefault(p.Key, double.NaN)).ToArray();
            if (xs.Any(double.IsNaN) || !double.IsFinite(p.Value)) return new MetricValue(p.Value);
            var mean = xs.Average();
            var sd = Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Length - 1));
            return new MetricValue(p.Value, sd, p.Value - 1.96 * sd, p.Value + 1.96 * sd);
        });
    }

    private static double Ratio(double a, double b) => b == 0 ? double.NaN : a / b;

    private static double FBeta(double precision, double recall, double beta)
    {
        if (double.IsNaN(precision) || double.IsNaN(recall)) return double.NaN;
        var b2 = beta * beta;
        var d = b2 * precision + recall;
        return d == 0 ? 0 : (1 + b2) * precision * recall / d;
    }
}
