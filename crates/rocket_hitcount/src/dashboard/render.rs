//! The dashboard's templates, rendered by a Tera instance of its own, and
//! the answers built from them: pages, error pages and the login page.

use std::collections::HashMap;

use rocket::http::{ContentType, Header, Status};
use rocket::request::{FlashMessage, Request};
use rocket::response::{self, Responder, Response};
use rocket_dyn_templates::tera::{self, Context, Tera, Value};
use serde::Serialize;

use super::chart::thousands;

/// The templates, by name, compiled into the crate.
const TEMPLATES: [(&str, &str); 9] = [
    ("layout", include_str!("../../assets/dashboard/layout.html.tera")),
    ("macros", include_str!("../../assets/dashboard/macros.html.tera")),
    (
        "overview",
        include_str!("../../assets/dashboard/overview.html.tera"),
    ),
    ("hits", include_str!("../../assets/dashboard/hits.html.tera")),
    (
        "confirm",
        include_str!("../../assets/dashboard/confirm.html.tera"),
    ),
    ("object", include_str!("../../assets/dashboard/object.html.tera")),
    (
        "blacklists",
        include_str!("../../assets/dashboard/blacklists.html.tera"),
    ),
    ("error", include_str!("../../assets/dashboard/error.html.tera")),
    ("login", include_str!("../../assets/dashboard/login.html.tera")),
];

/// The stylesheet and the script, served by the dashboard itself.
pub(crate) const CSS: &str = include_str!("../../assets/dashboard/dashboard.css");
pub(crate) const JS: &str = include_str!("../../assets/dashboard/dashboard.js");

/// What the dashboard's pages allow: its own stylesheet, script, forms
/// and inline SVG; nothing from elsewhere, nothing inline. A fairing of
/// the app that sets its own policy on HTML answers (as the example's
/// does) replaces it in `on_response`.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's templates and where it lives.
pub(crate) struct Views {
    tera: Tera,
    base: String,
    logout: Option<String>,
}

impl Views {
    pub(crate) fn new(base: &str, logout: Option<String>) -> Result<Views, tera::Error> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![""]);
        tera.add_raw_templates(TEMPLATES)?;
        tera.register_filter("num", number);
        Ok(Views {
            tera,
            base: base.to_owned(),
            logout,
        })
    }

    /// Where the dashboard lives, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Renders `template` with what every page shows (the base path, the
    /// logout route, the CSRF token, a flash message) and `context`.
    pub(crate) fn page(
        &self,
        template: &str,
        csrf: Option<&str>,
        flash: Option<&FlashMessage<'_>>,
        context: impl Serialize,
    ) -> Html {
        let mut all = match Context::from_serialize(context) {
            Ok(all) => all,
            Err(error) => return self.failed(template, &error),
        };
        all.insert("base", &self.base);
        // In the stylesheet's and script's URLs, so that browsers fetch
        // them again after an upgrade.
        all.insert("version", env!("CARGO_PKG_VERSION"));
        all.insert("logout", &self.logout);
        all.insert("csrf", &csrf);
        if let Some(flash) = flash {
            all.insert(
                "flash",
                &HashMap::from([("kind", flash.kind()), ("message", flash.message())]),
            );
        }
        match self.tera.render(template, &all) {
            Ok(html) => Html(Status::Ok, html),
            Err(error) => self.failed(template, &error),
        }
    }

    /// The error page: `status` and a message naming the problem. With a
    /// CSRF token (a request the guard let in), it has the menu.
    pub(crate) fn error(&self, status: Status, message: &str, csrf: Option<&str>) -> Html {
        let mut page = self.page(
            "error",
            csrf,
            None,
            ErrorContext {
                status: status.code,
                reason: status.reason_lossy(),
                message,
                nav: csrf.map(|_| ""),
            },
        );
        if page.0 == Status::Ok {
            page.0 = status;
        }
        page
    }

    /// A template that did not render: logged with Tera's chain of causes,
    /// a plain 500 for the browser.
    fn failed(&self, template: &str, error: &tera::Error) -> Html {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        rocket::error!("hitcount dashboard: template {template} failed: {reason}");
        Html(
            Status::InternalServerError,
            "<!doctype html><title>Error</title><p>The page failed to render; see the server log.</p>".into(),
        )
    }
}

#[derive(Serialize)]
struct ErrorContext<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
    /// The menu, with no page current; absent for requests the guard may
    /// not have let in.
    #[serde(skip_serializing_if = "Option::is_none")]
    nav: Option<&'a str>,
}

/// Tera's `num` filter: an integer with thousands separators.
fn number(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    match value.as_i64() {
        Some(n) => Ok(Value::String(thousands(n))),
        None => Err(tera::Error::msg(format!("num needs an integer, got {value}"))),
    }
}

/// A rendered page and its status, sent with the dashboard's
/// Content-Security-Policy.
pub(crate) struct Html(pub(crate) Status, pub(crate) String);

impl<'r> Responder<'r, 'static> for Html {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .status(self.0)
            .header(ContentType::HTML)
            .header(Header::new("Content-Security-Policy", POLICY))
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(self.1.len(), std::io::Cursor::new(self.1))
            .ok()
    }
}
