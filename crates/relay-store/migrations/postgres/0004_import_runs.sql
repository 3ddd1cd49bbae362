-- 0004 (PostgreSQL): batch auto-import runs ("URL + key", SPEC §5): runs, their items,
-- the append-only event trail of each item, and the sealed keys of items whose account
-- does not exist yet. As ../0004_import_runs.sql; the conventions of 0001 apply
-- (BIGINT, TEXT COLLATE "C", identity ids, `json_valid`).
--
-- * States are the `as_str()` strings of relay-domain's RunState, RunItemState,
--   ConfirmationStatus, AccessStatus, ReuseDecision, HostAnswerClass and
--   RunItemEventKind.
-- * Keys are never stored in clear: an item keeps its fingerprint and mask; the key
--   itself is sealed with the master key in `import_run_item_keys` (associated data
--   binds it to the item) and the row is deleted the moment the item's account exists,
--   the item is cancelled or its run ends.
-- * Leases: a worker owns an item while `lease_until` is in the future; every
--   acquisition bumps `lease_generation`, and a write carrying an older generation
--   is refused (fencing).

CREATE TABLE import_runs (
    id                TEXT COLLATE "C" PRIMARY KEY,
    state             TEXT COLLATE "C" NOT NULL
                      CHECK (state IN ('pending', 'running', 'cancelling',
                                       'succeeded', 'partially_succeeded',
                                       'failed', 'cancelled')),
    host_id           TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    pack_id           TEXT COLLATE "C" NOT NULL,
    access_mode       TEXT COLLATE "C" NOT NULL
                      CHECK (access_mode IN ('subscription', 'self_service')),
    subscribers       TEXT COLLATE "C" NOT NULL DEFAULT '[]' CHECK (json_valid(subscribers)),
    validity_days     BIGINT,
    probe_key_ref     TEXT COLLATE "C",
    allow_adhoc       BIGINT NOT NULL DEFAULT 0 CHECK (allow_adhoc IN (0, 1)),
    profile           BIGINT NOT NULL DEFAULT 0 CHECK (profile IN (0, 1)),
    access_status     TEXT COLLATE "C" NOT NULL DEFAULT 'not_configured'
                      CHECK (access_status IN ('not_configured', 'subscription_ready',
                                               'self_service_ready', 'fully_ready', 'broken')),
    total_count       BIGINT NOT NULL DEFAULT 0,
    succeeded_count   BIGINT NOT NULL DEFAULT 0,
    failed_count      BIGINT NOT NULL DEFAULT 0,
    skipped_count     BIGINT NOT NULL DEFAULT 0,
    cancelled_count   BIGINT NOT NULL DEFAULT 0,
    error             TEXT COLLATE "C",
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX import_runs_by_created ON import_runs (created_at DESC, id DESC);
CREATE INDEX import_runs_by_state ON import_runs (state);
CREATE INDEX import_runs_by_host ON import_runs (host_id);

CREATE TABLE import_run_items (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    run_id              TEXT COLLATE "C" NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
    line_no             BIGINT NOT NULL,
    base_url            TEXT COLLATE "C" NOT NULL,
    fingerprint         TEXT COLLATE "C" NOT NULL CHECK (length(fingerprint) = 64),
    mask                TEXT COLLATE "C" NOT NULL,
    provider_id         TEXT COLLATE "C",
    adhoc               BIGINT NOT NULL DEFAULT 0 CHECK (adhoc IN (0, 1)),
    model_hint          TEXT COLLATE "C",
    canonical_model     TEXT COLLATE "C",
    model_correction    TEXT COLLATE "C",
    profile             TEXT COLLATE "C" CHECK (profile IS NULL OR json_valid(profile)),
    reuse_decision      TEXT COLLATE "C"
                        CHECK (reuse_decision IS NULL OR reuse_decision IN
                               ('created', 'reused', 'patch_only', 'replace', 'reactivated')),
    reuse_reason        TEXT COLLATE "C",
    account_id          BIGINT,
    state               TEXT COLLATE "C" NOT NULL
                        CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
                                         'skipped', 'cancelled')),
    confirmation_status TEXT COLLATE "C" NOT NULL
                        CHECK (confirmation_status IN
                               ('pending', 'confirming', 'confirmed',
                                'failed_confirmation', 'cancelled')),
    access_status       TEXT COLLATE "C" NOT NULL
                        CHECK (access_status IN ('not_configured',
                               'subscription_ready', 'self_service_ready', 'fully_ready',
                               'broken')),
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_retry_at       BIGINT NOT NULL,
    lease_owner         TEXT COLLATE "C",
    lease_until         BIGINT,
    lease_generation    BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT COLLATE "C",
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (run_id, line_no)
);
CREATE INDEX import_run_items_by_run ON import_run_items (run_id, line_no);
CREATE INDEX import_run_items_due ON import_run_items (state, next_retry_at);
CREATE INDEX import_run_items_by_provider ON import_run_items (provider_id);
CREATE INDEX import_run_items_by_base_url ON import_run_items (base_url);

-- The sealed key of an item whose account does not exist yet (one per item).
CREATE TABLE import_run_item_keys (
    item_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES import_run_items(id) ON DELETE CASCADE,
    run_id     TEXT COLLATE "C" NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
    key_sealed TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX import_run_item_keys_by_run ON import_run_item_keys (run_id);

-- The append-only trail of an item. `INTEGER PRIMARY KEY AUTOINCREMENT` → an identity:
-- ids only grow and are never handed out again.
CREATE TABLE import_run_item_events (
    id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    item_id      TEXT COLLATE "C" NOT NULL REFERENCES import_run_items(id) ON DELETE CASCADE,
    run_id       TEXT COLLATE "C" NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL
                 CHECK (kind IN ('created', 'matched', 'profiled', 'decided',
                                 'account_ready', 'attempt', 'retry_scheduled',
                                 'confirmed', 'failed', 'cancelled', 'retried',
                                 'access_proven', 'key_erased')),
    attempt      BIGINT,
    answer_class TEXT COLLATE "C"
                 CHECK (answer_class IS NULL OR answer_class IN
                        ('ok', 'warmup_forbidden_403', 'no_available_accounts_503',
                         'rate_limited_429', 'upstream_error', 'invalid_key', 'quota',
                         'unreachable', 'other')),
    decision     TEXT COLLATE "C",
    message      TEXT COLLATE "C",
    details      TEXT COLLATE "C" NOT NULL DEFAULT '{}' CHECK (json_valid(details))
);
CREATE INDEX import_run_item_events_by_item ON import_run_item_events (item_id, id);

-- SQLite's `BEFORE UPDATE … SELECT RAISE(ABORT, …)` trigger → a plpgsql function and a
-- row trigger raising the same message. As in SQLite, only UPDATE is refused: rows
-- still go when their item or run is deleted (ON DELETE CASCADE). The error carries
-- SQLSTATE 23000 (integrity_constraint_violation), the counterpart of SQLite's
-- SQLITE_CONSTRAINT_TRIGGER.
CREATE FUNCTION import_run_item_events_refuse_update() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'import_run_item_events is append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER import_run_item_events_no_update BEFORE UPDATE ON import_run_item_events
    FOR EACH ROW EXECUTE FUNCTION import_run_item_events_refuse_update();
