using System.Text.Json;
using System.Text.Json.Serialization;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;

namespace Mlops.PipelineRunner.Features.Tuning;

// The tuning API speaks SageMaker's shapes with SageMaker's field names (PascalCase), so a CreateHyperParameterTuningJob
// request a SageMaker user has binds as is; the rest of the runner's API is snake_case. Additions of ours are marked.

/// <summary>CreateHyperParameterTuningJob's request, with the training-job definition the platform's trainer needs.</summary>
public sealed record CreateTuningJobRequest
{
    public string? HyperParameterTuningJobName { get; init; }
    public HyperParameterTuningJobConfig? HyperParameterTuningJobConfig { get; init; }
    public TuningTrainingJobDefinition? TrainingJobDefinition { get; init; }
    public WarmStartConfig? WarmStartConfig { get; init; }
    /// <summary>Ours: the tracker experiment of the parent and trial runs (default: <c>tuning-&lt;name&gt;</c>).</summary>
    public string? Experiment { get; init; }
    /// <summary>Tags set on the parent run and every trial run (e.g. <c>mlops.pipeline.execution_id</c>).</summary>
    public IReadOnlyList<TuningTag>? Tags { get; init; }

    public TuningJobDefinition ToDefinition() => new()
    {
        HyperParameterTuningJobName = HyperParameterTuningJobName,
        HyperParameterTuningJobConfig = HyperParameterTuningJobConfig,
        StaticHyperParameters = TrainingJobDefinition?.StaticHyperParameters,
        WarmStartConfig = WarmStartConfig,
    };
}

public sealed record TuningTag(string Key, string Value);

/// <summary>SageMaker's HyperParameterTrainingJobDefinition, the parts the platform's trainer uses.</summary>
public sealed record TuningTrainingJobDefinition
{
    /// <summary>Passed to every trial. <c>algorithm</c> (lightgbm, fasttree, …) is here unless it is a tuned categorical range.</summary>
    public IReadOnlyDictionary<string, string>? StaticHyperParameters { get; init; }
    /// <summary>Channels <c>train</c> and <c>validation</c> (S3 URIs: training-set snapshots' data_uri); <c>test</c> optional.</summary>
    public IReadOnlyList<TuningChannel>? InputDataConfig { get; init; }
    public TuningStoppingCondition? StoppingCondition { get; init; }
    /// <summary>Ours, optional: FeatureStore snapshot ids logged as each trial run's dataset inputs (lineage).</summary>
    public string? TrainingSnapshotId { get; init; }
    public string? ValidationSnapshotId { get; init; }
}

public sealed record TuningChannel
{
    public string? ChannelName { get; init; }
    public TuningDataSource? DataSource { get; init; }
}

public sealed record TuningDataSource
{
    public TuningS3DataSource? S3DataSource { get; init; }
}

public sealed record TuningS3DataSource
{
    public string? S3Uri { get; init; }
}

public sealed record TuningStoppingCondition
{
    public int? MaxRuntimeInSeconds { get; init; }
}

/// <summary>What the service keeps beside the library's state: the tracker runs and what it reported of each trial.</summary>
public sealed record TuningJobRecord
{
    public required CreateTuningJobRequest Request { get; init; }
    public required TuningJobState State { get; init; }
    public string? ExperimentId { get; init; }
    public string? ParentRunId { get; init; }
    /// <summary>Trial training job → its tracker run.</summary>
    public Dictionary<string, string> Runs { get; init; } = [];
    /// <summary>Trials whose run has been given its final metrics and status.</summary>
    public HashSet<string> Finished { get; init; } = [];
    /// <summary>The best trial's model.tar.gz and its copy in the run's artifacts, once the job has ended.</summary>
    public string? BestModelUri { get; init; }
    public string? BestArtifactUri { get; init; }
    public Dictionary<string, double>? BestFinalMetrics { get; init; }
    public string? FailureReason { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, TuningJson.Options);
    public static TuningJobRecord FromJson(string json) => JsonSerializer.Deserialize<TuningJobRecord>(json, TuningJson.Options)!;
}

public static class TuningJson
{
    /// <summary>SageMaker's field names as they are; enums as strings; a NaN (never stored, a guard) as a literal.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}

/// <summary>DescribeHyperParameterTuningJob's answer, with every trial and the best-so-far curve (ours).</summary>
public sealed record TuningJobDescription
{
    public required string HyperParameterTuningJobName { get; init; }
    /// <summary>InProgress | Stopping | Completed | Stopped | Failed.</summary>
    public required string HyperParameterTuningJobStatus { get; init; }
    public required HyperParameterTuningJobConfig HyperParameterTuningJobConfig { get; init; }
    public TuningTrainingJobDefinition? TrainingJobDefinition { get; init; }
    public WarmStartConfig? WarmStartConfig { get; init; }
    public required DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset? HyperParameterTuningEndTime { get; init; }
    public required TrainingJobStatusCounters TrainingJobStatusCounters { get; init; }
    public required ObjectiveStatusCounters ObjectiveStatusCounters { get; init; }
    public TrialSummary? BestTrainingJob { get; init; }
    public string? CompletionReason { get; init; }
    public string? FailureReason { get; init; }
    // Ours.
    public long RandomSeed { get; init; }
    public int MaxNumberOfTrainingJobs { get; init; }
    public string? ExperimentId { get; init; }
    public string? ParentRunId { get; init; }
    public required IReadOnlyList<TrialSummary> TrainingJobs { get; init; }
    /// <summary>The best objective after each trial's end, in end order (null until a trial has a result).</summary>
    public required IReadOnlyList<double?> BestSoFar { get; init; }
    public int WarmStartTrialCount { get; init; }
    /// <summary>Hyperband: iterations run over all trials (a completed trial's resource, a stopped one's last reported iteration).</summary>
    public long? IterationsRun { get; init; }
}

public sealed record TrainingJobStatusCounters(int Completed, int InProgress, int RetryableError, int NonRetryableError, int Stopped);
public sealed record ObjectiveStatusCounters(int Succeeded, int Pending, int Failed);
public sealed record FinalObjectiveMetric(string Type, string MetricName, double Value);

/// <summary>One trial (SageMaker's HyperParameterTrainingJobSummary), with our run, early-stop flag and model.</summary>
public sealed record TrialSummary
{
    public required string TrainingJobName { get; init; }
    /// <summary>Pending | InProgress | Completed | Failed | Stopped.</summary>
    public required string TrainingJobStatus { get; init; }
    public required IReadOnlyDictionary<string, string> TunedHyperParameters { get; init; }
    public FinalObjectiveMetric? FinalHyperParameterTuningJobObjectiveMetric { get; init; }
    /// <summary>Succeeded | Pending | Failed.</summary>
    public required string ObjectiveStatus { get; init; }
    public string? FailureReason { get; init; }
    public bool StoppedEarly { get; init; }
    /// <summary>Why it was stopped early: <c>median stopping rule</c> or <c>Hyperband rung</c>.</summary>
    public string? EarlyStoppingReason { get; init; }
    public int Index { get; init; }
    public int? EndOrder { get; init; }
    public string? RunId { get; init; }
    public int? HyperbandBracket { get; init; }
    public int? HyperbandRung { get; init; }
    public int? Resource { get; init; }
    public int IntermediateValueCount { get; init; }
    // The best trial's, once the job has ended.
    public string? ModelUri { get; init; }
    public string? ArtifactUri { get; init; }
    public IReadOnlyDictionary<string, double>? FinalMetrics { get; init; }
}

public sealed record TuningJobList(IReadOnlyList<TuningJobListItem> HyperParameterTuningJobSummaries);

public sealed record TuningJobListItem(string HyperParameterTuningJobName, string HyperParameterTuningJobStatus, string? Strategy,
    DateTimeOffset CreationTime, DateTimeOffset? HyperParameterTuningEndTime, TrainingJobStatusCounters TrainingJobStatusCounters,
    string? BestTrainingJobName, double? BestObjectiveValue);

/// <summary>How the service reads a record: trial summaries, counters, why a trial was stopped early.</summary>
public static class TuningViews
{
    public static string Status(TuningJobRecord record) =>
        record.FailureReason is not null ? "Failed" : record.State.Status.ToString();

    public static TuningJobDescription Describe(TuningJobRecord record)
    {
        var state = record.State;
        var config = state.Definition.HyperParameterTuningJobConfig!;
        var trials = state.Trials.Select(t => Summary(record, t)).ToList();
        var best = state.BestTrial is { } b ? trials.Single(t => t.TrainingJobName == b.TrainingJobName) with
        {
            ModelUri = record.BestModelUri, ArtifactUri = record.BestArtifactUri, FinalMetrics = record.BestFinalMetrics,
        } : null;
        return new TuningJobDescription
        {
            HyperParameterTuningJobName = state.Definition.HyperParameterTuningJobName!,
            HyperParameterTuningJobStatus = Status(record),
            HyperParameterTuningJobConfig = config with { RandomSeed = state.Seed },
            TrainingJobDefinition = record.Request.TrainingJobDefinition,
            WarmStartConfig = state.Definition.WarmStartConfig,
            CreationTime = record.CreatedAt,
            HyperParameterTuningEndTime = record.EndedAt,
            TrainingJobStatusCounters = Counters(state),
            ObjectiveStatusCounters = new(
                trials.Count(t => t.ObjectiveStatus == "Succeeded"), trials.Count(t => t.ObjectiveStatus == "Pending"), trials.Count(t => t.ObjectiveStatus == "Failed")),
            BestTrainingJob = best,
            CompletionReason = state.CompletionReason,
            FailureReason = record.FailureReason,
            RandomSeed = state.Seed,
            MaxNumberOfTrainingJobs = state.MaxNumberOfTrainingJobs,
            ExperimentId = record.ExperimentId,
            ParentRunId = record.ParentRunId,
            TrainingJobs = trials,
            BestSoFar = state.BestSoFar().Select(v => double.IsFinite(v) ? v : (double?)null).ToList(),
            WarmStartTrialCount = state.WarmStartTrials.Count,
            IterationsRun = IterationsRun(state),
        };
    }

    public static TuningJobListItem ListItem(TuningJobRecord record) => new(record.State.Definition.HyperParameterTuningJobName!, Status(record),
        record.State.Definition.HyperParameterTuningJobConfig?.Strategy, record.CreatedAt, record.EndedAt, Counters(record.State),
        record.State.BestTrainingJobName, record.State.BestTrial?.ObjectiveValue);

    public static TrainingJobStatusCounters Counters(TuningJobState state) => new(
        state.Trials.Count(t => t.Status == TrialStatus.Completed),
        state.Trials.Count(t => t.IsActive),
        0,
        state.Trials.Count(t => t.Status == TrialStatus.Failed),
        state.Trials.Count(t => t.Status == TrialStatus.Stopped));

    public static TrialSummary Summary(TuningJobRecord record, TrialRecord t)
    {
        var objective = record.State.Definition.HyperParameterTuningJobConfig!.HyperParameterTuningJobObjective!;
        return new TrialSummary
        {
            TrainingJobName = t.TrainingJobName,
            TrainingJobStatus = t.Status.ToString(),
            TunedHyperParameters = t.HyperParameters,
            FinalHyperParameterTuningJobObjectiveMetric = t.ObjectiveValue is { } v && double.IsFinite(v) ? new(objective.Type!, objective.MetricName!, v) : null,
            ObjectiveStatus = t.Status == TrialStatus.Failed ? "Failed" : t.ObjectiveValue is null ? "Pending" : "Succeeded",
            FailureReason = t.FailureReason,
            StoppedEarly = t.StoppedEarly,
            EarlyStoppingReason = EarlyStoppingReason(t),
            Index = t.Index,
            EndOrder = t.EndOrder,
            RunId = record.Runs.GetValueOrDefault(t.TrainingJobName),
            HyperbandBracket = t.Hyperband?.Bracket,
            HyperbandRung = t.Hyperband?.Rung,
            Resource = t.Hyperband?.Resource,
            IntermediateValueCount = t.IntermediateValues.Count,
        };
    }

    /// <summary>Why a trial was stopped early: its Hyperband rung (asynchronous successive halving) or the median rule.</summary>
    public static string? EarlyStoppingReason(TrialRecord trial) =>
        !trial.StoppedEarly ? null : trial.Hyperband is not null ? "Hyperband rung" : "median stopping rule";

    private static long? IterationsRun(TuningJobState state)
    {
        // A completed trial ran its resource; any other the iterations it reported (a lower bound: a stopped job runs on
        // until the stop lands).
        if (state.Trials.All(t => t.Hyperband is not null) && state.Trials.Count > 0)
            return state.Trials.Sum(t => t.Status == TrialStatus.Completed ? t.Hyperband!.Resource : (long)(t.LastIteration ?? 0));
        return null;
    }
}
