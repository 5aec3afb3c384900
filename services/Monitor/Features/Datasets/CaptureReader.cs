using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Mlops.Monitor.Features.Drift;
using Mlops.Monitor.Features.Profiles;
using Mlops.ServiceDefaults.Storage;

namespace Mlops.Monitor.Features.Datasets;

/// <summary>What a capture window held: the input features' profile and the predictions' (column <c>prediction</c>).</summary>
public sealed record CaptureProfile(DatasetProfile Inputs, ColumnProfile? Predictions, int Files, long Events, long UnreadableEvents)
{
    public static readonly CaptureProfile Empty = new(new DatasetProfile(0, []), null, 0, 0, 0);

    /// <summary>Two captures as one (an endpoint's variants together).</summary>
    public static CaptureProfile Merge(CaptureProfile a, CaptureProfile b) => new(ProfileMerge.Merge(a.Inputs, b.Inputs),
        a.Predictions is null ? b.Predictions : b.Predictions is null ? a.Predictions : ProfileMerge.Merge(a.Predictions, b.Predictions),
        a.Files + b.Files, a.Events + b.Events, a.UnreadableEvents + b.UnreadableEvents);
}

/// <summary>
/// Reads Serving's data capture (SageMaker's JSON Lines: captureData.endpointInput / endpointOutput with
/// observedContentType, mode, data, encoding; eventMetadata with eventId, inferenceId, inferenceTime; eventVersion) under
/// <c>endpoint/variant/yyyy/mm/dd/hh/</c> for a time window, streaming: each event's values go straight into per-column
/// counts, no rows are kept.
/// </summary>
public sealed class CaptureReader(ObjectStore store, IOptions<MonitorOptions> options)
{
    public const string PredictionColumn = "prediction";

    /// <summary>
    /// Each variant's capture for the window, profiled separately (the variant named, or every variant found under the
    /// endpoint), so a run can report and alarm per variant as well as for the endpoint.
    /// </summary>
    /// <param name="predictions">When given, every captured prediction is also kept by inference id, for the ground-truth merge.</param>
    /// <param name="inputs">When given, a sample of the captured input rows (for feature attributions).</param>
    public async Task<IReadOnlyList<(string Variant, CaptureProfile Profile)>> ProfileVariantsAsync(string endpoint, string? variant, DateTimeOffset start,
        DateTimeOffset end, DatasetProfile baseline, CancellationToken ct, Quality.PredictionCollector? predictions = null, Attribution.RowSample? inputs = null)
    {
        var root = S3Location.Parse(options.Value.CaptureUri.TrimEnd('/') + "/", "Monitor:CaptureUri");
        var prefix = root.Key.Trim('/');
        var variants = variant is not null ? [variant] : await VariantsAsync(root.Bucket, $"{prefix}/{endpoint}/", ct);
        var result = new List<(string, CaptureProfile)>();
        foreach (var v in variants)
        {
            var events = new CaptureAccumulator(baseline, start, end, predictions, v, inputs);
            for (var hour = Truncate(start); hour < end; hour = hour.AddHours(1))
            {
                var hourPrefix = $"{prefix}/{endpoint}/{v}/{hour:yyyy}/{hour:MM}/{hour:dd}/{hour:HH}/";
                await foreach (var obj in store.ListAsync(root.Bucket, hourPrefix, null, ct))
                {
                    if (obj.IsPrefix) continue;
                    events.Files++;
                    await using var content = await store.GetAsync(root.Bucket, obj.Key, ct);
                    using var reader = new StreamReader(content, Encoding.UTF8);
                    while (await reader.ReadLineAsync(ct) is { } line) events.Add(line);
                }
            }
            result.Add((v, events.Build()));
        }
        return result;
    }

    private async Task<List<string>> VariantsAsync(string bucket, string endpointPrefix, CancellationToken ct)
    {
        // The variants are the "folders" under the endpoint. s3rver only reports a common prefix for objects one folder
        // down (it does not descend further when a delimiter is given), so when none comes back the objects are listed
        // without one and the variant is their first path segment.
        var variants = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var delimiter in new[] { "/", null })
        {
            await foreach (var o in store.ListAsync(bucket, endpointPrefix, delimiter, ct))
            {
                var rest = o.Key[endpointPrefix.Length..];
                var slash = rest.IndexOf('/');
                if (slash > 0) variants.Add(rest[..slash]);
            }
            if (variants.Count > 0) break;
        }
        return [.. variants];
    }

    private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.UtcDateTime.Year, t.UtcDateTime.Month, t.UtcDateTime.Day, t.UtcDateTime.Hour, 0, 0, TimeSpan.Zero);
}

/// <summary>
/// Capture events (one JSON line each) of a window folded into per-column counts: the part of <see cref="CaptureReader"/>
/// that needs no S3. Events outside [start, end) by inferenceTime are skipped; an unreadable event is counted, not fatal.
/// </summary>
public sealed class CaptureAccumulator(DatasetProfile baseline, DateTimeOffset start, DateTimeOffset end,
    Quality.PredictionCollector? collector = null, string variant = "", Attribution.RowSample? sample = null)
{
    private readonly Dictionary<string, ColumnProfileBuilder> builders =
        baseline.Columns.ToDictionary(c => c.Name, c => new ColumnProfileBuilder(c.Name, c.Kind), StringComparer.Ordinal);
    private readonly List<string> order = baseline.Columns.Select(c => c.Name).ToList();
    private readonly HashSet<string> seen = new(StringComparer.Ordinal);
    private readonly ColumnProfileBuilder prediction =
        new(CaptureReader.PredictionColumn, baseline.Find(CaptureReader.PredictionColumn)?.Kind ?? ColumnKind.Numerical);
    private long rows, events, unreadable, predictions;

    public int Files { get; set; }

    public void Add(string line)
    {
        if (line.Length == 0) return;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            if (!InWindow(e, start, end)) return;
            events++;
            var capture = e.GetProperty("captureData");
            if (capture.TryGetProperty("endpointInput", out var input))
            {
                rows += ReadInput(input, order, builders, seen, baseline, sample, Id(e));
                if (collector?.FacetColumn is { } facet && Id(e) is { } facetId && FacetValue(input, order, facet) is { } value)
                    collector.FacetById[facetId] = value;
            }
            if (capture.TryGetProperty("endpointOutput", out var output))
            {
                predictions += ReadOutput(output, prediction);
                if (collector is not null && IsJson(output) && Id(e) is { } id)
                {
                    using var payload = JsonDocument.Parse(Payload(output));
                    collector.Add(id, variant, payload.RootElement);
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            unreadable++;
        }
    }

    public CaptureProfile Build()
    {
        // Columns of the baseline that no event carried are absent (a missing-column violation), not all-missing.
        var columns = builders.Values.Where(b => seen.Contains(b.Name)).Select(b => b.Build()).ToList();
        return new CaptureProfile(new DatasetProfile(rows, columns), predictions > 0 ? prediction.Build() : null, Files, events, unreadable);
    }

    // Model Monitor merges ground truth by inference id, else by event id.
    private static string? Id(JsonElement e) =>
        !e.TryGetProperty("eventMetadata", out var meta) ? null
        : meta.TryGetProperty("inferenceId", out var i) && i.GetString() is { Length: > 0 } inference ? inference
        : meta.TryGetProperty("eventId", out var ev) ? ev.GetString() : null;

    private static bool InWindow(JsonElement e, DateTimeOffset start, DateTimeOffset end)
    {
        if (!e.TryGetProperty("eventMetadata", out var meta) || !meta.TryGetProperty("inferenceTime", out var time)) return true;
        var t = DateTimeOffset.Parse(time.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        return t >= start && t < end;
    }

    private static string Payload(JsonElement part)
    {
        var data = part.GetProperty("data").GetString() ?? "";
        var encoding = part.TryGetProperty("encoding", out var enc) ? enc.GetString() : null;
        return string.Equals(encoding, "BASE64", StringComparison.OrdinalIgnoreCase) ? Encoding.UTF8.GetString(Convert.FromBase64String(data)) : data;
    }

    private static bool IsJson(JsonElement part)
    {
        var type = part.TryGetProperty("observedContentType", out var t) ? t.GetString() ?? "" : "";
        var encoding = part.TryGetProperty("encoding", out var enc) ? enc.GetString() : null;
        return type.Contains("json", StringComparison.OrdinalIgnoreCase) || string.Equals(encoding, "JSON", StringComparison.OrdinalIgnoreCase);
    }

    private static long ReadInput(JsonElement input, List<string> order, Dictionary<string, ColumnProfileBuilder> builders, HashSet<string> seen,
        DatasetProfile baseline, Attribution.RowSample? sample, string? id)
    {
        var payload = Payload(input);
        long rows = 0;
        var sampled = sample is null ? null : new List<IReadOnlyDictionary<string, object?>>();
        if (!IsJson(input))
        {
            // CSV without a header: values map to the baseline's columns in order; more values are extra columns _c{i}.
            foreach (var line in payload.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var values = line.Split(',');
                for (var i = 0; i < values.Length; i++)
                    AddValue(i < order.Count ? order[i] : $"_c{i}", values[i].Trim().Trim('"'), builders, seen, baseline);
                for (var i = values.Length; i < order.Count; i++) builders[order[i]].AddMissing();
                sampled?.Add(values.Select((v, i) => (Name: i < order.Count ? order[i] : $"_c{i}", Value: v.Trim().Trim('"')))
                    .ToDictionary(p => p.Name, p => p.Value.Length == 0 ? null : (object?)p.Value, StringComparer.Ordinal));
                rows++;
            }
            if (sampled is not null) sample!.AddEvent(sampled, id);
            return rows;
        }
        using var doc = JsonDocument.Parse(payload);
        foreach (var row in JsonRows(doc.RootElement, order))
        {
            foreach (var (name, value) in row) AddJson(name, value, builders, seen, baseline);
            foreach (var name in order)
                if (!row.ContainsKey(name) && builders.TryGetValue(name, out var b)) b.AddMissing();
            sampled?.Add(row.ToDictionary(p => p.Key, p => Value(p.Value), StringComparer.Ordinal));
            rows++;
        }
        if (sampled is not null) sample!.AddEvent(sampled, id);
        return rows;
    }

    // A captured JSON value as the model package's row binder takes it (the document is disposed after the event).
    private static object? Value(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => v.GetDouble(),
        JsonValueKind.String => v.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => v.GetRawText(),
    };

    /// <summary>One column's value (as text) in a request of one row, for the bias facet; null when absent, missing or several rows.</summary>
    internal static string? FacetValue(JsonElement input, List<string> order, string column)
    {
        var payload = Payload(input);
        if (!IsJson(input))
        {
            var lines = payload.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (lines.Length != 1) return null;
            var values = lines[0].Split(',');
            var i = order.IndexOf(column);
            if (i < 0 && column.StartsWith("_c", StringComparison.Ordinal) && int.TryParse(column[2..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) && c >= order.Count) i = c;
            var text = i >= 0 && i < values.Length ? values[i].Trim().Trim('"') : "";
            return text.Length == 0 ? null : text;
        }
        using var doc = JsonDocument.Parse(payload);
        string? found = null;
        var n = 0;
        foreach (var row in JsonRows(doc.RootElement, order))
        {
            if (++n > 1) return null;
            if (row.TryGetValue(column, out var v))
                found = v.ValueKind switch
                {
                    JsonValueKind.String => v.GetString(),
                    JsonValueKind.Number => v.GetRawText(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => null,
                };
        }
        return string.IsNullOrEmpty(found) ? null : found;
    }

    /// <summary>The request shapes of MLflow's scoring protocol and plain JSON: each row as name → value.</summary>
    private static IEnumerable<Dictionary<string, JsonElement>> JsonRows(JsonElement root, List<string> order)
    {
        if (root.ValueKind == JsonValueKind.Object)
        {
            if (root.TryGetProperty("dataframe_split", out var split))
            {
                var columns = split.GetProperty("columns").EnumerateArray().Select(c => c.GetString()!).ToList();
                foreach (var r in split.GetProperty("data").EnumerateArray())
                    yield return Positional(r, columns);
                yield break;
            }
            if (root.TryGetProperty("dataframe_records", out var records) || root.TryGetProperty("instances", out records))
            {
                foreach (var r in records.EnumerateArray()) yield return r.ValueKind == JsonValueKind.Object ? Named(r) : Positional(r, order);
                yield break;
            }
            if (root.TryGetProperty("inputs", out var inputs))
            {
                if (inputs.ValueKind == JsonValueKind.Object)
                {
                    // Columnar: { name: [values] }.
                    var cols = inputs.EnumerateObject().ToList();
                    var n = cols.Count == 0 ? 0 : cols.Max(c => c.Value.ValueKind == JsonValueKind.Array ? c.Value.GetArrayLength() : 1);
                    for (var i = 0; i < n; i++)
                        yield return cols.ToDictionary(c => c.Name, c => c.Value.ValueKind == JsonValueKind.Array ? c.Value[i] : c.Value, StringComparer.Ordinal);
                }
                else
                {
                    foreach (var r in inputs.EnumerateArray()) yield return r.ValueKind == JsonValueKind.Object ? Named(r) : Positional(r, order);
                }
                yield break;
            }
            yield return Named(root);
            yield break;
        }
        if (root.ValueKind == JsonValueKind.Array)
            foreach (var r in root.EnumerateArray()) yield return r.ValueKind == JsonValueKind.Object ? Named(r) : Positional(r, order);
    }

    private static Dictionary<string, JsonElement> Named(JsonElement o) =>
        o.EnumerateObject().ToDictionary(p => p.Name, p => p.Value, StringComparer.Ordinal);

    private static Dictionary<string, JsonElement> Positional(JsonElement r, List<string> columns)
    {
        var row = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var i = 0;
        foreach (var v in r.EnumerateArray())
        {
            row[i < columns.Count ? columns[i] : $"_c{i}"] = v;
            i++;
        }
        return row;
    }

    private static ColumnProfileBuilder Builder(string name, Dictionary<string, ColumnProfileBuilder> builders, HashSet<string> seen, DatasetProfile baseline)
    {
        seen.Add(name);
        if (!builders.TryGetValue(name, out var b))
            builders[name] = b = new ColumnProfileBuilder(name, baseline.Find(name)?.Kind ?? ColumnKind.Categorical);
        return b;
    }

    private static void AddValue(string name, string text, Dictionary<string, ColumnProfileBuilder> builders, HashSet<string> seen, DatasetProfile baseline)
    {
        var b = Builder(name, builders, seen, baseline);
        if (text.Length == 0) b.AddMissing(); else b.Add(text);
    }

    private static void AddJson(string name, JsonElement value, Dictionary<string, ColumnProfileBuilder> builders, HashSet<string> seen, DatasetProfile baseline)
    {
        var b = Builder(name, builders, seen, baseline);
        switch (value.ValueKind)
        {
            case JsonValueKind.Number: b.Add(value.GetDouble()); break;
            case JsonValueKind.String: b.Add(value.GetString()); break;
            case JsonValueKind.True: b.Add("true"); break;
            case JsonValueKind.False: b.Add("false"); break;
            case JsonValueKind.Null: b.AddMissing(); break;
            default: b.Add(value.GetRawText()); break;
        }
    }

    private static long ReadOutput(JsonElement output, ColumnProfileBuilder prediction)
    {
        var payload = Payload(output);
        long n = 0;
        if (!IsJson(output))
        {
            foreach (var line in payload.Split(['\n', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) { prediction.Add(line); n++; }
            return n;
        }
        using var doc = JsonDocument.Parse(payload);
        var root = doc.RootElement;
        if (root.ValueKind == JsonValueKind.Object && (root.TryGetProperty("predictions", out var p) || root.TryGetProperty("outputs", out p))) root = p;
        var items = root.ValueKind == JsonValueKind.Array ? root.EnumerateArray().ToList() : [root];
        foreach (var item in items)
        {
            var v = item.ValueKind == JsonValueKind.Array && item.GetArrayLength() > 0 ? item[0] : item;
            // Serving's own output: {predicted_label, score, probability?, class_probabilities?}; the label is the prediction.
            if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("predicted_label", out var label)) v = label;
            switch (v.ValueKind)
            {
                case JsonValueKind.Number: prediction.Add(v.GetDouble()); break;
                case JsonValueKind.String: prediction.Add(v.GetString()); break;
                case JsonValueKind.True or JsonValueKind.False:
                    if (prediction.Kind == ColumnKind.Numerical) prediction.Add(v.ValueKind == JsonValueKind.True ? 1.0 : 0.0);
                    else prediction.Add(v.ValueKind == JsonValueKind.True ? "true" : "false");
                    break;
                default: continue;
            }
            n++;
        }
        return n;
    }
}
