using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Mlops.ExperimentTracker.Data;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.ExperimentTracker.Features.Registry;

/// <summary>
/// The registry's audit trail: who changed which model, version, stage, alias or tag, and when — written in the same
/// transaction as the change, so the trail and the registry never disagree. Read it at <c>GET /api/registry/audit</c>.
/// </summary>
public static class RegistryAudit
{
    /// <summary>A client may name the person or pipeline acting for it (MLflow clients send no user); at most this long.</summary>
    public const string ActorHeader = "X-Mlops-Actor";
    private const int MaxActorLength = 200;
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;

    /// <summary>
    /// Who is acting: the <see cref="ActorHeader"/> a client sent (trusted as far as the API key that came with it), else
    /// the authenticated principal.
    /// </summary>
    public static string Actor(HttpContext http)
    {
        var claimed = http.Request.Headers[ActorHeader].FirstOrDefault()?.Trim();
        var principal = http.User.Identity?.Name ?? "anonymous";
        return string.IsNullOrEmpty(claimed) || claimed.Length > MaxActorLength || claimed.Any(char.IsControl)
            ? principal
            : $"{claimed} (via {principal})";
    }

    public static Task<int> RecordAsync(NpgsqlTransaction transaction, HttpContext http, long at, string action, string name, int? version,
        object details, CancellationToken ct) =>
        transaction.ExecuteAsync(
            "INSERT INTO registry_audit (at, actor, action, name, version, details) VALUES (@at, @actor, @action, @name, @version, @details::jsonb)",
            ct, ("at", at), ("actor", Actor(http)), ("action", action), ("name", name), ("version", version), ("details", JsonSerializer.Serialize(details)));

    public static IEndpointRouteBuilder MapRegistryAudit(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/registry/audit", ReadAsync).WithTags("Registry audit")
            .WithSummary("The registry's change history, newest first; filter by model name and version, page with 'before'.");
        return app;
    }

    internal static async Task<Results<Ok<AuditResponse>, ValidationProblem>> ReadAsync([FromQuery] string? name, [FromQuery] int? version, [FromQuery] long? before,
        [FromQuery] int? limit, NpgsqlDataSource db, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (version is <= 0)
            errors["version"] = ["Versions are positive integers."];
        if (version is not null && string.IsNullOrEmpty(name))
            errors["version"] = ["A version needs the model's 'name'."];
        if (limit is < 1 or > MaxLimit)
            errors["limit"] = [$"Between 1 and {MaxLimit}."];
        if (errors.Count > 0)
            return TypedResults.ValidationProblem(errors);
        var take = limit ?? DefaultLimit;
        await using var connection = await db.OpenConnectionAsync(ct);
        var entries = await connection.ReadAllAsync(
            """
            SELECT id, at, actor, action, name, version, details::text FROM registry_audit
            WHERE (@name::text IS NULL OR name = @name) AND (@version::integer IS NULL OR version = @version)
              AND (@before::bigint IS NULL OR id < @before)
            ORDER BY id DESC LIMIT @limit
            """,
            [new NpgsqlParameter("name", NpgsqlDbType.Text) { Value = (object?)name ?? DBNull.Value },
             new NpgsqlParameter("version", NpgsqlDbType.Integer) { Value = (object?)version ?? DBNull.Value },
             new NpgsqlParameter("before", NpgsqlDbType.Bigint) { Value = (object?)before ?? DBNull.Value },
             new NpgsqlParameter("limit", take + 1)],
            r => new AuditEntry(r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), r.GetString(3),
                r.GetString(4), r.IsDBNull(5) ? null : r.GetInt32(5).ToString(), JsonDocument.Parse(r.GetString(6)).RootElement), ct);
        var more = entries.Count > take;
        var page = entries.Take(take).ToList();
        return TypedResults.Ok(new AuditResponse(page, more ? page[^1].Id : null));
    }
}
