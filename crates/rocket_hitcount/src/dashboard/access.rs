//! Who may see the dashboard (the app's guard, run before every route) and
//! how objects are named (the app's [`Labels`]).

use std::collections::HashMap;
use std::sync::Arc;

use rocket::futures::future::BoxFuture;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use serde::Serialize;

use super::render::Views;
use crate::state::HitCount;
use crate::ObjectRef;

/// What the dashboard shows for an object: a title, and a link to the
/// object on the site.
///
/// ```
/// let label = rocket_hitcount::Label::new("Hello, world").link("/posts/hello");
/// assert_eq!(label.title, "Hello, world");
/// assert_eq!(label.url.as_deref(), Some("/posts/hello"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Label {
    /// The object's title.
    pub title: String,
    /// Where the object is on the site, if anywhere.
    pub url: Option<String>,
}

impl Label {
    /// A label with a title and no link.
    ///
    /// ```
    /// assert_eq!(rocket_hitcount::Label::new("About us").url, None);
    /// ```
    pub fn new(title: impl Into<String>) -> Label {
        Label {
            title: title.into(),
            url: None,
        }
    }

    /// The same label, linking to `url` (see [`Label`] for an example).
    pub fn link(mut self, url: impl Into<String>) -> Label {
        self.url = Some(url.into());
        self
    }
}

/// Names the objects a dashboard page shows, all of a page's at once (one
/// query to the app's database, not one per object). Objects left out
/// show as `kind:id`. The request is the dashboard's, so an
/// implementation can reach the app's state and its database pool
/// (`request.rocket().state()`, or `request.guard::<Connection<Db>>()`).
///
/// ```
/// use std::collections::HashMap;
/// use rocket::Request;
/// use rocket_hitcount::{Label, Labels, ObjectRef};
///
/// struct Titles(HashMap<String, String>);
///
/// #[rocket::async_trait]
/// impl Labels for Titles {
///     async fn labels(&self, _request: &Request<'_>, objects: &[ObjectRef]) -> HashMap<ObjectRef, Label> {
///         objects
///             .iter()
///             .filter_map(|o| {
///                 let title = self.0.get(o.id())?;
///                 Some((o.clone(), Label::new(title.clone()).link(format!("/post/{}", o.id()))))
///             })
///             .collect()
///     }
/// }
/// ```
#[rocket::async_trait]
pub trait Labels: Send + Sync + 'static {
    /// The labels of those of `objects` the app knows.
    async fn labels(&self, request: &Request<'_>, objects: &[ObjectRef]) -> HashMap<ObjectRef, Label>;
}

/// The app's guard, run for its answer only.
type Check = Box<dyn for<'r> Fn(&'r Request<'_>) -> BoxFuture<'r, Outcome<(), ()>> + Send + Sync>;

/// The app's request guard, with its value dropped.
pub(crate) struct Gate(Check);

impl Gate {
    /// The gate of guard `G`.
    pub(crate) fn of<G>() -> Gate
    where
        G: for<'r> FromRequest<'r> + Send + 'static,
    {
        Gate(Box::new(|request| {
            Box::pin(async move {
                match G::from_request(request).await {
                    Outcome::Success(_) => Outcome::Success(()),
                    Outcome::Error((status, _)) => Outcome::Error((status, ())),
                    Outcome::Forward(status) => Outcome::Forward(status),
                }
            })
        }))
    }
}

/// The dashboard's state: its gate, its labels and its templates.
pub(crate) struct Access {
    gate: Gate,
    labels: Option<Arc<dyn Labels>>,
    pub(crate) views: Views,
}

impl Access {
    pub(crate) fn new(gate: Gate, labels: Option<Arc<dyn Labels>>, views: Views) -> Access {
        Access { gate, labels, views }
    }
}

/// A request the app's guard let in: what every dashboard route takes
/// first.
pub(crate) struct Owner<'r> {
    pub(crate) access: &'r Access,
    pub(crate) hitcount: &'r HitCount,
    request: &'r Request<'r>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Owner<'r> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let (Some(access), Some(hitcount)) = (
            request.rocket().state::<Access>(),
            HitCount::fetch(request.rocket()),
        ) else {
            rocket::error!("the hitcount dashboard needs HitCount::init attached");
            return Outcome::Error((Status::InternalServerError, ()));
        };
        match (access.gate.0)(request).await {
            Outcome::Success(()) => Outcome::Success(Owner {
                access,
                hitcount,
                request,
            }),
            Outcome::Error(error) => Outcome::Error(error),
            Outcome::Forward(status) => Outcome::Forward(status),
        }
    }
}

impl Owner<'_> {
    /// The app's labels of `objects`, or none without [`Labels`].
    pub(crate) async fn labels(&self, objects: &[ObjectRef]) -> HashMap<ObjectRef, Label> {
        match &self.access.labels {
            Some(labels) if !objects.is_empty() => labels.labels(self.request, objects).await,
            _ => HashMap::new(),
        }
    }
}
