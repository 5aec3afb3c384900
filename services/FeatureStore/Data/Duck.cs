using System.Text.RegularExpressions;
using DuckDB.NET.Data;

namespace Mlops.FeatureStore.Data;

/// <summary>Small helpers for the embedded DuckDB (identifiers and file paths quoted into SQL, its errors told to callers).</summary>
public static class Duck
{
    // Any path under the temporary directory, where every file DuckDB reads for a request lives.
    private static readonly Regex TemporaryPath = new($"{Regex.Escape(Path.GetTempPath().TrimEnd(Path.DirectorySeparatorChar))}[^\\s'\"]*",
        RegexOptions.CultureInvariant);

    public static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"")}\"";

    public static string Literal(string text) => $"'{text.Replace("'", "''")}'";

    public static void Exec(this DuckDBConnection duck, string sql)
    {
        using var command = duck.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// DuckDB's message for a caller, who knows the file it read as <paramref name="name"/> (the upload, the lake object):
    /// the server's temporary paths in it are replaced by that name.
    /// </summary>
    public static string Describe(DuckDBException e, string name) => TemporaryPath.Replace(e.Message, name);
}
