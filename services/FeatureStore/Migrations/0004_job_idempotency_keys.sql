-- A caller's idempotency key (the Idempotency-Key header of POST /api/feature-groups/{name}/imports, e.g. a pipeline
-- step attempt's): a repeat with the same key finds the job instead of starting another. NULLs are distinct: keyless
-- requests are never deduplicated.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS idempotency_key text NULL;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency_key ON jobs (idempotency_key);
