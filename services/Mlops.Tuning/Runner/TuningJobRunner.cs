using System.Globalization;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Strategies;

namespace Mlops.Tuning.Runner;

/// <summary>
/// Drives a tuning job: proposes trials, starts them as training jobs up to MaxParallelTrainingJobs, follows them, applies
/// the median stopping rule (or Hyperband's rungs), and ends by the completion criteria. Each <see cref="StepAsync"/> is one pass; between passes
/// the state (<see cref="State"/>) is plain data a service persists. Not thread-safe: one caller steps a job.
/// </summary>
public sealed class TuningJobRunner
{
    private readonly ITrialTrainingJobs _jobs;
    private readonly ISearchStrategy _strategy;
    private readonly Func<TuningJobState, CancellationToken, Task>? _persist;
    private readonly string _metric;
    private readonly bool _maximize;
    private readonly int _maxParallel;
    private readonly bool _earlyStopping;
    private readonly MedianStoppingSettings _medianStopping;
    private readonly HyperbandSearch? _hyperband;
    private bool _resumed;
    private TuningJobState _state;

    private TuningJobRunner(TuningJobState state, ITrialTrainingJobs jobs, Func<TuningJobState, CancellationToken, Task>? persist, bool resumed,
        MedianStoppingSettings? medianStopping)
    {
        var config = state.Definition.HyperParameterTuningJobConfig!;
        _state = state;
        _jobs = jobs;
        _persist = persist;
        _resumed = resumed;
        _metric = config.HyperParameterTuningJobObjective!.MetricName!;
        _maximize = config.HyperParameterTuningJobObjective.Type == ObjectiveTypes.Maximize;
        _maxParallel = config.ResourceLimits!.MaxParallelTrainingJobs!.Value;
        _earlyStopping = config.TrainingJobEarlyStoppingType == EarlyStoppingTypes.Auto;
        _medianStopping = medianStopping ?? MedianStoppingSettings.Default;
        _strategy = SearchStrategies.Create(state.Definition, state.Seed);
        _hyperband = _strategy as HyperbandSearch;
    }

    public TuningJobState State => _state;

    /// <summary>
    /// A new tuning job. Throws <see cref="TuningConfigException"/> naming every problem of the definition (and of its warm-start
    /// parents: each named one must be given, with the same objective metric), before anything starts.
    /// </summary>
    /// <param name="definition">The job: name, config, static hyperparameters, warm start.</param>
    /// <param name="jobs">Where trials run.</param>
    /// <param name="parents">The warm-start parents' states, looked up by the caller.</param>
    /// <param name="metricNames">The training job's metric names, when known (the objective must be one).</param>
    /// <param name="persist">Called with the state after trials are recorded and before they start, so a crash in between
    /// leaves them Pending (and a resumed job checks before starting them again).</param>
    /// <param name="medianStopping">The median rule's grace period and minimum of completed trials (benchmarks and tests; a
    /// tuning job's API has no place for them, so the service leaves the default).</param>
    public static TuningJobRunner Create(TuningJobDefinition definition, ITrialTrainingJobs jobs, IReadOnlyList<TuningJobState>? parents = null,
        IReadOnlyCollection<string>? metricNames = null, Func<TuningJobState, CancellationToken, Task>? persist = null,
        MedianStoppingSettings? medianStopping = null)
    {
        var problems = TuningJobValidation.Validate(definition, metricNames).ToList();
        var warm = WarmStartTrials(definition, parents ?? [], problems);
        if (problems.Count > 0)
            throw new TuningConfigException(problems);
        var config = definition.HyperParameterTuningJobConfig!;
        var seed = config.RandomSeed ?? Random.Shared.NextInt64(0, int.MaxValue);
        var state = new TuningJobState
        {
            Definition = definition,
            Seed = seed,
            MaxNumberOfTrainingJobs = config.ResourceLimits!.MaxNumberOfTrainingJobs ?? (int)DefaultBudget(definition, seed),
            WarmStartTrials = warm,
        };
        return new TuningJobRunner(state, jobs, persist, resumed: false, medianStopping);
    }

    /// <summary>Continues a job from its persisted state; trials in progress are followed, not started again.</summary>
    public static TuningJobRunner Resume(TuningJobState state, ITrialTrainingJobs jobs, Func<TuningJobState, CancellationToken, Task>? persist = null,
        MedianStoppingSettings? medianStopping = null) =>
        new(state, jobs, persist, resumed: true, medianStopping);

    /// <summary>No more trials start; running ones are stopped; the job ends Stopped once they have.</summary>
    public void RequestStop()
    {
        if (_state.Status == TuningJobStatus.InProgress)
            _state = _state with { StopRequested = true };
    }

    /// <summary>Steps until the job ends, waiting <paramref name="pollInterval"/> between passes.</summary>
    public async Task<TuningJobState> RunAsync(TimeSpan pollInterval, TimeProvider? time = null, CancellationToken ct = default)
    {
        while (!await StepAsync(ct))
            if (pollInterval > TimeSpan.Zero)
                await Task.Delay(pollInterval, time ?? TimeProvider.System, ct);
        return _state;
    }

    /// <summary>One pass: follow trials, decide early stops, check completion, start new trials. True once the job has ended.</summary>
    public async Task<bool> StepAsync(CancellationToken ct = default)
    {
        if (_state.Status is TuningJobStatus.Completed or TuningJobStatus.Stopped)
            return true;
        await StartPendingAsync(ct);
        await FollowAsync(ct);
        UpdateBest();

        if (_state.StopRequested && _state.Status == TuningJobStatus.InProgress)
        {
            _state = _state with { Status = TuningJobStatus.Stopping, CompletionReason = CompletionReasons.StopRequested };
            foreach (var trial in _state.Trials.Where(t => t.IsActive))
                await _jobs.StopAsync(trial.TrainingJobName, ct);
        }
        _state = _state with { CompletionReason = _state.CompletionReason ?? CompletionReason() };
        if (_state.CompletionReason is null)
            await LaunchAsync(ct);

        if (_state.CompletionReason is not null && !_state.Trials.Any(t => t.IsActive))
            _state = _state with { Status = _state.StopRequested ? TuningJobStatus.Stopped : TuningJobStatus.Completed };
        return _state.Status is TuningJobStatus.Completed or TuningJobStatus.Stopped;
    }

    internal static bool CountsAsResult(TrialRecord trial) =>
        trial.Status == TrialStatus.Completed && !trial.StoppedEarly && trial.ObjectiveValue is { } v && double.IsFinite(v);

    private async Task StartPendingAsync(CancellationToken ct)
    {
        foreach (var trial in _state.Trials.Where(t => t.Status == TrialStatus.Pending).ToList())
        {
            if (_resumed && await ExistsAsync(trial.TrainingJobName, ct))
            {
                Replace(trial with { Status = TrialStatus.InProgress });
                continue;
            }
            await StartAsync(trial, ct);
        }
        _resumed = false;
    }

    private async Task<bool> ExistsAsync(string name, CancellationToken ct)
    {
        try
        {
            return (await _jobs.DescribeAsync(name, ct)).Status != TrialJobStatus.NotFound;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // SageMaker answers an unknown job with a ValidationException; whatever the client makes of it, the job is not there.
            return false;
        }
    }

    private async Task StartAsync(TrialRecord trial, CancellationToken ct)
    {
        var hyperParameters = new Dictionary<string, string>(_state.Definition.StaticHyperParameters ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var (key, value) in trial.HyperParameters)
            hyperParameters[key] = value;
        try
        {
            await _jobs.StartAsync(trial.TrainingJobName, hyperParameters, ct);
            Replace(trial with { Status = TrialStatus.InProgress });
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            End(trial with { Status = TrialStatus.Failed, FailureReason = $"the training job could not be started: {e.Message}" });
        }
    }

    private async Task FollowAsync(CancellationToken ct)
    {
        foreach (var trial in _state.Trials.Where(t => t.Status == TrialStatus.InProgress).ToList())
        {
            var job = await _jobs.DescribeAsync(trial.TrainingJobName, ct);
            var current = trial;
            var stop = false;
            if (_earlyStopping || _hyperband is not null)
            {
                var points = await _jobs.GetIntermediateValuesAsync(trial.TrainingJobName, _metric, ct);
                current = current with
                {
                    IntermediateValues = points.Select(p => p.Value).ToList(),
                    IntermediateIterations = points.All(p => p.Iteration is not null) ? points.Select(p => p.Iteration!.Value).ToList() : [],
                    LastIteration = points.LastOrDefault(p => p.Iteration is not null)?.Iteration ?? current.LastIteration,
                };
                // A trial that ended before its rungs were seen still records them: later trials are judged against it.
                (current, stop) = Rungs(current, points, judge: job.Status == TrialJobStatus.InProgress && !current.StoppedEarly && !_state.StopRequested);
            }
            switch (job.Status)
            {
                case TrialJobStatus.Completed:
                    // A job that completed before an early stop reached it ran its whole budget: a completed trial like
                    // any other (SageMaker reports the job Completed), a candidate for best and a reference for the median.
                    End(job.FinalMetrics.TryGetValue(_metric, out var value) && double.IsFinite(value)
                        ? current with { Status = TrialStatus.Completed, ObjectiveValue = value, StoppedEarly = false }
                        : current with { Status = TrialStatus.Failed, FailureReason = $"the objective metric {_metric} was not reported (or not a finite number)" });
                    break;
                case TrialJobStatus.Failed:
                    End(current with { Status = TrialStatus.Failed, FailureReason = job.FailureReason ?? "the training job failed" });
                    break;
                case TrialJobStatus.NotFound:
                    End(current with { Status = TrialStatus.Failed, FailureReason = "the training job is gone" });
                    break;
                case TrialJobStatus.Stopped:
                    var last = current.IntermediateValues.Count > 0 ? current.IntermediateValues[^1] : (double?)null;
                    var objective = job.FinalMetrics.TryGetValue(_metric, out var final) && double.IsFinite(final) ? final : last;
                    End(current with { Status = TrialStatus.Stopped, ObjectiveValue = objective });
                    break;
                default:
                    if (!current.StoppedEarly && job.Status == TrialJobStatus.InProgress && !_state.StopRequested
                        && (stop || (_earlyStopping && ShouldStopEarly(current))))
                    {
                        await _jobs.StopAsync(current.TrainingJobName, ct);
                        current = current with { StoppedEarly = true };
                    }
                    Replace(current);
                    break;
            }
        }
    }

    /// <summary>
    /// Hyperband: records the trial's objective at each milestone of its bracket its series has reached (the latest value
    /// reported at or before the milestone's iteration; the first one after it if the trainer reported none by then), and, when
    /// <paramref name="judge"/>, applies ASHA's rule at each newly reached rung against the bracket's trials that recorded that
    /// rung before. Needs iteration numbers: a series without them reaches no rung. Rungs recorded stay recorded (they are in
    /// the state), so a resumed job never judges a rung twice or against other peers.
    /// </summary>
    private (TrialRecord Trial, bool Stop) Rungs(TrialRecord trial, IReadOnlyList<IntermediateValue> points, bool judge)
    {
        // A slot outside the plan is a state written by the earlier, retraining Hyperband: its trials are not judged. A trial
        // stopped at a rung records no later one while its stop lands: it did not pass that rung, and is no peer there.
        if (_hyperband is null || trial.Hyperband is not { } slot || slot.Bracket >= _hyperband.Plan.Count || trial.StoppedEarly)
            return (trial, false);
        var milestones = _hyperband.Plan[slot.Bracket].Milestones;
        var reported = points.Where(p => p.Iteration is not null).ToList();
        var values = trial.RungValues.ToList();
        var stop = false;
        while (!stop && values.Count < milestones.Count && reported.Count > 0 && reported[^1].Iteration >= milestones[values.Count])
        {
            var rung = values.Count;
            var at = reported.LastOrDefault(p => p.Iteration <= milestones[rung]) ?? reported[0];
            if (judge)
            {
                var earlier = _state.Trials.Where(t => t.Index != trial.Index && t.Hyperband?.Bracket == slot.Bracket && t.RungValues.Count > rung)
                    .Select(t => t.RungValues[rung]);
                stop = HyperbandSearch.ShouldStopAtRung(at.Value, earlier, _maximize, _hyperband.Eta);
            }
            values.Add(at.Value);
        }
        if (values.Count == trial.RungValues.Count)
            return (trial, false);
        return (trial with { RungValues = values, Hyperband = slot with { Rung = stop ? values.Count - 1 : values.Count } }, stop);
    }

    // SageMaker compares with "previously completed training jobs" (Vizier: "completed trials"): running, failed and
    // stopped ones are not references (a stopped trial was below the median by construction and would drag it down).
    private bool ShouldStopEarly(TrialRecord trial) =>
        MedianStoppingRule.ShouldStop(trial.IntermediateValues,
            _state.Trials.Where(t => t.Status == TrialStatus.Completed && !t.StoppedEarly).Select(t => t.IntermediateValues), _maximize, _medianStopping);

    private string? CompletionReason()
    {
        var config = _state.Definition.HyperParameterTuningJobConfig!;
        var criteria = config.TuningJobCompletionCriteria;
        if (criteria?.TargetObjectiveMetricValue is { } target && _state.BestTrial?.ObjectiveValue is { } best
            && (_maximize ? best >= target : best <= target))
            return CompletionReasons.TargetObjectiveMetricValue;
        if (criteria?.BestObjectiveNotImproving?.MaxNumberOfTrainingJobsNotImproving is { } patience && NotImproving() >= patience)
            return CompletionReasons.BestObjectiveNotImproving;
        if (_state.Trials.Count >= _state.MaxNumberOfTrainingJobs)
            return CompletionReasons.MaxNumberOfTrainingJobs;
        return null;
    }

    /// <summary>Trials ended since the best objective last improved (0 before any result).</summary>
    private int NotImproving()
    {
        double? best = null;
        var since = 0;
        foreach (var trial in _state.Trials.Where(t => t.EndOrder is not null).OrderBy(t => t.EndOrder))
        {
            if (CountsAsResult(trial) && (best is null || (_maximize ? trial.ObjectiveValue > best : trial.ObjectiveValue < best)))
            {
                best = trial.ObjectiveValue;
                since = 0;
            }
            else if (best is not null)
                since++;
        }
        return since;
    }

    private async Task LaunchAsync(CancellationToken ct)
    {
        var active = _state.Trials.Count(t => t.IsActive);
        var count = Math.Min(_maxParallel - active, _state.MaxNumberOfTrainingJobs - _state.Trials.Count);
        if (count <= 0)
            return;
        var history = new TuningHistory(_state.Trials, _state.WarmStartTrials) { Surrogate = _state.Surrogate };
        if (_strategy is BayesianSearch bayesian)
            _state = _state with { Surrogate = bayesian.Fit(history) };
        var proposals = _strategy.Propose(count, history with { Surrogate = _state.Surrogate });
        if (proposals.Count == 0)
        {
            if (active == 0)
                _state = _state with { CompletionReason = CompletionReasons.Exhausted };
            return;
        }
        var added = proposals.Take(count).Select((p, i) => new TrialRecord
        {
            Index = _state.Trials.Count + i,
            TrainingJobName = TrialName(_state.Trials.Count + i),
            HyperParameters = p.HyperParameters,
            Hyperband = p.Hyperband,
        }).ToList();
        _state = _state with { Trials = [.. _state.Trials, .. added] };
        if (_persist is not null)
            await _persist(_state, ct);
        foreach (var trial in added)
            await StartAsync(trial, ct);
    }

    private void UpdateBest()
    {
        TrialRecord? best = null;
        foreach (var trial in _state.Trials.Where(CountsAsResult))
            if (best is null || (_maximize ? trial.ObjectiveValue > best.ObjectiveValue : trial.ObjectiveValue < best.ObjectiveValue))
                best = trial;
        _state = _state with { BestTrainingJobName = best?.TrainingJobName };
    }

    private void End(TrialRecord trial)
    {
        var order = _state.Trials.Count(t => t.EndOrder is not null);
        Replace(trial with { EndOrder = order });
    }

    private void Replace(TrialRecord trial) =>
        _state = _state with { Trials = _state.Trials.Select(t => t.Index == trial.Index ? trial : t).ToList() };

    private string TrialName(int index)
    {
        var hash = (uint)Seeds.At(_state.Seed, index, stream: 99).Next();
        return string.Create(CultureInfo.InvariantCulture, $"{_state.Definition.HyperParameterTuningJobName}-{index + 1:D3}-{hash:x8}");
    }

    private static long DefaultBudget(TuningJobDefinition definition, long seed) =>
        SearchStrategies.Create(definition, seed) switch
        {
            GridSearch grid => grid.Size,
            HyperbandSearch hyperband => hyperband.TrialsPerIteration,
            _ => throw new InvalidOperationException("MaxNumberOfTrainingJobs is validated as required for this strategy."),
        };

    private static IReadOnlyList<TrialRecord> WarmStartTrials(TuningJobDefinition definition, IReadOnlyList<TuningJobState> parents,
        List<TuningConfigProblem> problems)
    {
        var named = definition.WarmStartConfig?.ParentHyperParameterTuningJobs ?? [];
        var metric = definition.HyperParameterTuningJobConfig?.HyperParameterTuningJobObjective;
        var trials = new List<TrialRecord>();
        for (var i = 0; i < named.Count; i++)
        {
            var name = named[i].HyperParameterTuningJobName;
            if (string.IsNullOrEmpty(name))
                continue;
            var path = $"WarmStartConfig.ParentHyperParameterTuningJobs[{i}].HyperParameterTuningJobName";
            var parent = parents.FirstOrDefault(p => p.Definition.HyperParameterTuningJobName == name);
            if (parent is null)
            {
                problems.Add(new(path, $"no tuning job '{name}' was found"));
                continue;
            }
            var objective = parent.Definition.HyperParameterTuningJobConfig?.HyperParameterTuningJobObjective;
            if (objective?.MetricName != metric?.MetricName || objective?.Type != metric?.Type)
            {
                problems.Add(new(path, $"'{name}' tuned {objective?.Type} {objective?.MetricName}, not {metric?.Type} {metric?.MetricName}"));
                continue;
            }
            trials.AddRange(parent.Trials.Where(t => t.IsTerminal && t.ObjectiveValue is not null));
        }
        return trials;
    }
}
