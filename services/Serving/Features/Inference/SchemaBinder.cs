using System.Globalization;
using System.Text.Json;
using Mlops.Trainer.Model;
using Mlops.Trainer.Model.Tabular;

namespace Mlops.Serving.Features.Inference;

/// <summary>
/// Binds a request's rows to the model's input schema, strictly: every schema column must be present; a value must be
/// of the column's type (a JSON number for a number, true/false for a boolean, a string for text, an ISO 8601 string for a
/// timestamp; CSV fields are parsed as that type); null or an empty CSV field is a missing value. Columns the model does
/// not use are ignored. A mismatch is a 400 naming the column and the row.
/// </summary>
public static class SchemaBinder
{
    public static DataTable Bind(InputFrame frame, IReadOnlyList<SchemaColumn> schema)
    {
        if (frame.Rows.Count == 0)
            throw ProblemException.BadRequest("The request has no rows to score.");
        // A few columns (the usual request) are found by a scan; a dictionary pays off only for wide frames.
        var index = frame.Columns.Count > 16 ? IndexOf(frame.Columns) : null;
        var columns = new TableColumn[schema.Count];
        for (var c = 0; c < columns.Length; c++)
        {
            var column = schema[c];
            var at = index is null ? Find(frame.Columns, column.Name) : index.GetValueOrDefault(column.Name, -1);
            if (at < 0)
                throw ColumnProblem(column.Name, null,
                    $"Input column '{column.Name}' ({column.Type}) is missing. The model's inputs: {string.Join(", ", schema.Select(s => $"{s.Name} ({s.Type})"))}.");
            columns[c] = column.Type switch
            {
                "number" => TableColumn.Numbers(column.Name, Convert<float>(frame, at, column, Number)),
                "boolean" => TableColumn.Booleans(column.Name, Convert<bool>(frame, at, column, Boolean)),
                "text" => TableColumn.Texts(column.Name, Convert<string?>(frame, at, column, Text)),
                "timestamp" => TableColumn.Timestamps(column.Name, Convert<DateTime?>(frame, at, column, Timestamp)),
                _ => throw new InvalidDataException($"The model's input column '{column.Name}' has type '{column.Type}', which Serving does not know."),
            };
        }
        return new DataTable(columns);
    }

    private static int Find(IReadOnlyList<string> columns, string name)
    {
        for (var i = 0; i < columns.Count; i++)
            if (string.Equals(columns[i], name, StringComparison.Ordinal))
                return i;
        return -1;
    }

    private static Dictionary<string, int> IndexOf(IReadOnlyList<string> columns)
    {
        var index = new Dictionary<string, int>(columns.Count, StringComparer.Ordinal);
        for (var i = 0; i < columns.Count; i++)
            index.TryAdd(columns[i], i);
        return index;
    }

    private delegate bool Converter<T>(object? cell, out T value);

    // Each converter answers false when the cell is not of the type; a missing value is a value (NaN, null, false).
    private static bool Number(object? cell, out float value)
    {
        switch (cell)
        {
            case null:
            case JsonElement { ValueKind: JsonValueKind.Null }:
                value = float.NaN;
                return true;
            case JsonElement { ValueKind: JsonValueKind.Number } e when e.TryGetDouble(out var d) && Math.Abs(d) <= float.MaxValue:
                value = (float)d;
                return true;
            case string s when float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && float.IsFinite(f):
                value = f;
                return true;
            default:
                value = 0;
                return false;
        }
    }

    private static bool Boolean(object? cell, out bool value)
    {
        switch (cell)
        {
            case null:
            case JsonElement { ValueKind: JsonValueKind.Null or JsonValueKind.False }:
                value = false;
                return true;
            case JsonElement { ValueKind: JsonValueKind.True }:
                value = true;
                return true;
            case string s when s.Equals("true", StringComparison.OrdinalIgnoreCase) || s == "1":
                value = true;
                return true;
            case string s when s.Equals("false", StringComparison.OrdinalIgnoreCase) || s == "0":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    private static bool Text(object? cell, out string? value)
    {
        switch (cell)
        {
            case null:
            case JsonElement { ValueKind: JsonValueKind.Null }:
                value = null;
                return true;
            case JsonElement { ValueKind: JsonValueKind.String } e:
                value = e.GetString();
                return true;
            case string s:
                value = s;
                return true;
            default:
                value = null;
                return false;
        }
    }

    private static bool Timestamp(object? cell, out DateTime? value)
    {
        value = null;
        switch (cell)
        {
            case null:
            case JsonElement { ValueKind: JsonValueKind.Null }:
                return true;
            case JsonElement { ValueKind: JsonValueKind.String } e:
                return ParseTime(e.GetString()!, out value);
            case string s:
                return ParseTime(s, out value);
            default:
                return false;
        }
    }

    private static bool ParseTime(string s, out DateTime? value)
    {
        var parsed = DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var d);
        value = parsed ? d : null;
        return parsed;
    }

    private static T[] Convert<T>(InputFrame frame, int at, SchemaColumn column, Converter<T> convert)
    {
        var values = new T[frame.Rows.Count];
        for (var row = 0; row < values.Length; row++)
        {
            var cell = frame.Rows[row][at];
            if (!convert(cell, out values[row]))
                throw ColumnProblem(column.Name, row, $"Column '{column.Name}' row {row}: expected {Expected(column.Type)}, got {Describe(cell)}.");
        }
        return values;
    }

    private static string Expected(string type) => type switch
    {
        "number" => "a number",
        "boolean" => "true or false",
        "text" => "a string",
        "timestamp" => "an ISO 8601 date-time string",
        _ => type,
    };

    private static string Describe(object? cell) => cell switch
    {
        JsonElement e => $"{MlflowRequest.Kind(e)} {Truncate(e.GetRawText())}",
        string s => $"'{Truncate(s)}'",
        _ => "nothing",
    };

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";

    private static ProblemException ColumnProblem(string column, int? row, string detail) =>
        ProblemException.BadRequest(detail, new Dictionary<string, object?> { ["column"] = column, ["row"] = row });
}
