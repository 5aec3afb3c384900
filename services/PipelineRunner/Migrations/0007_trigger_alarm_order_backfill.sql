-- Back-fills trigger_event_order (0006) from the alarm firings recorded before it existed: without it, the first state
-- change delivered after the upgrade finds no row, and a late redelivery of an older one would be acted on. An alarm
-- firing's key is '<alarm id>/<state change id>' (TriggerEvents: monitor_alarm_raised); every firing but a 'stale' one
-- was acted on. Idempotent: a row only ever moves to a higher sequence, so running it again (or after the consumer has
-- recorded newer state changes) changes nothing.
INSERT INTO trigger_event_order (trigger_id, subject, sequence, event_key)
SELECT DISTINCT ON (f.trigger_id, split_part(f.event_key, '/', 1))
       f.trigger_id, split_part(f.event_key, '/', 1), split_part(f.event_key, '/', 2)::bigint, f.event_key
FROM trigger_firings f
JOIN pipeline_triggers t ON t.id = f.trigger_id
WHERE t.event = 'monitor_alarm_raised'
  AND f.status <> 'stale'
  AND f.event_key ~ '^[^/]+/[0-9]{1,18}$'
ORDER BY f.trigger_id, split_part(f.event_key, '/', 1), split_part(f.event_key, '/', 2)::bigint DESC
ON CONFLICT (trigger_id, subject) DO UPDATE SET sequence = excluded.sequence, event_key = excluded.event_key, updated_at = now()
WHERE trigger_event_order.sequence < excluded.sequence;
