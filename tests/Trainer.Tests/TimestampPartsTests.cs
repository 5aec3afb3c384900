using System.Globalization;
using System.Text;
using Mlops.Trainer;
using Microsoft.ML;
using Microsoft.ML.Data;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Featurization;
using Mlops.Trainer.Model.Tabular;

namespace Trainer.Tests;

/// <summary>Timestamp parts: a year part, and parts that are constant in training (a date-only column's hour) are dropped.</summary>
public sealed class TimestampPartsTests
{
    [Fact]
    public async Task DateOnlyColumn_DropsHourAndMinute_AndTheYearPartCarriesALabelThatDependsOnTheYear()
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "lightgbm", ["num_iterations"] = "40", ["importance_rows"] = "500" },
            ("train", "t.csv", YearCsv(1500, 51)), ("validation", "v.csv", YearCsv(500, 52)));

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        var day = result.Manifest.Featurization.Single(f => f.Column == "day");
        Assert.Equal(["year", "month", "day_of_month", "day_of_week", "day_of_year"], day.Parts);
        Assert.Contains("constant in training, dropped: hour, minute_of_day", day.Treatment);
        var seen = result.Manifest.Featurization.Single(f => f.Column == "seen");
        Assert.Equal(["month", "day_of_month", "day_of_week", "hour", "minute_of_day", "day_of_year"], seen.Parts);

        // Only the year separates the classes: month and day of year repeat every year.
        var validation = result.Metrics.Channels["validation"].Metrics;
        Assert.True(validation["auc"] > 0.95, $"AUC {validation["auc"]:F3}");
        Assert.Equal("day", result.Metrics.FeatureImportance[0].Column);

        using var package = ModelPackage.Load(layout.ModelDirectory);
        var rows = new[] { "2022-06-15", "2025-06-15" }.Select(d =>
            (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?> { ["day"] = d, ["seen"] = "2020-03-01T08:15:00", ["noise"] = 0.5 }).ToList();
        var predictions = package.Score(rows);
        Assert.True(predictions[0].Probability < 0.2 && predictions[1].Probability > 0.8,
            $"P(2022) {predictions[0].Probability:F3}, P(2025) {predictions[1].Probability:F3}");
    }

    [Fact]
    public async Task TimestampWhosePartsAreAllConstant_IsDroppedAsConstant()
    {
        using var tree = new TempTree();
        var csv = new StringBuilder("stamp,x,label\n");
        for (var i = 0; i < 200; i++)
        {
            // Same minute every row, differing only in seconds: no part varies.
            csv.Append(CultureInfo.InvariantCulture, $"2024-05-06T07:08:{i % 60:00},{i},{(i % 2 == 0 ? "true" : "false")}\n");
        }

        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "sdca", ["importance_rows"] = "0" },
            ("train", "t.csv", csv.ToString()), ("validation", "v.csv", csv.ToString()));

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(["x:number"], result.Manifest.InputSchema.Select(c => $"{c.Name}:{c.Type}"));
        Assert.StartsWith("dropped", result.Manifest.Featurization.Single(f => f.Column == "stamp").Treatment);
    }

    [Fact]
    public void ModelWithTheSixPartMapping_StillLoadsAndMaps()
    {
        // Packages written before the year part name the v1 contract in model.zip; the loader must still resolve it.
        var ml = new MLContext(1);
        var input = new TableDataView(new DataTable([TableColumn.Timestamps(TimestampParts.InputColumn, [new DateTime(2023, 7, 14, 9, 30, 0)])]));
        var model = ml.Transforms.CustomMapping(new TimestampPartsV1().GetMapping(), TimestampPartsV1.ContractName).Fit(input);
        using var tree = new TempTree();
        var path = Path.Combine(tree.Path, "v1.zip");
        ml.Model.Save(model, input.Schema, path);

        var loaded = ModelPackage.CreateContext(1).Model.Load(path, out _);

        var parts = loaded.Transform(input).GetColumn<float[]>("__timestamp_parts").Single();
        Assert.Equal([7f, 14f, (float)DayOfWeek.Friday, 9f, 9 * 60 + 30f, 195f], parts);
    }

    /// <summary>Dates (no time) over 2022–2025 whose label is "the year is 2024 or later"; a timestamp column from one year with times; noise.</summary>
    private static string YearCsv(int rows, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder("day,seen,noise,label\n");
        for (var i = 0; i < rows; i++)
        {
            var day = new DateTime(2022, 1, 1).AddDays(random.Next(4 * 365));
            var seen = new DateTime(2020, 1, 1).AddMinutes(random.Next(300 * 24 * 60));
            text.Append(CultureInfo.InvariantCulture, $"{day:yyyy-MM-dd},{seen:yyyy-MM-ddTHH:mm:ss},{random.NextDouble():F4},{(day.Year >= 2024 ? "true" : "false")}\n");
        }

        return text.ToString();
    }
}
