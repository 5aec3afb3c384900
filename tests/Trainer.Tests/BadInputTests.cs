using System.Diagnostics;
using System.Text;
using Mlops.Trainer;
using Mlops.Trainer.SageMaker;
using Mlops.Trainer.Samples;

namespace Trainer.Tests;

/// <summary>Every bad input ends with exit code 1 and an output/failure that names the problem and the valid choices.</summary>
public sealed class BadInputTests
{
    private const string GoodCsv = "x,color,label\n1,red,true\n2,blue,false\n3,red,true\n4,blue,false\n5,red,true\n6,blue,false\n";

    [Fact]
    public async Task MissingValidationChannel_NamesTheChannel()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label" }, ("train", "a.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("Channel 'validation' is missing", failure);
        Assert.Contains("Required channels: train, validation", failure);
    }

    [Fact]
    public async Task UnreadableFile_NamesTheFileAndSupportedFormats()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label" }, ("train", "a.parquet", "this is not parquet"), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("cannot read a.parquet as Parquet", failure);
    }

    [Fact]
    public async Task UnknownFileType_ListsSupportedFormats()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label" }, ("train", "a.xlsx", "x"), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("cannot read a.xlsx", failure);
        Assert.Contains("Supported: .parquet", failure);
    }

    [Fact]
    public async Task AbsentLabel_ListsTheColumns()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "target" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("Label column 'target' is not in the train channel", failure);
        Assert.Contains("x: number, color: text, label: boolean", failure);
    }

    [Fact]
    public async Task WrongTypedLabel_SaysWhatTheProblemTypeNeeds()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "color", ["problem_type"] = "regression" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("Label 'color' in the train channel is text", failure);
        Assert.Contains("regression needs a numeric label", failure);
    }

    [Fact]
    public async Task BinaryLabelThatIsNotBoolean_SuggestsMulticlass()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "x", ["problem_type"] = "binary" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("binary classification needs a boolean label", failure);
    }

    [Fact]
    public async Task UnknownAlgorithm_ListsTheValidOnes()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label", ["algorithm"] = "xgboost" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("Unknown algorithm 'xgboost' for binary problems", failure);
        Assert.Contains("Valid algorithms: lightgbm, fasttree, fastforest, sdca, lbfgs", failure);
    }

    [Fact]
    public async Task UnknownHyperparameter_ListsTheValidOnes()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label", ["max_depth"] = "6" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("Unknown hyperparameter 'max_depth'", failure);
        Assert.Contains("num_leaves", failure);
    }

    [Fact]
    public async Task HyperparameterOfAnotherAlgorithm_ListsThisAlgorithmsOnes()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label", ["algorithm"] = "sdca", ["num_leaves"] = "8" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("'num_leaves' does not apply to algorithm 'sdca'", failure);
        Assert.Contains("l2_regularization (default auto)", failure);
    }

    [Fact]
    public async Task OutOfRangeOrNonStringHyperparameters_AreRejected()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label", ["learning_rate"] = "2" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));
        Assert.Contains("'learning_rate' must be between", await FailAsync(layout));

        File.WriteAllText(layout.HyperparametersPath, """{"label": "label", "num_leaves": 8}""");
        Assert.Contains("SageMaker passes every hyperparameter as a string", await FailAsync(layout));
    }

    [Fact]
    public async Task EmptyDataset_SaysTheChannelHasNoRows()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label" }, ("train", "a.csv", "x,color,label\n"), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("Channel 'train' has no rows", failure);
    }

    [Fact]
    public async Task ValidationWithDifferentColumns_NamesTheMismatch()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", "x,label\n1,true\n2,false\n"));

        var failure = await FailAsync(layout);

        Assert.Contains("The validation channel does not match the train channel: 'color' is missing", failure);
    }

    [Fact]
    public async Task PipeModeOrSeveralHosts_AreRefusedWithTheSupportedSetting()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));
        File.WriteAllText(layout.InputDataConfigPath, """{"train": {"ContentType": "text/csv", "TrainingInputMode": "Pipe"}}""");
        Assert.Contains("TrainingInputMode 'Pipe'; this trainer reads files only. Valid choices: File, FastFile", await FailAsync(layout));

        File.WriteAllText(layout.InputDataConfigPath, "{}");
        File.WriteAllText(layout.ResourceConfigPath, """{"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}""");
        Assert.Contains("Set InstanceCount to 1", await FailAsync(layout));
    }

    [Fact]
    public async Task ExcludingAnAbsentColumn_ListsTheColumns()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label", ["exclude_columns"] = "id" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var failure = await FailAsync(layout);

        Assert.Contains("'exclude_columns' names column(s) id", failure);
        Assert.Contains("Its columns: x, color, label", failure);
    }

    [Fact]
    public async Task TrainExecutable_ExitsNonZero_AndWritesFailure()
    {
        using var tree = new TempTree();
        var layout = Layout(tree, new() { ["label"] = "label", ["algorithm"] = "xgboost" }, ("train", "a.csv", GoodCsv), ("validation", "b.csv", GoodCsv));

        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "train.dll"), "train", "--root", layout.Root])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(TrainingJob.BadInput, process.ExitCode);
        Assert.Contains("Unknown algorithm 'xgboost'", File.ReadAllText(layout.FailurePath));
        Assert.Contains("error: Unknown algorithm 'xgboost'", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    internal static async Task<string> FailAsync(TrainingLayout layout)
    {
        var stderr = new StringWriter();
        var code = await new TrainingJob(layout, new StringWriter(), stderr).RunAsync();
        Assert.True(code == TrainingJob.BadInput, $"exit code {code}; stderr: {stderr}");
        var failure = File.ReadAllText(layout.FailurePath);
        Assert.DoesNotContain("   at ", failure);
        return failure;
    }

    internal static TrainingLayout Layout(TempTree tree, Dictionary<string, string> hyperparameters, params (string Channel, string File, string Content)[] files)
    {
        var layout = new TrainingLayout(tree.Path);
        foreach (var (channel, file, content) in files)
        {
            Directory.CreateDirectory(layout.ChannelDirectory(channel));
            File.WriteAllText(Path.Combine(layout.ChannelDirectory(channel), file), content, Encoding.UTF8);
        }

        FlightsSample.WriteConfig(layout, hyperparameters, new Dictionary<string, ChannelConfig>());
        return layout;
    }
}
