//! A database that misbehaves: hangs (a proxy that stops forwarding),
//! refuses connections, restarts mid-batch (a proxy that cuts every
//! connection), or stays locked (SQLite). In each, counting answers within
//! `count_timeout` plus a margin, nothing is counted twice, nothing is
//! acknowledged as counted that is not stored, and counting resumes by
//! itself once the database is back.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hitcount::sqlx::{self, Connection};
use hitcount::{HitCounter, HitResult, ObjectRef, Reason, Settings, Visitor};
use hitcount_testing::proxy::{Mode, TcpProxy};
use hitcount_testing::{settings, TestDb};

const BUDGET: Duration = Duration::from_millis(300);
/// What a slow, shared CI machine may add to the budget.
const MARGIN: Duration = Duration::from_millis(700);

fn budget() -> Settings {
    settings(|s| s.count_timeout = BUDGET)
}

/// A fresh PostgreSQL database (`None` where the harness skips it), a
/// proxy in front of it, and a counter with [`BUDGET`] through the proxy.
async fn behind_proxy() -> Option<(TestDb, TcpProxy, HitCounter)> {
    let db = TestDb::postgres().await?;
    let (proxy, pool) = db.behind_proxy(4, Duration::from_secs(2)).await;
    let counter = HitCounter::open(pool, budget()).await.unwrap();
    Some((db, proxy, counter))
}

fn post() -> ObjectRef {
    ObjectRef::new("blog.post", 1).unwrap()
}

/// Counts one new visitor (`visitor-<n>`) and times the answer.
async fn count(counter: &HitCounter, n: usize) -> (HitResult, Duration) {
    let visitor = Visitor::new(format!("visitor-{n}")).unwrap();
    let started = Instant::now();
    let result = counter
        .count_hit(&post(), &visitor)
        .await
        .expect("an answer, not an error");
    (result, started.elapsed())
}

/// Counts new visitors from `from` on, one every 100 ms, until one is
/// counted: how long counting took to come back.
async fn until_counted(counter: &HitCounter, from: usize, acknowledged: &mut Vec<usize>) -> Duration {
    let started = Instant::now();
    for n in from.. {
        let (result, took) = count(counter, n).await;
        assert!(took <= BUDGET + MARGIN, "visitor {n} waited {took:?}");
        if result.hit_counted {
            acknowledged.push(n);
            return started.elapsed();
        }
        assert_eq!(result.reason, Reason::Unavailable);
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "counting never resumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// What the database holds, read around the proxy: every acknowledged
/// visitor has its one hit row, no visitor has two, and the total is the
/// number of rows.
async fn assert_stored(db: &TestDb, acknowledged: &[usize]) {
    let rows: Vec<String> = match &db.db {
        hitcount::Db::Postgres(pool) => sqlx::query_scalar("SELECT session_key FROM hitcount_hit")
            .fetch_all(pool)
            .await
            .unwrap(),
        hitcount::Db::Sqlite(pool) => sqlx::query_scalar("SELECT session_key FROM hitcount_hit")
            .fetch_all(pool)
            .await
            .unwrap(),
        _ => unreachable!(),
    };
    let distinct: HashSet<&String> = rows.iter().collect();
    assert_eq!(distinct.len(), rows.len(), "a visitor counted twice: {rows:?}");
    for n in acknowledged {
        assert!(
            distinct.contains(&format!("visitor-{n}")),
            "visitor {n} was told counted but has no row"
        );
    }
    let total = db
        .scalar("SELECT CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM hitcount_hit_count")
        .await;
    assert_eq!(total, rows.len() as i64, "the total is the hit log's rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_answers_within_the_budget_and_counting_resumes() {
    let Some((db, proxy, counter)) = behind_proxy().await else {
        return;
    };
    let mut acknowledged = Vec::new();
    let (first, _) = count(&counter, 0).await;
    assert!(first.hit_counted);
    acknowledged.push(0);

    proxy.set(Mode::Freeze);
    // 16 new visitors at once, while every connection hangs.
    let waits: Vec<(HitResult, Duration)> =
        futures::future::join_all((1..=16).map(|n| count(&counter, n))).await;
    for (n, (result, took)) in (1..).zip(&waits) {
        assert!(
            *took <= BUDGET + MARGIN,
            "visitor {n} waited {took:?} for a hung database"
        );
        assert_eq!(result.reason, Reason::Unavailable, "visitor {n}");
        assert!(!result.hit_counted);
    }
    // Resting from the outage: the next page does not wait at all.
    let (resting, took) = count(&counter, 17).await;
    assert_eq!(resting.reason, Reason::Unavailable);
    assert!(
        took < Duration::from_millis(50),
        "a resting counter answered in {took:?}"
    );

    proxy.set(Mode::Forward);
    let recovery = until_counted(&counter, 18, &mut acknowledged).await;
    eprintln!(
        "hung database: pages waited at most {:?}; counting resumed {recovery:?} after the database did",
        waits.iter().map(|(_, took)| *took).max().unwrap()
    );
    assert_stored(&db, &acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_database_answers_within_the_budget_and_counting_resumes() {
    let Some((db, proxy, counter)) = behind_proxy().await else {
        return;
    };
    let mut acknowledged = Vec::new();
    assert!(count(&counter, 0).await.0.hit_counted);
    acknowledged.push(0);

    proxy.set(Mode::Refuse);
    for n in 1..=5 {
        let (result, took) = count(&counter, n).await;
        assert_eq!(result.reason, Reason::Unavailable, "visitor {n}");
        assert!(
            took <= BUDGET + MARGIN,
            "visitor {n} waited {took:?} for a refusing database"
        );
    }
    proxy.set(Mode::Forward);
    until_counted(&counter, 6, &mut acknowledged).await;
    assert_stored(&db, &acknowledged).await;
}

/// Connections cut while batches are in flight, as a server restart does:
/// each visitor is either acknowledged and stored once, or told
/// "unavailable" (and then stored at most once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_batch_loses_no_acknowledged_hit() {
    let Some((db, proxy, counter)) = behind_proxy().await else {
        return;
    };
    let load = {
        let counter = counter.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                // Eight at a time, so batches hold several requests.
                let answers = futures::future::join_all((n..n + 8).map(|n| count(&counter, n))).await;
                for (i, (result, took)) in (n..).zip(answers) {
                    assert!(took <= BUDGET + MARGIN, "visitor {i} waited {took:?}");
                    if result.hit_counted {
                        acknowledged.push(i);
                    }
                }
                n += 8;
            }
            (acknowledged, n)
        })
    };
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        proxy.set(Mode::Refuse);
        tokio::time::sleep(Duration::from_millis(150)).await;
        proxy.set(Mode::Forward);
    }
    let (mut acknowledged, next) = load.await.unwrap();
    assert!(
        !acknowledged.is_empty(),
        "some visitors were counted around the cuts"
    );
    until_counted(&counter, next, &mut acknowledged).await;
    assert_stored(&db, &acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_answers_within_the_budget_and_counting_resumes() {
    let db = TestDb::sqlite().await;
    let counter = db.counter(budget()).await;
    let mut acknowledged = Vec::new();
    assert!(count(&counter, 0).await.0.hit_counted);
    acknowledged.push(0);

    // Another process's write transaction holds the database.
    let mut other = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut other).await.unwrap();
    for n in 1..=3 {
        let (result, took) = count(&counter, n).await;
        assert_eq!(result.reason, Reason::Unavailable, "visitor {n}");
        assert!(
            took <= BUDGET + MARGIN,
            "visitor {n} waited {took:?} for a locked database"
        );
        // Reads still work (WAL): they do not end counting's outage.
        assert_eq!(counter.counts(&post()).await.unwrap().hits, 1);
    }
    let (resting, took) = count(&counter, 4).await;
    assert_eq!(resting.reason, Reason::Unavailable);
    assert!(took < BUDGET / 2, "counting rests though reads answer: {took:?}");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    until_counted(&counter, 5, &mut acknowledged).await;
    assert_stored(&db, &acknowledged).await;
}

/// Repeat visits never need the database: during an outage they are
/// answered from memory as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_visits_are_answered_from_memory_during_an_outage() {
    let Some((_db, proxy, counter)) = behind_proxy().await else {
        return;
    };
    assert!(count(&counter, 0).await.0.hit_counted);
    proxy.set(Mode::Freeze);
    let (again, took) = count(&counter, 0).await;
    assert_eq!(again.reason, Reason::SessionHasActiveHit);
    assert_eq!(again.total_hits, 1);
    assert!(
        took < Duration::from_millis(50),
        "from memory, not the database: {took:?}"
    );
    proxy.set(Mode::Forward);
}

/// Reads a page makes are bounded the same way: an answer, or
/// `Error::Unavailable`, within the budget; never a stalled page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_within_the_budget_while_the_database_hangs() {
    let Some((_db, proxy, counter)) = behind_proxy().await else {
        return;
    };
    assert!(count(&counter, 0).await.0.hit_counted);
    proxy.set(Mode::Freeze);
    let started = Instant::now();
    let counts = counter.counts(&post()).await;
    assert!(
        matches!(counts, Err(hitcount::Error::Unavailable { .. })),
        "{counts:?}"
    );
    let within = counter.hits_in_last(&post(), hitcount::Window::days(1)).await;
    assert!(
        matches!(within, Err(hitcount::Error::Unavailable { .. })),
        "{within:?}"
    );
    let top = counter.most_viewed(None, None, 10).await;
    assert!(matches!(top, Err(hitcount::Error::Unavailable { .. })), "{top:?}");
    assert!(
        started.elapsed() <= 3 * BUDGET + MARGIN,
        "three reads took {:?}",
        started.elapsed()
    );
    proxy.set(Mode::Forward);
    let started = Instant::now();
    while counter.counts(&post()).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(45), "reads never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counter.counts(&post()).await.unwrap().hits, 1);
}

/// A page's script variables (`pk_and_hits`, a read that may register the
/// object) end an outage by themselves: the try after a rest reaches the
/// database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reads_of_script_pages_end_an_outage() {
    let Some((_db, proxy, counter)) = behind_proxy().await else {
        return;
    };
    let page = ObjectRef::new("blog.post", 2).unwrap();
    proxy.set(Mode::Refuse);
    for _ in 0..4 {
        assert!(matches!(
            counter.pk_and_hits(&page).await,
            Err(hitcount::Error::Unavailable { .. })
        ));
    }
    proxy.set(Mode::Forward);
    let started = Instant::now();
    while counter.pk_and_hits(&page).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the first rests are seconds long: the outage should have ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counter.pk_and_hits(&page).await.unwrap().1, 0);
}
