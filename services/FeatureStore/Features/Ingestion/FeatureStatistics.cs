using System.Globalization;
using System.Text.Json;
using Mlops.FeatureStore.Features.Groups;
using Npgsql;

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
    public Dictionary<string, long>? Top { get; } = column.Type is FeatureTypes.String ? new() : null;
    private readonly Dictionary<long, long>? _integers = column.Type is FeatureTypes.Int64 ? new() : null;
    private long _true, _false;
    public QuantileDigest? Digest { get; } = column.Type is FeatureTypes.Int64 or FeatureTypes.Double or FeatureTypes.Timestamp ? new() : null;

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
            Digest?.Add(x);
        }
        switch (value)
        {
            case long l when _integers is not null:
                Tally(_integers, l);
                break;
            case string text when Top is not null:
                Tally(Top, text);
                break;
            case bool b:
                if (b) _true++; else _false++;
                break;
        }
    }

    private static void Tally<TKey>(Dictionary<TKey, long> counts, TKey key) where TKey : notnull
    {
        ref var n = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(counts, key);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref n))
            n++;
        else if (counts.Count < DistinctTracked)
            counts[key] = 1;
    }

    /// <summary>The batch's value counts (as text keys), for the merge.</summary>
    public IEnumerable<KeyValuePair<string, long>> TopCounts()
    {
        if (_integers is not null)
            return _integers.Select(p => new KeyValuePair<string, long>(p.Key.ToString(CultureInfo.InvariantCulture), p.Value));
        if (Column.Type == FeatureTypes.Bool)
            return new Dictionary<string, long> { ["true"] = _true, ["false"] = _false }.Where(p => p.Value > 0);
        return Top ?? [];
    }

    public static async Task MergeAsync(NpgsqlTransaction transaction, string group, int version, IReadOnlyList<FeatureStatistics> stats, CancellationToken ct)
    {
        // Digests merge here, not in SQL: one batch of a group version at a time reads and rewrites them.
        await transaction.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtext(@group), @version)", ct, ("group", group), ("version", version));
        var stored = (await transaction.Connection!.ReadAllAsync(
            "SELECT feature, digest::text FROM feature_statistics WHERE group_name = @group AND version = @version",
            [new NpgsqlParameter("group", group), new NpgsqlParameter("version", version)],
            reader => (Feature: reader.GetString(0), Digest: reader.GetString(1)), ct, transaction)).ToDictionary(s => s.Feature, s => s.Digest);

        await using var batch = new NpgsqlBatch(transaction.Connection, transaction);
        foreach (var s in stats)
        {
            var top = JsonSerializer.Serialize(s.TopCounts().OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
                .Take(TopKept * 4).ToDictionary(p => p.Key, p => p.Value));
            var digest = s.Digest ?? new QuantileDigest();
            if (s.Digest is not null && stored.TryGetValue(s.Column.Name, out var previous))
            {
                var merged = new QuantileDigest(JsonSerializer.Deserialize<double[][]>(previous) ?? []);
                merged.Merge(digest);
                digest = merged;
            }
            var command = Db.BatchCommand(
                $$"""
                INSERT INTO feature_statistics AS s (group_name, version, feature, count, nulls, numeric_count, sum, sum_sq, min, max, top, digest)
                VALUES (@group, @version, @feature, @count, @nulls, @numeric, @sum, @sumSq, @min::double precision, @max::double precision, @top::jsonb, @digest::jsonb)
                ON CONFLICT (group_name, version, feature) DO UPDATE SET
                    count = s.count + excluded.count, nulls = s.nulls + excluded.nulls, numeric_count = s.numeric_count + excluded.numeric_count,
                    sum = s.sum + excluded.sum, sum_sq = s.sum_sq + excluded.sum_sq,
                    min = least(s.min, excluded.min), max = greatest(s.max, excluded.max), digest = excluded.digest,
                    top = (SELECT coalesce(jsonb_object_agg(k, n), '{}') FROM (
                        SELECT k, sum(n) AS n FROM (
                            SELECT key AS k, value::bigint AS n FROM jsonb_each_text(s.top)
                            UNION ALL SELECT key, value::bigint FROM jsonb_each_text(excluded.top)) u
                        GROUP BY k ORDER BY sum(n) DESC, k LIMIT {{TopKept}}) t)
                """,
                ("group", group), ("version", version), ("feature", s.Column.Name), ("count", s.Count), ("nulls", s.Nulls), ("numeric", s.NumericCount),
                ("sum", s.Sum), ("sumSq", s.SumSquares), ("min", s.Min), ("max", s.Max), ("top", top),
                ("digest", JsonSerializer.Serialize(digest.Centroids())));
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
    }
}
