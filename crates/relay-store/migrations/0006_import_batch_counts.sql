-- 0006: the live counts of an import batch move to a small row of their own.
--
-- Every item of a running import moves the counts. In `import_batches` each move
-- rewrote the batch's whole row, whose recorded request lists every key
-- (fingerprint and mask): the cost of a batch grew with the square of its keys.
-- A row of five integers costs the same whatever the batch's size.

CREATE TABLE import_batch_counts (
    batch_id      TEXT PRIMARY KEY REFERENCES import_batches(id) ON DELETE CASCADE,
    total_count   INTEGER NOT NULL DEFAULT 0,
    passed_count  INTEGER NOT NULL DEFAULT 0,
    warning_count INTEGER NOT NULL DEFAULT 0,
    failed_count  INTEGER NOT NULL DEFAULT 0,
    skipped_count INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
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
