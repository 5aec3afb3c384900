using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>
/// Fires cron schedules and debounced event triggers. Every replica runs one; each tick it locks a schedule row with
/// FOR UPDATE SKIP LOCKED, claims the due occurrence by inserting <c>(schedule, occurrence)</c> into schedule_firings (the
/// primary key refuses a second claim from any replica or after any restart) and starts the execution in that same
/// transaction: a crash before commit leaves neither, so the next tick fires it; after commit it is never fired again.
/// </summary>
public sealed class TriggerScheduler(NpgsqlDataSource db, TriggerStarts starts, IOptions<TriggerOptions> options, ILogger<TriggerScheduler> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await FireSchedulesAsync(DateTimeOffset.UtcNow, stoppingToken);
                await FireDebouncedAsync(stoppingToken);
                await Task.Delay(options.Value.Tick, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Trigger scheduler tick failed; trying again next tick");
                await Task.Delay(options.Value.Tick, stoppingToken).ContinueWith(_ => { });
            }
        }
    }

    // A cron expression with no later occurrence.
    private static readonly DateTimeOffset Never = new(9999, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Fires every schedule with an occurrence due at <paramref name="now"/>; answers how many fired.</summary>
    public async Task<int> FireSchedulesAsync(DateTimeOffset now, CancellationToken ct)
    {
        // Only the schedules whose next occurrence has come (next_due, kept by this method; NULL until first computed).
        var ids = await db.ReadAllAsync("SELECT id FROM pipeline_schedules WHERE enabled AND (next_due IS NULL OR next_due <= @now)",
            r => r.GetGuid(0), ct, ("now", now));
        var fired = 0;
        foreach (var id in ids)
        {
            await using var connection = await db.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            var row = await connection.ReadAllAsync(
                """
                SELECT pipeline, name, cron, time_zone, parameters::text, version, coalesce(last_occurrence, created_at)
                FROM pipeline_schedules WHERE id = @id AND enabled FOR UPDATE SKIP LOCKED
                """, [new NpgsqlParameter("id", id)],
                r => (Pipeline: r.GetString(0), Name: r.GetString(1), Cron: r.GetString(2), Zone: r.GetString(3), Parameters: r.GetString(4),
                    Version: r.IsDBNull(5) ? (int?)null : r.GetInt32(5), After: r.GetFieldValue<DateTimeOffset>(6)), ct, tx);
            if (row.Count == 0)
                continue; // deleted, disabled, or another replica holds it right now
            var s = row[0];
            var cron = CronSchedule.TryParse(s.Cron, s.Zone, []);
            var due = cron?.Due(s.After, now);
            if (due is null)
            {
                await tx.ExecuteAsync("UPDATE pipeline_schedules SET next_due = @next WHERE id = @id", ct,
                    ("next", cron?.Next(s.After) ?? Never), ("id", id));
                await tx.CommitAsync(ct);
                continue;
            }

            var claimed = await tx.ExecuteAsync(
                "INSERT INTO schedule_firings (schedule_id, occurrence, skipped) VALUES (@id, @occurrence, @skipped) ON CONFLICT DO NOTHING",
                ct, ("id", id), ("occurrence", due.Occurrence), ("skipped", due.Skipped));
            if (claimed == 1)
            {
                var (execution, error) = await starts.StartAsync(tx, s.Pipeline, s.Version, JsonNode.Parse(s.Parameters)!.AsObject(),
                    $"schedule:{s.Name}", ct);
                await tx.ExecuteAsync("UPDATE schedule_firings SET execution_id = @execution, error = @error WHERE schedule_id = @id AND occurrence = @occurrence",
                    ct, ("execution", execution), ("error", error), ("id", id), ("occurrence", due.Occurrence));
                if (error is not null)
                    logger.LogWarning("Schedule {Schedule} of {Pipeline} at {Occurrence} started nothing: {Error}", s.Name, s.Pipeline, due.Occurrence, error);
                fired++;
            }
            await tx.ExecuteAsync("UPDATE pipeline_schedules SET last_occurrence = @occurrence, next_due = @next WHERE id = @id", ct,
                ("occurrence", due.Occurrence), ("next", cron!.Next(due.Occurrence) ?? Never), ("id", id));
            await tx.CommitAsync(ct);
        }
        return fired;
    }

    /// <summary>Starts every debounced trigger whose window has passed since its latest event, with that event's parameters.</summary>
    public async Task<int> FireDebouncedAsync(CancellationToken ct)
    {
        var fired = 0;
        while (true)
        {
            await using var connection = await db.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            var due = await connection.ReadAllAsync(
                """
                SELECT p.trigger_id, p.parameters::text, p.event_keys, t.pipeline, t.name, t.version
                FROM trigger_pending p JOIN pipeline_triggers t ON t.id = p.trigger_id
                WHERE p.due_at <= now() ORDER BY p.due_at LIMIT 1 FOR UPDATE OF p SKIP LOCKED
                """, [], r => (Id: r.GetGuid(0), Parameters: r.GetString(1), Keys: r.GetFieldValue<string[]>(2), Pipeline: r.GetString(3),
                    Name: r.GetString(4), Version: r.IsDBNull(5) ? (int?)null : r.GetInt32(5)), ct, tx);
            if (due.Count == 0)
                return fired;
            var p = due[0];
            var (execution, error) = await starts.StartAsync(tx, p.Pipeline, p.Version, JsonNode.Parse(p.Parameters)!.AsObject(), $"trigger:{p.Name}", ct);
            await tx.ExecuteAsync(
                """
                UPDATE trigger_firings SET status = @status, execution_id = @execution, error = @error
                WHERE trigger_id = @id AND event_key = ANY(@keys);
                DELETE FROM trigger_pending WHERE trigger_id = @id;
                """, ct, ("status", error is null ? "started" : "failed"), ("execution", execution), ("error", error), ("id", p.Id), ("keys", p.Keys));
            await tx.CommitAsync(ct);
            fired++;
        }
    }
}
