-- 0010: the last model-list drift check of each provider on each host: where the
-- vendor's list came from (`host_sync` or `direct_probe`), whether it drifted, and
-- the whole result (the vendor's ids, added / retired / renamed / unchanged) as JSON.
-- One row per provider and host, replaced by each check. No secrets: model ids only.

CREATE TABLE model_drift_checks (
    host_id     TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    pack_id     TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    checked_at  INTEGER NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('host_sync', 'direct_probe')),
    drifted     INTEGER NOT NULL CHECK (drifted IN (0, 1)),
    result      TEXT NOT NULL CHECK (json_valid(result)),
    PRIMARY KEY (host_id, pack_id, provider_id),
    FOREIGN KEY (pack_id, provider_id) REFERENCES providers (pack_id, provider_id) ON DELETE CASCADE
);
