-- 0007 (PostgreSQL): leases, so several servers on one database never run the same
-- work twice. As ../0007_leases.sql.

CREATE TABLE leases (
    name        TEXT COLLATE "C" PRIMARY KEY,
    owner       TEXT COLLATE "C" NOT NULL,
    generation  BIGINT NOT NULL CHECK (generation >= 1),
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX leases_owner ON leases (owner);
