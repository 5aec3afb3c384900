-- Online values as json (the text as ingestion wrote it) rather than jsonb: nothing queries inside them, and every
-- online read sent them back as text, which for jsonb means re-serializing each record (0.7 of the 1.5 ms PostgreSQL
-- spent on a 100-entity read). Ingestion no longer has jsonb parse them either.
ALTER TABLE online_features ALTER COLUMN values TYPE json USING values::json;
