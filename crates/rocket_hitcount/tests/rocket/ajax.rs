//! The AJAX endpoint: django-hitcount's HitCountJSONView tests and every
//! error case.

use rocket::http::{ContentType, Header, Status};
use rocket::serde::json::json;

use crate::app::{browser, error_of, json, open_page, post_hit};
use crate::common::TestDb;

storage_tests!(
    mariadb;
    counted_post_answers_like_django,
    second_post_of_a_session_is_not_counted,
    other_methods_are_405_with_allow,
    bad_pks_are_400,
    bad_bodies_are_400,
    csrf_failures_are_403,
    cross_origin_posts_are_403,
    token_failures_are_403,
    expired_tokens_are_403,
    beacons_send_the_csrf_token_in_the_form,
    tokens_can_be_switched_off,
    scripts_are_served,
    every_answer_is_locked_down,
);

fn form(pk: i64, token: &str) -> String {
    format!("hitcountPK={pk}&hitcountToken={token}")
}

async fn counted_post_answers_like_django(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let response = post_hit(&client, &page.csrf, &form(page.pk, &page.token)).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    // django-hitcount's exact answer, keys in its order.
    assert_eq!(
        response.into_string().await.unwrap(),
        r#"{"hit_counted":true,"hit_message":"Hit counted: session key"}"#
    );
}

async fn second_post_of_a_session_is_not_counted(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = post_hit(&client, &page.csrf, &form(page.pk, &page.token)).await;
        // The page handed out the visitor cookie; counting does not set it
        // again (no visit counts kept by default).
        assert!(response.cookies().get("hitcount_visitor").is_none());
        answers.push(json(response).await);
    }
    let [first, second] = <[_; 2]>::try_from(answers).unwrap();
    assert_eq!(
        first,
        json!({"hit_counted": true, "hit_message": "Hit counted: session key"})
    );
    assert_eq!(
        second,
        json!({"hit_counted": false, "hit_message": "Not counted: session key has active hit"})
    );
    let view = json(client.get("/post/1/view").dispatch().await).await;
    assert_eq!(view["total_hits"], 1);
}

async fn other_methods_are_405_with_allow(db: &TestDb) {
    let client = browser(db, json!({})).await;
    for request in [
        client.get("/hitcount/hit/ajax"),
        client.put("/hitcount/hit/ajax"),
        client.delete("/hitcount/hit/ajax"),
        client.patch("/hitcount/hit/ajax"),
    ] {
        let response = request.dispatch().await;
        assert_eq!(response.headers().get_one("Allow"), Some("POST"));
        assert_eq!(
            error_of(response).await,
            (Status::MethodNotAllowed, "Hits counted via POST only.".into())
        );
    }
}

async fn bad_pks_are_400(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let state = rocket_hitcount::HitCount::fetch(client.rocket()).unwrap();
    let unknown_token = state.issue_token(999_999);
    for (body, message) in [
        (
            format!("hitcountToken={}", page.token),
            "hitcountPK is missing".to_string(),
        ),
        (
            form(0, &page.token).replace("hitcountPK=0", "hitcountPK=abc"),
            "hitcountPK must be an integer, got \"abc\"".into(),
        ),
        (
            form(0, &page.token).replace("hitcountPK=0", "hitcountPK="),
            "hitcountPK must be an integer, got \"\"".into(),
        ),
        (
            form(999_999, &unknown_token),
            "no hit count with pk 999999".into(),
        ),
    ] {
        assert_eq!(
            error_of(post_hit(&client, &page.csrf, &body).await).await,
            (Status::BadRequest, message)
        );
    }
    let counts = state
        .counter()
        .counts(&hitcount::ObjectRef::new("blog.post", 1).unwrap())
        .await
        .unwrap();
    assert_eq!((counts.hits, counts.views), (0, 0), "nothing counted");
}

async fn bad_bodies_are_400(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let huge = format!("{}&pad={}", form(page.pk, &page.token), "x".repeat(5000));
    assert_eq!(
        error_of(post_hit(&client, &page.csrf, &huge).await).await,
        (
            Status::BadRequest,
            "request body is larger than 4096 bytes".into()
        )
    );
    let as_json = client
        .post("/hitcount/hit/ajax")
        .header(ContentType::JSON)
        .header(Header::new("X-CSRFToken", page.csrf.clone()))
        .body(format!(r#"{{"hitcountPK": {}}}"#, page.pk))
        .dispatch()
        .await;
    let (status, message) = error_of(as_json).await;
    assert_eq!(status, Status::BadRequest);
    assert!(message.contains("application/x-www-form-urlencoded"), "{message}");
}

async fn csrf_failures_are_403(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let body = form(page.pk, &page.token);
    let no_header = client
        .post("/hitcount/hit/ajax")
        .header(ContentType::Form)
        .body(body.clone())
        .dispatch()
        .await;
    let (status, message) = error_of(no_header).await;
    assert_eq!(status, Status::Forbidden);
    assert!(message.contains("CSRF token is missing"), "{message}");
    let wrong = post_hit(&client, "0123456789abcdef0123456789abcdef", &body).await;
    assert_eq!(
        error_of(wrong).await,
        (
            Status::Forbidden,
            "CSRF token does not match the `csrftoken` cookie".into()
        )
    );
    // Without the cookie, the header alone proves nothing.
    let fresh = browser(db, json!({})).await;
    let (status, message) = error_of(post_hit(&fresh, &page.csrf, &body).await).await;
    assert_eq!(
        (status, message.as_str()),
        (Status::Forbidden, "CSRF cookie `csrftoken` is missing")
    );
}

async fn cross_origin_posts_are_403(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let post = |origin: Header<'static>| {
        client
            .post("/hitcount/hit/ajax")
            .header(ContentType::Form)
            .header(Header::new("Host", "blog.example"))
            .header(Header::new("X-CSRFToken", page.csrf.clone()))
            .header(origin)
            .body(form(page.pk, &page.token))
    };
    let evil = post(Header::new("Origin", "https://evil.example"))
        .dispatch()
        .await;
    let (status, message) = error_of(evil).await;
    assert_eq!(status, Status::Forbidden);
    assert!(
        message.contains("cross-origin") && message.contains("evil.example"),
        "{message}"
    );
    let cross_site = post(Header::new("Sec-Fetch-Site", "cross-site")).dispatch().await;
    assert_eq!(error_of(cross_site).await.0, Status::Forbidden);
    let null = post(Header::new("Origin", "null")).dispatch().await;
    assert_eq!(error_of(null).await.0, Status::Forbidden);
    let same = post(Header::new("Origin", "https://blog.example"))
        .dispatch()
        .await;
    let answer = json(same).await;
    assert_eq!(answer["hit_counted"], true, "{answer}");
}

async fn token_failures_are_403(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let other = open_page(&client, 2).await;
    for (body, message) in [
        (format!("hitcountPK={}", page.pk), "hitcountToken is missing"),
        (form(page.pk, "garbage"), "hitcountToken is malformed"),
        (
            form(page.pk, &format!("{}.9999999999.AAAAAAAAAAAAAAAAAAAAAA", page.pk)),
            "hitcountToken has a wrong signature",
        ),
        (
            form(page.pk, &other.token),
            "hitcountToken was issued for another hitcountPK",
        ),
    ] {
        assert_eq!(
            error_of(post_hit(&client, &page.csrf, &body).await).await,
            (Status::Forbidden, message.into())
        );
    }
    // A script cannot count a pk it never saw: a valid token of page 2
    // does not count page 1, and page 1 has no hits.
    let view = json(client.get("/post/1/view").dispatch().await).await;
    assert_eq!(view["total_hits"], 0);
}

async fn expired_tokens_are_403(db: &TestDb) {
    let client = browser(db, json!({ "token_ttl": "1 second" })).await;
    let page = open_page(&client, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = post_hit(&client, &page.csrf, &form(page.pk, &page.token)).await;
    assert_eq!(
        error_of(response).await,
        (
            Status::Forbidden,
            "hitcountToken has expired; reload the page".into()
        )
    );
}

/// navigator.sendBeacon cannot set headers: the token travels in the form.
async fn beacons_send_the_csrf_token_in_the_form(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let response = client
        .post("/hitcount/hit/ajax")
        .header(ContentType::Form)
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .body(format!(
            "{}&csrfmiddlewaretoken={}",
            form(page.pk, &page.token),
            page.csrf
        ))
        .dispatch()
        .await;
    assert_eq!(json(response).await["hit_message"], "Hit counted: session key");
}

async fn tokens_can_be_switched_off(db: &TestDb) {
    let client = browser(db, json!({ "require_token": false })).await;
    let page = open_page(&client, 1).await;
    let response = post_hit(&client, &page.csrf, &format!("hitcountPK={}", page.pk)).await;
    assert_eq!(json(response).await["hit_counted"], true);
}

async fn scripts_are_served(db: &TestDb) {
    let client = browser(db, json!({ "base_path": "/stats" })).await;
    for (path, marker) in [
        ("/stats/static/hitcount.js", "postCSRF"),
        ("/stats/static/jquery.postcsrf.js", "$.postCSRF"),
    ] {
        let response = client.get(path).dispatch().await;
        assert_eq!(response.status(), Status::Ok);
        assert_eq!(response.content_type(), Some(ContentType::JavaScript));
        assert_eq!(
            response.headers().get_one("Cache-Control"),
            Some("public, max-age=86400")
        );
        assert!(response.into_string().await.unwrap().contains(marker));
    }
    assert_eq!(
        client
            .get("/hitcount/static/hitcount.js")
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
    let csrf = client.get("/stats/csrf").dispatch().await;
    assert_eq!(csrf.headers().get_one("Cache-Control"), Some("no-store"));
}

/// Every answer of the crate's routes (scripts, JSON, errors) tells the
/// browser to run nothing from it and take its type as sent.
async fn every_answer_is_locked_down(db: &TestDb) {
    let client = browser(db, json!({})).await;
    let page = open_page(&client, 1).await;
    let counted = post_hit(&client, &page.csrf, &form(page.pk, &page.token)).await;
    let refused = post_hit(&client, "wrong", &form(page.pk, &page.token)).await;
    let answers = [
        ("counted", counted),
        ("refused", refused),
        ("405", client.get("/hitcount/hit/ajax").dispatch().await),
        ("csrf", client.get("/hitcount/csrf").dispatch().await),
        (
            "script",
            client.get("/hitcount/static/hitcount.js").dispatch().await,
        ),
        (
            "jquery",
            client.get("/hitcount/static/jquery.postcsrf.js").dispatch().await,
        ),
    ];
    for (name, response) in answers {
        assert_eq!(
            response.headers().get_one("Content-Security-Policy"),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{name}"
        );
        assert_eq!(
            response.headers().get_one("X-Content-Type-Options"),
            Some("nosniff"),
            "{name}"
        );
    }
}
