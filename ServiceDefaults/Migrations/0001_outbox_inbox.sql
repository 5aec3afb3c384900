-- The transactional outbox: a state change and the events announcing it commit in one transaction;
-- OutboxRelay publishes rows after commit, in order, and marks them sent.
CREATE TABLE IF NOT EXISTS outbox_messages (
    sequence     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   uuid        NOT NULL UNIQUE,
    message_type text        NOT NULL,
    body         jsonb       NOT NULL,
    trace_parent text        NULL,
    trace_state  text        NULL,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text        NULL
);
CREATE INDEX IF NOT EXISTS outbox_messages_unsent ON outbox_messages (sequence) WHERE sent_at IS NULL;

-- The idempotent-consumer inbox: one row per (consumer, MessageId) whose side effects have committed.
CREATE TABLE IF NOT EXISTS inbox_messages (
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
