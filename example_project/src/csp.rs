//! The site's Content-Security-Policy: scripts, styles and images from the
//! site itself only, no inline code but the one script a page marks with
//! its nonce, and reports of what a browser blocked, logged and kept.

use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{post, Response, Route, State};

/// Where browsers send what the policy blocked.
pub const REPORT_PATH: &str = "/csp-report";

/// The nonce of this response's policy: a page passes it to the script it
/// writes inline (`insert_hit_count_js_variables(for=post, nonce=csp_nonce)`).
pub struct CspNonce(pub String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CspNonce {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(CspNonce(nonce(request).to_owned()))
    }
}

/// This request's nonce, made on first use: 16 random bytes, as hex.
fn nonce<'r>(request: &'r Request<'_>) -> &'r str {
    request
        .local_cache(|| {
            let mut bytes = [0u8; 16];
            OsRng.fill_bytes(&mut bytes);
            Nonce(bytes.iter().map(|b| format!("{b:02x}")).collect())
        })
        .0
        .as_str()
}

/// The request-local nonce (a type of its own for Rocket's local cache).
struct Nonce(String);

/// The policy of `nonce`'s page.
fn policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
         report-uri {REPORT_PATH}"
    )
}

/// What browsers reported, in the order they did (clones share them).
#[derive(Clone, Default)]
pub struct CspReports(Arc<Mutex<Vec<String>>>);

impl CspReports {
    /// The reports so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("not poisoned").clone()
    }
}

/// Sets the policy on every HTML page, and keeps the reports.
pub fn fairing() -> impl Fairing {
    Csp
}

struct Csp;

#[rocket::async_trait]
impl Fairing for Csp {
    fn info(&self) -> Info {
        Info {
            name: "Content-Security-Policy",
            kind: Kind::Ignite | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: rocket::Rocket<rocket::Build>) -> fairing::Result {
        Ok(rocket.manage(CspReports::default()).mount("/", routes()))
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        // The crate's own routes set a stricter policy for what they serve.
        if response.content_type() == Some(ContentType::HTML) {
            response.set_header(Header::new("Content-Security-Policy", policy(nonce(request))));
        }
    }
}

fn routes() -> Vec<Route> {
    rocket::routes![report]
}

/// The reports kept, the latest ones: anyone may post one.
const KEPT_REPORTS: usize = 100;

/// A browser's report of something the policy blocked: logged (its first
/// 500 characters) and kept (the latest [`KEPT_REPORTS`]).
#[post("/csp-report", data = "<report>")]
fn report(report: String, reports: &State<CspReports>) -> Status {
    let shown: String = report.chars().take(500).collect();
    rocket::warn_!("Content-Security-Policy violation: {shown:?}");
    let mut kept = reports.0.lock().expect("not poisoned");
    if kept.len() == KEPT_REPORTS {
        kept.remove(0);
    }
    kept.push(report);
    Status::NoContent
}
