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
                // ASHA's rungs: MinResource·η^k, the bracket's last at MaxResource.
                Assert.Equal(i == s ? max : min * (int)Math.Pow(eta, sMax - s + i), bracket.Rungs[i].Resource);
            }
            Assert.Equal(max, bracket.Rungs[^1].Resource);
        }
    }

    [Fact]
    public void Every_trial_runs_at_MaxResource_and_one_iteration_fills_the_brackets_most_aggressive_first()
    {
        var space = SearchSpace.From(new() { ContinuousParameterRanges = [Range("x", "0", "1")] });
        var hyperband = new HyperbandSearch(space, seed: 9, maximize: false, minResource: 1, maxResource: 27, resourceName: "epochs");
        Assert.Equal(27 + 12 + 6 + 4, hyperband.TrialsPerIteration); // n per bracket for R = 27: 27, 12, 6, 4
        var trials = Loop.Run(hyperband, hp => D(hp["x"]), 2 * hyperband.TrialsPerIteration, batch: 5);
        Assert.All(trials, t => Assert.Equal("27", t.HyperParameters["epochs"]));
        Assert.All(trials, t => Assert.Equal((0, 27), (t.Hyperband!.Rung, t.Hyperband.Resource)));
        var brackets = trials.Select(t => t.Hyperband!.Bracket).ToList();
        int[] iteration = [.. Enumerable.Repeat(0, 27), .. Enumerable.Repeat(1, 12), .. Enumerable.Repeat(2, 6), .. Enumerable.Repeat(3, 4)];
        Assert.Equal([.. iteration, .. iteration], brackets);
        // A bracket's trials are numbered across iterations; every configuration is a new draw.
        Assert.Equal(Enumerable.Range(0, 24), trials.Where(t => t.Hyperband!.Bracket == 1).Select(t => t.Hyperband!.Config));
        Assert.Equal(trials.Count, trials.Select(t => t.HyperParameters["x"]).Distinct().Count());
        // The same configurations as Random search with the same seed, so the two differ only in what Hyperband stops.
        var random = Loop.Run(new RandomSearch(space, seed: 9), hp => D(hp["x"]), trials.Count);
        Assert.Equal(random.Select(t => t.HyperParameters["x"]), trials.Select(t => t.HyperParameters["x"]));
        Assert.Equal(new[] { 1, 3, 9 }, hyperband.Plan[0].Milestones);
        Assert.Equal(new[] { 9 }, hyperband.Plan[2].Milestones);
        Assert.Empty(hyperband.Plan[3].Milestones);
    }

    [Theory]
    // (value, earlier values at the rung, stop?) maximizing, η = 3: the top ⌈m/3⌉ of the m that reached the rung continue.
    [InlineData(0.5, new double[0], false)]             // the first at a rung always continues
    [InlineData(0.5, new[] { 0.6 }, true)]               // m = 2: only the best of two continues
    [InlineData(0.7, new[] { 0.6 }, false)]
    [InlineData(0.6, new[] { 0.6 }, false)]              // a tie goes to the trial judged
    [InlineData(0.5, new[] { 0.6, 0.4 }, true)]          // m = 3: top 1
    [InlineData(0.5, new[] { 0.6, 0.4, 0.3 }, false)]    // m = 4: top 2, it is second
    [InlineData(0.5, new[] { 0.6, 0.7, 0.3 }, true)]     // m = 4: it is third
    [InlineData(0.5, new[] { 0.9, 0.8, 0.3, 0.2, 0.1, 0.0 }, false)] // m = 7: top 3, it is third
    [InlineData(0.5, new[] { 0.9, 0.8, 0.7, 0.2, 0.1, 0.0 }, true)]  // m = 7: it is fourth
    [InlineData(double.NaN, new[] { 0.1 }, true)]        // a non-finite value ranks last
    [InlineData(0.1, new[] { double.NaN }, false)]
    public void The_rung_rule_keeps_the_top_third_of_those_that_reached_the_rung(double value, double[] earlier, bool stop)
    {
        Assert.Equal(stop, HyperbandSearch.ShouldStopAtRung(value, earlier, maximize: true));
        // Minimizing is the mirror image.
        Assert.Equal(stop, HyperbandSearch.ShouldStopAtRung(-value, earlier.Select(v => -v), maximize: false));
    }
}
