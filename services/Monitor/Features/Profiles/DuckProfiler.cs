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
        // One scan per chunk of columns: GROUPING SETS ((s, c0), (s, c1), …) counts every column's values in the same pass,
        // so a source column used twice (hour and day of week of one date) is decoded once. grouping_id tells the sets apart.
        foreach (var chunk in columns.Chunk(ChunkSize))
        {
            var n = chunk.Length;
            var names = Enumerable.Range(0, n).Select(i => $"c{i}").ToArray();
            var projections = chunk.Select((c, i) => (c.Spec.Kind == ColumnKind.Numerical ? $"TRY_CAST({c.Expression} AS DOUBLE)" : $"CAST({c.Expression} AS VARCHAR)") + $" AS c{i}");
            using var command = duck.CreateCommand();
            command.CommandText = $"SELECT grouping_id({string.Join(", ", names)}) AS g, s, {string.Join(", ", names)}, count(*) " +
                                  $"FROM (SELECT CAST({sideExpression} AS INTEGER) AS s, {string.Join(", ", projections)} FROM {relation}) " +
                                  $"WHERE s >= 0 AND s < {sides} GROUP BY GROUPING SETS ({string.Join(", ", names.Select(c => $"(s, {c})"))})";
            var accumulators = chunk.Select(c => Enumerable.Range(0, sides).Select(_ => new Accumulator(c.Spec.Kind)).ToArray()).ToArray();
            var full = (1L << n) - 1;
            var index = Enumerable.Range(0, n).ToDictionary(i => full ^ (1L << (n - 1 - i)), i => i);
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    var i = index[Convert.ToInt64(reader.GetValue(0))];
                    var acc = accumulators[i][reader.GetInt32(1)];
                    var count = reader.GetInt64(2 + n);
                    var ordinal = 2 + i;
                    if (reader.IsDBNull(ordinal)) acc.Missing += count;
                    else if (acc.Kind == ColumnKind.Numerical) acc.Add(reader.GetDouble(ordinal), count);
                    else acc.Categories[reader.GetString(ordinal)] = count;
                }
            }
            for (var i = 0; i < n; i++)
                for (var side = 0; side < sides; side++)
                    profiles[side].Add(accumulators[i][side].Build(chunk[i].Spec.Name, chunk[i].InferredType));
        }
        span?.SetTag("monitor.columns", columns.Count);
        // Every column counts every row (present or missing), so any column's total is the row count.
        return profiles.Select(p => new DatasetProfile(p.Count > 0 ? p[0].Total : 0, p)).ToArray();
    }

    private const int ChunkSize = 24;

    private sealed class Accumulator(ColumnKind kind)
    {
        private readonly List<double> values = [];
        private readonly List<long> counts = [];

        public ColumnKind Kind => kind;
        public long Missing;
        public readonly Dictionary<string, long> Categories = new(StringComparer.Ordinal);

        public void Add(double value, long count)
        {
            if (!double.IsFinite(value)) { Missing += count; return; } // Evidently drops NaN and ±inf
            values.Add(value);
            counts.Add(count);
        }

        public ColumnProfile Build(string name, string inferred)
        {
            if (kind == ColumnKind.Categorical)
            {
                var c = new CategoricalDistribution(Categories);
                return new ColumnProfile(name, kind, inferred, c.Count, Missing, null, c);
            }
            var v = values.ToArray();
            var n = counts.ToArray();
            Array.Sort(v, n);
            var d = new NumericDistribution(v, n);
            return new ColumnProfile(name, kind, inferred, d.Count, Missing, d, null);
        }
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
