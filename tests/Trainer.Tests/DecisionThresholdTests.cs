using System.Text.Json;
using Mlops.Trainer.Evaluation;
using Mlops.Trainer.Model;
using Mlops.Trainer.Samples;
using Xunit.Abstractions;

namespace Trainer.Tests;

/// <summary>Binary models predict at a threshold chosen on validation, recorded in the package and applied by its scorer.</summary>
[Collection(FlightsCollection.Name)]
public sealed class DecisionThresholdTests(FlightsFixture flights, ITestOutputHelper output)
{
    [Fact]
    public async Task DelayModel_ThresholdMaximisingF1_BeatsHalf_AndThePackagePredictsWithIt()
    {
        using var tree = new TempTree();
        var (result, layout, stdout) = await flights.TrainAsync(tree, new FlightsJob(FlightsTask.Delayed, 30_000, 10_000, SampleSeed: 3,
            Hyperparameters: new Dictionary<string, string> { ["importance_rows"] = "0" }));

        var validation = result.Metrics.Channels["validation"].Metrics;
        output.WriteLine(string.Join(", ", validation.Select(m => $"{m.Key}={m.Value:F4}")));
        var threshold = result.Manifest.DecisionThreshold!.Value;
        Assert.InRange(threshold, 0.01, 0.99);
        Assert.Equal(threshold, validation["decision_threshold"]);
        Assert.Equal(threshold, result.Metrics.DecisionThreshold);
        Assert.True(validation["f1"] >= validation["f1_at_0.5"], $"F1 {validation["f1"]:F4} at {threshold:F4} vs {validation["f1_at_0.5"]:F4} at 0.5");
        Assert.True(validation["recall"] > validation["recall_at_0.5"], "a fifth of flights are delayed; the chosen threshold must find more of them than 0.5");
        Assert.Equal("f1", result.Manifest.Hyperparameters["decision_threshold"]);

        // No other cut of the validation probabilities gives a higher F1.
        var probabilities = ModelPackage.ReadPredictions(result.Manifest, result.Model.Transform(new Mlops.Trainer.Model.Tabular.TableDataView(result.Validation)))
            .Select(p => p.Probability!.Value).ToArray();
        var labels = (bool[])result.Validation["delayed"].Values;
        foreach (var cut in new[] { 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5 })
        {
            Assert.True(ThresholdCounts.At(probabilities, labels, cut).F1 <= validation["f1"] + 1e-12, $"F1 at {cut} beats the chosen threshold");
        }

        // The package, as Serving loads it, labels by the recorded threshold, not ML.NET's 0.5.
        var manifestJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout.ModelDirectory, ModelManifest.FileName)));
        Assert.Equal(threshold, manifestJson.RootElement.GetProperty("decision_threshold").GetDouble());
        using var package = ModelPackage.Load(layout.ModelDirectory);
        var predictions = package.Score(result.Validation);
        Assert.All(predictions, p => Assert.Equal(p.Probability >= threshold, (bool)p.PredictedLabel!));
        var predictedPositive = predictions.Count(p => (bool)p.PredictedLabel!);
        var confusion = result.Metrics.Channels["validation"].ConfusionMatrix!.Counts;
        Assert.Equal(confusion[0][0] + confusion[1][0], predictedPositive);
        Assert.True(predictedPositive > predictions.Count(p => p.Probability >= 0.5), "the chosen threshold predicts more delays than 0.5");

        Assert.Matches(@"(?m)^metric validation:f1_at_0\.5=0(\.\d+)?$", stdout);
        Assert.Matches(@"(?m)^metric validation:decision_threshold=0\.\d+$", stdout);

        // Flights span one year only: a year part would be constant, so it is not a feature.
        Assert.DoesNotContain("year", result.Manifest.Featurization.Single(f => f.Column == "date").Parts!);
    }

    [Fact]
    public async Task GivenThreshold_IsRecorded_AndUsedForTheLabels()
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "lbfgs", ["importance_rows"] = "0", ["decision_threshold"] = "0.35" },
            ("train", "t.csv", FeaturizationTests.Csv(900, 41)), ("validation", "v.csv", FeaturizationTests.Csv(400, 42)));

        var result = await new Mlops.Trainer.TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(0.35, result.Manifest.DecisionThreshold);
        Assert.Equal(0.35, result.Metrics.Channels["validation"].Metrics["decision_threshold"]);
        using var package = ModelPackage.Load(layout.ModelDirectory);
        var predictions = package.Score(result.Validation);
        Assert.Contains(predictions, p => p.Probability is >= 0.35f and < 0.5f);
        Assert.All(predictions, p => Assert.Equal(p.Probability >= 0.35, (bool)p.PredictedLabel!));
        var accuracy = predictions.Zip((bool[])result.Validation["label"].Values).Average(x => (bool)x.First.PredictedLabel! == x.Second ? 1.0 : 0.0);
        Assert.Equal(accuracy, result.Metrics.Channels["validation"].Metrics["accuracy"], 12);
    }

    [Theory]
    [InlineData("0", "must be strictly between 0 and 1")]
    [InlineData("1", "must be strictly between 0 and 1")]
    [InlineData("maximum", "must be a number or \"f1\"")]
    public async Task InvalidThreshold_IsRefused(string value, string expected)
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["decision_threshold"] = value },
            ("train", "t.csv", FeaturizationTests.Csv(100, 43)), ("validation", "v.csv", FeaturizationTests.Csv(100, 44)));

        Assert.Contains($"'decision_threshold' {expected}", await BadInputTests.FailAsync(layout));
    }

    [Fact]
    public async Task ThresholdOnARegression_IsRefused()
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "amount", ["decision_threshold"] = "0.3" },
            ("train", "t.csv", FeaturizationTests.Csv(100, 45)), ("validation", "v.csv", FeaturizationTests.Csv(100, 46)));

        Assert.Contains("'decision_threshold' applies to binary problems only", await BadInputTests.FailAsync(layout));
    }

    [Fact]
    public void MaximisingF1_PicksTheBestCut_AndKeepsTiesTogether()
    {
        // Sorted by probability: 0.9 (true), 0.7 and 0.7 (true, false), 0.4 (true), 0.2 (false).
        float[] probabilities = [0.7f, 0.2f, 0.9f, 0.4f, 0.7f];
        bool[] labels = [true, false, true, true, false];

        var threshold = DecisionThreshold.MaximisingF1(probabilities, labels);

        // Cuts: ≥0.9 → F1 0.5; ≥0.7 → 0.667; ≥0.4 → 0.857; ≥0.2 → 0.75.
        Assert.Equal(0.4f, (float)threshold!.Value);
        Assert.Equal(6.0 / 7, ThresholdCounts.At(probabilities, labels, threshold.Value).F1, 12);
        Assert.Null(DecisionThreshold.MaximisingF1(probabilities, [false, false, false, false, false]));
    }
}
