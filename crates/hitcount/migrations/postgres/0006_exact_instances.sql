-- The app instances counting `"exact"`, each until when it says it runs
-- (renewed while it does, deleted when it shuts down): an instance does not
-- open write-behind beside them.
CREATE TABLE hitcount_exact_instance (
    id TEXT PRIMARY KEY,
    until TIMESTAMPTZ NOT NULL
);
