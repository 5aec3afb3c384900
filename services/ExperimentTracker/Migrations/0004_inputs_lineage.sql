-- MLflow's dataset inputs (runs/log-inputs): datasets are per experiment, identified by (name, digest); a run's input
-- links it to a dataset with tags such as mlflow.data.context = training.
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id bigint NOT NULL REFERENCES experiments (experiment_id),
    name          text   NOT NULL,
    digest        text   NOT NULL,
    source_type   text   NOT NULL,
    source        text   NOT NULL,
    schema        text   NULL,
    profile       text   NULL,
    CONSTRAINT datasets_experiment_name_digest UNIQUE (experiment_id, name, digest)
);
CREATE INDEX IF NOT EXISTS datasets_digest ON datasets (digest);

CREATE TABLE IF NOT EXISTS run_inputs (
    run_id     text   NOT NULL REFERENCES runs (run_id),
    dataset_id bigint NOT NULL REFERENCES datasets (dataset_id),
    tags       jsonb  NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, dataset_id)
);
CREATE INDEX IF NOT EXISTS run_inputs_dataset ON run_inputs (dataset_id);

-- Feature-group versions a dataset was built from (a FeatureStore snapshot names them in its source): lineage from a
-- feature group version down to runs, models and deployments.
CREATE TABLE IF NOT EXISTS dataset_feature_groups (
    dataset_id bigint  NOT NULL REFERENCES datasets (dataset_id) ON DELETE CASCADE,
    name       text    NOT NULL,
    version    integer NOT NULL,
    PRIMARY KEY (dataset_id, name, version)
);
CREATE INDEX IF NOT EXISTS dataset_feature_groups_group ON dataset_feature_groups (name, version);

-- Deployments of model versions, as Serving announces them (ModelDeployed / ModelRetired events): the end of the lineage.
CREATE TABLE IF NOT EXISTS deployments (
    deployment_id text    PRIMARY KEY,
    endpoint      text    NOT NULL,
    model_name    text    NOT NULL,
    model_version integer NOT NULL,
    environment   text    NOT NULL,
    deployed_at   bigint  NOT NULL,
    retired_at    bigint  NULL
);
CREATE INDEX IF NOT EXISTS deployments_model ON deployments (model_name, model_version);
