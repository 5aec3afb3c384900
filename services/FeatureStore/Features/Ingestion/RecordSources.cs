using System.Data.Common;
using System.Text.Json;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>A problem with one record: its 0-based index in the batch or file, the field, and why.</summary>
public sealed record RecordProblem(long Row, string Field, string Reason);

/// <summary>Collects the first <see cref="Limit"/> problems and counts them all.</summary>
public sealed class ProblemList
{
    public const int Limit = 20;
    public List<RecordProblem> First { get; } = [];
    public long Count { get; private set; }

    public void Add(long row, string field, string reason)
    {
        Count++;
        if (First.Count < Limit)
            First.Add(new RecordProblem(row, field, reason));
    }
}

/// <summary>Records in some input format, read one at a time into the schema's column order.</summary>
public interface IRecordSource
{
    /// <summary>Records in the source, if known before reading (for progress).</summary>
    long? Total { get; }

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

/// <summary>Rows of a query over a file (DuckDB's read_parquet / read_csv), matched to the schema by column name.</summary>
public sealed class DataReaderRecordSource : IRecordSource
{
    private readonly DbDataReader _reader;
    private readonly int[] _map; // reader ordinal → schema index
    private readonly Func<DbDataReader, int, object>[] _get;

    public DataReaderRecordSource(DbDataReader reader, GroupSchema schema, long? total)
    {
        _reader = reader;
        Total = total;
        _map = new int[reader.FieldCount];
        var unknown = new List<string>();
        for (var i = 0; i < reader.FieldCount; i++)
        {
            _map[i] = schema.IndexOf(reader.GetName(i));
            if (_map[i] < 0) unknown.Add(reader.GetName(i));
        }
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
        var present = _map.Where(i => i >= 0).ToHashSet();
        var missing = schema.Columns.Where((c, i) => c.Role != ColumnRole.Feature && !present.Contains(i)).Select(c => c.Name).ToList();
        if (unknown.Count > 0 || missing.Count > 0)
            throw ProblemException.BadRequest(
                $"The file's columns do not match feature group '{schema.Group.Name}' version {schema.Group.Version}; nothing was written."
                + (unknown.Count > 0 ? $" Unknown columns: {string.Join(", ", unknown)}." : "")
                + (missing.Count > 0 ? $" Missing key or event-time columns: {string.Join(", ", missing)}." : ""),
                new Dictionary<string, object?> { ["unknown_columns"] = unknown, ["missing_columns"] = missing });
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
