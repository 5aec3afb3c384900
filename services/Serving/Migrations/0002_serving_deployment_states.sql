-- Blue/green (provisioning: the new fleet loading on every replica) and shadow (shadowing: requests mirrored) are in
-- progress too: the one-active and due indexes cover them.
DROP INDEX IF EXISTS deployments_one_active;
DROP INDEX IF EXISTS deployments_due;
CREATE UNIQUE INDEX IF NOT EXISTS deployments_one_active ON deployments (endpoint) WHERE state IN ('provisioning', 'shadowing', 'shifting', 'baking');
CREATE INDEX IF NOT EXISTS deployments_due ON deployments (next_at) WHERE state IN ('provisioning', 'shadowing', 'shifting', 'baking');

-- The replicas serving, and which configurations each has loaded ("warm": {endpoint: [config versions]}). A blue/green
-- deployment switches only when every replica seen in the last seconds has the new configuration loaded.
CREATE TABLE IF NOT EXISTS serving_replicas (
    replica_id text        PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now(),
    warm       jsonb       NOT NULL DEFAULT '{}'
);
