//! The test harness of the workspace's crates: a fresh database per test
//! on SQLite, PostgreSQL or MariaDB, dropped afterwards (also when the test
//! panics), a clock the test moves, and sqlx's statement log
//! ([`statements`]) for the tests that count statements.
//!
//! PostgreSQL comes from `HITCOUNT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), and PgBouncer in
//! transaction pooling mode in front of it from
//! `HITCOUNT_TEST_PGBOUNCER_URL` (default port 6432; `scripts/test.sh`
//! starts it). MariaDB comes from `HITCOUNT_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306`). When one is unreachable its tests say
//! so and pass locally, but fail when `CI=true`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hitcount::sqlx::{self, postgres::PgConnectOptions, sqlite::SqliteConnectOptions, Connection};
use hitcount::{Clock, Db, HitCounter, Settings};

pub mod proxy;
pub mod statements;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const DEFAULT_PGBOUNCER_URL: &str = "postgres://postgres@127.0.0.1:6432/postgres";
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306";

/// Runs each named `async fn name(db: &TestDb)` of the calling file once
/// on SQLite and once on PostgreSQL: one behaviour suite, every backend.
/// Starting with `pgbouncer;`, also on PostgreSQL through PgBouncer in
/// transaction pooling mode, as deployments of many instances run it;
/// with `pgbouncer, mariadb;` (or `mariadb;` alone), on MariaDB too;
/// tests listed after
/// `; not on mariadb:` test what cannot happen there (say why at the
/// test).
#[macro_export]
macro_rules! storage_tests {
    (pgbouncer, mariadb; $($name:ident),* ; not on mariadb: $($other:ident),* $(,)?) => {
        $crate::storage_tests!(pgbouncer; $($name,)* $($other),*);
        $crate::storage_tests!(@mariadb $($name),*);
    };
    (pgbouncer, mariadb; $($name:ident),* $(,)?) => {
        $crate::storage_tests!(pgbouncer; $($name),*);
        $crate::storage_tests!(@mariadb $($name),*);
    };
    (mariadb; $($name:ident),* $(,)?) => {
        $crate::storage_tests!($($name),*);
        $crate::storage_tests!(@mariadb $($name),*);
    };
    (@mariadb $($name:ident),*) => {
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::mariadb().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
    (pgbouncer; $($name:ident),* $(,)?) => {
        $crate::storage_tests!($($name),*);
        mod pgbouncer {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::pgbouncer().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = Utc::now().timestamp_subsec_nanos();
    format!(
        "hitcount_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether this is a CI run (`CI` set to anything but empty, 0 or false),
/// where an unreachable PostgreSQL fails the tests instead of skipping them.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// Whether a program the tests drive (node, chromium, chromedriver) runs
/// here. Outside CI a missing one skips its test with a message; in CI it
/// fails the test, since `.ci/run` installs them.
pub fn installed(program: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(!in_ci(), "{program} is required in CI (.ci/run installs it)");
        eprintln!("SKIPPED: {program} is not installed (bash scripts/test.sh --setup installs it)");
    }
    found
}

/// A database made for one test.
pub struct TestDb {
    pub url: String,
    pub db: Db,
    /// Whether `db` reaches PostgreSQL through PgBouncer.
    pub through_pgbouncer: bool,
    drop_with: DropWith,
    pub clock: TestClock,
}

enum DropWith {
    Files(PathBuf),
    Database { admin_url: String, name: String },
    MariaDb { admin_url: String, name: String },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
        let url = format!("sqlite://{}", path.display());
        let db = Db::connect(&url).await.expect("SQLite opens");
        TestDb {
            url,
            db,
            drop_with: DropWith::Files(path),
            clock: TestClock::new(),
            through_pgbouncer: false,
        }
    }

    /// A fresh PostgreSQL database, or `None` (after saying why) when the
    /// server is unreachable outside CI.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url =
            std::env::var("HITCOUNT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        let name = new_database::<sqlx::PgConnection>("PostgreSQL", &admin_url, "HITCOUNT_TEST_POSTGRES_URL")
            .await?;
        let options = PgConnectOptions::from_str(&admin_url).unwrap().database(&name);
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        let db = Db::from(
            sqlx::PgPool::connect_with(options)
                .await
                .expect("PostgreSQL test database opens"),
        );
        Some(TestDb {
            url,
            db,
            drop_with: DropWith::Database { admin_url, name },
            clock: TestClock::new(),
            through_pgbouncer: false,
        })
    }

    /// A fresh PostgreSQL database reached through PgBouncer in
    /// transaction pooling mode, or `None` (after saying why) when either
    /// is unreachable outside CI.
    pub async fn pgbouncer() -> Option<TestDb> {
        let bouncer_url =
            std::env::var("HITCOUNT_TEST_PGBOUNCER_URL").unwrap_or_else(|_| DEFAULT_PGBOUNCER_URL.into());
        if let Err(err) = sqlx::PgConnection::connect(&bouncer_url).await {
            assert!(
                !in_ci(),
                "PgBouncer is unreachable at {bouncer_url} and this is CI (CI is set; scripts/test.sh starts it): {err}"
            );
            eprintln!(
                "SKIPPED: PgBouncer unreachable at {bouncer_url} ({err}); bash scripts/test.sh --setup starts it"
            );
            return None;
        }
        // Made on the server itself; used through PgBouncer, which reaches
        // every database of the server.
        let mut direct = TestDb::postgres().await?;
        let name = direct.url.rsplit_once('/').expect("a database name").1.to_owned();
        direct.url = format!("{}/{name}", bouncer_url.rsplit_once('/').expect("a URL").0);
        direct.db = Db::from(
            sqlx::PgPool::connect(&direct.url)
                .await
                .expect("the test database opens through PgBouncer"),
        );
        direct.through_pgbouncer = true;
        Some(direct)
    }

    /// A fresh MariaDB database, or `None` (after saying why) when the
    /// server is unreachable outside CI.
    pub async fn mariadb() -> Option<TestDb> {
        let admin_url = std::env::var("HITCOUNT_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.into());
        let admin_url = admin_url.trim_end_matches('/').to_owned();
        let name =
            new_database::<sqlx::MySqlConnection>("MariaDB", &admin_url, "HITCOUNT_TEST_MYSQL_URL").await?;
        let url = format!("{admin_url}/{name}");
        let db = Db::connect(&url).await.expect("MariaDB test database opens");
        Some(TestDb {
            url,
            db,
            drop_with: DropWith::MariaDb { admin_url, name },
            clock: TestClock::new(),
            through_pgbouncer: false,
        })
    }

    /// A second, separate pool on the same database: another app instance.
    pub async fn second_pool(&self) -> Db {
        match &self.db {
            Db::Sqlite(_) => Db::from(
                sqlx::SqlitePool::connect_with(SqliteConnectOptions::from_str(&self.url).unwrap())
                    .await
                    .unwrap(),
            ),
            Db::Postgres(_) => Db::from(sqlx::PgPool::connect(&self.url).await.unwrap()),
            Db::MySql(_) => Db::from(sqlx::MySqlPool::connect(&self.url).await.unwrap()),
            _ => unreachable!(),
        }
    }

    /// A proxy in front of this PostgreSQL database, and this database's
    /// URL through it: an app whose network the test controls.
    pub async fn behind_proxy_url(&self) -> (proxy::TcpProxy, String) {
        let options = PgConnectOptions::from_str(&self.url).expect("a PostgreSQL URL");
        let target = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .expect("the server's address")
            .next()
            .expect("an address");
        let proxy = proxy::TcpProxy::start(target).await;
        let name = self.url.rsplit_once('/').expect("a database name").1;
        let user = options.get_username();
        let url = format!("postgres://{user}@127.0.0.1:{}/{name}", proxy.addr().port());
        (proxy, url)
    }

    /// [`behind_proxy_url`](Self::behind_proxy_url) with a pool of at most
    /// `max_connections` that gives up waiting for a connection after
    /// `acquire_timeout`.
    pub async fn behind_proxy(
        &self,
        max_connections: u32,
        acquire_timeout: std::time::Duration,
    ) -> (proxy::TcpProxy, Db) {
        let (proxy, url) = self.behind_proxy_url().await;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect(&url)
            .await
            .expect("a pool through the proxy");
        (proxy, Db::from(pool))
    }

    /// A counter on this database with the test clock.
    pub async fn counter(&self, settings: Settings) -> HitCounter {
        HitCounter::open_with_clock(self.db.clone(), settings, self.clock.clock())
            .await
            .expect("counter opens")
    }

    /// A counter with default settings but full IP storage, so tests can
    /// compare stored IPs with django-hitcount's.
    pub async fn counter_full_ip(&self) -> HitCounter {
        self.counter(settings(|s| s.ip_storage = hitcount::IpStorage::Full))
            .await
    }

    /// One number from the database, for checks of what was written.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.db {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            // The tests' SQL is the standard's: MariaDB casts to SIGNED and
            // counts characters with CHAR_LENGTH.
            Db::MySql(pool) => {
                let sql = sql
                    .replace("AS BIGINT", "AS SIGNED")
                    .replace("LENGTH(", "CHAR_LENGTH(");
                sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap()
            }
            _ => unreachable!(),
        }
    }

    /// Every value in every table of the database, as text, with its
    /// table and column (`NULL`s left out): for tests of what is kept.
    pub async fn every_value(&self) -> Vec<(String, String)> {
        let (columns, cast) = match &self.db {
            Db::Sqlite(_) => ("SELECT name FROM pragma_table_info($1)", "TEXT"),
            Db::Postgres(_) => (
                "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
                "TEXT",
            ),
            Db::MySql(_) => (
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ?",
                "CHAR",
            ),
            _ => unreachable!(),
        };
        let mut found = Vec::new();
        for table in self.db.table_names().await.unwrap() {
            for column in self.texts(columns, Some(&table)).await {
                let sql = format!("SELECT CAST({column} AS {cast}) FROM {table}");
                for value in self.texts(&sql, None).await {
                    found.push((format!("{table}.{column}"), value));
                }
            }
        }
        found
    }

    /// The non-NULL texts a query gives, with one optional parameter.
    async fn texts(&self, sql: &str, param: Option<&str>) -> Vec<String> {
        macro_rules! fetch {
            ($pool:expr) => {{
                let query = sqlx::query_scalar(sql);
                match param {
                    Some(param) => query.bind(param).fetch_all($pool).await,
                    None => query.fetch_all($pool).await,
                }
            }};
        }
        let rows: Vec<Option<String>> = match &self.db {
            Db::Sqlite(pool) => fetch!(pool),
            Db::Postgres(pool) => fetch!(pool),
            Db::MySql(pool) => fetch!(pool),
            _ => unreachable!(),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().flatten().collect()
    }

    /// Runs a statement (test set-up such as failure triggers).
    pub async fn execute(&self, sql: &str) {
        match &self.db {
            Db::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop).unwrap(),
            Db::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop).unwrap(),
            Db::MySql(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop).unwrap(),
            _ => unreachable!(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    pub fn is_mariadb(&self) -> bool {
        matches!(self.db, Db::MySql(_))
    }

    /// `at` as an SQL literal of a stored time, as the crate writes it.
    pub fn time_literal(&self, at: DateTime<Utc>) -> String {
        match &self.db {
            Db::Postgres(_) => format!("CAST('{}' AS TIMESTAMPTZ)", at.to_rfc3339()),
            Db::MySql(_) => format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%.6f")),
            _ => format!("'{}'", at.to_rfc3339()),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.drop_with {
            DropWith::Files(path) => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            DropWith::Database { admin_url, name } => {
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let admin_url = admin_url.clone();
                off_runtime(async move {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&drop).execute(&mut admin).await;
                    }
                });
            }
            DropWith::MariaDb { admin_url, name } => {
                // As PostgreSQL's FORCE: the test's connections are closed
                // first (one a failed test left inside a transaction would
                // hold the drop up for ever).
                let (admin_url, name) = (admin_url.clone(), name.clone());
                off_runtime(async move {
                    if let Ok(mut admin) = sqlx::MySqlConnection::connect(&admin_url).await {
                        let ids: Vec<u64> = sqlx::query_scalar(
                            "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist WHERE db = ?",
                        )
                        .bind(&name)
                        .fetch_all(&mut admin)
                        .await
                        .unwrap_or_default();
                        for id in ids {
                            let _ = sqlx::query(&format!("KILL CONNECTION {id}"))
                                .execute(&mut admin)
                                .await;
                        }
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                            .execute(&mut admin)
                            .await;
                    }
                });
            }
        }
    }
}

/// The name of a new database made for one test on the server at `url`,
/// or `None` (after saying why) when the server is unreachable outside CI.
async fn new_database<C>(server: &str, url: &str, variable: &str) -> Option<String>
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut admin = match C::connect(url).await {
        Ok(conn) => conn,
        Err(err) if in_ci() => panic!("{server} is unreachable at {url} and this is CI (CI is set): {err}"),
        Err(err) => {
            eprintln!("SKIPPED: {server} unreachable at {url} ({err}); set {variable}");
            return None;
        }
    };
    let name = unique_name();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    admin.close().await.ok();
    Some(name)
}

/// Runs `work` to its end on a thread with a runtime of its own: `Drop`
/// runs inside the test's runtime, which cannot be blocked on.
fn off_runtime(work: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join()
    .ok();
}

/// The values on a counter's two blacklists: IPs, then user agents.
pub async fn blacklist_values(counter: &HitCounter) -> (Vec<String>, Vec<String>) {
    let values = |entries: Vec<hitcount::BlacklistEntry>| entries.into_iter().map(|e| e.value).collect();
    (
        values(counter.admin().blacklisted_ips().await.unwrap()),
        values(counter.admin().blacklisted_user_agents().await.unwrap()),
    )
}

/// A clock the test sets and moves; it starts at a fixed time in the middle
/// of an hour, so that "N days ago" never lands on a bucket boundary by luck.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl Default for TestClock {
    fn default() -> TestClock {
        TestClock::new()
    }
}

impl TestClock {
    pub fn new() -> TestClock {
        TestClock(Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 6, 15, 12, 34, 56).unwrap(),
        )))
    }

    pub fn clock(&self) -> Clock {
        let now = self.0.clone();
        Clock::new(move || *now.lock().unwrap())
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = at;
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }

    /// The start of the UTC day after the clock's: for tests across
    /// midnight.
    pub fn next_midnight(&self) -> DateTime<Utc> {
        (self.now() + TimeDelta::days(1))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
    }
}

/// Default settings with an edit.
pub fn settings(edit: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = Settings::default();
    edit(&mut s);
    s
}
