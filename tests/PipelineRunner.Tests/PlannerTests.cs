using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;
using Mlops.PipelineRunner.Features.Executions;

namespace Mlops.PipelineRunner.Tests;

public sealed class PlannerTests
{
    private static ExecutionView View(string yaml, JsonObject? parameters = null)
    {
        var (definition, problems) = DefinitionParser.Parse(yaml, json: false);
        Assert.Empty(problems);
        var resolved = ParameterValues.Resolve(definition!, parameters, problems);
        Assert.Empty(problems);
        return new ExecutionView(Guid.NewGuid(), "p", 1, ExecutionStatus.Running, false, definition!, resolved, []);
    }

    /// <summary>Runs the plan to the end, completing every started step with the outputs <paramref name="run"/> gives.</summary>
    private static async Task<(ExecutionView View, List<string> Order)> RunAsync(ExecutionView view,
        Func<StartStep, (string Status, JsonObject? Outputs)> run)
    {
        var order = new List<string>();
        var starts = new Dictionary<(string, int), StartStep>();
        void Remember(IEnumerable<Decision> decisions)
        {
            foreach (var s in decisions.OfType<StartStep>())
                starts[(s.Step, s.Item)] = s;
        }
        (var decisions, view) = await Planner.SettleAsync(view);
        Remember(decisions);
        for (var guard = 0; guard < 1000 && !ExecutionStatus.IsTerminal(view.Status); guard++)
        {
            var first = view.Steps.First(s => s.Status == StepStatus.Ready);
            var start = starts[(first.Step, first.Item)];
            order.Add(first.Item < 0 ? first.Step : $"{first.Step}[{first.Item}]");
            var (status, outputs) = run(start);
            var steps = view.Steps.Select(s => s == first ? s with { Status = status, Outputs = outputs } : s).ToList();
            (decisions, view) = await Planner.SettleAsync(view with { Steps = steps });
            Remember(decisions);
        }
        return (view, order);
    }

    private static string StatusOf(ExecutionView view, string step, int item = -1) => view.Steps.Single(s => s.Step == step && s.Item == item).Status;

    [Fact]
    public async Task Diamond_RunsInDependencyOrder()
    {
        var view = View("steps: {a: {type: noop}, b: {type: noop, depends_on: [a]}, c: {type: noop, depends_on: [a]}, d: {type: noop, depends_on: [b, c]}}");
        var (first, settled) = await Planner.SettleAsync(view);
        Assert.Equal(new[] { "a" }, first.OfType<StartStep>().Select(s => s.Step));
        var (end, order) = await RunAsync(view, _ => (StepStatus.Succeeded, new JsonObject()));
        Assert.Equal(ExecutionStatus.Succeeded, end.Status);
        Assert.Equal("a", order[0]);
        Assert.Equal("d", order[^1]);
        Assert.Equal(4, order.Count);
    }

    [Fact]
    public async Task Parallelism_LimitsStartedSteps()
    {
        var view = View("parallelism: 2\nsteps: {a: {type: noop}, b: {type: noop}, c: {type: noop}, d: {type: noop}}");
        var (decisions, _) = await Planner.SettleAsync(view);
        Assert.Equal(2, decisions.OfType<StartStep>().Count());
    }

    [Fact]
    public async Task DataReferences_ResolveToTypedValues()
    {
        var view = View("""
            parameters: {n: {type: number, default: 3}}
            steps:
              a: {type: noop}
              b: {type: noop, inputs: {x: "${steps.a.outputs.v}", y: "n=${params.n}, v=${steps.a.outputs.v}", z: ["${params.n}"]}}
            """);
        StartStep? b = null;
        await RunAsync(view, s =>
        {
            if (s.Step == "b") b = s;
            return (StepStatus.Succeeded, s.Step == "a" ? new JsonObject { ["v"] = 42 } : new JsonObject());
        });
        Assert.NotNull(b);
        Assert.Equal(42, b.Inputs["x"]!.GetValue<int>());
        Assert.Equal("n=3, v=42", b.Inputs["y"]!.GetValue<string>());
        Assert.Equal(3, b.Inputs["z"]![0]!.GetValue<double>());
    }

    [Fact]
    public async Task FalseCondition_SkipsTheStepAndItsDependants()
    {
        var view = View("""
            parameters: {go: {type: bool, default: false}}
            steps:
              a: {type: noop}
              b: {type: noop, depends_on: [a], when: "${params.go}"}
              c: {type: noop, depends_on: [b]}
              d: {type: noop, depends_on: [a]}
            """);
        var (end, order) = await RunAsync(view, _ => (StepStatus.Succeeded, new JsonObject()));
        Assert.Equal(ExecutionStatus.Succeeded, end.Status);
        Assert.Equal(StepStatus.Skipped, StatusOf(end, "b"));
        Assert.Equal(StepStatus.Skipped, StatusOf(end, "c"));
        Assert.Equal(new[] { "a", "d" }, order);
    }

    [Fact]
    public async Task ForEach_RespectsItsParallelismAndCollectsResultsInOrder()
    {
        var view = View("""
            parameters: {xs: {type: list, default: [1, 2, 3, 4, 5]}}
            steps:
              fan: {type: noop, for_each: "${params.xs}", parallelism: 2, inputs: {x: "${item}"}}
              after: {type: noop, inputs: {all: "${steps.fan.outputs.y}"}}
            """);
        var (_, settled) = await Planner.SettleAsync(view);
        Assert.Equal(2, settled.Steps.Count(s => s.Step == "fan" && s.Status == StepStatus.Ready));
        StartStep? after = null;
        var (end, _) = await RunAsync(view, s =>
        {
            if (s.Step == "after") after = s;
            return (StepStatus.Succeeded, s.Step == "fan" ? new JsonObject { ["y"] = s.Inputs["x"]!.GetValue<double>() * 10 } : new JsonObject());
        });
        Assert.Equal(ExecutionStatus.Succeeded, end.Status);
        Assert.Equal(new[] { 10.0, 20, 30, 40, 50 }, after!.Inputs["all"]!.AsArray().Select(n => n!.GetValue<double>()));
    }

    [Fact]
    public async Task ForEach_EmptyList_SucceedsWithEmptyResults()
    {
        var view = View("parameters: {xs: {type: list, default: []}}\nsteps: {fan: {type: noop, for_each: '${params.xs}'}}");
        var (_, end) = await Planner.SettleAsync(view);
        Assert.Equal(ExecutionStatus.Succeeded, end.Status);
    }

    [Fact]
    public async Task Failure_StopsNewStarts_RunsTheExitHandler_AndFailsTheExecution()
    {
        var view = View("""
            steps:
              a: {type: noop}
              b: {type: noop, depends_on: [a]}
            exit_handler: {type: noop, inputs: {status: "${execution.status}"}}
            """);
        StartStep? exit = null;
        var (end, order) = await RunAsync(view, s =>
        {
            if (s.Step == "exit_handler") exit = s;
            return (s.Step == "a" ? StepStatus.Failed : StepStatus.Succeeded, new JsonObject());
        });
        Assert.Equal(ExecutionStatus.Failed, end.Status);
        Assert.Equal(new[] { "a", "exit_handler" }, order);
        Assert.Equal("failed", exit!.Inputs["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Stop_RunsNoMoreSteps_AndEndsStopped()
    {
        var view = View("steps: {a: {type: noop}, b: {type: noop, depends_on: [a]}}");
        var (_, settled) = await Planner.SettleAsync(view);
        var done = settled with { StopRequested = true, Steps = [new StepView("a", -1, StepStatus.Stopped, null)] };
        var (decisions, end) = await Planner.SettleAsync(done);
        Assert.DoesNotContain(decisions, d => d is StartStep);
        Assert.Equal(ExecutionStatus.Stopped, end.Status);
    }

    [Fact]
    public async Task ReusedAndCachedSteps_CountAsDone()
    {
        var view = View("steps: {a: {type: noop}, b: {type: noop, inputs: {v: '${steps.a.outputs.v}'}}}");
        view = view with { Steps = [new StepView("a", -1, StepStatus.Reused, new JsonObject { ["v"] = "from-reference" })] };
        var (decisions, _) = await Planner.SettleAsync(view);
        var b = Assert.Single(decisions.OfType<StartStep>());
        Assert.Equal("from-reference", b.Inputs["v"]!.GetValue<string>());
    }

    [Fact]
    public async Task CacheHit_CompletesWithoutStarting()
    {
        var view = View("steps: {a: {type: noop}, b: {type: noop, depends_on: [a]}}");
        var (decisions, end) = await Planner.SettleAsync(view,
            s => Task.FromResult<CompleteStep?>(new CompleteStep(s.Step, s.Item, StepStatus.Cached, new JsonObject(), null)));
        Assert.Equal(ExecutionStatus.Succeeded, end.Status);
        Assert.Equal(2, decisions.OfType<CompleteStep>().Count(c => c.Status == StepStatus.Cached));
    }

    [Fact]
    public void CacheKey_IsCanonical_AndChangesWithInputs()
    {
        var a = Planner.CacheKey("train", JsonNode.Parse("""{"x": 1, "y": {"b": 2, "a": "s"}}""")!.AsObject());
        var b = Planner.CacheKey("train", JsonNode.Parse("""{"y": {"a": "s", "b": 2.0}, "x": 1}""")!.AsObject());
        var c = Planner.CacheKey("train", JsonNode.Parse("""{"x": 2, "y": {"b": 2, "a": "s"}}""")!.AsObject());
        var d = Planner.CacheKey("noop", JsonNode.Parse("""{"x": 1, "y": {"b": 2, "a": "s"}}""")!.AsObject());
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(a, d);
        Assert.Equal(64, a.Length);
    }

    [Fact]
    public void CacheKey_OfOneStep_DoesNotDependOnAnotherStepsDefinition()
    {
        var v1 = View("steps: {a: {type: noop, inputs: {x: 1}}, b: {type: noop, inputs: {y: 1}}}");
        var v2 = View("steps: {a: {type: noop, inputs: {x: 1}}, b: {type: noop, inputs: {y: 2}}}");
        var k1 = Planner.Decide(v1).OfType<StartStep>().ToDictionary(s => s.Step, s => s.CacheKey);
        var k2 = Planner.Decide(v2).OfType<StartStep>().ToDictionary(s => s.Step, s => s.CacheKey);
        Assert.Equal(k1["a"], k2["a"]);
        Assert.NotEqual(k1["b"], k2["b"]);
    }

    [Theory]
    [InlineData("Step.SERVICE_FAULT", 1, 2.0)]
    [InlineData("Step.SERVICE_FAULT", 2, 6.0)]
    [InlineData("Step.SERVICE_FAULT", 3, null)]
    [InlineData("Step.FAILED", 1, null)]
    public void RetryDelay_FollowsThePolicy(string kind, int attempts, double? seconds)
    {
        var policies = new[] { new RetryPolicy([FailureKinds.ServiceFault], 2, 3, 3) };
        Assert.Equal(seconds is null ? null : TimeSpan.FromSeconds(seconds.Value), Planner.RetryDelay(policies, kind, attempts));
    }

    [Fact]
    public async Task RuntimeReferenceError_FailsTheStepWithTheReason()
    {
        var view = View("steps: {a: {type: noop}, b: {type: noop, inputs: {v: '${steps.a.outputs.missing}'}}}");
        var (end, _) = await RunAsync(view, _ => (StepStatus.Succeeded, new JsonObject()));
        Assert.Equal(ExecutionStatus.Failed, end.Status);
        Assert.Equal(StepStatus.Failed, StatusOf(end, "b"));
    }
}
