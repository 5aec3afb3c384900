using System.Diagnostics;
using System.Text.Json;
using Mlops.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Mlops.ServiceDefaults.Messaging;

/// <summary>
/// Writes events into the service's outbox inside the caller's transaction. The event is published (by
/// <see cref="OutboxRelay"/>) only if that transaction commits; a rollback leaves no trace of it.
/// </summary>
public static class Outbox
{
    internal const string NotifyChannel = "mlops_outbox";
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Enqueues <paramref name="message"/> (a record from Mlops.Contracts) in <paramref name="transaction"/>; returns its MessageId.</summary>
    public static async Task<Guid> EnqueueAsync<T>(this NpgsqlTransaction transaction, T message, CancellationToken cancellationToken = default)
        where T : class
    {
        if (typeof(T).Assembly != typeof(ProbeSent).Assembly)
            throw new ArgumentException($"{typeof(T).FullName} is not a bus message: every message lives in Mlops.Contracts.", nameof(message));

        var messageId = Guid.CreateVersion7();
        // NOTIFY is transactional: the relay is woken on commit and never for a rolled-back transaction.
        await using var command = new NpgsqlCommand(
            $"""
            INSERT INTO outbox_messages (message_id, message_type, body, trace_parent, trace_state)
            VALUES (@id, @type, @body, @traceParent, @traceState);
            NOTIFY {NotifyChannel};
            """, transaction.Connection, transaction);
        command.Parameters.AddWithValue("id", messageId);
        command.Parameters.AddWithValue("type", typeof(T).FullName!);
        command.Parameters.AddWithValue("body", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(message, Json));
        command.Parameters.AddWithValue("traceParent", (object?)Activity.Current?.Id ?? DBNull.Value);
        command.Parameters.AddWithValue("traceState", (object?)Activity.Current?.TraceStateString ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return messageId;
    }

    internal static Type? ResolveMessageType(string name) => typeof(ProbeSent).Assembly.GetType(name, throwOnError: false);
}
