//! The core's errors as responses, so that handlers can use `?`.

use std::fmt;

use rocket::http::Status;
use rocket::response::{self, Responder};
use rocket::{error, Request};
use rocket_db_pools::sqlx;

/// A [`hitcount::Error`](crate::hitcount::Error) that a handler can return:
/// `?` converts the counter's errors into it.
///
/// Bad input answers with its message as plain text: 400 for an invalid
/// object key, user or window, 404 for an unknown pk. Anything else (the
/// database, a setting, the operating system) answers 500 with a short
/// text, or 503 when the database could not be reached in time or the app
/// is shutting down, and the error itself goes to the log, not to the
/// visitor.
///
/// ```rust,no_run
/// use rocket::{get, serde::json::Json};
/// use rocket_hitcount::{Error, HitContext, Hits, ObjectRef};
///
/// #[get("/post/<id>")]
/// async fn post(id: i64, hits: Hits<'_>) -> Result<Json<HitContext>, Error> {
///     let object = ObjectRef::new("blog.post", id)?;
///     Ok(Json(hits.count(&object).await?))
/// }
/// ```
#[derive(Debug)]
pub struct Error(pub crate::hitcount::Error);

impl Error {
    /// The status this error answers with.
    ///
    /// ```
    /// use rocket::http::Status;
    /// use rocket_hitcount::{Error, ObjectRef};
    ///
    /// let error = Error::from(ObjectRef::new("", 1).unwrap_err());
    /// assert_eq!(error.status(), Status::BadRequest);
    /// ```
    pub fn status(&self) -> Status {
        use crate::hitcount::Error as Core;
        match &self.0 {
            Core::InvalidInput { .. } | Core::Window(_) => Status::BadRequest,
            Core::UnknownObject(_) => Status::NotFound,
            Core::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
            | Core::Stopped
            | Core::Unavailable { .. } => Status::ServiceUnavailable,
            _ => Status::InternalServerError,
        }
    }
}

impl From<crate::hitcount::Error> for Error {
    fn from(error: crate::hitcount::Error) -> Error {
        Error(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl<'r> Responder<'r, 'static> for Error {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let status = self.status();
        let text = match status.class() {
            rocket::http::StatusClass::ClientError => self.0.to_string(),
            _ => {
                error!(
                    "rocket-hitcount: {} {}: {}",
                    request.method(),
                    request.uri(),
                    self.0
                );
                match status {
                    Status::ServiceUnavailable => "the hit counter's database is unavailable".to_owned(),
                    _ => "the hit counter failed".to_owned(),
                }
            }
        };
        (status, text).respond_to(request)
    }
}

#[cfg(test)]
mod tests {
    use rocket::http::Status;
    use rocket::local::blocking::Client;

    use super::{sqlx, Error};
    use crate::hitcount::Error as Core;

    #[test]
    fn statuses_name_who_is_at_fault() {
        let status = |core| Error::from(core).status();
        assert_eq!(status(Core::UnknownObject(7)), Status::NotFound);
        assert_eq!(
            status(Core::Window(crate::Window::parse("days=x").unwrap_err())),
            Status::BadRequest
        );
        assert_eq!(
            status(Core::Database(sqlx::Error::PoolTimedOut)),
            Status::ServiceUnavailable
        );
        assert_eq!(status(Core::Stopped), Status::ServiceUnavailable);
        assert_eq!(
            status(Core::Database(sqlx::Error::RowNotFound)),
            Status::InternalServerError
        );
    }

    #[rocket::get("/fail/<what>")]
    fn fail(what: &str) -> Result<&'static str, Error> {
        Err(match what {
            "kind" => crate::ObjectRef::new("", 1).unwrap_err(),
            "pk" => Core::UnknownObject(7),
            _ => Core::Database(sqlx::Error::Protocol("secret detail".into())),
        }
        .into())
    }

    #[test]
    fn answers_say_what_is_wrong_with_the_input_and_nothing_of_the_server() {
        let client = Client::untracked(rocket::build().mount("/", rocket::routes![fail])).unwrap();
        let answer = |what: &str| {
            let response = client.get(format!("/fail/{what}")).dispatch();
            (response.status(), response.into_string().unwrap_or_default())
        };
        assert_eq!(
            answer("kind"),
            (
                Status::BadRequest,
                r#"invalid object kind "": must not be empty"#.to_owned()
            )
        );
        assert_eq!(
            answer("pk"),
            (Status::NotFound, "no hit count with pk 7".to_owned())
        );
        let (status, text) = answer("database");
        assert_eq!(status, Status::InternalServerError);
        assert_eq!(text, "the hit counter failed");
    }
}
