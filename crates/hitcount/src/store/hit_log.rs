//! The hit log's queries, built from the filters that are set: a filter
//! left out costs nothing (no `OR $n IS NULL` the planner must see
//! through), and the count reads no more rows than it reports.

use chrono::{DateTime, Utc};

use super::dialect::Dialect;

/// A bind parameter of a hit-log query.
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    Time(DateTime<Utc>),
}

/// The filters of a hit-log query, each `None` when not set.
#[derive(Default)]
pub(crate) struct Filters<'a> {
    pub object_pk: Option<i64>,
    /// A LIKE pattern (LIKE's wildcards escaped with `!`) for the user
    /// agent or the stored IP, matched case-insensitively: both sides
    /// go through the backend's `LOWER`.
    pub search: Option<&'a str>,
    /// With `search`: a stored IP that also matches.
    pub search_ip: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// The columns of the hit log's rows: id, hit_count_id, kind, object_id,
/// created_at, ip, session_key, user_agent, user_id.
const COLUMNS: &str = "SELECT h.id, h.hit_count_id, c.kind, c.object_id, h.created_at, h.ip, h.session_key, \
                       h.user_agent, h.user_id FROM hitcount_hit h JOIN hitcount_hit_count c ON c.id = h.hit_count_id";

/// The `WHERE` clause of `filters` (empty when none is set), its
/// parameters (each bound once, in order), and their values.
pub(crate) fn conditions<'a>(sql: &Dialect, filters: &Filters<'a>) -> (String, Vec<Arg<'a>>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    let mut param = |arg: Arg<'a>| {
        args.push(arg);
        sql.param(args.len())
    };
    if let Some(pk) = filters.object_pk {
        clauses.push(format!("h.hit_count_id = {}", param(Arg::Int(pk))));
    }
    if let Some(pattern) = filters.search {
        let (user_agent, ip) = (param(Arg::Text(pattern)), param(Arg::Text(pattern)));
        let mut search = format!(
            "LOWER(h.user_agent) LIKE LOWER({user_agent}) ESCAPE '!' OR LOWER(COALESCE(h.ip, '')) LIKE LOWER({ip}) ESCAPE '!'"
        );
        if let Some(ip) = filters.search_ip {
            search.push_str(&format!(" OR h.ip = {}", param(Arg::Text(ip))));
        }
        clauses.push(format!("({search})"));
    }
    if let Some(since) = filters.since {
        clauses.push(format!("h.created_at >= {}", param(Arg::Time(since))));
    }
    if let Some(until) = filters.until {
        clauses.push(format!("h.created_at < {}", param(Arg::Time(until))));
    }
    if let Some(ip) = filters.ip {
        clauses.push(format!("h.ip = {}", param(Arg::Text(ip))));
    }
    if let Some(user_agent) = filters.user_agent {
        clauses.push(format!("h.user_agent = {}", param(Arg::Text(user_agent))));
    }
    let clause = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (clause, args)
}

/// How many hits match `conditions`, counting at most `cap + 1` of them
/// (so that the count stays cheap on a large log and says whether there
/// are more than `cap`).
pub(crate) fn count(conditions: &str, cap: i64) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM hitcount_hit h{conditions} LIMIT {}) t",
        cap + 1
    )
}

/// One page of the hits matching `conditions` (with `args` parameters),
/// in `order`; its limit and offset are the next two parameters, so that
/// every page of a filter is one statement to prepare.
pub(crate) fn page(sql: &Dialect, conditions: &str, args: usize, order: &str) -> String {
    format!(
        "{COLUMNS}{conditions} ORDER BY {order} LIMIT {} OFFSET {}",
        sql.param(args + 1),
        sql.param(args + 2)
    )
}

/// Binds `args` to `query`, in order. A macro: the query's type is the
/// backend's.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::store::hit_log::Arg::Int(value) => query.bind(*value),
                $crate::store::hit_log::Arg::Text(value) => query.bind(*value),
                $crate::store::hit_log::Arg::Time(value) => query.bind($crate::store::At(*value)),
            };
        }
        query
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_filters_set_are_in_the_query() {
        let sql = &crate::store::dialect::STANDARD;
        let (none, args) = conditions(sql, &Filters::default());
        assert_eq!((none.as_str(), args.len()), ("", 0));
        assert_eq!(
            count(&none, 100),
            "SELECT COUNT(*) FROM (SELECT 1 FROM hitcount_hit h LIMIT 101) t"
        );
        let filters = Filters {
            object_pk: Some(3),
            search: Some("%fire%"),
            search_ip: Some("abc"),
            user_agent: Some("x"),
            ..Filters::default()
        };
        let (clause, args) = conditions(sql, &filters);
        assert_eq!(
            clause,
            " WHERE h.hit_count_id = $1 AND (LOWER(h.user_agent) LIKE LOWER($2) ESCAPE '!' \
             OR LOWER(COALESCE(h.ip, '')) LIKE LOWER($3) ESCAPE '!' OR h.ip = $4) AND h.user_agent = $5"
        );
        assert_eq!(args.len(), 5);
        assert!(page(sql, &clause, args.len(), "h.id").ends_with("ORDER BY h.id LIMIT $6 OFFSET $7"));
    }
}
