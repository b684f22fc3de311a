//! The dashboard at scale, run by `scripts/bench_dashboard.sh`: fills a
//! fresh database with 10 000 objects and 1 000 000 hits over the last 90
//! days (bulk SQL, not `count_hit`), then times the overview's core reads,
//! the overview page through Rocket's local client, and the hit log's
//! first page and page 100, and counts the SQL statements each one makes
//! from sqlx's statement log. It prints figures and checks nothing but
//! that the pages answer 200.
//!
//!     cargo run --release -p rocket_hitcount --example bench_dashboard
//!     BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench_dashboard \
//!         cargo run --release -p rocket_hitcount --example bench_dashboard
//!
//! The database is made anew: a PostgreSQL database is dropped and
//! created again, an SQLite file removed first (by default a file in a new
//! temporary folder, removed at the end unless `BENCH_KEEP=1`).
//! `BENCH_REUSE=1` measures the database as an earlier run left it,
//! without loading. `BENCH_OBJECTS`, `BENCH_HITS`, `BENCH_DAYS`,
//! `BENCH_RUNS` (20) and `BENCH_WARMUPS` (2) change the figures above;
//! `BENCH_SQLITE_PRAGMAS=mmap_size=1073741824` gives the app's SQLite pool
//! other settings (`name=value`, comma-separated).

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use hitcount_testing::statements::STATEMENTS;
use rocket::figment::Figment;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::request::{FromRequest, Outcome, Request};
use rocket_db_pools::{sqlx, Database};
use rocket_hitcount::hitcount::{Db, HitCounter, HitFilter, Period, Settings};
use rocket_hitcount::{Dashboard, HitCount, Label, Labels, ObjectRef};

type Fallible<T> = Result<T, Box<dyn Error>>;

/// Where the dashboard is mounted.
const BASE: &str = "/dashboard";
/// What the overview ranks and lists (`pages.rs`: `RANKED`, `UNUSUAL`).
const RANKED: u32 = 20;
const UNUSUAL: u32 = 5;
/// Hits per page of the hit log (`query.rs`: `PER_PAGE`).
const PER_PAGE: u32 = 50;
/// The aim of the overview page, median.
const AIM_MS: f64 = 100.0;
/// The counter's default read budget: a read slower than this fails on
/// a site with the default `count_timeout`.
const BUDGET_MS: f64 = 500.0;

/// Distinct stored IPs and user agents of the hits.
const IPS: u64 = 600;
/// Distinct visitors (session keys).
const VISITORS: u64 = 150_000;
/// One object in this many is a `shop.product` (the last pks); the rest
/// are `blog.post`.
const PRODUCT_SHARE: i64 = 5;

/// Hit rows per statement: SQLite takes at most 32 766 bound values.
const SQLITE_ROWS: u64 = 5_000;
/// Hit rows per statement on PostgreSQL (bound as arrays).
const POSTGRES_ROWS: u64 = 20_000;
/// Hit rows per transaction.
const TRANSACTION_ROWS: u64 = 200_000;

/// A day's views: its hits plus repeat views, up to 1.75 views per hit,
/// and twelve for every 500th object (a page someone keeps reloading).
/// `id` is the object's pk, `n` the day's hits.
const DAY_VIEWS: &str = "CASE WHEN id % 500 = 0 THEN n * 12 ELSE n + n * ((id * 7 + n) % 4) / 4 END";
/// A day's bot hits: a third of the hits for every 10th object, four
/// times them for every 250th (a crawler's favourites).
const DAY_BOTS: &str = "CASE WHEN id % 250 = 3 THEN n * 4 WHEN id % 10 = 0 THEN n / 3 ELSE 0 END";

/// Each object's totals: the sums of its daily buckets.
const TOTALS: &str = "UPDATE hitcount_hit_count SET hits = s.hits, views = s.views, bot_hits = s.bot_hits \
                      FROM (SELECT hit_count_id, SUM(hits) AS hits, SUM(views) AS views, \
                                   SUM(bot_hits) AS bot_hits \
                            FROM hitcount_daily GROUP BY hit_count_id) AS s \
                      WHERE s.hit_count_id = hitcount_hit_count.id";

fn main() {
    // Not `#[rocket::main]`, which wants a future that is `Send`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    if let Err(error) = runtime.block_on(run()) {
        eprintln!("bench_dashboard: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Fallible<()> {
    // Statements are logged only while they are counted: sqlx formats
    // each logged statement, which would weigh on the timings.
    STATEMENTS.install();
    log::set_max_level(log::LevelFilter::Off);
    let options = Options::from_env()?;
    let target = Target::prepare(&options).await?;
    let result = measure(&options, &target).await;
    target.finish();
    result
}

/// Loads the database (unless reused), measures, prints.
async fn measure(options: &Options, target: &Target) -> Fallible<()> {
    let db = Db::connect(&target.url).await?;
    let backend = db.backend();
    println!(
        "== the dashboard at scale on {backend}: {} objects, {} hits over {} days{}",
        options.objects,
        options.hits,
        options.days,
        options
            .pragmas
            .as_ref()
            .map(|pragmas| format!(", the app's SQLite pool with {pragmas}"))
            .unwrap_or_default()
    );
    let load_seconds = if options.reuse {
        println!("reusing {}", Db::redacted_url(&target.url));
        None
    } else {
        let started = Instant::now();
        // Opening a counter runs the migrations.
        drop(HitCounter::open(db.clone(), Settings::default()).await?);
        load(&db, &Population::new(options)).await?;
        let seconds = started.elapsed().as_secs_f64();
        println!("loaded in {seconds:.1} s");
        Some(seconds)
    };
    drop(db);

    let client = app(&target.url, options.pragmas.as_deref()).await?;
    let counter = client
        .rocket()
        .state::<HitCount>()
        .expect("HitCount is attached")
        .counter();
    let today = counter.now().date_naive();
    let admin = counter.admin();
    let (runs, warmups) = (options.runs, options.warmups);
    let load_before = load_average();
    let mut rows: Vec<Row> = Vec::new();
    let mut overview = Vec::new();
    // Each page's statements, to print.
    let mut listings: Vec<(String, Vec<String>)> = Vec::new();

    for days in [7, 30] {
        let period = Period::last_days(today, days)?;
        let report = timed(runs, warmups, async || {
            admin.period_report(period, RANKED).await.expect("period_report");
        })
        .await;
        let top = timed(runs, warmups, async || {
            admin
                .top_visitors(period, None, UNUSUAL)
                .await
                .expect("top_visitors");
        })
        .await;
        let reads = timed(runs, warmups, async || {
            admin.period_report(period, RANKED).await.expect("period_report");
            admin
                .top_visitors(period, None, UNUSUAL)
                .await
                .expect("top_visitors");
        })
        .await;
        let (read_statements, _) = logged(async {
            admin.period_report(period, RANKED).await.expect("period_report");
            admin
                .top_visitors(period, None, UNUSUAL)
                .await
                .expect("top_visitors");
        })
        .await;
        let uri = format!("{BASE}/?period={days}d");
        let page = timed(runs, warmups, async || {
            get(&client, &uri).await;
        })
        .await;
        let (page_statements, bytes) = logged(get(&client, &uri)).await;
        println!(
            "{days} days: {} hits, {} objects hit, the page {} KiB",
            admin.period_report(period, 1).await?.totals.hits,
            admin.period_report(period, 1).await?.objects,
            bytes / 1024
        );
        rows.push(Row::new(
            format!("overview reads, {days} days (core)"),
            reads,
            &read_statements,
        ));
        rows.push(Row::new(format!("  period_report, limit {RANKED}"), report, &[]));
        rows.push(Row::new(format!("  top_visitors, limit {UNUSUAL}"), top, &[]));
        rows.push(Row::new(
            format!("overview page, {days} days (HTTP)"),
            page,
            &page_statements,
        ));
        listings.push((format!("one overview page, {days} days"), page_statements.clone()));
        overview.push((days, page, page_statements));
    }

    // Whether the statements depend on how many objects a report ranks.
    let last_30 = Period::last_days(today, 30)?;
    let mut by_limit = Vec::new();
    for limit in [1, RANKED, 1000] {
        let (statements, _) = logged(async {
            admin.period_report(last_30, limit).await.expect("period_report");
        })
        .await;
        by_limit.push((limit, statements.len()));
    }

    for page in [1, 100] {
        let filter = HitFilter {
            page,
            per_page: PER_PAGE,
            ..HitFilter::default()
        };
        let core = timed(runs, warmups, async || {
            admin.list_hits(&filter).await.expect("list_hits");
        })
        .await;
        let (core_statements, _) = logged(async {
            admin.list_hits(&filter).await.expect("list_hits");
        })
        .await;
        let uri = format!("{BASE}/hits?page={page}");
        let http = timed(runs, warmups, async || {
            get(&client, &uri).await;
        })
        .await;
        let (http_statements, _) = logged(get(&client, &uri)).await;
        rows.push(Row::new(
            format!("hit log page {page} (core)"),
            core,
            &core_statements,
        ));
        rows.push(Row::new(
            format!("hit log page {page} (HTTP)"),
            http,
            &http_statements,
        ));
        listings.push((format!("the hit log's page {page}"), http_statements));
    }

    println!();
    for (page, statements) in &listings {
        println!("statements of {page} (time as sqlx logged it):");
        for statement in statements {
            println!("  {statement}");
        }
    }
    println!(
        "statements of period_report, 30 days, by objects ranked: {}",
        by_limit
            .iter()
            .map(|(limit, n)| format!("{limit}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    println!();
    println!(
        "== {backend}, {} objects, {} hits over {} days{}; {runs} runs after {warmups} warm-ups",
        options.objects,
        options.hits,
        options.days,
        load_seconds
            .map(|s| format!(", loaded in {s:.0} s"))
            .unwrap_or_default()
    );
    if let Some(pragmas) = &options.pragmas {
        println!("the app's SQLite pool with {pragmas}");
    }
    println!(
        "load average (1 min) before and after the measurements: {} and {}",
        load_before,
        load_average()
    );
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>11}",
        "", "min ms", "median ms", "p95 ms", "statements"
    );
    for row in &rows {
        println!(
            "{:<36} {:>9.1} {:>9.1} {:>9.1} {:>11}",
            row.name,
            row.stats.min,
            row.stats.median,
            row.stats.p95,
            row.statements.map(|n| n.to_string()).unwrap_or_default()
        );
    }
    let counts: Vec<usize> = by_limit.iter().map(|(_, n)| *n).collect();
    let fixed =
        counts.windows(2).all(|w| w[0] == w[1]) && overview.windows(2).all(|w| w[0].2.len() == w[1].2.len());
    for (days, page, statements) in &overview {
        let verdict = if page.median < AIM_MS && fixed {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "aim, overview {days} days: median {:.1} ms (under {AIM_MS:.0} ms), {} statements \
             whatever the objects shown: {verdict}",
            page.median,
            statements.len(),
        );
    }
    // The overview's reads run within `count_timeout`; the hit log's do not.
    let over_budget: Vec<&str> = rows
        .iter()
        .filter(|r| !r.name.starts_with("hit log") && r.stats.p95 > BUDGET_MS)
        .map(|r| r.name.trim())
        .collect();
    if !over_budget.is_empty() {
        println!(
            "over the default read budget (count_timeout, {BUDGET_MS:.0} ms) at p95: {}",
            over_budget.join("; ")
        );
    }
    Ok(())
}

/// The machine's load average over the last minute, as Linux tells it:
/// other work on the machine shows in the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// What the environment asks for.
struct Options {
    url: Option<String>,
    objects: i64,
    hits: u64,
    days: i64,
    runs: usize,
    warmups: usize,
    reuse: bool,
    keep: bool,
    /// PRAGMAs of the app's SQLite pool, `name=value,name=value`.
    pragmas: Option<String>,
}

impl Options {
    fn from_env() -> Fallible<Options> {
        fn number<T: std::str::FromStr>(name: &str, default: T) -> Fallible<T> {
            match std::env::var(name) {
                Ok(value) => value
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("{name} must be a number, got {value:?}").into()),
                Err(_) => Ok(default),
            }
        }
        let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v == "true");
        let options = Options {
            url: std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()),
            objects: number("BENCH_OBJECTS", 10_000)?,
            hits: number("BENCH_HITS", 1_000_000)?,
            days: number("BENCH_DAYS", 90)?,
            runs: number("BENCH_RUNS", 20)?,
            warmups: number("BENCH_WARMUPS", 2)?,
            reuse: flag("BENCH_REUSE"),
            keep: flag("BENCH_KEEP"),
            pragmas: std::env::var("BENCH_SQLITE_PRAGMAS")
                .ok()
                .filter(|p| !p.is_empty()),
        };
        if options.objects < 1 || options.hits < 1 || !(1..=3650).contains(&options.days) || options.runs < 1
        {
            return Err(
                "BENCH_OBJECTS, BENCH_HITS, BENCH_DAYS (up to 3650) and BENCH_RUNS must be 1 or more".into(),
            );
        }
        Ok(options)
    }
}

/// The database measured, and the temporary folder to remove at the end.
struct Target {
    url: String,
    remove: Option<std::path::PathBuf>,
}

impl Target {
    /// A fresh database: PostgreSQL's dropped and created again, an SQLite
    /// file removed (with its WAL); as it is with `BENCH_REUSE`.
    async fn prepare(options: &Options) -> Fallible<Target> {
        let url = match &options.url {
            Some(url) => url.clone(),
            None if options.reuse => return Err("BENCH_REUSE needs BENCH_DATABASE_URL".into()),
            None => {
                let dir =
                    std::env::temp_dir().join(format!("hitcount-bench-dashboard-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}", dir.join("dashboard.db").display());
                let remove = (!options.keep).then_some(dir);
                if remove.is_none() {
                    println!("keeping {url}");
                }
                return Ok(Target { url, remove });
            }
        };
        if options.reuse {
            return Ok(Target { url, remove: None });
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (base, query) = url
                .split_once('?')
                .map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
            let (server, name) = base
                .rsplit_once('/')
                .ok_or("no database name in BENCH_DATABASE_URL")?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("the database name must be letters, digits and _, got {name:?}").into());
            }
            let admin = format!(
                "{server}/postgres{}",
                query.map(|q| format!("?{q}")).unwrap_or_default()
            );
            let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut connection)
                .await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut connection)
                .await?;
            sqlx::Connection::close(connection).await?;
        } else {
            return Err("BENCH_DATABASE_URL must be sqlite://... or postgres://...".into());
        }
        Ok(Target { url, remove: None })
    }

    fn finish(self) {
        if let Some(dir) = self.remove {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// SplitMix64: a fixed stream of pseudo-random numbers, the same on
/// every run.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A number from 0 (included) to 1 (excluded).
fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Who visits what, and when.
struct Population {
    objects: i64,
    hits: u64,
    start: DateTime<Utc>,
    /// Milliseconds between two hits, on average.
    step: i64,
    /// Stored IPs, as `ip_storage = "hashed"` (the default) keeps them.
    ips: Vec<String>,
    agents: Vec<String>,
}

/// One hit row.
struct HitRow {
    object: i64,
    at: DateTime<Utc>,
    ip: usize,
    session: String,
    agent: usize,
    user_id: Option<String>,
}

impl Population {
    fn new(options: &Options) -> Population {
        let span = TimeDelta::days(options.days);
        let step = (span.num_milliseconds() / options.hits as i64).max(1);
        Population {
            objects: options.objects,
            hits: options.hits,
            start: Utc::now() - TimeDelta::milliseconds(step * options.hits as i64),
            step,
            ips: (0..IPS)
                .map(|n| format!("{:016x}{:016x}", mix(n ^ 0x1111), mix(n ^ 0x2222)))
                .collect(),
            agents: user_agents(),
        }
    }

    /// The object with `pk` (pks from 1).
    fn object(&self, pk: i64) -> (&'static str, String) {
        let products = self.objects / PRODUCT_SHARE;
        if pk > self.objects - products {
            ("shop.product", (pk - (self.objects - products)).to_string())
        } else {
            ("blog.post", pk.to_string())
        }
    }

    /// Hit number `i`, in time order. A few objects get most hits (a
    /// fifth go to the most read one, half to the top 200), spread over
    /// the pks; visitors come back, each with one IP and one user agent,
    /// some IPs and agents shared by many.
    fn hit(&self, i: u64) -> HitRow {
        let r = |salt: u64| unit(mix(i.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ salt));
        let rank = ((self.objects as f64) * r(1).powi(6)) as i64;
        // 7919 is prime: a permutation of the pks unless it divides their number.
        let spread = if self.objects % 7919 == 0 { 1 } else { 7919 };
        let object = 1 + (rank.min(self.objects - 1) * spread) % self.objects;
        let visitor = ((VISITORS as f64) * r(2).powi(2)) as u64;
        let key = mix(visitor ^ 0x5eed);
        let ip = ((self.ips.len() as f64) * unit(key).powi(3)) as usize;
        let agent = ((self.agents.len() as f64) * unit(mix(key)).powi(2)) as usize;
        let offset = self.step * i as i64 + (r(3) * self.step as f64) as i64;
        HitRow {
            object,
            at: self.start + TimeDelta::milliseconds(offset),
            ip,
            session: format!("{key:016x}{:016x}", mix(key ^ 1)),
            agent,
            user_id: visitor.is_multiple_of(20).then(|| (visitor / 20 + 1).to_string()),
        }
    }
}

/// 50 browsers' user agents.
fn user_agents() -> Vec<String> {
    let mut agents = Vec::new();
    for v in 118..=127 {
        agents.push(format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"));
    }
    for v in 120..=125 {
        agents.push(format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"));
        agents.push(format!("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36"));
    }
    for v in 118..=125 {
        agents.push(format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        ));
    }
    for v in 120..=124 {
        agents.push(format!(
            "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        ));
    }
    for (major, minor) in [
        (16, 5),
        (16, 6),
        (17, 0),
        (17, 1),
        (17, 2),
        (17, 3),
        (17, 4),
        (17, 5),
    ] {
        agents.push(format!("Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 Safari/604.1"));
    }
    for version in ["16.6", "17.0", "17.2", "17.3", "17.4"] {
        agents.push(format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{version} Safari/605.1.15"));
    }
    for v in 120..=121 {
        agents.push(format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0"));
    }
    agents
}

/// Prints how long `phase` took.
/// A phase that is one statement on `$connection`.
macro_rules! statement_phase {
    ($name:expr, $connection:ident, $sql:expr $(,)?) => {
        phase($name, async {
            sqlx::query($sql).execute(&mut *$connection).await?;
            Ok(())
        })
    };
}

async fn phase<T>(name: &str, work: impl Future<Output = Fallible<T>>) -> Fallible<T> {
    let started = Instant::now();
    let value = work.await?;
    println!("  {name}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(value)
}

/// Fills the tables: the objects, the hit rows, then the hourly and daily
/// buckets (grouped from the hit rows, views and bot hits added by
/// `DAY_VIEWS` and `DAY_BOTS`) and the totals (summed from the days), so
/// that every table agrees with the others. Rows go in in time order, as
/// a site writes them: a day's buckets lie together in the table, which
/// the period's reads depend on (grouped by object instead, they read
/// three times slower on SQLite).
async fn load(db: &Db, population: &Population) -> Fallible<()> {
    match db {
        Db::Sqlite(pool) => load_sqlite(pool, population).await,
        Db::Postgres(pool) => load_postgres(pool, population).await,
        _ => Err("an unknown backend".into()),
    }
}

async fn load_sqlite(pool: &sqlx::SqlitePool, population: &Population) -> Fallible<()> {
    use sqlx::Connection;
    let mut connection = pool.acquire().await?;
    for pragma in ["PRAGMA cache_size = -262144", "PRAGMA synchronous = OFF"] {
        sqlx::query(pragma).execute(&mut *connection).await?;
    }
    let now = Utc::now();
    phase("objects", async {
        let mut tx = connection.begin().await?;
        for first in (1..=population.objects).step_by(1000) {
            let last = (first + 999).min(population.objects);
            let rows = vec!["(?, ?, ?, ?, ?)"; (last - first + 1) as usize].join(", ");
            let sql = format!(
                "INSERT INTO hitcount_hit_count (id, kind, object_id, created_at, modified_at) VALUES {rows}"
            );
            let mut query = sqlx::query(&sql);
            for pk in first..=last {
                let (kind, id) = population.object(pk);
                query = query
                    .bind(pk)
                    .bind(kind)
                    .bind(id)
                    .bind(population.start)
                    .bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    })
    .await?;
    let insert = |rows: u64| {
        format!(
            "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) VALUES {}",
            vec!["(?, ?, ?, ?, ?, ?)"; rows as usize].join(", ")
        )
    };
    let full = insert(SQLITE_ROWS);
    let started = Instant::now();
    phase("hit rows", async {
        let mut from = 0;
        while from < population.hits {
            let to = (from + TRANSACTION_ROWS).min(population.hits);
            let mut tx = connection.begin().await?;
            let mut first = from;
            while first < to {
                let last = (first + SQLITE_ROWS).min(to);
                let rows: Vec<HitRow> = (first..last).map(|i| population.hit(i)).collect();
                let partial;
                let sql = if last - first == SQLITE_ROWS {
                    &full
                } else {
                    partial = insert(last - first);
                    &partial
                };
                let mut query = sqlx::query(sql);
                for row in &rows {
                    query = query
                        .bind(row.object)
                        .bind(row.at)
                        .bind(population.ips[row.ip].as_str())
                        .bind(row.session.as_str())
                        .bind(population.agents[row.agent].as_str())
                        .bind(row.user_id.as_deref());
                }
                query.execute(&mut *tx).await?;
                first = last;
            }
            tx.commit().await?;
            from = to;
        }
        Ok(())
    })
    .await?;
    println!(
        "  ({:.0} hit rows a second)",
        population.hits as f64 / started.elapsed().as_secs_f64()
    );
    statement_phase!(
        "hourly buckets",
        connection,
        "INSERT INTO hitcount_hourly (hit_count_id, start_at, hits) \
             SELECT hit_count_id, substr(created_at, 1, 13) || ':00:00+00:00', COUNT(*) \
             FROM hitcount_hit GROUP BY 1, 2 ORDER BY 2, 1",
    )
    .await?;
    statement_phase!("daily buckets", connection, &format!(
            "INSERT INTO hitcount_daily (hit_count_id, start_at, hits, views, bot_hits) \
             SELECT id, day, n, {DAY_VIEWS}, {DAY_BOTS} FROM ( \
               SELECT hit_count_id AS id, substr(start_at, 1, 10) || 'T00:00:00+00:00' AS day, SUM(hits) AS n \
               FROM hitcount_hourly GROUP BY 1, 2) AS days ORDER BY day, id"
        ))
    .await?;
    statement_phase!("totals", connection, TOTALS).await?;
    // No ANALYZE: the crate never runs it, so a site's database has no
    // statistics either.
    statement_phase!("checkpoint", connection, "PRAGMA wal_checkpoint(TRUNCATE)").await
}

async fn load_postgres(pool: &sqlx::PgPool, population: &Population) -> Fallible<()> {
    use sqlx::Connection;
    let mut connection = pool.acquire().await?;
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut *connection)
        .await?;
    let now = Utc::now();
    phase("objects", async {
        let (mut pks, mut kinds, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        for pk in 1..=population.objects {
            let (kind, id) = population.object(pk);
            pks.push(pk);
            kinds.push(kind);
            ids.push(id);
        }
        sqlx::query(
            "INSERT INTO hitcount_hit_count (id, kind, object_id, created_at, modified_at) \
             SELECT o.id, o.kind, o.object_id, $4, $5 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[]) \
             AS o(id, kind, object_id)",
        )
        .bind(pks)
        .bind(kinds)
        .bind(ids)
        .bind(population.start)
        .bind(now)
        .execute(&mut *connection)
        .await?;
        // The pks were given: the identity goes on after them.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('hitcount_hit_count', 'id'), \
                           (SELECT MAX(id) FROM hitcount_hit_count))",
        )
        .execute(&mut *connection)
        .await?;
        Ok(())
    })
    .await?;
    let started = Instant::now();
    phase("hit rows", async {
        let mut from = 0;
        while from < population.hits {
            let to = (from + TRANSACTION_ROWS).min(population.hits);
            let mut tx = connection.begin().await?;
            let mut first = from;
            while first < to {
                let last = (first + POSTGRES_ROWS).min(to);
                let rows: Vec<HitRow> = (first..last).map(|i| population.hit(i)).collect();
                sqlx::query(
                    "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TIMESTAMPTZ[], $3::TEXT[], $4::TEXT[], \
                                          $5::TEXT[], $6::TEXT[])",
                )
                .bind(rows.iter().map(|r| r.object).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| population.ips[r.ip].as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.session.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| population.agents[r.agent].as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.user_id.as_deref()).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
                first = last;
            }
            tx.commit().await?;
            from = to;
        }
        Ok(())
    })
    .await?;
    println!(
        "  ({:.0} hit rows a second)",
        population.hits as f64 / started.elapsed().as_secs_f64()
    );
    statement_phase!("hourly buckets", connection, 
            "INSERT INTO hitcount_hourly (hit_count_id, start_at, hits) \
             SELECT hit_count_id, date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', COUNT(*) \
             FROM hitcount_hit GROUP BY 1, 2 ORDER BY 2, 1",
        )
    .await?;
    statement_phase!("daily buckets", connection, &format!(
            "INSERT INTO hitcount_daily (hit_count_id, start_at, hits, views, bot_hits) \
             SELECT id, day, n, {DAY_VIEWS}, {DAY_BOTS} FROM ( \
               SELECT hit_count_id AS id, date_trunc('day', start_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, \
                      SUM(hits) AS n \
               FROM hitcount_hourly GROUP BY 1, 2) AS days ORDER BY day, id"
        ))
    .await?;
    statement_phase!("totals", connection, TOTALS).await?;
    // What autovacuum would do after such a load, done now so that it
    // does not run during the measurements.
    statement_phase!(
        "vacuum and analyze",
        connection,
        "VACUUM (ANALYZE) hitcount_hit_count, hitcount_hit, hitcount_hourly, hitcount_daily"
    )
    .await
}

/// A pool like rocket_db_pools' own, with sqlx's statement log left on
/// (rocket_db_pools turns it off), so that statements can be counted.
#[derive(Clone)]
struct LoggedPool(Db);

#[rocket::async_trait]
impl rocket_db_pools::Pool for LoggedPool {
    type Connection = ();
    type Error = rocket_hitcount::hitcount::Error;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let url: String = figment
            .extract_inner("url")
            .expect("the benchmark sets databases.bench.url");
        // `BENCH_SQLITE_PRAGMAS`: the app's pool with other settings,
        // such as `mmap_size=1073741824` (reads through memory-mapped I/O
        // rather than `pread`) or `temp_store=memory`.
        match figment.extract_inner::<String>("pragmas") {
            Ok(pragmas) if url.starts_with("sqlite:") => {
                let mut options = url
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()?
                    .create_if_missing(true);
                for pragma in pragmas.split(',') {
                    let (name, value) = pragma.split_once('=').unwrap_or((pragma, ""));
                    options = options.pragma(name.trim().to_owned(), value.trim().to_owned());
                }
                Ok(LoggedPool(Db::from(
                    sqlx::SqlitePool::connect_with(options).await?,
                )))
            }
            _ => Ok(LoggedPool(Db::connect(&url).await?)),
        }
    }

    async fn get(&self) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn close(&self) {}
}

impl From<LoggedPool> for Db {
    fn from(pool: LoggedPool) -> Db {
        pool.0
    }
}

#[derive(Database)]
#[database("bench")]
struct Bench(LoggedPool);

/// The site owner, always let in.
struct SiteOwner;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SiteOwner {
    type Error = ();

    async fn from_request(_: &'r Request<'_>) -> Outcome<SiteOwner, ()> {
        Outcome::Success(SiteOwner)
    }
}

/// The app's titles and links of every object, from memory.
struct Titles;

#[rocket::async_trait]
impl Labels for Titles {
    async fn labels(&self, _: &Request<'_>, objects: &[ObjectRef]) -> HashMap<ObjectRef, Label> {
        objects
            .iter()
            .map(|o| {
                let (title, path) = match o.kind() {
                    "blog.post" => ("Post", "post"),
                    _ => ("Product", "product"),
                };
                let label =
                    Label::new(format!("{title} number {}", o.id())).link(format!("/{path}/{}", o.id()));
                (o.clone(), label)
            })
            .collect()
    }
}

/// The app: the counter on `url` and its dashboard under [`BASE`].
async fn app(url: &str, pragmas: Option<&str>) -> Fallible<Client> {
    let mut figment = rocket::Config::figment().merge(("databases.bench.url", url));
    if let Some(pragmas) = pragmas {
        figment = figment.merge(("databases.bench.pragmas", pragmas));
    }
    let figment = figment
        .merge(("log_level", "off"))
        // Release builds need Rocket's key for private cookies; a fixed
        // one is fine for a benchmark, never for a site.
        .merge((
            "secret_key",
            "8f0c6d2b9a4e71f35c8d0b6a2e9f4c71d3b58a06e2c94f7b1a6d3e8c05b92f4a",
        ))
        .merge((
            "hitcount.secret_key",
            "benchmark secret key, 32 characters or more",
        ))
        // Slow reads are measured, not cut short at the default 500 ms
        // (the table flags those over it).
        .merge(("hitcount.count_timeout", "60s"));
    let rocket = rocket::custom(figment)
        .attach(Bench::init())
        .attach(HitCount::init::<Bench>())
        .attach(Dashboard::<SiteOwner>::new(BASE).labels(Titles));
    Ok(Client::untracked(rocket).await?)
}

/// Gets a dashboard page, read to its end; its size.
async fn get(client: &Client, uri: &str) -> usize {
    let response = client.get(uri.to_owned()).dispatch().await;
    let status = response.status();
    let body = response.into_string().await.unwrap_or_default();
    assert_eq!(status, Status::Ok, "{uri}: {body}");
    body.len()
}

/// The fastest, the median and the 95th percentile (nearest rank) of a
/// measurement, in milliseconds.
#[derive(Clone, Copy)]
struct Stats {
    min: f64,
    median: f64,
    p95: f64,
}

/// Runs `work` `warmups` times, then `runs` times timed.
async fn timed(runs: usize, warmups: usize, mut work: impl AsyncFnMut()) -> Stats {
    for _ in 0..warmups {
        work().await;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        work().await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    Stats {
        min: times[0],
        median: if n % 2 == 1 {
            times[n / 2]
        } else {
            (times[n / 2 - 1] + times[n / 2]) / 2.0
        },
        p95: times[(n * 95).div_ceil(100) - 1],
    }
}

/// Runs `work` with sqlx's statement log on: its value, and the
/// statements it made, each as "time  summary".
async fn logged<T>(work: impl Future<Output = T>) -> (Vec<String>, T) {
    // sqlx's SQLite worker logs a statement just after handing over its
    // last row, on its own thread: a statement of the runs before could
    // still be logged once the log is on, and one of `work` after it
    // returned. Waiting a moment on either side keeps each where it
    // belongs.
    const SETTLE: std::time::Duration = std::time::Duration::from_millis(200);
    tokio::time::sleep(SETTLE).await;
    STATEMENTS.take();
    log::set_max_level(log::LevelFilter::Trace);
    let value = work.await;
    tokio::time::sleep(SETTLE).await;
    log::set_max_level(log::LevelFilter::Off);
    let statements = STATEMENTS.take().iter().map(|s| describe(s)).collect();
    (statements, value)
}

/// A logged statement on one line: its time and rows as sqlx logged
/// them, and the start of its SQL.
fn describe(record: &str) -> String {
    let field = |name: &str, end: &str| record.split(name).nth(1).and_then(|rest| rest.split(end).next());
    let sql = field("db.statement=\"", "\" rows_")
        .filter(|sql| !sql.is_empty())
        .or_else(|| field("summary=\"", "\""))
        .unwrap_or(record)
        .replace("\\n", " ");
    let mut sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = sql.char_indices().nth(90) {
        sql.truncate(cut);
        sql.push('…');
    }
    let rows = field("rows_returned=", " ").unwrap_or("?");
    match field("elapsed_secs=", " ").and_then(|secs| secs.parse::<f64>().ok()) {
        Some(secs) => format!("{:>8.1} ms {rows:>6} rows  {sql}", secs * 1000.0),
        None => format!("{:>8}    {rows:>6} rows  {sql}", "?"),
    }
}

/// One line of the table.
struct Row {
    name: String,
    stats: Stats,
    statements: Option<usize>,
}

impl Row {
    /// A line; `statements` empty when not counted.
    fn new(name: String, stats: Stats, statements: &[String]) -> Row {
        Row {
            name,
            stats,
            statements: (!statements.is_empty()).then_some(statements.len()),
        }
    }
}
