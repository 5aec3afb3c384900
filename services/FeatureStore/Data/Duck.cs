using DuckDB.NET.Data;

namespace Mlops.FeatureStore.Data;

/// <summary>Small helpers for the embedded DuckDB (identifiers and file paths quoted into SQL).</summary>
public static class Duck
{
    public static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"")}\"";

    public static string Literal(string text) => $"'{text.Replace("'", "''")}'";

    public static void Exec(this DuckDBConnection duck, string sql)
    {
        using var command = duck.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
