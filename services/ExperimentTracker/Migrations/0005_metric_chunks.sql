-- Metric history in chunks: one row per run and key for each logging request, holding that request's points of the
-- key as three parallel arrays. A training loop logs a few keys over many steps per request (log-batch of 1,000
-- metrics is often 100 keys × 10 steps), so the history grows by one row, one index entry and one foreign-key check
-- per key instead of per point: log-batch spent most of its time there (issue 4). Points keep MLflow's semantics:
-- append-only, read back ordered by (step, timestamp, value) with the latest per key kept in latest_metrics.
CREATE TABLE IF NOT EXISTS metric_chunks (
    run_id     text               NOT NULL REFERENCES runs (run_id),
    key        text               NOT NULL,
    steps      bigint[]           NOT NULL,
    timestamps bigint[]           NOT NULL,
    points     double precision[] NOT NULL,
    CHECK (cardinality(steps) = cardinality(points) AND cardinality(timestamps) = cardinality(points))
);
CREATE INDEX IF NOT EXISTS metric_chunks_run_key ON metric_chunks (run_id, key);

-- History logged before this migration (0001's one row per point) moves over as one chunk per run and key.
INSERT INTO metric_chunks (run_id, key, steps, timestamps, points)
SELECT run_id, key, array_agg(step ORDER BY id), array_agg(timestamp ORDER BY id), array_agg(value ORDER BY id)
FROM metrics GROUP BY run_id, key;
DROP TABLE metrics;
