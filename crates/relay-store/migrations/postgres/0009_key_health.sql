-- 0009 (PostgreSQL): per-key health. As ../0009_key_health.sql; `json_valid` is the
-- function of 0001.

CREATE TABLE key_health (
    host_id     TEXT COLLATE "C" NOT NULL REFERENCES hosts(id),
    pack_id     TEXT COLLATE "C" NOT NULL,
    provider_id TEXT COLLATE "C" NOT NULL,
    account_id  BIGINT NOT NULL,
    fingerprint TEXT COLLATE "C" CHECK (fingerprint IS NULL OR length(fingerprint) = 64),
    key_mask    TEXT COLLATE "C",
    state       TEXT COLLATE "C" NOT NULL CHECK (state IN ('healthy', 'failing',
                                                           'disabled_by_manager',
                                                           'disabled_by_operator')),
    since       BIGINT NOT NULL,
    checked_at  BIGINT NOT NULL,
    record      TEXT COLLATE "C" NOT NULL CHECK (json_valid(record)),
    PRIMARY KEY (host_id, pack_id, provider_id, account_id),
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id)
);
CREATE INDEX key_health_by_state ON key_health (state);
