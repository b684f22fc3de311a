//! A batch of the counting queue costs the same statements whatever its
//! size: two round trips on SQLite (its transaction's start and commit
//! ride along with the read and the write), three on PostgreSQL (its
//! start and its locks ride along with the read). Counted
//! from sqlx's own statement log, which is why this file is a test program
//! of its own (one logger per process).

use std::sync::atomic::{AtomicUsize, Ordering};

use hitcount::{ObjectRef, Visitor};

use hitcount_testing as common;

use common::TestDb;

use hitcount_testing::statements;

use statements::STATEMENTS;

/// The statements of the counting transactions while `n` new visitors
/// count at once, and how many transactions there were.
async fn burst(db: &TestDb, n: usize) -> (Vec<String>, usize) {
    let counter = db.counter(Default::default()).await;
    let post = ObjectRef::new("blog.post", 1).unwrap();
    static BURSTS: AtomicUsize = AtomicUsize::new(0);
    let burst = BURSTS.fetch_add(1, Ordering::Relaxed);
    // Registers the object, loads the blacklists and opens the writer's
    // connection: the burst's requests then queue without a statement
    // before the writer's.
    let warm_up = Visitor::new(format!("warm-up{burst}")).unwrap();
    assert!(counter.count_hit(&post, &warm_up).await.unwrap().hit_counted);
    STATEMENTS.take();
    let visitors: Vec<_> = (0..n)
        .map(|i| Visitor::new(format!("burst{burst}-{i}")).unwrap())
        .collect();
    let counted = futures::future::join_all(visitors.iter().map(|v| counter.count_hit(&post, v))).await;
    assert!(counted.iter().all(|r| r.as_ref().unwrap().hit_counted));
    let writer = STATEMENTS.take();
    let transactions = writer.iter().filter(|sql| sql.contains("BEGIN")).count();
    assert!(
        writer.iter().all(|sql| sql.contains("hitcount_")
            || sql.contains(r#"summary="BEGIN"#)
            || sql.contains(r#"summary="COMMIT"#)),
        "only the counting transactions ran: {writer:#?}"
    );
    (writer, transactions)
}

async fn check(db: &TestDb, per_batch: usize) {
    for n in [1, 8, 64] {
        let (statements, batches) = burst(db, n).await;
        assert!(
            batches >= 1 && batches <= n,
            "{n} requests, {batches} transactions"
        );
        assert_eq!(
            statements.len(),
            per_batch * batches,
            "{} backend: {n} requests in {batches} batches:\n{}",
            db.db.backend(),
            statements.join("\n")
        );
        println!(
            "{} backend: {n} new visitors at once: {batches} batches, {} statements",
            db.db.backend(),
            statements.len()
        );
    }
}

#[test]
fn a_batch_costs_the_same_statements_whatever_its_size() {
    STATEMENTS.install();
    // One thread: the burst's requests all queue before the writer runs,
    // so SQLite's burst is one batch.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sqlite = TestDb::sqlite().await;
        check(&sqlite, 2).await;
        let (_, batches) = burst(&sqlite, 64).await;
        assert_eq!(batches, 1, "SQLite: 64 requests queued together, one batch");
        if let Some(postgres) = TestDb::postgres().await {
            check(&postgres, 3).await;
        }
    });
}
