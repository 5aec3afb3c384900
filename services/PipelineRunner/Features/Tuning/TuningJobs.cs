using System.Diagnostics.Metrics;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;
using Mlops.PipelineRunner.Features.Steps;
using Mlops.SageMaker;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;

namespace Mlops.PipelineRunner.Features.Tuning;

/// <summary>Creating a tuning job (validation, warm-start parents, the first record) for the API and the <c>tune</c> step alike.</summary>
public sealed class TuningJobs(TuningStore store, IServiceProvider services, TimeProvider time)
{
    public static readonly IReadOnlyList<string> MetricNames = TrainingJobs.TrainerMetrics.Select(m => m.Name).ToList();

    /// <summary>
    /// Validates the request completely (every problem named, with SageMaker's field paths) and stores the job, which the
    /// worker then runs. Throws a 400 <see cref="ProblemException"/> listing the problems, or 409 when the name is taken;
    /// nothing starts in either case.
    /// </summary>
    public async Task<TuningJobRecord> CreateAsync(CreateTuningJobRequest request, CancellationToken ct)
    {
        var problems = new List<TuningConfigProblem>();
        var definition = request.ToDefinition();
        var parentNames = (request.WarmStartConfig?.ParentHyperParameterTuningJobs ?? []).Select(p => p.HyperParameterTuningJobName)
            .OfType<string>().Distinct().ToList();
        var parents = parentNames.Count == 0 ? [] : await store.GetManyAsync(parentNames, ct);
        CheckTrainingJobDefinition(request, problems);
        TuningJobRunner? runner = null;
        try
        {
            runner = TuningJobRunner.Create(definition, Unused.Instance, parents.Select(p => p.State).ToList(), MetricNames);
        }
        catch (TuningConfigException e)
        {
            problems.InsertRange(0, e.Problems);
        }
        if (problems.Count > 0)
            throw ExecutionEndpoints.Invalid($"The tuning job is invalid: {problems.Count} problem(s).",
                problems.Select(p => new DefinitionProblem(p.Path, p.Message)));
        var record = new TuningJobRecord { Request = request, State = runner!.State, CreatedAt = time.GetUtcNow() };
        if (!await store.InsertAsync(record, ct))
            throw ProblemException.Conflict($"A tuning job named '{request.HyperParameterTuningJobName}' already exists.");
        return record;
    }

    /// <summary>Where trials run and on what: the channels, the trainer's algorithm, the runtime limit.</summary>
    private static void CheckTrainingJobDefinition(CreateTuningJobRequest request, List<TuningConfigProblem> problems)
    {
        const string root = "TrainingJobDefinition";
        if (request.TrainingJobDefinition is not { } training)
        {
            problems.Add(new(root, "TrainingJobDefinition is required: its InputDataConfig names the train and validation channels."));
            return;
        }
        var channels = training.InputDataConfig ?? [];
        for (var i = 0; i < channels.Count; i++)
        {
            var uri = channels[i].DataSource?.S3DataSource?.S3Uri;
            if (channels[i].ChannelName is not ("train" or "validation" or "test"))
                problems.Add(new($"{root}.InputDataConfig[{i}].ChannelName", $"'{channels[i].ChannelName}' is not a channel of the trainer (train, validation, test)."));
            if (uri is null || !uri.StartsWith("s3://", StringComparison.Ordinal) || !Uri.TryCreate(uri, UriKind.Absolute, out _))
                problems.Add(new($"{root}.InputDataConfig[{i}].DataSource.S3DataSource.S3Uri", $"'{uri}' is not an s3:// URI."));
        }
        foreach (var required in new[] { "train", "validation" })
            if (!channels.Any(c => c.ChannelName == required))
                problems.Add(new($"{root}.InputDataConfig", $"The '{required}' channel is required."));
        if (training.StoppingCondition?.MaxRuntimeInSeconds is { } max && max is < 1 or > 432_000)
            problems.Add(new($"{root}.StoppingCondition.MaxRuntimeInSeconds", $"{max} is not between 1 and 432000 seconds."));
        var statics = training.StaticHyperParameters ?? new Dictionary<string, string>();
        var tunedAlgorithm = request.HyperParameterTuningJobConfig?.ParameterRanges?.CategoricalParameterRanges?.FirstOrDefault(r => r.Name == "algorithm");
        var algorithms = tunedAlgorithm?.Values ?? (statics.TryGetValue("algorithm", out var a) ? [a] : []);
        if (algorithms.Count == 0)
            problems.Add(new($"{root}.StaticHyperParameters.algorithm",
                $"The trainer's algorithm ({string.Join(", ", StepInputRules.Algorithms)}) is a static hyperparameter or a categorical range named 'algorithm'."));
        foreach (var algorithm in algorithms.Where(x => !StepInputRules.Algorithms.Contains(x)))
            problems.Add(new(tunedAlgorithm is null ? $"{root}.StaticHyperParameters.algorithm" : "HyperParameterTuningJobConfig.ParameterRanges.CategoricalParameterRanges",
                $"'{algorithm}' is not an algorithm of the trainer ({string.Join(", ", StepInputRules.Algorithms)})."));
        if (request.Experiment is { } e && (e.Length is 0 or > 500))
            problems.Add(new("Experiment", "An experiment name has 1–500 characters."));
    }

    /// <summary>The trial jobs of a record: its channels as the trainer's.</summary>
    public ITrialTrainingJobs TrialJobs(TuningJobRecord record)
    {
        var channels = record.Request.TrainingJobDefinition!.InputDataConfig!;
        string? Uri(string name) => channels.FirstOrDefault(c => c.ChannelName == name)?.DataSource?.S3DataSource?.S3Uri;
        return new PlatformTrialJobs(services.GetRequiredService<ITrainingJobs>(), services.GetRequiredService<SageMakerClient>(),
            Uri("train")!, Uri("validation")!, Uri("test"), record.Request.TrainingJobDefinition.StoppingCondition?.MaxRuntimeInSeconds);
    }

    /// <summary>Validation needs no training jobs; the worker gives the runner real ones.</summary>
    private sealed class Unused : ITrialTrainingJobs
    {
        public static readonly Unused Instance = new();
        public Task StartAsync(string n, IReadOnlyDictionary<string, string> h, CancellationToken ct = default) => throw new InvalidOperationException();
        public Task<TrialJobDescription> DescribeAsync(string n, CancellationToken ct = default) => throw new InvalidOperationException();
        public Task<IReadOnlyList<IntermediateValue>> GetIntermediateValuesAsync(string n, string m, CancellationToken ct = default) => throw new InvalidOperationException();
        public Task StopAsync(string n, CancellationToken ct = default) => throw new InvalidOperationException();
    }
}

/// <summary>OpenTelemetry metrics of the tuning worker (meter <c>Mlops.PipelineRunner.Tuning</c>).</summary>
public sealed class TuningMetrics : IDisposable
{
    public const string MeterName = "Mlops.PipelineRunner.Tuning";
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _started;
    private readonly Counter<long> _completed;
    private readonly Counter<long> _stoppedEarly;
    private readonly Counter<long> _failed;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _running = new();

    public TuningMetrics()
    {
        _started = _meter.CreateCounter<long>("mlops.tuning.trials.started", "{trial}", "Trials started as training jobs.");
        _completed = _meter.CreateCounter<long>("mlops.tuning.trials.completed", "{trial}", "Trials that completed with an objective value.");
        _stoppedEarly = _meter.CreateCounter<long>("mlops.tuning.trials.stopped_early", "{trial}",
            "Trials stopped early by the median stopping rule or at a Hyperband rung.");
        _failed = _meter.CreateCounter<long>("mlops.tuning.trials.failed", "{trial}", "Trials that failed.");
        _meter.CreateObservableGauge("mlops.tuning.trials.running", () => _running.Values.Sum(), "{trial}",
            "Trials running in the tuning jobs this runner steps.");
    }

    /// <summary>Counts what changed between two states of a job (the pass before and after).</summary>
    public void Record(TuningJobState before, TuningJobState after)
    {
        var strategy = new KeyValuePair<string, object?>("strategy", after.Definition.HyperParameterTuningJobConfig?.Strategy);
        var old = before.Trials.ToDictionary(t => t.TrainingJobName);
        foreach (var trial in after.Trials)
        {
            var was = old.GetValueOrDefault(trial.TrainingJobName);
            if (trial.Status != TrialStatus.Pending && was?.Status is null or TrialStatus.Pending)
                _started.Add(1, strategy);
            if (trial.IsTerminal && was?.IsTerminal != true)
            {
                switch (trial.Status)
                {
                    case TrialStatus.Completed: _completed.Add(1, strategy); break;
                    case TrialStatus.Failed: _failed.Add(1, strategy); break;
                }
                // Counted when the trial ends: a job that completed before its stop reached it was not stopped early.
                if (trial.StoppedEarly)
                    _stoppedEarly.Add(1, strategy);
            }
        }
        var name = after.Definition.HyperParameterTuningJobName!;
        if (after.Status is TuningJobStatus.Completed or TuningJobStatus.Stopped)
            _running.TryRemove(name, out _);
        else
            _running[name] = after.Trials.Count(t => t.Status == TrialStatus.InProgress);
    }

    public void Forget(string job) => _running.TryRemove(job, out _);

    public void Dispose() => _meter.Dispose();
}
