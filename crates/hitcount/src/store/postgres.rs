//! PostgreSQL: the standard SQL plus an advisory lock for the site-wide
//! per-IP limit. The counting transaction's first write locks the object's
//! row, which serialises counting per object across every app instance.

use super::dialect::{Dialect, STANDARD};

pub(crate) const SQL: Dialect = Dialect {
    name: "PostgreSQL",
    migrations: migrations!("postgres"),
    counting_isolation: Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
    counting_fast_commit: Some("SET LOCAL synchronous_commit = off"),
    ip_lock: Some("SELECT pg_advisory_xact_lock($1, $2)"),
    migration_lock: Some(("SELECT pg_advisory_lock($1)", "SELECT pg_advisory_unlock($1)")),
    ..STANDARD
};
