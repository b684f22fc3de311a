//! SQLite: the standard SQL. The database's single writer lock serialises
//! every counting transaction, so no extra lock is needed, and no read
//! before queueing spares the writer anything.

use super::dialect::{Dialect, STANDARD};

pub(crate) const SQL: Dialect = Dialect {
    name: "SQLite",
    migrations: migrations!("sqlite"),
    peek_before_queue: false,
    ..STANDARD
};
