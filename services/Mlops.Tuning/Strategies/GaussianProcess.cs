namespace Mlops.Tuning.Strategies;

/// <summary>
/// A Gaussian process with a Matérn 5/2 ARD kernel over [0, 1]^d features, on standardized targets. Hyperparameters
/// (length scales, signal and noise variance) are the maximum a posteriori of the log marginal likelihood under weak
/// log-normal priors, found by a coarse grid and coordinate refinement: no gradients, never NaN, deterministic.
/// The algebra is hand-written on arrays: the matrices are at most a few hundred wide, and the hot path (one prediction
/// per acquisition candidate) is a kernel row and one triangular solve, which a general matrix library only slows down.
/// </summary>
internal sealed class GaussianProcess
{
    private const double Jitter = 1e-8;
    private readonly List<double[]> _x;
    private readonly List<double> _y;
    private readonly double[] _lengthScales;
    private readonly double _signal;
    private readonly double _noise;
    private readonly List<double[]> _chol; // rows of the lower Cholesky factor of K + noise·I
    private double[] _alpha = [];

    public int Count => _x.Count;
    public IReadOnlyList<double> LengthScales => _lengthScales;
    public double Noise => _noise;

    private GaussianProcess(List<double[]> x, List<double> y, double[] lengthScales, double signal, double noise, List<double[]> chol)
    {
        _x = x;
        _y = y;
        _lengthScales = lengthScales;
        _signal = signal;
        _noise = noise;
        _chol = chol;
        _alpha = SolveBoth(_y.ToArray());
    }

    /// <summary>Fits hyperparameters to (x, y); y must already be standardized.</summary>
    public static GaussianProcess Fit(IReadOnlyList<double[]> x, IReadOnlyList<double> y)
    {
        var d = x[0].Length;
        var best = (Score: double.NegativeInfinity, Ls: Fill(d, 0.5), Signal: 1.0, Noise: 1e-3);
        void Try(double[] ls, double signal, double noise)
        {
            var score = LogPosterior(x, y, ls, signal, noise);
            if (score > best.Score)
                best = (score, ls, signal, noise);
        }
        foreach (var l in new[] { 0.08, 0.15, 0.3, 0.5, 0.8, 1.3, 2.2 })
            foreach (var noise in new[] { 1e-6, 1e-4, 1e-2, 1e-1 })
                Try(Fill(d, l), 1.0, noise);
        for (var pass = 0; pass < 2; pass++)
        {
            for (var k = 0; k < d; k++)
                foreach (var factor in new[] { 0.5, 2.0, 0.25, 4.0 })
                {
                    var ls = (double[])best.Ls.Clone();
                    ls[k] = Math.Clamp(ls[k] * factor, 0.01, 20);
                    Try(ls, best.Signal, best.Noise);
                }
            foreach (var factor in new[] { 0.5, 2.0 })
                Try(best.Ls, Math.Clamp(best.Signal * factor, 0.05, 20), best.Noise);
            foreach (var factor in new[] { 0.1, 10.0 })
                Try(best.Ls, best.Signal, Math.Clamp(best.Noise * factor, 1e-6, 1));
        }
        var chol = Cholesky(x, best.Ls, best.Signal, best.Noise) ?? Cholesky(x, best.Ls, best.Signal, best.Noise + 1e-4)!;
        return new GaussianProcess(x.ToList(), y.ToList(), best.Ls, best.Signal, best.Noise, chol);
    }

    /// <summary>Posterior mean and variance (of the latent function, in standardized units).</summary>
    public (double Mean, double Variance) Predict(double[] x)
    {
        var k = new double[_x.Count];
        for (var i = 0; i < k.Length; i++)
            k[i] = Kernel(_x[i], x, _lengthScales, _signal);
        var mean = 0.0;
        for (var i = 0; i < k.Length; i++)
            mean += k[i] * _alpha[i];
        var v = ForwardSolve(k);
        var variance = _signal;
        for (var i = 0; i < v.Length; i++)
            variance -= v[i] * v[i];
        return (mean, Math.Max(variance, 1e-12));
    }

    /// <summary>Conditions on one more point with the same hyperparameters (kriging believer's fantasies): O(n²).</summary>
    public void Add(double[] x, double y)
    {
        var k = new double[_x.Count];
        for (var i = 0; i < k.Length; i++)
            k[i] = Kernel(_x[i], x, _lengthScales, _signal);
        var row = ForwardSolve(k);
        var diagonal = _signal + _noise + Jitter - row.Sum(r => r * r);
        var newRow = new double[row.Length + 1];
        Array.Copy(row, newRow, row.Length);
        newRow[^1] = Math.Sqrt(Math.Max(diagonal, 1e-10));
        _chol.Add(newRow);
        _x.Add(x);
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
        var r = Math.Sqrt(5 * r2);
        return signal * (1 + r + r * r / 3) * Math.Exp(-r);
    }

    private static double LogPosterior(IReadOnlyList<double[]> x, IReadOnlyList<double> y, double[] ls, double signal, double noise)
    {
        var chol = Cholesky(x, ls, signal, noise);
        if (chol is null)
            return double.NegativeInfinity;
        var z = Forward(chol, y.ToArray());
        var fit = 0.0;
        var logDet = 0.0;
        for (var i = 0; i < z.Length; i++)
        {
            fit += z[i] * z[i];
            logDet += Math.Log(chol[i][i]);
        }
        var logLikelihood = -0.5 * fit - logDet - 0.5 * z.Length * Math.Log(2 * Math.PI);
        // Weak priors keep a handful of points from choosing a degenerate fit (length scales → 0 or ∞, all noise).
        var prior = ls.Sum(l => -0.5 * Square((Math.Log(l) - Math.Log(0.5)) / 1.5))
            - 0.5 * Square(Math.Log(signal) / 1.5)
            - 0.5 * Square((Math.Log(noise) - Math.Log(1e-3)) / 3);
        return logLikelihood + prior;
    }

    private static List<double[]>? Cholesky(IReadOnlyList<double[]> x, double[] ls, double signal, double noise)
    {
        var n = x.Count;
        var l = new List<double[]>(n);
        for (var i = 0; i < n; i++)
        {
            var row = new double[i + 1];
            for (var j = 0; j <= i; j++)
            {
                var sum = i == j ? signal + noise + Jitter : Kernel(x[i], x[j], ls, signal);
                var lj = j < i ? l[j] : row;
                for (var k = 0; k < j; k++)
                    sum -= row[k] * lj[k];
                if (i == j)
                {
                    if (sum <= 0)
                        return null;
                    row[j] = Math.Sqrt(sum);
                }
                else
                    row[j] = sum / l[j][j];
            }
            l.Add(row);
        }
        return l;
    }

    private double[] ForwardSolve(double[] b) => Forward(_chol, b);

    private static double[] Forward(List<double[]> l, double[] b)
    {
        var z = new double[b.Length];
        for (var i = 0; i < b.Length; i++)
        {
            var row = l[i];
            var sum = b[i];
            for (var k = 0; k < i; k++)
                sum -= row[k] * z[k];
            z[i] = sum / row[i];
        }
        return z;
    }

    private double[] SolveBoth(double[] b)
    {
        var z = ForwardSolve(b);
        var n = z.Length;
        var x = new double[n];
        for (var i = n - 1; i >= 0; i--)
        {
            var sum = z[i];
            for (var k = i + 1; k < n; k++)
                sum -= _chol[k][i] * x[k];
            x[i] = sum / _chol[i][i];
        }
        return x;
    }

    private static double[] Fill(int d, double value) => Enumerable.Repeat(value, d).ToArray();

    private static double Square(double v) => v * v;
}
