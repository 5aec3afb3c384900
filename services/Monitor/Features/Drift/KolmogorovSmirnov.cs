namespace Mlops.Monitor.Features.Drift;

/// <summary>
/// SciPy's two-sided <c>ks_2samp(method="auto")</c> as Evidently 0.4 calls it: the statistic from the empirical CDFs at
/// every observed value; the exact p-value (Hodges' lattice-path recursions, Viehmann's stable form) when both samples
/// have at most 10,000 values. Larger samples take SciPy's asymptotic branch, <c>kstwo.sf(d, round(n·m/(n+m)))</c>: the
/// exact distribution of the one-sample statistic at that effective size (<see cref="KolmogorovDistribution"/>), so both
/// branches give SciPy's number; <see cref="Result.Exact"/> says which branch (SciPy's <c>method</c>) was taken.
/// </summary>
public static class KolmogorovSmirnov
{
    public const int MaxExactN = 10_000;

    public readonly record struct Result(double Statistic, double PValue, bool Exact);

    public static Result TwoSample(NumericDistribution reference, NumericDistribution current)
    {
        long n1 = reference.Count, n2 = current.Count;
        var d = Statistic(reference, current);
        if (Math.Max(n1, n2) <= MaxExactN)
        {
            var g = Gcd(n1, n2);
            var lcm = n1 / g * n2;
            var h = (long)Math.Round(d * lcm, MidpointRounding.ToEven);
            var dExact = (double)h / lcm;
            if (h == 0) return new Result(dExact, 1.0, true);
            var prob = n1 == n2 ? ProbOutsideSquare(n1, h) : OuterProbInside(n1, n2, g, h);
            if (prob is >= 0 and <= 1) return new Result(dExact, prob, true);
            d = dExact;
        }
        double m = Math.Max(n1, n2), n = Math.Min(n1, n2);
        var en = Math.Round(m * n / (m + n), MidpointRounding.ToEven);
        return new Result(d, KolmogorovDistribution.Sf((long)en, d), false);
    }

    /// <summary>max |F_ref − F_cur| over the observed values (SciPy's d for the two-sided alternative).</summary>
    public static double Statistic(NumericDistribution reference, NumericDistribution current)
    {
        double n1 = reference.Count, n2 = current.Count;
        long c1 = 0, c2 = 0;
        double maxS = double.NegativeInfinity, minS = double.PositiveInfinity;
        int i = 0, j = 0;
        while (i < reference.Values.Length || j < current.Values.Length)
        {
            double v;
            if (j >= current.Values.Length || (i < reference.Values.Length && reference.Values[i] <= current.Values[j])) v = reference.Values[i];
            else v = current.Values[j];
            while (i < reference.Values.Length && reference.Values[i] == v) c1 += reference.Counts[i++];
            while (j < current.Values.Length && current.Values[j] == v) c2 += current.Counts[j++];
            var diff = c1 / n1 - c2 / n2;
            if (diff > maxS) maxS = diff;
            if (diff < minS) minS = diff;
        }
        var clippedMin = Math.Clamp(-minS, 0, 1);
        return clippedMin > maxS ? clippedMin : maxS;
    }

    // SciPy's _compute_prob_outside_square: Pr(D_{n,n} >= h/n) by a Horner-like alternating sum.
    private static double ProbOutsideSquare(long n, long h)
    {
        var p = 0.0;
        var k = (long)Math.Floor((double)n / h);
        while (k >= 0)
        {
            var p1 = 1.0;
            for (long j = 0; j < h; j++) p1 = (n - k * h - j) * p1 / (n + k * h + j + 1);
            p = p1 * (1.0 - p);
            k--;
        }
        return 2 * p;
    }

    // SciPy's _compute_outer_prob_inside_method (Viehmann's recursion for 1 − p).
    private static double OuterProbInside(long m, long n, long g, long h)
    {
        if (m < n) (m, n) = (n, m);
        var mg = m / g;
        var ng = n / g;
        long minj = 0, maxj = Math.Min((long)Math.Ceiling((double)h / mg), n + 1);
        var curlen = maxj - minj;
        var lenA = Math.Min(2 * maxj + 2, n + 1);
        var a = new double[lenA];
        Array.Fill(a, 1.0);
        for (var x = minj; x < maxj && x < a.Length; x++) a[x] = 0.0;
        for (long i = 1; i <= m; i++)
        {
            long lastminj = minj, lastlen = curlen;
            minj = Math.Max((long)Math.Floor((double)(ng * i - h) / mg) + 1, 0);
            minj = Math.Min(minj, n);
            maxj = Math.Min((long)Math.Ceiling((double)(ng * i + h) / mg), n + 1);
            if (maxj <= minj) return 1.0;
            var val = minj == 0 ? 0.0 : 1.0;
            for (long jj = 0; jj < maxj - minj; jj++)
            {
                var j = jj + minj;
                val = (a[jj + minj - lastminj] * i + val * j) / (i + j);
                a[jj] = val;
            }
            curlen = maxj - minj;
            if (lastlen > curlen)
            {
                for (var x = maxj - minj; x < maxj - minj + (lastlen - curlen) && x < a.Length; x++) a[x] = 1;
            }
        }
        return a[maxj - minj - 1];
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
