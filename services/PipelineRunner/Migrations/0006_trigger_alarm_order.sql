-- Per trigger and subject (an alarm's id), the latest state change the trigger acted on: a state change of that alarm
-- with a sequence (state_change_id, monotonic per alarm) not above it arrives late, out of order, and is recorded in
-- trigger_firings as 'stale' without starting or debouncing anything.
CREATE TABLE IF NOT EXISTS trigger_event_order (
    trigger_id uuid        NOT NULL REFERENCES pipeline_triggers (id) ON DELETE CASCADE,
    subject    text        NOT NULL,
    sequence   bigint      NOT NULL,
    event_key  text        NOT NULL,  -- the firing that set it
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trigger_id, subject)
);
