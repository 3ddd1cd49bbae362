-- 0009: per-key health. One row per managed account (host, provider, host account id):
-- the key's fingerprint and mask (never the key), its current state, since when, the
-- last check, and the record itself (recent failures with time, cause and redacted
-- message; disables and re-enables) as JSON.

CREATE TABLE key_health (
    host_id     TEXT NOT NULL REFERENCES hosts(id),
    pack_id     TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    account_id  INTEGER NOT NULL,
    fingerprint TEXT CHECK (fingerprint IS NULL OR length(fingerprint) = 64),
    key_mask    TEXT,
    state       TEXT NOT NULL CHECK (state IN ('healthy', 'failing', 'disabled_by_manager',
                                               'disabled_by_operator')),
    since       INTEGER NOT NULL,
    checked_at  INTEGER NOT NULL,
    record      TEXT NOT NULL CHECK (json_valid(record)),
    PRIMARY KEY (host_id, pack_id, provider_id, account_id),
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id)
);
CREATE INDEX key_health_by_state ON key_health (state);
