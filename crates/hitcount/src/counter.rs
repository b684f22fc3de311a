//! The hit counter: counting one request, atomically.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::blacklist::BlacklistCache;
use crate::bots::BotCheck;
use crate::cache::ReadCache;
use crate::clock::{day_start, Clock};
use crate::error::{Error, Result};
use crate::group_commit::{CountingQueue, Job};
use crate::object::ObjectRef;
use crate::rules::{self, Reason, Tally};
use crate::salt::SaltCache;
use crate::settings::Settings;
use crate::store::{migrate, returned, Db};
use crate::visitor::Visitor;
use crate::write_buffer::{WriteBuffer, FLUSH_INTERVAL};

/// What counting one request did: django-hitcount's `{hit_counted,
/// hit_message}` plus the object's pk and its total after this request.
///
/// It serializes to the template context of django-hitcount's
/// `HitCountDetailView` with `count_hit = True`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// let post = hitcount::ObjectRef::new("blog.post", 1)?;
/// let result = counter.count_hit(&post, &hitcount::Visitor::new("session-1")?).await?;
/// let json = serde_json::to_value(&result).unwrap();
/// assert_eq!(json["hit_counted"], true);
/// assert_eq!(json["hit_message"], "Hit counted: session key");
/// assert_eq!(json["total_hits"], 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HitResult {
    /// The pk of the object's hit count row; `None` when the object has
    /// none yet and this request wrote nothing (blacklisted, excluded or
    /// ignored as a bot).
    pub pk: Option<i64>,
    /// The object's unique hits, this one included when it was counted.
    pub total_hits: i64,
    /// Whether this request was counted as a hit.
    pub hit_counted: bool,
    /// django-hitcount's message for the outcome.
    pub hit_message: &'static str,
    /// The outcome, for code that matches on it.
    #[serde(skip)]
    pub reason: Reason,
}

impl HitResult {
    pub(crate) fn new(pk: Option<i64>, total_hits: i64, reason: Reason) -> HitResult {
        HitResult {
            pk,
            total_hits,
            hit_counted: reason.counted(),
            hit_message: reason.message(),
            reason,
        }
    }
}

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
    inner: Arc<Inner>,
    /// A pool of the same database owned by another runtime, which this
    /// handle reads and registers objects through (see `blocking`).
    local: Option<Db>,
}

pub(crate) struct Inner {
    db: Db,
    /// Where this instance writes. On SQLite a pool of one connection: the
    /// writes queue for it here, not in SQLite's busy handler (which
    /// sleeps), and it commits without waiting for the disk
    /// (`synchronous = NORMAL`, safe in WAL mode). On PostgreSQL the pool
    /// itself, whose row locks queue the writes.
    writer: Db,
    /// Where the buffer is written once `writer` is closed (see
    /// `Db::last_writer`).
    last_writer: Db,
    /// Views of repeat visits not yet written.
    buffer: WriteBuffer,
    /// What this instance read or wrote lately (see `cache`).
    cache: Arc<ReadCache>,
    /// Requests that must be decided in the database (see `group_commit`).
    queue: CountingQueue,
    salt: SaltCache,
    settings: Settings,
    ip_key: Vec<u8>,
    bots: BotCheck,
    blacklists: BlacklistCache,
    clock: Clock,
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
            buffer: WriteBuffer::default(),
            cache,
            queue,
            salt: SaltCache::default(),
            settings,
            ip_key,
            bots: BotCheck::default(),
            blacklists,
            clock,
        });
        spawn_view_flusher(Arc::downgrade(&inner));
        if let Some(interval) = inner.settings.cleanup_interval {
            crate::cleanup::spawn_periodic_cleanup(Arc::downgrade(&inner), interval);
        }
        Ok(HitCounter::from_inner(inner))
    }

    /// The counter of a background task's upgraded reference.
    pub(crate) fn from_inner(inner: Arc<Inner>) -> HitCounter {
        HitCounter { inner, local: None }
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

    pub(crate) fn salt_cache(&self) -> &SaltCache {
        &self.inner.salt
    }

    /// Views of `pk` counted in memory and not yet written.
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

    /// The counter's current time.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub(crate) fn blacklist_cache(&self) -> &BlacklistCache {
        &self.inner.blacklists
    }

    /// The form of an IP that the hit log keeps under the current settings.
    pub(crate) fn stored_ip(&self, ip: std::net::IpAddr) -> Option<String> {
        self.inner.settings.ip_storage.store(ip, &self.inner.ip_key)
    }

    /// Counts one request of `visitor` for `object`, following
    /// django-hitcount's rules (see [`Reason`]).
    ///
    /// Exactly once: however many requests of one visitor for one object
    /// arrive at once, on however many app instances sharing the database,
    /// one is counted inside the active window. The total, the hit row and
    /// the hourly and daily buckets are written in one transaction.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, User, Visitor};
    ///
    /// let post = ObjectRef::new("blog.post", "hello-world")?;
    /// let alice = Visitor::new("s1")?.with_user(User::new("alice")?);
    /// assert_eq!(counter.count_hit(&post, &alice).await?.hit_message, "Hit counted: user authentication");
    /// // Same user, other session: still her active hit.
    /// let alice_elsewhere = Visitor::new("s2")?.with_user(User::new("alice")?);
    /// assert_eq!(
    ///     counter.count_hit(&post, &alice_elsewhere).await?.hit_message,
    ///     "Not counted: authenticated user has active hit"
    /// );
    /// # Ok(()) }
    /// ```
    pub async fn count_hit(&self, object: &ObjectRef, visitor: &Visitor) -> Result<HitResult> {
        let inner = &*self.inner;
        let settings = &inner.settings;
        let now = self.now();
        let mut stored_ip = StoredIp::new(self, visitor);
        let blacklists = inner.blacklists.current(&inner.db).await?;
        let screened_ip = if blacklists.lists_stored_ips() {
            stored_ip.get()
        } else {
            None
        };
        if let Some(reason) = rules::screen(settings, &inner.bots, &blacklists, visitor, screened_ip) {
            // Boxed, as the database path below.
            return Box::pin(self.record_refusal(object, reason, now)).await;
        }

        let limited_ip = stored_ip.limited(settings);
        // A repeat visit is refused on facts already known, with no write
        // (its view waits in memory): from the cache when this instance
        // saw the active hit lately, else from one read where the backend
        // wants it (`Dialect::peek_before_queue`). The per-IP limit needs a
        // fresh count, so it never trusts the cache.
        let active_since = now - settings.keep_hit_active.as_chrono();
        if limited_ip.is_none() {
            if let Some(pk) = inner.cache.active_hit(object, visitor, active_since) {
                if let Some(total) = inner.cache.total(pk) {
                    inner.buffer.add_view(pk, now);
                    return Ok(HitResult::new(
                        Some(pk),
                        total,
                        rules::decide(settings, visitor, None, true),
                    ));
                }
            }
        }
        // Boxed: a repeat visit answered above moves this future around,
        // and the database's statements would make it a kilobyte.
        Box::pin(self.count_in_database(object, visitor, stored_ip, now, active_since)).await
    }

    /// [`count_hit`](Self::count_hit) where the read cache does not know:
    /// one read where the backend wants it, then the writer's queue.
    async fn count_in_database(
        &self,
        object: &ObjectRef,
        visitor: &Visitor,
        mut stored_ip: StoredIp<'_>,
        now: DateTime<Utc>,
        active_since: DateTime<Utc>,
    ) -> Result<HitResult> {
        let inner = &*self.inner;
        let settings = &inner.settings;
        let limited_ip = stored_ip.limited(settings);
        let read_start = inner.cache.read_start();
        let (kind, id) = (object.kind(), object.id());
        dispatch!(&inner.db, pool, sql => {
            if sql.peek_before_queue {
                let peek: Option<(i64, i64, Option<DateTime<Utc>>)> = match visitor.user() {
                    Some(user) => sqlx::query_as(sql.peek_user).bind(kind).bind(id).bind(user.id()).bind(active_since),
                    None => sqlx::query_as(sql.peek_session)
                        .bind(kind)
                        .bind(id)
                        .bind(visitor.session_key())
                        .bind(active_since)
                        .bind(visitor.previous_session_key().unwrap_or(visitor.session_key())),
                }
                .fetch_optional(pool)
                .await?;
                if let Some((pk, hits, active)) = peek {
                    inner.cache.remember(read_start, object, pk, hits, active.map(|hit_at| (visitor, hit_at)));
                    if active.is_some() {
                        let ip_hits = match limited_ip {
                            Some(ip) => Some(ip_hits!(sql, pool, ip, active_since, pk, settings.hits_per_ip_scope)),
                            None => None,
                        };
                        inner.buffer.add_view(pk, now);
                        return Ok(HitResult::new(Some(pk), hits, rules::decide(settings, visitor, ip_hits, true)));
                    }
                }
            }
        });
        // Deciding needs the database's word under its locks: queue for
        // the writer (see `group_commit`).
        inner
            .queue
            .count(Job {
                object: object.clone(),
                visitor: visitor.clone(),
                stored_ip: stored_ip.into_value(),
                now,
            })
            .await
    }

    /// Counts a hit for the object with this pk: the AJAX endpoint's entry.
    /// An unknown pk is [`Error::UnknownObject`] and writes nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let pk = counter.register(&hitcount::ObjectRef::new("blog.post", 1)?).await?;
    /// let visitor = hitcount::Visitor::new("s")?;
    /// assert!(counter.count_hit_pk(pk, &visitor).await?.hit_counted);
    /// assert!(matches!(counter.count_hit_pk(999, &visitor).await, Err(hitcount::Error::UnknownObject(999))));
    /// # Ok(()) }
    /// ```
    pub async fn count_hit_pk(&self, pk: i64, visitor: &Visitor) -> Result<HitResult> {
        let (object, _) = self.object_by_pk(pk).await?.ok_or(Error::UnknownObject(pk))?;
        self.count_hit(&object, visitor).await
    }

    /// Gives the object a hit count row and returns its pk, without counting
    /// anything: for pages that hand the pk to the AJAX endpoint before the
    /// object's first hit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// let pk = counter.register(&post).await?;
    /// assert_eq!(counter.register(&post).await?, pk);
    /// assert_eq!(counter.counts(&post).await?.hits, 0);
    /// # Ok(()) }
    /// ```
    pub async fn register(&self, object: &ObjectRef) -> Result<i64> {
        Ok(dispatch!(self.writer(), pool, sql => register_object!(sql, pool, object, self.now())))
    }

    /// Writes what a refused request adds (a view, a bot hit, or nothing)
    /// and answers with the object's current total.
    async fn record_refusal(
        &self,
        object: &ObjectRef,
        reason: Reason,
        now: DateTime<Utc>,
    ) -> Result<HitResult> {
        let (kind, id) = (object.kind(), object.id());
        let tally = reason.tally(self.inner.settings.bots);
        if tally == Tally::Nothing {
            let row = self.counts(object).await?;
            return Ok(HitResult::new(row.pk, row.hits, reason));
        }
        // A view of a known object waits in memory; a first view, or a bot
        // hit, creates or updates the row at once.
        if tally == Tally::View {
            let known: Option<(i64, i64, i64, i64)> = dispatch!(self.db(), pool, sql => {
                sqlx::query_as(sql.find_object).bind(kind).bind(id).fetch_optional(pool).await?
            });
            if let Some((pk, hits, _, _)) = known {
                self.inner.buffer.add_view(pk, now);
                return Ok(HitResult::new(Some(pk), hits, reason));
            }
        }
        // The total and the day's bucket in one transaction.
        let row: Option<(i64, i64)> = dispatch!(self.writer(), pool, sql => {
            let (upsert, daily) = match tally {
                Tally::Bot => (sql.upsert_bot, sql.add_daily_bot_hits),
                _ => (sql.upsert_view, sql.add_daily_views),
            };
            let mut tx = pool.begin().await?;
            let (pk, hits): (i64, i64) =
                returned(sqlx::query_as(upsert).bind(kind).bind(id).bind(now).fetch_all(&mut *tx).await?)?;
            sqlx::query(daily).bind(pk).bind(day_start(now)).bind(1_i64).execute(&mut *tx).await?;
            tx.commit().await?;
            Some((pk, hits))
        });
        Ok(match row {
            Some((pk, hits)) => HitResult::new(Some(pk), hits, reason),
            None => HitResult::new(None, 0, reason),
        })
    }
}

/// Writes the view buffer every second while the counter lives.
fn spawn_view_flusher(counter: std::sync::Weak<Inner>) {
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

/// The hit log's form of a visitor's IP (a keyed hash by default), made
/// on first use: screening needs it only against blacklisted stored forms
/// and deciding only for the per-IP limit, so a refused repeat visit never
/// makes it; a hit to write does.
struct StoredIp<'a> {
    counter: &'a HitCounter,
    visitor: &'a Visitor,
    made: Option<Option<String>>,
}

impl<'a> StoredIp<'a> {
    fn new(counter: &'a HitCounter, visitor: &'a Visitor) -> Self {
        StoredIp {
            counter,
            visitor,
            made: None,
        }
    }

    fn get(&mut self) -> Option<&str> {
        let (counter, visitor) = (self.counter, self.visitor);
        self.made
            .get_or_insert_with(|| visitor.ip().and_then(|ip| counter.stored_ip(ip)))
            .as_deref()
    }

    /// The stored form when the per-IP limit needs it.
    fn limited(&mut self, settings: &Settings) -> Option<&str> {
        match settings.hits_per_ip_limit {
            0 => None,
            _ => self.get(),
        }
    }

    fn into_value(mut self) -> Option<String> {
        self.get();
        self.made.flatten()
    }
}

/// The IP hash key kept in the database, made on first use. Concurrent
/// first starts race on one conditional update; all read the winner's key.
async fn stored_ip_hash_key(db: &Db) -> Result<Vec<u8>> {
    let candidate = random_hex_32("the IP hash key (or set `ip_hash_key`)")?;
    let key: Option<String> = dispatch!(db, pool, sql => {
        sqlx::query(sql.init_ip_hash_key).bind(&candidate).execute(pool).await?;
        sqlx::query_scalar(sql.ip_hash_key).fetch_one(pool).await?
    });
    // A key that is not stored would hash differently on every start.
    key.map(String::into_bytes).ok_or_else(|| Error::Setting {
        key: "ip_hash_key",
        value: "(generated)".into(),
        reason: "the generated key could not be stored in hitcount_state; set ip_hash_key".into(),
    })
}

/// 32 random bytes from the operating system, as hex, for `what` (named
/// in the error).
pub(crate) fn random_hex_32(what: &'static str) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::NoRandomness {
        what,
        reason: e.to_string(),
    })?;
    Ok(hex::encode(bytes))
}
