//! How the app tells the counter who the user is.

use rocket::futures::future::BoxFuture;
use rocket::request::{FromRequest, Outcome, Request};

/// Implemented by the app's user type (usually its authentication request
/// guard), so that authenticated users are counted by user
/// (`Hit counted: user authentication`) and `exclude_user_groups` applies.
/// Register it with [`Initializer::with_users`](crate::Initializer::with_users);
/// anonymous sites need nothing.
///
/// ```
/// use rocket::request::{self, FromRequest, Request};
/// use rocket_hitcount::HitUser;
///
/// struct Admin { id: i64 }
///
/// #[rocket::async_trait]
/// impl<'r> FromRequest<'r> for Admin {
///     type Error = ();
///     async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, ()> {
///         match req.cookies().get_private("admin") {
///             Some(c) => request::Outcome::Success(Admin { id: c.value().parse().unwrap_or(0) }),
///             None => request::Outcome::Forward(rocket::http::Status::Unauthorized),
///         }
///     }
/// }
///
/// impl HitUser for Admin {
///     fn hit_user(&self) -> Option<rocket_hitcount::User> {
///         Some(rocket_hitcount::User::new(self.id.to_string()).ok()?.with_groups(["Admin"]))
///     }
/// }
/// ```
pub trait HitUser {
    /// The user to count as, or `None` for an anonymous visitor.
    fn hit_user(&self) -> Option<hitcount::User>;
}

/// Finds the user of a request; erased so the fairing need not be generic
/// over the user type.
pub(crate) type UserLookup = for<'r> fn(&'r Request<'_>) -> BoxFuture<'r, Option<hitcount::User>>;

/// The lookup for user type `U`: run its request guard, ask it for the user.
pub(crate) fn lookup<'r, U>(request: &'r Request<'_>) -> BoxFuture<'r, Option<hitcount::User>>
where
    U: for<'a> FromRequest<'a> + HitUser,
{
    Box::pin(async move {
        match U::from_request(request).await {
            Outcome::Success(user) => user.hit_user(),
            _ => None,
        }
    })
}
