using Mlops.Trainer.Evaluation;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Trainer.Diagnostics;

/// <summary>One rule's verdict: "issue", "ok", or "not_applicable" (with the reason), never silently absent.</summary>
public sealed record DiagnosticFinding(string Rule, string Status, string Message, IReadOnlyDictionary<string, object?>? Details = null)
{
    public const string Issue = "issue";
    public const string Ok = "ok";
    public const string NotApplicable = "not_applicable";
}

/// <summary>output/data/diagnostics.json.</summary>
public sealed record DiagnosticsReport(int Issues, IReadOnlyList<DiagnosticFinding> Findings, LearningCurve? LearningCurve);

/// <summary>
/// The checks SageMaker Debugger's built-in rules make (overfit, loss not decreasing, class imbalance,
/// constant features) plus a target-leak check, with thresholds stated in each message.
/// </summary>
public static class DiagnosticRules
{
    public const double OverfitGap = 0.15;
    public const double LeakScore = 0.97;
    public const double ImbalanceShare = 0.10;

    public static DiagnosticFinding Overfitting(ProblemType problem, ChannelMetrics train, ChannelMetrics validation)
    {
        var metric = problem switch { ProblemType.Binary => "auc", ProblemType.Multiclass => "micro_accuracy", _ => "r2" };
        var gap = train.Metrics[metric] - validation.Metrics[metric];
        var details = new Dictionary<string, object?> { ["metric"] = metric, ["train"] = train.Metrics[metric], ["validation"] = validation.Metrics[metric], ["gap"] = gap, ["threshold"] = OverfitGap };
        return gap > OverfitGap
            ? new("overfitting", DiagnosticFinding.Issue,
                $"Training {metric} {train.Metrics[metric]:F4} exceeds validation {validation.Metrics[metric]:F4} by {gap:F4} (> {OverfitGap}): the model memorises the training data. Use fewer or smaller trees, larger min_data_in_leaf or more regularisation.", details)
            : new("overfitting", DiagnosticFinding.Ok, $"Train/validation {metric} gap {gap:F4} is within {OverfitGap}.", details);
    }

    public static DiagnosticFinding LossPlateau(LearningCurve? curve, string learner, bool forest = false)
    {
        if (curve is null || curve.Iterations.Count < 4)
        {
            return new("loss_not_improving", DiagnosticFinding.NotApplicable,
                $"Learner '{learner}' exposes no per-iteration state to draw a learning curve from (available for binary and regression tree ensembles).");
        }

        double Better(double a, double b) => curve.HigherIsBetter ? a - b : b - a;
        var v = curve.Validation;
        var best = Enumerable.Range(0, v.Count).Aggregate((a, b) => Better(v[b], v[a]) > 0 ? b : a);
        var last = v.Count - 1;
        var half = v.Count / 2;
        var tolerance = curve.HigherIsBetter ? 0.002 : 0.002 * Math.Abs(v[half]);
        var details = new Dictionary<string, object?>
        {
            ["metric"] = curve.Metric, ["best_iteration"] = curve.Iterations[best], ["best"] = v[best],
            ["final_iteration"] = curve.Iterations[last], ["final"] = v[last], ["tolerance"] = tolerance,
        };
        if (Better(v[best], v[last]) > tolerance)
        {
            return new("loss_not_improving", DiagnosticFinding.Issue, forest
                ? $"Validation {curve.Metric} peaked at {curve.Iterations[best]} trees ({v[best]:F4}) and ended at {v[last]:F4} with {curve.Iterations[last]}: a forest averages its trees, so the extra trees add nothing but cost; about {curve.Iterations[best]} trees would do."
                : $"Validation {curve.Metric} peaked at iteration {curve.Iterations[best]} ({v[best]:F4}) and worsened to {v[last]:F4} by iteration {curve.Iterations[last]}: later iterations overfit. Stop near iteration {curve.Iterations[best]}.", details);
        }

        var gain = Better(v[last], v[half]);
        return gain < tolerance
            ? new("loss_not_improving", DiagnosticFinding.Issue,
                $"Validation {curve.Metric} improved by only {gain:F5} over the second half of training (iterations {curve.Iterations[half]}–{curve.Iterations[last]}, tolerance {tolerance:F5}): the loss has plateaued; fewer iterations or a higher learning rate would do.", details)
            : new("loss_not_improving", DiagnosticFinding.Ok, $"Validation {curve.Metric} still improved by {gain:F5} over the second half of training.", details);
    }

    public static DiagnosticFinding ClassImbalance(ProblemType problem, DataTable train, string label)
    {
        if (problem == ProblemType.Regression)
        {
            return new("class_imbalance", DiagnosticFinding.NotApplicable, "Regression has no classes.");
        }

        var counts = train[label].Values switch
        {
            bool[] b => b.GroupBy(v => v ? "true" : "false").ToDictionary(g => g.Key, g => (long)g.Count()),
            string?[] s => s.GroupBy(v => v ?? "").ToDictionary(g => g.Key, g => (long)g.Count()),
            _ => [],
        };
        var share = counts.Values.Min() / (double)counts.Values.Sum();
        var details = new Dictionary<string, object?> { ["class_counts"] = counts, ["minority_share"] = share, ["threshold"] = ImbalanceShare };
        if (counts.Count < 2)
        {
            return new("class_imbalance", DiagnosticFinding.Issue, $"The training labels hold a single class ({counts.Keys.Single()}).", details);
        }

        var minority = counts.MinBy(c => c.Value).Key;
        return share < ImbalanceShare
            ? new("class_imbalance", DiagnosticFinding.Issue,
                $"Class '{minority}' is {share:P1} of the training rows (< {ImbalanceShare:P0}); accuracy is misleading, judge by AUC/F1 and consider reweighting or resampling.", details)
            : new("class_imbalance", DiagnosticFinding.Ok, $"The smallest class ('{minority}') is {share:P1} of the training rows.", details);
    }

    public static DiagnosticFinding ConstantFeatures(IReadOnlyList<string> constant) => constant.Count > 0
        ? new("constant_features", DiagnosticFinding.Issue,
            $"Column(s) {string.Join(", ", constant)} hold a single value (or none) in the training data; they were dropped from the features.",
            new Dictionary<string, object?> { ["columns"] = constant })
        : new("constant_features", DiagnosticFinding.Ok, "Every feature column varies in the training data.");

    /// <summary>
    /// A feature leaks when, alone, it predicts the label almost perfectly on rows it was not fitted on:
    /// each column is binned (quantiles for numbers), per-bin label statistics are fitted on even rows and
    /// scored on odd rows (AUC, accuracy or R²). Fitting and scoring on different rows keeps unique ids from looking predictive.
    /// </summary>
    public static DiagnosticFinding LeakingFeatures(ProblemType problem, DataTable sample, string label, IEnumerable<string> features)
    {
        var scores = features.ToDictionary(f => f, f => UnivariateScore(problem, sample[f], sample[label]));
        var leaking = scores.Where(s => s.Value >= LeakScore).OrderByDescending(s => s.Value).ToArray();
        var metric = problem switch { ProblemType.Binary => "auc", ProblemType.Multiclass => "accuracy", _ => "r2" };
        var details = new Dictionary<string, object?> { ["metric"] = metric, ["single_feature_scores"] = scores, ["threshold"] = LeakScore };
        return leaking.Length > 0
            ? new("leaking_features", DiagnosticFinding.Issue,
                $"Feature(s) {string.Join(", ", leaking.Select(l => $"'{l.Key}' ({metric} {l.Value:F3} alone)"))} predict the label almost perfectly by themselves (≥ {LeakScore}): "
                + "they are probably derived from the label or only known after it. Remove them with exclude_columns.", details)
            : new("leaking_features", DiagnosticFinding.Ok, $"No single feature reaches {metric} {LeakScore} on its own.", details);
    }

    private static double UnivariateScore(ProblemType problem, TableColumn feature, TableColumn label)
    {
        var bins = Bins(feature);
        var fit = Enumerable.Range(0, bins.Length).Where(i => i % 2 == 0).ToArray();
        var held = Enumerable.Range(0, bins.Length).Where(i => i % 2 == 1).ToArray();
        if (held.Length < 10)
        {
            return double.NaN;
        }

        switch (label.Values)
        {
            case bool[] y:
            {
                var rate = fit.GroupBy(i => bins[i]).ToDictionary(g => g.Key, g => g.Average(i => y[i] ? 1.0 : 0.0));
                var prior = fit.Average(i => y[i] ? 1.0 : 0.0);
                var auc = Statistics.Auc([.. held.Select(i => rate.GetValueOrDefault(bins[i], prior))], [.. held.Select(i => y[i])]);
                return double.IsNaN(auc) ? auc : Math.Max(auc, 1 - auc);
            }

            case string?[] y:
            {
                var majority = fit.GroupBy(i => bins[i]).ToDictionary(g => g.Key, g => g.GroupBy(i => y[i]).MaxBy(c => c.Count())!.Key);
                var overall = fit.GroupBy(i => y[i]).MaxBy(c => c.Count())!.Key;
                return held.Average(i => majority.GetValueOrDefault(bins[i], overall) == y[i] ? 1.0 : 0.0);
            }

            case float[] y:
            {
                var mean = fit.GroupBy(i => bins[i]).ToDictionary(g => g.Key, g => g.Average(i => (double)y[i]));
                var overall = fit.Average(i => (double)y[i]);
                return Statistics.RSquared([.. held.Select(i => mean.GetValueOrDefault(bins[i], overall))], [.. held.Select(i => (double)y[i])]);
            }

            default:
                return double.NaN;
        }
    }

    /// <summary>A bin id per row: 32 quantile bins for numbers and timestamps, the value itself for booleans and text.</summary>
    private static long[] Bins(TableColumn column)
    {
        double[]? numbers = column.Values switch
        {
            float[] f => [.. f.Select(v => (double)v)],
            DateTime?[] d => [.. d.Select(v => v is { } t ? t.Ticks : double.NaN)],
            _ => null,
        };
        if (numbers is not null)
        {
            var sorted = numbers.Where(v => !double.IsNaN(v)).Order().ToArray();
            var edges = sorted.Length == 0 ? [] : Enumerable.Range(1, 31).Select(q => sorted[q * (sorted.Length - 1) / 32]).Distinct().ToArray();
            return [.. numbers.Select(v => double.IsNaN(v) ? -1L : Bin(edges, v))];
        }

        return column.Values switch
        {
            bool[] b => [.. b.Select(v => v ? 1L : 0L)],
            string?[] s => [.. s.Select(v => v is null ? -1L : (long)StringComparer.Ordinal.GetHashCode(v))],
            _ => new long[column.Length],
        };
    }

    private static long Bin(double[] edges, double value)
    {
        var at = Array.BinarySearch(edges, value);
        return at >= 0 ? at : ~at;
    }
}
