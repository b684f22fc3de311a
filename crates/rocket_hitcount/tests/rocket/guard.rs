//! The counting guard (django-hitcount's HitCountDetailView tests), the
//! visitor cookie, cookieless clients, client IPs and users.

use rocket::http::{Cookie, Header};
use rocket::local::asynchronous::Client;
use rocket::serde::json::json;

use crate::app::{addr, browser, curl, json};
use crate::common::TestDb;

storage_tests!(
    mariadb;
    counting_view_gives_total_and_message,
    counting_view_counts_once_per_session,
    non_counting_view_gives_total_0,
    cookieless_clients_count_once,
    browsers_behind_one_address_get_their_own_sessions,
    visitor_cookie_attributes,
    browser_session_cookie_and_secure,
    returned_cookie_and_visits,
    cookie_set_once_without_visit_counts,
    signed_cookies_and_tampering,
    private_cookies_and_tampering,
    forwarded_headers_ignored_without_trusted_proxy,
    forwarded_headers_used_from_trusted_proxy,
    proxies_that_set_x_real_ip,
    users_and_excluded_groups,
    html_pages_get_the_csrf_cookie,
    a_second_guard_keeps_the_counted_visit,
);

async fn counting_view_gives_total_and_message(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let context = json(client.get("/post/1").dispatch().await).await;
    assert_eq!(context["total_hits"], 1);
    assert_eq!(context["hit_counted"], true);
    assert_eq!(context["hit_message"], "Hit counted: session key");
    assert!(context["pk"].as_i64().unwrap() > 0);
}

async fn counting_view_counts_once_per_session(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let first = json(client.get("/post/1").dispatch().await).await;
    let second = json(client.get("/post/1").dispatch().await).await;
    assert_eq!(
        (first["total_hits"].as_i64(), second["total_hits"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(second["hit_message"], "Not counted: session key has active hit");
    assert_eq!(first["pk"], second["pk"]);
}

async fn non_counting_view_gives_total_0(db: &TestDb) {
    let client = browser(db, json!({})).await;
    assert_eq!(
        json(client.get("/post/1/view").dispatch().await).await,
        json!({"pk": null, "total_hits": 0})
    );
    json(client.get("/post/1").dispatch().await).await;
    let view = json(client.get("/post/1/view").dispatch().await).await;
    assert_eq!(view["total_hits"], 1);
}

/// 20 requests without cookies from one IP and user agent count 1.
async fn cookieless_clients_count_once(db: &TestDb) {
    let client = curl(db, json!({})).await;
    let mut counted = 0;
    for _ in 0..20 {
        let response = client
            .get("/post/1")
            .remote(addr("203.0.113.7"))
            .header(Header::new(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            ))
            .dispatch()
            .await;
        let answer = json(response).await;
        if answer["hit_counted"] == true {
            counted += 1;
        } else {
            // Not blamed on a session key the client never had.
            assert_eq!(answer["hit_message"], rocket_hitcount::COOKIELESS_ACTIVE_HIT);
        }
    }
    assert_eq!(counted, 1);
    // Another address, or another user agent, is another visitor.
    let other = client.get("/post/1").remote(addr("203.0.113.8")).dispatch().await;
    assert_eq!(json(other).await["hit_counted"], true);
    // The derived key stands in for the session, never the IP in clear.
    let about = json(client.get("/about").remote(addr("203.0.113.7")).dispatch().await).await;
    let key = about["session_key"].as_str().unwrap();
    assert_eq!(key.len(), 40);
    assert!(!key.contains("203.0.113.7"));
    assert_eq!(about["returned_cookie"], false);
}

/// Two browsers with one user agent behind one address share the derived
/// key only for their first request: their cookies carry random keys.
async fn browsers_behind_one_address_get_their_own_sessions(db: &TestDb) {
    async fn key_of(client: &Client) -> String {
        let about = client.get("/about").remote(addr("192.0.2.10")).dispatch().await;
        json(about).await["session_key"].as_str().unwrap().to_owned()
    }
    let (alice, bob) = (browser(db, json!({})).await, browser(db, json!({})).await);
    let (alice_first, bob_first) = (key_of(&alice).await, key_of(&bob).await);
    assert_eq!(alice_first, bob_first, "no cookie yet: the derived key");
    let (alice_next, bob_next) = (key_of(&alice).await, key_of(&bob).await);
    assert_ne!(alice_next, bob_next);
    assert_ne!(alice_next, alice_first);
    let first = alice.get("/post/1").remote(addr("192.0.2.10")).dispatch().await;
    assert_eq!(json(first).await["hit_counted"], true);
    let second = bob.get("/post/1").remote(addr("192.0.2.10")).dispatch().await;
    assert_eq!(json(second).await["hit_counted"], true, "Bob is not Alice");
}

async fn visitor_cookie_attributes(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let response = client.get("/post/1").dispatch().await;
    let cookie = visitor_cookie(&response, "the visitor cookie is set");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(rocket::http::SameSite::Lax));
    assert_eq!(cookie.max_age(), Some(rocket::time::Duration::days(14)));
    // Max-Age alone: no `Expires` that could say otherwise (Rocket gives
    // the private cookies of its own jar a week).
    assert_eq!(cookie.expires(), None);
    let header = response
        .headers()
        .get("Set-Cookie")
        .find(|h| h.starts_with("hitcount_visitor="))
        .unwrap();
    assert!(!header.contains("Expires"), "{header}");
    assert_eq!(cookie.path(), Some("/"));
    assert_ne!(cookie.secure(), Some(true));
    // A shared cache must not hand this response to other visitors.
    assert!(response.headers().get("Vary").any(|v| v == "Cookie"));
    // Private: the session key is not readable in the cookie, whose value
    // is URL-safe base64 (nothing to escape).
    let about = json(client.get("/about").dispatch().await).await;
    assert!(!cookie.value().contains(about["session_key"].as_str().unwrap()));
    assert!(cookie
        .value()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

/// The visitor cookie a response sets; panics with `why` when it sets none.
fn visitor_cookie(response: &rocket::local::asynchronous::LocalResponse<'_>, why: &str) -> Cookie<'static> {
    response
        .cookies()
        .get("hitcount_visitor")
        .expect(why)
        .clone()
        .into_owned()
}

/// The visitor cookie of a tracked client's first visit to `/post/1`,
/// after checking that the second visit returned it (not counted, two visits).
async fn first_visitor_cookie(client: &Client) -> String {
    let first = client.get("/post/1").dispatch().await;
    let genuine = first
        .cookies()
        .get("hitcount_visitor")
        .expect("the visitor cookie is set")
        .value()
        .to_owned();
    json(first).await;
    let again = json(client.get("/post/1").dispatch().await).await;
    assert_eq!(again["hit_message"], "Not counted: session key has active hit");
    assert_eq!(again["visits"], 2);
    genuine
}

/// Whether the app believes a visitor cookie `name=value`.
async fn believed(client: &Client, name: &str, value: &str) -> bool {
    let about = client
        .get("/about")
        .cookie(Cookie::new(name.to_owned(), value.to_owned()))
        .dispatch()
        .await;
    json(about).await["returned_cookie"] == true
}

async fn private_cookies_and_tampering(db: &TestDb) {
    let client = browser(db, json!({ "cookie": { "visit_counts": true } })).await;
    let genuine = first_visitor_cookie(&client).await;
    // A changed byte, a value cut short or garbage: not believed, the
    // cookie counts as absent.
    let mut flipped = genuine.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        flipped.as_str(),
        &genuine[..genuine.len() - 3],
        "not-a-cookie",
        "",
    ] {
        assert!(!believed(&client, "hitcount_visitor", bad).await, "{bad}");
    }
    // Sealed under `hitcount.secret_key`: another app's key opens nothing.
    let other = browser(
        db,
        json!({ "secret_key": "another secret key, thirty-two chars" }),
    )
    .await;
    assert!(!believed(&other, "hitcount_visitor", &genuine).await);
    let renamed = browser(db, json!({ "cookie": { "name": "visitor" } })).await;
    assert!(
        !believed(&renamed, "visitor", &genuine).await,
        "bound to its cookie's name"
    );
    assert!(
        believed(&client, "hitcount_visitor", &genuine).await,
        "the genuine value still opens"
    );
}

async fn browser_session_cookie_and_secure(db: &TestDb) {
    let client = browser(
        db,
        json!({ "cookie": { "name": "visitor", "expire_at_browser_close": true, "secure": true } }),
    )
    .await;
    let response = client.get("/post/1").dispatch().await;
    let cookie = response
        .cookies()
        .get("visitor")
        .expect("the renamed cookie is set")
        .clone();
    assert_eq!(cookie.max_age(), None);
    assert!(
        cookie.expires().is_none_or(|e| e.is_session()),
        "{:?}",
        cookie.expires()
    );
    assert_eq!(cookie.secure(), Some(true));
}

/// Django's test cookie, and "You have visited this page N times".
async fn returned_cookie_and_visits(db: &TestDb) {
    let client = browser(db, json!({ "cookie": { "visit_counts": true } })).await;
    assert_eq!(
        json(client.get("/about").dispatch().await).await["returned_cookie"],
        false
    );
    let visits: Vec<i64> = {
        let mut visits = Vec::new();
        for _ in 0..3 {
            visits.push(
                json(client.get("/post/1").dispatch().await).await["visits"]
                    .as_i64()
                    .unwrap(),
            );
        }
        visits
    };
    assert_eq!(visits, [1, 2, 3]);
    assert_eq!(json(client.get("/post/2").dispatch().await).await["visits"], 1);
    assert_eq!(
        json(client.get("/about").dispatch().await).await["returned_cookie"],
        true
    );
}

/// By default the cookie holds no visit counts and is set once: a
/// returning browser's pages carry no `Set-Cookie` (a shared cache may
/// keep them, per `Vary: Cookie`), and its cookie goes on being believed,
/// until it has less left than `keep_hit_active`.
async fn cookie_set_once_without_visit_counts(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let first = client.get("/post/1").dispatch().await;
    assert!(
        first.cookies().get("hitcount_visitor").is_some(),
        "set on the first visit"
    );
    let first = json(first).await;
    assert_eq!(
        (&first["hit_counted"], &first["visits"]),
        (&json!(true), &json!(null))
    );
    for _ in 0..2 {
        let again = client.get("/post/1").dispatch().await;
        assert_eq!(
            again.headers().get("Set-Cookie").count(),
            0,
            "a returning browser gets no Set-Cookie"
        );
        let again = json(again).await;
        assert_eq!(again["hit_message"], "Not counted: session key has active hit");
        assert_eq!(again["visits"], json!(null), "no visit counts kept");
    }
    // Another object is counted under the same cookie, still not set again.
    let other = client.get("/post/2").dispatch().await;
    assert_eq!(other.headers().get("Set-Cookie").count(), 0);
    assert_eq!(json(other).await["hit_message"], "Hit counted: session key");
    assert_eq!(
        json(client.get("/about").dispatch().await).await["returned_cookie"],
        true
    );
    // A cookie that would end before a hit made now stops being active is
    // set again, with the same key: here once less than 30 of its 34
    // seconds are left.
    let short = browser(
        db,
        json!({ "keep_hit_active": "30 seconds", "cookie": { "max_age": "34 seconds" } }),
    )
    .await;
    json(short.get("/post/1").dispatch().await).await;
    let key = json(short.get("/about").dispatch().await).await["session_key"].clone();
    let not_yet = short.get("/post/1").dispatch().await;
    assert_eq!(
        not_yet.headers().get("Set-Cookie").count(),
        0,
        "33 s or more left"
    );
    json(not_yet).await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let due = short.get("/post/1").dispatch().await;
    let renewed = visitor_cookie(&due, "renewed: it would die inside the active window");
    assert_eq!(renewed.max_age(), Some(rocket::time::Duration::seconds(34)));
    assert_eq!(
        json(due).await["hit_message"],
        "Not counted: session key has active hit"
    );
    assert_eq!(
        json(short.get("/about").dispatch().await).await["session_key"],
        key,
        "the same visitor"
    );
    let after = short.get("/post/1").dispatch().await;
    assert_eq!(
        after.headers().get("Set-Cookie").count(),
        0,
        "renewed once, not again"
    );
    // A cookie shorter than `keep_hit_active` launches (with a warning,
    // see `Config::warnings`) and is set again on every page that counts,
    // keeping the visitor's key.
    let shorter = browser(
        db,
        json!({ "keep_hit_active": "1 hour", "cookie": { "max_age": "30 minutes" } }),
    )
    .await;
    let first = shorter.get("/post/1").dispatch().await;
    visitor_cookie(&first, "set on the first visit");
    json(first).await;
    let key = json(shorter.get("/about").dispatch().await).await["session_key"].clone();
    for _ in 0..2 {
        let again = shorter.get("/post/1").dispatch().await;
        let cookie = visitor_cookie(&again, "always due: it runs out inside the active window");
        assert_eq!(cookie.max_age(), Some(rocket::time::Duration::minutes(30)));
        assert_eq!(
            json(again).await["hit_message"],
            "Not counted: session key has active hit"
        );
    }
    assert_eq!(
        json(shorter.get("/about").dispatch().await).await["session_key"],
        key,
        "the same visitor"
    );
}

async fn signed_cookies_and_tampering(db: &TestDb) {
    let client = browser(
        db,
        json!({ "cookie": { "mode": "signed", "visit_counts": true } }),
    )
    .await;
    let genuine = first_visitor_cookie(&client).await;
    // Readable but signed: a visitor who edits it (here, claiming 98 more
    // visits) is not believed, and the cookie counts as absent.
    assert!(genuine.contains("~1:1~"), "{genuine}");
    let edited = genuine.replace("~1:1~", "~1:99~");
    let tampered = client
        .get("/post/1")
        .cookie(Cookie::new("hitcount_visitor", edited))
        .dispatch()
        .await;
    assert_eq!(json(tampered).await["visits"], 1);
    assert!(!believed(&client, "hitcount_visitor", &("f".repeat(40) + "~~.sig")).await);
}

async fn forwarded_headers_ignored_without_trusted_proxy(db: &TestDb) {
    let client = curl(db, json!({ "ip_storage": "full" })).await;
    let spoofed = client
        .get("/about")
        .remote(addr("203.0.113.7"))
        .header(Header::new("X-Forwarded-For", "198.51.100.1"))
        .header(Header::new("X-Real-IP", "198.51.100.2"))
        .dispatch()
        .await;
    assert_eq!(json(spoofed).await["ip"], "203.0.113.7");
    let counted = client
        .get("/post/1")
        .remote(addr("203.0.113.7"))
        .header(Header::new("X-Forwarded-For", "198.51.100.1"))
        .dispatch()
        .await;
    assert_eq!(json(counted).await["hit_counted"], true);
    let state = rocket_hitcount::HitCount::fetch(client.rocket()).unwrap();
    let hits = state
        .counter()
        .admin()
        .list_hits(&Default::default())
        .await
        .unwrap();
    assert_eq!(
        hits.hits[0].ip.as_deref(),
        Some("203.0.113.7"),
        "the recorded IP is the peer"
    );
}

async fn forwarded_headers_used_from_trusted_proxy(db: &TestDb) {
    let client = curl(
        db,
        json!({ "ip_storage": "full", "trusted_proxies": ["10.0.0.0/8"] }),
    )
    .await;
    let ip_of = |remote: &'static str, xff: &'static str| {
        let client = &client;
        async move {
            let response = client
                .get("/about")
                .remote(addr(remote))
                .header(Header::new("X-Forwarded-For", xff))
                .dispatch()
                .await;
            json(response).await["ip"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(ip_of("10.0.0.2", "1.1.1.1, 198.51.100.1").await, "198.51.100.1");
    assert_eq!(ip_of("10.0.0.2", "198.51.100.1, 10.0.0.9").await, "198.51.100.1");
    assert_eq!(ip_of("203.0.113.7", "198.51.100.1").await, "203.0.113.7");
    let counted = client
        .get("/post/1")
        .remote(addr("10.0.0.2"))
        .header(Header::new("X-Forwarded-For", "2001:db8::7"))
        .dispatch()
        .await;
    assert_eq!(json(counted).await["hit_counted"], true);
    let state = rocket_hitcount::HitCount::fetch(client.rocket()).unwrap();
    let hits = state
        .counter()
        .admin()
        .list_hits(&Default::default())
        .await
        .unwrap();
    assert_eq!(hits.hits[0].ip.as_deref(), Some("2001:db8::7"));
}

/// A proxy that sets X-Real-IP passes the client's own X-Forwarded-For
/// through: with `proxy_header = "X-Real-IP"` only X-Real-IP is believed.
async fn proxies_that_set_x_real_ip(db: &TestDb) {
    let client = curl(
        db,
        json!({ "trusted_proxies": ["10.0.0.0/8"], "proxy_header": "X-Real-IP" }),
    )
    .await;
    let response = client
        .get("/about")
        .remote(addr("10.0.0.2"))
        .header(Header::new("X-Forwarded-For", "198.51.100.66"))
        .header(Header::new("X-Real-IP", "203.0.113.5"))
        .dispatch()
        .await;
    assert_eq!(json(response).await["ip"], "203.0.113.5");
}

async fn users_and_excluded_groups(db: &TestDb) {
    let client = browser(db, json!({ "exclude_user_groups": ["Admin"] })).await;
    let admin = client
        .get("/post/1")
        .header(Header::new("X-Test-User", "7;Admin,Staff"))
        .dispatch()
        .await;
    assert_eq!(
        json(admin).await["hit_message"],
        "Not counted: user excluded by group"
    );
    let reader = client
        .get("/post/1")
        .header(Header::new("X-Test-User", "8;Readers"))
        .dispatch()
        .await;
    assert_eq!(
        json(reader).await["hit_message"],
        "Hit counted: user authentication"
    );
    let again = client
        .get("/post/1")
        .header(Header::new("X-Test-User", "8;Readers"))
        .dispatch()
        .await;
    assert_eq!(
        json(again).await["hit_message"],
        "Not counted: authenticated user has active hit"
    );
}

async fn html_pages_get_the_csrf_cookie(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let first = client.get("/page").dispatch().await;
    let token = first
        .cookies()
        .get("csrftoken")
        .expect("an HTML page hands out the CSRF cookie")
        .clone();
    assert_eq!(token.value().len(), 32);
    assert_ne!(token.http_only(), Some(true), "scripts must read it");
    let second = client.get("/page").dispatch().await;
    assert!(
        second.cookies().get("csrftoken").is_none(),
        "not handed out again"
    );
    // JSON answers do not get it.
    let fresh = browser(db, json!({})).await;
    let django = fresh
        .get("/page")
        .cookie(Cookie::new("csrftoken", "AbCdEfGh12345678AbCdEfGh12345678"))
        .dispatch()
        .await;
    assert!(
        django.cookies().get("csrftoken").is_none(),
        "a Django app's token on the domain is kept"
    );
    let json_page = fresh.get("/post/9/view").dispatch().await;
    assert!(json_page
        .headers()
        .get("Set-Cookie")
        .all(|c| !c.starts_with("csrftoken")));
}

/// A guard that only goes out of scope never sets an older cookie over the
/// one counting set in the same request: the visit stays recorded.
async fn a_second_guard_keeps_the_counted_visit(db: &TestDb) {
    let client = browser(db, json!({ "cookie": { "visit_counts": true } })).await;
    let first = json(client.get("/post/1/twice").dispatch().await).await;
    assert_eq!(first["visits"], 1);
    let second = json(client.get("/post/1").dispatch().await).await;
    assert_eq!(second["visits"], 2, "the first response's cookie held its visit");
}
