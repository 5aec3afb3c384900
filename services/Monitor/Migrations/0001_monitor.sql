-- Baselines: Model Monitor's statistics.json / constraints.json (and the exact reference profile drift needs) in S3,
-- one row per version. Editing constraints makes a new version over the same statistics and profile.
CREATE TABLE baselines (
    name            text        NOT NULL,
    version         integer     NOT NULL,
    dataset_uri     text        NOT NULL,
    model_name      text,
    model_version   text,
    item_count      bigint      NOT NULL,
    statistics_uri  text        NOT NULL,
    constraints_uri text        NOT NULL,
    profile_uri     text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- Monitoring schedules per endpoint: a cron expression or an interval, and the window each run reads.
CREATE TABLE schedules (
    name             text        PRIMARY KEY,
    endpoint         text        NOT NULL,
    variant          text,
    baseline_name    text        NOT NULL,
    baseline_version integer,
    cron             text,
    interval_seconds integer,
    window_seconds   integer     NOT NULL,
    drift_options    jsonb       NOT NULL DEFAULT '{}',
    next_run_at      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((cron IS NULL) <> (interval_seconds IS NULL))
);

-- Monitoring runs: a summary row per run (the report itself is JSON in S3). A run in 'running' holds a lease; one that
-- dies (lease expired) goes back to 'pending' and is retried. Runs of one endpoint never overlap: at most one running.
CREATE TABLE runs (
    id                uuid        PRIMARY KEY,
    seq               bigserial   NOT NULL UNIQUE,
    schedule_name     text        REFERENCES schedules (name) ON DELETE SET NULL,
    endpoint          text,
    variant           text,
    baseline_name     text        NOT NULL,
    baseline_version  integer     NOT NULL,
    source            jsonb       NOT NULL,
    drift_options     jsonb       NOT NULL DEFAULT '{}',
    window_start      timestamptz,
    window_end        timestamptz,
    status            text        NOT NULL,           -- pending | running | completed | failed
    result            text,                           -- OK | VIOLATIONS | INSUFFICIENT_DATA
    attempts          integer     NOT NULL DEFAULT 0,
    lease_until       timestamptz,
    item_count        bigint,
    violation_count   integer,
    dataset_drift     boolean,
    share_drifted     double precision,
    report_uri        text,
    violations_uri    text,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    completed_at      timestamptz,
    FOREIGN KEY (baseline_name, baseline_version) REFERENCES baselines (name, version)
);
CREATE UNIQUE INDEX runs_one_running_per_endpoint ON runs (endpoint) WHERE status = 'running' AND endpoint IS NOT NULL;
CREATE INDEX runs_pending ON runs (created_at) WHERE status = 'pending';

-- Every metric of every run, for the time-series API and alarms.
CREATE TABLE metrics (
    run_id     uuid             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    run_seq    bigint           NOT NULL,
    endpoint   text,
    metric     text             NOT NULL,
    value      double precision NOT NULL,
    at         timestamptz      NOT NULL,
    PRIMARY KEY (run_id, metric)
);
CREATE INDEX metrics_series ON metrics (metric, endpoint, run_seq);

-- Alarms in CloudWatch's shape, with their state-change history.
CREATE TABLE alarms (
    name                text             PRIMARY KEY,
    id                  uuid             NOT NULL UNIQUE,
    metric              text             NOT NULL,
    endpoint            text,
    check_name          text             NOT NULL,
    threshold           double precision NOT NULL,
    comparison_operator text             NOT NULL,
    evaluation_periods  integer          NOT NULL,
    datapoints_to_alarm integer          NOT NULL,
    state               text             NOT NULL DEFAULT 'INSUFFICIENT_DATA',
    state_reason        text             NOT NULL DEFAULT 'Created; no datapoints evaluated yet.',
    state_change_seq    bigint           NOT NULL DEFAULT 0,
    state_updated_at    timestamptz      NOT NULL DEFAULT now(),
    created_at          timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE alarm_history (
    alarm_name      text        NOT NULL REFERENCES alarms (name) ON DELETE CASCADE,
    state_change_id bigint      NOT NULL,
    old_state       text        NOT NULL,
    new_state       text        NOT NULL,
    reason          text        NOT NULL,
    run_id          uuid,
    value           double precision,
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alarm_name, state_change_id)
);
