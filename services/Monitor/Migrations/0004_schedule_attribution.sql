-- Feature-attribution drift on schedules: the attribution options each scheduled run takes (Clarify's model-explainability monitor).
ALTER TABLE schedules ADD COLUMN attribution_options jsonb;
