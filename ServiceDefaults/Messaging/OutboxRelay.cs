using System.Diagnostics;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Mlops.ServiceDefaults.Data;
using Npgsql;

namespace Mlops.ServiceDefaults.Messaging;

public sealed class OutboxOptions
{
    /// <summary>How often the relay looks for unsent rows when no commit woke it (rows left by a crash or another instance).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>How long one publish may wait for the broker before the relay backs off and retries.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public int BatchSize { get; set; } = 100;
    /// <summary>Sent rows are kept this long for inspection, then deleted.</summary>
    public TimeSpan SentRetention { get; set; } = TimeSpan.FromDays(1);
}

/// <summary>
/// Publishes committed outbox rows in order, at least once, with the outbox row's id as MessageId (so consumers'
/// inboxes drop redeliveries). Survives the broker being down: unsent rows stay and are retried with back-off.
/// Several instances may run: rows are claimed with SKIP LOCKED.
/// </summary>
public sealed class OutboxRelay(NpgsqlDataSource dataSource, IBus bus, IOptions<OutboxOptions> options, ILogger<OutboxRelay> logger)
    : BackgroundService
{
    public const string ActivitySourceName = "Mlops.Outbox";
    private static readonly ActivitySource Source = new(ActivitySourceName);
    private readonly SemaphoreSlim _wake = new(0);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _ = ListenAsync(stoppingToken);
        var backoff = TimeSpan.Zero;
        var nextCleanup = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (await PublishBatchAsync(stoppingToken) == options.Value.BatchSize) { }
                backoff = TimeSpan.Zero;
                if (DateTimeOffset.UtcNow >= nextCleanup)
                {
                    await DeleteSentAsync(stoppingToken);
                    nextCleanup = DateTimeOffset.UtcNow.AddHours(1);
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                backoff = TimeSpan.FromMilliseconds(Math.Min(30_000, Math.Max(500, backoff.TotalMilliseconds * 2)));
                logger.LogWarning("Outbox relay could not publish ({Message}); retrying in {Backoff}", e.Message, backoff);
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            try { await _wake.WaitAsync(options.Value.PollInterval, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <returns>The number of rows claimed.</returns>
    private async Task<int> PublishBatchAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var rows = new List<(long Sequence, Guid Id, string Type, string Body, string? Parent, string? State)>();
        await using (var select = new NpgsqlCommand(
            """
            SELECT sequence, message_id, message_type, body::text, trace_parent, trace_state
            FROM outbox_messages WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY sequence LIMIT @batch FOR UPDATE SKIP LOCKED
            """, connection, transaction))
        {
            select.Parameters.AddWithValue("batch", options.Value.BatchSize);
            await using var reader = await select.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                rows.Add((reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
        }

        var sent = new List<long>(rows.Count);
        Exception? failure = null;
        foreach (var row in rows)
        {
            try
            {
                await PublishAsync(row.Id, row.Type, row.Body, row.Parent, row.State, ct);
                sent.Add(row.Sequence);
            }
            catch (UnpublishableMessageException e)
            {
                logger.LogError("Outbox message {MessageId} parked: {Reason}", row.Id, e.Message);
                await using var park = new NpgsqlCommand(
                    "UPDATE outbox_messages SET parked_at = now(), last_error = @error WHERE sequence = @sequence", connection, transaction);
                park.Parameters.AddWithValue("error", e.Message);
                park.Parameters.AddWithValue("sequence", row.Sequence);
                await park.ExecuteNonQueryAsync(ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Keep order: stop at the first failure, record it, and commit what did go out.
                failure = e;
                await using var record = new NpgsqlCommand(
                    "UPDATE outbox_messages SET attempts = attempts + 1, last_error = @error WHERE sequence = @sequence", connection, transaction);
                record.Parameters.AddWithValue("error", e.Message);
                record.Parameters.AddWithValue("sequence", row.Sequence);
                await record.ExecuteNonQueryAsync(ct);
                break;
            }
        }

        if (sent.Count > 0)
        {
            await using var mark = new NpgsqlCommand("UPDATE outbox_messages SET sent_at = now() WHERE sequence = ANY(@sent)", connection, transaction);
            mark.Parameters.AddWithValue("sent", sent.ToArray());
            await mark.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
        if (failure is not null)
            throw failure;
        return rows.Count;
    }

    private async Task PublishAsync(Guid messageId, string typeName, string body, string? traceParent, string? traceState, CancellationToken ct)
    {
        var type = Outbox.ResolveMessageType(typeName)
            ?? throw new UnpublishableMessageException($"unknown message type '{typeName}' (not in Mlops.Contracts)");
        object message;
        try
        {
            message = JsonSerializer.Deserialize(body, type, Outbox.Json)
                ?? throw new UnpublishableMessageException($"the body is not a {type.Name}");
        }
        catch (JsonException e)
        {
            throw new UnpublishableMessageException($"the body is not a valid {type.Name}: {e.Message}");
        }

        // Continue the trace of the request that committed the event, so HTTP → bus → consumer is one trace.
        ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
        using var activity = Source.StartActivity($"outbox relay {type.Name}", ActivityKind.Producer, parent);
        activity?.SetTag("messaging.message.id", messageId.ToString());

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Value.PublishTimeout);
        await bus.Publish(message, type, Pipe.Execute<PublishContext>(context => context.MessageId = messageId), timeout.Token);
    }

    private async Task DeleteSentAsync(CancellationToken ct)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM outbox_messages WHERE sent_at < now() - @retention");
        command.Parameters.AddWithValue("retention", options.Value.SentRetention);
        await command.ExecuteNonQueryAsync(ct);
    }

    // A commit anywhere in this service wakes the relay at once instead of at the next poll.
    private Task ListenAsync(CancellationToken ct) =>
        Notifications.ListenAsync(dataSource, Outbox.NotifyChannel, _ => _wake.Release(), logger, ct);
}

/// <summary>A row no retry can publish; it is parked so later events are not held back.</summary>
internal sealed class UnpublishableMessageException(string message) : Exception(message);
