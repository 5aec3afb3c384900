using MassTransit;
using Npgsql;

namespace Mlops.ServiceDefaults.Messaging;

/// <summary>
/// Makes a consumer's database side effects happen once per MessageId: the inbox row and the effects commit in one
/// transaction, and a redelivery (same MessageId) finds the row and does nothing.
/// </summary>
public static class Inbox
{
    /// <returns><c>true</c> if the effect ran; <c>false</c> if this consumer had already processed the message.</returns>
    public static async Task<bool> ExecuteOnceAsync(this NpgsqlDataSource dataSource, ConsumeContext context, string consumer,
        Func<NpgsqlTransaction, Task> effect)
    {
        var messageId = context.MessageId ?? throw new InvalidOperationException("The message has no MessageId; the inbox cannot deduplicate it.");
        var ct = context.CancellationToken;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        // A concurrent duplicate blocks on the primary key until the first commits, then conflicts.
        await using var claim = new NpgsqlCommand(
            "INSERT INTO inbox_messages (consumer, message_id) VALUES (@consumer, @id) ON CONFLICT DO NOTHING", connection, transaction);
        claim.Parameters.AddWithValue("consumer", consumer);
        claim.Parameters.AddWithValue("id", messageId);
        if (await claim.ExecuteNonQueryAsync(ct) == 0)
            return false;

        await effect(transaction);
        await transaction.CommitAsync(ct);
        return true;
    }
}
