//! What an instance recently learnt from the database, reused for
//! `counts_refresh`: objects' pks, their totals, and which visitors have an
//! active hit on them. A repeat visit inside that time costs no query.
//! This instance's own writes update the cache as they commit, so it is
//! exact here; what other instances wrote shows at most `counts_refresh`
//! late. Admin changes through this instance empty it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::values::ObjectRef;
use crate::values::Visitor;

/// Entries of one kind. Two generations, swapped every `ttl`: an entry
/// lives between one and two `ttl`s in memory, so memory follows the
/// traffic of the last moments, never the size of the database.
struct Recent<K, V> {
    ttl: Duration,
    maps: Mutex<Generations<K, V>>,
}

struct Generations<K, V> {
    current: HashMap<K, (V, Instant)>,
    previous: HashMap<K, (V, Instant)>,
    started: Instant,
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    fn new(ttl: Duration) -> Self {
        Recent {
            ttl,
            maps: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                started: Instant::now(),
            }),
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let maps = self.maps.lock().expect("not poisoned");
        let (value, at) = maps.current.get(key).or_else(|| maps.previous.get(key))?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Stores `value`, or with `merge` combines it with a fresh value
    /// already there.
    fn put(&self, key: K, value: V, merge: impl FnOnce(V, V) -> V) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut maps = self.maps.lock().expect("not poisoned");
        if now.duration_since(maps.started) >= self.ttl {
            maps.previous = std::mem::take(&mut maps.current);
            maps.started = now;
        }
        let fresh = maps
            .current
            .get(&key)
            .or_else(|| maps.previous.get(&key))
            .filter(|(_, at)| now.duration_since(*at) < self.ttl)
            .map(|(old, _)| old.clone());
        let value = match fresh {
            Some(old) => merge(old, value),
            None => value,
        };
        maps.current.insert(key, (value, now));
    }

    fn clear(&self) {
        let mut maps = self.maps.lock().expect("not poisoned");
        maps.current.clear();
        maps.previous.clear();
    }
}

/// The instance's cache of reads (see the module documentation).
pub(crate) struct ReadCache {
    /// Object → pk.
    objects: Recent<ObjectRef, i64>,
    /// pk → object: the AJAX endpoint's requests name objects by pk.
    names: Recent<i64, ObjectRef>,
    /// Objects read to have no row (never counted). A pk in `objects`
    /// wins: this instance's first hit of an object puts it there.
    unknown: Recent<ObjectRef, ()>,
    /// pk → total hits.
    totals: Recent<i64, i64>,
    /// Visitor and object (see [`active_key`]) → pk and the time of an
    /// active hit of the visitor.
    active: Recent<String, (i64, DateTime<Utc>)>,
    /// Bumped by every [`ReadCache::clear`]: a read that started before a
    /// clear does not put its (older) answer back.
    generation: AtomicU64,
}

/// Where a database read started, for [`ReadCache::remember`].
#[derive(Clone, Copy)]
pub(crate) struct ReadStart(u64);

impl ReadCache {
    /// A cache keeping entries for `ttl`; zero keeps nothing.
    pub(crate) fn new(ttl: Duration) -> ReadCache {
        ReadCache {
            objects: Recent::new(ttl),
            names: Recent::new(ttl),
            unknown: Recent::new(ttl),
            totals: Recent::new(ttl),
            active: Recent::new(ttl),
            generation: AtomicU64::new(0),
        }
    }

    /// Call before a database read whose answer goes to [`ReadCache::remember`].
    pub(crate) fn read_start(&self) -> ReadStart {
        ReadStart(self.generation.load(Ordering::Acquire))
    }

    pub(crate) fn pk(&self, object: &ObjectRef) -> Option<i64> {
        self.objects.get(object)
    }

    /// The object whose pk is `pk`.
    pub(crate) fn object(&self, pk: i64) -> Option<ObjectRef> {
        self.names.get(&pk)
    }

    /// Whether a read found no row for `object` lately (and none has
    /// been seen since).
    pub(crate) fn is_unknown(&self, object: &ObjectRef) -> bool {
        self.objects.get(object).is_none() && self.unknown.get(object).is_some()
    }

    /// Stores that a read found no row for `object`.
    pub(crate) fn remember_unknown(&self, start: ReadStart, object: &ObjectRef) {
        if self.generation.load(Ordering::Acquire) == start.0 {
            self.unknown.put(object.clone(), (), |_, new| new);
        }
    }

    pub(crate) fn total(&self, pk: i64) -> Option<i64> {
        self.totals.get(&pk)
    }

    /// The pk of `object` when `visitor` is known to have a hit on it made
    /// at or after `active_since`.
    pub(crate) fn active_hit(
        &self,
        object: &ObjectRef,
        visitor: &Visitor,
        active_since: DateTime<Utc>,
    ) -> Option<i64> {
        let (pk, hit_at) = self.active.get(active_key(object, visitor).as_str())?;
        (hit_at >= active_since).then_some(pk)
    }

    /// Stores what a read found: the object's pk and total, and the time
    /// of the visitor's active hit if it has one. Totals only grow between
    /// clears, so a read that raced a commit keeps the larger one.
    pub(crate) fn remember(
        &self,
        start: ReadStart,
        object: &ObjectRef,
        pk: i64,
        total: i64,
        active_hit: Option<(&Visitor, DateTime<Utc>)>,
    ) {
        if self.generation.load(Ordering::Acquire) != start.0 {
            return;
        }
        self.remember_pk(start, object, pk);
        self.totals.put(pk, total, i64::max);
        if let Some((visitor, hit_at)) = active_hit {
            self.active
                .put(active_key(object, visitor), (pk, hit_at), |_, new| new);
        }
    }

    /// Stores a pk the counter looked up or created.
    pub(crate) fn remember_pk(&self, start: ReadStart, object: &ObjectRef, pk: i64) {
        if self.generation.load(Ordering::Acquire) == start.0 {
            self.objects.put(object.clone(), pk, |_, new| new);
            self.names.put(pk, object.clone(), |_, new| new);
        }
    }

    /// Forgets everything: after admin changes that lower totals or delete
    /// hits or objects.
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.objects.clear();
        self.names.clear();
        self.unknown.clear();
        self.totals.clear();
        self.active.clear();
    }
}

/// The cache key of a visitor's active hit on an object: the user, or the
/// session key with the previous one (the counter checks both). Joined,
/// not `format!`ted: every repeat visit makes one.
fn active_key(object: &ObjectRef, visitor: &Visitor) -> String {
    let (tag, first, second) = match visitor.user() {
        Some(user) => ("u", user.id(), ""),
        None => (
            "s",
            visitor.session_key(),
            visitor.previous_session_key().unwrap_or_default(),
        ),
    };
    [object.kind(), object.id(), tag, first, second].join("\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: i64) -> ObjectRef {
        ObjectRef::new("blog.post", id).unwrap()
    }

    #[test]
    fn remembers_a_read_and_keeps_the_larger_total() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let visitor = Visitor::new("s").unwrap();
        let hit_at = Utc::now();
        let start = cache.read_start();
        cache.remember(start, &post(1), 7, 5, Some((&visitor, hit_at)));
        cache.remember(start, &post(1), 7, 4, None);
        assert_eq!(cache.pk(&post(1)), Some(7));
        assert_eq!(cache.object(7), Some(post(1)));
        assert_eq!(cache.object(8), None);
        assert_eq!(cache.total(7), Some(5));
        assert_eq!(cache.active_hit(&post(1), &visitor, hit_at), Some(7));
        assert_eq!(cache.active_hit(&post(2), &visitor, hit_at), None);
        let later = hit_at + chrono::TimeDelta::microseconds(1);
        assert_eq!(
            cache.active_hit(&post(1), &visitor, later),
            None,
            "the hit is no longer active"
        );
        let other = Visitor::new("s").unwrap().with_previous_session_key("p").unwrap();
        assert_eq!(
            cache.active_hit(&post(1), &other, hit_at),
            None,
            "another previous key is another visitor"
        );
    }

    #[test]
    fn a_read_started_before_a_clear_is_not_kept() {
        let cache = ReadCache::new(Duration::from_secs(60));
        let start = cache.read_start();
        cache.clear();
        cache.remember(start, &post(1), 7, 5, None);
        assert_eq!(cache.pk(&post(1)), None);
        cache.remember(cache.read_start(), &post(1), 7, 3, None);
        assert_eq!(cache.total(7), Some(3), "after a clear, lower totals are right");
    }

    #[test]
    fn an_unknown_object_stays_unknown_until_its_pk_is_seen() {
        let cache = ReadCache::new(Duration::from_secs(60));
        cache.remember_unknown(cache.read_start(), &post(1));
        assert!(cache.is_unknown(&post(1)));
        assert!(!cache.is_unknown(&post(2)));
        cache.remember_pk(cache.read_start(), &post(1), 7);
        assert!(!cache.is_unknown(&post(1)), "a row seen since wins");
    }

    #[test]
    fn zero_time_keeps_nothing() {
        let cache = ReadCache::new(Duration::ZERO);
        cache.remember(cache.read_start(), &post(1), 7, 5, None);
        assert_eq!((cache.pk(&post(1)), cache.total(7)), (None, None));
    }

    #[test]
    fn entries_expire_after_their_time() {
        let cache = ReadCache::new(Duration::from_millis(20));
        cache.remember(cache.read_start(), &post(1), 7, 5, None);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.total(7), None);
    }
}
