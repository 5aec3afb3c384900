-- MLflow's model registry: registered models (by unique name) and their numbered versions. Deleting a registered model
-- deletes its versions and tags, as in MLflow. Times are epoch milliseconds.
CREATE TABLE IF NOT EXISTS registered_models (
    name                   text   PRIMARY KEY,
    creation_timestamp     bigint NOT NULL,
    last_updated_timestamp bigint NOT NULL,
    description            text   NULL,
    user_id                text   NULL
);

CREATE TABLE IF NOT EXISTS registered_model_tags (
    name  text NOT NULL REFERENCES registered_models (name) ON DELETE CASCADE,
    key   text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (name, key)
);

CREATE TABLE IF NOT EXISTS model_versions (
    name                   text   NOT NULL REFERENCES registered_models (name) ON DELETE CASCADE,
    version                integer NOT NULL,
    creation_timestamp     bigint NOT NULL,
    last_updated_timestamp bigint NOT NULL,
    user_id                text   NULL,
    current_stage          text   NOT NULL DEFAULT 'None',
    description            text   NULL,
    source                 text   NOT NULL,
    run_id                 text   NULL,
    run_link               text   NULL,
    status                 text   NOT NULL DEFAULT 'READY',
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS model_versions_run ON model_versions (run_id);

CREATE TABLE IF NOT EXISTS model_version_tags (
    name    text    NOT NULL,
    version integer NOT NULL,
    key     text    NOT NULL,
    value   text    NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON DELETE CASCADE
);
