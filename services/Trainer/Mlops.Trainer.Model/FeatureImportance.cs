using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Model;

/// <summary>How much the primary metric worsens when one input column's values are shuffled (mean and spread over repeats).</summary>
public sealed record FeatureImportance(string Column, string Metric, double Importance, double StandardDeviation);

/// <summary>
/// package.json's <c>feature_importance</c>: the permutation importance the trainer measured on a sample of the validation
/// channel (<see cref="Rows"/> rows, <see cref="Repeats"/> seeded shuffles per column with the package's seed), as the drop of
/// <see cref="Metric"/> (the rise, when lower is better). What a monitor compares the model's importance on current labelled
/// data with, measured the same way (<see cref="ColumnPermutation"/>).
/// </summary>
public sealed record RecordedImportance(string Metric, bool HigherIsBetter, string Channel, long Rows, int Repeats, IReadOnlyList<FeatureImportance> Columns);

/// <summary>
/// Permutation importance over raw input columns, for any metric of a table: each column's values shuffled among the rows
/// (<paramref name="repeats"/> seeded shuffles), the metric recomputed through the whole model, the mean and spread of its
/// worsening. The trainer (validation rows) and the monitor (current labelled rows) both measure it with this.
/// </summary>
public static class ColumnPermutation
{
    public const int DefaultRepeats = 3;

    public static IReadOnlyList<FeatureImportance> Importance(DataTable table, IEnumerable<string> columns, string metric, bool higherIsBetter,
        Func<DataTable, double> score, int seed, int repeats = DefaultRepeats)
    {
        var baseline = score(table);
        var random = new Random(seed);
        var results = new List<FeatureImportance>();
        foreach (var column in columns)
        {
            var drops = new double[repeats];
            for (var r = 0; r < repeats; r++)
            {
                var order = Enumerable.Range(0, table.RowCount).ToArray();
                random.Shuffle(order);
                var permuted = score(table.With(table[column].Select(order)));
                drops[r] = higherIsBetter ? baseline - permuted : permuted - baseline;
            }

            var mean = drops.Average();
            results.Add(new FeatureImportance(column, metric, mean, Math.Sqrt(drops.Average(d => (d - mean) * (d - mean)))));
        }

        return [.. results.OrderByDescending(r => r.Importance)];
    }
}
