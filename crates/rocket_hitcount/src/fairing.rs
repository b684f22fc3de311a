//! The fairing: reads `[hitcount]`, opens the counter on the app's
//! database, manages it and mounts the routes.

use std::marker::PhantomData;

use hitcount::{Clock, Db, HitCounter};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{error, info_, warn_, Build, Rocket};
use rocket_db_pools::Database;

use crate::ajax::{self, csrf};
use crate::config::Config;
use crate::secret::Secret;
use crate::state::HitCount;
use crate::templates::TemplateFunctions;
use crate::user::{lookup, HitUser, UserLookup};

impl HitCount {
    /// The fairing that sets the counter up on database `D` (attach `D`'s
    /// own fairing, `D::init()`, first). Named and shaped like
    /// `rocket_db_pools`' `Db::init()`.
    ///
    /// ```rust
    /// # use rocket_db_pools::{sqlx, Database};
    /// # #[derive(Database)] #[database("blog")] struct Blog(sqlx::SqlitePool);
    /// let fairing = rocket_hitcount::HitCount::init::<Blog>();
    /// # let _ = fairing;
    /// ```
    pub fn init<D>() -> Initializer<D>
    where
        D: Database,
        D::Pool: Clone + Into<Db>,
    {
        Initializer {
            users: None,
            templates: TemplateFunctions::default(),
            clock: Clock::system(),
            database: PhantomData,
        }
    }

    /// Rocket's templates, with the Tera functions registered: attach it in
    /// place of `Template::fairing()`. The functions (`get_hit_count` and
    /// friends) are in the guide's "Displaying hits" chapter.
    ///
    /// ```rust,no_run
    /// use rocket_db_pools::{sqlx, Database};
    /// use rocket_hitcount::HitCount;
    ///
    /// #[derive(Database)]
    /// #[database("blog")]
    /// struct Blog(sqlx::SqlitePool);
    ///
    /// #[rocket::launch]
    /// fn rocket() -> _ {
    ///     rocket::build()
    ///         .attach(Blog::init())
    ///         .attach(HitCount::init::<Blog>())
    ///         .attach(HitCount::templates())
    /// }
    /// ```
    pub fn templates() -> impl Fairing {
        crate::templates::fairing(|_| {})
    }

    /// Rocket's templates customized by `customize`, with the Tera
    /// functions registered first: attach it in place of
    /// `Template::custom(customize)`.
    ///
    /// ```rust
    /// use rocket_hitcount::HitCount;
    ///
    /// let templates = HitCount::custom_templates(|engines| {
    ///     engines.tera.register_filter("shout", |value: &rocket_dyn_templates::tera::Value, _: &_| {
    ///         Ok(value.as_str().unwrap_or_default().to_uppercase().into())
    ///     });
    /// });
    /// # let _ = rocket::build().attach(templates);
    /// ```
    pub fn custom_templates<F>(customize: F) -> impl Fairing
    where
        F: Fn(&mut rocket_dyn_templates::Engines) + Send + Sync + 'static,
    {
        crate::templates::fairing(customize)
    }
}

/// The fairing of [`HitCount::init`].
pub struct Initializer<D> {
    users: Option<UserLookup>,
    templates: TemplateFunctions,
    clock: Clock,
    database: PhantomData<fn() -> D>,
}

impl<D> Initializer<D> {
    /// The Tera functions of this app's counter, for a Tera of your own
    /// (see [`TemplateFunctions`]; for Rocket's templates, attach
    /// [`HitCount::templates`]). They work once this fairing has ignited.
    ///
    /// ```rust
    /// # use rocket_db_pools::{sqlx, Database};
    /// # #[derive(Database)] #[database("blog")] struct Blog(sqlx::SqlitePool);
    /// let hitcount = rocket_hitcount::HitCount::init::<Blog>();
    /// let mut tera = rocket_dyn_templates::tera::Tera::default();
    /// hitcount.template_functions().register(&mut tera);
    /// ```
    pub fn template_functions(&self) -> TemplateFunctions {
        self.templates.clone()
    }

    /// Counts authenticated users by user: `U` is the app's user request
    /// guard, and [`HitUser`] says which user (and groups) it is.
    ///
    /// ```rust
    /// # use rocket_db_pools::{sqlx, Database};
    /// # #[derive(Database)] #[database("blog")] struct Blog(sqlx::SqlitePool);
    /// # use rocket::request::{self, FromRequest, Request};
    /// # struct Admin;
    /// # #[rocket::async_trait] impl<'r> FromRequest<'r> for Admin { type Error = ();
    /// #   async fn from_request(_: &'r Request<'_>) -> request::Outcome<Self, ()> { request::Outcome::Success(Admin) } }
    /// # impl rocket_hitcount::HitUser for Admin { fn hit_user(&self) -> Option<rocket_hitcount::User> { None } }
    /// let fairing = rocket_hitcount::HitCount::init::<Blog>().with_users::<Admin>();
    /// # let _ = fairing;
    /// ```
    pub fn with_users<U>(mut self) -> Self
    where
        U: for<'a> rocket::request::FromRequest<'a> + HitUser,
    {
        self.users = Some(lookup::<U>);
        self
    }

    /// Opens the counter with another source of the time than the
    /// system's, a [`Clock`](crate::hitcount::Clock) (see
    /// [`HitCounter::open_with_clock`]): for tests that move the time, of
    /// hits and of the visits of the site that the visitor cookie keeps.
    ///
    /// ```rust
    /// # use rocket_db_pools::{sqlx, Database};
    /// # #[derive(Database)] #[database("blog")] struct Blog(sqlx::SqlitePool);
    /// use chrono::{TimeZone, Utc};
    /// use rocket_hitcount::{hitcount as hitcount_core, HitCount};
    ///
    /// let noon = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    /// let clock = hitcount_core::Clock::new(move || noon);
    /// let fairing = HitCount::init::<Blog>().with_clock(clock);
    /// # let _ = fairing;
    /// ```
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

#[rocket::async_trait]
impl<D> Fairing for Initializer<D>
where
    D: Database,
    D::Pool: Clone + Into<Db>,
{
    fn info(&self) -> Info {
        Info {
            name: "rocket-hitcount",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Response | Kind::Shutdown,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let config = match Config::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(message) => {
                error!("rocket-hitcount: {message}");
                return Err(rocket);
            }
        };
        for warning in config.warnings() {
            warn_!("rocket-hitcount: {warning}");
        }
        let secret = match &config.secret_key {
            Some(key) => Secret::new(key.as_bytes()),
            None if rocket.figment().profile() == rocket::Config::RELEASE_PROFILE => {
                error!(
                    "rocket-hitcount: set `hitcount.secret_key` (32 characters or more) in release builds"
                );
                info_!("It signs page tokens and cookies; generate one with `openssl rand -base64 48`.");
                return Err(rocket);
            }
            None => {
                warn_!("rocket-hitcount: no `hitcount.secret_key`; using a random one for this run");
                Secret::random()
            }
        };
        let Some(database) = rocket.state::<D>() else {
            explain_missing_database::<D>(&rocket).await;
            return Err(rocket);
        };
        let pool: D::Pool = (**database).clone();
        let counter =
            match HitCounter::open_with_clock(pool.into(), config.counting.clone(), self.clock.clone()).await
            {
                Ok(counter) => counter,
                Err(e) => {
                    error!(
                        "rocket-hitcount: cannot open the hit counter on `{}`: {e}",
                        D::NAME
                    );
                    return Err(rocket);
                }
            };
        let base = config.base_path.clone();
        let state = HitCount::new(counter, config, secret, self.users);
        self.templates.bind(state.clone());
        Ok(rocket.manage(state).mount(base, ajax::routes()))
    }

    /// Connects the Tera functions of [`HitCount::templates`] to the
    /// counter, or, when no functions were registered, warns of templates
    /// that call them.
    async fn on_liftoff(&self, rocket: &Rocket<rocket::Orbit>) {
        let Some(state) = HitCount::fetch(rocket) else {
            return;
        };
        if let Some(attached) = rocket.state::<crate::templates::Attached>() {
            attached.0.bind(state.clone());
        } else if !self.templates.registered() {
            // The template folder is read off the async workers.
            let figment = rocket.figment().clone();
            let scan =
                rocket::tokio::task::spawn_blocking(move || crate::templates::unregistered_calls(&figment));
            if let Ok(Some(message)) = scan.await {
                error!("rocket-hitcount: {message}");
            }
        }
    }

    /// Writes the views still in memory (`HitCounter::flush_views`).
    /// Rocket calls this as shutdown begins; views of requests served
    /// during the grace period after it are written by the counter's
    /// one-second flush while the runtime lives (call
    /// `HitCount::fetch(&rocket)?.counter().flush_views()` after
    /// `launch().await` to be sure of the last second); their hits are
    /// committed as they are counted.
    async fn on_shutdown(&self, rocket: &Rocket<rocket::Orbit>) {
        if let Some(state) = HitCount::fetch(rocket) {
            if let Err(e) = state.counter().flush_views().await {
                error!("rocket-hitcount: could not write the last views: {e}");
            }
        }
    }

    async fn on_response<'r>(&self, request: &'r rocket::Request<'_>, response: &mut rocket::Response<'r>) {
        let Some(state) = HitCount::fetch(request.rocket()) else {
            return;
        };
        // Django's ensure_csrf_cookie: every HTML page hands out the CSRF
        // cookie its script will need (none without cookies).
        let config = state.config();
        if !config.cookie_free() && is_html(response) {
            csrf::ensure_cookie(state, request, response);
        }
        // A page that sets one of our cookies is this visitor's own: a
        // shared cache must not hand it (and its cookie) to others.
        if csrf::sets_cookie(response, &config.cookie.name)
            || csrf::sets_cookie(response, &config.csrf_cookie_name)
        {
            response.adjoin_raw_header("Vary", "Cookie");
        }
    }
}

/// Says why database `D` is not in `rocket`: it has no URL, it cannot be
/// opened (its own fairing failed too), or its fairing is not attached
/// before this one. Rocket 0.5 does not list an app's fairings, so the
/// last two are told apart by opening the database once more.
async fn explain_missing_database<D: Database>(rocket: &Rocket<Build>) {
    let name = D::NAME;
    let ty = short_type_name::<D>();
    let key = format!("databases.{name}");
    let config = rocket
        .figment()
        .focus(&key)
        .join(rocket::figment::providers::Serialized::default(
            "max_connections",
            1,
        ))
        .join(rocket::figment::providers::Serialized::default(
            "connect_timeout",
            5,
        ));
    let Ok(url) = config.extract_inner::<String>("url") else {
        error!("rocket-hitcount: database `{name}` ({ty}) has no URL");
        info_!("Set one in Rocket.toml: `[default.{key}]` with `url = \"sqlite://{name}.db\"`.");
        return;
    };
    // The error as text: it need not be `Send`, and the match awaits.
    let opened = <D::Pool as rocket_db_pools::Pool>::init(&config)
        .await
        .map_err(|e| e.to_string());
    match opened {
        Err(e) => error!(
            "rocket-hitcount: database `{name}` ({ty}) cannot be opened at {}: {e}",
            Db::redacted_url(&url)
        ),
        Ok(pool) => {
            rocket_db_pools::Pool::close(&pool).await;
            error!(
                "rocket-hitcount: database `{name}` ({ty}) is not attached before rocket-hitcount's fairing"
            );
            info_!("Attach its fairing first: `.attach({ty}::init()).attach(HitCount::init::<{ty}>())`.");
        }
    }
}

/// `D`'s name as the app's code writes it: `Blog`, not `my_app::Blog`.
fn short_type_name<D>() -> &'static str {
    let full = std::any::type_name::<D>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

/// Whether the response is an HTML page: its `Content-Type` read as is,
/// since Rocket's `content_type()` parses the header on each call.
fn is_html(response: &rocket::Response<'_>) -> bool {
    response
        .headers()
        .get_one("Content-Type")
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/html"))
}

#[cfg(test)]
mod tests {
    use rocket::http::{ContentType, Header};
    use rocket::Response;

    #[test]
    fn messages_name_the_type_as_written() {
        struct Blog;
        assert_eq!(super::short_type_name::<Blog>(), "Blog");
        assert_eq!(super::short_type_name::<Option<Blog>>(), "Option");
    }

    #[test]
    fn html_is_told_from_the_header_as_sent() {
        let with = |value: Option<&'static str>| {
            let mut response = Response::new();
            if let Some(value) = value {
                response.set_header(Header::new("Content-Type", value));
            }
            super::is_html(&response)
        };
        assert!(with(Some("text/html; charset=utf-8")));
        assert!(with(Some("text/html")));
        assert!(
            with(Some("Text/HTML;charset=UTF-8")),
            "case, and parameters, do not matter"
        );
        assert!(!with(Some("text/htmlx")));
        assert!(!with(Some("application/json")));
        assert!(!with(Some("")));
        assert!(!with(None));
        let mut page = Response::new();
        page.set_header(ContentType::HTML);
        assert!(super::is_html(&page), "what Rocket's HTML responders set");
    }
}
