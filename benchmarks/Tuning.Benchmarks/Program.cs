using System.Diagnostics;
using Mlops.Benchmarks;
using Mlops.Tuning.Benchmarks;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Strategies;
using Mlops.Tuning.Tests;
using static Mlops.Tuning.Tests.TestFunctions;

// Issue 15's tuning benchmarks, in process (no service, no training jobs): the library's strategies through ISearchStrategy,
// one proposal at a time (MaxParallel 1), each trial's objective evaluated at once and recorded as Completed (Support.cs's Loop,
// the unit tests' own). Seeds 1..N; per seed and strategy one run, its best-so-far read at each checkpoint.
//   efficiency: median best value and median regret (|best − optimum|) after 25, 50, 100, 200 trials, Random vs Bayesian,
//               on Hartmann-6 (maximize, optimum 3.32237) and Branin (minimize, optimum 0.397887). Seeds run 2 at a time.
//   latency:    Bayesian Fit + Propose(1, history), as the runner calls them, with a history of --latency-history completed
//               trials (Random's on the same function, seeds 1..N), single-threaded, after one untimed warm-up: with the
//               surrogate fit the job state would hold (current), with the previous refit point's (one refit), with none.
//   early-stopping: flights LightGBM trained in process per configuration, tuning jobs over the real learning curves with and
//               without median stopping, and Hyperband (EarlyStopping.cs), once per --es-iterations budget (450 and 900).
//               Needs the flights data (npm install --prefix eng/node).
// Usage: dotnet run -c Release --project benchmarks/Tuning.Benchmarks [-- --only efficiency|latency|early-stopping --seeds 20
//        --trials 200 --bayesian-trials 100 --latency-history 200 --functions hartmann6,branin
//        --es-seeds 20 --es-trials 20 --es-train-rows 20000 --es-validation-rows 10000 --es-iterations 450,900]
var only = Arg("--only");
var seeds = int.Parse(Arg("--seeds") ?? "20");
var randomTrials = int.Parse(Arg("--trials") ?? "200");
var bayesianTrials = int.Parse(Arg("--bayesian-trials") ?? Math.Min(randomTrials, 100).ToString());
var latencyHistory = int.Parse(Arg("--latency-history") ?? "200");
var functionNames = (Arg("--functions") ?? "hartmann6,branin").Split(',');
int[] checkpoints = [25, 50, 100, 200];

var functions = new Dictionary<string, Problem>
{
    ["hartmann6"] = new("Hartmann-6", (s, n, seed) => HartmannConfig(s, n, seed), Hartmann6, HartmannMaximum, Maximize: true),
    ["branin"] = new("Branin", (s, n, seed) => BraninConfig(s, n, seed), Branin, BraninMinimum, Maximize: false),
};
Console.WriteLine($"# Tuning benchmarks {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {Machine.LoadAverage()}, " +
                  $"seeds {seeds}, Random {randomTrials} trials, Bayesian {bayesianTrials} trials");

if (only is null or "efficiency")
    foreach (var name in functionNames)
    {
        var problem = functions[name];
        var regretAt = new Dictionary<string, double[][]>();
        foreach (var (strategy, budget) in new[] { ("Random", randomTrials), ("Bayesian", bayesianTrials) })
        {
            var sw = Stopwatch.StartNew();
            var curves = new double[seeds][];
            Parallel.For(0, seeds, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
            {
                var trials = Loop.Run(Create(problem.Config(strategy, budget, i + 1)), problem.Objective, budget);
                curves[i] = BestSoFar(trials.Select(t => t.ObjectiveValue!.Value), problem.Maximize).ToArray();
            });
            Console.WriteLine($"## {problem.Name}, {strategy}: {seeds} seeds × {budget} trials in {sw.Elapsed.TotalSeconds:F1} s (load average {Machine.LoadAverage()})");
            foreach (var k in checkpoints.Where(k => k <= budget))
            {
                var best = curves.Select(c => c[k - 1]).ToList();
                var regret = best.Select(b => Math.Abs(b - problem.Optimum)).ToList();
                Console.WriteLine($"   after {k,3} trials: median best {Median(best):F5}, median regret {Median(regret):G4} " +
                                  $"(quartiles {Quantile(regret, 0.25):G3}–{Quantile(regret, 0.75):G3})");
            }
            regretAt[strategy] = curves;
        }
        if (bayesianTrials >= 50 && randomTrials >= 200)
        {
            var bayesian50 = Median(regretAt["Bayesian"].Select(c => Math.Abs(c[49] - problem.Optimum)));
            var random200 = Median(regretAt["Random"].Select(c => Math.Abs(c[199] - problem.Optimum)));
            Console.WriteLine($"   target (Bayesian's median regret after 50 < Random's after 200): {bayesian50:G4} vs {random200:G4} → " +
                              (bayesian50 < random200 ? "met" : "MISSED"));
        }
    }

if (only is null or "latency")
    foreach (var name in functionNames)
    {
        var problem = functions[name];
        // Per seed, three calls over the same history, each timed as the runner makes it (Fit, then Propose with the fit):
        //   current: the job state holds the fit for these trials (the usual case: between refits, one factorization);
        //   refit:   it holds the fit from the previous refit point (one refinement from it, then the proposal);
        //   none:    it holds no fit (a job persisted before fits were kept): the schedule is replayed from the start.
        var times = new Dictionary<string, List<double>> { ["current"] = [], ["refit"] = [], ["none"] = [] };
        var previousPoint = latencyHistory - 1;
        while (!SurrogateSchedule.IsRefitPoint(previousPoint)) previousPoint--;
        for (var seed = 1; seed <= seeds; seed++)
        {
            var trials = Loop.Run(Create(problem.Config("Random", latencyHistory, seed)), problem.Objective, latencyHistory);
            var bayesian = (BayesianSearch)Create(problem.Config("Bayesian", latencyHistory + 1, seed));
            var history = TuningHistory.Of(trials);
            var current = bayesian.Fit(history);
            var previous = bayesian.Fit(TuningHistory.Of(trials.Where(t => t.EndOrder < previousPoint).ToList()));
            if (seed == 1)
                bayesian.Propose(1, history with { Surrogate = current }); // JIT and first-touch, not timed
            foreach (var (kind, cached) in new[] { ("current", current), ("refit", previous), ("none", (SurrogateFit?)null) })
            {
                var sw = Stopwatch.StartNew();
                var withFit = history with { Surrogate = cached };
                var proposal = bayesian.Propose(1, withFit with { Surrogate = bayesian.Fit(withFit) });
                times[kind].Add(sw.Elapsed.TotalMilliseconds);
                if (proposal.Count != 1) throw new InvalidOperationException("no proposal");
            }
        }
        Console.WriteLine($"## {problem.Name}, Bayesian proposal with {latencyHistory} completed trials, {seeds} calls each (load average {Machine.LoadAverage()}):");
        foreach (var (kind, label) in new[] { ("current", "fit current (the usual call)"), ("refit", $"refit from the fit at {previousPoint}"), ("none", "no fit kept (replays the schedule)") })
            Console.WriteLine($"   {label}: median {Median(times[kind]):F1} ms, p95 {Quantile(times[kind], 0.95):F1} ms, max {times[kind].Max():F1} ms");
    }

if (only is null or "early-stopping")
    foreach (var iterations in (Arg("--es-iterations") ?? "450,900").Split(',').Select(int.Parse))
        await EarlyStopping.RunAsync(int.Parse(Arg("--es-seeds") ?? seeds.ToString()), int.Parse(Arg("--es-train-rows") ?? "20000"),
            int.Parse(Arg("--es-validation-rows") ?? "10000"), int.Parse(Arg("--es-trials") ?? "20"), iterations);

static ISearchStrategy Create(HyperParameterTuningJobConfig config) =>
    SearchStrategies.Create(new TuningJobDefinition { HyperParameterTuningJobName = "bench", HyperParameterTuningJobConfig = config }, config.RandomSeed!.Value);

static IEnumerable<double> BestSoFar(IEnumerable<double> values, bool maximize)
{
    var best = maximize ? double.NegativeInfinity : double.PositiveInfinity;
    foreach (var v in values)
        yield return best = maximize ? Math.Max(best, v) : Math.Min(best, v);
}

// Nearest-rank on the sorted values (p95 of 20 = the 19th).
static double Quantile(IReadOnlyCollection<double> values, double q)
{
    var sorted = values.OrderBy(v => v).ToList();
    return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
}

string? Arg(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

internal sealed record Problem(string Name, Func<string, int, long, HyperParameterTuningJobConfig> Config,
    Func<IReadOnlyDictionary<string, string>, double> Objective, double Optimum, bool Maximize);
