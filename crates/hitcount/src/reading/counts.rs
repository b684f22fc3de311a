//! Reading counts: totals, hits within a window, many objects at once, and
//! the most viewed. Reads never write (django-hitcount creates rows on
//! read; an unknown object here simply reads as zero).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::counting::HitCounter;
use crate::error::{invalid, Result};
use crate::settings::Settings;
use crate::store::At;
use crate::values::ObjectRef;
use crate::values::Window;
use crate::values::{day_start, hour_start, next_day, next_hour};

/// Objects per statement in the list queries: far below every backend's
/// bind-parameter limit.
const OBJECTS_PER_QUERY: usize = 500;

/// The totals of one object.
///
/// ```
/// let none = hitcount::Counts::default();
/// assert_eq!((none.pk, none.hits, none.views, none.bot_hits), (None, 0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// The pk of the object's hit count row, `None` if it has none yet.
    pub pk: Option<i64>,
    /// Unique hits: one per visitor per active window.
    pub hits: i64,
    /// Every request by a person that reached the counter, repeats included.
    pub views: i64,
    /// Requests by bots (with `bots = "separate"`).
    pub bot_hits: i64,
}

impl Counts {
    fn of_row(pk: i64, hits: i64, views: i64, bot_hits: i64) -> Counts {
        Counts {
            pk: Some(pk),
            hits,
            views,
            bot_hits,
        }
    }
}

impl HitCounter {
    /// The totals of a row, with this instance's views not yet written.
    pub(crate) fn counts_of_row(&self, pk: i64, hits: i64, views: i64, bot_hits: i64) -> Counts {
        Counts::of_row(pk, hits, views + self.pending_views(pk), bot_hits)
    }
}

/// One object of a "most viewed" list.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// let post = hitcount::ObjectRef::new("blog.post", 1)?;
/// counter.count_hit(&post, &hitcount::Visitor::new("s")?).await?;
/// let top = counter.most_viewed(Some("blog.post"), None, 10).await?;
/// assert_eq!((top[0].object.id(), top[0].hits), ("1", 1));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Ranked {
    /// The pk of the object's hit count row.
    pub pk: i64,
    /// The object.
    pub object: ObjectRef,
    /// Its hits, in the window asked for or in total.
    pub hits: i64,
}

/// One object of the admin's counts list: its totals and its hits within
/// the window asked for.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// let post = hitcount::ObjectRef::new("blog.post", 1)?;
/// counter.count_hit(&post, &hitcount::Visitor::new("s")?).await?;
/// let listed = counter.list_counts(hitcount::Window::days(7), 100).await?;
/// assert_eq!((&listed[0].object, listed[0].counts.hits, listed[0].hits_within), (&post, 1, 1));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ObjectCounts {
    /// The object.
    pub object: ObjectRef,
    /// Its totals.
    pub counts: Counts,
    /// Its hits within the window.
    pub hits_within: i64,
}

/// The hits of one day (UTC), from the daily buckets.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// let post = hitcount::ObjectRef::new("blog.post", 1)?;
/// counter.count_hit(&post, &hitcount::Visitor::new("s")?).await?;
/// let days = counter.daily_hits(&post, 30).await?;
/// assert_eq!(days.len(), 30);
/// assert_eq!(days[29].day, chrono::Utc::now().date_naive());
/// assert_eq!(days.iter().map(|d| d.hits).sum::<i64>(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DayHits {
    /// The day.
    pub day: NaiveDate,
    /// Hits counted that day.
    pub hits: i64,
    /// Requests of people that day, counted or not (as
    /// [`Counts::views`]); the views of repeat visits still in this
    /// instance's memory (at most a second's) are not in it yet.
    pub views: i64,
    /// Requests of bots that day (as [`Counts::bot_hits`]).
    pub bot_hits: i64,
}

/// A day's start and its bucket's sums, as the daily queries return
/// them: start_at, hits, views, bot_hits.
pub(crate) type DayRow = (DateTime<Utc>, i64, i64, i64);

impl DayHits {
    /// Each of `days` with its row's sums, 0 for a day without one.
    pub(crate) fn series(days: impl Iterator<Item = NaiveDate>, rows: Vec<DayRow>) -> Vec<DayHits> {
        let found: HashMap<NaiveDate, (i64, i64, i64)> = rows
            .into_iter()
            .map(|(at, hits, views, bot_hits)| (at.date_naive(), (hits, views, bot_hits)))
            .collect();
        days.map(|day| {
            let (hits, views, bot_hits) = found.get(&day).copied().unwrap_or_default();
            DayHits {
                day,
                hits,
                views,
                bot_hits,
            }
        })
        .collect()
    }
}

/// The three boundaries of a window ending now: its start, the first full
/// hour and the first full day in it (see the window SQL in the dialect).
/// Each part is read from what cleanup keeps: a window that starts inside
/// the hit log's retention (`keep_hit_in_database`) is exact to the
/// moment; one that starts before it starts at the top of that hour while
/// the hourly buckets are kept (`Settings::hourly_retention`, never
/// shorter), and at the start of that day after. So the answer is the
/// same before and after cleanup.
fn window_bounds(now: DateTime<Utc>, window: Window, settings: &Settings) -> [DateTime<Utc>; 3] {
    let from = now - window.as_chrono();
    if from >= now - settings.keep_hit_in_database.as_chrono() {
        [from, next_hour(from), next_day(from)]
    } else if from >= now - settings.hourly_retention().as_chrono() {
        let hour = hour_start(from);
        [hour, hour, next_day(hour)]
    } else {
        let day = day_start(from);
        [day, day, day]
    }
}

/// The row of the list query.
type ObjectRow = (i64, String, String, i64, i64, i64, i64);

impl HitCounter {
    /// The totals of an object; zeros (and no pk) for an object never
    /// counted. Writes nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let unknown = hitcount::ObjectRef::new("blog.post", 404)?;
    /// assert_eq!(counter.counts(&unknown).await?, hitcount::Counts::default());
    /// # Ok(()) }
    /// ```
    pub async fn counts(&self, object: &ObjectRef) -> Result<Counts> {
        self.within_budget(self.counts_in_budget(object)).await
    }

    /// [`counts`](Self::counts) without a budget of its own, for reads
    /// that run inside one.
    async fn counts_in_budget(&self, object: &ObjectRef) -> Result<Counts> {
        {
            let _views = self.reading_views().await;
            let read_start = self.read_cache().read_start();
            let row: Option<(i64, i64, i64, i64)> = dispatch!(self.db(), pool, sql => {
                sqlx::query_as(sql.find_object)
                    .bind(object.kind())
                    .bind(object.id())
                    .fetch_optional(pool)
                    .await?
            });
            Ok(match row {
                Some((pk, hits, views, bot_hits)) => {
                    self.read_cache().remember(read_start, object, pk, hits, None);
                    self.counts_of_row(pk, hits, views, bot_hits)
                }
                None => {
                    self.read_cache().remember_unknown(read_start, object);
                    Counts::default()
                }
            })
        }
    }

    /// The object's total hits if this instance read or counted them within
    /// `counts_refresh` (0 for an object read to have no row).
    pub(crate) fn cached_hits(&self, object: &ObjectRef) -> Option<i64> {
        match self.cached_pk_and_hits(object) {
            Some((_, hits)) => Some(hits),
            None => self.read_cache().is_unknown(object).then_some(0),
        }
    }

    /// The object's pk and total hits if this instance read or counted
    /// them within `counts_refresh`.
    pub(crate) fn cached_pk_and_hits(&self, object: &ObjectRef) -> Option<(i64, i64)> {
        let cache = self.read_cache();
        let pk = cache.pk(object)?;
        Some((pk, cache.total(pk)?))
    }

    /// The object's pk and total hits, giving it a row (counting nothing)
    /// when it has none: what a page's script needs to count through the
    /// AJAX endpoint. Only an object's very first page writes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// let (pk, hits) = counter.pk_and_hits(&post).await?;
    /// assert_eq!((counter.counts(&post).await?.pk, hits), (Some(pk), 0));
    /// # Ok(()) }
    /// ```
    pub async fn pk_and_hits(&self, object: &ObjectRef) -> Result<(i64, i64)> {
        self.within_budget(async move {
            let counts = self.counts_in_budget(object).await?;
            Ok(match counts.pk {
                Some(pk) => (pk, counts.hits),
                None => (self.register(object).await?, 0),
            })
        })
        .await
    }

    /// The object with this pk and its totals, if there is one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// let pk = counter.register(&post).await?;
    /// assert_eq!(counter.object_by_pk(pk).await?.unwrap().0, post);
    /// assert!(counter.object_by_pk(pk + 1).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn object_by_pk(&self, pk: i64) -> Result<Option<(ObjectRef, Counts)>> {
        self.within_budget(async move {
            let _views = self.reading_views().await;
            let row: Option<(String, String, i64, i64, i64)> = dispatch!(self.db(), pool, sql => {
                sqlx::query_as(sql.find_object_by_pk).bind(pk).fetch_optional(pool).await?
            });
            row.map(|(kind, id, hits, views, bot_hits)| {
                Ok((
                    ObjectRef::new(kind, id)?,
                    self.counts_of_row(pk, hits, views, bot_hits),
                ))
            })
            .transpose()
        })
        .await
    }

    /// The hits of an object within the last `window`
    /// (django-hitcount's `hits_in_last(days=1)`). Writes nothing.
    ///
    /// Exact while the window starts inside the hit log
    /// (`keep_hit_in_database`); longer windows count whole hours from the
    /// top of their first one, from the hourly and daily buckets that
    /// cleanup keeps: the same answer before and after cleanup.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Visitor, Window};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?).await?;
    /// assert_eq!(counter.hits_in_last(&post, "days=1,minutes=30".parse()?).await?, 1);
    /// assert_eq!(counter.hits_in_last(&ObjectRef::new("blog.post", 2)?, Window::days(1)).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn hits_in_last(&self, object: &ObjectRef, window: Window) -> Result<i64> {
        self.within_budget(async move {
            let [from, hour, day] = window_bounds(self.now(), window, self.settings());
            let hits: Option<i64> = dispatch!(self.db(), pool, sql => {
                sqlx::query_scalar(sql.window_hits)
                    .bind(At(from))
                    .bind(At(hour))
                    .bind(At(day))
                    .bind(object.kind())
                    .bind(object.id())
                    .fetch_optional(pool)
                    .await?
            });
            Ok(hits.unwrap_or(0))
        })
        .await
    }

    /// The totals of many objects, in one query (per 500 objects): what a
    /// list page needs. Every requested object is in the map; unknown ones
    /// read as zero.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Visitor};
    /// let posts: Vec<ObjectRef> = (1..=3).map(|i| ObjectRef::new("blog.post", i)).collect::<Result<_, _>>()?;
    /// counter.count_hit(&posts[0], &Visitor::new("s")?).await?;
    /// let counts = counter.counts_many(&posts).await?;
    /// assert_eq!(counts[&posts[0]].hits, 1);
    /// assert_eq!(counts[&posts[2]].hits, 0);
    /// # Ok(()) }
    /// ```
    pub async fn counts_many(&self, objects: &[ObjectRef]) -> Result<HashMap<ObjectRef, Counts>> {
        let rows = self.list_objects(objects, None).await?;
        Ok(objects
            .iter()
            .map(|object| {
                (
                    object.clone(),
                    rows.get(object).map_or_else(Counts::default, |row| row.0),
                )
            })
            .collect())
    }

    /// The hits within `window` of many objects, in one query (per 500
    /// objects). Every requested object is in the map.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Visitor, Window};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?).await?;
    /// let week = counter.hits_in_last_many(&[post.clone()], Window::days(7)).await?;
    /// assert_eq!(week[&post], 1);
    /// # Ok(()) }
    /// ```
    pub async fn hits_in_last_many(
        &self,
        objects: &[ObjectRef],
        window: Window,
    ) -> Result<HashMap<ObjectRef, i64>> {
        let rows = self.list_objects(objects, Some(window)).await?;
        Ok(objects
            .iter()
            .map(|object| (object.clone(), rows.get(object).map_or(0, |row| row.1)))
            .collect())
    }

    /// The totals of many objects and their hits within `window`, together
    /// in one query (per 500 objects): a list page that shows both. Every
    /// requested object is in the map.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Visitor, Window};
    /// let posts = [ObjectRef::new("blog.post", 1)?, ObjectRef::new("blog.post", 2)?];
    /// counter.count_hit(&posts[0], &Visitor::new("s")?).await?;
    /// let both = counter.counts_and_hits_in_last_many(&posts, Window::days(7)).await?;
    /// assert_eq!((both[&posts[0]].0.hits, both[&posts[0]].1), (1, 1));
    /// assert_eq!((both[&posts[1]].0.hits, both[&posts[1]].1), (0, 0));
    /// # Ok(()) }
    /// ```
    pub async fn counts_and_hits_in_last_many(
        &self,
        objects: &[ObjectRef],
        window: Window,
    ) -> Result<HashMap<ObjectRef, (Counts, i64)>> {
        let rows = self.list_objects(objects, Some(window)).await?;
        Ok(objects
            .iter()
            .map(|object| (object.clone(), rows.get(object).copied().unwrap_or_default()))
            .collect())
    }

    /// Every object with a row, oldest pk first (at most `limit`, 1 to
    /// 1000), with its totals and its hits within `window`, in one query:
    /// the admin's counts page. See [`ObjectCounts`].
    pub async fn list_counts(&self, window: Window, limit: u32) -> Result<Vec<ObjectCounts>> {
        self.within_budget(async move {
            if !(1..=1000).contains(&limit) {
                return Err(invalid("limit", limit.to_string(), "expected 1 to 1000"));
            }
            let [from, hour, day] = window_bounds(self.now(), window, self.settings());
            let _views = self.reading_views().await;
            let rows: Vec<ObjectRow> = dispatch!(self.db(), pool, sql => {
                let statement = format!("{} ORDER BY c.id LIMIT {}", sql.list_objects, sql.param(4));
                sqlx::query_as(&statement)
                    .bind(At(from))
                    .bind(At(hour))
                    .bind(At(day))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            });
            rows.into_iter()
                .map(|(pk, kind, id, hits, views, bot_hits, hits_within)| {
                    Ok(ObjectCounts {
                        object: ObjectRef::new(kind, id)?,
                        counts: self.counts_of_row(pk, hits, views, bot_hits),
                        hits_within,
                    })
                })
                .collect()
        })
        .await
    }

    /// The object's hits on each of the last `days` days (1 to 366), today
    /// (UTC) last, days without hits included as 0: from the daily
    /// buckets, so exact after cleanup too. See [`DayHits`].
    pub async fn daily_hits(&self, object: &ObjectRef, days: u32) -> Result<Vec<DayHits>> {
        self.within_budget(async move {
            if !(1..=366).contains(&days) {
                return Err(invalid("days", days.to_string(), "expected 1 to 366"));
            }
            let today = day_start(self.now());
            let first = today - TimeDelta::days(i64::from(days) - 1);
            let rows: Vec<DayRow> = dispatch!(self.db(), pool, sql => {
                sqlx::query_as(sql.daily_hits)
                    .bind(object.kind())
                    .bind(object.id())
                    .bind(At(first))
                    .fetch_all(pool)
                    .await?
            });
            let days = (0..i64::from(days)).map(|i| (first + TimeDelta::days(i)).date_naive());
            Ok(DayHits::series(days, rows))
        })
        .await
    }

    /// The list query: the totals, and the hits within `window` (0 without
    /// one), of the objects that have a row.
    async fn list_objects(
        &self,
        objects: &[ObjectRef],
        window: Option<Window>,
    ) -> Result<HashMap<ObjectRef, (Counts, i64)>> {
        self.within_budget(async move {
            let bounds = window.map(|w| window_bounds(self.now(), w, self.settings()));
            let _views = self.reading_views().await;
            let read_start = self.read_cache().read_start();
            let mut found = HashMap::with_capacity(objects.len());
            for chunk in objects.chunks(OBJECTS_PER_QUERY) {
                let rows: Vec<ObjectRow> = dispatch!(self.db(), pool, sql => {
                    let (select, first) = match bounds {
                        Some(_) => (sql.list_objects, 4),
                        None => (sql.list_totals, 1),
                    };
                    let pairs: Vec<String> = (0..chunk.len())
                        .map(|i| format!("({}, {})", sql.param(first + 2 * i), sql.param(first + 1 + 2 * i)))
                        .collect();
                    let statement =
                        format!("{select} WHERE (c.kind, c.object_id) IN ({}{})", sql.row_list, pairs.join(", "));
                    let mut query = sqlx::query_as(&statement);
                    if let Some([from, hour, day]) = bounds {
                        query = query.bind(At(from)).bind(At(hour)).bind(At(day));
                    }
                    for object in chunk {
                        query = query.bind(object.kind()).bind(object.id());
                    }
                    query.fetch_all(pool).await?
                });
                for (pk, kind, id, hits, views, bot_hits, within) in rows {
                    let object = ObjectRef::new(kind, id)?;
                    self.read_cache().remember(read_start, &object, pk, hits, None);
                    found.insert(object, (self.counts_of_row(pk, hits, views, bot_hits), within));
                }
                for object in chunk.iter().filter(|object| !found.contains_key(*object)) {
                    self.read_cache().remember_unknown(read_start, object);
                }
            }
            Ok(found)
        })
        .await
    }

    /// The `limit` most viewed objects of a kind (or of every kind with
    /// `None`), by hits within `within` or in total with `None`, in one
    /// query. Objects without hits are left out; ties go to the older pk.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Visitor, Window};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?).await?;
    /// let week = counter.most_viewed(Some("blog.post"), Some(Window::days(7)), 5).await?;
    /// assert_eq!(week[0].object, post);
    /// assert!(counter.most_viewed(Some("wiki.page"), None, 5).await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn most_viewed(
        &self,
        kind: Option<&str>,
        within: Option<Window>,
        limit: u32,
    ) -> Result<Vec<Ranked>> {
        self.within_budget(async move {
            let limit = i64::from(limit);
            let rows: Vec<(i64, String, String, i64)> = dispatch!(self.db(), pool, sql => {
                match within {
                    Some(window) => {
                        let [from, hour, day] = window_bounds(self.now(), window, self.settings());
                        sqlx::query_as(sql.most_viewed_within)
                            .bind(At(from))
                            .bind(At(hour))
                            .bind(At(day))
                            .bind(kind)
                            .bind(limit)
                            .fetch_all(pool)
                            .await?
                    }
                    None => sqlx::query_as(sql.most_viewed_total).bind(kind).bind(kind).bind(limit).fetch_all(pool).await?,
                }
            });
            rows.into_iter()
                .map(|(pk, kind, id, hits)| {
                    Ok(Ranked {
                        pk,
                        object: ObjectRef::new(kind, id)?,
                        hits,
                    })
                })
                .collect()
        })
        .await
    }
}
