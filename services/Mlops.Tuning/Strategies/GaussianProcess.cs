using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Mlops.Tuning.Strategies;

/// <summary>The kernel's hyperparameters: one length scale per input, signal variance, noise variance (standardized units).</summary>
internal sealed record KernelParameters(double[] LengthScales, double Signal, double Noise);

/// <summary>
/// A Gaussian process with a Matérn 5/2 ARD kernel over [0, 1]^d features, on standardized targets, conditioned on the data
/// with given hyperparameters (<see cref="Condition"/>). The hyperparameters are the maximum a posteriori of the log marginal
/// likelihood under weak log-normal priors: <see cref="FitCold"/> searches a coarse grid and refines by coordinates,
/// <see cref="Refine"/> takes one coordinate pass from an earlier fit (what a growing data set needs, at a sixth of the cost).
/// No gradients, never NaN, deterministic (fixed-width vector arithmetic, so the same on every CPU).
/// The algebra is hand-written on a packed triangular array: the matrices are at most a thousand wide, and the hot paths are a
/// Cholesky factorization per hyperparameter candidate and, per acquisition candidate, a kernel row and one triangular solve.
/// </summary>
internal sealed class GaussianProcess
{
    private const double Jitter = 1e-8;
    private readonly List<double[]> _x;
    private readonly List<double> _y;
    private readonly KernelParameters _p;
    private readonly double[] _inverseScales;
    private readonly List<double[]> _scaled; // _x divided by the length scales, for the kernel
    private double[] _chol; // lower Cholesky factor of K + noise·I, packed by rows: row i at i(i+1)/2, length i + 1
    private double[] _alpha = [];

    public int Count => _x.Count;
    public KernelParameters Parameters => _p;

    private GaussianProcess(List<double[]> x, List<double> y, KernelParameters p, double[] chol)
    {
        _x = x;
        _y = y;
        _p = p;
        _inverseScales = p.LengthScales.Select(l => 1 / l).ToArray();
        _scaled = x.Select(Scale).ToList();
        _chol = chol;
        _alpha = SolveBoth(_y.ToArray());
    }

    /// <summary>The posterior given (x, y) and the hyperparameters; y must already be standardized. One factorization.</summary>
    public static GaussianProcess Condition(IReadOnlyList<double[]> x, IReadOnlyList<double> y, KernelParameters p)
    {
        var chol = new double[Packed(x.Count)];
        if (!Cholesky(Scaled(x, p.LengthScales), p.Signal, p.Noise, chol))
        {
            p = p with { Noise = p.Noise + 1e-4 };
            if (!Cholesky(Scaled(x, p.LengthScales), p.Signal, p.Noise, chol))
                throw new InvalidOperationException("The kernel matrix is not positive definite even with added noise.");
        }
        return new GaussianProcess(x.ToList(), y.ToList(), p, chol);
    }

    /// <summary>Hyperparameters from nothing: a grid of isotropic length scales × noise levels, then two coordinate passes.</summary>
    public static KernelParameters FitCold(IReadOnlyList<double[]> x, IReadOnlyList<double> y)
    {
        var search = new Search(x, y);
        var d = x[0].Length;
        foreach (var l in new[] { 0.08, 0.15, 0.3, 0.5, 0.8, 1.3, 2.2 })
            foreach (var noise in new[] { 1e-6, 1e-4, 1e-2, 1e-1 })
                search.Try(new(Fill(d, l), 1.0, noise));
        for (var pass = 0; pass < 2; pass++)
            search.CoordinatePass([0.5, 2.0, 0.25, 4.0], [0.5, 2.0], [0.1, 10.0]);
        return search.Best;
    }

    /// <summary>
    /// Hyperparameters for data that grew since <paramref name="start"/> was fitted: one coordinate pass from it (2 factors per
    /// length scale, signal and noise: 2d + 4 factorizations instead of FitCold's 28 + 2·(4d + 4)), keeping the start if
    /// nothing scores better. Successive refits walk as far as the data moves them.
    /// </summary>
    public static KernelParameters Refine(IReadOnlyList<double[]> x, IReadOnlyList<double> y, KernelParameters start)
    {
        var search = new Search(x, y);
        search.Try(start);
        search.CoordinatePass([0.6, 1 / 0.6], [0.6, 1 / 0.6], [0.2, 5.0]);
        return search.Best;
    }

    /// <summary>Posterior mean and variance (of the latent function, in standardized units).</summary>
    public (double Mean, double Variance) Predict(double[] x)
    {
        var k = KernelRow(Scale(x));
        var mean = Dot(k, _alpha);
        var v = Forward(_chol, k);
        return (mean, Math.Max(_p.Signal - Dot(v, v), 1e-12));
    }

    /// <summary>Conditions on one more point with the same hyperparameters (kriging believer's fantasies): the factor grows by one
    /// row, O(n²), no refactorization.</summary>
    public void Add(double[] x, double y)
    {
        var scaled = Scale(x);
        var row = Forward(_chol, KernelRow(scaled));
        var n = _x.Count;
        var chol = new double[Packed(n + 1)];
        Array.Copy(_chol, chol, Packed(n));
        row.CopyTo(chol, Packed(n));
        chol[Packed(n + 1) - 1] = Math.Sqrt(Math.Max(_p.Signal + _p.Noise + Jitter - Dot(row, row), 1e-10));
        _chol = chol;
        _x.Add(x);
        _scaled.Add(scaled);
        _y.Add(y);
        _alpha = SolveBoth(_y.ToArray());
    }

    internal static double Kernel(double[] a, double[] b, double[] lengthScales, double signal)
    {
        var r2 = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            var t = (a[i] - b[i]) / lengthScales[i];
            r2 += t * t;
        }
        return Matern52(r2, signal);
    }

    /// <summary>Log marginal likelihood plus log prior of the hyperparameters; −∞ when the matrix is not positive definite.</summary>
    internal static double LogPosterior(IReadOnlyList<double[]> x, IReadOnlyList<double> y, KernelParameters p) =>
        LogPosterior(Scaled(x, p.LengthScales), y.ToArray(), p, new double[Packed(x.Count)]);

    private static double LogPosterior(double[][] scaled, double[] y, KernelParameters p, double[] buffer)
    {
        if (!Cholesky(scaled, p.Signal, p.Noise, buffer))
            return double.NegativeInfinity;
        var z = Forward(buffer, y);
        var logDet = 0.0;
        for (var i = 0; i < z.Length; i++)
            logDet += Math.Log(buffer[Packed(i + 1) - 1]);
        var logLikelihood = -0.5 * Dot(z, z) - logDet - 0.5 * z.Length * Math.Log(2 * Math.PI);
        // Weak priors keep a handful of points from choosing a degenerate fit (length scales → 0 or ∞, all noise).
        var prior = p.LengthScales.Sum(l => -0.5 * Square((Math.Log(l) - Math.Log(0.5)) / 1.5))
            - 0.5 * Square(Math.Log(p.Signal) / 1.5)
            - 0.5 * Square((Math.Log(p.Noise) - Math.Log(1e-3)) / 3);
        return logLikelihood + prior;
    }

    /// <summary>A greedy search over hyperparameters: every candidate is scored, the best so far is kept.</summary>
    private sealed class Search(IReadOnlyList<double[]> x, IReadOnlyList<double> y)
    {
        private readonly double[] _y = y.ToArray();
        private readonly double[] _buffer = new double[Packed(x.Count)];
        private double _score = double.NegativeInfinity;

        public KernelParameters Best { get; private set; } = new(Fill(x[0].Length, 0.5), 1.0, 1e-3);

        public void Try(KernelParameters p)
        {
            var score = LogPosterior(Scaled(x, p.LengthScales), _y, p, _buffer);
            if (score > _score)
                (_score, Best) = (score, p);
        }

        public void CoordinatePass(double[] lengthFactors, double[] signalFactors, double[] noiseFactors)
        {
            for (var k = 0; k < Best.LengthScales.Length; k++)
                foreach (var factor in lengthFactors)
                {
                    var ls = (double[])Best.LengthScales.Clone();
                    ls[k] = Math.Clamp(ls[k] * factor, 0.01, 20);
                    Try(Best with { LengthScales = ls });
                }
            foreach (var factor in signalFactors)
                Try(Best with { Signal = Math.Clamp(Best.Signal * factor, 0.05, 20) });
            foreach (var factor in noiseFactors)
                Try(Best with { Noise = Math.Clamp(Best.Noise * factor, 1e-6, 1) });
        }
    }

    private static double Matern52(double r2, double signal)
    {
        var r = Math.Sqrt(5 * r2);
        return signal * (1 + r + r * r / 3) * Math.Exp(-r);
    }

    private static double[][] Scaled(IReadOnlyList<double[]> x, double[] lengthScales)
    {
        var scaled = new double[x.Count][];
        for (var i = 0; i < scaled.Length; i++)
        {
            scaled[i] = new double[lengthScales.Length];
            for (var k = 0; k < lengthScales.Length; k++)
                scaled[i][k] = x[i][k] / lengthScales[k];
        }
        return scaled;
    }

    private double[] Scale(double[] x)
    {
        var scaled = new double[x.Length];
        for (var k = 0; k < x.Length; k++)
            scaled[k] = x[k] * _inverseScales[k];
        return scaled;
    }

    private double[] KernelRow(double[] scaled)
    {
        var k = new double[_scaled.Count];
        for (var i = 0; i < k.Length; i++)
            k[i] = Matern52(SquaredDistance(_scaled[i], scaled), _p.Signal);
        return k;
    }

    private static double SquaredDistance(double[] a, double[] b)
    {
        var r2 = 0.0;
        for (var k = 0; k < a.Length; k++)
        {
            var t = a[k] - b[k];
            r2 += t * t;
        }
        return r2;
    }

    /// <summary>Factorizes K + noise·I of already-scaled inputs into <paramref name="l"/> (packed); false if not positive definite.</summary>
    private static bool Cholesky(double[][] scaled, double signal, double noise, double[] l)
    {
        var n = scaled.Length;
        for (var i = 0; i < n; i++)
        {
            var ri = Packed(i);
            var rowI = l.AsSpan(ri, i + 1);
            for (var j = 0; j <= i; j++)
            {
                var rj = Packed(j);
                var sum = (i == j ? signal + noise + Jitter : Matern52(SquaredDistance(scaled[i], scaled[j]), signal))
                          - Dot(rowI[..j], l.AsSpan(rj, j));
                if (i == j)
                {
                    if (!(sum > 0))
                        return false;
                    rowI[j] = Math.Sqrt(sum);
                }
                else
                    rowI[j] = sum / l[rj + j];
            }
        }
        return true;
    }

    /// <summary>Solves L z = b by rows.</summary>
    private static double[] Forward(double[] l, double[] b)
    {
        var z = new double[b.Length];
        for (var i = 0; i < b.Length; i++)
        {
            var ri = Packed(i);
            z[i] = (b[i] - Dot(l.AsSpan(ri, i), z.AsSpan(0, i))) / l[ri + i];
        }
        return z;
    }

    /// <summary>Solves (L Lᵀ) x = b: forward, then backward by rows of L (each solved unknown is subtracted from the rest).</summary>
    private double[] SolveBoth(double[] b)
    {
        var z = Forward(_chol, b);
        for (var i = z.Length - 1; i >= 0; i--)
        {
            var ri = Packed(i);
            z[i] /= _chol[ri + i];
            Axpy(-z[i], _chol.AsSpan(ri, i), z.AsSpan(0, i));
        }
        return z;
    }

    /// <summary>Σ a·b in a fixed order (4 lanes, then the tail), so every CPU gets the same bits: proposals depend on them.</summary>
    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var n = a.Length;
        var i = 0;
        var sum = 0.0;
        if (n >= 8)
        {
            var va = MemoryMarshal.Cast<double, Vector256<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector256<double>>(b[..n]);
            var acc = Vector256<double>.Zero;
            for (var v = 0; v < va.Length; v++)
                acc += va[v] * vb[v];
            sum = acc[0] + acc[1] + (acc[2] + acc[3]);
            i = va.Length * 4;
        }
        for (; i < n; i++)
            sum += a[i] * b[i];
        return sum;
    }

    private static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < x.Length; i++)
            y[i] += alpha * x[i];
    }

    private static int Packed(int rows) => rows * (rows + 1) / 2;

    private static double[] Fill(int d, double value) => Enumerable.Repeat(value, d).ToArray();

    private static double Square(double v) => v * v;
}
