using Mlops.ExperimentTracker.Features.Experiments;
using Mlops.ExperimentTracker.Mlflow;
using Npgsql;

namespace Mlops.ExperimentTracker.Data;

/// <summary>Small conveniences over Npgsql: commands with named parameters, and "now" in MLflow's epoch milliseconds.</summary>
public static class Db
{
    public static NpgsqlCommand Command(this NpgsqlConnection connection, string sql, NpgsqlTransaction? transaction = null,
        params (string Name, object? Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    /// <summary>A statement of an <see cref="NpgsqlBatch"/>: several statements travel to PostgreSQL in one round trip.</summary>
    public static NpgsqlBatchCommand BatchCommand(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    public static async Task<int> ExecuteAsync(this NpgsqlTransaction transaction, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = transaction.Connection!.Command(sql, transaction, parameters);
        return await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Runs a query and maps every row.</summary>
    public static async Task<List<T>> ReadAllAsync<T>(this NpgsqlConnection connection, string sql, IEnumerable<NpgsqlParameter> parameters,
        Func<NpgsqlDataReader, T> map, CancellationToken ct, NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters.ToArray());
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            rows.Add(map(reader));
        return rows;
    }

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

    public static string? GetNullableString(this NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public static bool IsUniqueViolation(this PostgresException e) => e.SqlState == PostgresErrorCodes.UniqueViolation;
}
