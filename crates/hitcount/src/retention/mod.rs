//! Retention: what the crate forgets, and when. Cleanup prunes the hit log
//! in batches (totals and buckets stay), one instance at a time under a
//! lease in the database; the day's salt of cookieless keys is forgotten
//! after two days.

mod cleanup;
mod lease;
mod salt;

pub(crate) use cleanup::Cleanup;
pub use cleanup::{CleanupOptions, CleanupReport};
pub(crate) use salt::SaltCache;
