using System.Globalization;
using Mlops.ExperimentTracker.Client;
using Mlops.Trainer;
using Mlops.Trainer.Samples;

// The sample scenario the AppHost runs once the platform is up: train the flights delay model on January–April,
// validate on May, track the run (params, every metric, the training data's digest, the code version, the model
// package as artifacts) and register it; the new version becomes "champion" only if it beats the current champion's
// validation AUC. Every start of the AppHost is one more trial in the "flights-delay" experiment.
string Setting(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
    ? value
    : throw new InvalidOperationException($"The sample needs the environment variable {name} (the AppHost sets it).");

var tracker = TrackingClient.Create(new Uri(Setting("services__experimenttracker__http__0")), Setting("Auth__ApiKey"));
var flightsPath = Setting("Sample__FlightsParquet");
var trainRows = int.Parse(Environment.GetEnvironmentVariable("Sample__TrainRows") ?? "200000", CultureInfo.InvariantCulture);
var gitCommit = Environment.GetEnvironmentVariable("Sample__GitCommit");
const string Experiment = "flights-delay";
const string Model = "flights-delay";
const string Champion = "champion";

if (!File.Exists(flightsPath))
{
    Console.Error.WriteLine($"No flights data at {flightsPath}: run eng/bootstrap.sh (it installs vega-datasets with npm).");
    return 1;
}

var root = Directory.CreateTempSubdirectory("mlops-sample-").FullName;
try
{
    Console.WriteLine($"Preparing the flights delay job ({trainRows:N0} training rows) under {root}");
    var flights = await FlightsSample.LoadAsync(flightsPath);
    var job = new FlightsJob(FlightsTask.Delayed, trainRows, trainRows / 4,
        SampleSeed: Random.Shared.Next(1, 1000),
        Hyperparameters: new Dictionary<string, string> { ["algorithm"] = "lightgbm", ["num_leaves"] = "31", ["learning_rate"] = "0.1" });
    var layout = await FlightsSample.WriteJobAsync(flights, root, job);

    await using var run = await tracker.StartRunAsync(Experiment, gitCommit: gitCommit,
        tags: new Dictionary<string, string> { ["mlflow.source.name"] = "samples/FlightsDelay", ["mlops.sample"] = "true" });
    try
    {
        var result = await new TrainingJob(layout, Console.Out, Console.Error).TrainAsync();
        var manifest = result.Manifest;
        // Each trial samples other flights: without the sampling seed two runs with equal params would differ unexplained.
        await run.LogParamsAsync(new Dictionary<string, string>(manifest.Hyperparameters)
        {
            ["sample_seed"] = job.SampleSeed.ToString(CultureInfo.InvariantCulture),
            ["sample_train_rows"] = job.TrainRows.ToString(CultureInfo.InvariantCulture),
            ["sample_validation_rows"] = job.ValidationRows.ToString(CultureInfo.InvariantCulture),
        });
        // "validation:auc" → "validation/auc": MLflow keys allow "/", not ":" (and its UI groups by the prefix).
        await run.LogMetricsAsync(result.Metrics.Lines().Where(m => double.IsFinite(m.Value)).ToDictionary(m => m.Name.Replace(':', '/'), m => m.Value));
        var train = manifest.TrainingData["train"];
        await tracker.LogInputsAsync(run.RunId, [new DatasetInput([new KeyValue("mlflow.data.context", "training")],
            new Dataset("flights-jan-apr", train.Sha256[..36], "local", $"{{\"uri\": \"{FlightsSample.RelativePath}\", \"rows\": {train.Rows}}}"))]);
        foreach (var file in Directory.EnumerateFiles(layout.ModelDirectory))
        {
            await using var content = File.OpenRead(file);
            await run.UploadArtifactAsync($"model/{Path.GetFileName(file)}", content);
        }

        var validation = result.Metrics.Channels["validation"].Metrics;
        var auc = validation["auc"];
        var version = await tracker.RegisterModelAsync(Model, run.Run);
        double? championAuc = null;
        try
        {
            var current = await tracker.GetModelVersionByAliasAsync(Model, Champion);
            championAuc = current.RunId is null ? null : (await tracker.GetRunAsync(current.RunId)).MetricValue("validation/auc");
        }
        catch (MlflowApiException e) when (e.ErrorCode == MlflowApiException.ResourceDoesNotExist)
        {
        }
        if (championAuc is null || auc > championAuc)
        {
            await tracker.SetAliasAsync(Model, Champion, version.Version);
            Narrate($"{Model} version {version.Version} (validation AUC {auc:F4}) is the new {Champion}" +
                (championAuc is null ? "." : $", replacing one with {championAuc:F4}."));
        }
        else
        {
            Narrate($"{Model} version {version.Version} (validation AUC {auc:F4}) does not beat the {Champion} ({championAuc:F4}); alias unchanged.");
        }
        if (validation.TryGetValue("f1", out var f1) && validation.TryGetValue("decision_threshold", out var threshold))
            Narrate($"At its decision threshold {threshold:F3}: precision {validation.GetValueOrDefault("precision"):F3}, recall {validation.GetValueOrDefault("recall"):F3}, F1 {f1:F3}.");
        Narrate($"Run {run.RunId} in experiment {Experiment}: GET /api/2.0/mlflow/runs/get?run_id={run.RunId} on the tracker.");
        return 0;
    }
    catch
    {
        run.Fail();
        throw;
    }
}
finally
{
    Directory.Delete(root, recursive: true);
}

// Lines with this marker are the sample's narrative: the AppHost relays them to its console (AppHost/StartupSummary.cs).
static void Narrate(string line) => Console.WriteLine("» " + line);
