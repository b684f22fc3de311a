//! Reading counts: totals, windows, lists and "most viewed". Reads never
//! write (django-hitcount's get_or_create on read is not kept).

use chrono::TimeDelta;
use hitcount::{HitCounter, ObjectRef, Window};

use crate::common::TestDb;
use crate::{post, visitor};

storage_tests!(
    pgbouncer, mariadb;
    hits_in_last,
    hits_in_last_minutes_fixture,
    reading_never_writes,
    counts_many_in_one_call,
    hits_in_last_many_matches_single_reads,
    most_viewed_by_total_and_window,
    deleted_hits_leave_windows,
    list_counts_gives_every_object_with_its_window,
    daily_hits_fill_the_days_and_survive_cleanup,
    days_keep_their_views_and_bot_hits,
);

/// Counts one hit per offset (each by its own session), at `now - offset`,
/// then moves the clock a second on, as real time would between the
/// fixture and the read.
async fn hits_at(
    db: &TestDb,
    counter: &HitCounter,
    object: &ObjectRef,
    offsets: impl IntoIterator<Item = TimeDelta>,
) {
    let now = db.clock.now();
    for (i, offset) in offsets.into_iter().enumerate() {
        db.clock.set(now - offset);
        let result = counter
            .count_hit(object, &visitor(&format!("fixture-{i}")))
            .await
            .unwrap();
        assert!(result.hit_counted);
    }
    db.clock.set(now + TimeDelta::seconds(1));
}

/// django-hitcount's test_hits_in_last: hits at 0, 5, ..., 45 days ago.
async fn hits_in_last(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    hits_at(db, &counter, &post(1), (0..10).map(|i| TimeDelta::days(5 * i))).await;
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 10);
    assert_eq!(counter.hits_in_last(&post(1), Window::days(30)).await.unwrap(), 6);
    assert_eq!(
        counter
            .hits_in_last(&post(1), "days=46".parse().unwrap())
            .await
            .unwrap(),
        10
    );
    assert_eq!(counter.hits_in_last(&post(1), Window::days(1)).await.unwrap(), 1);
}

/// django-hitcount's template-tag fixture: hits at 0, 15, ..., 135 minutes ago.
async fn hits_in_last_minutes_fixture(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    hits_at(
        db,
        &counter,
        &post(1),
        (0..10).map(|i| TimeDelta::minutes(15 * i)),
    )
    .await;
    let post1 = post(1);
    let within = |w: &str| counter.hits_in_last(&post1, Window::parse(w).unwrap());
    assert_eq!(within("hours=1").await.unwrap(), 4);
    assert_eq!(within("\"hours=1,minutes=30\"").await.unwrap(), 6);
    assert_eq!(within("hours=1,minutes=30").await.unwrap(), 6);
    assert_eq!(within("days=1").await.unwrap(), 10);
    assert_eq!(within("seconds=0").await.unwrap(), 0);
}

async fn reading_never_writes(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let unknown = post(404);
    assert_eq!(
        counter.counts(&unknown).await.unwrap(),
        hitcount::Counts::default()
    );
    assert_eq!(counter.hits_in_last(&unknown, Window::days(7)).await.unwrap(), 0);
    assert_eq!(
        counter.counts_many(std::slice::from_ref(&unknown)).await.unwrap()[&unknown].hits,
        0
    );
    assert_eq!(
        counter
            .hits_in_last_many(std::slice::from_ref(&unknown), Window::days(7))
            .await
            .unwrap()[&unknown],
        0
    );
    assert!(counter
        .most_viewed(None, Some(Window::days(7)), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(counter.object_by_pk(1).await.unwrap().is_none());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await, 0);
}

async fn counts_many_in_one_call(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    // More objects than one statement takes, to cross a chunk boundary.
    let posts: Vec<ObjectRef> = (1..=600).map(post).collect();
    for (i, p) in posts.iter().take(3).enumerate() {
        for s in 0..=i {
            counter.count_hit(p, &visitor(&format!("s{s}"))).await.unwrap();
        }
    }
    counter.count_hit(&posts[550], &visitor("late")).await.unwrap();
    let counts = counter.counts_many(&posts).await.unwrap();
    assert_eq!(counts.len(), 600);
    assert_eq!(
        [
            counts[&posts[0]].hits,
            counts[&posts[1]].hits,
            counts[&posts[2]].hits
        ],
        [1, 2, 3]
    );
    assert_eq!(counts[&posts[550]].hits, 1);
    assert_eq!(counts[&posts[3]].pk, None);
    assert_eq!(counts[&posts[2]].pk, counter.counts(&posts[2]).await.unwrap().pk);
}

async fn hits_in_last_many_matches_single_reads(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    hits_at(db, &counter, &post(1), (0..10).map(|i| TimeDelta::hours(7 * i))).await;
    hits_at(db, &counter, &post(2), (0..4).map(|i| TimeDelta::days(3 * i))).await;
    let objects = [post(1), post(2), post(3)];
    // post 1: hits 0, 7, ..., 63 hours ago; post 2: 0, 3, 6, 9 days ago.
    let expected = [
        ("hours=1", [1, 1, 0]),
        ("days=1", [4, 1, 0]),
        ("days=2,hours=5", [8, 1, 0]),
        ("weeks=1", [10, 3, 0]),
        ("days=30", [10, 4, 0]),
    ];
    for (window, want) in expected {
        let window = Window::parse(window).unwrap();
        let many = counter.hits_in_last_many(&objects, window).await.unwrap();
        for (object, want) in objects.iter().zip(want) {
            assert_eq!(many[object], want, "{object} within {window}");
            assert_eq!(
                counter.hits_in_last(object, window).await.unwrap(),
                want,
                "{object} within {window}"
            );
        }
    }
}

async fn most_viewed_by_total_and_window(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    // post 1: 3 hits 10 days ago; post 2: 2 hits now; post 3: 1 hit now;
    // a page of another kind: 5 hits now.
    let now = db.clock.now();
    db.clock.set(now - TimeDelta::days(10));
    for s in ["a", "b", "c"] {
        counter.count_hit(&post(1), &visitor(s)).await.unwrap();
    }
    db.clock.set(now);
    for s in ["a", "b"] {
        counter.count_hit(&post(2), &visitor(s)).await.unwrap();
    }
    counter.count_hit(&post(3), &visitor("a")).await.unwrap();
    let page = ObjectRef::new("wiki.page", "home").unwrap();
    for s in ["a", "b", "c", "d", "e"] {
        counter.count_hit(&page, &visitor(s)).await.unwrap();
    }
    let ids = |ranked: Vec<hitcount::Ranked>| {
        ranked
            .into_iter()
            .map(|r| (r.object.id().to_owned(), r.hits))
            .collect::<Vec<_>>()
    };
    let total = counter.most_viewed(Some("blog.post"), None, 10).await.unwrap();
    assert_eq!(ids(total), [("1".into(), 3), ("2".into(), 2), ("3".into(), 1)]);
    let week = counter
        .most_viewed(Some("blog.post"), Some(Window::days(7)), 10)
        .await
        .unwrap();
    assert_eq!(ids(week), [("2".into(), 2), ("3".into(), 1)]);
    let top1 = counter
        .most_viewed(Some("blog.post"), Some(Window::days(30)), 1)
        .await
        .unwrap();
    assert_eq!(ids(top1), [("1".into(), 3)]);
    let all_kinds = counter.most_viewed(None, Some(Window::days(7)), 1).await.unwrap();
    assert_eq!(all_kinds[0].object, page);
}

async fn deleted_hits_leave_windows(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    hits_at(db, &counter, &post(1), (0..4).map(|i| TimeDelta::days(10 * i))).await;
    assert_eq!(counter.hits_in_last(&post(1), Window::days(60)).await.unwrap(), 4);
    let page = counter.admin().list_hits(&Default::default()).await.unwrap();
    let oldest = page.hits.last().unwrap().id;
    assert_eq!(counter.admin().delete_hits(&[oldest]).await.unwrap(), 1);
    // The bucket of the deleted hit is lowered too.
    assert_eq!(counter.hits_in_last(&post(1), Window::days(60)).await.unwrap(), 3);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 3);
}

/// The admin's counts list: every object with a row, oldest pk first, its
/// totals and its hits in the window; a limit out of range is an error.
async fn list_counts_gives_every_object_with_its_window(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    hits_at(db, &counter, &post(1), [TimeDelta::days(10), TimeDelta::hours(1)]).await;
    counter.register(&post(2)).await.unwrap();
    let listed = counter.list_counts(Window::days(7), 100).await.unwrap();
    let rows: Vec<_> = listed
        .iter()
        .map(|o| (o.object.id().to_owned(), o.counts.hits, o.hits_within))
        .collect();
    assert_eq!(rows, [("1".to_owned(), 2, 1), ("2".to_owned(), 0, 0)]);
    assert_eq!(counter.list_counts(Window::days(7), 1).await.unwrap().len(), 1);
    let err = counter.list_counts(Window::days(7), 0).await.unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

/// Daily hits come from the buckets: days without hits are zeros, today
/// is last, and cleanup of the hit rows changes nothing.
async fn daily_hits_fill_the_days_and_survive_cleanup(db: &TestDb) {
    let counter = db
        .counter(crate::common::settings(|s| {
            s.keep_hit_active = Window::hours(1);
            s.keep_hit_in_database = Window::days(1);
        }))
        .await;
    let offsets = [
        TimeDelta::days(3),
        TimeDelta::days(3),
        TimeDelta::days(1),
        TimeDelta::zero(),
    ];
    hits_at(db, &counter, &post(1), offsets).await;
    let expected = [0, 0, 0, 0, 0, 0, 2, 0, 1, 1];
    let hits = |days: Vec<hitcount::DayHits>| days.iter().map(|d| d.hits).collect::<Vec<_>>();
    let days = counter.daily_hits(&post(1), 10).await.unwrap();
    assert_eq!(days.last().unwrap().day, db.clock.now().date_naive());
    assert_eq!(hits(days), expected);
    assert!(counter.admin().cleanup().await.unwrap().removed > 0);
    assert_eq!(hits(counter.daily_hits(&post(1), 10).await.unwrap()), expected);
    assert_eq!(hits(counter.daily_hits(&post(9), 3).await.unwrap()), [0, 0, 0]);
    assert!(counter.daily_hits(&post(1), 0).await.is_err());
}

/// Each day's bucket has the views and bot hits of that day beside its
/// hits, written with the totals by every path: a counted hit, a repeat
/// view waiting in memory, a first view that creates the object's row, and
/// a bot's request. The days add up to the totals.
async fn days_keep_their_views_and_bot_hits(db: &TestDb) {
    let counter = db
        .counter(crate::common::settings(|s| {
            s.keep_hit_active = Window::hours(1);
            s.respect_do_not_track = true;
        }))
        .await;
    let bot = |session: &str| {
        hitcount::Visitor::new(session)
            .unwrap()
            .with_user_agent("Googlebot/2.1 (+http://www.google.com/bot.html)")
    };
    let now = db.clock.now();
    // Two days ago: a hit, its visitor's repeat, a bot.
    db.clock.set(now - TimeDelta::days(2));
    assert!(crate::counted(&counter, &post(1), &visitor("a")).await);
    assert!(!crate::counted(&counter, &post(1), &visitor("a")).await);
    counter.count_hit(&post(1), &bot("bot-1")).await.unwrap();
    counter.flush_views().await.unwrap();
    // Today: a hit, two repeats, two bots; and a first view of post 2 by
    // a visitor who asks not to be tracked.
    db.clock.set(now);
    assert!(crate::counted(&counter, &post(1), &visitor("b")).await);
    for _ in 0..2 {
        counter.count_hit(&post(1), &visitor("b")).await.unwrap();
        counter.count_hit(&post(1), &bot("bot-2")).await.unwrap();
    }
    let untracked = visitor("c").with_do_not_track(true);
    assert!(!crate::counted(&counter, &post(2), &untracked).await);
    counter.flush_views().await.unwrap();

    let days = counter.daily_hits(&post(1), 3).await.unwrap();
    let rows: Vec<_> = days.iter().map(|d| (d.hits, d.views, d.bot_hits)).collect();
    assert_eq!(rows, [(1, 2, 1), (0, 0, 0), (1, 3, 2)]);
    let totals = counter.counts(&post(1)).await.unwrap();
    assert_eq!(
        (totals.hits, totals.views, totals.bot_hits),
        (2, 5, 3),
        "the days add up to the totals"
    );
    let today = counter.daily_hits(&post(2), 1).await.unwrap();
    assert_eq!((today[0].hits, today[0].views, today[0].bot_hits), (0, 1, 0));

    // The export reads the same buckets.
    let mut exported = Vec::new();
    counter
        .each_day(None, None, |object, day| {
            exported.push((object.to_string(), day.day, day.hits, day.views, day.bot_hits));
            std::ops::ControlFlow::Continue(())
        })
        .await
        .unwrap();
    let (today, two_days_ago) = (now.date_naive(), (now - TimeDelta::days(2)).date_naive());
    assert_eq!(
        exported,
        [
            ("blog.post:1".to_owned(), two_days_ago, 1, 2, 1),
            ("blog.post:1".to_owned(), today, 1, 3, 2),
            ("blog.post:2".to_owned(), today, 0, 1, 0),
        ]
    );
}
