using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Mlops.Trainer.Diagnostics;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;
using Mlops.Trainer.Samples;
using Xunit.Abstractions;

namespace Trainer.Tests;

/// <summary>End to end on real flights data: train January–April, validate on May, test on June.</summary>
[Collection(FlightsCollection.Name)]
public sealed class FlightsTrainingTests(FlightsFixture flights, ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> NoHyperparameters = [];

    [Fact]
    public async Task DelayModel_BeatsMajorityBaseline_AndWritesPackageAndReports()
    {
        using var tree = new TempTree();
        var (result, layout, stdout) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.Delayed, 60_000, 20_000, TestRows: 10_000));

        Log(result);

        // Stated margin: AUC at least 0.10 above the majority-class baseline's 0.5, on a later month than training.
        var validation = result.Metrics.Channels["validation"];
        Assert.True(validation.Metrics["auc"] >= validation.Baseline["auc"] + 0.10, $"validation AUC {validation.Metrics["auc"]:F4}");
        Assert.True(result.Metrics.Channels["test"].Metrics["auc"] >= 0.60, $"test AUC {result.Metrics.Channels["test"].Metrics["auc"]:F4}");
        // Labels come from the threshold maximising F1, which trades accuracy for recall on a fifth-delayed set; at 0.5
        // the model must still not fall below always predicting the majority class.
        Assert.True(validation.Metrics["accuracy_at_0.5"] >= validation.Baseline["accuracy"] - 0.005, "accuracy at 0.5 must not fall below always predicting the majority class");
        var confusion = validation.ConfusionMatrix!;
        Assert.Equal(validation.Rows, confusion.Counts.SelectMany(r => r).Sum());

        // The SageMaker metric-definition regex reads these lines.
        Assert.Matches(@"(?m)^metric validation:auc=0\.\d+$", stdout);
        Assert.Matches(@"(?m)^metric test:log_loss=\d", stdout);

        var metricsJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout.OutputDataDirectory, "metrics.json")));
        Assert.Equal(validation.Metrics["auc"], metricsJson.RootElement.GetProperty("channels").GetProperty("validation").GetProperty("metrics").GetProperty("auc").GetDouble(), 12);
        Assert.Equal(["date", "destination", "distance", "origin"], result.Metrics.FeatureImportance.Select(f => f.Column).Order());
        Assert.True(result.Metrics.FeatureImportance[0].Importance > 0.005, "the most important column must matter");
        // The package records the same importance (what the monitor compares later labelled data with), and how it was measured.
        using var package = ModelPackage.Load(layout.ModelDirectory);
        var recorded = package.Manifest.FeatureImportance!;
        Assert.Equal(result.Metrics.FeatureImportance, recorded.Columns);
        Assert.Equal(("auc", true, "validation", (long)Math.Min(validation.Rows, 10_000), 3), (recorded.Metric, recorded.HigherIsBetter, recorded.Channel, recorded.Rows, recorded.Repeats));

        var diagnostics = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout.OutputDataDirectory, "diagnostics.json")));
        var rules = diagnostics.RootElement.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("rule").GetString()!).ToArray();
        Assert.Equal(["overfitting", "loss_not_improving", "class_imbalance", "constant_features", "leaking_features"], rules);
        Assert.Equal(DiagnosticFinding.Ok, result.Diagnostics.Findings.Single(f => f.Rule == "leaking_features").Status);

        var manifest = result.Manifest;
        Assert.Equal(ProblemType.Binary, manifest.ProblemType);
        Assert.Equal(["date:timestamp", "origin:text", "destination:text", "distance:number"], manifest.InputSchema.Select(c => $"{c.Name}:{c.Type}"));
        Assert.Equal("100", manifest.Hyperparameters["num_iterations"]);
        Assert.Equal(Sha256Of(Path.Combine(layout.ChannelDirectory("train"), "part-0.parquet"), "part-0.parquet"), manifest.TrainingData["train"].Sha256);
        Assert.Equal(60_000, manifest.TrainingData["train"].Rows);
        Assert.True(File.Exists(Path.Combine(layout.ModelDirectory, ModelManifest.ModelFileName)));
        Assert.False(File.Exists(layout.FailurePath));

        // The timestamp-parts step is a custom mapping, which the ONNX converter cannot express.
        Assert.Equal("not_supported", manifest.Onnx.Status);
        Assert.NotNull(manifest.Onnx.Reason);
    }

    [Fact]
    public async Task DelayModel_LearningCurve_EndsAtTheEvaluatorsAuc()
    {
        using var tree = new TempTree();

        // diagnostics_rows covers the whole validation channel, so the replayed trees see the evaluator's rows.
        var (result, _, _) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.Delayed, 30_000, 10_000,
            Hyperparameters: new Dictionary<string, string> { ["algorithm"] = "fasttree", ["num_trees"] = "40", ["importance_rows"] = "0" }));

        var curve = result.Diagnostics.LearningCurve!;
        Assert.Equal(40, curve.Iterations[^1]);
        Assert.Equal(result.Metrics.Channels["validation"].Metrics["auc"], curve.Validation[^1], 3);
        Assert.True(curve.Train[^1] > curve.Train[0], "training AUC must rise as trees are added");
    }

    [Fact]
    public async Task Package_LoadedFromDisk_ScoresRowsIdenticallyToTheTrainedModel()
    {
        using var tree = new TempTree();
        var (result, layout, _) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.Delayed, 30_000, 5_000,
            Hyperparameters: new Dictionary<string, string> { ["importance_rows"] = "0" }));

        using var package = ModelPackage.Load(layout.ModelDirectory);
        var rows = result.Validation.Select([.. Enumerable.Range(0, 500).Select(i => i * 10)]);
        var inMemory = ModelPackage.ReadPredictions(result.Manifest, result.Model.Transform(new TableDataView(rows)));
        var fromTable = package.Score(rows);
        var fromJsonRows = package.Score(AsJsonRows(rows));

        Assert.Equal(inMemory, fromTable);
        Assert.Equal(inMemory, fromJsonRows);
        Assert.True(inMemory.Max(p => p.Probability) - inMemory.Min(p => p.Probability) > 0.2, "probabilities must vary across flights");

        // Concurrent callers each get their own bound pipeline and the same answers.
        var concurrent = new IReadOnlyList<Prediction>[8];
        Parallel.For(0, concurrent.Length, i => concurrent[i] = package.Score(rows));
        Assert.All(concurrent, c => Assert.Equal(inMemory, c));
    }

    [Fact]
    public async Task SameSeed_GivesTheSameMetricsAndModel_OtherSeedDiffers()
    {
        var hyperparameters = new Dictionary<string, string> { ["feature_fraction"] = "0.7", ["seed"] = "7", ["importance_rows"] = "2000" };
        var job = new FlightsJob(FlightsTask.Delayed, 20_000, 5_000, Hyperparameters: hyperparameters);
        using var a = new TempTree();
        using var b = new TempTree();
        using var c = new TempTree();
        var first = await flights.TrainAsync(a, job);
        var second = await flights.TrainAsync(b, job);
        var otherSeed = await flights.TrainAsync(c, job with { Hyperparameters = new Dictionary<string, string>(hyperparameters) { ["seed"] = "8" } });

        Assert.Equal(Flatten(first.Result.Metrics.Channels), Flatten(second.Result.Metrics.Channels));
        Assert.Equal(first.Result.Metrics.FeatureImportance, second.Result.Metrics.FeatureImportance);
        Assert.Equal(first.Result.Manifest.TrainingData["train"].Sha256, second.Result.Manifest.TrainingData["train"].Sha256);
        Assert.NotEqual(Flatten(first.Result.Metrics.Channels), Flatten(otherSeed.Result.Metrics.Channels));
    }

    [Fact]
    public async Task DistanceBand_Multiclass_BeatsMajorityClass()
    {
        using var tree = new TempTree();
        var (result, layout, stdout) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.DistanceBand, 30_000, 10_000,
            Hyperparameters: new Dictionary<string, string> { ["importance_rows"] = "3000" }));

        Log(result);
        var validation = result.Metrics.Channels["validation"];
        Assert.True(validation.Metrics["micro_accuracy"] >= validation.Baseline["micro_accuracy"] + 0.20,
            $"micro accuracy {validation.Metrics["micro_accuracy"]:F4} vs majority {validation.Baseline["micro_accuracy"]:F4}");
        Assert.True(validation.Metrics["macro_accuracy"] >= 0.6, $"macro accuracy {validation.Metrics["macro_accuracy"]:F4}");
        Assert.Equal(["long", "medium", "short", "very_long"], result.Manifest.Classes!.Order());
        Assert.Equal(4, validation.ConfusionMatrix!.Counts.Count);
        Assert.Matches(@"(?m)^metric validation:macro_accuracy=0\.\d+$", stdout);

        using var package = ModelPackage.Load(layout.ModelDirectory);
        var predictions = package.Score(result.Validation.Select([0, 1, 2]));
        Assert.All(predictions, p => Assert.Contains((string)p.PredictedLabel!, result.Manifest.Classes!));
        Assert.All(predictions, p => Assert.Equal(1.0, p.ClassScores!.Values.Sum(), 3));
    }

    [Fact]
    public async Task Distance_Regression_BeatsTheMeanAndExportsOnnxThatAgrees()
    {
        using var tree = new TempTree();

        // Without the timestamp (a custom mapping) every step is ONNX-convertible.
        var (result, layout, stdout) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.Distance, 30_000, 10_000,
            Hyperparameters: new Dictionary<string, string> { ["exclude_columns"] = "date", ["importance_rows"] = "3000" }));

        Log(result);
        var validation = result.Metrics.Channels["validation"];
        Assert.True(validation.Metrics["r2"] >= 0.5, $"R² {validation.Metrics["r2"]:F4}");
        Assert.True(validation.Metrics["rmse"] <= 0.7 * validation.Baseline["rmse"], $"RMSE {validation.Metrics["rmse"]:F1} vs mean-predictor {validation.Baseline["rmse"]:F1}");
        Assert.Matches(@"(?m)^metric validation:rmse=\d+", stdout);
        Assert.Equal("not_applicable", result.Diagnostics.Findings.Single(f => f.Rule == "class_imbalance").Status);

        Assert.Equal("exported", result.Manifest.Onnx.Status);
        var rows = result.Validation.Select([.. Enumerable.Range(0, 200)]);
        using var loaded = ModelPackage.Load(layout.ModelDirectory);
        var expected = loaded.Score(rows).Select(p => p.Score).ToArray();
        var onnx = OnnxScoring.Score(Path.Combine(layout.ModelDirectory, ModelManifest.OnnxFileName), rows, "Score");
        Assert.Equal(expected.Length, onnx.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], onnx[i], 0.01f);
        }
    }

    [Fact]
    public async Task PlantedLeak_IsFlaggedByName()
    {
        using var tree = new TempTree();
        var (result, _, _) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.Delayed, 20_000, 5_000, PlantLeak: true,
            Hyperparameters: new Dictionary<string, string> { ["importance_rows"] = "0" }));

        var leak = result.Diagnostics.Findings.Single(f => f.Rule == "leaking_features");
        Assert.Equal(DiagnosticFinding.Issue, leak.Status);
        Assert.Contains("'delay_minutes'", leak.Message);
        Assert.DoesNotContain("'origin'", leak.Message);
        Assert.True(result.Diagnostics.Issues >= 1);
    }

    [Fact]
    public async Task PlantedOverfit_IsFlagged()
    {
        using var tree = new TempTree();

        // Huge trees with single-row leaves on 5,000 rows memorise them.
        var (result, _, _) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.Delayed, 5_000, 5_000,
            Hyperparameters: new Dictionary<string, string>
            {
                ["num_leaves"] = "512", ["min_data_in_leaf"] = "1", ["num_iterations"] = "300", ["learning_rate"] = "0.3", ["importance_rows"] = "0",
            }));

        var overfit = result.Diagnostics.Findings.Single(f => f.Rule == "overfitting");
        Assert.Equal(DiagnosticFinding.Issue, overfit.Status);
        Assert.True(result.Metrics.Channels["train"].Metrics["auc"] > 0.95);
        Assert.Equal(DiagnosticFinding.Issue, result.Diagnostics.Findings.Single(f => f.Rule == "loss_not_improving").Status);
    }

    private void Log(Mlops.Trainer.TrainingResult result)
    {
        foreach (var (channel, metrics) in result.Metrics.Channels)
        {
            output.WriteLine($"{channel}: {string.Join(", ", metrics.Metrics.Select(m => $"{m.Key}={m.Value:F4}"))}; baseline {string.Join(", ", metrics.Baseline.Select(m => $"{m.Key}={m.Value:F4}"))}");
        }
    }

    private static Dictionary<string, double> Flatten(IReadOnlyDictionary<string, Mlops.Trainer.Evaluation.ChannelMetrics> channels) =>
        channels.SelectMany(c => c.Value.Metrics.Select(m => KeyValuePair.Create($"{c.Key}:{m.Key}", m.Value))).ToDictionary();

    private static IReadOnlyList<IReadOnlyDictionary<string, object?>> AsJsonRows(DataTable table)
    {
        // Serving receives JSON: round-trip each row through System.Text.Json to get JsonElements.
        var rows = Enumerable.Range(0, table.RowCount).Select(i => table.Columns.ToDictionary(c => c.Name, c => c.Values.GetValue(i)));
        var json = JsonSerializer.Serialize(rows);
        return [.. JsonSerializer.Deserialize<List<Dictionary<string, JsonElement>>>(json)!
            .Select(r => (IReadOnlyDictionary<string, object?>)r.ToDictionary(p => p.Key, p => (object?)p.Value))];
    }

    private static string Sha256Of(string file, string relativePath)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(relativePath + "\n"));
        hash.AppendData(File.ReadAllBytes(file));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
