namespace Mlops.Monitor.Features.Drift;

/// <summary>
/// NumPy's binning as Evidently 0.4 calls it: <c>np.histogram_bin_edges(x, bins="sturges")</c> and
/// <c>np.histogram(x, bins=edges)</c> with explicit edges (the searchsorted path: bins are [e_i, e_i+1) except the last,
/// which includes its right edge), and Evidently's <c>get_binned_data</c>.
/// </summary>
public static class NumpyBinning
{
    /// <summary>
    /// Sturges' edges over a sample of size <paramref name="n"/> spanning [min, max], as NumPy below 2.1 computes them
    /// (Evidently 0.4 requires numpy &lt; 2.1; NumPy 2.1 started flooring the width of integer data at 1).
    /// </summary>
    public static double[] SturgesEdges(long n, double min, double max)
    {
        double first = min, last = max;
        if (first == last)
        {
            // _get_outer_edges widens an empty range by half a unit either side.
            first -= 0.5;
            last += 0.5;
        }
        int bins;
        if (n == 0)
        {
            bins = 1;
        }
        else
        {
            // _hist_bin_sturges: ptp(x) / (log2(n) + 1); the ptp is of the data, not the widened edges.
            var width = (max - min) / (Math.Log2(n) + 1.0);
            bins = width != 0 ? (int)Math.Ceiling((last - first) / width) : 1;
        }
        return Linspace(first, last, bins + 1);
    }

    /// <summary><c>np.linspace(start, stop, num)</c> with its endpoint: start + i·step, the last set to stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var edges = new double[num];
        var step = (stop - start) / (num - 1);
        for (var i = 0; i < num; i++) edges[i] = step == 0 ? i / (double)(num - 1) * (stop - start) + start : i * step + start;
        edges[num - 1] = stop;
        return edges;
    }

    /// <summary>Counts per bin of a distribution over explicit edges, as <c>np.histogram(x, bins=edges)</c>.</summary>
    public static double[] Histogram(NumericDistribution d, double[] edges)
    {
        var counts = new double[edges.Length - 1];
        var lastEdge = edges[^1];
        for (var v = 0; v < d.Values.Length; v++)
        {
            var x = d.Values[v];
            if (x < edges[0] || x > lastEdge) continue;
            // Largest i with edges[i] <= x, clamped to the last bin (which is closed on the right).
            var i = UpperBound(edges, x) - 1;
            if (i >= counts.Length) i = counts.Length - 1;
            counts[i] += d.Counts[v];
        }
        return counts;
    }

    private static int UpperBound(double[] a, double x)
    {
        int lo = 0, hi = a.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (a[mid] <= x) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// Evidently's <c>get_binned_data</c>: numerical columns with more than 20 distinct reference values are binned by
    /// Sturges over reference ∪ current; others (and categorical columns) by their distinct values. Shares of each side's
    /// row count; with <paramref name="fillZeroes"/> empty bins get min(non-zero share)/10⁶ when that minimum is ≤ 10⁻⁴,
    /// else 10⁻⁴ (Evidently's <c>feel_zeroes</c>, used by PSI and KL but not by Jensen–Shannon).
    /// </summary>
    public static (double[] Reference, double[] Current) BinnedShares(NumericDistribution reference, NumericDistribution current, bool fillZeroes)
    {
        if (reference.Distinct > 20)
        {
            var min = Math.Min(reference.Values[0], current.Values[0]);
            var max = Math.Max(reference.Values[^1], current.Values[^1]);
            var edges = SturgesEdges(reference.Count + current.Count, min, max);
            var r = Divide(Histogram(reference, edges), reference.Count);
            var c = Divide(Histogram(current, edges), current.Count);
            return fillZeroes ? (FillZeroes(r), FillZeroes(c)) : (r, c);
        }
        return Shares(AlignedCounts.Of(reference, current), fillZeroes);
    }

    public static (double[] Reference, double[] Current) BinnedShares(CategoricalDistribution reference, CategoricalDistribution current, bool fillZeroes) =>
        Shares(AlignedCounts.Of(reference, current), fillZeroes);

    private static (double[] Reference, double[] Current) Shares(AlignedCounts aligned, bool fillZeroes)
    {
        var r = Divide(aligned.Reference, aligned.ReferenceTotal);
        var c = Divide(aligned.Current, aligned.CurrentTotal);
        return fillZeroes ? (FillZeroes(r), FillZeroes(c)) : (r, c);
    }

    private static double[] Divide(double[] counts, long total)
    {
        var shares = new double[counts.Length];
        for (var i = 0; i < counts.Length; i++) shares[i] = counts[i] / total;
        return shares;
    }

    private static double[] FillZeroes(double[] shares)
    {
        var minNonZero = double.PositiveInfinity;
        foreach (var s in shares) if (s != 0 && s < minNonZero) minNonZero = s;
        var fill = minNonZero <= 0.0001 ? minNonZero / 1e6 : 0.0001;
        for (var i = 0; i < shares.Length; i++) if (shares[i] == 0) shares[i] = fill;
        return shares;
    }
}
