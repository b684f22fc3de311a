//! Storage: the database handle and the seam between backends.
//!
//! Counting, reading and admin code is written once against sqlx and run on
//! whichever pool the [`Db`] holds, through `dispatch!`; what differs
//! between backends is SQL text, kept in one [`dialect::Dialect`] per
//! backend. Adding a backend is a new variant, a new dialect file and its
//! migrations. All SQL of the crate is here: the dialects' statements, the
//! batch writes of counting (`batch`) and the migrations (`migrate`).

use chrono::{DateTime, Utc};
use std::str::FromStr;

use crate::error::{invalid, Result};

/// Runs `$body` with `$inner` bound to what the `$kind` value (a [`Db`]
/// or a [`Connection`]) holds for its backend, and `$sql` to the backend's
/// dialect. The body is compiled once per backend, so it is written once
/// and needs no generic database bounds.
macro_rules! dispatch_on {
    ($kind:ident, $value:expr, $inner:ident, $sql:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "sqlite")]
            $crate::store::$kind::Sqlite($inner) => {
                let $sql = &$crate::store::sqlite::SQL;
                $body
            }
            #[cfg(feature = "postgres")]
            $crate::store::$kind::Postgres($inner) => {
                let $sql = &$crate::store::postgres::SQL;
                $body
            }
            #[cfg(feature = "mysql")]
            $crate::store::$kind::MySql($inner) => {
                let $sql: &$crate::store::dialect::Dialect = &$crate::store::mysql::SQL;
                $body
            }
        }
    };
}

/// [`dispatch_on!`] a [`Db`]: `$pool` is the concrete pool.
macro_rules! dispatch {
    ($db:expr, $pool:ident, $sql:ident => $body:expr) => {
        dispatch_on!(Db, $db, $pool, $sql => $body)
    };
}

/// [`dispatch_on!`] a [`Connection`]: `$conn` is the concrete connection.
macro_rules! dispatch_connection {
    ($connection:expr, $conn:ident, $sql:ident => $body:expr) => {
        dispatch_on!(Connection, $connection, $conn, $sql => $body)
    };
}

/// The pk of `$object`'s row, created (with nothing counted) if missing,
/// on `$executor`. A macro for the same reason as [`ip_hits!`].
macro_rules! register_object {
    ($sql:expr, $executor:expr, $object:expr, $now:expr) => {
        $crate::store::returned(
            sqlx::query_scalar::<_, i64>($sql.register)
                .bind($object.kind())
                .bind($object.id())
                .bind($crate::store::At($now))
                .fetch_all($executor)
                .await?,
        )?
    };
}

/// Active hits from an IP, on the whole site or on object `$pk`, as
/// `hits_per_ip_scope` says. A macro, because it runs on a pool or inside
/// the counting transaction of either backend.
macro_rules! ip_hits {
    ($sql:expr, $executor:expr, $ip:expr, $since:expr, $pk:expr, $scope:expr) => {{
        let query = match $scope {
            $crate::settings::IpLimitScope::Site => sqlx::query_scalar::<_, i64>($sql.ip_hits_site)
                .bind($ip)
                .bind($crate::store::At($since)),
            $crate::settings::IpLimitScope::Object => sqlx::query_scalar::<_, i64>($sql.ip_hits_object)
                .bind($ip)
                .bind($crate::store::At($since))
                .bind($pk),
        };
        query.fetch_one($executor).await?
    }};
}

#[macro_use]
pub(crate) mod batch;
#[macro_use]
pub(crate) mod migrate;
#[macro_use]
pub(crate) mod dialect;
#[macro_use]
pub(crate) mod hit_log;
#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!("enable at least one of the features `sqlite`, `postgres` and `mysql`");

/// The row of a write's `RETURNING` clause, from `fetch_all`. A write run
/// outside a transaction must be read to its end: SQLite commits it only
/// when the statement completes, and `fetch_one` answers with the first row
/// before that, so a read right after it could miss the write.
pub(crate) fn returned<T>(rows: Vec<T>) -> Result<T> {
    rows.into_iter().next().ok_or(crate::Error::UnexpectedAnswer {
        what: "a write with RETURNING (no row)",
    })
}

/// Whether SQLite said "busy" (`SQLITE_BUSY` or one of its extended codes).
#[cfg(feature = "sqlite")]
fn is_busy(error: &sqlx::Error) -> bool {
    let code = error.as_database_error().and_then(|e| e.code());
    code.and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// A time as the batch statements' JSON carries it: the very text sqlx
/// binds for a time on SQLite, where times are compared as text, and that
/// PostgreSQL parses as a `TIMESTAMPTZ`.
pub(crate) fn json_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// A time as a statement's parameter. On SQLite and PostgreSQL it is the
/// `DateTime<Utc>` itself; on MariaDB a DATETIME in UTC, since sqlx sends a
/// `DateTime<Utc>` there as a TIMESTAMP, which the server misreads outside
/// 1970-2038 (a range scan from year 1000, or to 2039, finds nothing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct At(pub DateTime<Utc>);

/// `At` is bound as the `DateTime<Utc>` it holds on `$db`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! bind_time_as_itself {
    ($db:ty) => {
        impl sqlx::Type<$db> for At {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <DateTime<Utc> as sqlx::Type<$db>>::type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, $db> for At {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as sqlx::database::HasArguments<'q>>::ArgumentBuffer,
            ) -> sqlx::encode::IsNull {
                <DateTime<Utc> as sqlx::Encode<'q, $db>>::encode_by_ref(&self.0, buf)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
bind_time_as_itself!(sqlx::Sqlite);
#[cfg(feature = "postgres")]
bind_time_as_itself!(sqlx::Postgres);

#[cfg(feature = "mysql")]
impl sqlx::Type<sqlx::MySql> for At {
    fn type_info() -> sqlx::mysql::MySqlTypeInfo {
        <chrono::NaiveDateTime as sqlx::Type<sqlx::MySql>>::type_info()
    }
}

#[cfg(feature = "mysql")]
impl sqlx::Encode<'_, sqlx::MySql> for At {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> sqlx::encode::IsNull {
        <chrono::NaiveDateTime as sqlx::Encode<'_, sqlx::MySql>>::encode_by_ref(&self.0.naive_utc(), buf)
    }
}

/// 32 random bytes from the operating system, as hex: the keys the
/// database keeps (the IP hash key, the day's salts). `what` is named in
/// the error.
pub(crate) fn random_key(what: &'static str) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| crate::Error::NoRandomness {
        what,
        reason: e.to_string(),
    })?;
    Ok(hex::encode(bytes))
}

/// A connection of its own, outside any pool, for a task that writes all
/// the time (the counting queue's writer): a pool checks a connection on
/// every checkout and return, a round trip each.
#[allow(clippy::large_enum_variant, reason = "one per counter")]
pub(crate) enum Connection {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgConnection),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlConnection),
}

/// A connection pool of one of the supported databases.
///
/// Build it from the pool your app already has (for Rocket, the pool of
/// your `rocket_db_pools::Database`), or from a URL with [`Db::connect`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use hitcount::Db;
/// use hitcount::sqlx::SqlitePool;
///
/// let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
/// let db = Db::from(pool);
/// assert_eq!(db.backend(), "SQLite");
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Db {
    /// An SQLite pool: the embedded default, no service needed.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    /// A PostgreSQL pool: many app instances on one database.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    /// A MariaDB pool (MariaDB 10.11 or later), as many Django sites run:
    /// every operation, many app instances on one database.
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for Db {
    fn from(pool: sqlx::SqlitePool) -> Self {
        Db::Sqlite(pool)
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for Db {
    fn from(pool: sqlx::PgPool) -> Self {
        Db::Postgres(pool)
    }
}

#[cfg(feature = "mysql")]
impl From<sqlx::MySqlPool> for Db {
    fn from(pool: sqlx::MySqlPool) -> Self {
        Db::MySql(pool)
    }
}

impl Db {
    /// `url` fit for a message or a log: its password, if any, replaced
    /// by `***`, in the user part or as a `password=` parameter.
    ///
    /// ```
    /// use hitcount::Db;
    ///
    /// assert_eq!(Db::redacted_url("postgres://app:secret@db/blog"), "postgres://app:***@db/blog");
    /// assert_eq!(Db::redacted_url("postgres://app@db/blog"), "postgres://app@db/blog");
    /// assert_eq!(
    ///     Db::redacted_url("postgres://db/blog?user=app&password=secret&sslmode=require"),
    ///     "postgres://db/blog?user=app&password=***&sslmode=require"
    /// );
    /// assert_eq!(Db::redacted_url("sqlite:///srv/blog.db"), "sqlite:///srv/blog.db");
    /// ```
    pub fn redacted_url(url: &str) -> String {
        match url.split_once('?') {
            Some((base, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{}?{}", Db::redacted_credentials(base), query.join("&"))
            }
            None => Db::redacted_credentials(url),
        }
    }

    /// `url` with the password of its `user:password@` part replaced.
    fn redacted_credentials(url: &str) -> String {
        let Some(scheme) = url.find("://").map(|at| at + 3) else {
            return url.to_owned();
        };
        let authority = url[scheme..].split(['/', '?']).next().unwrap_or_default();
        match authority.rsplit_once('@') {
            Some((credentials, _)) => match credentials.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    &url[..scheme],
                    &url[scheme + credentials.len()..]
                ),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        }
    }

    /// Opens a pool from a database URL: `sqlite://path/to/file.db` (the
    /// file is created if missing), `sqlite::memory:`,
    /// `postgres://user@host/db`, or with the `mysql` feature
    /// `mysql://user@host/db` (MariaDB).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = hitcount::Db::connect("mongodb://localhost/x").await.unwrap_err();
    /// assert!(err.to_string().contains("mongodb://localhost/x"));
    /// // Nothing listens on port 1: said at once, not after a pool timeout.
    /// let err = hitcount::Db::connect("postgres://user@127.0.0.1:1/db").await.unwrap_err();
    /// assert!(err.to_string().contains("refused"), "{err}");
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Db> {
        #[cfg(feature = "sqlite")]
        if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.create_if_missing(true);
            return Ok(Db::Sqlite(sqlx::SqlitePool::connect_with(options).await?));
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
            // One connection first: an unreachable server is then its own
            // error ("connection refused") at once, not the pool's
            // timeout half a minute later.
            sqlx::Connection::close(<sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?)
                .await?;
            return Ok(Db::Postgres(sqlx::PgPool::connect_with(options).await?));
        }
        #[cfg(feature = "mysql")]
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            let options = sqlx::mysql::MySqlConnectOptions::from_str(&url.replacen("mariadb:", "mysql:", 1))?;
            sqlx::Connection::close(
                <sqlx::MySqlConnection as sqlx::Connection>::connect_with(&options).await?,
            )
            .await?;
            return Ok(Db::MySql(sqlx::MySqlPool::connect_with(options).await?));
        }
        Err(invalid(
            "database URL",
            url,
            "expected sqlite:..., postgres://... or mysql://... (with the matching feature enabled)",
        ))
    }

    /// A new pool of at most `max` connections to the same database. It
    /// connects on first use, in the runtime that uses it.
    pub(crate) fn lazy_pool(&self, max: u32) -> Db {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(pool) => Db::Sqlite(
                sqlx::pool::PoolOptions::new()
                    .max_connections(max)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => Db::Postgres(
                sqlx::pool::PoolOptions::new()
                    .max_connections(max)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
            #[cfg(feature = "mysql")]
            Db::MySql(pool) => Db::MySql(
                sqlx::pool::PoolOptions::new()
                    .max_connections(max)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
        }
    }

    /// Where a counter writes: on SQLite a pool of one connection to the
    /// same database, switched to WAL (when `wal`) and, with `fast`,
    /// committing with `synchronous = NORMAL`; on PostgreSQL this pool.
    #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
    pub(crate) async fn writer(&self, wal: bool, fast: bool) -> Result<Db> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(pool) => {
                use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                // Foreign keys on, whatever the app's pool says: a batch's
                // hit of an object deleted meanwhile must fail its batch
                // (see `group_commit`), not add a row of no object.
                let mut options = (*pool.connect_options()).clone().foreign_keys(true);
                if fast {
                    options = options.synchronous(SqliteSynchronous::Normal);
                }
                if wal {
                    options = options.journal_mode(SqliteJournalMode::Wal);
                }
                // Switching a file to WAL needs it alone for a moment: an
                // instance starting beside this one can be using it (SQLite
                // answers "busy" at once here). Wait as busy_timeout would.
                let mut waits = 0;
                loop {
                    let connected = sqlx::pool::PoolOptions::new()
                        .max_connections(1)
                        .connect_with(options.clone())
                        .await;
                    match connected {
                        Ok(writer) => return Ok(Db::Sqlite(writer)),
                        Err(e) if is_busy(&e) && waits < 50 => waits += 1,
                        Err(e) => return Err(e.into()),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
            // The counting transaction asks for fast commits itself.
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => Ok(Db::Postgres(pool.clone())),
            #[cfg(feature = "mysql")]
            Db::MySql(pool) => Ok(Db::MySql(pool.clone())),
        }
    }

    /// Where a counter writes once this pool is closed: the app's database
    /// fairing closes the app's pool as shutdown begins, while the
    /// counter's last flush is still to run. On SQLite the writer is a
    /// pool of its own already; on PostgreSQL a pool of one connection
    /// with the same options, made when first used.
    pub(crate) fn last_writer(&self) -> Db {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(_) => self.clone(),
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => Db::Postgres(
                sqlx::pool::PoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
            #[cfg(feature = "mysql")]
            Db::MySql(pool) => Db::MySql(
                sqlx::pool::PoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with((*pool.connect_options()).clone()),
            ),
        }
    }

    /// Whether the pool was closed.
    pub(crate) fn is_closed(&self) -> bool {
        dispatch!(self, pool, _dialect => pool.is_closed())
    }

    /// A new connection with this pool's options, taken out of the pool
    /// (which may open another in its place).
    pub(crate) async fn detached_connection(&self) -> Result<Connection> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(pool) => Connection::Sqlite(pool.acquire().await?.detach()),
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => Connection::Postgres(pool.acquire().await?.detach()),
            #[cfg(feature = "mysql")]
            Db::MySql(pool) => Connection::MySql(pool.acquire().await?.detach()),
        })
    }

    /// The names of the database's tables and views, read without writing:
    /// on SQLite those of the file (not SQLite's own), on PostgreSQL those
    /// of the schema hitcount's tables go to (the first of the search
    /// path). For a tool that must tell an app's database from another.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// let db = hitcount::Db::connect("sqlite::memory:").await?;
    /// assert!(db.table_names().await?.is_empty());
    /// hitcount::HitCounter::open(db.clone(), Default::default()).await?;
    /// assert!(db.table_names().await?.iter().any(|t| t == "hitcount_hit_count"));
    /// # Ok(()) }
    /// ```
    pub async fn table_names(&self) -> Result<Vec<String>> {
        Ok(dispatch!(self, pool, sql => {
            sqlx::query_scalar(sql.table_names).fetch_all(pool).await?
        }))
    }

    /// How many of hitcount's migrations the database lacks, read without
    /// writing: `None` when it has none of hitcount's tables, `Some(0)`
    /// when they are up to date, so that opening a counter on it runs no
    /// migration.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// let db = hitcount::Db::connect("sqlite::memory:").await?;
    /// assert_eq!(db.pending_migrations().await?, None);
    /// hitcount::HitCounter::open(db.clone(), Default::default()).await?;
    /// assert_eq!(db.pending_migrations().await?, Some(0));
    /// # Ok(()) }
    /// ```
    pub async fn pending_migrations(&self) -> Result<Option<usize>> {
        migrate::pending(self).await
    }

    /// The backend's name: `"SQLite"`, `"PostgreSQL"` or `"MariaDB"`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let db = hitcount::Db::connect("sqlite::memory:").await.unwrap();
    /// assert_eq!(db.backend(), "SQLite");
    /// # }
    /// ```
    pub fn backend(&self) -> &'static str {
        self.dialect().name
    }

    /// The backend's SQL.
    pub(crate) fn dialect(&self) -> &'static dialect::Dialect {
        dispatch!(self, _pool, sql => sql)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// SQLite compares times as text: a time written through the batch's
    /// JSON must be the same text as one bound by sqlx.
    #[tokio::test]
    async fn json_time_is_the_text_sqlx_binds_on_sqlite() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let second = Utc.with_ymd_and_hms(2026, 11, 22, 7, 34, 18).unwrap();
        for t in [
            second,
            second + chrono::TimeDelta::milliseconds(120),
            second + chrono::TimeDelta::microseconds(120_500),
        ] {
            let bound: String = sqlx::query_scalar("SELECT $1")
                .bind(At(t))
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(json_time(t), bound);
        }
    }
}
