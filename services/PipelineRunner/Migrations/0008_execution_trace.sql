-- The W3C traceparent of the span that created the execution (an API start, a schedule, a trigger): every step span
-- starts with it as parent, so the steps of one execution, on any replica and across restarts, and the calls they make,
-- share one trace. NULL for executions created before this column (their steps start root spans, as before).
ALTER TABLE executions ADD COLUMN IF NOT EXISTS traceparent text;
