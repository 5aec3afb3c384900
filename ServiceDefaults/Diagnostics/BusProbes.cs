using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Data;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;
using System.Diagnostics;

namespace Mlops.ServiceDefaults.Diagnostics;

/// <param name="Note">Free text carried in the log of the sending service, at most 200 characters.</param>
public sealed record SendProbeRequest(string? Note);
public sealed record ProbeResponse(Guid ProbeId, string Origin, DateTimeOffset SentAt, string? Note);
public sealed record ProbeReceipt(string Origin, DateTimeOffset ReceivedAt, string? TraceId);
public sealed record ProbeReceiptsResponse(Guid ProbeId, string Service, int Count, IReadOnlyList<ProbeReceipt> Receipts);

/// <summary>
/// A synthetic check of the whole event path: POST commits a probe and its <see cref="ProbeSent"/> event through the
/// outbox; every service consumes it (idempotently) and records a receipt that GET shows.
/// </summary>
public static class BusProbeEndpoints
{
    /// <summary>Maps <c>/api/diagnostics/probes</c>.</summary>
    public static RouteGroupBuilder MapBusProbeEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/diagnostics/probes").WithTags("Diagnostics");
        group.MapPost("/", SendProbe).WithName("SendBusProbe").Produces<ProbeResponse>(StatusCodes.Status202Accepted).WithSummary("Commit a probe and publish ProbeSent through the outbox.");
        group.MapGet("/{probeId:guid}", GetReceipts).WithName("GetBusProbeReceipts").Produces<ProbeReceiptsResponse>().WithSummary("Receipts this service recorded for a probe.");
        return group;
    }

    public const int MaxNoteLength = 200;

    /// <summary>
    /// The probe API answers the same JSON (camelCase) in every service, whatever naming a service chooses for its own
    /// endpoints (the FeatureStore's are snake_case).
    /// </summary>
    private static readonly System.Text.Json.JsonSerializerOptions PlatformJson = new(System.Text.Json.JsonSerializerDefaults.Web);

    internal static async Task<Results<JsonHttpResult<ProbeResponse>, ValidationProblem>> SendProbe(
        HttpContext http, [FromBody(EmptyBodyBehavior = EmptyBodyBehavior.Allow)] SendProbeRequest? request, NpgsqlDataSource db, IHostEnvironment env,
        ILoggerFactory loggers, CancellationToken ct)
    {
        if (request?.Note is { Length: > MaxNoteLength })
            return TypedResults.ValidationProblem(new Dictionary<string, string[]>
            {
                ["note"] = [$"The note is {request.Note.Length} characters; at most {MaxNoteLength} are allowed."],
            });
        var probe = new ProbeSent(Guid.CreateVersion7(), env.ApplicationName, DateTimeOffset.UtcNow);
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await transaction.ExecuteAsync("INSERT INTO bus_probes (probe_id, origin, sent_at) VALUES (@id, @origin, @sentAt)", ct,
            ("id", probe.ProbeId), ("origin", probe.Origin), ("sentAt", probe.SentAt));
        await transaction.EnqueueAsync(probe, ct);
        await transaction.CommitAsync(ct);
        loggers.CreateLogger(typeof(BusProbeEndpoints)).LogInformation("Sent bus probe {ProbeId}: {Note}", probe.ProbeId, request?.Note);
        http.Response.Headers.Location = $"/api/diagnostics/probes/{probe.ProbeId}";
        return TypedResults.Json(new ProbeResponse(probe.ProbeId, probe.Origin, probe.SentAt, request?.Note), PlatformJson,
            statusCode: StatusCodes.Status202Accepted);
    }

    internal static async Task<Results<JsonHttpResult<ProbeReceiptsResponse>, ProblemHttpResult>> GetReceipts(
        Guid probeId, NpgsqlDataSource db, IHostEnvironment env, CancellationToken ct)
    {
        var receipts = await db.ReadAllAsync("SELECT origin, received_at, trace_id FROM bus_probe_receipts WHERE probe_id = @id ORDER BY received_at",
            reader => new ProbeReceipt(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetNullableString(2)), ct, ("id", probeId));
        return receipts.Count == 0
            ? TypedResults.Problem($"{env.ApplicationName} has no receipt for probe {probeId} (yet).", statusCode: StatusCodes.Status404NotFound, title: "Probe not received")
            : TypedResults.Json(new ProbeReceiptsResponse(probeId, env.ApplicationName, receipts.Count, receipts), PlatformJson);
    }
}

/// <summary>Records a receipt per probe, once per MessageId however often the broker delivers it.</summary>
public sealed class ProbeSentConsumer(NpgsqlDataSource db) : IConsumer<ProbeSent>
{
    public Task Consume(ConsumeContext<ProbeSent> context) =>
        db.ExecuteOnceAsync(context, nameof(ProbeSentConsumer), async transaction =>
        {
            await transaction.ExecuteAsync(
                "INSERT INTO bus_probe_receipts (probe_id, origin, received_at, trace_id) VALUES (@id, @origin, now(), @trace)",
                context.CancellationToken, ("id", context.Message.ProbeId), ("origin", context.Message.Origin),
                ("trace", Activity.Current?.TraceId.ToString()));
        });
}
