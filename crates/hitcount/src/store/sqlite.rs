//! SQLite: the standard SQL. The database's single writer lock serialises
//! every counting transaction, so no extra lock is needed, and no read
//! before queueing spares the writer anything.

use super::dialect::{CleanupPacing, Dialect, STANDARD};

pub(crate) const SQL: Dialect = Dialect {
    name: "SQLite",
    migrations: migrations!("sqlite"),
    // The statement journals of the batch's multi-row writes in memory,
    // not in a temporary file opened and deleted on every batch.
    counting_setup: &["PRAGMA temp_store = MEMORY"],
    // Every batch holds the single write lock that counting waits for (a
    // waiting connection retries after 1, 2, 5, 10 ms...): short batches,
    // and room for the counting writer between them.
    cleanup_pacing: CleanupPacing {
        begin: Some("BEGIN IMMEDIATE"),
        commit: "COMMIT",
        batch_time: std::time::Duration::from_millis(5),
        pause: std::time::Duration::from_millis(10),
    },
    // SQLite has no information_schema.
    table_names: "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
                  AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    ..STANDARD
};
