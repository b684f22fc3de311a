//! CSRF protection of the AJAX endpoint: Django's double-submit cookie
//! (`csrftoken` cookie, `X-CSRFToken` header or `csrfmiddlewaretoken`
//! field, compared in constant time) plus a same-origin check of `Origin`
//! or `Sec-Fetch-Site`.

use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::{Request, Response};

use crate::secret::{random_hex, same};
use crate::state::{unattached, HitCount};

/// The CSRF cookie lives a year, as Django's does.
const COOKIE_DAYS: i64 = 365;

/// The CSRF token the client sent in its cookie, if it is plausible: 16
/// to 64 letters and digits, ours (32 hex) and Django's (32 or 64), so a
/// Django app on the same domain keeps its cookie. The cookie as sent,
/// not one set during the request: that is what a double-submit check
/// compares, and Rocket's `get_pending` would first try to decrypt it as
/// a private cookie, on every page ([`ensure_cookie`] sees the cookies
/// the request set in the response's headers).
fn sent_token(state: &HitCount, jar: &CookieJar<'_>) -> Option<String> {
    jar.get(&state.config().csrf_cookie_name)
        .and_then(|c| plausible(c.value()))
}

/// The token in a CSRF cookie's value, if it is plausible (see [`sent_token`]).
fn plausible(value: &str) -> Option<String> {
    let fits = (16..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
    fits.then(|| value.to_owned())
}

fn cookie(state: &HitCount, token: String) -> Cookie<'static> {
    let cookie = Cookie::build((state.config().csrf_cookie_name.clone(), token))
        .path("/")
        // Scripts read it to send it back in the header: not HttpOnly.
        .http_only(false)
        .same_site(SameSite::Lax)
        .max_age(rocket::time::Duration::days(COOKIE_DAYS));
    let mut cookie = cookie.build();
    state.config().cookie.mark_secure(&mut cookie);
    cookie
}

/// Whether the response already sets the cookie called `name`.
pub(crate) fn sets_cookie(response: &Response<'_>, name: &str) -> bool {
    response
        .headers()
        .get("Set-Cookie")
        .any(|c| c.strip_prefix(name).is_some_and(|rest| rest.starts_with('=')))
}

/// The CSRF token of this visitor, issuing the cookie if it has none:
/// as the response will leave it (`get_pending`: one issued, replaced or
/// removed earlier in the same request counts), since the page hands it
/// to its script.
pub(crate) fn token(state: &HitCount, jar: &CookieJar<'_>) -> String {
    let current = jar
        .get_pending(&state.config().csrf_cookie_name)
        .and_then(|c| plausible(c.value()));
    current.unwrap_or_else(|| {
        let token = random_hex::<16>();
        jar.add(cookie(state, token.clone()));
        token
    })
}

/// Adds the CSRF cookie to a page whose request came without one (unless
/// the handler already set it).
pub(crate) fn ensure_cookie(state: &HitCount, request: &Request<'_>, response: &mut Response<'_>) {
    let already_set = sets_cookie(response, &state.config().csrf_cookie_name);
    if sent_token(state, request.cookies()).is_none() && !already_set {
        response.adjoin_header(cookie(state, random_hex::<16>()));
    }
}

/// Why a POST failed the CSRF check: answered with 403 and its message.
///
/// ```
/// let refused = rocket_hitcount::CsrfError::TokenMissing;
/// assert_eq!(
///     refused.to_string(),
///     "CSRF token is missing: send the X-CSRFToken header or the csrfmiddlewaretoken field"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfError {
    /// The `Origin` header names another site than the `Host`.
    CrossOrigin {
        /// The `Origin` sent.
        origin: String,
        /// This site, as the request names it.
        host: String,
    },
    /// No `Origin`, and `Sec-Fetch-Site` says another site sent it.
    CrossSite {
        /// The `Sec-Fetch-Site` sent.
        sec_fetch_site: String,
    },
    /// The CSRF cookie is missing, or not 16 to 64 letters and digits.
    CookieMissing {
        /// The cookie's name (`csrf_cookie_name`).
        cookie: String,
    },
    /// Neither the `X-CSRFToken` header nor the form field was sent.
    TokenMissing,
    /// The token sent is not the cookie's.
    TokenMismatch {
        /// The cookie's name (`csrf_cookie_name`).
        cookie: String,
    },
}

impl std::fmt::Display for CsrfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsrfError::CrossOrigin { origin, host } => write!(
                f,
                "cross-origin request refused: Origin {origin:?} is not this site ({host:?})"
            ),
            CsrfError::CrossSite { sec_fetch_site } => write!(
                f,
                "cross-origin request refused: Sec-Fetch-Site is {sec_fetch_site:?}"
            ),
            CsrfError::CookieMissing { cookie } => write!(f, "CSRF cookie `{cookie}` is missing"),
            CsrfError::TokenMissing => f.write_str(
                "CSRF token is missing: send the X-CSRFToken header or the csrfmiddlewaretoken field",
            ),
            CsrfError::TokenMismatch { cookie } => {
                write!(f, "CSRF token does not match the `{cookie}` cookie")
            }
        }
    }
}

impl std::error::Error for CsrfError {}

/// 403 with the message as plain text.
impl<'r> rocket::response::Responder<'r, 'static> for CsrfError {
    fn respond_to(self, request: &'r Request<'_>) -> rocket::response::Result<'static> {
        (rocket::http::Status::Forbidden, self.to_string()).respond_to(request)
    }
}

/// Checks a POST: same origin, and the token sent (header, else form
/// field) equals the cookie's.
pub(crate) fn check(
    state: &HitCount,
    request: &Request<'_>,
    form_token: Option<&str>,
) -> Result<(), CsrfError> {
    check_origin(request)?;
    let cookie = || state.config().csrf_cookie_name.clone();
    let Some(expected) = sent_token(state, request.cookies()) else {
        return Err(CsrfError::CookieMissing { cookie: cookie() });
    };
    let sent = request.headers().get_one("X-CSRFToken").or(form_token);
    match sent {
        None => Err(CsrfError::TokenMissing),
        Some(sent) if same(sent, &expected) => Ok(()),
        Some(_) => Err(CsrfError::TokenMismatch { cookie: cookie() }),
    }
}

/// Browsers say where a POST comes from: `Origin` must name this host (the
/// `Host` header, or HTTP/2's `:authority`), or, without it,
/// `Sec-Fetch-Site` must be `same-origin`. Clients that send neither (not
/// browsers, so not CSRF victims) pass on to the token check.
pub(crate) fn check_origin(request: &Request<'_>) -> Result<(), CsrfError> {
    let headers = request.headers();
    if let Some(origin) = headers.get_one("Origin") {
        let host = request
            .host()
            .map(|host| host.to_string())
            .or_else(|| headers.get_one("Host").map(str::to_owned))
            .unwrap_or_default();
        let authority = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'));
        return match authority {
            Some(authority) if !host.is_empty() && authority.eq_ignore_ascii_case(&host) => Ok(()),
            _ => Err(CsrfError::CrossOrigin {
                origin: origin.to_owned(),
                host,
            }),
        };
    }
    match headers.get_one("Sec-Fetch-Site") {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(site) => Err(CsrfError::CrossSite {
            sec_fetch_site: site.to_owned(),
        }),
    }
}

/// Request guard: this visitor's CSRF token, for an app's own forms, with
/// the same double-submit check as the AJAX endpoint. Put [`value`] in a
/// hidden `csrfmiddlewaretoken` field and [`verify`] what the form sends.
///
/// [`value`]: CsrfToken::value
/// [`verify`]: CsrfToken::verify
///
/// ```rust,no_run
/// use rocket::form::Form;
/// use rocket::{get, post, FromForm};
/// use rocket_hitcount::{CsrfError, CsrfToken};
///
/// #[get("/contact")]
/// fn contact(csrf: CsrfToken<'_>) -> String {
///     format!(r#"<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{}"></form>"#, csrf.value())
/// }
///
/// #[derive(FromForm)]
/// struct Message { csrfmiddlewaretoken: String }
///
/// #[post("/contact", data = "<form>")]
/// fn send(csrf: CsrfToken<'_>, form: Form<Message>) -> Result<&'static str, CsrfError> {
///     csrf.verify(Some(&form.csrfmiddlewaretoken))?; // a 403 that says why
///     Ok("sent")
/// }
/// ```
///
/// A route that uses it stops the launch when the fairing is not attached
/// (it is a [`Sentinel`](rocket::Sentinel)).
pub struct CsrfToken<'r> {
    state: &'r HitCount,
    request: &'r Request<'r>,
    token: String,
}

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for CsrfToken<'r> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> rocket::request::Outcome<Self, ()> {
        // The sentinel keeps an app without the fairing from launching.
        let Some(state) = HitCount::fetch(request.rocket()) else {
            return rocket::request::Outcome::Error((rocket::http::Status::InternalServerError, ()));
        };
        let token = token(state, request.cookies());
        rocket::request::Outcome::Success(CsrfToken {
            state,
            request,
            token,
        })
    }
}

impl rocket::Sentinel for CsrfToken<'_> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        unattached(rocket, "CsrfToken")
    }
}

impl CsrfToken<'_> {
    /// The token to send back: the value of the `csrftoken` cookie.
    pub fn value(&self) -> &str {
        &self.token
    }

    /// Checks this request as the AJAX endpoint does: same origin, and the
    /// `X-CSRFToken` header or else `form_token` equal to the cookie. The
    /// error says what is wrong, and answers 403.
    pub fn verify(&self, form_token: Option<&str>) -> Result<(), CsrfError> {
        check(self.state, self.request, form_token)
    }
}

#[cfg(test)]
mod tests {
    use rocket::http::Status;
    use rocket::local::blocking::Client;

    use super::CsrfError;

    #[rocket::get("/refuse")]
    fn refuse() -> Result<&'static str, CsrfError> {
        Err(CsrfError::TokenMismatch {
            cookie: "csrftoken".into(),
        })
    }

    #[test]
    fn refusals_answer_403_with_their_message() {
        let client = Client::untracked(rocket::build().mount("/", rocket::routes![refuse])).unwrap();
        let response = client.get("/refuse").dispatch();
        assert_eq!(response.status(), Status::Forbidden);
        assert_eq!(
            response.into_string().as_deref(),
            Some("CSRF token does not match the `csrftoken` cookie")
        );
        let cases = [
            (
                CsrfError::CrossOrigin {
                    origin: "https://evil.example".into(),
                    host: "blog.example".into(),
                },
                r#"cross-origin request refused: Origin "https://evil.example" is not this site ("blog.example")"#,
            ),
            (
                CsrfError::CrossSite {
                    sec_fetch_site: "cross-site".into(),
                },
                r#"cross-origin request refused: Sec-Fetch-Site is "cross-site""#,
            ),
            (
                CsrfError::CookieMissing {
                    cookie: "csrftoken".into(),
                },
                "CSRF cookie `csrftoken` is missing",
            ),
        ];
        for (refused, message) in cases {
            assert_eq!(refused.to_string(), message);
        }
    }
}

#[cfg(test)]
mod proptests;
