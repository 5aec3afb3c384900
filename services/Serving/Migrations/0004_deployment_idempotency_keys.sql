-- A caller's idempotency key (the Idempotency-Key header of PUT /api/endpoints/{name}, e.g. a pipeline step attempt's)
-- and a hash of the endpoint and request it came with: a repeat with the same key and request answers the deployment it
-- started instead of starting another; the same key with another request is refused. NULLs are distinct: keyless
-- updates are never deduplicated.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS idempotency_key text NULL;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS request_hash text NULL;
CREATE UNIQUE INDEX IF NOT EXISTS deployments_idempotency_key ON deployments (idempotency_key);
