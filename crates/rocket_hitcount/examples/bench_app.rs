//! The app that `scripts/bench.sh` loads with wrk: one bare route and one
//! route per scenario, on SQLite (or PostgreSQL with `BENCH_DATABASE_URL`).
//!
//!     cargo run --release -p rocket_hitcount --example bench_app

use rocket::response::content::RawHtml;
use rocket::serde::json::Json;
use rocket::{get, launch, routes};
use rocket_db_pools::{sqlx, Database};
use rocket_hitcount::{HitCount, Hits, JsContext};

#[derive(Database)]
#[database("bench")]
struct SqliteBench(sqlx::SqlitePool);

#[derive(Database)]
#[database("bench")]
struct PgBench(sqlx::PgPool);

fn post(id: i64) -> hitcount::ObjectRef {
    hitcount::ObjectRef::new("blog.post", id).expect("valid object")
}

/// The baseline: a page of the same size that counts nothing.
#[get("/bare")]
fn bare() -> RawHtml<String> {
    RawHtml(format!("<p>total {} hit {} {}</p>", 0, false, "Not counted"))
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

/// A list page that shows 20 counts, one read each (as 20 template calls do).
#[get("/list")]
async fn list(hits: Hits<'_>) -> Option<RawHtml<String>> {
    let mut html = String::from("<ul>");
    for id in 1..=20 {
        let counts = hits.counter().counts(&post(id)).await.ok()?;
        html.push_str(&format!("<li>{id}: {}</li>", counts.hits));
    }
    html.push_str("</ul>");
    Some(RawHtml(html))
}

#[launch]
fn rocket() -> _ {
    let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
        let path = std::env::temp_dir().join("rocket-hitcount-bench.db");
        let _ = std::fs::remove_file(&path);
        format!("sqlite://{}", path.display())
    });
    let figment = rocket::Config::figment()
        .merge(("databases.bench.url", url.clone()))
        .merge(("log_level", "off"))
        // Release builds need Rocket's key for private cookies; a fixed
        // one is fine for a benchmark, never for a site.
        .merge((
            "secret_key",
            "8f0c6d2b9a4e71f35c8d0b6a2e9f4c71d3b58a06e2c94f7b1a6d3e8c05b92f4a",
        ))
        .merge((
            "hitcount.secret_key",
            "benchmark secret key, 32 characters or more",
        ));
    let app = rocket::custom(figment).mount("/", routes![bare, count, js, list]);
    if url.starts_with("postgres") {
        app.attach(PgBench::init()).attach(HitCount::init::<PgBench>())
    } else {
        app.attach(SqliteBench::init())
            .attach(HitCount::init::<SqliteBench>())
    }
}
