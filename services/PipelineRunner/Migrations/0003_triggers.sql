-- Cron schedules: a pipeline started at every occurrence of a cron expression in a time zone.
CREATE TABLE pipeline_schedules (
    id              uuid        PRIMARY KEY,
    pipeline        text        NOT NULL REFERENCES pipelines (name),
    name            text        NOT NULL,
    cron            text        NOT NULL,
    time_zone       text        NOT NULL,
    parameters      jsonb       NOT NULL DEFAULT '{}',
    version         integer     NULL,       -- pinned pipeline version; NULL: the latest when it fires
    enabled         boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_occurrence timestamptz NULL,       -- the latest occurrence claimed (fired or recorded as failed)
    UNIQUE (pipeline, name)
);

-- One row per occurrence that fired: the primary key is the claim, so an occurrence fires once across replicas and
-- restarts. The row, the execution and last_occurrence commit in one transaction.
CREATE TABLE schedule_firings (
    schedule_id  uuid        NOT NULL REFERENCES pipeline_schedules (id) ON DELETE CASCADE,
    occurrence   timestamptz NOT NULL,
    skipped      integer     NOT NULL DEFAULT 0,  -- earlier occurrences missed while no runner ran (catch-up fires only the latest)
    execution_id uuid        NULL,
    error        text        NULL,                -- why no execution started (e.g. parameters the pinned version refuses)
    fired_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, occurrence)
);

-- Event triggers: a bus event (features_ingested, monitor_alarm_raised, model_version_created) matching a filter starts
-- the pipeline with parameters mapped from the event's fields.
CREATE TABLE pipeline_triggers (
    id               uuid        PRIMARY KEY,
    pipeline         text        NOT NULL REFERENCES pipelines (name),
    name             text        NOT NULL,
    event            text        NOT NULL,
    filter           jsonb       NOT NULL DEFAULT '{}',
    parameters       jsonb       NOT NULL DEFAULT '{}',
    debounce_seconds integer     NOT NULL DEFAULT 0,
    version          integer     NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline, name)
);
CREATE INDEX pipeline_triggers_by_event ON pipeline_triggers (event);

-- One row per event and trigger (the event's natural key, e.g. group/version/batch): the same event delivered again,
-- under the same MessageId (the inbox) or a new one, finds its row and starts nothing.
CREATE TABLE trigger_firings (
    trigger_id   uuid        NOT NULL REFERENCES pipeline_triggers (id) ON DELETE CASCADE,
    event_key    text        NOT NULL,
    message_id   uuid        NULL,
    status       text        NOT NULL,  -- started | debounced (waiting in trigger_pending) | failed
    execution_id uuid        NULL,
    error        text        NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trigger_id, event_key)
);

-- A debounced trigger's waiting start: every matching event pushes due_at to now + debounce and replaces the parameters
-- (the latest event wins); the scheduler starts one execution once due_at passes.
CREATE TABLE trigger_pending (
    trigger_id uuid        PRIMARY KEY REFERENCES pipeline_triggers (id) ON DELETE CASCADE,
    parameters jsonb       NOT NULL,
    due_at     timestamptz NOT NULL,
    event_keys text[]      NOT NULL
);
