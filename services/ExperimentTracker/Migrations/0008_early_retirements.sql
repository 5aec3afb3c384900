-- Retirements that arrived before their deployment (ModelRetired and ModelDeployed are consumed on queues of their own, so
-- a retirement can be consumed first): kept here until the deployment's row is written, which then takes the time.
CREATE TABLE IF NOT EXISTS deployment_retirements (
    deployment_id text   PRIMARY KEY,
    retired_at    bigint NOT NULL
);
