//! The bundled scripts against the app on a real port: hitcount.js in Node
//! (the page's variables, the CSRF token fetched for a page without the
//! cookie, a counted hit, a repeat, an error answer resolved as JSON), and
//! both scripts in headless Chromium (fetch, sendBeacon, jQuery 3 and 4).

use std::net::TcpListener;
use std::process::Command;

use rocket::serde::json::{json, Value};

use crate::app::{figment, rocket_from};
use crate::common::{installed, TestDb};

/// The test app listening on a free port of 127.0.0.1.
struct Server {
    base: String,
    counter: hitcount::HitCounter,
    shutdown: rocket::Shutdown,
    task: tokio::task::JoinHandle<Result<rocket::Rocket<rocket::Ignite>, rocket::Error>>,
}

impl Server {
    async fn start(db: &TestDb) -> Server {
        Server::start_with(db, json!({})).await
    }

    /// The test app with these `hitcount` settings.
    async fn start_with(db: &TestDb, settings: Value) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let app = rocket_from(db, figment(db, settings).merge(("port", port)))
            .ignite()
            .await
            .unwrap();
        let counter = rocket_hitcount::HitCount::fetch(&app).unwrap().counter().clone();
        let shutdown = app.shutdown();
        let task = tokio::spawn(app.launch());
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Server {
            base: format!("http://127.0.0.1:{port}"),
            counter,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.notify();
        let _ = self.task.await;
    }
}

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What `hitcount_check.mjs` reports of hitcount.js in Node against the
/// test app with these `hitcount` settings; `None` (the test skips)
/// without Node outside CI.
async fn node_check(settings: Value) -> Option<Value> {
    if !node_available() {
        assert!(
            std::env::var("CI").is_err(),
            "node is required in CI (.ci/run installs nodejs)"
        );
        eprintln!("SKIPPED: node is not installed");
        return None;
    }
    let db = TestDb::sqlite().await;
    let server = Server::start_with(&db, settings).await;
    let base = server.base.clone();
    let dir = env!("CARGO_MANIFEST_DIR");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(format!("{dir}/tests/rocket/hitcount_check.mjs"))
            .arg(base)
            .arg(format!("{dir}/assets/hitcount.js"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.stop().await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hitcount_js_counts_through_fetch() {
    let Some(answers) = node_check(json!({})).await else {
        return;
    };
    assert!(
        answers["fetched"]
            .as_array()
            .unwrap()
            .contains(&json!("/hitcount/csrf/")),
        "no cookie yet: the token is fetched: {answers}"
    );
    assert!(
        answers["cookies"].as_str().unwrap().contains("csrftoken="),
        "{answers}"
    );
    assert_eq!(
        answers["loaded"],
        json!({"hit_counted": true, "hit_message": "Hit counted: session key"}),
        "loaded with data- attributes"
    );
    assert_eq!(
        answers["first"],
        json!({"hit_counted": true, "hit_message": "Hit counted: session key"})
    );
    assert_eq!(
        answers["second"],
        json!({"hit_counted": false, "hit_message": "Not counted: session key has active hit"})
    );
    assert_eq!(
        answers["forged"],
        json!({"success": false, "error_message": "hitcountToken is malformed"})
    );
}

/// Without cookies: the page's variables say so, no CSRF token is asked
/// for, no cookie kept, and the hit counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hitcount_js_counts_without_cookies() {
    let settings = json!({ "cookie": { "mode": "none" }, "private_hit_log": true, "ip_storage": "none" });
    let Some(answers) = node_check(settings).await else {
        return;
    };
    assert_eq!(
        answers["first"],
        json!({"hit_counted": true, "hit_message": "Hit counted: session key"})
    );
    assert_eq!(
        answers["second"],
        json!({"hit_counted": false, "hit_message": rocket_hitcount::COOKIELESS_ACTIVE_HIT})
    );
    assert_eq!(answers["cookies"], "", "no cookie was set: {answers}");
    assert_eq!(
        answers["loaded"],
        json!({"hit_counted": true, "hit_message": "Hit counted: session key"}),
        "data-hitcount-csrf=\"off\""
    );
    let fetched = answers["fetched"].as_array().unwrap();
    assert!(
        !fetched.contains(&json!("/hitcount/csrf/")),
        "no CSRF token asked for: {answers}"
    );
    assert_eq!(
        answers["forged"],
        json!({"success": false, "error_message": "hitcountToken is malformed"})
    );
}

/// The page's DOM after its scripts ran, from headless Chromium.
async fn rendered(url: String) -> String {
    let profile = std::env::temp_dir().join(format!("hitcount-chromium-{}", rand_suffix()));
    let output = tokio::task::spawn_blocking(move || {
        let output = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--virtual-time-budget=10000",
                // Headless Chromium says "HeadlessChrome", a bot by the
                // bot list (rightly): be a person's browser.
                "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--dump-dom")
            .arg(url)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&profile);
        output
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn rand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// The text of `<i id="...">` in a dumped DOM.
fn text_of<'d>(dom: &'d str, id: &str) -> &'d str {
    let start = dom
        .find(&format!("<i id=\"{id}\">"))
        .map(|i| i + id.len() + 9)
        .unwrap_or_else(|| panic!("no #{id} in {dom}"));
    &dom[start..start + dom[start..].find("</i>").unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_in_chromium() {
    if !installed("chromium") {
        assert!(
            std::env::var("CI").is_err(),
            "chromium is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: chromium is not installed");
        return;
    }
    let db = TestDb::sqlite().await;
    let server = Server::start(&db).await;
    let dom = rendered(format!("{}/browser/fetch/21", server.base)).await;
    let jquery3 = rendered(format!("{}/browser/jquery-3.7.1/31", server.base)).await;
    let jquery4 = rendered(format!("{}/browser/jquery-4.0.0/41", server.base)).await;
    let beacon_hits = server
        .counter
        .counts(&hitcount::ObjectRef::new("blog.post", 22).unwrap())
        .await
        .unwrap()
        .hits;
    server.stop().await;

    assert_eq!(text_of(&dom, "first"), "Hit counted: session key", "{dom}");
    assert_eq!(text_of(&dom, "second"), "Not counted: session key has active hit");
    assert_eq!(text_of(&dom, "beacon"), "true", "the browser queued the beacon");
    // The beacon counted post 22 for this visitor: a later fetch is a repeat.
    assert_eq!(
        text_of(&dom, "after-beacon"),
        "Not counted: session key has active hit"
    );
    assert_eq!(beacon_hits, 1);
    for (dom, version) in [(&jquery3, "3.7.1"), (&jquery4, "4.0.0")] {
        assert_eq!(text_of(dom, "first"), "Hit counted: session key", "{dom}");
        assert_eq!(text_of(dom, "second"), "Not counted: session key has active hit");
        assert_eq!(text_of(dom, "version"), version);
    }
}
