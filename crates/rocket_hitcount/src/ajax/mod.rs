//! Counting from a page's script: the routes mounted under `base_path` (the
//! AJAX endpoint, django-hitcount's `HitCountJSONView`; the CSRF token for
//! cached pages; the scripts), what a page hands its script
//! ([`JsContext`], with a page token), and the endpoint's checks: CSRF
//! (`csrf`) and signed page tokens (`token`).

use std::collections::HashMap;

use rocket::data::{Data, ToByteUnit};
use rocket::http::Method;
use rocket::http::{ContentType, CookieJar, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::route::{self, Handler};
use rocket::serde::json::{json, Json};
use rocket::{error, get, post, routes, Route, State};
use serde::Serialize;

use hitcount::ObjectRef;

use crate::state::HitCount;
use crate::visitor::{record_visit, Visit};

pub(crate) mod csrf;
pub(crate) mod token;

pub use csrf::{CsrfError, CsrfToken};

/// The largest request body the endpoint reads: a pk, a token and a CSRF
/// token fit many times over.
pub const AJAX_BODY_LIMIT: usize = 4096;

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
    /// Whether the endpoint takes a CSRF token (`hitcountCSRF`): `false`
    /// with `cookie.mode = "none"`, which sets no CSRF cookie.
    pub csrf: bool,
}

impl HitCount {
    /// A page token for the object with this pk, valid for `token_ttl`:
    /// what a page hands its script as `hitcountToken`.
    pub fn issue_token(&self, pk: i64) -> String {
        let expires = chrono::Utc::now().timestamp() + self.config().token_ttl.as_secs() as i64;
        token::issue(self.secret(), pk, expires)
    }

    /// What a page needs to count `object` through the AJAX endpoint:
    /// its pk (the object's row is created if missing, counting nothing),
    /// the endpoint's URL, its total hits, a page token and the scripts'
    /// URLs.
    pub async fn js_variables(&self, object: &ObjectRef) -> hitcount::Result<JsContext> {
        let (pk, hits) = self.counter().pk_and_hits(object).await?;
        Ok(self.js_context(pk, hits))
    }

    /// The script variables of the object with this pk and total.
    pub(crate) fn js_context(&self, pk: i64, hits: i64) -> JsContext {
        JsContext {
            pk,
            ajax_url: self.config().ajax_url(),
            hits,
            token: self.issue_token(pk),
            script_url: self.config().script_url(),
            jquery_script_url: self.config().jquery_script_url(),
            csrf: !self.config().cookie_free(),
        }
    }
}

pub(crate) fn routes() -> Vec<Route> {
    let mut routes = routes![hit_ajax, csrf_token, hitcount_js, jquery_postcsrf_js];
    // Every other method on the endpoint answers 405 (GET also covers HEAD).
    for method in [Method::Get, Method::Put, Method::Delete, Method::Patch] {
        routes.push(Route::new(method, "/hit/ajax", PostOnly));
    }
    routes
}

/// django-hitcount's answer, keys in its order.
#[derive(Serialize)]
struct Answer {
    hit_counted: bool,
    hit_message: &'static str,
}

/// A JSON error: `{"success": false, "error_message": "..."}` with its
/// status (django-hitcount's shape for the GET answer).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: Status,
    message: String,
}

impl ApiError {
    fn new(status: Status, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let body = Json(json!({ "success": false, "error_message": self.message }));
        let mut response = Response::build_from(body.respond_to(request)?)
            .status(self.status)
            .finalize();
        if self.status == Status::MethodNotAllowed {
            response.set_header(Header::new("Allow", "POST"));
        }
        locked_down(&mut response);
        Ok(response)
    }
}

/// What every answer of these routes carries: it is data or a script,
/// never a page, so a browser is told to run nothing from it, frame it
/// nowhere and take its type as sent.
fn locked_down(response: &mut Response<'_>) {
    response.set_header(Header::new(
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'",
    ));
    response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
}

/// An answer of these routes, with [`locked_down`]'s headers.
struct LockedDown<R>(R);

impl<'r, R: Responder<'r, 'static>> Responder<'r, 'static> for LockedDown<R> {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.0.respond_to(request)?;
        locked_down(&mut response);
        Ok(response)
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
fn form_fields(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                rocket::http::RawStr::new(&s.replace('+', " "))
                    .url_decode_lossy()
                    .into_owned()
            };
            (decode(key), decode(value))
        })
        .collect()
}

/// `POST <base>/hit/ajax/`: counts the hit of `hitcountPK` for this visitor.
#[post("/hit/ajax", data = "<body>")]
async fn hit_ajax(visit: Visit<'_>, body: Data<'_>) -> Result<LockedDown<Json<Answer>>, ApiError> {
    let (state, request) = (visit.state, visit.request);
    if !request.content_type().is_some_and(|ct| ct.is_form()) {
        return Err(ApiError::new(
            Status::BadRequest,
            "expected a form body (Content-Type: application/x-www-form-urlencoded)",
        ));
    }
    let body = body
        .open(AJAX_BODY_LIMIT.bytes())
        .into_string()
        .await
        .map_err(|e| ApiError::new(Status::BadRequest, format!("cannot read the request body: {e}")))?;
    if !body.is_complete() {
        return Err(ApiError::new(
            Status::BadRequest,
            format!("request body is larger than {AJAX_BODY_LIMIT} bytes"),
        ));
    }
    let fields = form_fields(&body);
    // Without cookies there is no CSRF cookie to compare: the same-origin
    // check, and the page token below, are the endpoint's protection.
    let checked = if state.config().cookie_free() {
        csrf::check_origin(request)
    } else {
        csrf::check(
            state,
            request,
            fields.get("csrfmiddlewaretoken").map(String::as_str),
        )
    };
    checked.map_err(|refused| ApiError::new(Status::Forbidden, refused.to_string()))?;
    let pk_text = fields
        .get("hitcountPK")
        .ok_or_else(|| ApiError::new(Status::BadRequest, "hitcountPK is missing"))?;
    let pk: i64 = pk_text.trim().parse().map_err(|_| {
        ApiError::new(
            Status::BadRequest,
            format!("hitcountPK must be an integer, got {pk_text:?}"),
        )
    })?;
    if state.config().require_token {
        let token = fields
            .get("hitcountToken")
            .ok_or_else(|| ApiError::new(Status::Forbidden, "hitcountToken is missing"))?;
        token::check(state.secret(), token, pk, chrono::Utc::now().timestamp())
            .map_err(|e| ApiError::new(Status::Forbidden, e.to_string()))?;
    }
    let identified = visit.identified;
    let result = match state.counter().count_hit_pk(pk, &identified.visitor).await {
        Ok(result) => result,
        Err(hitcount::Error::UnknownObject(pk)) => {
            return Err(ApiError::new(
                Status::BadRequest,
                format!("no hit count with pk {pk}"),
            ));
        }
        Err(e) => {
            error!("rocket-hitcount: counting pk {pk} failed: {e}");
            // The status the crate's `Error` gives (503 for an app shutting
            // down), with the endpoint's message.
            return Err(ApiError::new(
                crate::Error::from(e).status(),
                "the hit could not be counted",
            ));
        }
    };
    // The counter logs an outage once; the script is told, with a status
    // it need not retry on at once.
    if result.reason == hitcount::Reason::Unavailable {
        return Err(ApiError::new(Status::ServiceUnavailable, result.hit_message));
    }
    record_visit(state, request, identified, result.pk);
    Ok(LockedDown(Json(Answer {
        hit_counted: result.hit_counted,
        hit_message: identified.hit_message(&result),
    })))
}

/// The 405 answer of the endpoint to methods other than POST.
#[derive(Clone)]
struct PostOnly;

#[rocket::async_trait]
impl Handler for PostOnly {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> route::Outcome<'r> {
        route::Outcome::from(
            request,
            ApiError::new(Status::MethodNotAllowed, "Hits counted via POST only."),
        )
    }
}

/// A response that must not be cached.
struct NoStore<R>(R);

impl<'r, R: Responder<'r, 'static>> Responder<'r, 'static> for NoStore<R> {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.0.respond_to(request)?;
        response.set_header(Header::new("Cache-Control", "no-store"));
        locked_down(&mut response);
        Ok(response)
    }
}

/// `GET <base>/csrf/`: the visitor's CSRF token (and its cookie), for
/// scripts on pages served from a cache without the cookie; `null`, and no
/// cookie, with `cookie.mode = "none"`, where the endpoint needs none.
#[get("/csrf")]
fn csrf_token(state: &State<HitCount>, jar: &CookieJar<'_>) -> NoStore<Json<serde_json::Value>> {
    let token = (!state.config().cookie_free()).then(|| csrf::token(state, jar));
    NoStore(Json(json!({ "csrftoken": token })))
}

/// The dependency-free script.
pub const HITCOUNT_JS: &str = include_str!("../../assets/hitcount.js");
/// The `$.postCSRF` jQuery plugin.
pub const JQUERY_POSTCSRF_JS: &str = include_str!("../../assets/jquery.postcsrf.js");

/// A bundled script: JavaScript, cacheable for a day.
struct Script(&'static str);

impl<'r> Responder<'r, 'static> for Script {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.0.respond_to(request)?;
        response.set_header(ContentType::JavaScript);
        response.set_header(Header::new("Cache-Control", "public, max-age=86400"));
        locked_down(&mut response);
        Ok(response)
    }
}

#[get("/static/hitcount.js")]
fn hitcount_js() -> Script {
    Script(HITCOUNT_JS)
}

#[get("/static/jquery.postcsrf.js")]
fn jquery_postcsrf_js() -> Script {
    Script(JQUERY_POSTCSRF_JS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        let fields = form_fields("hitcountPK=12&hitcountToken=a.b%2Bc&x=a+b&empty=&flag");
        assert_eq!(fields["hitcountPK"], "12");
        assert_eq!(fields["hitcountToken"], "a.b+c");
        assert_eq!(fields["x"], "a b");
        assert_eq!(fields["empty"], "");
        assert_eq!(fields["flag"], "");
        assert!(form_fields("").is_empty());
    }
}
