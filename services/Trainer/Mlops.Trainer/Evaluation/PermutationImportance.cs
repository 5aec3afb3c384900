using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Evaluation;

/// <summary>
/// Permutation feature importance over the model's input columns. ML.NET's own PFI permutes slots of the
/// featurized vector (one per one-hot category or timestamp part); explaining a model to its users needs
/// the columns they supply, so this shuffles raw columns and scores through the whole model (the primary metric).
/// </summary>
public static class PermutationImportance
{
    public static IReadOnlyList<FeatureImportance> Compute(ModelEvaluator evaluator, DataTable table, IEnumerable<string> columns, int seed,
        int repeats = ColumnPermutation.DefaultRepeats)
    {
        var (metric, higherIsBetter) = evaluator.Primary;
        return ColumnPermutation.Importance(table, columns, metric, higherIsBetter, evaluator.PrimaryMetric, seed, repeats);
    }
}
