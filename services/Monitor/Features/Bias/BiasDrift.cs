using System.Globalization;
using Mlops.Monitor.Features.Baselines;

namespace Mlops.Monitor.Features.Bias;

/// <summary>Bias over captured traffic (Clarify's model-bias monitor): a facet of the captured inputs, the merged ground truth as the label.</summary>
/// <param name="Facet">The captured input column and its sensitive values, or a threshold above which a row is in facet d.</param>
/// <param name="Baseline">Metric → baseline value (e.g. the pre-deployment <c>POST /bias</c> report's): the allowed range of a metric is
/// then no further from its fair value (0; 1 for DI) than the baseline, as Clarify's bias-drift constraints are read.</param>
/// <param name="AllowedRanges">Metric → [low, high], overriding the range from the baseline.</param>
public sealed record BiasMonitorOptions(FacetSpec? Facet, IReadOnlyDictionary<string, double>? Baseline = null,
    IReadOnlyDictionary<string, double[]>? AllowedRanges = null);

/// <summary>A bias metric on the window with its 95% interval (bootstrap), its allowed range and whether the interval left it.</summary>
public sealed record BiasMetricValue(double Value, double? Lower, double? Upper, double[]? AllowedRange = null, bool? Drifted = null);

/// <param name="Violations">The run's <c>bias_drift_check</c> violations (listed with the run's others, not in this part of the report).</param>
public sealed record BiasDriftReport(string Facet, IReadOnlyList<string>? SensitiveValues, double? Threshold, FacetCounts? Rows, string? Reason,
    IReadOnlyDictionary<string, BiasMetricValue>? PreTraining, IReadOnlyDictionary<string, BiasMetricValue>? PostTraining,
    [property: System.Text.Json.Serialization.JsonIgnore] IReadOnlyList<Violation>? Violations = null,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>? ByFacetValue = null);

/// <summary>One joined row for bias: the facet value captured with the request, the observed and the predicted label.</summary>
public readonly record struct BiasRow(string? FacetValue, bool Label, bool Predicted);

/// <summary>
/// Bias drift over a window of captured predictions joined with ground truth: every Clarify metric (pre-training on the
/// observed labels, post-training with the predicted ones), each with a 95% interval = value ± 1.96 σ over 30 bootstrap
/// resamples of the joined rows (seeded); a metric has drifted when its whole interval lies outside its allowed range
/// (Clarify's bias-drift monitor flags a metric whose confidence interval does not overlap the allowed range).
/// </summary>
public static class BiasDrift
{
    public const string CheckType = "bias_drift_check";
    private const int BootstrapSamples = 30;
    private const int MaxFacetValues = 20;
    private static readonly HashSet<string> Known = ["CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL", "DPPL", "DI", "DCAcc", "DCR", "RD", "DAR", "DRR", "AD", "TE"];

    public static void Validate(BiasMonitorOptions? b, string problem, List<string> errors)
    {
        if (b is null) return;
        if (problem != "binary") errors.Add("'quality.bias' needs problem_type binary: Clarify's metrics are over a positive and a negative outcome.");
        if (string.IsNullOrWhiteSpace(b.Facet?.Column)) errors.Add("'quality.bias.facet.column' is required.");
        else if ((b.Facet.SensitiveValues is { Count: > 0 }) == (b.Facet.Threshold is not null))
            errors.Add("Give exactly one of 'quality.bias.facet.sensitive_values' (a non-empty list) and 'quality.bias.facet.threshold'.");
        if (b.Facet?.Threshold is { } t && !double.IsFinite(t)) errors.Add("'quality.bias.facet.threshold' must be a finite number.");
        if (b.Facet?.SensitiveValues?.Any(v => v is null) == true) errors.Add("'quality.bias.facet.sensitive_values' must not contain null.");
        foreach (var (metric, value) in b.Baseline ?? new Dictionary<string, double>())
        {
            if (!Known.Contains(metric)) errors.Add($"'quality.bias.baseline' names '{metric}', which is not one of Clarify's metrics ({string.Join(", ", Known)}).");
            else if (!double.IsFinite(value)) errors.Add($"'quality.bias.baseline.{metric}' must be a finite number.");
        }
        foreach (var (metric, range) in b.AllowedRanges ?? new Dictionary<string, double[]>())
        {
            if (!Known.Contains(metric)) errors.Add($"'quality.bias.allowed_ranges' names '{metric}', which is not one of Clarify's metrics ({string.Join(", ", Known)}).");
            else if (range is not { Length: 2 } || !double.IsFinite(range[0]) || !double.IsFinite(range[1]) || range[0] > range[1])
                errors.Add($"'quality.bias.allowed_ranges.{metric}' must be [low, high] with low ≤ high.");
        }
    }

    /// <summary>The fair value of a metric: 1 for the disparate-impact ratio, 0 for every difference and divergence.</summary>
    public static double Fair(string metric) => metric == "DI" ? 1 : 0;

    public static double[]? AllowedRange(BiasMonitorOptions o, string metric)
    {
        if (o.AllowedRanges?.GetValueOrDefault(metric) is { } r) return r;
        if (o.Baseline?.TryGetValue(metric, out var b) != true) return null;
        var spread = Math.Abs(b - Fair(metric));
        return [Fair(metric) - spread, Fair(metric) + spread];
    }

    /// <summary>
    /// The report, the run's metrics (<c>bias.&lt;metric&gt;</c>, <c>.lower</c>, <c>.upper</c>, <c>.drifted</c>,
    /// <c>bias.drifted_metrics</c>, <c>bias.facet_d_rows</c>, <c>bias.facet_a_rows</c>) and a <c>bias_drift_check</c> violation
    /// per drifted metric. A facet the captured inputs lack, or a sensitive value (or a side) with no rows, is a reason and no metrics.
    /// </summary>
    public static (BiasDriftReport Report, Dictionary<string, double> Metrics, List<Violation> Violations) Evaluate(BiasMonitorOptions o,
        IReadOnlyList<BiasRow> rows, int seed = 17)
    {
        var facet = o.Facet!;
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        var violations = new List<Violation>();
        BiasDriftReport Reason(string reason, FacetCounts? counts = null) => new(facet.Column!, facet.SensitiveValues, facet.Threshold, counts, reason, null, null);

        var withFacet = rows.Where(r => r.FacetValue is not null).ToList();
        if (withFacet.Count == 0)
            return (Reason(rows.Count == 0 ? "No labelled predictions to measure bias on."
                : $"None of the {rows.Count} labelled captured request(s) has the facet column '{facet.Column}'."), metrics, violations);
        if (facet.SensitiveValues is { } values)
        {
            var present = withFacet.Select(r => r.FacetValue!).ToHashSet(StringComparer.Ordinal);
            var absent = values.Where(v => !present.Contains(v)).ToList();
            if (absent.Count > 0)
                return (Reason($"The facet column '{facet.Column}' has no labelled rows with the sensitive value(s) {string.Join(", ", absent.Select(v => $"'{v}'"))}."), metrics, violations);
        }
        var d = withFacet.Select(r => (InD(facet, r.FacetValue!), r)).Where(p => p.Item1 is not null).Select(p => (D: p.Item1!.Value, p.r)).ToArray();
        long nd = d.Count(x => x.D), na = d.Length - nd;
        var counts = new FacetCounts(nd, na);
        if (nd == 0) return (Reason($"Facet d ('{facet.Column}' above {facet.Threshold}) has no labelled rows.", counts), metrics, violations);
        if (na == 0) return (Reason($"Every labelled row of '{facet.Column}' is in the sensitive facet: facet a is empty.", counts), metrics, violations);

        // The 8 cells (d, y, ŷ) and their counts; each bootstrap sample redraws the rows' cells.
        var cellOf = d.Select(x => (x.D ? 4 : 0) + (x.r.Label ? 2 : 0) + (x.r.Predicted ? 1 : 0)).ToArray();
        var value = Compute(Count(cellOf, null));
        var random = new Random(seed);
        var samples = new List<(Dictionary<string, double> Pre, Dictionary<string, double> Post)>();
        for (var s = 0; s < BootstrapSamples; s++) samples.Add(Compute(Count(cellOf, random)));

        IReadOnlyDictionary<string, BiasMetricValue> Side(Dictionary<string, double> values, Func<(Dictionary<string, double> Pre, Dictionary<string, double> Post), Dictionary<string, double>> pick)
        {
            var side = new Dictionary<string, BiasMetricValue>(StringComparer.Ordinal);
            foreach (var (metric, v) in values)
            {
                if (!double.IsFinite(v)) continue;
                var xs = samples.Select(pick).Select(m => m.GetValueOrDefault(metric, double.NaN)).Where(double.IsFinite).ToArray();
                double? lower = null, upper = null;
                if (xs.Length >= 2)
                {
                    var mean = xs.Average();
                    var sd = Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Length - 1));
                    (lower, upper) = (v - 1.96 * sd, v + 1.96 * sd);
                }
                var range = AllowedRange(o, metric);
                bool? drifted = range is null ? null : (upper ?? v) < range[0] || (lower ?? v) > range[1];
                side[metric] = new BiasMetricValue(v, lower, upper, range, drifted);
                metrics[$"bias.{metric}"] = v;
                if (lower is { } l) metrics[$"bias.{metric}.lower"] = l;
                if (upper is { } u) metrics[$"bias.{metric}.upper"] = u;
                if (drifted is { } flag)
                {
                    metrics[$"bias.{metric}.drifted"] = flag ? 1 : 0;
                    if (flag)
                        violations.Add(new Violation(facet.Column!, CheckType,
                            $"Bias drift in {metric} for facet '{facet.Column}' = {FacetText(facet)}: {v:G6} (95% interval [{lower ?? v:G6}, {upper ?? v:G6}]) " +
                            $"lies outside the allowed range [{range![0]:G6}, {range[1]:G6}]."));
                }
            }
            return side;
        }

        var pre = Side(value.Pre, m => m.Pre);
        var post = Side(value.Post, m => m.Post);
        metrics["bias.drifted_metrics"] = violations.Count;
        metrics["bias.facet_d_rows"] = nd;
        metrics["bias.facet_a_rows"] = na;
        return (new BiasDriftReport(facet.Column!, facet.SensitiveValues, facet.Threshold, counts, null, pre, post, violations,
            facet.SensitiveValues is null ? null : ByFacetValue(withFacet)), metrics, violations);
    }

    /// <summary>
    /// Every metric for each of the facet column's values (at most the 20 most frequent) as facet d against all other rows:
    /// the per-value picture Clarify's report draws; point values, no intervals.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> ByFacetValue(IReadOnlyList<BiasRow> rows)
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);
        foreach (var value in rows.GroupBy(r => r.FacetValue!, StringComparer.Ordinal).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                     .Take(MaxFacetValues).Select(g => g.Key))
        {
            var counts = new long[8];
            foreach (var r in rows) counts[(r.FacetValue == value ? 4 : 0) + (r.Label ? 2 : 0) + (r.Predicted ? 1 : 0)]++;
            if (counts[..4].Sum() == 0) continue; // every row has this value: no facet a
            var (pre, post) = Compute(counts);
            result[value] = pre.Concat(post).Where(p => double.IsFinite(p.Value)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        }
        return result;
    }

    private static string FacetText(FacetSpec f) =>
        f.SensitiveValues is { } v ? string.Join(" | ", v.Select(x => $"'{x}'")) : $"> {f.Threshold!.Value.ToString("G", CultureInfo.InvariantCulture)}";

    private static bool? InD(FacetSpec facet, string value)
    {
        if (facet.SensitiveValues is { } values) return values.Contains(value, StringComparer.Ordinal);
        return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x > facet.Threshold!.Value : null;
    }

    // Counts per cell, of the rows as they are (random null) or of a resample with replacement of as many rows.
    private static long[] Count(int[] cellOf, Random? random)
    {
        var counts = new long[8];
        if (random is null) foreach (var c in cellOf) counts[c]++;
        else for (var i = 0; i < cellOf.Length; i++) counts[cellOf[random.Next(cellOf.Length)]]++;
        return counts;
    }

    private static (Dictionary<string, double> Pre, Dictionary<string, double> Post) Compute(long[] counts)
    {
        var cells = new List<BiasCell>();
        for (var c = 0; c < 8; c++)
            if (counts[c] > 0) cells.Add(new BiasCell((c & 4) != 0, (c & 2) != 0, (c & 1) != 0, "", counts[c]));
        return (BiasMetrics.PreTraining(cells), BiasMetrics.PostTraining(cells));
    }
}
