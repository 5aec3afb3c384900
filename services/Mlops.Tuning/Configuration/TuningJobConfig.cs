namespace Mlops.Tuning.Configuration;

// SageMaker's shapes for CreateHyperParameterTuningJob, with its field names, so a SageMaker user's JSON binds as is.
// Enumerations are strings, not C# enums: a bad value must become a named validation problem, not a deserialization
// failure that says nothing about where it was.

/// <summary>What CreateHyperParameterTuningJob takes, less the training-job definition's infrastructure (the platform supplies it).</summary>
public sealed record TuningJobDefinition
{
    /// <summary>1–32 letters, digits and hyphens (SageMaker's rule); trial names are <c>&lt;name&gt;-&lt;NNN&gt;-&lt;hex8&gt;</c>.</summary>
    public string? HyperParameterTuningJobName { get; init; }
    public HyperParameterTuningJobConfig? HyperParameterTuningJobConfig { get; init; }
    /// <summary>TrainingJobDefinition.StaticHyperParameters: passed to every trial, never tuned.</summary>
    public IReadOnlyDictionary<string, string>? StaticHyperParameters { get; init; }
    public WarmStartConfig? WarmStartConfig { get; init; }
}

public sealed record HyperParameterTuningJobConfig
{
    /// <summary><see cref="TuningStrategies"/>: Random | Grid | Bayesian | Hyperband.</summary>
    public string? Strategy { get; init; }
    public HyperParameterTuningJobStrategyConfig? StrategyConfig { get; init; }
    public HyperParameterTuningJobObjective? HyperParameterTuningJobObjective { get; init; }
    public ResourceLimits? ResourceLimits { get; init; }
    public ParameterRanges? ParameterRanges { get; init; }
    /// <summary><c>Off</c> (default) or <c>Auto</c> (the median stopping rule).</summary>
    public string? TrainingJobEarlyStoppingType { get; init; }
    public TuningJobCompletionCriteria? TuningJobCompletionCriteria { get; init; }
    /// <summary>Same seed and same trial results → same proposals. Absent: one is drawn and kept in the job's state.</summary>
    public long? RandomSeed { get; init; }
}

public sealed record HyperParameterTuningJobObjective
{
    /// <summary><c>Maximize</c> or <c>Minimize</c>.</summary>
    public string? Type { get; init; }
    /// <summary>A metric of the training job's MetricDefinitions, e.g. <c>validation:auc</c>.</summary>
    public string? MetricName { get; init; }
}

public sealed record ResourceLimits
{
    /// <summary>Every trial counts, failed ones too. Optional for Grid (the number of combinations) and Hyperband (one full Hyperband iteration).</summary>
    public int? MaxNumberOfTrainingJobs { get; init; }
    public int? MaxParallelTrainingJobs { get; init; }
}

public sealed record ParameterRanges
{
    public IReadOnlyList<ContinuousParameterRange>? ContinuousParameterRanges { get; init; }
    public IReadOnlyList<IntegerParameterRange>? IntegerParameterRanges { get; init; }
    public IReadOnlyList<CategoricalParameterRange>? CategoricalParameterRanges { get; init; }
}

/// <summary>MinValue and MaxValue are strings in SageMaker's API; they are parsed with the invariant culture.</summary>
public sealed record ContinuousParameterRange
{
    public string? Name { get; init; }
    public string? MinValue { get; init; }
    public string? MaxValue { get; init; }
    /// <summary><see cref="ScalingTypes"/>: Auto (= Linear here) | Linear | Logarithmic | ReverseLogarithmic.</summary>
    public string? ScalingType { get; init; }
}

public sealed record IntegerParameterRange
{
    public string? Name { get; init; }
    public string? MinValue { get; init; }
    public string? MaxValue { get; init; }
    /// <summary>Auto | Linear | Logarithmic (ReverseLogarithmic is for continuous ranges only, as in SageMaker).</summary>
    public string? ScalingType { get; init; }
}

public sealed record CategoricalParameterRange
{
    public string? Name { get; init; }
    public IReadOnlyList<string>? Values { get; init; }
}

public sealed record TuningJobCompletionCriteria
{
    /// <summary>The job completes once a trial's objective reaches this value (≥ when maximizing, ≤ when minimizing).</summary>
    public double? TargetObjectiveMetricValue { get; init; }
    public BestObjectiveNotImproving? BestObjectiveNotImproving { get; init; }
}

public sealed record BestObjectiveNotImproving
{
    /// <summary>The job completes once this many trials in a row (in completion order) did not improve the best objective. At least 3.</summary>
    public int? MaxNumberOfTrainingJobsNotImproving { get; init; }
}

public sealed record HyperParameterTuningJobStrategyConfig
{
    public HyperbandStrategyConfig? HyperbandStrategyConfig { get; init; }
}

public sealed record HyperbandStrategyConfig
{
    /// <summary>The smallest budget a trial gets (rung 0 of the most aggressive bracket). Default 1.</summary>
    public int? MinResource { get; init; }
    /// <summary>The largest budget; absent, it is read from the resource hyperparameter's static value, as SageMaker infers it from epochs keys.</summary>
    public int? MaxResource { get; init; }
    /// <summary>Not SageMaker's (its Hyperband stops jobs by their per-epoch metrics): the static hyperparameter a trial's budget is
    /// passed in. Absent: the first static hyperparameter among num_iterations, epochs, numepochs, n-epochs, n_epochs, num_epochs.</summary>
    public string? ResourceHyperParameterName { get; init; }
}

public sealed record WarmStartConfig
{
    public IReadOnlyList<ParentHyperParameterTuningJob>? ParentHyperParameterTuningJobs { get; init; }
    /// <summary><c>IdenticalDataAndAlgorithm</c> or <c>TransferLearning</c>; both seed the surrogate with the parents' trials here.</summary>
    public string? WarmStartType { get; init; }
}

public sealed record ParentHyperParameterTuningJob
{
    public string? HyperParameterTuningJobName { get; init; }
}

public static class TuningStrategies
{
    public const string Random = "Random";
    public const string Grid = "Grid";
    public const string Bayesian = "Bayesian";
    public const string Hyperband = "Hyperband";
    public static readonly IReadOnlyList<string> All = [Random, Grid, Bayesian, Hyperband];
}

public static class ScalingTypes
{
    public const string Auto = "Auto";
    public const string Linear = "Linear";
    public const string Logarithmic = "Logarithmic";
    public const string ReverseLogarithmic = "ReverseLogarithmic";
    public static readonly IReadOnlyList<string> All = [Auto, Linear, Logarithmic, ReverseLogarithmic];
}

public static class ObjectiveTypes
{
    public const string Maximize = "Maximize";
    public const string Minimize = "Minimize";
}

public static class EarlyStoppingTypes
{
    public const string Off = "Off";
    public const string Auto = "Auto";
}

public static class WarmStartTypes
{
    public const string IdenticalDataAndAlgorithm = "IdenticalDataAndAlgorithm";
    public const string TransferLearning = "TransferLearning";
}
