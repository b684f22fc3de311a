//! Embedded migrations with their own bookkeeping table, so that they never
//! collide with the application's own `sqlx::migrate!` history.

use chrono::Utc;

use super::dialect::MigrationLock;
use super::Db;
use crate::error::Result;

/// The migrations of a backend, from its folder under `migrations/`: the
/// same versions, in the same order, on every backend.
macro_rules! migrations {
    ($backend:literal) => {
        &[
            $crate::store::migrate::Migration {
                version: 1,
                description: "initial",
                sql: include_str!(concat!("../../migrations/", $backend, "/0001_initial.sql")),
            },
            $crate::store::migrate::Migration {
                version: 2,
                description: "blacklist refusals",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $backend,
                    "/0002_blacklist_refusals.sql"
                )),
            },
        ]
    };
}

/// One schema change.
pub(crate) struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS hitcount_migrations (\
    version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)";

/// Claims a version: the first statement of each migration's transaction is
/// this write, so concurrent app instances wait for each other and only one
/// applies each migration.
const CLAIM: &str = "INSERT INTO hitcount_migrations (version, description, applied_at) \
    VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING";

/// The key of the migration lock ("hitcount" in ASCII).
const LOCK_KEY: i64 = 0x6869_7463_6f75_6e74;

/// How many of the backend's migrations the database lacks, read without
/// writing: `None` when it has no bookkeeping table, so none of hitcount's
/// tables. A database that records migrations this build does not have
/// (made by another build, whose schema this one does not know) is
/// refused.
pub(crate) async fn pending(db: &Db) -> Result<Option<usize>> {
    if !db
        .table_names()
        .await?
        .iter()
        .any(|name| name == "hitcount_migrations")
    {
        return Ok(None);
    }
    dispatch!(db, pool, sql => {
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM hitcount_migrations")
            .fetch_all(pool)
            .await?;
        let mut unknown: Vec<i64> = applied
            .iter()
            .copied()
            .filter(|version| !sql.migrations.iter().any(|m| m.version == *version))
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            return Err(crate::Error::InvalidInput {
                what: "database schema",
                value: format!("hitcount_migrations versions {unknown:?}"),
                reason: "made by another build of rocket-hitcount (a pre-release one), whose schema this \
                         build does not know: use a new database, or drop the hitcount_* tables",
            });
        }
        let missing = sql.migrations.iter().filter(|m| !applied.contains(&m.version)).count();
        Ok(Some(missing))
    })
}

/// Applies the migrations that are missing, each in its own transaction.
/// Where the backend has a migration lock, each transaction takes it
/// first: transaction-scoped, so it holds behind a connection pooler that
/// gives each transaction its own server connection (PgBouncer in
/// transaction mode), and concurrent instances create the bookkeeping
/// table and apply each migration one after the other. A database that
/// lacks none is only read (migrations are only ever added, so one that
/// lacks none now never will).
pub(crate) async fn run(db: &Db) -> Result<()> {
    if pending(db).await? == Some(0) {
        return Ok(());
    }
    dispatch!(db, pool, sql => {
        let mut conn = pool.acquire().await?;
        let lock = match sql.migration_lock {
            MigrationLock::Database => None,
            #[cfg(feature = "postgres")]
            MigrationLock::Transaction(lock) => Some(lock),
            #[cfg(feature = "mysql")]
            MigrationLock::Session { lock, unlock, create_table, record } => {
                // A connection left holding the lock by an error is closed,
                // which frees it.
                let mut conn = conn.detach();
                let taken: Option<i64> = sqlx::query_scalar(lock).fetch_one(&mut conn).await?;
                if taken != Some(1) {
                    return Err(crate::Error::Unavailable {
                        reason: "another instance held the migration lock for 30 s".into(),
                    });
                }
                sqlx::query(create_table).execute(&mut conn).await?;
                let applied: Vec<i64> =
                    sqlx::query_scalar("SELECT version FROM hitcount_migrations").fetch_all(&mut conn).await?;
                for migration in sql.migrations.iter().filter(|m| !applied.contains(&m.version)) {
                    sqlx::Executor::execute(&mut conn, migration.sql).await?;
                    sqlx::query(record)
                        .bind(migration.version)
                        .bind(migration.description)
                        .bind(Utc::now().to_rfc3339())
                        .execute(&mut conn)
                        .await?;
                }
                let _: Option<i64> = sqlx::query_scalar(unlock).fetch_one(&mut conn).await?;
                return Ok(());
            }
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        if let Some(isolation) = sql.read_committed {
            sqlx::query(isolation).execute(&mut *tx).await?;
        }
        if let Some(lock) = lock {
            sqlx::query(lock).bind(LOCK_KEY).execute(&mut *tx).await?;
        }
        sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
        tx.commit().await?;
        for migration in sql.migrations {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            if let Some(isolation) = sql.read_committed {
                sqlx::query(isolation).execute(&mut *tx).await?;
            }
            if let Some(lock) = lock {
                sqlx::query(lock).bind(LOCK_KEY).execute(&mut *tx).await?;
            }
            let claimed = sqlx::query(CLAIM)
                .bind(migration.version)
                .bind(migration.description)
                .bind(Utc::now().to_rfc3339())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 1 {
                sqlx::Executor::execute(&mut *tx, migration.sql).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    })
}
