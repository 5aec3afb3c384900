using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mlops.PipelineRunner.Features.Definitions;

/// <summary>
/// Reads a definition (YAML or JSON, into one document model) and checks it as a whole: every problem found is reported
/// with its path, so one 400 lists them all. Pure: no I/O.
/// </summary>
public static partial class DefinitionParser
{
    private static readonly string[] TopLevelKeys = ["description", "parameters", "steps", "exit_handler", "parallelism"];
    private static readonly string[] StepKeys = ["type", "inputs", "depends_on", "when", "for_each", "parallelism", "retry", "timeout_seconds", "cache"];
    private static readonly string[] RetryKeys = ["exception_type", "interval_seconds", "backoff_rate", "max_attempts"];
    private static readonly string[] ParameterTypes = ["string", "number", "integer", "bool", "list", "map"];
    public const int MaxSteps = 2000;

    [GeneratedRegex("^[a-z][a-z0-9_]{0,62}$")]
    private static partial Regex Identifier();

    /// <summary>Parses <paramref name="text"/> as YAML (JSON is YAML too, but a JSON body is read as JSON for exact numbers).</summary>
    public static JsonNode? ReadDocument(string text, bool json, List<DefinitionProblem> problems)
    {
        try
        {
            if (json)
                return JsonNode.Parse(text);
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            // Round-tripped so every number is held the way a parsed JSON body holds it.
            return stream.Documents.Count == 0 ? null : JsonNode.Parse(FromYaml(stream.Documents[0].RootNode)?.ToJsonString() ?? "null");
        }
        catch (JsonException e)
        {
            problems.Add(new("$", $"Not valid JSON: {e.Message}"));
        }
        catch (ArgumentException e)
        {
            problems.Add(new("$", $"Not a valid document: {e.Message}"));
        }
        catch (YamlException e)
        {
            problems.Add(new("$", $"Not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {e.InnerException?.Message ?? e.Message}"));
        }
        return null;
    }

    public static (PipelineDefinition? Definition, List<DefinitionProblem> Problems) Parse(string text, bool json)
    {
        var problems = new List<DefinitionProblem>();
        var document = ReadDocument(text, json, problems);
        if (problems.Count > 0)
            return (null, problems);
        var definition = Bind(document, problems);
        if (definition is not null)
            DefinitionValidator.Validate(definition, problems);
        return (problems.Count == 0 ? definition : null, problems);
    }

    /// <summary>The document as a definition; shape problems (wrong kinds, unknown keys, bad values) are added.</summary>
    public static PipelineDefinition? Bind(JsonNode? document, List<DefinitionProblem> problems)
    {
        if (document is not JsonObject root)
        {
            problems.Add(new("$", "A pipeline definition is a mapping with 'steps' (and optionally 'parameters', 'exit_handler', 'parallelism', 'description')."));
            return null;
        }
        UnknownKeys(root, TopLevelKeys, "$", problems);
        var description = String(root["description"], "$.description", problems);
        var parallelism = PositiveInt(root["parallelism"], "$.parallelism", problems);

        var parameters = new List<ParameterDefinition>();
        if (root["parameters"] is JsonObject ps)
        {
            foreach (var (name, node) in ps)
                if (BindParameter(name, node, $"$.parameters.{name}", problems) is { } p)
                    parameters.Add(p);
        }
        else if (root["parameters"] is not null)
            problems.Add(new("$.parameters", "'parameters' is a mapping of name to {type, default}."));

        var steps = new List<StepDefinition>();
        if (root["steps"] is JsonObject ss && ss.Count > 0)
        {
            if (ss.Count > MaxSteps)
                problems.Add(new("$.steps", $"At most {MaxSteps} steps per pipeline; this one has {ss.Count}."));
            foreach (var (name, node) in ss)
                if (BindStep(name, node, $"$.steps.{name}", problems) is { } s)
                    steps.Add(s);
        }
        else
            problems.Add(new("$.steps", "'steps' is a non-empty mapping of step name to step."));

        StepDefinition? exit = null;
        if (root["exit_handler"] is { } eh)
        {
            exit = BindStep("exit_handler", eh, "$.exit_handler", problems);
            if (exit is { DependsOn.Count: > 0 })
                problems.Add(new("$.exit_handler.depends_on", "The exit handler runs after every other step, whatever the outcome: it has no depends_on."));
            if (exit?.ForEach is not null)
                problems.Add(new("$.exit_handler.for_each", "The exit handler does not fan out."));
            if (steps.Any(s => s.Name == "exit_handler"))
                problems.Add(new("$.steps.exit_handler", "'exit_handler' is reserved for the exit handler."));
        }
        return new PipelineDefinition(description, parameters, steps, exit, parallelism);
    }

    private static ParameterDefinition? BindParameter(string name, JsonNode? node, string path, List<DefinitionProblem> problems)
    {
        if (!Identifier().IsMatch(name))
            problems.Add(new(path, $"'{name}' is not a valid parameter name (lowercase letters, digits, '_', starting with a letter)."));
        if (node is not JsonObject p)
        {
            problems.Add(new(path, "A parameter is {type: string|number|integer|bool|list|map, default: …}."));
            return null;
        }
        UnknownKeys(p, ["type", "default", "description"], path, problems);
        var type = String(p["type"], path + ".type", problems);
        if (type is null)
        {
            problems.Add(new(path + ".type", "The parameter's type is missing (string, number, integer, bool, list or map)."));
            return null;
        }
        if (!ParameterTypes.Contains(type))
        {
            problems.Add(new(path + ".type", $"Unknown parameter type '{type}': use string, number, integer, bool, list or map."));
            return null;
        }
        var hasDefault = p.ContainsKey("default");
        var value = p["default"];
        if (hasDefault && ParameterValues.CheckType(type, value) is { } error)
            problems.Add(new(path + ".default", error));
        return new(name, type, value?.DeepClone(), hasDefault);
    }

    private static StepDefinition? BindStep(string name, JsonNode? node, string path, List<DefinitionProblem> problems)
    {
        if (name != "exit_handler" && !Identifier().IsMatch(name))
            problems.Add(new(path, $"'{name}' is not a valid step name (lowercase letters, digits, '_', starting with a letter)."));
        if (node is not JsonObject s)
        {
            problems.Add(new(path, "A step is a mapping with at least 'type'."));
            return null;
        }
        UnknownKeys(s, StepKeys, path, problems);
        var type = String(s["type"], path + ".type", problems);
        if (type is null)
            problems.Add(new(path + ".type", "The step's type is missing."));

        var inputs = new JsonObject();
        if (s["inputs"] is JsonObject i)
            inputs = (JsonObject)i.DeepClone();
        else if (s["inputs"] is not null)
            problems.Add(new(path + ".inputs", "'inputs' is a mapping of input name to value."));

        var dependsOn = new List<string>();
        switch (s["depends_on"])
        {
            case null: break;
            case JsonArray a:
                for (var k = 0; k < a.Count; k++)
                    if (String(a[k], $"{path}.depends_on[{k}]", problems) is { } d)
                        dependsOn.Add(d);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                dependsOn.Add(v.GetValue<string>());
                break;
            default:
                problems.Add(new(path + ".depends_on", "'depends_on' is a list of step names."));
                break;
        }

        var retry = new List<RetryPolicy>();
        switch (s["retry"])
        {
            case null: break;
            case JsonArray a:
                for (var k = 0; k < a.Count; k++)
                    if (BindRetry(a[k], $"{path}.retry[{k}]", problems) is { } r)
                        retry.Add(r);
                break;
            case JsonObject o:
                if (BindRetry(o, path + ".retry", problems) is { } one)
                    retry.Add(one);
                break;
            default:
                problems.Add(new(path + ".retry", "'retry' is a retry policy or a list of them."));
                break;
        }

        CachePolicy? cache = null;
        if (s["cache"] is JsonObject c)
        {
            UnknownKeys(c, ["expire_after"], path + ".cache", problems);
            var expire = String(c["expire_after"], path + ".cache.expire_after", problems);
            if (expire is null)
                problems.Add(new(path + ".cache.expire_after", "'expire_after' is required: a duration such as 30m, 12h, 7d or P7D."));
            else if (ParseDuration(expire) is { } ts)
                cache = new CachePolicy(ts);
            else
                problems.Add(new(path + ".cache.expire_after", $"'{expire}' is not a duration: use 90s, 30m, 12h, 7d or ISO 8601 (P7D, PT1H)."));
        }
        else if (s["cache"] is not null)
            problems.Add(new(path + ".cache", "'cache' is {expire_after: <duration>}."));

        return new StepDefinition(name, type ?? "", inputs, dependsOn,
            String(s["when"], path + ".when", problems),
            String(s["for_each"], path + ".for_each", problems),
            PositiveInt(s["parallelism"], path + ".parallelism", problems),
            retry,
            PositiveInt(s["timeout_seconds"], path + ".timeout_seconds", problems),
            cache);
    }

    private static RetryPolicy? BindRetry(JsonNode? node, string path, List<DefinitionProblem> problems)
    {
        if (node is not JsonObject r)
        {
            problems.Add(new(path, "A retry policy is {exception_type: [...], interval_seconds, backoff_rate, max_attempts}."));
            return null;
        }
        UnknownKeys(r, RetryKeys, path, problems);
        var kinds = new List<string>();
        if (r["exception_type"] is JsonArray a && a.Count > 0)
        {
            for (var k = 0; k < a.Count; k++)
                if (String(a[k], $"{path}.exception_type[{k}]", problems) is { } kind)
                {
                    if (FailureKinds.All.Contains(kind))
                        kinds.Add(kind);
                    else
                        problems.Add(new($"{path}.exception_type[{k}]", $"Unknown failure kind '{kind}': use {string.Join(", ", FailureKinds.All)}."));
                }
        }
        else
            problems.Add(new(path + ".exception_type", $"'exception_type' lists the failure kinds that retry: {string.Join(", ", FailureKinds.All)}."));
        var interval = Number(r["interval_seconds"], path + ".interval_seconds", problems) ?? 1;
        if (interval is < 0 or > 43200)
            problems.Add(new(path + ".interval_seconds", "'interval_seconds' is between 0 and 43200."));
        var backoff = Number(r["backoff_rate"], path + ".backoff_rate", problems) ?? 2;
        if (backoff is < 1 or > 10)
            problems.Add(new(path + ".backoff_rate", "'backoff_rate' is between 1 and 10."));
        var max = PositiveInt(r["max_attempts"], path + ".max_attempts", problems) ?? 5;
        if (max > 20)
            problems.Add(new(path + ".max_attempts", "'max_attempts' is at most 20."));
        return new RetryPolicy(kinds, interval, backoff, max);
    }

    /// <summary>90s, 30m, 12h, 7d, or ISO 8601 (P7D, PT1H30M).</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        var m = Regex.Match(text.Trim(), "^([0-9]+)(s|m|h|d)$");
        if (m.Success && long.TryParse(m.Groups[1].Value, CultureInfo.InvariantCulture, out var n) && n > 0 && n < 100_000)
            return m.Groups[2].Value switch
            {
                "s" => TimeSpan.FromSeconds(n), "m" => TimeSpan.FromMinutes(n), "h" => TimeSpan.FromHours(n), _ => TimeSpan.FromDays(n),
            };
        if (text.StartsWith('P'))
            try
            {
                var ts = XmlConvert.ToTimeSpan(text);
                return ts > TimeSpan.Zero ? ts : null;
            }
            catch (FormatException)
            {
            }
        return null;
    }

    private static void UnknownKeys(JsonObject o, string[] known, string path, List<DefinitionProblem> problems)
    {
        foreach (var (key, _) in o)
            if (!known.Contains(key))
                problems.Add(new($"{path}.{key}", $"Unknown key '{key}': expected one of {string.Join(", ", known)}."));
    }

    private static string? String(JsonNode? node, string path, List<DefinitionProblem> problems)
    {
        if (node is null)
            return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String)
            return v.GetValue<string>();
        problems.Add(new(path, "Expected a string."));
        return null;
    }

    private static double? Number(JsonNode? node, string path, List<DefinitionProblem> problems)
    {
        if (node is null)
            return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
            return Expressions.AsNumber(v);
        problems.Add(new(path, "Expected a number."));
        return null;
    }

    private static int? PositiveInt(JsonNode? node, string path, List<DefinitionProblem> problems)
    {
        if (Number(node, path, problems) is not { } d)
            return null;
        if (d >= 1 && d <= 1_000_000 && Math.Abs(d - Math.Round(d)) < 1e-9)
            return (int)d;
        problems.Add(new(path, "Expected a whole number from 1 to 1000000."));
        return null;
    }

    /// <summary>YAML's core schema: plain scalars that read as null, bools or numbers are those; quoted scalars are strings.</summary>
    private static JsonNode? FromYaml(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", FromYaml(kv.Value)))),
        YamlSequenceNode s => new JsonArray(s.Children.Select(FromYaml).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } p => Plain(p.Value ?? ""),
        YamlScalarNode q => JsonValue.Create(q.Value ?? ""),
        _ => null,
    };

    private static JsonNode? Plain(string value)
    {
        if (value is "" or "~" or "null" or "Null" or "NULL")
            return null;
        if (value is "true" or "True" or "TRUE")
            return JsonValue.Create(true);
        if (value is "false" or "False" or "FALSE")
            return JsonValue.Create(false);
        if (Regex.IsMatch(value, "^[-+]?[0-9]+$") && long.TryParse(value, CultureInfo.InvariantCulture, out var l))
            return JsonValue.Create(l);
        if (Regex.IsMatch(value, @"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
            && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
            return JsonValue.Create(d);
        return JsonValue.Create(value);
    }
}

/// <summary>Checks and coerces parameter values against their declared type.</summary>
public static class ParameterValues
{
    public static string? CheckType(string type, JsonNode? value)
    {
        var actual = Expressions.TypeOf(value);
        var ok = type switch
        {
            "string" => actual == ValueType.String,
            "number" => actual == ValueType.Number,
            "integer" => actual == ValueType.Number && Math.Abs(Expressions.AsNumber(value!) % 1) < 1e-12,
            "bool" => actual == ValueType.Bool,
            "list" => actual == ValueType.List,
            "map" => actual == ValueType.Map,
            _ => false,
        };
        return ok ? null : $"Expected a{(type is "integer" ? "n" : "")} {type}, got {(actual == ValueType.Null ? "null" : Expressions.Name(actual))}.";
    }

    public static ValueType ValueTypeOf(string parameterType) => parameterType switch
    {
        "string" => ValueType.String,
        "number" or "integer" => ValueType.Number,
        "bool" => ValueType.Bool,
        "list" => ValueType.List,
        "map" => ValueType.Map,
        _ => ValueType.Any,
    };

    /// <summary>The execution's parameters: given values checked against their types, defaults filled in; every problem listed.</summary>
    public static JsonObject Resolve(PipelineDefinition definition, JsonObject? given, List<DefinitionProblem> problems)
    {
        var resolved = new JsonObject();
        foreach (var (name, _) in given ?? [])
            if (definition.Parameters.All(p => p.Name != name))
                problems.Add(new($"$.parameters.{name}", $"The pipeline has no parameter '{name}'."));
        foreach (var p in definition.Parameters)
        {
            if (given is not null && given.TryGetPropertyValue(p.Name, out var value))
            {
                if (CheckType(p.Type, value) is { } error)
                    problems.Add(new($"$.parameters.{p.Name}", error));
                else
                    resolved[p.Name] = value?.DeepClone();
            }
            else if (p.HasDefault)
                resolved[p.Name] = p.Default?.DeepClone();
            else
                problems.Add(new($"$.parameters.{p.Name}", $"Parameter '{p.Name}' ({p.Type}) has no default and was not given."));
        }
        return resolved;
    }
}
