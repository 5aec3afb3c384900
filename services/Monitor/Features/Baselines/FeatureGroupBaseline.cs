using System.Globalization;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Platform;
using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Features.Baselines;

/// <summary>A feature group version to baseline: its statistics in the FeatureStore (the latest version by default).</summary>
public sealed record FeatureGroupRef(string? Name, int? Version = null);

/// <summary>
/// A baseline from a feature group version's statistics instead of a dataset. The FeatureStore keeps count, nulls, mean,
/// standard deviation, min, max, seven quantiles (p01–p99, t-digest) and the top 50 values per feature, not the rows, so:
/// statistics.json carries its exact count, mean, sum, deviation and range; the reference distribution that drift is
/// computed against is exact where the top values cover the feature (strings, booleans, integers with ≤ 50 values) and
/// otherwise rebuilt from the quantiles (<see cref="ReconstructionPoints"/> points of the piecewise-linear quantile
/// function through min, p01 … p99, max) — drift scores against it are approximations, and domains are only suggested
/// for categorical features whose values are all known.
/// </summary>
public static class FeatureGroupBaseline
{
    public const int ReconstructionPoints = 1000;

    private static readonly (string Key, double P)[] QuantileKeys =
        [("p01", 0.01), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99)];

    public static string Uri(GroupStatistics s) => $"featurestore://{s.Group}/versions/{s.Version}";

    /// <summary>The profile, statistics and constraints of the version (timestamps and vectors are left out, as a dataset's dates are).</summary>
    public static (DatasetProfile Profile, Statistics Statistics, Constraints Constraints) Suggest(GroupStatistics group)
    {
        var features = group.Features.Where(f => f.Type is "int64" or "double" or "string" or "bool").ToList();
        var columns = new List<ColumnProfile>();
        var complete = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var f in features)
        {
            var present = Math.Max(0, f.Count - f.Nulls);
            var topSum = f.TopValues?.Values.Sum() ?? 0;
            var allValuesKnown = present == 0 || (f.TopValues is not null && topSum == present);
            complete[f.Feature] = allValuesKnown;
            if (f.Type is "string" or "bool")
            {
                var counts = new Dictionary<string, long>(f.TopValues ?? new Dictionary<string, long>(), StringComparer.Ordinal);
                var c = new CategoricalDistribution(counts);
                // An incomplete top list: the rows it does not cover are unknown values, not missing ones.
                columns.Add(new ColumnProfile(f.Feature, ColumnKind.Categorical, f.Type == "bool" ? InferredTypes.Integral : InferredTypes.String,
                    present, f.Nulls, null, c));
                continue;
            }
            var inferred = f.Type == "int64" ? InferredTypes.Integral : InferredTypes.Fractional;
            var numeric = f.Type == "int64" && allValuesKnown && f.TopValues is not null
                ? NumericDistribution.FromCounts(f.TopValues.Select(p => new KeyValuePair<double, long>(double.Parse(p.Key, CultureInfo.InvariantCulture), p.Value)))
                : FromQuantiles(f, present, integral: f.Type == "int64");
            columns.Add(new ColumnProfile(f.Feature, ColumnKind.Numerical, inferred, present, f.Nulls, numeric, null));
        }
        var profile = new DatasetProfile(features.Count == 0 ? 0 : features.Max(f => f.Count), columns);

        var statistics = BaselineSuggestion.Statistics(profile);
        statistics = statistics with
        {
            Features = statistics.Features.Select(s =>
            {
                var f = features.Single(x => x.Feature == s.Name);
                if (s.NumericalStatistics is { } n && f.Mean is { } mean)
                    return s with { NumericalStatistics = n with { Mean = mean, Sum = mean * (f.Count - f.Nulls), StdDev = f.Std, Min = f.Min, Max = f.Max } };
                return s;
            }).ToList(),
        };
        var constraints = BaselineSuggestion.Constraints(profile);
        constraints = constraints with
        {
            Features = constraints.Features.Select(c => c.StringConstraints is not null && !complete[c.Name] ? c with { StringConstraints = null } : c).ToList(),
        };
        return (profile, statistics, constraints);
    }

    /// <summary>
    /// <see cref="ReconstructionPoints"/> values at the mid-points of equal probability steps of the piecewise-linear
    /// quantile function through (0, min), (0.01, p01) … (0.99, p99), (1, max), the present count spread evenly over them.
    /// </summary>
    public static NumericDistribution FromQuantiles(GroupFeatureStatistics f, long present, bool integral)
    {
        if (present == 0 || f.Min is not { } min || f.Max is not { } max) return new NumericDistribution([], []);
        var knots = new List<(double P, double V)> { (0, min) };
        foreach (var (key, p) in QuantileKeys)
            if (f.Quantiles?.TryGetValue(key, out var v) == true && double.IsFinite(v)) knots.Add((p, Math.Clamp(v, min, max)));
        knots.Add((1, max));
        for (var i = 1; i < knots.Count; i++) // a sketch's quantiles are monotone, but guard against rounding
            if (knots[i].V < knots[i - 1].V) knots[i] = (knots[i].P, knots[i - 1].V);

        var points = (int)Math.Min(ReconstructionPoints, present);
        var counts = new Dictionary<double, long>();
        var k = 0;
        for (var i = 0; i < points; i++)
        {
            var u = (i + 0.5) / points;
            while (k < knots.Count - 2 && u > knots[k + 1].P) k++;
            var (p0, v0) = knots[k];
            var (p1, v1) = knots[k + 1];
            var value = p1 == p0 ? v1 : v0 + (v1 - v0) * (u - p0) / (p1 - p0);
            if (integral) value = Math.Round(value, MidpointRounding.ToEven);
            var count = present * (i + 1) / points - present * i / points;
            counts[value] = counts.GetValueOrDefault(value) + count;
        }
        return NumericDistribution.FromCounts(counts);
    }
}
