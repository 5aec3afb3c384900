using System.Globalization;
using Mlops.Tuning.Space;

namespace Mlops.Tuning.Strategies;

public sealed record HyperbandRung(int Configurations, int Resource);

/// <summary>Bracket <c>s</c> of Hyperband: successive halving from <c>n</c> configurations, judged at <c>s</c> rungs.</summary>
public sealed record HyperbandBracket(int S, IReadOnlyList<HyperbandRung> Rungs)
{
    /// <summary>The resources at which this bracket's trials are judged: every rung but the last (MaxResource, the end).</summary>
    public IReadOnlyList<int> Milestones => Rungs.Take(Rungs.Count - 1).Select(r => r.Resource).ToList();
}

/// <summary>
/// Hyperband as SageMaker runs it: asynchronous successive halving (ASHA, Li et al., MLSys 2020) over Hyperband's brackets
/// (Li et al., JMLR 2018). Every trial is one training job with the resource hyperparameter at MaxResource; a trial of
/// bracket s is judged at its bracket's rung milestones (MinResource·η^i, the s largest below MaxResource) by
/// <see cref="ShouldStopAtRung"/> and stopped there when it is not in the top 1/η, so no configuration is ever retrained.
/// New trials fill the brackets in the paper's order (most aggressive first, n_s trials each) and the order repeats; the
/// k-th configuration is <see cref="RandomSearch"/>'s k-th for the same seed. The stopping itself is the runner's (it sees the intermediate values).
/// </summary>
public sealed class HyperbandSearch(SearchSpace space, long seed, bool maximize, int minResource, int maxResource, string resourceName,
    int eta = HyperbandSearch.DefaultEta) : ISearchStrategy
{
    public const int DefaultEta = 3;

    public IReadOnlyList<HyperbandBracket> Plan { get; } = Brackets(minResource, maxResource, eta);

    public int Eta => eta;

    public bool Maximize => maximize;

    /// <summary>Trials (configurations) in one Hyperband iteration: every bracket's n once.</summary>
    public int TrialsPerIteration => Plan.Sum(b => b.Rungs[0].Configurations);

    /// <summary>
    /// The paper's brackets: R = max/min, s_max = ⌊log_η R⌋; bracket s starts n = ⌈(s_max+1)·η^s/(s+1)⌉ configurations and its
    /// rung i keeps ⌊n·η^−i⌋ of them at MinResource·η^(s_max−s+i), the last rung at MaxResource (ASHA's rungs: when R is a
    /// power of η these are the paper's budgets R·η^(i−s) exactly).
    /// </summary>
    public static IReadOnlyList<HyperbandBracket> Brackets(int min, int max, int eta = DefaultEta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(min, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, min);
        ArgumentOutOfRangeException.ThrowIfLessThan(eta, 2);
        var sMax = 0;
        while (min * Power(eta, sMax + 1) <= max)
            sMax++;
        var brackets = new List<HyperbandBracket>();
        for (var s = sMax; s >= 0; s--)
        {
            // Integer arithmetic where the paper's formula allows it, so 81/3^4 is exactly 1.
            var n = (int)(((long)(sMax + 1) * Power(eta, s) + s) / (s + 1));
            var rungs = Enumerable.Range(0, s + 1).Select(i => new HyperbandRung(
                (int)(n / Power(eta, i)),
                i == s ? max : (int)(min * Power(eta, sMax - s + i)))).ToList();
            brackets.Add(new HyperbandBracket(s, rungs));
        }
        return brackets;
    }

    /// <summary>
    /// ASHA's rule for a trial that reached a rung: it continues when it is in the top ⌈m/η⌉ of the m trials of its bracket
    /// that have reached the rung so far (itself included), else it stops. Rounding up means the first trial at a rung, and
    /// any trial that beats every earlier one, always continues: a running job cannot be paused until enough peers arrive
    /// (ASHA's promotion would make it wait), so it is judged once, on arrival, against those already there. Ties go to the
    /// trial judged; non-finite values rank last.
    /// </summary>
    /// <param name="value">The trial's objective at the rung.</param>
    /// <param name="earlier">The objective at the same rung of the bracket's trials that reached it before (any status).</param>
    /// <param name="maximize">Whether larger is better.</param>
    /// <param name="eta">Hyperband's η: the top 1/η continue.</param>
    public static bool ShouldStopAtRung(double value, IEnumerable<double> earlier, bool maximize, int eta = DefaultEta)
    {
        var peers = earlier.ToList();
        var better = peers.Count(v => double.IsFinite(v) && (!double.IsFinite(value) || (maximize ? v > value : v < value)));
        var keep = (peers.Count + 1 + eta - 1) / eta;
        return better >= keep;
    }

    public IReadOnlyList<TrialProposal> Propose(int count, TuningHistory history)
    {
        var first = history.Trials.Count(t => t.Hyperband is not null);
        var proposals = new List<TrialProposal>(count);
        for (var k = first; k < first + count; k++)
        {
            var (bracket, config) = Slot(k);
            // Random search's k-th draw: with the same seed both try the same configurations, so comparing them isolates the stopping.
            var values = space.Format(space.Sample(Seeds.At(seed, k)));
            values[resourceName] = maxResource.ToString(CultureInfo.InvariantCulture);
            proposals.Add(new TrialProposal(values, new HyperbandSlot(bracket, 0, config, maxResource)));
        }
        return proposals;
    }

    /// <summary>The k-th trial's bracket (position in <see cref="Plan"/>) and its index among that bracket's trials.</summary>
    public (int Bracket, int Config) Slot(int k)
    {
        var iteration = k / TrialsPerIteration;
        var position = k % TrialsPerIteration;
        for (var b = 0; ; b++)
        {
            var n = Plan[b].Rungs[0].Configurations;
            if (position < n)
                return (b, iteration * n + position);
            position -= n;
        }
    }

    private static long Power(int b, int e)
    {
        var p = 1L;
        for (var i = 0; i < e; i++)
            p *= b;
        return p;
    }
}
