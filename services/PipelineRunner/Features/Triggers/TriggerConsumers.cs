using MassTransit;
using Mlops.Contracts;
using Mlops.ServiceDefaults.Messaging;
using Npgsql;

namespace Mlops.PipelineRunner.Features.Triggers;

/// <summary>
/// Starts the pipelines whose triggers match an event. Once per message (the inbox, by MessageId) and once per event and
/// trigger (trigger_firings keyed by the event's natural key, so the same event published twice under two MessageIds
/// starts one execution). With a debounce window the start waits in trigger_pending until the window passes without a
/// newer event; the scheduler then starts one execution with the latest event's parameters. A state change (an alarm's)
/// older than the latest one a trigger acted on for that alarm is recorded <c>stale</c> and starts nothing.
/// </summary>
/// An event no trigger matches (an alarm for an endpoint without a retraining pipeline) is logged and acknowledged: the
/// sender keeps its own record (the monitor's alarm history), and nothing retries.
public abstract class TriggerConsumer<T>(NpgsqlDataSource db, TriggerStarts starts, ILogger logger) : IConsumer<T>
    where T : class
{
    public Task Consume(ConsumeContext<T> context) =>
        db.ExecuteOnceAsync(context, GetType().Name, tx => FireAsync(tx, context.Message, context.MessageId, context.CancellationToken));

    private async Task FireAsync(NpgsqlTransaction tx, T message, Guid? messageId, CancellationToken ct)
    {
        var definition = TriggerEvents.For(typeof(T));
        var fields = TriggerEvents.Fields(message);
        var key = definition.Key(message);
        var order = definition.Order?.Invoke(message);
        var matched = 0;
        foreach (var trigger in await TriggerStore.TriggersForAsync(tx, definition.Name, ct))
        {
            if (!TriggerEvents.Matches(trigger.Filter, fields))
                continue;
            matched++;
            var claimed = await tx.ExecuteAsync(
                "INSERT INTO trigger_firings (trigger_id, event_key, message_id, status) VALUES (@id, @key, @message, 'received') ON CONFLICT DO NOTHING",
                ct, ("id", trigger.Id), ("key", key), ("message", messageId));
            if (claimed == 0)
                continue; // this event already reached this trigger
            if (order is var (subject, sequence))
            {
                // Acts only on a state change newer than the latest this trigger acted on for the subject (an alarm): an
                // older one delivered late (a redelivered ALARM from before the last OK/ALARM cycle) is recorded 'stale'.
                // The upsert locks the row, so two state changes of one alarm consumed at once are ordered here too.
                var newer = await tx.ExecuteAsync(
                    """
                    INSERT INTO trigger_event_order (trigger_id, subject, sequence, event_key) VALUES (@id, @subject, @sequence, @key)
                    ON CONFLICT (trigger_id, subject) DO UPDATE SET sequence = excluded.sequence, event_key = excluded.event_key, updated_at = now()
                    WHERE trigger_event_order.sequence < excluded.sequence
                    """, ct, ("id", trigger.Id), ("subject", subject), ("sequence", sequence), ("key", key));
                if (newer == 0)
                {
                    await tx.ExecuteAsync(
                        "UPDATE trigger_firings SET status = 'stale', error = @error WHERE trigger_id = @id AND event_key = @key",
                        ct, ("error", $"state change {sequence} of {subject} is not newer than the latest this trigger acted on"), ("id", trigger.Id), ("key", key));
                    logger.LogInformation("Event {Event} {Key} is older than the latest state change trigger {Trigger} acted on; ignored",
                        definition.Name, key, trigger.Name);
                    continue;
                }
            }
            var parameters = TriggerEvents.Map(trigger.Parameters, fields);
            if (trigger.DebounceSeconds > 0)
            {
                await tx.ExecuteAsync(
                    """
                    INSERT INTO trigger_pending (trigger_id, parameters, due_at, event_keys)
                    VALUES (@id, @parameters::jsonb, now() + make_interval(secs => @debounce), ARRAY[@key])
                    ON CONFLICT (trigger_id) DO UPDATE SET parameters = excluded.parameters, due_at = excluded.due_at,
                        event_keys = array_append(trigger_pending.event_keys, @key);
                    UPDATE trigger_firings SET status = 'debounced' WHERE trigger_id = @id AND event_key = @key;
                    """, ct, ("id", trigger.Id), ("parameters", parameters.ToJsonString()), ("debounce", (double)trigger.DebounceSeconds), ("key", key));
                continue;
            }
            var (execution, error) = await starts.StartAsync(tx, trigger.Pipeline, trigger.Version, parameters, $"trigger:{trigger.Name}", ct);
            await tx.ExecuteAsync("UPDATE trigger_firings SET status = @status, execution_id = @execution, error = @error WHERE trigger_id = @id AND event_key = @key",
                ct, ("status", error is null ? "started" : "failed"), ("execution", execution), ("error", error), ("id", trigger.Id), ("key", key));
        }
        if (matched == 0)
            logger.LogInformation("Event {Event} {Key} matches no trigger; no pipeline started", definition.Name, key);
    }
}

public sealed class FeaturesIngestedTrigger(NpgsqlDataSource db, TriggerStarts starts, ILogger<FeaturesIngestedTrigger> logger) : TriggerConsumer<FeaturesIngested>(db, starts, logger);

public sealed class MonitorAlarmRaisedTrigger(NpgsqlDataSource db, TriggerStarts starts, ILogger<MonitorAlarmRaisedTrigger> logger) : TriggerConsumer<MonitorAlarmRaised>(db, starts, logger);

public sealed class ModelVersionCreatedTrigger(NpgsqlDataSource db, TriggerStarts starts, ILogger<ModelVersionCreatedTrigger> logger) : TriggerConsumer<ModelVersionCreated>(db, starts, logger);
