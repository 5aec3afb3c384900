using Npgsql;

namespace Mlops.ServiceDefaults.Data;

/// <summary>
/// The platform's one data-access idiom: plain SQL with named parameters over Npgsql, no ORM. Commands, batches,
/// statements in a transaction, and queries mapped row by row.
/// </summary>
public static class Db
{
    /// <summary>A command with named parameters (<c>@name</c>); a null value is SQL NULL.</summary>
    public static NpgsqlCommand Command(this NpgsqlConnection connection, string sql, NpgsqlTransaction? transaction = null,
        params (string Name, object? Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    /// <summary>A command from the data source with its own pooled connection (one statement, no transaction).</summary>
    public static NpgsqlCommand Command(this NpgsqlDataSource dataSource, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = dataSource.CreateCommand(sql);
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

    /// <summary>Runs a statement in the transaction and returns the affected row count.</summary>
    public static async Task<int> ExecuteAsync(this NpgsqlTransaction transaction, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = transaction.Connection!.Command(sql, transaction, parameters);
        return await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Runs a statement on its own pooled connection and returns the affected row count.</summary>
    public static async Task<int> ExecuteAsync(this NpgsqlDataSource dataSource, string sql, CancellationToken ct,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = dataSource.Command(sql, parameters);
        return await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Runs a query and maps every row.</summary>
    public static async Task<List<T>> ReadAllAsync<T>(this NpgsqlConnection connection, string sql, IEnumerable<NpgsqlParameter> parameters,
        Func<NpgsqlDataReader, T> map, CancellationToken ct, NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters.ToArray());
        return await ReadAllAsync(command, map, ct);
    }

    /// <summary>Runs a query with named parameters on its own pooled connection and maps every row.</summary>
    public static async Task<List<T>> ReadAllAsync<T>(this NpgsqlDataSource dataSource, string sql, Func<NpgsqlDataReader, T> map,
        CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = dataSource.Command(sql, parameters);
        return await ReadAllAsync(command, map, ct);
    }

    /// <summary>Runs a query with named parameters and maps its first row, or returns default when there is none.</summary>
    public static async Task<T?> ReadFirstOrDefaultAsync<T>(this NpgsqlDataSource dataSource, string sql, Func<NpgsqlDataReader, T> map,
        CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = dataSource.Command(sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? map(reader) : default;
    }

    private static async Task<List<T>> ReadAllAsync<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> map, CancellationToken ct)
    {
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            rows.Add(map(reader));
        return rows;
    }

    public static string? GetNullableString(this NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static bool IsUniqueViolation(this PostgresException e) => e.SqlState == PostgresErrorCodes.UniqueViolation;
}
