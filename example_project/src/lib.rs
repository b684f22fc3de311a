//! The rocket-hitcount example: a small Rocket blog that shows every
//! feature the way django-hitcount's example project does, plus the
//! dashboard for hits behind a login. `cargo run -p example_project` serves it on
//! <http://127.0.0.1:8000>; docs/example-project.md walks through it.
//!
//! The site is built by [`site`] from [`figment`], so tests build the very
//! same app on a database of their own.

mod admin;
pub mod csp;
mod pages;
pub mod posts;

use hitcount::Db;
use rocket::figment::providers::{Env, Format, Serialized, Toml};
use rocket::figment::value::{Dict, Value};
use rocket::figment::{Figment, Profile};
use rocket::fs::FileServer;
use rocket::{Build, Rocket};
use rocket_db_pools::{sqlx, Database};
use rocket_hitcount::HitCount;

pub use admin::hash_password;

/// The blog's database on SQLite (the default).
#[derive(Database)]
#[database("blog")]
pub struct SqliteBlog(sqlx::SqlitePool);

/// The blog's database on PostgreSQL (a `postgres://` URL).
#[derive(Database)]
#[database("blog")]
pub struct PgBlog(sqlx::PgPool);

/// The blog's database on MariaDB (a `mysql://` URL).
#[derive(Database)]
#[database("blog")]
pub struct MariaDbBlog(sqlx::MySqlPool);

/// Where the example keeps its SQLite file unless told otherwise.
pub const DEFAULT_DATABASE_URL: &str = concat!("sqlite://", env!("CARGO_MANIFEST_DIR"), "/blog.sqlite3");

/// The site's configuration: Rocket's defaults, the SQLite file
/// [`DEFAULT_DATABASE_URL`], `example_project/Rocket.toml` (whatever the
/// working folder), `ROCKET_*` variables, and `DATABASE_URL` (a
/// `sqlite://`, `postgres://` or `mysql://` URL), each over the one
/// before; with `COOKIE_FREE=1`, [`cookie_free`] over all.
///
/// ```
/// let figment = example_project::figment();
/// let url: String = figment.extract_inner("databases.blog.url").unwrap();
/// assert!(url.starts_with("sqlite://") || url.starts_with("postgres"));
/// ```
pub fn figment() -> Figment {
    let figment = configured();
    match std::env::var("COOKIE_FREE") {
        Ok(on) if !on.is_empty() && on != "0" => cookie_free(figment),
        _ => figment,
    }
}

/// `figment` counting without cookies or personal data
/// (docs/privacy.md): `cookie.mode = "none"`, `private_hit_log` and
/// `ip_storage = "none"`, without the visit counts that `Rocket.toml`
/// keeps in the cookie.
///
/// ```
/// let figment = example_project::cookie_free(example_project::figment());
/// let config = rocket_hitcount::Config::from_figment(&figment).unwrap();
/// assert_eq!(config.cookie.mode, rocket_hitcount::CookieMode::None);
/// assert_eq!((config.cookie.visit_counts, config.cookie.visit_interval), (false, None));
/// ```
pub fn cookie_free(figment: Figment) -> Figment {
    let profile = figment.profile().clone();
    // Figment merges tables key by key: the visit settings can only be
    // left out by writing the configuration again without them.
    let mut config: Dict = figment.extract().expect("the example's configuration is a table");
    let hitcount = config
        .entry("hitcount".into())
        .or_insert_with(|| Dict::new().into());
    if let Value::Dict(_, hitcount) = hitcount {
        let cookie = hitcount
            .entry("cookie".into())
            .or_insert_with(|| Dict::new().into());
        if let Value::Dict(_, cookie) = cookie {
            cookie.remove("visit_counts");
            cookie.remove("visit_interval");
            cookie.insert("mode".into(), "none".into());
        }
        hitcount.insert("private_hit_log".into(), true.into());
        hitcount.insert("ip_storage".into(), "none".into());
        hitcount.insert("keep_hit_active".into(), "1 day".into());
    }
    Figment::from(Serialized::from(config, profile.clone())).select(profile)
}

/// [`figment`] without `COOKIE_FREE`.
fn configured() -> Figment {
    let profile = Profile::from_env_or("ROCKET_PROFILE", rocket::Config::DEFAULT_PROFILE);
    let figment = Figment::from(rocket::Config::default())
        .merge(("databases.blog.url", DEFAULT_DATABASE_URL))
        .merge(Toml::file(concat!(env!("CARGO_MANIFEST_DIR"), "/Rocket.toml")).nested())
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global());
    let figment = match std::env::var("DATABASE_URL") {
        // Global: over every profile's setting too.
        Ok(url) => figment.merge(Serialized::global("databases.blog.url", url)),
        Err(_) => figment,
    };
    figment
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
        .select(profile)
}

/// The blog on the database `databases.blog.url` of `figment` names.
///
/// ```
/// # rocket::async_test(async {
/// let rocket = example_project::site(example_project::figment().merge(("databases.blog.url", "sqlite::memory:")));
/// let rocket = rocket.ignite().await.expect("the example ignites");
/// assert!(rocket.state::<example_project::posts::Posts>().is_some());
/// # });
/// ```
pub fn site(figment: Figment) -> Rocket<Build> {
    let url: String = figment.extract_inner("databases.blog.url").unwrap_or_default();
    let rocket = rocket::custom(figment)
        .mount("/", pages::routes())
        .mount(admin::BASE, admin::routes())
        .mount(
            "/static",
            FileServer::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        )
        .register("/", rocket::catchers![pages::not_found])
        .register(admin::BASE, admin::catchers())
        .attach(admin::fairing())
        .attach(csp::fairing());
    if url.starts_with("postgres") {
        on_database::<PgBlog>(rocket)
    } else if url.starts_with("mysql") {
        on_database::<MariaDbBlog>(rocket)
    } else {
        on_database::<SqliteBlog>(rocket)
    }
}

/// Attaches the database `D`, the posts, the counter and the templates
/// with the counter's functions.
fn on_database<D>(rocket: Rocket<Build>) -> Rocket<Build>
where
    D: Database,
    D::Pool: Clone + Into<Db>,
{
    rocket
        .attach(D::init())
        .attach(posts::fairing::<D>())
        .attach(HitCount::init::<D>())
        .attach(HitCount::templates())
        .attach(admin::dashboard())
}
