using System.Globalization;
using Mlops.SageMaker;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;
using static Mlops.Tuning.Tests.TestFunctions;

namespace Mlops.Tuning.Tests;

public sealed class RunnerTests
{
    /// <summary>A learning curve of <paramref name="steps"/> values rising to a final value set by the configuration.</summary>
    private static Func<IReadOnlyDictionary<string, string>, double[]> Curve(Func<IReadOnlyDictionary<string, string>, double> final, int steps = 5) =>
        hp => Enumerable.Range(1, steps).Select(k => final(hp) * k / steps).ToArray();

    private static TuningJobDefinition Definition(string name, HyperParameterTuningJobConfig config) =>
        new() { HyperParameterTuningJobName = name, HyperParameterTuningJobConfig = config };

    private static HyperParameterTuningJobConfig Hartmann(string strategy, int budget, int parallel, long seed = 1) =>
        HartmannConfig(strategy, budget, seed) with { ResourceLimits = new() { MaxNumberOfTrainingJobs = budget, MaxParallelTrainingJobs = parallel } };

    [Fact]
    public async Task A_job_runs_its_budget_never_above_MaxParallel_and_reports_the_best_trial()
    {
        var jobs = new FakeTrainingJobs(Curve(Hartmann6));
        var runner = TuningJobRunner.Create(Definition("hartmann", Hartmann("Bayesian", 16, 3)), jobs);
        var state = await runner.RunAsync(TimeSpan.Zero);

        Assert.Equal(TuningJobStatus.Completed, state.Status);
        Assert.Equal(CompletionReasons.MaxNumberOfTrainingJobs, state.CompletionReason);
        Assert.Equal(16, state.Trials.Count);
        Assert.Equal(16, jobs.Started.Distinct().Count());
        Assert.Equal(3, jobs.MaxConcurrent);
        Assert.All(state.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        var best = state.Trials.MaxBy(t => t.ObjectiveValue)!;
        Assert.Equal(best.TrainingJobName, state.BestTrainingJobName);
        Assert.Equal(Hartmann6(best.HyperParameters), best.ObjectiveValue!.Value, 12);
        Assert.Matches("^hartmann-0(0[1-9]|1[0-6])-[0-9a-f]{8}$", state.Trials[^1].TrainingJobName);
        var curve = state.BestSoFar();
        Assert.Equal(16, curve.Count);
        Assert.True(curve.Zip(curve.Skip(1)).All(p => p.Second >= p.First));
        Assert.Equal(best.ObjectiveValue, curve[^1]);
    }

    [Fact]
    public async Task Static_hyperparameters_reach_every_trial()
    {
        var jobs = new FakeTrainingJobs(Curve(Hartmann6));
        var definition = Definition("statics", Hartmann("Random", 3, 1)) with { StaticHyperParameters = new Dictionary<string, string> { ["algorithm"] = "lightgbm" } };
        var state = await TuningJobRunner.Create(definition, jobs).RunAsync(TimeSpan.Zero);
        Assert.All(state.Trials, t => Assert.Equal("lightgbm", jobs.HyperParametersOf(t.TrainingJobName)["algorithm"]));
        Assert.All(state.Trials, t => Assert.False(t.HyperParameters.ContainsKey("algorithm")));
    }

    [Fact]
    public async Task The_target_objective_ends_the_job_early()
    {
        var jobs = new FakeTrainingJobs(Curve(Hartmann6));
        var config = Hartmann("Random", 50, 1) with { TuningJobCompletionCriteria = new() { TargetObjectiveMetricValue = 0.5 } };
        var state = await TuningJobRunner.Create(Definition("target", config), jobs).RunAsync(TimeSpan.Zero);
        Assert.Equal(CompletionReasons.TargetObjectiveMetricValue, state.CompletionReason);
        Assert.True(state.Trials.Count < 50);
        Assert.True(state.BestTrial!.ObjectiveValue >= 0.5);
        Assert.All(state.Trials.SkipLast(1), t => Assert.True(t.ObjectiveValue < 0.5));
    }

    [Fact]
    public async Task Best_not_improving_for_N_trials_ends_the_job()
    {
        // Random search on a monotone objective: improvements get rarer, and the job ends 4 trials after the last one.
        var jobs = new FakeTrainingJobs(hp => [1.0 / (1 + D(hp["x1"]))]);
        var config = Hartmann("Random", 50, 1) with { TuningJobCompletionCriteria = new() { BestObjectiveNotImproving = new() { MaxNumberOfTrainingJobsNotImproving = 4 } } };
        var state = await TuningJobRunner.Create(Definition("patience", config), jobs).RunAsync(TimeSpan.Zero);
        Assert.Equal(CompletionReasons.BestObjectiveNotImproving, state.CompletionReason);
        var ended = state.Trials.OrderBy(t => t.EndOrder).Select(t => t.ObjectiveValue!.Value).ToList();
        var lastImprovement = ended.IndexOf(ended.Max());
        Assert.Equal(lastImprovement + 1 + 4, state.Trials.Count);
    }

    [Fact]
    public async Task Median_early_stopping_stops_poor_trials_and_saves_steps_but_never_picks_one_as_best()
    {
        var withStopping = new FakeTrainingJobs(Curve(Hartmann6, steps: 20));
        var config = Hartmann("Random", 30, 1, seed: 4) with { TrainingJobEarlyStoppingType = "Auto" };
        var state = await TuningJobRunner.Create(Definition("median", config), withStopping).RunAsync(TimeSpan.Zero);
        var without = new FakeTrainingJobs(Curve(Hartmann6, steps: 20));
        var baseline = await TuningJobRunner.Create(Definition("median", config with { TrainingJobEarlyStoppingType = "Off" }), without).RunAsync(TimeSpan.Zero);

        var stopped = state.Trials.Where(t => t.StoppedEarly).ToList();
        Assert.NotEmpty(stopped);
        Assert.All(stopped, t => Assert.Equal(TrialStatus.Stopped, t.Status));
        Assert.True(withStopping.StepsRun < without.StepsRun * 0.8, $"{withStopping.StepsRun} vs {without.StepsRun} steps");
        // Random's proposals do not depend on results, so both jobs tried the same configurations: the best is the same.
        Assert.Equal(baseline.BestTrial!.HyperParameters, state.BestTrial!.HyperParameters);
        Assert.DoesNotContain(state.BestTrainingJobName, stopped.Select(t => t.TrainingJobName));
        // Every stopped trial was headed below the median of the finished ones.
        var median = Median(state.Trials.Where(t => t.Status == TrialStatus.Completed).Select(t => t.ObjectiveValue!.Value));
        Assert.All(stopped, t => Assert.True(Hartmann6(t.HyperParameters) < median));
    }

    [Theory]
    [InlineData(4, false)] // all four start together: while none has completed there is no median to judge by
    [InlineData(3, true)] //  the fourth starts after three completed: judged (and stopped) at its first report
    public async Task Median_stopping_judges_a_trial_against_completed_trials_only(int parallel, bool stopped)
    {
        // The first three trials started get a good curve, the fourth a far worse one, 8 reports each.
        var started = 0;
        var jobs = new FakeTrainingJobs(_ => Enumerable.Repeat(started++ < 3 ? 0.7 : 0.1, 8).ToArray());
        var config = Hartmann("Random", 4, parallel) with { TrainingJobEarlyStoppingType = "Auto" };
        var state = await TuningJobRunner.Create(Definition("completed-only", config), jobs).RunAsync(TimeSpan.Zero);

        var poor = state.Trials[3];
        Assert.Equal(stopped, poor.StoppedEarly);
        Assert.Equal(stopped ? TrialStatus.Stopped : TrialStatus.Completed, poor.Status);
        Assert.Equal(stopped ? 1 : 8, poor.IntermediateValues.Count);
        Assert.Equal(3 * 8 + (stopped ? 1 : 8), jobs.StepsRun);
        Assert.All(state.Trials.Take(3), t => Assert.False(t.StoppedEarly));
    }

    [Fact]
    public async Task A_trial_whose_job_completes_before_its_stop_lands_is_completed_not_stopped_early()
    {
        // Three good trials of 8 reports run first; the fourth is poor and judged at its first report, but its job has only
        // 2 reports to make and the stop takes 3 more polls to land: the job completes first, with its full budget spent.
        var started = 0;
        var jobs = new FakeTrainingJobs(_ => started++ < 3 ? Enumerable.Repeat(0.7, 8).ToArray() : [0.1, 0.2], stopLag: 3);
        var config = Hartmann("Random", 4, 3) with { TrainingJobEarlyStoppingType = "Auto" };
        var state = await TuningJobRunner.Create(Definition("stop-too-late", config), jobs).RunAsync(TimeSpan.Zero);

        var poor = state.Trials[3];
        Assert.Contains(poor.TrainingJobName, jobs.Stopped);
        Assert.Equal((TrialStatus.Completed, false, 0.2), (poor.Status, poor.StoppedEarly, poor.ObjectiveValue));
        Assert.Equal(3 * 8 + 2, jobs.StepsRun);
    }

    /// <summary>Hyperband over "epochs" 2–18 (brackets of 9 trials judged at 2 and 6, 5 at 6, 3 never), reports every 2 epochs.</summary>
    private static TuningJobDefinition HyperbandDefinition(string name, int budget, int parallel) => Definition(name, Hartmann("Hyperband", budget, parallel) with
    {
        StrategyConfig = new() { HyperbandStrategyConfig = new() { MinResource = 2 } },
    }) with { StaticHyperParameters = new Dictionary<string, string> { ["epochs"] = "18" } };

    [Theory]
    [InlineData(0)] // the stop lands at the next describe
    [InlineData(3)] // the job trains on for 3 more reports (6 epochs) first: past the next rung, which it must not record
    public async Task Hyperband_runs_each_trial_once_at_MaxResource_and_stops_those_outside_the_top_third_at_a_rung(int stopLag)
    {
        // One trial at a time, each a flat curve of 9 reports (epochs 2, 4, …, 18) at the next of these values.
        double[] values = [0.5, 0.4, 0.6, 0.3, 0.7, 0.55, 0.65, 0.45, 0.62];
        var started = 0;
        var jobs = new FakeTrainingJobs(hp =>
        {
            Assert.Equal("18", hp["epochs"]);
            return Enumerable.Repeat(values[started++], 9).ToArray();
        }, reportEvery: 2, stopLag);
        var state = await TuningJobRunner.Create(HyperbandDefinition("asha", 9, 1), jobs).RunAsync(TimeSpan.Zero);

        Assert.Equal(9, state.Trials.Count);
        Assert.Equal(9, jobs.Started.Count);
        Assert.All(state.Trials, t => Assert.Equal((0, 18), (t.Hyperband!.Bracket, t.Hyperband.Resource)));
        // At epoch 2 the m-th arrival continues only in the top ⌈m/3⌉ of the m: 0.4 (2nd of 2), 0.3 (4th of 4), 0.55 (3rd of 6),
        // 0.45 (6th of 8) stop; at epoch 6 (reached by 0.5, 0.6, 0.7, 0.65, 0.62) 0.62 is 3rd of 5 and stops.
        Assert.Equal([1, 3, 5, 7, 8], state.Trials.Where(t => t.StoppedEarly).Select(t => t.Index));
        Assert.All(state.Trials.Where(t => t.StoppedEarly), t => Assert.Equal(TrialStatus.Stopped, t.Status));
        Assert.Equal([1, 1, 1, 1, 2], state.Trials.Where(t => t.StoppedEarly).Select(t => t.RungValues.Count));
        Assert.Equal([0, 0, 0, 0, 1], state.Trials.Where(t => t.StoppedEarly).Select(t => t.Hyperband!.Rung));
        // Every value keeps the epoch it was reported at (the tracker's step for the metric's history).
        Assert.All(state.Trials, t => Assert.Equal(Enumerable.Range(1, t.IntermediateValues.Count).Select(i => 2 * i), t.IntermediateIterations));
        Assert.Equal(Enumerable.Range(1, 9).Select(i => 2 * i), state.Trials[0].IntermediateIterations);
        Assert.All(state.Trials.Where(t => !t.StoppedEarly), t => Assert.Equal((TrialStatus.Completed, 2), (t.Status, t.Hyperband!.Rung)));
        Assert.Equal(4 * 9 + 4 * (1 + stopLag) + 3 + stopLag, jobs.StepsRun); // a trial stopped at epoch 2 reported 1 + stopLag times
        Assert.Equal(state.Trials[4].TrainingJobName, state.BestTrainingJobName);
    }

    [Fact]
    public async Task Hyperband_judges_a_trial_only_against_trials_of_its_own_bracket()
    {
        // Trials 0–8 fill bracket 0 (judged at epochs 2 and 6), trial 9 opens bracket 1 (judged at 6): far worse than all
        // of bracket 0 at epoch 6, it is nonetheless the first of its bracket there and continues.
        var started = 0;
        var jobs = new FakeTrainingJobs(_ => Enumerable.Repeat(started++ < 9 ? 0.9 : 0.1, 9).ToArray(), reportEvery: 2);
        var state = await TuningJobRunner.Create(HyperbandDefinition("per-bracket", 10, 1), jobs).RunAsync(TimeSpan.Zero);

        Assert.Equal([.. Enumerable.Repeat(0, 9), 1], state.Trials.Select(t => t.Hyperband!.Bracket));
        Assert.All(state.Trials, t => Assert.Equal((TrialStatus.Completed, false), (t.Status, t.StoppedEarly))); // ties continue
        Assert.Equal([0.1], state.Trials[9].RungValues);
        Assert.Equal(10 * 9, jobs.StepsRun);
    }

    [Fact]
    public async Task Hyperband_judges_nothing_without_iteration_numbers_and_ends_after_one_iteration_by_default()
    {
        var jobs = new FakeTrainingJobs(hp => Enumerable.Repeat(Hartmann6(hp), 9).ToArray(), reportEvery: 0); // values without iterations
        var definition = HyperbandDefinition("no-iterations", 1, 4);
        definition = definition with { HyperParameterTuningJobConfig = definition.HyperParameterTuningJobConfig! with { ResourceLimits = new() { MaxParallelTrainingJobs = 4 } } };
        var state = await TuningJobRunner.Create(definition, jobs).RunAsync(TimeSpan.Zero);
        Assert.Equal(9 + 5 + 3, state.Trials.Count);
        Assert.All(state.Trials, t => Assert.Equal((TrialStatus.Completed, false), (t.Status, t.StoppedEarly)));
        Assert.True(jobs.MaxConcurrent <= 4);
    }

    [Fact]
    public async Task A_resumed_Hyperband_job_keeps_its_rung_decisions_and_runs_no_trial_twice()
    {
        var config = HyperbandDefinition("asha-resume", 17, 3);
        Func<IReadOnlyDictionary<string, string>, double[]> curve = hp => Enumerable.Range(1, 9).Select(k => Hartmann6(hp) * k / 9).ToArray();
        var uninterrupted = await TuningJobRunner.Create(config, new FakeTrainingJobs(curve, 2)).RunAsync(TimeSpan.Zero);
        Assert.Contains(uninterrupted.Trials, t => t.StoppedEarly);

        var jobs = new FakeTrainingJobs(curve, 2);
        var first = TuningJobRunner.Create(config, jobs);
        for (var i = 0; i < 12; i++)
            await first.StepAsync();
        var restored = TuningJobState.FromJson(first.State.ToJson());
        Assert.Contains(restored.Trials, t => t.Status == TrialStatus.InProgress);
        Assert.Contains(restored.Trials, t => t.RungValues.Count > 0);
        var state = await TuningJobRunner.Resume(restored, jobs).RunAsync(TimeSpan.Zero);

        Assert.Equal(17, jobs.Started.Count); // FakeTrainingJobs throws on a second start of a name
        Assert.Equal(uninterrupted.Trials.Select(t => (StrategyTests.Key(t.HyperParameters), t.StoppedEarly, t.RungValues.Count)),
            state.Trials.Select(t => (StrategyTests.Key(t.HyperParameters), t.StoppedEarly, t.RungValues.Count)));
        Assert.Equal(uninterrupted.BestTrainingJobName, state.BestTrainingJobName);
    }

    [Fact]
    public async Task Grid_ends_when_every_combination_has_run()
    {
        var jobs = new FakeTrainingJobs(hp => [hp["a"].Length + hp["b"].Length]);
        var config = new HyperParameterTuningJobConfig
        {
            Strategy = "Grid",
            HyperParameterTuningJobObjective = new() { Type = "Maximize", MetricName = "objective" },
            ResourceLimits = new() { MaxParallelTrainingJobs = 4 },
            ParameterRanges = new() { CategoricalParameterRanges = [new() { Name = "a", Values = ["x", "xx", "xxx"] }, new() { Name = "b", Values = ["y", "yy"] }] },
        };
        var state = await TuningJobRunner.Create(Definition("grid", config), jobs).RunAsync(TimeSpan.Zero);
        Assert.Equal(6, state.MaxNumberOfTrainingJobs);
        Assert.Equal(6, state.Trials.Count);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "xxx", ["b"] = "yy" }, state.BestTrial!.HyperParameters);
    }

    [Fact]
    public async Task A_stop_request_stops_running_trials_and_starts_no_more()
    {
        var jobs = new FakeTrainingJobs(Curve(Hartmann6, steps: 50));
        var runner = TuningJobRunner.Create(Definition("stop", Hartmann("Random", 20, 2)), jobs);
        await runner.StepAsync();
        await runner.StepAsync();
        runner.RequestStop();
        var state = await runner.RunAsync(TimeSpan.Zero);
        Assert.Equal(TuningJobStatus.Stopped, state.Status);
        Assert.Equal(2, state.Trials.Count);
        Assert.All(state.Trials, t => Assert.Equal(TrialStatus.Stopped, t.Status));
        Assert.All(state.Trials, t => Assert.False(t.StoppedEarly));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_resumed_job_loses_no_trial_starts_none_twice_and_proposes_what_the_uninterrupted_one_did(bool keepSurrogate)
    {
        // 30 trials: past 20 observations the surrogate refits on a schedule from the fit kept in the state (22, 24, …).
        var config = Hartmann("Bayesian", 30, 2, seed: 21);
        var uninterrupted = await TuningJobRunner.Create(Definition("resume", config), new FakeTrainingJobs(Curve(Hartmann6, 3))).RunAsync(TimeSpan.Zero);
        Assert.Equal(28, uninterrupted.Surrogate!.Observations); // the last proposal saw 28 or 29 results; 28 is the last refit point

        var jobs = new FakeTrainingJobs(Curve(Hartmann6, 3));
        string? saved = null;
        var first = TuningJobRunner.Create(Definition("resume", config), jobs, persist: (s, _) => { saved = s.ToJson(); return Task.CompletedTask; });
        for (var i = 0; i < 36; i++)
            await first.StepAsync();
        saved = first.State.ToJson(); // what the service persisted after its last step, before the process died
        var restored = TuningJobState.FromJson(saved);
        Assert.Contains(restored.Trials, t => t.Status == TrialStatus.InProgress);
        Assert.True(restored.Surrogate!.Observations >= 20, $"fit of {restored.Surrogate.Observations} observations");
        Assert.Equal(restored.Surrogate.LengthScales, first.State.Surrogate!.LengthScales); // round-trips exactly

        // Without the fit (a state written before fits were kept) the schedule is replayed: slower, the same proposals.
        var resumed = TuningJobRunner.Resume(keepSurrogate ? restored : restored with { Surrogate = null }, jobs);
        var state = await resumed.RunAsync(TimeSpan.Zero);
        Assert.Equal(30, state.Trials.Count);
        Assert.Equal(30, jobs.Started.Count); // FakeTrainingJobs throws on a second start of a name
        Assert.Equal(uninterrupted.Trials.Select(t => StrategyTests.Key(t.HyperParameters)), state.Trials.Select(t => StrategyTests.Key(t.HyperParameters)));
        Assert.Equal(uninterrupted.BestTrainingJobName, state.BestTrainingJobName);
    }

    [Fact]
    public async Task A_trial_recorded_but_not_started_before_a_crash_is_started_on_resume_and_one_started_is_not_started_again()
    {
        var jobs = new FakeTrainingJobs(Curve(Hartmann6, 2));
        TuningJobState? beforeStart = null;
        var runner = TuningJobRunner.Create(Definition("crash", Hartmann("Random", 4, 2)), jobs,
            persist: (s, _) => { beforeStart ??= s; return Task.CompletedTask; });
        await runner.StepAsync();
        Assert.All(beforeStart!.Trials, t => Assert.Equal(TrialStatus.Pending, t.Status));

        // The first trial's job exists (it was started), the second's does not (the crash came between the two starts).
        var partial = new FakeTrainingJobs(Curve(Hartmann6, 2));
        await partial.StartAsync(beforeStart.Trials[0].TrainingJobName, beforeStart.Trials[0].HyperParameters);
        var state = await TuningJobRunner.Resume(TuningJobState.FromJson(beforeStart.ToJson()), partial).RunAsync(TimeSpan.Zero);
        Assert.Equal(4, state.Trials.Count);
        Assert.Equal(4, partial.Started.Count);
        Assert.All(state.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
    }

    [Fact]
    public async Task Warm_start_takes_the_parents_trials_and_refuses_a_parent_with_another_objective()
    {
        var parent = await TuningJobRunner.Create(Definition("parent", Hartmann("Bayesian", 12, 1)), new FakeTrainingJobs(Curve(Hartmann6, 1))).RunAsync(TimeSpan.Zero);
        var warm = new WarmStartConfig { ParentHyperParameterTuningJobs = [new() { HyperParameterTuningJobName = "parent" }], WarmStartType = "IdenticalDataAndAlgorithm" };
        var child = TuningJobRunner.Create(Definition("child", Hartmann("Bayesian", 4, 1, seed: 2)) with { WarmStartConfig = warm },
            new FakeTrainingJobs(Curve(Hartmann6, 1)), parents: [parent]);
        Assert.Equal(12, child.State.WarmStartTrials.Count);
        var state = await child.RunAsync(TimeSpan.Zero);
        Assert.Equal(4, state.Trials.Count);

        var minimize = parent with { Definition = parent.Definition with { HyperParameterTuningJobConfig = Hartmann("Bayesian", 12, 1) with { HyperParameterTuningJobObjective = new() { Type = "Minimize", MetricName = "objective" } } } };
        var e = Assert.Throws<TuningConfigException>(() => TuningJobRunner.Create(Definition("child", Hartmann("Bayesian", 4, 1)) with { WarmStartConfig = warm },
            new FakeTrainingJobs(Curve(Hartmann6, 1)), parents: [minimize]));
        Assert.Equal("WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName", Assert.Single(e.Problems).Path);
        var missing = Assert.Throws<TuningConfigException>(() => TuningJobRunner.Create(Definition("child", Hartmann("Bayesian", 4, 1)) with { WarmStartConfig = warm },
            new FakeTrainingJobs(Curve(Hartmann6, 1))));
        Assert.Contains("no tuning job 'parent'", Assert.Single(missing.Problems).Message);
    }

    [Fact]
    public void An_invalid_definition_starts_nothing()
    {
        var jobs = new FakeTrainingJobs(Curve(Hartmann6));
        var config = Hartmann("Random", 2, 5);
        var e = Assert.Throws<TuningConfigException>(() => TuningJobRunner.Create(Definition("bad", config), jobs, metricNames: ["validation:auc"]));
        Assert.Equal(2, e.Problems.Count); // MaxParallel above MaxNumber; unknown objective metric
        Assert.Empty(jobs.Started);
    }

    [Fact]
    public async Task A_job_without_the_objective_metric_is_a_failed_trial_and_failures_count_against_the_budget()
    {
        var jobs = new FakeTrainingJobs(_ => []);
        var state = await TuningJobRunner.Create(Definition("nometric", Hartmann("Bayesian", 5, 1)), jobs).RunAsync(TimeSpan.Zero);
        Assert.Equal(5, state.Trials.Count);
        Assert.All(state.Trials, t => Assert.Equal(TrialStatus.Failed, t.Status));
        Assert.All(state.Trials, t => Assert.Contains("objective", t.FailureReason));
        Assert.Null(state.BestTrainingJobName);
    }

    [Fact]
    public async Task The_adapter_runs_trials_as_trainer_jobs_with_the_templates_channels_and_merged_hyperparameters()
    {
        var fake = new RecordingTrainingJobs();
        var adapter = new TrainingJobsTrialAdapter(fake, new TrainerJobRequest("template", "s3://lake/train.parquet", "s3://lake/validation.parquet", "lightgbm",
            new Dictionary<string, string> { ["num_iterations"] = "100", ["seed"] = "7" }));
        await adapter.StartAsync("tune-001-abcdef12", new Dictionary<string, string> { ["num_iterations"] = "27", ["learning_rate"] = "0.05" });
        var request = Assert.Single(fake.Requests);
        Assert.Equal("tune-001-abcdef12", request.Name);
        Assert.Equal("s3://lake/train.parquet", request.Train);
        Assert.Equal(new Dictionary<string, string> { ["num_iterations"] = "27", ["seed"] = "7", ["learning_rate"] = "0.05" }, request.HyperParameters);

        fake.Metric(0.61, 1);
        Assert.Equal(TrialJobStatus.InProgress, (await adapter.DescribeAsync("tune-001-abcdef12")).Status);
        fake.Metric(0.64, 2);
        fake.Status = TrainingJobStatus.Completed;
        var done = await adapter.DescribeAsync("tune-001-abcdef12");
        Assert.Equal(TrialJobStatus.Completed, done.Status);
        Assert.Equal(0.64, done.FinalMetrics["validation:auc"]);
        Assert.Equal([new(0.61), new(0.64)], await adapter.GetIntermediateValuesAsync("tune-001-abcdef12", "validation:auc"));
    }

    private sealed class RecordingTrainingJobs : ITrainingJobs
    {
        private MetricData? _metric;
        public List<TrainerJobRequest> Requests { get; } = [];
        public string Status { get; set; } = TrainingJobStatus.InProgress;

        public void Metric(double value, int second) =>
            _metric = new MetricData { MetricName = "validation:auc", Value = value, Timestamp = DateTimeOffset.UnixEpoch.AddSeconds(second) };

        public Task<string> StartAsync(TrainerJobRequest request, CancellationToken ct = default)
        {
            Requests.Add(request);
            return Task.FromResult(request.Name);
        }

        public Task<DescribeTrainingJobResponse> DescribeAsync(string name, CancellationToken ct = default) => Task.FromResult(new DescribeTrainingJobResponse
        {
            TrainingJobName = name,
            TrainingJobArn = $"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}",
            TrainingJobStatus = Status,
            SecondaryStatus = Status,
            FinalMetricDataList = _metric is null ? [] : [_metric],
        });

        public Task<DescribeTrainingJobResponse> WaitAsync(string name, IProgress<DescribeTrainingJobResponse>? progress = null, CancellationToken ct = default) =>
            throw new NotSupportedException();

        public Task<DescribeTrainingJobResponse> RunAsync(TrainerJobRequest request, IProgress<DescribeTrainingJobResponse>? progress = null, CancellationToken ct = default) =>
            throw new NotSupportedException();

        public Task StopAsync(string name, CancellationToken ct = default) => Task.CompletedTask;
    }
}
