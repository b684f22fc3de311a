//! One storage suite, run against SQLite and PostgreSQL: every behaviour of
//! django-hitcount's model, view, admin and cleanup tests, ported, plus the
//! guarantees it lacks (exactly-once counting, history after cleanup).

#[macro_use]
extern crate hitcount_testing;
use hitcount_testing as common;

mod admin;
mod cleanup;
mod concurrency;
mod counting;
mod privacy;
mod read_cache;
mod reads;
mod report;

use hitcount::{HitCounter, ObjectRef, Visitor};

/// The blog post with this id, as django-hitcount's tests use.
pub fn post(id: i64) -> ObjectRef {
    ObjectRef::new("blog.post", id).unwrap()
}

/// django-hitcount's test request: IP 127.0.0.1, user agent `my_clever_agent`.
pub fn visitor(session: &str) -> Visitor {
    Visitor::new(session)
        .unwrap()
        .with_ip("127.0.0.1".parse().unwrap())
        .with_user_agent("my_clever_agent")
}

/// Whether `visitor`'s request for `object` was counted.
pub async fn counted(counter: &HitCounter, object: &ObjectRef, visitor: &Visitor) -> bool {
    counter.count_hit(object, visitor).await.unwrap().hit_counted
}
