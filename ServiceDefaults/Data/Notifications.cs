using Microsoft.Extensions.Logging;
using Npgsql;

namespace Mlops.ServiceDefaults.Data;

/// <summary>PostgreSQL LISTEN/NOTIFY: a commit elsewhere wakes a loop at once instead of at its next poll.</summary>
public static class Notifications
{
    /// <summary>
    /// Listens on <paramref name="channel"/> until <paramref name="ct"/> is cancelled, calling <paramref name="notified"/>
    /// with each notification's payload, on a connection of its own. A lost connection is opened again after a second;
    /// meanwhile the caller's own polling is what keeps it going, so a notification only ever makes things sooner.
    /// </summary>
    public static async Task ListenAsync(NpgsqlDataSource db, string channel, Action<string> notified, ILogger logger, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = await db.OpenConnectionAsync(ct);
                connection.Notification += (_, e) => notified(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {channel}", connection))
                    await listen.ExecuteNonQueryAsync(ct);
                while (!ct.IsCancellationRequested)
                    await connection.WaitAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogInformation("LISTEN {Channel} lost ({Message}); polling until it is back", channel, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
