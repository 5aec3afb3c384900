using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Model;

/// <summary>
/// Per-row feature contributions with ML.NET's feature contribution calculation (FCC): for a linear model a feature's
/// weight times its value, for a tree ensemble the change of the score along each tree's path attributed to the feature
/// split on. In score units (not normalised), before calibration. The model's features are the one-hot slots, timestamp
/// parts and missing indicators the Trainer derived; their contributions are summed per input column, so a row's
/// explanation names the columns the caller sent. Binary and regression models with a linear or tree learner only
/// (FCC's support); multiclass and other learners have no explainer (<see cref="TryCreate"/> says why).
/// </summary>
public sealed class ModelExplainer
{
    // FeaturePlanner's names (Mlops.Trainer): the concatenated feature vector, and the per-column parts it concatenates
    // (the column's features, and a missing indicator right after them for numbers that had missing values).
    private const string FeatureColumn = "__features";
    private const string ContributionColumn = "FeatureContributions";
    private static readonly string[] PartPrefixes = ["__f_", "__m_"];

    // FCC keeps at most this many positive and this many negative contributions per row (its own limit).
    private const int MaxContributions = 1000;

    private readonly ITransformer _featurizer;
    private readonly ITransformer _contributions;
    private readonly IReadOnlyList<(string Column, int Start, int Length)> _slots;
    private readonly ModelManifest _manifest;

    private ModelExplainer(ModelManifest manifest, ITransformer featurizer, ITransformer contributions, IReadOnlyList<(string, int, int)> slots)
    {
        _manifest = manifest;
        _featurizer = featurizer;
        _contributions = contributions;
        _slots = slots;
    }

    /// <summary>An explainer for the package, or null with the reason it has none.</summary>
    public static ModelExplainer? TryCreate(ModelPackage package, out string? reason)
    {
        reason = null;
        var manifest = package.Manifest;
        if (manifest.ProblemType == ProblemType.Multiclass)
        {
            reason = "feature contributions are computed for binary and regression models only (ML.NET's feature contribution calculation)";
            return null;
        }
        if (package.Model is not TransformerChain<ITransformer> chain || chain.Count() < 2)
        {
            reason = "the model is not a featurizer followed by a predictor";
            return null;
        }
        var parts = chain.ToList();
        var featurizer = parts[0];
        var predictor = parts[1];
        var empty = new TableDataView(RowConverter.ToTable(manifest.InputSchema, []));
        var featurized = featurizer.Transform(empty);
        if (featurized.Schema.GetColumnOrNull(FeatureColumn) is not { Type: VectorDataViewType { Size: > 0 } features })
        {
            reason = $"the featurizer has no fixed-size '{FeatureColumn}' vector";
            return null;
        }

        var estimator = Estimator(ModelPackage.CreateContext(manifest.Seed), predictor, Math.Min(features.Size, MaxContributions));
        if (estimator is null)
        {
            reason = $"its learner ({manifest.Algorithm}) does not support feature contributions (linear and tree learners do)";
            return null;
        }

        // Which slots of the feature vector come from which input column, in the order the featurizer concatenated them.
        var slots = new List<(string, int, int)>();
        var at = 0;
        foreach (var column in manifest.InputSchema)
        {
            foreach (var prefix in PartPrefixes)
            {
                if (featurized.Schema.GetColumnOrNull(prefix + column.Name) is not { } part)
                    continue;
                var size = part.Type is VectorDataViewType v ? v.Size : 1;
                slots.Add((column.Name, at, size));
                at += size;
            }
        }
        if (at != features.Size)
        {
            reason = $"its {features.Size} features could not be traced back to the input columns ({at} found)";
            return null;
        }
        return new ModelExplainer(manifest, featurizer, estimator.Fit(featurized), slots);
    }

    /// <summary>Each row's contributions per input column (every schema column, 0 where nothing was attributed), in schema order.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, float>> Explain(DataTable table)
    {
        var inputs = new DataTable([.. _manifest.InputSchema.Select(c => table[c.Name])]);
        var scored = _contributions.Transform(_featurizer.Transform(new TableDataView(inputs)));
        var column = scored.Schema[ContributionColumn];
        using var cursor = scored.GetRowCursor([column]);
        var get = cursor.GetGetter<VBuffer<float>>(column);
        VBuffer<float> values = default;
        var explanations = new List<IReadOnlyDictionary<string, float>>(inputs.RowCount);
        var owner = new int[_slots.Sum(s => s.Length)];
        for (var s = 0; s < _slots.Count; s++)
            Array.Fill(owner, s, _slots[s].Start, _slots[s].Length);
        while (cursor.MoveNext())
        {
            get(ref values);
            var sums = new float[_slots.Count];
            foreach (var (slot, value) in values.Items())
                sums[owner[slot]] += value;
            var row = new Dictionary<string, float>(StringComparer.Ordinal);
            foreach (var c in _manifest.InputSchema)
                row[c.Name] = 0;
            for (var s = 0; s < _slots.Count; s++)
                row[_slots[s].Column] += sums[s];
            explanations.Add(row);
        }
        return explanations;
    }

    // The FCC estimator for the predictor's model parameters: directly when they support it, through the calibrator's
    // sub-model for calibrated binary models (LightGBM's and the linear learners' calibrated parameters).
    private static IEstimator<ITransformer>? Estimator(MLContext ml, ITransformer predictor, int top)
    {
        if (predictor is ISingleFeaturePredictionTransformer<ICalculateFeatureContribution> direct)
            return ml.Transforms.CalculateFeatureContribution(direct, top, top, normalize: false);
        var modelType = predictor.GetType().GetInterfaces()
            .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ISingleFeaturePredictionTransformer<>))
            .Select(i => i.GetGenericArguments()[0]).FirstOrDefault();
        for (var t = modelType; t is not null; t = t.BaseType)
        {
            if (!t.IsGenericType || t.GetGenericTypeDefinition() != typeof(CalibratedModelParametersBase<,>))
                continue;
            var arguments = t.GetGenericArguments();
            if (!typeof(ICalculateFeatureContribution).IsAssignableFrom(arguments[0]))
                return null;
            var method = typeof(ExplainabilityCatalog).GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Single(m => m.Name == nameof(ExplainabilityCatalog.CalculateFeatureContribution) && m.IsGenericMethodDefinition)
                .MakeGenericMethod(arguments);
            return (IEstimator<ITransformer>)method.Invoke(null, [ml.Transforms, predictor, top, top, false])!;
        }
        return null;
    }
}
