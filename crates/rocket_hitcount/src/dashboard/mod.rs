//! The site owner's dashboard: an overview of a period, the hit log with
//! django-hitcount's actions, a page per object and the blacklists,
//! mounted with one line and guarded by the app's own request guard.
//!
//! Its pages render with their own Tera instance from templates compiled
//! into the crate, load their stylesheet and one small script from the
//! dashboard's own routes (nothing from other sites, no inline script or
//! style, so a strict Content-Security-Policy holds), and protect every
//! form with [`CsrfToken`](crate::CsrfToken).

mod access;
mod agent;
mod chart;
mod pages;
mod query;
mod render;
mod shell;

use std::marker::PhantomData;
use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::request::FromRequest;
use rocket::{Build, Rocket};

pub use access::{Label, Labels};
pub use shell::{DashboardError, LoginPage};

use access::{Access, Gate};

/// The dashboard, as a fairing: attach it after [`HitCount::init`] with
/// the path it lives under and the request guard that lets the site owner
/// in. Every route of the dashboard asks that guard first: when it fails
/// or forwards, the dashboard answers as the guard said (its status, or
/// the app's catcher for it), and nothing else runs.
///
/// [`HitCount::init`]: crate::HitCount::init
///
/// ```rust,no_run
/// use rocket::http::Status;
/// use rocket::request::{FromRequest, Outcome, Request};
/// use rocket_db_pools::{sqlx, Database};
/// use rocket_hitcount::{Dashboard, HitCount};
///
/// #[derive(Database)]
/// #[database("blog")]
/// struct Blog(sqlx::SqlitePool);
///
/// /// The app's own admin guard: here, a header a proxy sets.
/// struct Staff;
///
/// #[rocket::async_trait]
/// impl<'r> FromRequest<'r> for Staff {
///     type Error = ();
///     async fn from_request(request: &'r Request<'_>) -> Outcome<Staff, ()> {
///         match request.headers().get_one("X-Staff") {
///             Some("yes") => Outcome::Success(Staff),
///             _ => Outcome::Error((Status::Unauthorized, ())),
///         }
///     }
/// }
///
/// #[rocket::launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(Blog::init())
///         .attach(HitCount::init::<Blog>())
///         .attach(Dashboard::<Staff>::new("/admin/hitcount"))
/// }
/// ```
pub struct Dashboard<G> {
    base: String,
    labels: Option<Arc<dyn Labels>>,
    logout: Option<String>,
    guard: PhantomData<fn() -> G>,
}

impl<G> Dashboard<G>
where
    G: for<'r> FromRequest<'r> + Send + 'static,
{
    /// The dashboard under `base` (such as `/admin/hitcount`), for requests
    /// that guard `G` lets through.
    ///
    /// ```rust
    /// # struct Staff;
    /// # #[rocket::async_trait]
    /// # impl<'r> rocket::request::FromRequest<'r> for Staff {
    /// #     type Error = ();
    /// #     async fn from_request(_: &'r rocket::Request<'_>) -> rocket::request::Outcome<Staff, ()> {
    /// #         rocket::request::Outcome::Success(Staff)
    /// #     }
    /// # }
    /// let dashboard = rocket_hitcount::Dashboard::<Staff>::new("/admin");
    /// ```
    pub fn new(base: impl Into<String>) -> Self {
        Dashboard {
            base: base.into(),
            labels: None,
            logout: None,
            guard: PhantomData,
        }
    }

    /// Names objects with the app's titles and links instead of
    /// `kind:id` (see [`Labels`]).
    ///
    /// ```rust
    /// # struct Staff;
    /// # #[rocket::async_trait]
    /// # impl<'r> rocket::request::FromRequest<'r> for Staff {
    /// #     type Error = ();
    /// #     async fn from_request(_: &'r rocket::Request<'_>) -> rocket::request::Outcome<Staff, ()> {
    /// #         rocket::request::Outcome::Success(Staff)
    /// #     }
    /// # }
    /// use std::collections::HashMap;
    /// use rocket::Request;
    /// use rocket_hitcount::{Dashboard, Label, Labels, ObjectRef};
    ///
    /// struct PostTitles;
    ///
    /// #[rocket::async_trait]
    /// impl Labels for PostTitles {
    ///     async fn labels(&self, _request: &Request<'_>, objects: &[ObjectRef]) -> HashMap<ObjectRef, Label> {
    ///         objects
    ///             .iter()
    ///             .filter(|o| o.kind() == "blog.post")
    ///             .map(|o| (o.clone(), Label::new(format!("Post {}", o.id())).link(format!("/post/{}", o.id()))))
    ///             .collect()
    ///     }
    /// }
    ///
    /// let dashboard = Dashboard::<Staff>::new("/admin").labels(PostTitles);
    /// ```
    pub fn labels(mut self, labels: impl Labels) -> Self {
        self.labels = Some(Arc::new(labels));
        self
    }

    /// Shows a "Log out" button that posts (with the CSRF token, in a
    /// field named `csrfmiddlewaretoken`) to the app's logout route.
    ///
    /// ```rust
    /// # struct Staff;
    /// # #[rocket::async_trait]
    /// # impl<'r> rocket::request::FromRequest<'r> for Staff {
    /// #     type Error = ();
    /// #     async fn from_request(_: &'r rocket::Request<'_>) -> rocket::request::Outcome<Staff, ()> {
    /// #         rocket::request::Outcome::Success(Staff)
    /// #     }
    /// # }
    /// let dashboard = rocket_hitcount::Dashboard::<Staff>::new("/admin").logout("/admin/logout");
    /// ```
    pub fn logout(mut self, path: impl Into<String>) -> Self {
        self.logout = Some(path.into());
        self
    }
}

#[rocket::async_trait]
impl<G> Fairing for Dashboard<G>
where
    G: for<'r> FromRequest<'r> + Send + 'static,
{
    fn info(&self) -> Info {
        Info {
            name: "hitcount dashboard",
            kind: Kind::Ignite | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        if !self.base.starts_with('/') || self.base.contains(['<', '>', '?', '#']) {
            rocket::error!(
                "hitcount dashboard: the path must start with '/' and hold no route parameters, got {:?}",
                self.base
            );
            return Err(rocket);
        }
        let base = self.base.trim_end_matches('/').to_owned();
        let views = match render::Views::new(&base, self.logout.clone()) {
            Ok(views) => views,
            Err(error) => {
                rocket::error!("hitcount dashboard: its templates do not load: {error}");
                return Err(rocket);
            }
        };
        let mount_at = if base.is_empty() { "/" } else { base.as_str() };
        let access = Access::new(Gate::of::<G>(), self.labels.clone(), views);
        Ok(rocket
            .manage(access)
            .mount(mount_at, pages::routes())
            .register(mount_at, pages::catchers()))
    }
}
