//! SQLite: the standard SQL. The database's single writer lock serialises
//! every counting transaction, so no extra lock is needed.

use super::dialect::{Dialect, STANDARD};
use super::migrate::Migration;

pub(crate) const SQL: Dialect = Dialect {
    name: "SQLite",
    migrations: &[
        Migration {
            version: 1,
            description: "initial",
            sql: include_str!("../../migrations/sqlite/0001_initial.sql"),
        },
        Migration {
            version: 2,
            description: "daily salt",
            sql: include_str!("../../migrations/sqlite/0002_daily_salt.sql"),
        },
    ],
    ..STANDARD
};
