//! The admin for hits, behind a login: the hit log with django-hitcount's
//! actions, the counts with a 30-day chart, and the blacklists. Every form
//! carries the CSRF token of `rocket_hitcount::CsrfToken`.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use chrono::{NaiveDate, TimeZone, Utc};
use hitcount::{AdminAction, HitFilter, Window};
use rocket::fairing::AdHoc;
use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FlashMessage, FromRequest, Outcome, Request};
use rocket::response::{self, Flash, Redirect, Responder};
use rocket::{catch, catchers, get, post, routes, Catcher, Either, Route, State};
use rocket_dyn_templates::{context, Template};
use rocket_hitcount::{CsrfToken, HitCount};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::chart::daily_chart;
use crate::posts::Posts;

/// The admin's private (encrypted) session cookie: the user's name.
const SESSION_COOKIE: &str = "example_admin";

/// Hits per page of the hit log.
const PER_PAGE: u32 = 50;

/// `[default.admin]`: who may log in.
#[derive(Debug, Deserialize)]
pub struct AdminConfig {
    /// The admin's user name.
    pub user: String,
    /// An Argon2 hash (PHC string) of the password, as printed by
    /// `cargo run -p example_project -- hash-password`.
    pub password_hash: String,
}

/// The password of the development admin in `Rocket.toml`, which a
/// release build or the release profile refuses.
const DEVELOPMENT_PASSWORD: &str = "admin";

impl AdminConfig {
    fn accepts(&self, user: &str, password: &str) -> bool {
        let Ok(hash) = PasswordHash::new(&self.password_hash) else {
            return false;
        };
        // The password is checked whatever the name, so the time taken
        // does not tell whether the name was right.
        let password_ok = Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok();
        let user_ok =
            user.len() == self.user.len() && bool::from(user.as_bytes().ct_eq(self.user.as_bytes()));
        password_ok && user_ok
    }
}

/// The Argon2 hash (PHC string) of `password`, with a random salt: what
/// `admin.password_hash` takes (`cargo run -p example_project --
/// hash-password` prints it).
///
/// ```
/// let hash = example_project::hash_password("correct horse").unwrap();
/// assert!(hash.starts_with("$argon2id$"));
/// assert_ne!(hash, example_project::hash_password("correct horse").unwrap(), "salted");
/// assert!(example_project::hash_password("").is_err());
/// ```
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Reads `[admin]` at ignite; refuses to launch without it in release
/// builds, with a hash that is not one, or, in a release build or the
/// release profile, with the development password.
pub(crate) fn fairing() -> AdHoc {
    AdHoc::try_on_ignite("Example admin", |rocket| async move {
        let production = !cfg!(debug_assertions) || rocket.figment().profile() == "release";
        match rocket.figment().extract_inner::<AdminConfig>("admin") {
            Ok(config) if PasswordHash::new(&config.password_hash).is_err() => {
                rocket::error!("admin.password_hash is not an Argon2 hash: make one with `cargo run -p example_project -- hash-password`");
                Err(rocket)
            }
            Ok(config) if production && config.accepts(&config.user, DEVELOPMENT_PASSWORD) => {
                rocket::error!("admin.password_hash is the development password {DEVELOPMENT_PASSWORD:?}: set a password of your own (see docs/admin.md)");
                Err(rocket)
            }
            Ok(config) => Ok(rocket.manage(config)),
            Err(e) => {
                rocket::error!("the admin login is not configured ({e}): set admin.user and admin.password_hash (see docs/admin.md)");
                Err(rocket)
            }
        }
    })
}

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

/// Request guard: the logged-in admin. Anyone else gets 401, which the
/// admin's catcher turns into the login page.
pub struct Admin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Admin {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let config = request.rocket().state::<AdminConfig>();
        match (config, request.cookies().get_private(SESSION_COOKIE)) {
            (Some(config), Some(cookie)) if cookie.value() == config.user => Outcome::Success(Admin),
            _ => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

#[catch(401)]
fn login_first() -> Redirect {
    Redirect::to("/admin/login")
}

/// A form that lacks a field or carries one of the wrong kind (Rocket
/// refuses it before the handler): the error page, not Rocket's bare one.
#[catch(422)]
fn incomplete_form() -> ErrorPage {
    ErrorPage::new(
        Status::UnprocessableEntity,
        "the form is incomplete or a field is not what it should be (a hit id must be a number)",
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

#[get("/login")]
fn login_page(csrf: CsrfToken<'_>, flash: Option<FlashMessage<'_>>) -> Template {
    Template::render("admin/login", context! { csrf: csrf.value(), flash })
}

#[derive(FromForm)]
struct Login<'r> {
    csrfmiddlewaretoken: Option<&'r str>,
    username: &'r str,
    password: &'r str,
}

#[post("/login", data = "<form>")]
fn login(
    csrf: CsrfToken<'_>,
    config: &State<AdminConfig>,
    jar: &CookieJar<'_>,
    form: Form<Login<'_>>,
) -> Result<Either<Redirect, (Status, Template)>, ErrorPage> {
    csrf.verify(form.csrfmiddlewaretoken)
        .map_err(ErrorPage::forbidden)?;
    if !config.accepts(form.username, form.password) {
        // django.contrib.admin's message.
        let error = "Please enter the correct username and password for a staff account.";
        let page = Template::render("admin/login", context! { csrf: csrf.value(), error });
        return Ok(Either::Right((Status::Unauthorized, page)));
    }
    let cookie = Cookie::build((SESSION_COOKIE, config.user.clone()))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Lax);
    jar.add_private(cookie);
    Ok(Either::Left(Redirect::to("/admin/hits")))
}

#[derive(FromForm)]
struct Plain<'r> {
    csrfmiddlewaretoken: Option<&'r str>,
}

#[post("/logout", data = "<form>")]
fn logout(csrf: CsrfToken<'_>, jar: &CookieJar<'_>, form: Form<Plain<'_>>) -> Action {
    csrf.verify(form.csrfmiddlewaretoken)
        .map_err(ErrorPage::forbidden)?;
    jar.remove_private(Cookie::build(SESSION_COOKIE).path("/admin"));
    Ok(Flash::success(Redirect::to("/admin/login"), "Logged out."))
}

/// A `YYYY-MM-DD` day as the start of that day (UTC).
fn day(text: Option<&str>, name: &str) -> Result<Option<chrono::DateTime<Utc>>, String> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{name} must be a date like 2026-11-22, got {text:?}"))?;
    Ok(Some(Utc.from_utc_datetime(
        &date.and_hms_opt(0, 0, 0).expect("midnight"),
    )))
}

/// The hit log's query string: page, search, object and days.
#[derive(FromForm)]
struct LogQuery<'r> {
    page: Option<u32>,
    q: Option<&'r str>,
    object: Option<i64>,
    since: Option<&'r str>,
    until: Option<&'r str>,
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
    let bad_request = |message: String| ErrorPage::new(Status::BadRequest, message);
    let filter = HitFilter {
        object_pk: query.object,
        search: query.q.filter(|q| !q.is_empty()).map(str::to_owned),
        since: day(query.since, "since").map_err(bad_request)?,
        // "until" names a day shown in full.
        until: day(query.until, "until")
            .map_err(bad_request)?
            .map(|d| d + chrono::TimeDelta::days(1)),
        page: query.page.unwrap_or(1).max(1),
        per_page: PER_PAGE,
    };
    let counter = hitcount.counter();
    let log = counter
        .admin()
        .list_hits(&filter)
        .await
        .map_err(|e| ErrorPage::server("reading the hit log", e))?;
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
            q: query.q.unwrap_or(""),
            object: query.object,
            since: query.since.unwrap_or(""),
            until: query.until.unwrap_or(""),
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
    selected: Vec<i64>,
}

/// Runs one of django-hitcount's actions on the selected hits and says
/// what it did.
#[post("/hits", data = "<form>")]
async fn hits_action(
    _admin: Admin,
    hitcount: &State<HitCount>,
    csrf: CsrfToken<'_>,
    form: Form<HitsAction<'_>>,
) -> Action {
    csrf.verify(form.csrfmiddlewaretoken)
        .map_err(ErrorPage::forbidden)?;
    let back = Redirect::to("/admin/hits");
    let Some(action) = AdminAction::from_name(form.action) else {
        return Ok(Flash::error(back, format!("Unknown action {:?}.", form.action)));
    };
    if form.selected.is_empty() {
        // django.contrib.admin's message.
        let message =
            "Items must be selected in order to perform actions on them. No items have been changed.";
        return Ok(Flash::warning(back, message));
    }
    let report = hitcount
        .counter()
        .admin()
        .run_action(action, &form.selected)
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
