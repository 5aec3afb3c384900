using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlops.PipelineRunner.Features.Definitions;

namespace Mlops.PipelineRunner.Features.Executions;

/// <summary>Step run statuses. Active ones hold a parallelism slot; done ones let dependants go on.</summary>
public static class StepStatus
{
    public const string Pending = "pending";      // not started yet
    public const string Ready = "ready";          // the start command is committed; a runner claims it
    public const string Running = "running";      // claimed by a runner (or, for a fan-out, items are running)
    public const string Waiting = "waiting";      // an approval waiting for a person
    public const string Succeeded = "succeeded";
    public const string Cached = "cached";        // outputs reused from an earlier identical step (cache hit)
    public const string Reused = "reused";        // outputs reused from the reference execution (selective execution)
    public const string Skipped = "skipped";      // its condition was false, or an upstream step was skipped
    public const string Failed = "failed";
    public const string Stopped = "stopped";
    public const string NotRun = "not_run";       // the execution ended (failed or stopped) before it could start

    public static bool IsActive(string s) => s is Ready or Running or Waiting;
    public static bool IsDone(string s) => s is Succeeded or Cached or Reused or Skipped;
    public static bool HasOutputs(string s) => s is Succeeded or Cached or Reused;
    public static bool IsTerminal(string s) => IsDone(s) || s is Failed or Stopped or NotRun;
}

public static class ExecutionStatus
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Stopping = "stopping";
    public const string Stopped = "stopped";
    public static bool IsTerminal(string s) => s is Succeeded or Failed or Stopped;
}

/// <summary>One step run as the planner sees it. <paramref name="Item"/> is -1 for a step (or a fan-out's parent), else the item index.</summary>
public sealed record StepView(string Step, int Item, string Status, JsonObject? Outputs, string? Error = null);

/// <param name="Run">1, then + 1 per retry from failure (events carry it).</param>
public sealed record ExecutionView(Guid Id, string Pipeline, int Version, string Status, bool StopRequested, PipelineDefinition Definition,
    JsonObject Parameters, IReadOnlyList<StepView> Steps, int Run = 1);

/// <summary>What the planner decides; the engine applies it in the same transaction as the state change that led to it.</summary>
public abstract record Decision;
/// <summary>Start a step (or a fan-out item) with its resolved inputs: a start command is written.</summary>
public sealed record StartStep(string Step, int Item, JsonObject Inputs, string CacheKey) : Decision;
/// <summary>A fan-out step's items: one row each, pending; the parent runs until they are done.</summary>
public sealed record ExpandStep(string Step, IReadOnlyList<JsonNode?> Items) : Decision;
public sealed record CompleteStep(string Step, int Item, string Status, JsonObject? Outputs, string? Error) : Decision;
public sealed record FinishExecution(string Status, string? Error) : Decision;

/// <summary>
/// The scheduler's brain, pure: from a pinned definition, the parameters and the step runs' states, which steps start,
/// skip, expand or fail, and whether the execution is over. The engine persists the result.
/// </summary>
public static class Planner
{
    public static List<Decision> Decide(ExecutionView view)
    {
        var decisions = new List<Decision>();
        if (ExecutionStatus.IsTerminal(view.Status))
            return decisions;
        var def = view.Definition;
        var rows = view.Steps.ToDictionary(s => (s.Step, s.Item));
        string StatusOf(string step) => rows.TryGetValue((step, -1), out var r) ? r.Status : StepStatus.Pending;

        var active = view.Steps.Count(s => StepStatus.IsActive(s.Status) && !IsFanOutParent(def, s));
        var budget = def.Parallelism is { } p ? Math.Max(0, p - active) : int.MaxValue;
        var mainSteps = def.Steps;
        var anyFailed = mainSteps.Any(s => StatusOf(s.Name) is StepStatus.Failed or StepStatus.Stopped);
        var halting = anyFailed || view.StopRequested;

        // Fan-out parents: start items within the step's and the execution's limits; collect or fail when items end.
        foreach (var step in mainSteps.Where(s => s.ForEach is not null && StatusOf(s.Name) == StepStatus.Running))
        {
            var items = view.Steps.Where(s => s.Step == step.Name && s.Item >= 0).OrderBy(s => s.Item).ToList();
            if (items.Any(i => i.Status is StepStatus.Failed or StepStatus.Stopped) && items.All(i => !StepStatus.IsActive(i.Status)))
            {
                var failed = items.First(i => i.Status is StepStatus.Failed or StepStatus.Stopped);
                decisions.Add(new CompleteStep(step.Name, -1, StepStatus.Failed, null, $"Item {failed.Item} {failed.Status}."));
                anyFailed = halting = true;
                continue;
            }
            if (items.All(i => StepStatus.IsDone(i.Status)))
            {
                decisions.Add(new CompleteStep(step.Name, -1, StepStatus.Succeeded, Collect(step, items), null));
                continue;
            }
            if (halting)
                continue;
            var running = items.Count(i => StepStatus.IsActive(i.Status));
            var itemBudget = Math.Min(budget, (step.Parallelism ?? int.MaxValue) - running);
            var itemValues = ItemValues(view, step);
            foreach (var item in items.Where(i => i.Status == StepStatus.Pending).Take(Math.Max(0, itemBudget)))
            {
                try
                {
                    decisions.Add(Start(view, step, item.Item, itemValues is null || item.Item >= itemValues.Count ? null : itemValues[item.Item], null, rows));
                }
                catch (ExpressionException e)
                {
                    decisions.Add(new CompleteStep(step.Name, item.Item, StepStatus.Failed, null, e.Message));
                }
                budget--;
            }
        }

        if (!halting)
        {
            foreach (var step in mainSteps)
            {
                if (StatusOf(step.Name) != StepStatus.Pending)
                    continue;
                var upstream = Dag.Upstream(def, step).Select(StatusOf).ToList();
                if (!upstream.All(StepStatus.IsDone))
                    continue;
                if (upstream.Contains(StepStatus.Skipped))
                {
                    decisions.Add(new CompleteStep(step.Name, -1, StepStatus.Skipped, null, "An upstream step was skipped."));
                    continue;
                }
                try
                {
                    if (step.When is { } when && !Expressions.EvaluateCondition(Expressions.Parse(when), r => Resolve(view, rows, r, null)))
                    {
                        decisions.Add(new CompleteStep(step.Name, -1, StepStatus.Skipped, null, $"Condition '{when}' is false."));
                        continue;
                    }
                    if (step.ForEach is not null)
                    {
                        var items = ItemValues(view, step) ?? throw new ExpressionException($"for_each '{step.ForEach}' is not a list.");
                        if (items.Count == 0)
                            decisions.Add(new CompleteStep(step.Name, -1, StepStatus.Succeeded, Collect(step, []), null));
                        else
                            decisions.Add(new ExpandStep(step.Name, items));
                        continue;
                    }
                    if (step.Type == "condition" && step.Inputs["expression"] is JsonValue ev && ev.TryGetValue<string>(out var expression))
                    {
                        // Decided here, in the transaction that made it possible: a condition costs no runner round trip.
                        var result = Expressions.EvaluateCondition(Expressions.Parse(expression), r => Resolve(view, rows, r, null));
                        decisions.Add(new CompleteStep(step.Name, -1, StepStatus.Succeeded, new JsonObject { ["result"] = result }, null));
                        continue;
                    }
                    if (budget <= 0)
                        continue;
                    decisions.Add(Start(view, step, -1, null, null, rows));
                    budget--;
                }
                catch (ExpressionException e)
                {
                    decisions.Add(new CompleteStep(step.Name, -1, StepStatus.Failed, null, e.Message));
                    halting = anyFailed = true;
                    break;
                }
            }
        }

        // The execution is over when no step is active and nothing more can start; then the exit handler, then the end.
        var changes = decisions.Count > 0;
        var anyActive = view.Steps.Any(s => StepStatus.IsActive(s.Status) && s.Step != "exit_handler" && !IsFanOutParent(def, s));
        if (changes || anyActive)
            return decisions;
        var allDone = mainSteps.All(s => StepStatus.IsDone(StatusOf(s.Name)));
        var outcome = view.StopRequested ? ExecutionStatus.Stopped : anyFailed ? ExecutionStatus.Failed : allDone ? ExecutionStatus.Succeeded : null;
        if (outcome is null)
            return decisions; // waiting for something (e.g. a retry's delay)
        if (def.ExitHandler is { } exit)
        {
            var exitStatus = StatusOf(exit.Name);
            if (exitStatus == StepStatus.Pending)
            {
                try
                {
                    decisions.Add(Start(view, exit, -1, null, outcome, rows));
                }
                catch (ExpressionException e)
                {
                    decisions.Add(new CompleteStep(exit.Name, -1, StepStatus.Failed, null, e.Message));
                    decisions.Add(new FinishExecution(ExecutionStatus.Failed, $"The exit handler failed: {e.Message}"));
                }
                return decisions;
            }
            if (StepStatus.IsActive(exitStatus))
                return decisions;
            if (exitStatus is StepStatus.Failed && outcome == ExecutionStatus.Succeeded)
                outcome = ExecutionStatus.Failed;
        }
        decisions.Add(new FinishExecution(outcome, outcome == ExecutionStatus.Failed ? FirstError(view) : null));
        return decisions;
    }

    /// <summary>
    /// Decides until nothing changes (a skip can unblock a dependant, an expansion starts items), applying each decision to
    /// the view. <paramref name="onStart"/> may answer a start with a completion instead (a cache hit).
    /// </summary>
    public static async Task<(List<Decision> Decisions, ExecutionView View)> SettleAsync(ExecutionView view,
        Func<StartStep, Task<CompleteStep?>>? onStart = null)
    {
        var all = new List<Decision>();
        for (var round = 0; round < 10_000; round++)
        {
            var decisions = Decide(view);
            if (decisions.Count == 0)
                break;
            var steps = view.Steps.ToDictionary(s => (s.Step, s.Item));
            var status = view.Status;
            foreach (var d in decisions)
            {
                var applied = d is StartStep start && onStart is not null ? await onStart(start) ?? d : d;
                all.Add(applied);
                switch (applied)
                {
                    case StartStep st:
                        steps[(st.Step, st.Item)] = new StepView(st.Step, st.Item, StepStatus.Ready, null);
                        break;
                    case ExpandStep ex:
                        steps[(ex.Step, -1)] = new StepView(ex.Step, -1, StepStatus.Running, null);
                        for (var i = 0; i < ex.Items.Count; i++)
                            steps[(ex.Step, i)] = new StepView(ex.Step, i, StepStatus.Pending, null);
                        break;
                    case CompleteStep c:
                        steps[(c.Step, c.Item)] = new StepView(c.Step, c.Item, c.Status, c.Outputs);
                        break;
                    case FinishExecution f:
                        status = f.Status;
                        break;
                }
            }
            view = view with { Status = status, Steps = steps.Values.ToList() };
            if (ExecutionStatus.IsTerminal(status))
                break;
        }
        return (all, view);
    }

    // The step's own error is the execution's reason (a gate not met says which metric missed by how much).
    private static string? FirstError(ExecutionView view) =>
        view.Steps.FirstOrDefault(s => s.Status == StepStatus.Failed) is { } f
            ? $"Step '{f.Step}'{(f.Item >= 0 ? $" item {f.Item}" : "")} failed{(string.IsNullOrEmpty(f.Error) ? "." : $": {f.Error}")}"
            : null;

    private static bool IsFanOutParent(PipelineDefinition def, StepView s) => s.Item < 0 && def.Step(s.Step)?.ForEach is not null;

    private static StartStep Start(ExecutionView view, StepDefinition step, int item, JsonNode? itemValue, string? outcome,
        Dictionary<(string, int), StepView> rows)
    {
        var inputs = (JsonObject)ResolveTree(step.Inputs, r => Resolve(view, rows, r, itemValue, outcome))!;
        return new StartStep(step.Name, item, inputs, CacheKey(step.Type, inputs));
    }

    private static List<JsonNode?>? ItemValues(ExecutionView view, StepDefinition step)
    {
        var rows = view.Steps.ToDictionary(s => (s.Step, s.Item));
        var r = Expressions.WholeReference(step.ForEach!)!;
        return Resolve(view, rows, r, null) is JsonArray a ? a.Select(n => n?.DeepClone()).ToList() : null;
    }

    /// <summary>A fan-out's outputs: each output a list of the items' values, in item order, plus <c>results</c> (every item's outputs).</summary>
    private static JsonObject Collect(StepDefinition step, IReadOnlyList<StepView> items)
    {
        var names = StepTypes.All.TryGetValue(step.Type, out var t) ? t.Outputs.Keys.ToHashSet() : new HashSet<string>();
        foreach (var i in items)
            foreach (var (k, _) in i.Outputs ?? [])
                names.Add(k);
        var collected = new JsonObject();
        foreach (var name in names.Order())
            collected[name] = new JsonArray(items.Select(i => i.Outputs?[name]?.DeepClone()).ToArray());
        collected["results"] = new JsonArray(items.Select(i => (JsonNode?)(i.Outputs?.DeepClone() ?? new JsonObject())).ToArray());
        return collected;
    }

    public static JsonNode? Resolve(ExecutionView view, Dictionary<(string, int), StepView> rows, Reference r, JsonNode? item, string? outcome = null)
    {
        switch (r.Kind)
        {
            case ReferenceKind.Param:
                return view.Parameters[r.Name];
            case ReferenceKind.Execution:
                return r.Name switch
                {
                    "id" => JsonValue.Create(view.Id.ToString()),
                    "pipeline" => JsonValue.Create(view.Pipeline),
                    "version" => JsonValue.Create(view.Version),
                    _ => JsonValue.Create(outcome ?? view.Status),
                };
            case ReferenceKind.Item:
                return Path(item, r.Rest, r.Text);
            default:
                if (!rows.TryGetValue((r.Name, -1), out var row) || !StepStatus.HasOutputs(row.Status))
                    return null; // a skipped step's outputs are null (visible to the exit handler)
                if (row.Outputs is null || !row.Outputs.TryGetPropertyValue(r.Output!, out var value))
                    throw new ExpressionException($"Step '{r.Name}' produced no output '{r.Output}'.");
                return Path(value, r.Rest, r.Text);
        }
    }

    private static JsonNode? Path(JsonNode? node, IReadOnlyList<string> rest, string text)
    {
        foreach (var key in rest)
            node = node is JsonObject o && o.TryGetPropertyValue(key, out var next)
                ? next
                : throw new ExpressionException($"'${{{text}}}': no field '{key}'.");
        return node;
    }

    /// <summary>Inputs with every reference replaced: a whole-string reference keeps its value's type; embedded ones interpolate.</summary>
    public static JsonNode? ResolveTree(JsonNode? node, Func<Reference, JsonNode?> resolve) => node switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, ResolveTree(kv.Value, resolve)))),
        JsonArray a => new JsonArray(a.Select(n => ResolveTree(n, resolve)).ToArray()),
        JsonValue v when v.TryGetValue<string>(out var s) && s.Contains("${", StringComparison.Ordinal) =>
            Expressions.WholeReference(s) is { } whole ? resolve(whole)?.DeepClone() : JsonValue.Create(Interpolate(s, resolve)),
        _ => node?.DeepClone(),
    };

    private static string Interpolate(string text, Func<Reference, JsonNode?> resolve)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (true)
        {
            var start = text.IndexOf("${", i, StringComparison.Ordinal);
            if (start < 0)
                break;
            var end = text.IndexOf('}', start);
            sb.Append(text, i, start - i);
            var value = resolve(Expressions.ParseReference(text[(start + 2)..end]));
            sb.Append(value is JsonValue jv && jv.TryGetValue<string>(out var str) ? str : value?.ToJsonString() ?? "");
            i = end + 1;
        }
        return sb.Append(text, i, text.Length - i).ToString();
    }

    /// <summary>
    /// A step's cache key: SHA-256 over its type and its resolved inputs in canonical JSON (keys sorted). Per step, so
    /// editing one step of a pipeline leaves the others' keys as they were.
    /// </summary>
    public static string CacheKey(string type, JsonObject resolvedInputs)
    {
        var canonical = new JsonObject { ["type"] = type, ["inputs"] = Canonical(resolvedInputs), ["v"] = 1 };
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToJsonString())));
    }

    public static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, Canonical(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(Canonical).ToArray()),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => JsonValue.Create(Expressions.AsNumber(v)),
        _ => node?.DeepClone(),
    };

    /// <summary>The delay before the next attempt if a policy retries this failure kind, else null.</summary>
    public static TimeSpan? RetryDelay(IReadOnlyList<RetryPolicy> policies, string failureKind, int attemptsSoFar)
    {
        var policy = policies.FirstOrDefault(p => p.ExceptionTypes.Contains(failureKind));
        return policy is null || attemptsSoFar >= policy.MaxAttempts ? null : policy.DelayBefore(attemptsSoFar + 1);
    }
}
