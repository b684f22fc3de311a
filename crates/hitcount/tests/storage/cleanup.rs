//! Cleanup (django-hitcount's test_hitcount_cleanup), batching, and
//! history that survives it.

use chrono::TimeDelta;
use hitcount::{CleanupOptions, HitCounter, Window};

use crate::common::{self, TestDb};
use crate::{post, visitor};

storage_tests!(
    pgbouncer, mariadb;
    remove_expired_hits_and_preserve_totals,
    windows_stay_exact_after_cleanup,
    hourly_buckets_expire_and_windows_keep_their_promise,
    cleanup_runs_in_bounded_batches,
    interrupted_cleanup_continues,
    a_cleanup_dropped_mid_batch_leaves_no_transaction_behind,
    batches_meet_at_any_precision,
    paced_cleanup_starts_small,
    dry_run_and_bad_options,
    cleanup_alone_waits_for_another_instances_lease,
    cleanup_interval_cleans_up_in_the_background;
    not on mariadb: a_short_batch_from_rows_taken_elsewhere_does_not_end_the_run,
);

/// 10 hits at 0, 5, ..., 45 days ago on post 1.
async fn django_fixture(db: &TestDb) -> hitcount::HitCounter {
    let counter = db.counter(Default::default()).await;
    let now = db.clock.now();
    for i in 0..10 {
        db.clock.set(now - TimeDelta::days(5 * i));
        assert!(
            counter
                .count_hit(&post(1), &visitor(&format!("s{i}")))
                .await
                .unwrap()
                .hit_counted
        );
    }
    db.clock.set(now + TimeDelta::seconds(1));
    counter
}

async fn remove_expired_hits_and_preserve_totals(db: &TestDb) {
    let counter = django_fixture(db).await;
    let report = counter.admin().cleanup().await.unwrap();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 6);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 10);
    assert_eq!(report.message(), "Successfully removed 4 Hits");
    assert!(report.complete);
    // Running it again finds nothing more.
    assert_eq!(
        counter.admin().cleanup().await.unwrap().message(),
        "Successfully removed 0 Hits"
    );
}

/// Post 1's hits within each window, in order.
async fn hits_within(counter: &HitCounter, windows: &[&str]) -> Vec<i64> {
    let mut hits = Vec::new();
    for w in windows {
        hits.push(
            counter
                .hits_in_last(&post(1), Window::parse(w).unwrap())
                .await
                .unwrap(),
        );
    }
    hits
}

async fn windows_stay_exact_after_cleanup(db: &TestDb) {
    let counter = django_fixture(db).await;
    let windows = ["days=1", "days=30", "days=31", "days=45", "days=46", "weeks=52"];
    let before = hits_within(&counter, &windows).await;
    // The 45-day-old hit is a second older than a 45-day window now, but
    // a window reaching past the hit log and the hourly buckets (30 days
    // both, by default) counts whole days from the start of its first
    // one: the hit's day is in.
    assert_eq!(before, [1, 6, 7, 10, 10, 10]);
    counter.admin().cleanup().await.unwrap();
    assert_eq!(hits_within(&counter, &windows).await, before, "after cleanup");
    let top = counter
        .most_viewed(Some("blog.post"), Some(Window::days(46)), 1)
        .await
        .unwrap();
    assert_eq!(top[0].hits, 10);
}

/// Hourly buckets older than `keep_hourly_buckets` are removed, daily
/// ones stay, and every window answers the same before and after: exact
/// inside the hit log's retention, to the hour inside the hourly buckets',
/// to the day beyond both.
async fn hourly_buckets_expire_and_windows_keep_their_promise(db: &TestDb) {
    let settings = common::settings(|s| {
        s.keep_hit_active = Window::days(1);
        s.keep_hit_in_database = Window::days(3);
        s.keep_hourly_buckets = Window::days(5);
    });
    let counter = db.counter(settings).await;
    let noon = chrono::NaiveDate::from_ymd_opt(2026, 12, 5)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    // Hits 30 minutes, 20 hours, 2.5, 4.2, 6.3 and 10 days before noon.
    let ages = [
        TimeDelta::minutes(30),
        TimeDelta::hours(20),
        TimeDelta::hours(60),
        TimeDelta::minutes(6048),
        TimeDelta::minutes(9072),
        TimeDelta::days(10),
    ];
    for (i, age) in ages.iter().enumerate() {
        db.clock.set(noon - *age);
        let hit = counter
            .count_hit(&post(1), &visitor(&format!("v{i}")))
            .await
            .unwrap();
        assert!(hit.hit_counted, "{}", hit.hit_message);
    }
    db.clock.set(noon);
    let windows = [
        "hours=1", "days=1", "days=2", "days=3", "days=4", "days=5", "days=6", "days=8", "days=11",
    ];
    let before = hits_within(&counter, &windows).await;
    // Exact inside the hit log's 3 days; 4 days starts at the top of its
    // hour (the 4.2-day-old hit, at 07:12, is before it); 6 days starts at
    // the start of its day (2026-11-29), which holds the 6.3-day-old hit.
    assert_eq!(before, [1, 2, 2, 3, 3, 4, 5, 5, 6]);
    let report = counter.admin().cleanup().await.unwrap();
    assert_eq!(report.removed, 3, "hit rows older than 3 days");
    assert_eq!(report.hourly_buckets_removed, 2, "the 6.3- and 10-day-old hours");
    let hourly_cutoff = db.time_literal(noon - TimeDelta::days(5));
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM hitcount_hourly WHERE start_at < {hourly_cutoff}"
        ))
        .await,
        0
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hourly").await, 4);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_daily").await,
        6,
        "daily buckets stay"
    );
    assert_eq!(hits_within(&counter, &windows).await, before, "after cleanup");
    let again = counter.admin().cleanup().await.unwrap();
    assert_eq!((again.removed, again.hourly_buckets_removed), (0, 0));
}

/// Inserts `n` expired hit rows for `pk` directly (fast set-up for volume).
async fn insert_expired_rows(db: &TestDb, pk: i64, n: usize) {
    let created = db.time_literal(db.clock.now() - TimeDelta::days(60));
    let mut sql = String::from("BEGIN;");
    for i in 0..n {
        sql.push_str(&format!(
            "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent) VALUES ({pk}, {created}, NULL, 'bulk{i}', 'ua');"
        ));
    }
    sql.push_str("COMMIT;");
    db.execute(&sql).await;
}

/// A cleanup of `rows` expired hits and a fresh one on post 1, in batches
/// of at most `batch_size`: its report and the running totals it showed.
async fn cleanup_with_progress(
    db: &TestDb,
    rows: usize,
    batch_size: u32,
) -> (hitcount::CleanupReport, Vec<u64>) {
    let counter = db.counter(Default::default()).await;
    let pk = counter.register(&post(1)).await.unwrap();
    counter.count_hit(&post(1), &visitor("fresh")).await.unwrap();
    insert_expired_rows(db, pk, rows).await;
    let mut options = CleanupOptions::from(counter.settings());
    options.batch_size = batch_size;
    let mut progress = Vec::new();
    let report = counter
        .admin()
        .cleanup_with(&options, |n| progress.push(n))
        .await
        .unwrap();
    (report, progress)
}

async fn cleanup_runs_in_bounded_batches(db: &TestDb) {
    let (report, progress) = cleanup_with_progress(db, 2_500, 100).await;
    assert_eq!(report.removed, 2_500);
    assert!(report.statements >= 25, "{} statements", report.statements);
    assert_eq!(progress.first(), Some(&100));
    assert_eq!(progress.last(), Some(&2_500));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        1,
        "the fresh hit stays"
    );
}

async fn interrupted_cleanup_continues(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let pk = counter.register(&post(1)).await.unwrap();
    insert_expired_rows(db, pk, 500).await;
    let mut options = CleanupOptions::from(counter.settings());
    options.batch_size = 100;
    // Batches of 100 whatever their time: two are 200 rows.
    options.batch_time = Some(std::time::Duration::ZERO);
    options.max_batches = Some(2);
    let first = counter.admin().cleanup_with(&options, |_| {}).await.unwrap();
    assert_eq!((first.removed, first.complete), (200, false));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 300);
    options.max_batches = None;
    let second = counter.admin().cleanup_with(&options, |_| {}).await.unwrap();
    assert_eq!((second.removed, second.complete), (300, true));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 0);
}

/// A cleanup future dropped at any point (a timeout, a shut-down task)
/// rolls its batch back and leaves the counter's writes committing: the
/// writer's connection never goes back to its pool inside a transaction.
async fn a_cleanup_dropped_mid_batch_leaves_no_transaction_behind(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    // Another app instance, on a pool of its own.
    let other = HitCounter::open(db.second_pool().await, Default::default())
        .await
        .unwrap();
    let pk = counter.register(&post(1)).await.unwrap();
    insert_expired_rows(db, pk, 3_000).await;
    let mut options = CleanupOptions::from(counter.settings());
    options.batch_size = 100;
    for (i, after_us) in [0, 200, 500, 1_000, 2_000, 5_000].into_iter().enumerate() {
        let cleanup = counter.admin().cleanup_with(&options, |_| {});
        let _ = tokio::time::timeout(std::time::Duration::from_micros(after_us), cleanup).await;
        // A write through the writer's pool, read from another pool: it
        // committed.
        let object = post(100 + i as i64);
        let registered = counter.register(&object).await.unwrap();
        let seen = other
            .object_by_pk(registered)
            .await
            .unwrap()
            .map(|(object, _)| object);
        assert_eq!(seen, Some(object), "cancelled after {after_us} µs");
    }
    // What the dropped runs removed stays removed; a last run ends it. On
    // PostgreSQL a cancelled run's statement can still be running on the
    // server and take rows from under that run, which then says, rightly,
    // that it is not complete: run again until one is.
    for run in 1.. {
        if counter
            .admin()
            .cleanup_with(&options, |_| {})
            .await
            .unwrap()
            .complete
        {
            break;
        }
        assert!(run < 20, "a cleanup run is complete within 20");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 0);
}

/// A batch that removes fewer rows than it asked for because rows were
/// taken from under it (here: a trigger keeps ten of the first batch's
/// rows, as a concurrent deleter or a cancelled run's statement still
/// running on the server would take them) does not end the run early, and
/// a run that leaves rows behind does not say it is complete. Not on
/// MariaDB: its `DELETE ... ORDER BY ... LIMIT` reads on past rows taken
/// from under it until it has its limit, and a trigger cannot keep a row.
async fn a_short_batch_from_rows_taken_elsewhere_does_not_end_the_run(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let pk = counter.register(&post(1)).await.unwrap();
    insert_expired_rows(db, pk, 300).await;
    db.execute("UPDATE hitcount_hit SET user_agent = 'pinned' WHERE session_key IN ('bulk0', 'bulk1', 'bulk2', 'bulk3', 'bulk4', 'bulk5', 'bulk6', 'bulk7', 'bulk8', 'bulk9')")
        .await;
    if db.is_postgres() {
        db.execute(
            "CREATE FUNCTION keep_pinned() RETURNS trigger AS $$ BEGIN \
               IF OLD.user_agent = 'pinned' THEN RETURN NULL; END IF; RETURN OLD; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER keep_pinned BEFORE DELETE ON hitcount_hit FOR EACH ROW EXECUTE FUNCTION keep_pinned();",
        )
        .await;
    } else {
        db.execute(
            "CREATE TRIGGER keep_pinned BEFORE DELETE ON hitcount_hit WHEN OLD.user_agent = 'pinned' \
             BEGIN SELECT RAISE(IGNORE); END;",
        )
        .await;
    }
    let mut options = CleanupOptions::from(counter.settings());
    options.batch_size = 100;
    options.batch_time = Some(std::time::Duration::ZERO);
    let report = counter.admin().cleanup_with(&options, |_| {}).await.unwrap();
    assert_eq!(report.removed, 290, "every row it could remove");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 10);
    assert!(!report.complete, "ten expired rows are left");
}

/// Each batch starts at the latest time the one before removed; times of
/// whole seconds, milli- and microseconds, and equal times, on either
/// side of a batch's end are all removed (SQLite compares them as text).
async fn batches_meet_at_any_precision(db: &TestDb) {
    use chrono::Timelike;
    let counter = db.counter(Default::default()).await;
    let now = db.clock.now();
    let base = (now - TimeDelta::days(40)).with_nanosecond(0).unwrap();
    let offsets_us = [0, 120_000, 120_500, 1_000_000, 1_000_000, 1_000_001];
    for (i, offset) in offsets_us.into_iter().enumerate() {
        db.clock.set(base + TimeDelta::microseconds(offset));
        let visitor = visitor(&format!("v{i}"));
        assert!(
            counter
                .count_hit(&post(i as i64 + 1), &visitor)
                .await
                .unwrap()
                .hit_counted
        );
    }
    db.clock.set(now);
    let mut options = CleanupOptions::from(counter.settings());
    options.batch_size = 1;
    options.batch_time = Some(std::time::Duration::ZERO);
    let report = counter.admin().cleanup_with(&options, |_| {}).await.unwrap();
    assert_eq!((report.removed, report.complete), (6, true));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 0);
}

/// On SQLite a cleanup's first batch is small (its time unknown yet, a
/// batch of `batch_size` could hold the write lock for long); PostgreSQL
/// and MariaDB do not pace.
async fn paced_cleanup_starts_small(db: &TestDb) {
    let (report, progress) = cleanup_with_progress(db, 1_500, 1_000).await;
    assert_eq!(report.removed, 1_500);
    let first = if db.is_postgres() || db.is_mariadb() {
        1_000
    } else {
        100
    };
    assert_eq!(progress.first(), Some(&first));
}

async fn dry_run_and_bad_options(db: &TestDb) {
    let counter = django_fixture(db).await;
    let mut options = CleanupOptions::from(counter.settings());
    options.dry_run = true;
    assert_eq!(
        counter
            .admin()
            .cleanup_with(&options, |_| {})
            .await
            .unwrap()
            .message(),
        "Would remove 4 Hits"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 10);
    options.dry_run = false;
    options.keep = Window::days(1);
    let err = counter
        .admin()
        .cleanup_with(&options, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("keep_hit_in_database") && err.contains("days=1"),
        "{err}"
    );
    options.keep = Window::days(30);
    options.batch_size = 0;
    assert!(counter.admin().cleanup_with(&options, |_| {}).await.is_err());
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        10,
        "nothing deleted"
    );
}

/// Another instance's running cleanup (its lease in the database) makes
/// this one skip its turn; an expired lease does not.
async fn cleanup_alone_waits_for_another_instances_lease(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let pk = counter.register(&post(1)).await.unwrap();
    insert_expired_rows(db, pk, 30).await;
    let lease_until = |at: chrono::DateTime<chrono::Utc>| {
        format!(
            "UPDATE hitcount_state SET cleanup_lease_until = {}",
            db.time_literal(at)
        )
    };
    db.execute(&lease_until(db.clock.now() + TimeDelta::minutes(5)))
        .await;
    assert_eq!(
        counter.admin().cleanup_alone().await.unwrap(),
        None,
        "another instance is at it"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 30);

    // That instance died: its lease runs out.
    db.execute(&lease_until(db.clock.now() - TimeDelta::minutes(1)))
        .await;
    let report = counter
        .admin()
        .cleanup_alone()
        .await
        .unwrap()
        .expect("the lease is free");
    assert_eq!(report.removed, 30);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 0);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_state WHERE cleanup_lease_until IS NULL")
            .await,
        1,
        "given up at the end"
    );
    assert!(
        counter.admin().cleanup_alone().await.unwrap().is_some(),
        "free for the next turn"
    );
}

/// `cleanup_interval` runs the cleanup on its own; zero is refused.
async fn cleanup_interval_cleans_up_in_the_background(db: &TestDb) {
    let settings = crate::common::settings(|s| s.cleanup_interval = Some(Window::seconds(1)));
    let counter = db.counter(settings).await;
    let pk = counter.register(&post(1)).await.unwrap();
    counter.count_hit(&post(1), &visitor("fresh")).await.unwrap();
    insert_expired_rows(db, pk, 20).await;
    let started = std::time::Instant::now();
    while db.scalar("SELECT COUNT(*) FROM hitcount_hit").await > 1 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no background cleanup"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        counter.counts(&post(1)).await.unwrap().hits,
        1,
        "the fresh hit and the total stay"
    );

    let zero = crate::common::settings(|s| s.cleanup_interval = Some(Window::seconds(0)));
    match hitcount::HitCounter::open(db.db.clone(), zero).await {
        Err(err) => assert!(err.to_string().contains("cleanup_interval"), "{err}"),
        Ok(_) => panic!("a zero cleanup_interval opens"),
    }
}
