//! The example site in headless Chromium, driven over WebDriver
//! (chromedriver, with fantoccini): the AJAX pages count once with both
//! scripts, and the admin's "blacklist IPs" stops the next visit from
//! counting. Screenshots of a post and of the admin's counts go to
//! `target/tmp/browser/`. Chromium and chromedriver come from Debian
//! (`chromium`, `chromium-driver`); `.ci/run` installs them, and in CI
//! (`CI=true`) this test fails rather than skips without them.

use hitcount_testing as common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{installed, TestDb};
use fantoccini::{Client, ClientBuilder, Locator};
use hitcount_tests::{free_port, wait_for_port, Server, ADMIN_PASSWORD, ADMIN_USER, BROWSER_UA};

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        assert!(wait_for_port(port).await, "chromedriver listens on {port}");
        Driver {
            process,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium that says it is a desktop browser: headless
    /// Chromium's own user agent is a bot's, which is not counted.
    async fn browser(&self) -> Client {
        let options = serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--window-size=1200,900", format!("--user-agent={BROWSER_UA}"),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The text of the element with this id, once it is one of `wanted`
/// (waiting up to 10 seconds for the page's script).
async fn wait_for_text(browser: &Client, id: &str, wanted: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match browser.find(Locator::Id(id)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if wanted.contains(&text.as_str()) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that the element with this `id` comes to show `text` within
/// 10 seconds.
async fn shows(browser: &Client, id: &str, text: &str) {
    assert_eq!(wait_for_text(browser, id, &[text]).await, text, "#{id}");
}

/// Where the screenshots go.
fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("the output folder");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(output_dir().join(name), png).expect("the screenshot is saved");
}

/// Opens `path` and gives what `#hit-counted-value` says once the page's
/// script has its answer.
async fn counted_on(browser: &Client, base: &str, path: &str) -> String {
    browser
        .goto(&format!("{base}{path}"))
        .await
        .expect("the page opens");
    wait_for_text(browser, "hit-counted-value", &["true", "false"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_site_in_chromium() {
    if !installed("chromium") || !installed("chromedriver") {
        return;
    }
    let db = TestDb::sqlite().await;
    let server = Server::start(&db.url).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let base = &server.base;

    // The dependency-free script: counted, then not for the same visitor.
    let counted = "Hit counted: session key";
    let repeat = "Not counted: session key has active hit";
    assert_eq!(
        counted_on(&browser, base, "/generic-detail-view-ajax/1/").await,
        "true"
    );
    shows(&browser, "hit-response", counted).await;
    // The page adds its hit and view, and the visit the endpoint recorded.
    shows(&browser, "total-hits", "1").await;
    shows(&browser, "views", "1").await;
    shows(&browser, "visits", "You have visited this page 1 time.").await;
    screenshot(&browser, "post.png").await;
    assert_eq!(
        counted_on(&browser, base, "/generic-detail-view-ajax/1/").await,
        "false"
    );
    shows(&browser, "hit-response", repeat).await;
    shows(&browser, "visits", "You have visited this page 2 times.").await;
    // Not counted, but a view: the page adds it.
    shows(&browser, "views", "2").await;
    shows(&browser, "total-hits", "1").await;

    // jQuery and $.postCSRF behave the same.
    assert_eq!(
        counted_on(&browser, base, "/generic-detail-view-ajax-jquery/2/").await,
        "true"
    );
    shows(&browser, "hit-response", counted).await;
    shows(&browser, "views", "1").await;
    assert_eq!(
        counted_on(&browser, base, "/generic-detail-view-ajax-jquery/2/").await,
        "false"
    );
    shows(&browser, "hit-response", repeat).await;
    shows(&browser, "views", "2").await;

    // The front page shows both hits.
    browser.goto(&format!("{base}/")).await.unwrap();
    shows(&browser, "hits-1", "1").await;
    shows(&browser, "hits-2", "1").await;
    screenshot(&browser, "front-page.png").await;

    // The admin: log in, select the newest hit, blacklist its IP.
    browser.goto(&format!("{base}/admin/")).await.unwrap();
    let find = |css: &'static str| browser.find(Locator::Css(css));
    find("input[name=username]")
        .await
        .unwrap()
        .send_keys(ADMIN_USER)
        .await
        .unwrap();
    find("input[name=password]")
        .await
        .unwrap()
        .send_keys(ADMIN_PASSWORD)
        .await
        .unwrap();
    find("form.stacked button").await.unwrap().click().await.unwrap();
    // The click returns before the form's page has loaded: wait for it.
    let hits_table = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("hits"))
        .await;
    let url = browser.current_url().await.unwrap();
    assert!(
        hits_table.is_ok() && url.path().ends_with("/admin/hits"),
        "logged in: {url}"
    );
    for css in [
        "input[name=selected]",
        "#action option[value=blacklist_ips]",
        "#run-action",
    ] {
        find(css).await.unwrap().click().await.unwrap();
    }
    let messages = wait_for_text(&browser, "messages", &["Successfully blacklisted 1 IPs"]).await;
    assert_eq!(messages, "Successfully blacklisted 1 IPs");

    // The next visit from that IP (this browser's, 127.0.0.1) is refused.
    assert_eq!(
        counted_on(&browser, base, "/hitcount-detail-view-count-hit/3/").await,
        "false"
    );
    let response = browser
        .find(Locator::Id("hit-response"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(response, "Not counted: user IP has been blacklisted");

    browser.goto(&format!("{base}/admin/counts")).await.unwrap();
    browser
        .find(Locator::Css("svg.chart"))
        .await
        .expect("the counts page has its charts");
    screenshot(&browser, "admin-counts.png").await;
    browser.close().await.unwrap();

    // Every page ran under its Content-Security-Policy (no inline script
    // but the nonced one, no inline style): the browser blocked nothing.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        server.csp_reports.all(),
        Vec::<String>::new(),
        "what the policy blocked"
    );
}
