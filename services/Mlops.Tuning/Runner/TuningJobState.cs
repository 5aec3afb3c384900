using System.Text.Json;
using System.Text.Json.Serialization;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Strategies;

namespace Mlops.Tuning.Runner;

public enum TuningJobStatus { InProgress, Completed, Stopping, Stopped }

/// <summary>
/// Everything a tuning job is: a service persists it after every step and resumes from it (<see cref="TuningJobRunner.Resume"/>)
/// with the same trials — none lost, none started twice — and, the seed being in it, the same future proposals.
/// </summary>
public sealed record TuningJobState
{
    public required TuningJobDefinition Definition { get; init; }
    /// <summary>RandomSeed, or the one drawn when the definition had none.</summary>
    public required long Seed { get; init; }
    /// <summary>MaxNumberOfTrainingJobs, or what it defaults to (Grid: the combinations; Hyperband: one iteration).</summary>
    public required int MaxNumberOfTrainingJobs { get; init; }
    public TuningJobStatus Status { get; init; } = TuningJobStatus.InProgress;
    /// <summary>Why no more trials start (<see cref="CompletionReasons"/>); null while the job is launching.</summary>
    public string? CompletionReason { get; init; }
    public bool StopRequested { get; init; }
    public IReadOnlyList<TrialRecord> Trials { get; init; } = [];
    /// <summary>The parents' finished trials, copied in so a resumed job needs no parent again.</summary>
    public IReadOnlyList<TrialRecord> WarmStartTrials { get; init; } = [];
    /// <summary>The Bayesian surrogate's fitted kernel hyperparameters after the last proposal (null for other strategies): the next
    /// proposal refits from them on schedule, or not at all. Dropping it changes no proposal, only makes the next one slower.</summary>
    public SurrogateFit? Surrogate { get; init; }
    /// <summary>The best completed trial (never one stopped early or failed); ties go to the earlier trial.</summary>
    public string? BestTrainingJobName { get; init; }

    [JsonIgnore] public TrialRecord? BestTrial => Trials.FirstOrDefault(t => t.TrainingJobName == BestTrainingJobName);

    /// <summary>Best objective after each trial's end, in end order: the best-so-far curve.</summary>
    public IReadOnlyList<double> BestSoFar()
    {
        var maximize = Definition.HyperParameterTuningJobConfig!.HyperParameterTuningJobObjective!.Type == ObjectiveTypes.Maximize;
        var curve = new List<double>();
        double? best = null;
        foreach (var trial in Trials.Where(t => t.EndOrder is not null).OrderBy(t => t.EndOrder))
        {
            if (TuningJobRunner.CountsAsResult(trial) && (best is null || (maximize ? trial.ObjectiveValue > best : trial.ObjectiveValue < best)))
                best = trial.ObjectiveValue;
            curve.Add(best ?? double.NaN);
        }
        return curve;
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // A NaN or ∞ objective is recorded as a failure, never stored; this is only a guard.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TuningJobState FromJson(string json) =>
        JsonSerializer.Deserialize<TuningJobState>(json, Json) ?? throw new JsonException("A tuning job state was null.");
}

public static class CompletionReasons
{
    public const string MaxNumberOfTrainingJobs = "MaxNumberOfTrainingJobs reached";
    public const string TargetObjectiveMetricValue = "TargetObjectiveMetricValue reached";
    public const string BestObjectiveNotImproving = "BestObjectiveNotImproving";
    public const string Exhausted = "the strategy has nothing left to try";
    public const string StopRequested = "stopped by request";
}
