//! The app's own pages in the dashboard's layout: a login form for apps
//! whose guard is a password login, and an error page.

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};
use serde::Serialize;

use super::access::Access;
use crate::CsrfToken;

/// A login form in the dashboard's layout, for an app whose guard is a
/// password login: it posts `username`, `password` and the CSRF token (as
/// `csrfmiddlewaretoken`) to the app's own login route, which checks them
/// and answers with this page again, [`with an error`](LoginPage::error),
/// when they are wrong. It needs the [`Dashboard`](super::Dashboard)
/// attached.
///
/// ```rust,no_run
/// use rocket::get;
/// use rocket_hitcount::{CsrfToken, LoginPage};
///
/// #[get("/admin/login")]
/// fn login_form(csrf: CsrfToken<'_>) -> LoginPage {
///     LoginPage::new(&csrf, "/admin/login")
/// }
/// ```
pub struct LoginPage {
    csrf: String,
    action: String,
    error: Option<String>,
    notice: Option<String>,
    status: Status,
}

impl LoginPage {
    /// The form, posting to `action`.
    pub fn new(csrf: &CsrfToken<'_>, action: impl Into<String>) -> LoginPage {
        LoginPage {
            csrf: csrf.value().to_owned(),
            action: action.into(),
            error: None,
            notice: None,
            status: Status::Ok,
        }
    }

    /// The form with a notice above it, such as "Logged out."
    ///
    /// ```rust,no_run
    /// # use rocket_hitcount::{CsrfToken, LoginPage};
    /// # fn page(csrf: CsrfToken<'_>) -> LoginPage {
    /// LoginPage::new(&csrf, "/admin/login").notice("Logged out.")
    /// # }
    /// ```
    pub fn notice(mut self, message: impl Into<String>) -> LoginPage {
        self.notice = Some(message.into());
        self
    }

    /// The form again after a failed login: `message` above it, and
    /// `status` (such as 401, or 429 when logins are throttled).
    ///
    /// ```rust,no_run
    /// # use rocket_hitcount::{CsrfToken, LoginPage};
    /// # fn page(csrf: CsrfToken<'_>) -> LoginPage {
    /// LoginPage::new(&csrf, "/admin/login")
    ///     .error(rocket::http::Status::Unauthorized, "Please enter the correct username and password.")
    /// # }
    /// ```
    pub fn error(mut self, status: Status, message: impl Into<String>) -> LoginPage {
        self.status = status;
        self.error = Some(message.into());
        self
    }
}

#[derive(Serialize)]
struct LoginContext<'a> {
    action: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

impl<'r> Responder<'r, 'static> for LoginPage {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let Some(access) = request.rocket().state::<Access>() else {
            rocket::error!("LoginPage needs the hitcount Dashboard attached");
            return Err(Status::InternalServerError);
        };
        let context = LoginContext {
            action: &self.action,
            error: self.error.as_deref(),
            notice: self.notice.as_deref(),
        };
        let mut page = access.views.page("login", Some(&self.csrf), None, context);
        if page.0 == Status::Ok {
            page.0 = self.status;
        }
        page.respond_to(request)
    }
}

/// An error page in the dashboard's layout, without its menu: for the
/// app's routes around the dashboard (its login, its logout) that fail.
/// It needs the [`Dashboard`](super::Dashboard) attached.
///
/// ```rust,no_run
/// use rocket::http::Status;
/// use rocket::post;
/// use rocket_hitcount::{CsrfToken, DashboardError};
///
/// #[post("/admin/logout")]
/// fn logout(csrf: CsrfToken<'_>) -> Result<&'static str, DashboardError> {
///     csrf.verify(None).map_err(|refused| DashboardError::new(Status::Forbidden, refused.to_string()))?;
///     Ok("logged out")
/// }
/// ```
#[derive(Debug)]
pub struct DashboardError {
    status: Status,
    message: String,
}

impl DashboardError {
    /// The page: `status`, and `message` naming the problem (see
    /// [`DashboardError`] for an example).
    pub fn new(status: Status, message: impl Into<String>) -> DashboardError {
        DashboardError {
            status,
            message: message.into(),
        }
    }
}

impl<'r> Responder<'r, 'static> for DashboardError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let Some(access) = request.rocket().state::<Access>() else {
            rocket::error!("DashboardError needs the hitcount Dashboard attached");
            return Err(Status::InternalServerError);
        };
        access
            .views
            .error(self.status, &self.message, None)
            .respond_to(request)
    }
}
