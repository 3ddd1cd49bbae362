-- 0008: the audit trail, and the records of doctor runs and access closures.
--
-- `audit_events`: one row per host mutation the manager made (create, update,
-- delete, set-schedulable, clear-error, …): when, on which host, for which pack and
-- provider, what started it (origin kind + id, the HTTP request id), the object
-- (kind, host id, name), the outcome (`ok`, or `error` with the redacted error) and
-- the changed fields as a JSON array of `{field, before, after}` (secrets recorded
-- as "***" / "changed", never their value). Append-only: the database itself
-- refuses UPDATE and DELETE. No foreign keys: the trail outlives the hosts, packs
-- and batches it names.
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    host_id      TEXT NOT NULL,
    pack_id      TEXT,
    provider_id  TEXT,
    origin_kind  TEXT NOT NULL CHECK (origin_kind IN ('import_batch', 'batch_import_run',
                                                      'reconcile_run', 'repair', 'doctor',
                                                      'rollback', 'resume', 'access_closure',
                                                      'operator_request')),
    origin_id    TEXT,
    request_id   TEXT,
    operation    TEXT NOT NULL,
    object_kind  TEXT NOT NULL,
    object_id    INTEGER,
    object_name  TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
    error        TEXT,
    changes      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(changes))
);
CREATE INDEX audit_events_by_host ON audit_events (host_id, seq);
CREATE INDEX audit_events_by_provider ON audit_events (provider_id, seq);
CREATE INDEX audit_events_by_origin ON audit_events (origin_kind, origin_id, seq);
CREATE INDEX audit_events_by_at ON audit_events (at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- `operation_records`: one row per finished doctor run or access closure outside
-- an import (their evidence documents read it): what was asked, the outcome, the
-- redacted report or error. Removed with their host, like probes and closure proofs.
CREATE TABLE operation_records (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('doctor', 'access_closure')),
    host_id      TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    pack_id      TEXT NOT NULL,
    provider_id  TEXT NOT NULL,
    request_id   TEXT,
    asked        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(asked)),
    outcome      TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    error        TEXT,
    report       TEXT CHECK (report IS NULL OR json_valid(report)),
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL
);
CREATE INDEX operation_records_by_provider ON operation_records (host_id, pack_id, provider_id,
                                                                 started_at);
