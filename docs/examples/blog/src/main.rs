//! The app the guide builds, piece by piece: docs/installation.md and
//! docs/displaying-hits.md include its parts between `ANCHOR` lines.
//! `cargo run` serves it on <http://127.0.0.1:8000>.

// ANCHOR: imports
use rocket::response::content::RawHtml;
use rocket::serde::json::{json, Json};
use rocket::{get, launch, routes};
use rocket_db_pools::{sqlx, Database};
use rocket_dyn_templates::{context, Template};
use rocket_hitcount::{Dashboard, Error, HitContext, HitCount, Hits, ObjectRef};
// ANCHOR_END: imports

// ANCHOR: database
#[derive(Database)]
#[database("blog")]
struct Blog(sqlx::SqlitePool);
// ANCHOR_END: database

// ANCHOR: count
#[get("/post/<id>")]
async fn post(id: i64, hits: Hits<'_>) -> Result<Json<HitContext>, Error> {
    let object = ObjectRef::new("blog.post", id)?;
    Ok(Json(hits.count(&object).await?))
}
// ANCHOR_END: count

// ANCHOR: ajax
const POST_HTML: &str = include_str!("../templates/post.html");

#[get("/ajax/<id>")]
async fn ajax_post(id: i64, hits: Hits<'_>) -> Result<RawHtml<String>, Error> {
    let object = ObjectRef::new("blog.post", id)?;
    let js = hits.js_variables(&object).await?;
    let vars = json!({ "hitcountPK": js.pk, "hitcountURL": js.ajax_url, "hitcountToken": js.token });
    Ok(RawHtml(
        POST_HTML
            .replace("HITCOUNT_VARS", &vars.to_string())
            .replace("TOTAL_HITS", &js.hits.to_string()),
    ))
}
// ANCHOR_END: ajax

// ANCHOR: model
#[derive(serde::Serialize)]
struct Post {
    id: i64,
    title: &'static str,
    /// "blog.post:<id>": what rocket-hitcount's template functions read.
    hitcount: String,
}
// ANCHOR_END: model

impl Post {
    fn new(id: i64, title: &'static str) -> Post {
        Post {
            id,
            title,
            hitcount: format!("blog.post:{id}"),
        }
    }
}

fn posts() -> Vec<Post> {
    vec![
        Post::new(1, "Hello"),
        Post::new(2, "Counting hits"),
        Post::new(3, "Windows"),
    ]
}

/// The list page: counts of every post in one query, and the week's top.
#[get("/")]
fn index() -> Template {
    Template::render("index", context! { posts: posts() })
}

/// A post's page, counted by the script that `insert_hit_count_js` prints.
#[get("/read/<id>")]
fn read(id: i64) -> Option<Template> {
    let post = posts().into_iter().find(|post| post.id == id)?;
    Some(Template::render("post", context! { post }))
}

// ANCHOR: users
/// The signed-in reader: here, simply the `X-Reader` header.
struct Reader {
    id: i64,
    staff: bool,
}

impl rocket_hitcount::HitUser for Reader {
    fn hit_user(&self) -> Option<rocket_hitcount::User> {
        let user = rocket_hitcount::User::new(self.id.to_string()).ok()?;
        Some(if self.staff {
            user.with_groups(["Staff"])
        } else {
            user
        })
    }
}
// ANCHOR_END: users

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Reader {
    type Error = ();

    async fn from_request(request: &'r rocket::Request<'_>) -> rocket::request::Outcome<Reader, ()> {
        let header = request.headers().get_one("X-Reader").unwrap_or_default();
        match header.trim_end_matches(" staff").parse() {
            Ok(id) => rocket::request::Outcome::Success(Reader {
                id,
                staff: header.ends_with(" staff"),
            }),
            Err(_) => rocket::request::Outcome::Forward(rocket::http::Status::Unauthorized),
        }
    }
}

// ANCHOR: staff
/// The site owner: a signed-in reader marked staff. Your app's own admin
/// guard goes here.
struct Staff;

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Staff {
    type Error = ();

    async fn from_request(request: &'r rocket::Request<'_>) -> rocket::request::Outcome<Staff, ()> {
        match request.guard::<Reader>().await {
            rocket::request::Outcome::Success(reader) if reader.staff => {
                rocket::request::Outcome::Success(Staff)
            }
            _ => rocket::request::Outcome::Error((rocket::http::Status::Unauthorized, ())),
        }
    }
}
// ANCHOR_END: staff

// ANCHOR: labels
/// The dashboard's names for posts: their titles, linked to their pages.
struct PostTitles;

#[rocket::async_trait]
impl rocket_hitcount::Labels for PostTitles {
    async fn labels(
        &self,
        _request: &rocket::Request<'_>,
        objects: &[ObjectRef],
    ) -> std::collections::HashMap<ObjectRef, rocket_hitcount::Label> {
        posts()
            .into_iter()
            .filter_map(|post| {
                let object = ObjectRef::new("blog.post", post.id).ok()?;
                let label = rocket_hitcount::Label::new(post.title).link(format!("/read/{}", post.id));
                objects.contains(&object).then_some((object, label))
            })
            .collect()
    }
}
// ANCHOR_END: labels

// ANCHOR: launch
#[launch]
fn rocket() -> _ {
    rocket::build()
        .attach(Blog::init()) // first: the pool
        .attach(HitCount::init::<Blog>().with_users::<Reader>()) // then: the counter on that pool
        .attach(HitCount::templates()) // Rocket's templates, with the Tera functions
        .attach(Dashboard::<Staff>::new("/admin/hitcount").labels(PostTitles)) // the site owner's pages
        .mount("/", routes![index, read, post, ajax_post])
}
// ANCHOR_END: launch

#[cfg(test)]
mod tests {
    use rocket::http::{Header, Status};
    use rocket::local::asynchronous::Client;
    use rocket::serde::json::Value;

    const BROWSER: &str =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

    /// The guide's app on a database file of its own.
    async fn client(test: &str) -> (Client, std::path::PathBuf) {
        let file = std::env::temp_dir().join(format!("guide-blog-{test}-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let rocket = super::rocket();
        let figment = rocket
            .figment()
            .clone()
            .merge(("databases.blog.url", format!("sqlite://{}", file.display())));
        let client = Client::tracked(rocket.configure(figment))
            .await
            .expect("the guide's app launches");
        (client, file)
    }

    async fn get(client: &Client, uri: &str) -> (Status, String) {
        let response = client
            .get(uri.to_owned())
            .header(Header::new("User-Agent", BROWSER))
            .dispatch()
            .await;
        (
            response.status(),
            response.into_string().await.unwrap_or_default(),
        )
    }

    #[rocket::async_test]
    async fn the_dashboard_is_for_staff_and_names_posts() {
        let (client, file) = client("dashboard").await;
        get(&client, "/post/2").await;
        let (status, _) = get(&client, "/admin/hitcount").await;
        assert_eq!(status, Status::Unauthorized, "no reader");
        let as_reader = |uri: &str, who: &'static str| {
            client
                .get(uri.to_owned())
                .header(Header::new("X-Reader", who))
                .dispatch()
        };
        assert_eq!(
            as_reader("/admin/hitcount", "7").await.status(),
            Status::Unauthorized,
            "a reader, not staff"
        );
        let page = as_reader("/admin/hitcount?period=today", "7 staff").await;
        assert_eq!(page.status(), Status::Ok);
        let page = page.into_string().await.unwrap();
        assert!(page.contains(">Counting hits</a>"), "the post's title: {page}");
        let log = as_reader("/admin/hitcount/hits", "7 staff")
            .await
            .into_string()
            .await
            .unwrap();
        assert!(log.contains("1 hit."), "{log}");
        let _ = std::fs::remove_file(file);
    }

    #[rocket::async_test]
    async fn the_guides_pages_count_and_show_hits() {
        let (client, file) = client("pages").await;
        let (status, body) = get(&client, "/post/1").await;
        assert_eq!(status, Status::Ok, "{body}");
        let first: Value = rocket::serde::json::from_str(&body).unwrap();
        assert_eq!(first["hit_counted"], true, "{body}");
        assert_eq!(first["hit_message"], "Hit counted: session key");
        assert_eq!(first["total_hits"], 1);

        let (_, body) = get(&client, "/post/1").await;
        let again: Value = rocket::serde::json::from_str(&body).unwrap();
        assert_eq!(again["hit_counted"], false, "one hit per visitor: {body}");
        assert_eq!(again["total_hits"], 1);

        let (status, page) = get(&client, "/").await;
        assert_eq!(status, Status::Ok, "{page}");
        assert!(page.contains("Hello: 1 hits, 1 this week"), "{page}");
        assert!(page.contains(r#"<a href="/post/1">post 1</a> (1)"#), "{page}");

        let (status, page) = get(&client, "/read/2").await;
        assert_eq!(status, Status::Ok, "{page}");
        assert!(page.contains("0 hits,\n   0 today."), "{page}");
        assert!(
            page.contains(r#"<script src="/hitcount/static/hitcount.js" data-hitcount-pk="#),
            "{page}"
        );

        let (status, page) = get(&client, "/ajax/3").await;
        assert_eq!(status, Status::Ok, "{page}");
        assert!(page.contains(r#""hitcountToken":""#), "{page}");
        assert!(page.contains(r#"<span id="total-hits">0</span>"#), "{page}");

        drop(client);
        let _ = std::fs::remove_file(file);
    }

    #[rocket::async_test]
    async fn a_reader_is_counted_by_user() {
        let (client, file) = client("reader").await;
        let response = client
            .get("/post/2")
            .header(Header::new("User-Agent", BROWSER))
            .header(Header::new("X-Reader", "7"))
            .dispatch()
            .await;
        let body: Value = response.into_json().await.expect("JSON");
        assert_eq!(body["hit_message"], "Hit counted: user authentication");
        drop(client);
        let _ = std::fs::remove_file(file);
    }
}
