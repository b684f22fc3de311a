//! A list page of 50 posts with their counts costs one query (with hits
//! within a window too), on SQLite and PostgreSQL: counted from sqlx's own statement log,
//! which is why this file is a test program of its own (one logger per
//! process).

use rocket::http::Status;
use rocket::serde::json::json;

use hitcount_testing as common;

use common::TestDb;

use hitcount_testing::statements;

use hitcount::Db;
use rocket::figment::Figment;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_db_pools::Database;
use rocket_dyn_templates::Template;
use rocket_hitcount::HitCount;
use statements::STATEMENTS;

/// A pool like rocket_db_pools' own, but with sqlx's statement log on
/// (rocket_db_pools turns it off), so the test can count statements.
#[derive(Clone)]
struct LoggedPool(Db);

#[rocket::async_trait]
impl rocket_db_pools::Pool for LoggedPool {
    type Connection = ();
    type Error = hitcount::Error;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let url: String = figment
            .extract_inner("url")
            .expect("the test sets databases.hits.url");
        Ok(LoggedPool(Db::connect(&url).await?))
    }

    async fn get(&self) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn close(&self) {}
}

impl From<LoggedPool> for Db {
    fn from(pool: LoggedPool) -> Db {
        pool.0
    }
}

#[derive(Database)]
#[database("hits")]
struct Hits(LoggedPool);

#[get("/render/<name>")]
fn render(name: &str) -> Template {
    let posts: Vec<_> = (1..=50)
        .map(|id| json!({ "id": id, "title": format!("Post {id}") }))
        .collect();
    Template::render(name.to_owned(), json!({ "posts": posts }))
}

/// The app, without a read cache: every render reads, so the figures are
/// its queries.
async fn app(db: &TestDb) -> Client {
    let hitcount = HitCount::init::<Hits>();
    let functions = hitcount.template_functions();
    let figment = rocket::Config::figment()
        .merge(("databases.hits.url", db.url.clone()))
        .merge(("hitcount", json!({ "counts_refresh": "0 seconds" })))
        .merge((
            "template_dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rocket/tera"),
        ))
        .merge(("log_level", "off"));
    let rocket = rocket::custom(figment)
        .attach(Hits::init())
        .attach(hitcount)
        .attach(Template::custom(move |engines| {
            functions.register(&mut engines.tera);
            engines.tera.add_raw_templates(TEMPLATES.to_vec()).unwrap();
        }))
        .mount("/", routes![render]);
    Client::untracked(rocket).await.expect("the app launches")
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "list",
        r#"{% for item in get_hit_counts(for=posts, kind="blog.post") %}{{ item.object.title }}: {{ item.hits }}
{% endfor %}"#,
    ),
    (
        "list_within",
        r#"{% for item in get_hit_counts(for=posts, kind="blog.post", within="days=7") %}{{ item.object.title }}: {{ item.hits }}
{% endfor %}"#,
    ),
];

/// The statements on the hit-count tables (not a new connection's
/// set-up) that one render of `name` runs.
async fn statements_of(client: &Client, name: &str) -> (usize, String) {
    STATEMENTS.take();
    let response = client.get(format!("/render/{name}")).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let body = response.into_string().await.unwrap();
    assert_eq!(body.lines().count(), 50, "{body}");
    let ran: Vec<_> = STATEMENTS
        .take()
        .into_iter()
        .filter(|sql| sql.contains("hitcount_"))
        .collect();
    (ran.len(), ran.join("\n"))
}

async fn check(db: &TestDb) {
    let client = app(db).await;
    let post = hitcount::ObjectRef::new("blog.post", 3).unwrap();
    db.counter(Default::default())
        .await
        .count_hit(&post, &hitcount::Visitor::new("s").unwrap())
        .await
        .unwrap();
    // The first render also connects the reading pool.
    statements_of(&client, "list").await;
    let (totals, sql) = statements_of(&client, "list").await;
    assert_eq!(totals, 1, "a 50-post list reads its totals in one query:\n{sql}");
    let (within, sql) = statements_of(&client, "list_within").await;
    assert_eq!(within, 1, "with a window, still one query:\n{sql}");
    println!(
        "{} backend: 50-post list page: {totals} query; with a window: {within}",
        db.db.backend()
    );
}

#[test]
fn a_fifty_post_list_page_costs_one_query() {
    STATEMENTS.install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sqlite = TestDb::sqlite().await;
        check(&sqlite).await;
        if let Some(postgres) = TestDb::postgres().await {
            check(&postgres).await;
        }
    });
}
