//! Workspace-level end-to-end tests: the example site over HTTP with
//! Rocket's local client on SQLite and PostgreSQL (`tests/site.rs`), in
//! headless Chromium (`tests/browser.rs`), and as several processes on
//! one PostgreSQL database (`tests/instances.rs`). This library holds what
//! they share: the site on a test database, a plain HTTP client, and small
//! readers of its pages.

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
    /// The site's counter: its settings, to count traffic beside the site
    /// (on the test's clock) the way the site does.
    pub counter: hitcount::HitCounter,
}

impl Server {
    /// Launches the site on the database at `url`.
    pub async fn start(url: &str) -> Server {
        Server::start_from(figment(url)).await
    }

    /// Launches the site with this configuration (of [`figment`]'s
    /// making).
    pub async fn start_from(figment: Figment) -> Server {
        let port = free_port();
        let rocket = example_project::site(figment.merge(("port", port)))
            .ignite()
            .await
            .expect("the example ignites");
        let shutdown = rocket.shutdown();
        let csp_reports = rocket
            .state::<example_project::csp::CspReports>()
            .expect("the example keeps CSP reports")
            .clone();
        let counter = rocket_hitcount::HitCount::fetch(&rocket)
            .expect("the example counts hits")
            .counter()
            .clone();
        tokio::spawn(rocket.launch());
        assert!(wait_for_port(port).await, "the example listens on {port}");
        Server {
            base: format!("http://127.0.0.1:{port}"),
            shutdown,
            csp_reports,
            counter,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// An answer to [`http`].
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The header lines, as sent.
    pub head: String,
    /// The body, chunks joined.
    pub body: String,
}

impl Answer {
    /// The value a `Set-Cookie` header of the answer gives the cookie
    /// `name`, if one does.
    ///
    /// ```
    /// let answer = hitcount_tests::Answer {
    ///     status: 200,
    ///     head: "HTTP/1.1 200 OK\r\nset-cookie: csrftoken=abc; Path=/\r\nSet-Cookie: v=X_y-Z; HttpOnly".into(),
    ///     body: String::new(),
    /// };
    /// assert_eq!(answer.set_cookie("v"), Some("X_y-Z"));
    /// assert_eq!(answer.set_cookie("csrftoken"), Some("abc"));
    /// assert_eq!(answer.set_cookie("other"), None);
    /// ```
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (header, value) = line.split_once(':')?;
            if !header.trim().eq_ignore_ascii_case("set-cookie") {
                return None;
            }
            let pair = value.trim().split(';').next()?;
            let (cookie, value) = pair.split_once('=')?;
            (cookie == name).then_some(value)
        })
    }
}

/// One request over plain HTTP/1.1 (`Connection: close`) to `addr`
/// (`127.0.0.1:8000`), with these header lines and body: a client of the
/// site over TCP, as a browser or a load balancer is (and of chromedriver,
/// for what fantoccini has no method for). The answer is read up to the
/// end of its body (its length, the last chunk, or the end of the
/// connection: chromedriver keeps it open). Panics when there is no
/// complete answer within 30 seconds.
pub async fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let n = stream.read(&mut buffer).await?;
            answer.extend_from_slice(&buffer[..n]);
            if n == 0 || complete(&answer) {
                break;
            }
        }
        std::io::Result::Ok(answer)
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} {path} from {addr} within 30 seconds"))
        .unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"));
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path} to {addr}: no complete answer"));
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path} to {addr}: no status line in {head:?}"));
    let body = &answer[split + 4..];
    let chunked = head
        .to_ascii_lowercase()
        .contains("\r\ntransfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_vec() };
    Answer {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Whether this much of an HTTP answer holds all of its body.
fn complete(answer: &[u8]) -> bool {
    let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let body = &answer[split + 4..];
    if head.contains("\r\ntransfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|length| length.trim().parse::<usize>().ok())
        .is_some_and(|length| body.len() >= length)
}

/// A chunked body, joined.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut joined = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        let stop = (start + size).min(body.len());
        joined.extend_from_slice(&body[start..stop]);
        body = body.get(stop + 2..).unwrap_or_default();
    }
    joined
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
