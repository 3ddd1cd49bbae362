-- 0005 (PostgreSQL): what a batch auto-import run learns as it works: an item's warnings
-- and the import batch its account came from, and the run's final access proof per
-- provider. As ../0005_import_run_results.sql; `json_valid` is the function of 0001.

ALTER TABLE import_run_items ADD COLUMN warnings TEXT COLLATE "C" NOT NULL DEFAULT '[]'
    CHECK (json_valid(warnings));
ALTER TABLE import_run_items ADD COLUMN batch_id TEXT COLLATE "C";
ALTER TABLE import_runs ADD COLUMN access_proof TEXT COLLATE "C" NOT NULL DEFAULT '[]'
    CHECK (json_valid(access_proof));
