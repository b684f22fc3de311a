//! `counts_refresh`: what an instance read is reused for that long. Its own
//! writes show at once; other instances' writes at most that late.

use hitcount::{HitCounter, HitFilter, HitResult, Settings, Window};

use crate::common::{settings, TestDb};
use crate::{post, visitor};

storage_tests!(
    pgbouncer, mariadb;
    own_hits_show_at_once_others_after_the_refresh,
    own_deletes_apply_at_once,
    another_instances_delete_shows_after_the_refresh,
    an_object_deleted_by_another_instance_is_counted_afresh,
    a_refusal_on_an_object_deleted_by_another_instance_registers_it_afresh,
);

/// One request of session `session` for post 1.
async fn hit(counter: &HitCounter, session: &str) -> HitResult {
    counter.count_hit(&post(1), &visitor(session)).await.unwrap()
}

fn refreshing(every: Window) -> Settings {
    settings(|s| s.counts_refresh = every)
}

/// The second app instance on the test's database.
async fn other_instance(db: &TestDb, settings: Settings) -> HitCounter {
    HitCounter::open_with_clock(db.second_pool().await, settings, db.clock.clock())
        .await
        .unwrap()
}

async fn own_hits_show_at_once_others_after_the_refresh(db: &TestDb) {
    let cached = db.counter(refreshing(Window::hours(1))).await;
    let uncached = other_instance(db, refreshing(Window::seconds(0))).await;
    let other = other_instance(db, Settings::default()).await;

    assert_eq!(hit(&cached, "a").await.total_hits, 1);
    assert_eq!(hit(&cached, "b").await.total_hits, 2);
    // The repeat visit is answered from memory: this instance's own hits.
    assert_eq!(hit(&cached, "a").await.total_hits, 2);

    assert!(hit(&other, "c").await.hit_counted);
    let stale = hit(&cached, "a").await;
    assert_eq!(
        (stale.hit_message, stale.total_hits),
        ("Not counted: session key has active hit", 2),
        "another instance's hit shows only after counts_refresh"
    );
    let fresh = hit(&uncached, "a").await;
    assert_eq!(fresh.total_hits, 3, "counts_refresh = 0 reads every time");
    // A hit this instance counts brings the database's total with it.
    assert_eq!(hit(&cached, "d").await.total_hits, 4);
    assert_eq!(cached.counts(&post(1)).await.unwrap().hits, 4);
}

async fn own_deletes_apply_at_once(db: &TestDb) {
    let counter = db.counter(refreshing(Window::hours(1))).await;
    assert!(hit(&counter, "a").await.hit_counted);
    assert!(!hit(&counter, "a").await.hit_counted);
    let page = counter.admin().list_hits(&HitFilter::default()).await.unwrap();
    let ids: Vec<i64> = page.hits.iter().map(|hit| hit.id).collect();
    assert_eq!(counter.admin().delete_hits(&ids).await.unwrap(), 1);
    let again = hit(&counter, "a").await;
    assert_eq!((again.hit_counted, again.total_hits), (true, 1));

    assert!(counter.admin().delete_counts(&post(1)).await.unwrap());
    let afresh = hit(&counter, "a").await;
    assert_eq!((afresh.hit_counted, afresh.total_hits), (true, 1));
}

async fn another_instances_delete_shows_after_the_refresh(db: &TestDb) {
    let cached = db.counter(refreshing(Window::hours(1))).await;
    let uncached = other_instance(db, refreshing(Window::seconds(0))).await;
    let admin = other_instance(db, Settings::default()).await;
    assert!(hit(&cached, "a").await.hit_counted);
    assert!(!hit(&uncached, "a").await.hit_counted);

    let page = admin.admin().list_hits(&HitFilter::default()).await.unwrap();
    let ids: Vec<i64> = page.hits.iter().map(|hit| hit.id).collect();
    assert_eq!(admin.admin().delete_hits(&ids).await.unwrap(), 1);

    let stale = hit(&cached, "a").await;
    assert_eq!(stale.hit_message, "Not counted: session key has active hit");
    let fresh = hit(&uncached, "a").await;
    assert_eq!((fresh.hit_counted, fresh.total_hits), (true, 1));
}

/// A pk cached by one instance whose object another instance deleted: the
/// next hit creates the object again and counts, nothing fails.
async fn an_object_deleted_by_another_instance_is_counted_afresh(db: &TestDb) {
    let cached = db.counter(refreshing(Window::hours(1))).await;
    let admin = other_instance(db, Settings::default()).await;
    let first = hit(&cached, "a").await;
    assert!(admin.admin().delete_counts(&post(1)).await.unwrap());

    let next = hit(&cached, "b").await;
    assert_eq!((next.hit_counted, next.total_hits), (true, 1));
    assert_ne!(next.pk, first.pk, "a new row");
    assert_eq!(cached.counts(&post(1)).await.unwrap().hits, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 1);
}

/// The same for a request that is refused: its batch writes nothing for
/// the vanished pk (SQLite learns of it only from the batch's write), and
/// the request is decided again on the object registered afresh.
async fn a_refusal_on_an_object_deleted_by_another_instance_registers_it_afresh(db: &TestDb) {
    let cached = db
        .counter(settings(|s| {
            s.counts_refresh = Window::hours(1);
            s.hits_per_ip_limit = 1;
        }))
        .await;
    let admin = other_instance(db, Settings::default()).await;
    let first = hit(&cached, "a").await;
    assert!(first.hit_counted);
    assert!(admin.admin().delete_counts(&post(1)).await.unwrap());
    // The IP's one active hit is on post 2 now: post 1 is refused.
    let elsewhere = cached.count_hit(&post(2), &visitor("b")).await.unwrap();
    assert!(elsewhere.hit_counted);

    let refused = hit(&cached, "c").await;
    assert_eq!(
        (refused.hit_message, refused.total_hits),
        ("Not counted: hits per IP address limit reached", 0)
    );
    let pk = refused.pk.expect("registered afresh");
    assert_ne!(Some(pk), first.pk, "a new row");
    assert_eq!(cached.counts(&post(1)).await.unwrap().pk, Some(pk));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 1);
}
