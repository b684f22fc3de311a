//! The app that `scripts/bench.sh` loads with wrk: one bare route (GET, and
//! POST for the AJAX scenario's client) and one route per scenario, on
//! SQLite (or PostgreSQL or MariaDB with `BENCH_DATABASE_URL`);
//! `BENCH_VISIT_COUNTS=true` turns on `cookie.visit_counts`.
//!
//!     cargo run --release -p rocket_hitcount --features mysql --example bench_app

use rocket::response::content::RawHtml;
use rocket::serde::json::Json;
use rocket::{get, launch, post, routes};
use rocket_db_pools::{sqlx, Database};
use rocket_dyn_templates::Template;
use rocket_hitcount::{HitCount, Hits, JsContext, TemplateFunctions};

#[derive(Database)]
#[database("bench")]
struct SqliteBench(sqlx::SqlitePool);

#[derive(Database)]
#[database("bench")]
struct PgBench(sqlx::PgPool);

#[derive(Database)]
#[database("bench")]
struct MariaDbBench(sqlx::MySqlPool);

fn post(id: i64) -> hitcount::ObjectRef {
    hitcount::ObjectRef::new("blog.post", id).expect("valid object")
}

/// The baseline: a page of the same size that counts nothing.
#[get("/bare")]
fn bare() -> RawHtml<String> {
    RawHtml(format!("<p>total {} hit {} {}</p>", 0, false, "Not counted"))
}

/// The baseline of the AJAX scenario: the same POST, counting nothing.
#[post("/bare")]
fn bare_post() -> RawHtml<String> {
    bare()
}

/// Counts a hit, as a detail page with `count_hit = True` does.
#[get("/post/<id>")]
async fn count(id: i64, hits: Hits<'_>) -> Option<RawHtml<String>> {
    let hit = hits.count(&post(id)).await.ok()?;
    Some(RawHtml(format!(
        "<p>total {} hit {} {}</p>",
        hit.total_hits, hit.hit_counted, hit.hit_message
    )))
}

/// What a page's script needs, to set up the AJAX scenario.
#[get("/post/<id>/js")]
async fn js(id: i64, hits: Hits<'_>) -> Option<Json<JsContext>> {
    hits.js_variables(&post(id)).await.ok().map(Json)
}

/// A list page whose template shows 20 counts with 20 `get_hit_count`
/// calls (`examples/templates/list.html.tera`): the drop-in way.
#[get("/list")]
fn list() -> Template {
    Template::render("list", rocket_dyn_templates::context! {})
}

#[launch]
fn rocket() -> _ {
    let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
        let path = std::env::temp_dir().join("rocket-hitcount-bench.db");
        // With its WAL and shared-memory files: left by a run that was
        // killed, they make a new database fail with a disk I/O error.
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        format!("sqlite://{}", path.display())
    });
    let figment = rocket::Config::figment()
        .merge(("databases.bench.url", url.clone()))
        .merge((
            "log_level",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "off".into()),
        ))
        .merge((
            "template_dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/templates"),
        ))
        // Release builds need Rocket's key for private cookies; a fixed
        // one is fine for a benchmark, never for a site.
        .merge((
            "secret_key",
            "8f0c6d2b9a4e71f35c8d0b6a2e9f4c71d3b58a06e2c94f7b1a6d3e8c05b92f4a",
        ))
        .merge((
            "hitcount.secret_key",
            "benchmark secret key, 32 characters or more",
        ))
        // `BENCH_VISIT_COUNTS=true` keeps visit counts in the cookie,
        // which sets it again on every view.
        .merge((
            "hitcount.cookie.visit_counts",
            std::env::var("BENCH_VISIT_COUNTS").is_ok_and(|v| v == "true"),
        ));
    let app = rocket::custom(figment).mount("/", routes![bare, bare_post, count, js, list]);
    if url.starts_with("postgres") {
        on_database::<PgBench>(app)
    } else if url.starts_with("mysql") {
        on_database::<MariaDbBench>(app)
    } else {
        on_database::<SqliteBench>(app)
    }
}

/// The app on the database `D`, with the counter's template functions.
fn on_database<D>(app: rocket::Rocket<rocket::Build>) -> rocket::Rocket<rocket::Build>
where
    D: Database,
    D::Pool: Clone + Into<hitcount::Db>,
{
    let hitcount = HitCount::init::<D>();
    let functions: TemplateFunctions = hitcount.template_functions();
    app.attach(D::init())
        .attach(hitcount)
        .attach(Template::custom(move |engines| {
            functions.register(&mut engines.tera)
        }))
}
