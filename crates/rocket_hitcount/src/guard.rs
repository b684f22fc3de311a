//! The request guard that counts hits: django-hitcount's
//! `HitCountDetailView` with `count_hit = True`, and its non-counting
//! variant.

use hitcount::{HitCounter, ObjectRef};
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use serde::Serialize;

use crate::fairing::HitCount;
use crate::visitor::{identify, record_visit, visit_recorded, Identified};

/// The template context of a counting view: django-hitcount's `hitcount`
/// context (`pk`, `total_hits`, `hit_counted`, `hit_message`) plus the
/// visitor's own views of the object.
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

/// What a page's script needs to count through the AJAX endpoint
/// (django-hitcount's `get_hit_count_js_variables` plus the page token).
///
/// ```rust,no_run
/// use rocket::{get, serde::json::Json};
/// use rocket_hitcount::{Hits, JsContext};
///
/// // For a page that builds its script from JSON: pk, ajax_url, token...
/// #[get("/post/<id>/hitcount")]
/// async fn variables(id: i64, hits: Hits<'_>) -> Option<Json<JsContext>> {
///     let post = rocket_hitcount::ObjectRef::new("blog.post", id).ok()?;
///     hits.js_variables(&post).await.ok().map(Json)
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct JsContext {
    /// The object's hit count pk (`hitcountPK`).
    pub pk: i64,
    /// The AJAX endpoint (`hitcountURL`).
    pub ajax_url: String,
    /// The object's hits.
    pub hits: i64,
    /// The signed page token (`hitcountToken`).
    pub token: String,
    /// Where the fairing serves `hitcount.js` (under the base path), for
    /// the page's `<script src>`.
    pub script_url: String,
    /// Where the fairing serves `jquery.postcsrf.js`.
    pub jquery_script_url: String,
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
    state: &'r HitCount,
    request: &'r Request<'r>,
    identified: &'r Identified,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Hits<'r> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        // The sentinel keeps an app without the fairing from launching.
        let Some(state) = HitCount::fetch(request.rocket()) else {
            return Outcome::Error((Status::InternalServerError, ()));
        };
        let identified = identify(state, request).await;
        Outcome::Success(Hits {
            state,
            request,
            identified,
        })
    }
}

impl rocket::Sentinel for Hits<'_> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        crate::fairing::unattached(rocket, "Hits")
    }
}

/// Hands out the visitor cookie on any page that uses the guard, so the
/// next request can return it (Django's test cookie): when the handler is
/// done with the guard, unless the request set it already (counting does:
/// one cookie to encrypt, not two, and never an older one over it). Rocket
/// adds the cookies to the response after the handler returns; a guard
/// kept alive by a streaming body sets none.
impl Drop for Hits<'_> {
    fn drop(&mut self) {
        if !self.identified.returned_cookie && !visit_recorded(self.request) {
            record_visit(self.state, self.request, self.identified, None);
        }
    }
}

impl<'r> Hits<'r> {
    /// Counts this request's hit on `object` and gives the template
    /// context. `total_hits` includes the hit when it was counted.
    pub async fn count(&self, object: &ObjectRef) -> hitcount::Result<HitContext> {
        let result = self
            .state
            .counter()
            .count_hit(object, &self.identified.visitor)
            .await?;
        let visits = record_visit(self.state, self.request, self.identified, result.pk);
        Ok(HitContext {
            pk: result.pk,
            total_hits: result.total_hits,
            hit_counted: result.hit_counted,
            hit_message: self.identified.hit_message(&result),
            visits,
        })
    }

    /// The context of a view that does not count: pk and total hits.
    /// Writes nothing.
    pub async fn view(&self, object: &ObjectRef) -> hitcount::Result<ViewContext> {
        let counts = self.state.counter().counts(object).await?;
        Ok(ViewContext {
            pk: counts.pk,
            total_hits: counts.hits,
        })
    }

    /// What the page's script needs to count `object` through the AJAX
    /// endpoint; see [`HitCount::js_variables`].
    pub async fn js_variables(&self, object: &ObjectRef) -> hitcount::Result<JsContext> {
        self.state.js_variables(object).await
    }

    /// Whether the client sent back the visitor cookie (Django's test
    /// cookie): `false` on a first visit and for clients without cookies.
    pub fn returned_cookie(&self) -> bool {
        self.identified.returned_cookie
    }

    /// How often this visitor has viewed the object with this pk, as of
    /// the start of this request; `None` unless `cookie.visit_counts` is on.
    pub fn visits(&self, pk: i64) -> Option<u32> {
        self.state
            .config()
            .cookie
            .visit_counts
            .then(|| self.identified.visits_of(pk))
    }

    /// The visitor, as the counter sees it (session key, user, IP, user agent).
    pub fn visitor(&self) -> &hitcount::Visitor {
        &self.identified.visitor
    }

    /// The core counter.
    pub fn counter(&self) -> &HitCounter {
        self.state.counter()
    }

    pub(crate) fn state(&self) -> &'r HitCount {
        self.state
    }

    pub(crate) fn request(&self) -> &'r Request<'r> {
        self.request
    }

    pub(crate) fn identified(&self) -> &'r Identified {
        self.identified
    }
}
