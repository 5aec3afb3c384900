using Mlops.Serving.Features.Deployments;
using Npgsql;

namespace Mlops.Serving.Features.Endpoints;

/// <summary>An endpoint row: its current configuration version and the revision replicas compare.</summary>
public sealed record EndpointRow(string Name, int ConfigVersion, long Revision, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Everything a replica needs to route an endpoint: the row, the current configuration, and a deployment in progress with its configuration.</summary>
public sealed record EndpointSnapshot(EndpointRow Endpoint, EndpointConfig Current, DeploymentResponse? Active, EndpointConfig? Next);

/// <summary>SQL for endpoints, their configurations and deployments.</summary>
public static class EndpointStore
{
    private const string DeploymentColumns =
        "deployment_id, endpoint, from_version, to_version, strategy::text, state, new_share, next_at, reason, history::text, started_at, updated_at, finished_at";

    public static async Task<EndpointSnapshot?> LoadAsync(NpgsqlDataSource db, string name, CancellationToken ct)
    {
        var endpoint = await db.ReadFirstOrDefaultAsync(
            "SELECT name, config_version, revision, created_at, updated_at FROM endpoints WHERE name = @name", ReadEndpoint, ct, ("name", name));
        if (endpoint is null)
            return null;
        var current = await LoadConfigAsync(db, name, endpoint.ConfigVersion, ct)
            ?? throw new InvalidDataException($"Endpoint '{name}' names configuration {endpoint.ConfigVersion}, which is missing.");
        var active = await db.ReadFirstOrDefaultAsync(
            $"SELECT {DeploymentColumns} FROM deployments WHERE endpoint = @name AND {DeploymentStates.InProgressSql}", ReadDeployment, ct, ("name", name));
        var next = active is null ? null : await LoadConfigAsync(db, name, active.ToVersion, ct);
        return new EndpointSnapshot(endpoint, current, active, next);
    }

    public static Task<List<string>> ListNamesAsync(NpgsqlDataSource db, CancellationToken ct) =>
        db.ReadAllAsync("SELECT name FROM endpoints ORDER BY name", r => r.GetString(0), ct);

    public static Task<List<(string Name, long Revision)>> ListRevisionsAsync(NpgsqlDataSource db, CancellationToken ct) =>
        db.ReadAllAsync("SELECT name, revision FROM endpoints", r => (r.GetString(0), r.GetInt64(1)), ct);

    public static Task<EndpointConfig?> LoadConfigAsync(NpgsqlDataSource db, string name, int version, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync(
            "SELECT endpoint, version, variants::text, data_capture::text, deployment_id, created_at FROM endpoint_configs WHERE endpoint = @name AND version = @version",
            r => new EndpointConfig(r.GetString(0), r.GetInt32(1), ServingJson.Deserialize<List<Variant>>(r.GetString(2)),
                ServingJson.Deserialize<DataCaptureConfig>(r.GetString(3)), r.GetString(4), r.GetFieldValue<DateTimeOffset>(5)),
            ct, ("name", name), ("version", version));

    public static Task<DeploymentResponse?> LoadDeploymentAsync(NpgsqlDataSource db, string name, string id, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync($"SELECT {DeploymentColumns} FROM deployments WHERE endpoint = @name AND deployment_id = @id",
            ReadDeployment, ct, ("name", name), ("id", id));

    public static Task<List<DeploymentResponse>> ListDeploymentsAsync(NpgsqlDataSource db, string name, CancellationToken ct) =>
        db.ReadAllAsync($"SELECT {DeploymentColumns} FROM deployments WHERE endpoint = @name ORDER BY started_at DESC", ReadDeployment, ct, ("name", name));

    /// <summary>The deployment locked for update in <paramref name="transaction"/>, or null.</summary>
    public static async Task<DeploymentResponse?> LockDeploymentAsync(NpgsqlTransaction transaction, string id, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command($"SELECT {DeploymentColumns} FROM deployments WHERE deployment_id = @id FOR UPDATE",
            transaction, ("id", id));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadDeployment(reader) : null;
    }

    /// <summary>Deployments whose next step is due, locked so that one replica takes each (the others skip them).</summary>
    public static async Task<List<DeploymentResponse>> LockDueAsync(NpgsqlTransaction transaction, int limit, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(
            $"""
            SELECT {DeploymentColumns} FROM deployments WHERE {DeploymentStates.InProgressSql} AND next_at <= now()
            ORDER BY next_at LIMIT @limit FOR UPDATE SKIP LOCKED
            """, transaction, ("limit", limit));
        var rows = new List<DeploymentResponse>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            rows.Add(ReadDeployment(reader));
        return rows;
    }

    /// <summary>The active deployment of <paramref name="endpoint"/>, locked, or null.</summary>
    public static async Task<DeploymentResponse?> LockActiveAsync(NpgsqlTransaction transaction, string endpoint, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(
            $"SELECT {DeploymentColumns} FROM deployments WHERE endpoint = @name AND {DeploymentStates.InProgressSql} FOR UPDATE",
            transaction, ("name", endpoint));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadDeployment(reader) : null;
    }

    /// <summary>The endpoint row locked for update (serializes changes to one endpoint), or null.</summary>
    public static async Task<EndpointRow?> LockEndpointAsync(NpgsqlTransaction transaction, string name, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(
            "SELECT name, config_version, revision, created_at, updated_at FROM endpoints WHERE name = @name FOR UPDATE", transaction, ("name", name));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadEndpoint(reader) : null;
    }

    public static Task InsertConfigAsync(NpgsqlTransaction transaction, EndpointConfig config, CancellationToken ct) =>
        transaction.ExecuteAsync(
            """
            INSERT INTO endpoint_configs (endpoint, version, variants, data_capture, deployment_id)
            VALUES (@endpoint, @version, @variants::jsonb, @capture::jsonb, @deployment)
            """, ct, ("endpoint", config.Endpoint), ("version", config.Version), ("variants", Jsonb(config.Variants)),
            ("capture", Jsonb(config.DataCapture)), ("deployment", config.DeploymentId));

    /// <param name="idempotencyKey">The caller's key, stored with <paramref name="requestHash"/> (what it was sent with).</param>
    public static Task InsertDeploymentAsync(NpgsqlTransaction transaction, DeploymentResponse d, CancellationToken ct,
        string? idempotencyKey = null, string? requestHash = null) =>
        transaction.ExecuteAsync(
            """
            INSERT INTO deployments (deployment_id, endpoint, from_version, to_version, strategy, state, new_share, next_at, reason, history, finished_at,
                idempotency_key, request_hash)
            VALUES (@id, @endpoint, @from, @to, @strategy::jsonb, @state, @share, @next, @reason, @history::jsonb, @finished, @key, @hash)
            """, ct, ("id", d.DeploymentId), ("endpoint", d.Endpoint), ("from", d.FromVersion), ("to", d.ToVersion), ("strategy", Jsonb(d.Strategy)),
            ("state", d.State), ("share", d.NewShare), ("next", d.NextAt), ("reason", d.Reason), ("history", Jsonb(d.History)), ("finished", d.FinishedAt),
            ("key", idempotencyKey), ("hash", requestHash));

    /// <summary>The deployment started under an idempotency key, with the hash of the request it came with; null if none.</summary>
    public static Task<(DeploymentResponse Deployment, string? RequestHash)?> FindByIdempotencyKeyAsync(NpgsqlDataSource db, string key, CancellationToken ct) =>
        db.ReadFirstOrDefaultAsync(FindByIdempotencyKeySql, ReadKeyed, ct, ("key", key));

    /// <inheritdoc cref="FindByIdempotencyKeyAsync(NpgsqlDataSource, string, CancellationToken)"/>
    public static async Task<(DeploymentResponse Deployment, string? RequestHash)?> FindByIdempotencyKeyAsync(NpgsqlTransaction transaction,
        string key, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(FindByIdempotencyKeySql, transaction, ("key", key));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadKeyed(reader) : null;
    }

    private const string FindByIdempotencyKeySql = $"SELECT {DeploymentColumns}, request_hash FROM deployments WHERE idempotency_key = @key";

    private static (DeploymentResponse, string?)? ReadKeyed(NpgsqlDataReader reader) => (ReadDeployment(reader), reader.GetNullableString(13));

    /// <summary>Records a step of the deployment and appends it to its history.</summary>
    public static Task UpdateDeploymentAsync(NpgsqlTransaction transaction, string id, DeploymentStep step, DateTimeOffset now, CancellationToken ct) =>
        transaction.ExecuteAsync(
            """
            UPDATE deployments SET state = @state, new_share = @share, next_at = @next, updated_at = @now,
                reason = CASE WHEN @final THEN @note ELSE reason END,
                finished_at = CASE WHEN @final THEN @now ELSE NULL END,
                history = history || @event::jsonb
            WHERE deployment_id = @id
            """, ct, ("id", id), ("state", step.State), ("share", step.NewShare), ("next", step.NextAt), ("now", now),
            ("final", !DeploymentStates.InProgress(step.State)), ("note", step.Note),
            ("event", Jsonb(new[] { new DeploymentEvent(now, step.State, step.NewShare, step.Note) })));

    /// <summary>Moves a deployment's next step later without recording a step (a blue/green fleet still loading).</summary>
    public static Task PostponeDeploymentAsync(NpgsqlTransaction transaction, string id, DateTimeOffset next, CancellationToken ct) =>
        transaction.ExecuteAsync("UPDATE deployments SET next_at = @next WHERE deployment_id = @id", ct, ("id", id), ("next", next));

    /// <summary>
    /// The channel a change of an endpoint is notified on (payload: its name), when the transaction commits: every replica
    /// reloads it then rather than at its next refresh.
    /// </summary>
    public const string NotifyChannel = "serving_endpoints";

    /// <summary>The statement that notifies a change of endpoint <c>@name</c>, appended to the statement that makes it.</summary>
    public const string NotifySql = $"SELECT pg_notify('{NotifyChannel}', @name);";

    /// <summary>
    /// Bumps the endpoint's revision (every replica reloads it: at once on the notification, at the latest at its next
    /// refresh) and optionally moves it to another configuration.
    /// </summary>
    public static Task TouchEndpointAsync(NpgsqlTransaction transaction, string name, int? configVersion, CancellationToken ct) =>
        transaction.ExecuteAsync(
            $"""
            UPDATE endpoints SET revision = revision + 1, updated_at = now(), config_version = COALESCE(@version, config_version) WHERE name = @name;
            {NotifySql}
            """,
            ct, ("name", name), ("version", configVersion));

    public static async Task<int> NextConfigVersionAsync(NpgsqlTransaction transaction, string name, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(
            "SELECT COALESCE(max(version), 0) + 1 FROM endpoint_configs WHERE endpoint = @name", transaction, ("name", name));
        return (int)(await command.ExecuteScalarAsync(ct))!;
    }

    public static async Task<EndpointConfig?> LoadConfigAsync(NpgsqlTransaction transaction, string name, int version, CancellationToken ct)
    {
        await using var command = transaction.Connection!.Command(
            "SELECT variants::text, data_capture::text, deployment_id, created_at FROM endpoint_configs WHERE endpoint = @name AND version = @version",
            transaction, ("name", name), ("version", version));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new EndpointConfig(name, version, ServingJson.Deserialize<List<Variant>>(reader.GetString(0)),
                ServingJson.Deserialize<DataCaptureConfig>(reader.GetString(1)), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3))
            : null;
    }

    private static string Jsonb<T>(T value) => ServingJson.Serialize(value);

    private static EndpointRow ReadEndpoint(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetInt32(1), r.GetInt64(2), r.GetFieldValue<DateTimeOffset>(3), r.GetFieldValue<DateTimeOffset>(4));

    private static DeploymentResponse ReadDeployment(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetInt32(2), r.GetInt32(3), ServingJson.Deserialize<DeploymentStrategy>(r.GetString(4)),
        r.GetString(5), r.GetInt32(6), r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7), r.GetNullableString(8),
        ServingJson.Deserialize<List<DeploymentEvent>>(r.GetString(9)), r.GetFieldValue<DateTimeOffset>(10), r.GetFieldValue<DateTimeOffset>(11),
        r.IsDBNull(12) ? null : r.GetFieldValue<DateTimeOffset>(12));
}
