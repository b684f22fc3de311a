//! Counting: the counter and the path of one request, from the read cache
//! (a repeat visit answered from memory) to the counting queue, which
//! decides and writes the new hits in batches (group commit), and the
//! buffer of repeat visits' views.

mod breaker;
mod cache;
mod count;
mod counter;
mod group_commit;
mod views;

use serde::Serialize;

use crate::rules::Reason;

pub use counter::HitCounter;

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
