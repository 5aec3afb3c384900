using Mlops.Tuning.Space;

namespace Mlops.Tuning.Strategies;

/// <summary>
/// Every combination of the categorical values once, in odometer order (the last range turns fastest). Categorical only, as
/// SageMaker's grid is: a continuous range has no grid without a resolution nobody asked for.
/// </summary>
public sealed class GridSearch(SearchSpace space) : ISearchStrategy
{
    public long Size { get; } = space.Parameters.Aggregate(1L, (n, p) => n * p.Values.Count);

    public IEnumerable<IReadOnlyDictionary<string, string>> Enumerate()
    {
        var digits = new int[space.Parameters.Count];
        for (long k = 0; k < Size; k++)
        {
            yield return space.Format(digits.Select(d => (double)d).ToArray());
            for (var i = digits.Length - 1; i >= 0; i--)
            {
                if (++digits[i] < space.Parameters[i].Values.Count)
                    break;
                digits[i] = 0;
            }
        }
    }

    public IReadOnlyList<TrialProposal> Propose(int count, TuningHistory history)
    {
        // Keyed by value rather than by position, so a resumed or reordered history never repeats a combination.
        var tried = history.Trials.Select(t => Key(t.HyperParameters)).ToHashSet(StringComparer.Ordinal);
        return Enumerate().Where(c => !tried.Contains(Key(c))).Take(Math.Max(0, count)).Select(c => new TrialProposal(c)).ToList();
    }

    private string Key(IReadOnlyDictionary<string, string> hyperParameters) =>
        string.Join('\u001f', space.Parameters.Select(p => hyperParameters.GetValueOrDefault(p.Name) ?? ""));
}
