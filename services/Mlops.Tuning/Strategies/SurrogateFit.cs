using System.Globalization;

namespace Mlops.Tuning.Strategies;

/// <summary>
/// The Bayesian surrogate's fitted kernel hyperparameters, kept in the job state (<see cref="Runner.TuningJobState.Surrogate"/>)
/// so the next proposal starts from them instead of fitting from nothing. A cache, not an input: the fit for a history is a
/// pure function of its observations (<see cref="BayesianSearch.Fit"/>), which this only saves recomputing, so a job proposes
/// the same with it, without it, or after a restart.
/// </summary>
public sealed record SurrogateFit
{
    /// <summary>How many observations the fit was made on: the warm-start trials', then this job's, in the order they ended.</summary>
    public required int Observations { get; init; }
    /// <summary>A hash of those observations (their points and results); a fit is reused only for the same data.</summary>
    public required string Fingerprint { get; init; }
    public required IReadOnlyList<double> LengthScales { get; init; }
    public required double Signal { get; init; }
    public required double Noise { get; init; }

    internal KernelParameters Kernel => new(LengthScales.ToArray(), Signal, Noise);
}

/// <summary>
/// When the surrogate's hyperparameters are refitted, as the observations grow (n): up to <see cref="ColdUpTo"/> a full fit from
/// nothing at every n (cheap while the matrix is small); beyond, a refinement from the previous fit each time n reaches a multiple
/// of a step of about a tenth of n (1, 2, 5, 10, 20, 50, 100: so at 20, 22, …, 50, 55, …, 100, 110, …, 200, 220, …), on the
/// first n observations only. Between refits the hyperparameters stay and the GP is conditioned on all the data, one Cholesky
/// factorization per proposal.
/// </summary>
internal static class SurrogateSchedule
{
    public const int ColdUpTo = 20;
    private static readonly int[] Steps = [1, 2, 5, 10, 20, 50, 100];

    public static int Step(int n) => Steps.Last(s => s <= Math.Max(1, n / 10));

    /// <summary>The size of the fit that serves n observations: the last refit point at or below n.</summary>
    public static int FitSize(int n) => n <= ColdUpTo ? n : n - n % Step(n);

    public static bool IsRefitPoint(int n) => n <= ColdUpTo || n % Step(n) == 0;

    /// <summary>
    /// The fit for these observations (features, standardized per fit), starting from <paramref name="cached"/> when it is a fit
    /// of a prefix of them on the schedule, otherwise replaying the schedule from <see cref="ColdUpTo"/>.
    /// </summary>
    public static SurrogateFit For(IReadOnlyList<double[]> x, IReadOnlyList<double> loss, SurrogateFit? cached)
    {
        var target = FitSize(x.Count);
        if (target <= ColdUpTo)
            return Fitted(x, loss, target, (px, py) => GaussianProcess.FitCold(px, py));
        var current = cached is { } c && c.Observations >= ColdUpTo && c.Observations <= target && IsRefitPoint(c.Observations)
            && c.LengthScales.Count == x[0].Length && c.Fingerprint == Fingerprint(x, loss, c.Observations)
            ? c
            : Fitted(x, loss, ColdUpTo, (px, py) => GaussianProcess.FitCold(px, py));
        while (current.Observations < target)
        {
            var start = current.Kernel;
            current = Fitted(x, loss, current.Observations + Step(current.Observations), (px, py) => GaussianProcess.Refine(px, py, start));
        }
        return current;
    }

    private static SurrogateFit Fitted(IReadOnlyList<double[]> x, IReadOnlyList<double> loss, int count,
        Func<IReadOnlyList<double[]>, IReadOnlyList<double>, KernelParameters> fit)
    {
        var kernel = fit(x.Take(count).ToList(), Standardize(loss.Take(count).ToList()));
        return new SurrogateFit
        {
            Observations = count,
            Fingerprint = Fingerprint(x, loss, count),
            LengthScales = kernel.LengthScales,
            Signal = kernel.Signal,
            Noise = kernel.Noise,
        };
    }

    /// <summary>(y − mean) / sd, population sd, 1 when the values are all equal.</summary>
    public static List<double> Standardize(IReadOnlyList<double> values)
    {
        var mean = values.Average();
        var sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
        if (!(sd > 1e-12))
            sd = 1;
        return values.Select(v => (v - mean) / sd).ToList();
    }

    /// <summary>FNV-1a over the bits of the first <paramref name="count"/> observations' features and results.</summary>
    private static string Fingerprint(IReadOnlyList<double[]> x, IReadOnlyList<double> loss, int count)
    {
        var hash = 14695981039346656037UL;
        void Mix(double value)
        {
            var bits = (ulong)BitConverter.DoubleToInt64Bits(value);
            for (var b = 0; b < 8; b++, bits >>= 8)
                hash = (hash ^ (bits & 0xFF)) * 1099511628211UL;
        }
        for (var i = 0; i < count; i++)
        {
            foreach (var f in x[i])
                Mix(f);
            Mix(loss[i]);
        }
        return hash.ToString("x16", CultureInfo.InvariantCulture);
    }
}
