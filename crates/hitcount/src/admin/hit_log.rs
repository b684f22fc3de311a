//! The hit log for administrators: listing hits, and django-hitcount's
//! admin actions on selected hits.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Admin;
use crate::error::{invalid, Result};
use crate::rules::List;
use crate::store::hit_log::{self, Filters};
use crate::store::At;
use crate::values::parse_ip;
use crate::values::ObjectRef;
use crate::values::{day_start, hour_start};

/// The most hits one page of the hit log may hold.
pub const MAX_PER_PAGE: u32 = 1000;

/// Which hits to list (django-hitcount's `HitAdmin`: filter by object,
/// search IP and user agent, a date range), and which page.
///
/// ```
/// let filter = hitcount::HitFilter { search: Some("Firefox".into()), ..Default::default() };
/// assert_eq!((filter.page, filter.per_page), (1, 100));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HitFilter {
    /// Only hits of the object with this pk.
    pub object_pk: Option<i64>,
    /// Only hits whose user agent or stored IP contains this text
    /// (ignoring the case of ASCII letters on every backend), or whose IP
    /// is this address (also under hashed or masked storage).
    pub search: Option<String>,
    /// Only hits made at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only hits made before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only hits whose IP is stored exactly as this (full, masked or
    /// hashed, as the hit log shows it).
    pub ip: Option<String>,
    /// Only hits with exactly this user agent.
    pub user_agent: Option<String>,
    /// The order of the hits.
    pub order: HitOrder,
    /// The page, from 1.
    pub page: u32,
    /// Hits per page, 1 to 1000.
    pub per_page: u32,
}

impl Default for HitFilter {
    fn default() -> Self {
        HitFilter {
            object_pk: None,
            search: None,
            since: None,
            until: None,
            ip: None,
            user_agent: None,
            order: HitOrder::default(),
            page: 1,
            per_page: 100,
        }
    }
}

/// A column the hit log can be ordered by.
///
/// ```
/// use hitcount::HitColumn;
/// assert_eq!(HitColumn::from_name("user_agent"), Some(HitColumn::UserAgent));
/// assert_eq!(HitColumn::Created.name(), "created");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HitColumn {
    /// When the hit was made.
    #[default]
    Created,
    /// The object hit, in the order objects were first counted (their
    /// pk), as Django's admin orders a foreign key.
    Object,
    /// The IP as stored.
    Ip,
    /// The user agent.
    UserAgent,
}

impl HitColumn {
    /// Every column, in the hit log's order.
    pub const ALL: [HitColumn; 4] = [
        HitColumn::Created,
        HitColumn::Object,
        HitColumn::Ip,
        HitColumn::UserAgent,
    ];

    /// The column's name, for links.
    pub const fn name(self) -> &'static str {
        match self {
            HitColumn::Created => "created",
            HitColumn::Object => "object",
            HitColumn::Ip => "ip",
            HitColumn::UserAgent => "user_agent",
        }
    }

    /// The column of this [`name`](HitColumn::name).
    pub fn from_name(name: &str) -> Option<HitColumn> {
        HitColumn::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The SQL that orders by it, ties broken by the newest hit.
    fn order_by(self, descending: bool) -> &'static str {
        match (self, descending) {
            (HitColumn::Created, true) => "h.created_at DESC, h.id DESC",
            (HitColumn::Created, false) => "h.created_at, h.id",
            (HitColumn::Object, true) => "h.hit_count_id DESC, h.created_at DESC, h.id DESC",
            (HitColumn::Object, false) => "h.hit_count_id, h.created_at DESC, h.id DESC",
            // Hits without a stored IP last, whichever the direction and
            // the backend.
            (HitColumn::Ip, true) => "h.ip IS NULL, h.ip DESC, h.created_at DESC, h.id DESC",
            (HitColumn::Ip, false) => "h.ip IS NULL, h.ip, h.created_at DESC, h.id DESC",
            (HitColumn::UserAgent, true) => "h.user_agent DESC, h.created_at DESC, h.id DESC",
            (HitColumn::UserAgent, false) => "h.user_agent, h.created_at DESC, h.id DESC",
        }
    }
}

/// The order of the hit log: a column and its direction. The default is
/// newest first.
///
/// ```
/// use hitcount::{HitColumn, HitOrder};
/// assert_eq!(HitOrder::default(), HitOrder { column: HitColumn::Created, descending: true });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct HitOrder {
    /// The column.
    pub column: HitColumn,
    /// Largest (or newest) first.
    pub descending: bool,
}

impl Default for HitOrder {
    fn default() -> Self {
        HitOrder {
            column: HitColumn::Created,
            descending: true,
        }
    }
}

/// One row of the hit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HitRecord {
    /// The hit's id, to select it for an action.
    pub id: i64,
    /// The pk of the object's hit count row.
    pub pk: i64,
    /// The object hit.
    pub object: ObjectRef,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The IP as stored (full, masked, hashed), or `None`.
    pub ip: Option<String>,
    /// The session key.
    pub session_key: String,
    /// The user agent, at most 255 characters.
    pub user_agent: String,
    /// The authenticated user's id, if any.
    pub user_id: Option<String>,
}

/// The most hits [`Admin::list_hits`] counts: a larger log says "more
/// than" this, and its pages run to this many hits.
///
/// ```
/// assert_eq!(hitcount::COUNTED_HITS, 100_000);
/// ```
pub const COUNTED_HITS: i64 = 100_000;

/// One page of the hit log, in the filter's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HitPage {
    /// The hits on this page.
    pub hits: Vec<HitRecord>,
    /// How many hits the filter matches in all, at most [`COUNTED_HITS`].
    pub total: i64,
    /// Whether more than [`COUNTED_HITS`] match (the count stops there,
    /// so that it stays cheap on a large log).
    pub more: bool,
    /// This page's number, from 1.
    pub page: u32,
    /// Hits per page.
    pub per_page: u32,
}

impl HitPage {
    /// How many pages the filter's hits fill (at least 1).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let page = counter.admin().list_hits(&hitcount::HitFilter::default()).await?;
    /// assert_eq!((page.total, page.pages()), (0, 1));
    /// # Ok(()) }
    /// ```
    pub fn pages(&self) -> u32 {
        let pages = (self.total.max(1) + i64::from(self.per_page) - 1) / i64::from(self.per_page);
        u32::try_from(pages).unwrap_or(u32::MAX)
    }
}

/// django-hitcount's admin actions on selected hits, in its order.
///
/// ```
/// use hitcount::AdminAction;
/// assert_eq!(AdminAction::BlacklistIps.name(), "blacklist_ips");
/// assert_eq!(AdminAction::BlacklistIps.description(), "Blacklist selected IP addresses");
/// assert_eq!(AdminAction::from_name("delete_queryset"), Some(AdminAction::DeleteHits));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    /// Blacklist the IPs of the selected hits.
    BlacklistIps,
    /// Blacklist the user agents of the selected hits.
    BlacklistUserAgents,
    /// Blacklist the IPs, then delete the hits.
    BlacklistDeleteIps,
    /// Blacklist the user agents, then delete the hits.
    BlacklistDeleteUserAgents,
    /// Delete the hits, lowering the totals.
    DeleteHits,
}

impl AdminAction {
    /// Every action, in django-hitcount's order.
    pub const ALL: [AdminAction; 5] = [
        AdminAction::BlacklistIps,
        AdminAction::BlacklistUserAgents,
        AdminAction::BlacklistDeleteIps,
        AdminAction::BlacklistDeleteUserAgents,
        AdminAction::DeleteHits,
    ];

    /// django-hitcount's name of the action, for forms.
    ///
    /// ```
    /// assert_eq!(hitcount::AdminAction::DeleteHits.name(), "delete_queryset");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            AdminAction::BlacklistIps => "blacklist_ips",
            AdminAction::BlacklistUserAgents => "blacklist_user_agents",
            AdminAction::BlacklistDeleteIps => "blacklist_delete_ips",
            AdminAction::BlacklistDeleteUserAgents => "blacklist_delete_user_agents",
            AdminAction::DeleteHits => "delete_queryset",
        }
    }

    /// The action with this [`name`](AdminAction::name).
    ///
    /// ```
    /// assert_eq!(hitcount::AdminAction::from_name("nope"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<AdminAction> {
        AdminAction::ALL.into_iter().find(|a| a.name() == name)
    }

    /// django-hitcount's label of the action.
    ///
    /// ```
    /// assert_eq!(
    ///     hitcount::AdminAction::BlacklistDeleteUserAgents.description(),
    ///     "Delete selected hits and blacklist related User Agents"
    /// );
    /// ```
    pub const fn description(self) -> &'static str {
        match self {
            AdminAction::BlacklistIps => "Blacklist selected IP addresses",
            AdminAction::BlacklistUserAgents => "Blacklist selected User Agents",
            AdminAction::BlacklistDeleteIps => "Delete selected hits and blacklist related IP addresses",
            AdminAction::BlacklistDeleteUserAgents => {
                "Delete selected hits and blacklist related User Agents"
            }
            AdminAction::DeleteHits => "Delete selected hits",
        }
    }
}

/// What an admin action did, with django-hitcount's messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ActionReport {
    /// The messages to show, in order.
    pub messages: Vec<String>,
    /// New blacklist entries.
    pub blacklisted: u64,
    /// Hits deleted.
    pub deleted: u64,
}

fn blacklisted_message(selected: usize, list: List) -> String {
    match list {
        List::Ips => format!("Successfully blacklisted {selected} IPs"),
        List::UserAgents => format!("Successfully blacklisted {selected} User Agents"),
    }
}

fn deleted_message(deleted: u64) -> String {
    if deleted == 1 {
        "1 hit was successfully deleted.".to_owned()
    } else {
        format!("{deleted} hits were successfully deleted.")
    }
}

/// A LIKE pattern matching `text` anywhere, with LIKE's wildcards in
/// `text` taken literally, each escaped with `!` (the query compares it
/// case-insensitively). `!`, not `\\`, which MariaDB's string literals
/// would read as an escape of their own.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The row of the hit-log query.
type HitRow = (
    i64,
    i64,
    String,
    String,
    DateTime<Utc>,
    Option<String>,
    String,
    String,
    Option<String>,
);

/// A hit-log row as the API gives it.
fn record(row: HitRow) -> Result<HitRecord> {
    let (id, pk, kind, object_id, created_at, ip, session_key, user_agent, user_id) = row;
    Ok(HitRecord {
        id,
        pk,
        object: ObjectRef::new(kind, object_id)?,
        created_at,
        ip,
        session_key,
        user_agent,
        user_id,
    })
}

impl Admin<'_> {
    /// One page of the hit log, in the filter's order (newest first by
    /// default).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{HitFilter, ObjectRef, Visitor};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?.with_user_agent("Firefox")).await?;
    /// let page = counter.admin().list_hits(&HitFilter { search: Some("firefox".into()), ..Default::default() }).await?;
    /// assert_eq!(page.hits[0].object, post);
    /// assert!(counter.admin().list_hits(&HitFilter { per_page: 0, ..Default::default() }).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn list_hits(self, filter: &HitFilter) -> Result<HitPage> {
        if filter.per_page == 0 || filter.per_page > MAX_PER_PAGE {
            return Err(invalid(
                "page size",
                filter.per_page.to_string(),
                "must be 1 to 1000",
            ));
        }
        if filter.page == 0 {
            return Err(invalid("page", "0", "pages start at 1"));
        }
        let search = filter.search.as_deref().unwrap_or("");
        for (name, text) in [
            ("search", Some(search)),
            ("ip", filter.ip.as_deref()),
            ("user agent", filter.user_agent.as_deref()),
        ] {
            if let Some(text) = text.filter(|text| text.contains('\0')) {
                return Err(invalid(name, text, "must not contain NUL characters"));
            }
        }
        // An empty search is no filter.
        let pattern = filter
            .search
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(contains_pattern);
        // Under hashed or masked storage, an address typed in the search
        // box finds its hits through the stored form.
        let stored_ip = parse_ip(search).ok().and_then(|ip| self.counter.stored_ip(ip));
        let filters = Filters {
            object_pk: filter.object_pk,
            search: pattern.as_deref(),
            search_ip: stored_ip.as_deref(),
            since: filter.since,
            until: filter.until,
            ip: filter.ip.as_deref(),
            user_agent: filter.user_agent.as_deref(),
        };
        let offset = i64::from(filter.page - 1) * i64::from(filter.per_page);
        let counter = self.counter;
        let order = filter.order.column.order_by(filter.order.descending);
        let read = async {
            Ok(dispatch!(counter.db(), pool, sql => {
                let (conditions, args) = hit_log::conditions(sql, &filters);
                let count = hit_log::count(&conditions, COUNTED_HITS);
                let total: i64 = bind_args!(sqlx::query_scalar(&count), &args).fetch_one(pool).await?;
                // A page past the counted hits holds nothing to read.
                let rows = if offset < total.min(COUNTED_HITS) {
                    let page = hit_log::page(sql, &conditions, args.len(), order);
                    bind_args!(sqlx::query_as(&page), &args)
                        .bind(i64::from(filter.per_page))
                        .bind(offset)
                        .fetch_all(pool)
                        .await?
                } else {
                    Vec::new()
                };
                (rows, total)
            }))
        };
        let (rows, total): (Vec<HitRow>, i64) = counter.within_budget(read).await?;
        let hits = rows.into_iter().map(record).collect::<Result<_>>()?;
        Ok(HitPage {
            hits,
            total: total.min(COUNTED_HITS),
            more: total > COUNTED_HITS,
            page: filter.page,
            per_page: filter.per_page,
        })
    }

    /// The hits of these ids that exist, newest first: what a page asks
    /// about before an action deletes them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{HitFilter, ObjectRef, Visitor};
    /// counter.count_hit(&ObjectRef::new("blog.post", 1)?, &Visitor::new("s")?).await?;
    /// let id = counter.admin().list_hits(&HitFilter::default()).await?.hits[0].id;
    /// let hits = counter.admin().hits_by_id(&[id, id + 1000]).await?;
    /// assert_eq!(hits.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn hits_by_id(self, hit_ids: &[i64]) -> Result<Vec<HitRecord>> {
        let mut ids: Vec<i64> = hit_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut rows: Vec<HitRecord> = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let counter = self.counter;
            let read = async {
                Ok(dispatch!(counter.db(), pool, sql => {
                let params: Vec<String> = (1..=chunk.len()).map(|n| sql.param(n)).collect();
                let statement = format!(
                    "SELECT h.id, h.hit_count_id, c.kind, c.object_id, h.created_at, h.ip, h.session_key, \
                            h.user_agent, h.user_id \
                     FROM hitcount_hit h JOIN hitcount_hit_count c ON c.id = h.hit_count_id \
                     WHERE h.id IN ({})",
                    params.join(", ")
                );
                let mut query = sqlx::query_as(&statement);
                for id in chunk {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?
                }))
            };
            let found: Vec<HitRow> = counter.within_budget(read).await?;
            for row in found {
                rows.push(record(row)?);
            }
        }
        rows.sort_by_key(|hit| std::cmp::Reverse((hit.created_at, hit.id)));
        Ok(rows)
    }

    /// Runs an admin action on the selected hits and reports it with
    /// django-hitcount's messages. Ids of hits that no longer exist are
    /// skipped; blacklisting twice is harmless.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// use hitcount::{AdminAction, HitFilter, ObjectRef, Visitor};
    /// let post = ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &Visitor::new("s")?.with_user_agent("Mozilla/5.0 (Evil)")).await?;
    /// let ids: Vec<i64> = counter.admin().list_hits(&HitFilter::default()).await?.hits.iter().map(|h| h.id).collect();
    /// let report = counter.admin().run_action(AdminAction::BlacklistDeleteUserAgents, &ids).await?;
    /// assert_eq!(report.messages, ["Successfully blacklisted 1 User Agents", "1 hit was successfully deleted."]);
    /// assert_eq!(counter.counts(&post).await?.hits, 0);
    /// # Ok(()) }
    /// ```
    pub async fn run_action(self, action: AdminAction, hit_ids: &[i64]) -> Result<ActionReport> {
        let mut report = ActionReport::default();
        let list = match action {
            AdminAction::BlacklistIps | AdminAction::BlacklistDeleteIps => Some(List::Ips),
            AdminAction::BlacklistUserAgents | AdminAction::BlacklistDeleteUserAgents => {
                Some(List::UserAgents)
            }
            AdminAction::DeleteHits => None,
        };
        if let Some(list) = list {
            let (selected, added) = self.blacklist_from_hits(list, hit_ids).await?;
            report.blacklisted = added;
            report.messages.push(blacklisted_message(selected, list));
        }
        if matches!(
            action,
            AdminAction::BlacklistDeleteIps
                | AdminAction::BlacklistDeleteUserAgents
                | AdminAction::DeleteHits
        ) {
            report.deleted = self.delete_hits(hit_ids).await?;
            report.messages.push(deleted_message(report.deleted));
        }
        Ok(report)
    }

    /// Blacklists the IPs (as stored: an address, a masked network or a
    /// hash) or user agents of the selected hits. Returns how many of the
    /// hits exist and how many entries are new.
    async fn blacklist_from_hits(self, list: List, hit_ids: &[i64]) -> Result<(usize, u64)> {
        let ids: BTreeSet<i64> = hit_ids.iter().copied().collect();
        let visitors: Vec<(Option<String>, String)> = dispatch!(self.counter.db(), pool, sql => {
            let mut visitors = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(row) = sqlx::query_as(sql.hit_visitor).bind(id).fetch_optional(pool).await? {
                    visitors.push(row);
                }
            }
            visitors
        });
        let storage = self.counter.settings().ip_storage;
        let entries: BTreeSet<String> = visitors
            .iter()
            .filter_map(|(ip, user_agent)| match list {
                List::Ips => ip.as_deref().map(|ip| storage.blacklist_entry(ip)),
                List::UserAgents => Some(user_agent.clone()).filter(|ua| !ua.is_empty()),
            })
            .collect();
        let entries: Vec<String> = entries.into_iter().collect();
        let added = self.change_blacklist(list, &entries, true).await?;
        Ok((visitors.len(), added))
    }

    /// Forgets an object: its totals, hit log and buckets (django-hitcount's
    /// cascade when a HitCount is deleted). Call it when the object itself
    /// is deleted. Returns whether the object had counts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let post = hitcount::ObjectRef::new("blog.post", 1)?;
    /// counter.count_hit(&post, &hitcount::Visitor::new("s")?).await?;
    /// assert!(counter.admin().delete_counts(&post).await?);
    /// assert_eq!(counter.counts(&post).await?.hits, 0);
    /// # Ok(()) }
    /// ```
    pub async fn delete_counts(self, object: &ObjectRef) -> Result<bool> {
        let deleted = dispatch!(self.counter.writer(), pool, sql => {
            let mut tx = pool.begin().await?;
            let mut deleted = 0;
            for statement in sql.delete_object {
                deleted = sqlx::query(statement)
                    .bind(object.kind())
                    .bind(object.id())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            deleted
        });
        self.counter.changed_counts();
        // The last statement deleted the object's own row, or nothing.
        Ok(deleted == 1)
    }

    /// Deletes the selected hits and lowers their objects' totals and
    /// buckets by as much (never below zero), in one transaction. Returns
    /// how many hits were deleted.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert_eq!(counter.admin().delete_hits(&[12345]).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn delete_hits(self, hit_ids: &[i64]) -> Result<u64> {
        let ids: BTreeSet<i64> = hit_ids.iter().copied().collect();
        dispatch!(self.counter.writer(), pool, sql => {
            let mut tx = pool.begin().await?;
            let mut totals: BTreeMap<i64, i64> = BTreeMap::new();
            let mut hours: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
            let mut days: BTreeMap<(i64, DateTime<Utc>), i64> = BTreeMap::new();
            for id in &ids {
                let deleted: Option<(i64, DateTime<Utc>)> =
                    sqlx::query_as(sql.delete_hit).bind(id).fetch_optional(&mut *tx).await?;
                if let Some((pk, created_at)) = deleted {
                    *totals.entry(pk).or_default() += 1;
                    *hours.entry((pk, hour_start(created_at))).or_default() += 1;
                    *days.entry((pk, day_start(created_at))).or_default() += 1;
                }
            }
            for (pk, n) in &totals {
                sqlx::query(sql.remove_hits).bind(pk).bind(n).execute(&mut *tx).await?;
            }
            for (statement, buckets) in [(sql.remove_hourly, &hours), (sql.remove_daily, &days)] {
                for ((pk, start), n) in buckets {
                    sqlx::query(statement).bind(pk).bind(At(*start)).bind(n).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            self.counter.changed_counts();
            Ok(totals.values().map(|n| *n as u64).sum())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_django_hitcounts() {
        assert_eq!(
            blacklisted_message(5, List::Ips),
            "Successfully blacklisted 5 IPs"
        );
        assert_eq!(
            blacklisted_message(1, List::UserAgents),
            "Successfully blacklisted 1 User Agents"
        );
        assert_eq!(deleted_message(1), "1 hit was successfully deleted.");
        assert_eq!(deleted_message(5), "5 hits were successfully deleted.");
        assert_eq!(deleted_message(0), "0 hits were successfully deleted.");
    }

    #[test]
    fn search_patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("Firefox"), "%Firefox%");
        assert_eq!(contains_pattern("100%_!\\"), "%100!%!_!!\\%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn action_names_round_trip_in_django_order() {
        let names: Vec<&str> = AdminAction::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(
            names,
            [
                "blacklist_ips",
                "blacklist_user_agents",
                "blacklist_delete_ips",
                "blacklist_delete_user_agents",
                "delete_queryset"
            ]
        );
        for action in AdminAction::ALL {
            assert_eq!(AdminAction::from_name(action.name()), Some(action));
        }
    }
}
