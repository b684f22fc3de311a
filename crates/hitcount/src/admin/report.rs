//! The site owner's figures for a period of days: totals, a daily series,
//! objects ranked, and the signs of inflated counts. Everything but the
//! top IPs and user agents comes from the daily buckets, so a page costs
//! the same few queries however large the hit log grows.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Serialize;

use super::Admin;
use crate::error::{invalid, Result};
use crate::reading::{DayHits, DayRow};
use crate::store::At;
use crate::values::ObjectRef;

/// The most days a [`Period`] spans.
///
/// ```
/// let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 14).unwrap();
/// assert!(hitcount::Period::last_days(today, hitcount::MAX_PERIOD_DAYS).is_ok());
/// assert!(hitcount::Period::last_days(today, hitcount::MAX_PERIOD_DAYS + 1).is_err());
/// ```
pub const MAX_PERIOD_DAYS: u32 = 366;

/// How many of a period's newest hits [`Admin::top_visitors`] looks at.
///
/// ```
/// assert_eq!(hitcount::VISITOR_SAMPLE, 10_000);
/// ```
pub const VISITOR_SAMPLE: u32 = 10_000;

/// Days, UTC, from `first` to `last` included: what a report covers.
///
/// ```
/// use chrono::NaiveDate;
/// use hitcount::Period;
/// let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
/// let week = Period::last_days(today, 7)?;
/// assert_eq!(week.first(), NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
/// assert_eq!(week.days(), 7);
/// assert!(Period::new(today, week.first()).is_err(), "the first day comes first");
/// let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
/// assert_eq!(Period::new(last, last)?.bounds().1, None, "no end after the last day");
/// # Ok::<(), hitcount::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Period {
    first: NaiveDate,
    last: NaiveDate,
}

impl Period {
    /// From `first` to `last`, both included: at most
    /// [`MAX_PERIOD_DAYS`] days, in years 1 to 9999.
    pub fn new(first: NaiveDate, last: NaiveDate) -> Result<Period> {
        if !(1..=9999).contains(&first.year()) || !(1..=9999).contains(&last.year()) {
            return Err(invalid(
                "period",
                format!("{first} to {last}"),
                "must lie in the years 1 to 9999",
            ));
        }
        if first > last {
            return Err(invalid(
                "period",
                format!("{first} to {last}"),
                "the first day must not come after the last",
            ));
        }
        let days = (last - first).num_days() + 1;
        if days > i64::from(MAX_PERIOD_DAYS) {
            return Err(invalid(
                "period",
                format!("{first} to {last}"),
                "spans more than 366 days",
            ));
        }
        Ok(Period { first, last })
    }

    /// The `days` days that end with `today` (1 to [`MAX_PERIOD_DAYS`]).
    pub fn last_days(today: NaiveDate, days: u32) -> Result<Period> {
        if !(1..=MAX_PERIOD_DAYS).contains(&days) {
            return Err(invalid("days", days.to_string(), "expected 1 to 366"));
        }
        let first = today
            .checked_sub_days(Days::new(u64::from(days) - 1))
            .ok_or_else(|| invalid("days", days.to_string(), "reaches before the first date"))?;
        Period::new(first, today)
    }

    /// The first day (see [`Period`] for an example).
    pub fn first(&self) -> NaiveDate {
        self.first
    }

    /// The last day, included.
    ///
    /// ```
    /// # use chrono::NaiveDate;
    /// let day = NaiveDate::from_ymd_opt(2026, 3, 14).unwrap();
    /// assert_eq!(hitcount::Period::last_days(day, 30)?.last(), day);
    /// # Ok::<(), hitcount::Error>(())
    /// ```
    pub fn last(&self) -> NaiveDate {
        self.last
    }

    /// How many days it spans (see [`Period`] for an example).
    pub fn days(&self) -> u32 {
        (self.last - self.first).num_days() as u32 + 1
    }

    /// Every day, oldest first.
    ///
    /// ```
    /// # use chrono::NaiveDate;
    /// let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    /// let days: Vec<String> = hitcount::Period::last_days(day, 2)?.each_day().map(|d| d.to_string()).collect();
    /// assert_eq!(days, ["2026-02-28", "2026-03-01"]);
    /// # Ok::<(), hitcount::Error>(())
    /// ```
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> {
        self.first.iter_days().take(self.days() as usize)
    }

    /// Its start and end as times: the first midnight, and the midnight
    /// after the last day (none after 9999-12-31).
    ///
    /// ```
    /// # use chrono::NaiveDate;
    /// let day = NaiveDate::from_ymd_opt(2026, 3, 14).unwrap();
    /// let (start, end) = hitcount::Period::new(day, day)?.bounds();
    /// assert_eq!(start.to_rfc3339(), "2026-03-14T00:00:00+00:00");
    /// assert_eq!(end.unwrap().to_rfc3339(), "2026-03-15T00:00:00+00:00");
    /// # Ok::<(), hitcount::Error>(())
    /// ```
    pub fn bounds(&self) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        let midnight = |day: NaiveDate| Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN));
        // A five-digit year would sort before every other in SQLite's
        // text timestamps.
        let next = self.last.succ_opt().filter(|day| day.year() <= 9999);
        (midnight(self.first), next.map(midnight))
    }
}

/// One object's figures in a period (see
/// [`PeriodObject::views_per_hit`] for an example).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PeriodObject {
    /// The pk of its hit count row (what the hit log filters by).
    pub pk: i64,
    /// The object.
    pub object: ObjectRef,
    /// Hits counted in the period.
    pub hits: i64,
    /// Views by people in the period, repeats included.
    pub views: i64,
    /// Bot hits in the period.
    pub bot_hits: i64,
}

impl PeriodObject {
    /// Views per counted hit (views when nothing was counted).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Period, Visitor};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// let visitor = Visitor::new("s")?;
    /// counter.count_hit(&post, &visitor).await?;
    /// counter.count_hit(&post, &visitor).await?; // a repeat: a view, no hit
    /// counter.flush_views().await?; // or wait a second
    /// let today = chrono::Utc::now().date_naive();
    /// let report = counter.admin().period_report(Period::last_days(today, 1)?, 5).await?;
    /// assert_eq!(report.most_views_per_hit[0].views_per_hit(), 2.0);
    /// assert_eq!(report.top[0].bot_share(), 0.0);
    /// # Ok(()) }
    /// ```
    pub fn views_per_hit(&self) -> f64 {
        self.views as f64 / self.hits.max(1) as f64
    }

    /// The share of bots among all its requests counted or tallied: bot
    /// hits over hits plus bot hits, 0 to 1 (see
    /// [`views_per_hit`](PeriodObject::views_per_hit) for an example).
    pub fn bot_share(&self) -> f64 {
        let all = self.hits + self.bot_hits;
        if all == 0 {
            0.0
        } else {
            self.bot_hits as f64 / all as f64
        }
    }
}

/// The sums of a period's days.
///
/// ```
/// let none = hitcount::PeriodTotals::of(&[]);
/// assert_eq!((none.hits, none.views, none.bot_hits), (0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PeriodTotals {
    /// Hits counted.
    pub hits: i64,
    /// Views by people, repeats included.
    pub views: i64,
    /// Bot hits.
    pub bot_hits: i64,
}

impl PeriodTotals {
    /// The sums of `days`.
    pub fn of(days: &[DayHits]) -> PeriodTotals {
        days.iter()
            .fold(PeriodTotals::default(), |sum, day| PeriodTotals {
                hits: sum.hits + day.hits,
                views: sum.views + day.views,
                bot_hits: sum.bot_hits + day.bot_hits,
            })
    }
}

/// What a period looked like, from the daily buckets. See
/// [`Admin::period_report`] for an example.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PeriodReport {
    /// The period.
    pub period: Period,
    /// Its totals: hits, views and bot hits of every object.
    pub totals: PeriodTotals,
    /// Each day of the period with its totals, oldest first, days without
    /// anything included.
    pub days: Vec<DayHits>,
    /// The objects with the most hits, most first (ties: older pk first).
    pub top: Vec<PeriodObject>,
    /// Objects viewed far more often than counted: the most views per hit
    /// among objects with more views than hits, most first.
    pub most_views_per_hit: Vec<PeriodObject>,
    /// Objects with the largest share of bots among their requests, most
    /// first.
    pub most_bots: Vec<PeriodObject>,
    /// How many objects were hit, viewed or visited by bots in the period.
    pub objects: u64,
}

/// One line of a "top" list: a value and how often it occurs (see
/// [`Admin::top_visitors`] for an example).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Tally {
    /// The IP as stored, or the user agent.
    pub value: String,
    /// Hits with it.
    pub hits: i64,
}

/// The IPs and user agents that made the most hits among the newest of a
/// period.
///
/// ```
/// let none = hitcount::TopVisitors::default();
/// assert!(none.ips.is_empty() && none.user_agents.is_empty() && none.sampled == 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TopVisitors {
    /// Stored IPs (full, masked or hashed), most hits first.
    pub ips: Vec<Tally>,
    /// User agents, most hits first.
    pub user_agents: Vec<Tally>,
    /// How many hits were looked at: the period's newest, at most
    /// [`VISITOR_SAMPLE`].
    pub sampled: i64,
}

/// The row of the period's objects query: pk, hits, views, bot hits.
type ObjectSums = (i64, i64, i64, i64);

impl Admin<'_> {
    /// Each day of `period` with its hits, views and bot hits, of every
    /// object or of the one with pk `object_pk`, oldest first, days
    /// without anything included: one query of the daily buckets, so
    /// exact after cleanup. Views of repeat visits reach the buckets
    /// within a second of the visit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Period, PeriodTotals, Visitor};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?).await?;
    /// let pk = counter.counts(&post).await?.pk;
    /// let week = Period::last_days(chrono::Utc::now().date_naive(), 7)?;
    /// let days = counter.admin().period_days(week, pk).await?;
    /// assert_eq!(days.len(), 7);
    /// assert_eq!(PeriodTotals::of(&days).hits, 1);
    /// # Ok(()) }
    /// ```
    pub async fn period_days(self, period: Period, object_pk: Option<i64>) -> Result<Vec<DayHits>> {
        let (from, until) = period.bounds();
        let counter = self.counter;
        counter
            .within_budget(async move {
                let rows: Vec<DayRow> = dispatch!(counter.db(), pool, sql => {
                    match object_pk {
                        None => sqlx::query_as(sql.period_days).bind(At(from)).bind(until.map(At)).fetch_all(pool).await?,
                        Some(pk) => sqlx::query_as(sql.period_days_of)
                            .bind(At(from))
                            .bind(until.map(At))
                            .bind(pk)
                            .fetch_all(pool)
                            .await?,
                    }
                });
                Ok(DayHits::series(period.each_day(), rows))
            })
            .await
    }

    /// The period's days and totals (see [`period_days`](Admin::period_days)),
    /// and the objects ranked three ways, each ranking at most `limit`
    /// objects (1 to 1000). It takes three queries whatever the number of
    /// objects: the daily series, the rankings (the database sums each
    /// object's daily buckets and sends only the objects ranked), and the
    /// names of the objects ranked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Period, Visitor};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?).await?;
    /// let today = chrono::Utc::now().date_naive();
    /// let report = counter.admin().period_report(Period::last_days(today, 7)?, 10).await?;
    /// assert_eq!((report.totals.hits, report.days.len()), (1, 7));
    /// assert_eq!(report.top[0].object, post);
    /// # Ok(()) }
    /// ```
    pub async fn period_report(self, period: Period, limit: u32) -> Result<PeriodReport> {
        if !(1..=1000).contains(&limit) {
            return Err(invalid("limit", limit.to_string(), "expected 1 to 1000"));
        }
        let days = self.period_days(period, None).await?;
        let (from, until) = period.bounds();
        let counter = self.counter;
        counter
            .within_budget(async move {
                let rows: Vec<(i64, i64, i64, i64, i64)> = dispatch!(counter.db(), pool, sql => {
                    sqlx::query_as(sql.period_rankings)
                        .bind(At(from))
                        .bind(until.map(At))
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await?
                });
                // The rankings' objects, once each, and the count.
                let mut objects = 0;
                let mut object_rows: Vec<ObjectSums> = Vec::with_capacity(rows.len());
                for (ranking, pk, hits, views, bot_hits) in rows {
                    if ranking == 3 {
                        objects = pk;
                    } else if !object_rows.iter().any(|row| row.0 == pk) {
                        object_rows.push((pk, hits, views, bot_hits));
                    }
                }
                let rankings = rank(&object_rows, limit as usize);
                let names = self
                    .names(rankings.iter().flatten().map(|&i| object_rows[i].0))
                    .await?;
                let named = |pks: &[usize]| -> Vec<PeriodObject> {
                    pks.iter()
                        .filter_map(|&i| {
                            let (pk, hits, views, bot_hits) = object_rows[i];
                            names.get(&pk).map(|object| PeriodObject {
                                pk,
                                object: object.clone(),
                                hits,
                                views,
                                bot_hits,
                            })
                        })
                        .collect()
                };
                Ok(PeriodReport {
                    period,
                    totals: PeriodTotals::of(&days),
                    days,
                    top: named(&rankings[0]),
                    most_views_per_hit: named(&rankings[1]),
                    most_bots: named(&rankings[2]),
                    objects: objects as u64,
                })
            })
            .await
    }

    /// The objects of these pks, in one query; a pk without a row (an
    /// object deleted meanwhile) is left out.
    async fn names(self, pks: impl Iterator<Item = i64>) -> Result<HashMap<i64, ObjectRef>> {
        let mut pks: Vec<i64> = pks.collect();
        pks.sort_unstable();
        pks.dedup();
        if pks.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String, String)> = dispatch!(self.counter.db(), pool, sql => {
            let params: Vec<String> = (1..=pks.len()).map(|n| sql.param(n)).collect();
            let statement = format!(
                "SELECT id, kind, object_id FROM hitcount_hit_count WHERE id IN ({})",
                params.join(", ")
            );
            let mut query = sqlx::query_as(&statement);
            for pk in &pks {
                query = query.bind(pk);
            }
            query.fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(pk, kind, id)| Ok((pk, ObjectRef::new(kind, id)?)))
            .collect()
    }

    /// The stored IPs and user agents with the most hits among the
    /// period's newest [`VISITOR_SAMPLE`] hits in the hit log, of every
    /// object or of one, at most `limit` of each (1 to 100). The sample
    /// keeps the page's cost bounded on a large hit log; [`TopVisitors`]
    /// says how many hits it held. Hits removed by cleanup are not in it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{ObjectRef, Period, Visitor};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?.with_user_agent("Firefox")).await?;
    /// let today = chrono::Utc::now().date_naive();
    /// let top = counter.admin().top_visitors(Period::last_days(today, 1)?, None, 5).await?;
    /// assert_eq!((top.user_agents[0].value.as_str(), top.user_agents[0].hits), ("Firefox", 1));
    /// assert_eq!(top.sampled, 1);
    /// # Ok(()) }
    /// ```
    pub async fn top_visitors(
        self,
        period: Period,
        object_pk: Option<i64>,
        limit: u32,
    ) -> Result<TopVisitors> {
        if !(1..=100).contains(&limit) {
            return Err(invalid("limit", limit.to_string(), "expected 1 to 100"));
        }
        let (from, until) = period.bounds();
        let counter = self.counter;
        counter
            .within_budget(async move {
                let rows: Vec<(Option<String>, String)> = dispatch!(counter.db(), pool, sql => {
                    match object_pk {
                        None => sqlx::query_as(sql.newest_visitors)
                            .bind(At(from))
                            .bind(until.map(At))
                            .bind(i64::from(VISITOR_SAMPLE))
                            .fetch_all(pool)
                            .await?,
                        Some(pk) => sqlx::query_as(sql.newest_visitors_of)
                            .bind(pk)
                            .bind(At(from))
                            .bind(until.map(At))
                            .bind(i64::from(VISITOR_SAMPLE))
                            .fetch_all(pool)
                            .await?,
                    }
                });
                let mut ips: HashMap<&str, i64> = HashMap::new();
                let mut user_agents: HashMap<&str, i64> = HashMap::new();
                for (ip, user_agent) in &rows {
                    if let Some(ip) = ip {
                        *ips.entry(ip).or_default() += 1;
                    }
                    *user_agents.entry(user_agent).or_default() += 1;
                }
                Ok(TopVisitors {
                    ips: most(ips, limit as usize),
                    user_agents: most(user_agents, limit as usize),
                    sampled: rows.len() as i64,
                })
            })
            .await
    }
}

/// The `limit` values with the most hits, most first, ties in text order.
fn most(counts: HashMap<&str, i64>, limit: usize) -> Vec<Tally> {
    let mut counts: Vec<(&str, i64)> = counts.into_iter().collect();
    counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .into_iter()
        .take(limit)
        .map(|(value, hits)| Tally {
            value: value.to_owned(),
            hits,
        })
        .collect()
}

/// The indexes into `rows` of the three rankings of a report, each at
/// most `limit` long: by hits (objects with hits), by views per hit
/// (objects with more views than hits), by bot share (objects with bot
/// hits). Ties go to the older pk.
fn rank(rows: &[ObjectSums], limit: usize) -> [Vec<usize>; 3] {
    let by = |keep: &dyn Fn(&ObjectSums) -> bool, key: &dyn Fn(&ObjectSums) -> f64| -> Vec<usize> {
        let mut picked: Vec<usize> = (0..rows.len()).filter(|&i| keep(&rows[i])).collect();
        picked.sort_by(|&a, &b| {
            key(&rows[b])
                .total_cmp(&key(&rows[a]))
                .then(rows[a].0.cmp(&rows[b].0))
        });
        picked.truncate(limit);
        picked
    };
    [
        by(&|r| r.1 > 0, &|r| r.1 as f64),
        by(&|r| r.2 > r.1, &|r| r.2 as f64 / r.1.max(1) as f64),
        by(&|r| r.3 > 0, &|r| r.3 as f64 / (r.1 + r.3) as f64),
    ]
}
