using System.Globalization;
using Mlops.Tuning.Space;
using Mlops.Tuning.Strategies;
using static Mlops.Tuning.Tests.TestFunctions;

namespace Mlops.Tuning.Tests;

public sealed class HyperbandTests
{
    [Fact]
    public void Brackets_match_the_papers_table_for_R_81_and_eta_3()
    {
        // Li et al. (2018), Table 1: (n_i, r_i) per bracket s.
        int[][][] expected =
        [
            [[81, 1], [27, 3], [9, 9], [3, 27], [1, 81]],
            [[34, 3], [11, 9], [3, 27], [1, 81]],
            [[15, 9], [5, 27], [1, 81]],
            [[8, 27], [2, 81]],
            [[5, 81]],
        ];
        var plan = HyperbandSearch.Brackets(1, 81, 3);
        Assert.Equal(expected.Length, plan.Count);
        for (var s = 0; s < expected.Length; s++)
        {
            Assert.Equal(4 - s, plan[s].S);
            Assert.Equal(expected[s].Select(r => (r[0], r[1])), plan[s].Rungs.Select(r => (r.Configurations, r.Resource)));
        }
    }

    [Theory]
    [InlineData(1, 27, 3)]
    [InlineData(10, 1000, 3)]
    [InlineData(5, 80, 2)]
    [InlineData(1, 2000, 4)]
    public void Brackets_follow_the_formulas(int min, int max, int eta)
    {
        var ratio = (double)max / min;
        var sMax = (int)Math.Floor(Math.Log(ratio) / Math.Log(eta) + 1e-9);
        var plan = HyperbandSearch.Brackets(min, max, eta);
        Assert.Equal(sMax + 1, plan.Count);
        foreach (var bracket in plan)
        {
            var s = bracket.S;
            var n = (int)Math.Ceiling((sMax + 1) * Math.Pow(eta, s) / (s + 1) - 1e-9);
            Assert.Equal(s + 1, bracket.Rungs.Count);
            for (var i = 0; i <= s; i++)
            {
                Assert.Equal((int)Math.Floor(n * Math.Pow(eta, -i) + 1e-9), bracket.Rungs[i].Configurations);
                Assert.Equal((int)Math.Round(max * Math.Pow(eta, i - s)), bracket.Rungs[i].Resource);
            }
            Assert.Equal(max, bracket.Rungs[^1].Resource);
        }
    }

    [Fact]
    public void One_iteration_runs_every_rung_and_promotes_the_best_of_each()
    {
        var space = SearchSpace.From(new() { ContinuousParameterRanges = [Range("x", "0", "1")] });
        var hyperband = new HyperbandSearch(space, seed: 9, maximize: false, minResource: 1, maxResource: 27, resourceName: "epochs");
        // Loss falls with budget, so rungs are comparable only within themselves, as in training.
        double Loss(IReadOnlyDictionary<string, string> hp) => Math.Abs(D(hp["x"]) - 0.3) + 1.0 / int.Parse(hp["epochs"], CultureInfo.InvariantCulture);

        var trials = Loop.Run(hyperband, Loss, hyperband.TrialsPerIteration);
        Assert.Equal(hyperband.TrialsPerIteration, trials.Count);
        for (var s = 0; s < hyperband.Plan.Count; s++)
        {
            var bracket = hyperband.Plan[s];
            for (var i = 0; i < bracket.Rungs.Count; i++)
            {
                var rung = trials.Where(t => t.Hyperband!.Bracket == s && t.Hyperband.Rung == i).ToList();
                Assert.Equal(bracket.Rungs[i].Configurations, rung.Count);
                Assert.All(rung, t => Assert.Equal(bracket.Rungs[i].Resource.ToString(CultureInfo.InvariantCulture), t.HyperParameters["epochs"]));
                if (i == 0)
                    continue;
                var previous = trials.Where(t => t.Hyperband!.Bracket == s && t.Hyperband.Rung == i - 1).ToList();
                var best = previous.OrderBy(t => t.ObjectiveValue).Take(rung.Count).Select(t => t.Hyperband!.Config).Order();
                Assert.Equal(best, rung.Select(t => t.Hyperband!.Config).Order());
                Assert.All(rung, t => Assert.Equal(previous.Single(p => p.Hyperband!.Config == t.Hyperband!.Config).HyperParameters["x"], t.HyperParameters["x"]));
            }
        }
    }

    [Fact]
    public void A_rung_waits_until_the_rung_below_has_finished()
    {
        var space = SearchSpace.From(new() { ContinuousParameterRanges = [Range("x", "0", "1")] });
        var hyperband = new HyperbandSearch(space, seed: 1, maximize: true, minResource: 1, maxResource: 9, resourceName: "epochs");
        var first = hyperband.Propose(9, TuningHistory.Of([])); // bracket 0, rung 0: 9 configurations at 1
        Assert.All(first, p => Assert.Equal((0, 0), (p.Hyperband!.Bracket, p.Hyperband.Rung)));
        var running = first.Select((p, i) => new TrialRecord { Index = i, TrainingJobName = $"t{i}", HyperParameters = p.HyperParameters, Hyperband = p.Hyperband, Status = TrialStatus.InProgress }).ToList();
        // With rung 0 still running, the next proposals open the next bracket rather than promote.
        var next = hyperband.Propose(2, TuningHistory.Of(running));
        Assert.All(next, p => Assert.Equal((1, 0), (p.Hyperband!.Bracket, p.Hyperband.Rung)));
    }
}
