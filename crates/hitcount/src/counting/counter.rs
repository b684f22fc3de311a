//! The hit counter: the state one app instance shares between its
//! requests (the database, the caches, the counting queue, the settings),
//! how it is opened, and the tasks that run while it lives.

use std::future::Future;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};

use super::breaker::Breaker;
use super::cache::ReadCache;
use super::group_commit::CountingQueue;
use super::views::{ViewBuffer, FLUSH_INTERVAL};
use crate::error::{Error, Result};
use crate::retention::{Cleanup, SaltCache};
use crate::rules::{BlacklistCache, BotCheck};
use crate::settings::Settings;
use crate::store::{migrate, random_key, Db};
use crate::values::{Clock, Window};

/// Counts hits and reads counts, on SQLite or PostgreSQL.
///
/// Open it once at start-up (it runs the migrations, loads the blacklists
/// and the IP hash key) and share it: clones are cheap handles to the same
/// counter.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// use hitcount::{Db, HitCounter, ObjectRef, Settings, Visitor};
///
/// let db = Db::connect("sqlite::memory:").await?;
/// let counter = HitCounter::open(db, Settings::default()).await?;
///
/// let post = ObjectRef::new("blog.post", 1)?;
/// let visitor = Visitor::new("session-key")?.with_ip("192.0.2.1".parse().unwrap());
/// assert!(counter.count_hit(&post, &visitor).await?.hit_counted);
/// let again = counter.count_hit(&post, &visitor).await?;
/// assert_eq!(again.hit_message, "Not counted: session key has active hit");
/// assert_eq!(counter.counts(&post).await?.hits, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HitCounter {
    pub(super) inner: Arc<Inner>,
    /// A pool of the same database owned by another runtime, which this
    /// handle reads and registers objects through (see `blocking`).
    local: Option<Db>,
}

pub(super) struct Inner {
    pub(super) db: Db,
    /// Where this instance writes. On SQLite a pool of one connection: the
    /// writes queue for it here, not in SQLite's busy handler (which
    /// sleeps), and it commits without waiting for the disk
    /// (`synchronous = NORMAL`, safe in WAL mode). On PostgreSQL the pool
    /// itself, whose row locks queue the writes.
    pub(super) writer: Db,
    /// Where the buffer is written once `writer` is closed (see
    /// `Db::last_writer`).
    pub(super) last_writer: Db,
    /// Views of repeat visits not yet written.
    pub(super) buffer: ViewBuffer,
    /// What this instance read or wrote lately (see `cache`).
    pub(super) cache: Arc<ReadCache>,
    /// Requests that must be decided in the database (see `group_commit`).
    pub(super) queue: CountingQueue,
    pub(super) salt: SaltCache,
    pub(super) settings: Settings,
    pub(super) ip_key: Vec<u8>,
    pub(super) bots: BotCheck,
    pub(super) blacklists: BlacklistCache,
    pub(super) clock: Clock,
    /// Whether the database is away lately for counting, which writes,
    /// and for reads (see `breaker`): kept apart, since a database can
    /// answer one and not the other (SQLite locked by another writer
    /// still serves reads).
    pub(super) counting_breaker: Breaker,
    pub(super) reading_breaker: Breaker,
}

impl Inner {
    /// Where the buffer is written: the writer, unless the app closed it
    /// at shutdown.
    fn flush_writer(&self) -> &Db {
        if self.writer.is_closed() {
            &self.last_writer
        } else {
            &self.writer
        }
    }

    /// Writes what the buffer holds.
    async fn flush(&self) -> Result<()> {
        self.buffer.flush(self.flush_writer()).await
    }
}

impl HitCounter {
    /// Validates the settings, runs the migrations, and loads the blacklists
    /// and the IP hash key. Any number of app instances may open counters
    /// on one database: each hit is counted once among them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use hitcount::{Db, HitCounter, Settings, Window};
    ///
    /// let mut settings = Settings::default();
    /// settings.keep_hit_in_database = Window::days(1);
    /// let db = Db::connect("sqlite::memory:").await.unwrap();
    /// let err = HitCounter::open(db, settings).await.err().unwrap();
    /// assert!(err.to_string().contains("keep_hit_in_database"));
    /// # }
    /// ```
    pub async fn open(db: impl Into<Db>, settings: Settings) -> Result<HitCounter> {
        HitCounter::open_with_clock(db, settings, Clock::system()).await
    }

    /// [`HitCounter::open`] with another source of the time: for tests,
    /// simulations and imports that must count hits "in the past".
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// use chrono::{TimeZone, Utc};
    /// use hitcount::{Clock, Db, HitCounter, Settings};
    ///
    /// let then = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    /// let db = Db::connect("sqlite::memory:").await?;
    /// let counter = HitCounter::open_with_clock(db, Settings::default(), Clock::new(move || then)).await?;
    /// # let _ = counter;
    /// # Ok(()) }
    /// ```
    pub async fn open_with_clock(db: impl Into<Db>, settings: Settings, clock: Clock) -> Result<HitCounter> {
        let db = db.into();
        settings.validate()?;
        migrate::run(&db).await?;
        let ip_key = match &settings.ip_hash_key {
            Some(key) => key.as_bytes().to_vec(),
            None => stored_ip_hash_key(&db).await?,
        };
        let blacklists = BlacklistCache::load(&db, settings.blacklist_refresh.as_duration()).await?;
        let writer = db.writer(settings.sqlite_wal, settings.fast_commits).await?;
        let cache = Arc::new(ReadCache::new(settings.counts_refresh.as_duration()));
        let queue = CountingQueue::start(writer.clone(), settings.clone(), cache.clone());
        let inner = Arc::new(Inner {
            db,
            last_writer: writer.last_writer(),
            writer,
            buffer: ViewBuffer::default(),
            cache,
            queue,
            salt: SaltCache::default(),
            settings,
            ip_key,
            bots: BotCheck::default(),
            blacklists,
            clock,
            counting_breaker: Breaker::default(),
            reading_breaker: Breaker::default(),
        });
        spawn_view_flusher(Arc::downgrade(&inner));
        if let Some(interval) = inner.settings.cleanup_interval {
            spawn_periodic_cleanup(Arc::downgrade(&inner), interval);
        }
        Ok(HitCounter { inner, local: None })
    }

    /// Writes the views of repeat visits that are still in memory (they are
    /// written every second anyway). Call it before shutting down; the
    /// Rocket fairing does as shutdown begins.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// counter.flush_views().await?;
    /// # Ok(()) }
    /// ```
    pub async fn flush_views(&self) -> Result<()> {
        self.flush_buffer().await
    }

    /// Writes what the buffer holds, to the end (see [`to_the_end`]).
    async fn flush_buffer(&self) -> Result<()> {
        let inner = self.inner.clone();
        to_the_end(async move { inner.flush().await }).await
    }

    /// Where this instance writes (see `Inner::writer`).
    pub(crate) fn writer(&self) -> &Db {
        self.local.as_ref().unwrap_or(&self.inner.writer)
    }

    /// This counter, reading and registering through `pool` (a pool of the
    /// same database): everything else (settings, caches, pending views)
    /// stays shared.
    pub(crate) fn through(&self, pool: Db) -> HitCounter {
        HitCounter {
            inner: self.inner.clone(),
            local: Some(pool),
        }
    }

    pub(crate) fn read_cache(&self) -> &ReadCache {
        &self.inner.cache
    }

    /// A cleanup through this counter's writer, under its settings and
    /// clock.
    pub(crate) fn cleaner(&self) -> Cleanup<'_> {
        Cleanup {
            writer: self.writer(),
            settings: &self.inner.settings,
            clock: &self.inner.clock,
        }
    }

    /// The salt of the current UTC day: 32 random bytes (as 64 hex
    /// characters), the same on every instance sharing the database. Salts
    /// older than yesterday are deleted when a new day's salt is made.
    /// The keys of cookieless visitors are made with it, and so, with
    /// `private_hit_log`, is what the hit log keeps of each session key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let salt = counter.daily_salt().await?;
    /// assert_eq!(salt.len(), 64);
    /// assert_eq!(counter.daily_salt().await?, salt);
    /// # Ok(()) }
    /// ```
    pub async fn daily_salt(&self) -> Result<Vec<u8>> {
        self.salt_at(self.now()).await
    }

    /// The salt of `now`'s UTC day (see [`daily_salt`](Self::daily_salt)).
    pub(crate) async fn salt_at(&self, now: DateTime<Utc>) -> Result<Vec<u8>> {
        match self.inner.salt.cached(now) {
            Some(salt) => Ok(salt),
            // Boxed: every cookieless request awaits this future, and the
            // database statements would make it kilobytes to move around.
            None => Box::pin(self.within_counting_budget(self.inner.salt.store(self.writer(), now))).await,
        }
    }

    /// Runs `read`, a read a page makes, within `count_timeout`, unless
    /// the counter is resting from an outage of reads (see `breaker`): a
    /// database away (no answer in time, no connection) is
    /// [`Error::Unavailable`], and starts or lengthens a rest; an answer
    /// ends one.
    pub(crate) async fn within_budget<T>(&self, read: impl Future<Output = Result<T>>) -> Result<T> {
        budgeted(
            &self.inner.reading_breaker,
            self.inner.settings.count_timeout,
            read,
        )
        .await
    }

    /// [`within_budget`](Self::within_budget) for counting, which writes.
    pub(crate) async fn within_counting_budget<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        budgeted(
            &self.inner.counting_breaker,
            self.inner.settings.count_timeout,
            work,
        )
        .await
    }
}

/// Runs `work` within `budget` unless `breaker` rests (see `within_budget`).
async fn budgeted<T>(
    breaker: &Breaker,
    budget: std::time::Duration,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    if !breaker.allows() {
        return Err(Error::Unavailable {
            reason: "it failed lately; the counter tries again shortly".to_owned(),
        });
    }
    match tokio::time::timeout(budget, work).await {
        Ok(Ok(value)) => {
            breaker.succeeded();
            Ok(value)
        }
        Ok(Err(error)) if error.is_outage() => {
            breaker.failed(&error);
            Err(match error {
                // The counting queue's own word for it.
                Error::Unavailable { .. } => error,
                other => Error::Unavailable {
                    reason: other.to_string(),
                },
            })
        }
        Ok(Err(error)) => Err(error),
        Err(_) => {
            let reason = format!(
                "no answer within count_timeout ({})",
                humantime::format_duration(budget)
            );
            breaker.failed(&reason);
            Err(Error::Unavailable { reason })
        }
    }
}

impl HitCounter {
    /// Requests refused by blacklist entry `entry` this instance has not
    /// written yet.
    pub(crate) fn pending_refusals(&self, list: crate::rules::List, entry: &str) -> i64 {
        self.inner.buffer.pending_refusals(list, entry)
    }

    /// Views of `pk` this instance has not written yet.
    pub(crate) fn pending_views(&self, pk: i64) -> i64 {
        self.inner.buffer.pending(pk)
    }

    /// After changes that deleted hits or objects or lowered totals: the
    /// read cache forgets.
    pub(crate) fn changed_counts(&self) {
        self.inner.cache.clear();
    }

    /// Hold while reading totals, so pending views are added exactly once.
    /// A handle reading for another runtime (see `blocking`) does not wait
    /// for a flush in progress: the flush may need the very runtime its
    /// caller blocks, so its views may be missing from that one answer.
    pub(crate) async fn reading_views(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        match self.local {
            None => Some(self.inner.buffer.reading().await),
            Some(_) => self.inner.buffer.try_reading(),
        }
    }

    /// The settings in force.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert_eq!(counter.settings().keep_hit_active, hitcount::Window::days(7));
    /// # Ok(()) }
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The database the counter writes to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert_eq!(counter.db().backend(), "SQLite");
    /// # Ok(()) }
    /// ```
    pub fn db(&self) -> &Db {
        self.local.as_ref().unwrap_or(&self.inner.db)
    }

    /// The counter's current time: its [`Clock`]'s, the system's unless
    /// it was opened with [`HitCounter::open_with_clock`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// use chrono::{TimeZone, Utc};
    /// use hitcount::{Clock, Db, HitCounter, Settings};
    ///
    /// let then = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    /// let db = Db::connect("sqlite::memory:").await?;
    /// let counter = HitCounter::open_with_clock(db, Settings::default(), Clock::new(move || then)).await?;
    /// assert_eq!(counter.now(), then);
    /// # Ok(()) }
    /// ```
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub(crate) fn blacklist_cache(&self) -> &BlacklistCache {
        &self.inner.blacklists
    }

    /// A private hit log's key of `parts` under the counter's lasting
    /// secret (`ip_hash_key`), for rows that no day's salt covers.
    pub(crate) fn private_key(&self, parts: &[&str]) -> String {
        crate::values::private_key(&self.inner.ip_key, parts)
    }

    /// The form of an IP that the hit log keeps under the current settings.
    pub(crate) fn stored_ip(&self, ip: std::net::IpAddr) -> Option<String> {
        self.inner.settings.ip_storage.store(ip, &self.inner.ip_key)
    }
}

/// Writes the view buffer every second while the counter lives.
fn spawn_view_flusher(counter: Weak<Inner>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = counter.upgrade() else { break };
            // A failed flush keeps its views pending for the next tick.
            let _ = inner.flush().await;
        }
    });
}

/// Runs a cleanup every `interval` while the counter lives
/// (`cleanup_interval`), unless another instance holds the cleanup lease.
fn spawn_periodic_cleanup(counter: Weak<Inner>, interval: Window) {
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(interval.as_chrono().num_seconds().max(1) as u64);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = counter.upgrade() else { break };
            let cleanup = Cleanup {
                writer: &inner.writer,
                settings: &inner.settings,
                clock: &inner.clock,
            };
            // A failed run (the database away, say) is tried again next time.
            let _ = cleanup.alone().await;
        }
    });
}

/// Runs `work` in a task of its own and waits for it: a caller that stops
/// waiting (a timeout, a dropped future) cannot cut a flush between its
/// write and taking what it wrote out of the buffer, which would write
/// views twice.
async fn to_the_end(work: impl std::future::Future<Output = Result<()>> + Send + 'static) -> Result<()> {
    match tokio::spawn(work).await {
        Ok(done) => done,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // The runtime is shutting down.
            Err(_) => Err(Error::Stopped),
        },
    }
}

/// The IP hash key kept in the database, made on first use. Concurrent
/// first starts race on one conditional update; all read the winner's key.
async fn stored_ip_hash_key(db: &Db) -> Result<Vec<u8>> {
    // Read first: a database that has its key is only read (a counter
    // opened on a read replica writes nothing).
    let key: Option<String> = dispatch!(db, pool, sql => {
        match sqlx::query_scalar::<_, Option<String>>(sql.ip_hash_key).fetch_one(pool).await? {
            Some(key) => Some(key),
            None => {
                // Instances starting at once race to store theirs: the
                // first one's stays.
                let candidate = random_key("the IP hash key (or set `ip_hash_key`)")?;
                let mut tx = pool.begin().await?;
                if let Some(isolation) = sql.read_committed {
                    sqlx::query(isolation).execute(&mut *tx).await?;
                }
                sqlx::query(sql.init_ip_hash_key).bind(&candidate).execute(&mut *tx).await?;
                let key = sqlx::query_scalar(sql.ip_hash_key).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                key
            }
        }
    });
    // A key that is not stored would hash differently on every start.
    key.map(String::into_bytes).ok_or_else(|| Error::Setting {
        key: "ip_hash_key",
        value: "(generated)".into(),
        reason: "the generated key could not be stored in hitcount_state; set ip_hash_key".into(),
    })
}
