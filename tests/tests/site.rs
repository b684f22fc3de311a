//! The example site over HTTP, with Rocket's local client, on SQLite,
//! PostgreSQL and MariaDB: every public route, the admin's login, the dashboard's pages
//! and actions as the example mounts them, and their refusals (bad CSRF,
//! bad input, no admin in release builds).

#[macro_use]
extern crate hitcount_testing;
use hitcount_testing as common;

use std::net::SocketAddr;

use common::TestDb;
use hitcount::ObjectRef;
use hitcount_tests::{figment, script_sources, site, text_of, ADMIN_PASSWORD, ADMIN_USER, BROWSER_UA};
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};

storage_tests!(
    mariadb;
    front_page_lists_posts_counts_and_the_week,
    count_hit_page_counts_once_per_visitor,
    detail_view_counts_nothing,
    pages_show_the_counters_pk_not_the_posts_id,
    ajax_pages_hand_their_script_what_it_needs,
    about_page_tests_the_cookie,
    about_page_counts_visits_of_the_site_once_a_day,
    missing_posts_are_404_pages,
    admin_needs_a_login,
    admin_login_refuses_a_forged_form,
    admin_hits_search_filter_and_pages,
    admin_refuses_bad_parameters_with_400,
    admin_actions_say_what_they_did,
    admin_blacklist_ips_stops_counting_that_ip,
    admin_refuses_actions_without_csrf,
    admin_overview_and_object_pages_name_the_posts,
    admin_blacklists_add_and_remove,
    visitor_text_is_escaped_everywhere,
    pages_without_visit_counts,
    cookie_free_pages_set_no_cookie,
);

async fn client(db: &TestDb) -> Client {
    Client::tracked(site(&db.url))
        .await
        .expect("the example launches")
}

fn addr(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40000)
}

/// GETs `path` as a desktop browser from `ip`; gives status and body.
async fn get_from(client: &Client, path: &str, ip: &str) -> (Status, String) {
    let response = client
        .get(path.to_owned())
        .header(Header::new("User-Agent", BROWSER_UA))
        .remote(addr(ip))
        .dispatch()
        .await;
    let status = response.status();
    (status, response.into_string().await.unwrap_or_default())
}

async fn get(client: &Client, path: &str) -> (Status, String) {
    get_from(client, path, "198.51.100.1").await
}

/// The value of the CSRF cookie the site handed out.
fn csrf(client: &Client) -> String {
    client
        .cookies()
        .get("csrftoken")
        .expect("the CSRF cookie was set")
        .value()
        .to_owned()
}

/// POSTs a form (with the CSRF token first) and gives the response.
async fn post<'c>(client: &'c Client, path: &str, fields: &[(&str, &str)]) -> LocalResponse<'c> {
    let mut body = format!("csrfmiddlewaretoken={}", csrf(client));
    for (name, value) in fields {
        body.push_str(&format!(
            "&{name}={}",
            rocket::http::RawStr::new(value).percent_encode()
        ));
    }
    client
        .post(path.to_owned())
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await
}

fn location<'a>(response: &'a LocalResponse<'_>) -> &'a str {
    response.headers().get_one("Location").unwrap_or("")
}

async fn login(client: &Client) {
    get(client, "/admin/login").await;
    let response = post(
        client,
        "/admin/login",
        &[("username", ADMIN_USER), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/admin/");
}

/// The counter of the site the client runs.
fn counter(client: &Client) -> &hitcount::HitCounter {
    rocket_hitcount::HitCount::fetch(client.rocket())
        .expect("attached")
        .counter()
}

/// Counts a hit on post `id` as a new browser session from `ip`.
async fn hit(client: &Client, id: i64, session: &str, ip: &str, user_agent: &str) {
    let visitor = hitcount::Visitor::new(session)
        .unwrap()
        .with_ip(ip.parse().unwrap())
        .with_user_agent(user_agent);
    let post = ObjectRef::new("blog.post", id).unwrap();
    assert!(
        counter(client)
            .count_hit(&post, &visitor)
            .await
            .unwrap()
            .hit_counted
    );
}

async fn front_page_lists_posts_counts_and_the_week(db: &TestDb) {
    let client = client(db).await;
    let (status, page) = get(&client, "/").await;
    assert_eq!(status, Status::Ok);
    for title in ["Hello World", "Catchy Title", "Our third blog post"] {
        assert!(page.contains(title), "{title} missing");
    }
    assert_eq!(text_of(&page, "hits-2").as_deref(), Some("0"));
    assert!(page.contains("No hits this week yet."));
    assert_eq!(text_of(&page, "backend").as_deref(), Some(db.db.backend()));
    for mode in [
        "generic-detail-view-ajax",
        "generic-detail-view-ajax-jquery",
        "hitcount-detail-view-count-hit",
        "hitcount-detail-view",
    ] {
        assert!(
            page.contains(&format!("href=\"/{mode}/3/\"")),
            "{mode} link missing"
        );
    }

    get(&client, "/hitcount-detail-view-count-hit/2/").await;
    let (_, page) = get(&client, "/").await;
    assert_eq!(text_of(&page, "hits-2").as_deref(), Some("1"));
    let week = &page[page.find("id=\"most-viewed\"").unwrap()..];
    assert!(week.contains("Catchy Title") && week.contains("(1)"), "{week}");
    assert!(!week.contains("Hello World"), "posts without hits are not ranked");
}

async fn count_hit_page_counts_once_per_visitor(db: &TestDb) {
    let client = client(db).await;
    let (status, page) = get(&client, "/hitcount-detail-view-count-hit/1/").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(text_of(&page, "hit-counted-value").as_deref(), Some("true"));
    assert_eq!(
        text_of(&page, "hit-response").as_deref(),
        Some("Hit counted: session key")
    );
    assert_eq!(text_of(&page, "total-hits").as_deref(), Some("1"));
    assert_eq!(text_of(&page, "hits-last-day").as_deref(), Some("1"));
    assert_eq!(text_of(&page, "views").as_deref(), Some("1"));
    assert_eq!(text_of(&page, "pk").as_deref(), Some("1"));
    assert_eq!(
        text_of(&page, "visits").as_deref(),
        Some("You have visited this page 1 time.")
    );

    let (_, page) = get(&client, "/hitcount-detail-view-count-hit/1/").await;
    assert_eq!(text_of(&page, "hit-counted-value").as_deref(), Some("false"));
    assert_eq!(
        text_of(&page, "hit-response").as_deref(),
        Some("Not counted: session key has active hit")
    );
    assert_eq!(text_of(&page, "total-hits").as_deref(), Some("1"));
    // The repeat's view, still in memory, is in the count already.
    assert_eq!(text_of(&page, "views").as_deref(), Some("2"));
    assert_eq!(
        text_of(&page, "visits").as_deref(),
        Some("You have visited this page 2 times.")
    );

    // A bot is a bot hit, not a hit.
    let bot = client
        .get("/hitcount-detail-view-count-hit/1/")
        .header(Header::new(
            "User-Agent",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        ))
        .dispatch()
        .await;
    let page = bot.into_string().await.unwrap();
    assert_eq!(
        text_of(&page, "hit-response").as_deref(),
        Some("Not counted: user agent is a bot")
    );
    assert_eq!(text_of(&page, "bot-hits").as_deref(), Some("1"));
}

async fn detail_view_counts_nothing(db: &TestDb) {
    let client = client(db).await;
    for _ in 0..2 {
        let (status, page) = get(&client, "/hitcount-detail-view/1/").await;
        assert_eq!(status, Status::Ok);
        assert_eq!(text_of(&page, "total-hits").as_deref(), Some("0"));
        assert_eq!(text_of(&page, "pk").as_deref(), Some("none yet"));
        // It counts nothing, so it says nothing of visits.
        assert_eq!(text_of(&page, "visits"), None);
    }
    let post = ObjectRef::new("blog.post", 1).unwrap();
    assert_eq!(counter(&client).counts(&post).await.unwrap().hits, 0);
}

/// The pages show the counter's pk, which is not the post's id: post 2
/// counted first has pk 1, post 1 then pk 2.
async fn pages_show_the_counters_pk_not_the_posts_id(db: &TestDb) {
    let client = client(db).await;
    let (_, page) = get(&client, "/hitcount-detail-view-count-hit/2/").await;
    assert_eq!(text_of(&page, "pk").as_deref(), Some("1"));
    let (_, page) = get(&client, "/hitcount-detail-view-count-hit/1/").await;
    assert_eq!(text_of(&page, "pk").as_deref(), Some("2"));
    let (_, page) = get(&client, "/hitcount-detail-view/1/").await;
    assert_eq!(text_of(&page, "pk").as_deref(), Some("2"));
    assert_eq!(text_of(&page, "total-hits").as_deref(), Some("1"));
    for mode in ["generic-detail-view-ajax", "generic-detail-view-ajax-jquery"] {
        let (_, page) = get(&client, &format!("/{mode}/1/")).await;
        assert_eq!(text_of(&page, "pk").as_deref(), Some("2"), "{mode}");
        assert!(page.contains("var hitcountJS = {hitcountPK : '2',"), "{mode}");
    }
}

async fn ajax_pages_hand_their_script_what_it_needs(db: &TestDb) {
    let client = client(db).await;
    let (status, page) = get(&client, "/generic-detail-view-ajax/1/").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains(
        "var hitcountJS = {hitcountPK : '1',hitcountURL : '/hitcount/hit/ajax/',hitcountToken : '"
    ));
    assert!(script_sources(&page).contains(&"/hitcount/static/hitcount.js".to_owned()));
    assert_eq!(text_of(&page, "ajax-url").as_deref(), Some("/hitcount/hit/ajax/"));
    assert_eq!(text_of(&page, "pk").as_deref(), Some("1"));
    // Before its script has counted: no visit yet; the script adds it
    // (static/visits.js, run in the browser tests).
    assert_eq!(
        text_of(&page, "visits").as_deref(),
        Some("You have visited this page 0 times.")
    );
    assert!(page.contains(r#"<p id="visits" data-visits="0">"#));
    // Without JavaScript, the page says it counts nothing.
    assert!(text_of(&page, "noscript").is_some_and(|text| text.starts_with("JavaScript is off")));

    // What the script does: post the pk and the page's token.
    let token = page
        .split("hitcountToken : '")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let answer = post(
        &client,
        "/hitcount/hit/ajax/",
        &[("hitcountPK", "1"), ("hitcountToken", token)],
    )
    .await;
    assert_eq!(answer.status(), Status::Ok);
    let answer: serde_json::Value = serde_json::from_str(&answer.into_string().await.unwrap()).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"hit_counted": true, "hit_message": "Hit counted: session key"})
    );
    let (_, page) = get(&client, "/generic-detail-view-ajax/1/").await;
    assert_eq!(text_of(&page, "total-hits").as_deref(), Some("1"));
    assert_eq!(text_of(&page, "views").as_deref(), Some("1"));
    assert_eq!(
        text_of(&page, "visits").as_deref(),
        Some("You have visited this page 1 time."),
        "the endpoint recorded the visit"
    );

    let (status, page) = get(&client, "/generic-detail-view-ajax-jquery/2/").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        script_sources(&page),
        [
            "/static/jquery-3.7.1.min.js",
            "/hitcount/static/jquery.postcsrf.js",
            "/static/visits.js",
            "/static/count-jquery.js"
        ]
    );
    assert!(page.contains("var hitcountJS = {hitcountPK : '2',"));
    assert_eq!(text_of(&page, "pk").as_deref(), Some("2"));
    assert_eq!(text_of(&page, "ajax-url").as_deref(), Some("/hitcount/hit/ajax/"));
    for script in [
        "/static/jquery-3.7.1.min.js",
        "/hitcount/static/jquery.postcsrf.js",
        "/static/visits.js",
        "/static/count-ajax.js",
        "/static/count-jquery.js",
        "/static/style.css",
        "/static/favicon.svg",
    ] {
        let response = client.get(script).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{script}");
    }
}

/// Django's test cookie: a first visit is sent back to the page with the
/// cookie; the warning shows only when it did not come back.
async fn about_page_tests_the_cookie(db: &TestDb) {
    let client = client(db).await;
    let first = client.get("/about/").dispatch().await;
    assert_eq!(first.status(), Status::SeeOther);
    assert_eq!(
        first.headers().get_one("Location"),
        Some("/about/?cookie_check=1")
    );
    assert!(
        first.cookies().iter().count() > 0,
        "the redirect hands out the cookie"
    );
    let (status, page) = get(&client, "/about/?cookie_check=1").await;
    assert_eq!(status, Status::Ok);
    assert!(text_of(&page, "cookie-test")
        .unwrap()
        .starts_with("Your browser returned the visitor cookie"));
    let (_, page) = get(&client, "/about/").await;
    assert!(text_of(&page, "cookie-test")
        .unwrap()
        .starts_with("Your browser returned the visitor cookie"));

    // A client that keeps no cookie is warned, after the one redirect.
    let curl = Client::untracked(site(&db.url))
        .await
        .expect("the example launches");
    let (status, page) = get(&curl, "/about/?cookie_check=1").await;
    assert_eq!(status, Status::Ok);
    assert!(text_of(&page, "cookie-test")
        .unwrap()
        .starts_with("Your browser did not return the visitor cookie"));
}

/// The About page's "You have visited this site N times": the first visit
/// (through the cookie test's redirect) is the one, and views the same
/// day leave it there. Without `cookie.visit_interval` it is not shown.
async fn about_page_counts_visits_of_the_site_once_a_day(db: &TestDb) {
    let client = client(db).await;
    let first = client.get("/about/").dispatch().await;
    assert_eq!(first.status(), Status::SeeOther, "the cookie test");
    let (status, page) = get(&client, "/about/?cookie_check=1").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        text_of(&page, "site-visits").as_deref(),
        Some("You have visited this site 1 time (counted once a day at most).")
    );
    for path in ["/about/", "/", "/hitcount-detail-view-count-hit/1/", "/about/"] {
        get(&client, path).await;
    }
    let (_, page) = get(&client, "/about/").await;
    assert!(
        page.contains(r#"<p id="site-visits" data-visits="1">"#),
        "a second view the same day leaves it unchanged"
    );

    // A client that keeps no cookies is always at its first visit.
    let curl = Client::untracked(site(&db.url))
        .await
        .expect("the example launches");
    for _ in 0..2 {
        let (_, page) = get(&curl, "/about/?cookie_check=1").await;
        assert!(page.contains(r#"data-visits="1""#), "{page}");
    }

    let off = figment(&db.url).merge(("hitcount.cookie.visit_interval", None::<String>));
    let client = Client::tracked(example_project::site(off))
        .await
        .expect("the example launches");
    let (status, page) = get(&client, "/about/?cookie_check=1").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(text_of(&page, "site-visits"), None);
}

async fn missing_posts_are_404_pages(db: &TestDb) {
    let client = client(db).await;
    for mode in [
        "generic-detail-view-ajax",
        "generic-detail-view-ajax-jquery",
        "hitcount-detail-view",
        "hitcount-detail-view-count-hit",
    ] {
        for pk in ["99", "abc", "-1", "99999999999999999999"] {
            let (status, page) = get(&client, &format!("/{mode}/{pk}/")).await;
            assert_eq!(status, Status::NotFound, "/{mode}/{pk}/");
            assert!(
                page.contains("<h1>Not found</h1>"),
                "/{mode}/{pk}/: a page, not a bare error"
            );
        }
    }
    // Nothing was registered or counted for the missing posts.
    assert!(counter(&client)
        .list_counts(hitcount::Window::days(7), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn admin_needs_a_login(db: &TestDb) {
    let client = client(db).await;
    for path in [
        "/admin/",
        "/admin/?period=30d",
        "/admin/hits",
        "/admin/objects/1",
        "/admin/blacklists",
    ] {
        let response = client.get(path).dispatch().await;
        assert_eq!(response.status(), Status::SeeOther, "{path}");
        assert_eq!(location(&response), "/admin/login", "{path}");
    }
    get(&client, "/admin/login").await;
    let wrong = post(
        &client,
        "/admin/login",
        &[("username", ADMIN_USER), ("password", "guess")],
    )
    .await;
    assert_eq!(wrong.status(), Status::Unauthorized);
    let page = wrong.into_string().await.unwrap();
    assert!(text_of(&page, "login-error")
        .unwrap()
        .starts_with("Please enter the correct username and password"));
    let response = client.get("/admin/hits").dispatch().await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "a wrong password logs nobody in"
    );

    login(&client).await;
    let (status, page) = get(&client, "/admin/").await;
    assert_eq!(status, Status::Ok);
    assert!(
        page.contains("<h1>Overview</h1>"),
        "the admin's home is the overview"
    );
    let (status, page) = get(&client, "/admin/hits").await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("<h1>Hit log</h1>"));
    let out = post(&client, "/admin/logout", &[]).await;
    assert_eq!(out.status(), Status::SeeOther);
    let response = client.get("/admin/hits").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther, "logged out");
    let (_, page) = get(&client, "/admin/login").await;
    assert!(page.contains("<p>Logged out.</p>"), "{page}");
}

async fn admin_login_refuses_a_forged_form(db: &TestDb) {
    let client = client(db).await;
    get(&client, "/admin/login").await;
    let forged = client
        .post("/admin/login")
        .header(ContentType::Form)
        .body(format!(
            "csrfmiddlewaretoken=forged&username={ADMIN_USER}&password={ADMIN_PASSWORD}"
        ))
        .dispatch()
        .await;
    assert_eq!(forged.status(), Status::Forbidden);
    let page = forged.into_string().await.unwrap();
    assert!(
        text_of(&page, "error-message")
            .unwrap()
            .contains("CSRF token does not match"),
        "{page}"
    );
    let cross_site = client
        .post("/admin/login")
        .header(ContentType::Form)
        .header(Header::new("Origin", "https://evil.example"))
        .body(format!(
            "csrfmiddlewaretoken={}&username={ADMIN_USER}&password={ADMIN_PASSWORD}",
            csrf(&client)
        ))
        .dispatch()
        .await;
    assert_eq!(cross_site.status(), Status::Forbidden);
    assert_eq!(
        client.get("/admin/hits").dispatch().await.status(),
        Status::SeeOther
    );
}

async fn admin_hits_search_filter_and_pages(db: &TestDb) {
    let client = client(db).await;
    for i in 0..53 {
        hit(&client, 1, &format!("s-{i}"), "192.0.2.10", BROWSER_UA).await;
    }
    hit(
        &client,
        2,
        "firefox-1",
        "192.0.2.20",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )
    .await;
    login(&client).await;

    let (_, page) = get(&client, "/admin/hits").await;
    assert!(page.contains("54 hits"));
    assert_eq!(text_of(&page, "pages").as_deref(), Some("Page 1 of 2"));
    assert_eq!(page.matches("name=\"selected\"").count(), 50);
    assert!(page.contains("Firefox&#x2F;128.0"), "newest first");
    let (_, page) = get(&client, "/admin/hits?page=2").await;
    assert_eq!(page.matches("name=\"selected\"").count(), 4);

    let (_, page) = get(&client, "/admin/hits?q=firefox").await;
    assert_eq!(page.matches("name=\"selected\"").count(), 1);
    // By address, though the log keeps only its hash.
    let (_, page) = get(&client, "/admin/hits?q=192.0.2.20").await;
    assert_eq!(page.matches("name=\"selected\"").count(), 1);
    assert!(page.contains("Firefox&#x2F;128.0"));
    let pk2 = counter(&client)
        .counts(&ObjectRef::new("blog.post", 2).unwrap())
        .await
        .unwrap()
        .pk
        .unwrap();
    let (_, page) = get(&client, &format!("/admin/hits?object={pk2}")).await;
    assert_eq!(page.matches("name=\"selected\"").count(), 1);
    let today = chrono::Utc::now().date_naive();
    let (_, page) = get(&client, &format!("/admin/hits?since={today}&until={today}")).await;
    assert!(page.contains("54 hits"));
    let (_, page) = get(&client, "/admin/hits?until=2000-01-01").await;
    assert!(page.contains("No hits."));

    // Bad parameters: admin_refuses_bad_parameters_with_400.
}

/// Every bad parameter of the admin's pages is a 400 page naming the
/// parameter and its value, on both databases: days out of range (the
/// day after the last one chrono knows once panicked), control
/// characters (PostgreSQL refuses NUL), numbers that are not, actions
/// that do not exist.
async fn admin_refuses_bad_parameters_with_400(db: &TestDb) {
    let client = client(db).await;
    hit(&client, 1, "s-1", "192.0.2.1", BROWSER_UA).await;
    login(&client).await;
    let date = "a date like 2026-03-14, from 0001-01-01 to 9999-12-31";
    for (query, name, expected, value) in [
        ("until=%2B262142-12-31", "until", date, r#""+262142-12-31""#),
        ("since=%2B262142-12-31", "since", date, r#""+262142-12-31""#),
        ("until=10000-01-01", "until", date, r#""10000-01-01""#),
        ("since=-0001-12-31", "since", date, r#""-0001-12-31""#),
        ("since=0000-12-31", "since", date, r#""0000-12-31""#),
        ("until=2026-02-30", "until", date, r#""2026-02-30""#),
        ("since=yesterday", "since", date, r#""yesterday""#),
        ("q=%00", "q", "text without control characters", r#""\0""#),
        ("q=a%1Bb", "q", "text without control characters", r#""a\u{1b}b""#),
        (
            "q=line%0Abreak",
            "q",
            "text without control characters",
            r#""line\nbreak""#,
        ),
        ("page=abc", "page", "a page number from 1", r#""abc""#),
        ("page=0", "page", "a page number from 1", r#""0""#),
        ("page=-1", "page", "a page number from 1", r#""-1""#),
        (
            "page=4294967296",
            "page",
            "a page number from 1",
            r#""4294967296""#,
        ),
        ("page=1.5", "page", "a page number from 1", r#""1.5""#),
        (
            "object=abc",
            "object",
            "an object's pk (a whole number)",
            r#""abc""#,
        ),
        (
            "object=99999999999999999999",
            "object",
            "an object's pk (a whole number)",
            r#""99999999999999999999""#,
        ),
        ("page=2&page=x", "page", "given once", r#"["2", "x"]"#),
        ("q=a&q=b", "q", "given once", r#"["a", "b"]"#),
        (
            "since=2026-01-01&since=",
            "since",
            "given once",
            r#"["2026-01-01", ""]"#,
        ),
    ] {
        let (status, page) = get(&client, &format!("/admin/hits?{query}")).await;
        assert_eq!(status, Status::BadRequest, "?{query}");
        let error = text_of(&page, "error-message").unwrap_or_else(|| panic!("?{query}: {page}"));
        assert_eq!(
            error,
            format!("{name} must be {expected}, got {value}"),
            "?{query}"
        );
    }
    // The edges of the range, and the last page there could be, answer.
    for query in [
        "since=0001-01-01&until=9999-12-31",
        "until=9999-12-31",
        "q=caf%C3%A9&object=-1",
        "page=&q=&object=&since=&until=",
        "unknown=1",
    ] {
        let (status, page) = get(&client, &format!("/admin/hits?{query}")).await;
        assert_eq!(status, Status::Ok, "?{query}: {page}");
    }
    // A page past the end leads to the last one, filters kept.
    let past = client
        .get("/admin/hits?page=4294967295&q=caf%C3%A9")
        .dispatch()
        .await;
    assert_eq!(past.status(), Status::SeeOther);
    assert_eq!(location(&past), "/admin/hits?q=caf%C3%A9&page=1");
    let (_, page) = get(&client, "/admin/hits?since=0001-01-01&until=9999-12-31").await;
    assert!(
        page.contains("1 hit matches"),
        "the whole range holds the hit: {page}"
    );

    // The hit log's form: an unknown action, a hit id that is not one.
    let id = hit_ids(&client, "").await.remove(0);
    for (fields, message) in [
        (
            &[("action", "drop_tables"), ("selected", id.as_str())][..],
            r#"got "drop_tables""#,
        ),
        (
            &[("action", "delete_queryset"), ("selected", "1 OR 1=1")][..],
            r#"selected must be hit ids (whole numbers), got "1 OR 1=1""#,
        ),
        (
            &[
                ("action", "delete_queryset"),
                ("selected", id.as_str()),
                ("selected", "x"),
            ][..],
            r#"selected must be hit ids (whole numbers), got "x""#,
        ),
    ] {
        let refused = post(&client, "/admin/hits", fields).await;
        assert_eq!(refused.status(), Status::BadRequest, "{fields:?}");
        let page = refused.into_string().await.unwrap();
        let error = text_of(&page, "error-message").unwrap();
        assert!(error.contains(message), "{fields:?}: {error}");
    }
    let post1 = ObjectRef::new("blog.post", 1).unwrap();
    assert_eq!(
        counter(&client).counts(&post1).await.unwrap().hits,
        1,
        "nothing deleted"
    );
}

/// The hit ids on the admin's hit log, newest first.
async fn hit_ids(client: &Client, query: &str) -> Vec<String> {
    let (_, page) = get(client, &format!("/admin/hits{query}")).await;
    page.split("name=\"selected\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// Runs an action on the hits (confirming it when it deletes) and gives
/// the messages the next page shows.
async fn run(client: &Client, action: &str, ids: &[String]) -> String {
    let mut fields = vec![("action", action)];
    fields.extend(ids.iter().map(|id| ("selected", id.as_str())));
    if action.contains("delete") && !ids.is_empty() {
        let asked = post(client, "/admin/hits", &fields).await;
        assert_eq!(asked.status(), Status::Ok, "a deleting action asks first");
        let page = asked.into_string().await.unwrap();
        assert!(page.contains("<h1>Are you sure?</h1>"), "{page}");
        fields.push(("confirm", "yes"));
    }
    let response = post(client, "/admin/hits", &fields).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/admin/hits");
    let (_, page) = get(client, "/admin/hits").await;
    let start = page.find("id=\"messages\"").expect("the action says what it did");
    page[start..page[start..].find("</div>").unwrap() + start].to_owned()
}

async fn admin_actions_say_what_they_did(db: &TestDb) {
    let client = client(db).await;
    for i in 0..6 {
        hit(
            &client,
            1,
            &format!("s-{i}"),
            &format!("192.0.2.{i}"),
            &format!("Agent/{i}"),
        )
        .await;
    }
    login(&client).await;
    let post1 = ObjectRef::new("blog.post", 1).unwrap();
    let ids = hit_ids(&client, "").await;

    let messages = run(&client, "delete_queryset", &ids[..2]).await;
    assert!(
        messages.contains("2 hits were successfully deleted."),
        "{messages}"
    );
    assert_eq!(
        counter(&client).counts(&post1).await.unwrap().hits,
        4,
        "totals decrease"
    );

    let messages = run(&client, "blacklist_user_agents", &ids[2..3]).await;
    assert!(
        messages.contains("Successfully blacklisted 1 User Agents"),
        "{messages}"
    );
    let messages = run(&client, "blacklist_delete_ips", &ids[3..4]).await;
    assert!(
        messages.contains("Successfully blacklisted 1 IPs")
            && messages.contains("1 hit was successfully deleted."),
        "{messages}"
    );
    let messages = run(&client, "blacklist_delete_user_agents", &ids[4..5]).await;
    assert!(
        messages.contains("Successfully blacklisted 1 User Agents")
            && messages.contains("1 hit was successfully deleted."),
        "{messages}"
    );
    assert_eq!(counter(&client).counts(&post1).await.unwrap().hits, 2);
    assert_eq!(
        counter(&client)
            .admin()
            .blacklisted_user_agents()
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(counter(&client).admin().blacklisted_ips().await.unwrap().len(), 1);

    let messages = run(&client, "blacklist_ips", &[]).await;
    assert!(
        messages.contains("Items must be selected in order to perform actions on them."),
        "{messages}"
    );
    let unknown = post(
        &client,
        "/admin/hits",
        &[("action", "drop_tables"), ("selected", &ids[5])],
    )
    .await;
    assert_eq!(unknown.status(), Status::BadRequest);
    let page = unknown.into_string().await.unwrap();
    let error = text_of(&page, "error-message").unwrap();
    assert!(
        error.starts_with("action must be one of blacklist_ips, ") && error.ends_with(r#"got "drop_tables""#),
        "{error}"
    );
    assert_eq!(
        counter(&client).counts(&post1).await.unwrap().hits,
        2,
        "nothing changed"
    );
}

async fn admin_blacklist_ips_stops_counting_that_ip(db: &TestDb) {
    let client = client(db).await;
    let (_, page) = get_from(&client, "/hitcount-detail-view-count-hit/1/", "203.0.113.9").await;
    assert_eq!(text_of(&page, "hit-counted-value").as_deref(), Some("true"));
    login(&client).await;
    let ids = hit_ids(&client, "").await;
    let messages = run(&client, "blacklist_ips", &ids).await;
    assert!(messages.contains("Successfully blacklisted 1 IPs"), "{messages}");

    let stranger = Client::untracked(site(&db.url)).await.unwrap();
    let (_, page) = get_from(&stranger, "/hitcount-detail-view-count-hit/1/", "203.0.113.9").await;
    assert_eq!(
        text_of(&page, "hit-response").as_deref(),
        Some("Not counted: user IP has been blacklisted")
    );
    let (_, page) = get_from(&stranger, "/hitcount-detail-view-count-hit/1/", "203.0.113.10").await;
    assert_eq!(
        text_of(&page, "hit-counted-value").as_deref(),
        Some("true"),
        "other IPs still count"
    );
}

async fn admin_refuses_actions_without_csrf(db: &TestDb) {
    let client = client(db).await;
    hit(&client, 1, "s-1", "192.0.2.1", BROWSER_UA).await;
    login(&client).await;
    let ids = hit_ids(&client, "").await;
    let forged = client
        .post("/admin/hits")
        .header(ContentType::Form)
        .body(format!("action=delete_queryset&selected={}", ids[0]))
        .dispatch()
        .await;
    assert_eq!(forged.status(), Status::Forbidden);
    let page = forged.into_string().await.unwrap();
    assert!(
        text_of(&page, "error-message")
            .unwrap()
            .contains("CSRF token is missing"),
        "{page}"
    );
    for path in ["/admin/blacklists", "/admin/logout"] {
        let forged = client
            .post(path)
            .header(ContentType::Form)
            .body("csrfmiddlewaretoken=nope&list=ip&change=add&value=192.0.2.1")
            .dispatch()
            .await;
        assert_eq!(forged.status(), Status::Forbidden, "{path}");
    }
    let post1 = ObjectRef::new("blog.post", 1).unwrap();
    assert_eq!(
        counter(&client).counts(&post1).await.unwrap().hits,
        1,
        "nothing deleted"
    );
    assert!(
        counter(&client)
            .admin()
            .blacklisted_ips()
            .await
            .unwrap()
            .is_empty(),
        "nothing blacklisted"
    );
}

async fn admin_overview_and_object_pages_name_the_posts(db: &TestDb) {
    let client = client(db).await;
    hit(&client, 3, "s-1", "192.0.2.1", BROWSER_UA).await;
    hit(&client, 3, "s-2", "192.0.2.2", BROWSER_UA).await;
    hit(&client, 1, "s-3", "192.0.2.3", BROWSER_UA).await;
    get(&client, "/post/3/").await;
    get(&client, "/post/3/").await;
    login(&client).await;
    let (status, page) = get(&client, "/admin/?period=today").await;
    assert_eq!(status, Status::Ok);
    let ranking = &page[page.find("id=\"ranking\"").expect("a ranking")..];
    let ranking = &ranking[..ranking.find("</ol>").unwrap()];
    let third = ranking
        .find(">Our third blog post</a>")
        .expect("titled by the app");
    let first = ranking.find(">Hello World</a>").expect("titled by the app");
    assert!(third < first, "most hits first: {ranking}");
    assert!(ranking.contains("blog.post:3"), "the key beside the title");
    assert_eq!(text_of(&page, "total-hits").as_deref(), Some("4"));

    let pk = counter(&client)
        .counts(&ObjectRef::new("blog.post", 3).unwrap())
        .await
        .unwrap()
        .pk
        .unwrap();
    let (status, page) = get(&client, &format!("/admin/objects/{pk}?period=today")).await;
    assert_eq!(status, Status::Ok);
    assert!(page.contains("<h1>Our third blog post</h1>"), "{page}");
    assert!(
        page.contains("href=\"&#x2F;post&#x2F;3&#x2F;\">View on site</a>"),
        "{page}"
    );
    // All-time totals: 3 hits; 4 views, the repeat's still in memory.
    let figures: Vec<&str> = page
        .split("<span class=\"figure\">")
        .skip(1)
        .take(2)
        .map(|rest| rest.split('<').next().unwrap())
        .collect();
    assert_eq!(figures, ["3", "4"], "{page}");
    assert!(page.contains("<caption>Hits, views and bot hits per day</caption>"));
}

/// Posts a blacklist change (`add` or `remove`) and gives the blacklists
/// page it leads to.
async fn change_blacklist(client: &Client, change: &str, list: &str, value: &str) -> String {
    let response = post(
        client,
        "/admin/blacklists",
        &[("list", list), ("change", change), ("value", value)],
    )
    .await;
    assert_eq!(response.status(), Status::SeeOther, "{change} {list} {value}");
    get(client, "/admin/blacklists").await.1
}

async fn admin_blacklists_add_and_remove(db: &TestDb) {
    let client = client(db).await;
    login(&client).await;
    let (_, page) = get(&client, "/admin/blacklists").await;
    assert!(page.contains("<h1>Blacklists</h1>"));

    let page = change_blacklist(&client, "add", "ip", "192.0.2.0/24").await;
    let messages = &page[page.find("id=\"messages\"").expect("a message")..];
    assert!(
        messages.contains("Blacklisted &quot;192.0.2.0&#x2F;24&quot;."),
        "confirmed: {messages}"
    );
    assert!(page.contains("<code>192.0.2.0&#x2F;24</code>"), "listed");
    let page = change_blacklist(&client, "add", "ip", "192.0.2.0/24").await;
    assert!(page.contains("was already blacklisted."));
    let page = change_blacklist(&client, "add", "ip", "not an ip").await;
    assert!(
        page.contains("messages error"),
        "an invalid IP is an error message"
    );
    assert!(page.contains("not an ip"));
    assert_eq!(counter(&client).admin().blacklisted_ips().await.unwrap().len(), 1);

    change_blacklist(&client, "add", "user_agent", "EvilBot/1.0").await;
    assert_eq!(
        counter(&client)
            .admin()
            .blacklisted_user_agents()
            .await
            .unwrap()
            .len(),
        1
    );
    let page = change_blacklist(&client, "remove", "ip", "192.0.2.0/24").await;
    assert!(page.contains("Removed &quot;192.0.2.0&#x2F;24&quot; from the blacklist."));
    assert!(counter(&client)
        .admin()
        .blacklisted_ips()
        .await
        .unwrap()
        .is_empty());
    let page = change_blacklist(&client, "remove", "user_agent", "EvilBot/1.0").await;
    assert!(page.contains("Removed &quot;EvilBot&#x2F;1.0&quot; from the blacklist."));
    let agents = counter(&client).admin().blacklisted_user_agents().await.unwrap();
    assert!(agents.is_empty());
    let page = change_blacklist(&client, "remove", "user_agent", "EvilBot/1.0").await;
    assert!(page.contains("&quot;EvilBot&#x2F;1.0&quot; was not blacklisted."));

    // Refusals: a page with the status and a message naming the problem.
    for (path, fields, status, message) in [
        (
            "/admin/blacklists",
            &[("list", "ip"), ("change", "rename"), ("value", "192.0.2.1")][..],
            Status::BadRequest,
            r#"change must be "add" or "remove", got "rename""#,
        ),
        (
            "/admin/blacklists",
            &[("list", "ip"), ("change", "add")][..],
            Status::BadRequest,
            "value must be an IP, a network or a user agent, and is missing",
        ),
        (
            "/admin/blacklists",
            &[("list", "colours"), ("change", "add"), ("value", "red")][..],
            Status::BadRequest,
            r#"list must be "ip" or "user_agent""#,
        ),
    ] {
        let refused = post(&client, path, fields).await;
        assert_eq!(refused.status(), status, "{path} {fields:?}");
        let page = refused.into_string().await.unwrap();
        let error = text_of(&page, "error-message").unwrap();
        assert!(error.contains(message), "{path} {fields:?}: {error}");
    }
}

async fn visitor_text_is_escaped_everywhere(db: &TestDb) {
    let client = client(db).await;
    let script = "<script>alert(1)</script>";
    hit(&client, 1, "s-1", "192.0.2.1", script).await;
    login(&client).await;
    post(
        &client,
        "/admin/blacklists",
        &[("list", "user_agent"), ("change", "add"), ("value", script)],
    )
    .await;
    for path in [
        "/admin/",
        "/admin/hits",
        "/admin/blacklists",
        "/admin/hits?q=%3Cscript%3E",
        "/admin/hits?ua=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ] {
        let (_, page) = get(&client, path).await;
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
            "{path}: shown as text"
        );
        assert!(!page.contains(script), "{path}: never as markup");
    }
}

/// A release build refuses to start without an admin, with a password
/// hash that is not one, or with the development password; the message
/// names the setting.
#[tokio::test]
async fn release_builds_need_an_admin() {
    use rocket::figment::Profile;
    let release = |figment: rocket::figment::Figment| {
        figment
            .select(Profile::new("release"))
            .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
            .merge((
                "hitcount.secret_key",
                "end-to-end tests' secret key, 32 characters or more",
            ))
            .merge(("log_level", "off"))
    };
    let refused = |result: Result<_, rocket::Error>| match result {
        Ok(_) => false,
        // Rocket panics on an error nobody looked at.
        Err(e) => {
            matches!(e.kind(), rocket::error::ErrorKind::FailedFairings(f) if f[0].name == "Example admin")
        }
    };
    let url = "sqlite::memory:";
    let without = release(example_project::figment().merge(("databases.blog.url", url)));
    assert!(refused(example_project::site(without).ignite().await));
    let broken = release(hitcount_tests::figment(url)).merge(("admin.password_hash", "admin"));
    assert!(refused(example_project::site(broken).ignite().await));
    // The development admin of Rocket.toml's debug profile, as a release
    // binary started with ROCKET_PROFILE=debug would find it: refused too.
    let debug = example_project::figment().select(Profile::new("debug"));
    let hash: String = debug.extract_inner("admin.password_hash").unwrap();
    let development = release(hitcount_tests::figment(url))
        .merge(("admin.user", "admin"))
        .merge(("admin.password_hash", hash));
    assert!(refused(example_project::site(development).ignite().await));
    let configured = release(hitcount_tests::figment(url));
    assert!(example_project::site(configured).ignite().await.is_ok());
}

/// A site that keeps no visit counts (`cookie.visit_counts` off, the
/// crate's default) renders its post pages without the sentence.
async fn pages_without_visit_counts(db: &TestDb) {
    let off = figment(&db.url).merge(("hitcount.cookie.visit_counts", false));
    let client = Client::tracked(example_project::site(off))
        .await
        .expect("the example launches");
    for path in [
        "/hitcount-detail-view-count-hit/1/",
        "/hitcount-detail-view/1/",
        "/generic-detail-view-ajax/1/",
    ] {
        let (status, page) = get(&client, path).await;
        assert_eq!(status, Status::Ok, "{path}");
        assert_eq!(text_of(&page, "visits"), None, "{path}");
        assert!(text_of(&page, "total-hits").is_some(), "{path}");
    }
}

/// `COOKIE_FREE=1`: no page of the blog, and no route of the counter's,
/// answers with a `Set-Cookie`; the count-hit page still counts, once.
async fn cookie_free_pages_set_no_cookie(db: &TestDb) {
    let client = Client::tracked(example_project::site(example_project::cookie_free(figment(
        &db.url,
    ))))
    .await
    .expect("the example launches");
    for (path, expected) in [
        ("/", Status::Ok),
        ("/about", Status::Ok),
        ("/about/?cookie_check=1", Status::Ok),
        ("/hitcount-detail-view-count-hit/1/", Status::Ok),
        ("/hitcount-detail-view-count-hit/1/", Status::Ok),
        ("/hitcount-detail-view/1/", Status::Ok),
        ("/generic-detail-view-ajax/1/", Status::Ok),
        ("/generic-detail-view-ajax-jquery/1/", Status::Ok),
        ("/post/1", Status::Ok),
        ("/no-such-page", Status::NotFound),
        ("/hitcount/csrf/", Status::Ok),
        ("/hitcount/static/hitcount.js", Status::Ok),
    ] {
        let response = client
            .get(path)
            .header(Header::new("User-Agent", BROWSER_UA))
            .remote(addr("198.51.100.7"))
            .dispatch()
            .await;
        assert_eq!(response.status(), expected, "{path}");
        let set: Vec<&str> = response.headers().get("Set-Cookie").collect();
        assert!(set.is_empty(), "{path} sets {set:?}");
    }
    let (status, about) = get_from(&client, "/about", "198.51.100.7").await;
    assert_eq!(status, Status::Ok, "no cookie test to redirect to");
    assert_eq!(
        text_of(&about, "cookie-test").as_deref(),
        Some("The blog sets no cookies, and its hit log keeps no address, browser or visitor key.")
    );
    let (_, page) = get_from(&client, "/hitcount-detail-view-count-hit/2/", "198.51.100.7").await;
    assert_eq!(text_of(&page, "hit-counted-value").as_deref(), Some("true"));
    let (_, page) = get_from(&client, "/hitcount-detail-view-count-hit/2/", "198.51.100.7").await;
    assert_eq!(text_of(&page, "hit-counted-value").as_deref(), Some("false"));
    assert_eq!(
        text_of(&page, "hit-response").as_deref(),
        Some(rocket_hitcount::COOKIELESS_ACTIVE_HIT)
    );
}
