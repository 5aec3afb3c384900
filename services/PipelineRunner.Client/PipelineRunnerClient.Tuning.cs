using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Mlops.PipelineRunner.Client;

public sealed partial class PipelineRunnerClient
{
    // The tuning API speaks SageMaker's field names (PascalCase), unlike the rest of the runner's API.
    private static readonly JsonSerializerOptions TuningJson = new()
    {
        PropertyNameCaseInsensitive = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// Creates a hyperparameter tuning job from a CreateHyperParameterTuningJob request (SageMaker's shape:
    /// HyperParameterTuningJobName, HyperParameterTuningJobConfig, TrainingJobDefinition with StaticHyperParameters and
    /// InputDataConfig channels train/validation, WarmStartConfig; and ours: Experiment, Tags). An invalid request throws
    /// <see cref="PipelineRunnerException"/> (400) with every problem and its path; a taken name, 409.
    /// </summary>
    public async Task<TuningJob> CreateTuningJobAsync(JsonObject request, CancellationToken ct = default)
    {
        using var content = new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("api/tuning-jobs", content, ct);
        return await ReadTuningAsync<TuningJob>(response, ct);
    }

    /// <summary>The job with every trial (status, hyperparameters, objective, run, early stop) and the best-so-far curve.</summary>
    public async Task<TuningJob> DescribeTuningJobAsync(string name, CancellationToken ct = default)
    {
        using var response = await http.GetAsync($"api/tuning-jobs/{Escape(name)}", ct);
        return await ReadTuningAsync<TuningJob>(response, ct);
    }

    /// <summary>Newest first, optionally in one status (InProgress, Stopping, Completed, Stopped, Failed).</summary>
    public async Task<IReadOnlyList<TuningJobSummary>> ListTuningJobsAsync(string? status = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (status is not null) query.Add($"status={Escape(status)}");
        if (limit is not null) query.Add($"limit={limit}");
        using var response = await http.GetAsync("api/tuning-jobs" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct);
        return (await ReadTuningAsync<TuningJobList>(response, ct)).HyperParameterTuningJobSummaries;
    }

    /// <summary>Stops the job: no more trials start, running ones are stopped (409 once it has ended).</summary>
    public async Task<TuningJob> StopTuningJobAsync(string name, CancellationToken ct = default)
    {
        using var response = await http.PostAsync($"api/tuning-jobs/{Escape(name)}/stop", null, ct);
        return await ReadTuningAsync<TuningJob>(response, ct);
    }

    /// <summary>Polls (with back-off up to 2 s) until the tuning job has ended, or <paramref name="ct"/> is cancelled.</summary>
    public async Task<TuningJob> WaitForTuningJobAsync(string name, CancellationToken ct = default)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            var job = await DescribeTuningJobAsync(name, ct);
            if (job.IsTerminal)
                return job;
            await Task.Delay(delay, ct);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
        }
    }

    private static async Task<T> ReadTuningAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
            throw await PipelineRunnerException.FromAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(TuningJson, ct))!;
    }
}

/// <summary>DescribeHyperParameterTuningJob's answer (SageMaker's names), with every trial and the best-so-far curve.</summary>
public sealed record TuningJob
{
    public required string HyperParameterTuningJobName { get; init; }
    /// <summary>InProgress | Stopping | Completed | Stopped | Failed.</summary>
    public required string HyperParameterTuningJobStatus { get; init; }
    public JsonObject? HyperParameterTuningJobConfig { get; init; }
    public DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset? HyperParameterTuningEndTime { get; init; }
    public TuningTrial? BestTrainingJob { get; init; }
    public string? CompletionReason { get; init; }
    public string? FailureReason { get; init; }
    public long RandomSeed { get; init; }
    public int MaxNumberOfTrainingJobs { get; init; }
    public string? ExperimentId { get; init; }
    public string? ParentRunId { get; init; }
    public IReadOnlyList<TuningTrial> TrainingJobs { get; init; } = [];
    /// <summary>The best objective after each trial's end, in end order (null until a trial has a result).</summary>
    public IReadOnlyList<double?> BestSoFar { get; init; } = [];
    public int WarmStartTrialCount { get; init; }
    /// <summary>Iterations run over all trials, when known (Hyperband: a completed trial's resource, a stopped one's last reported iteration).</summary>
    public long? IterationsRun { get; init; }

    [JsonIgnore] public bool IsTerminal => HyperParameterTuningJobStatus is "Completed" or "Stopped" or "Failed";
}

/// <summary>One trial: a training job and a tracker run.</summary>
public sealed record TuningTrial
{
    public required string TrainingJobName { get; init; }
    /// <summary>Pending | InProgress | Completed | Failed | Stopped.</summary>
    public required string TrainingJobStatus { get; init; }
    public IReadOnlyDictionary<string, string> TunedHyperParameters { get; init; } = new Dictionary<string, string>();
    public TuningObjectiveValue? FinalHyperParameterTuningJobObjectiveMetric { get; init; }
    public string? ObjectiveStatus { get; init; }
    public string? FailureReason { get; init; }
    public bool StoppedEarly { get; init; }
    public string? EarlyStoppingReason { get; init; }
    public int Index { get; init; }
    public int? EndOrder { get; init; }
    public string? RunId { get; init; }
    public int? HyperbandBracket { get; init; }
    public int? HyperbandRung { get; init; }
    public int? Resource { get; init; }
    public int IntermediateValueCount { get; init; }
    public string? ModelUri { get; init; }
    public string? ArtifactUri { get; init; }
    public IReadOnlyDictionary<string, double>? FinalMetrics { get; init; }
}

public sealed record TuningObjectiveValue(string Type, string MetricName, double Value);

public sealed record TuningJobSummary(string HyperParameterTuningJobName, string HyperParameterTuningJobStatus, string? Strategy,
    DateTimeOffset CreationTime, DateTimeOffset? HyperParameterTuningEndTime, string? BestTrainingJobName, double? BestObjectiveValue);

internal sealed record TuningJobList(IReadOnlyList<TuningJobSummary> HyperParameterTuningJobSummaries);
