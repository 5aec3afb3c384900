using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mlops.Benchmarks;
using Mlops.Trainer;
using Mlops.Trainer.SageMaker;
using Mlops.Trainer.Samples;
using Mlops.Tuning.Configuration;
using Mlops.Tuning.Runner;
using Mlops.Tuning.Strategies;
using Mlops.Tuning.Tests;
using static Mlops.Tuning.Tests.TestFunctions;

namespace Mlops.Tuning.Benchmarks;

/// <summary>
/// Early stopping's compute saved on the flights delay model, as a tabular benchmark of real learning curves: every
/// configuration of a categorical space is trained once, in process, as a full training job of the platform's trainer
/// (LightGBM, <c>maxIterations</c> iterations), and its validation AUC after every <see cref="ReportEvery"/> iterations
/// is read from the job's own per-iteration metric lines (LightGBM's evaluation, what a tuning job sees of a running trial).
/// Boosting is additive and these runs are deterministic (no bagging, feature_fraction 1, same seed and cores), so a job of
/// k iterations is the first k trees of that one: its AUC is the curve at k (checked once below). The tuning jobs then run
/// through the real <see cref="TuningJobRunner"/> over those curves: a describe advances a running trial by one report; a
/// stop takes effect at the next describe; compute is the iterations reported (a lower bound for a real stopped job, which
/// runs on until the stop lands). Each report carries its iteration (k·50), which Hyperband's rungs need. Run once per iteration budget (450, the original space, and 900, where the smallest
/// learning rate is no longer cut off while still climbing).
/// </summary>
internal static class EarlyStopping
{
    private const int ReportEvery = 50;
    // The in-process trials (Support.cs's FakeTrainingJobs) report the curve's values as "objective"; they are validation AUCs.
    private const string Metric = "objective";
    private static readonly string[] LearningRates = ["0.01", "0.03", "0.1", "0.3"];
    private static readonly string[] Leaves = ["4", "16", "64"];
    private static readonly string[] MinDataInLeaf = ["5", "50", "500"];
    private static readonly Regex IterationLine = new(@"^metric validation:auc=([0-9.eE+-]+) iteration=(\d+)$", RegexOptions.Multiline);

    public static async Task RunAsync(int seeds, int trainRows, int validationRows, int budget, int maxIterations)
    {
        var sw = Stopwatch.StartNew();
        var source = Path.Combine(RepoRoot(), FlightsSample.RelativePath);
        var flights = await FlightsSample.LoadAsync(source);
        var dir = Directory.CreateTempSubdirectory("tuning-early-stopping-");
        try
        {
            var layout = await FlightsSample.WriteJobAsync(flights, dir.FullName, new FlightsJob(FlightsTask.Delayed, trainRows, validationRows));
            var channels = new Dictionary<string, ChannelConfig>
            {
                ["train"] = new("application/x-parquet", "File", "FullyReplicated", "None"),
                ["validation"] = new("application/x-parquet", "File", "FullyReplicated", "None"),
            };
            async Task<(double[] Curve, double Final)> TrainAsync(string lr, string leaves, string minData, int iterations)
            {
                FlightsSample.WriteConfig(layout, new Dictionary<string, string>
                {
                    ["label"] = "delayed", ["algorithm"] = "lightgbm", ["num_iterations"] = iterations.ToString(CultureInfo.InvariantCulture),
                    ["learning_rate"] = lr, ["num_leaves"] = leaves, ["min_data_in_leaf"] = minData,
                    ["importance_rows"] = "0", ["diagnostics_rows"] = "1000",
                }, channels);
                var output = new StringWriter();
                var result = await new TrainingJob(layout, TextWriter.Synchronized(output), TextWriter.Null).TrainAsync();
                var curve = IterationLine.Matches(output.ToString())
                    .Select(m => (Iteration: int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), Auc: D(m.Groups[1].Value)))
                    .OrderBy(p => p.Iteration).ToList();
                if (!curve.Select(p => p.Iteration).SequenceEqual(Enumerable.Range(1, iterations / ReportEvery).Select(k => k * ReportEvery)))
                    throw new InvalidOperationException($"expected validation AUC lines every {ReportEvery} iterations, got iterations {string.Join(",", curve.Select(p => p.Iteration))}");
                return (curve.Select(p => p.Auc).ToArray(), result.Metrics.Channels["validation"].Metrics["auc"]);
            }

            // The curves take minutes to train; a rerun with the same data and space reads them back (delete the file to retrain).
            var cache = Path.Combine(Path.GetTempPath(), $"tuning-early-stopping-curves-{trainRows}-{validationRows}-{maxIterations}.json");
            var curves = File.Exists(cache) ? JsonSerializer.Deserialize<Dictionary<string, double[]>>(File.ReadAllText(cache))! : [];
            var cached = curves.Count;
            foreach (var lr in LearningRates)
                foreach (var leaves in Leaves)
                    foreach (var minData in MinDataInLeaf)
                        if (!curves.ContainsKey(Key(lr, leaves, minData)))
                            curves[Key(lr, leaves, minData)] = (await TrainAsync(lr, leaves, minData, maxIterations)).Curve;
            File.WriteAllText(cache, JsonSerializer.Serialize(curves));
            Console.WriteLine($"## Early stopping on flights LightGBM: {curves.Count} configurations trained to {maxIterations} iterations " +
                              $"({trainRows:N0} train rows Jan–Apr 2001, {validationRows:N0} validation rows May) in {sw.Elapsed.TotalSeconds:F0} s " +
                              $"({cached} read from {cache}; load average {Machine.LoadAverage()})");
            var finals = curves.Values.Select(c => c[^1]).Order().ToList();
            Console.WriteLine($"   final validation AUC over the configurations: min {finals[0]:F4}, median {Median(finals):F4}, max {finals[^1]:F4}");

            // The additivity the tabular benchmark rests on: a job of 150 iterations reports the curve's value at 150.
            var (_, short150) = await TrainAsync("0.1", "16", "50", 150);
            Console.WriteLine($"   check: a 150-iteration job's final validation AUC {short150:F6} vs the {maxIterations}-iteration curve at 150 " +
                              $"{curves[Key("0.1", "16", "50")][2]:F6}");

            // The default rule judges from the first report, as SageMaker does; Katib's grace period (start_step 4) for comparison.
            var katibGrace = new MedianStoppingSettings(MinReports: 4);
            var runs = new (string Name, string Strategy, bool MedianStopping, int? Budget, MedianStoppingSettings? Rule, int MinResource)[]
            {
                ("Random, no early stopping", TuningStrategies.Random, false, budget, null, 0),
                ("Random, median stopping", TuningStrategies.Random, true, budget, null, 0),
                ("Random, median stopping with Katib's grace period (judged from report 4)", TuningStrategies.Random, true, budget, katibGrace, 0),
                ("Bayesian, no early stopping", TuningStrategies.Bayesian, false, budget, null, 0),
                ("Bayesian, median stopping", TuningStrategies.Bayesian, true, budget, null, 0),
                ("Bayesian, median stopping with Katib's grace period (judged from report 4)", TuningStrategies.Bayesian, true, budget, katibGrace, 0),
                // Hyperband as SageMaker runs it (asynchronous successive halving: every trial one job at MaxResource, stopped at
                // its bracket's rungs): one Hyperband iteration is 17 trials at max/9 (brackets of 9, 5, 3) and 5 at max/3 (3, 2).
                ($"Hyperband ({maxIterations / 9}–{maxIterations}, one iteration)", TuningStrategies.Hyperband, false, null, null, maxIterations / 9),
                ($"Hyperband ({maxIterations / 9}–{maxIterations}, {budget} trials)", TuningStrategies.Hyperband, false, budget, null, maxIterations / 9),
                ($"Hyperband ({maxIterations / 3}–{maxIterations}, one iteration)", TuningStrategies.Hyperband, false, null, null, maxIterations / 3),
                ($"Hyperband ({maxIterations / 3}–{maxIterations}, {budget} trials)", TuningStrategies.Hyperband, false, budget, null, maxIterations / 3),
            };
            var results = new Dictionary<string, List<(double Iterations, double Best, int Trials, int Configurations, int StoppedEarly, double BestTried)>>();
            foreach (var run in runs)
            {
                results[run.Name] = [];
                for (var seed = 1; seed <= seeds; seed++)
                {
                    var jobs = new FakeTrainingJobs(hp => curves[Key(hp["learning_rate"], hp["num_leaves"], hp["min_data_in_leaf"])]
                        .Take(int.Parse(hp["num_iterations"], CultureInfo.InvariantCulture) / ReportEvery).ToArray(), ReportEvery);
                    var state = await TuningJobRunner.Create(Definition(run.Strategy, run.MedianStopping, run.Budget, seed, maxIterations, run.MinResource), jobs,
                        medianStopping: run.Rule).RunAsync(TimeSpan.Zero);
                    // Every trial is one configuration's draw (Hyperband no longer retrains a configuration at a larger budget).
                    var configurations = state.Trials.Count;
                    // What the best would have been had no trial been stopped: tells the rule's losses from the sample's.
                    var bestTried = state.Trials.Max(t => curves[Key(t.HyperParameters["learning_rate"], t.HyperParameters["num_leaves"], t.HyperParameters["min_data_in_leaf"])][^1]);
                    results[run.Name].Add((jobs.StepsRun * (double)ReportEvery, state.BestTrial!.ObjectiveValue!.Value, state.Trials.Count, configurations,
                        state.Trials.Count(t => t.StoppedEarly), bestTried));
                }
            }

            var baseline = results[runs[0].Name];
            Console.WriteLine($"   {seeds} seeds; MaxParallel 2; medians over seeds (best = the best completed trial's validation AUC; " +
                              "a median of 20 is the mean of the 10th and 11th, so a bimodal best can have a median neither seed reached):");
            Console.WriteLine("   | search | trials | configurations | stopped early | iterations run | saved vs Random without | best AUC | mean best lost vs Random without | worst seed's loss | best within 0.001 of Random without | best tried (had none been stopped) | seeds whose best tried was stopped |");
            foreach (var run in runs)
            {
                var r = results[run.Name];
                var saved = r.Select((x, i) => 1 - x.Iterations / baseline[i].Iterations).ToList();
                var equal = r.Select((x, i) => x.Best >= baseline[i].Best - 0.001).Count(b => b);
                Console.WriteLine($"   | {run.Name} | {Median(r.Select(x => (double)x.Trials)):F0} | {Median(r.Select(x => (double)x.Configurations)):F0} | " +
                                  $"{Median(r.Select(x => (double)x.StoppedEarly)):F0} | " +
                                  $"{Median(r.Select(x => x.Iterations)):F0} | {Median(saved):P1} | {Median(r.Select(x => x.Best)):F4} | " +
                                  $"{r.Select((x, i) => baseline[i].Best - x.Best).Average():F4} | {r.Select((x, i) => baseline[i].Best - x.Best).Max():F4} | {equal}/{seeds} | " +
                                  $"{Median(r.Select(x => x.BestTried)):F4} | {r.Count(x => x.Best < x.BestTried - 1e-12)}/{seeds} |");
            }
            Console.WriteLine($"   ({sw.Elapsed.TotalSeconds:F0} s in all, load average {Machine.LoadAverage()})");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static TuningJobDefinition Definition(string strategy, bool medianStopping, int? budget, long seed, int maxIterations, int minResource) => new()
    {
        HyperParameterTuningJobName = "flights-es",
        HyperParameterTuningJobConfig = new()
        {
            Strategy = strategy,
            HyperParameterTuningJobObjective = new() { Type = ObjectiveTypes.Maximize, MetricName = Metric },
            ResourceLimits = new() { MaxNumberOfTrainingJobs = budget, MaxParallelTrainingJobs = 2 },
            ParameterRanges = new()
            {
                CategoricalParameterRanges =
                [
                    new() { Name = "learning_rate", Values = LearningRates },
                    new() { Name = "num_leaves", Values = Leaves },
                    new() { Name = "min_data_in_leaf", Values = MinDataInLeaf },
                ],
            },
            TrainingJobEarlyStoppingType = medianStopping ? EarlyStoppingTypes.Auto : EarlyStoppingTypes.Off,
            StrategyConfig = strategy == TuningStrategies.Hyperband
                ? new() { HyperbandStrategyConfig = new() { MinResource = minResource, MaxResource = maxIterations, ResourceHyperParameterName = "num_iterations" } }
                : null,
            RandomSeed = seed,
        },
        StaticHyperParameters = new Dictionary<string, string> { ["num_iterations"] = maxIterations.ToString(CultureInfo.InvariantCulture) },
    };

    private static string Key(string lr, string leaves, string minData) => $"{lr}/{leaves}/{minData}";

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln")))
                return dir.FullName;
        throw new InvalidOperationException("Run from inside the repository.");
    }
}
