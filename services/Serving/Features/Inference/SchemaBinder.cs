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
        var index = frame.Columns.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
        var columns = new List<TableColumn>(schema.Count);
        foreach (var column in schema)
        {
            if (!index.TryGetValue(column.Name, out var at))
                throw ColumnProblem(column.Name, null,
                    $"Input column '{column.Name}' ({column.Type}) is missing. The model's inputs: {string.Join(", ", schema.Select(s => $"{s.Name} ({s.Type})"))}.");
            columns.Add(column.Type switch
            {
                "number" => TableColumn.Numbers(column.Name, Convert(frame, at, column, Number)),
                "boolean" => TableColumn.Booleans(column.Name, Convert(frame, at, column, Boolean)),
                "text" => TableColumn.Texts(column.Name, Convert(frame, at, column, Text)),
                "timestamp" => TableColumn.Timestamps(column.Name, Convert(frame, at, column, Timestamp)),
                _ => throw new InvalidDataException($"The model's input column '{column.Name}' has type '{column.Type}', which Serving does not know."),
            });
        }
        return new DataTable(columns);
    }

    // Each converter answers null when the cell is not of the type; a missing value is a value (NaN, null, false).
    private static float? Number(object? cell) => cell switch
    {
        null => float.NaN,
        JsonElement { ValueKind: JsonValueKind.Null } => float.NaN,
        JsonElement { ValueKind: JsonValueKind.Number } e => e.TryGetDouble(out var d) && Math.Abs(d) <= float.MaxValue ? (float)d : null,
        string s => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && float.IsFinite(f) ? f : null,
        _ => null,
    };

    private static bool? Boolean(object? cell) => cell switch
    {
        null => false,
        JsonElement { ValueKind: JsonValueKind.Null } => false,
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        string s when s.Equals("true", StringComparison.OrdinalIgnoreCase) || s == "1" => true,
        string s when s.Equals("false", StringComparison.OrdinalIgnoreCase) || s == "0" => false,
        _ => null,
    };

    private static Box<string?>? Text(object? cell) => cell switch
    {
        null => new(null),
        JsonElement { ValueKind: JsonValueKind.Null } => new(null),
        JsonElement { ValueKind: JsonValueKind.String } e => new(e.GetString()),
        string s => new(s),
        _ => null,
    };

    private static Box<DateTime?>? Timestamp(object? cell) => cell switch
    {
        null => new(null),
        JsonElement { ValueKind: JsonValueKind.Null } => new(null),
        JsonElement { ValueKind: JsonValueKind.String } e => ParseTime(e.GetString()!),
        string s => ParseTime(s),
        _ => null,
    };

    private static Box<DateTime?>? ParseTime(string s) =>
        DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var d) ? new(d) : null;

    private static T[] Convert<T>(InputFrame frame, int at, SchemaColumn column, Func<object?, Box<T>?> convert)
    {
        var values = new T[frame.Rows.Count];
        for (var row = 0; row < values.Length; row++)
        {
            var cell = frame.Rows[row][at];
            values[row] = convert(cell) is { } box ? box.Value : throw ColumnProblem(column.Name, row,
                $"Column '{column.Name}' row {row}: expected {Expected(column.Type)}, got {Describe(cell)}.");
        }
        return values;
    }

    private static T[] Convert<T>(InputFrame frame, int at, SchemaColumn column, Func<object?, T?> convert) where T : struct
    {
        var values = new T[frame.Rows.Count];
        for (var row = 0; row < values.Length; row++)
        {
            var cell = frame.Rows[row][at];
            values[row] = convert(cell) ?? throw ColumnProblem(column.Name, row,
                $"Column '{column.Name}' row {row}: expected {Expected(column.Type)}, got {Describe(cell)}.");
        }
        return values;
    }

    private sealed record Box<T>(T Value);

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
