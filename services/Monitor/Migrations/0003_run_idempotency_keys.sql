-- A caller's idempotency key (the Idempotency-Key header of POST /api/runs, e.g. a pipeline quality_check attempt's) and
-- the SHA-256 of the request it came with: a repeat with the same key and request answers the run it started instead of
-- starting another; the key with another request is refused. NULLs are distinct: keyless and scheduled runs are never
-- deduplicated.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS idempotency_key text NULL;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS request_hash text NULL;
CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency_key ON runs (idempotency_key);
