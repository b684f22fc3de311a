//! The views of repeat visits that an instance has not written yet: a
//! repeat visit then costs no write. Reads on this instance add what is
//! pending, so totals stay exact here; other instances see it at most one
//! flush interval late, and a crash loses at most that interval's views
//! (never a hit). The requests each blacklist entry refused wait here
//! too, so that a flood of blacklisted requests costs no write each.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::rules::List;
use crate::store::batch::DayViews;
use crate::store::{At, Db};
use crate::values::day_start;

/// How often pending views are written.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Pending {
    /// Views by hit count pk.
    views: HashMap<i64, i64>,
    /// The same views by pk and the start of their day, for the daily
    /// buckets.
    day_views: HashMap<(i64, DateTime<Utc>), i64>,
    /// Requests refused, by blacklist entry.
    refusals: HashMap<(List, String), i64>,
}

/// Views not yet written.
#[derive(Default)]
pub(crate) struct ViewBuffer {
    pending: Mutex<Pending>,
    /// Held for writing by a flush, for reading by reads of totals: a read
    /// never sees a view both in the database and still pending, or in
    /// neither.
    flushing: tokio::sync::RwLock<()>,
}

impl ViewBuffer {
    /// Adds a view of `pk` made at `at`.
    pub(crate) fn add_view(&self, pk: i64, at: DateTime<Utc>) {
        let day = day_start(at);
        let mut pending = self.pending.lock().expect("not poisoned");
        *pending.views.entry(pk).or_default() += 1;
        *pending.day_views.entry((pk, day)).or_default() += 1;
    }

    /// Adds a request refused by blacklist entry `entry` of `list`.
    pub(crate) fn add_refusal(&self, list: List, entry: &str) {
        let mut pending = self.pending.lock().expect("not poisoned");
        *pending.refusals.entry((list, entry.to_owned())).or_default() += 1;
    }

    /// Refusals of `entry` not yet written.
    pub(crate) fn pending_refusals(&self, list: List, entry: &str) -> i64 {
        let pending = self.pending.lock().expect("not poisoned");
        pending
            .refusals
            .get(&(list, entry.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Hold while reading totals from the database and adding what is
    /// pending.
    pub(crate) async fn reading(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.flushing.read().await
    }

    /// [`ViewBuffer::reading`], unless a flush holds the lock now.
    pub(crate) fn try_reading(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        self.flushing.try_read().ok()
    }

    /// Views of `pk` not yet written.
    pub(crate) fn pending(&self, pk: i64) -> i64 {
        let pending = self.pending.lock().expect("not poisoned");
        pending.views.get(&pk).copied().unwrap_or(0)
    }

    /// Writes what is pending in one transaction, then takes it out of the
    /// buffer; on failure it stays pending for the next flush.
    pub(crate) async fn flush(&self, db: &Db) -> Result<()> {
        let _flushing = self.flushing.write().await;
        // In pk order, the order the counting transactions lock rows in.
        let (mut views, refusals): (DayViews, Refusals) = {
            let pending = self.pending.lock().expect("not poisoned");
            (
                pending.day_views.iter().map(|(key, n)| (*key, *n)).collect(),
                pending
                    .refusals
                    .iter()
                    .map(|(key, n)| (key.clone(), *n))
                    .collect(),
            )
        };
        if views.is_empty() && refusals.is_empty() {
            return Ok(());
        }
        let mut written = write(db, &views, &refusals).await;
        let mut gone = Vec::new();
        if written.is_err() {
            // An object deleted since it was viewed fails the whole write:
            // its views go, as the object's counts went, and the rest is
            // written.
            let pks: BTreeSet<i64> = views.keys().map(|(pk, _)| *pk).collect();
            gone = missing_objects(db, pks.into_iter()).await.unwrap_or_default();
            if !gone.is_empty() {
                views.retain(|(pk, _), _| !gone.contains(pk));
                written = write(db, &views, &refusals).await;
            }
        }
        written?;
        let mut pending = self.pending.lock().expect("not poisoned");
        for ((pk, day), n) in views {
            subtract(&mut pending.views, pk, n);
            subtract(&mut pending.day_views, (pk, day), n);
        }
        for (key, n) in refusals {
            subtract(&mut pending.refusals, key, n);
        }
        for pk in &gone {
            pending.views.remove(pk);
            pending.day_views.retain(|(viewed, _), _| viewed != pk);
        }
        Ok(())
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

/// Refusals by blacklist entry, in a fixed order.
type Refusals = BTreeMap<(List, String), i64>;

/// Writes `views` to the totals and the daily buckets, and `refusals` to
/// their blacklist entries (an entry removed meanwhile takes none), in one
/// transaction.
async fn write(db: &Db, views: &DayViews, refusals: &Refusals) -> Result<()> {
    let mut totals: BTreeMap<i64, i64> = BTreeMap::new();
    for ((pk, _), n) in views {
        *totals.entry(*pk).or_default() += n;
    }
    dispatch!(db, pool, sql => {
        let mut tx = pool.begin().await?;
        for (pk, n) in totals {
            sqlx::query(sql.add_views).bind(n).bind(pk).execute(&mut *tx).await?;
        }
        for ((pk, day), n) in views {
            sqlx::query(sql.add_daily_views).bind(pk).bind(At(*day)).bind(n).execute(&mut *tx).await?;
        }
        for ((list, entry), n) in refusals {
            let statement = match list {
                List::Ips => sql.add_ip_refusals,
                List::UserAgents => sql.add_user_agent_refusals,
            };
            sqlx::query(statement).bind(n).bind(entry).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}
