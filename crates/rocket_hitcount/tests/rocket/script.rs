//! The bundled hitcount.js, run in Node against the app on a real port:
//! the page's variables, the CSRF token fetched for a page without the
//! cookie, a counted hit, a repeat, and an error answer resolved as JSON.
//! (Headless browsers come with the example project's tests.)

use std::net::TcpListener;
use std::process::Command;

use rocket::serde::json::{json, Value};

use crate::app::{figment, rocket_from};
use crate::common::TestDb;

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hitcount_js_counts_through_fetch() {
    if !node_available() {
        assert!(
            std::env::var("CI").is_err(),
            "node is required in CI (.ci/run installs nodejs)"
        );
        eprintln!("SKIPPED: node is not installed");
        return;
    }
    let db = TestDb::sqlite().await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = rocket_from(&db, figment(&db, json!({})).merge(("port", port)))
        .ignite()
        .await
        .unwrap();
    let shutdown = app.shutdown();
    let server = tokio::spawn(app.launch());
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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
    shutdown.notify();
    let _ = server.await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Value = serde_json::from_slice(&output.stdout).unwrap();
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
