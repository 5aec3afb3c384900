using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using ValueType = Mlops.PipelineRunner.Features.Definitions.ValueType;

namespace Mlops.PipelineRunner.Tests;

public sealed class ExpressionTests
{
    private static readonly Dictionary<string, JsonNode?> Values = new()
    {
        ["params.auc"] = 0.72, ["params.name"] = "flights", ["params.force"] = false, ["steps.gate.outputs.passed"] = true,
        ["steps.train.outputs.metrics"] = new JsonObject { ["validation:auc"] = 0.8 },
    };

    private static JsonNode? Resolve(Reference r) =>
        r.Rest.Count == 0 ? Values[r.Text] : Values[r.Text[..r.Text.LastIndexOf('.')]]![r.Rest[^1]];

    [Theory]
    [InlineData("${params.auc} >= 0.7", true)]
    [InlineData("${params.auc} < 0.7", false)]
    [InlineData("${params.auc} == 0.72 and ${steps.gate.outputs.passed}", true)]
    [InlineData("not ${params.force} and (${params.auc} > 1 or ${params.name} == 'flights')", true)]
    [InlineData("${params.name} != \"flights\"", false)]
    [InlineData("${steps.train.outputs.metrics.validation:auc} > 0.75", true)]
    [InlineData("not not ${params.force}", false)]
    [InlineData("${params.force} or ${params.auc} >= 1e-3", true)]
    [InlineData("${params.name} < 'g'", true)]
    [InlineData("${params.nothing} == null", true)]
    public void Evaluate(string text, bool expected)
    {
        Values["params.nothing"] = null;
        Assert.Equal(expected, Expressions.EvaluateCondition(Expressions.Parse(text), Resolve));
    }

    [Theory]
    [InlineData("${params.auc} >= 'x'", "compares numbers or strings")]
    [InlineData("${params.auc} and true", "'and' needs bools")]
    [InlineData("not ${params.name}", "'not' needs a bool")]
    [InlineData("${params.name} == 3", "can never be equal")]
    public void TypeCheck_FindsErrors(string text, string message)
    {
        var types = new Dictionary<string, ValueType> { ["params.auc"] = ValueType.Number, ["params.name"] = ValueType.String };
        var problems = new List<string>();
        Expressions.TypeCheck(Expressions.Parse(text), r => types[r.Text], problems);
        Assert.Contains(problems, p => p.Contains(message));
    }

    [Theory]
    [InlineData("${params.a} >")]
    [InlineData("(${params.a} > 1")]
    [InlineData("${steps.x} > 1")]
    [InlineData("'open")]
    [InlineData("1 2")]
    public void Parse_Malformed_Throws(string text) => Assert.Throws<ExpressionException>(() => Expressions.Parse(text));

    [Fact]
    public void Evaluate_OrderingMismatchedTypesAtRunTime_Throws() =>
        Assert.Throws<ExpressionException>(() => Expressions.EvaluateCondition(Expressions.Parse("${params.name} > 1"), Resolve));

    [Fact]
    public void References_KeepTheirParts()
    {
        var r = Expressions.ParseReference("steps.train.outputs.metrics.validation:auc");
        Assert.Equal((ReferenceKind.StepOutput, "train", "metrics"), (r.Kind, r.Name, r.Output));
        Assert.Equal(new[] { "validation:auc" }, r.Rest);
        Assert.Equal(ReferenceKind.Item, Expressions.ParseReference("item.origin").Kind);
    }
}
