//! `cookie.mode = "none"`: no cookie on any answer, every visitor counted
//! by its cookieless key once per object per UTC day, the AJAX endpoint on
//! the same-origin check and the page token, and nothing personal kept.

use chrono::TimeDelta;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::serde::json::{json, Value};
use rocket_hitcount::COOKIELESS_ACTIVE_HIT;

use crate::app::{addr, error_of, figment, json, rocket_on_clock};
use crate::common::TestDb;

storage_tests!(
    mariadb;
    no_answer_sets_a_cookie,
    the_endpoint_counts_without_a_csrf_cookie,
    a_visitor_counts_once_per_object_and_day,
    nothing_personal_is_kept,
);

/// The test app in cookie-free mode on the test clock, as a browser that
/// would keep any cookie it got.
async fn cookie_free(db: &TestDb) -> Client {
    let settings = json!({
        "cookie": { "mode": "none" },
        "private_hit_log": true,
        "ip_storage": "none",
    });
    let (app, _) = rocket_on_clock(db, figment(db, settings), db.clock.clock());
    Client::tracked(app).await.expect("the app launches")
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0 Safari/537.36";

/// `path` from `ip` with `agent`, asserting that the answer sets no cookie.
async fn get<'c>(client: &'c Client, path: &str, ip: &str, agent: &str) -> LocalResponse<'c> {
    let response = client
        .get(path.to_owned())
        .remote(addr(ip))
        .header(Header::new("User-Agent", agent.to_owned()))
        .dispatch()
        .await;
    no_cookie(&response, path);
    response
}

fn no_cookie(response: &LocalResponse<'_>, path: &str) {
    let set: Vec<&str> = response.headers().get("Set-Cookie").collect();
    assert!(set.is_empty(), "{path} sets {set:?}");
}

/// The AJAX endpoint's form for the script variables `vars` (a
/// `JsContext` as JSON).
fn hit_form(vars: &Value) -> String {
    format!(
        "hitcountPK={}&hitcountToken={}",
        vars["pk"],
        vars["token"].as_str().unwrap()
    )
}

/// POSTs `form` to the AJAX endpoint from `ip` with `agent`, with no CSRF
/// token, plus `headers`; asserts that the answer sets no cookie.
async fn post_hit<'c>(
    client: &'c Client,
    (ip, agent): (&str, &'static str),
    form: &str,
    headers: &[(&'static str, &'static str)],
) -> LocalResponse<'c> {
    let mut request = client
        .post("/hitcount/hit/ajax")
        .remote(addr(ip))
        .header(ContentType::Form)
        .header(Header::new("User-Agent", agent))
        .body(form);
    for (name, value) in headers {
        request = request.header(Header::new(*name, *value));
    }
    let response = request.dispatch().await;
    no_cookie(&response, "/hitcount/hit/ajax");
    response
}

async fn no_answer_sets_a_cookie(db: &TestDb) {
    let client = cookie_free(db).await;
    // Pages (HTML ones would get the CSRF cookie), the counting guard,
    // the script variables, the CSRF route, the scripts.
    for path in [
        "/page",
        "/post/1",
        "/post/1",
        "/post/1/view",
        "/post/1/js",
        "/about",
        "/browser/fetch/3",
        "/hitcount/static/hitcount.js",
    ] {
        let response = get(&client, path, "192.0.2.10", FIREFOX).await;
        assert_eq!(response.status(), Status::Ok, "{path}");
    }
    let csrf = json(get(&client, "/hitcount/csrf", "192.0.2.10", FIREFOX).await).await;
    assert_eq!(csrf, json!({ "csrftoken": null }), "no CSRF token, no cookie");
    let about = json(get(&client, "/about", "192.0.2.10", FIREFOX).await).await;
    assert_eq!(about["returned_cookie"], false);
    // A visitor cookie the browser kept from before the switch (the same
    // site, with cookies, made it) is not read.
    let before = Client::untracked(crate::app::rocket(db, json!({})))
        .await
        .unwrap();
    let first = before.get("/about").dispatch().await;
    let kept = first
        .cookies()
        .get("hitcount_visitor")
        .expect("the cookie, before")
        .value()
        .to_owned();
    fn with_cookie<'c>(client: &'c Client, kept: &str) -> rocket::local::asynchronous::LocalRequest<'c> {
        client
            .get("/about")
            .remote(addr("192.0.2.10"))
            .header(Header::new("User-Agent", FIREFOX))
            .cookie(rocket::http::Cookie::new("hitcount_visitor", kept.to_owned()))
    }
    let back = json(with_cookie(&before, &kept).dispatch().await).await;
    assert_eq!(back["returned_cookie"], true, "a valid cookie, with cookies");
    let old = with_cookie(&client, &kept).dispatch().await;
    no_cookie(&old, "/about with an old cookie");
    let old = json(old).await;
    assert_eq!(
        (&old["returned_cookie"], &old["session_key"]),
        (&json!(false), &about["session_key"])
    );
    let context = json(get(&client, "/post/1", "192.0.2.10", FIREFOX).await).await;
    assert_eq!(context["hit_message"], COOKIELESS_ACTIVE_HIT);
    assert_eq!(context["visits"], Value::Null, "no visit counts without a cookie");
    assert_eq!(context["total_hits"], 1);
    assert!(
        client.cookies().iter().next().is_none(),
        "the client holds no cookie"
    );
}

async fn the_endpoint_counts_without_a_csrf_cookie(db: &TestDb) {
    let client = cookie_free(db).await;
    let vars = json(get(&client, "/post/2/js", "192.0.2.10", FIREFOX).await).await;
    let form = hit_form(&vars);
    let from = ("192.0.2.10", FIREFOX);
    let same_origin = [("Origin", "http://localhost:8000"), ("Host", "localhost:8000")];
    // Another site's page, however it says so, is refused.
    let refused = error_of(
        post_hit(
            &client,
            from,
            &form,
            &[("Origin", "https://evil.example"), ("Host", "localhost:8000")],
        )
        .await,
    )
    .await;
    assert_eq!(refused.0, Status::Forbidden);
    assert!(refused.1.contains("evil.example"), "{}", refused.1);
    let refused = error_of(post_hit(&client, from, &form, &[("Sec-Fetch-Site", "cross-site")]).await).await;
    assert_eq!(
        refused,
        (
            Status::Forbidden,
            r#"cross-origin request refused: Sec-Fetch-Site is "cross-site""#.into()
        )
    );
    // The page token is still required, and still bound to its object.
    let tokenless = format!("hitcountPK={}", vars["pk"]);
    let refused = error_of(post_hit(&client, from, &tokenless, &same_origin).await).await;
    assert_eq!(refused, (Status::Forbidden, "hitcountToken is missing".into()));
    let other = format!(
        "hitcountPK={}&hitcountToken={}",
        vars["pk"].as_i64().unwrap() + 1,
        vars["token"].as_str().unwrap()
    );
    let refused = error_of(post_hit(&client, from, &other, &same_origin).await).await;
    assert_eq!(refused.1, "hitcountToken was issued for another hitcountPK");
    // A same-origin page's script, with no CSRF token at all: counted once.
    let first = json(post_hit(&client, from, &form, &same_origin).await).await;
    assert_eq!(
        first,
        json!({"hit_counted": true, "hit_message": "Hit counted: session key"})
    );
    let again = json(post_hit(&client, from, &form, &[("Sec-Fetch-Site", "same-origin")]).await).await;
    assert_eq!(
        again,
        json!({"hit_counted": false, "hit_message": COOKIELESS_ACTIVE_HIT})
    );
    // The same visitor's page view is the same visitor.
    let page = json(get(&client, "/post/2", "192.0.2.10", FIREFOX).await).await;
    assert_eq!(
        (page["hit_counted"].as_bool(), page["total_hits"].as_i64()),
        (Some(false), Some(1))
    );
}

async fn a_visitor_counts_once_per_object_and_day(db: &TestDb) {
    let client = cookie_free(db).await;
    let hits = |context: Value| {
        (
            context["hit_counted"].as_bool().unwrap(),
            context["total_hits"].as_i64().unwrap(),
        )
    };
    // Late in a UTC day, with keep_hit_active at its 7 days.
    let midnight = db.clock.next_midnight();
    db.clock.set(midnight - TimeDelta::hours(2));
    assert_eq!(
        hits(json(get(&client, "/post/1", "203.0.113.7", FIREFOX).await).await),
        (true, 1)
    );
    db.clock.set(midnight - TimeDelta::seconds(1));
    assert_eq!(
        hits(json(get(&client, "/post/1", "203.0.113.7", FIREFOX).await).await),
        (false, 1),
        "the same day"
    );
    // Another browser on the same address is another visitor.
    assert_eq!(
        hits(json(get(&client, "/post/1", "203.0.113.7", CHROME).await).await),
        (true, 2)
    );
    // The same browser elsewhere too (another address, another key).
    assert_eq!(
        hits(json(get(&client, "/post/1", "203.0.113.8", FIREFOX).await).await),
        (true, 3)
    );
    // A new UTC day: counted again, once.
    db.clock.set(midnight);
    assert_eq!(
        hits(json(get(&client, "/post/1", "203.0.113.7", FIREFOX).await).await),
        (true, 4)
    );
    db.clock.advance(TimeDelta::hours(20));
    assert_eq!(
        hits(json(get(&client, "/post/1", "203.0.113.7", FIREFOX).await).await),
        (false, 4)
    );
}

async fn nothing_personal_is_kept(db: &TestDb) {
    let client = cookie_free(db).await;
    let visitors = [
        ("203.0.113.7", FIREFOX),
        ("203.0.113.7", CHROME),
        ("198.51.100.40", FIREFOX),
        ("2001:db8:5::17", CHROME),
    ];
    let mut keys = Vec::new();
    for (ip, agent) in visitors {
        let about = json(get(&client, "/about", ip, agent).await).await;
        keys.push(about["session_key"].as_str().unwrap().to_owned());
        for id in 1..=5 {
            assert_eq!(
                json(get(&client, &format!("/post/{id}"), ip, agent).await).await["hit_counted"],
                true
            );
            // Views of a counted page, and a counted AJAX hit, too.
            get(&client, &format!("/post/{id}"), ip, agent).await;
        }
        let vars = json(get(&client, "/post/6/js", ip, agent).await).await;
        let answer = post_hit(
            &client,
            (ip, agent),
            &hit_form(&vars),
            &[("Sec-Fetch-Site", "same-origin")],
        )
        .await;
        assert_eq!(json(answer).await["hit_counted"], true);
    }
    let counter = client
        .rocket()
        .state::<rocket_hitcount::HitCount>()
        .unwrap()
        .counter();
    let post = |id| hitcount::ObjectRef::new("blog.post", id).unwrap();
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 4);
    counter.flush_views().await.unwrap();
    assert_eq!(counter.counts(&post(1)).await.unwrap().views, 8);
    // Three days on, the burst's salt is forgotten by the day's first visit.
    db.clock.advance(TimeDelta::days(3));
    get(&client, "/post/1", "192.0.2.99", FIREFOX).await;
    let values = db.every_value().await;
    assert!(values
        .iter()
        .any(|(column, _)| column == "hitcount_hit.session_key"));
    let mut personal: Vec<String> = [
        "203.0.113",
        "198.51.100",
        "2001:db8:5",
        "Firefox",
        "Chrome",
        "Mozilla",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    personal.extend(keys);
    for (column, value) in &values {
        for personal in &personal {
            assert!(
                !value.contains(personal.as_str()),
                "{column} keeps {personal:?}: {value}"
            );
        }
    }
}
