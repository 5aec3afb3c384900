-- How often an execution was started: 1, then + 1 per retry from failure. Execution and step events carry it, so
-- (execution, run) names one start and its end for consumers that must not count a retried execution's events twice.
ALTER TABLE executions ADD COLUMN IF NOT EXISTS run integer NOT NULL DEFAULT 1;

-- The scheduler reads only schedules whose next occurrence has come (NULL: not computed yet, e.g. just created).
ALTER TABLE pipeline_schedules ADD COLUMN IF NOT EXISTS next_due timestamptz NULL;
CREATE INDEX IF NOT EXISTS pipeline_schedules_due ON pipeline_schedules (next_due) WHERE enabled;

-- Which runner (host:pid:instance) last claimed the row; kept after the step ends, unlike the lease.
ALTER TABLE step_runs ADD COLUMN IF NOT EXISTS runner text NULL;
