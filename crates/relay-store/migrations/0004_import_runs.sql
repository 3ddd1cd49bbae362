-- 0004: batch auto-import runs ("URL + key", SPEC §5): runs, their items, the
-- append-only event trail of each item, and the sealed keys of items whose account
-- does not exist yet.
--
-- * States are the `as_str()` strings of relay-domain's RunState, RunItemState,
--   ConfirmationStatus, AccessStatus, ReuseDecision, HostAnswerClass and
--   RunItemEventKind.
-- * Keys are never stored in clear: an item keeps its fingerprint and mask; the key
--   itself is sealed with the master key in `import_run_item_keys` (associated data
--   binds it to the item) and the row is deleted (secure_delete zeroes the page) the
--   moment the item's account exists, the item is cancelled or its run ends.
-- * Leases: a worker owns an item while `lease_until` is in the future; every
--   acquisition bumps `lease_generation`, and a write carrying an older generation
--   is refused (fencing).

CREATE TABLE import_runs (
    id                TEXT PRIMARY KEY,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'running', 'cancelling',
                                                     'succeeded', 'partially_succeeded',
                                                     'failed', 'cancelled')),
    host_id           TEXT NOT NULL REFERENCES hosts(id),
    pack_id           TEXT NOT NULL,
    access_mode       TEXT NOT NULL CHECK (access_mode IN ('subscription', 'self_service')),
    subscribers       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(subscribers)),
    validity_days     INTEGER,
    probe_key_ref     TEXT,
    allow_adhoc       INTEGER NOT NULL DEFAULT 0 CHECK (allow_adhoc IN (0, 1)),
    profile           INTEGER NOT NULL DEFAULT 0 CHECK (profile IN (0, 1)),
    access_status     TEXT NOT NULL DEFAULT 'not_configured'
                      CHECK (access_status IN ('not_configured', 'subscription_ready',
                                               'self_service_ready', 'fully_ready', 'broken')),
    total_count       INTEGER NOT NULL DEFAULT 0,
    succeeded_count   INTEGER NOT NULL DEFAULT 0,
    failed_count      INTEGER NOT NULL DEFAULT 0,
    skipped_count     INTEGER NOT NULL DEFAULT 0,
    cancelled_count   INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    finished_at       INTEGER
);
CREATE INDEX import_runs_by_created ON import_runs (created_at DESC, id DESC);
CREATE INDEX import_runs_by_state ON import_runs (state);
CREATE INDEX import_runs_by_host ON import_runs (host_id);

CREATE TABLE import_run_items (
    id                  TEXT PRIMARY KEY,
    run_id              TEXT NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
    line_no             INTEGER NOT NULL,
    base_url            TEXT NOT NULL,
    fingerprint         TEXT NOT NULL CHECK (length(fingerprint) = 64),
    mask                TEXT NOT NULL,
    provider_id         TEXT,
    adhoc               INTEGER NOT NULL DEFAULT 0 CHECK (adhoc IN (0, 1)),
    model_hint          TEXT,
    canonical_model     TEXT,
    model_correction    TEXT,
    profile             TEXT CHECK (profile IS NULL OR json_valid(profile)),
    reuse_decision      TEXT CHECK (reuse_decision IS NULL OR reuse_decision IN
                                    ('created', 'reused', 'patch_only', 'replace', 'reactivated')),
    reuse_reason        TEXT,
    account_id          INTEGER,
    state               TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
                                                       'skipped', 'cancelled')),
    confirmation_status TEXT NOT NULL CHECK (confirmation_status IN
                                    ('pending', 'confirming', 'confirmed',
                                     'failed_confirmation', 'cancelled')),
    access_status       TEXT NOT NULL CHECK (access_status IN ('not_configured',
                                    'subscription_ready', 'self_service_ready', 'fully_ready',
                                    'broken')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_retry_at       INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_until         INTEGER,
    lease_generation    INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (run_id, line_no)
);
CREATE INDEX import_run_items_by_run ON import_run_items (run_id, line_no);
CREATE INDEX import_run_items_due ON import_run_items (state, next_retry_at);
CREATE INDEX import_run_items_by_provider ON import_run_items (provider_id);
CREATE INDEX import_run_items_by_base_url ON import_run_items (base_url);

-- The sealed key of an item whose account does not exist yet (one per item).
CREATE TABLE import_run_item_keys (
    item_id    TEXT PRIMARY KEY REFERENCES import_run_items(id) ON DELETE CASCADE,
    run_id     TEXT NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
    key_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX import_run_item_keys_by_run ON import_run_item_keys (run_id);

-- The append-only trail of an item.
CREATE TABLE import_run_item_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id      TEXT NOT NULL REFERENCES import_run_items(id) ON DELETE CASCADE,
    run_id       TEXT NOT NULL REFERENCES import_runs(id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'matched', 'profiled', 'decided',
                                               'account_ready', 'attempt', 'retry_scheduled',
                                               'confirmed', 'failed', 'cancelled', 'retried',
                                               'access_proven', 'key_erased')),
    attempt      INTEGER,
    answer_class TEXT CHECK (answer_class IS NULL OR answer_class IN
                             ('ok', 'warmup_forbidden_403', 'no_available_accounts_503',
                              'rate_limited_429', 'upstream_error', 'invalid_key', 'quota',
                              'unreachable', 'other')),
    decision     TEXT,
    message      TEXT,
    details      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
);
CREATE INDEX import_run_item_events_by_item ON import_run_item_events (item_id, id);
CREATE TRIGGER import_run_item_events_no_update BEFORE UPDATE ON import_run_item_events
BEGIN
    SELECT RAISE(ABORT, 'import_run_item_events is append-only');
END;
