-- Renaming a registered model carries its tags, versions, version tags and aliases along (ON UPDATE CASCADE).
ALTER TABLE registered_model_tags
    DROP CONSTRAINT IF EXISTS registered_model_tags_name_fkey,
    ADD CONSTRAINT registered_model_tags_name_fkey FOREIGN KEY (name) REFERENCES registered_models (name) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE model_versions
    DROP CONSTRAINT IF EXISTS model_versions_name_fkey,
    ADD CONSTRAINT model_versions_name_fkey FOREIGN KEY (name) REFERENCES registered_models (name) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE model_version_tags
    DROP CONSTRAINT IF EXISTS model_version_tags_name_version_fkey,
    ADD CONSTRAINT model_version_tags_name_version_fkey FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON DELETE CASCADE ON UPDATE CASCADE;

-- MLflow's aliases: a name per registered model pointing at one of its versions (deleting the version deletes its aliases).
CREATE TABLE IF NOT EXISTS registered_model_aliases (
    name    text    NOT NULL,
    alias   text    NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON DELETE CASCADE ON UPDATE CASCADE
);

-- Who changed what in the registry, when (MLflow keeps no such history: mlflow/mlflow#2169). Append-only; rows keep the
-- model's name at the time (a rename is itself an entry naming both).
CREATE TABLE IF NOT EXISTS registry_audit (
    id      bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      bigint  NOT NULL,
    actor   text    NOT NULL,
    action  text    NOT NULL,
    name    text    NOT NULL,
    version integer NULL,
    details jsonb   NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS registry_audit_name ON registry_audit (name, id);
