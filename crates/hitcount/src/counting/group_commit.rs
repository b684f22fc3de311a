//! Group commit: requests that must be decided in the database queue for
//! one task per counter, which takes every request waiting (up to the
//! dialect's `max_batch`) and decides and writes them in one transaction.
//! A burst of new visitors then costs one commit and a few statements per
//! object, instead of a transaction each waiting for the last.
//!
//! Inside the transaction the requests are decided one after the other, in
//! arrival order, each seeing the hits written before it, exactly as if
//! each had its own transaction: exactly-once is unchanged.

#[cfg(any(feature = "postgres", feature = "mysql"))]
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
#[cfg(feature = "postgres")]
use futures_util::TryStreamExt;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sha2::{Digest, Sha256};
#[cfg(feature = "postgres")]
use sqlx::Either;
use tokio::sync::{mpsc, oneshot};

use super::cache::ReadCache;
use super::HitResult;
use crate::error::{Error, Result};
use crate::rules::{decide_batch, Request};
use crate::settings::{IpLimitScope, Settings};
use crate::store::batch::{BatchWrite, DayViews, HitRow};
use crate::store::dialect::BatchStart;
#[cfg(feature = "postgres")]
use crate::store::dialect::LockedBatch;
use crate::store::{At, Connection, Db};
use crate::values::{day_start, ObjectRef, Visitor};

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
        // Requests waiting beyond this make `count` wait to queue (back
        // pressure).
        let (sender, receiver) = mpsc::channel(4 * writer.dialect().max_batch);
        tokio::spawn(write_batches(writer, settings, cache, receiver));
        CountingQueue { sender }
    }

    /// Decides and writes one request, with whatever else is waiting.
    pub(crate) async fn count(&self, job: Job) -> Result<HitResult> {
        let (reply, answer) = oneshot::channel();
        self.sender.send((job, reply)).await.map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }
}

async fn write_batches(
    writer: Db,
    settings: Settings,
    cache: Arc<ReadCache>,
    mut receiver: mpsc::Receiver<Queued>,
) {
    let max_batch = writer.dialect().max_batch;
    let mut queued: Vec<Queued> = Vec::with_capacity(max_batch);
    // Kept from batch to batch; dropped after an error, as it may be broken.
    let mut connection = None;
    // The time of the last batch, on the counter's clock.
    let mut last_batch: Option<DateTime<Utc>> = None;
    while receiver.recv_many(&mut queued, max_batch).await > 0 {
        // A request whose caller stopped waiting (its `count_timeout`
        // passed, or the client went away) was answered as not counted:
        // it is not decided now.
        queued.retain(|(_, reply)| !reply.is_closed());
        if queued.is_empty() {
            continue;
        }
        let (jobs, replies): (Vec<Job>, Vec<_>) = queued.drain(..).unzip();
        let now = jobs
            .iter()
            .map(|job| job.now)
            .max()
            .expect("a batch is never empty");
        // A connection idle for a while may have been closed by the server
        // (MariaDB's `wait_timeout`) or by a device in between: one that no
        // longer answers is replaced before the batch is sent, rather than
        // failing it.
        if last_batch.is_some_and(|at| now - at > IDLE_CHECK) {
            if let Some(conn) = connection.as_mut() {
                if !answers(conn).await {
                    connection = None;
                }
            }
        }
        last_batch = Some(now);
        let batch = within_deadline(count_batch(&writer, &mut connection, &settings, &cache, &jobs)).await;
        // `None` where the request must be decided again, alone: its
        // batch failed, so nothing of it was written, or its object was
        // deleted by another instance. One request's trouble must not fail
        // the rest, and a deleted object is registered afresh. A database
        // that is away fails them all: alone, each would wait as long.
        let mut results: Vec<Option<Result<HitResult>>> = match batch {
            Ok(decided) => decided.into_iter().map(|d| d.ok().map(Ok)).collect(),
            Err(error) if error.is_outage() => {
                connection = None;
                let reason = error.to_string();
                jobs.iter()
                    .map(|_| {
                        Some(Err(Error::Unavailable {
                            reason: reason.clone(),
                        }))
                    })
                    .collect()
            }
            Err(_) => jobs.iter().map(|_| None).collect(),
        };
        if results.iter().any(Option::is_none) {
            // What was cached may be why: forget it.
            cache.clear();
            // Once the database is found away, the rest are not tried.
            let mut away: Option<String> = None;
            for ((job, reply), result) in jobs.iter().zip(&replies).zip(&mut results) {
                if result.is_some() || reply.is_closed() {
                    continue;
                }
                if let Some(reason) = &away {
                    *result = Some(Err(Error::Unavailable {
                        reason: reason.clone(),
                    }));
                    continue;
                }
                let alone = std::slice::from_ref(job);
                let alone =
                    within_deadline(count_batch(&writer, &mut connection, &settings, &cache, alone)).await;
                if let Err(error) = &alone {
                    if error.is_outage() {
                        connection = None;
                        away = Some(error.to_string());
                    }
                }
                *result = Some(alone.and_then(|mut decided| decided.remove(0)));
            }
        }
        for (reply, result) in replies.into_iter().zip(results) {
            // The request may have gone away (client disconnected): its
            // hit stays counted.
            if let Some(result) = result {
                let _ = reply.send(result);
            }
        }
    }
}

/// How long the writing task's connection may stay unused before it is
/// checked (one round trip) ahead of the next batch.
const IDLE_CHECK: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Whether `connection` answers a ping within 2 s.
async fn answers(connection: &mut Connection) -> bool {
    let ping = async { dispatch_connection!(connection, conn, _sql => sqlx::Connection::ping(conn).await) };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(()))
    )
}

/// The longest a batch may take, from connecting to committing. Past it
/// the batch is given up and its connection dropped: a database that
/// stopped answering (a network that drops packets, a server frozen)
/// must not hold the counting queue for as long as TCP takes to notice.
/// PostgreSQL rolls the transaction back once it sees the connection gone
/// (its `idle_in_transaction_session_timeout` and `statement_timeout`
/// on this connection bound that too).
const BATCH_DEADLINE: Duration = Duration::from_secs(10);

async fn within_deadline<T>(batch: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(BATCH_DEADLINE, batch).await {
        Ok(done) => done,
        Err(_) => Err(Error::Unavailable {
            reason: format!("a batch got no answer within {} s", BATCH_DEADLINE.as_secs()),
        }),
    }
}

/// Decides and writes `jobs` in one transaction, in order. An error:
/// nothing was written. A request whose object another instance deleted
/// meanwhile is [`Error::UnknownObject`], with nothing of it written.
async fn count_batch<'a>(
    writer: &Db,
    connection: &mut Option<Connection>,
    settings: &Settings,
    cache: &ReadCache,
    jobs: &'a [Job],
) -> Result<Vec<Result<HitResult>>> {
    let read_start = cache.read_start();
    let conn = match connection {
        Some(conn) => conn,
        None => connection.insert(open_connection(writer).await?),
    };
    // Each object's pk, before the transaction: creating a row is a lasting
    // fact even when counting fails, and the transaction can then lock the
    // rows in pk order, so that two instances' batches never deadlock. The
    // batch's new
    // objects are registered in one transaction of their own, in (kind,
    // id) order, with the counting transaction's settings (READ COMMITTED,
    // whatever the server's default: concurrent upserts of one row would
    // fail under SERIALIZABLE).
    let mut known: HashMap<&ObjectRef, i64> = HashMap::with_capacity(jobs.len());
    let mut unknown: Vec<&ObjectRef> = Vec::new();
    for job in jobs {
        match cache.pk(&job.object) {
            Some(pk) => {
                known.insert(&job.object, pk);
            }
            None => unknown.push(&job.object),
        }
    }
    unknown.sort_by(|a, b| (a.kind(), a.id()).cmp(&(b.kind(), b.id())));
    unknown.dedup();
    if !unknown.is_empty() {
        let now = jobs[0].now;
        let registered = dispatch_connection!(&mut *conn, conn, sql => async {
            if let Some(begin) = sql.begin_counting {
                sqlx::Executor::execute(&mut *conn, begin).await?;
            }
            let mut pks = Vec::with_capacity(unknown.len());
            for object in &unknown {
                pks.push(register_object!(sql, &mut *conn, *object, now));
            }
            if let Some(commit) = sql.commit_counting {
                sqlx::Executor::execute(&mut *conn, commit).await?;
            }
            Ok::<_, Error>(pks)
        }
        .await);
        match registered {
            Ok(pks) => {
                for (object, pk) in unknown.iter().zip(pks) {
                    cache.remember_pk(read_start, object, pk);
                    known.insert(object, pk);
                }
            }
            Err(error) => {
                *connection = None;
                return Err(error);
            }
        }
    }
    let pks: Vec<i64> = jobs.iter().map(|job| known[&job.object]).collect();
    let mut views = DayViews::new();
    for (job, pk) in jobs.iter().zip(&pks) {
        *views.entry((*pk, day_start(job.now))).or_default() += 1;
    }
    let limited_ip = |job: &'a Job| {
        job.stored_ip
            .as_deref()
            .filter(|_| settings.hits_per_ip_limit > 0)
    };
    let active_since = |now: DateTime<Utc>| now - settings.keep_hit_active.as_chrono();
    let latest = jobs
        .iter()
        .map(|job| job.now)
        .max()
        .expect("a batch is never empty");
    let earliest_since = jobs
        .iter()
        .map(|job| active_since(job.now))
        .min()
        .expect("a batch is never empty");
    // Every visitor's lookup in one statement: a batch costs the same few
    // statements whatever its size.
    let ip_scope = settings.hits_per_ip_scope;
    let json_time = writer.dialect().json_time;
    let lookups: Vec<_> = jobs
        .iter()
        .zip(&pks)
        .map(|(job, pk)| {
            let visitor = &job.visitor;
            let key = visitor.session_key();
            let ip = limited_ip(job);
            (
                pk,
                key,
                visitor.previous_session_key().unwrap_or(key),
                visitor.user().map(|u| u.id()),
                ip,
                ip.map(|_| json_time(active_since(job.now))),
                ip.filter(|_| ip_scope == IpLimitScope::Object).map(|_| pk),
            )
        })
        .collect();
    let lookups = serde_json::to_string(&lookups).expect("numbers and strings serialise");

    let decided = dispatch_connection!(conn, conn, sql => {
        // The transaction is the dialect's own statements, not sqlx's:
        // SQLite's start and commit ride along with its read and its
        // writes, and a batch costs two round trips there;
        // PostgreSQL's start rides along with its locks and its read.
        let written = async {
            let begin = if settings.fast_commits {
                sql.begin_counting_fast
            } else {
                sql.begin_counting
            };
            let mut requests: Vec<Request<'a>> = jobs
                .iter()
                .zip(&pks)
                .map(|(job, &pk)| Request {
                    pk,
                    visitor: &job.visitor,
                    limited_ip: limited_ip(job),
                    now: job.now,
                    stored_hit: None,
                    stored_ip_hits: 0,
                })
                .collect();
            let unexpected = || Error::UnexpectedAnswer {
                what: "the batch's lookup of active hits (a request not in the batch)",
            };
            // From here on every check sees all hits committed before, and
            // none can commit in between.
            // The statement that reads the visitors' hits, where the
            // batch's start leaves it to its own statement.
            let read = match sql.batch_start {
                BatchStart::Read(read) => {
                    if let Some(begin) = begin {
                        sqlx::Executor::execute(&mut *conn, begin).await?;
                    }
                    Some(read)
                }
                #[cfg(feature = "mysql")]
                BatchStart::RowsLocked { lock, read, ip_lock } => {
                    let begin = begin.expect("a dialect that locks rows begins its transaction");
                    sqlx::Executor::execute(&mut *conn, begin).await?;
                    // The row locks cover the per-object checks; a
                    // site-wide IP limit also locks each IP, in order.
                    if ip_scope == IpLimitScope::Site {
                        let ips: BTreeSet<i32> =
                            jobs.iter().filter_map(limited_ip).map(|ip| lock_key(None, b'i', ip)).collect();
                        for key in ips {
                            let taken: Option<i64> = sqlx::query_scalar(ip_lock).bind(key).fetch_one(&mut *conn).await?;
                            if taken != Some(1) {
                                return Err(Error::Unavailable {
                                    reason: "an IP's counting lock was held for 5 s".into(),
                                });
                            }
                        }
                    }
                    let objects: BTreeSet<i64> = pks.iter().copied().collect();
                    let objects_json = serde_json::to_string(&objects).expect("numbers serialise");
                    let present: Vec<i64> = sqlx::query_scalar(lock).bind(&objects_json).fetch_all(&mut *conn).await?;
                    if let Some(missing) = objects.iter().find(|pk| !present.contains(pk)) {
                        return Err(Error::UnknownObject(*missing));
                    }
                    Some(read)
                }
                #[cfg(feature = "postgres")]
                BatchStart::Locked(start) => {
                    let begin = begin.expect("a dialect that locks its visitors begins its transaction");
                    let keys = lock_keys(jobs, &pks, |job| limited_ip(job).map(|ip| (ip, ip_scope)));
                    let text = format!(
                        "{begin}; {}",
                        start(&LockedBatch {
                            locks: &keys,
                            lookups: &lookups,
                            since: earliest_since,
                            users: jobs.iter().any(|job| job.visitor.user().is_some()),
                            previous_keys: jobs.iter().any(|job| job.visitor.previous_session_key().is_some()),
                            ips: requests.iter().any(|request| request.limited_ip.is_some()),
                        })
                    );
                    let mut steps = sqlx::Executor::fetch_many(&mut *conn, text.as_str());
                    // The rows of the last statement, the read.
                    let (mut rows, mut last) = (Vec::new(), Vec::new());
                    while let Some(step) = steps.try_next().await? {
                        match step {
                            Either::Left(_) => last = std::mem::take(&mut rows),
                            Either::Right(row) => rows.push(row),
                        }
                    }
                    drop(steps);
                    for row in last {
                        let i: i64 = sqlx::Row::try_get(&row, 0)?;
                        let at: Option<i64> = sqlx::Row::try_get(&row, 1)?;
                        let ip_hits: i64 = sqlx::Row::try_get(&row, 2)?;
                        let request = requests.get_mut(i as usize).ok_or_else(unexpected)?;
                        request.stored_hit = at.and_then(DateTime::from_timestamp_micros);
                        request.stored_ip_hits = ip_hits;
                    }
                    None
                }
            };
            if let Some(read) = read {
                let stored: Vec<(i64, Option<DateTime<Utc>>)> = sqlx::query_as(read)
                    .bind(&lookups)
                    .bind(At(earliest_since))
                    .fetch_all(&mut *conn)
                    .await?;
                for (i, at) in stored {
                    requests.get_mut(i as usize).ok_or_else(unexpected)?.stored_hit = at;
                }
                for request in requests.iter_mut() {
                    if let Some(ip) = request.limited_ip {
                        let since = active_since(request.now);
                        request.stored_ip_hits = ip_hits!(sql, &mut *conn, ip, since, request.pk, ip_scope);
                    }
                }
            }
            // Decided in arrival order (see `rules::decide_batch`); the
            // counted hits are written at the batch's end.
            let decisions = decide_batch(settings, &requests);
            let counted = jobs
                .iter()
                .zip(&pks)
                .zip(&decisions)
                .filter(|(_, decision)| decision.reason.counted())
                .map(|((job, &pk), _)| hit_row(pk, job));
            let batch = BatchWrite::new(counted, &views, sql.json_time);
            let new_totals: Vec<(i64, i64)> = write_batch!(sql, &mut *conn, batch, latest);
            if let Some(commit) = sql.commit_counting {
                sqlx::Executor::execute(&mut *conn, commit).await?;
            }
            Ok::<_, Error>((new_totals, decisions))
        }
        .await;
        if written.is_err() {
            // Nothing of the batch stays; a connection that cannot roll
            // back is dropped below.
            let _ = sqlx::Executor::execute(&mut *conn, sql.rollback).await;
        }
        written
    });
    let (totals, decisions): (HashMap<i64, i64>, _) = match decided {
        Ok((written, decisions)) => (written.into_iter().collect(), decisions),
        Err(error) => {
            *connection = None;
            return Err(error);
        }
    };
    // An object missing from the totals was deleted by another instance
    // before this batch locked the database (SQLite, which learns it only
    // here): its counted hits would have failed the foreign key, so its
    // requests wrote nothing, and are answered as unknown.
    // Each object's hits of this batch: what its last request saw.
    let batch_hits: HashMap<i64, i64> = pks
        .iter()
        .zip(&decisions)
        .map(|(pk, d)| (*pk, d.batch_hits))
        .collect();
    let results = pks.iter().zip(&decisions).map(|(pk, decision)| {
        let total = *totals.get(pk).ok_or(Error::UnknownObject(*pk))?;
        // The total before the batch, plus its hits up to this request.
        let before = total - batch_hits[pk];
        Ok(HitResult::new(
            Some(*pk),
            before + decision.batch_hits,
            decision.reason,
        ))
    });
    let results: Vec<_> = results.collect();

    for ((job, decision), pk) in jobs.iter().zip(&decisions).zip(&pks) {
        if let Some(total) = totals.get(pk) {
            cache.remember(
                read_start,
                &job.object,
                *pk,
                *total,
                decision.active_hit.map(|at| (&job.visitor, at)),
            );
        }
    }
    Ok(results)
}

/// The writing task's connection, set up for counting.
async fn open_connection(writer: &Db) -> Result<Connection> {
    let mut connection = writer.detached_connection().await?;
    dispatch_connection!(&mut connection, conn, sql => {
        for statement in sql.counting_setup {
            sqlx::query(statement).execute(&mut *conn).await?;
        }
    });
    Ok(connection)
}

/// The hit log's row of a counted request.
fn hit_row(pk: i64, job: &Job) -> HitRow<'_> {
    let visitor = &job.visitor;
    HitRow {
        pk,
        at: job.now,
        stored_ip: job.stored_ip.as_deref(),
        session_key: visitor.session_key(),
        user_agent: visitor.user_agent(),
        user_id: visitor.user().map(|u| u.id()),
    }
}

/// The lock keys of a batch (see `BatchStart::Locked`), ascending: for
/// each request its object with its session key, and with its user or its
/// previous session key (what its read looks up, and what its hit row will
/// be found by), and, under the per-IP limit, its IP with the object or
/// alone (site-wide). Two requests that could see each other's hit share a
/// key; two that could not rarely do (a key is 32 bits of a hash), which
/// only makes one wait.
#[cfg(feature = "postgres")]
fn lock_keys<'a>(
    jobs: &'a [Job],
    pks: &[i64],
    limited_ip: impl Fn(&'a Job) -> Option<(&'a str, IpLimitScope)>,
) -> Vec<i32> {
    let mut keys = BTreeSet::new();
    for (job, &pk) in jobs.iter().zip(pks) {
        let visitor = &job.visitor;
        keys.insert(lock_key(Some(pk), b's', visitor.session_key()));
        match (visitor.user(), visitor.previous_session_key()) {
            (Some(user), _) => keys.insert(lock_key(Some(pk), b'u', user.id())),
            (None, Some(previous)) => keys.insert(lock_key(Some(pk), b's', previous)),
            (None, None) => false,
        };
        if let Some((ip, scope)) = limited_ip(job) {
            let on = (scope == IpLimitScope::Object).then_some(pk);
            keys.insert(lock_key(on, b'i', ip));
        }
    }
    keys.into_iter().collect()
}

/// 32 bits of the hash of what a lock stands for.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn lock_key(pk: Option<i64>, what: u8, value: &str) -> i32 {
    let mut hash = Sha256::new();
    hash.update(pk.unwrap_or(0).to_be_bytes());
    hash.update([what]);
    hash.update(value.as_bytes());
    let digest = hash.finalize();
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{HitCounter, User};

    /// Decides `visitors` as one batch, in this order, on a fresh database.
    async fn one_batch(settings: Settings, visitors: Vec<Visitor>) -> Vec<(bool, i64)> {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let counter = HitCounter::open(db, settings.clone()).await.unwrap();
        let object = ObjectRef::new("blog.post", 1).unwrap();
        let jobs: Vec<Job> = visitors
            .into_iter()
            .map(|visitor| Job {
                object: object.clone(),
                stored_ip: visitor.ip().map(|ip| ip.to_string()),
                visitor,
                now: Utc::now(),
            })
            .collect();
        let cache = ReadCache::new(Duration::ZERO);
        let results: Vec<HitResult> = count_batch(counter.writer(), &mut None, &settings, &cache, &jobs)
            .await
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let stored = counter.counts(&object).await.unwrap().hits;
        let counted = results.iter().filter(|r| r.hit_counted).count();
        assert_eq!(stored, counted as i64, "the stored total is the batch's hits");
        results.iter().map(|r| (r.hit_counted, r.total_hits)).collect()
    }

    /// Each request sees the hits of the batch's requests before it, which
    /// are written only at its end: a previous session key, a user on
    /// another device, an anonymous request with a user's session key.
    #[tokio::test]
    async fn a_batch_decides_its_requests_in_order() {
        let user = || User::new("u-1").unwrap();
        let visitors = vec![
            Visitor::new("s-1").unwrap(),
            Visitor::new("s-2")
                .unwrap()
                .with_previous_session_key("s-1")
                .unwrap(),
            Visitor::new("x-1").unwrap().with_user(user()),
            Visitor::new("y-1").unwrap().with_user(user()),
            Visitor::new("x-1").unwrap(),
            Visitor::new("z-1").unwrap(),
        ];
        let answers = one_batch(Settings::default(), visitors).await;
        let expected = [
            (true, 1),
            (false, 1),
            (true, 2),
            (false, 2),
            (false, 2),
            (true, 3),
        ];
        assert_eq!(answers, expected);
    }

    /// The per-IP limit counts the batch's earlier hits from the address.
    #[tokio::test]
    async fn a_batch_keeps_the_ip_limit() {
        let settings = Settings {
            hits_per_ip_limit: 2,
            ip_storage: crate::IpStorage::Full,
            ..Default::default()
        };
        let from = |session: &str| {
            Visitor::new(session)
                .unwrap()
                .with_ip("198.51.100.7".parse().unwrap())
        };
        let visitors = vec![from("a"), from("b"), from("c"), Visitor::new("d").unwrap()];
        let answers = one_batch(settings, visitors).await;
        assert_eq!(answers, [(true, 1), (true, 2), (false, 2), (true, 3)]);
    }
}
