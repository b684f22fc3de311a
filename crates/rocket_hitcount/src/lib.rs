//! # rocket_hitcount
//!
//! django-hitcount for Rocket 0.5: count one hit per visitor per object
//! inside an active window, with one fairing and one request guard, or
//! from a page's script through the AJAX endpoint. The counting rules and
//! storage are the [`hitcount`] crate's; this crate is the Rocket glue:
//!
//! - [`HitCount::init`]: the fairing. It reads `[default.hitcount]`
//!   ([`Config`]), opens the counter on your `rocket_db_pools` database
//!   (SQLite, PostgreSQL, or MariaDB with the `mysql` feature), runs the migrations and mounts the routes
//!   under `base_path` (default `/hitcount`).
//! - [`Hits`]: the request guard. `hits.count(&object)` counts and gives
//!   django-hitcount's template context; `hits.view(&object)` does not count.
//!   Its errors convert into [`Error`], a responder, so handlers use `?`.
//! - [`HitCount::templates`]: Rocket's templates with the Tera functions
//!   (`get_hit_count` and friends) registered.
//! - Visitor sessions: a private (or signed) cookie with a random session
//!   key; clients without cookies get a daily-salted key of IP and user
//!   agent, so they do not count again on every request.
//! - Client IPs: the socket peer, or, behind [`Config::trusted_proxies`],
//!   the right-most untrusted `X-Forwarded-For` address.
//! - `POST <base>/hit/ajax/`: the AJAX endpoint, with CSRF protection and
//!   signed page tokens; `GET <base>/static/hitcount.js` and
//!   `GET <base>/static/jquery.postcsrf.js`: its scripts.
//!
//! ## Quickstart
//!
//! ```rust,no_run
//! use rocket::{get, launch, routes, serde::json::Json};
//! use rocket_db_pools::{sqlx, Database};
//! use rocket_hitcount::{Error, HitContext, HitCount, Hits, ObjectRef};
//!
//! #[derive(Database)]
//! #[database("blog")]
//! struct Blog(sqlx::SqlitePool);
//!
//! #[get("/post/<id>")]
//! async fn post(id: i64, hits: Hits<'_>) -> Result<Json<HitContext>, Error> {
//!     let object = ObjectRef::new("blog.post", id)?;
//!     Ok(Json(hits.count(&object).await?))
//! }
//!
//! #[launch]
//! fn rocket() -> _ {
//!     rocket::build()
//!         .attach(Blog::init())
//!         .attach(HitCount::init::<Blog>())
//!         .mount("/", routes![post])
//! }
//! ```
//!
//! with, in `Rocket.toml`:
//!
//! ```toml
//! [default.databases.blog]
//! url = "sqlite://blog.db"
//!
//! [default.hitcount]
//! keep_hit_active = "7 days"
//!
//! [release.hitcount]
//! secret_key = "a random string of 32 characters or more"
//! ```
//!
//! The guide in `docs/` covers installation, sessions and cookies, proxies
//! and security.
#![deny(missing_docs)]

mod ajax;
mod config;
#[cfg(feature = "dashboard")]
mod dashboard;
mod error;
mod fairing;
mod guard;
mod secret;
mod state;
mod templates;
mod user;
mod visitor;

pub use ajax::{CsrfError, CsrfToken, JsContext, AJAX_BODY_LIMIT, HITCOUNT_JS, JQUERY_POSTCSRF_JS};
pub use config::{Config, ConfigError, ConfigErrorKind, CookieMode, VisitorCookie};
#[cfg(feature = "dashboard")]
pub use dashboard::{Dashboard, DashboardError, Label, Labels, LoginPage};
pub use error::Error;
pub use fairing::Initializer;
pub use guard::{HitContext, Hits, ViewContext};
pub use state::HitCount;
pub use templates::TemplateFunctions;
pub use user::HitUser;
pub use visitor::COOKIELESS_ACTIVE_HIT;

/// The core crate, re-exported so that versions match: its admin,
/// cleanup and export types are here.
pub use hitcount;
/// The core's types that pages use, at the root: an object's key, a
/// signed-in user, a `within` window, the counter and its outcomes.
pub use hitcount::{HitCounter, ObjectRef, Reason, User, Window};
