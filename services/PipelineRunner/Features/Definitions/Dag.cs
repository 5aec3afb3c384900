namespace Mlops.PipelineRunner.Features.Definitions;

/// <summary>The pipeline's graph: a step waits for its depends_on and for every step whose outputs it references.</summary>
public static class Dag
{
    /// <summary>The steps a step waits for (explicit and data dependencies), known steps only, each once.</summary>
    public static IReadOnlyList<string> Upstream(PipelineDefinition definition, StepDefinition step)
    {
        var names = definition.Steps.Select(s => s.Name).ToHashSet();
        var upstream = new List<string>();
        void Add(string name)
        {
            if (name != step.Name && names.Contains(name) && !upstream.Contains(name))
                upstream.Add(name);
        }
        foreach (var d in step.DependsOn)
            Add(d);
        foreach (var (_, r, _) in DefinitionValidator.InputReferences(step.Inputs, ""))
            if (r is { Kind: ReferenceKind.StepOutput })
                Add(r.Name);
        foreach (var text in new[] { step.When, step.ForEach })
            if (text is not null)
                foreach (var r in SafeReferences(text))
                    if (r.Kind == ReferenceKind.StepOutput)
                        Add(r.Name);
        return upstream;
    }

    /// <summary>Each cycle once, as the list of steps around it.</summary>
    public static List<List<string>> Cycles(PipelineDefinition definition)
    {
        var edges = definition.Steps.ToDictionary(s => s.Name, s => Upstream(definition, s));
        var state = new Dictionary<string, int>(); // 1 = on the stack, 2 = done
        var stack = new List<string>();
        var cycles = new List<List<string>>();
        void Visit(string n)
        {
            state[n] = 1;
            stack.Add(n);
            foreach (var m in edges.GetValueOrDefault(n, []))
            {
                if (state.GetValueOrDefault(m) == 1)
                    cycles.Add(stack.GetRange(stack.IndexOf(m), stack.Count - stack.IndexOf(m)));
                else if (state.GetValueOrDefault(m) == 0)
                    Visit(m);
            }
            stack.RemoveAt(stack.Count - 1);
            state[n] = 2;
        }
        foreach (var s in definition.Steps)
            if (state.GetValueOrDefault(s.Name) == 0)
                Visit(s.Name);
        return cycles;
    }

    private static IEnumerable<Reference> SafeReferences(string text)
    {
        try
        {
            return Expressions.FindReferences(text);
        }
        catch (ExpressionException)
        {
            return [];
        }
    }
}
