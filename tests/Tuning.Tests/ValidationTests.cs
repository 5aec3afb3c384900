using Mlops.Tuning.Configuration;

namespace Mlops.Tuning.Tests;

public sealed class ValidationTests
{
    private static TuningJobDefinition Valid() => new()
    {
        HyperParameterTuningJobName = "valid-job",
        HyperParameterTuningJobConfig = new()
        {
            Strategy = "Bayesian",
            HyperParameterTuningJobObjective = new() { Type = "Maximize", MetricName = "validation:auc" },
            ResourceLimits = new() { MaxNumberOfTrainingJobs = 10, MaxParallelTrainingJobs = 2 },
            ParameterRanges = new()
            {
                ContinuousParameterRanges = [new() { Name = "learning_rate", MinValue = "0.01", MaxValue = "0.3", ScalingType = "Logarithmic" }],
                IntegerParameterRanges = [new() { Name = "num_leaves", MinValue = "8", MaxValue = "128" }],
                CategoricalParameterRanges = [new() { Name = "boosting", Values = ["gbdt", "dart"] }],
            },
        },
        StaticHyperParameters = new Dictionary<string, string> { ["num_iterations"] = "100" },
    };

    private static IReadOnlyList<TuningConfigProblem> Problems(TuningJobDefinition d, IReadOnlyCollection<string>? metrics = null) =>
        TuningJobValidation.Validate(d, metrics);

    [Fact]
    public void A_valid_definition_has_no_problems() =>
        Assert.Empty(Problems(Valid(), ["validation:auc", "validation:f1"]));

    [Fact]
    public void Every_problem_of_a_bad_definition_is_named_with_its_path()
    {
        var d = Valid() with
        {
            HyperParameterTuningJobName = "bad name!",
            HyperParameterTuningJobConfig = Valid().HyperParameterTuningJobConfig! with
            {
                Strategy = "Genetic",
                HyperParameterTuningJobObjective = new() { Type = "Best", MetricName = "validation:acu" },
                ResourceLimits = new() { MaxNumberOfTrainingJobs = 4, MaxParallelTrainingJobs = 8 },
                ParameterRanges = new()
                {
                    ContinuousParameterRanges =
                    [
                        new() { Name = "empty", MinValue = "1", MaxValue = "1" },
                        new() { Name = "inverted", MinValue = "2", MaxValue = "1" },
                        new() { Name = "log", MinValue = "0", MaxValue = "1", ScalingType = "Logarithmic" },
                        new() { Name = "reverse", MinValue = "0.5", MaxValue = "1", ScalingType = "ReverseLogarithmic" },
                        new() { Name = "nan", MinValue = "abc", MaxValue = "1" },
                        new() { Name = "scale", MinValue = "0", MaxValue = "1", ScalingType = "Cubic" },
                    ],
                    IntegerParameterRanges =
                    [
                        new() { Name = "num_iterations", MinValue = "10", MaxValue = "5" },
                        new() { Name = "ints", MinValue = "1.5", MaxValue = "4" },
                        new() { Name = "intrev", MinValue = "0", MaxValue = "0", ScalingType = "ReverseLogarithmic" },
                    ],
                    CategoricalParameterRanges = [new() { Name = "log", Values = [] }, new() { Name = "dup", Values = ["a", "a"] }],
                },
                TrainingJobEarlyStoppingType = "Sometimes",
                TuningJobCompletionCriteria = new() { BestObjectiveNotImproving = new() { MaxNumberOfTrainingJobsNotImproving = 1 } },
                RandomSeed = -1,
            },
        };
        var problems = Problems(d, ["validation:auc"]);
        var paths = problems.Select(p => p.Path).ToList();
        const string r = "HyperParameterTuningJobConfig.ParameterRanges";
        string[] expected =
        [
            "HyperParameterTuningJobName",
            "HyperParameterTuningJobConfig.Strategy",
            "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.Type",
            "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.MetricName",
            "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",
            $"{r}.ContinuousParameterRanges[0]",
            $"{r}.ContinuousParameterRanges[1]",
            $"{r}.ContinuousParameterRanges[2].ScalingType",
            $"{r}.ContinuousParameterRanges[3].ScalingType",
            $"{r}.ContinuousParameterRanges[4].MinValue",
            $"{r}.ContinuousParameterRanges[5].ScalingType",
            $"{r}.IntegerParameterRanges[0]",
            $"{r}.IntegerParameterRanges[1].MinValue",
            $"{r}.IntegerParameterRanges[2].ScalingType",
            $"{r}.CategoricalParameterRanges[0].Name",
            $"{r}.CategoricalParameterRanges[0].Values",
            $"{r}.CategoricalParameterRanges[1].Values",
            "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType",
            "HyperParameterTuningJobConfig.TuningJobCompletionCriteria.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving",
            "HyperParameterTuningJobConfig.RandomSeed",
            "StaticHyperParameters.num_iterations",
        ];
        foreach (var path in expected)
            Assert.Contains(path, paths);
        Assert.Equal(expected.Length, problems.Count);
        Assert.All(problems, p => Assert.False(string.IsNullOrWhiteSpace(p.Message)));
        Assert.Contains(problems, p => p.Message.Contains("validation:acu") && p.Message.Contains("validation:auc"));
        Assert.Contains(problems, p => p.Message.Contains("8 is above MaxNumberOfTrainingJobs 4"));
    }

    [Fact]
    public void Missing_parts_are_each_named()
    {
        var problems = Problems(new TuningJobDefinition { HyperParameterTuningJobName = "j", HyperParameterTuningJobConfig = new() });
        var paths = problems.Select(p => p.Path).ToHashSet();
        Assert.Contains("HyperParameterTuningJobConfig.Strategy", paths);
        Assert.Contains("HyperParameterTuningJobConfig.HyperParameterTuningJobObjective", paths);
        Assert.Contains("HyperParameterTuningJobConfig.ParameterRanges", paths);
        Assert.Contains("HyperParameterTuningJobConfig.ResourceLimits", paths);
    }

    [Fact]
    public void Grid_takes_categorical_ranges_only_and_its_budget_is_the_number_of_combinations()
    {
        var config = Valid().HyperParameterTuningJobConfig! with { Strategy = "Grid" };
        var paths = Problems(Valid() with { HyperParameterTuningJobConfig = config }).Select(p => p.Path).ToList();
        Assert.Contains("HyperParameterTuningJobConfig.ParameterRanges.ContinuousParameterRanges[0]", paths);
        Assert.Contains("HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[0]", paths);
        Assert.Contains("HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs", paths); // 10 ≠ 2 combinations

        var categorical = config with
        {
            ParameterRanges = new() { CategoricalParameterRanges = [new() { Name = "a", Values = ["1", "2", "3"] }, new() { Name = "b", Values = ["x", "y"] }] },
            ResourceLimits = new() { MaxParallelTrainingJobs = 2 },
        };
        Assert.Empty(Problems(Valid() with { HyperParameterTuningJobConfig = categorical }));
        Assert.Empty(Problems(Valid() with { HyperParameterTuningJobConfig = categorical with { ResourceLimits = new() { MaxNumberOfTrainingJobs = 6, MaxParallelTrainingJobs = 2 } } }));
    }

    [Fact]
    public void Hyperband_needs_a_resource_and_no_early_stopping_of_its_own()
    {
        var config = Valid().HyperParameterTuningJobConfig! with
        {
            Strategy = "Hyperband",
            TrainingJobEarlyStoppingType = "Auto",
            StrategyConfig = new() { HyperbandStrategyConfig = new() { MinResource = 500, MaxResource = 30000 } },
        };
        var paths = Problems(Valid() with { HyperParameterTuningJobConfig = config, StaticHyperParameters = null }).Select(p => p.Path).ToList();
        Assert.Contains("HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType", paths);
        Assert.Contains("HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig.ResourceHyperParameterName", paths);
        Assert.Contains("HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig.MaxResource", paths);

        // MaxResource is inferred from the resource hyperparameter's static value, as SageMaker infers it from epochs.
        var inferred = config with { TrainingJobEarlyStoppingType = "Off", StrategyConfig = new() { HyperbandStrategyConfig = new() { MinResource = 10 } } };
        Assert.Empty(Problems(Valid() with { HyperParameterTuningJobConfig = inferred }));
        Assert.Equal(100, TuningJobValidation.HyperbandMaxResource(inferred.StrategyConfig.HyperbandStrategyConfig, Valid().StaticHyperParameters!));
    }

    [Fact]
    public void Strategy_config_and_warm_start_are_checked()
    {
        var d = Valid() with
        {
            HyperParameterTuningJobConfig = Valid().HyperParameterTuningJobConfig! with { StrategyConfig = new() { HyperbandStrategyConfig = new() } },
            WarmStartConfig = new() { ParentHyperParameterTuningJobs = [new()], WarmStartType = "Sideways" },
        };
        var paths = Problems(d).Select(p => p.Path).ToList();
        Assert.Contains("HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig", paths);
        Assert.Contains("WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName", paths);
        Assert.Contains("WarmStartConfig.WarmStartType", paths);
    }

    [Fact]
    public void The_exception_groups_messages_by_path_for_a_validation_problem_response()
    {
        var e = Assert.Throws<TuningConfigException>(() => TuningJobValidation.ThrowIfInvalid(new TuningJobDefinition()));
        var dictionary = e.ToDictionary();
        Assert.Contains("HyperParameterTuningJobName", dictionary.Keys);
        Assert.Contains("HyperParameterTuningJobConfig", dictionary.Keys);
    }
}
