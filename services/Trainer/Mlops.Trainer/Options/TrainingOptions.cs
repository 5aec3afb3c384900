using Mlops.Trainer.Learners;
using Mlops.Trainer.Model;

namespace Mlops.Trainer.Options;

/// <summary>The job's settings, from hyperparameters.json (strings) checked against what the trainer accepts.</summary>
public sealed record TrainingOptions(
    ProblemType? ProblemType,
    string Label,
    string Algorithm,
    int Seed,
    IReadOnlyList<string> ExcludeColumns,
    IReadOnlyList<string> TextColumns,
    int MaxOneHotCardinality,
    int HashBits,
    int ImportanceRows,
    int DiagnosticsRows,
    double? DecisionThreshold,
    IReadOnlyDictionary<string, string> Given)
{
    public const string DecisionThresholdName = "decision_threshold";

    /// <summary>The decision_threshold word that picks the threshold maximising F1 on the validation channel.</summary>
    public const string MaximiseF1 = "f1";

    public static readonly IReadOnlyList<Hyperparameter> Common =
    [
        Hyperparameter.Choice("problem_type", Hyperparameter.Auto, "binary, multiclass or regression; auto infers it from the label's type (boolean, text, number)", Hyperparameter.Auto, "binary", "multiclass", "regression"),
        Hyperparameter.Text("label", "label", "the label column"),
        Hyperparameter.Text("algorithm", LearnerCatalog.DefaultAlgorithm, "the learner (see the README's table)"),
        Hyperparameter.Int("seed", 42, "random seed; the same seed and data give the same model", 0),
        Hyperparameter.Text("exclude_columns", "", "comma-separated columns that are not features (ids, timestamps of the label)"),
        Hyperparameter.Text("text_columns", "", "comma-separated string columns to featurize as free text rather than categories"),
        Hyperparameter.Int("max_onehot_cardinality", 1000, "categorical columns with more distinct values are hashed instead of one-hot encoded", 1, 1_000_000),
        Hyperparameter.Int("hash_bits", 16, "bits of the hash space for high-cardinality categoricals", 1, 24),
        Hyperparameter.Int("importance_rows", 10_000, "validation rows used for permutation feature importance (0 turns it off)", 0),
        Hyperparameter.Int("diagnostics_rows", 20_000, "training and validation rows sampled for diagnostics", 100),
        Hyperparameter.RealOrWord(DecisionThresholdName,
            "binary only: the probability at or above which the predicted label is true; f1 picks the one maximising F1 on the validation channel", 0, 1, MaximiseF1),
    ];

    /// <summary>Keys SageMaker itself adds (e.g. by automatic model tuning); they are not ours to check.</summary>
    private static bool IsReserved(string key) => key.StartsWith("sagemaker_", StringComparison.Ordinal) || key.StartsWith('_');

    public static TrainingOptions Parse(IReadOnlyDictionary<string, string> given)
    {
        var known = Common.Select(h => h.Name).Concat(LearnerCatalog.All.SelectMany(l => l.Parameters).Select(h => h.Name)).ToHashSet();
        var unknown = given.Keys.Where(k => !known.Contains(k) && !IsReserved(k)).Order().ToArray();
        if (unknown.Length > 0)
        {
            throw new TrainerException(
                $"Unknown hyperparameter{(unknown.Length > 1 ? "s" : "")} {string.Join(", ", unknown.Select(k => $"'{k}'"))}. "
                + $"Valid hyperparameters: {string.Join(", ", known.Order())}.");
        }

        var values = Resolve(Common, given);
        var problem = values.Text("problem_type") switch
        {
            "binary" => Model.ProblemType.Binary,
            "multiclass" => Model.ProblemType.Multiclass,
            "regression" => Model.ProblemType.Regression,
            _ => (ProblemType?)null,
        };
        var options = new TrainingOptions(
            problem,
            values.Text("label"),
            values.Text("algorithm"),
            values.Int("seed"),
            values.List("exclude_columns"),
            values.List("text_columns"),
            values.Int("max_onehot_cardinality"),
            values.Int("hash_bits"),
            values.Int("importance_rows"),
            values.Int("diagnostics_rows"),
            values.Text(DecisionThresholdName) == MaximiseF1 ? null : values.Real(DecisionThresholdName),
            given);
        if (problem is { } p)
        {
            options.LearnerFor(p);
        }

        return options;
    }

    /// <summary>The learner this job asked for, with its hyperparameters resolved; fails naming the valid choices.</summary>
    public (Learner Learner, HyperparameterValues Values) LearnerFor(ProblemType problem)
    {
        var learner = LearnerCatalog.Find(problem, Algorithm) ?? throw new TrainerException(
            $"Unknown algorithm '{Algorithm}' for {problem.ToString().ToLowerInvariant()} problems. "
            + $"Valid algorithms: {string.Join(", ", LearnerCatalog.For(problem).Select(l => l.Name))}.");
        if (problem != Model.ProblemType.Binary && Given.ContainsKey(DecisionThresholdName))
        {
            throw new TrainerException(
                $"Hyperparameter '{DecisionThresholdName}' applies to binary problems only; this is a {problem.ToString().ToLowerInvariant()} problem. Remove it.");
        }

        var accepted = Common.Concat(learner.Parameters).Select(h => h.Name).ToHashSet();
        var foreign = Given.Keys.Where(k => !accepted.Contains(k) && !IsReserved(k)).Order().ToArray();
        if (foreign.Length > 0)
        {
            throw new TrainerException(
                $"Hyperparameter{(foreign.Length > 1 ? "s" : "")} {string.Join(", ", foreign.Select(k => $"'{k}'"))} "
                + $"do{(foreign.Length > 1 ? "" : "es")} not apply to algorithm '{learner.Name}'. "
                + $"Its hyperparameters: {string.Join(", ", learner.Parameters.Select(h => $"{h.Name} (default {h.Default})"))}.");
        }

        return (learner, Resolve(learner.Parameters, Given));
    }

    /// <summary>Every hyperparameter the job ran with, given or defaulted, as SageMaker-style strings.</summary>
    public IReadOnlyDictionary<string, string> Effective(ProblemType problem)
    {
        var (learner, values) = LearnerFor(problem);
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Resolve(Common, Given).All.Concat(values.All))
        {
            all[key] = value;
        }

        if (problem != Model.ProblemType.Binary)
        {
            all.Remove(DecisionThresholdName);
        }

        all["problem_type"] = problem.ToString().ToLowerInvariant();
        all["algorithm"] = learner.Name;
        return all;
    }

    private static HyperparameterValues Resolve(IReadOnlyList<Hyperparameter> specs, IReadOnlyDictionary<string, string> given)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var spec in specs)
        {
            var value = given.TryGetValue(spec.Name, out var v) ? v.Trim() : spec.Default;
            if (spec.Check(value) is { } problem)
            {
                problems.Add(problem);
            }

            values[spec.Name] = value;
        }

        return problems.Count == 0
            ? new HyperparameterValues(values)
            : throw new TrainerException($"Invalid hyperparameter value: {string.Join("; ", problems)}.");
    }
}
