//! `counting = "write_behind"`: requests decided in memory against the
//! index of active hits, answered at once, written by the next flush.

use std::sync::Arc;

use chrono::TimeDelta;
use hitcount::{Counting, HitCounter, HitFilter, HitResult, IpStorage, Settings, User, Window};

use crate::common::{settings, TestDb};
use crate::{post, visitor};

storage_tests!(
    counts_once_and_writes_at_the_flush,
    concurrent_requests_count_once,
    a_reopened_counter_knows_the_active_hits,
    the_ip_limit_holds_in_memory_and_after_reopening,
    deleted_hits_count_again,
    a_deleted_objects_pending_hits_are_dropped,
    a_failed_flush_keeps_the_hits_for_the_next,
    refusals_answer_with_the_unwritten_hits,
    a_reload_whose_flush_fails_keeps_every_hit,
    a_flush_racing_a_reload_keeps_every_hit,
    a_flush_cut_short_by_its_caller_writes_each_hit_once,
    a_second_write_behind_instance_is_refused,
    the_lease_is_renewed_while_the_instance_runs,
    a_dead_instances_lease_runs_out,
    write_behind_is_refused_beside_exact_instances,
    an_exact_instance_renews_its_mark,
    an_instance_beside_an_exact_one_counts_exactly,
    marks_a_little_ahead_are_live,
    an_instance_whose_lease_was_taken_over_counts_exactly,
    a_shutdown_whose_flush_fails_keeps_the_lease_until_written,
);

fn write_behind(edit: impl FnOnce(&mut Settings)) -> Settings {
    settings(|s| {
        s.counting = Counting::WriteBehind;
        edit(s);
    })
}

async fn hit(counter: &HitCounter, session: &str) -> HitResult {
    counter.count_hit(&post(1), &visitor(session)).await.unwrap()
}

async fn open(db: &TestDb) -> hitcount::Result<HitCounter> {
    HitCounter::open_with_clock(db.db.clone(), write_behind(|_| {}), db.clock.clock()).await
}

fn refused(opened: hitcount::Result<HitCounter>) -> hitcount::Error {
    let err = opened
        .err()
        .expect("a second write-behind instance does not open");
    assert!(
        matches!(err, hitcount::Error::WriteBehindLeaseHeld { .. }),
        "{err}"
    );
    err
}

/// Waits (10 s at most) until `done` says so: for what the counter's
/// background tasks do.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("not within 10 s: {what}");
}

/// Whether the write-behind lease in the database runs past `at`.
async fn lease_runs_past(db: &TestDb, at: chrono::DateTime<chrono::Utc>) -> bool {
    // The form sqlx writes on SQLite; PostgreSQL reads it as a time.
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    db.scalar(&format!(
        "SELECT COUNT(*) FROM hitcount_state WHERE write_behind_lease_until > '{at}'"
    ))
    .await
        == 1
}

async fn hit_rows(db: &TestDb) -> i64 {
    db.scalar("SELECT COUNT(*) FROM hitcount_hit").await
}

async fn counts_once_and_writes_at_the_flush(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    let first = hit(&counter, "a").await;
    assert_eq!(
        (first.hit_counted, first.hit_message, first.total_hits),
        (true, "Hit counted: session key", 1)
    );
    let again = hit(&counter, "a").await;
    assert_eq!(
        (again.hit_message, again.total_hits),
        ("Not counted: session key has active hit", 1)
    );
    assert_eq!(hit(&counter, "b").await.total_hits, 2);
    // Reads on the instance add what is pending, written or not (that
    // answers come before the write shows in the failed-flush test).
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!((counts.hits, counts.views), (2, 3));

    counter.flush_views().await.unwrap();
    assert_eq!(hit_rows(db).await, 2);
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!(
        (counts.hits, counts.views),
        (2, 3),
        "written once, no longer pending"
    );
    assert_eq!(counter.hits_in_last(&post(1), Window::days(1)).await.unwrap(), 2);
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_daily")
            .await,
        2,
        "the buckets are written with the hits"
    );
    counter.flush_views().await.unwrap();
    assert_eq!(hit_rows(db).await, 2, "a second flush writes nothing again");
}

async fn concurrent_requests_count_once(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let requests = (0..64).map(|i| {
        let (counter, barrier) = (counter.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            // Half of them one visitor, the others a visitor each.
            let session = if i % 2 == 0 {
                "same".to_owned()
            } else {
                format!("v{i}")
            };
            hit(&counter, &session).await
        })
    });
    let results: Vec<HitResult> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results.iter().filter(|r| r.hit_counted).count(), 33);
    let mut totals: Vec<i64> = results
        .iter()
        .filter(|r| r.hit_counted)
        .map(|r| r.total_hits)
        .collect();
    totals.sort_unstable();
    assert_eq!(
        totals,
        (1..=33).collect::<Vec<_>>(),
        "each counted hit has a total of its own"
    );
    counter.flush_views().await.unwrap();
    assert_eq!(hit_rows(db).await, 33);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 33);
}

async fn a_reopened_counter_knows_the_active_hits(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    let alice = || visitor("alice-1").with_user(User::new("alice").unwrap());
    assert!(hit(&counter, "a").await.hit_counted);
    assert!(counter.count_hit(&post(1), &alice()).await.unwrap().hit_counted);
    counter.shut_down().await.unwrap();

    let reopened = db.counter(write_behind(|_| {})).await;
    assert_eq!(
        hit(&reopened, "a").await.hit_message,
        "Not counted: session key has active hit"
    );
    let browser = visitor("new-key").with_previous_session_key("a").unwrap();
    assert!(!reopened.count_hit(&post(1), &browser).await.unwrap().hit_counted);
    let alice_elsewhere = visitor("alice-2").with_user(User::new("alice").unwrap());
    assert_eq!(
        reopened
            .count_hit(&post(1), &alice_elsewhere)
            .await
            .unwrap()
            .hit_message,
        "Not counted: authenticated user has active hit"
    );
    assert_eq!(hit(&reopened, "b").await.total_hits, 3, "the total carries on");

    // Once the hits are no longer active, the visitors count again.
    db.clock.advance(TimeDelta::days(7) + TimeDelta::seconds(1));
    let later = hit(&reopened, "a").await;
    assert_eq!((later.hit_counted, later.total_hits), (true, 4));
    assert!(reopened.count_hit(&post(1), &alice()).await.unwrap().hit_counted);
}

async fn the_ip_limit_holds_in_memory_and_after_reopening(db: &TestDb) {
    let limited = || {
        write_behind(|s| {
            s.hits_per_ip_limit = 2;
            s.ip_storage = IpStorage::Full;
        })
    };
    let counter = db.counter(limited()).await;
    assert!(hit(&counter, "a").await.hit_counted);
    assert!(hit(&counter, "b").await.hit_counted);
    assert_eq!(
        hit(&counter, "c").await.hit_message,
        "Not counted: hits per IP address limit reached"
    );
    counter.shut_down().await.unwrap();
    let reopened = db.counter(limited()).await;
    assert_eq!(
        hit(&reopened, "d").await.hit_message,
        "Not counted: hits per IP address limit reached"
    );
    let elsewhere = visitor("e").with_ip("192.0.2.9".parse().unwrap());
    assert!(
        reopened
            .count_hit(&post(1), &elsewhere)
            .await
            .unwrap()
            .hit_counted
    );
}

async fn deleted_hits_count_again(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    assert!(hit(&counter, "a").await.hit_counted);
    assert!(hit(&counter, "b").await.hit_counted);
    counter.flush_views().await.unwrap();
    let page = counter.list_hits(&HitFilter::default()).await.unwrap();
    let of_a: Vec<i64> = page
        .hits
        .iter()
        .filter(|h| h.session_key == "a")
        .map(|h| h.id)
        .collect();
    assert_eq!(counter.delete_hits(&of_a).await.unwrap(), 1);
    // The index was loaded again: a's hit is gone, the total is lower.
    assert!(!hit(&counter, "b").await.hit_counted);
    let again = hit(&counter, "a").await;
    assert_eq!((again.hit_counted, again.total_hits), (true, 2));
}

async fn a_deleted_objects_pending_hits_are_dropped(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    let pk = hit(&counter, "a").await.pk.unwrap();
    counter.flush_views().await.unwrap();
    assert!(counter.count_hit_pk(pk, &visitor("b")).await.unwrap().hit_counted);
    let other = counter.count_hit(&post(2), &visitor("a")).await.unwrap();
    assert!(other.hit_counted);
    assert!(counter.delete_counts(&post(1)).await.unwrap());
    assert!(
        matches!(counter.count_hit_pk(pk, &visitor("c")).await, Err(hitcount::Error::UnknownObject(p)) if p == pk),
        "the AJAX endpoint's pk is unknown once the object is deleted"
    );
    counter.flush_views().await.unwrap();
    assert_eq!(hit_rows(db).await, 1, "only post 2's hit is in the log");
    let fresh = hit(&counter, "a").await;
    assert_eq!((fresh.hit_counted, fresh.total_hits), (true, 1), "counted afresh");
    assert_eq!(counter.counts(&post(2)).await.unwrap().hits, 1);
}

/// Makes every insert into the hit log fail, until `allow_hit_writes`.
async fn fail_hit_writes(db: &TestDb) {
    if db.is_postgres() {
        db.execute(
            "CREATE FUNCTION fail_hit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'hit write failed'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER fail_hit BEFORE INSERT ON hitcount_hit FOR EACH ROW EXECUTE FUNCTION fail_hit();",
        )
        .await;
    } else {
        db.execute("CREATE TRIGGER fail_hit BEFORE INSERT ON hitcount_hit BEGIN SELECT RAISE(ABORT, 'hit write failed'); END;")
            .await;
    }
}

async fn allow_hit_writes(db: &TestDb) {
    if db.is_postgres() {
        db.execute("DROP TRIGGER fail_hit ON hitcount_hit").await;
    } else {
        db.execute("DROP TRIGGER fail_hit").await;
    }
}

async fn a_failed_flush_keeps_the_hits_for_the_next(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    fail_hit_writes(db).await;
    assert!(hit(&counter, "a").await.hit_counted);
    let err = counter.flush_views().await.unwrap_err();
    assert!(err.to_string().contains("hit write failed"), "{err}");
    assert_eq!(hit_rows(db).await, 0);
    assert_eq!(
        db.scalar("SELECT hits FROM hitcount_hit_count").await,
        0,
        "nothing of the failed flush stays"
    );
    assert!(hit(&counter, "b").await.hit_counted);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 2, "still pending");

    allow_hit_writes(db).await;
    counter.flush_views().await.unwrap();
    assert_eq!(hit_rows(db).await, 2, "both hits, once each");
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!((counts.hits, counts.views), (2, 2));
}

/// Bots, blacklisted and excluded visitors get the total too, unwritten
/// hits included.
async fn refusals_answer_with_the_unwritten_hits(db: &TestDb) {
    let counter = db.counter(write_behind(|s| s.respect_do_not_track = true)).await;
    assert!(hit(&counter, "a").await.hit_counted);
    let bot = visitor("bot").with_user_agent("Googlebot/2.1 (+http://www.google.com/bot.html)");
    let answer = counter.count_hit(&post(1), &bot).await.unwrap();
    assert_eq!((answer.hit_counted, answer.total_hits), (false, 1));
    let dnt = visitor("dnt").with_do_not_track(true);
    assert_eq!(counter.count_hit(&post(1), &dnt).await.unwrap().total_hits, 1);
    counter.blacklist_user_agent("my_clever_agent").await.unwrap();
    assert_eq!(hit(&counter, "c").await.total_hits, 1);
}

/// An admin delete whose flush of pending hits fails still succeeds and
/// loads the index again: the deleted object counts afresh, and the hits
/// still pending keep blocking their visitors.
async fn a_reload_whose_flush_fails_keeps_every_hit(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    let old_pk = hit(&counter, "a").await.pk;
    counter.flush_views().await.unwrap();
    let (post_2, x) = (post(2), visitor("x"));
    assert!(counter.count_hit(&post_2, &x).await.unwrap().hit_counted);
    fail_hit_writes(db).await;
    assert!(
        counter.delete_counts(&post(1)).await.unwrap(),
        "the delete itself succeeded"
    );
    let afresh = hit(&counter, "a").await;
    assert_eq!((afresh.hit_counted, afresh.total_hits), (true, 1));
    assert_ne!(afresh.pk, old_pk, "a new row for the deleted object");
    assert_eq!(
        counter.count_hit(&post_2, &x).await.unwrap().hit_message,
        "Not counted: session key has active hit",
        "a hit the failed flush left pending is still in the index"
    );
    allow_hit_writes(db).await;
    counter.flush_views().await.unwrap();
    assert_eq!(hit_rows(db).await, 2);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 1);
    assert_eq!(counter.counts(&post(2)).await.unwrap().hits, 1);
}

/// A flush that runs while an admin change reloads the index (the
/// background flush, or a caller's) cannot hide the hits it is writing
/// from the reload: each is either in the rows the reload reads or among
/// the hits it adds as still pending. Here the writes fail, so every
/// flush puts the hits back, and the visitor must stay blocked.
async fn a_flush_racing_a_reload_keeps_every_hit(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    hit(&counter, "a").await;
    counter.flush_views().await.unwrap();
    let (post_2, x) = (post(2), visitor("x"));
    assert!(counter.count_hit(&post_2, &x).await.unwrap().hit_counted);
    fail_hit_writes(db).await;
    let post_1 = post(1);
    for round in 0..40 {
        let (deleted, flushed) = tokio::join!(counter.delete_counts(&post_1), counter.flush_views());
        deleted.unwrap();
        assert!(flushed.is_err(), "the writes fail");
        assert_eq!(
            counter.count_hit(&post_2, &x).await.unwrap().hit_message,
            "Not counted: session key has active hit",
            "round {round}: the pending hit is still in the index"
        );
    }
    allow_hit_writes(db).await;
    counter.flush_views().await.unwrap();
    assert_eq!(counter.counts(&post_2).await.unwrap().hits, 1, "counted once");
}

/// A caller that stops waiting for a flush (a timeout) at any moment
/// neither loses its hits nor has them written twice.
async fn a_flush_cut_short_by_its_caller_writes_each_hit_once(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    let mut counted = 0;
    for (i, after_us) in [0, 50, 100, 200, 500, 1_000, 2_000].into_iter().enumerate() {
        for j in 0..20 {
            assert!(hit(&counter, &format!("v{i}-{j}")).await.hit_counted);
            counted += 1;
        }
        let flush = counter.flush_views();
        let _ = tokio::time::timeout(std::time::Duration::from_micros(after_us), flush).await;
        assert_eq!(counter.counts(&post(1)).await.unwrap().hits, counted);
    }
    counter.flush_views().await.unwrap();
    assert_eq!(hit_rows(db).await, counted);
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!((counts.hits, counts.views), (counted, counted));
}

/// One write-behind instance per database: a second one is refused with a
/// message that says what to do, until the first shuts down, which writes
/// its pending hits and hands the lease on. An exact instance is refused
/// alike (the write-behind one would not see its hits); a counter to
/// administer opens beside it.
async fn a_second_write_behind_instance_is_refused(db: &TestDb) {
    let first = db.counter(write_behind(|_| {})).await;
    assert!(hit(&first, "a").await.hit_counted);
    let err = refused(open(db).await);
    let message = err.to_string();
    assert!(
        message.contains("another app instance counts write-behind into this database")
            && message.contains(r#"`counting = "exact"`"#),
        "{message}"
    );
    let exact = || HitCounter::open_with_clock(db.db.clone(), settings(|_| {}), db.clock.clock());
    assert_eq!(refused(exact().await).to_string(), message);
    let admin = HitCounter::open_admin(db.db.clone(), write_behind(|_| {}))
        .await
        .expect("opens beside the write-behind instance");
    assert_eq!(admin.counting_now(), Counting::Exact);

    first.shut_down().await.unwrap();
    let exact = exact()
        .await
        .expect("an exact instance opens once it has shut down");
    exact.shut_down().await.unwrap();
    assert_eq!(first.counting_now(), Counting::Exact);
    assert_eq!(hit_rows(db).await, 1, "the pending hit is written");
    let next = open(db).await.expect("opens once the first has shut down");
    assert_eq!(
        hit(&next, "a").await.hit_message,
        "Not counted: session key has active hit"
    );
    // The first counts exactly from now on: in the database, at once.
    assert!(hit(&first, "b").await.hit_counted);
    assert_eq!(hit_rows(db).await, 2);
}

/// The lease keeper renews the lease: a running instance keeps it past
/// its first 30 seconds.
async fn the_lease_is_renewed_while_the_instance_runs(db: &TestDb) {
    let _first = db.counter(write_behind(|_| {})).await;
    let first_lease = db.clock.now() + TimeDelta::seconds(30);
    db.clock.advance(TimeDelta::seconds(11));
    eventually("the lease is renewed", || lease_runs_past(db, first_lease)).await;
    db.clock.advance(TimeDelta::seconds(25));
    refused(open(db).await);
}

/// An instance that died without shutting down holds the lease until it
/// runs out; then the next one opens, write-behind or exact. A lease
/// further ahead of an exact counter's clock than any holder sets it (the
/// counter's clock is in the past, for an import) does not hold it back.
async fn a_dead_instances_lease_runs_out(db: &TestDb) {
    let first = db.counter(write_behind(|_| {})).await;
    drop(first);
    // Its tasks end at their next tick (every second at most): none
    // renews the lease after the clock moves on.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    refused(open(db).await);
    let exact = |clock| HitCounter::open_with_clock(db.db.clone(), settings(|_| {}), clock);
    refused(exact(db.clock.clock()).await);
    let a_day_ago = db.clock.now() - TimeDelta::days(1);
    exact(hitcount::Clock::new(move || a_day_ago))
        .await
        .expect("a lease a day ahead is no live holder's");
    db.clock.advance(TimeDelta::seconds(31));
    let exact = exact(db.clock.clock())
        .await
        .expect("opens once the lease has run out");
    exact.shut_down().await.unwrap();
    open(db).await.expect("opens once the lease has run out");
}

fn refused_beside_exact(opened: hitcount::Result<HitCounter>) -> String {
    let err = opened
        .err()
        .expect("a write-behind instance does not open beside exact ones");
    assert!(
        matches!(err, hitcount::Error::ExactInstancesCounting { .. }),
        "{err}"
    );
    err.to_string()
}

/// The other way round: a write-behind instance does not open while
/// instances count exactly (its memory would not see their hits), until
/// the last has shut down, or run out 30 seconds after it died; an exact
/// instance whose clock is in the past (an import) and a counter to
/// administer do not hold it back. Nothing counted is lost meanwhile.
async fn write_behind_is_refused_beside_exact_instances(db: &TestDb) {
    let exact = |clock| HitCounter::open_with_clock(db.db.clone(), settings(|_| {}), clock);
    let first = exact(db.clock.clock()).await.unwrap();
    let second = exact(db.clock.clock()).await.unwrap();
    assert!(hit(&first, "a").await.hit_counted);
    let message = refused_beside_exact(open(db).await);
    assert!(
        message.contains("app instances count exactly into this database")
            && message.contains("shut them down")
            && message.contains(r#"`counting = "exact"` on this one too"#),
        "{message}"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_state WHERE write_behind_lease_until IS NULL")
            .await,
        1,
        "the refused instance gives the lease back"
    );
    first.shut_down().await.unwrap();
    refused_beside_exact(open(db).await);
    drop(second);
    // Its keeper ends at its next tick (every second at most): none
    // renews its row after the clock moves on.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    refused_beside_exact(open(db).await);

    db.clock.advance(TimeDelta::seconds(31));
    let a_day_ago = db.clock.now() - TimeDelta::days(1);
    let _import = exact(hitcount::Clock::new(move || a_day_ago)).await.unwrap();
    let _admin = HitCounter::open_admin(db.db.clone(), settings(|_| {}))
        .await
        .unwrap();
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_exact_instance").await,
        2,
        "the dead one's row and the import's, none of the admin's"
    );
    let counter = open(db)
        .await
        .expect("opens beside the import and the admin, once the dead instance's mark has run out");
    assert_eq!(
        hit(&counter, "a").await.hit_message,
        "Not counted: session key has active hit"
    );
    assert_eq!(hit_rows(db).await, 1);
    // An exact instance that opens forgets the rows that ran out, even
    // when it is refused, and leaves none of its own.
    refused(exact(db.clock.clock()).await);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_exact_instance").await, 0);
}

/// Marks a little ahead of the reader's clock are live: another instance
/// opening at the same moment read its clock a moment later, or its clock
/// runs a little ahead.
async fn marks_a_little_ahead_are_live(db: &TestDb) {
    // Migrated, with no mark.
    HitCounter::open_admin(db.db.clone(), settings(|_| {}))
        .await
        .unwrap();
    let ahead =
        (db.clock.now() + TimeDelta::seconds(45)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    db.execute(&format!(
        "UPDATE hitcount_state SET write_behind_lease_until = '{ahead}'"
    ))
    .await;
    let exact = || HitCounter::open_with_clock(db.db.clone(), settings(|_| {}), db.clock.clock());
    refused(exact().await);
    db.execute("UPDATE hitcount_state SET write_behind_lease_until = NULL")
        .await;
    db.execute(&format!(
        "INSERT INTO hitcount_exact_instance (id, until) VALUES ('ahead', '{ahead}')"
    ))
    .await;
    refused_beside_exact(open(db).await);
}

/// A write-behind instance that finds an exact one counting beside it
/// (one of them stalled past its mark while the other opened) writes what
/// is pending, counts exactly, and gives up its lease.
async fn an_instance_beside_an_exact_one_counts_exactly(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    assert!(hit(&counter, "a").await.hit_counted);
    db.clock.advance(TimeDelta::seconds(11));
    let until =
        (db.clock.now() + TimeDelta::seconds(30)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    db.execute(&format!(
        "INSERT INTO hitcount_exact_instance (id, until) VALUES ('stalled', '{until}')"
    ))
    .await;
    eventually("it counts exactly", || async {
        counter.counting_now() == Counting::Exact
    })
    .await;
    let b = hit(&counter, "b").await;
    assert_eq!((b.hit_counted, b.total_hits), (true, 2));
    assert_eq!(hit_rows(db).await, 2, "written before the answer");
    eventually("the lease is given up", || async {
        db.scalar("SELECT COUNT(*) FROM hitcount_state WHERE write_behind_lease_until IS NULL")
            .await
            == 1
    })
    .await;
    // It counts exactly for good, and says so: with the stalled one gone,
    // a new write-behind instance is still refused, until it shuts down.
    db.execute("DELETE FROM hitcount_exact_instance WHERE id = 'stalled'")
        .await;
    eventually("it announces itself", || async {
        db.scalar("SELECT COUNT(*) FROM hitcount_exact_instance").await == 1
    })
    .await;
    refused_beside_exact(open(db).await);
    counter.shut_down().await.unwrap();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_exact_instance").await, 0);
    open(db).await.expect("opens once it has shut down");
}

/// An exact instance renews its mark while it runs: a write-behind one is
/// still refused past the first 30 seconds.
async fn an_exact_instance_renews_its_mark(db: &TestDb) {
    let _exact = HitCounter::open_with_clock(db.db.clone(), settings(|_| {}), db.clock.clock())
        .await
        .unwrap();
    let first_mark = db.clock.now() + TimeDelta::seconds(30);
    db.clock.advance(TimeDelta::seconds(11));
    let at = first_mark.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    eventually("the mark is renewed", || async {
        db.scalar(&format!(
            "SELECT COUNT(*) FROM hitcount_exact_instance WHERE until > '{at}'"
        ))
        .await
            == 1
    })
    .await;
    db.clock.advance(TimeDelta::seconds(25));
    refused_beside_exact(open(db).await);
}

/// An instance that finds its lease taken over (it stalled past it, and
/// another instance opened) writes what is pending and counts exactly.
async fn an_instance_whose_lease_was_taken_over_counts_exactly(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    assert!(hit(&counter, "a").await.hit_counted);
    db.execute("UPDATE hitcount_state SET write_behind_lease_until = '2999-01-01T00:00:00Z'")
        .await;
    db.clock.advance(TimeDelta::seconds(11));
    eventually("it counts exactly", || async {
        counter.counting_now() == Counting::Exact
    })
    .await;
    assert_eq!(hit_rows(db).await, 1, "the pending hit is written");
    assert_eq!(
        hit(&counter, "a").await.hit_message,
        "Not counted: session key has active hit"
    );
    // Counted in the database: a hit that cannot be written fails the
    // request, instead of being answered from memory.
    fail_hit_writes(db).await;
    assert!(counter.count_hit(&post(1), &visitor("b")).await.is_err());
    allow_hit_writes(db).await;
    let b = hit(&counter, "b").await;
    assert_eq!((b.hit_counted, b.total_hits), (true, 2));
    assert_eq!(hit_rows(db).await, 2, "written before the answer");
    assert!(
        lease_runs_past(db, db.clock.now() + TimeDelta::days(300 * 365)).await,
        "the other instance's lease is left alone"
    );
    eventually("it announces itself as counting exactly", || async {
        db.scalar("SELECT COUNT(*) FROM hitcount_exact_instance").await == 1
    })
    .await;
}

/// A shutdown that cannot write the pending hits goes on counting in
/// memory, keeping the lease so no instance opens without them, until a
/// later try writes them; then it counts exactly and gives the lease up.
async fn a_shutdown_whose_flush_fails_keeps_the_lease_until_written(db: &TestDb) {
    let counter = db.counter(write_behind(|_| {})).await;
    assert!(hit(&counter, "a").await.hit_counted);
    fail_hit_writes(db).await;
    assert!(counter.shut_down().await.is_err());
    assert_eq!(counter.counting_now(), Counting::WriteBehind);
    assert_eq!(
        hit(&counter, "a").await.hit_message,
        "Not counted: session key has active hit",
        "its pending hit still counts against the visitor"
    );
    refused(open(db).await);
    allow_hit_writes(db).await;
    eventually("it counts exactly", || async {
        counter.counting_now() == Counting::Exact
    })
    .await;
    assert_eq!(hit_rows(db).await, 1, "the pending hit is written, once");
    eventually("the lease is given up", || async { open(db).await.is_ok() }).await;
    assert_eq!(
        hit(&counter, "a").await.hit_message,
        "Not counted: session key has active hit"
    );
}
