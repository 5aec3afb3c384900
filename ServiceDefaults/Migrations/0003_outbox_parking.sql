-- Rows that can never be published (unknown message type, unreadable body) are parked, not retried forever:
-- the relay keeps order, so one such row would otherwise hold back every later event.
ALTER TABLE outbox_messages ADD COLUMN IF NOT EXISTS parked_at timestamptz NULL;
DROP INDEX IF EXISTS outbox_messages_unsent;
CREATE INDEX IF NOT EXISTS outbox_messages_pending ON outbox_messages (sequence) WHERE sent_at IS NULL AND parked_at IS NULL;
