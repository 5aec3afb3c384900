-- A mergeable quantile sketch (t-digest centroids as [mean, weight] pairs) per group, version and numeric feature.
ALTER TABLE feature_statistics ADD COLUMN IF NOT EXISTS digest jsonb NOT NULL DEFAULT '[]';
