using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>A problem with one record: its 0-based index in the batch or file, the field, why, and for a CSV file its line.</summary>
public sealed record RecordProblem(long Row, string Field, string Reason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Line = null);

/// <summary>Collects the first <see cref="Limit"/> problems and counts them all.</summary>
public sealed class ProblemList
{
    public const int Limit = 20;
    public List<RecordProblem> First { get; } = [];
    public long Count { get; private set; }

    public void Add(long row, string field, string reason, long? line = null)
    {
        Count++;
        if (First.Count < Limit)
            First.Add(new RecordProblem(row, field, reason, line));
    }
}

/// <summary>Records in some input format, read one at a time into the schema's column order.</summary>
public interface IRecordSource
{
    /// <summary>Records in the source, if known before reading (for progress).</summary>
    long? Total { get; }

    /// <summary>The line of the file the last record read starts on, for sources that have lines (CSV).</summary>
    long? Line => null;

    /// <summary>Fills <paramref name="raw"/> (one slot per schema column; absent = null) with the next record; false at the end.</summary>
    bool Read(object?[] raw, long row, ProblemList problems);
}

/// <summary>A JSON batch: <c>{"records": [{...}, ...]}</c> or a bare array of record objects.</summary>
public sealed class JsonRecordSource : IRecordSource
{
    private readonly GroupSchema _schema;
    private JsonElement.ArrayEnumerator _records;

    public JsonRecordSource(JsonDocument document, GroupSchema schema)
    {
        _schema = schema;
        var root = document.RootElement;
        var array = root.ValueKind switch
        {
            JsonValueKind.Array => root,
            JsonValueKind.Object when root.TryGetProperty("records", out var records) && records.ValueKind == JsonValueKind.Array => records,
            _ => throw ProblemException.BadRequest("The body must be {\"records\": [...]} or a JSON array of record objects."),
        };
        Total = array.GetArrayLength();
        _records = array.EnumerateArray();
    }

    public long? Total { get; }

    public bool Read(object?[] raw, long row, ProblemList problems)
    {
        if (!_records.MoveNext())
            return false;
        Array.Clear(raw);
        var record = _records.Current;
        if (record.ValueKind != JsonValueKind.Object)
        {
            problems.Add(row, "", "the record is not a JSON object");
            return true;
        }
        foreach (var property in record.EnumerateObject())
        {
            var index = _schema.IndexOf(property.Name);
            if (index < 0)
                problems.Add(row, property.Name, $"is not a column of feature group '{_schema.Group.Name}' version {_schema.Group.Version}");
            else
                raw[index] = property.Value;
        }
        return true;
    }
}

/// <summary>Matches a file's columns (a Parquet schema, a CSV header) to a group's schema by name, or refuses the file.</summary>
public static class FileColumns
{
    /// <summary>The schema index of each of the file's columns; a 400 naming unknown, duplicated and missing key or event-time columns.</summary>
    public static int[] Match(IReadOnlyList<string> names, GroupSchema schema)
    {
        var map = new int[names.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unknown = new List<string>();
        var duplicated = new List<string>();
        for (var i = 0; i < names.Count; i++)
        {
            map[i] = schema.IndexOf(names[i]);
            if (map[i] < 0) unknown.Add(names[i]);
            if (!seen.Add(names[i])) duplicated.Add(names[i]);
        }
        var missing = schema.Columns.Where(c => c.Role != ColumnRole.Feature && !seen.Contains(c.Name)).Select(c => c.Name).ToList();
        if (unknown.Count > 0 || missing.Count > 0 || duplicated.Count > 0)
            throw ProblemException.BadRequest(
                $"The file's columns do not match feature group '{schema.Group.Name}' version {schema.Group.Version}; nothing was written."
                + (unknown.Count > 0 ? $" Unknown columns: {Names(unknown)}." : "")
                + (duplicated.Count > 0 ? $" Columns named more than once: {Names(duplicated)}." : "")
                + (missing.Count > 0 ? $" Missing key or event-time columns: {Names(missing)}." : ""),
                new Dictionary<string, object?> { ["unknown_columns"] = unknown, ["duplicated_columns"] = duplicated, ["missing_columns"] = missing });
        return map;
    }

    private static string Names(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{n}'"));
}

/// <summary>Rows of a query over a file (DuckDB's read_parquet), matched to the schema by column name.</summary>
public sealed class DataReaderRecordSource : IRecordSource
{
    private readonly DbDataReader _reader;
    private readonly int[] _map; // reader ordinal → schema index
    private readonly Func<DbDataReader, int, object>[] _get;

    public DataReaderRecordSource(DbDataReader reader, GroupSchema schema, long? total)
    {
        _reader = reader;
        Total = total;
        _map = FileColumns.Match([.. Enumerable.Range(0, reader.FieldCount).Select(reader.GetName)], schema);
        // Typed reads where the type is known: the provider's GetValue is markedly slower than GetInt64/GetString.
        _get = [.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.GetFieldType(i) switch
        {
            var t when t == typeof(long) => (Func<DbDataReader, int, object>)((r, o) => r.GetInt64(o)),
            var t when t == typeof(string) => (r, o) => r.GetString(o),
            var t when t == typeof(double) => (r, o) => r.GetDouble(o),
            var t when t == typeof(DateTime) => (r, o) => r.GetDateTime(o),
            var t when t == typeof(bool) => (r, o) => r.GetBoolean(o),
            _ => (r, o) => r.GetValue(o),
        })];
    }

    public long? Total { get; }

    public bool Read(object?[] raw, long row, ProblemList problems)
    {
        if (!_reader.Read())
            return false;
        Array.Clear(raw);
        for (var i = 0; i < _map.Length; i++)
            if (_map[i] >= 0)
                raw[_map[i]] = _reader.IsDBNull(i) ? null : _get[i](_reader, i);
        return true;
    }
}
