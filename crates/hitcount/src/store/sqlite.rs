//! SQLite: the standard SQL. The database's single writer lock serialises
//! every counting transaction, so no extra lock is needed, and no read
//! before queueing spares the writer anything.

use super::dialect::{Dialect, STANDARD};

pub(crate) const SQL: Dialect = Dialect {
    name: "SQLite",
    migrations: migrations!("sqlite"),
    // The statement journals of the batch's multi-row writes in memory,
    // not in a temporary file opened and deleted on every batch.
    counting_setup: &["PRAGMA temp_store = MEMORY"],
    peek_before_queue: false,
    ..STANDARD
};
