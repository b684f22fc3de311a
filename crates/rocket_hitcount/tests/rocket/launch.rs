//! The fairing refuses to launch with a clear message when it cannot work.

use rocket::serde::json::json;
use rocket_db_pools::Database;

use rocket::error::ErrorKind;

use crate::app::{figment, rocket};

/// Whether igniting failed in the rocket-hitcount fairing.
fn failed_in_hitcount(result: Result<rocket::Rocket<rocket::Ignite>, rocket::Error>) -> bool {
    match result {
        Ok(_) => false,
        Err(e) => {
            matches!(e.kind(), ErrorKind::FailedFairings(failed) if failed.iter().any(|f| f.name == "rocket-hitcount"))
        }
    }
}
use crate::common::TestDb;

storage_tests!(
    mariadb;
    invalid_settings_stop_the_launch,
    a_missing_database_stops_the_launch,
    release_builds_need_a_secret,
    settings_reach_the_counter,
    views_in_memory_are_written_at_shutdown,
);

async fn invalid_settings_stop_the_launch(db: &TestDb) {
    for bad in [
        json!({ "keep_hit_active": "7 dayz" }),
        json!({ "keep_hits_active": "7 days" }),
        json!({ "trusted_proxies": ["not-a-network"] }),
        json!({ "base_path": "no-slash" }),
        json!({ "fast_commits": "maybe" }),
    ] {
        assert!(
            failed_in_hitcount(rocket(db, bad.clone()).ignite().await),
            "{bad}"
        );
    }
    let err =
        rocket_hitcount::Config::from_figment(&figment(db, json!({ "fast_commits": "maybe" }))).unwrap_err();
    assert_eq!(err.kind(), rocket_hitcount::ConfigErrorKind::Malformed);
    assert_eq!(err.key(), "hitcount.fast_commits");
    assert_eq!(err.value(), Some("\"maybe\""));
    assert!(err.to_string().contains("`hitcount.fast_commits`"), "{err}");
}

async fn a_missing_database_stops_the_launch(db: &TestDb) {
    let app = rocket::custom(figment(db, json!({})));
    let app = on_test_database!(db, D => app.attach(rocket_hitcount::HitCount::init::<D>()));
    assert!(failed_in_hitcount(app.ignite().await));
}

async fn release_builds_need_a_secret(db: &TestDb) {
    let without_secret = figment(db, json!({})).merge(("hitcount.secret_key", None::<String>));
    let release = without_secret.clone().select(rocket::Config::RELEASE_PROFILE);
    let build = |figment| {
        let app = rocket::custom(figment);
        on_test_database!(db, D => app.attach(D::init()).attach(rocket_hitcount::HitCount::init::<D>()))
    };
    assert!(
        failed_in_hitcount(build(release).ignite().await),
        "release without secret_key must not launch"
    );
    assert!(
        build(without_secret).ignite().await.is_ok(),
        "debug makes a random key"
    );
}

async fn settings_reach_the_counter(db: &TestDb) {
    let rocket = rocket(
        db,
        json!({ "keep_hit_active": { "days": 1 }, "hits_per_ip_limit": 5, "fast_commits": false }),
    )
    .ignite()
    .await
    .unwrap();
    let state = rocket_hitcount::HitCount::fetch(&rocket).unwrap();
    assert_eq!(
        state.counter().settings().keep_hit_active,
        hitcount::Window::days(1)
    );
    assert_eq!(state.counter().settings().hits_per_ip_limit, 5);
    assert!(!state.counter().settings().fast_commits);
    assert_eq!(state.config().ajax_url(), "/hitcount/hit/ajax/");
}

/// The views still in memory are written as the app shuts down, although
/// the database fairing closes the app's pool at the same time.
async fn views_in_memory_are_written_at_shutdown(db: &TestDb) {
    let client = rocket::local::asynchronous::Client::untracked(rocket(db, json!({})))
        .await
        .expect("launches");
    for _ in 0..3 {
        client.get("/post/1").dispatch().await;
    }
    client.terminate().await;
    assert_eq!(
        db.scalar("SELECT views FROM hitcount_hit_count").await,
        3,
        "the repeat views were written"
    );
}

/// What test `name` of this program prints when it runs alone, in a child
/// process with `HITCOUNT_LAUNCH_CHILD` set: Rocket's log of a launch.
fn child_log(name: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().expect("the test program"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("HITCOUNT_LAUNCH_CHILD", "1")
        .env("ROCKET_CLI_COLORS", "false")
        .output()
        .expect("the test program runs again");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the child failed:\n{log}");
    log
}

/// Whether this is the child of [`child_log`].
fn in_child() -> bool {
    std::env::var_os("HITCOUNT_LAUNCH_CHILD").is_some()
}

/// A figment that logs, on SQLite database `hits` at `url`.
fn logging(url: Option<&str>) -> rocket::figment::Figment {
    let figment = rocket::Config::figment()
        .merge(("log_level", "normal"))
        .merge(("hitcount.secret_key", "test secret key, thirty-two chars long"));
    match url {
        Some(url) => figment.merge(("databases.hits.url", url)),
        None => figment,
    }
}

#[rocket::get("/counted")]
fn counted(_hits: rocket_hitcount::Hits<'_>) {}

#[rocket::get("/form")]
fn form(_csrf: rocket_hitcount::CsrfToken<'_>) {}

#[test]
fn guards_without_the_fairing_stop_the_launch() {
    if in_child() {
        rocket::execute(async {
            let result = rocket::custom(logging(None))
                .mount("/", rocket::routes![counted, form])
                .ignite()
                .await;
            let error = result.expect_err("no launch without the fairing");
            let ErrorKind::SentinelAborts(sentries) = error.kind() else {
                panic!("not a sentinel's abort: {error}");
            };
            let names: Vec<_> = sentries.iter().map(|s| s.type_name).collect();
            assert!(names.iter().any(|n| n.contains("Hits")), "{names:?}");
            assert!(names.iter().any(|n| n.contains("CsrfToken")), "{names:?}");
        });
        return;
    }
    let log = child_log("launch::guards_without_the_fairing_stop_the_launch");
    for guard in ["Hits", "CsrfToken"] {
        assert!(
            log.contains(&format!(
                "a route uses `{guard}`, but the rocket-hitcount fairing is not attached"
            )),
            "{log}"
        );
    }
    assert!(log.contains("HitCount::init::<Db>()"), "{log}");
}

#[test]
fn a_database_that_is_missing_says_why() {
    use crate::app::SqliteHits;
    use rocket_hitcount::HitCount;
    if in_child() {
        let folder = std::env::temp_dir().join(format!("hitcount-launch-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let good = format!("sqlite://{}/hits.db", folder.display());
        rocket::execute(async {
            println!("-- not attached");
            let app = rocket::custom(logging(Some(&good))).attach(HitCount::init::<SqliteHits>());
            assert!(failed_in_hitcount(app.ignite().await));
            println!("-- unopenable");
            let app = rocket::custom(logging(Some("sqlite:///no/such/folder/hits.db")))
                .attach(SqliteHits::init())
                .attach(HitCount::init::<SqliteHits>());
            assert!(failed_in_hitcount(app.ignite().await));
            println!("-- no url");
            let app = rocket::custom(logging(None))
                .attach(SqliteHits::init())
                .attach(HitCount::init::<SqliteHits>());
            assert!(failed_in_hitcount(app.ignite().await));
        });
        std::fs::remove_dir_all(&folder).unwrap();
        return;
    }
    let log = child_log("launch::a_database_that_is_missing_says_why");
    let part = |from: &str, to: Option<&str>| {
        let start = log.find(from).unwrap_or_else(|| panic!("{from} in {log}"));
        let end = to.and_then(|to| log.find(to)).unwrap_or(log.len());
        log[start..end].to_owned()
    };
    let not_attached = part("-- not attached", Some("-- unopenable"));
    assert!(
        not_attached
            .contains("database `hits` (SqliteHits) is not attached before rocket-hitcount's fairing"),
        "{not_attached}"
    );
    assert!(
        not_attached.contains("`.attach(SqliteHits::init()).attach(HitCount::init::<SqliteHits>())`"),
        "{not_attached}"
    );
    let unopenable = part("-- unopenable", Some("-- no url"));
    assert!(
        unopenable
            .contains("database `hits` (SqliteHits) cannot be opened at sqlite:///no/such/folder/hits.db: "),
        "{unopenable}"
    );
    assert!(!unopenable.contains("is not attached"), "{unopenable}");
    let no_url = part("-- no url", None);
    assert!(
        no_url.contains("database `hits` (SqliteHits) has no URL"),
        "{no_url}"
    );
    assert!(no_url.contains("[default.databases.hits]"), "{no_url}");
}
