//! The example site as several processes of its binary on one PostgreSQL
//! database, driven over HTTP, as a site scaled out behind a load
//! balancer runs: every visitor is counted exactly once whichever
//! instances its requests reach, at once or one after the other; and
//! instances that do not share `hitcount.secret_key` or `ip_hash_key`
//! count visitors again (docs/sessions.md, "Running several instances").
//!
//! The first test that needs the binary has cargo build it (a link, or
//! nothing, after `cargo test --workspace`). PostgreSQL only: the tests
//! skip, with a message, when it is unreachable, and fail when `CI=true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use example_project::posts::KIND;
use hitcount::{HitCounter, ObjectRef, Window};
use hitcount_testing::{settings, TestDb};
use hitcount_tests::{free_port, http, text_of, Answer};
use tokio::sync::Barrier;

/// `hitcount.secret_key` of the instances that share it.
const SECRET_KEY: &str = "instances' shared hitcount secret key, 32 characters or more";
/// Another one, for an instance that does not share it.
const OTHER_SECRET_KEY: &str = "another instance's hitcount secret key, 32 characters or more";
/// Rocket's `secret_key` (the example's admin cookie), fixed: a debug
/// build otherwise makes a new one per process.
const ROCKET_SECRET_KEY: &str = "JdbhiGnCjwDa0QdeacxDLkEwY1pf1ReFj8fgoxwxATk=";
/// Another one.
const OTHER_ROCKET_SECRET_KEY: &str = "4o7w3AEVbvG/8a8m/MHZMRvIUawkIGAkjWZVhQWW8pQ=";
/// An `ip_hash_key` of one instance's own, where the others use the key
/// the first instance generated and stored in the database.
const OWN_IP_HASH_KEY: &str = "one instance's own ip_hash_key";
/// Every instance's `hits_per_ip_limit`.
const IP_LIMIT: usize = 3;

/// The keys an instance is launched with; its other settings are the
/// same for all.
#[derive(Clone, Copy)]
struct Keys {
    /// `hitcount.secret_key`.
    hitcount: &'static str,
    /// Rocket's `secret_key`.
    rocket: &'static str,
    /// `hitcount.ip_hash_key`; `None`: the one kept in the database.
    ip_hash: Option<&'static str>,
}

/// What instances that are set up alike share.
const SHARED: Keys = Keys {
    hitcount: SECRET_KEY,
    rocket: ROCKET_SECRET_KEY,
    ip_hash: None,
};

/// The `example_project` binary of this build's profile, built (or found
/// up to date) by cargo once per run of this file's tests: cargo builds a
/// package's binaries for its own integration tests only.
///
/// The build selects what `cargo test --workspace` (the README's test
/// command) does, the workspace with this test, so that cargo resolves the
/// dependencies' features alike and reuses what that command built: only
/// the binary is linked. (`cargo build -p example_project` alone would
/// compile Rocket, hyper and sqlx again with fewer features.) Run from a
/// narrower command, the first run builds that set once.
fn example_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // This test runs from <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("the test's own path");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .unwrap_or("debug");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace");
        let mut build = Command::new(env!("CARGO"));
        // Without what cargo set for this test's process: build scripts
        // that watch a variable (ring's, CARGO_MANIFEST_DIR) would run
        // again, and rebuild what depends on them, in both builds.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let set_by_cargo = name.starts_with("CARGO_PKG_")
                || matches!(
                    &*name,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                );
            if set_by_cargo {
                build.env_remove(&*name);
            }
        }
        build.current_dir(workspace).args([
            "build",
            "--workspace",
            "--bin",
            "example_project",
            "--test",
            env!("CARGO_CRATE_NAME"),
            "--message-format=json-render-diagnostics",
        ]);
        match profile {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        eprintln!("building the example: cargo build --workspace --bin example_project ({profile})");
        let output = build.stderr(Stdio::piped()).output().expect("cargo runs");
        assert!(
            output.status.success(),
            "building example_project failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The binary's path, from cargo's message about it.
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .filter(|message| message["target"]["name"] == "example_project")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the example's executable")
    })
}

/// One process of the example site on 127.0.0.1, killed when dropped.
struct Instance {
    /// `127.0.0.1:<port>`.
    addr: String,
    process: Child,
    /// What the process printed (Rocket's log), shown when it fails to
    /// start or a test fails.
    log: PathBuf,
}

impl Instance {
    /// Launches the example binary on the database at `url` with these
    /// keys, a per-IP limit of [`IP_LIMIT`], 127.0.0.1 trusted as the
    /// proxy (each request says its visitor's address in
    /// `X-Forwarded-For`), and waits for the database (counting, a pool's
    /// connection) that a busy test machine does not reach. Its pool is
    /// small: the tests' processes share one PostgreSQL server, whose
    /// default is 100 connections. The settings come from the environment,
    /// as a deployment gives them.
    async fn start(url: &str, keys: Keys) -> Instance {
        let binary = tokio::task::spawn_blocking(example_binary)
            .await
            .expect("the example is built");
        let port = free_port();
        let log = std::env::temp_dir().join(format!("hitcount-instance-{}-{port}.log", std::process::id()));
        let output = std::fs::File::create(&log).expect("a log file");
        let ip_hash = keys
            .ip_hash
            .map(|key| format!(", ip_hash_key = \"{key}\""))
            .unwrap_or_default();
        let hitcount = format!(
            "{{secret_key = \"{}\", hits_per_ip_limit = {IP_LIMIT}, trusted_proxies = [\"127.0.0.1\"], \
             count_timeout = \"20s\"{ip_hash}}}",
            keys.hitcount
        );
        let mut command = Command::new(binary);
        // Nothing of the test's own environment: only what is set here.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("ROCKET_") || name == "DATABASE_URL" {
                command.env_remove(&*name);
            }
        }
        let process = command
            .env("DATABASE_URL", url)
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_SECRET_KEY", keys.rocket)
            .env("ROCKET_HITCOUNT", hitcount)
            .env(
                "ROCKET_DATABASES",
                "{blog = {max_connections = 4, connect_timeout = 20}}",
            )
            .env("ROCKET_LOG_LEVEL", "critical")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("the log file"))
            .stderr(output)
            .spawn()
            .expect("the example starts");
        let mut instance = Instance {
            addr: format!("127.0.0.1:{port}"),
            process,
            log,
        };
        instance.wait_until_listening().await;
        instance
    }

    /// Waits up to 30 seconds for the instance to accept connections
    /// (Rocket listens once its fairings, migrations included, are done).
    async fn wait_until_listening(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.process.try_wait().expect("the process's state") {
                panic!("the example exited ({status}) at launch:\n{}", self.printed());
            }
            if tokio::net::TcpStream::connect(&self.addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the example does not listen on {}:\n{}",
            self.addr,
            self.printed()
        );
    }

    fn printed(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if std::thread::panicking() {
            eprintln!("the example at {} printed:\n{}", self.addr, self.printed());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A visitor's request: where it comes from, its browser, its cookie.
#[derive(Clone, Debug)]
struct Visitor {
    ip: String,
    user_agent: String,
    /// The visitor cookie's value, if it sends one.
    cookie: Option<String>,
}

impl Visitor {
    /// A desktop browser at `ip` without a cookie yet; `build` tells
    /// browsers of one address apart (a new build number, a new visitor
    /// for the counter).
    fn new(ip: &str, build: usize) -> Visitor {
        Visitor {
            ip: ip.into(),
            user_agent: format!(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.{build}.0 Safari/537.36"
            ),
            cookie: None,
        }
    }

    fn with_cookie(self, cookie: &str) -> Visitor {
        Visitor {
            cookie: Some(cookie.into()),
            ..self
        }
    }

    /// Its request's header lines (the visitor cookie after `cookies`).
    fn headers(&self, cookies: &[String]) -> Vec<(&'static str, String)> {
        let mut cookies = cookies.to_vec();
        cookies.extend(
            self.cookie
                .iter()
                .map(|value| format!("hitcount_visitor={value}")),
        );
        let mut headers = vec![
            ("User-Agent", self.user_agent.clone()),
            ("X-Forwarded-For", self.ip.clone()),
        ];
        if !cookies.is_empty() {
            headers.push(("Cookie", cookies.join("; ")));
        }
        headers
    }

    async fn get(&self, at: &Instance, path: &str) -> Answer {
        send(&at.addr, "GET", path, self.headers(&[]), "").await
    }
}

/// [`http`] with header values of any lifetime.
async fn send(addr: &str, method: &str, path: &str, headers: Vec<(&str, String)>, body: &str) -> Answer {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    http(addr, method, path, &headers, body).await
}

/// GETs `path` once for each visitor, the i-th from instance i mod n, all
/// let go together; gives the pages' answers of the counter ("Hit
/// counted: ...", "Not counted: ...").
async fn burst(instances: &[&Instance], path: &str, visitors: Vec<Visitor>) -> Vec<String> {
    let (requests, began) = (visitors.len(), Instant::now());
    let start = Arc::new(Barrier::new(requests));
    let tasks: Vec<_> = visitors
        .into_iter()
        .enumerate()
        .map(|(i, visitor)| {
            let addr = instances[i % instances.len()].addr.clone();
            let (path, start) = (path.to_owned(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                (
                    addr.clone(),
                    send(&addr, "GET", &path, visitor.headers(&[]), "").await,
                )
            })
        })
        .collect();
    // Every answer first: a failed check stops the instances.
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("the request's task ran"));
    }
    println!(
        "GET {path}: {requests} requests over {} instances answered in {:.2?}",
        instances.len(),
        began.elapsed()
    );
    answers
        .into_iter()
        .map(|(addr, answer)| {
            assert_eq!(answer.status, 200, "GET {path} from {addr}: {}", answer.body);
            text_of(&answer.body, "hit-response").expect("the page says what the counter did")
        })
        .collect()
}

/// How many of the pages' answers say the hit was counted.
fn counted(messages: &[String]) -> usize {
    messages.iter().filter(|m| m.starts_with("Hit counted")).count()
}

/// Each answer with how many pages gave it, for a failed check to show.
fn tally(messages: &[String]) -> BTreeMap<&str, usize> {
    let mut tally = BTreeMap::new();
    for message in messages {
        *tally.entry(message.as_str()).or_default() += 1;
    }
    tally
}

/// The visitor cookie that `at` hands a new visitor from `ip` on a page
/// that counts nothing.
async fn cookie_from(at: &Instance, ip: &str) -> String {
    let answer = Visitor::new(ip, 0).get(at, "/hitcount-detail-view/1/").await;
    assert_eq!(answer.status, 200);
    answer
        .set_cookie("hitcount_visitor")
        .expect("a visitor cookie")
        .to_owned()
}

/// A counter on the instances' database that reads it afresh every time.
async fn reader(db: &TestDb) -> HitCounter {
    HitCounter::open(db.db.clone(), settings(|s| s.counts_refresh = Window::seconds(0)))
        .await
        .expect("a counter on the instances' database")
}

/// What the database holds of post `id`: its total hits, its rows in the
/// hit log, and the sums of its hourly and of its daily buckets.
async fn stored(db: &TestDb, counter: &HitCounter, id: i64) -> [i64; 4] {
    let counts = counter.counts(&ObjectRef::new(KIND, id).unwrap()).await.unwrap();
    let Some(pk) = counts.pk else { return [0; 4] };
    let sum = |table: &str| {
        format!("SELECT CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM {table} WHERE hit_count_id = {pk}")
    };
    [
        counts.hits,
        db.scalar(&format!(
            "SELECT COUNT(*) FROM hitcount_hit WHERE hit_count_id = {pk}"
        ))
        .await,
        db.scalar(&sum("hitcount_hourly")).await,
        db.scalar(&sum("hitcount_daily")).await,
    ]
}

/// Post `id`'s views once every instance has written those it keeps in
/// memory (each does within a second), or what there is after 5 seconds.
async fn views(counter: &HitCounter, id: i64, expected: i64) -> i64 {
    let post = ObjectRef::new(KIND, id).unwrap();
    let start = Instant::now();
    loop {
        let views = counter.counts(&post).await.unwrap().views;
        if views == expected || start.elapsed() > Duration::from_secs(5) {
            return views;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// More posts than the example's three, one per check.
async fn add_posts(db: &TestDb, ids: std::ops::RangeInclusive<i64>) {
    for id in ids {
        db.execute(&format!(
            "INSERT INTO blog_post (id, title, body) VALUES ({id}, 'Post {id}', 'Text {id}') \
             ON CONFLICT (id) DO NOTHING"
        ))
        .await;
    }
}

/// What a page counted by its script does behind a load balancer: the
/// page of post `id` comes from `page_from`, to a new visitor at `ip`; its
/// script's count (the page's token, the CSRF cookie the page set) goes
/// to `count_at`. Gives the endpoint's answer.
async fn count_by_script(page_from: &Instance, count_at: &Instance, id: i64, ip: &str) -> Answer {
    let visitor = Visitor::new(ip, 0);
    let page = visitor
        .get(page_from, &format!("/generic-detail-view-ajax/{id}/"))
        .await;
    assert_eq!(page.status, 200);
    let pk = text_of(&page.body, "pk").expect("the page's pk");
    let token = page
        .body
        .split("hitcountToken : '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page's token");
    let csrf = page.set_cookie("csrftoken").expect("the CSRF cookie");
    let visitor = visitor.with_cookie(page.set_cookie("hitcount_visitor").expect("a visitor cookie"));
    let mut headers = visitor.headers(&[format!("csrftoken={csrf}")]);
    headers.push(("Content-Type", "application/x-www-form-urlencoded".into()));
    let token = rocket::http::RawStr::new(token).percent_encode();
    send(
        &count_at.addr,
        "POST",
        "/hitcount/hit/ajax/",
        headers,
        &format!("hitcountPK={pk}&hitcountToken={token}&csrfmiddlewaretoken={csrf}"),
    )
    .await
}

/// Two instances with the same settings: one visitor's requests split
/// over both, at once, count once, with its cookie or without one; a
/// hundred new visitors count a hundred; the per-IP limit holds across
/// both; a page's token from one is good at the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_count_every_visitor_exactly_once() {
    if let Some(db) = TestDb::postgres().await {
        count_exactly_once(db).await;
    }
}

/// The same through PgBouncer in transaction pooling mode, as deployments
/// of many instances run it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_count_exactly_once_through_pgbouncer() {
    if let Some(db) = TestDb::pgbouncer().await {
        count_exactly_once(db).await;
    }
}

async fn count_exactly_once(db: TestDb) {
    // At once on a fresh database: the counter's migrations and the
    // example's posts table each take their turn under a lock.
    let (a, b) = tokio::join!(Instance::start(&db.url, SHARED), Instance::start(&db.url, SHARED));
    add_posts(&db, 4..=5).await;
    let counter = reader(&db).await;
    let both = [&a, &b];

    // A browser with a cookie from A, on another network since: the
    // cookie, not the address, makes it the same visitor at B.
    let cookie = cookie_from(&a, "203.0.113.10").await;
    let visitor = Visitor::new("203.0.113.11", 0).with_cookie(&cookie);
    let messages = burst(&both, "/post/1/", vec![visitor; 64]).await;
    assert_eq!(
        counted(&messages),
        1,
        "one visitor with a cookie: {:?}",
        tally(&messages)
    );
    assert_eq!(stored(&db, &counter, 1).await, [1; 4]);
    assert_eq!(views(&counter, 1, 64).await, 64, "every request is a view");

    // A client that keeps no cookies: one visitor by its address and
    // browser, at both instances (the salt of its key is in the database).
    let visitor = Visitor::new("203.0.113.20", 0);
    let messages = burst(&both, "/post/2/", vec![visitor; 64]).await;
    assert_eq!(
        counted(&messages),
        1,
        "one visitor without a cookie: {:?}",
        tally(&messages)
    );
    assert_eq!(stored(&db, &counter, 2).await, [1; 4]);
    assert_eq!(views(&counter, 2, 64).await, 64);

    // A hundred new visitors, each at its own address.
    let visitors = (0..100)
        .map(|i| Visitor::new(&format!("198.18.{}.{}", i / 200, i % 200 + 1), 0))
        .collect();
    let messages = burst(&both, "/post/3/", visitors).await;
    assert_eq!(counted(&messages), 100, "{:?}", tally(&messages));
    assert_eq!(stored(&db, &counter, 3).await, [100; 4]);
    assert_eq!(views(&counter, 3, 100).await, 100);

    // Many visitors behind one address: the per-IP limit, across both.
    let visitors = (0..24).map(|build| Visitor::new("192.0.2.77", build)).collect();
    let messages = burst(&both, "/post/4/", visitors).await;
    assert_eq!(counted(&messages), IP_LIMIT, "{:?}", tally(&messages));
    assert_eq!(stored(&db, &counter, 4).await, [IP_LIMIT as i64; 4]);
    assert_eq!(views(&counter, 4, 24).await, 24);

    // A page from A, its script's count at B.
    let answer = count_by_script(&a, &b, 5, "203.0.113.30").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(answer["hit_counted"], true, "{answer}");
    assert_eq!(stored(&db, &counter, 5).await, [1; 4]);
}

/// What instances must share: with another `hitcount.secret_key`, an
/// instance reads no other instance's visitor cookie, so a visitor whose
/// requests reach both is counted by each, and it refuses their page
/// tokens; with another `ip_hash_key`, each applies the per-IP limit to
/// its own hashes of the address. Rocket's `secret_key` plays no part in
/// counting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_do_not_share_their_keys_count_visitors_again() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let a = Instance::start(&db.url, SHARED).await;
    let other_secret = Instance::start(
        &db.url,
        Keys {
            hitcount: OTHER_SECRET_KEY,
            ..SHARED
        },
    )
    .await;
    let other_rocket_and_ip_keys = Instance::start(
        &db.url,
        Keys {
            rocket: OTHER_ROCKET_SECRET_KEY,
            ip_hash: Some(OWN_IP_HASH_KEY),
            ..SHARED
        },
    )
    .await;
    add_posts(&db, 4..=5).await;
    let counter = reader(&db).await;

    // Another Rocket secret_key: the cookie is still read, counted once.
    let cookie = cookie_from(&a, "203.0.113.10").await;
    let visitor = Visitor::new("203.0.113.11", 0).with_cookie(&cookie);
    let messages = burst(&[&a, &other_rocket_and_ip_keys], "/post/1/", vec![visitor; 32]).await;
    assert_eq!(counted(&messages), 1, "{:?}", tally(&messages));
    assert_eq!(stored(&db, &counter, 1).await, [1; 4]);

    // Another hitcount secret_key: A's cookie is unreadable there, so the
    // instance counts the visitor as one without a cookie; once at each.
    let visitor = Visitor::new("203.0.113.12", 0).with_cookie(&cookie);
    let messages = burst(&[&a, &other_secret], "/post/2/", vec![visitor; 32]).await;
    assert_eq!(counted(&messages), 2, "once per instance: {:?}", tally(&messages));
    assert_eq!(stored(&db, &counter, 2).await, [2; 4]);

    // ... and the counts of A's pages' scripts are refused there.
    let answer = count_by_script(&a, &other_secret, 3, "203.0.113.30").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("wrong signature"), "{}", answer.body);
    let answer = count_by_script(&a, &other_rocket_and_ip_keys, 3, "203.0.113.31").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(stored(&db, &counter, 3).await, [1; 4]);

    // Another ip_hash_key: each instance limits its own hashes of the
    // address, so one address counts the limit at each.
    let visitors = (0..12).map(|build| Visitor::new("192.0.2.77", build)).collect();
    let messages = burst(&[&a, &other_rocket_and_ip_keys], "/post/4/", visitors).await;
    assert_eq!(counted(&messages), 2 * IP_LIMIT, "{:?}", tally(&messages));
    // The same generated key (another secret_key does not matter here).
    let visitors = (0..12).map(|build| Visitor::new("192.0.2.78", build)).collect();
    let messages = burst(&[&a, &other_secret], "/post/5/", visitors).await;
    assert_eq!(counted(&messages), IP_LIMIT, "{:?}", tally(&messages));
}
