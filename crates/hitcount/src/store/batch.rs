//! What one write of counted hits holds: the hit rows, each object's added
//! hits and views, and the hourly and daily buckets, as the JSON arguments
//! of `Dialect::write_batch`. The counting queue writes each batch it
//! decided with it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::values::{day_start, hour_start};

/// One hit: a row to write.
#[derive(Clone, Debug)]
pub(crate) struct HitRow<'a> {
    pub pk: i64,
    pub at: DateTime<Utc>,
    /// The IP as the hit log stores it.
    pub stored_ip: Option<&'a str>,
    pub session_key: &'a str,
    pub user_agent: &'a str,
    pub user_id: Option<&'a str>,
}

/// Views by object pk and the start of their day (UTC): what a batch adds
/// to each object's `views` and to its daily buckets.
pub(crate) type DayViews = BTreeMap<(i64, DateTime<Utc>), i64>;

/// The arguments of `Dialect::write_batch` ($1 to $4).
pub(crate) struct BatchWrite {
    pub hits: String,
    pub objects: String,
    pub hourly: String,
    pub daily: String,
}

impl BatchWrite {
    /// `hits` in order, and `views` added to each object and its days (a
    /// counted request is a view too). Hours and days are summed, so a
    /// batch adds once to each bucket.
    pub(crate) fn new<'a>(
        hits: impl IntoIterator<Item = HitRow<'a>>,
        views: &DayViews,
        json_time: fn(DateTime<Utc>) -> String,
    ) -> BatchWrite {
        let mut rows = Vec::new();
        let mut per_object: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let mut hourly: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
        // A day's hits and views.
        let mut daily: BTreeMap<(i64, DateTime<Utc>), (i64, i64)> = BTreeMap::new();
        for (&(pk, day), &n) in views {
            per_object.entry(pk).or_default().1 += n;
            daily.entry((pk, day)).or_default().1 += n;
        }
        for hit in hits {
            per_object.entry(hit.pk).or_default().0 += 1;
            *hourly.entry((hit.pk, hour_start(hit.at))).or_default() += 1;
            daily.entry((hit.pk, day_start(hit.at))).or_default().0 += 1;
            rows.push((
                hit.pk,
                json_time(hit.at),
                hit.stored_ip,
                hit.session_key,
                hit.user_agent,
                hit.user_id,
            ));
        }
        let hourly: Vec<_> = hourly
            .into_iter()
            .map(|((pk, start), n)| (pk, json_time(start), n))
            .collect();
        let daily: Vec<_> = daily
            .into_iter()
            .map(|((pk, start), (hits, views))| (pk, json_time(start), hits, views))
            .collect();
        let objects: Vec<_> = per_object
            .into_iter()
            .map(|(pk, (hits, views))| (pk, hits, views))
            .collect();
        BatchWrite {
            hits: to_json(&rows),
            objects: to_json(&objects),
            hourly: to_json(&hourly),
            daily: to_json(&daily),
        }
    }
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("numbers and strings serialise")
}

/// Runs `Dialect::write_batch` with a [`BatchWrite`] on `$executor`;
/// returns each written object's `(pk, hits)`. A macro for the same reason
/// as `ip_hits!`.
macro_rules! write_batch {
    ($sql:expr, $executor:expr, $batch:expr, $now:expr) => {{
        use $crate::store::dialect::Bind;
        let mut totals: Vec<(i64, i64)> = Vec::new();
        for step in $sql.write_batch {
            let mut query = sqlx::query_as::<_, (i64, i64)>(step.sql);
            for bind in step.binds {
                query = match bind {
                    Bind::Hits => query.bind(&$batch.hits),
                    Bind::Objects => query.bind(&$batch.objects),
                    Bind::Hourly => query.bind(&$batch.hourly),
                    Bind::Daily => query.bind(&$batch.daily),
                    Bind::Now => query.bind($crate::store::At($now)),
                };
            }
            let rows = query.fetch_all($executor).await?;
            if step.totals {
                totals = rows;
            }
        }
        totals
    }};
}
