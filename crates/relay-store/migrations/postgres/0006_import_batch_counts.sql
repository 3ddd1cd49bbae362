-- 0006 (PostgreSQL): the live counts of an import batch move to a small row of their own.
-- As ../0006_import_batch_counts.sql: the same table, the same copy of every batch's
-- counts, then the same columns dropped from `import_batches`.
--
-- Every item of a running import moves the counts. In `import_batches` each move
-- rewrote the batch's whole row, whose recorded request lists every key
-- (fingerprint and mask): the cost of a batch grew with the square of its keys.
-- A row of five integers costs the same whatever the batch's size.

CREATE TABLE import_batch_counts (
    batch_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES import_batches(id) ON DELETE CASCADE,
    total_count   BIGINT NOT NULL DEFAULT 0,
    passed_count  BIGINT NOT NULL DEFAULT 0,
    warning_count BIGINT NOT NULL DEFAULT 0,
    failed_count  BIGINT NOT NULL DEFAULT 0,
    skipped_count BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);

INSERT INTO import_batch_counts (batch_id, total_count, passed_count, warning_count,
                                 failed_count, skipped_count, updated_at)
    SELECT id, total_count, passed_count, warning_count, failed_count, skipped_count, updated_at
    FROM import_batches;

ALTER TABLE import_batches DROP COLUMN total_count;
ALTER TABLE import_batches DROP COLUMN passed_count;
ALTER TABLE import_batches DROP COLUMN warning_count;
ALTER TABLE import_batches DROP COLUMN failed_count;
ALTER TABLE import_batches DROP COLUMN skipped_count;
