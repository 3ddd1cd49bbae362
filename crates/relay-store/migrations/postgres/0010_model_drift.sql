-- 0010 (PostgreSQL): the last model-list drift check of each provider on each host.
-- As ../0010_model_drift.sql; `json_valid` is the function of 0001.

CREATE TABLE model_drift_checks (
    host_id     TEXT COLLATE "C" NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    pack_id     TEXT COLLATE "C" NOT NULL,
    provider_id TEXT COLLATE "C" NOT NULL,
    checked_at  BIGINT NOT NULL,
    source      TEXT COLLATE "C" NOT NULL CHECK (source IN ('host_sync', 'direct_probe')),
    drifted     BIGINT NOT NULL CHECK (drifted IN (0, 1)),
    result      TEXT COLLATE "C" NOT NULL CHECK (json_valid(result)),
    PRIMARY KEY (host_id, pack_id, provider_id),
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id) ON DELETE CASCADE
);
