using Microsoft.ML;
using Microsoft.ML.Data;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Evaluation;

/// <summary>Confusion counts: rows are actual classes, columns predicted classes, both in <see cref="Classes"/> order.</summary>
public sealed record ConfusionMatrix(IReadOnlyList<string> Classes, IReadOnlyList<IReadOnlyList<long>> Counts);

/// <summary>Metrics of one channel, the same metrics for a trivial baseline (majority class or training mean), and the confusion matrix.</summary>
public sealed record ChannelMetrics(
    long Rows,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, double> Baseline,
    ConfusionMatrix? ConfusionMatrix);

/// <summary>
/// Evaluates a trained model on a labelled table with ML.NET's evaluators. The baseline predicts what
/// one would without a model, from the training labels, so every metric has a yardstick. Binary label metrics
/// (accuracy, precision, recall, F1, the confusion matrix) are at <paramref name="decisionThreshold"/>, the labels
/// the package predicts, and again at 0.5 for comparison.
/// </summary>
public sealed class ModelEvaluator(
    MLContext ml, ProblemType problem, string label, ITransformer? labelKeys, ITransformer scoringModel, DataTable train,
    double decisionThreshold = DecisionThreshold.Conventional)
{
    public const string LabelKeyColumn = "__label_key";

    private readonly object _baseline = problem switch
    {
        ProblemType.Binary => ((bool[])train[label].Values).Average(v => v ? 1.0 : 0.0),
        ProblemType.Multiclass => ((string?[])train[label].Values).GroupBy(v => v).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key!,
        _ => ((float[])train[label].Values).Average(v => (double)v),
    };

    /// <summary>The name of the metric that diagnostics, importance and tuning rank by, and whether higher is better.</summary>
    public (string Name, bool HigherIsBetter) Primary => problem switch
    {
        ProblemType.Binary => ("auc", true),
        ProblemType.Multiclass => ("micro_accuracy", true),
        _ => ("rmse", false),
    };

    public IDataView Score(DataTable table) => scoringModel.Transform(Prepare(table));

    public IDataView Prepare(DataTable table)
    {
        IDataView view = new TableDataView(table);
        return labelKeys?.Transform(view) ?? view;
    }

    public ChannelMetrics Evaluate(DataTable table)
    {
        var scored = Score(table);
        return problem switch
        {
            ProblemType.Binary => Binary(table, scored),
            ProblemType.Multiclass => Multiclass(table, scored),
            _ => Regression(table, scored),
        };
    }

    public double PrimaryMetric(DataTable table) => Evaluate(table).Metrics[Primary.Name];

    /// <summary>The positive-class probabilities of a binary model for <paramref name="table"/>'s rows, in order.</summary>
    public float[] Probabilities(DataTable table) => [.. Score(table).GetColumn<float>(ModelPackage.ProbabilityColumn)];

    private ChannelMetrics Binary(DataTable table, IDataView scored)
    {
        // ML.NET's evaluator gives the threshold-free metrics; its label metrics follow ML.NET's own threshold, not the package's.
        var m = ml.BinaryClassification.Evaluate(scored, label);
        var actual = (bool[])table[label].Values;
        var probabilities = scored.GetColumn<float>(ModelPackage.ProbabilityColumn).ToArray();
        var chosen = ThresholdCounts.At(probabilities, actual, decisionThreshold);
        var conventional = ThresholdCounts.At(probabilities, actual, DecisionThreshold.Conventional);

        var positiveRate = (double)_baseline;
        var majority = positiveRate >= 0.5;
        var baselineAccuracy = actual.Average(v => v == majority ? 1.0 : 0.0);
        return new ChannelMetrics(
            table.RowCount,
            new Dictionary<string, double>
            {
                ["auc"] = m.AreaUnderRocCurve,
                ["auprc"] = m.AreaUnderPrecisionRecallCurve,
                ["accuracy"] = chosen.Accuracy,
                ["f1"] = chosen.F1,
                ["precision"] = chosen.Precision,
                ["recall"] = chosen.Recall,
                ["negative_precision"] = chosen.NegativePrecision,
                ["negative_recall"] = chosen.NegativeRecall,
                ["log_loss"] = m.LogLoss,
                ["log_loss_reduction"] = m.LogLossReduction,
                ["decision_threshold"] = decisionThreshold,
                ["accuracy_at_0.5"] = conventional.Accuracy,
                ["f1_at_0.5"] = conventional.F1,
                ["precision_at_0.5"] = conventional.Precision,
                ["recall_at_0.5"] = conventional.Recall,
            },
            new Dictionary<string, double>
            {
                ["auc"] = 0.5,
                ["accuracy"] = baselineAccuracy,
                ["f1"] = majority ? 2 * baselineAccuracy / (1 + baselineAccuracy) : 0,
                ["positive_rate_train"] = positiveRate,
            },
            new ConfusionMatrix(["true", "false"],
                [[chosen.TruePositives, chosen.FalseNegatives], [chosen.FalsePositives, chosen.TrueNegatives]]));
    }

    private ChannelMetrics Multiclass(DataTable table, IDataView scored)
    {
        var m = ml.MulticlassClassification.Evaluate(scored, LabelKeyColumn);
        var classes = Classes(scored);
        var actual = (string?[])table[label].Values;
        return new ChannelMetrics(
            table.RowCount,
            new Dictionary<string, double>
            {
                ["micro_accuracy"] = m.MicroAccuracy,
                ["macro_accuracy"] = m.MacroAccuracy,
                ["log_loss"] = m.LogLoss,
                ["log_loss_reduction"] = m.LogLossReduction,
            },
            new Dictionary<string, double>
            {
                ["micro_accuracy"] = actual.Average(v => v == (string)_baseline ? 1.0 : 0.0),
                ["macro_accuracy"] = 1.0 / classes.Count,
            },
            new ConfusionMatrix(classes, [.. m.ConfusionMatrix.Counts.Select(r => (IReadOnlyList<long>)[.. r.Select(c => (long)c)])]));
    }

    private ChannelMetrics Regression(DataTable table, IDataView scored)
    {
        var m = ml.Regression.Evaluate(scored, label);
        var actual = ((float[])table[label].Values).Select(v => (double)v).ToArray();
        var mean = (double)_baseline;
        var constant = actual.Select(_ => mean).ToArray();
        return new ChannelMetrics(
            table.RowCount,
            new Dictionary<string, double>
            {
                ["rmse"] = m.RootMeanSquaredError,
                ["mae"] = m.MeanAbsoluteError,
                ["r2"] = m.RSquared,
                ["mse"] = m.MeanSquaredError,
            },
            new Dictionary<string, double>
            {
                ["rmse"] = Statistics.Rmse(constant, actual),
                ["mae"] = actual.Average(a => Math.Abs(a - mean)),
                ["r2"] = Statistics.RSquared(constant, actual),
            },
            null);
    }

    /// <summary>The class names in key order, which is the order of the score vector and the confusion matrix.</summary>
    public static IReadOnlyList<string> Classes(IDataView scored)
    {
        VBuffer<ReadOnlyMemory<char>> keys = default;
        scored.Schema[LabelKeyColumn].GetKeyValues(ref keys);
        return [.. keys.DenseValues().Select(k => k.ToString())];
    }
}
