using System.Globalization;
using Mlops.Monitor.Features.Quality;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Monitor.Features.Attribution;

/// <summary>
/// The model's permutation importance on current labelled rows, measured as the trainer measured the importance it recorded in
/// the package (<see cref="RecordedImportance"/>): the same metric (AUC, micro-accuracy or RMSE), the same shuffles
/// (<see cref="ColumnPermutation"/>, the package's seed, the recorded number of repeats), so the two rankings are comparable.
/// </summary>
public static class TrainingImportance
{
    /// <summary>A label as the model's problem type reads it: bool (binary), class name (multiclass), number (regression); null when it is not one.</summary>
    public static object? ParseLabel(object? value, ProblemType problem, string? positiveLabel) => problem switch
    {
        ProblemType.Binary => value switch
        {
            bool b => b,
            double or float or long or int or short or byte => Convert.ToDouble(value, CultureInfo.InvariantCulture) switch { 1 => true, 0 => false, _ => null },
            string s => QualityEvaluation.ParseBinary(s.Trim(), positiveLabel),
            _ => null,
        },
        ProblemType.Multiclass => value switch
        {
            null => null,
            string s => s.Length == 0 ? null : s,
            bool b => b ? "true" : "false",
            _ => Convert.ToString(value, CultureInfo.InvariantCulture),
        },
        _ => value switch
        {
            double or float or long or int or short or byte => Convert.ToDouble(value, CultureInfo.InvariantCulture) is var d && double.IsFinite(d) ? d : null,
            string s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null,
            _ => null,
        },
    };

    /// <summary>
    /// The recorded metric over predictions of the rows whose labels are given (aligned), or null with the reason when the
    /// monitor does not compute it or the labels cannot give it (AUC needs both classes).
    /// </summary>
    public static Func<IReadOnlyList<Prediction>, double>? Metric(string metric, ProblemType problem, IReadOnlyList<object> labels, out string? reason)
    {
        reason = null;
        switch (metric, problem)
        {
            case ("auc", ProblemType.Binary):
            {
                var y = labels.Cast<bool>().ToArray();
                if (y.All(v => v) || !y.Any(v => v))
                {
                    reason = $"The labelled rows are all {(y.FirstOrDefault() ? "positive" : "negative")}: AUC needs both classes.";
                    return null;
                }
                // Over the score, as ML.NET's evaluator (the trainer's) ranks: the calibrated float probabilities tie more often.
                return p => ModelQualityMetrics.Auc([.. p.Select((x, i) => new BinaryRow(y[i], x.PredictedLabel is true, x.Score))]);
            }
            case ("micro_accuracy", ProblemType.Multiclass):
            {
                var y = labels.Cast<string>().ToArray();
                return p => p.Select((x, i) => string.Equals(Convert.ToString(x.PredictedLabel, CultureInfo.InvariantCulture), y[i], StringComparison.Ordinal) ? 1.0 : 0).Average();
            }
            case ("rmse", ProblemType.Regression):
            {
                var y = labels.Cast<double>().ToArray();
                return p => Math.Sqrt(p.Select((x, i) => (x.Score - y[i]) * (x.Score - y[i])).Average());
            }
            default:
                reason = $"The recorded importance's metric '{metric}' is not one the monitor computes for a {problem.ToString().ToLowerInvariant()} model (auc, micro_accuracy, rmse).";
                return null;
        }
    }

    /// <summary>Permutation importance per input column on <paramref name="inputs"/> (the model's input schema) with their labels.</summary>
    public static Dictionary<string, double> Measure(ModelPackage package, RecordedImportance recorded, DataTable inputs, Func<IReadOnlyList<Prediction>, double> metric) =>
        ColumnPermutation.Importance(inputs, package.Manifest.InputSchema.Select(c => c.Name), recorded.Metric, recorded.HigherIsBetter,
                t => metric(package.Score(t)), package.Manifest.Seed, recorded.Repeats)
            .ToDictionary(f => f.Column, f => f.Importance, StringComparer.Ordinal);

    /// <summary>
    /// Clarify's NDCG of the current ranking gained in the training importance. A permutation importance below zero is noise (the
    /// shuffled column scored better by chance), not importance in the other direction: both sides count it as 0.
    /// </summary>
    public static double Ndcg(IReadOnlyDictionary<string, double> training, IReadOnlyDictionary<string, double> current) =>
        AttributionDrift.Ndcg(NonNegative(training), NonNegative(current));

    private static Dictionary<string, double> NonNegative(IReadOnlyDictionary<string, double> values) =>
        values.ToDictionary(p => p.Key, p => Math.Max(0, p.Value), StringComparer.Ordinal);
}

/// <summary>The run's labelled rows for the training comparison: each row (name → value) with its raw label, aligned.</summary>
public sealed record LabelledRows(IReadOnlyList<IReadOnlyDictionary<string, object?>> Rows, IReadOnlyList<object?> Labels, string? Reason = null);
