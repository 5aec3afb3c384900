using Mlops.Tuning.Configuration;
using Mlops.Tuning.Space;

namespace Mlops.Tuning.Strategies;

public static class SearchStrategies
{
    /// <summary>The strategy a validated definition asks for.</summary>
    public static ISearchStrategy Create(TuningJobDefinition definition, long seed)
    {
        var config = definition.HyperParameterTuningJobConfig!;
        var space = SearchSpace.From(config.ParameterRanges!);
        var maximize = config.HyperParameterTuningJobObjective!.Type == ObjectiveTypes.Maximize;
        var statics = definition.StaticHyperParameters ?? new Dictionary<string, string>();
        return config.Strategy switch
        {
            TuningStrategies.Random => new RandomSearch(space, seed),
            TuningStrategies.Grid => new GridSearch(space),
            TuningStrategies.Bayesian => new BayesianSearch(space, seed, maximize),
            TuningStrategies.Hyperband => Hyperband(config.StrategyConfig?.HyperbandStrategyConfig, space, seed, maximize, statics),
            _ => throw new ArgumentException($"Unknown strategy '{config.Strategy}'; validate the definition first.", nameof(definition)),
        };
    }

    public static HyperbandSearch Hyperband(HyperbandStrategyConfig? hyperband, SearchSpace space, long seed, bool maximize,
        IReadOnlyDictionary<string, string> statics) =>
        new(space, seed, maximize, hyperband?.MinResource ?? 1, TuningJobValidation.HyperbandMaxResource(hyperband, statics)!.Value,
            TuningJobValidation.HyperbandResourceName(hyperband, statics)!);
}
