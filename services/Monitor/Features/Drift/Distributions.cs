namespace Mlops.Monitor.Features.Drift;

/// <summary>
/// A numerical column reduced to its exact distinct finite values and their counts (ascending), which is all that
/// Evidently's numerical statistics depend on: K-S and Wasserstein use the empirical CDFs, the histogram-based ones
/// (Jensen–Shannon, PSI, KL, Hellinger) bin the values. Memory grows with the number of distinct values, not rows.
/// </summary>
public sealed record NumericDistribution(double[] Values, long[] Counts)
{
    public long Count { get; } = Sum(Counts);

    public int Distinct => Values.Length;

    public static NumericDistribution FromValues(IEnumerable<double> values)
    {
        var counts = new Dictionary<double, long>();
        foreach (var v in values)
        {
            if (!double.IsFinite(v)) continue; // Evidently drops NaN and ±inf before testing.
            counts[v] = counts.GetValueOrDefault(v) + 1;
        }
        return FromCounts(counts);
    }

    public static NumericDistribution FromCounts(IEnumerable<KeyValuePair<double, long>> counts)
    {
        var pairs = counts.Where(p => double.IsFinite(p.Key) && p.Value > 0).OrderBy(p => p.Key).ToArray();
        return new NumericDistribution(pairs.Select(p => p.Key).ToArray(), pairs.Select(p => p.Value).ToArray());
    }

    /// <summary>NumPy's <c>np.std</c> (population, ddof = 0), two-pass like NumPy.</summary>
    public double StdDev()
    {
        var mean = Mean();
        double ss = 0;
        for (var i = 0; i < Values.Length; i++)
        {
            var d = Values[i] - mean;
            ss += d * d * Counts[i];
        }
        return Math.Sqrt(ss / Count);
    }

    public double Mean()
    {
        double sum = 0;
        for (var i = 0; i < Values.Length; i++) sum += Values[i] * Counts[i];
        return sum / Count;
    }

    private static long Sum(long[] counts)
    {
        long n = 0;
        foreach (var c in counts) n += c;
        return n;
    }
}

/// <summary>A categorical column as counts per category (missing values excluded, as Evidently drops them).</summary>
public sealed record CategoricalDistribution(IReadOnlyDictionary<string, long> Counts)
{
    public long Count { get; } = Counts.Values.Sum();

    public int Distinct => Counts.Count;

    public static CategoricalDistribution FromValues(IEnumerable<string?> values)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            if (v is null) continue;
            counts[v] = counts.GetValueOrDefault(v) + 1;
        }
        return new CategoricalDistribution(counts);
    }
}

/// <summary>Two count vectors aligned over the union of the two sides' keys.</summary>
public readonly record struct AlignedCounts(double[] Reference, double[] Current, long ReferenceTotal, long CurrentTotal)
{
    public int Length => Reference.Length;

    public static AlignedCounts Of(CategoricalDistribution reference, CategoricalDistribution current)
    {
        var keys = reference.Counts.Keys.Union(current.Counts.Keys, StringComparer.Ordinal).ToArray();
        var r = new double[keys.Length];
        var c = new double[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            r[i] = reference.Counts.GetValueOrDefault(keys[i]);
            c[i] = current.Counts.GetValueOrDefault(keys[i]);
        }
        return new AlignedCounts(r, c, reference.Count, current.Count);
    }

    public static AlignedCounts Of(NumericDistribution reference, NumericDistribution current)
    {
        // Merge of two ascending distinct arrays.
        var r = new List<double>();
        var c = new List<double>();
        int i = 0, j = 0;
        while (i < reference.Values.Length || j < current.Values.Length)
        {
            if (j >= current.Values.Length || (i < reference.Values.Length && reference.Values[i] < current.Values[j]))
            {
                r.Add(reference.Counts[i++]); c.Add(0);
            }
            else if (i >= reference.Values.Length || current.Values[j] < reference.Values[i])
            {
                r.Add(0); c.Add(current.Counts[j++]);
            }
            else
            {
                r.Add(reference.Counts[i++]); c.Add(current.Counts[j++]);
            }
        }
        return new AlignedCounts(r.ToArray(), c.ToArray(), reference.Count, current.Count);
    }
}
