-- Pipelines and their immutable versions: every upsert that changes the definition is a new version.
CREATE TABLE pipelines (
    name           text        PRIMARY KEY,
    latest_version integer     NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pipeline_versions (
    pipeline        text        NOT NULL REFERENCES pipelines (name),
    version         integer     NOT NULL,
    document        jsonb       NOT NULL,  -- the definition as a JSON document (YAML is converted on upsert)
    source          text        NOT NULL,  -- the text as it was sent
    source_format   text        NOT NULL,  -- yaml or json
    definition_hash text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, version)
);

-- Executions pin a version. The row is the lock every state change of the execution takes (FOR UPDATE).
CREATE TABLE executions (
    id             uuid        PRIMARY KEY,
    pipeline       text        NOT NULL,
    version        integer     NOT NULL,
    status         text        NOT NULL,
    parameters     jsonb       NOT NULL,
    stop_requested boolean     NOT NULL DEFAULT false,
    error          text        NULL,
    reference_execution_id uuid NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz NULL,
    FOREIGN KEY (pipeline, version) REFERENCES pipeline_versions (pipeline, version)
);
CREATE INDEX executions_by_pipeline ON executions (pipeline, created_at DESC);

-- One row per step (item = -1) and per fan-out item (item >= 0). A 'ready' row is a committed start command: runners
-- claim it with FOR UPDATE SKIP LOCKED and hold it by a lease; an expired lease (a dead runner) is claimed again.
CREATE TABLE step_runs (
    execution_id uuid        NOT NULL REFERENCES executions (id),
    step         text        NOT NULL,
    item         integer     NOT NULL DEFAULT -1,
    status       text        NOT NULL,
    attempt      integer     NOT NULL DEFAULT 0,
    inputs       jsonb       NULL,
    outputs      jsonb       NULL,
    cache_key    text        NULL,
    cached_from  uuid        NULL,
    error        text        NULL,
    failure_kind text        NULL,
    external_id  text        NULL,       -- e.g. the training job's name: found again after a restart
    ready_at     timestamptz NULL,
    started_at   timestamptz NULL,
    ended_at     timestamptz NULL,
    lease_owner  text        NULL,
    lease_until  timestamptz NULL,
    claims       integer     NOT NULL DEFAULT 0, -- how often a runner took this attempt (more than 1 only after a lost lease)
    attempts     jsonb       NOT NULL DEFAULT '[]', -- earlier attempts: {attempt, error, failure_kind, started_at, ended_at}
    PRIMARY KEY (execution_id, step, item)
);
CREATE INDEX step_runs_claimable ON step_runs (ready_at) WHERE status IN ('ready', 'running');
CREATE INDEX step_runs_cache ON step_runs (cache_key, ended_at) WHERE status = 'succeeded';
