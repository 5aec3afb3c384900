using System.Diagnostics;
using System.Globalization;
using Mlops.Trainer;
using Mlops.Trainer.Learners;
using Mlops.Trainer.Model;
using Mlops.Trainer.Samples;

// Training throughput per learner on the flights data, scoring throughput of a loaded package, and the
// delay model's validation AUC against the majority-class baseline. Usage:
//   dotnet run -c Release --project benchmarks/Trainer.Benchmarks -- [--train-rows 1000000] [--validation-rows 200000] [--learners binary:lightgbm,...]
var options = args.Select((a, i) => (a, i)).Where(p => p.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(p => p.a[2..], p => p.i + 1 < args.Length ? args[p.i + 1] : "");
var trainRows = int.Parse(options.GetValueOrDefault("train-rows", "1000000"), CultureInfo.InvariantCulture);
var validationRows = int.Parse(options.GetValueOrDefault("validation-rows", "200000"), CultureInfo.InvariantCulture);
var selected = options.TryGetValue("learners", out var list) ? list.Split(',') : null;

var root = RepoRoot();
var source = Path.Combine(root, FlightsSample.RelativePath);
if (!File.Exists(source))
{
    Console.Error.WriteLine($"The flights data is missing at {source}. Run `npm install --prefix eng/node` from the repository root.");
    return 1;
}

var load = Stopwatch.StartNew();
var flights = await FlightsSample.LoadAsync(source);
Console.WriteLine($"# Trainer benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; flights-3m.parquet read in {load.Elapsed.TotalSeconds:F1} s");
Console.WriteLine($"train rows {trainRows:N0} (Jan–Apr 2001), validation rows {validationRows:N0} (May 2001)");
Console.WriteLine();
Console.WriteLine("| problem | learner | fit wall time (s) | fit rows/s | job total (s) | validation metric | baseline |");
Console.WriteLine("| --- | --- | ---: | ---: | ---: | --- | --- |");

var work = Directory.CreateTempSubdirectory("trainer-bench-").FullName;
string? delayModel = null;
try
{
    foreach (var learner in LearnerCatalog.All)
    {
        var key = $"{learner.Problem.ToString().ToLowerInvariant()}:{learner.Name}";
        if (selected is not null && !selected.Contains(key))
        {
            continue;
        }

        var task = learner.Problem switch
        {
            ProblemType.Binary => FlightsTask.Delayed,
            ProblemType.Multiclass => FlightsTask.DistanceBand,
            _ => FlightsTask.Distance,
        };
        var tree = Path.Combine(work, key.Replace(':', '-'));
        var layout = await FlightsSample.WriteJobAsync(flights, tree, new FlightsJob(task, trainRows, validationRows,
            Hyperparameters: new Dictionary<string, string> { ["algorithm"] = learner.Name }));
        var result = await new TrainingJob(layout, TextWriter.Null, TextWriter.Null).TrainAsync();
        var validation = result.Metrics.Channels["validation"];
        var metric = learner.Problem switch { ProblemType.Binary => "auc", ProblemType.Multiclass => "micro_accuracy", _ => "rmse" };
        var baseline = learner.Problem == ProblemType.Binary
            ? $"auc 0.5, majority-class accuracy {validation.Baseline["accuracy"]:F4} (model accuracy {validation.Metrics["accuracy"]:F4})"
            : $"{metric} {validation.Baseline[metric]:F4}";
        Console.WriteLine(
            $"| {learner.Problem.ToString().ToLowerInvariant()} | {learner.Name} | {result.Metrics.Timing.FitSeconds:F1} | {result.Metrics.Timing.RowsPerSecond:N0} | "
            + $"{result.Metrics.Timing.TotalSeconds:F1} | {metric} {validation.Metrics[metric]:F4} | {baseline} |");
        if (key == "binary:lightgbm")
        {
            delayModel = layout.ModelDirectory;
        }

        GC.Collect();
    }

    if (delayModel is not null)
    {
        Console.WriteLine();
        ScoreBenchmark(delayModel, flights);
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}

return 0;

static void ScoreBenchmark(string modelDirectory, Mlops.Trainer.Model.Tabular.DataTable flights)
{
    using var package = ModelPackage.Load(modelDirectory);
    var june = FlightsSample.ForTask(flights, FlightsTask.Delayed);
    var rows = june.Select([.. Enumerable.Range(june.RowCount - 100_000, 100_000)]).Without("delayed");
    package.Score(rows.Select([.. Enumerable.Range(0, 1000)]));

    var batch = Stopwatch.StartNew();
    var scored = package.Score(rows).Count;
    batch.Stop();

    var single = Stopwatch.StartNew();
    const int requests = 2_000;
    for (var i = 0; i < requests; i++)
    {
        package.Score(rows.Select([i]));
    }

    single.Stop();
    Console.WriteLine("| scoring (binary:lightgbm delay package) | rows | wall time (s) | rows/s |");
    Console.WriteLine("| --- | ---: | ---: | ---: |");
    Console.WriteLine($"| one batch of 100,000 rows | {scored:N0} | {batch.Elapsed.TotalSeconds:F2} | {scored / batch.Elapsed.TotalSeconds:N0} |");
    Console.WriteLine($"| 2,000 single-row calls | {requests:N0} | {single.Elapsed.TotalSeconds:F2} | {requests / single.Elapsed.TotalSeconds:N0} |");
}

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Mlops.Aspire.sln")))
        {
            return dir.FullName;
        }
    }

    throw new InvalidOperationException("Run from inside the repository.");
}
