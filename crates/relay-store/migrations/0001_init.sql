-- 0001: the whole state of the relay manager (SPEC §2–§4, §8).
--
-- Conventions
-- * Timestamps are INTEGER milliseconds since the Unix epoch (UTC).
-- * Statuses are stored as the `as_str()` strings of relay-domain; every status
--   column carries a CHECK listing the allowed values.
-- * JSON columns are TEXT with CHECK (json_valid(...)).
-- * Secrets are never stored in clear: sealed columns hold `v1:` + base64(nonce‖ciphertext)
--   produced by the store's Sealer. Upstream keys are not stored at all, only their
--   SHA-256 fingerprint and display mask.
-- * References that must keep a host or a pack from being deleted (batches, managed
--   resources, reconcile runs, provider installs) use the default NO ACTION; derived
--   rows (snapshots, probe results, closure records, subscribers) cascade.

-- Key/value facts about the store itself (e.g. the master-key check value).
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Registered sub2api hosts.
CREATE TABLE hosts (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    base_url            TEXT NOT NULL,
    auth_kind           TEXT NOT NULL CHECK (auth_kind IN ('api_key', 'login')),
    admin_email         TEXT,
    admin_secret_sealed TEXT NOT NULL,
    version             TEXT,
    status              TEXT NOT NULL CHECK (status IN ('supported', 'unsupported', 'unreachable')),
    last_probe_at       INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    CHECK (auth_kind <> 'login' OR admin_email IS NOT NULL)
);

-- Read-only capability probes of a host; the newest row is the current snapshot.
CREATE TABLE host_capability_snapshots (
    id           INTEGER PRIMARY KEY,
    host_id      TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    taken_at     INTEGER NOT NULL,
    version      TEXT,
    capabilities TEXT NOT NULL CHECK (json_valid(capabilities)),
    status       TEXT NOT NULL CHECK (status IN ('supported', 'unsupported', 'unreachable'))
);
CREATE INDEX host_capability_snapshots_latest
    ON host_capability_snapshots (host_id, taken_at DESC, id DESC);

-- Installed model packs.
CREATE TABLE packs (
    pack_id       TEXT PRIMARY KEY,
    version       TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    host_compat   TEXT NOT NULL,
    source_digest TEXT NOT NULL,
    source_kind   TEXT NOT NULL CHECK (source_kind IN ('dir', 'zip')),
    source_path   TEXT NOT NULL,
    overlays      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(overlays)),
    installed_at  INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Provider manifests of installed packs. The same provider_id may appear in several packs.
CREATE TABLE providers (
    pack_id      TEXT NOT NULL REFERENCES packs(pack_id) ON DELETE CASCADE,
    provider_id  TEXT NOT NULL,
    display_name TEXT NOT NULL,
    base_url     TEXT NOT NULL,
    manifest     TEXT NOT NULL CHECK (json_valid(manifest)),
    status       TEXT NOT NULL CHECK (status IN ('discovered', 'validated', 'installed', 'active',
                                                 'degraded', 'drifted', 'failed', 'disabled')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (pack_id, provider_id)
);
CREATE INDEX providers_by_provider_id ON providers (provider_id);
CREATE INDEX providers_by_base_url ON providers (base_url);

-- Import batches: one import of N keys for one provider on one host.
CREATE TABLE import_batches (
    id             TEXT PRIMARY KEY,
    host_id        TEXT NOT NULL REFERENCES hosts(id),
    pack_id        TEXT NOT NULL,
    provider_id    TEXT NOT NULL,
    mode           TEXT NOT NULL CHECK (mode IN ('strict', 'partial')),
    access_mode    TEXT NOT NULL CHECK (access_mode IN ('subscription', 'self_service')),
    status         TEXT NOT NULL CHECK (status IN ('pending', 'previewed', 'running', 'succeeded',
                                                   'partially_succeeded', 'failed',
                                                   'rollback_running', 'rolled_back',
                                                   'interrupted')),
    request        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(request)),
    report         TEXT CHECK (report IS NULL OR json_valid(report)),
    error          TEXT,
    total_count    INTEGER NOT NULL DEFAULT 0,
    passed_count   INTEGER NOT NULL DEFAULT 0,
    warning_count  INTEGER NOT NULL DEFAULT 0,
    failed_count   INTEGER NOT NULL DEFAULT 0,
    skipped_count  INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    interrupted_at INTEGER,
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id)
);
CREATE INDEX import_batches_by_host_provider
    ON import_batches (host_id, provider_id, pack_id, created_at);
CREATE INDEX import_batches_by_status ON import_batches (status);
CREATE INDEX import_batches_by_provider ON import_batches (pack_id, provider_id);

-- Per-key items of a batch (fingerprint and mask only; never the key).
CREATE TABLE import_batch_items (
    id          INTEGER PRIMARY KEY,
    batch_id    TEXT NOT NULL REFERENCES import_batches(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    fingerprint TEXT NOT NULL CHECK (length(fingerprint) = 64),
    mask        TEXT NOT NULL,
    plan        TEXT NOT NULL CHECK (plan IN ('new', 'duplicate_in_request', 'already_imported')),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'already_imported', 'duplicate_in_request',
                                                'created', 'passed', 'warning', 'failed',
                                                'rolled_back')),
    account_id  INTEGER,
    verdict     TEXT CHECK (verdict IS NULL OR verdict IN ('passed', 'warning', 'failed')),
    message     TEXT,
    details     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (batch_id, seq)
);
-- One item per key and batch; a key repeated inside the request may be kept as an
-- extra `duplicate_in_request` row for the report.
CREATE UNIQUE INDEX import_batch_items_key
    ON import_batch_items (batch_id, fingerprint) WHERE plan <> 'duplicate_in_request';
CREATE INDEX import_batch_items_by_fingerprint ON import_batch_items (fingerprint);

-- Per-host state of a provider of a pack.
CREATE TABLE provider_installs (
    id                INTEGER PRIMARY KEY,
    host_id           TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    pack_id           TEXT NOT NULL,
    provider_id       TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('discovered', 'validated', 'installed',
                                                      'active', 'degraded', 'drifted', 'failed',
                                                      'disabled')),
    access_status     TEXT NOT NULL DEFAULT 'not_configured'
                      CHECK (access_status IN ('not_configured', 'subscription_ready',
                                               'self_service_ready', 'fully_ready', 'broken')),
    status_message    TEXT,
    last_batch_id     TEXT REFERENCES import_batches(id) ON DELETE SET NULL,
    last_reconcile_at INTEGER,
    disabled          INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (host_id, pack_id, provider_id),
    CHECK ((disabled = 1) = (status = 'disabled')),
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id)
);
CREATE INDEX provider_installs_by_provider ON provider_installs (pack_id, provider_id);

-- The journal of every host object the manager created, reused or adopted.
-- host_resource_id is NULL while the row is only an intent (journaled before the
-- create call); SQLite treats NULLs as distinct, so several intents coexist.
CREATE TABLE managed_resources (
    id               INTEGER PRIMARY KEY,
    host_id          TEXT NOT NULL REFERENCES hosts(id),
    pack_id          TEXT NOT NULL,
    provider_id      TEXT NOT NULL,
    batch_id         TEXT REFERENCES import_batches(id),
    resource_type    TEXT NOT NULL CHECK (resource_type IN ('group', 'channel', 'plan', 'account',
                                                            'user', 'user_key', 'subscription')),
    host_resource_id INTEGER,
    logical_key      TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('intent', 'created', 'reused', 'adopted',
                                                    'absent', 'deleted', 'retired')),
    fingerprint      TEXT CHECK (fingerprint IS NULL OR length(fingerprint) = 64),
    details          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (host_id, resource_type, host_resource_id),
    CHECK (state NOT IN ('created', 'reused', 'adopted') OR host_resource_id IS NOT NULL),
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id)
);
CREATE INDEX managed_resources_by_batch ON managed_resources (batch_id);
CREATE INDEX managed_resources_by_provider
    ON managed_resources (host_id, pack_id, provider_id, resource_type);
CREATE INDEX managed_resources_by_fingerprint
    ON managed_resources (host_id, provider_id, fingerprint) WHERE fingerprint IS NOT NULL;
CREATE INDEX managed_resources_by_logical_key
    ON managed_resources (host_id, resource_type, logical_key);
CREATE INDEX managed_resources_intents
    ON managed_resources (host_id) WHERE state = 'intent';

-- Reconcile runs: recorded resources compared with the host, plus fresh probes.
CREATE TABLE reconcile_runs (
    id            TEXT PRIMARY KEY,
    host_id       TEXT NOT NULL REFERENCES hosts(id),
    pack_id       TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    batch_id      TEXT REFERENCES import_batches(id),
    trigger       TEXT NOT NULL CHECK (trigger IN ('manual', 'scheduled')),
    status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    verdict       TEXT CHECK (verdict IS NULL OR verdict IN ('discovered', 'validated', 'installed',
                                                             'active', 'degraded', 'drifted',
                                                             'failed', 'disabled')),
    access_status TEXT CHECK (access_status IS NULL OR access_status IN (
                      'not_configured', 'subscription_ready', 'self_service_ready',
                      'fully_ready', 'broken')),
    differences   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(differences)),
    repairs       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(repairs)),
    error         TEXT,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id)
);
CREATE INDEX reconcile_runs_by_provider
    ON reconcile_runs (host_id, pack_id, provider_id, started_at);
CREATE INDEX reconcile_runs_by_batch ON reconcile_runs (batch_id);
CREATE INDEX reconcile_runs_by_status ON reconcile_runs (status);

-- Every probe the manager ran: account tests, model lists, gateway calls, direct upstream calls.
CREATE TABLE probe_results (
    id               INTEGER PRIMARY KEY,
    host_id          TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    pack_id          TEXT,
    provider_id      TEXT,
    batch_id         TEXT REFERENCES import_batches(id) ON DELETE CASCADE,
    reconcile_run_id TEXT REFERENCES reconcile_runs(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('account_test', 'account_models', 'gateway_models',
                                                   'gateway_chat', 'reachability',
                                                   'upstream_direct')),
    subject          TEXT NOT NULL,
    outcome          TEXT NOT NULL CHECK (outcome IN ('passed', 'warning', 'failed')),
    http_status      INTEGER,
    message          TEXT,
    duration_ms      INTEGER,
    details          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    at               INTEGER NOT NULL
);
CREATE INDEX probe_results_by_batch ON probe_results (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX probe_results_by_run
    ON probe_results (reconcile_run_id) WHERE reconcile_run_id IS NOT NULL;
CREATE INDEX probe_results_by_host ON probe_results (host_id, kind, at);

-- Proofs that an ordinary user can call the model through the host.
CREATE TABLE access_closure_records (
    id                    INTEGER PRIMARY KEY,
    host_id               TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    pack_id               TEXT NOT NULL,
    provider_id           TEXT NOT NULL,
    batch_id              TEXT REFERENCES import_batches(id) ON DELETE SET NULL,
    reconcile_run_id      TEXT REFERENCES reconcile_runs(id) ON DELETE SET NULL,
    mode                  TEXT NOT NULL CHECK (mode IN ('subscription', 'self_service')),
    probe_key_source      TEXT NOT NULL CHECK (probe_key_source IN ('managed_subscription',
                                                                    'supplied_key')),
    probe_key_fingerprint TEXT CHECK (probe_key_fingerprint IS NULL
                                      OR length(probe_key_fingerprint) = 64),
    probe_key_mask        TEXT,
    models_status         INTEGER,
    expected_model_seen   INTEGER NOT NULL CHECK (expected_model_seen IN (0, 1)),
    completion_status     INTEGER,
    completion_type       TEXT,
    completion_preview    TEXT,
    access_status         TEXT NOT NULL CHECK (access_status IN ('not_configured',
                                                   'subscription_ready', 'self_service_ready',
                                                   'fully_ready', 'broken')),
    message               TEXT,
    details               TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    at                    INTEGER NOT NULL,
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id)
        ON DELETE CASCADE
);
CREATE INDEX access_closure_records_latest
    ON access_closure_records (host_id, pack_id, provider_id, at DESC, id DESC);
CREATE INDEX access_closure_records_by_batch
    ON access_closure_records (batch_id) WHERE batch_id IS NOT NULL;

-- Host users the manager created (or found) for subscription access; password sealed.
CREATE TABLE managed_subscribers (
    id              INTEGER PRIMARY KEY,
    host_id         TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    host_user_id    INTEGER,
    password_sealed TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (host_id, email),
    UNIQUE (host_id, host_user_id)
);

-- Other sealed secrets: operator-supplied probe keys, user keys created for managed
-- subscribers. Owner and purpose are bound into the seal as associated data.
CREATE TABLE sealed_secrets (
    id           INTEGER PRIMARY KEY,
    owner_kind   TEXT NOT NULL CHECK (owner_kind IN ('host', 'provider_install', 'subscriber')),
    owner_id     TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL CHECK (length(fingerprint) = 64),
    mask         TEXT NOT NULL,
    sealed_value TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (owner_kind, owner_id, purpose)
);
