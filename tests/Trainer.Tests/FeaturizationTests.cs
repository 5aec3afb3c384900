using System.Globalization;
using System.Text;
using Mlops.Trainer;
using Mlops.Trainer.Model;

namespace Trainer.Tests;

/// <summary>Every column kind through CSV type inference, featurization, a linear learner and the package round trip.</summary>
public sealed class FeaturizationTests
{
    [Theory]
    [InlineData("sdca")]
    [InlineData("fastforest")]
    public async Task AllColumnKinds_TrainFromCsv_AndScoreAfterReload(string algorithm)
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree,
            new() { ["label"] = "label", ["algorithm"] = algorithm, ["max_onehot_cardinality"] = "10", ["text_columns"] = "note", ["_tuning_objective_metric"] = "validation:auc" },
            ("train", "part-1.csv", Csv(3000, 1)), ("train", "part-2.csv", Csv(1000, 2)), ("validation", "v.csv", Csv(1000, 3)));

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(ProblemType.Binary, result.Manifest.ProblemType);
        Assert.Equal(
            ["amount:number", "member:boolean", "city:text", "user:text", "note:text", "seen:timestamp"],
            result.Manifest.InputSchema.Select(c => $"{c.Name}:{c.Type}"));
        string Treatment(string column) => result.Manifest.Featurization.Single(f => f.Column == column).Treatment;
        Assert.Contains("missing indicator", Treatment("amount"));
        Assert.StartsWith("categorical: one-hot", Treatment("city"));
        Assert.StartsWith("categorical: hashed", Treatment("user"));
        Assert.StartsWith("free text", Treatment("note"));
        Assert.Contains("hour", Treatment("seen"));
        Assert.StartsWith("dropped", Treatment("constant"));
        Assert.Equal("issue", DiagnosticFindingStatus("constant_features", result));

        // The label depends on amount, membership, the evening hour and the word "urgent": a model must find it.
        Assert.True(result.Metrics.Channels["validation"].Metrics["auc"] > 0.85, $"AUC {result.Metrics.Channels["validation"].Metrics["auc"]:F3}");
        Assert.Equal(2, result.Manifest.TrainingData["train"].Files.Count);

        using var package = ModelPackage.Load(layout.ModelDirectory);
        var rows = new List<IReadOnlyDictionary<string, object?>>
        {
            new Dictionary<string, object?> { ["amount"] = 90.0, ["member"] = true, ["city"] = "c1", ["user"] = "u5", ["note"] = "urgent please", ["seen"] = "2024-03-01T20:30:00Z" },
            new Dictionary<string, object?> { ["amount"] = null, ["member"] = false, ["city"] = "never-seen", ["user"] = "x", ["note"] = null, ["seen"] = null },
        };
        var predictions = package.Score(rows);
        Assert.True(predictions[0].Probability > predictions[1].Probability);
        Assert.All(predictions, p => Assert.InRange(p.Probability!.Value, 0f, 1f));
    }

    [Fact]
    public async Task ContentTypeInInputDataConfig_OverridesTheFileExtension()
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "sdca", ["importance_rows"] = "0" },
            ("train", "part-00000", Csv(800, 7)), ("validation", "part-00000", Csv(300, 8)));
        File.WriteAllText(layout.InputDataConfigPath, """
            {"train": {"ContentType": "text/csv", "TrainingInputMode": "File"}, "validation": {"ContentType": "text/csv"}}
            """);

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(800, result.Manifest.TrainingData["train"].Rows);
        Assert.Equal(["part-00000"], result.Manifest.TrainingData["validation"].Files);
    }

    [Fact]
    public async Task ZeroOneNumericLabel_IsInferredAsBinary()
    {
        static string ZeroOne(string csv) => string.Join('\n', csv.Split('\n').Select((line, i) =>
            i == 0 || line.Length == 0 ? line : line[..line.LastIndexOf(',')] + (line.EndsWith(",true", StringComparison.Ordinal) ? ",1" : ",0")));
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "lbfgs", ["importance_rows"] = "0" },
            ("train", "t.csv", ZeroOne(Csv(800, 9))), ("validation", "v.csv", ZeroOne(Csv(300, 10))));

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(ProblemType.Binary, result.Manifest.ProblemType);
        Assert.True(result.Metrics.Channels["validation"].Metrics["auc"] > 0.8);
    }

    [Theory]
    [InlineData("label", "lightgbm")]
    [InlineData("label", "fasttree")]
    [InlineData("label", "fastforest")]
    [InlineData("label", "sdca")]
    [InlineData("label", "lbfgs")]
    [InlineData("city", "lightgbm")]
    [InlineData("city", "sdca")]
    [InlineData("city", "lbfgs")]
    [InlineData("amount", "lightgbm")]
    [InlineData("amount", "fasttree")]
    [InlineData("amount", "fastforest")]
    [InlineData("amount", "sdca")]
    public async Task EveryLearner_WithTheSameSeed_ReproducesMetricsAndPredictions(string label, string algorithm)
    {
        async Task<(TrainingResult Result, IReadOnlyList<Prediction> Predictions)> TrainAsync()
        {
            using var tree = new TempTree();
            var hyperparameters = new Dictionary<string, string> { ["label"] = label, ["algorithm"] = algorithm, ["seed"] = "11", ["importance_rows"] = "200", ["diagnostics_rows"] = "500" };
            if (algorithm == "lightgbm")
            {
                // Fewer rounds keep eight-class LightGBM quick; randomness (bagging by feature) stays on.
                hyperparameters["num_iterations"] = "30";
                hyperparameters["feature_fraction"] = "0.8";
            }

            var layout = BadInputTests.Layout(tree, hyperparameters,
                ("train", "t.csv", Csv(1500, 5)), ("validation", "v.csv", Csv(400, 6)));
            var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();
            using var package = ModelPackage.Load(layout.ModelDirectory);
            return (result, package.Score(result.Validation));
        }

        var first = await TrainAsync();
        var second = await TrainAsync();

        Assert.Equal(first.Result.Manifest.ProblemType, second.Result.Manifest.ProblemType);
        foreach (var (channel, metrics) in first.Result.Metrics.Channels)
        {
            Assert.Equal(metrics.Metrics, second.Result.Metrics.Channels[channel].Metrics);
        }

        Assert.Equal(first.Result.Metrics.FeatureImportance, second.Result.Metrics.FeatureImportance);
        Assert.Equal(first.Predictions.Select(p => (p.PredictedLabel, p.Score, p.Probability)), second.Predictions.Select(p => (p.PredictedLabel, p.Score, p.Probability)));
    }

    private static string DiagnosticFindingStatus(string rule, TrainingResult result) => result.Diagnostics.Findings.Single(f => f.Rule == rule).Status;

    /// <summary>Synthetic rows with every kind of column, and a label that depends on several of them.</summary>
    internal static string Csv(int rows, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("amount,member,city,user,note,seen,constant,label\n");
        for (var i = 0; i < rows; i++)
        {
            var amount = random.NextDouble() * 100;
            var member = random.Next(2) == 1;
            var city = $"c{random.Next(8)}";
            var user = $"u{random.Next(500)}";
            var urgent = random.Next(4) == 0;
            var note = urgent ? "this is urgent" : random.Next(2) == 0 ? "routine check" : "";
            var seen = new DateTime(2024, 1, 1).AddMinutes(random.Next(60 * 24 * 60));
            var evening = seen.Hour >= 18;
            var signal = amount / 50 + (member ? 1 : 0) + (evening ? 1 : 0) + (urgent ? 1.5 : 0) + random.NextDouble() * 0.8;
            var amountText = random.Next(20) == 0 ? "" : amount.ToString("F2", CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture, $"{amountText},{(member ? "true" : "false")},{city},{user},\"{note}\",{seen:yyyy-MM-ddTHH:mm:ss},1,{(signal > 2.6 ? "true" : "false")}\n");
        }

        return text.ToString();
    }
}
