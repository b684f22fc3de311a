//! The admin: rocket-hitcount's dashboard under `/admin`, behind the
//! example's own password login (`auth`), with posts named by their
//! titles and linked to their pages.

use std::collections::HashMap;

use rocket::request::Request;
use rocket::response::Redirect;
use rocket::{catch, catchers, routes, Catcher, Route};
use rocket_hitcount::{Dashboard, Label, Labels, ObjectRef};

use crate::posts::{Posts, KIND};

mod auth;

pub(crate) use auth::fairing;
pub use auth::hash_password;
use auth::{login, login_page, logout, Admin};

/// Where the admin lives.
pub(crate) const BASE: &str = "/admin";

/// The login and logout routes, mounted at [`BASE`].
pub(crate) fn routes() -> Vec<Route> {
    routes![login_page, login, logout]
}

/// The admin guard's 401 becomes the login page.
pub(crate) fn catchers() -> Vec<Catcher> {
    catchers![login_first]
}

#[catch(401)]
fn login_first() -> Redirect {
    Redirect::to("/admin/login")
}

/// The dashboard, behind the login.
pub(crate) fn dashboard() -> Dashboard<Admin> {
    Dashboard::<Admin>::new(BASE)
        .labels(PostTitles)
        .logout("/admin/logout")
}

/// Posts by their titles, linked to the page that counts them on load.
struct PostTitles;

#[rocket::async_trait]
impl Labels for PostTitles {
    async fn labels(&self, request: &Request<'_>, objects: &[ObjectRef]) -> HashMap<ObjectRef, Label> {
        let Some(posts) = request.rocket().state::<Posts>() else {
            return HashMap::new();
        };
        if !objects.iter().any(|o| o.kind() == KIND) {
            return HashMap::new();
        }
        // The blog has a handful of posts: one query for all of them.
        let Ok(all) = posts.all().await else {
            return HashMap::new();
        };
        all.into_iter()
            .map(|post| {
                let label = Label::new(post.title.clone()).link(format!("/post/{}/", post.id));
                (post.object(), label)
            })
            .filter(|(object, _)| objects.contains(object))
            .collect()
    }
}
