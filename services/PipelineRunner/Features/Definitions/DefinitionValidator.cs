using System.Text.Json.Nodes;

namespace Mlops.PipelineRunner.Features.Definitions;

/// <summary>The semantic checks of a bound definition: step types, inputs, references, conditions, fan-out, the DAG.</summary>
public static class DefinitionValidator
{
    public static void Validate(PipelineDefinition definition, List<DefinitionProblem> problems)
    {
        var names = definition.Steps.Select(s => s.Name).ToHashSet();
        foreach (var step in definition.Steps)
            ValidateStep(definition, step, $"$.steps.{step.Name}", names, isExit: false, problems);
        if (definition.ExitHandler is { } exit)
            ValidateStep(definition, exit, "$.exit_handler", names, isExit: true, problems);
        foreach (var cycle in Dag.Cycles(definition))
            problems.Add(new($"$.steps.{cycle[0]}.depends_on", $"Cycle: {string.Join(" → ", cycle.Append(cycle[0]))}."));
    }

    private static void ValidateStep(PipelineDefinition definition, StepDefinition step, string path, HashSet<string> names, bool isExit,
        List<DefinitionProblem> problems)
    {
        StepType? type = null;
        if (step.Type.Length > 0)
        {
            if (!StepTypes.All.TryGetValue(step.Type, out type))
                problems.Add(new(path + ".type", $"Unknown step type '{step.Type}': use {string.Join(", ", StepTypes.All.Values.Where(t => t.Available).Select(t => t.Name))}."));
            else if (!type.Available)
            {
                problems.Add(new(path + ".type", type.UnavailableReason!));
                type = null;
            }
        }

        for (var k = 0; k < step.DependsOn.Count; k++)
        {
            var d = step.DependsOn[k];
            if (!names.Contains(d))
                problems.Add(new($"{path}.depends_on[{k}]", $"Unknown step '{d}'."));
            else if (d == step.Name)
                problems.Add(new($"{path}.depends_on[{k}]", $"Step '{d}' cannot depend on itself."));
        }

        var hasItem = step.ForEach is not null;
        if (type is not null)
        {
            foreach (var (input, (inputType, required)) in type.Inputs)
            {
                if (!step.Inputs.TryGetPropertyValue(input, out var value))
                {
                    if (required)
                        problems.Add(new($"{path}.inputs.{input}", $"Step type '{type.Name}' needs input '{input}' ({Expressions.Name(inputType)})."));
                    continue;
                }
                var actual = StaticType(definition, step, value);
                if (actual is not ValueType.Any && actual != inputType && !(actual == ValueType.Null && !required))
                    problems.Add(new($"{path}.inputs.{input}", $"Input '{input}' is a {Expressions.Name(inputType)}, got {Expressions.Name(actual)}."));
            }
            if (type.Name != "noop")
                foreach (var (input, _) in step.Inputs)
                    if (!type.Inputs.ContainsKey(input))
                        problems.Add(new($"{path}.inputs.{input}", $"Step type '{type.Name}' has no input '{input}': it takes {string.Join(", ", type.Inputs.Keys)}."));
            if (type.Name == "condition" && step.Inputs["expression"] is JsonValue ev && ev.TryGetValue<string>(out var expression))
                CheckCondition(definition, step, expression, $"{path}.inputs.expression", names, isExit, problems);
            if (type.Name == "evaluate" && step.Inputs["gates"] is JsonArray gates)
                EvaluateGates.Validate(gates, $"{path}.inputs.gates", problems);
            Steps.StepInputRules.Validate(type.Name, step.Inputs, path, problems);
        }

        foreach (var (refPath, reference, error) in InputReferences(step.Inputs, $"{path}.inputs"))
            if (reference is null)
                problems.Add(new(refPath, error!));
            else
                CheckReference(definition, step, reference, refPath, names, isExit, hasItem, problems);

        if (step.When is { } when)
            CheckCondition(definition, step, when, path + ".when", names, isExit, problems);

        if (step.ForEach is { } forEach)
        {
            Reference? r = null;
            try
            {
                r = Expressions.WholeReference(forEach);
            }
            catch (ExpressionException e)
            {
                problems.Add(new(path + ".for_each", e.Message));
            }
            if (r is null)
                problems.Add(new(path + ".for_each", "'for_each' is one reference to a list: ${params.<list>} or ${steps.<step>.outputs.<list>}."));
            else if (r.Kind is ReferenceKind.Item)
                problems.Add(new(path + ".for_each", "'for_each' cannot iterate over ${item}."));
            else if (CheckReference(definition, step, r, path + ".for_each", names, isExit, hasItem: false, problems) is var t
                     && t is not (ValueType.List or ValueType.Any))
                problems.Add(new(path + ".for_each", $"'for_each' iterates over a list, and '${{{r.Text}}}' is a {Expressions.Name(t)}."));
        }
        else if (step.Parallelism is not null)
            problems.Add(new(path + ".parallelism", "A step's 'parallelism' limits its for_each fan-out; this step has no for_each."));
    }

    private static void CheckCondition(PipelineDefinition definition, StepDefinition step, string text, string path, HashSet<string> names,
        bool isExit, List<DefinitionProblem> problems)
    {
        Expr expr;
        try
        {
            expr = Expressions.Parse(text);
        }
        catch (ExpressionException e)
        {
            problems.Add(new(path, $"Condition '{text}': {e.Message}"));
            return;
        }
        var referenceProblems = problems.Count;
        var types = new Dictionary<Reference, ValueType>();
        foreach (var r in Expressions.References(expr))
            types[r] = CheckReference(definition, step, r, path, names, isExit, step.ForEach is not null, problems);
        if (problems.Count > referenceProblems)
            return;
        var typeProblems = new List<string>();
        var result = Expressions.TypeCheck(expr, r => types.GetValueOrDefault(r, ValueType.Any), typeProblems);
        foreach (var p in typeProblems)
            problems.Add(new(path, $"Condition '{text}': {p}"));
        if (result is not (ValueType.Bool or ValueType.Any))
            problems.Add(new(path, $"Condition '{text}' is a {Expressions.Name(result)}, not a bool."));
    }

    /// <summary>Checks that a reference names something that exists (and is upstream); returns its type.</summary>
    private static ValueType CheckReference(PipelineDefinition definition, StepDefinition step, Reference r, string path, HashSet<string> names,
        bool isExit, bool hasItem, List<DefinitionProblem> problems)
    {
        switch (r.Kind)
        {
            case ReferenceKind.Param:
                var p = definition.Parameters.FirstOrDefault(x => x.Name == r.Name);
                if (p is null)
                {
                    problems.Add(new(path, $"'${{{r.Text}}}': the pipeline has no parameter '{r.Name}'."));
                    return ValueType.Any;
                }
                return ParameterValues.ValueTypeOf(p.Type);
            case ReferenceKind.Item:
                if (!hasItem)
                    problems.Add(new(path, $"'${{{r.Text}}}' is only defined in a step with for_each."));
                return ValueType.Any;
            case ReferenceKind.Execution:
                if (r.Name == "status" && !isExit)
                    problems.Add(new(path, "'${execution.status}' is only known to the exit handler."));
                return r.Name == "version" ? ValueType.Number : ValueType.String;
            default:
                if (!names.Contains(r.Name))
                {
                    problems.Add(new(path, $"'${{{r.Text}}}': unknown step '{r.Name}'."));
                    return ValueType.Any;
                }
                if (r.Name == step.Name)
                {
                    problems.Add(new(path, $"'${{{r.Text}}}': a step cannot use its own outputs."));
                    return ValueType.Any;
                }
                var source = definition.Steps.First(s => s.Name == r.Name);
                if (!StepTypes.All.TryGetValue(source.Type, out var sourceType) || !sourceType.Available)
                    return ValueType.Any;
                if (!sourceType.Outputs.TryGetValue(r.Output!, out var outputType))
                {
                    if (sourceType.OpenOutputs)
                        return ValueType.Any;
                    problems.Add(new(path, $"'${{{r.Text}}}': step '{r.Name}' ({source.Type}) has no output '{r.Output}'; it has {(sourceType.Outputs.Count == 0 ? "none" : string.Join(", ", sourceType.Outputs.Keys))}."));
                    return ValueType.Any;
                }
                if (source.ForEach is not null)
                    return r.Rest.Count == 0 ? ValueType.List : ValueType.Any;
                if (r.Rest.Count > 0)
                {
                    if (outputType is not (ValueType.Map or ValueType.Any))
                        problems.Add(new(path, $"'${{{r.Text}}}': output '{r.Output}' is a {Expressions.Name(outputType)}; only maps have fields."));
                    return ValueType.Any;
                }
                return outputType;
        }
    }

    /// <summary>The type of an input value known before running: literals by kind, a whole reference by what it names.</summary>
    private static ValueType StaticType(PipelineDefinition definition, StepDefinition step, JsonNode? value)
    {
        if (value is JsonValue v && v.TryGetValue<string>(out var s))
        {
            try
            {
                if (Expressions.WholeReference(s) is { } r)
                    return CheckReference(definition, step, r, "", definition.Steps.Select(x => x.Name).ToHashSet(), true, true, []);
            }
            catch (ExpressionException)
            {
                return ValueType.Any;
            }
            return ValueType.String;
        }
        return Expressions.TypeOf(value);
    }

    /// <summary>Every reference in an input tree, with the path of the value holding it.</summary>
    public static IEnumerable<(string Path, Reference? Reference, string? Error)> InputReferences(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o)
                    foreach (var r in InputReferences(v, $"{path}.{k}"))
                        yield return r;
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                    foreach (var r in InputReferences(a[i], $"{path}[{i}]"))
                        yield return r;
                break;
            case JsonValue v when v.TryGetValue<string>(out var s) && s.Contains("${", StringComparison.Ordinal):
                List<Reference> refs;
                string? error = null;
                try
                {
                    refs = Expressions.FindReferences(s);
                }
                catch (ExpressionException e)
                {
                    refs = [];
                    error = e.Message;
                }
                if (error is not null)
                    yield return (path, null, error);
                foreach (var r in refs)
                    yield return (path, r, null);
                break;
        }
    }
}
