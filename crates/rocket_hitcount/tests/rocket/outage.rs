//! Pages while the database hangs: a counting page renders within the
//! budget, not counted; the AJAX endpoint answers 503 with a JSON message;
//! templates render without the figures they cannot read; all count
//! and read again once the database is back.

use std::time::{Duration, Instant};

use hitcount::Reason;
use hitcount_testing::proxy::Mode;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::serde::json::json;

use crate::app::{
    error_of, figment, json, open_page, post_hit, render, rocket_from, template_app_from, Sources,
};
use crate::common::TestDb;

/// What a slow, shared CI machine may add to the 300 ms budget.
const AT_MOST: Duration = Duration::from_millis(1000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_and_the_endpoint_answers_503_while_the_database_hangs() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (proxy, url) = db.behind_proxy_url().await;
    let figment = figment(&db, json!({ "count_timeout": "300ms" }))
        .merge(("databases.hits.url", url))
        .merge(("databases.hits.connect_timeout", 2));
    let client = Client::tracked(rocket_from(&db, figment))
        .await
        .expect("the app launches");
    let page = open_page(&client, 1).await;

    proxy.set(Mode::Freeze);
    let started = Instant::now();
    let response = client.get("/post/2").dispatch().await;
    let took = started.elapsed();
    assert_eq!(response.status(), Status::Ok, "the page renders");
    let context = json(response).await;
    assert_eq!(context["hit_counted"], false);
    assert_eq!(context["hit_message"], Reason::Unavailable.message());
    assert!(took <= AT_MOST, "the counting page took {took:?}");

    let started = Instant::now();
    let form = format!("hitcountPK={}&hitcountToken={}", page.pk, page.token);
    let (status, message) = error_of(post_hit(&client, &page.csrf, &form).await).await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(message, Reason::Unavailable.message());
    assert!(
        started.elapsed() <= AT_MOST,
        "the endpoint took {:?}",
        started.elapsed()
    );

    proxy.set(Mode::Forward);
    let started = Instant::now();
    loop {
        let response = post_hit(&client, &page.csrf, &form).await;
        if response.status() == Status::Ok {
            assert_eq!(json(response).await["hit_counted"], true);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "counting never resumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const TEMPLATES: Sources = &[
    ("count", r#"[{{ get_hit_count(for="blog.post:1") }}]"#),
    (
        "list",
        r#"{% for item in get_hit_counts(for=["blog.post:1"]) %}[{{ item.key }}={{ item.hits }}]{% endfor %}"#,
    ),
    ("top", "[{% for top in most_viewed() %}{{ top.key }}{% endfor %}]"),
    ("script", r#"[{{ insert_hit_count_js(for="blog.post:1") }}]"#),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_render_without_figures_while_the_database_hangs() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (proxy, url) = db.behind_proxy_url().await;
    // Nothing from memory: every figure is read.
    let figment = figment(
        &db,
        json!({ "count_timeout": "300ms", "counts_refresh": "0 seconds" }),
    )
    .merge(("databases.hits.url", url))
    .merge(("databases.hits.connect_timeout", 2));
    let (client, _) = template_app_from(&db, figment, TEMPLATES).await;
    assert_eq!(
        render(&client, TEMPLATES, "count").await,
        (Status::Ok, "[0]".to_owned())
    );

    proxy.set(Mode::Freeze);
    for (name, expected) in [
        ("count", "[]"),
        ("list", "[blog.post:1=]"),
        ("top", "[]"),
        ("script", "[]"),
    ] {
        let started = Instant::now();
        let (status, body) = render(&client, TEMPLATES, name).await;
        assert_eq!((status, body.as_str()), (Status::Ok, expected), "{name}");
        assert!(
            started.elapsed() <= AT_MOST,
            "{name} took {:?}",
            started.elapsed()
        );
    }

    proxy.set(Mode::Forward);
    let started = Instant::now();
    while render(&client, TEMPLATES, "count").await.1 != "[0]" {
        assert!(started.elapsed() < Duration::from_secs(45), "reads never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
