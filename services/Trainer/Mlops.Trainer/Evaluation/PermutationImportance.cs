using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Evaluation;

/// <summary>How much the primary metric worsens when one input column's values are shuffled (mean and spread over repeats).</summary>
public sealed record FeatureImportance(string Column, string Metric, double Importance, double StandardDeviation);

/// <summary>
/// Permutation feature importance over the model's input columns. ML.NET's own PFI permutes slots of the
/// featurized vector (one per one-hot category or timestamp part); explaining a model to its users needs
/// the columns they supply, so this shuffles raw columns and scores through the whole model.
/// </summary>
public static class PermutationImportance
{
    public static IReadOnlyList<FeatureImportance> Compute(ModelEvaluator evaluator, DataTable table, IEnumerable<string> columns, int seed, int repeats = 3)
    {
        var (metric, higherIsBetter) = evaluator.Primary;
        var baseline = evaluator.PrimaryMetric(table);
        var random = new Random(seed);
        var results = new List<FeatureImportance>();
        foreach (var column in columns)
        {
            var drops = new double[repeats];
            for (var r = 0; r < repeats; r++)
            {
                var order = Enumerable.Range(0, table.RowCount).ToArray();
                random.Shuffle(order);
                var permuted = evaluator.PrimaryMetric(table.With(table[column].Select(order)));
                drops[r] = higherIsBetter ? baseline - permuted : permuted - baseline;
            }

            var mean = drops.Average();
            results.Add(new FeatureImportance(column, metric, mean, Math.Sqrt(drops.Average(d => (d - mean) * (d - mean)))));
        }

        return [.. results.OrderByDescending(r => r.Importance)];
    }
}
