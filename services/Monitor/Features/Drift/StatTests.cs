using MathNet.Numerics;

namespace Mlops.Monitor.Features.Drift;

/// <summary>
/// Evidently 0.4's stattests (src/evidently/calculations/stattests) over exact count distributions. Every score is the
/// number Evidently reports for the same data; drift is decided with its comparison (p-values: below the threshold,
/// K-S at or below; distances: at or above).
/// </summary>
public static class StatTests
{
    /// <summary>K-S p-value (ks_2samp, two-sided).</summary>
    public static double Ks(NumericDistribution reference, NumericDistribution current) =>
        KolmogorovSmirnov.TwoSample(reference, current).PValue;

    /// <summary>Chi-squared p-value: current counts against reference counts scaled to the current size, k − 1 dof.</summary>
    public static double ChiSquare(AlignedCounts counts)
    {
        var kNorm = (double)counts.CurrentTotal / counts.ReferenceTotal;
        double stat = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            var expected = counts.Reference[i] * kNorm;
            var d = counts.Current[i] - expected;
            stat += d * d / expected; // a category only in current makes this +inf and the p-value 0, as in NumPy
        }
        var dof = counts.Length - 1;
        if (double.IsNaN(stat)) return double.NaN;
        if (dof <= 0) return double.NaN; // SciPy: chi2.sf(x, 0) is NaN
        if (double.IsPositiveInfinity(stat)) return 0;
        return SpecialFunctions.GammaUpperRegularized(dof / 2.0, stat / 2.0);
    }

    /// <summary>
    /// Z-test of two proportions: the share of rows not equal to the first (sorted) category on each side.
    /// Symmetric in which category is "first" when there are two, which is when Evidently uses it.
    /// </summary>
    public static double Z(AlignedCounts counts, int firstKeyIndex)
    {
        var refUnique = counts.Reference.Count(c => c > 0);
        var curUnique = counts.Current.Count(c => c > 0);
        if (refUnique == 1 && curUnique == 1 && Array.FindIndex(counts.Reference, c => c > 0) == Array.FindIndex(counts.Current, c => c > 0))
            return 1;
        double n1 = counts.ReferenceTotal, n2 = counts.CurrentTotal;
        var p1 = (n1 - counts.Reference[firstKeyIndex]) / n1;
        var p2 = (n2 - counts.Current[firstKeyIndex]) / n2;
        var p = (p1 * n1 + p2 * n2) / (n1 + n2);
        var z = (p1 - p2) / Math.Sqrt(p * (1 - p) * (1.0 / n1 + 1.0 / n2));
        return 2 * (1 - MathNet.Numerics.Distributions.Normal.CDF(0, 1, Math.Abs(z)));
    }

    /// <summary>Wasserstein-1 distance between the empirical distributions, divided by max(std(reference), 0.001).</summary>
    public static double WassersteinNormed(NumericDistribution reference, NumericDistribution current) =>
        Wasserstein(reference, current) / Math.Max(reference.StdDev(), 0.001);

    /// <summary>SciPy's wasserstein_distance (∫|F_u − F_v|) over the merged observed values.</summary>
    public static double Wasserstein(NumericDistribution u, NumericDistribution v)
    {
        double nu = u.Count, nv = v.Count;
        long cu = 0, cv = 0;
        double total = 0, previous = double.NaN;
        int i = 0, j = 0;
        while (i < u.Values.Length || j < v.Values.Length)
        {
            double x;
            if (j >= v.Values.Length || (i < u.Values.Length && u.Values[i] <= v.Values[j])) x = u.Values[i];
            else x = v.Values[j];
            if (!double.IsNaN(previous)) total += Math.Abs(cu / nu - cv / nv) * (x - previous);
            while (i < u.Values.Length && u.Values[i] == x) cu += u.Counts[i++];
            while (j < v.Values.Length && v.Values[j] == x) cv += v.Counts[j++];
            previous = x;
        }
        return total;
    }

    /// <summary>SciPy's jensenshannon (natural log) of the binned shares, without Evidently's zero filling.</summary>
    public static double JensenShannon(double[] p, double[] q)
    {
        double sp = p.Sum(), sq = q.Sum();
        double js = 0;
        for (var i = 0; i < p.Length; i++)
        {
            double pi = p[i] / sp, qi = q[i] / sq, m = (pi + qi) / 2.0;
            js += RelEntr(pi, m) + RelEntr(qi, m);
        }
        return Math.Sqrt(js / 2.0);
    }

    /// <summary>PSI: Σ (ref − cur)·ln(ref / cur) over the zero-filled shares.</summary>
    public static double Psi(double[] reference, double[] current)
    {
        double psi = 0;
        for (var i = 0; i < reference.Length; i++) psi += (reference[i] - current[i]) * Math.Log(reference[i] / current[i]);
        return psi;
    }

    /// <summary>SciPy's entropy(ref, cur): KL(ref ‖ cur) of the zero-filled shares, each renormalised to 1.</summary>
    public static double KlDivergence(double[] reference, double[] current)
    {
        double sp = reference.Sum(), sq = current.Sum();
        double kl = 0;
        for (var i = 0; i < reference.Length; i++) kl += RelEntr(reference[i] / sp, current[i] / sq);
        return kl;
    }

    /// <summary>Hellinger distance of categorical shares: sqrt(1 − clip(Σ sqrt(p·q), 0, 1)).</summary>
    public static double Hellinger(CategoricalDistribution reference, CategoricalDistribution current)
    {
        var counts = AlignedCounts.Of(reference, current);
        double bc = 0;
        for (var i = 0; i < counts.Length; i++)
            bc += Math.Sqrt(counts.Reference[i] / counts.ReferenceTotal * (counts.Current[i] / counts.CurrentTotal));
        return Math.Sqrt(1 - Math.Clamp(bc, 0, 1));
    }

    /// <summary>
    /// Hellinger distance of numerical columns: density histograms over Sturges' edges of the distinct values of
    /// reference ∪ current (not of the rows — Evidently bins its key list), Σ sqrt(p·q)·width.
    /// </summary>
    public static double Hellinger(NumericDistribution reference, NumericDistribution current)
    {
        var aligned = AlignedCounts.Of(reference, current);
        var min = Math.Min(reference.Values[0], current.Values[0]);
        var max = Math.Max(reference.Values[^1], current.Values[^1]);
        var edges = NumpyBinning.SturgesEdges(aligned.Length, min, max);
        var h1 = Density(NumpyBinning.Histogram(reference, edges), edges);
        var h2 = Density(NumpyBinning.Histogram(current, edges), edges);
        var binWidth = (edges[^1] - edges[0]) / (edges.Length - 1);
        double bc = 0;
        for (var i = 0; i < h1.Length; i++) bc += Math.Sqrt(h1[i] * h2[i]) * binWidth;
        return Math.Sqrt(1 - Math.Clamp(bc, 0, 1));
    }

    /// <summary>
    /// SageMaker Model Monitor's distribution distance (comparison_method "Simple"): the L-infinity norm of the
    /// difference of the two distributions — of the category shares for categorical columns, of the CDFs for numerical.
    /// </summary>
    public static double LInfinity(CategoricalDistribution reference, CategoricalDistribution current)
    {
        var counts = AlignedCounts.Of(reference, current);
        double max = 0;
        for (var i = 0; i < counts.Length; i++)
            max = Math.Max(max, Math.Abs(counts.Reference[i] / counts.ReferenceTotal - counts.Current[i] / counts.CurrentTotal));
        return max;
    }

    public static double LInfinity(NumericDistribution reference, NumericDistribution current) =>
        KolmogorovSmirnov.Statistic(reference, current);

    private static double[] Density(double[] counts, double[] edges)
    {
        var total = counts.Sum();
        var density = new double[counts.Length];
        for (var i = 0; i < counts.Length; i++) density[i] = counts[i] / (edges[i + 1] - edges[i]) / total;
        return density;
    }

    // scipy.special.rel_entr
    private static double RelEntr(double x, double y)
    {
        if (x > 0 && y > 0) return x * Math.Log(x / y);
        if (x == 0 && y >= 0) return 0;
        return double.PositiveInfinity;
    }
}
