using Npgsql;

namespace Mlops.Serving.Features.Routing;

/// <summary>
/// The replicas serving, in PostgreSQL (<c>serving_replicas</c>): each reports which configurations it has loaded per
/// endpoint, when that changes and at least every <see cref="Heartbeat"/>; one not seen for <see cref="Lifetime"/> counts
/// as gone. A blue/green deployment switches traffic only when no live replica lacks the new configuration.
/// </summary>
public sealed class ReplicaRegistry(NpgsqlDataSource db, ILogger<ReplicaRegistry> logger)
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(10);

    private string? _reported;
    private DateTimeOffset _reportedAt;

    /// <summary>This process's id among the replicas.</summary>
    public string ReplicaId { get; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Reports the loaded configurations ({endpoint: [versions]}) if they changed or the heartbeat is due.</summary>
    public async Task ReportAsync(IReadOnlyDictionary<string, int[]> warm, DateTimeOffset now, CancellationToken ct)
    {
        var json = ServingJson.Serialize(warm.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary(p => p.Key, p => p.Value.Order().ToArray()));
        if (json == _reported && now - _reportedAt < Heartbeat)
            return;
        await db.ExecuteAsync(
            """
            INSERT INTO serving_replicas (replica_id, warm) VALUES (@id, @warm::jsonb)
            ON CONFLICT (replica_id) DO UPDATE SET warm = excluded.warm, seen_at = now()
            """, ct, ("id", ReplicaId), ("warm", json));
        _reported = json;
        _reportedAt = now;
    }

    /// <summary>Leaves the registry (on shutdown), so no deployment waits for this replica.</summary>
    public async Task LeaveAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await db.ExecuteAsync("DELETE FROM serving_replicas WHERE replica_id = @id", timeout.Token, ("id", ReplicaId));
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            logger.LogInformation("Could not leave the replica registry ({Message}); the entry expires in {Seconds} s", e.Message, Lifetime.TotalSeconds);
        }
    }

    /// <summary>How many live replicas lack configuration <paramref name="version"/> of <paramref name="endpoint"/>, and how many are live.</summary>
    public static async Task<(int Cold, int Live)> CountColdAsync(NpgsqlTransaction transaction, string endpoint, int version, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(
            """
            SELECT count(*) FILTER (WHERE NOT coalesce(warm -> @endpoint @> to_jsonb(@version), false)), count(*)
            FROM serving_replicas WHERE seen_at > now() - make_interval(secs => @lifetime)
            """, transaction, ("endpoint", endpoint), ("version", version), ("lifetime", Lifetime.TotalSeconds));
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return ((int)reader.GetInt64(0), (int)reader.GetInt64(1));
    }
}
