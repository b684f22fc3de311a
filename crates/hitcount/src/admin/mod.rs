//! The site owner's operations, reached through [`HitCounter::admin`]: the
//! hit log and its actions, the blacklists, cleanup on demand, and
//! importing django-hitcount's tables. Pages that count and show hits
//! need none of them.

mod blacklists;
mod hit_log;
mod import;
mod report;

use crate::counting::HitCounter;
use crate::error::Result;
use crate::retention::{CleanupOptions, CleanupReport};

pub use blacklists::{BlacklistEntry, Blacklisted};
pub use hit_log::{
    ActionReport, AdminAction, HitColumn, HitFilter, HitOrder, HitPage, HitRecord, COUNTED_HITS, MAX_PER_PAGE,
};
pub use import::DjangoImport;
pub use report::{
    Period, PeriodObject, PeriodReport, PeriodTotals, Tally, TopVisitors, MAX_PERIOD_DAYS, VISITOR_SAMPLE,
};

/// The site owner's operations on a counter: what an admin page or the
/// `hitcount` command does. Changes here reach every instance sharing the
/// database (blacklists are reloaded, cached totals forgotten).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// let admin = counter.admin();
/// admin.blacklist_ip("203.0.113.9").await?;
/// assert_eq!(admin.list_hits(&hitcount::HitFilter::default()).await?.total, 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct Admin<'a> {
    counter: &'a HitCounter,
}

impl HitCounter {
    /// The site owner's operations on this counter (see [`Admin`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.admin().blacklisted_ips().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn admin(&self) -> Admin<'_> {
        Admin { counter: self }
    }
}

impl Admin<'_> {
    /// Removes hit rows older than `keep_hit_in_database`, in batches of at
    /// most `cleanup_batch_size` (paced on SQLite: see
    /// [`CleanupOptions::batch_time`]), then hourly buckets past
    /// `keep_hourly_buckets`. Totals and daily buckets stay, so
    /// `hits_in_last` over longer windows still counts the removed hits.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let report = counter.admin().cleanup().await?;
    /// println!("{}", report.message());
    /// # Ok(()) }
    /// ```
    pub async fn cleanup(self) -> Result<CleanupReport> {
        self.cleanup_with(&CleanupOptions::from(self.counter.settings()), |_| {})
            .await
    }

    /// Cleanup with explicit options, calling `progress` with the running
    /// total after each batch. Interrupting it (or dropping its future,
    /// even mid-batch) leaves the database consistent: each batch commits
    /// alone or not at all; running it again continues. A `keep` shorter
    /// than `keep_hit_active` is refused: it would delete hits that still
    /// block recounts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{CleanupOptions, Window};
    /// let mut options = CleanupOptions::from(counter.settings());
    /// options.dry_run = true;
    /// assert_eq!(counter.admin().cleanup_with(&options, |_| {}).await?.message(), "Would remove 0 Hits");
    /// options.keep = Window::days(1);
    /// assert!(counter.admin().cleanup_with(&options, |_| {}).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn cleanup_with(
        self,
        options: &CleanupOptions,
        progress: impl FnMut(u64),
    ) -> Result<CleanupReport> {
        self.counter.cleaner().run(options, progress).await
    }

    /// [`cleanup`](Admin::cleanup), unless another app instance on the
    /// same database is running one: then `None`, and nothing is done. The
    /// instance running it holds a lease in the database (`hitcount_state`,
    /// renewed every few hundred batches, given up at the end, expiring by
    /// itself ten minutes after an instance that died). This is what
    /// `cleanup_interval` runs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let report = counter.admin().cleanup_alone().await?.expect("no other instance is cleaning up");
    /// assert_eq!(report.message(), "Successfully removed 0 Hits");
    /// # Ok(()) }
    /// ```
    pub async fn cleanup_alone(self) -> Result<Option<CleanupReport>> {
        self.counter.cleaner().alone().await
    }
}
