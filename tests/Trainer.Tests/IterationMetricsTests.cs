using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Mlops.Trainer;
using Mlops.Trainer.Learners;
using Mlops.Trainer.Model;
using Mlops.Trainer.Samples;
using Mlops.Trainer.SageMaker;

namespace Trainer.Tests;

/// <summary>
/// Per-iteration metric lines of the tree learners: printed while the learner trains (before the package exists), with an
/// iteration, and real (the last iteration's value is the learner's own evaluation of the final model).
/// </summary>
[Collection(FlightsCollection.Name)]
public sealed partial class IterationMetricsTests(FlightsFixture flights)
{
    [GeneratedRegex(@"^metric (?<name>(train|validation):[a-z_]+)=(?<value>[0-9.eE+-]+) iteration=(?<iteration>\d+)(?<replayed> replayed)?$")]
    private static partial Regex IterationLine();

    [Fact]
    public async Task LightGbm_ReportsItsNativeValidationAuc_Every50Iterations_WhileTraining()
    {
        var (lines, result) = await TrainAsync(FlightsTask.Delayed, new() { ["algorithm"] = "lightgbm", ["num_iterations"] = "120" });

        var auc = lines.Where(l => l.Name == "validation:auc").ToList();
        Assert.Equal([50, 100], auc.Select(l => l.Iteration));
        Assert.Equal([50, 100], lines.Where(l => l.Name == "train:auc").Select(l => l.Iteration));
        Assert.All(lines, l => Assert.False(l.Replayed));
        Assert.All(lines, l => Assert.False(l.PackageExisted, $"'{l.Line}' was printed after the package was written"));
        Assert.All(auc, l => Assert.InRange(l.Value, 0.5, 0.85));

        // LightGBM's own AUC at 100 trees is close to ML.NET's evaluation of the 120-tree model on the same rows: the
        // lines carry the learner's numbers, not placeholders (Platt calibration leaves AUC unchanged).
        Assert.InRange(auc[^1].Value - result.Metrics.Channels["validation"].Metrics["auc"], -0.01, 0.01);
    }

    [Fact]
    public async Task FastTree_ReportsLossAndErrorRate_AfterEveryTree_WhileTraining()
    {
        var (lines, _) = await TrainAsync(FlightsTask.Delayed, new() { ["algorithm"] = "fasttree", ["num_trees"] = "15" });

        foreach (var name in new[] { "train:loss", "train:error_rate", "validation:loss", "validation:error_rate" })
            Assert.Equal(Enumerable.Range(1, 15), lines.Where(l => l.Name == name).Select(l => l.Iteration));
        Assert.All(lines, l => Assert.False(l.PackageExisted, $"'{l.Line}' was printed after the package was written"));

        // Boosting lowers the training loss tree after tree.
        var loss = lines.Where(l => l.Name == "train:loss").Select(l => l.Value).ToList();
        Assert.True(loss[^1] < loss[0], $"train loss went from {loss[0]} to {loss[^1]}");
    }

    [Fact]
    public async Task FastTreeRegression_ValidationRmseAtTheLastTree_IsTheFinalModelsRmse()
    {
        var (lines, result) = await TrainAsync(FlightsTask.Distance, new() { ["algorithm"] = "fasttree", ["num_trees"] = "10" });

        var rmse = lines.Where(l => l.Name == "validation:rmse").ToList();
        Assert.Equal(Enumerable.Range(1, 10), rmse.Select(l => l.Iteration));
        Assert.Equal(result.Metrics.Channels["validation"].Metrics["rmse"], rmse[^1].Value, 0.5);
        Assert.True(rmse[^1].Value < rmse[0].Value, "validation RMSE must fall as trees are added");
    }

    [Fact]
    public async Task FastForest_ComputesNothingWhileTraining_SoItsCurveIsReplayed_AndSaysSo()
    {
        var (lines, result) = await TrainAsync(FlightsTask.Delayed, new() { ["algorithm"] = "fastforest", ["num_trees"] = "10" });

        var auc = lines.Where(l => l.Name == "validation:auc").ToList();
        Assert.Equal(Enumerable.Range(1, 10), auc.Select(l => l.Iteration));
        Assert.All(lines, l => Assert.True(l.Replayed));
        Assert.All(result.Diagnostics.LearningCurve!.Validation.Zip(auc), p => Assert.Equal(p.First, p.Second.Value, 1e-6));
    }

    [Fact]
    public void Lines_CarryTheIteration_InTheFormTheMetricRegexesRead()
    {
        Assert.Equal("metric validation:auc=0.712346 iteration=17", new IterationMetric("validation:auc", 0.7123456, 17).Line());
        Assert.Equal("metric train:rmse=3 iteration=2 replayed", new IterationMetric("train:rmse", 3, 2, Replayed: true).Line());
        Assert.Matches("metric validation:auc=([0-9.eE+-]+)", new IterationMetric("validation:auc", 0.5, 1).Line());

        var parsed = IterationMetrics.ParseFastTree("train.ErrorRate=0.2\ntrain.LossRate=0.62\nvalid.ErrorRate=0.16\nvalid.L2=4.5\n", 3);
        Assert.Equal([("train:error_rate", 0.2), ("train:loss", 0.62), ("validation:error_rate", 0.16), ("validation:rmse", 4.5)],
            parsed.Select(m => (m.Name, m.Value)));
        Assert.All(parsed, m => Assert.Equal(3, m.Iteration));
    }

    private sealed record Seen(string Line, string Name, double Value, int Iteration, bool Replayed, bool PackageExisted);

    private async Task<(List<Seen> Lines, TrainingResult Result)> TrainAsync(FlightsTask task, Dictionary<string, string> hyperparameters)
    {
        using var tree = new TempTree();
        hyperparameters["importance_rows"] = "0";
        hyperparameters["diagnostics_rows"] = "2000";
        var layout = await FlightsSample.WriteJobAsync(flights.Flights, tree.Path, new FlightsJob(task, 8_000, 2_000, Hyperparameters: hyperparameters));
        var stdout = new RecordingWriter(layout);
        var result = await new TrainingJob(layout, stdout, new StringWriter()).TrainAsync();
        return (stdout.Lines, result);
    }

    /// <summary>Records each metric line with an iteration, and whether the model package existed when it was written.</summary>
    private sealed class RecordingWriter(TrainingLayout layout) : StringWriter
    {
        public List<Seen> Lines { get; } = [];

        public override void WriteLine(string? value)
        {
            Record(value);
            base.WriteLine(value);
        }

        public override Task WriteLineAsync(string? value)
        {
            WriteLine(value);
            return Task.CompletedTask;
        }

        public override Encoding Encoding => Encoding.UTF8;

        private void Record(string? line)
        {
            if (line is null || IterationLine().Match(line) is not { Success: true } m)
                return;
            lock (Lines)
                Lines.Add(new Seen(line, m.Groups["name"].Value, double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture),
                    int.Parse(m.Groups["iteration"].Value, CultureInfo.InvariantCulture), m.Groups["replayed"].Success,
                    File.Exists(Path.Combine(layout.ModelDirectory, ModelManifest.ModelFileName))));
        }
    }
}
