//! Write-behind counting (`counting = "write_behind"`): an app instance
//! that is the only one counting into its database decides every request
//! in memory and answers at once; the hits it counts are written in the
//! background with the pending views (see `write_buffer`).
//!
//! The decision is made against an index of the active hits: the ones in
//! the database when the counter opened, and every hit it counted since.
//! Requests are decided one at a time under the index's lock, so
//! exactly-once holds among the instance's concurrent requests, as it does
//! in the database in the default mode. What is given up: another instance
//! counting into the same database does not see this one's index, and a
//! crash loses the hits not yet written (at most one flush interval).
//!
//! So that a second instance cannot start counting in memory next to it
//! (two replicas of one app, say), the instance holds the write-behind
//! lease in the database while it counts (see `lease`): a second opens
//! with an error instead. The lease is renewed by a task of its own; an
//! instance that shuts down, or finds it taken over after stalling past
//! it, writes what is pending, gives it up and counts exactly from then
//! on.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use tokio::sync::{RwLock, RwLockReadGuard};

use crate::batch::HitRow;
use crate::error::{Error, Result};
use crate::lease::{refusal, renewal_due, Lease, LIVE_FOR};
use crate::object::ObjectRef;
use crate::presence::ExactPresence;
use crate::rules::{self, Reason};
use crate::settings::{IpLimitScope, Settings};
use crate::store::Db;
use crate::visitor::Visitor;
use crate::write_buffer::Unwritten;

/// The active hits and the totals an instance counts against.
pub(crate) struct ActiveIndex {
    /// Keys are hashed with a random key of the process: 64 bits per
    /// visitor, IP and object instead of their text, and no collision an
    /// outsider could aim for.
    hasher: RandomState,
    /// Held for reading by every decision (from before its first-sight
    /// read to its pending hit), for writing by a reload: a reload never
    /// meets a decision half made. Decisions do not wait for each other.
    gate: RwLock<()>,
    /// Held for the moment of one decision: a plain mutex, so that
    /// concurrent requests never wait to be woken.
    index: Mutex<Index>,
    /// Each object's pk and total hits: the database's at first sight,
    /// plus the hits counted since. Apart from `index`, so that reads of
    /// totals never wait for a decision; changed only under `index`.
    known: Mutex<Known>,
    /// Until when this instance holds the write-behind lease; `None` once
    /// given up. A tokio mutex: renewing and giving up take turns across
    /// their statement.
    lease: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    /// Set when [`ActiveIndex::retire`] is asked for.
    retiring: AtomicBool,
    /// Set when it has succeeded: requests are counted exactly.
    retired: AtomicBool,
}

#[derive(Default)]
struct Known {
    totals: HashMap<ObjectRef, (i64, i64)>,
    /// pk → object, for the AJAX endpoint, which counts by pk.
    objects: HashMap<i64, ObjectRef>,
}

#[derive(Default)]
struct Index {
    /// (pk, visitor key) → the time of the visitor's latest hit on it.
    latest: HashMap<(i64, u64), DateTime<Utc>>,
    /// IP key → the times of its hits, oldest first (only with a per-IP
    /// limit).
    ips: HashMap<u64, VecDeque<DateTime<Utc>>>,
    /// Every entry of `latest` and `ips` in the order it was made, so
    /// expired ones are forgotten: memory follows the active hits.
    made: VecDeque<(DateTime<Utc>, Entry)>,
}

#[derive(Clone, Copy)]
enum Entry {
    Visitor(i64, u64),
    Ip(u64),
}

impl ActiveIndex {
    /// Takes the write-behind lease of `db` and loads the hits still active
    /// under `settings` at `now`. Fails with
    /// [`Error::WriteBehindLeaseHeld`] while another instance holds it, and
    /// with [`Error::ExactInstancesCounting`] while instances count exactly.
    pub(crate) async fn open(db: &Db, settings: &Settings, now: DateTime<Utc>) -> Result<ActiveIndex> {
        // Taken before loading: hits of an instance still writing when it
        // gave it up are in the database by then.
        let until = now + LIVE_FOR;
        if !Lease::WriteBehind.take(db, until, now).await? {
            let held = Lease::WriteBehind.held_until(db).await?;
            return Err(Error::WriteBehindLeaseHeld {
                until: held.unwrap_or(until),
            });
        }
        // Read after taking the lease, as exact instances read the lease
        // after writing their row (see `presence`).
        let exact = ExactPresence::live_until(db, now).await;
        if let Some(e) = refusal(exact, now, |until| Error::ExactInstancesCounting { until }) {
            let _ = Lease::WriteBehind.renew(db, until, None).await;
            return Err(e);
        }
        let index = ActiveIndex {
            hasher: RandomState::new(),
            gate: RwLock::new(()),
            index: Mutex::new(Index::default()),
            known: Default::default(),
            lease: tokio::sync::Mutex::new(Some(until)),
            retiring: AtomicBool::new(false),
            retired: AtomicBool::new(false),
        };
        if let Err(e) = index
            .reload(db, settings, now, async { Ok(()) }, async { Unwritten::none() })
            .await
        {
            let _ = Lease::WriteBehind.renew(db, until, None).await;
            return Err(e);
        }
        Ok(index)
    }

    /// Whether the index was retired: requests are counted exactly.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Whether [`ActiveIndex::retire`] was asked for and has not
    /// succeeded yet (its flush failed): the mark keeper tries again.
    pub(crate) fn wants_retire(&self) -> bool {
        self.retiring.load(Ordering::Acquire) && !self.is_retired()
    }

    /// Renews the lease once [`RENEW_AFTER`](crate::lease::RENEW_AFTER) has passed since it was taken
    /// or renewed (the mark keeper asks every second). `false` when
    /// another instance has taken it over, or an exact one counts beside
    /// this one (either stalled past its mark while the other opened):
    /// this one must stop counting in memory.
    pub(crate) async fn keep_lease(&self, db: &Db, now: DateTime<Utc>) -> Result<bool> {
        let mut lease = self.lease.lock().await;
        let Some(held) = lease.filter(|_| !self.is_retired()) else {
            return Ok(true);
        };
        if !renewal_due(held, now) {
            return Ok(true);
        }
        let until = now + LIVE_FOR;
        let kept = Lease::WriteBehind.renew(db, held, Some(until)).await?;
        if kept {
            *lease = Some(until);
        }
        Ok(kept && ExactPresence::live_until(db, now).await?.is_none())
    }

    /// Stops counting in memory, for good, once what is pending is
    /// written: waits for decisions under way and holds the next ones
    /// back while `flush` writes, so none is decided in the database
    /// before the hits it must see are there. If the flush fails, the
    /// index goes on counting (and keeping its lease) and the mark keeper
    /// tries again. Afterwards requests are counted exactly; the caller
    /// gives up the lease ([`ActiveIndex::give_up_lease`]).
    pub(crate) async fn retire(&self, flush: impl std::future::Future<Output = Result<()>>) -> Result<()> {
        self.retiring.store(true, Ordering::Release);
        let _gate = self.gate.write().await;
        if self.is_retired() {
            return Ok(());
        }
        flush.await?;
        self.retired.store(true, Ordering::Release);
        *self.index.lock().expect("not poisoned") = Index::default();
        *self.known.lock().expect("not poisoned") = Known::default();
        Ok(())
    }

    /// Whether this instance still holds the lease in the database.
    pub(crate) async fn holds_lease(&self) -> bool {
        self.lease.lock().await.is_some()
    }

    /// Gives up the lease if this instance still holds it. Once another
    /// instance has taken it over, the statement changes nothing and the
    /// lease is only forgotten here.
    pub(crate) async fn give_up_lease(&self, db: &Db) -> Result<()> {
        let mut lease = self.lease.lock().await;
        if let Some(held) = *lease {
            Lease::WriteBehind.renew(db, held, None).await?;
            *lease = None;
        }
        Ok(())
    }

    /// Forgets everything and loads the active hits again: after changes
    /// that deleted hits or lowered totals. Requests wait meanwhile.
    /// `flush` writes the hits pending in memory first; those it could not
    /// write (`unwritten`, asked for after it and held, so that no other
    /// flush writes them before the load reads) go into the new index too,
    /// so no visitor counts twice. If loading fails, the old index stays
    /// (it holds every hit, deleted ones too: refused visitors, never
    /// double counts), and the totals are read again either way.
    pub(crate) async fn reload<'b>(
        &self,
        db: &Db,
        settings: &Settings,
        now: DateTime<Utc>,
        flush: impl std::future::Future<Output = Result<()>>,
        unwritten: impl std::future::Future<Output = Unwritten<'b>>,
    ) -> Result<()> {
        let _gate = self.gate.write().await;
        if self.is_retired() {
            return Ok(());
        }
        // A failed write keeps its hits pending: they are added below.
        let _ = flush.await;
        let unwritten = unwritten.await;
        *self.known.lock().expect("not poisoned") = Known::default();
        let mut index = Index::default();
        let since = now - settings.keep_hit_active.as_chrono();
        dispatch!(db, pool, sql => {
            let mut rows = sqlx::query_as::<_, (i64, DateTime<Utc>, String, Option<String>, Option<String>)>(
                sql.load_active_hits,
            )
            .bind(since)
            .fetch(pool);
            while let Some((pk, at, session_key, user_id, stored_ip)) = rows.try_next().await? {
                let hit = HitRow {
                    pk,
                    at,
                    stored_ip: stored_ip.as_deref(),
                    session_key: &session_key,
                    // Not loaded: the index has no use for it.
                    user_agent: "",
                    user_id: user_id.as_deref(),
                };
                self.insert(&mut index, settings, &hit);
            }
        });
        for hit in &unwritten.hits {
            self.insert(&mut index, settings, &hit.row());
        }
        *self.index.lock().expect("not poisoned") = index;
        Ok(())
    }

    /// The object's pk and total, if the index knows it (for reads that
    /// must not wait).
    pub(crate) fn object(&self, object: &ObjectRef) -> Option<(i64, i64)> {
        self.known
            .lock()
            .expect("not poisoned")
            .totals
            .get(object)
            .copied()
    }

    /// The object with this pk, if the index has seen it.
    pub(crate) fn object_of(&self, pk: i64) -> Option<ObjectRef> {
        self.known.lock().expect("not poisoned").objects.get(&pk).cloned()
    }

    /// The index, for one decision: held while the caller reads an object
    /// seen for the first time, decides, and adds the pending hit, so that
    /// no reload happens in between. `None` once it is retired.
    pub(crate) async fn enter(&self) -> Option<IndexGuard<'_>> {
        let gate = self.gate.read().await;
        (!self.is_retired()).then_some(IndexGuard {
            owner: self,
            _gate: gate,
        })
    }

    /// Adds a hit, counted now or loaded from the database.
    fn insert(&self, index: &mut Index, settings: &Settings, hit: &HitRow<'_>) {
        let mut keys = vec![self.session_key(hit.session_key)];
        keys.extend(hit.user_id.map(|user| self.user_key(user)));
        for key in keys {
            let latest = index.latest.entry((hit.pk, key)).or_insert(hit.at);
            *latest = (*latest).max(hit.at);
            index.made.push_back((hit.at, Entry::Visitor(hit.pk, key)));
        }
        if let Some(ip) = hit.stored_ip.filter(|_| settings.hits_per_ip_limit > 0) {
            let key = self.ip_key(settings, hit.pk, ip);
            index.ips.entry(key).or_default().push_back(hit.at);
            index.made.push_back((hit.at, Entry::Ip(key)));
        }
    }

    fn session_key(&self, key: &str) -> u64 {
        self.hasher.hash_one(("session", key))
    }

    fn user_key(&self, id: &str) -> u64 {
        self.hasher.hash_one(("user", id))
    }

    fn ip_key(&self, settings: &Settings, pk: i64, ip: &str) -> u64 {
        match settings.hits_per_ip_scope {
            IpLimitScope::Site => self.hasher.hash_one(("ip", ip)),
            IpLimitScope::Object => self.hasher.hash_one(("ip", ip, pk)),
        }
    }
}

/// The index, entered for one decision (see [`ActiveIndex::enter`]).
pub(crate) struct IndexGuard<'a> {
    owner: &'a ActiveIndex,
    _gate: RwLockReadGuard<'a, ()>,
}

impl IndexGuard<'_> {
    /// The object's pk and total, if it was seen since the counter opened.
    pub(crate) fn object(&self, object: &ObjectRef) -> Option<(i64, i64)> {
        self.owner.object(object)
    }

    /// Decides one request for `object`, whose pk and total are `known`
    /// (from [`IndexGuard::object`], or the database at first sight), and
    /// adds its hit when it is counted. Returns the reason and the
    /// object's total after the request.
    pub(crate) fn decide(
        &self,
        settings: &Settings,
        object: &ObjectRef,
        (pk, known_total): (i64, i64),
        visitor: &Visitor,
        stored_ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> (Reason, i64) {
        let owner = self.owner;
        let mut index = owner.index.lock().expect("not poisoned");
        let index = &mut *index;
        let since = now - settings.keep_hit_active.as_chrono();
        index.forget_before(since);
        let latest = |key: u64| index.latest.get(&(pk, key)).is_some_and(|at| *at >= since);
        let active = match visitor.user() {
            Some(user) => latest(owner.user_key(user.id())),
            None => {
                let previous = visitor.previous_session_key().unwrap_or(visitor.session_key());
                latest(owner.session_key(visitor.session_key())) || latest(owner.session_key(previous))
            }
        };
        let limited_ip = stored_ip.filter(|_| settings.hits_per_ip_limit > 0);
        let ip_hits = limited_ip.map(|ip| {
            let times = index.ips.get(&owner.ip_key(settings, pk, ip));
            times.map_or(0, |t| t.iter().filter(|at| **at >= since).count() as i64)
        });
        let reason = rules::decide(settings, visitor, ip_hits, active);
        let total = {
            let mut known = owner.known.lock().expect("not poisoned");
            let Known { totals, objects } = &mut *known;
            let entry = totals.entry(object.clone()).or_insert_with(|| {
                objects.insert(pk, object.clone());
                (pk, known_total)
            });
            entry.1 += i64::from(reason.counted());
            entry.1
        };
        if reason.counted() {
            let hit = HitRow {
                pk,
                at: now,
                stored_ip,
                session_key: visitor.session_key(),
                user_agent: visitor.user_agent(),
                user_id: visitor.user().map(|u| u.id()),
            };
            owner.insert(index, settings, &hit);
        }
        (reason, total)
    }
}

impl Index {
    /// Drops what was made before `since`: those hits are no longer active.
    fn forget_before(&mut self, since: DateTime<Utc>) {
        while let Some((at, entry)) = self.made.front().copied() {
            if at >= since {
                break;
            }
            self.made.pop_front();
            match entry {
                Entry::Visitor(pk, key) => {
                    // A later hit of the same visitor keeps the entry.
                    if self.latest.get(&(pk, key)).is_some_and(|latest| *latest <= at) {
                        self.latest.remove(&(pk, key));
                    }
                }
                Entry::Ip(key) => {
                    if let Some(times) = self.ips.get_mut(&key) {
                        times.pop_front();
                        if times.is_empty() {
                            self.ips.remove(&key);
                        }
                    }
                }
            }
        }
    }
}
