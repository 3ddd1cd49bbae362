-- The full report of a reconcile run (account checks, access proof, repairs,
-- timings), kept for evidence export. No secrets: fingerprints and masks only.
ALTER TABLE reconcile_runs ADD COLUMN report TEXT CHECK (report IS NULL OR json_valid(report));
