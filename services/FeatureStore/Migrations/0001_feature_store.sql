-- Feature group definitions: one row per group (its current state) and one per version (the immutable definition).
CREATE TABLE IF NOT EXISTS feature_groups (
    name           text        PRIMARY KEY,
    latest_version integer     NOT NULL,
    tags           text[]      NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz NULL
);
CREATE INDEX IF NOT EXISTS feature_groups_tags ON feature_groups USING gin (tags);

CREATE TABLE IF NOT EXISTS feature_group_versions (
    name       text        NOT NULL REFERENCES feature_groups (name),
    version    integer     NOT NULL,
    definition jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (name, version)
);

-- Every accepted batch, and the offline (Parquet) files it wrote. Readers of the offline store use only listed files,
-- so a batch whose transaction failed leaves nothing visible even if its upload had finished.
CREATE SEQUENCE IF NOT EXISTS ingestion_batch_ids;
CREATE TABLE IF NOT EXISTS ingestion_batches (
    batch_id       bigint      PRIMARY KEY,
    group_name     text        NOT NULL,
    version        integer     NOT NULL,
    rows           bigint      NOT NULL,
    min_event_time timestamptz NOT NULL,
    max_event_time timestamptz NOT NULL,
    source         text        NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ingestion_batches_group ON ingestion_batches (group_name, version);

CREATE TABLE IF NOT EXISTS offline_files (
    object_key text    PRIMARY KEY,
    batch_id   bigint  NOT NULL REFERENCES ingestion_batches (batch_id),
    group_name text    NOT NULL,
    version    integer NOT NULL,
    event_date date    NOT NULL,
    size_bytes bigint  NOT NULL
);
CREATE INDEX IF NOT EXISTS offline_files_group ON offline_files (group_name, version);

-- The online store: the latest record per entity by (event time, batch, row). values holds the features as JSON.
CREATE TABLE IF NOT EXISTS online_features (
    group_name text        NOT NULL,
    entity_key text        NOT NULL,
    version    integer     NOT NULL,
    event_time timestamptz NOT NULL,
    batch_id   bigint      NOT NULL,
    row_no     integer     NOT NULL,
    values     jsonb       NOT NULL,
    PRIMARY KEY (group_name, entity_key)
);

-- Running statistics per group, version and feature, merged in the same transaction as each batch.
CREATE TABLE IF NOT EXISTS feature_statistics (
    group_name text    NOT NULL,
    version    integer NOT NULL,
    feature    text    NOT NULL,
    count      bigint  NOT NULL,
    nulls      bigint  NOT NULL,
    numeric_count bigint NOT NULL,
    sum        double precision NOT NULL,
    sum_sq     double precision NOT NULL,
    min        double precision NULL,
    max        double precision NULL,
    top        jsonb   NOT NULL DEFAULT '{}',
    PRIMARY KEY (group_name, version, feature)
);

-- Asynchronous work (lake imports, large training sets), claimed by workers with SKIP LOCKED.
CREATE TABLE IF NOT EXISTS jobs (
    job_id           uuid        PRIMARY KEY,
    kind             text        NOT NULL,
    status           text        NOT NULL,
    request          jsonb       NOT NULL,
    rows_done        bigint      NOT NULL DEFAULT 0,
    rows_total       bigint      NULL,
    result           jsonb       NULL,
    error            jsonb       NULL,
    cancel_requested boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (created_at) WHERE status = 'queued';

CREATE TABLE IF NOT EXISTS dataset_snapshots (
    snapshot_id  uuid        PRIMARY KEY,
    content_hash text        NOT NULL,
    rows         bigint      NOT NULL,
    manifest     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL
);
