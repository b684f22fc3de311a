//! What an instance counted in memory and has not written yet: the views
//! of repeat visits, and with write-behind counting (see `write_behind`)
//! the hits themselves. A repeat visit then costs no write, and a
//! write-behind hit no wait for the database. Reads on this instance add
//! what is pending, so totals stay exact here; other instances see it at
//! most one flush interval late, and a crash loses at most that interval.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::batch::{BatchWrite, DayViews, HitRow};
use crate::clock::day_start;
use crate::error::{Error, Result};
use crate::store::Db;

/// How often pending views are written.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How often pending hits and views are written with write-behind
/// counting: what a crash may lose.
pub(crate) const WRITE_BEHIND_FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// A hit decided in memory (write-behind), not yet in the hit log.
#[derive(Clone, Debug)]
pub(crate) struct PendingHit {
    pub pk: i64,
    pub at: DateTime<Utc>,
    pub stored_ip: Option<String>,
    pub session_key: String,
    pub user_agent: String,
    pub user_id: Option<String>,
}

impl PendingHit {
    pub(crate) fn row(&self) -> HitRow<'_> {
        HitRow {
            pk: self.pk,
            at: self.at,
            stored_ip: self.stored_ip.as_deref(),
            session_key: &self.session_key,
            user_agent: &self.user_agent,
            user_id: self.user_id.as_deref(),
        }
    }
}

#[derive(Default)]
struct Pending {
    /// Views by hit count pk.
    views: HashMap<i64, i64>,
    /// The same views by pk and the start of their day, for the daily
    /// buckets.
    day_views: HashMap<(i64, DateTime<Utc>), i64>,
    /// Hits in the order they were decided.
    hits: Vec<PendingHit>,
    /// How many of `hits` each pk has.
    hits_of: HashMap<i64, i64>,
}

/// Views and hits not yet written.
#[derive(Default)]
pub(crate) struct WriteBuffer {
    pending: Mutex<Pending>,
    /// Held for writing by a flush, for reading by reads of totals: a read
    /// never sees a batch both in the database and still pending, or in
    /// neither.
    flushing: tokio::sync::RwLock<()>,
    /// Held by a flush from before it takes the hits out to after it puts
    /// back what it could not write, and by [`WriteBuffer::unwritten`]'s
    /// answer: apart from `flushing`, so that reads of totals do not queue
    /// behind a flush waiting for a reload.
    writing: tokio::sync::Mutex<()>,
}

impl WriteBuffer {
    /// Adds a view of `pk` made at `at`.
    pub(crate) fn add_view(&self, pk: i64, at: DateTime<Utc>) {
        let day = day_start(at);
        let mut pending = self.pending.lock().expect("not poisoned");
        *pending.views.entry(pk).or_default() += 1;
        *pending.day_views.entry((pk, day)).or_default() += 1;
    }

    /// Adds a counted hit and its view.
    pub(crate) fn add_hit(&self, hit: PendingHit) {
        let mut pending = self.pending.lock().expect("not poisoned");
        *pending.views.entry(hit.pk).or_default() += 1;
        *pending.day_views.entry((hit.pk, day_start(hit.at))).or_default() += 1;
        *pending.hits_of.entry(hit.pk).or_default() += 1;
        pending.hits.push(hit);
    }

    /// Hold while reading totals from the database and adding what is
    /// pending.
    pub(crate) async fn reading(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.flushing.read().await
    }

    /// [`WriteBuffer::reading`], unless a flush holds the lock now.
    pub(crate) fn try_reading(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        self.flushing.try_read().ok()
    }

    /// Hits and views of `pk` not yet written, read together.
    pub(crate) fn pending(&self, pk: i64) -> (i64, i64) {
        let pending = self.pending.lock().expect("not poisoned");
        let of = |counts: &HashMap<i64, i64>| counts.get(&pk).copied().unwrap_or(0);
        (of(&pending.hits_of), of(&pending.views))
    }

    /// The hits not yet written, with flushes held back while the caller
    /// keeps the answer: a flush under way takes its hits out of the
    /// buffer until it commits or puts them back, so a list made during
    /// one would miss them, and so would a read of the database made
    /// before its commit.
    pub(crate) async fn unwritten(&self) -> Unwritten<'_> {
        let held = self.writing.lock().await;
        Unwritten {
            hits: self.pending.lock().expect("not poisoned").hits.clone(),
            _held: Some(held),
        }
    }

    /// Writes what is pending in one transaction, then takes it out of the
    /// buffer; on failure it stays pending for the next flush.
    pub(crate) async fn flush(&self, db: &Db) -> Result<()> {
        let _writing = self.writing.lock().await;
        let _flushing = self.flushing.write().await;
        // In pk order, the order the counting transactions lock rows in.
        let (mut views, mut hits) = {
            let mut pending = self.pending.lock().expect("not poisoned");
            let views: DayViews = pending.day_views.iter().map(|(key, n)| (*key, *n)).collect();
            (views, std::mem::take(&mut pending.hits))
        };
        if views.is_empty() && hits.is_empty() {
            return Ok(());
        }
        let mut written = write(db, &views, &hits).await;
        let (mut gone, mut dropped) = (Vec::new(), Vec::new());
        if written.is_err() {
            // An object deleted since its hits were counted fails the
            // whole write (its hit rows' foreign key): its pending hits
            // and views go, as the object's counts went, and the rest is
            // written.
            // (Not `?`: the hits taken out must go back first.)
            let pks: BTreeSet<i64> = views.keys().map(|(pk, _)| *pk).collect();
            gone = missing_objects(db, pks.into_iter()).await.unwrap_or_default();
            if !gone.is_empty() {
                views.retain(|(pk, _), _| !gone.contains(pk));
                let (kept, lost): (Vec<_>, Vec<_>) =
                    hits.into_iter().partition(|hit| !gone.contains(&hit.pk));
                (hits, dropped) = (kept, lost);
                written = write(db, &views, &hits).await;
            }
        }
        let mut pending = self.pending.lock().expect("not poisoned");
        for hit in &dropped {
            subtract(&mut pending.hits_of, hit.pk, 1);
        }
        if written.is_err() {
            // Kept in the order they were decided, before newer ones.
            let newer = std::mem::replace(&mut pending.hits, hits);
            pending.hits.extend(newer);
            return written;
        }
        for ((pk, day), n) in views {
            subtract(&mut pending.views, pk, n);
            subtract(&mut pending.day_views, (pk, day), n);
        }
        for pk in &gone {
            pending.views.remove(pk);
            pending.day_views.retain(|(viewed, _), _| viewed != pk);
        }
        for hit in &hits {
            subtract(&mut pending.hits_of, hit.pk, 1);
        }
        Ok(())
    }
}

/// The hits a buffer has not written ([`WriteBuffer::unwritten`]); no
/// flush starts while this lives.
pub(crate) struct Unwritten<'a> {
    pub hits: Vec<PendingHit>,
    _held: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl Unwritten<'_> {
    /// No hits, and nothing held: for an index loaded before any count.
    pub(crate) fn none() -> Unwritten<'static> {
        Unwritten {
            hits: Vec::new(),
            _held: None,
        }
    }
}

fn subtract<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, i64>, key: K, n: i64) {
    if let Some(left) = counts.get_mut(&key) {
        *left -= n;
        if *left <= 0 {
            counts.remove(&key);
        }
    }
}

/// Which of `pks` have no hit count row (any more).
async fn missing_objects(db: &Db, pks: impl Iterator<Item = i64>) -> Result<Vec<i64>> {
    let mut missing = Vec::new();
    for pk in pks {
        let row: Option<(String, String, i64, i64, i64)> = dispatch!(db, pool, sql => {
            sqlx::query_as(sql.find_object_by_pk).bind(pk).fetch_optional(pool).await?
        });
        if row.is_none() {
            missing.push(pk);
        }
    }
    Ok(missing)
}

/// Writes `views` and `hits` in one transaction.
async fn write(db: &Db, views: &DayViews, hits: &[PendingHit]) -> Result<()> {
    dispatch!(db, pool, sql => {
        if hits.is_empty() {
            let mut totals: BTreeMap<i64, i64> = BTreeMap::new();
            for ((pk, _), n) in views {
                *totals.entry(*pk).or_default() += n;
            }
            let mut tx = pool.begin().await?;
            for (pk, n) in totals {
                sqlx::query(sql.add_views).bind(pk).bind(n).execute(&mut *tx).await?;
            }
            for ((pk, day), n) in views {
                sqlx::query(sql.add_daily_views).bind(pk).bind(day).bind(n).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            return Ok(());
        }
        let batch = BatchWrite::new(hits.iter().map(PendingHit::row), views);
        let latest = hits.iter().map(|hit| hit.at).max();
        let mut conn = pool.acquire().await?;
        let written = async {
            sqlx::query(sql.begin_write).execute(&mut *conn).await?;
            let _: Vec<(i64, i64)> = write_batch!(sql, &mut *conn, batch, latest);
            if let Some(commit) = sql.commit_counting {
                sqlx::query(commit).execute(&mut *conn).await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        if written.is_err() && sqlx::query(sql.rollback).execute(&mut *conn).await.is_err() {
            // A connection left inside a transaction must not go back to
            // the pool.
            drop(conn.detach());
        }
        written
    })
}
