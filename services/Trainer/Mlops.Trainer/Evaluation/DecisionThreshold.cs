using Mlops.Trainer.Model;

namespace Mlops.Trainer.Evaluation;

/// <summary>The confusion counts of a binary model at one decision threshold, and the metrics they give.</summary>
public sealed record ThresholdCounts(long TruePositives, long FalsePositives, long FalseNegatives, long TrueNegatives)
{
    public double Precision => Ratio(TruePositives, TruePositives + FalsePositives);

    public double Recall => Ratio(TruePositives, TruePositives + FalseNegatives);

    public double F1 => Ratio(2 * TruePositives, 2 * TruePositives + FalsePositives + FalseNegatives);

    public double Accuracy => Ratio(TruePositives + TrueNegatives, TruePositives + FalsePositives + FalseNegatives + TrueNegatives);

    public double NegativePrecision => Ratio(TrueNegatives, TrueNegatives + FalseNegatives);

    public double NegativeRecall => Ratio(TrueNegatives, TrueNegatives + FalsePositives);

    /// <summary>Counts with the package's rule for the predicted label (<see cref="ModelPackage.IsPositive"/>).</summary>
    public static ThresholdCounts At(IReadOnlyList<float> probabilities, IReadOnlyList<bool> labels, double threshold)
    {
        long tp = 0, fp = 0, fn = 0, tn = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            switch (labels[i], ModelPackage.IsPositive(probabilities[i], threshold))
            {
                case (true, true): tp++; break;
                case (false, true): fp++; break;
                case (true, false): fn++; break;
                default: tn++; break;
            }
        }

        return new ThresholdCounts(tp, fp, fn, tn);
    }

    // A metric with nothing to count (no predicted positives, say) is 0, as ML.NET's evaluator reports it.
    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
}

/// <summary>
/// The probability at or above which a binary model predicts true. 0.5 suits balanced classes only: on the flights
/// (a fifth of them delayed) it predicts almost no delays, so by default the threshold maximising F1 on the
/// validation channel is chosen, recorded in the package and applied by its scorer.
/// </summary>
public static class DecisionThreshold
{
    public const double Conventional = 0.5;

    /// <summary>
    /// The threshold with the highest F1 over every cut between distinct probabilities (ties keep the higher
    /// threshold), or null when the labels hold no positive, where F1 is 0 at every threshold.
    /// </summary>
    public static double? MaximisingF1(IReadOnlyList<float> probabilities, IReadOnlyList<bool> labels)
    {
        var positives = labels.LongCount(l => l);
        if (positives == 0)
        {
            return null;
        }

        var order = Enumerable.Range(0, labels.Count).Where(i => !float.IsNaN(probabilities[i])).OrderByDescending(i => probabilities[i]).ToArray();
        long truePositives = 0, falsePositives = 0;
        var (best, bestF1) = (Conventional, -1.0);
        for (var k = 0; k < order.Length; k++)
        {
            if (labels[order[k]])
            {
                truePositives++;
            }
            else
            {
                falsePositives++;
            }

            // Rows with equal probabilities fall on the same side of any threshold: score the cut after the last of them.
            if (k + 1 < order.Length && probabilities[order[k + 1]] == probabilities[order[k]])
            {
                continue;
            }

            var f1 = 2.0 * truePositives / (truePositives + falsePositives + positives);
            if (f1 > bestF1)
            {
                (best, bestF1) = (probabilities[order[k]], f1);
            }
        }

        return best;
    }
}
