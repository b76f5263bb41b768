-- A row per writer that proves the database takes writes: while commits fail (disk full,
-- read-only, locked), intake and the queue commit a probe here and resume when one goes through.
-- `proof` makes each probe write 64 KiB, so a disk with room for a tiny row only still counts as
-- full rather than flapping between full and free.
CREATE TABLE heartbeats (
    name    TEXT PRIMARY KEY,
    beat_at TEXT NOT NULL,
    proof   BLOB NOT NULL
);
