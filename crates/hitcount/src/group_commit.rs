//! Group commit: requests that must be decided in the database queue for
//! one task per counter, which takes every request waiting (up to
//! [`MAX_BATCH`]) and decides and writes them in one transaction. A burst of
//! new visitors then costs one commit and a few statements per object,
//! instead of a transaction each waiting for the last.
//!
//! Inside the transaction the requests are decided one after the other, in
//! arrival order, each seeing the hits written before it, exactly as if
//! each had its own transaction: exactly-once is unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::cache::ReadCache;
use crate::clock::{day_start, hour_start};
use crate::counter::HitResult;
use crate::error::{Error, Result};
use crate::object::ObjectRef;
use crate::rules;
use crate::settings::{IpLimitScope, Settings};
use crate::store::{returned, Db};
use crate::visitor::Visitor;

/// The most requests one transaction decides: bounds how long one commit
/// keeps the object rows locked on PostgreSQL.
pub(crate) const MAX_BATCH: usize = 256;

/// Requests waiting beyond this make `count` wait to queue (back pressure).
const QUEUE_LEN: usize = 4 * MAX_BATCH;

/// The namespace of the counter's PostgreSQL advisory locks ("hitc"), so
/// they do not meet the application's own.
const LOCK_NAMESPACE: i32 = 0x6869_7463;

/// One request to decide in the database.
pub(crate) struct Job {
    pub object: ObjectRef,
    pub visitor: Visitor,
    /// The visitor's IP as the hit log stores it.
    pub stored_ip: Option<String>,
    pub now: DateTime<Utc>,
}

type Queued = (Job, oneshot::Sender<Result<HitResult>>);

/// The queue in front of the counter's writing task.
pub(crate) struct CountingQueue {
    sender: mpsc::Sender<Queued>,
}

impl CountingQueue {
    /// Starts the writing task. It ends when the queue is dropped.
    pub(crate) fn start(writer: Db, settings: Settings, cache: Arc<ReadCache>) -> CountingQueue {
        let (sender, receiver) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(write_batches(writer, settings, cache, receiver));
        CountingQueue { sender }
    }

    /// Decides and writes one request, with whatever else is waiting.
    pub(crate) async fn count(&self, job: Job) -> Result<HitResult> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Database(sqlx::Error::PoolClosed);
        self.sender.send((job, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(
    writer: Db,
    settings: Settings,
    cache: Arc<ReadCache>,
    mut receiver: mpsc::Receiver<Queued>,
) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut queued, MAX_BATCH).await > 0 {
        let (jobs, replies): (Vec<Job>, Vec<_>) = queued.drain(..).unzip();
        let results = match count_batch(&writer, &settings, &cache, &jobs).await {
            Ok(results) => results.into_iter().map(Ok).collect(),
            // Nothing of the batch was written. A pk deleted by another
            // instance, or one request's trouble, must not fail the rest:
            // forget what was cached and decide each request alone.
            Err(_) => {
                cache.clear();
                let mut results = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    let alone = count_batch(&writer, &settings, &cache, std::slice::from_ref(job)).await;
                    results.push(alone.map(|mut result| result.remove(0)));
                }
                results
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // The request may have gone away (client disconnected): its
            // hit stays counted.
            let _ = reply.send(result);
        }
    }
}

/// Decides and writes `jobs` in one transaction, in order.
async fn count_batch(
    writer: &Db,
    settings: &Settings,
    cache: &ReadCache,
    jobs: &[Job],
) -> Result<Vec<HitResult>> {
    let read_start = cache.read_start();
    // Each object's pk, before the transaction: creating a row is a lasting
    // fact even when counting fails, and the transaction can then lock the
    // rows in pk order, the order every multi-row write of the crate uses,
    // so that two instances' batches never deadlock.
    let mut pks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let pk = match cache.pk(&job.object) {
            Some(pk) => pk,
            None => {
                let pk = register_object(writer, &job.object, job.now).await?;
                cache.remember_pk(read_start, &job.object, pk);
                pk
            }
        };
        pks.push(pk);
    }
    let mut views: BTreeMap<i64, i64> = BTreeMap::new();
    for pk in &pks {
        *views.entry(*pk).or_default() += 1;
    }
    let limited_ip = |job: &Job| job.stored_ip.clone().filter(|_| settings.hits_per_ip_limit > 0);
    let latest = jobs
        .iter()
        .map(|job| job.now)
        .max()
        .expect("a batch is never empty");

    let mut results = Vec::with_capacity(jobs.len());
    // The time of each visitor's active hit after its request, if any.
    let mut active_hits = Vec::with_capacity(jobs.len());
    let mut totals: HashMap<i64, i64> = HashMap::new();
    let mut hits_by_pk: BTreeMap<i64, i64> = BTreeMap::new();
    let mut buckets: BTreeMap<(i64, DateTime<Utc>, DateTime<Utc>), i64> = BTreeMap::new();
    dispatch!(writer, pool, sql => {
        let mut tx = pool.begin().await?;
        if let Some(isolation) = sql.counting_isolation {
            sqlx::query(isolation).execute(&mut *tx).await?;
        }
        if let (Some(fast), true) = (sql.counting_fast_commit, settings.fast_commits) {
            sqlx::query(fast).execute(&mut *tx).await?;
        }
        // Locks, in one global order: the IPs of a site-wide limit, then
        // the object rows by pk. From here on every check sees all hits
        // committed before, and none can commit in between.
        if let (Some(lock), IpLimitScope::Site) = (sql.ip_lock, settings.hits_per_ip_scope) {
            let keys: BTreeSet<i32> = jobs.iter().filter_map(limited_ip).map(|ip| lock_key(&ip)).collect();
            for key in keys {
                sqlx::query(lock).bind(LOCK_NAMESPACE).bind(key).execute(&mut *tx).await?;
            }
        }
        for (pk, n) in &views {
            let hits: Option<i64> = sqlx::query_scalar(sql.add_views_locking)
                .bind(pk)
                .bind(n)
                .bind(latest)
                .fetch_optional(&mut *tx)
                .await?;
            totals.insert(*pk, hits.ok_or(Error::UnknownObject(*pk))?);
        }
        for (job, &pk) in jobs.iter().zip(&pks) {
            let visitor = &job.visitor;
            let active_since = job.now - settings.keep_hit_active.as_chrono();
            let ip_hits = match limited_ip(job) {
                Some(ip) => Some(ip_hits!(sql, &mut *tx, ip, active_since, pk, settings.hits_per_ip_scope)),
                None => None,
            };
            let active: Option<DateTime<Utc>> = match visitor.user() {
                Some(user) => sqlx::query_scalar(sql.active_user).bind(pk).bind(user.id()).bind(active_since),
                None => sqlx::query_scalar(sql.active_session)
                    .bind(pk)
                    .bind(visitor.session_key())
                    .bind(active_since)
                    .bind(visitor.previous_session_key().unwrap_or(visitor.session_key())),
            }
            .fetch_optional(&mut *tx)
            .await?;
            let reason = rules::decide(settings, visitor, ip_hits, active.is_some());
            active_hits.push(if reason.counted() { Some(job.now) } else { active });
            let total = totals.get_mut(&pk).expect("every pk was locked");
            if reason.counted() {
                sqlx::query(sql.insert_hit)
                    .bind(pk)
                    .bind(job.now)
                    .bind(job.stored_ip.as_deref())
                    .bind(visitor.session_key())
                    .bind(visitor.user_agent())
                    .bind(visitor.user().map(|u| u.id()))
                    .execute(&mut *tx)
                    .await?;
                *total += 1;
                *hits_by_pk.entry(pk).or_default() += 1;
                *buckets.entry((pk, hour_start(job.now), day_start(job.now))).or_default() += 1;
            }
            results.push(HitResult::new(Some(pk), *total, reason));
        }
        for (pk, n) in &hits_by_pk {
            let total: i64 = sqlx::query_scalar(sql.add_hits).bind(pk).bind(n).fetch_one(&mut *tx).await?;
            debug_assert_eq!(Some(&total), totals.get(pk), "the row is locked");
        }
        // Hours and days summed, so a batch adds once to each bucket.
        let mut hourly: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
        let mut daily: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
        for ((pk, hour, day), n) in buckets {
            *hourly.entry((pk, hour)).or_default() += n;
            *daily.entry((pk, day)).or_default() += n;
        }
        for (statement, sums) in [(sql.add_hourly, hourly), (sql.add_daily, daily)] {
            for ((pk, start), n) in sums {
                sqlx::query(statement).bind(pk).bind(start).bind(n).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
    });

    for ((job, hit_at), pk) in jobs.iter().zip(active_hits).zip(&pks) {
        cache.remember(
            read_start,
            &job.object,
            *pk,
            totals[pk],
            hit_at.map(|at| (&job.visitor, at)),
        );
    }
    Ok(results)
}

/// The pk of `object`'s row, created (with nothing counted) if missing.
pub(crate) async fn register_object(db: &Db, object: &ObjectRef, now: DateTime<Utc>) -> Result<i64> {
    dispatch!(db, pool, sql => {
        returned(
            sqlx::query_scalar(sql.register)
                .bind(object.kind())
                .bind(object.id())
                .bind(now)
                .fetch_all(pool)
                .await?,
        )
    })
}

/// The advisory lock key of an IP: 32 bits of its hash.
fn lock_key(stored_ip: &str) -> i32 {
    let digest = Sha256::digest(stored_ip.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}
