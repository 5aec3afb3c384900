-- A btree entry holds at most ~2,700 bytes, and params' and tags' values may be as long as MLflow allows (6,000 and
-- 8,000 characters): an index over the whole value refused such writes. These indexes hold the key and the value's
-- first 200 characters (at most 250 + 200 characters of up to 4 bytes each: under 2 kB), so no accepted value can fail.
-- Lookups by key and value compare the prefix too (TrackerSql.ValueEquals) and the index still finds them; the search
-- that pages runs by one param or tag walks the index in prefix order and sorts ties on the whole value.
DROP INDEX IF EXISTS params_key_value;
CREATE INDEX IF NOT EXISTS params_key_value_prefix ON params (key, left(value, 200));
DROP INDEX IF EXISTS tags_key_value;
CREATE INDEX IF NOT EXISTS tags_key_value_prefix ON tags (key, left(value, 200));
