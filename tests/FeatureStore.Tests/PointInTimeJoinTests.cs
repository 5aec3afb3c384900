using System.Security.Cryptography;
using DuckDB.NET.Data;
using Mlops.FeatureStore.Data;
using Mlops.FeatureStore.Features.Groups;
using Mlops.FeatureStore.Features.Ingestion;
using Mlops.FeatureStore.Features.TrainingSets;

namespace Mlops.FeatureStore.Tests;

/// <summary>
/// The training-set join on small hand-built offline files: Feast's get_historical_features semantics (latest event time
/// ≤ the row's timestamp, within TTL, ties to the later batch), several groups and versions, order and columns kept.
/// </summary>
public sealed class PointInTimeJoinTests : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("fs-pit-test-");

    public void Dispose() => _work.Delete(recursive: true);

    private static readonly EntityKey User = new("user_id", FeatureTypes.Int64);

    private static FeatureGroup Scores(long? ttl) => new("scores", 1, null, null, [], [User], "ts", ttl, [new FeatureDefinition("score", FeatureTypes.Double)]);

    private static FeatureGroup Profile(int version) => new("profile", version, null, null, [], [User], "ts", null,
        version == 1 ? [new FeatureDefinition("age", FeatureTypes.Int64)]
            : [new FeatureDefinition("age", FeatureTypes.Int64), new FeatureDefinition("tier", FeatureTypes.String)]);

    private string OfflineFile(string name, string select)
    {
        var path = Path.Combine(_work.FullName, name);
        using var duck = new DuckDBConnection("DataSource=:memory:");
        duck.Open();
        duck.Exec($"COPY ({select}) TO {Duck.Literal(path)} (FORMAT parquet)");
        return path;
    }

    private string Entities()
    {
        var path = Path.Combine(_work.FullName, "entities.ndjson");
        File.WriteAllLines(path,
        [
            """{"__row_id": 0, "user_id": 1, "event_timestamp": "2024-01-01 09:30:00", "label": 1}""",
            """{"__row_id": 1, "user_id": 1, "event_timestamp": "2024-01-01 10:30:00", "label": 0}""",
            """{"__row_id": 2, "user_id": 1, "event_timestamp": "2024-01-01 08:00:00", "label": 1}""",
            """{"__row_id": 3, "user_id": 2, "event_timestamp": "2024-01-01 10:00:00", "label": 0}""",
            """{"__row_id": 4, "user_id": 3, "event_timestamp": "2024-01-01 08:00:00", "label": 1}""",
            """{"__row_id": 5, "user_id": 3, "event_timestamp": "2024-01-01 09:30:00", "label": 0}""",
            """{"__row_id": 6, "user_id": 4, "event_timestamp": "2024-01-01 10:30:00", "label": 1}""",
        ]);
        return $"read_json({Duck.Literal(path)}, format = 'newline_delimited')";
    }

    private (List<GroupPlan> Plans, Dictionary<string, string> Local) Plans(long? ttl)
    {
        var scores = OfflineFile("scores.parquet",
            """
            SELECT * FROM (VALUES
                (1::BIGINT, TIMESTAMP '2024-01-01 10:00:00', 1.0::DOUBLE, 1::BIGINT, 0::BIGINT),
                (1, TIMESTAMP '2024-01-01 10:00:00', 4.0, 1, 1),
                (3, TIMESTAMP '2024-01-01 08:00:00', 5.0, 1, 2),
                (1, TIMESTAMP '2024-01-01 09:00:00', 2.0, 2, 0),
                (1, TIMESTAMP '2024-01-01 10:00:00', 3.0, 3, 0),
                (4, TIMESTAMP '2024-01-01 10:00:00', 6.0, 1, 3),
                (4, TIMESTAMP '2024-01-01 10:00:00', NULL, 2, 1)
            ) t(user_id, ts, score, __batch_id, __row)
            """);
        var profile1 = OfflineFile("profile-v1.parquet",
            "SELECT 1::BIGINT AS user_id, TIMESTAMP '2024-01-01 07:00:00' AS ts, 30::BIGINT AS age, 4::BIGINT AS __batch_id, 0::BIGINT AS __row");
        var profile2 = OfflineFile("profile-v2.parquet",
            "SELECT 1::BIGINT AS user_id, TIMESTAMP '2024-01-01 09:00:00' AS ts, 31::BIGINT AS age, 'gold' AS tier, 5::BIGINT AS __batch_id, 0::BIGINT AS __row");
        var plans = new List<GroupPlan>
        {
            new(new GroupSchema(Scores(ttl)), ["score"], new() { [1] = Scores(ttl) }, [("scores", 1)]),
            new(new GroupSchema(Profile(2)), ["tier", "age"], new() { [1] = Profile(1), [2] = Profile(2) }, [("profile-v1", 1), ("profile-v2", 2)]),
        };
        return (plans, new() { ["scores"] = scores, ["profile-v1"] = profile1, ["profile-v2"] = profile2 });
    }

    private async Task<(List<object?[]> Rows, List<SchemaField> Schema, string Hash)> JoinAsync(long? ttl, string name = "out")
    {
        var (plans, local) = Plans(ttl);
        var output = Path.Combine(_work.FullName, $"{name}.parquet");
        var (count, schema) = await PointInTimeJoin.JoinAsync(Path.Combine(_work.FullName, $"{name}.duckdb"), Entities(), false, plans,
            "event_timestamp", local, output, null, CancellationToken.None);
        Assert.Equal(7, count);
        using var duck = new DuckDBConnection("DataSource=:memory:");
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText = $"SELECT * FROM read_parquet({Duck.Literal(output)})";
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return (rows, schema, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(output))));
    }

    [Fact]
    public async Task Join_NoTtl_TakesLatestAtOrBeforeEachRow()
    {
        var (rows, schema, _) = await JoinAsync(null);
        Assert.Equal(["user_id", "event_timestamp", "label", "scores__score", "profile__tier", "profile__age"], schema.Select(f => f.Name));
        // Entity order and label columns kept.
        Assert.Equal([1L, 1L, 1L, 2L, 3L, 3L, 4L], rows.Select(r => r[0]));
        Assert.Equal([1L, 0L, 1L, 0L, 1L, 0L, 1L], rows.Select(r => Convert.ToInt64(r[2])));
        // scores: 09:30 → the late arrival (09:00) is the latest before it; 10:30 → three records at 10:00, batch 3 wins;
        // 08:00 → nothing yet; user 2 has no history; user 3 at exactly 08:00 → its 08:00 record (≤ is inclusive);
        // user 4: the tie goes to the later batch even though its value is null.
        Assert.Equal([2.0, 3.0, null, null, 5.0, 5.0, null], rows.Select(r => r[3]));
        // profile: version 2 added tier; the version 1 record reads it as null.
        Assert.Equal(["gold", "gold", null, null, null, null, null], rows.Select(r => r[4]));
        Assert.Equal([31L, 31L, 30L, null, null, null, null], rows.Select(r => r[5]));
    }

    [Fact]
    public async Task Join_WithTtl_DropsValuesOlderThanTheTtl()
    {
        var (rows, _, _) = await JoinAsync(3600);
        // User 3 at 09:30: the 08:00 record is 90 minutes old, outside the one-hour TTL. User 1 at 10:30: 30 minutes, inside.
        Assert.Equal([2.0, 3.0, null, null, 5.0, null, null], rows.Select(r => r[3]));
    }

    [Fact]
    public async Task Join_SameInput_GivesTheSameBytes()
    {
        var first = await JoinAsync(null, "first");
        var second = await JoinAsync(null, "second");
        Assert.Equal(first.Hash, second.Hash);
    }
}
