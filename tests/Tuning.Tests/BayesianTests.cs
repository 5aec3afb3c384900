using Mlops.Tuning.Configuration;
using Mlops.Tuning.Strategies;
using Xunit.Abstractions;
using static Mlops.Tuning.Tests.TestFunctions;

namespace Mlops.Tuning.Tests;

/// <summary>Outcomes, not timings: Bayesian search finds better configurations than random search with the same budget.</summary>
public sealed class BayesianTests(ITestOutputHelper output)
{
    private const int Seeds = 10;
    private const int Budget = 30;

    private static ISearchStrategy Strategy(HyperParameterTuningJobConfig config) =>
        SearchStrategies.Create(new TuningJobDefinition { HyperParameterTuningJobName = "t", HyperParameterTuningJobConfig = config }, config.RandomSeed!.Value);

    /// <summary>Median over seeds of the regret of the best trial (judged on the true function when the observations are noisy).</summary>
    private (double Bayesian, double Random) MedianRegrets(Func<string, long, HyperParameterTuningJobConfig> config,
        Func<IReadOnlyDictionary<string, string>, double> observe, Func<IReadOnlyDictionary<string, string>, double> regret, bool maximize)
    {
        double Run(string strategy, long seed)
        {
            var trials = Loop.Run(Strategy(config(strategy, seed)), observe, Budget);
            var best = maximize ? trials.MaxBy(t => t.ObjectiveValue)! : trials.MinBy(t => t.ObjectiveValue)!;
            return regret(best.HyperParameters);
        }
        var bayesian = Enumerable.Range(1, Seeds).Select(s => Run("Bayesian", s)).ToList();
        var random = Enumerable.Range(1, Seeds).Select(s => Run("Random", s)).ToList();
        output.WriteLine($"Bayesian regrets: {string.Join(", ", bayesian.Select(r => r.ToString("G3")))}");
        output.WriteLine($"Random regrets:   {string.Join(", ", random.Select(r => r.ToString("G3")))}");
        return (Median(bayesian), Median(random));
    }

    [Fact]
    public void On_Branin_Bayesian_median_regret_is_under_a_fifth_of_Random_after_30_trials()
    {
        var (bayesian, random) = MedianRegrets((s, seed) => BraninConfig(s, Budget, seed), Branin, hp => Branin(hp) - BraninMinimum, maximize: false);
        output.WriteLine($"median regret: Bayesian {bayesian:G4}, Random {random:G4}");
        Assert.True(bayesian < random / 5, $"Bayesian {bayesian:G4} vs Random {random:G4}");
    }

    [Fact]
    public void On_Hartmann6_Bayesian_median_regret_is_under_half_of_Random_after_30_trials()
    {
        var (bayesian, random) = MedianRegrets((s, seed) => HartmannConfig(s, Budget, seed), Hartmann6, hp => HartmannMaximum - Hartmann6(hp), maximize: true);
        output.WriteLine($"median regret: Bayesian {bayesian:G4}, Random {random:G4}");
        Assert.True(bayesian < random / 2, $"Bayesian {bayesian:G4} vs Random {random:G4}");
    }

    [Fact]
    public void On_a_noisy_1D_function_Bayesian_picks_better_trials_and_samples_near_the_optimum_more_often_than_Random()
    {
        // Observations carry Gaussian noise (sd 0.5, about 2 % of the range); regret is the true value of the trial picked as best,
        // so part of it is the noise's selection bias, the same for both strategies (hence the smaller margin than on Branin).
        static double Observe(IReadOnlyDictionary<string, string> hp)
        {
            // Seeded by the value's bits: string.GetHashCode is randomized per process and would change the noise run to run.
            var bits = BitConverter.DoubleToInt64Bits(D(hp["x"]));
            var rng = new Random((int)((bits ^ (bits >> 32)) & 0x7fffffff));
            var u1 = 1 - rng.NextDouble();
            var u2 = rng.NextDouble();
            return Forrester(hp) + 0.5 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
        var (bayesian, random) = MedianRegrets((s, seed) => ForresterConfig(s, Budget, seed), Observe, hp => Forrester(hp) - ForresterMinimum, maximize: false);
        output.WriteLine($"median regret: Bayesian {bayesian:G4}, Random {random:G4}");
        Assert.True(bayesian < random * 0.7, $"Bayesian {bayesian:G4} vs Random {random:G4}");

        // Trials whose true value is within 0.5 of the optimum, per seed.
        double Near(string strategy) => Median(Enumerable.Range(1, Seeds).Select(seed =>
            (double)Loop.Run(Strategy(ForresterConfig(strategy, Budget, seed)), Observe, Budget).Count(t => Forrester(t.HyperParameters) - ForresterMinimum < 0.5)));
        var (nearBayesian, nearRandom) = (Near("Bayesian"), Near("Random"));
        output.WriteLine($"median trials within 0.5 of the optimum: Bayesian {nearBayesian}, Random {nearRandom}");
        Assert.True(nearBayesian > nearRandom, $"Bayesian {nearBayesian} vs Random {nearRandom}");
    }

    [Fact]
    public void Warm_start_from_a_parent_job_improves_the_first_trials()
    {
        // Parents: Bayesian jobs of 20 trials on Branin. Children: their first 5 trials, with and without the parent.
        var cold = new List<double>();
        var warm = new List<double>();
        for (var seed = 1; seed <= Seeds; seed++)
        {
            var parent = Loop.Run(Strategy(BraninConfig("Bayesian", 20, seed + 100)), Branin, 20);
            cold.Add(Loop.Run(Strategy(BraninConfig("Bayesian", 5, seed)), Branin, 5).Min(t => t.ObjectiveValue!.Value));
            warm.Add(Loop.Run(Strategy(BraninConfig("Bayesian", 5, seed)), Branin, 5, warmStart: parent).Min(t => t.ObjectiveValue!.Value));
        }
        output.WriteLine($"best of the first 5: cold median {Median(cold):G4}, warm median {Median(warm):G4}");
        Assert.True(Median(warm) - BraninMinimum < (Median(cold) - BraninMinimum) / 2, $"warm {Median(warm):G4} vs cold {Median(cold):G4}");
    }

    [Fact]
    public void Expected_improvement_is_zero_far_above_the_best_and_grows_with_uncertainty()
    {
        Assert.True(BayesianSearch.ExpectedImprovement(mean: 5, variance: 1e-6, best: 0) < 1e-12);
        Assert.True(BayesianSearch.ExpectedImprovement(0, 1, 0) > BayesianSearch.ExpectedImprovement(0, 0.01, 0));
        Assert.True(BayesianSearch.ExpectedImprovement(-1, 0.01, 0) > 0.9);
    }
}
