using System.Globalization;
using System.Text.Json;
using Mlops.FeatureStore.Features.Groups;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.FeatureStore.Features.Ingestion;

/// <summary>
/// One batch's statistics of a feature, merged into the stored totals in the batch's transaction: count, nulls, mean and
/// standard deviation (from sums), min, max; for strings, booleans and int64 features the most frequent values (counts kept
/// for the top <see cref="TopKept"/> after each merge, so the top list is approximate once a group has more distinct values).
/// Timestamps count in epoch seconds.
/// </summary>
public sealed class FeatureStatistics(SchemaColumn column)
{
    public const int TopKept = 50;
    private const int DistinctTracked = 10_000;

    public SchemaColumn Column { get; } = column;
    public long Count { get; private set; }
    public long Nulls { get; private set; }
    public long NumericCount { get; private set; }
    public double Sum { get; private set; }
    public double SumSquares { get; private set; }
    public double? Min { get; private set; }
    public double? Max { get; private set; }
    public Dictionary<string, long>? Top { get; } = column.Type is FeatureTypes.String or FeatureTypes.Bool or FeatureTypes.Int64 ? new() : null;

    public void Add(object? value)
    {
        Count++;
        double? number = value switch
        {
            null => null,
            long l => l,
            double d => d,
            DateTime t => (t - DateTime.UnixEpoch).TotalSeconds,
            _ => null,
        };
        if (value is null)
        {
            Nulls++;
            return;
        }
        if (number is { } x)
        {
            NumericCount++;
            Sum += x;
            SumSquares += x * x;
            if (Min is null || x < Min) Min = x;
            if (Max is null || x > Max) Max = x;
        }
        if (Top is not null)
        {
            var key = value switch
            {
                bool b => b ? "true" : "false",
                long l => l.ToString(CultureInfo.InvariantCulture),
                _ => (string)value,
            };
            if (Top.TryGetValue(key, out var n))
                Top[key] = n + 1;
            else if (Top.Count < DistinctTracked)
                Top[key] = 1;
        }
    }

    public static async Task MergeAsync(NpgsqlTransaction transaction, string group, int version, IReadOnlyList<FeatureStatistics> stats, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(transaction.Connection, transaction);
        foreach (var s in stats)
        {
            var top = s.Top is null ? "{}" : JsonSerializer.Serialize(s.Top.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
                .Take(TopKept * 4).ToDictionary(p => p.Key, p => p.Value));
            var command = new NpgsqlBatchCommand(
                $$"""
                INSERT INTO feature_statistics AS s (group_name, version, feature, count, nulls, numeric_count, sum, sum_sq, min, max, top)
                VALUES (@group, @version, @feature, @count, @nulls, @numeric, @sum, @sumSq, @min, @max, @top)
                ON CONFLICT (group_name, version, feature) DO UPDATE SET
                    count = s.count + excluded.count, nulls = s.nulls + excluded.nulls, numeric_count = s.numeric_count + excluded.numeric_count,
                    sum = s.sum + excluded.sum, sum_sq = s.sum_sq + excluded.sum_sq,
                    min = least(s.min, excluded.min), max = greatest(s.max, excluded.max),
                    top = (SELECT coalesce(jsonb_object_agg(k, n), '{}') FROM (
                        SELECT k, sum(n) AS n FROM (
                            SELECT key AS k, value::bigint AS n FROM jsonb_each_text(s.top)
                            UNION ALL SELECT key, value::bigint FROM jsonb_each_text(excluded.top)) u
                        GROUP BY k ORDER BY sum(n) DESC, k LIMIT {{TopKept}}) t)
                """);
            command.Parameters.AddWithValue("group", group);
            command.Parameters.AddWithValue("version", version);
            command.Parameters.AddWithValue("feature", s.Column.Name);
            command.Parameters.AddWithValue("count", s.Count);
            command.Parameters.AddWithValue("nulls", s.Nulls);
            command.Parameters.AddWithValue("numeric", s.NumericCount);
            command.Parameters.AddWithValue("sum", s.Sum);
            command.Parameters.AddWithValue("sumSq", s.SumSquares);
            command.Parameters.Add(new NpgsqlParameter("min", NpgsqlDbType.Double) { Value = (object?)s.Min ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("max", NpgsqlDbType.Double) { Value = (object?)s.Max ?? DBNull.Value });
            command.Parameters.AddWithValue("top", NpgsqlDbType.Jsonb, top);
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
    }
}
