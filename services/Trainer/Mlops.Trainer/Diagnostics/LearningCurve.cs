using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using Mlops.Trainer.Evaluation;
using Mlops.Trainer.Learners;
using Mlops.Trainer.Model;

namespace Mlops.Trainer.Diagnostics;

/// <summary>The metric after each checkpoint iteration, on training and validation samples.</summary>
public sealed record LearningCurve(string Metric, bool HigherIsBetter, IReadOnlyList<int> Iterations, IReadOnlyList<double> Train, IReadOnlyList<double> Validation);

/// <summary>
/// Learning curves for tree ensembles. ML.NET reports no per-iteration metrics, but the trained trees are
/// public: replaying them one at a time over featurized samples gives the score after every iteration
/// (AUC for binary, RMSE for regression; both are unaffected by the final calibration).
/// </summary>
public static class LearningCurves
{
    private const int MaxCheckpoints = 50;

    public static LearningCurve? Compute(
        MLContext ml, ProblemType problem, TreeEnsembleKind kind, object? model, ITransformer featurizer,
        IDataView trainSample, IDataView validationSample, string label)
    {
        if (kind == TreeEnsembleKind.None || problem == ProblemType.Multiclass || Ensemble(model) is not { } ensemble)
        {
            return null;
        }

        var (trees, weights, bias) = ensemble;
        var checkpoints = Enumerable.Range(1, MaxCheckpoints)
            .Select(i => (int)Math.Ceiling(i * trees.Count / (double)MaxCheckpoints))
            .Distinct().ToArray();
        var train = Replay(ml, featurizer, trainSample, label, problem, trees, weights, bias, kind, checkpoints);
        var validation = Replay(ml, featurizer, validationSample, label, problem, trees, weights, bias, kind, checkpoints);
        return problem == ProblemType.Binary
            ? new LearningCurve("auc", true, checkpoints, train, validation)
            : new LearningCurve("rmse", false, checkpoints, train, validation);
    }

    /// <summary>The trees of a (possibly calibrated) tree-ensemble predictor, or null for other predictors.</summary>
    private static (IReadOnlyList<RegressionTreeBase> Trees, IReadOnlyList<double> Weights, double Bias)? Ensemble(object? model)
    {
        // Calibrated binary models wrap the trees; SubModel is declared twice (generic and not), so pick by name.
        if (model?.GetType().GetProperties().FirstOrDefault(p => p.Name == "SubModel")?.GetValue(model) is { } inner)
        {
            model = inner;
        }

        return model switch
        {
            TreeEnsembleModelParametersBasedOnRegressionTree r =>
                (r.TrainedTreeEnsemble.Trees, r.TrainedTreeEnsemble.TreeWeights, r.TrainedTreeEnsemble.Bias),
            TreeEnsembleModelParametersBasedOnQuantileRegressionTree q =>
                (q.TrainedTreeEnsemble.Trees, q.TrainedTreeEnsemble.TreeWeights, q.TrainedTreeEnsemble.Bias),
            _ => null,
        };
    }

    private static double[] Replay(
        MLContext ml, ITransformer featurizer, IDataView sample, string label, ProblemType problem,
        IReadOnlyList<RegressionTreeBase> trees, IReadOnlyList<double> weights, double bias, TreeEnsembleKind kind, int[] checkpoints)
    {
        var featurized = featurizer.Transform(sample);
        var rows = featurized.GetColumn<VBuffer<float>>(Featurization.FeaturePlanner.FeatureColumn).Select(FeatureRow.From).ToArray();
        var truth = problem == ProblemType.Binary
            ? featurized.GetColumn<bool>(label).Select(b => b ? 1.0 : 0.0).ToArray()
            : featurized.GetColumn<float>(label).Select(v => (double)v).ToArray();
        var sums = new double[rows.Length];
        var result = new double[checkpoints.Length];
        var next = 0;
        for (var t = 0; t < trees.Count && next < checkpoints.Length; t++)
        {
            for (var r = 0; r < rows.Length; r++)
            {
                sums[r] += weights[t] * trees[t].LeafValues[Leaf(trees[t], rows[r])];
            }

            if (t + 1 == checkpoints[next])
            {
                var scale = kind == TreeEnsembleKind.Forest ? 1.0 / (t + 1) : 1.0;
                var scores = sums.Select(s => bias + s * scale).ToArray();
                result[next++] = problem == ProblemType.Binary
                    ? Statistics.Auc(scores, [.. truth.Select(v => v == 1)])
                    : Statistics.Rmse(scores, truth);
            }
        }

        return result;
    }

    /// <summary>Walks one tree as ML.NET does: go left when the value is at most the threshold; leaves are encoded as ~index.</summary>
    private static int Leaf(RegressionTreeBase tree, FeatureRow features)
    {
        if (tree.NumberOfLeaves <= 1)
        {
            return 0;
        }

        var node = 0;
        while (node >= 0)
        {
            bool goLeft;
            if (tree.CategoricalSplitFlags[node])
            {
                goLeft = !tree.GetCategoricalSplitFeaturesAt(node).Any(i => features[i] > 0);
            }
            else
            {
                goLeft = features[tree.NumericalSplitFeatureIndexes[node]] <= tree.NumericalSplitThresholds[node];
            }

            node = goLeft ? tree.LeftChild[node] : tree.RightChild[node];
        }

        return ~node;
    }
}

/// <summary>A featurized row kept sparse when it is sparse: hashed categoricals make vectors of 65,536 slots.</summary>
internal readonly record struct FeatureRow(int[]? Indices, float[] Values)
{
    public static FeatureRow From(VBuffer<float> vector) => vector.IsDense
        ? new FeatureRow(null, vector.GetValues().ToArray())
        : new FeatureRow(vector.GetIndices().ToArray(), vector.GetValues().ToArray());

    public float this[int index] => Indices is null
        ? Values[index]
        : Array.BinarySearch(Indices, index) is var at and >= 0 ? Values[at] : 0f;
}
