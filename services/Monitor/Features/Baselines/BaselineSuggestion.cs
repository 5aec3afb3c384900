using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;

namespace Mlops.Monitor.Features.Baselines;

/// <summary>Model Monitor's suggested baseline from a profiled dataset: its statistics and the constraints they imply.</summary>
public static class BaselineSuggestion
{
    /// <summary>Categorical columns with at most this many distinct values get a domain constraint (Model Monitor: "for small cardinality").</summary>
    public const int MaxDomainSize = 1000;

    private const int KllK = 2048;

    public static Statistics Statistics(DatasetProfile profile) =>
        new(0, new DatasetStatistics(profile.ItemCount), profile.Columns.Select(Feature).ToList());

    public static FeatureStatistics Feature(ColumnProfile c)
    {
        var common = new CommonStatistics(c.NumPresent, c.NumMissing);
        if (c.Kind == ColumnKind.Numerical)
        {
            var d = c.Numeric!;
            if (d.Count == 0)
                return new FeatureStatistics(c.Name, c.InferredType, new NumericalStatistics(common, null, 0, null, null, null, null), null);
            double sum = 0;
            for (var i = 0; i < d.Values.Length; i++) sum += d.Values[i] * d.Counts[i];
            return new FeatureStatistics(c.Name, c.InferredType,
                new NumericalStatistics(common, d.Mean(), sum, d.StdDev(), d.Values[0], d.Values[^1],
                    new NumericalDistribution(new KllDistribution(Buckets(d), new KllSketch(new KllParameters(0.64, KllK), [Quantiles(d, KllK)])))), null);
        }
        var categories = c.Categorical!;
        return new FeatureStatistics(c.Name, c.InferredType, null,
            new StringStatistics(common, categories.Distinct,
                new StringDistribution(new CategoricalBuckets(categories.Counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
                    .Select(p => new CategoricalBucket(p.Key, p.Value)).ToList()))));
    }

    public static Constraints Constraints(DatasetProfile profile) =>
        new(0, profile.Columns.Select(c => new FeatureConstraints(c.Name, c.InferredType,
                c.Total == 0 ? 0 : (double)c.NumPresent / c.Total,
                c.Kind == ColumnKind.Numerical ? new NumConstraints(c.Numeric!.Count > 0 && c.Numeric.Values[0] >= 0) : null,
                c.Kind == ColumnKind.Categorical && c.Categorical!.Distinct <= MaxDomainSize
                    ? new StringConstraints(c.Categorical.Counts.Keys.Order(StringComparer.Ordinal).ToList())
                    : null)).ToList(),
            MonitoringConfig.Default);

    private static List<KllBucket> Buckets(NumericDistribution d)
    {
        double min = d.Values[0], max = d.Values[^1];
        var width = (max - min) / 10;
        var counts = new long[10];
        for (var i = 0; i < d.Values.Length; i++)
        {
            var b = width == 0 ? 0 : (int)Math.Min(9, Math.Floor((d.Values[i] - min) / width));
            counts[b] += d.Counts[i];
        }
        return Enumerable.Range(0, 10).Select(i => new KllBucket(min + i * width, i == 9 ? max : min + (i + 1) * width, counts[i])).ToList();
    }

    private static List<double> Quantiles(NumericDistribution d, int k)
    {
        if (d.Distinct <= k) return [.. d.Values];
        var points = new List<double>(k);
        long cumulative = 0;
        var next = 0;
        for (var i = 0; i < d.Values.Length && next < k; i++)
        {
            cumulative += d.Counts[i];
            while (next < k && cumulative >= (long)Math.Ceiling((next + 1) * (double)d.Count / k))
            {
                points.Add(d.Values[i]);
                next++;
            }
        }
        return points;
    }
}
