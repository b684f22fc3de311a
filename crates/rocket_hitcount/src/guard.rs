//! The request guard that counts hits: django-hitcount's
//! `HitCountDetailView` with `count_hit = True`, and its non-counting
//! variant.

use hitcount::{HitCounter, ObjectRef};
use rocket::request::{FromRequest, Outcome, Request};
use serde::Serialize;

use crate::ajax::JsContext;
use crate::state::unattached;
use crate::visitor::{record_visit, Visit};

/// The template context of a counting view: django-hitcount's `hitcount`
/// context (`pk`, `total_hits`, `hit_counted`, `hit_message`) plus the
/// visitor's own views of the object and visits of the site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HitContext {
    /// The object's hit count pk.
    pub pk: Option<i64>,
    /// Its hits, this one included when it was counted.
    pub total_hits: i64,
    /// Whether this request was counted.
    pub hit_counted: bool,
    /// django-hitcount's message for the outcome; for a request without
    /// the visitor cookie whose IP address and user agent have an active
    /// hit, [`COOKIELESS_ACTIVE_HIT`](crate::COOKIELESS_ACTIVE_HIT).
    pub hit_message: &'static str,
    /// How often this visitor has viewed the object ("You have visited
    /// this page N times"), this view included; `None` unless
    /// `cookie.visit_counts` is on (see [`VisitorCookie::visit_counts`]).
    ///
    /// [`VisitorCookie::visit_counts`]: crate::VisitorCookie::visit_counts
    pub visits: Option<u32>,
    /// How often this visitor has visited the site, at most once per
    /// `cookie.visit_interval`, this request included; `None` unless the
    /// interval is set (see [`Hits::site_visits`]).
    pub site_visits: Option<u32>,
}

/// The template context of a view that does not count: `pk`, `total_hits`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewContext {
    /// The object's hit count pk, `None` if it was never counted.
    pub pk: Option<i64>,
    /// Its hits.
    pub total_hits: i64,
}

/// Request guard: the counter and the visitor of this request.
///
/// ```rust,no_run
/// use rocket::{get, serde::json::Json};
/// use rocket_hitcount::{Hits, HitContext};
///
/// #[get("/post/<id>")]
/// async fn post(id: i64, hits: Hits<'_>) -> Option<Json<HitContext>> {
///     let post = rocket_hitcount::ObjectRef::new("blog.post", id).ok()?;
///     hits.count(&post).await.ok().map(Json)
/// }
/// ```
///
/// A route that uses it stops the launch when the fairing is not attached
/// (it is a [`Sentinel`](rocket::Sentinel)).
pub struct Hits<'r> {
    visit: Visit<'r>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Hits<'r> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        Visit::from_request(request).await.map(|visit| Hits { visit })
    }
}

impl rocket::Sentinel for Hits<'_> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        unattached(rocket, "Hits")
    }
}

impl<'r> Hits<'r> {
    /// Counts this request's hit on `object` and gives the template
    /// context. `total_hits` includes the hit when it was counted.
    pub async fn count(&self, object: &ObjectRef) -> hitcount::Result<HitContext> {
        let result = self
            .visit
            .state
            .counter()
            .count_hit(object, &self.visit.identified.visitor)
            .await?;
        let visits = record_visit(
            self.visit.state,
            self.visit.request,
            self.visit.identified,
            result.pk,
        );
        Ok(HitContext {
            pk: result.pk,
            total_hits: result.total_hits,
            hit_counted: result.hit_counted,
            hit_message: self.visit.identified.hit_message(&result),
            visits,
            site_visits: self.site_visits(),
        })
    }

    /// The context of a view that does not count: pk and total hits.
    /// Writes nothing.
    pub async fn view(&self, object: &ObjectRef) -> hitcount::Result<ViewContext> {
        let counts = self.visit.state.counter().counts(object).await?;
        Ok(ViewContext {
            pk: counts.pk,
            total_hits: counts.hits,
        })
    }

    /// What the page's script needs to count `object` through the AJAX
    /// endpoint; see [`HitCount::js_variables`](crate::HitCount::js_variables).
    pub async fn js_variables(&self, object: &ObjectRef) -> hitcount::Result<JsContext> {
        self.visit.state.js_variables(object).await
    }

    /// Whether the client sent back the visitor cookie (Django's test
    /// cookie): `false` on a first visit, for clients without cookies, and
    /// always with `cookie.mode = "none"`, which sets no cookie.
    pub fn returned_cookie(&self) -> bool {
        self.visit.identified.returned_cookie
    }

    /// How often this visitor has viewed the object with this pk, as of
    /// the start of this request; `None` unless `cookie.visit_counts` is on.
    pub fn visits(&self, pk: i64) -> Option<u32> {
        self.visit
            .state
            .config()
            .cookie
            .visit_counts
            .then(|| self.visit.identified.visits_of(pk))
    }

    /// How often this visitor has visited the site, this request included:
    /// the Django tutorial's `visits`, which goes up at most once per
    /// `cookie.visit_interval` ([`VisitorCookie::visit_interval`]), on
    /// requests whose handler takes this guard (or to the AJAX endpoint).
    /// `None` unless the interval is set. A client that keeps no cookies
    /// is always at 1.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_hitcount::Hits;
    ///
    /// #[get("/about")]
    /// fn about(hits: Hits<'_>) -> String {
    ///     match hits.site_visits() {
    ///         Some(1) => "Welcome! This is your first visit.".into(),
    ///         Some(n) => format!("You have visited this site {n} times."),
    ///         None => "Set `cookie.visit_interval` to count visits.".into(),
    ///     }
    /// }
    /// ```
    ///
    /// [`VisitorCookie::visit_interval`]: crate::VisitorCookie::visit_interval
    pub fn site_visits(&self) -> Option<u32> {
        // Counted, or not, once per request when the visitor was
        // identified; `None` without the setting.
        self.visit.identified.cookie.site.map(|site| site.count)
    }

    /// The visitor, as the counter sees it (session key, user, IP, user
    /// agent). With `cookie.mode = "none"`, the session key is a keyed hash
    /// of the IP and user agent under `secret_key`, the same every day:
    /// the counter never stores it, and an app that keeps it keeps a
    /// lasting pseudonym of the visitor.
    pub fn visitor(&self) -> &hitcount::Visitor {
        &self.visit.identified.visitor
    }

    /// The core counter.
    pub fn counter(&self) -> &HitCounter {
        self.visit.state.counter()
    }
}
