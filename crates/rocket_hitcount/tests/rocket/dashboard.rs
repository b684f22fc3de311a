//! The dashboard, through Rocket's local client on both backends: the
//! app's guard before every route, CSRF on every form, escaping of what
//! visitors send, the overview's one scale, and the hit log's actions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::json;
use rocket_hitcount::hitcount::Visitor;
use rocket_hitcount::{Dashboard, HitCount, Label, Labels, ObjectRef};

use crate::app::rocket;
use crate::common::{blacklist_values, TestDb};

storage_tests!(
    mariadb;
    the_guard_refuses_every_route,
    forms_without_the_csrf_token_change_nothing,
    what_visitors_send_is_escaped_on_every_page,
    ranked_bars_share_one_scale,
    deleting_asks_first_and_keeps_the_filters,
    blacklisting_from_the_log_marks_the_hits,
    the_hit_log_sorts_and_filters,
    blacklists_are_edited_with_labelled_inputs,
    bad_parameters_are_400_pages_naming_them,
    an_object_page_shows_its_figures,
);

/// The app's guard: the `X-Staff: yes` header.
struct Staff;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Staff {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Staff, ()> {
        match request.headers().get_one("X-Staff") {
            Some("yes") => Outcome::Success(Staff),
            _ => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

/// Titles for posts 1 to 9; others show as `kind:id`.
struct Titles;

#[rocket::async_trait]
impl Labels for Titles {
    async fn labels(&self, _: &Request<'_>, objects: &[ObjectRef]) -> HashMap<ObjectRef, Label> {
        objects
            .iter()
            .filter(|o| o.id().len() == 1)
            .map(|o| {
                (
                    o.clone(),
                    Label::new(format!("Post number {}", o.id())).link(format!("/post/{}", o.id())),
                )
            })
            .collect()
    }
}

async fn dashboard(db: &TestDb) -> Client {
    let app = rocket(db, json!({ "ip_storage": "full" }))
        .attach(Dashboard::<Staff>::new("/admin").labels(Titles).logout("/logout"));
    Client::tracked(app).await.expect("the app launches")
}

/// A hit on post `id` (any text) from a new visitor at `ip` with
/// `user_agent`, counted.
async fn hit(client: &Client, id: &str, ip: &str, user_agent: &str) {
    static VISITORS: AtomicU64 = AtomicU64::new(0);
    let session = format!("visitor{}", VISITORS.fetch_add(1, Ordering::Relaxed));
    let visitor = Visitor::new(session)
        .unwrap()
        .with_ip(ip.parse().unwrap())
        .with_user_agent(user_agent);
    let counter = client.rocket().state::<HitCount>().unwrap().counter();
    let object = ObjectRef::new("blog.post", id).unwrap();
    assert!(counter.count_hit(&object, &visitor).await.unwrap().hit_counted);
}

async fn page(client: &Client, uri: &str) -> (Status, String) {
    let response = client
        .get(uri.to_owned())
        .header(Header::new("X-Staff", "yes"))
        .dispatch()
        .await;
    let status = response.status();
    // Tera writes `/` as `&#x2F;` in escaped text; read it back as a
    // browser does.
    let body = response.into_string().await.unwrap_or_default();
    (status, body.replace("&#x2F;", "/"))
}

async fn ok_page(client: &Client, uri: &str) -> String {
    let (status, body) = page(client, uri).await;
    assert_eq!(status, Status::Ok, "{uri}: {body}");
    body
}

/// The CSRF token the last page handed out.
fn csrf(client: &Client) -> String {
    client
        .cookies()
        .get("csrftoken")
        .expect("a CSRF cookie")
        .value()
        .to_owned()
}

async fn post<'c>(client: &'c Client, uri: &str, form: &str) -> LocalResponse<'c> {
    client
        .post(uri.to_owned())
        .header(Header::new("X-Staff", "yes"))
        .header(ContentType::Form)
        .body(form)
        .dispatch()
        .await
}

fn location<'a>(response: &'a LocalResponse<'_>) -> &'a str {
    response.headers().get_one("Location").unwrap_or("")
}

/// The ids of the hits the page lists, in its order.
fn hit_ids(body: &str) -> Vec<i64> {
    let re = Regex::new(r#"name="selected" value="(\d+)""#).unwrap();
    re.captures_iter(body).map(|c| c[1].parse().unwrap()).collect()
}

async fn total_hits(client: &Client, id: &str) -> i64 {
    let state = client.rocket().state::<HitCount>().unwrap();
    let object = ObjectRef::new("blog.post", id).unwrap();
    state.counter().counts(&object).await.unwrap().hits
}

async fn the_guard_refuses_every_route(db: &TestDb) {
    let client = dashboard(db).await;
    hit(&client, "1", "192.0.2.1", "Firefox").await;
    let pk = client
        .rocket()
        .state::<HitCount>()
        .unwrap()
        .counter()
        .counts(&ObjectRef::new("blog.post", 1).unwrap())
        .await
        .unwrap()
        .pk
        .unwrap();
    for uri in [
        "/admin".to_owned(),
        "/admin/?period=30d".to_owned(),
        "/admin/hits".to_owned(),
        format!("/admin/objects/{pk}"),
        "/admin/blacklists".to_owned(),
    ] {
        let response = client.get(uri.clone()).dispatch().await;
        assert_eq!(response.status(), Status::Unauthorized, "{uri}");
        let body = response.into_string().await.unwrap_or_default();
        assert!(
            !body.contains("Firefox") && !body.contains("192.0.2.1"),
            "{uri}: {body}"
        );
    }
    // Forms: refused by the guard before anything runs, even with a token.
    ok_page(&client, "/admin/hits").await;
    let token = csrf(&client);
    let ids = hit_ids(&ok_page(&client, "/admin/hits").await);
    for (uri, form) in [
        (
            "/admin/hits",
            format!(
                "csrfmiddlewaretoken={token}&action=delete_queryset&confirm=yes&selected={}",
                ids[0]
            ),
        ),
        (
            "/admin/blacklists",
            format!("csrfmiddlewaretoken={token}&list=ip&change=add&value=192.0.2.1"),
        ),
    ] {
        let response = client
            .post(uri)
            .header(ContentType::Form)
            .body(form)
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Unauthorized, "{uri}");
    }
    assert_eq!(total_hits(&client, "1").await, 1, "nothing was deleted");
    let blacklist = client
        .rocket()
        .state::<HitCount>()
        .unwrap()
        .counter()
        .admin()
        .blacklisted_ips()
        .await
        .unwrap();
    assert!(blacklist.is_empty(), "nothing was blacklisted");
    // The stylesheet and the script are the same for everyone: the login
    // page needs them.
    let css = client.get("/admin/static/dashboard.css").dispatch().await;
    assert_eq!(css.status(), Status::Ok);
    assert_eq!(css.content_type(), Some(ContentType::CSS));
}

async fn forms_without_the_csrf_token_change_nothing(db: &TestDb) {
    let client = dashboard(db).await;
    hit(&client, "1", "192.0.2.1", "Firefox").await;
    let ids = hit_ids(&ok_page(&client, "/admin/hits").await);
    let token = csrf(&client);
    for (form, refused) in [
        (
            format!("action=delete_queryset&confirm=yes&selected={}", ids[0]),
            "CSRF token is missing",
        ),
        (
            format!(
                "csrfmiddlewaretoken=0123456789abcdef0123&action=delete_queryset&confirm=yes&selected={}",
                ids[0]
            ),
            "CSRF token does not match",
        ),
    ] {
        let response = post(&client, "/admin/hits", &form).await;
        assert_eq!(response.status(), Status::Forbidden);
        let body = response.into_string().await.unwrap();
        assert!(body.contains(refused), "{body}");
        assert!(
            body.contains("Hit log"),
            "the error page keeps the layout: {body}"
        );
    }
    let response = post(&client, "/admin/blacklists", "list=ip&change=add&value=192.0.2.1").await;
    assert_eq!(response.status(), Status::Forbidden);
    // From another site, even with the right token.
    let response = client
        .post("/admin/hits")
        .header(Header::new("X-Staff", "yes"))
        .header(Header::new("Origin", "https://evil.example"))
        .header(ContentType::Form)
        .body(format!(
            "csrfmiddlewaretoken={token}&action=delete_queryset&confirm=yes&selected={}",
            ids[0]
        ))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(total_hits(&client, "1").await, 1);
    let state = client.rocket().state::<HitCount>().unwrap();
    assert!(blacklist_values(state.counter()).await.0.is_empty());
}

async fn what_visitors_send_is_escaped_on_every_page(db: &TestDb) {
    let client = dashboard(db).await;
    let evil = r#"<script>alert("ua")</script>'"#;
    hit(&client, "1", "192.0.2.1", evil).await;
    hit(&client, r#"<script>alert('id')</script>"#, "192.0.2.2", "Firefox").await;
    let pk = client
        .rocket()
        .state::<HitCount>()
        .unwrap()
        .counter()
        .counts(&ObjectRef::new("blog.post", r#"<script>alert('id')</script>"#).unwrap())
        .await
        .unwrap()
        .pk
        .unwrap();
    // Blacklist the evil user agent, so it shows on that page too.
    ok_page(&client, "/admin/blacklists").await;
    let form = format!(
        "csrfmiddlewaretoken={}&list=user_agent&change=add&value={}",
        csrf(&client),
        urlencode(evil)
    );
    assert_eq!(
        post(&client, "/admin/blacklists", &form).await.status(),
        Status::SeeOther
    );
    let ids = hit_ids(&ok_page(&client, "/admin/hits").await);
    let confirm = post(
        &client,
        "/admin/hits",
        &format!(
            "csrfmiddlewaretoken={}&action=delete_queryset&selected={}&selected={}",
            csrf(&client),
            ids[0],
            ids[1]
        ),
    )
    .await
    .into_string()
    .await
    .unwrap();
    let mut pages = vec![confirm];
    for uri in [
        "/admin/".to_owned(),
        "/admin/hits".to_owned(),
        format!("/admin/hits?ua={}", urlencode(evil)),
        format!("/admin/objects/{pk}"),
        "/admin/blacklists".to_owned(),
    ] {
        pages.push(ok_page(&client, &uri).await);
    }
    for body in &pages {
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(!body.contains(r#"alert("ua")"#), "quotes are escaped: {body}");
        assert!(body.contains("&lt;script&gt;alert("), "{body}");
        // The only script is the dashboard's own.
        assert_eq!(body.matches("<script").count(), 1, "{body}");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

async fn ranked_bars_share_one_scale(db: &TestDb) {
    let client = dashboard(db).await;
    for (id, visitors) in [("1", 2), ("2", 4), ("3", 8)] {
        for v in 0..visitors {
            hit(&client, id, &format!("192.0.2.{v}"), "Firefox").await;
        }
    }
    let body = ok_page(&client, "/admin/?period=today").await;
    let ranking = &body[body.find(r#"id="ranking""#).expect("a ranking")..];
    let ranking = &ranking[..ranking.find("</ol>").unwrap()];
    let widths: Vec<&str> = Regex::new(r#"class="fill" width="([0-9.]+)""#)
        .unwrap()
        .captures_iter(ranking)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(widths, ["100.0", "50.0", "25.0"], "one scale: 8, 4 and 2 hits");
    let titles: Vec<&str> = Regex::new(r">(Post number \d)</a>")
        .unwrap()
        .captures_iter(ranking)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(titles, ["Post number 3", "Post number 2", "Post number 1"]);
    for n in ["8", "4", "2"] {
        assert!(
            ranking.contains(&format!(r#"<span class="n">{n}</span>"#)),
            "{n} is in the text: {ranking}"
        );
    }
    assert!(
        body.contains(r#"<span class="figure" id="total-hits">14</span>"#),
        "{body}"
    );
    // The daily chart: its maximum labelled, and a table for screen readers.
    assert!(body.contains(r#"text-anchor="end">14</text>"#), "{body}");
    assert!(body.contains("<caption>Hits, views and bot hits per day</caption>"));
}

async fn deleting_asks_first_and_keeps_the_filters(db: &TestDb) {
    let client = dashboard(db).await;
    for v in 0..3 {
        hit(&client, "1", &format!("192.0.2.{v}"), "Firefox").await;
    }
    hit(&client, "2", "192.0.2.9", "Chrome").await;
    let filtered = "/admin/hits?q=firefox&o=ip";
    let ids = hit_ids(&ok_page(&client, filtered).await);
    assert_eq!(ids.len(), 3);
    let token = csrf(&client);
    let form = format!(
        "csrfmiddlewaretoken={token}&action=delete_queryset&selected={}&selected={}&q=firefox&o=ip",
        ids[0], ids[1]
    );
    let confirm = post(&client, "/admin/hits", &form).await;
    assert_eq!(confirm.status(), Status::Ok, "a page asks first");
    let body = confirm.into_string().await.unwrap().replace("&#x2F;", "/");
    assert!(body.contains("Are you sure?"), "{body}");
    assert!(body.contains("these 2 hits"), "{body}");
    assert!(
        body.contains(r#"href="/admin/hits?q=firefox&amp;o=ip""#),
        "back keeps the filters: {body}"
    );
    assert_eq!(total_hits(&client, "1").await, 3, "nothing deleted yet");

    let done = post(&client, "/admin/hits", &format!("{form}&confirm=yes")).await;
    assert_eq!(done.status(), Status::SeeOther);
    assert_eq!(location(&done), "/admin/hits?q=firefox&o=ip");
    assert_eq!(total_hits(&client, "1").await, 1);
    let body = ok_page(&client, "/admin/hits?q=firefox&o=ip").await;
    assert!(body.contains("2 hits were successfully deleted."), "{body}");
    assert_eq!(hit_ids(&body).len(), 1);

    // No hit selected: django.contrib.admin's message, nothing changed.
    let none = post(
        &client,
        "/admin/hits",
        &format!("csrfmiddlewaretoken={token}&action=delete_queryset&q=firefox"),
    )
    .await;
    assert_eq!(location(&none), "/admin/hits?q=firefox");
    let body = ok_page(&client, "/admin/hits?q=firefox").await;
    assert!(body.contains("Items must be selected"), "{body}");
}

async fn blacklisting_from_the_log_marks_the_hits(db: &TestDb) {
    let client = dashboard(db).await;
    hit(&client, "1", "192.0.2.1", "EvilAgent/1.0").await;
    hit(&client, "1", "192.0.2.2", "Firefox").await;
    let ids = hit_ids(&ok_page(&client, "/admin/hits?ua=EvilAgent%2F1.0").await);
    assert_eq!(ids.len(), 1);
    let form = format!(
        "csrfmiddlewaretoken={}&action=blacklist_user_agents&selected={}&ua=EvilAgent%2F1.0",
        csrf(&client),
        ids[0]
    );
    let done = post(&client, "/admin/hits", &form).await;
    assert_eq!(done.status(), Status::SeeOther, "blacklisting alone runs at once");
    assert_eq!(location(&done), "/admin/hits?ua=EvilAgent%2F1.0");
    let body = ok_page(&client, "/admin/hits").await;
    assert!(body.contains("Successfully blacklisted 1 User Agents"), "{body}");
    assert_eq!(body.matches(r#"<tr class="blacklisted">"#).count(), 1, "{body}");
    assert_eq!(body.matches("blacklisted</span>").count(), 1);
    let blacklists = ok_page(&client, "/admin/blacklists").await;
    assert!(blacklists.contains("<code>EvilAgent/1.0</code>"), "{blacklists}");
    assert!(
        blacklists.contains(r#"<span class="n">0</span> requests"#),
        "{blacklists}"
    );
    // The entry counts what it refuses.
    let refused = Visitor::new("again").unwrap().with_user_agent("EvilAgent/1.0");
    let counter = client.rocket().state::<HitCount>().unwrap().counter();
    let object = ObjectRef::new("blog.post", 1).unwrap();
    assert!(!counter.count_hit(&object, &refused).await.unwrap().hit_counted);
    let blacklists = ok_page(&client, "/admin/blacklists").await;
    assert!(
        blacklists.contains(r#"<span class="n">1</span> request<"#),
        "{blacklists}"
    );
}

async fn the_hit_log_sorts_and_filters(db: &TestDb) {
    let client = dashboard(db).await;
    hit(&client, "1", "192.0.2.3", "Bravo").await;
    hit(&client, "2", "192.0.2.1", "Charlie").await;
    hit(&client, "3", "192.0.2.2", "Alpha").await;
    let agents = |body: &str| -> Vec<String> {
        Regex::new(r#"class="raw">([A-Za-z]+)</a>"#)
            .unwrap()
            .captures_iter(body)
            .map(|c| c[1].to_owned())
            .collect()
    };
    let body = ok_page(&client, "/admin/hits?o=user_agent").await;
    assert_eq!(agents(&body), ["Alpha", "Bravo", "Charlie"]);
    assert!(body.contains(r#"aria-sort="ascending""#));
    // Clicking the sorted column turns it round.
    assert!(body.contains(r#"href="/admin/hits?o=-user_agent""#), "{body}");
    let body = ok_page(&client, "/admin/hits?o=-ip").await;
    assert_eq!(agents(&body), ["Bravo", "Alpha", "Charlie"]);
    // An IP in the log links to its hits.
    assert!(body.contains(r#"href="/admin/hits?ip=192.0.2.1""#));
    let body = ok_page(&client, "/admin/hits?ip=192.0.2.1&o=-ip").await;
    assert_eq!(agents(&body), ["Charlie"]);
    // Sorting keeps the filter.
    assert!(
        body.contains(r#"href="/admin/hits?ip=192.0.2.1&amp;o=user_agent""#),
        "{body}"
    );
    assert!(body.contains("1 hit match"), "{body}");
}

async fn blacklists_are_edited_with_labelled_inputs(db: &TestDb) {
    let client = dashboard(db).await;
    let body = ok_page(&client, "/admin/blacklists").await;
    assert!(
        body.contains(r#"<label>IP, network or stored IP <input name="value" required id="add-ip"></label>"#)
    );
    let token = csrf(&client);
    let add = |value: &str| format!("csrfmiddlewaretoken={token}&list=ip&change=add&value={value}");
    let done = post(&client, "/admin/blacklists", &add("198.51.100.0%2F24")).await;
    assert_eq!(location(&done), "/admin/blacklists");
    let body = ok_page(&client, "/admin/blacklists").await;
    assert!(
        body.contains("Blacklisted &quot;198.51.100.0/24&quot;."),
        "{body}"
    );
    assert!(body.contains("<code>198.51.100.0/24</code>"));
    post(&client, "/admin/blacklists", &add("not-an-ip")).await;
    let body = ok_page(&client, "/admin/blacklists").await;
    assert!(body.contains("not-an-ip"), "the error names the value: {body}");
    let remove = format!("csrfmiddlewaretoken={token}&list=ip&change=remove&value=198.51.100.0%2F24");
    post(&client, "/admin/blacklists", &remove).await;
    let body = ok_page(&client, "/admin/blacklists").await;
    assert!(body.contains("Removed"), "{body}");
    let state = client.rocket().state::<HitCount>().unwrap();
    assert!(blacklist_values(state.counter()).await.0.is_empty());
}

async fn bad_parameters_are_400_pages_naming_them(db: &TestDb) {
    let client = dashboard(db).await;
    for (uri, named) in [
        (
            "/admin/?period=week",
            "period must be one of today, 7d, 30d, custom",
        ),
        ("/admin/?period=custom&from=2026-01-01", "needs both from and to"),
        (
            "/admin/?period=custom&from=2020-01-01&to=2026-01-01",
            "at most 366 days",
        ),
        ("/admin/hits?page=0", "page must be a page number from 1"),
        ("/admin/hits?o=size", "o must be a column"),
        ("/admin/hits?object=x", "object must be"),
        ("/admin/hits?since=yesterday", "since must be a date"),
        ("/admin/objects/x", "the object&#x27;s pk must be a whole number"),
    ] {
        let (status, body) = page(&client, uri).await;
        assert_eq!(status, Status::BadRequest, "{uri}: {body}");
        assert!(body.contains(named), "{uri}: {body}");
        assert!(body.contains(r#"aria-label="Dashboard""#), "{uri}: the layout");
    }
    let (status, body) = page(&client, "/admin/objects/424242").await;
    assert_eq!(status, Status::NotFound);
    assert!(body.contains("no object has pk 424242"), "{body}");
    let (status, body) = page(&client, "/admin/nothing-here").await;
    assert_eq!(status, Status::NotFound);
    assert!(body.contains("there is no page at /admin/nothing-here"), "{body}");
    ok_page(&client, "/admin/hits").await;
    let response = post(
        &client,
        "/admin/hits",
        &format!("csrfmiddlewaretoken={}&action=nope&selected=1", csrf(&client)),
    )
    .await;
    assert_eq!(response.status(), Status::BadRequest);
    assert!(response
        .into_string()
        .await
        .unwrap()
        .contains("action must be one of blacklist_ips"));
    let token = csrf(&client);
    for (form, named) in [
        (
            format!("csrfmiddlewaretoken={token}&selected=1"),
            "action must be one of blacklist_ips",
        ),
        (
            format!("csrfmiddlewaretoken={token}&action=delete_queryset&selected=1&confirm=yes&confirm=yes"),
            "confirm must be given once",
        ),
        (
            format!("csrfmiddlewaretoken={token}&action=delete_queryset&selected=1&o=ip&o=-ip"),
            "o must be given once",
        ),
    ] {
        let response = post(&client, "/admin/hits", &form).await;
        assert_eq!(response.status(), Status::BadRequest, "{form}");
        let body = response.into_string().await.unwrap();
        assert!(body.contains(named), "{form}: {body}");
    }
    // A user agent with a tab, as HTTP allows, is a filter like any other.
    let (status, _) = page(&client, "/admin/hits?ua=a%09b").await;
    assert_eq!(status, Status::Ok);
}

async fn an_object_page_shows_its_figures(db: &TestDb) {
    let client = dashboard(db).await;
    for v in 0..3 {
        hit(
            &client,
            "5",
            &format!("192.0.2.{v}"),
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        )
        .await;
    }
    hit(&client, "6", "192.0.2.9", "Chrome").await;
    let state = client.rocket().state::<HitCount>().unwrap();
    let pk = state
        .counter()
        .counts(&ObjectRef::new("blog.post", 5).unwrap())
        .await
        .unwrap()
        .pk
        .unwrap();
    let body = ok_page(&client, &format!("/admin/objects/{pk}?period=today")).await;
    assert!(body.contains("<h1>Post number 5</h1>"), "{body}");
    assert!(body.contains(r#"<a href="/post/5">View on site</a>"#));
    assert!(
        body.contains(r#"<span class="figure" id="total-hits">3</span>"#),
        "{body}"
    );
    assert!(
        body.contains("Firefox 120 · Linux"),
        "the user agent summarised: {body}"
    );
    assert!(!body.contains("Chrome"), "another object's hits are not here");
    assert_eq!(body.matches(r#"data-label="When""#).count(), 3);
}
