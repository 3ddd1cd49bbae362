-- 0005: what a batch auto-import run learns as it works: an item's warnings and the
-- import batch its account came from, and the run's final access proof per provider.

ALTER TABLE import_run_items ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(warnings));
ALTER TABLE import_run_items ADD COLUMN batch_id TEXT;
ALTER TABLE import_runs ADD COLUMN access_proof TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(access_proof));
