-- 0007: leases, so several servers on one database never run the same work twice.
-- A lease names the work (`provider/<host>/<pack>/<provider>`, `run/<run id>`), the
-- server that holds it (its worker id) and until when; every take-over increments its
-- generation, the fencing token a holder proves on each renewal. A released lease
-- keeps its row (expired), so generations never repeat.

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    generation  INTEGER NOT NULL CHECK (generation >= 1),
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE INDEX leases_owner ON leases (owner);
