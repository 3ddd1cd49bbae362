-- 0002 (PostgreSQL): the full report of a reconcile run (account checks, access proof,
-- repairs, timings), kept for evidence export. No secrets: fingerprints and masks only.
-- As ../0002_reconcile_report.sql; `json_valid` is the function of 0001.
ALTER TABLE reconcile_runs ADD COLUMN report TEXT COLLATE "C"
    CHECK (report IS NULL OR json_valid(report));
