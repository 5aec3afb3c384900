using System.Collections;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mlops.FeatureStore.Features.Groups;

namespace Mlops.FeatureStore.Features.Ingestion;

public enum ColumnRole { Key, EventTime, Feature }

/// <summary>One column of a group's records with its compiled rules.</summary>
public sealed class SchemaColumn(string name, string type, ColumnRole role, FeatureDefinition? feature)
{
    public string Name { get; } = name;
    public string Type { get; } = type;
    public ColumnRole Role { get; } = role;
    public bool Required { get; } = role != ColumnRole.Feature || feature?.Constraints?.NotNull == true;
    public double? Min { get; } = feature?.Constraints?.Min;
    public double? Max { get; } = feature?.Constraints?.Max;
    public int? Dimension { get; } = feature?.Dimension;
    public HashSet<string>? Allowed { get; } = feature?.Constraints?.AllowedValues is { } a ? [.. a] : null;
    public Regex? Pattern { get; } = feature?.Constraints?.Pattern is { } p ? new Regex(p, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50)) : null;

    /// <summary>The DuckDB (and so Parquet) type of the column in the offline store.</summary>
    public string DuckDbType => Type switch
    {
        FeatureTypes.Int64 => "BIGINT",
        FeatureTypes.Double => "DOUBLE",
        FeatureTypes.Bool => "BOOLEAN",
        FeatureTypes.Timestamp => "TIMESTAMP",
        FeatureTypes.FloatVector => "FLOAT[]",
        _ => "VARCHAR",
    };
}

/// <summary>
/// A group version's record layout (keys, event time, features, in that order) and the one conversion every input format
/// goes through: a raw value (JSON element, CSV text, or a Parquet value) becomes the stored value, or a reason it cannot.
/// Stored values: long, double, string, bool, DateTime (UTC, microseconds), float[].
/// </summary>
public sealed class GroupSchema
{
    public FeatureGroup Group { get; }
    public SchemaColumn[] Columns { get; }
    public int KeyCount { get; }
    public int EventTimeIndex => KeyCount;
    public int FirstFeatureIndex => KeyCount + 1;
    private readonly Dictionary<string, int> _index;

    public GroupSchema(FeatureGroup group)
    {
        Group = group;
        Columns =
        [
            .. group.EntityKeys.Select(k => new SchemaColumn(k.Name, k.Type, ColumnRole.Key, null)),
            new SchemaColumn(group.EventTime, FeatureTypes.Timestamp, ColumnRole.EventTime, null),
            .. group.Features.Select(f => new SchemaColumn(f.Name, f.Type, ColumnRole.Feature, f)),
        ];
        KeyCount = group.EntityKeys.Count;
        _index = Columns.Select((c, i) => (c.Name, i)).ToDictionary(p => p.Name, p => p.i);
    }

    // One compiled schema (columns, rules, patterns) per definition: the catalog hands out the same FeatureGroup instance
    // while it is cached, so hot paths (every online read, every batch) stop rebuilding it.
    private static readonly ConditionalWeakTable<FeatureGroup, GroupSchema> Compiled = new();

    /// <summary>The schema of a definition, built once per definition instance.</summary>
    public static GroupSchema For(FeatureGroup group) => Compiled.GetValue(group, g => new GroupSchema(g));

    public int IndexOf(string column) => _index.TryGetValue(column, out var i) ? i : -1;

    /// <summary>The online store's key of an entity: the key values' text, joined by U+001F for composite keys.</summary>
    public static string EntityKey(ReadOnlySpan<object?> keys)
    {
        if (keys.Length == 1)
            return KeyText(keys[0]);
        var parts = new string[keys.Length];
        for (var i = 0; i < keys.Length; i++)
            parts[i] = KeyText(keys[i]);
        return string.Join('\u001f', parts);
    }

    private static string KeyText(object? value) => value switch
    {
        long l => l.ToString(CultureInfo.InvariantCulture),
        string s => s,
        _ => throw new InvalidOperationException($"Unexpected key value {value}."),
    };

    /// <summary>Converts and checks one value; returns the reason it is refused, or null.</summary>
    public static string? Convert(SchemaColumn column, object? raw, out object? value)
    {
        value = null;
        if (raw is JsonElement { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined } || raw is null || raw is DBNull)
            return column.Required ? (column.Role == ColumnRole.Feature ? "is null but the feature is not-null" : "is required") : null;

        var reason = column.Type switch
        {
            FeatureTypes.Int64 => ToInt64(raw, out value),
            FeatureTypes.Double => ToDouble(raw, out value),
            FeatureTypes.String => ToText(raw, out value),
            FeatureTypes.Bool => ToBool(raw, out value),
            FeatureTypes.Timestamp => ToTimestamp(raw, out value),
            FeatureTypes.FloatVector => ToVector(raw, out value),
            _ => $"has unsupported type {column.Type}",
        };
        return reason ?? Check(column, value);
    }

    private static string? Check(SchemaColumn column, object? value)
    {
        switch (value)
        {
            case long l:
                if (l < column.Min) return $"{l} is below the minimum {column.Min}";
                if (l > column.Max) return $"{l} is above the maximum {column.Max}";
                if (column.Allowed is { } allowed && !allowed.Contains(l.ToString(CultureInfo.InvariantCulture))) return $"{l} is not an allowed value";
                break;
            case double d:
                if (d < column.Min) return $"{d.ToString(CultureInfo.InvariantCulture)} is below the minimum {column.Min}";
                if (d > column.Max) return $"{d.ToString(CultureInfo.InvariantCulture)} is above the maximum {column.Max}";
                break;
            case string s:
                if (column.Allowed is { } values && !values.Contains(s)) return $"'{Shorten(s)}' is not an allowed value";
                if (column.Pattern is { } pattern)
                {
                    try
                    {
                        if (!pattern.IsMatch(s)) return $"'{Shorten(s)}' does not match the pattern {pattern}";
                    }
                    catch (RegexMatchTimeoutException)
                    {
                        return "took too long to match the pattern";
                    }
                }
                break;
            case float[] v:
                if (column.Dimension is { } dimension && v.Length != dimension) return $"has {v.Length} elements; the vector's dimension is {dimension}";
                break;
        }
        return null;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    private static string? ToInt64(object raw, out object? value)
    {
        value = null;
        switch (raw)
        {
            case JsonElement { ValueKind: JsonValueKind.Number } e when e.TryGetInt64(out var l): value = l; return null;
            case JsonElement { ValueKind: JsonValueKind.Number }: return "is not an integer in the int64 range";
            case JsonElement e: return $"expected an integer, got {Kind(e)}";
            case long l: value = l; return null;
            case int or short or sbyte or byte or ushort or uint: value = System.Convert.ToInt64(raw, CultureInfo.InvariantCulture); return null;
            case ulong u when u <= long.MaxValue: value = (long)u; return null;
            case string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l): value = l; return null;
            case string s: return $"'{Shorten(s)}' is not an integer";
            default: return $"expected an integer, got {raw.GetType().Name}";
        }
    }

    private static string? ToDouble(object raw, out object? value)
    {
        value = null;
        double d;
        switch (raw)
        {
            case JsonElement { ValueKind: JsonValueKind.Number } e: d = e.GetDouble(); break;
            case JsonElement e: return $"expected a number, got {Kind(e)}";
            case double x: d = x; break;
            case float f: d = f; break;
            case long or int or short or sbyte or byte or ushort or uint or ulong or decimal: d = System.Convert.ToDouble(raw, CultureInfo.InvariantCulture); break;
            case string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var x): d = x; break;
            case string s: return $"'{Shorten(s)}' is not a number";
            default: return $"expected a number, got {raw.GetType().Name}";
        }
        if (!double.IsFinite(d)) return "is not a finite number";
        value = d;
        return null;
    }

    private static string? ToText(object raw, out object? value)
    {
        value = null;
        var s = raw switch
        {
            JsonElement { ValueKind: JsonValueKind.String } e => e.GetString(),
            string x => x,
            _ => null,
        };
        if (s is null) return raw is JsonElement e2 ? $"expected a string, got {Kind(e2)}" : $"expected a string, got {raw.GetType().Name}";
        if (s.Contains('\0')) return "contains a NUL character, which cannot be stored";
        value = s;
        return null;
    }

    private static string? ToBool(object raw, out object? value)
    {
        value = null;
        switch (raw)
        {
            case JsonElement { ValueKind: JsonValueKind.True }: value = true; return null;
            case JsonElement { ValueKind: JsonValueKind.False }: value = false; return null;
            case JsonElement e: return $"expected true or false, got {Kind(e)}";
            case bool b: value = b; return null;
            case string s when s is "true" or "True" or "TRUE" or "1": value = true; return null;
            case string s when s is "false" or "False" or "FALSE" or "0": value = false; return null;
            case string s: return $"'{Shorten(s)}' is not a boolean (true/false)";
            default: return $"expected a boolean, got {raw.GetType().Name}";
        }
    }

    /// <summary>Timestamps are UTC, kept to the microsecond (what PostgreSQL, DuckDB and Parquet store).</summary>
    public static DateTime Normalize(DateTime t)
    {
        var utc = t.Kind switch
        {
            DateTimeKind.Local => t.ToUniversalTime(),
            _ => DateTime.SpecifyKind(t, DateTimeKind.Utc),
        };
        return new DateTime(utc.Ticks - utc.Ticks % 10, DateTimeKind.Utc);
    }

    private static string? ToTimestamp(object raw, out object? value)
    {
        value = null;
        string? text;
        switch (raw)
        {
            case JsonElement { ValueKind: JsonValueKind.String } e: text = e.GetString(); break;
            case JsonElement e: return $"expected an ISO 8601 timestamp string, got {Kind(e)}";
            case DateTime t: value = Normalize(t); return null;
            case DateTimeOffset o: value = Normalize(o.UtcDateTime); return null;
            case DateOnly d: value = d.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc); return null;
            case string s: text = s; break;
            default: return $"expected a timestamp, got {raw.GetType().Name}";
        }
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var parsed))
            return $"'{Shorten(text ?? "")}' is not a timestamp (use ISO 8601, e.g. 2001-01-31T08:15:00Z)";
        if (parsed.UtcDateTime.Year is < 1 or > 9999)
            return "is out of range";
        value = Normalize(parsed.UtcDateTime);
        return null;
    }

    private static string? ToVector(object raw, out object? value)
    {
        value = null;
        switch (raw)
        {
            case JsonElement { ValueKind: JsonValueKind.Array } e:
            {
                var vector = new float[e.GetArrayLength()];
                var i = 0;
                foreach (var item in e.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Number) return $"element {i} is {Kind(item)}, not a number";
                    var f = item.GetSingle();
                    if (!float.IsFinite(f)) return $"element {i} is not a finite float";
                    vector[i++] = f;
                }
                value = vector;
                return null;
            }
            case JsonElement e: return $"expected an array of numbers, got {Kind(e)}";
            case string s:
                try
                {
                    using var document = JsonDocument.Parse(s);
                    return ToVector(document.RootElement.Clone(), out value);
                }
                catch (JsonException)
                {
                    return "is not a JSON array of numbers, e.g. [0.1, 0.2]";
                }
            case float[] f: value = f; return null;
            case IEnumerable items and not string:
            {
                var list = new List<float>();
                foreach (var item in items)
                {
                    if (item is null) return $"element {list.Count} is null";
                    var f = System.Convert.ToSingle(item, CultureInfo.InvariantCulture);
                    if (!float.IsFinite(f)) return $"element {list.Count} is not a finite float";
                    list.Add(f);
                }
                value = list.ToArray();
                return null;
            }
            default: return $"expected a vector, got {raw.GetType().Name}";
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };
}
