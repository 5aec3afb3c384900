using System.Text.Json.Nodes;
using Npgsql;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>The SQL of schedules and event triggers: definitions, their firings, and the claims that make each fire once.</summary>
public sealed class TriggerStore(NpgsqlDataSource db)
{
    private const string ScheduleColumns = "id, pipeline, name, cron, time_zone, parameters::text, version, enabled, created_at, last_occurrence";
    private const string TriggerColumns = "id, pipeline, name, event, filter::text, parameters::text, debounce_seconds, version, created_at";

    /// <summary>Inserts the schedule; false when the pipeline already has one by that name.</summary>
    public async Task<bool> InsertScheduleAsync(Guid id, string pipeline, CreateScheduleRequest r, string cron, string zone, CancellationToken ct)
    {
        try
        {
            await db.ExecuteAsync(
                """
                INSERT INTO pipeline_schedules (id, pipeline, name, cron, time_zone, parameters, version, enabled)
                VALUES (@id, @pipeline, @name, @cron, @zone, @parameters::jsonb, @version, @enabled)
                """, ct, ("id", id), ("pipeline", pipeline), ("name", r.Name), ("cron", cron), ("zone", zone),
                ("parameters", (r.Parameters ?? []).ToJsonString()), ("version", r.Version), ("enabled", r.Enabled ?? true));
            return true;
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return false;
        }
    }

    public Task<List<ScheduleResponse>> ListSchedulesAsync(string pipeline, CancellationToken ct) =>
        db.ReadAllAsync($"SELECT {ScheduleColumns} FROM pipeline_schedules WHERE pipeline = @pipeline ORDER BY name",
            r => ReadSchedule(r, null), ct, ("pipeline", pipeline));

    public async Task<ScheduleResponse?> GetScheduleAsync(string pipeline, string name, CancellationToken ct)
    {
        var schedule = await db.ReadFirstOrDefaultAsync($"SELECT {ScheduleColumns} FROM pipeline_schedules WHERE pipeline = @pipeline AND name = @name",
            r => ReadSchedule(r, null), ct, ("pipeline", pipeline), ("name", name));
        if (schedule is null)
            return null;
        var firings = await db.ReadAllAsync(
            "SELECT occurrence, skipped, execution_id, error, fired_at FROM schedule_firings WHERE schedule_id = @id ORDER BY occurrence DESC LIMIT 100",
            r => new ScheduleFiring(r.GetFieldValue<DateTimeOffset>(0), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetGuid(2), r.GetNullableString(3),
                r.GetFieldValue<DateTimeOffset>(4)), ct, ("id", schedule.Id));
        return schedule with { Firings = firings };
    }

    public async Task<bool> DeleteScheduleAsync(string pipeline, string name, CancellationToken ct) =>
        await db.ExecuteAsync("DELETE FROM pipeline_schedules WHERE pipeline = @pipeline AND name = @name", ct, ("pipeline", pipeline), ("name", name)) > 0;

    /// <summary>Inserts the trigger; false when the pipeline already has one by that name.</summary>
    public async Task<bool> InsertTriggerAsync(Guid id, string pipeline, CreateTriggerRequest r, string eventName, CancellationToken ct)
    {
        try
        {
            await db.ExecuteAsync(
                """
                INSERT INTO pipeline_triggers (id, pipeline, name, event, filter, parameters, debounce_seconds, version)
                VALUES (@id, @pipeline, @name, @event, @filter::jsonb, @parameters::jsonb, @debounce, @version)
                """, ct, ("id", id), ("pipeline", pipeline), ("name", r.Name), ("event", eventName), ("filter", (r.Filter ?? []).ToJsonString()),
                ("parameters", (r.Parameters ?? []).ToJsonString()), ("debounce", r.DebounceSeconds ?? 0), ("version", r.Version));
            return true;
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return false;
        }
    }

    public Task<List<TriggerResponse>> ListTriggersAsync(string pipeline, CancellationToken ct) =>
        db.ReadAllAsync($"SELECT {TriggerColumns} FROM pipeline_triggers WHERE pipeline = @pipeline ORDER BY name", ReadTrigger, ct,
            ("pipeline", pipeline));

    public async Task<TriggerResponse?> GetTriggerAsync(string pipeline, string name, CancellationToken ct)
    {
        var trigger = await db.ReadFirstOrDefaultAsync($"SELECT {TriggerColumns} FROM pipeline_triggers WHERE pipeline = @pipeline AND name = @name",
            ReadTrigger, ct, ("pipeline", pipeline), ("name", name));
        if (trigger is null)
            return null;
        var firings = await db.ReadAllAsync(
            "SELECT event_key, message_id, status, execution_id, error, received_at FROM trigger_firings WHERE trigger_id = @id ORDER BY received_at DESC LIMIT 100",
            r => new TriggerFiring(r.GetString(0), r.IsDBNull(1) ? null : r.GetGuid(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetGuid(3),
                r.GetNullableString(4), r.GetFieldValue<DateTimeOffset>(5)), ct, ("id", trigger.Id));
        return trigger with { Firings = firings };
    }

    public async Task<bool> DeleteTriggerAsync(string pipeline, string name, CancellationToken ct) =>
        await db.ExecuteAsync("DELETE FROM pipeline_triggers WHERE pipeline = @pipeline AND name = @name", ct, ("pipeline", pipeline), ("name", name)) > 0;

    /// <summary>The triggers listening to <paramref name="eventName"/>, read in the consumer's transaction.</summary>
    public static async Task<List<TriggerResponse>> TriggersForAsync(NpgsqlTransaction tx, string eventName, CancellationToken ct) =>
        await tx.Connection!.ReadAllAsync($"SELECT {TriggerColumns} FROM pipeline_triggers WHERE event = @event ORDER BY id",
            [new NpgsqlParameter("event", eventName)], ReadTrigger, ct, tx);

    internal static ScheduleResponse ReadSchedule(NpgsqlDataReader r, DateTimeOffset? next)
    {
        var schedule = new ScheduleResponse(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
            JsonNode.Parse(r.GetString(5))!.AsObject(), r.IsDBNull(6) ? null : r.GetInt32(6), r.GetBoolean(7), r.GetFieldValue<DateTimeOffset>(8),
            r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9), next, null);
        var cron = CronSchedule.TryParse(schedule.Cron, schedule.TimeZone, []);
        return schedule with { NextOccurrence = schedule.Enabled ? cron?.Next(Max(schedule.LastOccurrence ?? schedule.CreatedAt, DateTimeOffset.UtcNow)) : null };
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static TriggerResponse ReadTrigger(NpgsqlDataReader r) =>
        new(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetString(3), JsonNode.Parse(r.GetString(4))!.AsObject(),
            JsonNode.Parse(r.GetString(5))!.AsObject(), r.GetInt32(6), r.IsDBNull(7) ? null : r.GetInt32(7), r.GetFieldValue<DateTimeOffset>(8), null);
}
