//! `private_hit_log`: the hit log keeps nothing that tells one visitor
//! from another, and counting stays exactly once, a day at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::TimeDelta;
use futures::future::join_all;
use hitcount::{Clock, HitCounter, IpStorage, Reason, User, Visitor};

use crate::common::{settings, TestDb};
use crate::post;

storage_tests!(
    pgbouncer, mariadb;
    a_private_hit_log_counts_once_per_object_and_day,
    a_private_hit_log_keeps_nothing_that_links_hits,
    a_private_hit_log_imports_django_rows_without_visitors,
    a_hit_is_keyed_with_the_salt_of_its_own_time,
    cleanup_forgets_old_salts,
);

fn private() -> hitcount::Settings {
    settings(|s| {
        s.private_hit_log = true;
        s.ip_storage = IpStorage::None;
    })
}

fn visitor(key: &str) -> Visitor {
    Visitor::new(key)
        .unwrap()
        .with_ip("198.51.100.23".parse().unwrap())
        .with_user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
}

async fn a_private_hit_log_counts_once_per_object_and_day(db: &TestDb) {
    let counter = db.counter(private()).await;
    let alice = visitor("alice-key");
    let first = post(1);
    // 16 requests at once: one is counted.
    let results = join_all((0..16).map(|_| counter.count_hit(&first, &alice))).await;
    let counted = results.iter().filter(|r| r.as_ref().unwrap().hit_counted).count();
    assert_eq!(counted, 1);
    let again = counter.count_hit(&post(1), &alice).await.unwrap();
    assert_eq!(again.reason, Reason::SessionHasActiveHit);
    assert!(
        counter.count_hit(&post(2), &alice).await.unwrap().hit_counted,
        "another object"
    );
    assert!(
        counter
            .count_hit(&post(1), &visitor("bob-key"))
            .await
            .unwrap()
            .hit_counted,
        "another visitor"
    );
    // Late the same UTC day: still her active hit.
    let midnight = db.clock.next_midnight();
    db.clock.set(midnight - TimeDelta::seconds(1));
    assert!(!counter.count_hit(&post(1), &alice).await.unwrap().hit_counted);
    // The next day the salt is another, whatever keep_hit_active says.
    db.clock.set(midnight);
    assert!(counter.count_hit(&post(1), &alice).await.unwrap().hit_counted);
    assert!(!counter.count_hit(&post(1), &alice).await.unwrap().hit_counted);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 3);
    // A browser handed a new key keeps the hit of its first one.
    let handed_over = Visitor::new("new-key")
        .unwrap()
        .with_previous_session_key("alice-key")
        .unwrap();
    assert_eq!(
        counter.count_hit(&post(1), &handed_over).await.unwrap().reason,
        Reason::SessionHasActiveHit
    );
    // A user is counted by session, like anyone: the log keeps no user.
    let carol = visitor("carol-phone").with_user(User::new("carol").unwrap());
    let carol_elsewhere = visitor("carol-laptop").with_user(User::new("carol").unwrap());
    assert_eq!(
        counter.count_hit(&post(1), &carol).await.unwrap().reason,
        Reason::CountedSession
    );
    assert!(
        counter
            .count_hit(&post(1), &carol_elsewhere)
            .await
            .unwrap()
            .hit_counted
    );
}

async fn a_private_hit_log_keeps_nothing_that_links_hits(db: &TestDb) {
    let counter = db.counter(private()).await;
    let agents = ["Firefox/140.0 (private test)", "Chrome/142.0 (private test)"];
    let mut keys = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        for ip in ["198.51.100.23", "2001:db8:77::5"] {
            let key = format!("visitor-{i}-{ip}").replace(':', "-");
            let visitor = Visitor::new(key.clone())
                .unwrap()
                .with_ip(ip.parse().unwrap())
                .with_user_agent(agent)
                .with_user(User::new(format!("user-{i}-secret")).unwrap());
            for id in 1..=3 {
                assert!(counter.count_hit(&post(id), &visitor).await.unwrap().hit_counted);
            }
            keys.push(key);
        }
    }
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 4);
    // Three days on, a request makes the day's salt and forgets the old.
    db.clock.advance(TimeDelta::days(3));
    counter
        .count_hit(&post(9), &Visitor::new("later").unwrap())
        .await
        .unwrap();
    let values = db.every_value().await;
    let sessions: Vec<&str> = values
        .iter()
        .filter(|(column, _)| column == "hitcount_hit.session_key")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(sessions.len(), 13);
    let mut distinct = sessions.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 13, "no two hits share a key: nothing links them");
    let personal: Vec<String> = ["198.51.100", "2001:db8:77", "private test", "secret"]
        .into_iter()
        .map(str::to_owned)
        .chain(keys)
        .collect();
    for (column, value) in &values {
        for personal in &personal {
            assert!(
                !value.contains(personal.as_str()),
                "{column} keeps {personal:?}: {value}"
            );
        }
    }
    let salts = values
        .iter()
        .filter(|(column, _)| column == "hitcount_daily_salt.day")
        .count();
    assert_eq!(salts, 1, "only the day's salt is left");
}

/// django-hitcount's own database, imported into a private hit log: its
/// rows keep no user agent, no user and no shared key; importing again
/// adds nothing.
async fn a_private_hit_log_imports_django_rows_without_visitors(db: &TestDb) {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hitcount-cli/tests/fixtures/django-hitcount-1.3.5.sqlite3"
    );
    let django = hitcount::Db::connect(&format!("sqlite://{fixture}?mode=ro"))
        .await
        .unwrap();
    let counter = db.counter(private()).await;
    let imported = counter.admin().import_django(&django).await.unwrap();
    assert_eq!(imported.hit_rows, 14);
    let count = |sql: &'static str| db.scalar(sql);
    assert_eq!(count("SELECT COUNT(*) FROM hitcount_hit").await, 14);
    assert_eq!(
        count("SELECT COUNT(DISTINCT session_key) FROM hitcount_hit").await,
        14
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM hitcount_hit WHERE user_agent <> '' OR user_id IS NOT NULL OR ip IS NOT NULL").await,
        0
    );
    // Django's sessions (sess-a-0, ...), agents and addresses are nowhere.
    for (column, value) in db.every_value().await {
        for kept in ["sess-", "agent_", "Mozilla", "192.0.2.", "2001:db8:"] {
            assert!(!value.contains(kept), "{column} keeps {kept:?}: {value}");
        }
    }
    assert_eq!(
        counter.admin().import_django(&django).await.unwrap().hit_rows,
        0,
        "imported once"
    );
}

/// A hit counted just before midnight is keyed with its own day's salt:
/// the same visitor counts again on the new day.
async fn a_hit_is_keyed_with_the_salt_of_its_own_time(db: &TestDb) {
    let midnight = db.clock.next_midnight();
    // The count's first reading of the clock is a moment before midnight;
    // every later one, midnight.
    let armed = Arc::new(AtomicBool::new(false));
    let clock = {
        let armed = armed.clone();
        Clock::new(move || {
            if armed.swap(false, Ordering::SeqCst) {
                midnight - TimeDelta::milliseconds(1)
            } else {
                midnight
            }
        })
    };
    let counter = HitCounter::open_with_clock(db.db.clone(), private(), clock)
        .await
        .unwrap();
    let alice = visitor("alice-key");
    armed.store(true, Ordering::SeqCst);
    assert!(counter.count_hit(&post(1), &alice).await.unwrap().hit_counted);
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM hitcount_hit WHERE created_at < {}",
            db.time_literal(midnight)
        ))
        .await,
        1,
        "the hit is of the day before"
    );
    assert!(
        counter.count_hit(&post(1), &alice).await.unwrap().hit_counted,
        "a new day"
    );
}

/// Cleanup deletes the salts older than yesterday, though no request of a
/// later day asked for one.
async fn cleanup_forgets_old_salts(db: &TestDb) {
    let counter = db.counter(private()).await;
    counter.daily_salt().await.unwrap();
    db.clock.advance(TimeDelta::days(1));
    counter.daily_salt().await.unwrap();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_daily_salt").await, 2);
    db.clock.advance(TimeDelta::days(1));
    counter.admin().cleanup().await.unwrap();
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_daily_salt").await,
        1,
        "yesterday's is kept"
    );
    db.clock.advance(TimeDelta::days(1));
    counter.admin().cleanup().await.unwrap();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_daily_salt").await, 0);
}
