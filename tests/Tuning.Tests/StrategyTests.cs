using Mlops.Tuning.Configuration;
using Mlops.Tuning.Space;
using Mlops.Tuning.Strategies;
using static Mlops.Tuning.Tests.TestFunctions;

namespace Mlops.Tuning.Tests;

public sealed class StrategyTests
{
    private static ISearchStrategy Strategy(HyperParameterTuningJobConfig config) =>
        SearchStrategies.Create(new TuningJobDefinition { HyperParameterTuningJobName = "t", HyperParameterTuningJobConfig = config }, config.RandomSeed!.Value);

    private static List<IReadOnlyDictionary<string, string>> Sequence(HyperParameterTuningJobConfig config, int n, int batch = 1) =>
        Loop.Run(Strategy(config), Branin, n, batch).Select(t => t.HyperParameters).ToList();

    [Theory]
    [InlineData("Random")]
    [InlineData("Bayesian")]
    public void The_same_seed_and_results_give_the_same_sequence_and_another_seed_another(string strategy)
    {
        var first = Sequence(BraninConfig(strategy, seed: 42), 14);
        var second = Sequence(BraninConfig(strategy, seed: 42), 14);
        var other = Sequence(BraninConfig(strategy, seed: 43), 14);
        Assert.Equal(first.Select(Key), second.Select(Key));
        Assert.NotEqual(first.Select(Key), other.Select(Key));
    }

    [Fact]
    public void Random_proposals_do_not_depend_on_how_they_are_batched()
    {
        var one = Sequence(BraninConfig("Random", seed: 5), 12, batch: 1);
        var four = Sequence(BraninConfig("Random", seed: 5), 12, batch: 4);
        Assert.Equal(one.Select(Key), four.Select(Key));
    }

    [Fact]
    public void Bayesian_proposals_are_the_same_with_the_kept_surrogate_fit_without_it_and_with_one_of_other_data()
    {
        // 60 trials cross the cold fits (up to 20 observations) and the refit points 22, 24, …, 50, 55, 60.
        var kept = Loop.Run(Strategy(HartmannConfig("Bayesian", 60, seed: 8)), Hartmann6, 60);
        var replayed = Loop.Run(Strategy(HartmannConfig("Bayesian", 60, seed: 8)), Hartmann6, 60, carrySurrogate: false);
        Assert.Equal(kept.Select(t => Key(t.HyperParameters)), replayed.Select(t => Key(t.HyperParameters)));

        var bayesian = (BayesianSearch)Strategy(HartmannConfig("Bayesian", 61, seed: 8));
        var history = TuningHistory.Of(kept);
        var fit = bayesian.Fit(history)!;
        Assert.Equal(60, fit.Observations);
        // A fit of other results (here: the same points, every result changed) is not taken for this history's.
        var other = bayesian.Fit(TuningHistory.Of(kept.Select(t => t with { ObjectiveValue = t.ObjectiveValue / 2 }).ToList()))!;
        Assert.Equal(fit.Observations, other.Observations);
        Assert.NotEqual(fit.Fingerprint, other.Fingerprint);
        var expected = Key(bayesian.Propose(1, history with { Surrogate = fit })[0].HyperParameters);
        Assert.Equal(expected, Key(bayesian.Propose(1, history with { Surrogate = other })[0].HyperParameters));
        Assert.Equal(expected, Key(bayesian.Propose(1, history)[0].HyperParameters));
        Assert.Equal(fit.LengthScales, bayesian.Fit(history with { Surrogate = other })!.LengthScales);
    }

    [Fact]
    public void A_batch_of_Bayesian_proposals_spreads_out_over_pending_trials()
    {
        var strategy = Strategy(BraninConfig("Bayesian", seed: 3));
        var history = Loop.Run(strategy, Branin, 10);
        var batch = strategy.Propose(4, TuningHistory.Of(history));
        Assert.Equal(4, batch.Count);
        Assert.Equal(4, batch.Select(p => Key(p.HyperParameters)).Distinct().Count());
    }

    [Fact]
    public void Grid_enumerates_every_combination_exactly_once_and_then_nothing()
    {
        var config = new HyperParameterTuningJobConfig
        {
            Strategy = "Grid",
            HyperParameterTuningJobObjective = new() { Type = "Minimize", MetricName = "objective" },
            ResourceLimits = new() { MaxParallelTrainingJobs = 3 },
            ParameterRanges = new()
            {
                CategoricalParameterRanges =
                [
                    new() { Name = "algorithm", Values = ["lightgbm", "fasttree", "fastforest"] },
                    new() { Name = "num_leaves", Values = ["16", "31"] },
                    new() { Name = "booster", Values = ["gbdt", "dart", "goss", "rf"] },
                ],
            },
            RandomSeed = 0,
        };
        var grid = (GridSearch)Strategy(config);
        Assert.Equal(24, grid.Size);
        var trials = Loop.Run(grid, _ => 0, 100, batch: 5);
        Assert.Equal(24, trials.Count);
        var keys = trials.Select(t => Key(t.HyperParameters)).ToList();
        Assert.Equal(24, keys.Distinct().Count());
        var expected = from a in new[] { "lightgbm", "fasttree", "fastforest" }
                       from l in new[] { "16", "31" }
                       from b in new[] { "gbdt", "dart", "goss", "rf" }
                       select $"algorithm={a};booster={b};num_leaves={l}";
        Assert.Equal(expected, keys);
        Assert.Empty(grid.Propose(3, TuningHistory.Of(trials)));
    }

    [Theory]
    [InlineData("Random")]
    [InlineData("Bayesian")]
    [InlineData("Hyperband")]
    public void Integer_categorical_and_scaled_ranges_are_respected(string strategy)
    {
        var config = new HyperParameterTuningJobConfig
        {
            Strategy = strategy,
            HyperParameterTuningJobObjective = new() { Type = "Minimize", MetricName = "objective" },
            ResourceLimits = new() { MaxNumberOfTrainingJobs = 40, MaxParallelTrainingJobs = 1 },
            ParameterRanges = new()
            {
                ContinuousParameterRanges =
                [
                    Range("learning_rate", "0.0001", "1", "Logarithmic"),
                    Range("momentum", "0.9", "0.9999", "ReverseLogarithmic"),
                ],
                IntegerParameterRanges = [new() { Name = "num_leaves", MinValue = "2", MaxValue = "9" }, new() { Name = "depth", MinValue = "1", MaxValue = "1000", ScalingType = "Logarithmic" }],
                CategoricalParameterRanges = [new() { Name = "booster", Values = ["gbdt", "dart", "goss"] }],
            },
            StrategyConfig = strategy == "Hyperband" ? new() { HyperbandStrategyConfig = new() { MinResource = 1, MaxResource = 27, ResourceHyperParameterName = "num_iterations" } } : null,
            RandomSeed = 11,
        };
        var definition = new TuningJobDefinition { HyperParameterTuningJobName = "t", HyperParameterTuningJobConfig = config };
        Assert.Empty(TuningJobValidation.Validate(definition));
        var trials = Loop.Run(SearchStrategies.Create(definition, 11),
            hp => Math.Abs(Math.Log10(D(hp["learning_rate"])) + 2) + int.Parse(hp["num_leaves"]) / 10.0 + (hp["booster"] == "dart" ? 0 : 1), 40);
        Assert.Equal(40, trials.Count);
        foreach (var hp in trials.Select(t => t.HyperParameters))
        {
            Assert.InRange(D(hp["learning_rate"]), 0.0001, 1);
            Assert.InRange(D(hp["momentum"]), 0.9, 0.9999);
            Assert.True(int.TryParse(hp["num_leaves"], out var leaves) && leaves is >= 2 and <= 9, hp["num_leaves"]);
            Assert.True(int.TryParse(hp["depth"], out var depth) && depth is >= 1 and <= 1000, hp["depth"]);
            Assert.Contains(hp["booster"], new[] { "gbdt", "dart", "goss" });
            if (strategy == "Hyperband")
                Assert.Equal("27", hp["num_iterations"]); // every trial runs at MaxResource; rungs stop it
        }
    }

    [Fact]
    public void Log_scaling_spreads_samples_evenly_over_orders_of_magnitude_and_every_integer_is_drawn()
    {
        var space = SearchSpace.From(new()
        {
            ContinuousParameterRanges = [Range("lr", "0.0001", "1", "Logarithmic"), Range("m", "0.9", "0.9999", "ReverseLogarithmic")],
            IntegerParameterRanges = [new() { Name = "k", MinValue = "2", MaxValue = "6" }],
        });
        var rng = new Random(1);
        var samples = Enumerable.Range(0, 4000).Select(_ => space.Format(space.Sample(rng))).ToList();
        // Log-uniform on [1e-4, 1]: a quarter of the draws per decade; uniform would put 90 % in the last one.
        var decades = samples.GroupBy(s => (int)Math.Floor(Math.Log10(D(s["lr"])))).ToDictionary(g => g.Key, g => g.Count());
        foreach (var decade in new[] { -4, -3, -2, -1 })
            Assert.InRange(decades[decade], 850, 1150);
        // Reverse-log: as many draws in [0.99, 0.999) as in [0.9, 0.99).
        var near = samples.Count(s => D(s["m"]) is >= 0.99 and < 0.999);
        var far = samples.Count(s => D(s["m"]) < 0.99);
        Assert.InRange(near / (double)far, 0.8, 1.25);
        var counts = samples.GroupBy(s => s["k"]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(["2", "3", "4", "5", "6"], counts.Keys.Order());
        Assert.All(counts.Values, c => Assert.InRange(c, 650, 950));
    }

    [Fact]
    public void A_point_round_trips_through_its_hyperparameters()
    {
        var space = SearchSpace.From(new()
        {
            ContinuousParameterRanges = [Range("lr", "0.001", "0.5", "Logarithmic")],
            IntegerParameterRanges = [new() { Name = "k", MinValue = "-3", MaxValue = "3" }],
            CategoricalParameterRanges = [new() { Name = "c", Values = ["a", "b"] }],
        });
        var rng = new Random(2);
        for (var i = 0; i < 100; i++)
        {
            var hp = space.Format(space.Sample(rng));
            var again = space.Format(space.PointOf(hp)!);
            Assert.Equal(Key(hp), Key(again));
        }
        Assert.Null(space.PointOf(new Dictionary<string, string> { ["lr"] = "0.9", ["k"] = "0", ["c"] = "a" }));
        Assert.Null(space.PointOf(new Dictionary<string, string> { ["lr"] = "0.1", ["k"] = "0", ["c"] = "z" }));
    }

    internal static string Key(IReadOnlyDictionary<string, string> hp) => string.Join(";", hp.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
}
