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
    invalid_settings_stop_the_launch,
    a_missing_database_stops_the_launch,
    release_builds_need_a_secret,
    settings_reach_the_counter,
    one_write_behind_app_per_database,
    views_in_memory_are_written_at_shutdown,
);

async fn invalid_settings_stop_the_launch(db: &TestDb) {
    for bad in [
        json!({ "keep_hit_active": "7 dayz" }),
        json!({ "keep_hits_active": "7 days" }),
        json!({ "trusted_proxies": ["not-a-network"] }),
        json!({ "base_path": "no-slash" }),
        json!({ "counting": "fast" }),
    ] {
        assert!(
            failed_in_hitcount(rocket(db, bad.clone()).ignite().await),
            "{bad}"
        );
    }
    let err = rocket_hitcount::Config::from_figment(&figment(db, json!({ "counting": "fast" }))).unwrap_err();
    assert!(err.contains("hitcount.counting"), "{err}");
}

async fn a_missing_database_stops_the_launch(db: &TestDb) {
    let app = rocket::custom(figment(db, json!({})));
    let app = if db.is_postgres() {
        app.attach(rocket_hitcount::HitCount::init::<crate::app::PgHits>())
    } else {
        app.attach(rocket_hitcount::HitCount::init::<crate::app::SqliteHits>())
    };
    assert!(failed_in_hitcount(app.ignite().await));
}

async fn release_builds_need_a_secret(db: &TestDb) {
    let without_secret = figment(db, json!({})).merge(("hitcount.secret_key", None::<String>));
    let release = without_secret.clone().select(rocket::Config::RELEASE_PROFILE);
    let build = |figment| {
        let app = rocket::custom(figment);
        if db.is_postgres() {
            app.attach(crate::app::PgHits::init())
                .attach(rocket_hitcount::HitCount::init::<crate::app::PgHits>())
        } else {
            app.attach(crate::app::SqliteHits::init())
                .attach(rocket_hitcount::HitCount::init::<crate::app::SqliteHits>())
        }
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
        json!({ "keep_hit_active": { "days": 1 }, "hits_per_ip_limit": 5, "counting": "write_behind" }),
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
    assert_eq!(
        state.counter().settings().counting,
        hitcount::Counting::WriteBehind
    );
    assert_eq!(state.config().ajax_url(), "/hitcount/hit/ajax/");
}

/// A second app counting into the same database, write-behind or exactly,
/// does not launch while the first counts write-behind; it does once the
/// first has shut down (the fairing gives up the lease and writes what is
/// pending). Nor does a write-behind app launch while an exact one runs,
/// until that one has shut down (the fairing withdraws its mark).
async fn one_write_behind_app_per_database(db: &TestDb) {
    let write_behind = || rocket(db, json!({ "counting": "write_behind" }));
    let first = rocket::local::asynchronous::Client::untracked(write_behind())
        .await
        .expect("the first launches");
    let counted = first.get("/post/1").dispatch().await;
    assert_eq!(
        crate::app::json(counted).await["hit_message"],
        "Hit counted: session key"
    );
    assert!(failed_in_hitcount(write_behind().ignite().await));
    let exact = || rocket(db, json!({ "counting": "exact" }));
    assert!(failed_in_hitcount(exact().ignite().await), "nor an exact one");
    first.terminate().await;
    let exact = rocket::local::asynchronous::Client::untracked(exact())
        .await
        .expect("an exact one after the first");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 1);
    assert!(
        failed_in_hitcount(write_behind().ignite().await),
        "nor a write-behind one beside an exact one"
    );
    exact.terminate().await;
    assert!(write_behind().ignite().await.is_ok(), "launches after both");
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
