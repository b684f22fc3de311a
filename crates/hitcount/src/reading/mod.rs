//! Reading counts: an object's totals, hits within a window, lists and
//! rankings, daily series, the export of every object, and the blocking
//! reader that Tera functions call. Reads on an instance add the views it
//! holds in memory, so its totals are exact.

mod blocking;
mod counts;
mod export;

pub use blocking::BlockingCounter;
pub(crate) use counts::DayRow;
pub use counts::{Counts, DayHits, ObjectCounts, Ranked};
