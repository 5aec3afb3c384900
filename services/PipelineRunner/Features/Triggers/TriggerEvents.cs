using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mlops.Contracts;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>
/// A bus event a trigger can listen to: its name in the API, its fields (snake_case) and its natural key. Events that are
/// state changes of one subject carry an <paramref name="Order"/>: the subject (an alarm's id) and its monotonic sequence
/// (the state change id), so a trigger acts only on a state change newer than the latest it acted on for that subject.
/// </summary>
public sealed record TriggerEvent(string Name, Type Message, IReadOnlyList<string> Fields, Func<object, string> Key,
    Func<object, (string Subject, long Sequence)>? Order = null);

/// <summary>
/// The events that start pipelines, and how a trigger's parameters are mapped from them: a parameter's value is any JSON
/// value; strings may reference event fields as <c>${event.group}</c>. A string that is exactly one reference takes the
/// field's value with its type (<c>${event.rows}</c> is a number); references inside a longer string are interpolated
/// (<c>"retrain after batch ${event.batch_id}"</c>).
/// </summary>
public static partial class TriggerEvents
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static readonly IReadOnlyList<TriggerEvent> All =
    [
        Define<FeaturesIngested>("features_ingested", e => $"{e.Group}/{e.Version}/{e.BatchId}"),
        Define<MonitorAlarmRaised>("monitor_alarm_raised", e => $"{e.AlarmId}/{e.StateChangeId}", e => (e.AlarmId, e.StateChangeId)),
        Define<ModelVersionCreated>("model_version_created", e => $"{e.Name}/{e.Version}"),
    ];

    private static TriggerEvent Define<T>(string name, Func<T, string> key, Func<T, (string, long)>? order = null) =>
        new(name, typeof(T), [.. typeof(T).GetProperties().Select(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))], o => key((T)o),
            order is null ? null : o => order((T)o));

    /// <summary>By API name (<c>features_ingested</c>) or record name (<c>FeaturesIngested</c>).</summary>
    public static TriggerEvent? Find(string? name) =>
        All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)
            || string.Equals(e.Message.Name, name, StringComparison.OrdinalIgnoreCase));

    public static TriggerEvent For(Type message) => All.Single(e => e.Message == message);

    /// <summary>The event as a JSON object of its snake_case fields: what filters compare and references read.</summary>
    public static JsonObject Fields(object message) => JsonSerializer.SerializeToNode(message, message.GetType(), Json)!.AsObject();

    [GeneratedRegex(@"\$\{\s*([^}]*?)\s*\}")]
    private static partial Regex Reference();

    /// <summary>Problems of a trigger's filter and parameter mapping against the event's fields (path, message).</summary>
    public static List<(string Path, string Message)> Check(TriggerEvent trigger, JsonObject? filter, JsonObject? parameters)
    {
        var problems = new List<(string, string)>();
        var known = string.Join(", ", trigger.Fields);
        foreach (var (field, value) in filter ?? [])
        {
            if (!trigger.Fields.Contains(field))
                problems.Add(($"$.filter.{field}", $"Event {trigger.Name} has no field '{field}'; its fields: {known}."));
            else if (value is not JsonValue)
                problems.Add(($"$.filter.{field}", "A filter value is a string, number or boolean that the field must equal."));
        }

        foreach (var (name, value) in parameters ?? [])
            Walk(value, $"$.parameters.{name}");
        return problems;

        void Walk(JsonNode? node, string path)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (k, v) in o)
                        Walk(v, $"{path}.{k}");
                    break;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++)
                        Walk(a[i], $"{path}[{i}]");
                    break;
                case JsonValue v when v.TryGetValue<string>(out var s):
                    foreach (Match m in Reference().Matches(s))
                    {
                        var reference = m.Groups[1].Value;
                        if (!reference.StartsWith("event.", StringComparison.Ordinal))
                            problems.Add((path, $"'{m.Value}': a trigger's parameters can reference only the event, as ${{event.<field>}}; its fields: {known}."));
                        else if (!trigger.Fields.Contains(reference["event.".Length..]))
                            problems.Add((path, $"'{m.Value}': event {trigger.Name} has no field '{reference["event.".Length..]}'; its fields: {known}."));
                    }
                    break;
            }
        }
    }

    /// <summary>Whether every filter field equals the event's (compared as JSON text, so 3 matches 3 and "x" matches "x").</summary>
    public static bool Matches(JsonObject filter, JsonObject fields) =>
        filter.All(f => fields[f.Key] is { } actual && Text(actual) == Text(f.Value));

    /// <summary>The trigger's parameters with every <c>${event.x}</c> resolved against <paramref name="fields"/>.</summary>
    public static JsonObject Map(JsonObject parameters, JsonObject fields)
    {
        var result = new JsonObject();
        foreach (var (name, value) in parameters)
            result[name] = Resolve(value, fields);
        return result;
    }

    private static JsonNode? Resolve(JsonNode? node, JsonObject fields) => node switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, Resolve(kv.Value, fields)))),
        JsonArray a => new JsonArray([.. a.Select(v => Resolve(v, fields))]),
        JsonValue v when v.TryGetValue<string>(out var s) => Interpolate(s, fields),
        _ => node?.DeepClone(),
    };

    private static JsonNode? Interpolate(string text, JsonObject fields)
    {
        var whole = Reference().Match(text);
        if (whole.Success && whole.Length == text.Length)
            return Field(whole.Groups[1].Value)?.DeepClone();
        return JsonValue.Create(Reference().Replace(text, m => Field(m.Groups[1].Value) is { } v ? Text(v) : ""));

        JsonNode? Field(string reference) => reference.StartsWith("event.", StringComparison.Ordinal) ? fields[reference["event.".Length..]] : null;
    }

    private static string Text(JsonNode? node) => node switch
    {
        null => "null",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<double>(out var d) => d.ToString(CultureInfo.InvariantCulture),
        _ => node.ToJsonString(),
    };
}
