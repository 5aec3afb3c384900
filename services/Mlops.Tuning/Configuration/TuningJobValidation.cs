using System.Globalization;
using System.Text.RegularExpressions;

namespace Mlops.Tuning.Configuration;

/// <summary>One thing wrong with a tuning job definition: where (a JSON path in SageMaker's field names) and what.</summary>
public sealed record TuningConfigProblem(string Path, string Message);

/// <summary>A definition with problems; a service answers it with 400 and <see cref="Problems"/> (nothing is started).</summary>
public sealed class TuningConfigException(IReadOnlyList<TuningConfigProblem> problems)
    : Exception("The tuning job definition is invalid: " + string.Join("; ", problems.Select(p => $"{p.Path}: {p.Message}")))
{
    public IReadOnlyList<TuningConfigProblem> Problems { get; } = problems;

    /// <summary>The shape ASP.NET Core's <c>TypedResults.ValidationProblem</c> takes: messages grouped by path.</summary>
    public IDictionary<string, string[]> ToDictionary() =>
        Problems.GroupBy(p => p.Path).ToDictionary(g => g.Key, g => g.Select(p => p.Message).ToArray());
}

/// <summary>Checks a definition completely and names every problem, rather than stopping at the first.</summary>
public static partial class TuningJobValidation
{
    // SageMaker's limits (API reference, CreateHyperParameterTuningJob and its types), unless marked ours.
    public const int MaxParameterRanges = 30;
    public const int MaxCategoricalValues = 30;
    public const int MaxParentJobs = 5;
    public const int MinNotImproving = 3;
    public const int MaxHyperbandResource = 20000;
    /// <summary>Ours: the GP's cost grows with the cube of the number of trials.</summary>
    public const int MaxTrainingJobs = 1000;

    private const string Root = "HyperParameterTuningJobConfig";

    [GeneratedRegex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")]
    private static partial Regex TuningJobName();

    /// <param name="definition">The definition to check.</param>
    /// <param name="metricNames">The training job's metric definitions' names, when known: the objective must be one.</param>
    public static IReadOnlyList<TuningConfigProblem> Validate(TuningJobDefinition definition, IReadOnlyCollection<string>? metricNames = null)
    {
        var problems = new List<TuningConfigProblem>();
        void Add(string path, string message) => problems.Add(new(path, message));

        if (string.IsNullOrEmpty(definition.HyperParameterTuningJobName))
            Add("HyperParameterTuningJobName", "is required");
        else if (!TuningJobName().IsMatch(definition.HyperParameterTuningJobName))
            Add("HyperParameterTuningJobName", "must be 1–32 letters, digits and hyphens, starting and ending with a letter or digit");

        var config = definition.HyperParameterTuningJobConfig;
        if (config is null)
        {
            Add(Root, "is required");
            return problems;
        }

        var strategy = config.Strategy;
        if (strategy is null)
            Add($"{Root}.Strategy", $"is required (one of {string.Join(", ", TuningStrategies.All)})");
        else if (!TuningStrategies.All.Contains(strategy))
            Add($"{Root}.Strategy", $"'{strategy}' is not one of {string.Join(", ", TuningStrategies.All)}");

        ValidateObjective(config.HyperParameterTuningJobObjective, metricNames, Add);
        var tuned = ValidateRanges(config.ParameterRanges, strategy, Add, out var gridSize);
        ValidateLimits(config, strategy, gridSize, Add);

        var stopping = config.TrainingJobEarlyStoppingType;
        if (stopping is not null and not (EarlyStoppingTypes.Off or EarlyStoppingTypes.Auto))
            Add($"{Root}.TrainingJobEarlyStoppingType", $"'{stopping}' is not one of Off, Auto");
        if (strategy == TuningStrategies.Hyperband && stopping == EarlyStoppingTypes.Auto)
            Add($"{Root}.TrainingJobEarlyStoppingType", "must be Off with Hyperband, which stops trials itself");

        if (config.RandomSeed is < 0)
            Add($"{Root}.RandomSeed", "must be 0 or more");

        var statics = definition.StaticHyperParameters ?? new Dictionary<string, string>();
        foreach (var name in tuned.Where(statics.ContainsKey))
            Add($"StaticHyperParameters.{name}", $"'{name}' is also a tuned parameter range; a hyperparameter is either static or tuned");

        ValidateHyperband(config, strategy, statics, tuned, Add);
        ValidateCompletion(config.TuningJobCompletionCriteria, Add);
        ValidateWarmStart(definition.WarmStartConfig, strategy, Add);
        return problems;
    }

    /// <summary>Throws <see cref="TuningConfigException"/> naming every problem, if there is any.</summary>
    public static void ThrowIfInvalid(TuningJobDefinition definition, IReadOnlyCollection<string>? metricNames = null)
    {
        var problems = Validate(definition, metricNames);
        if (problems.Count > 0)
            throw new TuningConfigException(problems);
    }

    /// <summary>The resource hyperparameter Hyperband passes trial budgets in (null when none can be found).</summary>
    public static string? HyperbandResourceName(HyperbandStrategyConfig? hyperband, IReadOnlyDictionary<string, string> statics) =>
        hyperband?.ResourceHyperParameterName
        ?? new[] { "num_iterations", "epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs" }.FirstOrDefault(statics.ContainsKey);

    /// <summary>Hyperband's MaxResource: configured, or the resource hyperparameter's static value.</summary>
    public static int? HyperbandMaxResource(HyperbandStrategyConfig? hyperband, IReadOnlyDictionary<string, string> statics)
    {
        if (hyperband?.MaxResource is { } max)
            return max;
        var name = HyperbandResourceName(hyperband, statics);
        return name is not null && statics.TryGetValue(name, out var text)
            && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    private static void ValidateObjective(HyperParameterTuningJobObjective? objective, IReadOnlyCollection<string>? metricNames,
        Action<string, string> add)
    {
        const string path = $"{Root}.HyperParameterTuningJobObjective";
        if (objective is null)
        {
            add(path, "is required");
            return;
        }
        if (objective.Type is null)
            add($"{path}.Type", "is required (Maximize or Minimize)");
        else if (objective.Type is not (ObjectiveTypes.Maximize or ObjectiveTypes.Minimize))
            add($"{path}.Type", $"'{objective.Type}' is not one of Maximize, Minimize");
        if (string.IsNullOrEmpty(objective.MetricName))
            add($"{path}.MetricName", "is required");
        else if (metricNames is not null && !metricNames.Contains(objective.MetricName))
            add($"{path}.MetricName", $"'{objective.MetricName}' is not a metric the training job reports ({string.Join(", ", metricNames.Take(12))}{(metricNames.Count > 12 ? ", …" : "")})");
    }

    private static HashSet<string> ValidateRanges(ParameterRanges? ranges, string? strategy, Action<string, string> add, out long gridSize)
    {
        const string path = $"{Root}.ParameterRanges";
        var names = new HashSet<string>(StringComparer.Ordinal);
        gridSize = 1;
        var continuous = ranges?.ContinuousParameterRanges ?? [];
        var integer = ranges?.IntegerParameterRanges ?? [];
        var categorical = ranges?.CategoricalParameterRanges ?? [];
        var count = continuous.Count + integer.Count + categorical.Count;
        if (count == 0)
            add(path, "must name at least one parameter range");
        if (count > MaxParameterRanges)
            add(path, $"has {count} ranges; at most {MaxParameterRanges}");

        void Name(string p, string? name)
        {
            if (string.IsNullOrEmpty(name))
                add($"{p}.Name", "is required");
            else if (name.Length > 256)
                add($"{p}.Name", "is longer than 256 characters");
            else if (!names.Add(name))
                add($"{p}.Name", $"'{name}' names more than one range");
        }

        // Continuous and integer ranges differ only in how their bounds parse and whether min = max is allowed.
        var numeric = continuous.Select((r, i) => (Path: $"{path}.ContinuousParameterRanges[{i}]", r.Name, r.MinValue, r.MaxValue, r.ScalingType, IsInteger: false))
            .Concat(integer.Select((r, i) => (Path: $"{path}.IntegerParameterRanges[{i}]", r.Name, r.MinValue, r.MaxValue, r.ScalingType, IsInteger: true)));
        foreach (var r in numeric)
        {
            Name(r.Path, r.Name);
            var min = r.IsInteger ? Integer(r.Path, "MinValue", r.MinValue, add) : Number(r.Path, "MinValue", r.MinValue, add);
            var max = r.IsInteger ? Integer(r.Path, "MaxValue", r.MaxValue, add) : Number(r.Path, "MaxValue", r.MaxValue, add);
            if (strategy == TuningStrategies.Grid)
                add(r.Path, "Grid search takes categorical ranges only (as SageMaker's); list the values as a categorical range");
            if (min is null || max is null)
                continue;
            if (r.IsInteger ? min > max : min >= max)
                add(r.Path, r.IsInteger
                    ? $"is inverted: MinValue {r.MinValue} is above MaxValue {r.MaxValue}"
                    : $"is empty or inverted: MinValue {r.MinValue} must be below MaxValue {r.MaxValue}");
            Scaling(r.Path, r.ScalingType, min.Value, max.Value, continuousRange: !r.IsInteger, add);
        }

        for (var i = 0; i < categorical.Count; i++)
        {
            var p = $"{path}.CategoricalParameterRanges[{i}]";
            var r = categorical[i];
            Name(p, r.Name);
            var values = r.Values ?? [];
            if (values.Count == 0)
                add($"{p}.Values", "must hold at least one value");
            else if (values.Count > MaxCategoricalValues)
                add($"{p}.Values", $"has {values.Count} values; at most {MaxCategoricalValues}");
            foreach (var duplicate in values.GroupBy(v => v, StringComparer.Ordinal).Where(g => g.Count() > 1))
                add($"{p}.Values", $"'{duplicate.Key}' is listed {duplicate.Count()} times");
            gridSize = checked(gridSize * Math.Max(1, values.Distinct(StringComparer.Ordinal).Count()));
        }
        return names;
    }

    private static void Scaling(string p, string? scaling, double min, double max, bool continuousRange, Action<string, string> add)
    {
        switch (scaling)
        {
            case null or ScalingTypes.Auto or ScalingTypes.Linear:
                break;
            case ScalingTypes.Logarithmic when min <= 0:
                add($"{p}.ScalingType", $"Logarithmic scaling needs a positive range; MinValue is {Format(min)}");
                break;
            case ScalingTypes.Logarithmic:
                break;
            case ScalingTypes.ReverseLogarithmic when !continuousRange:
                add($"{p}.ScalingType", "ReverseLogarithmic scaling is for continuous ranges only");
                break;
            case ScalingTypes.ReverseLogarithmic when min < 0 || max >= 1:
                add($"{p}.ScalingType", $"ReverseLogarithmic scaling needs 0 <= MinValue and MaxValue < 1; the range is [{Format(min)}, {Format(max)}]");
                break;
            case ScalingTypes.ReverseLogarithmic:
                break;
            default:
                add($"{p}.ScalingType", $"'{scaling}' is not one of {string.Join(", ", ScalingTypes.All)}");
                break;
        }
    }

    private static void ValidateLimits(HyperParameterTuningJobConfig config, string? strategy, long gridSize, Action<string, string> add)
    {
        const string path = $"{Root}.ResourceLimits";
        var limits = config.ResourceLimits;
        if (limits is null)
        {
            add(path, "is required");
            return;
        }
        var max = limits.MaxNumberOfTrainingJobs;
        var parallel = limits.MaxParallelTrainingJobs;
        if (parallel is null)
            add($"{path}.MaxParallelTrainingJobs", "is required");
        else if (parallel < 1)
            add($"{path}.MaxParallelTrainingJobs", "must be at least 1");
        if (max is null && strategy is TuningStrategies.Random or TuningStrategies.Bayesian)
            add($"{path}.MaxNumberOfTrainingJobs", $"is required with {strategy} search");
        if (max is < 1)
            add($"{path}.MaxNumberOfTrainingJobs", "must be at least 1");
        if (max > MaxTrainingJobs)
            add($"{path}.MaxNumberOfTrainingJobs", $"must be at most {MaxTrainingJobs}");
        if (max is >= 1 && parallel > max)
            add($"{path}.MaxParallelTrainingJobs", $"{parallel} is above MaxNumberOfTrainingJobs {max}");
        if (strategy == TuningStrategies.Grid && max is >= 1 && max != gridSize)
            add($"{path}.MaxNumberOfTrainingJobs", $"with Grid search it must equal the number of combinations, {gridSize} (or be left out)");
        if (strategy == TuningStrategies.Grid && gridSize > MaxTrainingJobs)
            add($"{Root}.ParameterRanges", $"the grid has {gridSize} combinations; at most {MaxTrainingJobs}");
    }

    private static void ValidateHyperband(HyperParameterTuningJobConfig config, string? strategy, IReadOnlyDictionary<string, string> statics,
        HashSet<string> tuned, Action<string, string> add)
    {
        const string path = $"{Root}.StrategyConfig.HyperbandStrategyConfig";
        var hyperband = config.StrategyConfig?.HyperbandStrategyConfig;
        if (strategy != TuningStrategies.Hyperband)
        {
            if (hyperband is not null)
                add(path, "is only for the Hyperband strategy");
            return;
        }
        var resource = TuningJobValidation.HyperbandResourceName(hyperband, statics);
        if (resource is null)
            add($"{path}.ResourceHyperParameterName", "is required unless a static hyperparameter num_iterations, epochs, numepochs, n-epochs, n_epochs or num_epochs names the budget");
        else if (tuned.Contains(resource))
            add($"{path}.ResourceHyperParameterName", $"'{resource}' is a tuned range; Hyperband sets the budget itself");
        var min = hyperband?.MinResource ?? 1;
        var max = HyperbandMaxResource(hyperband, statics);
        if (min < 1)
            add($"{path}.MinResource", "must be at least 1");
        if (max is null)
            add($"{path}.MaxResource", "is required unless the resource hyperparameter has an integer static value");
        else if (max > MaxHyperbandResource)
            add($"{path}.MaxResource", $"must be at most {MaxHyperbandResource}");
        else if (max < min)
            add($"{path}.MaxResource", $"{max} is below MinResource {min}");
    }

    private static void ValidateCompletion(TuningJobCompletionCriteria? criteria, Action<string, string> add)
    {
        const string path = $"{Root}.TuningJobCompletionCriteria";
        if (criteria?.TargetObjectiveMetricValue is { } target && !double.IsFinite(target))
            add($"{path}.TargetObjectiveMetricValue", "must be a finite number");
        if (criteria?.BestObjectiveNotImproving is { } notImproving)
        {
            if (notImproving.MaxNumberOfTrainingJobsNotImproving is not { } n)
                add($"{path}.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving", "is required");
            else if (n < MinNotImproving)
                add($"{path}.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving", $"must be at least {MinNotImproving}");
        }
    }

    private static void ValidateWarmStart(WarmStartConfig? warmStart, string? strategy, Action<string, string> add)
    {
        const string path = "WarmStartConfig";
        if (warmStart is null)
            return;
        if (strategy is TuningStrategies.Grid or TuningStrategies.Hyperband)
            add(path, $"warm start seeds the Bayesian surrogate (and Random ignores it); {strategy} search does not take it");
        var parents = warmStart.ParentHyperParameterTuningJobs ?? [];
        if (parents.Count is 0 or > MaxParentJobs)
            add($"{path}.ParentHyperParameterTuningJobs", $"must name 1 to {MaxParentJobs} tuning jobs");
        for (var i = 0; i < parents.Count; i++)
            if (string.IsNullOrEmpty(parents[i].HyperParameterTuningJobName))
                add($"{path}.ParentHyperParameterTuningJobs[{i}].HyperParameterTuningJobName", "is required");
        if (warmStart.WarmStartType is not (WarmStartTypes.IdenticalDataAndAlgorithm or WarmStartTypes.TransferLearning))
            add($"{path}.WarmStartType", $"'{warmStart.WarmStartType}' is not one of IdenticalDataAndAlgorithm, TransferLearning");
    }

    private static double? Number(string p, string field, string? text, Action<string, string> add)
    {
        if (text is null)
        {
            add($"{p}.{field}", "is required");
            return null;
        }
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
            return value;
        add($"{p}.{field}", $"'{text}' is not a finite number");
        return null;
    }

    private static double? Integer(string p, string field, string? text, Action<string, string> add)
    {
        if (text is null)
        {
            add($"{p}.{field}", "is required");
            return null;
        }
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            return value;
        add($"{p}.{field}", $"'{text}' is not an integer");
        return null;
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
