namespace Mlops.Trainer.Evaluation;

/// <summary>Small metric helpers the diagnostics need on raw arrays (ML.NET's evaluators need a data view).</summary>
public static class Statistics
{
    /// <summary>Area under the ROC curve by the rank-sum formula, ties sharing their average rank.</summary>
    public static double Auc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double positives = labels.Count(l => l), negatives = labels.Count - positives;
        if (positives == 0 || negatives == 0)
        {
            return double.NaN;
        }

        double rankSum = 0;
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]])
            {
                j++;
            }

            var averageRank = (i + j) / 2.0 + 1;
            for (var k = i; k <= j; k++)
            {
                if (labels[order[k]])
                {
                    rankSum += averageRank;
                }
            }

            i = j + 1;
        }

        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
    }

    public static double Rmse(IReadOnlyList<double> predictions, IReadOnlyList<double> labels) =>
        Math.Sqrt(predictions.Select((p, i) => (p - labels[i]) * (p - labels[i])).Average());

    public static double RSquared(IReadOnlyList<double> predictions, IReadOnlyList<double> labels)
    {
        var mean = labels.Average();
        var total = labels.Sum(l => (l - mean) * (l - mean));
        var residual = predictions.Select((p, i) => (p - labels[i]) * (p - labels[i])).Sum();
        return total == 0 ? double.NaN : 1 - residual / total;
    }

    /// <summary>A reproducible sample of at most <paramref name="count"/> row indices, in ascending order.</summary>
    public static int[] Sample(int rows, int count, int seed)
    {
        if (count >= rows)
        {
            return [.. Enumerable.Range(0, rows)];
        }

        var all = Enumerable.Range(0, rows).ToArray();
        new Random(seed).Shuffle(all);
        return [.. all.Take(count).Order()];
    }
}
