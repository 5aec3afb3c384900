using System.Text.Json;

namespace Mlops.Serving.Features.Inference;

/// <summary>
/// A request's rows before they meet the model's schema: column names and, per row, one cell per column. A cell is a
/// <see cref="JsonElement"/> (JSON formats), a string (CSV) or null (absent). <see cref="Format"/> names the format parsed.
/// </summary>
public sealed record InputFrame(IReadOnlyList<string> Columns, IReadOnlyList<object?[]> Rows, string Format)
{
    /// <summary>
    /// The same rows with every JSON cell copied out of the request's document, for a frame that outlives the request
    /// (a shadow mirror): the request's document is returned to the pool when the request ends.
    /// </summary>
    public InputFrame Detach()
    {
        var rows = new List<object?[]>(Rows.Count);
        foreach (var row in Rows)
        {
            var copy = new object?[row.Length];
            for (var i = 0; i < row.Length; i++)
                copy[i] = row[i] is JsonElement e ? e.Clone() : row[i];
            rows.Add(copy);
        }
        return this with { Rows = rows };
    }
}

/// <summary>Invocation options that travel with the rows: per-row inference ids, a target variant, a sticky key, whether to explain.</summary>
public sealed record InvocationOptions(IReadOnlyList<string>? InferenceIds, string? RequestId, string? TargetVariant, string? StickyKey, bool Explain = false);

/// <summary>Reads MLflow's scoring formats (pyfunc serving: dataframe_split, dataframe_records, instances, inputs) and CSV.</summary>
public static class MlflowRequest
{
    public const string DataframeSplit = "dataframe_split";
    public const string DataframeRecords = "dataframe_records";
    public const string Instances = "instances";
    public const string Inputs = "inputs";
    public static readonly string[] Formats = [DataframeSplit, DataframeRecords, Instances, Inputs];
    /// <summary>Keys besides the format: MLflow's params (accepted, unused by these models) and Serving's inference_ids.</summary>
    public static readonly string[] OtherKeys = ["params", "inference_ids"];

    /// <summary>The rows of a JSON body and the per-row inference ids it carries (<c>inference_ids</c>, Serving's extension).</summary>
    public static (InputFrame Frame, IReadOnlyList<string>? InferenceIds) ParseJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw Bad($"The body must be a JSON object with one of {string.Join(", ", Formats)}; got a JSON {Kind(root)}.");
        string? format = null;
        JsonElement payload = default;
        IReadOnlyList<string>? ids = null;
        foreach (var property in root.EnumerateObject())
        {
            if (FormatOf(property) is { } named)
            {
                if (format is not null)
                    throw Bad($"The body has both '{format}' and '{named}'; give exactly one of {string.Join(", ", Formats)}.");
                format = named;
                payload = property.Value;
            }
            else if (property.NameEquals("inference_ids"u8))
                ids = ReadIds(property.Value);
            else if (!property.NameEquals("params"u8))
                throw Bad($"Unknown key '{property.Name}'. The body takes one of {string.Join(", ", Formats)} (and optionally {string.Join(", ", OtherKeys)}).");
        }
        if (format is null)
            throw Bad($"The body has none of {string.Join(", ", Formats)}.");
        var frame = format switch
        {
            DataframeSplit => Split(payload),
            DataframeRecords => Records(payload, format),
            _ => payload.ValueKind == JsonValueKind.Object ? Columnar(payload, format) : Records(payload, format),
        };
        if (ids is not null && ids.Count != frame.Rows.Count)
            throw Bad($"inference_ids has {ids.Count} ids for {frame.Rows.Count} rows.");
        return (frame, ids);
    }

    // The format a top-level key names, compared as UTF-8 (no string per key).
    private static string? FormatOf(JsonProperty property) =>
        property.NameEquals("dataframe_split"u8) ? DataframeSplit
        : property.NameEquals("dataframe_records"u8) ? DataframeRecords
        : property.NameEquals("instances"u8) ? Instances
        : property.NameEquals("inputs"u8) ? Inputs
        : null;

    /// <summary>The first name that occurs twice, if any (a scan for the usual few columns, a set for wide frames).</summary>
    private static string? Duplicate(IReadOnlyList<string> names)
    {
        if (names.Count > 16)
        {
            var seen = new HashSet<string>(names.Count, StringComparer.Ordinal);
            foreach (var name in names)
                if (!seen.Add(name))
                    return name;
            return null;
        }
        for (var i = 1; i < names.Count; i++)
            for (var j = 0; j < i; j++)
                if (string.Equals(names[i], names[j], StringComparison.Ordinal))
                    return names[i];
        return null;
    }

    /// <summary>CSV with a header row (RFC 4180 quoting); an empty field is a missing value.</summary>
    public static InputFrame ParseCsv(string text)
    {
        var records = Csv.Parse(text);
        if (records.Count == 0)
            throw Bad("The CSV body is empty: it needs a header row naming the columns, then one line per row.");
        var header = records[0];
        if (Duplicate(header) is { } duplicate)
            throw Bad($"The CSV header names column '{duplicate}' more than once.");
        var rows = new List<object?[]>(records.Count - 1);
        for (var i = 1; i < records.Count; i++)
        {
            if (records[i].Count != header.Count)
                throw Bad($"CSV line {i + 1} has {records[i].Count} fields; the header has {header.Count}.");
            rows.Add([.. records[i].Select(f => f.Length == 0 ? null : (object?)f)]);
        }
        return new InputFrame(header, rows, "csv");
    }

    private static InputFrame Split(JsonElement split)
    {
        if (split.ValueKind != JsonValueKind.Object)
            throw Bad($"dataframe_split must be an object with 'columns' and 'data'; got a JSON {Kind(split)}.");
        if (!split.TryGetProperty("columns", out var columnsElement) || columnsElement.ValueKind != JsonValueKind.Array)
            throw Bad("dataframe_split.columns must be a list of column names.");
        if (!split.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            throw Bad("dataframe_split.data must be a list of rows (lists of values).");
        var columns = new List<string>(columnsElement.GetArrayLength());
        foreach (var c in columnsElement.EnumerateArray())
            columns.Add(c.ValueKind == JsonValueKind.String ? c.GetString()! : throw Bad($"dataframe_split.columns[{columns.Count}] is a JSON {Kind(c)}, not a column name."));
        if (Duplicate(columns) is { } duplicate)
            throw Bad($"dataframe_split.columns names '{duplicate}' more than once.");
        var rows = new List<object?[]>(data.GetArrayLength());
        foreach (var row in data.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array)
                throw Bad($"dataframe_split.data[{rows.Count}] is a JSON {Kind(row)}, not a list of values.");
            if (row.GetArrayLength() != columns.Count)
                throw Bad($"dataframe_split.data[{rows.Count}] has {row.GetArrayLength()} values for {columns.Count} columns.");
            var cells = new object?[columns.Count];
            var i = 0;
            foreach (var value in row.EnumerateArray())
                cells[i++] = value;
            rows.Add(cells);
        }
        return new InputFrame(columns, rows, DataframeSplit);
    }

    private static InputFrame Records(JsonElement records, string format)
    {
        if (records.ValueKind != JsonValueKind.Array)
            throw Bad($"{format} must be a list of records (objects of column to value){(format == DataframeRecords ? "" : " or an object of columns (lists)")}; got a JSON {Kind(records)}.");
        var columns = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var parsed = new List<JsonElement>();
        foreach (var record in records.EnumerateArray())
        {
            if (record.ValueKind != JsonValueKind.Object)
                throw Bad($"{format}[{parsed.Count}] is a JSON {Kind(record)}; this model takes records (objects of column to value), not tensors.");
            foreach (var property in record.EnumerateObject())
                if (index.TryAdd(property.Name, columns.Count))
                    columns.Add(property.Name);
            parsed.Add(record);
        }
        var rows = parsed.Select(record =>
        {
            var cells = new object?[columns.Count];
            foreach (var property in record.EnumerateObject())
                cells[index[property.Name]] = property.Value;
            return cells;
        }).ToList();
        return new InputFrame(columns, rows, format);
    }

    private static InputFrame Columnar(JsonElement columnsObject, string format)
    {
        var columns = new List<string>();
        var values = new List<JsonElement>();
        int? length = null;
        foreach (var property in columnsObject.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.Array)
                throw Bad($"{format}.{property.Name} must be a list of values (one per row); got a JSON {Kind(property.Value)}.");
            var n = property.Value.GetArrayLength();
            if (length is { } expected && n != expected)
                throw Bad($"{format}.{property.Name} has {n} values; {format}.{columns[0]} has {expected}. Every column needs one value per row.");
            length = n;
            columns.Add(property.Name);
            values.Add(property.Value);
        }
        var rows = Enumerable.Range(0, length ?? 0).Select(i => values.Select(v => (object?)v[i]).ToArray()).ToList();
        return new InputFrame(columns, rows, format);
    }

    internal static IReadOnlyList<string> ReadIds(JsonElement ids)
    {
        if (ids.ValueKind != JsonValueKind.Array)
            throw Bad($"inference_ids must be a list of strings, one per row; got a JSON {Kind(ids)}.");
        var list = new List<string>();
        foreach (var id in ids.EnumerateArray())
            list.Add(id.ValueKind == JsonValueKind.String && InferenceIds.IsValid(id.GetString()!)
                ? id.GetString()!
                : throw Bad($"inference_ids[{list.Count}] must be a string of 1 to {InferenceIds.MaxLength} printable characters."));
        return list;
    }

    internal static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static ProblemException Bad(string detail) => ProblemException.BadRequest(detail);
}

/// <summary>Inference ids: given per row, derived from a request id, or generated.</summary>
public static class InferenceIds
{
    public const int MaxLength = 64; // SageMaker's InferenceId limit

    public static bool IsValid(string id)
    {
        if (id.Length is 0 or > MaxLength)
            return false;
        foreach (var c in id)
            if (c < ' ' || c == '\u007f')
                return false;
        return true;
    }

    /// <summary>Per-row ids: the given list; else the request id (one row) or request id + "-" + row index; else new ids.</summary>
    public static IReadOnlyList<string> For(int rows, IReadOnlyList<string>? given, string? requestId)
    {
        if (given is not null)
            return given;
        var ids = new string[rows];
        if (requestId is not null && rows == 1)
            ids[0] = requestId;
        else
            for (var i = 0; i < rows; i++)
                ids[i] = requestId is null ? Guid.CreateVersion7().ToString() : $"{requestId}-{i}";
        return ids;
    }
}

/// <summary>A small RFC 4180 reader: quoted fields (with "" for a quote and embedded line breaks), CRLF or LF.</summary>
public static class Csv
{
    public static List<List<string>> Parse(string text)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        var fieldStarted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                        quoted = false;
                }
                else
                    field.Append(c);
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0:
                    quoted = true;
                    fieldStarted = true;
                    break;
                case ',':
                    record.Add(field.ToString());
                    field.Clear();
                    fieldStarted = true;
                    break;
                case '\r':
                    break;
                case '\n':
                    EndRecord();
                    break;
                default:
                    field.Append(c);
                    fieldStarted = true;
                    break;
            }
        }
        if (quoted)
            throw ProblemException.BadRequest("The CSV body ends inside a quoted field.");
        EndRecord();
        return records;

        void EndRecord()
        {
            if (fieldStarted || record.Count > 0)
            {
                record.Add(field.ToString());
                records.Add(record);
            }
            record = [];
            field.Clear();
            fieldStarted = false;
        }
    }
}
