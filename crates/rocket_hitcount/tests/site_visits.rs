//! The visits of the whole site that the visitor cookie keeps with
//! `cookie.visit_interval` (the Django tutorial's `visits` and
//! `last_visit`), on SQLite, PostgreSQL and MariaDB, with the counter's clock moved
//! a day forward: one visit an interval, nothing kept by default, old and
//! tampered cookies.

#[macro_use]
extern crate hitcount_testing;
use hitcount_testing as common;

use chrono::TimeDelta;
use hitcount::ObjectRef;
use rocket::error::ErrorKind;
use rocket::http::{Cookie, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Build, Rocket};
use rocket_db_pools::{sqlx, Database};
use rocket_hitcount::{HitContext, HitCount, Hits};

use common::TestDb;

storage_tests!(
    mariadb;
    a_visit_counts_once_a_day,
    counting_pages_show_the_site_visits,
    off_by_default_the_cookie_carries_nothing_more,
    cookies_without_site_visits_still_read,
    tampered_cookies_count_as_absent,
    a_zero_interval_stops_the_launch,
);

#[derive(Database)]
#[database("hits")]
struct SqliteHits(sqlx::SqlitePool);

#[derive(Database)]
#[database("hits")]
struct PgHits(sqlx::PgPool);

#[derive(Database)]
#[database("hits")]
struct MariaDbHits(sqlx::MySqlPool);

const COOKIE: &str = "hitcount_visitor";

/// A page that only takes the guard.
#[get("/")]
fn home(hits: Hits<'_>) -> Json<Value> {
    Json(json!({
        "site_visits": hits.site_visits(),
        "returned_cookie": hits.returned_cookie(),
        "session_key": hits.visitor().session_key(),
    }))
}

/// A page that counts a hit on post `id`.
#[get("/post/<id>")]
async fn post(id: i64, hits: Hits<'_>) -> Json<HitContext> {
    let object = ObjectRef::new("blog.post", id).unwrap();
    Json(hits.count(&object).await.unwrap())
}

/// The app on `db`, with the test clock and `cookie` settings.
fn app(db: &TestDb, cookie: Value) -> Rocket<Build> {
    let hitcount = json!({
        "secret_key": "test secret key, thirty-two chars long",
        "cookie": cookie,
    });
    let figment = rocket::Config::figment()
        .merge(("databases.hits.url", db.url.clone()))
        .merge(("hitcount", hitcount))
        .merge(("log_level", "off"));
    let app = rocket::custom(figment).mount("/", routes![home, post]);
    if db.is_postgres() {
        let hitcount = HitCount::init::<PgHits>().with_clock(db.clock.clock());
        app.attach(PgHits::init()).attach(hitcount)
    } else if db.is_mariadb() {
        let hitcount = HitCount::init::<MariaDbHits>().with_clock(db.clock.clock());
        app.attach(MariaDbHits::init()).attach(hitcount)
    } else {
        let hitcount = HitCount::init::<SqliteHits>().with_clock(db.clock.clock());
        app.attach(SqliteHits::init()).attach(hitcount)
    }
}

/// A client that keeps cookies, like a browser.
async fn browser(db: &TestDb, cookie: Value) -> Client {
    Client::tracked(app(db, cookie)).await.expect("the app launches")
}

/// A client that keeps no cookies: each request sends what the test says.
async fn curl(db: &TestDb, cookie: Value) -> Client {
    Client::untracked(app(db, cookie))
        .await
        .expect("the app launches")
}

/// The visitor cookie a response sets, if any.
fn set_cookie(response: &LocalResponse<'_>) -> Option<String> {
    response.cookies().get(COOKIE).map(|c| c.value().to_owned())
}

/// The readable part of a signed cookie's value.
fn payload(value: &str) -> &str {
    value.rsplit_once('.').expect("a signed value").0
}

async fn body(response: LocalResponse<'_>) -> Value {
    assert_eq!(response.status(), Status::Ok);
    response.into_json::<Value>().await.expect("a JSON body")
}

/// GET `path`: the body and the visitor cookie set, if any.
async fn visit(client: &Client, path: &str) -> (Value, Option<String>) {
    let response = client.get(path.to_owned()).dispatch().await;
    let cookie = set_cookie(&response);
    (body(response).await, cookie)
}

/// The first view counts, a second one the same day does not (and sets
/// no cookie), one a day after the last counted visit does.
async fn a_visit_counts_once_a_day(db: &TestDb) {
    let client = browser(db, json!({ "visit_interval": "1 day", "mode": "signed" })).await;
    let (first, cookie) = visit(&client, "/").await;
    assert_eq!(first["site_visits"], 1);
    let cookie = cookie.expect("a first visit gets the cookie");
    let first_time = db.clock.now().timestamp();
    assert!(
        payload(&cookie).ends_with(&format!("~1:{first_time}")),
        "the counter's time, not the system's: {cookie}"
    );

    let (again, cookie) = visit(&client, "/").await;
    assert_eq!(again["site_visits"], 1, "the same day");
    assert_eq!(again["returned_cookie"], true);
    assert_eq!(cookie, None, "nothing changed: no Set-Cookie");

    db.clock.advance(TimeDelta::hours(23));
    assert_eq!(visit(&client, "/").await.0["site_visits"], 1, "23 hours later");

    db.clock.advance(TimeDelta::hours(1));
    let (next_day, cookie) = visit(&client, "/").await;
    assert_eq!(next_day["site_visits"], 2, "a day later");
    assert_eq!(next_day["session_key"], again["session_key"], "the same session");
    let cookie = cookie.expect("the counted visit is kept");
    let now = db.clock.now().timestamp();
    assert!(payload(&cookie).ends_with(&format!("~2:{now}")), "{cookie}");

    // The day runs from the last counted visit, not from midnight.
    db.clock.advance(TimeDelta::hours(12));
    assert_eq!(visit(&client, "/").await.0["site_visits"], 2);
    db.clock.advance(TimeDelta::days(3));
    assert_eq!(
        visit(&client, "/").await.0["site_visits"],
        3,
        "one visit however long away"
    );
}

/// `HitContext` carries the site visits beside the visits of the object,
/// and counting a hit counts no second visit of the site.
async fn counting_pages_show_the_site_visits(db: &TestDb) {
    let client = browser(db, json!({ "visit_interval": "1 day", "visit_counts": true })).await;
    let (first, _) = visit(&client, "/post/1").await;
    assert_eq!((&first["site_visits"], &first["visits"]), (&json!(1), &json!(1)));
    let (second, _) = visit(&client, "/post/1").await;
    assert_eq!(
        (&second["site_visits"], &second["visits"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(visit(&client, "/").await.0["site_visits"], 1);
    db.clock.advance(TimeDelta::days(1));
    let (tomorrow, _) = visit(&client, "/post/2").await;
    assert_eq!(
        (&tomorrow["site_visits"], &tomorrow["visits"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(visit(&client, "/").await.0["site_visits"], 2);

    // A client that keeps no cookies is always at its first visit.
    let curl = curl(db, json!({ "visit_interval": "1 day" })).await;
    for _ in 0..2 {
        assert_eq!(visit(&curl, "/").await.0["site_visits"], 1);
    }
}

/// Without the setting nothing is kept: `None`, and the cookie is the
/// four parts it has always had.
async fn off_by_default_the_cookie_carries_nothing_more(db: &TestDb) {
    let client = browser(db, json!({ "mode": "signed" })).await;
    let (first, cookie) = visit(&client, "/").await;
    assert_eq!(first["site_visits"], Value::Null);
    let cookie = cookie.expect("a first visit gets the cookie");
    let parts: Vec<&str> = payload(&cookie).split('~').collect();
    assert_eq!(parts.len(), 4, "key, visits, previous key, issued: {cookie}");
    assert_eq!(parts[1], "", "no visits kept");
    let (again, cookie) = visit(&client, "/").await;
    assert_eq!(again["site_visits"], Value::Null);
    assert_eq!(cookie, None);
    db.clock.advance(TimeDelta::days(1));
    let (counted, cookie) = visit(&client, "/post/1").await;
    assert_eq!(counted["site_visits"], Value::Null);
    assert_eq!(cookie, None, "not due for renewal, nothing to keep");
}

/// A cookie of an app without the setting (the format of earlier
/// builds) is read by one with it: same session, its first visit
/// counted. And one with site visits is read by an app without the
/// setting, which shows none and keeps the cookie as it is.
async fn cookies_without_site_visits_still_read(db: &TestDb) {
    let off = curl(db, json!({ "mode": "signed" })).await;
    let (_, plain) = visit(&off, "/").await;
    let plain = plain.expect("a first visit gets the cookie");

    let on = curl(db, json!({ "mode": "signed", "visit_interval": "1 day" })).await;
    let response = on
        .get("/")
        .cookie(Cookie::new(COOKIE, plain.clone()))
        .dispatch()
        .await;
    let upgraded = set_cookie(&response).expect("the counted visit is kept");
    let page = body(response).await;
    assert_eq!(page["returned_cookie"], true, "the old cookie is read");
    assert_eq!(page["site_visits"], 1);
    assert_eq!(
        payload(&upgraded).split('~').next(),
        payload(&plain).split('~').next(),
        "the same session key"
    );

    let response = off
        .get("/")
        .cookie(Cookie::new(COOKIE, upgraded))
        .dispatch()
        .await;
    assert_eq!(set_cookie(&response), None);
    let page = body(response).await;
    assert_eq!(page["returned_cookie"], true);
    assert_eq!(page["site_visits"], Value::Null, "not shown without the setting");
}

/// Garbled, edited or foreign values do not panic: the cookie counts as
/// absent, and the visitor is at a first visit with a new cookie.
async fn tampered_cookies_count_as_absent(db: &TestDb) {
    for mode in ["signed", "private"] {
        let client = curl(db, json!({ "mode": mode, "visit_interval": "1 day" })).await;
        let (_, value) = visit(&client, "/").await;
        let value = value.expect("a first visit gets the cookie");
        let mut garbled = vec![
            String::new(),
            "~".into(),
            "~~~~~".into(),
            "abc~~~0~99:1".into(),
            "abc~~~0~99:1.c2lnbmF0dXJl".into(),
            "\u{e9}t\u{e9}".into(),
            "%00%ff".into(),
            "a".repeat(5000),
            format!("{value}x"),
            value[1..].to_owned(),
        ];
        if mode == "signed" {
            // Claiming more visits breaks the signature.
            let (payload, signature) = value.rsplit_once('.').unwrap();
            let (rest, site) = payload.rsplit_once('~').unwrap();
            assert!(site.starts_with("1:"), "{payload}");
            let claimed = site.replacen('1', "999", 1);
            garbled.push(format!("{rest}~{claimed}.{signature}"));
            garbled.push(format!("{rest}~{site}~{claimed}.{signature}"));
            garbled.push(format!("{rest}~999:-1.{signature}"));
            garbled.push(format!("{rest}.{signature}"));
        }
        for bad in garbled {
            let response = client
                .get("/")
                .cookie(Cookie::new(COOKIE, bad.clone()))
                .dispatch()
                .await;
            assert!(set_cookie(&response).is_some(), "{mode} {bad:?}: a new cookie");
            let page = body(response).await;
            assert_eq!(page["returned_cookie"], false, "{mode} {bad:?}");
            assert_eq!(page["site_visits"], 1, "{mode} {bad:?}");
        }
    }
}

/// A zero interval is refused at ignite.
async fn a_zero_interval_stops_the_launch(db: &TestDb) {
    let refused = app(db, json!({ "visit_interval": "0 seconds" })).ignite().await;
    let failed = match refused {
        Ok(_) => false,
        // Looked at, so that Rocket's error does not panic when dropped.
        Err(e) => matches!(
            e.kind(),
            ErrorKind::FailedFairings(failed) if failed.iter().any(|f| f.name == "rocket-hitcount")
        ),
    };
    assert!(failed, "the launch stops in the fairing");
    let config = rocket_hitcount::Config::from_figment(
        &rocket::figment::Figment::new().merge(("hitcount.cookie.visit_interval", "0s")),
    )
    .unwrap_err();
    assert_eq!(config.key(), "hitcount.cookie.visit_interval");
    assert_eq!(config.kind(), rocket_hitcount::ConfigErrorKind::ZeroDuration);
}
