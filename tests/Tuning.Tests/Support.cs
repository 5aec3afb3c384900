using System.Globalization;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;

namespace Mlops.Tuning.Tests;

/// <summary>Standard test functions for global optimization (Surjanovic &amp; Bingham's library), on named hyperparameters.</summary>
internal static class TestFunctions
{
    public const double BraninMinimum = 0.397887;
    public const double HartmannMaximum = 3.32237;
    public const double ForresterMinimum = -6.02074;

    public static double Branin(IReadOnlyDictionary<string, string> hp)
    {
        var x1 = D(hp["x1"]);
        var x2 = D(hp["x2"]);
        const double b = 5.1 / (4 * Math.PI * Math.PI), c = 5 / Math.PI, t = 1 / (8 * Math.PI);
        return Math.Pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * Math.Cos(x1) + 10;
    }

    private static readonly double[] Alpha = [1.0, 1.2, 3.0, 3.2];
    private static readonly double[,] A =
    {
        { 10, 3, 17, 3.5, 1.7, 8 }, { 0.05, 10, 17, 0.1, 8, 14 }, { 3, 3.5, 1.7, 10, 17, 8 }, { 17, 8, 0.05, 10, 0.1, 14 },
    };
    private static readonly double[,] P =
    {
        { 1312, 1696, 5569, 124, 8283, 5886 }, { 2329, 4135, 8307, 3736, 1004, 9991 },
        { 2348, 1451, 3522, 2883, 3047, 6650 }, { 4047, 8828, 8732, 5743, 1091, 381 },
    };

    /// <summary>Hartmann-6, sign flipped so it is maximized (optimum 3.32237).</summary>
    public static double Hartmann6(IReadOnlyDictionary<string, string> hp)
    {
        var x = Enumerable.Range(1, 6).Select(i => D(hp[$"x{i}"])).ToArray();
        var sum = 0.0;
        for (var i = 0; i < 4; i++)
        {
            var inner = 0.0;
            for (var j = 0; j < 6; j++)
                inner += A[i, j] * Math.Pow(x[j] - P[i, j] * 1e-4, 2);
            sum += Alpha[i] * Math.Exp(-inner);
        }
        return sum;
    }

    /// <summary>Forrester et al. (2008), minimized on [0, 1]: one global and one local minimum.</summary>
    public static double Forrester(IReadOnlyDictionary<string, string> hp)
    {
        var x = D(hp["x"]);
        return Math.Pow(6 * x - 2, 2) * Math.Sin(12 * x - 4);
    }

    public static HyperParameterTuningJobConfig BraninConfig(string strategy, int budget = 30, long seed = 1) => Config(strategy, budget, seed,
        ObjectiveTypes.Minimize, [Range("x1", "-5", "10"), Range("x2", "0", "15")]);

    public static HyperParameterTuningJobConfig HartmannConfig(string strategy, int budget = 30, long seed = 1) => Config(strategy, budget, seed,
        ObjectiveTypes.Maximize, Enumerable.Range(1, 6).Select(i => Range($"x{i}", "0", "1")).ToList());

    public static HyperParameterTuningJobConfig ForresterConfig(string strategy, int budget = 30, long seed = 1) => Config(strategy, budget, seed,
        ObjectiveTypes.Minimize, [Range("x", "0", "1")]);

    public static ContinuousParameterRange Range(string name, string min, string max, string? scaling = null) =>
        new() { Name = name, MinValue = min, MaxValue = max, ScalingType = scaling };

    public static HyperParameterTuningJobConfig Config(string strategy, int budget, long seed, string type, IReadOnlyList<ContinuousParameterRange> ranges) => new()
    {
        Strategy = strategy,
        HyperParameterTuningJobObjective = new() { Type = type, MetricName = "objective" },
        ResourceLimits = new() { MaxNumberOfTrainingJobs = budget, MaxParallelTrainingJobs = 1 },
        ParameterRanges = new() { ContinuousParameterRanges = ranges },
        RandomSeed = seed,
    };

    public static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

/// <summary>Runs a strategy in process: propose, evaluate, record, as the runner does with trials that end at once.</summary>
internal static class Loop
{
    public static List<TrialRecord> Run(ISearchStrategy strategy, Func<IReadOnlyDictionary<string, string>, double> objective, int budget,
        int batch = 1, IReadOnlyList<TrialRecord>? warmStart = null, bool carrySurrogate = true)
    {
        var trials = new List<TrialRecord>();
        SurrogateFit? surrogate = null;
        while (trials.Count < budget)
        {
            var history = new TuningHistory(trials, warmStart ?? []) { Surrogate = surrogate };
            // The Bayesian surrogate's fit goes from one call to the next as the runner keeps it in the job state.
            if (carrySurrogate && strategy is BayesianSearch bayesian)
                history = history with { Surrogate = surrogate = bayesian.Fit(history) };
            var proposals = strategy.Propose(Math.Min(batch, budget - trials.Count), history);
            if (proposals.Count == 0)
                break;
            foreach (var p in proposals)
                trials.Add(Completed(trials.Count, p.HyperParameters, objective(p.HyperParameters), p.Hyperband));
        }
        return trials;
    }

    public static TrialRecord Completed(int index, IReadOnlyDictionary<string, string> hp, double value, HyperbandSlot? slot = null) => new()
    {
        Index = index,
        TrainingJobName = $"t-{index:D3}",
        HyperParameters = hp,
        Status = TrialStatus.Completed,
        ObjectiveValue = value,
        EndOrder = index,
        Hyperband = slot,
    };
}

/// <summary>
/// In-process training jobs: a job's learning curve is computed at start from its hyperparameters; every describe advances
/// it one step; it completes after its last step. Step k's value is reported at iteration k·<paramref name="reportEvery"/>
/// (the trainer's LightGBM reports every 50), or without an iteration when it is 0 (as through DescribeTrainingJob). Records concurrency, starts and stops.
/// </summary>
internal sealed class FakeTrainingJobs(Func<IReadOnlyDictionary<string, string>, double[]> curve, int reportEvery = 1, int stopLag = 0) : ITrialTrainingJobs
{
    private sealed class Job(double[] curve, IReadOnlyDictionary<string, string> hyperParameters)
    {
        public double[] Curve { get; } = curve;
        public IReadOnlyDictionary<string, string> HyperParameters { get; } = hyperParameters;
        public int Step { get; set; }
        public bool StopRequested { get; set; }
        public int StepsAfterStop { get; set; }
        public TrialJobStatus Status { get; set; } = TrialJobStatus.InProgress;
    }

    private readonly Dictionary<string, Job> _jobs = new();
    public List<string> Started { get; } = [];
    public List<string> Stopped { get; } = [];
    public int MaxConcurrent { get; private set; }

    public IReadOnlyDictionary<string, string> HyperParametersOf(string name) => _jobs[name].HyperParameters;
    public int StepsRun => _jobs.Values.Sum(j => j.Step);

    public Task StartAsync(string trainingJobName, IReadOnlyDictionary<string, string> hyperParameters, CancellationToken ct = default)
    {
        if (_jobs.ContainsKey(trainingJobName))
            throw new InvalidOperationException($"{trainingJobName} was started twice");
        _jobs[trainingJobName] = new Job(curve(hyperParameters), hyperParameters);
        Started.Add(trainingJobName);
        MaxConcurrent = Math.Max(MaxConcurrent, _jobs.Values.Count(j => j.Status == TrialJobStatus.InProgress));
        return Task.CompletedTask;
    }

    public Task<TrialJobDescription> DescribeAsync(string trainingJobName, CancellationToken ct = default)
    {
        if (!_jobs.TryGetValue(trainingJobName, out var job))
            return Task.FromResult(new TrialJobDescription(TrialJobStatus.NotFound, new Dictionary<string, double>()));
        if (job.Status == TrialJobStatus.InProgress)
        {
            // A stop lands after stopLag more steps (a real job trains on until the stop reaches it).
            if (job.StopRequested && job.StepsAfterStop++ >= stopLag)
                job.Status = TrialJobStatus.Stopped;
            else if ((job.Step = Math.Min(job.Step + 1, job.Curve.Length)) >= job.Curve.Length)
                job.Status = TrialJobStatus.Completed;
        }
        var metrics = job.Step == 0 ? new Dictionary<string, double>() : new Dictionary<string, double> { ["objective"] = job.Curve[job.Step - 1] };
        return Task.FromResult(new TrialJobDescription(job.Status, metrics));
    }

    public Task<IReadOnlyList<IntermediateValue>> GetIntermediateValuesAsync(string trainingJobName, string metricName, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<IntermediateValue>>(_jobs[trainingJobName].Curve.Take(_jobs[trainingJobName].Step)
            .Select((v, i) => new IntermediateValue(v, reportEvery > 0 ? (i + 1) * reportEvery : null)).ToList());

    public Task StopAsync(string trainingJobName, CancellationToken ct = default)
    {
        _jobs[trainingJobName].StopRequested = true;
        Stopped.Add(trainingJobName);
        return Task.CompletedTask;
    }
}
