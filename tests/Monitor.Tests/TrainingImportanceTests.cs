using System.Globalization;
using System.Text;
using System.Text.Json;
using Mlops.Monitor.Features.Attribution;
using Mlops.Monitor.Features.Datasets;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;
using Mlops.Trainer;
using Mlops.Trainer.Model;

namespace Mlops.Monitor.Tests;

/// <summary>
/// Attribution drift against the training importance: a small model trained with importance on (the label is driven by x1
/// strongly, x2 weakly, never by x3) records its permutation importance in package.json; the monitor measures the same
/// importance on labelled rows the same way (exactly the recorded values on the validation rows themselves); with x1's link
/// to the label broken the ranking changes and NDCG drops below 0.90.
/// </summary>
public sealed class TrainingImportanceTests : IClassFixture<TrainingImportanceTests.ImportanceModel>
{
    private readonly ImportanceModel model;

    public TrainingImportanceTests(ImportanceModel model) => this.model = model;

    public sealed class ImportanceModel : IDisposable
    {
        private readonly CsvModel model;

        public ImportanceModel()
        {
            Validation = Labelled(400, seed: 2);
            model = new CsvModel(Csv(Labelled(3000, seed: 1)), Csv(Validation), new Dictionary<string, string> { ["label"] = "label", ["algorithm"] = "sdca" });
        }

        public List<(Dictionary<string, object?> Row, bool Label)> Validation { get; }

        public TrainingResult Result => model.Result;

        public string PackageJson => model.PackageJson;

        public ModelPackage Package => model.Package;

        public void Dispose() => model.Dispose();
    }

    // Values with three decimals, so the CSV the trainer reads and the doubles the monitor binds are the same floats.
    private static List<(Dictionary<string, object?> Row, bool Label)> Labelled(int n, int seed)
    {
        var random = new Random(seed);
        double Next() => Math.Round(random.NextDouble() * 2 - 1, 3);
        return [.. Enumerable.Range(0, n).Select(_ =>
        {
            var row = new Dictionary<string, object?> { ["x1"] = Next(), ["x2"] = Next(), ["x3"] = Next() };
            return (row, 3 * (double)row["x1"]! + 0.7 * (double)row["x2"]! + random.NextDouble() - 0.5 > 0);
        })];
    }

    private static string Csv(IEnumerable<(Dictionary<string, object?> Row, bool Label)> rows)
    {
        var csv = new StringBuilder("x1,x2,x3,label\n");
        foreach (var (row, label) in rows) csv.Append(string.Create(CultureInfo.InvariantCulture, $"{row["x1"]},{row["x2"]},{row["x3"]},{(label ? 1 : 0)}\n"));
        return csv.ToString();
    }

    private Dictionary<string, double> Measure(IReadOnlyList<(Dictionary<string, object?> Row, bool Label)> rows)
    {
        var recorded = model.Package.Manifest.FeatureImportance!;
        var metric = TrainingImportance.Metric(recorded.Metric, model.Package.Manifest.ProblemType, [.. rows.Select(r => (object)r.Label)], out var reason);
        Assert.True(metric is not null, reason);
        return TrainingImportance.Measure(model.Package, recorded, model.Package.ToTable([.. rows.Select(r => (IReadOnlyDictionary<string, object?>)r.Row)]), metric!);
    }

    [Fact]
    public void ThePackage_RecordsThePermutationImportance_OfTheValidationRows()
    {
        var recorded = model.Package.Manifest.FeatureImportance;
        Assert.NotNull(recorded);
        Assert.Equal(("auc", true, "validation", 400L, 3), (recorded!.Metric, recorded.HigherIsBetter, recorded.Channel, recorded.Rows, recorded.Repeats));
        Assert.Equal(model.Result.Metrics.FeatureImportance, recorded.Columns);
        Assert.Equal(["x1", "x2", "x3"], recorded.Columns.Select(c => c.Column));
        using var json = JsonDocument.Parse(model.PackageJson);
        Assert.Equal("auc", json.RootElement.GetProperty("feature_importance").GetProperty("metric").GetString());
        Assert.Equal("x1", json.RootElement.GetProperty("feature_importance").GetProperty("columns")[0].GetProperty("column").GetString());
    }

    [Fact]
    public void Measured_OnTheValidationRows_IsExactlyTheRecordedImportance()
    {
        var measured = Measure(model.Validation);
        foreach (var c in model.Package.Manifest.FeatureImportance!.Columns) Assert.Equal(c.Importance, measured[c.Column], 12);
    }

    [Fact]
    public void NewRowsOfTheSameWorld_KeepTheRanking_AndX1ScrambledAgainstTheLabel_Drifts()
    {
        var training = model.Package.Manifest.FeatureImportance!.Columns.ToDictionary(c => c.Column, c => c.Importance);
        var same = Measure(Labelled(400, seed: 3));
        Assert.False(AttributionDrift.Drifted(TrainingImportance.Ndcg(training, same)), $"NDCG {TrainingImportance.Ndcg(training, same)}");

        // x1 shuffled among the rows, the labels kept: x1's marginal is unchanged (input drift sees nothing), its link to the label is gone.
        var rows = Labelled(400, seed: 4);
        var x1 = rows.Select(r => r.Row["x1"]).ToArray();
        new Random(5).Shuffle(x1);
        var scrambled = rows.Select((r, i) => (new Dictionary<string, object?>(r.Row) { ["x1"] = x1[i] }, r.Label)).ToList();
        var current = Measure(scrambled);
        Assert.True(current["x2"] > current["x1"], $"x1 {current["x1"]}, x2 {current["x2"]}");
        var ndcg = TrainingImportance.Ndcg(training, current);
        Assert.True(AttributionDrift.Drifted(ndcg), $"NDCG {ndcg}");
    }

    [Fact]
    public void Ndcg_CountsNegativeImportanceAsNone()
    {
        var training = new Dictionary<string, double> { ["a"] = 0.3, ["b"] = 0.1, ["c"] = -0.02 };
        // c's −0.02 is noise: it is no gain, and a current −0.05 ranks like 0, behind b's 0.
        Assert.Equal(1, TrainingImportance.Ndcg(training, new Dictionary<string, double> { ["a"] = 0.2, ["b"] = 0.05, ["c"] = -0.05 }), 12);
        var swapped = TrainingImportance.Ndcg(training, new Dictionary<string, double> { ["a"] = 0.01, ["b"] = 0.2, ["c"] = 0.1 });
        Assert.Equal((0.1 + 0 / Math.Log2(3) + 0.3 / 2) / (0.3 + 0.1 / Math.Log2(3)), swapped, 12);
        Assert.True(double.IsNaN(TrainingImportance.Ndcg(new Dictionary<string, double> { ["a"] = -0.1, ["b"] = 0 }, training)));
    }

    [Fact]
    public void Labels_AreReadAsTheModelsProblemType()
    {
        Assert.Equal(true, TrainingImportance.ParseLabel("1", ProblemType.Binary, null));
        Assert.Equal(false, TrainingImportance.ParseLabel(0L, ProblemType.Binary, null));
        Assert.Equal(true, TrainingImportance.ParseLabel("late", ProblemType.Binary, "late"));
        Assert.Null(TrainingImportance.ParseLabel("maybe", ProblemType.Binary, null));
        Assert.Null(TrainingImportance.ParseLabel(2.0, ProblemType.Binary, null));
        Assert.Equal("7", TrainingImportance.ParseLabel(7L, ProblemType.Multiclass, null));
        Assert.Equal(2.5, TrainingImportance.ParseLabel("2.5", ProblemType.Regression, null));
        Assert.Null(TrainingImportance.ParseLabel("n/a", ProblemType.Regression, null));

        Assert.Null(TrainingImportance.Metric("auc", ProblemType.Binary, [true, true], out var oneClass));
        Assert.Contains("both classes", oneClass);
        Assert.Null(TrainingImportance.Metric("log_loss", ProblemType.Binary, [true, false], out var unknown));
        Assert.Contains("log_loss", unknown);
        var rmse = TrainingImportance.Metric("rmse", ProblemType.Regression, [1.0, 3.0], out _)!;
        Assert.Equal(Math.Sqrt((1 + 1) / 2.0), rmse([new Prediction(null, 2, null, null), new Prediction(null, 2, null, null)]), 12);
    }

    [Fact]
    public void LabelledRowSample_KeepsOnlyOneRowEventsWithALabel_LabelsAligned()
    {
        var labels = Enumerable.Range(0, 1000).Where(i => i % 2 == 0).ToDictionary(i => $"id-{i}", i => (i % 4 == 0 ? 1 : 0).ToString(CultureInfo.InvariantCulture));
        var sample = new RowSample(50, seed: 9, labels: labels);
        for (var i = 0; i < 1000; i++) sample.AddEvent([new Dictionary<string, object?> { ["i"] = i }], $"id-{i}");
        sample.AddEvent([new Dictionary<string, object?> { ["i"] = 2000 }, new Dictionary<string, object?> { ["i"] = 2001 }], "id-0"); // two rows: no per-row id
        sample.AddEvent([new Dictionary<string, object?> { ["i"] = 3000 }], null);
        Assert.Equal(500, sample.Seen);
        Assert.Equal(50, sample.Rows.Count);
        Assert.Equal(50, sample.Labels.Count);
        for (var k = 0; k < 50; k++)
        {
            var i = (int)sample.Rows[k]["i"]!;
            Assert.Equal(0, i % 2);
            Assert.Equal(labels[$"id-{i}"], sample.Labels[k]);
        }
    }

    [Fact]
    public void CaptureAccumulator_WithLabels_SamplesTheLabelledRequests()
    {
        var profile = new DatasetProfile(1, [new ColumnProfile("x1", ColumnKind.Numerical, InferredTypes.Fractional, 1, 0, NumericDistribution.FromValues([0.5]), null)]);
        var sample = new RowSample(10, labels: new Dictionary<string, string> { ["a"] = "1", ["c"] = "0" });
        var accumulator = new CaptureAccumulator(profile, DateTimeOffset.MinValue, DateTimeOffset.MaxValue, sample: sample);
        foreach (var (id, x) in new[] { ("a", 0.5), ("b", 0.25), ("c", -1.0) })
            accumulator.Add(JsonSerializer.Serialize(new
            {
                captureData = new { endpointInput = new { observedContentType = "application/json", mode = "INPUT", data = $$"""{"inputs":[{"x1":{{x.ToString(CultureInfo.InvariantCulture)}}}]}""", encoding = "JSON" } },
                eventMetadata = new { eventId = Guid.NewGuid().ToString(), inferenceId = id, inferenceTime = "2026-01-01T00:00:00Z" },
                eventVersion = "0",
            }));
        Assert.Equal([0.5, -1.0], sample.Rows.Select(r => (double)r["x1"]!));
        Assert.Equal(["1", "0"], sample.Labels);
    }

    [Fact]
    public void Options_TrainingReferenceFieldsAreChecked()
    {
        var errors = new List<string>();
        AttributionOptions.Validate(new AttributionOptions(Reference: "yesterday"), isCapture: true, errors);
        AttributionOptions.Validate(new AttributionOptions(FeatureAttributions.FeatureContribution, Reference: "training"), isCapture: true, errors);
        AttributionOptions.Validate(new AttributionOptions(Reference: "training", Label: "delayed"), isCapture: true, errors);
        AttributionOptions.Validate(new AttributionOptions(Label: "delayed"), isCapture: false, errors);
        AttributionOptions.Validate(new AttributionOptions(Reference: "training", Label: " "), isCapture: false, errors);
        Assert.Equal(5, errors.Count);
        Assert.Contains("'attribution.reference'", errors[0]);
        Assert.Contains("'attribution.method'", errors[1]);
        Assert.All(errors.Skip(2), e => Assert.Contains("'attribution.label'", e));
        errors.Clear();
        AttributionOptions.Validate(new AttributionOptions(FeatureAttributions.Permutation, Reference: "training", Label: "delayed"), isCapture: false, errors);
        Assert.Empty(errors);
    }
}
