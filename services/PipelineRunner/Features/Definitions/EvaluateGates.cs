using System.Text.Json.Nodes;

namespace Mlops.PipelineRunner.Features.Definitions;

/// <summary>
/// The gates of an <c>evaluate</c> step: <c>{metric, op, threshold}</c> (op one of &gt;= &gt; &lt;= &lt;), or
/// <c>{metric, better_than: {model, alias}, by, direction}</c> — better than the model version behind the alias by at
/// least <c>by</c> (direction <c>max</c>, the default, or <c>min</c> for errors such as rmse).
/// </summary>
public sealed record Gate(string Metric, string? Op, double? Threshold, string? Model, string? Alias, double By, string Direction);

public static class EvaluateGates
{
    private static readonly string[] Ops = [">=", ">", "<=", "<"];

    public static void Validate(JsonArray gates, string path, List<DefinitionProblem> problems)
    {
        if (gates.Count == 0)
            problems.Add(new(path, "'gates' lists at least one gate."));
        for (var i = 0; i < gates.Count; i++)
            Bind(gates[i], $"{path}[{i}]", problems);
    }

    public static Gate? Bind(JsonNode? node, string path, List<DefinitionProblem> problems)
    {
        if (node is not JsonObject g)
        {
            problems.Add(new(path, "A gate is {metric, op, threshold} or {metric, better_than: {model, alias}, by}."));
            return null;
        }
        var before = problems.Count;
        foreach (var (k, _) in g)
            if (k is not ("metric" or "op" or "threshold" or "better_than" or "by" or "direction"))
                problems.Add(new($"{path}.{k}", $"Unknown gate key '{k}': use metric, op, threshold, better_than, by, direction."));
        var metric = Str(g["metric"]);
        if (metric is null)
            problems.Add(new(path + ".metric", "The gate's metric is required (e.g. validation:auc)."));
        var direction = Str(g["direction"]) ?? "max";
        if (direction is not ("max" or "min"))
            problems.Add(new(path + ".direction", "'direction' is max or min."));
        if (g["better_than"] is JsonObject bt)
        {
            var model = Str(bt["model"]);
            var alias = Str(bt["alias"]);
            if (model is null)
                problems.Add(new(path + ".better_than.model", "The registered model's name is required."));
            if (alias is null)
                problems.Add(new(path + ".better_than.alias", "The alias (e.g. champion) is required."));
            var by = Num(g["by"]) ?? 0;
            if (g["by"] is not null && Num(g["by"]) is null)
                problems.Add(new(path + ".by", "'by' is a number."));
            return problems.Count > before ? null : new Gate(metric!, null, null, model, alias, by, direction);
        }
        var op = Str(g["op"]);
        if (op is null || !Ops.Contains(op))
            problems.Add(new(path + ".op", $"'op' is one of {string.Join(" ", Ops)} (or use better_than)."));
        var threshold = Num(g["threshold"]);
        if (threshold is null && !IsReference(g["threshold"]))
            problems.Add(new(path + ".threshold", "'threshold' is a number."));
        return problems.Count > before ? null : new Gate(metric!, op, threshold, null, null, 0, direction);
    }

    /// <summary>Whether a metric value passes a threshold gate.</summary>
    public static bool Passes(Gate gate, double value) => gate.Op switch
    {
        ">=" => value >= gate.Threshold, ">" => value > gate.Threshold, "<=" => value <= gate.Threshold, _ => value < gate.Threshold,
    };

    /// <summary>Whether a candidate beats the baseline by at least the gate's margin in its direction.</summary>
    public static bool Beats(Gate gate, double candidate, double baseline) =>
        gate.Direction == "min" ? candidate <= baseline - gate.By : candidate >= baseline + gate.By;

    private static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
    private static bool IsReference(JsonNode? n) => Str(n) is { } s && s.Contains("${", StringComparison.Ordinal);
    private static double? Num(JsonNode? n) =>
        n is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number ? Expressions.AsNumber(v) : null;
}
