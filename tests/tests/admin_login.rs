//! The example admin's login over HTTP with Rocket's local client:
//! sessions the server can end (logout, expiry, restart), the back-off on
//! failed logins per client address and per user name, the `Secure`
//! setting of the session cookie, and password checks that leave other
//! pages alone. On SQLite only: nothing here depends on the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hitcount_testing::TestDb;
use hitcount_tests::{figment, text_of, ADMIN_PASSWORD, ADMIN_PASSWORD_HASH, ADMIN_USER};
use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};

/// The admin's session cookie.
const SESSION: &str = "example_admin";

/// A fixed `secret_key`, so that two launches can read each other's
/// private cookies (a debug build otherwise makes a new key each launch).
const SECRET_KEY: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";

async fn client(settings: Figment) -> Client {
    let client = Client::tracked(example_project::site(settings))
        .await
        .expect("the example launches");
    // The login form's page hands out the CSRF cookie.
    let status = client.get("/admin/login").dispatch().await.status();
    assert_eq!(status, Status::Ok);
    client
}

fn from(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40000)
}

/// POSTs the login form from `ip` (or with no address, as the local
/// client sends by default).
async fn log_in<'c>(client: &'c Client, user: &str, password: &str, ip: Option<&str>) -> LocalResponse<'c> {
    let csrf = client
        .cookies()
        .get("csrftoken")
        .expect("the CSRF cookie")
        .value()
        .to_owned();
    let encode = |text: &str| rocket::http::RawStr::new(text).percent_encode().to_string();
    let mut request = client
        .post("/admin/login")
        .header(ContentType::Form)
        .body(format!(
            "csrfmiddlewaretoken={csrf}&username={}&password={}",
            encode(user),
            encode(password)
        ));
    if let Some(ip) = ip {
        request = request.remote(from(ip));
    }
    request.dispatch().await
}

async fn logged_in(client: &Client, ip: Option<&str>) {
    let response = log_in(client, ADMIN_USER, ADMIN_PASSWORD, ip).await;
    assert_eq!(response.status(), Status::SeeOther, "the admin logs in");
    assert_eq!(response.headers().get_one("Location"), Some("/admin/"));
}

/// The session cookie's `Set-Cookie` header of a response.
fn session_set_cookie(response: &LocalResponse<'_>) -> String {
    response
        .headers()
        .get("Set-Cookie")
        .find(|value| value.starts_with(&format!("{SESSION}=")))
        .expect("the response sets the session cookie")
        .to_owned()
}

/// GETs the hit log with exactly this session cookie value (the raw,
/// encrypted one a browser keeps).
async fn hit_log_with<'c>(client: &'c Client, session: &str) -> LocalResponse<'c> {
    client
        .get("/admin/hits")
        .cookie(Cookie::new(SESSION, session.to_owned()))
        .dispatch()
        .await
}

fn assert_sent_to_login(response: &LocalResponse<'_>, why: &str) {
    assert_eq!(response.status(), Status::SeeOther, "{why}");
    assert_eq!(
        response.headers().get_one("Location"),
        Some("/admin/login"),
        "{why}"
    );
}

/// The raw value of the session cookie the client keeps.
fn session_cookie(client: &Client) -> String {
    client
        .cookies()
        .get(SESSION)
        .expect("logged in")
        .value()
        .to_owned()
}

#[tokio::test]
async fn the_cookie_from_before_logout_is_refused() {
    let db = TestDb::sqlite().await;
    let client = client(figment(&db.url)).await;
    logged_in(&client, None).await;
    let copy = session_cookie(&client);
    assert_eq!(hit_log_with(&client, &copy).await.status(), Status::Ok);

    let csrf = client.cookies().get("csrftoken").unwrap().value().to_owned();
    let out = client
        .post("/admin/logout")
        .header(ContentType::Form)
        .body(format!("csrfmiddlewaretoken={csrf}"))
        .dispatch()
        .await;
    assert_eq!(out.status(), Status::SeeOther);
    drop(out);
    assert!(
        client.cookies().get(SESSION).is_none(),
        "the browser's cookie is deleted"
    );

    let replayed = hit_log_with(&client, &copy).await;
    assert_sent_to_login(&replayed, "a copy of the cookie from before logout");

    // Logging in again is a new session; the old copy stays refused.
    logged_in(&client, None).await;
    assert_ne!(session_cookie(&client), copy);
    assert_eq!(client.get("/admin/hits").dispatch().await.status(), Status::Ok);
    assert_sent_to_login(&hit_log_with(&client, &copy).await, "still refused");
}

#[tokio::test]
async fn a_restart_with_a_new_password_ends_every_session() {
    let db = TestDb::sqlite().await;
    let settings = figment(&db.url).merge(("secret_key", SECRET_KEY));
    let before = client(settings.clone()).await;
    logged_in(&before, None).await;
    let copy = session_cookie(&before);
    assert_eq!(hit_log_with(&before, &copy).await.status(), Status::Ok);

    let new_hash = example_project::hash_password("a new password").unwrap();
    assert_ne!(new_hash, ADMIN_PASSWORD_HASH);
    let after = client(settings.merge(("admin.password_hash", new_hash))).await;
    assert_sent_to_login(
        &hit_log_with(&after, &copy).await,
        "a cookie sealed with the same key, from before the restart",
    );
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let db = TestDb::sqlite().await;
    let client = client(figment(&db.url).merge(("admin.session_lifetime", "2s"))).await;
    let response = log_in(&client, ADMIN_USER, ADMIN_PASSWORD, None).await;
    assert_eq!(response.status(), Status::SeeOther);
    let set_cookie = session_set_cookie(&response);
    assert!(set_cookie.contains("Max-Age=2"), "{set_cookie}");
    drop(response);
    let copy = session_cookie(&client);
    assert_eq!(hit_log_with(&client, &copy).await.status(), Status::Ok);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The copy is sent as is: the server, not the browser, ends it.
    assert_sent_to_login(&hit_log_with(&client, &copy).await, "a session past its lifetime");
}

/// Asserts a 429 whose message says whose failures and when to try
/// again, with a `Retry-After` within the window.
async fn assert_locked_out(response: LocalResponse<'_>, whose: &str) {
    assert_eq!(response.status(), Status::TooManyRequests);
    let retry_after: u64 = response
        .headers()
        .get_one("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    let page = response.into_string().await.unwrap();
    let error = text_of(&page, "login-error").expect("a message");
    assert!(
        error.starts_with(&format!("Too many failed logins {whose}. Try again in ")),
        "{error}"
    );
}

#[tokio::test]
async fn failed_logins_back_off_per_client_address() {
    let db = TestDb::sqlite().await;
    let client = client(figment(&db.url)).await;
    let (attacker, admin) = ("203.0.113.7", "198.51.100.2");
    for i in 0..5 {
        // A new name each time: only the address adds up.
        let response = log_in(&client, &format!("guess{i}"), "wrong", Some(attacker)).await;
        assert_eq!(response.status(), Status::Unauthorized, "failure {i}");
    }
    // Refused before the password is checked: the right one too.
    assert_locked_out(
        log_in(&client, ADMIN_USER, ADMIN_PASSWORD, Some(attacker)).await,
        "from this address",
    )
    .await;
    // A forwarding header from an untrusted peer does not change the address.
    let csrf = client.cookies().get("csrftoken").unwrap().value().to_owned();
    let spoofed = client
        .post("/admin/login")
        .header(ContentType::Form)
        .header(Header::new("X-Forwarded-For", "192.0.2.55"))
        .header(Header::new("X-Real-IP", "192.0.2.56"))
        .remote(from(attacker))
        .body(format!(
            "csrfmiddlewaretoken={csrf}&username=other&password=wrong"
        ))
        .dispatch()
        .await;
    assert_locked_out(spoofed, "from this address").await;

    logged_in(&client, Some(admin)).await;
}

#[tokio::test]
async fn failed_logins_back_off_per_user_name() {
    let db = TestDb::sqlite().await;
    let client = client(figment(&db.url)).await;
    for i in 0..5 {
        // A new address each time: only the name adds up.
        let response = log_in(&client, ADMIN_USER, "wrong", Some(&format!("203.0.113.{i}"))).await;
        assert_eq!(response.status(), Status::Unauthorized, "failure {i}");
    }
    assert_locked_out(
        log_in(&client, ADMIN_USER, ADMIN_PASSWORD, Some("198.51.100.2")).await,
        "for this user name",
    )
    .await;
    assert_locked_out(
        log_in(&client, ADMIN_USER, ADMIN_PASSWORD, None).await,
        "for this user name",
    )
    .await;
    // Other names from that address are not locked.
    let other = log_in(&client, "someone-else", "wrong", Some("198.51.100.2")).await;
    assert_eq!(other.status(), Status::Unauthorized);
}

#[tokio::test]
async fn a_successful_login_resets_the_back_off() {
    let db = TestDb::sqlite().await;
    let client = client(figment(&db.url).merge(("admin.max_failed_logins", 2))).await;
    let ip = Some("203.0.113.7");
    let wrong = log_in(&client, ADMIN_USER, "wrong", ip).await;
    assert_eq!(wrong.status(), Status::Unauthorized);
    drop(wrong);
    logged_in(&client, ip).await;
    for i in 0..2 {
        let response = log_in(&client, ADMIN_USER, "wrong", ip).await;
        assert_eq!(
            response.status(),
            Status::Unauthorized,
            "failure {i} after the success"
        );
    }
    assert_locked_out(
        log_in(&client, ADMIN_USER, ADMIN_PASSWORD, ip).await,
        "for this user name",
    )
    .await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_setting_says_so() {
    let db = TestDb::sqlite().await;
    for (secure, setting) in [(false, None), (false, Some(false)), (true, Some(true))] {
        let mut settings = figment(&db.url);
        if let Some(setting) = setting {
            settings = settings.merge(("admin.secure_cookie", setting));
        }
        let client = client(settings).await;
        let response = log_in(&client, ADMIN_USER, ADMIN_PASSWORD, None).await;
        assert_eq!(response.status(), Status::SeeOther);
        let set_cookie = session_set_cookie(&response);
        let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
        assert_eq!(
            attributes.contains(&"Secure"),
            secure,
            "{setting:?}: {set_cookie}"
        );
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/admin", "Max-Age=43200"] {
            assert!(attributes.contains(&attribute), "{attribute}: {set_cookie}");
        }
    }
}

/// Password checks run on Tokio's blocking threads: on a runtime with a
/// single worker thread (this test's), pages keep answering while logins
/// are checked. With Argon2 on the worker, each page would wait for the
/// checks in front of it, as long as a login takes.
#[tokio::test]
async fn a_burst_of_logins_does_not_stall_other_pages() {
    let db = TestDb::sqlite().await;
    let client = Arc::new(client(figment(&db.url)).await);
    assert_eq!(
        client.get("/about/?cookie_check=1").dispatch().await.status(),
        Status::Ok
    );

    let start = Instant::now();
    logged_in(&client, None).await;
    let one_login = start.elapsed();

    let logins: Vec<_> = (0..4)
        .map(|_| {
            let client = Arc::clone(&client);
            tokio::spawn(async move {
                for _ in 0..2 {
                    logged_in(&client, None).await;
                }
            })
        })
        .collect();
    let mut pages = Vec::new();
    while pages.len() < 3 || !logins.iter().all(|login| login.is_finished()) {
        let start = Instant::now();
        // The local client answers without I/O, so the page alone might
        // never give the logins their turn: yielding does, and the time
        // they then hold the thread counts against the page.
        tokio::task::yield_now().await;
        let response = client.get("/about/?cookie_check=1").dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        pages.push(start.elapsed());
    }
    for login in logins {
        login.await.expect("the logins succeed");
    }
    // Each page may wait for a login's own request handling, never for
    // a password check. With the checks on the worker, the logins ready at
    // a page's turn all run their checks first, which takes several
    // logins' time (eight here); on a shared two-core machine the blocking
    // threads may still slow the worker, hence the margin.
    let slowest = pages.iter().max().expect("pages");
    assert!(
        *slowest < 3 * one_login,
        "the slowest of {} pages took {slowest:?} while logins ran; one login alone took {one_login:?}",
        pages.len()
    );
}
