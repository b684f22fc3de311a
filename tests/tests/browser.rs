//! The example site in headless Chromium, driven over WebDriver
//! (chromedriver, with fantoccini):
//!
//! - the AJAX pages count once with both scripts, and blacklisting an IP
//!   from the dashboard's hit log stops the next visit from counting;
//! - every page of the dashboard and of the blog fits a desktop (1280×900)
//!   and a phone (390×844) viewport without scrolling sideways, and logs
//!   no error in the browser's console;
//! - the hit log's selection, sorting, filters and actions work end to end
//!   at both sizes.
//!
//! Every page must also run under its Content-Security-Policy with nothing
//! blocked. Screenshots go to `target/tmp/browser/`; with
//! `UPDATE_SCREENSHOTS=1` those of the dashboard also replace the ones in
//! `docs/images/`. Chromium and chromedriver come from Debian (`chromium`,
//! `chromium-driver`); `.ci/run` installs them, and in CI (`CI=true`) these
//! tests fail rather than skip without them.

use hitcount_testing as common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::{installed, TestDb};
use fantoccini::{Client, ClientBuilder, Locator};
use hitcount::{ObjectRef, Visitor};
use hitcount_tests::{free_port, text_of, wait_for_port, Server, ADMIN_PASSWORD, ADMIN_USER, BROWSER_UA};
use rocket::figment::Figment;
use serde_json::Value;

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

    /// A headless Chromium that says it is a desktop browser (headless
    /// Chromium's own user agent is a bot's, which is not counted) and
    /// keeps its console for [`console_errors`].
    async fn browser(&self) -> Client {
        let options = serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--window-size=1280,900", format!("--user-agent={BROWSER_UA}"),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        capabilities.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({ "browser": "ALL" }),
        );
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

/// The site on a fresh SQLite database, chromedriver and a browser; `None`
/// (the test skips) where Chromium is not installed.
async fn open_site() -> Option<(TestDb, Server, Driver, Client)> {
    open_site_with(|figment| figment).await
}

/// [`open_site`] with its configuration changed by `change`.
async fn open_site_with(change: fn(Figment) -> Figment) -> Option<(TestDb, Server, Driver, Client)> {
    if !installed("chromium") || !installed("chromedriver") {
        return None;
    }
    let db = TestDb::sqlite().await;
    let server = Server::start_from(change(hitcount_tests::figment(&db.url))).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    Some((db, server, driver, browser))
}

/// One request to a server on this machine at `base` (`http://...`): its
/// status and body.
async fn http(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let addr = base.strip_prefix("http://").expect("an http:// address");
    let answer = hitcount_tests::http(addr, method, path, headers, body).await;
    (answer.status, answer.body)
}

/// What the browser's console received since the last call that is an
/// error (`SEVERE`): uncaught exceptions, `console.error`, resources that
/// failed to load, and what the Content-Security-Policy blocked.
///
/// WebDriver has no command for the console, and the pages' policy
/// forbids the inline script that a `window.onerror` or `console.error`
/// hook would need. Chromium keeps the console itself: with the
/// `goog:loggingPrefs` capability (`{"browser": "ALL"}`, set in
/// [`Driver::browser`]), chromedriver collects every entry and hands out
/// (and forgets) the ones collected so far at `POST
/// /session/<id>/se/log` with `{"type": "browser"}`, an endpoint of its
/// own that fantoccini does not wrap; it is called here over HTTP with the
/// session's id.
async fn console_errors(driver: &Driver, browser: &Client) -> Vec<String> {
    let session = browser
        .session_id()
        .await
        .expect("the session's id")
        .expect("a session");
    let (status, body) = http(
        &driver.url,
        "POST",
        &format!("/session/{session}/se/log"),
        &[("Content-Type", "application/json")],
        r#"{"type":"browser"}"#,
    )
    .await;
    assert_eq!(status, 200, "chromedriver hands out the console: {body}");
    let log: Value = serde_json::from_str(&body).expect("chromedriver answers JSON");
    log["value"]
        .as_array()
        .expect("a list of entries")
        .iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
        .collect()
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

/// Waits up to 10 seconds for the browser to be on a loaded page whose
/// address passes `check` (a click returns before the next page loads),
/// and gives that address.
async fn wait_for_url(browser: &Client, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = browser.current_url().await.expect("the address").to_string();
        let loaded = browser
            .execute("return document.readyState", vec![])
            .await
            .is_ok_and(|state| state == "complete");
        if loaded && check(&url) {
            return url;
        }
        assert!(Instant::now() < deadline, "{what}: still on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The path of an address (`http://host/path?query`).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("/", |slash| &rest[slash..]);
    path.split(['?', '#']).next().unwrap_or_default()
}

/// A query parameter of an address, decoded.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| decode(value))
    })
}

/// `application/x-www-form-urlencoded` text, decoded.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or_default();
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text for a query string, percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Where the screenshots go.
fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("the output folder");
    dir
}

async fn screenshot(browser: &Client, name: &str) -> Vec<u8> {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(output_dir().join(name), &png).expect("the screenshot is saved");
    png
}

/// A screenshot for the book: saved with the others, and over
/// `docs/images/<name>` only when `UPDATE_SCREENSHOTS=1`, so that a plain
/// run leaves the tree as it was.
async fn docs_screenshot(browser: &Client, name: &str) {
    let png = screenshot(browser, name).await;
    if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/images");
        std::fs::write(docs.join(name), png).expect("the book's screenshot is replaced");
    }
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

/// Logs in on the login form; the dashboard's overview opens.
async fn log_in(browser: &Client, base: &str) {
    browser.goto(&format!("{base}/admin/login")).await.unwrap();
    for (name, value) in [("username", ADMIN_USER), ("password", ADMIN_PASSWORD)] {
        browser
            .find(Locator::Css(&format!("input[name={name}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    click(browser, Locator::Css("form.login button[type=submit]")).await;
    wait_for_url(browser, "the login leads to the overview", |url| {
        path_of(url) == "/admin/"
    })
    .await;
    browser
        .find(Locator::Css("svg.chart"))
        .await
        .expect("the overview has its chart");
}

/// Clicks what `locator` finds.
async fn click(browser: &Client, locator: Locator<'_>) {
    browser.find(locator).await.unwrap().click().await.unwrap();
}

/// Chooses `action` on the hit log and runs it on the ticked hits.
async fn run_action(browser: &Client, action: &str) {
    browser
        .find(Locator::Css("#actions select[name=action]"))
        .await
        .unwrap()
        .select_by_value(action)
        .await
        .unwrap();
    click(browser, Locator::Css("#actions .action-bar button[type=submit]")).await;
}

/// The browser's viewport (not its window, which has a frame) made
/// `width`×`height` CSS pixels.
async fn set_viewport(browser: &Client, width: u32, height: u32) {
    let inner = || async {
        let size = browser
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .expect("the viewport's size");
        let side = |i: usize| u32::try_from(size[i].as_u64().expect("a size")).expect("a size");
        (side(0), side(1))
    };
    browser
        .set_window_size(width, height)
        .await
        .expect("the window resizes");
    let (w, h) = inner().await;
    browser
        .set_window_size(2 * width - w, 2 * height - h)
        .await
        .expect("the window resizes");
    assert_eq!(inner().await, (width, height), "the viewport's size");
}

/// Asserts that the page in the browser does not scroll sideways: the
/// document is no wider than the viewport. Names the elements that stick
/// out when it is.
async fn assert_fits(browser: &Client, page: &str) {
    let script = r##"
        const doc = document.documentElement;
        const width = doc.clientWidth;
        const out = [];
        if (doc.scrollWidth > width) {
            for (const e of document.body.querySelectorAll("*")) {
                const r = e.getBoundingClientRect();
                if (r.width > 0 && (r.right > width + 0.5 || r.left < -0.5)) {
                    const classes = typeof e.className === "string" && e.className.trim()
                        ? "." + e.className.trim().split(/\s+/).join(".") : "";
                    out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + classes
                        + " [" + Math.round(r.left) + ", " + Math.round(r.right) + "]");
                }
            }
        }
        return [doc.scrollWidth, width, window.innerWidth, out.slice(0, 10)];
    "##;
    let measured = browser
        .execute(script, vec![])
        .await
        .expect("the page is measured");
    let (scroll, client, inner) = (&measured[0], &measured[1], &measured[2]);
    assert!(
        scroll.as_u64() <= client.as_u64() && scroll.as_u64() <= inner.as_u64(),
        "{page} is {scroll} px wide in a {inner} px viewport; sticking out: {}",
        measured[3]
    );
}

/// Asserts that `page`, now open, fits the viewport and logged no console
/// error but those containing one of `expected`.
async fn check_page(driver: &Driver, browser: &Client, page: &str, expected: &[&str]) {
    assert_fits(browser, page).await;
    // Give late errors (a failed fetch of the page's script) their moment.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let errors: Vec<String> = console_errors(driver, browser)
        .await
        .into_iter()
        .filter(|e| !expected.iter().any(|x| e.contains(x)))
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "console errors on {page}");
}

/// Asserts that no page sent a Content-Security-Policy report: every page
/// ran under its policy (no inline script but the nonced one, no inline
/// style) and the browser blocked nothing.
async fn assert_no_csp_reports(server: &Server) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        server.csp_reports.all(),
        Vec::<String>::new(),
        "what the policy blocked"
    );
}

/// People's browsers in the made-up traffic.
const PEOPLE: [&str; 7] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    // An app's own agent: one long word the parser does not know.
    "ExampleNewsReaderForAndroidWithAnUnusuallyLongNameAndNoSpaces/4.12.0-build.20240611.release+ffd3c9a",
];

/// Bots in the made-up traffic: bot hits, not hits.
const BOTS: [&str; 2] = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
];

/// A month of made-up traffic on the three posts, so that charts,
/// rankings and the hit log have something to show: people on several
/// browsers from a few dozen IPs (some reloading, which adds views), more
/// of them at weekends, and some bots; then today's visits of four
/// browsers from this machine through the site itself.
///
/// The month is counted beside the site, by a counter with the site's
/// settings on the test's clock set back day by day. The site caches what
/// it reads for a moment only, and has read nothing yet.
async fn seed_traffic(db: &TestDb, server: &Server) {
    let mut settings = server.counter.settings().clone();
    settings.count_timeout = Duration::from_secs(10);
    let counter = db.counter(settings).await;
    let now = Utc::now();
    // A fixed pseudo-random sequence (xorshift): the same traffic each run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % n as u64).expect("small")
    };
    for days_ago in (0..30).rev() {
        let at = |minutes: usize| now - TimeDelta::days(days_ago) - TimeDelta::minutes(minutes as i64);
        let weekend = (days_ago + 3) % 7 < 2;
        let people = 3 + random(6) + if weekend { 5 } else { 0 };
        for n in 0..people {
            db.clock.set(at(random(600)));
            let post = ObjectRef::new("blog.post", [1, 1, 1, 2, 2, 3][random(6)]).unwrap();
            let prefix = ["192.0.2", "198.51.100", "203.0.113"][random(3)];
            let visitor = Visitor::new(format!("seed-{days_ago}-{n}"))
                .unwrap()
                .with_ip(format!("{prefix}.{}", 1 + random(12)).parse().unwrap())
                .with_user_agent(PEOPLE[random(PEOPLE.len())]);
            let first = counter.count_hit(&post, &visitor).await.unwrap();
            assert!(first.hit_counted, "a seeded visit counts: {}", first.hit_message);
            // Some read on and reload: views, not hits.
            for _ in 0..random(4).saturating_sub(1) {
                counter.count_hit(&post, &visitor).await.unwrap();
            }
        }
        for n in 0..random(3) {
            db.clock.set(at(random(600)));
            let post = ObjectRef::new("blog.post", 1 + random(3)).unwrap();
            let bot = Visitor::new(format!("bot-{days_ago}-{n}"))
                .unwrap()
                .with_ip("66.249.66.1".parse().unwrap())
                .with_user_agent(BOTS[random(BOTS.len())]);
            counter.count_hit(&post, &bot).await.unwrap();
        }
    }
    counter.flush_views().await.unwrap();
    drop(counter);

    // Today, through the site: each browser without a cookie is a visitor
    // of its own (keyed by IP and user agent).
    for (post, user_agent) in [(1, PEOPLE[0]), (1, PEOPLE[2]), (2, PEOPLE[1]), (3, PEOPLE[3])] {
        let path = format!("/hitcount-detail-view-count-hit/{post}/");
        let (status, page) = http(&server.base, "GET", &path, &[("User-Agent", user_agent)], "").await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            text_of(&page, "hit-counted-value").as_deref(),
            Some("true"),
            "{path} as {user_agent}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_site_in_chromium() {
    let Some((_db, server, driver, browser)) = open_site().await else {
        return;
    };
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

    // The dashboard: log in, and the overview ranks both posts.
    log_in(&browser, base).await;
    let ranked = browser
        .find_all(Locator::Css("#ranking li"))
        .await
        .expect("the ranking");
    assert_eq!(ranked.len(), 2, "both posts are ranked");
    screenshot(&browser, "admin-overview.png").await;

    // The hit log, newest first: select the newest hit, blacklist its IP.
    browser.goto(&format!("{base}/admin/hits")).await.unwrap();
    browser
        .find(Locator::Css("#log tbody input[name=selected]"))
        .await
        .expect("the hit log lists the hits")
        .click()
        .await
        .unwrap();
    run_action(&browser, "blacklist_ips").await;
    let messages = wait_for_text(&browser, "messages", &["Successfully blacklisted 1 IPs"]).await;
    assert_eq!(messages, "Successfully blacklisted 1 IPs");
    let marked = browser
        .find_all(Locator::Css("#log tbody tr.blacklisted"))
        .await
        .unwrap();
    assert_eq!(marked.len(), 2, "both hits came from the browser's IP");

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

    ends_clean(&driver, browser, &server).await;
}

/// Asserts that the browser's console logged no error, closes it, and
/// asserts that no page's Content-Security-Policy blocked anything.
async fn ends_clean(driver: &Driver, browser: Client, server: &Server) {
    assert_eq!(
        console_errors(driver, &browser).await,
        Vec::<String>::new(),
        "console errors"
    );
    browser.close().await.unwrap();
    assert_no_csp_reports(server).await;
}

/// Asserts that the browser holds no cookie of the site, `HttpOnly` ones
/// included, and that the page's script sees none.
async fn holds_no_cookie(browser: &Client, page: &str) {
    let cookies = browser.get_all_cookies().await.expect("the browser's cookies");
    let names: Vec<String> = cookies.iter().map(|c| c.name().to_owned()).collect();
    assert!(names.is_empty(), "{page} left cookies: {names:?}");
    let seen = browser
        .execute("return document.cookie", vec![])
        .await
        .expect("the page's script runs");
    assert_eq!(seen, "", "{page}: document.cookie");
}

/// The blog in the cookie-free mode (`COOKIE_FREE=1`): no page sets a
/// cookie, and both scripts still count on load, once per visitor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_site_without_cookies() {
    let Some((_db, server, driver, browser)) = open_site_with(example_project::cookie_free).await else {
        return;
    };
    let base = &server.base;
    let counted = "Hit counted: session key";
    let repeat = rocket_hitcount::COOKIELESS_ACTIVE_HIT;
    for (page, first) in [
        ("/generic-detail-view-ajax/1/", "true"),
        ("/generic-detail-view-ajax/1/", "false"),
        ("/generic-detail-view-ajax-jquery/2/", "true"),
        ("/generic-detail-view-ajax-jquery/2/", "false"),
        ("/hitcount-detail-view-count-hit/3/", "true"),
        ("/hitcount-detail-view-count-hit/3/", "false"),
    ] {
        assert_eq!(counted_on(&browser, base, page).await, first, "{page}");
        let answer = if first == "true" { counted } else { repeat };
        shows(&browser, "hit-response", answer).await;
        holds_no_cookie(&browser, page).await;
    }
    assert!(
        browser.find(Locator::Id("visits")).await.is_err(),
        "no visit counts without a cookie"
    );
    browser.goto(&format!("{base}/")).await.unwrap();
    for id in ["hits-1", "hits-2", "hits-3"] {
        shows(&browser, id, "1").await;
    }
    holds_no_cookie(&browser, "/").await;
    browser.goto(&format!("{base}/about")).await.unwrap();
    shows(
        &browser,
        "cookie-test",
        "The blog sets no cookies, and its hit log keeps no address, browser or visitor key.",
    )
    .await;
    holds_no_cookie(&browser, "/about").await;
    ends_clean(&driver, browser, &server).await;
}

/// The two sizes every page must fit: a desktop's and a phone's viewport.
const SIZES: [(u32, u32, &str); 2] = [(1280, 900, "desktop"), (390, 844, "phone")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_desktops_and_phones() {
    let Some((db, server, driver, browser)) = open_site().await else {
        return;
    };
    let base = &server.base;
    seed_traffic(&db, &server).await;
    log_in(&browser, base).await;

    // Entries on both blacklists, added with the page's forms, so that
    // their tables show too.
    browser.goto(&format!("{base}/admin/blacklists")).await.unwrap();
    for (list, value) in [
        ("ip", "192.0.2.0/24"),
        ("user_agent", "Mozilla/5.0 (compatible; ExampleScraper/2.1; +https://scraper.example/about-this-crawler-and-how-to-opt-out)"),
    ] {
        let input = browser.find(Locator::Id(&format!("add-{list}"))).await.unwrap();
        input.send_keys(value).await.unwrap();
        input
            .find(Locator::XPath("ancestor::form//button[@type='submit']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        shows(&browser, "messages", &format!("Blacklisted {value:?}.")).await;
    }

    // An object's page: the most read post's, from the ranking.
    browser.goto(&format!("{base}/admin/?period=30d")).await.unwrap();
    let object = browser
        .find(Locator::Css("#ranking li .what a"))
        .await
        .expect("the ranking links its objects")
        .attr("href")
        .await
        .unwrap()
        .expect("a link");
    let object = object.split('?').next().unwrap().to_owned();
    assert!(object.starts_with("/admin/objects/"), "{object}");

    let today = Utc::now().date_naive();
    let fortnight = today - TimeDelta::days(13);
    let mut pages = vec![
        ("overview-today", "/admin/?period=today".to_owned()),
        ("overview-7d", "/admin/?period=7d".to_owned()),
        ("overview-30d", "/admin/?period=30d".to_owned()),
        (
            "overview-custom",
            format!("/admin/?period=custom&from={fortnight}&to={today}"),
        ),
        ("hits", "/admin/hits".to_owned()),
        ("hits-page-2", "/admin/hits?page=2".to_owned()),
        (
            "hits-sorted-filtered",
            format!("/admin/hits?q=Mozilla&since={fortnight}&o=-user_agent"),
        ),
        ("hits-by-agent", format!("/admin/hits?ua={}", encode(PEOPLE[6]))),
        ("object", object.clone()),
        ("object-today", format!("{object}?period=today")),
        (
            "object-hits",
            format!("/admin/hits?object={}", &object["/admin/objects/".len()..]),
        ),
        ("blacklists", "/admin/blacklists".to_owned()),
        ("login", "/admin/login".to_owned()),
        ("error-400", "/admin/hits?page=0".to_owned()),
        ("error-404", "/admin/no-such-page".to_owned()),
        ("front-page", "/".to_owned()),
        ("about", "/about/".to_owned()),
        ("ajax", "/generic-detail-view-ajax/1/".to_owned()),
        ("ajax-jquery", "/generic-detail-view-ajax-jquery/1/".to_owned()),
        ("detail-view", "/hitcount-detail-view/1/".to_owned()),
        ("count-hit", "/hitcount-detail-view-count-hit/1/".to_owned()),
    ];
    // The post's own page, where the site has one.
    if http(base, "GET", "/post/1/", &[("User-Agent", BROWSER_UA)], "")
        .await
        .0
        == 200
    {
        pages.push(("post", "/post/1/".to_owned()));
    }

    for (width, height, size) in SIZES {
        set_viewport(&browser, width, height).await;
        for (name, path) in &pages {
            let page = format!("{name} ({path}) at {width}×{height}");
            browser.goto(&format!("{base}{path}")).await.unwrap();
            if path.starts_with("/generic-detail-view-ajax") {
                let answer = wait_for_text(&browser, "hit-counted-value", &["true", "false"]).await;
                assert!(["true", "false"].contains(&answer.as_str()), "{page} counts");
            }
            // The error pages' own status is the one error they log.
            let expected: &[&str] = match *name {
                "error-400" => &["the server responded with a status of 400"],
                "error-404" => &["the server responded with a status of 404"],
                _ => &[],
            };
            check_page(&driver, &browser, &page, expected).await;
            match *name {
                "overview-30d" => docs_screenshot(&browser, &format!("dashboard-overview-{size}.png")).await,
                "hits" => docs_screenshot(&browser, &format!("dashboard-hits-{size}.png")).await,
                _ => {
                    screenshot(&browser, &format!("{name}-{size}.png")).await;
                }
            }
        }

        // The confirmation page of a deleting action.
        browser.goto(&format!("{base}/admin/hits")).await.unwrap();
        for checkbox in browser
            .find_all(Locator::Css("#log tbody input[name=selected]"))
            .await
            .unwrap()
            .into_iter()
            .take(3)
        {
            checkbox.click().await.unwrap();
        }
        run_action(&browser, "blacklist_delete_user_agents").await;
        browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("confirm"))
            .await
            .expect("the confirmation page");
        let listed = browser
            .find_all(Locator::Css("table.log tbody tr"))
            .await
            .unwrap();
        assert_eq!(listed.len(), 3, "the confirmation lists the selected hits");
        check_page(
            &driver,
            &browser,
            &format!("the confirmation at {width}×{height}"),
            &[],
        )
        .await;
        screenshot(&browser, &format!("confirm-{size}.png")).await;
    }

    browser.close().await.unwrap();
    assert_no_csp_reports(&server).await;
}

/// The rows of the hit log now open: each hit's id, user agent and stored
/// IP (in full), whether it is ticked and marked blacklisted.
async fn log_rows(browser: &Client) -> Vec<Value> {
    let script = r##"
        return Array.from(document.querySelectorAll("#log tbody tr")).map(tr => {
            const box = tr.querySelector("input[name=selected]");
            const ua = tr.querySelector('td[data-label="User agent"] code, td[data-label="User agent"] a.raw');
            const ip = tr.querySelector("a.ip");
            return {
                id: box.value,
                checked: box.checked,
                ua: ua ? ua.textContent : "",
                ip: ip ? ip.title : "",
                blacklisted: tr.classList.contains("blacklisted"),
                flagged: tr.querySelector('td[data-label="User agent"] .flag') !== null,
            };
        });
    "##;
    let rows = browser.execute(script, vec![]).await.expect("the rows");
    rows.as_array().expect("a list").clone()
}

/// The `key` of every row, as text.
fn column(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter()
        .map(|row| match &row[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_log_actions_end_to_end() {
    let Some((db, server, driver, browser)) = open_site().await else {
        return;
    };
    let base = &server.base;
    seed_traffic(&db, &server).await;
    log_in(&browser, base).await;

    // At each size a user agent to blacklist, and how many hits to delete
    // (0: all those of the IP, with "select all").
    let plans = [(PEOPLE[2], 1), (PEOPLE[3], 0)];
    for ((width, height, size), (user_agent, delete)) in SIZES.into_iter().zip(plans) {
        set_viewport(&browser, width, height).await;
        let at = format!("at {width}×{height}");

        // Select all, then one fewer, then none: the count follows.
        browser.goto(&format!("{base}/admin/hits")).await.unwrap();
        let rows = log_rows(&browser).await;
        let n = rows.len();
        assert!(n > 2, "the hit log lists the traffic");
        shows(&browser, "selected-count", &format!("0 of {n} selected")).await;
        let all = browser.find(Locator::Id("select-all")).await.unwrap();
        all.click().await.unwrap();
        shows(&browser, "selected-count", &format!("{n} of {n} selected")).await;
        assert!(
            column(&log_rows(&browser).await, "checked")
                .iter()
                .all(|c| c == "true"),
            "{at}"
        );
        click(&browser, Locator::Css("#log tbody input[name=selected]")).await;
        shows(&browser, "selected-count", &format!("{} of {n} selected", n - 1)).await;
        let indeterminate = browser
            .execute(
                "return document.getElementById('select-all').indeterminate",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(indeterminate, true, "select-all is half ticked {at}");
        all.click().await.unwrap();
        shows(&browser, "selected-count", &format!("{n} of {n} selected")).await;
        all.click().await.unwrap();
        shows(&browser, "selected-count", &format!("0 of {n} selected")).await;

        // Sort by user agent with the column's header: A to Z, then Z to A.
        for (order, sorted) in [("user_agent", "ascending"), ("-user_agent", "descending")] {
            browser
                .find(Locator::XPath(
                    "//table[@id='log']/thead//a[normalize-space()='User agent']",
                ))
                .await
                .expect("the user agent column's header links")
                .click()
                .await
                .unwrap();
            wait_for_url(&browser, "the log sorts", |url| {
                param(url, "o").as_deref() == Some(order)
            })
            .await;
            let th = browser
                .find(Locator::XPath("//table[@id='log']/thead//th[@aria-sort]"))
                .await
                .expect("the sorted column is marked");
            assert_eq!(
                th.attr("aria-sort").await.unwrap().as_deref(),
                Some(sorted),
                "{at}"
            );
            assert!(th.text().await.unwrap().starts_with("User agent"), "{at}");
            let agents = column(&log_rows(&browser).await, "ua");
            let mut expected = agents.clone();
            expected.sort();
            if sorted == "descending" {
                expected.reverse();
            }
            assert_eq!(agents, expected, "{sorted} by user agent {at}");
        }
        check_page(&driver, &browser, &format!("the sorted log {at}"), &[]).await;

        // Filter by an IP with a click on it: the IP of most hits here.
        let rows = log_rows(&browser).await;
        let ips = column(&rows, "ip");
        let ip = ips
            .iter()
            .max_by_key(|ip| ips.iter().filter(|other| other == ip).count())
            .unwrap()
            .clone();
        let index = ips.iter().position(|other| *other == ip).unwrap();
        browser
            .find_all(Locator::Css("#log tbody a.ip"))
            .await
            .unwrap()
            .swap_remove(index)
            .click()
            .await
            .unwrap();
        wait_for_url(&browser, "the log filters by IP", |url| {
            param(url, "ip").as_deref() == Some(ip.as_str())
        })
        .await;
        let rows = log_rows(&browser).await;
        assert!(
            column(&rows, "ip").iter().all(|other| *other == ip),
            "only {ip}'s hits {at}"
        );
        browser
            .find(Locator::Id("clear-filters"))
            .await
            .expect("the filter shows");
        let before = rows.len();

        // Delete some of them, confirmed: back on the filtered log, told so.
        let ids = column(&rows, "id");
        let deleted: Vec<String> = if delete == 0 {
            click(&browser, Locator::Id("select-all")).await;
            shows(
                &browser,
                "selected-count",
                &format!("{before} of {before} selected"),
            )
            .await;
            ids.clone()
        } else {
            let boxes = browser
                .find_all(Locator::Css("#log tbody input[name=selected]"))
                .await
                .unwrap();
            for checkbox in boxes.into_iter().take(delete) {
                checkbox.click().await.unwrap();
            }
            ids[..delete].to_vec()
        };
        run_action(&browser, "delete_queryset").await;
        let confirm = browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("confirm"))
            .await
            .expect("deleting asks first");
        let listed = browser
            .find_all(Locator::Css("table.log tbody tr"))
            .await
            .unwrap();
        assert_eq!(
            listed.len(),
            deleted.len(),
            "the confirmation lists what goes {at}"
        );
        check_page(&driver, &browser, &format!("the confirmation {at}"), &[]).await;
        confirm.click().await.unwrap();
        // The confirmation page is the answer to a POST to /admin/hits; the
        // log it leads back to carries the filter.
        let done = wait_for_url(&browser, "back on the filtered log", |url| {
            path_of(url) == "/admin/hits" && param(url, "ip").is_some()
        })
        .await;
        assert_eq!(
            param(&done, "ip").as_deref(),
            Some(ip.as_str()),
            "the filter is kept {at}"
        );
        let message = match deleted.len() {
            1 => "1 hit was successfully deleted.".to_owned(),
            n => format!("{n} hits were successfully deleted."),
        };
        shows(&browser, "messages", &message).await;
        browser
            .find(Locator::Id("clear-filters"))
            .await
            .expect("the filter still shows");
        let rows = log_rows(&browser).await;
        assert_eq!(rows.len(), before - deleted.len(), "{at}");
        assert!(column(&rows, "ip").iter().all(|other| *other == ip), "{at}");
        assert!(column(&rows, "id").iter().all(|id| !deleted.contains(id)), "{at}");
        check_page(&driver, &browser, &format!("the log after deleting {at}"), &[]).await;
        screenshot(&browser, &format!("deleted-{size}.png")).await;

        // Blacklist a user agent from the log: its rows are marked.
        browser.goto(&format!("{base}/admin/hits")).await.unwrap();
        let rows = log_rows(&browser).await;
        let index = column(&rows, "ua")
            .iter()
            .position(|ua| ua == user_agent)
            .expect("a hit of that user agent");
        assert!(column(&rows, "blacklisted").iter().all(|b| b == "false"), "{at}");
        browser
            .find_all(Locator::Css("#log tbody input[name=selected]"))
            .await
            .unwrap()
            .swap_remove(index)
            .click()
            .await
            .unwrap();
        run_action(&browser, "blacklist_user_agents").await;
        shows(&browser, "messages", "Successfully blacklisted 1 User Agents").await;
        let rows = log_rows(&browser).await;
        for row in &rows {
            let theirs = row["ua"] == user_agent;
            assert_eq!(row["blacklisted"], theirs, "{row} {at}");
            assert_eq!(row["flagged"], theirs, "{row} {at}");
        }
        check_page(
            &driver,
            &browser,
            &format!("the log with a blacklisted agent {at}"),
            &[],
        )
        .await;
        screenshot(&browser, &format!("blacklisted-{size}.png")).await;
        // Unblacklisted again from the blacklists page, for the next size.
        browser.goto(&format!("{base}/admin/blacklists")).await.unwrap();
        browser
            .find(Locator::XPath(
                "//table[contains(@class,'entries')]//button[normalize-space()='Remove']",
            ))
            .await
            .expect("the entry is listed")
            .click()
            .await
            .unwrap();
        shows(
            &browser,
            "messages",
            &format!("Removed {user_agent:?} from the blacklist."),
        )
        .await;
    }

    check_page(&driver, &browser, "the blacklists after removing", &[]).await;
    browser.close().await.unwrap();
    assert_no_csp_reports(&server).await;
}
