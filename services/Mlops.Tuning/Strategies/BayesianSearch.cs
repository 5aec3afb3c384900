using MathNet.Numerics.Distributions;
using Mlops.Tuning.Space;

namespace Mlops.Tuning.Strategies;

/// <summary>
/// Bayesian optimization: a Gaussian-process surrogate (Matérn 5/2, ARD, MAP hyperparameters) of the loss over the
/// snapped, one-hot encoded space, and Expected Improvement maximized by random candidates plus local search around the
/// best observations. Integer and categorical parameters are snapped before the surrogate sees them, so EI is flat within
/// one integer cell and is never credited for a value a trial cannot take. Pending trials (running in parallel, or proposed
/// earlier in the same batch) enter as kriging-believer fantasies: the surrogate's own mean at them, so a batch spreads out.
/// Warm-start parents' trials are observations like this job's. The first few trials are random (an initial design of
/// parameters + 1, between 3 and 10, counting warm-start observations).
/// The kernel's hyperparameters are refitted on a schedule as the data grows, each refit starting from the last
/// (<see cref="SurrogateSchedule"/>); the fit travels in the job state between calls (<see cref="Fit"/>), so a proposal with
/// hundreds of trials costs one factorization and the acquisition, not a fit from nothing.
/// </summary>
public sealed class BayesianSearch(SearchSpace space, long seed, bool maximize) : ISearchStrategy
{
    private const int RandomCandidates = 600;
    private const int NeighboursPerBest = 40;
    private const int LocalStarts = 5;
    private const int LocalSteps = 30;
    private const double Xi = 0.01;

    public int InitialDesign { get; } = Math.Clamp(space.Parameters.Count + 1, 3, 10);

    public IReadOnlyList<TrialProposal> Propose(int count, TuningHistory history)
    {
        var observed = Observations(history);
        var pending = history.Trials.Where(t => t.IsActive).Select(t => space.PointOf(t.HyperParameters)).OfType<double[]>().ToList();

        var rng = Seeds.At(seed, history.Trials.Count, stream: 7);
        var proposals = new List<TrialProposal>();
        GaussianProcess? gp = null;
        var bestSoFar = double.PositiveInfinity;
        for (var j = 0; j < count; j++)
        {
            if (observed.Count + pending.Count + j < InitialDesign || observed.Count < 2)
            {
                var point = space.Sample(Seeds.At(seed, history.Trials.Count + j, stream: 1));
                proposals.Add(new TrialProposal(space.Format(point)));
                gp?.Add(space.Features(point), gp.Predict(space.Features(point)).Mean);
                pending.Add(point);
                continue;
            }
            if (gp is null)
            {
                var features = observed.Select(o => space.Features(o.Point)).ToList();
                var losses = observed.Select(o => o.Loss).ToList();
                var fit = SurrogateSchedule.For(features, losses, history.Surrogate);
                var y = SurrogateSchedule.Standardize(losses);
                gp = GaussianProcess.Condition(features, y, fit.Kernel);
                bestSoFar = y.Min();
                foreach (var p in pending)
                {
                    var f = space.Features(p);
                    var believed = gp.Predict(f).Mean;
                    gp.Add(f, believed);
                    bestSoFar = Math.Min(bestSoFar, believed);
                }
            }
            var next = MaximizeExpectedImprovement(gp, bestSoFar, observed, rng);
            proposals.Add(new TrialProposal(space.Format(next)));
            var nextFeatures = space.Features(next);
            var fantasy = gp.Predict(nextFeatures).Mean;
            gp.Add(nextFeatures, fantasy);
            bestSoFar = Math.Min(bestSoFar, fantasy);
        }
        return proposals;
    }

    /// <summary>
    /// The surrogate's hyperparameters for this history (null below 2 observations), from <see cref="TuningHistory.Surrogate"/>
    /// when that is a fit of the same data, else refitted (<see cref="SurrogateSchedule"/>). Pass it on in the next history:
    /// <see cref="Propose"/> then conditions on the data with it instead of fitting, and proposes exactly what it would without.
    /// </summary>
    public SurrogateFit? Fit(TuningHistory history)
    {
        var observed = Observations(history);
        return observed.Count < 2 ? null
            : SurrogateSchedule.For(observed.Select(o => space.Features(o.Point)).ToList(), observed.Select(o => o.Loss).ToList(), history.Surrogate);
    }

    /// <summary>Finished trials with a result, as losses: the warm-start ones first, then this job's in the order they ended, so
    /// the observations only ever grow at the end (a refit's prefix stays the same data).</summary>
    private List<(double[] Point, double Loss)> Observations(TuningHistory history)
    {
        var observed = new List<(double[] Point, double Loss)>();
        foreach (var trial in history.WarmStart.Concat(history.Trials.OrderBy(t => t.EndOrder ?? int.MaxValue).ThenBy(t => t.Index)))
        {
            if (trial.Status is not (TrialStatus.Completed or TrialStatus.Stopped) || trial.ObjectiveValue is not { } value || !double.IsFinite(value))
                continue;
            if (space.PointOf(trial.HyperParameters) is { } point)
                observed.Add((point, maximize ? -value : value));
        }
        return observed;
    }

    internal static double ExpectedImprovement(double mean, double variance, double best)
    {
        var sigma = Math.Sqrt(variance);
        var improvement = best - mean - Xi;
        var z = improvement / sigma;
        return improvement * Normal.CDF(0, 1, z) + sigma * Normal.PDF(0, 1, z);
    }

    private double[] MaximizeExpectedImprovement(GaussianProcess gp, double best, List<(double[] Point, double Loss)> observed, Random rng)
    {
        double Score(double[] point)
        {
            var (mean, variance) = gp.Predict(space.Features(point));
            return ExpectedImprovement(mean, variance, best);
        }

        var candidates = new List<(double[] Point, double Ei)>();
        for (var i = 0; i < RandomCandidates; i++)
        {
            var p = space.Snap(space.Sample(rng));
            candidates.Add((p, Score(p)));
        }
        foreach (var (point, _) in observed.OrderBy(o => o.Loss).Take(LocalStarts))
            for (var i = 0; i < NeighboursPerBest; i++)
            {
                var p = Neighbour(point, i % 3 switch { 0 => 0.02, 1 => 0.06, _ => 0.15 }, rng);
                candidates.Add((p, Score(p)));
            }

        var winner = candidates[0];
        foreach (var start in candidates.OrderByDescending(c => c.Ei).Take(LocalStarts))
        {
            var current = start;
            var step = 0.05;
            for (var s = 0; s < LocalSteps; s++)
            {
                var p = Neighbour(current.Point, step, rng);
                var ei = Score(p);
                if (ei > current.Ei)
                    current = (p, ei);
                else
                    step = Math.Max(step * 0.7, 1e-3);
            }
            if (current.Ei > winner.Ei)
                winner = current;
        }
        return winner.Point;
    }

    private double[] Neighbour(double[] point, double step, Random rng)
    {
        var next = (double[])point.Clone();
        var flip = 1.0 / space.Parameters.Count;
        for (var i = 0; i < next.Length; i++)
        {
            var p = space.Parameters[i];
            if (p.Kind == ParameterKind.Categorical)
            {
                if (p.Values.Count > 1 && rng.NextDouble() < flip)
                    next[i] = rng.Next(p.Values.Count);
            }
            else
                next[i] = Math.Clamp(next[i] + step * Gaussian(rng), 0, 1);
        }
        return space.Snap(next);
    }

    private static double Gaussian(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
