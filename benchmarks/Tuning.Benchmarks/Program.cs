using System.Diagnostics;
using Mlops.Benchmarks;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Strategies;
using Mlops.Tuning.Tests;
using static Mlops.Tuning.Tests.TestFunctions;

// Issue 15's tuning benchmarks, in process (no service, no training jobs): the library's strategies through ISearchStrategy,
// one proposal at a time (MaxParallel 1), each trial's objective evaluated at once and recorded as Completed (Support.cs's Loop,
// the unit tests' own). Seeds 1..N; per seed and strategy one run, its best-so-far read at each checkpoint.
//   efficiency: median best value and median regret (|best − optimum|) after 25, 50, 100, 200 trials, Random vs Bayesian,
//               on Hartmann-6 (maximize, optimum 3.32237) and Branin (minimize, optimum 0.397887). Seeds run 2 at a time.
//   latency:    Bayesian Propose(1, history) with a history of --latency-history completed trials (Random's on the same
//               function, seeds 1..N), one timed call per seed after one untimed warm-up, single-threaded.
// Usage: dotnet run -c Release --project benchmarks/Tuning.Benchmarks [-- --only efficiency|latency --seeds 20 --trials 200
//        --bayesian-trials 100 --latency-history 200 --functions hartmann6,branin]
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
        var times = new List<double>();
        for (var seed = 1; seed <= seeds; seed++)
        {
            var history = TuningHistory.Of(Loop.Run(Create(problem.Config("Random", latencyHistory, seed)), problem.Objective, latencyHistory));
            var bayesian = Create(problem.Config("Bayesian", latencyHistory + 1, seed));
            if (seed == 1)
                bayesian.Propose(1, history); // JIT and first-touch, not timed
            var sw = Stopwatch.StartNew();
            var proposal = bayesian.Propose(1, history);
            times.Add(sw.Elapsed.TotalMilliseconds);
            if (proposal.Count != 1) throw new InvalidOperationException("no proposal");
        }
        Console.WriteLine($"## {problem.Name}, Bayesian proposal with {latencyHistory} completed trials: median {Median(times):F1} ms, p95 {Quantile(times, 0.95):F1} ms, " +
                          $"max {times.Max():F1} ms over {times.Count} calls (load average {Machine.LoadAverage()})");
    }

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
