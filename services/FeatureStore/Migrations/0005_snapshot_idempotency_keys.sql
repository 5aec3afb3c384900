-- A caller's idempotency key on a training set answered at once (POST /api/training-sets with an Idempotency-Key; one
-- answered as a job keeps its key on the job, 0004) and the SHA-256 of the request it came with: a repeat with the same
-- key and request answers the snapshot instead of building another; the key with another request is refused. NULLs are
-- distinct: keyless requests are never deduplicated.
ALTER TABLE dataset_snapshots ADD COLUMN IF NOT EXISTS idempotency_key text NULL;
ALTER TABLE dataset_snapshots ADD COLUMN IF NOT EXISTS request_hash text NULL;
CREATE UNIQUE INDEX IF NOT EXISTS dataset_snapshots_idempotency_key ON dataset_snapshots (idempotency_key);
