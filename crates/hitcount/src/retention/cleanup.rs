//! Cleanup: pruning old rows of the hit log in bounded batches, then
//! hourly buckets past their retention, keeping totals and daily buckets
//! (django-hitcount's `hitcount_cleanup`, without its single giant
//! DELETE).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::Connection as _;

use super::lease;
use super::salt::forget_old_salts;
use crate::error::Result;
use crate::settings::{check_batch_size, check_retention, Settings};
use crate::store::{At, Db};
use crate::values::{hour_start, Clock, Window};

/// How to run a cleanup. [`CleanupOptions::from`] a counter's settings
/// gives `keep_hit_in_database` and `cleanup_batch_size`.
///
/// ```
/// let options = hitcount::CleanupOptions::from(&hitcount::Settings::default());
/// assert_eq!((options.keep, options.batch_size), (hitcount::Window::days(30), 1000));
/// // Paced as the backend suits, unless told (here: full speed).
/// assert_eq!((options.batch_time, options.pause), (None, None));
/// let mut full_speed = options.clone();
/// full_speed.batch_time = Some(std::time::Duration::ZERO);
/// full_speed.pause = Some(std::time::Duration::ZERO);
/// # let _ = full_speed;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanupOptions {
    /// Hit rows older than this are removed.
    pub keep: Window,
    /// Rows per DELETE statement at the most: each batch is its own short
    /// transaction, so the site keeps counting while cleanup runs.
    pub batch_size: u32,
    /// Only count what would be removed.
    pub dry_run: bool,
    /// Stop after this many batches (the rest is left for the next run).
    pub max_batches: Option<u64>,
    /// How long a batch should take: each batch after the first is sized
    /// from the one before to take about this long (at most half or twice
    /// the one before, between 1 row and `batch_size`); zero: every batch
    /// is `batch_size` rows. `None`: the backend's (5 ms on SQLite, whose
    /// single write lock every batch holds while the site's counting
    /// waits; zero on PostgreSQL, where old rows and new hits never lock
    /// each other).
    pub batch_time: Option<Duration>,
    /// A pause after each batch, so that the site's counting gets the
    /// database between batches. `None`: the backend's (10 ms on SQLite,
    /// none on PostgreSQL).
    pub pause: Option<Duration>,
}

impl From<&Settings> for CleanupOptions {
    fn from(settings: &Settings) -> Self {
        CleanupOptions {
            keep: settings.keep_hit_in_database,
            batch_size: settings.cleanup_batch_size,
            dry_run: false,
            max_batches: None,
            batch_time: None,
            pause: None,
        }
    }
}

/// What a cleanup did.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// let report = counter.admin().cleanup().await?;
/// assert_eq!(report.message(), "Successfully removed 0 Hits");
/// assert!(report.complete);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CleanupReport {
    /// Rows removed (or, in a dry run, that would be).
    pub removed: u64,
    /// DELETE statements of hit rows run.
    pub statements: u64,
    /// Rows created before this time were removed.
    pub cutoff: DateTime<Utc>,
    /// Whether every expired row is gone (false after `max_batches`).
    pub complete: bool,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Hourly buckets removed: those older than
    /// [`Settings::hourly_retention`], or than `keep` when that is longer,
    /// once every expired hit row is gone (none in a dry run). Daily buckets are never removed.
    pub hourly_buckets_removed: u64,
}

impl CleanupReport {
    /// django-hitcount's closing line: `Successfully removed N Hits`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.admin().cleanup().await?.message().starts_with("Successfully removed"));
    /// # Ok(()) }
    /// ```
    pub fn message(&self) -> String {
        if self.dry_run {
            format!("Would remove {} Hits", self.removed)
        } else {
            format!("Successfully removed {} Hits", self.removed)
        }
    }
}

/// Where and when a cleanup runs: the counter's writer, its settings and
/// its clock.
pub(crate) struct Cleanup<'a> {
    pub writer: &'a Db,
    pub settings: &'a Settings,
    pub clock: &'a Clock,
}

impl Cleanup<'_> {
    /// Removes what `options` says, calling `progress` with the running
    /// total after each batch (see `Admin::cleanup_with`).
    pub(crate) async fn run(
        &self,
        options: &CleanupOptions,
        progress: impl FnMut(u64),
    ) -> Result<CleanupReport> {
        self.run_from(options, &mut Cursor::default(), progress).await
    }

    /// [`run`](Cleanup::run), going on from `cursor`
    /// and leaving it where the next run should go on.
    async fn run_from(
        &self,
        options: &CleanupOptions,
        cursor: &mut Cursor,
        mut progress: impl FnMut(u64),
    ) -> Result<CleanupReport> {
        check_retention(options.keep, self.settings.keep_hit_active)?;
        check_batch_size(options.batch_size)?;
        let cutoff = self.clock.now() - options.keep.as_chrono();
        let mut report = CleanupReport {
            removed: 0,
            statements: 0,
            cutoff,
            complete: true,
            dry_run: options.dry_run,
            hourly_buckets_removed: 0,
        };
        if !options.dry_run {
            // Cookieless keys of past days: their salts go with the rest.
            forget_old_salts(self.writer, self.clock.now()).await?;
        }
        dispatch!(self.writer, pool, sql => {
            if options.dry_run {
                let expired: i64 = sqlx::query_scalar(sql.count_expired).bind(At(cutoff)).fetch_one(pool).await?;
                report.removed = expired as u64;
                return Ok(report);
            }
            let batch_time = options.batch_time.unwrap_or(sql.cleanup_pacing.batch_time);
            let pause = options.pause.unwrap_or(sql.cleanup_pacing.pause);
            // Paced batches start small and grow to their time: a first
            // batch of `batch_size` could hold SQLite's lock for tens of ms.
            let mut size = match cursor.size {
                Some(size) => size.min(options.batch_size),
                None if batch_time.is_zero() => options.batch_size,
                None => options.batch_size.min(FIRST_PACED_BATCH),
            };
            let mut from = cursor.from.unwrap_or_else(earliest);
            // Where batches are transactions of the dialect's own
            // statements, a connection of this run's own: one dropped
            // mid-batch (the run cancelled) closes, rolling back, instead
            // of going back to the pool inside the transaction.
            let mut own = match sql.cleanup_pacing.begin {
                Some(begin) if options.max_batches != Some(0) => Some((begin, pool.acquire().await?.detach())),
                _ => None,
            };
            loop {
                if options.max_batches.is_some_and(|max| report.statements >= max) {
                    let left: Option<i64> = sqlx::query_scalar(sql.count_expired).bind(At(cutoff)).fetch_optional(pool).await?;
                    report.complete = left.unwrap_or(0) == 0;
                    break;
                }
                if report.statements > 0 && !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                let delete = sqlx::query_scalar::<_, DateTime<Utc>>(sql.cleanup_batch)
                    .bind(At(from))
                    .bind(At(cutoff))
                    .bind(i64::from(size));
                let (removed, took) = match own.as_mut() {
                    Some((begin, conn)) => {
                        sqlx::query(begin).execute(&mut *conn).await?;
                        // Timed from here: the lock is taken.
                        let started = Instant::now();
                        let batch = async {
                            let removed = delete.fetch_all(&mut *conn).await?;
                            sqlx::query(sql.cleanup_pacing.commit).execute(&mut *conn).await?;
                            Ok::<_, sqlx::Error>(removed)
                        }
                        .await;
                        if batch.is_err() {
                            let _ = sqlx::Executor::execute(&mut *conn, sql.rollback).await;
                        }
                        (batch?, started.elapsed())
                    }
                    None => {
                        let started = Instant::now();
                        (delete.fetch_all(pool).await?, started.elapsed())
                    }
                };
                // The next batch starts at the latest time this one removed
                // (rows of that very time may be left).
                from = removed.iter().max().copied().unwrap_or(from);
                let removed = removed.len() as u64;
                report.statements += 1;
                report.removed += removed;
                progress(report.removed);
                if removed < u64::from(size) {
                    // A short batch is the end, unless another deleter
                    // (a run cancelled while its statement still runs on
                    // the server, a second cleanup) took rows from under
                    // it: then look again from the oldest row. Each look
                    // again follows a batch that removed rows, so it ends.
                    let left: i64 = sqlx::query_scalar(sql.count_expired).bind(At(cutoff)).fetch_one(pool).await?;
                    if left == 0 || removed == 0 {
                        report.complete = left == 0;
                        break;
                    }
                    from = earliest();
                }
                size = next_batch_size(size, took, batch_time, options.batch_size);
            }
            if let Some((_, conn)) = own {
                let _ = conn.close().await;
            }
            *cursor = Cursor { from: Some(from), size: Some(size) };
            // Once the hit rows are done, the hourly buckets past their
            // retention (never sooner than the hit rows this run keeps):
            // the oldest hour's buckets per statement, one row per object
            // counted in that hour, with the batches' pause between.
            if report.complete {
                let retention = self.settings.hourly_retention().max(options.keep);
                let hourly_cutoff = hour_start(self.clock.now() - retention.as_chrono());
                loop {
                    let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(sql.oldest_hourly).fetch_one(pool).await?;
                    let Some(from) = oldest.filter(|oldest| *oldest < hourly_cutoff) else { break };
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    let until = (hour_start(from) + TimeDelta::hours(1)).min(hourly_cutoff);
                    let removed = sqlx::query(sql.delete_hourly)
                        .bind(At(from))
                        .bind(At(until))
                        .execute(pool)
                        .await?
                        .rows_affected();
                    if removed == 0 {
                        // Nothing where the oldest one was (another
                        // cleanup took it): the next run goes on.
                        break;
                    }
                    report.hourly_buckets_removed += removed;
                }
            }
            Ok(report)
        })
    }
}

/// Where a cleanup goes on from, kept by [`Cleanup::alone`]
/// across its runs of a few hundred batches each: the time the next batch
/// starts at, and its size (`None`: a first batch).
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    from: Option<DateTime<Utc>>,
    size: Option<u32>,
}

/// The first batch of a paced cleanup, in rows (at most `batch_size`).
const FIRST_PACED_BATCH: u32 = 100;

/// A time before any hit: where the first batch starts. (1000-01-01: the
/// earliest MariaDB's DATETIME holds; as SQLite's text it sorts before
/// every later time.)
fn earliest() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1000, 1, 1)
        .expect("a date")
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// The size of the batch after one of `size` rows that took `took`: scaled
/// to take about `target`, but at most twice or half as large, so that one
/// batch slowed by something else (a checkpoint, a busy core) does not
/// shrink the ones after it to a few rows; between 1 and `max`. A zero
/// `target` keeps batches of `max`.
fn next_batch_size(size: u32, took: Duration, target: Duration, max: u32) -> u32 {
    if target.is_zero() {
        return max;
    }
    let scaled = f64::from(size) * target.as_secs_f64() / took.as_secs_f64().max(1e-6);
    let ceiling = size.saturating_mul(2).min(max).max(1);
    (scaled.round() as u32).clamp((size / 2).clamp(1, ceiling), ceiling)
}

/// How long a background cleanup holds the lease before renewing it: an
/// instance that dies mid-cleanup blocks the others at most this long.
const LEASE: TimeDelta = TimeDelta::minutes(10);

/// Batches between renewals of the lease.
const BATCHES_PER_LEASE: u64 = 200;

impl Cleanup<'_> {
    /// [`run`](Cleanup::run) with the settings' options, unless another
    /// instance holds the lease: then `None` (see `Admin::cleanup_alone`).
    pub(crate) async fn alone(&self) -> Result<Option<CleanupReport>> {
        let mut until = self.clock.now() + LEASE;
        if !lease::take(self.writer, until, self.clock.now()).await? {
            return Ok(None);
        }
        let mut options = CleanupOptions::from(self.settings);
        options.max_batches = Some(BATCHES_PER_LEASE);
        let mut total: Option<CleanupReport> = None;
        let mut cursor = Cursor::default();
        let outcome = loop {
            let report = match self.run_from(&options, &mut cursor, |_| {}).await {
                Ok(report) => report,
                Err(e) => break Err(e),
            };
            let complete = report.complete;
            total = Some(match total {
                None => report,
                Some(mut sum) => {
                    sum.removed += report.removed;
                    sum.statements += report.statements;
                    sum.hourly_buckets_removed += report.hourly_buckets_removed;
                    sum.complete = complete;
                    sum
                }
            });
            if complete {
                break Ok(());
            }
            let renewed = self.clock.now() + LEASE;
            if !lease::renew(self.writer, until, Some(renewed)).await? {
                // Lost (this instance stalled past the lease): stop here.
                break Ok(());
            }
            until = renewed;
        };
        // Give it up: the next turn need not wait for it to expire.
        lease::renew(self.writer, until, None).await?;
        outcome.map(|()| total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_sized_to_take_their_time() {
        let ms = Duration::from_millis;
        // (size, took, target, max) -> next size
        let cases = [
            (1000, ms(25), ms(5), 1000, 500),          // slow: at most halves
            (1000, ms(8), ms(5), 1000, 625),           // a little slow
            (200, ms(5), ms(5), 1000, 200),            // on time
            (200, ms(1), ms(5), 1000, 400),            // fast: at most doubles
            (800, ms(1), ms(5), 1000, 1000),           // never above the most
            (1, ms(500), ms(5), 1000, 1),              // never below one row
            (1, Duration::ZERO, ms(5), 1000, 2),       // too fast to time
            (300, ms(50), Duration::ZERO, 1000, 1000), // no target: fixed
            (5000, ms(1), ms(5), 1000, 1000),          // the most lowered
        ];
        for (size, took, target, max, next) in cases {
            assert_eq!(
                next_batch_size(size, took, target, max),
                next,
                "{size} rows in {took:?}"
            );
        }
    }
}
