using System.Text.Json;
using Mlops.Trainer;
using Mlops.Trainer.Model;
using Parquet;
using Parquet.Schema;

namespace Trainer.Tests;

/// <summary>Rows whose label is missing are dropped for every problem type and counted, never read as a class.</summary>
public sealed class MissingLabelTests
{
    [Theory]
    [InlineData("true/false", 21)]
    [InlineData("1/0", 22)]
    public async Task BlankBinaryLabel_IsDropped_Counted_AndNotClassZero(string spelling, int seed)
    {
        using var tree = new TempTree();
        var (train, trainBlanks, trainPositives) = WithBlankLabels(FeaturizationTests.Csv(1200, seed), every: 7, spelling);
        var (validation, validationBlanks, _) = WithBlankLabels(FeaturizationTests.Csv(500, seed + 100), every: 9, spelling);
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "sdca", ["importance_rows"] = "0" },
            ("train", "t.csv", train), ("validation", "v.csv", validation));
        var stdout = new StringWriter();

        var result = await new TrainingJob(layout, stdout, new StringWriter()).TrainAsync();

        Assert.Equal(ProblemType.Binary, result.Manifest.ProblemType);
        Assert.Equal(trainBlanks, result.Metrics.MissingLabelRows["train"]);
        Assert.Equal(validationBlanks, result.Metrics.MissingLabelRows["validation"]);
        Assert.Equal(1200 - trainBlanks, result.Metrics.Timing.TrainRows);

        // Read as class 0, the blanks would lower the positive rate and join the validation rows as negatives.
        Assert.Equal((double)trainPositives / (1200 - trainBlanks), result.Metrics.Channels["validation"].Baseline["positive_rate_train"], 12);
        var validationMetrics = result.Metrics.Channels["validation"];
        Assert.Equal(500 - validationBlanks, validationMetrics.Rows);
        Assert.Equal(500 - validationBlanks, validationMetrics.ConfusionMatrix!.Counts.SelectMany(r => r).Sum());

        var output = stdout.ToString();
        Assert.Contains($"dropped {trainBlanks} train row(s) whose label 'label' is missing", output);
        Assert.Matches($"(?m)^metric validation:missing_label_rows={validationBlanks}$", output);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout.OutputDataDirectory, "metrics.json")));
        Assert.Equal(trainBlanks, json.RootElement.GetProperty("missing_label_rows").GetProperty("train").GetInt64());
    }

    [Fact]
    public async Task BlankRegressionAndMulticlassLabels_AreDroppedAndCounted()
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "city", ["algorithm"] = "lbfgs", ["importance_rows"] = "0" },
            ("train", "t.csv", BlankColumn(FeaturizationTests.Csv(900, 31), column: 2, every: 6, out var blankCities)), ("validation", "v.csv", FeaturizationTests.Csv(300, 32)));

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(ProblemType.Multiclass, result.Manifest.ProblemType);
        Assert.Equal(blankCities, result.Metrics.MissingLabelRows["train"]);
        Assert.Equal(0, result.Metrics.MissingLabelRows["validation"]);
        Assert.Equal(900 - blankCities, result.Metrics.Timing.TrainRows);

        using var regressionTree = new TempTree();
        var regression = BadInputTests.Layout(regressionTree, new() { ["label"] = "amount", ["algorithm"] = "sdca", ["importance_rows"] = "0" },
            ("train", "t.csv", FeaturizationTests.Csv(900, 33)), ("validation", "v.csv", FeaturizationTests.Csv(300, 34)));
        var blankAmounts = FeaturizationTests.Csv(900, 33).Split('\n').Skip(1).Count(l => l.StartsWith(','));

        var regressionResult = await new TrainingJob(regression, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(ProblemType.Regression, regressionResult.Manifest.ProblemType);
        Assert.True(blankAmounts > 0);
        Assert.Equal(blankAmounts, regressionResult.Metrics.MissingLabelRows["train"]);
        Assert.Equal(900 - blankAmounts, regressionResult.Metrics.Timing.TrainRows);
    }

    [Fact]
    public async Task NullBinaryLabelInParquet_IsDroppedAndCounted()
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree, new() { ["label"] = "label", ["algorithm"] = "lbfgs", ["importance_rows"] = "0" });
        var random = new Random(61);
        var x = Enumerable.Range(0, 800).Select(_ => (float?)random.NextDouble()).ToArray();

        // Positive when x > 0.6, null for every tenth row: read as false, the nulls would add 80 negatives.
        bool?[] labels = [.. x.Select((v, i) => i % 10 == 0 ? (bool?)null : v > 0.6f)];
        await WriteParquetAsync(Path.Combine(layout.ChannelDirectory("train"), "part-0.parquet"), x, labels);
        await WriteParquetAsync(Path.Combine(layout.ChannelDirectory("validation"), "part-0.parquet"), x, labels);

        var result = await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();

        Assert.Equal(ProblemType.Binary, result.Manifest.ProblemType);
        Assert.Equal(80, result.Metrics.MissingLabelRows["train"]);
        Assert.Equal(720, result.Metrics.Channels["validation"].Rows);
        Assert.Equal(labels.Count(l => l == true) / 720.0, result.Metrics.Channels["validation"].Baseline["positive_rate_train"], 12);
    }

    private static async Task WriteParquetAsync(string path, float?[] x, bool?[] labels)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var fields = new DataField[] { new DataField<float?>("x"), new DataField<bool?>("label") };
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync<float>(fields[0], x.AsMemory(), null, null);
        await group.WriteAsync<bool>(fields[1], labels.AsMemory(), null, null);
    }

    /// <summary>Blanks the label (last field) of every <paramref name="every"/>th data row; returns the counts of blanks and remaining positives.</summary>
    private static (string Csv, long Blanks, long Positives) WithBlankLabels(string csv, int every, string spelling)
    {
        long blanks = 0, positives = 0;
        var lines = csv.Split('\n').Select((line, i) =>
        {
            if (i == 0 || line.Length == 0)
            {
                return line;
            }

            var cut = line.LastIndexOf(',');
            var positive = line[(cut + 1)..] == "true";
            if (i % every == 0)
            {
                blanks++;
                return line[..(cut + 1)];
            }

            positives += positive ? 1 : 0;
            return line[..(cut + 1)] + (spelling == "1/0" ? (positive ? "1" : "0") : (positive ? "true" : "false"));
        });
        return (string.Join('\n', lines), blanks, positives);
    }

    /// <summary>Blanks field <paramref name="column"/> (0-based; no quoted commas before it) of every <paramref name="every"/>th data row.</summary>
    private static string BlankColumn(string csv, int column, int every, out long blanks)
    {
        var count = 0L;
        var lines = csv.Split('\n').Select((line, i) =>
        {
            if (i == 0 || line.Length == 0 || i % every != 0)
            {
                return line;
            }

            count++;
            var fields = line.Split(',');
            fields[column] = "";
            return string.Join(',', fields);
        }).ToArray();
        blanks = count;
        return string.Join('\n', lines);
    }
}
