using System.Globalization;
using Mlops.Tuning.Space;

namespace Mlops.Tuning.Strategies;

public sealed record HyperbandRung(int Configurations, int Resource);

/// <summary>Bracket <c>s</c> of Hyperband: successive halving from <c>n</c> configurations at budget <c>r</c>.</summary>
public sealed record HyperbandBracket(int S, IReadOnlyList<HyperbandRung> Rungs);

/// <summary>
/// Hyperband (Li et al., JMLR 2018) with successive halving run synchronously per bracket: a rung's survivors are chosen
/// once the whole rung has finished, and each promotion is a new training job with the larger budget (training jobs
/// cannot be resumed). Brackets are taken in the paper's order (most aggressive first) and repeat until the budget ends;
/// a bracket's rung 0 may start while an earlier bracket waits, so parallel slots are not left idle. Rung-0 configurations
/// are random; failed trials rank last.
/// </summary>
public sealed class HyperbandSearch(SearchSpace space, long seed, bool maximize, int minResource, int maxResource, string resourceName,
    int eta = HyperbandSearch.DefaultEta) : ISearchStrategy
{
    public const int DefaultEta = 3;

    public IReadOnlyList<HyperbandBracket> Plan { get; } = Brackets(minResource, maxResource, eta);

    /// <summary>Trials in one Hyperband iteration (every bracket once).</summary>
    public int TrialsPerIteration => Plan.Sum(b => b.Rungs.Sum(r => r.Configurations));

    /// <summary>
    /// The paper's brackets, budgets in units of <paramref name="min"/>: R = max/min, s_max = ⌊log_η R⌋, B = (s_max+1)R; bracket s
    /// starts n = ⌈B/R · η^s/(s+1)⌉ configurations at r = R·η^−s, and rung i keeps ⌊n·η^−i⌋ of them at r·η^i.
    /// </summary>
    public static IReadOnlyList<HyperbandBracket> Brackets(int min, int max, int eta = DefaultEta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(min, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, min);
        ArgumentOutOfRangeException.ThrowIfLessThan(eta, 2);
        var ratio = (double)max / min;
        var sMax = 0;
        while (Power(eta, sMax + 1) <= ratio * (1 + 1e-12))
            sMax++;
        var brackets = new List<HyperbandBracket>();
        for (var s = sMax; s >= 0; s--)
        {
            // Integer arithmetic where the paper's formula allows it, so 81/3^4 is exactly 1.
            var n = (int)(((long)(sMax + 1) * Power(eta, s) + s) / (s + 1));
            var rungs = Enumerable.Range(0, s + 1).Select(i => new HyperbandRung(
                (int)(n / Power(eta, i)),
                (int)Math.Clamp(Math.Round(max / (double)Power(eta, s - i)), min, max))).ToList();
            brackets.Add(new HyperbandBracket(s, rungs));
        }
        return brackets;
    }

    public IReadOnlyList<TrialProposal> Propose(int count, TuningHistory history)
    {
        var proposals = new List<TrialProposal>();
        var slots = history.Trials.Where(t => t.Hyperband is not null).ToList();
        for (var b = 0; proposals.Count < count; b++)
        {
            var bracket = Plan[b % Plan.Count];
            var inBracket = slots.Where(t => t.Hyperband!.Bracket == b).ToList();
            for (var i = 0; i < bracket.Rungs.Count && proposals.Count < count; i++)
            {
                var rung = bracket.Rungs[i];
                var here = inBracket.Where(t => t.Hyperband!.Rung == i).ToList();
                var planned = proposals.Where(p => p.Hyperband!.Bracket == b && p.Hyperband.Rung == i).ToList();
                var need = rung.Configurations - here.Count - planned.Count;
                if (i == 0)
                {
                    for (var k = 0; k < need && proposals.Count < count; k++)
                    {
                        var config = here.Count + planned.Count + k;
                        var values = space.Format(space.Sample(Seeds.At(seed, b, config + 1)));
                        proposals.Add(Proposal(values, new HyperbandSlot(b, 0, config, rung.Resource)));
                    }
                    continue;
                }
                var previous = inBracket.Where(t => t.Hyperband!.Rung == i - 1).ToList();
                if (need <= 0)
                    continue;
                if (previous.Count < bracket.Rungs[i - 1].Configurations || previous.Any(t => !t.IsTerminal))
                    break; // successive halving waits for the whole rung
                var promoted = here.Select(t => t.Hyperband!.Config).ToHashSet();
                var survivors = previous.OrderBy(Loss).ThenBy(t => t.Hyperband!.Config).Take(rung.Configurations)
                    .Where(t => !promoted.Contains(t.Hyperband!.Config)).Take(Math.Min(need, count - proposals.Count));
                foreach (var survivor in survivors)
                {
                    var values = survivor.HyperParameters.Where(kv => kv.Key != resourceName).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                    proposals.Add(Proposal(values, new HyperbandSlot(b, i, survivor.Hyperband!.Config, rung.Resource)));
                }
            }
        }
        return proposals;
    }

    private TrialProposal Proposal(Dictionary<string, string> values, HyperbandSlot slot)
    {
        values[resourceName] = slot.Resource.ToString(CultureInfo.InvariantCulture);
        return new TrialProposal(values, slot);
    }

    private double Loss(TrialRecord t) =>
        t.Status == TrialStatus.Completed && t.ObjectiveValue is { } v && double.IsFinite(v) ? (maximize ? -v : v) : double.PositiveInfinity;

    private static long Power(int b, int e)
    {
        var p = 1L;
        for (var i = 0; i < e; i++)
            p *= b;
        return p;
    }
}
