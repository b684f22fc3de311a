//! Reading every total or daily bucket in one pass, row by row, for
//! exports of any size: the rows stream from the database and are handed
//! to a callback, so memory stays flat.

use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;

use super::counts::{Counts, DayHits};
use crate::counting::HitCounter;
use crate::error::Result;
use crate::store::At;
use crate::values::ObjectRef;

impl HitCounter {
    /// Calls `row` with every object's totals (of one kind, or of all with
    /// `None`), oldest pk first, reading them as a stream. `row` returns
    /// `ControlFlow::Break` to stop early (a closed pipe, say).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use std::ops::ControlFlow;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &hitcount::Visitor::new("s")?).await?;
    /// let mut seen = Vec::new();
    /// counter.each_total(None, |object, counts| {
    ///     seen.push((object.to_string(), counts.hits));
    ///     ControlFlow::Continue(())
    /// }).await?;
    /// assert_eq!(seen, [("blog.post:1".to_owned(), 1)]);
    /// # Ok(()) }
    /// ```
    pub async fn each_total(
        &self,
        kind: Option<&str>,
        mut row: impl FnMut(&ObjectRef, &Counts) -> ControlFlow<()>,
    ) -> Result<()> {
        dispatch!(self.db(), pool, sql => {
            let mut rows = sqlx::query_as::<_, (String, String, i64, i64, i64, i64)>(sql.export_totals)
                .bind(kind)
                .fetch(pool);
            while let Some((kind, id, pk, hits, views, bot_hits)) = rows.try_next().await? {
                let object = ObjectRef::new(kind, id)?;
                if row(&object, &self.counts_of_row(pk, hits, views, bot_hits)).is_break() {
                    break;
                }
            }
        });
        Ok(())
    }

    /// Calls `row` with every daily bucket (the object, and its day in UTC
    /// with the hits, views and bot hits of that day) of one kind or all, from `since` on, by object and day, reading them as
    /// a stream. `row` returns `ControlFlow::Break` to stop early.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use std::ops::ControlFlow;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &hitcount::Visitor::new("s")?).await?;
    /// let mut hits = 0;
    /// counter.each_day(Some("blog.post"), None, |_, day| {
    ///     hits += day.hits;
    ///     ControlFlow::Continue(())
    /// }).await?;
    /// assert_eq!(hits, 1);
    /// # Ok(()) }
    /// ```
    pub async fn each_day(
        &self,
        kind: Option<&str>,
        since: Option<NaiveDate>,
        mut row: impl FnMut(&ObjectRef, &DayHits) -> ControlFlow<()>,
    ) -> Result<()> {
        let since: Option<DateTime<Utc>> = since.map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc());
        dispatch!(self.db(), pool, sql => {
            let mut rows = sqlx::query_as::<_, (String, String, DateTime<Utc>, i64, i64, i64)>(sql.export_daily)
                .bind(kind)
                .bind(kind)
                .bind(since.map(At))
                .bind(since.map(At))
                .fetch(pool);
            while let Some((kind, id, day, hits, views, bot_hits)) = rows.try_next().await? {
                let object = ObjectRef::new(kind, id)?;
                let day = DayHits { day: day.date_naive(), hits, views, bot_hits };
                if row(&object, &day).is_break() {
                    break;
                }
            }
        });
        Ok(())
    }
}
