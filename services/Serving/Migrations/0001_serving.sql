-- Endpoints and their versioned configurations. An endpoint serves its current configuration; a deployment in progress
-- routes a share of its traffic to the configuration it rolls out. revision is bumped on every change a replica must
-- see (config, traffic share, deletion marker), so replicas reload only what changed.
CREATE TABLE IF NOT EXISTS endpoints (
    name           text        PRIMARY KEY,
    config_version integer     NOT NULL,
    revision       bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- variants: [{name, model_name, model_version, alias, weight}] with aliases already resolved to versions.
-- deployment_id: the deployment that made this configuration live (the id ModelDeployed events carry).
CREATE TABLE IF NOT EXISTS endpoint_configs (
    endpoint      text        NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    version       integer     NOT NULL,
    variants      jsonb       NOT NULL,
    data_capture  jsonb       NOT NULL,
    deployment_id text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint, version)
);

-- Deployments are durable state machines: state shifting → baking → succeeded, or rolled_back. new_share is the
-- percent of traffic on the new configuration; next_at is when the engine next acts. A restarted replica resumes them.
CREATE TABLE IF NOT EXISTS deployments (
    deployment_id  text        PRIMARY KEY,
    endpoint       text        NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    from_version   integer     NULL,
    to_version     integer     NOT NULL,
    strategy       jsonb       NOT NULL,
    state          text        NOT NULL,
    new_share      integer     NOT NULL,
    next_at        timestamptz NULL,
    reason         text        NULL,
    history        jsonb       NOT NULL DEFAULT '[]',
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz NULL
);
-- At most one deployment in progress per endpoint.
CREATE UNIQUE INDEX IF NOT EXISTS deployments_one_active ON deployments (endpoint) WHERE state IN ('shifting', 'baking');
CREATE INDEX IF NOT EXISTS deployments_due ON deployments (next_at) WHERE state IN ('shifting', 'baking');

-- Which package bytes a registered model version resolved to: the disk cache is keyed by this hash.
CREATE TABLE IF NOT EXISTS model_packages (
    model_name    text        NOT NULL,
    model_version text        NOT NULL,
    sha256        text        NOT NULL,
    source        text        NOT NULL,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, model_version)
);
