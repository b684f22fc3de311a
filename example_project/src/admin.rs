//! The admin for hits, behind a login: the hit log with django-hitcount's
//! actions, the counts with a 30-day chart, and the blacklists. Every form
//! carries the CSRF token of `rocket_hitcount::CsrfToken`; every query
//! parameter is checked, and a bad one is a 400 page naming it.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use hitcount::{AdminAction, HitFilter, Window};
use rocket::form::{Form, FromForm};
use rocket::http::Status;
use rocket::request::{FlashMessage, Request};
use rocket::response::{self, Flash, Redirect, Responder};
use rocket::{catch, catchers, get, post, routes, Catcher, Route, State};
use rocket_dyn_templates::{context, Template};
use rocket_hitcount::{CsrfToken, HitCount};

use crate::chart::daily_chart;
use crate::posts::Posts;

mod auth;

pub(crate) use auth::fairing;
pub use auth::hash_password;
use auth::{login, login_page, logout, Admin};

/// Hits per page of the hit log.
const PER_PAGE: u32 = 50;

pub(crate) fn routes() -> Vec<Route> {
    routes![
        home,
        login_page,
        login,
        logout,
        hits_page,
        hits_action,
        counts_page,
        blacklists_page,
        change_blacklist
    ]
}

pub(crate) fn catchers() -> Vec<Catcher> {
    catchers![login_first, incomplete_form]
}

#[catch(401)]
fn login_first() -> Redirect {
    Redirect::to("/admin/login")
}

/// A form that lacks a field (Rocket refuses it before the handler): the
/// error page, not Rocket's bare one. The fields themselves are read as
/// text and checked by the handlers, which name a bad value with a 400.
#[catch(422)]
fn incomplete_form() -> ErrorPage {
    ErrorPage::new(
        Status::UnprocessableEntity,
        "the form is incomplete: a field it needs is missing",
    )
}

/// An admin page that failed: its status and a message naming the
/// problem, shown on the error page.
pub struct ErrorPage {
    status: Status,
    message: String,
}

impl ErrorPage {
    fn new(status: Status, message: impl Into<String>) -> ErrorPage {
        ErrorPage {
            status,
            message: message.into(),
        }
    }

    /// A 400: a parameter with a value it cannot take. The value is
    /// quoted as Rust would, so control characters show as escapes.
    fn bad_parameter(name: &str, value: &str, expected: &str) -> ErrorPage {
        ErrorPage::new(
            Status::BadRequest,
            format!("{name} must be {expected}, got {value:?}"),
        )
    }

    /// A 403 naming the CSRF problem.
    fn forbidden(refused: rocket_hitcount::CsrfError) -> ErrorPage {
        ErrorPage::new(Status::Forbidden, refused.to_string())
    }

    /// A 500; the reason goes to the log, not to the page.
    fn server(what: &str, error: impl std::fmt::Display) -> ErrorPage {
        rocket::error!("{what}: {error}");
        ErrorPage::new(Status::InternalServerError, format!("{what} failed; see the log"))
    }
}

impl<'r> Responder<'r, 'static> for ErrorPage {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let page = Template::render("admin/error", context! { message: self.message });
        (self.status, page).respond_to(request)
    }
}

type Page = Result<Template, ErrorPage>;
type Action = Result<Flash<Redirect>, ErrorPage>;

#[get("/")]
fn home(_admin: Admin) -> Redirect {
    Redirect::to("/admin/hits")
}

/// A query parameter given at most once: `None` when absent or empty (as
/// an empty form field sends it).
fn once<'r>(name: &str, values: &[&'r str]) -> Result<Option<&'r str>, ErrorPage> {
    match values {
        [] => Ok(None),
        [value] => Ok(Some(*value).filter(|v| !v.is_empty())),
        values => Err(ErrorPage::new(
            Status::BadRequest,
            format!("{name} must be given once, got {values:?}"),
        )),
    }
}

/// What a day of `since` and `until` must be: four-digit years, which
/// both databases' timestamps hold and SQLite's text timestamps sort right.
const DAY: &str = "a date like 2026-11-22, from 0001-01-01 to 9999-12-31";

/// A `YYYY-MM-DD` day with a four-digit year.
fn day(value: Option<&str>, name: &str) -> Result<Option<NaiveDate>, ErrorPage> {
    let Some(text) = value else {
        return Ok(None);
    };
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|date| (1..=9999).contains(&date.year()))
        .map(Some)
        .ok_or_else(|| ErrorPage::bad_parameter(name, text, DAY))
}

/// The start of `date`, UTC.
fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

/// The hit log's query string, as written: `LogQuery::filter` checks
/// each parameter, so that a bad one is a 400 naming it and its value
/// rather than a route that does not match or a value silently dropped.
/// Parameters of other names are ignored.
#[derive(FromForm)]
struct LogQuery<'r> {
    page: Vec<&'r str>,
    q: Vec<&'r str>,
    object: Vec<&'r str>,
    since: Vec<&'r str>,
    until: Vec<&'r str>,
}

/// The hit log's filter, and its days as the filter form shows them.
struct LogFilter {
    filter: HitFilter,
    since: Option<NaiveDate>,
    until: Option<NaiveDate>,
}

impl LogQuery<'_> {
    fn filter(&self) -> Result<LogFilter, ErrorPage> {
        let page = match once("page", &self.page)? {
            None => 1,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|page| *page >= 1)
                .ok_or_else(|| ErrorPage::bad_parameter("page", text, "a page number from 1"))?,
        };
        let object_pk = once("object", &self.object)?
            .map(|text| {
                text.parse::<i64>()
                    .map_err(|_| ErrorPage::bad_parameter("object", text, "a hit count pk (a whole number)"))
            })
            .transpose()?;
        let search = once("q", &self.q)?
            .map(|text| {
                if text.chars().any(char::is_control) {
                    Err(ErrorPage::bad_parameter(
                        "q",
                        text,
                        "search text without control characters",
                    ))
                } else {
                    Ok(text.to_owned())
                }
            })
            .transpose()?;
        let since = day(once("since", &self.since)?, "since")?;
        let until = day(once("until", &self.until)?, "until")?;
        let filter = HitFilter {
            object_pk,
            search,
            since: since.map(midnight),
            // "until" names a day shown in full: up to the next midnight.
            // After 9999-12-31 there is no bound: a five-digit year would
            // sort before every other in SQLite's text timestamps.
            until: until
                .and_then(|date| date.checked_add_days(Days::new(1)))
                .filter(|next| next.year() <= 9999)
                .map(midnight),
            page,
            per_page: PER_PAGE,
        };
        Ok(LogFilter { filter, since, until })
    }
}

/// The hit log: newest first, paginated, searchable by IP and user agent,
/// filtered by object and by day.
#[get("/hits?<query..>")]
async fn hits_page(
    _admin: Admin,
    hitcount: &State<HitCount>,
    posts: &State<Posts>,
    csrf: CsrfToken<'_>,
    flash: Option<FlashMessage<'_>>,
    query: LogQuery<'_>,
) -> Page {
    let LogFilter { filter, since, until } = query.filter()?;
    let counter = hitcount.counter();
    let log = counter.admin().list_hits(&filter).await.map_err(|e| match e {
        // Input the checks above let through, refused by the library.
        hitcount::Error::InvalidInput { .. } => ErrorPage::new(Status::BadRequest, e.to_string()),
        e => ErrorPage::server("reading the hit log", e),
    })?;
    let objects = counter
        .list_counts(Window::days(7), 1000)
        .await
        .map_err(|e| ErrorPage::server("reading the objects", e))?;
    let actions: Vec<_> = AdminAction::ALL
        .iter()
        .map(|a| context! { name: a.name(), description: a.description() })
        .collect();
    Ok(Template::render(
        "admin/hits",
        context! {
            pages: log.pages(),
            log,
            objects,
            actions,
            q: filter.search.as_deref().unwrap_or(""),
            object: filter.object_pk,
            // Written back as YYYY-MM-DD, whatever form was accepted, for
            // the date inputs and the page links.
            since: since.map(|d| d.to_string()).unwrap_or_default(),
            until: until.map(|d| d.to_string()).unwrap_or_default(),
            csrf: csrf.value(),
            flash,
            backend: posts.backend(),
        },
    ))
}

#[derive(FromForm)]
struct HitsAction<'r> {
    csrfmiddlewaretoken: Option<&'r str>,
    action: &'r str,
    #[field(name = "selected")]
    selected: Vec<&'r str>,
}

/// Runs one of django-hitcount's actions on the selected hits and says
/// what it did; an unknown action or a hit id that is not a number is a
/// 400 page naming it.
#[post("/hits", data = "<form>")]
async fn hits_action(
    _admin: Admin,
    hitcount: &State<HitCount>,
    csrf: CsrfToken<'_>,
    form: Form<HitsAction<'_>>,
) -> Action {
    csrf.verify(form.csrfmiddlewaretoken)
        .map_err(ErrorPage::forbidden)?;
    let Some(action) = AdminAction::from_name(form.action) else {
        let names: Vec<_> = AdminAction::ALL.iter().map(|a| a.name()).collect();
        let expected = format!("one of {}", names.join(", "));
        return Err(ErrorPage::bad_parameter("action", form.action, &expected));
    };
    let selected = form
        .selected
        .iter()
        .map(|id| {
            id.parse::<i64>()
                .map_err(|_| ErrorPage::bad_parameter("selected", id, "hit ids (whole numbers)"))
        })
        .collect::<Result<Vec<i64>, _>>()?;
    let back = Redirect::to("/admin/hits");
    if selected.is_empty() {
        // django.contrib.admin's message.
        let message =
            "Items must be selected in order to perform actions on them. No items have been changed.";
        return Ok(Flash::warning(back, message));
    }
    let report = hitcount
        .counter()
        .admin()
        .run_action(action, &selected)
        .await
        .map_err(|e| ErrorPage::server("running the action", e))?;
    Ok(Flash::success(back, report.messages.join("\n")))
}

/// Each object: totals, raw views, bot hits, hits in the last 7 days and
/// its daily hits over 30 days as a small chart.
#[get("/counts")]
async fn counts_page(
    _admin: Admin,
    hitcount: &State<HitCount>,
    posts: &State<Posts>,
    csrf: CsrfToken<'_>,
) -> Page {
    let counter = hitcount.counter();
    let objects = counter
        .list_counts(Window::days(7), 1000)
        .await
        .map_err(|e| ErrorPage::server("reading the counts", e))?;
    let mut rows = Vec::with_capacity(objects.len());
    for object in objects {
        let days = counter
            .daily_hits(&object.object, 30)
            .await
            .map_err(|e| ErrorPage::server("reading the daily hits", e))?;
        let chart = daily_chart(&days);
        rows.push(context! { object, chart });
    }
    Ok(Template::render(
        "admin/counts",
        context! { rows, csrf: csrf.value(), backend: posts.backend() },
    ))
}

/// The two blacklists, with forms to add and remove entries.
#[get("/blacklists")]
async fn blacklists_page(
    _admin: Admin,
    hitcount: &State<HitCount>,
    posts: &State<Posts>,
    csrf: CsrfToken<'_>,
    flash: Option<FlashMessage<'_>>,
) -> Page {
    let counter = hitcount.counter();
    let read = |e| ErrorPage::server("reading the blacklists", e);
    let ips = counter.admin().blacklisted_ips().await.map_err(read)?;
    let user_agents = counter.admin().blacklisted_user_agents().await.map_err(read)?;
    Ok(Template::render(
        "admin/blacklists",
        context! { ips, user_agents, csrf: csrf.value(), flash, backend: posts.backend() },
    ))
}

#[derive(FromForm)]
struct BlacklistEntry<'r> {
    csrfmiddlewaretoken: Option<&'r str>,
    /// `ip` or `user_agent`.
    list: &'r str,
    value: &'r str,
}

/// Which list a form names, or a 400 page that says what it expected.
fn list_of(name: &str) -> Result<bool, ErrorPage> {
    match name {
        "ip" => Ok(true),
        "user_agent" => Ok(false),
        other => Err(ErrorPage::new(
            Status::BadRequest,
            format!("list must be \"ip\" or \"user_agent\", got {other:?}"),
        )),
    }
}

/// Adds (`add`) or removes (`remove`) a blacklist entry and says so; an
/// invalid IP or user agent is an error message naming the problem.
#[post("/blacklists/<change>", data = "<form>")]
async fn change_blacklist(
    _admin: Admin,
    hitcount: &State<HitCount>,
    csrf: CsrfToken<'_>,
    change: &str,
    form: Form<BlacklistEntry<'_>>,
) -> Action {
    csrf.verify(form.csrfmiddlewaretoken)
        .map_err(ErrorPage::forbidden)?;
    let add = match change {
        "add" => true,
        "remove" => false,
        other => {
            return Err(ErrorPage::new(
                Status::NotFound,
                format!("no blacklist change {other:?}"),
            ))
        }
    };
    let (counter, value) = (hitcount.counter(), form.value.trim());
    let changed = match (add, list_of(form.list)?) {
        (true, true) => counter.admin().blacklist_ip(value).await,
        (true, false) => counter.admin().blacklist_user_agent(value).await,
        (false, true) => counter.admin().unblacklist_ip(value).await,
        (false, false) => counter.admin().unblacklist_user_agent(value).await,
    };
    let back = Redirect::to("/admin/blacklists");
    Ok(match (changed, add) {
        (Ok(true), true) => Flash::success(back, format!("Blacklisted {value:?}.")),
        (Ok(false), true) => Flash::warning(back, format!("{value:?} was already blacklisted.")),
        (Ok(true), false) => Flash::success(back, format!("Removed {value:?} from the blacklist.")),
        (Ok(false), false) => Flash::warning(back, format!("{value:?} was not blacklisted.")),
        // Invalid input: the core's message names the problem.
        (Err(e @ hitcount::Error::InvalidInput { .. }), _) => Flash::error(back, e.to_string()),
        (Err(e), _) => return Err(ErrorPage::server("changing a blacklist", e)),
    })
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Values of one parameter: none, one or two, each arbitrary text or
    /// text near what the parameter takes.
    fn values() -> impl Strategy<Value = Vec<String>> {
        let value = prop_oneof![
            any::<String>(),
            "[0-9+-]{0,7}-[0-9]{1,2}-[0-9]{1,2}",
            "[0-9-]{0,22}",
            "[a-z0-9.:/ ]{0,20}",
        ];
        prop::collection::vec(value, 0..3)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Whatever the query, the hit log's filter is a value within what
        /// the pages and the database take, or a 400 naming the parameter:
        /// never a panic.
        #[test]
        fn any_query_gives_a_filter_or_a_400(
            page in values(), q in values(), object in values(), since in values(), until in values(),
        ) {
            fn strs(values: &[String]) -> Vec<&str> {
                values.iter().map(String::as_str).collect()
            }
            let query = LogQuery {
                page: strs(&page),
                q: strs(&q),
                object: strs(&object),
                since: strs(&since),
                until: strs(&until),
            };
            match query.filter() {
                Ok(LogFilter { filter, since, until }) => {
                    prop_assert!(filter.page >= 1);
                    prop_assert!(filter.search.iter().all(|q| !q.chars().any(char::is_control)));
                    for day in since.iter().chain(&until) {
                        prop_assert!((1..=9999).contains(&day.year()));
                    }
                    prop_assert_eq!(filter.since, since.map(midnight));
                }
                Err(error) => {
                    prop_assert_eq!(error.status, Status::BadRequest);
                    let named = ["page", "q", "object", "since", "until"]
                        .iter()
                        .any(|name| error.message.starts_with(&format!("{name} must be")));
                    prop_assert!(named, "{}", error.message);
                }
            }
        }
    }
}
