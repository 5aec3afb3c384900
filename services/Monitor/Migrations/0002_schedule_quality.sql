-- Model quality (and bias) on schedules: the quality options each scheduled run takes, and Model Monitor's end-time
-- offset (a run at due time T reads the window ending at T + offset, offset ≤ 0, so that late labels have arrived).
ALTER TABLE schedules ADD COLUMN quality_options jsonb;
ALTER TABLE schedules ADD COLUMN end_offset_seconds integer NOT NULL DEFAULT 0 CHECK (end_offset_seconds <= 0);
