//! Workspace-level end-to-end tests: the example site over HTTP with
//! Rocket's local client on SQLite and PostgreSQL (`tests/site.rs`), and
//! in headless Chromium (`tests/browser.rs`). This library holds what both
//! need: the site on a test database, and small readers of its pages.

use rocket::figment::Figment;
use rocket::{Build, Rocket};

/// The admin the tests log in as.
pub const ADMIN_USER: &str = "editor";
/// Its password (not the development one, which the release profile
/// refuses).
pub const ADMIN_PASSWORD: &str = "editor tests password";
/// An Argon2 hash of [`ADMIN_PASSWORD`] (`hash-password` printed it).
pub const ADMIN_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$pXusrARDgoI1SIo29a6D2Q$gEDf0oxz2fWUcs2j8Q/64ex6iUAYMmBKTqCJl6Pp4KY";

/// A desktop browser's user agent: counted, unlike curl's or headless
/// Chromium's own (both are bots).
pub const BROWSER_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The example's configuration on the database at `url`, with the test
/// admin, fixed keys and quiet logs.
pub fn figment(url: &str) -> Figment {
    example_project::figment()
        .merge(("databases.blog.url", url))
        .merge(("admin.user", ADMIN_USER))
        .merge(("admin.password_hash", ADMIN_PASSWORD_HASH))
        .merge((
            "hitcount.secret_key",
            "end-to-end tests' secret key, 32 characters or more",
        ))
        .merge(("log_level", "off"))
}

/// The example site on the database at `url`.
pub fn site(url: &str) -> Rocket<Build> {
    example_project::site(figment(url))
}

/// A free TCP port on 127.0.0.1 (free when asked; take it soon).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound").port()
}

/// Waits up to 10 seconds for something to listen on `port`.
pub async fn wait_for_port(port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// The example site serving on a free port of 127.0.0.1 until dropped.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shutdown: rocket::Shutdown,
    /// What browsers reported of the pages' Content-Security-Policy.
    pub csp_reports: example_project::csp::CspReports,
}

impl Server {
    /// Launches the site on the database at `url`.
    pub async fn start(url: &str) -> Server {
        let port = free_port();
        let rocket = example_project::site(figment(url).merge(("port", port)))
            .ignite()
            .await
            .expect("the example ignites");
        let shutdown = rocket.shutdown();
        let csp_reports = rocket
            .state::<example_project::csp::CspReports>()
            .expect("the example keeps CSP reports")
            .clone();
        tokio::spawn(rocket.launch());
        assert!(wait_for_port(port).await, "the example listens on {port}");
        Server {
            base: format!("http://127.0.0.1:{port}"),
            shutdown,
            csp_reports,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// The text inside the element with this `id` (up to its first tag), as
/// a browser shows it (Tera's escapes undone), or `None` when the page has
/// no such element.
///
/// ```
/// let html = r#"<p><i id="hit-counted-value">true</i><b id="url">&#x2F;a&amp;b</b></p>"#;
/// assert_eq!(hitcount_tests::text_of(html, "hit-counted-value").as_deref(), Some("true"));
/// assert_eq!(hitcount_tests::text_of(html, "url").as_deref(), Some("/a&b"));
/// assert_eq!(hitcount_tests::text_of(html, "nope"), None);
/// ```
pub fn text_of(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let open = start + html[start..].find('>')? + 1;
    let end = open + html[open..].find('<')?;
    Some(unescape(html[open..end].trim()))
}

/// The `src` of every `<script src="...">` of the page, in order, as a
/// browser reads them (Tera's escapes undone).
///
/// ```
/// let html = r#"<script src="&#x2F;hitcount&#x2F;static&#x2F;hitcount.js"></script><script>1</script>"#;
/// assert_eq!(hitcount_tests::script_sources(html), ["/hitcount/static/hitcount.js"]);
/// ```
pub fn script_sources(html: &str) -> Vec<String> {
    html.split("<script src=\"")
        .skip(1)
        .filter_map(|tail| tail.split_once('"'))
        .map(|(src, _)| unescape(src))
        .collect()
}

/// Undoes Tera's escapes (`tera::escape_html`), `&amp;` last.
fn unescape(text: &str) -> String {
    let entities = [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#x27;", "'"),
        ("&#x2F;", "/"),
        ("&amp;", "&"),
    ];
    entities
        .iter()
        .fold(text.to_owned(), |text, (entity, c)| text.replace(entity, c))
}
