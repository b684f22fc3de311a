//! The dashboard's query strings, read as text and checked here, so that a
//! bad value is a 400 naming the parameter and what it takes, never a
//! route that does not match or a value dropped in silence.

use chrono::{Datelike, NaiveDate};
use hitcount::{HitColumn, HitFilter, HitOrder, Period, MAX_PERIOD_DAYS};
use rocket::form::FromForm;
use rocket::http::uri::fmt::{Query, UriDisplay};
use rocket::http::Status;
use serde::Serialize;

/// A request the dashboard refuses: its status and a message naming the
/// problem.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: Status,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// A 400: `name` has a value it cannot take. The value is quoted as
    /// Rust would, so control characters show as escapes.
    pub(crate) fn bad(name: &str, value: &str, expected: &str) -> Refusal {
        Refusal::new(
            Status::BadRequest,
            format!("{name} must be {expected}, got {value:?}"),
        )
    }
}

/// A parameter given at most once: `None` when absent or empty (as an
/// empty form field sends it).
pub(crate) fn once<'r>(name: &str, values: &[&'r str]) -> Result<Option<&'r str>, Refusal> {
    match values {
        [] => Ok(None),
        [value] => Ok(Some(*value).filter(|v| !v.is_empty())),
        values => Err(Refusal::new(
            Status::BadRequest,
            format!("{name} must be given once, got {values:?}"),
        )),
    }
}

/// A parameter given exactly once, not empty; `expected` says what it
/// takes.
pub(crate) fn required<'r>(name: &str, values: &[&'r str], expected: &str) -> Result<&'r str, Refusal> {
    once(name, values)?.ok_or_else(|| {
        Refusal::new(
            Status::BadRequest,
            format!("{name} must be {expected}, and is missing"),
        )
    })
}

const DAY: &str = "a date like 2026-03-14, from 0001-01-01 to 9999-12-31";

/// A `YYYY-MM-DD` day with a four-digit year.
fn day(name: &str, value: Option<&str>) -> Result<Option<NaiveDate>, Refusal> {
    let Some(text) = value else { return Ok(None) };
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|date| (1..=9999).contains(&date.year()))
        .map(Some)
        .ok_or_else(|| Refusal::bad(name, text, DAY))
}

/// Search text a person typed: no control characters.
fn text(name: &str, value: Option<&str>) -> Result<Option<String>, Refusal> {
    match value {
        Some(text) if text.chars().any(char::is_control) => {
            Err(Refusal::bad(name, text, "text without control characters"))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// A value the hit log holds (a stored IP, a user agent), as its links
/// send it: anything but NUL, which no database stores in text (a user
/// agent may hold a tab).
fn stored(name: &str, value: Option<&str>) -> Result<Option<String>, Refusal> {
    match value {
        Some(text) if text.contains('\0') => Err(Refusal::bad(name, text, "text without NUL characters")),
        other => Ok(other.map(str::to_owned)),
    }
}

/// A whole number of at least `min`.
fn number<T: std::str::FromStr + PartialOrd>(
    name: &str,
    value: Option<&str>,
    min: T,
    expected: &str,
) -> Result<Option<T>, Refusal> {
    let Some(text) = value else { return Ok(None) };
    text.parse::<T>()
        .ok()
        .filter(|n| *n >= min)
        .map(Some)
        .ok_or_else(|| Refusal::bad(name, text, expected))
}

/// The period picker's choices.
pub(crate) const PERIODS: [(&str, &str); 4] = [
    ("today", "Today"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("custom", "Custom"),
];

/// `?period=today|7d|30d|custom&from=&to=`: the period a page shows.
#[derive(FromForm, Default)]
pub(crate) struct PeriodQuery<'r> {
    period: Vec<&'r str>,
    from: Vec<&'r str>,
    to: Vec<&'r str>,
}

/// A period as chosen, and as the picker writes it back.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Chosen {
    /// `today`, `7d`, `30d` or `custom`.
    pub(crate) name: &'static str,
    #[serde(skip)]
    pub(crate) period: Period,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) days: u32,
}

impl Chosen {
    /// The query string that chooses it again.
    pub(crate) fn query(&self) -> String {
        match self.name {
            "custom" => format!("period=custom&from={}&to={}", self.from, self.to),
            name => format!("period={name}"),
        }
    }
}

impl PeriodQuery<'_> {
    /// The period; 7 days up to `today` when none is chosen.
    pub(crate) fn chosen(&self, today: NaiveDate) -> Result<Chosen, Refusal> {
        let name = once("period", &self.period)?.unwrap_or("7d");
        let from = day("from", once("from", &self.from)?)?;
        let to = day("to", once("to", &self.to)?)?;
        let (name, period) = match name {
            "today" => ("today", Period::last_days(today, 1)),
            "7d" => ("7d", Period::last_days(today, 7)),
            "30d" => ("30d", Period::last_days(today, 30)),
            "custom" => {
                let (Some(from), Some(to)) = (from, to) else {
                    return Err(Refusal::new(
                        Status::BadRequest,
                        "a custom period needs both from and to, as dates like 2026-03-14",
                    ));
                };
                ("custom", Period::new(from, to))
            }
            other => return Err(Refusal::bad("period", other, "one of today, 7d, 30d, custom")),
        };
        let period = period.map_err(|_| {
            Refusal::new(
                Status::BadRequest,
                format!(
                    "the period must run forwards and span at most {MAX_PERIOD_DAYS} days, got {} to {}",
                    from.map(|d| d.to_string()).unwrap_or_default(),
                    to.map(|d| d.to_string()).unwrap_or_default(),
                ),
            )
        })?;
        Ok(Chosen {
            name,
            period,
            from: period.first().to_string(),
            to: period.last().to_string(),
            days: period.days(),
        })
    }
}

/// Hits per page of the hit log.
pub(crate) const PER_PAGE: u32 = 50;

/// The hit log's query string.
#[derive(FromForm, Default)]
pub(crate) struct LogQuery<'r> {
    pub(crate) page: Vec<&'r str>,
    pub(crate) q: Vec<&'r str>,
    pub(crate) object: Vec<&'r str>,
    pub(crate) ip: Vec<&'r str>,
    pub(crate) ua: Vec<&'r str>,
    pub(crate) since: Vec<&'r str>,
    pub(crate) until: Vec<&'r str>,
    pub(crate) o: Vec<&'r str>,
}

/// The hit log's filters as the page writes them back into its links and
/// forms, and as the core takes them.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct LogState {
    pub(crate) q: String,
    pub(crate) object: String,
    pub(crate) ip: String,
    pub(crate) ua: String,
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) o: String,
}

impl LogState {
    /// Whether any filter is set (the order is not a filter).
    pub(crate) fn filters(&self) -> bool {
        [
            &self.q,
            &self.object,
            &self.ip,
            &self.ua,
            &self.since,
            &self.until,
        ]
        .iter()
        .any(|v| !v.is_empty())
    }

    /// The query string of these filters with `extra` pairs, empty ones
    /// left out.
    pub(crate) fn query(&self, extra: &[(&str, &str)]) -> String {
        let pairs = [
            ("q", self.q.as_str()),
            ("object", &self.object),
            ("ip", &self.ip),
            ("ua", &self.ua),
            ("since", &self.since),
            ("until", &self.until),
            ("o", &self.o),
        ];
        let mut query = String::new();
        for (name, value) in pairs.iter().chain(extra).filter(|(_, v)| !v.is_empty()) {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(name);
            query.push('=');
            query.push_str(&value_in_query(value));
        }
        query
    }
}

/// `value` escaped for a query string.
pub(crate) fn value_in_query(value: &str) -> String {
    struct Text<'a>(&'a str);
    impl UriDisplay<Query> for Text<'_> {
        fn fmt(&self, f: &mut rocket::http::uri::fmt::Formatter<'_, Query>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }
    format!("{}", &Text(value) as &dyn UriDisplay<Query>)
}

/// The order parameter of a column: `ip` ascending, `-ip` descending.
pub(crate) fn order_param(order: HitOrder) -> String {
    let sign = if order.descending { "-" } else { "" };
    format!("{sign}{}", order.column.name())
}

impl LogQuery<'_> {
    /// The core's filter and the state to write back.
    pub(crate) fn filter(&self) -> Result<(HitFilter, LogState), Refusal> {
        let page = number("page", once("page", &self.page)?, 1u32, "a page number from 1")?.unwrap_or(1);
        let object = number(
            "object",
            once("object", &self.object)?,
            i64::MIN,
            "an object's pk (a whole number)",
        )?;
        let search = text("q", once("q", &self.q)?)?;
        let ip = stored("ip", once("ip", &self.ip)?)?;
        let user_agent = stored("ua", once("ua", &self.ua)?)?;
        let since = day("since", once("since", &self.since)?)?;
        let until = day("until", once("until", &self.until)?)?;
        let order = match once("o", &self.o)? {
            None => HitOrder::default(),
            Some(text) => {
                let (descending, name) = match text.strip_prefix('-') {
                    Some(name) => (true, name),
                    None => (false, text),
                };
                let column = HitColumn::from_name(name).ok_or_else(|| {
                    Refusal::bad(
                        "o",
                        text,
                        "a column (created, object, ip, user_agent), - first for descending",
                    )
                })?;
                HitOrder { column, descending }
            }
        };
        // "until" names a day shown in full: up to the next midnight; a
        // period's bounds give exactly that.
        let bounds = |first: NaiveDate, last: NaiveDate| Period::new(first, last).map(|p| p.bounds());
        let since_at = since.and_then(|d| bounds(d, d).ok()).map(|b| b.0);
        let until_at = until.and_then(|d| bounds(d, d).ok()).and_then(|b| b.1);
        let state = LogState {
            q: search.clone().unwrap_or_default(),
            object: object.map(|pk| pk.to_string()).unwrap_or_default(),
            ip: ip.clone().unwrap_or_default(),
            ua: user_agent.clone().unwrap_or_default(),
            since: since.map(|d| d.to_string()).unwrap_or_default(),
            until: until.map(|d| d.to_string()).unwrap_or_default(),
            o: if order == HitOrder::default() {
                String::new()
            } else {
                order_param(order)
            },
        };
        let filter = HitFilter {
            object_pk: object,
            search,
            since: since_at,
            until: until_at,
            ip,
            user_agent,
            order,
            page,
            per_page: PER_PAGE,
        };
        Ok((filter, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 14).unwrap()
    }

    #[test]
    fn periods_are_chosen_or_refused_by_name() {
        let chosen = <PeriodQuery as Default>::default().chosen(today()).unwrap();
        assert_eq!(
            (chosen.name, chosen.days, chosen.from.as_str()),
            ("7d", 7, "2026-03-08")
        );
        let custom = PeriodQuery {
            period: vec!["custom"],
            from: vec!["2026-01-01"],
            to: vec!["2026-01-31"],
        };
        let chosen = custom.chosen(today()).unwrap();
        assert_eq!(
            (chosen.days, chosen.query().as_str()),
            (31, "period=custom&from=2026-01-01&to=2026-01-31")
        );
        for (period, from, to, named) in [
            ("week", "", "", "period must be one of"),
            ("custom", "2026-01-01", "", "needs both from and to"),
            ("custom", "2026-02-01", "2026-01-01", "must run forwards"),
            ("custom", "2020-01-01", "2026-01-01", "at most 366 days"),
            ("custom", "2026-13-01", "2026-01-01", "from must be a date"),
        ] {
            let query = PeriodQuery {
                period: vec![period],
                from: vec![from],
                to: vec![to],
            };
            let refusal = query.chosen(today()).unwrap_err();
            assert_eq!(refusal.status, Status::BadRequest);
            assert!(refusal.message.contains(named), "{}", refusal.message);
        }
    }

    #[test]
    fn the_log_filter_is_checked_and_written_back() {
        let query = LogQuery {
            ip: vec!["192.0.2.1"],
            ua: vec!["Firefox & co"],
            o: vec!["-ip"],
            until: vec!["2026-03-14"],
            ..Default::default()
        };
        let (filter, state) = query.filter().unwrap();
        assert_eq!(
            filter.order,
            HitOrder {
                column: HitColumn::Ip,
                descending: true
            }
        );
        assert_eq!(filter.until.unwrap().to_rfc3339(), "2026-03-15T00:00:00+00:00");
        assert_eq!(
            state.query(&[("page", "2")]),
            "ip=192.0.2.1&ua=Firefox%20%26%20co&until=2026-03-14&o=-ip&page=2"
        );
        for (query, named) in [
            (
                LogQuery {
                    page: vec!["0"],
                    ..Default::default()
                },
                "page must be",
            ),
            (
                LogQuery {
                    object: vec!["x"],
                    ..Default::default()
                },
                "object must be",
            ),
            (
                LogQuery {
                    o: vec!["size"],
                    ..Default::default()
                },
                "o must be",
            ),
            (
                LogQuery {
                    ua: vec!["a\u{0}"],
                    ..Default::default()
                },
                "ua must be",
            ),
            (
                LogQuery {
                    q: vec!["a", "b"],
                    ..Default::default()
                },
                "q must be given once",
            ),
            (
                LogQuery {
                    since: vec!["yesterday"],
                    ..Default::default()
                },
                "since must be",
            ),
        ] {
            let refusal = query.filter().unwrap_err();
            assert!(refusal.message.starts_with(named), "{}", refusal.message);
        }
    }
}
