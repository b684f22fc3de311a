//! The Tera functions: django-hitcount's template-tag tests, the errors,
//! list pages, and renders on both kinds of Tokio runtime.

use chrono::{TimeDelta, Utc};
use hitcount::{ObjectRef, Visitor};
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Value};

use rocket_dyn_templates::tera::Tera;
use rocket_hitcount::TemplateFunctions;

use crate::app::{context, render, template_app};
use crate::common::TestDb;

storage_tests!(
    mariadb;
    totals_and_windows_as_django_hitcount_tests_them,
    js_variables_and_the_exact_script,
    script_urls_follow_the_base_path,
    errors_name_the_problem,
    a_counted_hit_shows_at_once,
    list_pages_and_most_viewed,
);

const TEMPLATES: &[(&str, &str)] = &[
    ("total", "{{ get_hit_count(for=post) }}"),
    ("new", "{{ get_hit_count(for=new_post) }}"),
    ("hour", r#"{{ get_hit_count(for=post, within="hours=1") }}"#),
    ("ninety", r#"{{ get_hit_count(for=post, within="hours=1,minutes=30") }}"#),
    ("ninety_map", "{{ get_hit_count(for=post, within=window) }}"),
    ("ninety_words", r#"{{ get_hit_count(for=post, within="90 minutes") }}"#),
    ("set", "{% set hits = get_hit_count(for=post) %}hits={{ hits }}"),
    ("set_within", r#"{% set hits = get_hit_count(for=post, within="hours=1") %}hits={{ hits }}"#),
    ("explicit", r#"{{ get_hit_count(kind="blog.post", id=1) }}|{{ get_hit_count(for="blog.post:1") }}|{{ get_hit_count(for=post.id, kind="blog.post") }}"#),
    ("js", "{% set hitcount = get_hit_count_js_variables(for=post) %}{{ hitcount.pk }}|{{ hitcount.ajax_url }}|{{ hitcount.hits }}|{{ hitcount.token }}|{{ hitcount.script_url }}|{{ hitcount.jquery_script_url }}"),
    ("insert_vars", "{{ insert_hit_count_js_variables(for=post) }}"),
    ("insert_vars_nonce", r#"{{ insert_hit_count_js_variables(for=post, nonce="r4nd0m+/=") }}"#),
    ("bad_nonce", r#"{{ insert_hit_count_js_variables(for=post, nonce='a"><script>') }}"#),
    ("insert_js", "{{ insert_hit_count_js(for=post) }}"),
    ("insert_js_debug", "{{ insert_hit_count_js(for=post, debug=true) }}"),
    ("bad_window", r#"{{ get_hit_count(for=post, within="fortnights=1") }}"#),
    ("missing_object", "{{ get_hit_count(for=no_such_post) }}"),
    ("missing_for", r#"{{ get_hit_count(within="days=1") }}"#),
    ("no_key", "{{ get_hit_count(for=bare_post) }}"),
    ("list", r#"{% for item in get_hit_counts(for=posts, kind="blog.post") %}{{ item.object.title }}={{ item.hits }};{% endfor %}"#),
    ("list_within", r#"{% for item in get_hit_counts(for=posts, kind="blog.post", within="days=1") %}{{ item.object.id }}={{ item.hits }};{% endfor %}"#),
    ("top", r#"{% for top in most_viewed(kind="blog.post", within="days=7", limit=2) %}{{ top.id }}={{ top.hits }};{% endfor %}"#),
    ("top_all", "{% for top in most_viewed() %}{{ top.key }}={{ top.hits }};{% endfor %}"),
];

async fn app_and_functions(db: &TestDb, hitcount: Value) -> (Client, TemplateFunctions) {
    template_app(db, hitcount, TEMPLATES).await
}

async fn app(db: &TestDb, hitcount: Value) -> Client {
    app_and_functions(db, hitcount).await.0
}

async fn show(client: &Client, name: &str) -> (Status, String) {
    render(client, TEMPLATES, name).await
}

async fn text(client: &Client, name: &str) -> String {
    let (status, body) = show(client, name).await;
    assert_eq!(status, Status::Ok, "{name}: {body}");
    body
}

/// django-hitcount's fixture: 10 hits on post 1, at 0, 15, ..., 135
/// minutes ago, written by another instance (so nothing is cached).
async fn ten_hits(db: &TestDb) {
    let writer = db.counter(Default::default()).await;
    let now = Utc::now();
    for i in 0..10 {
        db.clock.set(now - TimeDelta::minutes(15 * i));
        let visitor = Visitor::new(format!("fixture-{i}")).unwrap();
        assert!(writer.count_hit(&post(1), &visitor).await.unwrap().hit_counted);
    }
}

fn post(id: i64) -> ObjectRef {
    ObjectRef::new("blog.post", id).unwrap()
}

async fn totals_and_windows_as_django_hitcount_tests_them(db: &TestDb) {
    ten_hits(db).await;
    let client = app(db, json!({})).await;
    assert_eq!(text(&client, "total").await, "10");
    assert_eq!(text(&client, "new").await, "0");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit_count WHERE object_id = '99'")
            .await,
        0,
        "reading creates no row"
    );
    assert_eq!(text(&client, "hour").await, "4");
    assert_eq!(text(&client, "ninety").await, "6");
    assert_eq!(text(&client, "ninety_map").await, "6");
    assert_eq!(text(&client, "ninety_words").await, "6");
    assert_eq!(text(&client, "set").await, "hits=10");
    assert_eq!(text(&client, "set_within").await, "hits=4");
    assert_eq!(text(&client, "explicit").await, "10|10|10");
}

/// A page that prints the scripts' URLs from the variables keeps working
/// when the app moves the fairing's routes.
async fn script_urls_follow_the_base_path(db: &TestDb) {
    ten_hits(db).await;
    let client = app(db, json!({ "base_path": "/stats" })).await;
    let js = text(&client, "js").await;
    let parts: Vec<&str> = js.split('|').collect();
    assert_eq!(parts[1], "/stats/hit/ajax/");
    assert_eq!(
        &parts[4..],
        &["/stats/static/hitcount.js", "/stats/static/jquery.postcsrf.js"]
    );
    for url in &parts[4..] {
        assert_eq!(client.get(*url).dispatch().await.status(), Status::Ok, "{url}");
    }
    assert!(text(&client, "insert_js")
        .await
        .contains("<script src=\"/stats/static/hitcount.js\" data-hitcount-pk="));
}

async fn js_variables_and_the_exact_script(db: &TestDb) {
    ten_hits(db).await;
    let client = app(db, json!({})).await;
    let pk = db
        .scalar("SELECT id FROM hitcount_hit_count WHERE object_id = '1'")
        .await;
    let js = text(&client, "js").await;
    let parts: Vec<&str> = js.split('|').collect();
    assert_eq!(
        &parts[..3],
        &[pk.to_string().as_str(), "/hitcount/hit/ajax/", "10"]
    );
    assert!(
        parts[3].starts_with(&format!("{pk}.")),
        "a page token for the pk: {js}"
    );
    assert_eq!(
        &parts[4..],
        &[
            "/hitcount/static/hitcount.js",
            "/hitcount/static/jquery.postcsrf.js"
        ]
    );

    let script = text(&client, "insert_vars").await;
    // A token of the same pk and lifetime: the two pages may be rendered
    // either side of a second, which moves the expiry and the MAC.
    let token = script
        .split("hitcountToken : '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a page token in the script");
    let expiry = |token: &str| -> i64 {
        let fields: Vec<&str> = token.split('.').collect();
        assert_eq!(fields.len(), 3, "pk.expiry.mac: {token}");
        assert_eq!(fields[0], pk.to_string(), "pk.expiry.mac: {token}");
        assert!(!fields[2].is_empty(), "pk.expiry.mac: {token}");
        fields[1].parse().expect("pk.expiry.mac")
    };
    let later = expiry(token) - expiry(parts[3]);
    assert!((0..=1).contains(&later), "{token} vs {}", parts[3]);
    if later == 0 {
        assert_eq!(token, parts[3], "the same second, the same token");
    }
    assert_eq!(
        script,
        format!(
            "<script type=\"text/javascript\">\nvar hitcountJS = {{hitcountPK : '{pk}',hitcountURL : '/hitcount/hit/ajax/',hitcountToken : '{token}'}};\n</script>"
        )
    );
    // Without the page token (require_token = false), django-hitcount's
    // string exactly.
    let plain = app(db, json!({ "require_token": false })).await;
    assert_eq!(
        text(&plain, "insert_vars").await,
        format!(
            "<script type=\"text/javascript\">\nvar hitcountJS = {{hitcountPK : '{pk}',hitcountURL : '/hitcount/hit/ajax/'}};\n</script>"
        )
    );

    // With the page's CSP nonce, the same script carries it.
    assert!(
        text(&plain, "insert_vars_nonce").await.starts_with(
            "<script type=\"text/javascript\" nonce=\"r4nd0m+/=\">\nvar hitcountJS = {hitcountPK : '"
        ),
        "the nonce, and nothing else changed"
    );

    // One external script and no inline code: it runs under a
    // Content-Security-Policy of script-src 'self'.
    let counting = text(&client, "insert_js").await;
    assert!(
        counting.starts_with("<script src=\"/hitcount/static/hitcount.js\" data-hitcount-pk=\""),
        "{counting}"
    );
    assert!(
        counting.contains(" data-hitcount-url=\"/hitcount/hit/ajax/\""),
        "{counting}"
    );
    assert!(counting.contains(" data-hitcount-token=\""), "{counting}");
    assert!(
        counting.ends_with("></script>") && counting.matches("<script").count() == 1,
        "{counting}"
    );
    assert!(!counting.contains("data-hitcount-debug"));
    assert!(!counting.contains("data-hitcount-csrf"));
    assert!(text(&client, "insert_js_debug")
        .await
        .contains(" data-hitcount-debug></script>"));

    // Without cookies, both tell the script to ask for no CSRF token.
    let cookie_free = json!({
        "cookie": { "mode": "none" },
        "private_hit_log": true,
        "ip_storage": "none",
        "require_token": false,
    });
    let cookie_free = app(db, cookie_free).await;
    assert_eq!(
        text(&cookie_free, "insert_vars").await,
        format!(
            "<script type=\"text/javascript\">\nvar hitcountJS = {{hitcountPK : '{pk}',hitcountURL : '/hitcount/hit/ajax/',hitcountCSRF : false}};\n</script>"
        )
    );
    let counting = text(&cookie_free, "insert_js_debug").await;
    assert!(
        counting.ends_with(" data-hitcount-csrf=\"off\" data-hitcount-debug></script>"),
        "{counting}"
    );
}

async fn errors_name_the_problem(db: &TestDb) {
    let (client, functions) = app_and_functions(db, json!({})).await;
    // Rocket answers a failed render with 500 and logs Tera's error; the
    // messages are checked on a plain Tera with the same functions below.
    for name in [
        "bad_window",
        "missing_object",
        "missing_for",
        "no_key",
        "bad_nonce",
    ] {
        assert_eq!(show(&client, name).await.0, Status::InternalServerError, "{name}");
    }
    let mut tera = Tera::default();
    functions.register(&mut tera);
    tera.add_raw_templates(TEMPLATES.to_vec()).unwrap();
    let error = |name: &str| {
        let err = tera
            .render(
                name,
                &rocket_dyn_templates::tera::Context::from_serialize(context()).unwrap(),
            )
            .unwrap_err();
        std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let bad_window = error("bad_window");
    assert!(
        bad_window.contains("get_hit_count: `within`") && bad_window.contains("fortnights"),
        "{bad_window}"
    );
    let bad_nonce = error("bad_nonce");
    assert!(
        bad_nonce.contains("insert_hit_count_js_variables: `nonce` must be a CSP nonce"),
        "{bad_nonce}"
    );
    let missing = error("missing_object");
    assert!(missing.contains("no_such_post"), "{missing}");
    let no_for = error("missing_for");
    assert!(
        no_for.contains("get_hit_count: missing argument `for`"),
        "{no_for}"
    );
    let no_key = error("no_key");
    assert!(
        no_key.contains("get_hit_count: `for`: the object has no hit-count key"),
        "{no_key}"
    );
}

async fn a_counted_hit_shows_at_once(db: &TestDb) {
    let client = app(db, json!({})).await;
    assert_eq!(text(&client, "total").await, "0");
    let counted = client.get("/post/1").dispatch().await;
    assert_eq!(counted.status(), Status::Ok);
    // The read cache held 0; the hit, counted by this instance, replaced it.
    assert_eq!(text(&client, "total").await, "1");
}

async fn list_pages_and_most_viewed(db: &TestDb) {
    let writer = db.counter(Default::default()).await;
    db.clock.set(Utc::now());
    for (id, visitors) in [(2, 3), (5, 1), (7, 2)] {
        for v in 0..visitors {
            let visitor = Visitor::new(format!("v{v}")).unwrap();
            writer.count_hit(&post(id), &visitor).await.unwrap();
        }
    }
    let client = app(db, json!({})).await;
    let list = text(&client, "list").await;
    assert!(
        list.starts_with("Post 1=0;Post 2=3;Post 3=0;Post 4=0;Post 5=1;Post 6=0;Post 7=2;"),
        "{list}"
    );
    assert_eq!(list.matches(';').count(), 50);
    let within = text(&client, "list_within").await;
    assert!(within.starts_with("1=0;2=3;3=0;4=0;5=1;6=0;7=2;"), "{within}");
    assert_eq!(text(&client, "top").await, "2=3;7=2;");
    assert_eq!(
        text(&client, "top_all").await,
        "blog.post:2=3;blog.post:7=2;blog.post:5=1;"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await,
        3,
        "lists create no rows"
    );
}

/// Rocket's `#[rocket::async_test]` runs a single-threaded runtime, where
/// `block_in_place` would panic: the functions still answer.
#[rocket::async_test]
async fn renders_on_a_single_threaded_runtime() {
    let db = TestDb::sqlite().await;
    ten_hits(&db).await;
    let client = app(&db, json!({})).await;
    assert_eq!(text(&client, "total").await, "10");
    assert_eq!(text(&client, "hour").await, "4");
    assert!(text(&client, "js").await.contains("/hitcount/hit/ajax/"));
}

#[rocket::async_test]
async fn renders_on_a_single_threaded_runtime_with_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    ten_hits(&db).await;
    let client = app(&db, json!({})).await;
    assert_eq!(text(&client, "total").await, "10");
    assert_eq!(text(&client, "ninety").await, "6");
}
