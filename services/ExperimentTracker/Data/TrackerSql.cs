using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;

namespace Mlops.ExperimentTracker.Data;

/// <summary>
/// The tracker's own SQL conveniences on top of the platform's <see cref="Mlops.ServiceDefaults.Data.Db"/>: tags as
/// aligned arrays, and "now" in MLflow's epoch milliseconds.
/// </summary>
public static class TrackerSql
{
    /// <summary>
    /// Two select-list columns holding an owner's tags as aligned key and value arrays (sorted by key), so one query
    /// returns a whole page with its tags; read them back with <see cref="KeyValues"/>.
    /// </summary>
    public static string KeyValueArrays(string table, string match) =>
        $"""
        (SELECT coalesce(array_agg(t.key ORDER BY t.key), ARRAY[]::text[]) FROM {table} t WHERE {match}),
        (SELECT coalesce(array_agg(t.value ORDER BY t.key), ARRAY[]::text[]) FROM {table} t WHERE {match})
        """;

    public static IReadOnlyList<KeyValue>? KeyValues(this NpgsqlDataReader reader, int keysOrdinal) =>
        reader.GetFieldValue<string[]>(keysOrdinal).Zip(reader.GetFieldValue<string[]>(keysOrdinal + 1), (k, v) => new KeyValue(k, v))
            .ToList().NullIfEmpty();

    /// <summary>
    /// How many leading characters of a param's or tag's value its (key, value) index holds (migration 0007: whole values
    /// can outgrow a btree entry).
    /// </summary>
    public const int IndexedValuePrefix = 200;

    /// <summary>The indexed value prefix of <paramref name="column"/>, in an index's own expression.</summary>
    public static string ValuePrefix(string column) => $"left({column}, {IndexedValuePrefix})";

    /// <summary>Equality on a param's or tag's value written so the (key, value-prefix) index can serve it.</summary>
    public static string ValueEquals(string column, string parameter) =>
        $"{ValuePrefix(column)} = {ValuePrefix(parameter)} AND {column} = {parameter}";

    public static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
