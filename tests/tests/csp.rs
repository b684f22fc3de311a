//! The example's Content-Security-Policy over HTTP: every HTML page has
//! it, the counting pages' one inline script carries the response's
//! nonce, every other script is the site's own file, and what a browser
//! reports is kept. (The browser test runs every page under it and fails
//! on any report.)

use hitcount_testing::TestDb;
use hitcount_tests::{script_sources, site};
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;

fn policy(response: &rocket::local::asynchronous::LocalResponse<'_>) -> String {
    response
        .headers()
        .get_one("Content-Security-Policy")
        .expect("a Content-Security-Policy")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_run_under_a_strict_policy_with_one_nonced_script() {
    let db = TestDb::sqlite().await;
    let client = Client::tracked(site(&db.url))
        .await
        .expect("the example launches");
    for path in [
        "/",
        "/about/?cookie_check=1",
        "/generic-detail-view-ajax/1/",
        "/generic-detail-view-ajax-jquery/1/",
        "/hitcount-detail-view/1/",
        "/hitcount-detail-view-count-hit/1/",
        "/admin/login",
        "/no/such/page",
    ] {
        let response = client.get(path).dispatch().await;
        assert_eq!(
            response.content_type(),
            Some(ContentType::HTML),
            "{path}: {:?}",
            response.status()
        );
        let policy = policy(&response);
        let page = response.into_string().await.unwrap();
        for directive in [
            "default-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(
            !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
            "{path}: {policy}"
        );
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a nonce in script-src");
        // Inline scripts: only the counting pages' variables, with this
        // response's nonce; every other script is a file of the site.
        let inline: Vec<&str> = page
            .split("<script")
            .skip(1)
            .filter(|tag| !tag.starts_with(" src="))
            .collect();
        for tag in &inline {
            assert!(
                tag.starts_with(&format!(" type=\"text/javascript\" nonce=\"{nonce}\">")),
                "{path}: <script{tag}"
            );
        }
        assert_eq!(inline.len(), usize::from(path.contains("ajax")), "{path}");
        for src in script_sources(&page) {
            assert!(src.starts_with('/') && !src.starts_with("//"), "{path}: {src}");
        }
        assert!(
            !page.contains(" style=") && !page.contains("<style"),
            "{path}: inline style"
        );
    }
    // A new nonce for every response.
    let first = policy(&client.get("/").dispatch().await);
    let second = policy(&client.get("/").dispatch().await);
    assert_ne!(first, second);
    // The crate's own routes keep their stricter policy.
    let script = client.get("/hitcount/static/hitcount.js").dispatch().await;
    assert_eq!(policy(&script), "default-src 'none'; frame-ancestors 'none'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_kept() {
    let db = TestDb::sqlite().await;
    let client = Client::tracked(site(&db.url))
        .await
        .expect("the example launches");
    let reports = client
        .rocket()
        .state::<example_project::csp::CspReports>()
        .expect("kept")
        .clone();
    assert!(reports.all().is_empty());
    let report = r#"{"csp-report":{"violated-directive":"script-src-elem","blocked-uri":"inline"}}"#;
    let response = client
        .post(example_project::csp::REPORT_PATH)
        .header(ContentType::new("application", "csp-report"))
        .body(report)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::NoContent);
    assert_eq!(reports.all(), [report]);
}
