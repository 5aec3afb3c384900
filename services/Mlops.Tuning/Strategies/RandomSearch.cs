using Mlops.Tuning.Space;

namespace Mlops.Tuning.Strategies;

/// <summary>Uniform on each parameter's scaled axis; the k-th trial's configuration depends on the seed and k only.</summary>
public sealed class RandomSearch(SearchSpace space, long seed) : ISearchStrategy
{
    public IReadOnlyList<TrialProposal> Propose(int count, TuningHistory history) =>
        Enumerable.Range(0, Math.Max(0, count))
            .Select(j => new TrialProposal(space.Format(space.Sample(Seeds.At(seed, history.Trials.Count + j)))))
            .ToList();
}
