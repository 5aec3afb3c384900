using System.Diagnostics;
using DuckDB.NET.Data;
using Mlops.Monitor.Features.Drift;

namespace Mlops.Monitor.Features.Profiles;

/// <summary>
/// Profiles a relation (a Parquet or CSV file, or a query over one) with DuckDB: one GROUP BY per column, so only that
/// column is read and DuckDB streams the rows; what comes back is one row per distinct value.
/// </summary>
public static class DuckProfiler
{
    public static readonly ActivitySource Activity = new("Mlops.Monitor");

    public static DuckDBConnection Open(int threads = 0, string memoryLimit = "1GB")
    {
        var duck = new DuckDBConnection("DataSource=:memory:");
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText = $"SET memory_limit='{memoryLimit}'; SET preserve_insertion_order=false;" + (threads > 0 ? $" SET threads={threads};" : "");
        command.ExecuteNonQuery();
        return duck;
    }

    public static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"")}\"";

    public static string Literal(string text) => $"'{text.Replace("'", "''")}'";

    /// <summary>A relation reading one Parquet file (the row number lets callers take row ranges).</summary>
    public static string Parquet(string path) => $"read_parquet({Literal(path)}, file_row_number = true)";

    /// <summary>The columns of a relation with their DuckDB types.</summary>
    public static IReadOnlyList<(string Name, string Type)> Describe(DuckDBConnection duck, string relation)
    {
        using var command = duck.CreateCommand();
        command.CommandText = $"DESCRIBE SELECT * FROM {relation}";
        using var reader = command.ExecuteReader();
        var columns = new List<(string, string)>();
        while (reader.Read()) columns.Add((reader.GetString(0), reader.GetString(1)));
        return columns;
    }

    public static long Count(DuckDBConnection duck, string relation)
    {
        using var command = duck.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM {relation}";
        return Convert.ToInt64(command.ExecuteScalar());
    }

    /// <summary>
    /// Profiles each column given as (spec, SQL expression over the relation). Numerical expressions are read as DOUBLE
    /// (NaN and ±inf count as missing, as Evidently drops them); categorical ones as VARCHAR.
    /// </summary>
    public static DatasetProfile Profile(DuckDBConnection duck, string relation, IReadOnlyList<(ColumnSpec Spec, string Expression, string InferredType)> columns) =>
        ProfileSides(duck, relation, "0", 1, columns)[0];

    /// <summary>
    /// Profiles several sides of one relation in one pass per column: <paramref name="sideExpression"/> numbers each row's
    /// side 0 … <paramref name="sides"/> − 1 (rows with any other value are skipped), e.g. reference and current row ranges.
    /// </summary>
    public static DatasetProfile[] ProfileSides(DuckDBConnection duck, string relation, string sideExpression, int sides,
        IReadOnlyList<(ColumnSpec Spec, string Expression, string InferredType)> columns)
    {
        using var span = Activity.StartActivity("monitor.profile");
        var profiles = Enumerable.Range(0, sides).Select(_ => new List<ColumnProfile>(columns.Count)).ToArray();
        foreach (var (spec, expression, inferred) in columns)
        {
            var numerical = spec.Kind == ColumnKind.Numerical;
            using var command = duck.CreateCommand();
            command.CommandText = $"SELECT s, v, count(*) FROM (SELECT CAST({sideExpression} AS INTEGER) AS s, " +
                                  (numerical ? $"TRY_CAST({expression} AS DOUBLE)" : $"CAST({expression} AS VARCHAR)") +
                                  $" AS v FROM {relation}) WHERE s >= 0 AND s < {sides} GROUP BY ALL";
            using var reader = command.ExecuteReader();
            var numbers = Enumerable.Range(0, sides).Select(_ => (Values: new List<double>(), Counts: new List<long>())).ToArray();
            var categories = Enumerable.Range(0, sides).Select(_ => new Dictionary<string, long>(StringComparer.Ordinal)).ToArray();
            var missing = new long[sides];
            while (reader.Read())
            {
                var side = reader.GetInt32(0);
                var n = reader.GetInt64(2);
                if (reader.IsDBNull(1)) { missing[side] += n; continue; }
                if (numerical)
                {
                    var v = reader.GetDouble(1);
                    if (!double.IsFinite(v)) { missing[side] += n; continue; }
                    numbers[side].Values.Add(v);
                    numbers[side].Counts.Add(n);
                }
                else
                {
                    categories[side][reader.GetString(1)] = n;
                }
            }
            for (var side = 0; side < sides; side++)
            {
                if (numerical)
                {
                    var values = numbers[side].Values.ToArray();
                    var counts = numbers[side].Counts.ToArray();
                    Array.Sort(values, counts);
                    var d = new NumericDistribution(values, counts);
                    profiles[side].Add(new ColumnProfile(spec.Name, spec.Kind, inferred, d.Count, missing[side], d, null));
                }
                else
                {
                    var c = new CategoricalDistribution(categories[side]);
                    profiles[side].Add(new ColumnProfile(spec.Name, spec.Kind, inferred, c.Count, missing[side], null, c));
                }
            }
        }
        span?.SetTag("monitor.columns", columns.Count);
        // Every column counts every row (present or missing), so any column's total is the row count.
        return profiles.Select(p => new DatasetProfile(p.Count > 0 ? p[0].Total : 0, p)).ToArray();
    }

    /// <summary>Model Monitor's inferred type for a DuckDB column type.</summary>
    public static string InferredType(string duckType) => duckType.ToUpperInvariant() switch
    {
        "TINYINT" or "SMALLINT" or "INTEGER" or "BIGINT" or "HUGEINT" or "UTINYINT" or "USMALLINT" or "UINTEGER" or "UBIGINT" or "BOOLEAN" => InferredTypes.Integral,
        "FLOAT" or "DOUBLE" or "REAL" => InferredTypes.Fractional,
        var t when t.StartsWith("DECIMAL", StringComparison.Ordinal) => InferredTypes.Fractional,
        "VARCHAR" => InferredTypes.String,
        _ => InferredTypes.Unknown,
    };
}
