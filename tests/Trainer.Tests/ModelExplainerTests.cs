using Mlops.Trainer;
using Mlops.Trainer.Model;

namespace Trainer.Tests;

/// <summary>Feature contributions (explain=true) for linear and tree models, summed per input column.</summary>
public sealed class ModelExplainerTests
{
    private static readonly List<IReadOnlyDictionary<string, object?>> Rows =
    [
        new Dictionary<string, object?> { ["amount"] = 95.0, ["member"] = true, ["city"] = "c1", ["user"] = "u5", ["note"] = "this is urgent", ["seen"] = "2024-03-01T20:30:00Z" },
        new Dictionary<string, object?> { ["amount"] = 2.0, ["member"] = false, ["city"] = "c2", ["user"] = "u6", ["note"] = "routine check", ["seen"] = "2024-03-01T08:30:00Z" },
    ];

    [Theory]
    [InlineData("sdca", true)]
    [InlineData("lbfgs", true)]
    [InlineData("fastforest", false)]
    [InlineData("fasttree", false)]
    [InlineData("lightgbm", false)]
    public async Task BinaryModel_ExplainsEveryInputColumn_LinearOnesExactly(string algorithm, bool decomposes)
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree,
            new() { ["label"] = "label", ["algorithm"] = algorithm, ["max_onehot_cardinality"] = "10", ["text_columns"] = "note", ["importance_rows"] = "0" },
            ("train", "part-1.csv", FeaturizationTests.Csv(3000, 11)), ("validation", "v.csv", FeaturizationTests.Csv(800, 12)));
        await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();
        using var package = ModelPackage.Load(layout.ModelDirectory);

        var explainer = ModelExplainer.TryCreate(package, out var reason);
        Assert.True(explainer is not null, reason);
        var table = ToTable(package);
        var explanations = explainer!.Explain(table);
        Assert.Equal(2, explanations.Count);
        Assert.All(explanations, e => Assert.Equal(package.Manifest.InputSchema.Select(c => c.Name), e.Keys));
        Assert.All(explanations, e => Assert.All(e.Values, v => Assert.True(float.IsFinite(v))));
        // The label grows with amount: the high-amount row's amount pushes up more than the low one's.
        Assert.True(explanations[0]["amount"] > explanations[1]["amount"], $"{explanations[0]["amount"]} vs {explanations[1]["amount"]}");
        // A linear model's contributions decompose its score (weight × value): between two rows the score moves by the sum
        // of the contributions' moves. A tree's are ML.NET's per-split estimates, which do not add up exactly.
        Assert.All(explanations, e => Assert.Contains(e.Values, v => v != 0));
        if (!decomposes)
            return;
        var scores = package.Score(table).Select(p => p.Score).ToArray();
        var moved = explanations[0].Sum(c => c.Value) - explanations[1].Sum(c => c.Value);
        Assert.True(Math.Abs(scores[0] - scores[1] - moved) <= 1e-3 * Math.Max(1, Math.Abs(scores[0] - scores[1])),
            $"score moved {scores[0] - scores[1]}, contributions {moved}");
    }

    [Fact]
    public async Task MulticlassModel_HasNoExplainer_AndSaysWhy()
    {
        using var tree = new TempTree();
        var layout = BadInputTests.Layout(tree,
            new() { ["label"] = "city", ["algorithm"] = "sdca", ["problem_type"] = "multiclass", ["importance_rows"] = "0" },
            ("train", "part-1.csv", FeaturizationTests.Csv(1000, 13)), ("validation", "v.csv", FeaturizationTests.Csv(300, 14)));
        await new TrainingJob(layout, new StringWriter(), new StringWriter()).TrainAsync();
        using var package = ModelPackage.Load(layout.ModelDirectory);
        Assert.Null(ModelExplainer.TryCreate(package, out var reason));
        Assert.Contains("binary and regression models only", reason);
    }

    private static Mlops.Trainer.Model.Tabular.DataTable ToTable(ModelPackage package) =>
        new([.. package.Manifest.InputSchema.Select(c => c.Type switch
        {
            "number" => Mlops.Trainer.Model.Tabular.TableColumn.Numbers(c.Name, [.. Rows.Select(r => (float)(double)r[c.Name]!)]),
            "boolean" => Mlops.Trainer.Model.Tabular.TableColumn.Booleans(c.Name, [.. Rows.Select(r => (bool)r[c.Name]!)]),
            "timestamp" => Mlops.Trainer.Model.Tabular.TableColumn.Timestamps(c.Name, [.. Rows.Select(r => (DateTime?)DateTime.Parse((string)r[c.Name]!).ToUniversalTime())]),
            _ => Mlops.Trainer.Model.Tabular.TableColumn.Texts(c.Name, [.. Rows.Select(r => (string?)r[c.Name])]),
        })]);
}
