//! Exactly-once counting under concurrency: django-hitcount counts up to 12
//! of 50 simultaneous requests of one visitor; here it must be 1.

use std::sync::Arc;

use futures::future::join_all;
use hitcount::{HitCounter, Reason, User, Visitor};
use tokio::sync::Barrier;

use crate::common::{settings, TestDb};
use crate::{post, visitor};

/// Settings whose budget outlasts a busy machine: these tests are about
/// what is counted, not how fast (a request over the budget would be
/// answered "unavailable").
fn patient_with(edit: impl FnOnce(&mut hitcount::Settings)) -> hitcount::Settings {
    settings(|s| {
        s.count_timeout = std::time::Duration::from_secs(30);
        edit(s);
    })
}

fn patient() -> hitcount::Settings {
    patient_with(|_| {})
}

storage_tests!(
    pgbouncer, mariadb;
    concurrent_requests_of_one_visitor_count_once,
    two_app_instances_count_once,
    concurrent_requests_respect_the_ip_limit,
    concurrent_new_visitors_get_running_totals,
    requests_arriving_together_count_once_each,
);

const REQUESTS: usize = 64;
const ROUNDS: i64 = 5;

/// Fires `REQUESTS` requests of one visitor for one object, released
/// together by a barrier, round-robin over the counters; returns how many
/// were counted.
async fn burst(counters: &[HitCounter], object: i64) -> usize {
    let start = Arc::new(Barrier::new(REQUESTS));
    let tasks = (0..REQUESTS).map(|i| {
        let counter = counters[i % counters.len()].clone();
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            counter
                .count_hit(&post(object), &visitor(&format!("session-{object}")))
                .await
        })
    });
    let mut counted = 0;
    for result in join_all(tasks).await {
        let result = result.expect("task ran").expect("count succeeded");
        assert!(matches!(
            result.reason,
            Reason::CountedSession | Reason::SessionHasActiveHit
        ));
        counted += usize::from(result.hit_counted);
    }
    counted
}

/// Several rounds, each a fresh visitor and object: every round counts 1.
async fn check_exactly_once(db: &TestDb, counters: &[HitCounter]) {
    for object in 1..=ROUNDS {
        let counted = burst(counters, object).await;
        println!(
            "{} backend, {} pool(s): {counted} of {REQUESTS} concurrent requests counted",
            counters[0].db().backend(),
            counters.len()
        );
        assert_eq!(counted, 1);
        // Views of repeat visits wait in each instance's memory for up to
        // a second; write them, then every view is in the database.
        for counter in counters {
            counter.flush_views().await.unwrap();
        }
        let counts = counters[0].counts(&post(object)).await.unwrap();
        assert_eq!((counts.hits, counts.views), (1, REQUESTS as i64));
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, ROUNDS);
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_daily")
            .await,
        ROUNDS
    );
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_hourly")
            .await,
        ROUNDS
    );
}

async fn concurrent_requests_of_one_visitor_count_once(db: &TestDb) {
    let counter = db.counter(patient()).await;
    check_exactly_once(db, &[counter]).await;
}

async fn two_app_instances_count_once(db: &TestDb) {
    let one = db.counter(patient()).await;
    let other = HitCounter::open_with_clock(db.second_pool().await, patient(), db.clock.clock())
        .await
        .unwrap();
    check_exactly_once(db, &[one, other]).await;
}

/// 64 sessions from one IP on 64 objects at once, site-wide limit 5: 5 count.
async fn concurrent_requests_respect_the_ip_limit(db: &TestDb) {
    let one = db.counter(patient_with(|s| s.hits_per_ip_limit = 5)).await;
    let other = HitCounter::open_with_clock(
        db.second_pool().await,
        patient_with(|s| s.hits_per_ip_limit = 5),
        db.clock.clock(),
    )
    .await
    .unwrap();
    let counters = [one, other];
    let tasks = (0..REQUESTS).map(|i| {
        let counter = counters[i % 2].clone();
        tokio::spawn(async move {
            counter
                .count_hit(&post(i as i64), &visitor(&format!("s{i}")))
                .await
        })
    });
    let counted = join_all(tasks)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().as_ref().unwrap().hit_counted)
        .count();
    assert_eq!(counted, 5);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 5);
}

/// 120 new visitors at once on 3 objects, over two instances: requests are
/// decided in batches, yet each object's answers carry the totals 1 to 40,
/// each once, and totals, views and buckets add up.
async fn concurrent_new_visitors_get_running_totals(db: &TestDb) {
    const OBJECTS: i64 = 3;
    const VISITORS: usize = 120;
    let one = db.counter(patient()).await;
    let other = HitCounter::open_with_clock(db.second_pool().await, patient(), db.clock.clock())
        .await
        .unwrap();
    let counters = [one, other];
    let start = Arc::new(Barrier::new(VISITORS));
    let tasks = (0..VISITORS).map(|i| {
        let counter = counters[i % 2].clone();
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            let object = 1 + (i as i64) % OBJECTS;
            let result = counter
                .count_hit(&post(object), &visitor(&format!("new-{i}")))
                .await;
            (object, result.expect("count succeeded"))
        })
    });
    let mut totals: Vec<Vec<i64>> = vec![Vec::new(); OBJECTS as usize];
    for task in join_all(tasks).await {
        let (object, result) = task.expect("task ran");
        assert!(result.hit_counted, "{result:?}");
        totals[(object - 1) as usize].push(result.total_hits);
    }
    let per_object = (VISITORS as i64) / OBJECTS;
    for (object, mut seen) in (1..=OBJECTS).zip(totals) {
        seen.sort_unstable();
        assert_eq!(seen, (1..=per_object).collect::<Vec<_>>(), "post {object}");
        let counts = counters[0].counts(&post(object)).await.unwrap();
        assert_eq!((counts.hits, counts.views), (per_object, per_object));
    }
    let expected = VISITORS as i64;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, expected);
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_hourly")
            .await,
        expected
    );
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_daily")
            .await,
        expected
    );
}

/// Requests that arrive together, on every backend, in whatever order the
/// runtime lets them reach the writer: of each pair one counts (a user on
/// two devices, two session keys each naming the other as previous, one
/// session twice), and the counted answers carry the running totals.
/// `group_commit`'s unit tests pin the order on one batch.
async fn requests_arriving_together_count_once_each(db: &TestDb) {
    let counter = db.counter(patient()).await;
    let user = || User::new("u-1").unwrap();
    let pairs = [
        [
            Visitor::new("x-1").unwrap().with_user(user()),
            Visitor::new("y-1").unwrap().with_user(user()),
        ],
        [
            Visitor::new("s-1")
                .unwrap()
                .with_previous_session_key("s-2")
                .unwrap(),
            Visitor::new("s-2")
                .unwrap()
                .with_previous_session_key("s-1")
                .unwrap(),
        ],
        [Visitor::new("t-1").unwrap(), Visitor::new("t-1").unwrap()],
    ];
    let object = post(1);
    let answers = join_all(pairs.iter().flatten().map(|v| counter.count_hit(&object, v))).await;
    let answers: Vec<_> = answers.into_iter().map(|a| a.expect("count succeeded")).collect();
    for pair in answers.chunks(2) {
        assert_eq!(pair.iter().filter(|a| a.hit_counted).count(), 1, "{pair:?}");
    }
    let mut totals: Vec<i64> = answers
        .iter()
        .filter(|a| a.hit_counted)
        .map(|a| a.total_hits)
        .collect();
    totals.sort();
    assert_eq!(totals, [1, 2, 3]);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 3);
    assert_eq!(counter.counts(&object).await.unwrap().hits, 3);
}

/// Makes SERIALIZABLE the default isolation of the connections opened on
/// `db` from now on.
async fn serializable_by_default(db: &TestDb) {
    db.execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = serializable', \
         current_database()); END $$",
    )
    .await;
}

/// Two instances starting at once on a fresh database whose server
/// default is SERIALIZABLE both open, the schema applied once: the
/// migrations' transactions read what the one before them committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_serializable_default_migrates_once() {
    for _ in 0..3 {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        serializable_by_default(&db).await;
        let pools = [db.second_pool().await, db.second_pool().await];
        let opens = pools.map(|pool| {
            let clock = db.clock.clock();
            tokio::spawn(async move { HitCounter::open_with_clock(pool, Default::default(), clock).await })
        });
        for open in opens {
            open.await.unwrap().expect("both instances open");
        }
        assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_migrations").await, 2);
    }
}

/// The counting connection sets READ COMMITTED for itself: a server whose
/// default is SERIALIZABLE fails concurrent batches of two instances with
/// serialization errors otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_serializable_default_counts_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    serializable_by_default(&db).await;
    // Pools opened after the change, so every connection has the default.
    let mut counters = Vec::new();
    for _ in 0..2 {
        let pool = db.second_pool().await;
        let isolation: String = match &pool {
            hitcount::Db::Postgres(pool) => sqlx::query_scalar("SHOW transaction_isolation")
                .fetch_one(pool)
                .await
                .unwrap(),
            _ => unreachable!("a PostgreSQL test database"),
        };
        assert_eq!(isolation, "serializable");
        counters.push(
            HitCounter::open_with_clock(pool, patient(), db.clock.clock())
                .await
                .unwrap(),
        );
    }
    check_exactly_once(&db, &counters).await;
}
