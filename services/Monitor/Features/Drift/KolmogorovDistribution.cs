using MathNet.Numerics;

namespace Mlops.Monitor.Features.Drift;

/// <summary>
/// The distribution of the two-sided one-sample Kolmogorov–Smirnov statistic D_n: SciPy's <c>kstwo.sf(x, n)</c>, which
/// <c>ks_2samp</c> evaluates at n = round(n₁n₂/(n₁+n₂)) when a sample has more than 10,000 values. The method for each
/// (n, x) region is Simard and L'Ecuyer's (2011) selection, with SciPy's cut-offs, so the p-value is the one SciPy (and
/// hence Evidently) reports:
/// Ruben–Gambino closed forms at the ends; twice the one-sided Smirnov tail where the two one-sided events cannot
/// overlap (x ≥ 0.5) or their overlap is negligible; Durbin's matrix (Marsaglia–Tsang–Wang) for small n·x²; the
/// Pelz–Good expansion for large n. SciPy uses Pomeranz's recursion for n ≤ 140 and 0.754693 &lt; n·x² ≤ 4; Durbin's matrix
/// is exact there too (the same probability by another exact method), so it is used for that region as well.
/// </summary>
public static class KolmogorovDistribution
{
    /// <summary>Above this n SciPy's Smirnov tail switches from the exact sum to Miller's approximation.</summary>
    public const long SmirnovMaxComputeN = 1_000_000;

    private const double MinLog = -7.08396418532264106224e2; // Cephes MINLOG: log of the smallest normal double

    /// <summary>Pr(D_n ≥ x) (SciPy's kstwo.sf).</summary>
    public static double Sf(long n, double x)
    {
        if (n <= 0 || double.IsNaN(x)) return double.NaN;
        if (x >= 1) return 0;
        if (x <= 0) return 1;
        var t = n * x;
        if (t <= 1)
        {
            // Ruben–Gambino: for 1/(2n) ≤ x ≤ 1/n, Pr(D_n ≤ x) = n!/n^n (2t − 1)^n.
            if (t <= 0.5) return 1;
            double cdf;
            if (n <= 140)
            {
                cdf = 1;
                for (long i = 1; i <= n; i++) cdf *= i * (1.0 / n) * (2 * t - 1);
            }
            else
            {
                cdf = Math.Exp(SpecialFunctions.GammaLn(n + 1) - n * Math.Log(n) + n * Math.Log(2 * t - 1));
            }
            return Clip(1 - cdf);
        }
        if (t >= n - 1) return Clip(2 * Math.Pow(1 - x, n)); // Ruben–Gambino at the top end
        if (x >= 0.5) return Clip(2 * SmirnovSf(n, x));     // D_n⁺ ≥ x and D_n⁻ ≥ x cannot both hold

        var nxx = t * x;
        if (n <= 140)
        {
            if (nxx <= 4) return Clip(1 - DurbinCdf(n, x));
            return Clip(2 * SmirnovSf(n, x));
        }
        if (nxx >= 370) return 0;
        if (nxx >= 2.2) return Clip(2 * SmirnovSf(n, x));
        var cdfLarge = n <= 100_000 && n * Math.Pow(x, 1.5) <= 1.4 ? DurbinCdf(n, x) : PelzGoodCdf(n, x);
        return Clip(1 - cdfLarge);
    }

    /// <summary>
    /// The one-sided Smirnov tail Pr(D_n⁺ ≥ x) (SciPy's <c>smirnov(n, x)</c>): the Birnbaum–Tingey sum
    /// x Σ_{j=0}^{⌊n(1−x)⌋} C(n, j) (1 − x − j/n)^{n−j} (x + j/n)^{j−1}, every term in logarithms (the binomial coefficients
    /// overflow a double); Miller's approximation exp(−(6nx + 1)²/(18n)) above <see cref="SmirnovMaxComputeN"/>, as SciPy.
    /// </summary>
    public static double SmirnovSf(long n, double x)
    {
        if (n <= 0 || double.IsNaN(x) || x < 0 || x > 1) return double.NaN;
        if (n == 1) return 1 - x;
        if (x == 0) return 1;
        if (x == 1) return 0;
        // floor(n·x) exactly: the fused multiply-add gives the sign of n·x − floor without rounding it away.
        var nxFloor = Math.Floor(n * x);
        var alpha = Math.FusedMultiplyAdd(n, x, -nxFloor);
        if (alpha < 0) { nxFloor -= 1; alpha = Math.FusedMultiplyAdd(n, x, -nxFloor); }
        if (alpha >= 1) { nxFloor += 1; alpha = 0; }
        if (nxFloor == 0 || (nxFloor == 1 && alpha == 0)) return Clip(1 - x * Math.Pow(1 + x, n - 1)); // x ≤ 1/n
        if (-2 * n * x * x < MinLog) return 0;
        if (nxFloor >= n - 1) return Clip(Math.Pow(1 - x, n));
        if (n > SmirnovMaxComputeN)
        {
            return Clip(Math.Exp(-Math.Pow(6.0 * n * x + 1, 2) / 18.0 / n));
        }

        // Terms j = 0 … ⌈n(1 − x)⌉ − 1 (the last has 1 − x − j/n > 0). They peak where x + j/n ≈ 1/2 and fall off on both
        // sides; the sum stops once the remaining terms cannot change it (SciPy's criterion).
        var last = n - (long)nxFloor - 1;
        var logFactN = SpecialFunctions.GammaLn(n + 1);
        double sum = 0, compensation = 0;
        var vmid = n / 2;
        for (long j = 0; j <= last; j++)
        {
            var a = 1 - x - (double)j / n;
            if (a <= 0) break;
            var logTerm = logFactN - SpecialFunctions.GammaLn(j + 1) - SpecialFunctions.GammaLn(n - j + 1)
                          + (n - j) * Math.Log(a) + (j - 1) * Math.Log(x + (double)j / n);
            var term = Math.Exp(logTerm);
            // Kahan summation: a million positive terms.
            var y = term - compensation;
            var s = sum + y;
            compensation = s - sum - y;
            sum = s;
            if (j > vmid && (term == 0 || (j != last && 4.0 * (last - j) * term < 2.220446049250313e-16 * sum))) break;
        }
        return Clip(x * sum);
    }

    /// <summary>
    /// Pr(D_n &lt; x) by Durbin's matrix: with n·x = k − h (k an integer, 0 ≤ h &lt; 1), n!/n^n times the (k, k) element of
    /// H^n, H the (2k − 1)² matrix of Durbin (1968) as evaluated by Marsaglia, Tsang and Wang (2003), powers scaled by 2^±e.
    /// </summary>
    public static double DurbinCdf(long n, double x)
    {
        if (x >= 1) return 1;
        var nd = n * x;
        if (nd <= 0.5) return 0;
        var k = (int)Math.Ceiling(nd);
        var h = k - nd;
        var m = 2 * k - 1;
        var H = new double[m, m];
        // H[i, j] = 1/(i − j + 1)! for i − j + 1 ≥ 0; the first column and last row lose h^r/r!; the corner gains (2h − 1)₊^m / m!.
        var invFact = new double[m + 2];
        invFact[0] = 1;
        for (var r = 1; r < invFact.Length; r++) invFact[r] = invFact[r - 1] / r;
        for (var i = 0; i < m; i++)
            for (var j = 0; j < m; j++)
                if (i - j + 1 >= 0) H[i, j] = invFact[i - j + 1];
        for (var i = 0; i < m; i++)
        {
            H[i, 0] -= Math.Pow(h, i + 1) * invFact[i + 1];
            H[m - 1, i] -= Math.Pow(h, m - i) * invFact[m - i];
        }
        H[m - 1, 0] += (2 * h - 1 > 0 ? Math.Pow(2 * h - 1, m) : 0) * invFact[m];

        var (power, exponent) = MatrixPower(H, n);
        var p = power[k - 1, k - 1];
        // × n!/n^n, keeping p in range.
        for (long i = 1; i <= n; i++)
        {
            p = i * p / n;
            if (Math.Abs(p) < 1e-140) { p = Math.ScaleB(p, 400); exponent -= 400; }
        }
        return Math.Clamp(Math.ScaleB(p, (int)Math.Clamp(exponent, int.MinValue / 2, int.MaxValue / 2)), 0, 1);
    }

    // H^n by repeated squaring; the result is (matrix, e) with H^n = matrix · 2^e.
    private static (double[,] Matrix, long Exponent) MatrixPower(double[,] h, long n)
    {
        var m = h.GetLength(0);
        var result = new double[m, m];
        for (var i = 0; i < m; i++) result[i, i] = 1;
        long resultExp = 0, baseExp = 0;
        var b = (double[,])h.Clone();
        while (n > 0)
        {
            if ((n & 1) == 1)
            {
                result = Multiply(result, b);
                resultExp += baseExp;
                resultExp += Rescale(result);
            }
            n >>= 1;
            if (n == 0) break;
            b = Multiply(b, b);
            baseExp *= 2;
            baseExp += Rescale(b);
        }
        return (result, resultExp);
    }

    // Divides the matrix by a power of two that brings its largest element near 1; returns that power.
    private static int Rescale(double[,] a)
    {
        double max = 0;
        foreach (var v in a) max = Math.Max(max, Math.Abs(v));
        if (max == 0 || (max > 1e-100 && max < 1e100)) return 0;
        var e = Math.ILogB(max);
        var m = a.GetLength(0);
        for (var i = 0; i < m; i++)
            for (var j = 0; j < m; j++)
                a[i, j] = Math.ScaleB(a[i, j], -e);
        return e;
    }

    private static double[,] Multiply(double[,] a, double[,] b)
    {
        var m = a.GetLength(0);
        var c = new double[m, m];
        for (var i = 0; i < m; i++)
            for (var l = 0; l < m; l++)
            {
                var ail = a[i, l];
                if (ail == 0) continue;
                for (var j = 0; j < m; j++) c[i, j] += ail * b[l, j];
            }
        return c;
    }

    /// <summary>
    /// Pelz and Good's (1976) expansion Pr(D_n ≤ x) ≈ K₀(z) + K₁(z)/√n + K₂(z)/n + K₃(z)/n^{3/2}, z = x√n, each Kᵢ in its
    /// theta-function form for small z (sums over odd m = 2k − 1 of polynomials times e^{−m²π²/(8z²)}, and for K₂, K₃ a
    /// second sum over all k of e^{−k²π²/(2z²)}).
    /// </summary>
    public static double PelzGoodCdf(long n, double x)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        var z = Math.Sqrt(n) * x;
        double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2, z8 = z4 * z4;
        const double pi2 = Math.PI * Math.PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
        var logQ = -pi2 / 8 / z2;
        if (logQ < -708) return 0;

        var maxK = (int)Math.Ceiling(16 * z / Math.PI);
        double k0 = 0, k1 = 0, k2 = 0, k3 = 0;
        for (var k = maxK; k >= 1; k--)
        {
            double m = 2 * k - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
            var q = Math.Exp(m2 * logQ);
            k0 += q;
            k1 += (pi2 / 4 * m2 - z2) * q;
            k2 += (6 * z6 + 2 * z4 + (2 * z4 - 5 * z2) * pi2 / 4 * m2 + pi4 * (1 - 2 * z2) / 16 * m4) * q;
            k3 += (-30 * z6 - 90 * z8 + pi2 * (135 * z4 - 96 * z6) / 4 * m2 + pi4 * (-60 * z2 + 212 * z4) / 16 * m4
                   + pi6 * (5 - 30 * z2) / 64 * m6) * q;
        }
        var sqrt2Pi = Math.Sqrt(2 * Math.PI);
        k0 *= sqrt2Pi / z;
        k1 *= sqrt2Pi / (6 * z4);
        k2 *= sqrt2Pi / (72 * Math.Pow(z, 7));
        k3 *= sqrt2Pi / (6480 * Math.Pow(z, 10));

        var logR = -pi2 / 2 / z2;
        double extra2 = 0, extra3 = 0;
        for (var k = maxK; k >= 1; k--)
        {
            double kk = k * k;
            var r = Math.Exp(kk * logR);
            extra2 += kk * r;
            var kpi = Math.PI * k;
            extra3 += (3 * z2 - kpi * kpi) * kk * r;
        }
        k2 += extra2 * pi2 * sqrt2Pi / (-36 * z3);
        k3 += extra3 * pi2 * sqrt2Pi / (216 * z6);
        var sqrtN = Math.Sqrt(n);
        return k0 + k1 / sqrtN + k2 / n + k3 / (n * sqrtN);
    }

    private static double Clip(double p) => double.IsNaN(p) ? p : Math.Clamp(p, 0, 1);
}
