-- Hyperparameter tuning jobs (issue 15). The job's whole state (trials with their status, results and tracker runs; the
-- seed; warm-start trials) is one JSON document the tuning worker rewrites after every pass; trial names are derived from
-- the job name and seed, so a worker that resumes the job meets the same training jobs again.
CREATE TABLE tuning_jobs (
    name            text        PRIMARY KEY,           -- HyperParameterTuningJobName (1–32 letters, digits, hyphens)
    status          text        NOT NULL,              -- InProgress | Stopping | Completed | Stopped | Failed
    request         jsonb       NOT NULL,              -- the CreateHyperParameterTuningJob request as accepted
    state           jsonb       NOT NULL,              -- Mlops.Tuning's TuningJobState plus the service's run bookkeeping
    stop_requested  boolean     NOT NULL DEFAULT false,
    failure_reason  text        NULL,
    owner           uuid        NULL,                  -- the worker stepping the job (a lease: taken over once lease_until passes)
    lease_until     timestamptz NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz NULL
);

CREATE INDEX tuning_jobs_active ON tuning_jobs (lease_until) WHERE status IN ('InProgress', 'Stopping');
CREATE INDEX tuning_jobs_created ON tuning_jobs (created_at DESC);
