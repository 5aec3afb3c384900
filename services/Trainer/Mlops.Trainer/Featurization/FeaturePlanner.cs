using Microsoft.ML;
using Microsoft.ML.Data;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Featurization;
using Mlops.Trainer.Model.Tabular;
using Mlops.Trainer.Options;

namespace Mlops.Trainer.Featurization;

/// <summary>The featurization chosen from the training data: what each input column becomes, and the estimator that does it.</summary>
public sealed record FeaturePlan(
    IReadOnlyList<TableColumn> Inputs,
    IReadOnlyList<FeatureTreatment> Treatments,
    IReadOnlyList<string> ConstantColumns,
    IEstimator<ITransformer> Estimator);

/// <summary>
/// Derives featurization from the training table's schema and statistics. All of it is ML.NET
/// transforms, so it is saved inside the model and Serving applies exactly what training applied.
/// </summary>
public static class FeaturePlanner
{
    public const string FeatureColumn = "__features";

    public static FeaturePlan Plan(MLContext ml, DataTable train, string label, TrainingOptions options, bool normalize)
    {
        CheckNamed(train, options.ExcludeColumns, "exclude_columns");
        CheckNamed(train, options.TextColumns, "text_columns");
        IEstimator<ITransformer> chain = new EstimatorChain<ITransformer>();
        var parts = new List<string>();
        var treatments = new List<FeatureTreatment>();
        var inputs = new List<TableColumn>();
        var constant = new List<string>();
        foreach (var column in train.Columns.Where(c => c.Name != label && !options.ExcludeColumns.Contains(c.Name)))
        {
            var kind = column.Kind.ToString().ToLowerInvariant();
            var distinct = Distinct(column);
            var timestampParts = column.Kind == ColumnKind.Timestamp ? VaryingParts(column) : null;
            if (distinct <= 1 || timestampParts is { Count: 0 })
            {
                // A column with one value (or none) carries no signal; keeping it would only widen the input contract.
                // A timestamp whose values differ only below the minute has no varying part either.
                constant.Add(column.Name);
                treatments.Add(new FeatureTreatment(column.Name, kind, "dropped: constant or entirely missing", distinct));
                continue;
            }

            inputs.Add(column);
            var feature = "__f_" + column.Name;
            parts.Add(feature);
            switch (column.Kind)
            {
                case ColumnKind.Number:
                {
                    // Imputation is always in the model: values can be missing at scoring time even if none were in training.
                    chain = chain.Append(ml.Transforms.ReplaceMissingValues(feature, column.Name));
                    var missing = Enumerable.Range(0, column.Length).Count(column.IsMissing);
                    if (missing > 0)
                    {
                        var indicator = "__m_" + column.Name;
                        chain = chain.Append(ml.Transforms.IndicateMissingValues(indicator, column.Name))
                            .Append(ml.Transforms.Conversion.ConvertType(indicator, indicator, DataKind.Single));
                        parts.Add(indicator);
                    }

                    treatments.Add(new FeatureTreatment(column.Name, kind,
                        $"number; missing → training mean{(missing > 0 ? $" plus a missing indicator ({missing} missing in training)" : "")}{(normalize ? "; min-max normalised" : "")}"));
                    break;
                }

                case ColumnKind.Boolean:
                    chain = chain.Append(ml.Transforms.Conversion.ConvertType(feature, column.Name, DataKind.Single));
                    treatments.Add(new FeatureTreatment(column.Name, kind, "boolean as 0/1"));
                    break;

                case ColumnKind.Text when options.TextColumns.Contains(column.Name):
                    chain = chain.Append(ml.Transforms.Text.FeaturizeText(feature, column.Name));
                    treatments.Add(new FeatureTreatment(column.Name, kind, "free text: normalised word and character n-grams", distinct));
                    break;

                case ColumnKind.Text when distinct <= options.MaxOneHotCardinality:
                    chain = chain.Append(ml.Transforms.Categorical.OneHotEncoding(feature, column.Name));
                    treatments.Add(new FeatureTreatment(column.Name, kind, "categorical: one-hot (unseen values → all zeros)", distinct));
                    break;

                case ColumnKind.Text:
                    chain = chain.Append(ml.Transforms.Categorical.OneHotHashEncoding(feature, column.Name, numberOfBits: options.HashBits));
                    treatments.Add(new FeatureTreatment(column.Name, kind,
                        $"categorical: hashed one-hot into 2^{options.HashBits} slots (cardinality above max_onehot_cardinality={options.MaxOneHotCardinality})", distinct));
                    break;

                case ColumnKind.Timestamp:
                    var partsColumn = "__t_" + column.Name;
                    chain = TimestampParts.Append(ml, chain, column.Name, partsColumn, timestampParts!)
                        .Append(ml.Transforms.ReplaceMissingValues(feature, partsColumn));
                    var constantParts = TimestampParts.PartNames.Except(timestampParts!).ToArray();
                    treatments.Add(new FeatureTreatment(column.Name, kind,
                        $"timestamp → {string.Join(", ", timestampParts!)}; missing → training mean"
                        + (constantParts.Length > 0 ? $"; constant in training, dropped: {string.Join(", ", constantParts)}" : ""),
                        Parts: timestampParts));
                    break;
            }
        }

        if (parts.Count == 0)
        {
            throw new TrainerException(
                $"No usable feature columns: the training data has {ChannelDescription(train)}; label '{label}', excluded: "
                + $"{(options.ExcludeColumns.Count == 0 ? "none" : string.Join(", ", options.ExcludeColumns))}, constant: "
                + $"{(constant.Count == 0 ? "none" : string.Join(", ", constant))}.");
        }

        chain = chain.Append(ml.Transforms.Concatenate(FeatureColumn, [.. parts]));
        if (normalize)
        {
            chain = chain.Append(ml.Transforms.NormalizeMinMax(FeatureColumn));
        }

        return new FeaturePlan(inputs, treatments, constant, chain);
    }

    public static int Distinct(TableColumn column) => column.Values switch
    {
        float[] f => f.Where(v => !float.IsNaN(v)).Distinct().Take(1_000_001).Count(),
        bool[] b => b.Distinct().Count(),
        string?[] s => s.Where(v => v is not null).Distinct(StringComparer.Ordinal).Take(1_000_001).Count(),
        DateTime?[] d => d.Where(v => v is not null).Distinct().Take(2).Count(),
        _ => 0,
    };

    /// <summary>
    /// The timestamp parts that take more than one value in training: a part that never changes (the hour of a
    /// date-only column, the year of a single-year sample) is no feature, only noise in the input contract.
    /// </summary>
    private static IReadOnlyList<string> VaryingParts(TableColumn column)
    {
        var first = new float[TimestampParts.PartNames.Length];
        var varies = new bool[first.Length];
        var seen = false;
        foreach (var value in (DateTime?[])column.Values)
        {
            if (value is not { } t)
            {
                continue;
            }

            var parts = TimestampParts.Compute(t);
            for (var p = 0; p < parts.Length; p++)
            {
                varies[p] |= seen && parts[p] != first[p];
            }

            if (!seen)
            {
                (first, seen) = (parts, true);
            }
        }

        return [.. TimestampParts.PartNames.Where((_, p) => varies[p])];
    }

    private static string ChannelDescription(DataTable table) => table.Columns.Count == 0
        ? "no columns"
        : "columns " + string.Join(", ", table.Columns.Select(c => c.Name));

    private static void CheckNamed(DataTable train, IReadOnlyList<string> names, string hyperparameter)
    {
        var absent = names.Where(n => train.Find(n) is null).ToArray();
        if (absent.Length > 0)
        {
            throw new TrainerException(
                $"Hyperparameter '{hyperparameter}' names column(s) {string.Join(", ", absent)} that the train channel does not have. "
                + $"Its columns: {string.Join(", ", train.Columns.Select(c => c.Name))}.");
        }
    }
}
