//! The blog's pages, one per way of counting that django-hitcount's
//! example shows (DESIGN section 6), and the cookie test.

use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{catch, get, routes, Either, Request, Route, State};
use rocket_dyn_templates::{context, Template};
use rocket_hitcount::{HitCount, Hits};

use crate::csp::CspNonce;
use crate::posts::{Post, Posts};

pub(crate) fn routes() -> Vec<Route> {
    routes![
        index,
        post_page,
        detail_ajax,
        detail_ajax_jquery,
        detail_view,
        detail_count_hit,
        about
    ]
}

/// A failed read is a 500 page with the reason in the log; a missing post
/// (or a pk that is not a number) is a 404.
type Page = Result<Option<Template>, Status>;

fn server_error(what: &str, error: impl std::fmt::Display) -> Status {
    rocket::error!("{what}: {error}");
    Status::InternalServerError
}

/// The post of a `<pk>` segment, `None` for anything but an existing post.
async fn find(posts: &Posts, pk: &str) -> Result<Option<Post>, Status> {
    let Ok(id) = pk.parse::<i64>() else {
        return Ok(None);
    };
    posts.get(id).await.map_err(|e| server_error("reading a post", e))
}

/// The posts, each with its hit count (one query, in the template), the
/// links to the three modes and the week's most viewed.
#[get("/")]
async fn index(posts: &State<Posts>) -> Result<Template, Status> {
    let all = posts
        .all()
        .await
        .map_err(|e| server_error("reading the posts", e))?;
    Ok(Template::render(
        "index",
        context! { posts: all, backend: posts.backend() },
    ))
}

/// What every detail page shows besides its counting: the post, the
/// visitor's views of it, its raw views and bot hits (from the handler;
/// totals and windows come from the template functions).
async fn detail(
    template: &'static str,
    posts: &Posts,
    hits: &Hits<'_>,
    post: Post,
    counting: impl serde::Serialize,
    visits: impl FnOnce(Option<i64>) -> Option<u32>,
    csp_nonce: Option<CspNonce>,
) -> Page {
    let counts = hits
        .counter()
        .counts(&post.object())
        .await
        .map_err(|e| server_error("reading counts", e))?;
    Ok(Some(Template::render(
        template,
        context! {
            visits: visits(counts.pk),
            counts,
            hitcount: counting,
            post,
            backend: posts.backend(),
            csp_nonce: csp_nonce.map(|nonce| nonce.0),
        },
    )))
}

/// A page that counts nothing itself. Its visits are those before this
/// request: the AJAX pages' script counts this one once the endpoint has
/// recorded it (`static/visits.js`).
async fn uncounted(
    template: &'static str,
    posts: &Posts,
    hits: Hits<'_>,
    pk: &str,
    nonce: Option<CspNonce>,
) -> Page {
    let Some(post) = find(posts, pk).await? else {
        return Ok(None);
    };
    let visits = |pk| {
        match pk {
            Some(pk) => hits.visits(pk),
            // Never counted: no views yet, if views are kept at all.
            None => hits.visits(0).map(|_| 0),
        }
    };
    detail(template, posts, &hits, post, (), visits, nonce).await
}

/// Counts through the AJAX endpoint with the dependency-free script.
#[get("/generic-detail-view-ajax/<pk>")]
async fn detail_ajax(posts: &State<Posts>, hits: Hits<'_>, pk: &str, nonce: CspNonce) -> Page {
    uncounted("detail_ajax", posts, hits, pk, Some(nonce)).await
}

/// The same with jQuery and `$.postCSRF`.
#[get("/generic-detail-view-ajax-jquery/<pk>")]
async fn detail_ajax_jquery(posts: &State<Posts>, hits: Hits<'_>, pk: &str, nonce: CspNonce) -> Page {
    uncounted("detail_ajax_jquery", posts, hits, pk, Some(nonce)).await
}

/// Shows the total and pk, counting nothing.
#[get("/hitcount-detail-view/<pk>")]
async fn detail_view(posts: &State<Posts>, hits: Hits<'_>, pk: &str) -> Page {
    let Some(post) = find(posts, pk).await? else {
        return Ok(None);
    };
    // It counts nothing: no "you have visited this page" either.
    detail("detail_view", posts, &hits, post, (), |_| None, None).await
}

/// A post's own page, where the front page's titles lead: counted on
/// load, as a blog's post page is.
#[get("/post/<pk>")]
async fn post_page(posts: &State<Posts>, hits: Hits<'_>, pk: &str) -> Page {
    detail_count_hit(posts, hits, pk).await
}

/// Counts on load, with the counting guard.
#[get("/hitcount-detail-view-count-hit/<pk>")]
async fn detail_count_hit(posts: &State<Posts>, hits: Hits<'_>, pk: &str) -> Page {
    let Some(post) = find(posts, pk).await? else {
        return Ok(None);
    };
    let counted = hits
        .count(&post.object())
        .await
        .map_err(|e| server_error("counting a hit", e))?;
    let visits = counted.visits;
    detail("detail_count_hit", posts, &hits, post, counted, |_| visits, None).await
}

/// The cookie test: did this browser send back the visitor cookie? And
/// the visitor's visits of the site, one a day at most. A site without
/// cookies has nothing to test.
#[get("/about?<cookie_check>")]
fn about(
    posts: &State<Posts>,
    counter: &State<HitCount>,
    hits: Hits<'_>,
    cookie_check: Option<&str>,
) -> Either<Template, Redirect> {
    let cookie_free = counter.config().cookie_free();
    // Django's test cookie: a first visit gets the cookie with a redirect
    // to this page, so that the warning shows only when it did not come
    // back.
    if !cookie_free && !hits.returned_cookie() && cookie_check.is_none() {
        return Either::Right(Redirect::to("/about/?cookie_check=1"));
    }
    Either::Left(Template::render(
        "about",
        context! {
            cookie_free,
            returned_cookie: hits.returned_cookie(),
            site_visits: hits.site_visits(),
            backend: posts.backend(),
        },
    ))
}

#[catch(404)]
pub(crate) fn not_found(request: &Request<'_>) -> Template {
    let backend = request.rocket().state::<Posts>().map(Posts::backend);
    Template::render("404", context! { path: request.uri().path().as_str(), backend })
}
