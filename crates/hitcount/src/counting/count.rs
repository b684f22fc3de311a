//! Counting one request: screened in memory, answered from the read cache
//! when it is a repeat visit this instance saw, else from one read, else
//! decided and written by the counting queue.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::counter::HitCounter;
use super::group_commit::Job;
use super::HitResult;
use crate::error::{Error, Result};
use crate::rules::{self, List, Reason, Tally};
use crate::settings::Settings;
use crate::store::returned;
use crate::store::At;
use crate::values::{day_start, ObjectRef, Visitor};

impl HitCounter {
    /// Counts one request of `visitor` for `object`, following
    /// django-hitcount's rules (see [`Reason`]).
    ///
    /// Exactly once: however many requests of one visitor for one object
    /// arrive at once, on however many app instances sharing the database,
    /// one is counted inside the active window. The total, the hit row and
    /// the hourly and daily buckets are written in one transaction.
    ///
    /// Bounded by `count_timeout` (a blacklist check that falls due, once
    /// per `blacklist_refresh`, may add as much again, and so may the
    /// day's salt, once a day, with `private_hit_log`): a request the
    /// database does not decide in time, or whose database is away (a
    /// connection refused or lost), is answered
    /// [`Reason::Unavailable`] (not known to be counted), with the
    /// total this instance last knew (0 when it knows none).
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
        let blacklists = inner.blacklists.current(&inner.db, settings.count_timeout).await;
        let screened_ip = if blacklists.lists_stored_ips() {
            stored_ip.get()
        } else {
            None
        };
        if let Some(reason) = rules::screen(settings, &inner.bots, &blacklists, visitor, screened_ip) {
            // Each entry's refusals, for the dashboard, wait in memory.
            let entry = match reason {
                Reason::BlacklistedIp => visitor
                    .ip()
                    .and_then(|ip| blacklists.ip_entry(ip, screened_ip))
                    .map(|entry| (List::Ips, entry)),
                Reason::BlacklistedUserAgent => Some((List::UserAgents, visitor.user_agent())),
                _ => None,
            };
            if let Some((list, entry)) = entry {
                inner.buffer.add_refusal(list, entry);
            }
            // Boxed, as the database path below.
            // A refusal decided in memory stays that refusal when the
            // database is away: only its total (and its view) is missing.
            let recorded = self.record_refusal(object, reason, now);
            return Box::pin(self.counting_within_budget(object, reason, recorded)).await;
        }

        // The private hit log keys the visitor by object and day (see
        // `Settings::private_hit_log`); screening above saw the request.
        let private;
        let visitor = if settings.private_hit_log {
            match self.salt_at(now).await {
                Ok(salt) => {
                    private = visitor.private_for(object, &salt);
                    &private
                }
                Err(Error::Unavailable { .. }) => {
                    return Ok(self.last_known(inner.cache.pk(object), Reason::Unavailable))
                }
                Err(e) => return Err(e),
            }
        } else {
            visitor
        };
        let limited_ip = stored_ip.limited(settings);
        // A repeat visit this instance saw lately is refused from the
        // cache, with no query (its view waits in memory). The per-IP
        // limit needs a fresh count, so it never trusts the cache.
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
        // Deciding needs the database's word under its locks: queue for
        // the writer (see `group_commit`). Boxed: a repeat visit answered
        // above moves this future around, and the queue's would make it
        // larger.
        let counting = inner.queue.count(Job {
            object: object.clone(),
            visitor: visitor.clone(),
            stored_ip: stored_ip.into_value(),
            now,
        });
        Box::pin(self.counting_within_budget(object, Reason::Unavailable, counting)).await
    }

    /// Runs `work`, a path of [`count_hit`](Self::count_hit) that needs the
    /// database, within the budget (see `within_budget`): a database away
    /// answers `away` with the total this instance last knew.
    async fn counting_within_budget(
        &self,
        object: &ObjectRef,
        away: Reason,
        work: impl Future<Output = Result<HitResult>>,
    ) -> Result<HitResult> {
        match self.within_counting_budget(work).await {
            Err(Error::Unavailable { .. }) => Ok(self.last_known(self.inner.cache.pk(object), away)),
            answer => answer,
        }
    }
    /// An answer without the database: `reason`, with the object's total
    /// as this instance last knew it (0 when it knows none).
    fn last_known(&self, pk: Option<i64>, reason: Reason) -> HitResult {
        let total = pk.and_then(|pk| self.inner.cache.total(pk)).unwrap_or(0);
        HitResult::new(pk, total, reason)
    }

    /// Counts a hit for the object with this pk: the AJAX endpoint's entry.
    /// An unknown pk is [`Error::UnknownObject`] and writes nothing; a
    /// database away is [`Reason::Unavailable`], as for
    /// [`count_hit`](Self::count_hit). The object of a pk this instance
    /// counted or read within `counts_refresh` is taken from memory: an
    /// object another instance deleted in that time is counted as
    /// [`count_hit`](Self::count_hit) counts it, registered afresh.
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
        // An object this instance counted or read lately needs no read.
        if let Some(object) = self.inner.cache.object(pk) {
            return self.count_hit(&object, visitor).await;
        }
        let found = match self.object_by_pk(pk).await {
            Err(Error::Unavailable { .. }) => return Ok(self.last_known(Some(pk), Reason::Unavailable)),
            found => found?,
        };
        let (object, _) = found.ok_or(Error::UnknownObject(pk))?;
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
        // Nothing to write, or a view of a known object, which waits in
        // memory: the object's row as it is. A first view, or a bot hit,
        // creates or updates the row at once.
        if matches!(tally, Tally::Nothing | Tally::View) {
            let known: Option<(i64, i64, i64, i64)> = dispatch!(self.db(), pool, sql => {
                sqlx::query_as(sql.find_object).bind(kind).bind(id).fetch_optional(pool).await?
            });
            match known {
                Some((pk, hits, _, _)) => {
                    if tally == Tally::View {
                        self.inner.buffer.add_view(pk, now);
                    }
                    return Ok(HitResult::new(Some(pk), hits, reason));
                }
                None if tally == Tally::Nothing => return Ok(HitResult::new(None, 0, reason)),
                None => {}
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
                returned(sqlx::query_as(upsert).bind(kind).bind(id).bind(At(now)).fetch_all(&mut *tx).await?)?;
            sqlx::query(daily).bind(pk).bind(At(day_start(now))).bind(1_i64).execute(&mut *tx).await?;
            tx.commit().await?;
            Some((pk, hits))
        });
        Ok(match row {
            Some((pk, hits)) => HitResult::new(Some(pk), hits, reason),
            None => HitResult::new(None, 0, reason),
        })
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
