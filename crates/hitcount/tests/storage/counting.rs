//! The decision procedure and the totals (django-hitcount's test_views and
//! test_models).

use chrono::TimeDelta;
use hitcount::{
    BotPolicy, Db, Error, HitCounter, IpLimitScope, IpStorage, ObjectRef, Reason, User, Visitor, Window,
};

use crate::common::{settings, TestDb};
use crate::{counted, post, visitor};
use hitcount::sqlx;

storage_tests!(
    pgbouncer, mariadb;
    anonymous_user_hit,
    anonymous_user_hit_not_counted,
    anonymous_user_hit_counted_after_filter_active,
    registered_user_hit,
    registered_user_hit_not_counted,
    registered_user_hit_counted_after_filter_active,
    hits_per_ip_limit,
    hits_per_ip_limit_per_object,
    filter_active_counts_the_last_seven_days,
    exclude_user_group,
    blacklist_ip,
    blacklist_ip_network,
    blacklist_user_agent,
    blacklist_user_agent_matches_after_truncation,
    count_hit_invalid_hitcount_pk,
    count_hit_incremented_only_once,
    hit_count_increase,
    objects_have_their_own_counts,
    string_and_uuid_ids,
    repeat_visits_add_views_not_hits,
    repeat_views_are_written_in_batches,
    bots_are_counted_apart,
    bots_ignored_or_counted,
    do_not_track,
    user_agents_are_truncated_and_empty_ones_count,
    ip_storage_modes,
    visitors_without_ip,
    failed_transaction_counts_nothing,
    hits_written_by_your_own_sql,
    blacklist_changes_reach_other_instances,
    migrations_run_once,
    a_database_of_an_older_schema_is_upgraded,
    counting_leaves_no_settings_on_shared_connections,
    a_counter_opens_on_a_read_only_replica,
    schemas_of_other_builds_are_refused,
    previous_session_key_keeps_its_hits,
    keys_are_data_whatever_they_hold,
    a_connection_closed_while_idle_is_replaced,
    daily_salts_are_shared_and_forgotten,
    a_days_first_requests_all_get_its_salt,
    sqlite_databases_use_wal,
    durable_commits_count_alike,
);

async fn anonymous_user_hit(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let result = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    assert!(result.hit_counted);
    assert_eq!(result.hit_message, "Hit counted: session key");
}

async fn anonymous_user_hit_not_counted(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let first = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    let second = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    assert_eq!(
        (first.hit_counted, first.hit_message),
        (true, "Hit counted: session key")
    );
    assert_eq!(
        (second.hit_counted, second.hit_message),
        (false, "Not counted: session key has active hit")
    );
}

async fn anonymous_user_hit_counted_after_filter_active(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let now = db.clock.now();
    db.clock.set(now - TimeDelta::days(10));
    assert!(
        counter
            .count_hit(&post(1), &visitor("s1"))
            .await
            .unwrap()
            .hit_counted
    );
    db.clock.set(now);
    let again = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    assert_eq!(
        (again.hit_counted, again.hit_message),
        (true, "Hit counted: session key")
    );
    assert_eq!(again.total_hits, 2);
}

fn john() -> Visitor {
    visitor("s1").with_user(User::new("john").unwrap())
}

async fn registered_user_hit(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let result = counter.count_hit(&post(1), &john()).await.unwrap();
    assert_eq!(
        (result.hit_counted, result.hit_message),
        (true, "Hit counted: user authentication")
    );
}

async fn registered_user_hit_not_counted(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.count_hit(&post(1), &john()).await.unwrap();
    // Another session of the same user is still the same user.
    let other_session = Visitor::new("s2").unwrap().with_user(User::new("john").unwrap());
    let result = counter.count_hit(&post(1), &other_session).await.unwrap();
    assert_eq!(
        (result.hit_counted, result.hit_message),
        (false, "Not counted: authenticated user has active hit")
    );
}

async fn registered_user_hit_counted_after_filter_active(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let now = db.clock.now();
    db.clock.set(now - TimeDelta::days(10));
    assert!(counter.count_hit(&post(1), &john()).await.unwrap().hit_counted);
    db.clock.set(now);
    let again = counter.count_hit(&post(1), &john()).await.unwrap();
    assert_eq!(
        (again.hit_counted, again.hit_message),
        (true, "Hit counted: user authentication")
    );
}

async fn hits_per_ip_limit(db: &TestDb) {
    let counter = db.counter(settings(|s| s.hits_per_ip_limit = 2)).await;
    let mut results = Vec::new();
    for session in ["a", "b", "c"] {
        results.push(counter.count_hit(&post(1), &visitor(session)).await.unwrap());
    }
    assert_eq!(results[0].hit_message, "Hit counted: session key");
    assert_eq!(results[1].hit_message, "Hit counted: session key");
    assert_eq!(
        (results[2].hit_counted, results[2].hit_message),
        (false, "Not counted: hits per IP address limit reached")
    );
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 2);
    // Site-wide, like django-hitcount: another object is refused too.
    let other = counter.count_hit(&post(2), &visitor("d")).await.unwrap();
    assert_eq!(other.reason, Reason::IpLimitReached);
    // A repeat visit past the limit is reported as the limit (step 4
    // comes before step 6), also on the read-only fast path.
    let repeat = counter.count_hit(&post(1), &visitor("a")).await.unwrap();
    assert_eq!(repeat.reason, Reason::IpLimitReached);
}

async fn hits_per_ip_limit_per_object(db: &TestDb) {
    let counter = db
        .counter(settings(|s| {
            s.hits_per_ip_limit = 1;
            s.hits_per_ip_scope = IpLimitScope::Object;
        }))
        .await;
    assert!(
        counter
            .count_hit(&post(1), &visitor("a"))
            .await
            .unwrap()
            .hit_counted
    );
    assert!(
        counter
            .count_hit(&post(2), &visitor("b"))
            .await
            .unwrap()
            .hit_counted
    );
    let third = counter.count_hit(&post(1), &visitor("c")).await.unwrap();
    assert_eq!(third.reason, Reason::IpLimitReached);
}

/// django-hitcount's test_filter_active: of hits made 0..9 days ago, the
/// last 7 days' are active; here they are what the per-IP limit counts.
async fn filter_active_counts_the_last_seven_days(db: &TestDb) {
    let now = db.clock.now();
    let counter = db.counter(settings(|s| s.hits_per_ip_limit = 8)).await;
    for days in (0..10).rev() {
        db.clock.set(now - TimeDelta::days(days));
        let result = counter
            .count_hit(&post(days), &visitor(&format!("s{days}")))
            .await
            .unwrap();
        assert!(result.hit_counted, "{days} days ago");
    }
    db.clock.set(now + TimeDelta::seconds(1));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 10);
    // Active: the hits of days 0..6 = 7, under the limit of 8.
    assert!(
        counter
            .count_hit(&post(100), &visitor("new"))
            .await
            .unwrap()
            .hit_counted
    );
    // Now 8 active hits: the limit is reached.
    let refused = counter.count_hit(&post(101), &visitor("newer")).await.unwrap();
    assert_eq!(refused.reason, Reason::IpLimitReached);
}

async fn exclude_user_group(db: &TestDb) {
    let counter = db
        .counter(settings(|s| s.exclude_user_groups = vec!["Admin".into()]))
        .await;
    let admin = visitor("s1").with_user(User::new("john").unwrap().with_groups(["Admin"]));
    let result = counter.count_hit(&post(1), &admin).await.unwrap();
    assert_eq!(
        (result.hit_counted, result.hit_message),
        (false, "Not counted: user excluded by group")
    );
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!(
        (counts.hits, counts.views),
        (0, 0),
        "excluded users leave no trace"
    );
}

async fn blacklist_ip(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.admin().blacklist_ip("127.0.0.1").await.unwrap();
    let result = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    assert_eq!(
        (result.hit_counted, result.hit_message),
        (false, "Not counted: user IP has been blacklisted")
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await,
        0,
        "nothing written"
    );
    assert_eq!(result.pk, None);
    // Removing the entry lets the visitor count again.
    assert!(counter.admin().unblacklist_ip("127.0.0.1").await.unwrap());
    assert!(
        counter
            .count_hit(&post(1), &visitor("s1"))
            .await
            .unwrap()
            .hit_counted
    );
}

async fn blacklist_ip_network(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.admin().blacklist_ip("127.0.0.0/8").await.unwrap();
    let result = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    assert_eq!(result.reason, Reason::BlacklistedIp);
    let outside = visitor("s2").with_ip("192.0.2.1".parse().unwrap());
    assert!(counter.count_hit(&post(1), &outside).await.unwrap().hit_counted);
}

async fn blacklist_user_agent(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter
        .admin()
        .blacklist_user_agent("my_clever_agent")
        .await
        .unwrap();
    let result = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    assert_eq!(
        (result.hit_counted, result.hit_message),
        (false, "Not counted: user agent has been blacklisted")
    );
}

async fn blacklist_user_agent_matches_after_truncation(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let long = format!("Mozilla/5.0 {}", "x".repeat(400));
    counter.admin().blacklist_user_agent(&long).await.unwrap();
    let stored = &counter.admin().blacklisted_user_agents().await.unwrap()[0].value;
    assert_eq!(stored.chars().count(), 255);
    // A different tail past character 255 is the same agent, as in django-hitcount.
    let other_tail = format!("{}yyy", &long[..300]);
    let result = counter
        .count_hit(&post(1), &visitor("s").with_user_agent(&other_tail))
        .await
        .unwrap();
    assert_eq!(result.reason, Reason::BlacklistedUserAgent);
}

async fn count_hit_invalid_hitcount_pk(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let err = counter.count_hit_pk(15, &visitor("s1")).await.unwrap_err();
    assert!(matches!(err, Error::UnknownObject(15)));
    assert_eq!(err.to_string(), "no hit count with pk 15");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 0);
    let pk = counter.register(&post(1)).await.unwrap();
    let counted = counter.count_hit_pk(pk, &visitor("s1")).await.unwrap();
    assert_eq!(
        (counted.pk, counted.hit_counted, counted.total_hits),
        (Some(pk), true, 1)
    );
}

/// django-hitcount's UpdateHitCountView tests: total 0 before, 1 after the
/// counting view, still 1 after the same session's second visit.
async fn count_hit_incremented_only_once(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 0);
    let first = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    let second = counter.count_hit(&post(1), &visitor("s1")).await.unwrap();
    assert_eq!((first.total_hits, second.total_hits), (1, 1));
    assert_eq!(first.pk, second.pk);
}

/// django-hitcount's test_hit_count_increase.
async fn hit_count_increase(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.count_hit(&post(1), &visitor("a")).await.unwrap();
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 1);
    counter.count_hit(&post(1), &visitor("b")).await.unwrap();
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 2);
}

/// django-hitcount's test_get_for_object: each object has its own count.
async fn objects_have_their_own_counts(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.count_hit(&post(1), &visitor("a")).await.unwrap();
    counter.count_hit(&post(1), &visitor("b")).await.unwrap();
    counter.count_hit(&post(2), &visitor("a")).await.unwrap();
    let (one, two) = (
        counter.counts(&post(1)).await.unwrap(),
        counter.counts(&post(2)).await.unwrap(),
    );
    assert_eq!((one.hits, two.hits), (2, 1));
    assert_ne!(one.pk, two.pk);
    let (object, counts) = counter.object_by_pk(two.pk.unwrap()).await.unwrap().unwrap();
    assert_eq!((object, counts.hits), (post(2), 1));
}

async fn string_and_uuid_ids(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let uuid = ObjectRef::new("docs.doc", "67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
    let slug = ObjectRef::new("wiki.page", "getting-started").unwrap();
    let same_id_other_kind = ObjectRef::new("wiki.page", "1").unwrap();
    for object in [&uuid, &slug, &same_id_other_kind, &post(1)] {
        assert!(
            counter
                .count_hit(object, &visitor("s"))
                .await
                .unwrap()
                .hit_counted,
            "{object}"
        );
    }
    for object in [&uuid, &slug, &same_id_other_kind, &post(1)] {
        assert_eq!(counter.counts(object).await.unwrap().hits, 1, "{object}");
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await, 4);
}

async fn repeat_visits_add_views_not_hits(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    for _ in 0..3 {
        counter.count_hit(&post(1), &visitor("a")).await.unwrap();
    }
    counter.count_hit(&post(1), &visitor("b")).await.unwrap();
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!((counts.hits, counts.views, counts.bot_hits), (2, 4, 0));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 2);
}

/// Views of repeat visits wait in memory (read exactly on this instance)
/// and reach the database with the next flush.
async fn repeat_views_are_written_in_batches(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.count_hit(&post(1), &visitor("a")).await.unwrap();
    for _ in 0..3 {
        counter.count_hit(&post(1), &visitor("a")).await.unwrap();
    }
    assert_eq!(counter.counts(&post(1)).await.unwrap().views, 4);
    let written = "SELECT views FROM hitcount_hit_count";
    // The flusher may have run already: at most 4, at least the first view.
    assert!((1..=4).contains(&db.scalar(written).await));
    counter.flush_views().await.unwrap();
    assert_eq!(db.scalar(written).await, 4);
    assert_eq!(
        counter.counts(&post(1)).await.unwrap().views,
        4,
        "not counted twice"
    );
    let other = db.counter(Default::default()).await;
    assert_eq!(
        other.counts(&post(1)).await.unwrap().views,
        4,
        "other instances see them"
    );
}

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

async fn bots_are_counted_apart(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let bot = visitor("bot").with_user_agent(GOOGLEBOT);
    for _ in 0..2 {
        let result = counter.count_hit(&post(1), &bot).await.unwrap();
        assert_eq!(
            (result.hit_counted, result.hit_message),
            (false, "Not counted: user agent is a bot")
        );
    }
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!((counts.hits, counts.views, counts.bot_hits), (0, 0, 2));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        0,
        "bots write no hit rows"
    );
}

async fn bots_ignored_or_counted(db: &TestDb) {
    let bot = visitor("bot").with_user_agent(GOOGLEBOT);
    let ignoring = db.counter(settings(|s| s.bots = BotPolicy::Ignore)).await;
    assert_eq!(
        ignoring.count_hit(&post(1), &bot).await.unwrap().reason,
        Reason::Bot
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await, 0);
    let counting = db.counter(settings(|s| s.bots = BotPolicy::Count)).await;
    assert!(counting.count_hit(&post(1), &bot).await.unwrap().hit_counted);
    assert_eq!(counting.counts(&post(1)).await.unwrap().bot_hits, 0);
}

async fn do_not_track(db: &TestDb) {
    let dnt = visitor("s1").with_do_not_track(true);
    let respecting = db.counter(settings(|s| s.respect_do_not_track = true)).await;
    let result = respecting.count_hit(&post(1), &dnt).await.unwrap();
    assert_eq!(
        (result.hit_counted, result.hit_message),
        (false, "Not counted: visitor asked not to be tracked")
    );
    let counts = respecting.counts(&post(1)).await.unwrap();
    assert_eq!((counts.hits, counts.views), (0, 1));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit").await,
        0,
        "no hit row, no IP kept"
    );
    let default = db.counter(Default::default()).await;
    assert!(default.count_hit(&post(1), &dnt).await.unwrap().hit_counted);
}

async fn user_agents_are_truncated_and_empty_ones_count(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let huge = "z".repeat(100_000);
    assert!(
        counter
            .count_hit(&post(1), &visitor("a").with_user_agent(&huge))
            .await
            .unwrap()
            .hit_counted
    );
    assert!(
        counter
            .count_hit(&post(1), &visitor("b").with_user_agent(""))
            .await
            .unwrap()
            .hit_counted
    );
    assert_eq!(
        db.scalar("SELECT CAST(MAX(LENGTH(user_agent)) AS BIGINT) FROM hitcount_hit")
            .await,
        255
    );
    assert_eq!(
        db.scalar("SELECT CAST(MIN(LENGTH(user_agent)) AS BIGINT) FROM hitcount_hit")
            .await,
        0
    );
}

async fn ip_storage_modes(db: &TestDb) {
    let ip = |s: &str| s.parse().unwrap();
    let cases = [
        (IpStorage::Full, "full", 1),
        (IpStorage::Masked, "masked", 2),
        (IpStorage::Hashed, "hashed", 3),
        (IpStorage::None, "none", 4),
    ];
    for (storage, session, id) in cases {
        let counter = db.counter(settings(|s| s.ip_storage = storage)).await;
        let v = Visitor::new(session).unwrap().with_ip(ip("198.51.100.77"));
        assert!(counter.count_hit(&post(id), &v).await.unwrap().hit_counted);
    }
    let sql = |id: i64| {
        format!(
            "SELECT COUNT(*) FROM hitcount_hit h JOIN hitcount_hit_count c ON c.id = h.hit_count_id \
             WHERE c.object_id = '{id}' AND "
        )
    };
    assert_eq!(db.scalar(&(sql(1) + "h.ip = '198.51.100.77'")).await, 1);
    assert_eq!(db.scalar(&(sql(2) + "h.ip = '198.51.100.0'")).await, 1);
    // 32 hex digits: no dot, so no address. (Not "no '198'": a hex digest
    // holds those digits by chance about once in 140 runs.)
    assert_eq!(
        db.scalar(&(sql(3) + "LENGTH(h.ip) = 32 AND h.ip NOT LIKE '%.%'"))
            .await,
        1
    );
    assert_eq!(db.scalar(&(sql(4) + "h.ip IS NULL")).await, 1);
    // No raw address anywhere but under full storage.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit WHERE ip LIKE '%.77'")
            .await,
        1
    );
    // Hashing is stable across counters on one database (the key is
    // stored): another counter stores the same hash for the same address.
    let again = db.counter(Default::default()).await;
    let v = Visitor::new("hashed-again").unwrap().with_ip(ip("198.51.100.77"));
    assert!(again.count_hit(&post(11), &v).await.unwrap().hit_counted);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_hit WHERE LENGTH(ip) = 32")
            .await,
        2
    );
    assert_eq!(
        db.scalar("SELECT COUNT(DISTINCT ip) FROM hitcount_hit WHERE LENGTH(ip) = 32")
            .await,
        1
    );
    // The per-IP limit holds under hashing: this address has 2 active hits
    // (posts 3 and 11), the limit is 2.
    let limited = db.counter(settings(|s| s.hits_per_ip_limit = 2)).await;
    let other_session = Visitor::new("x").unwrap().with_ip(ip("198.51.100.77"));
    let refused = limited.count_hit(&post(9), &other_session).await.unwrap();
    assert_eq!(refused.reason, Reason::IpLimitReached);
    let other_address = Visitor::new("y").unwrap().with_ip(ip("198.51.100.78"));
    assert!(
        limited
            .count_hit(&post(9), &other_address)
            .await
            .unwrap()
            .hit_counted
    );
}

async fn visitors_without_ip(db: &TestDb) {
    let counter = db.counter(settings(|s| s.hits_per_ip_limit = 1)).await;
    counter.admin().blacklist_ip("127.0.0.1").await.unwrap();
    // No IP: the IP rules cannot apply, the session rules still do.
    for session in ["a", "b"] {
        let v = Visitor::new(session).unwrap();
        assert!(counter.count_hit(&post(1), &v).await.unwrap().hit_counted);
    }
}

/// A failure inside the counting transaction leaves no half-counted hit:
/// no total, no hit row, no bucket, no view.
async fn failed_transaction_counts_nothing(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.count_hit(&post(1), &visitor("before")).await.unwrap();
    if db.is_postgres() {
        db.execute(
            "CREATE FUNCTION fail_bucket() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'bucket write failed'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER fail_daily BEFORE INSERT OR UPDATE ON hitcount_daily FOR EACH ROW EXECUTE FUNCTION fail_bucket();",
        )
        .await;
    } else if db.is_mariadb() {
        db.execute(
            "CREATE TRIGGER fail_daily BEFORE INSERT ON hitcount_daily FOR EACH ROW \
               SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'bucket write failed';
             CREATE TRIGGER fail_daily_update BEFORE UPDATE ON hitcount_daily FOR EACH ROW \
               SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'bucket write failed';",
        )
        .await;
    } else {
        db.execute(
            "CREATE TRIGGER fail_daily BEFORE INSERT ON hitcount_daily BEGIN SELECT RAISE(ABORT, 'bucket write failed'); END;
             CREATE TRIGGER fail_daily_update BEFORE UPDATE ON hitcount_daily BEGIN SELECT RAISE(ABORT, 'bucket write failed'); END;",
        )
        .await;
    }
    let err = counter.count_hit(&post(1), &visitor("during")).await.unwrap_err();
    assert!(err.to_string().contains("bucket write failed"), "{err}");
    let counts = counter.counts(&post(1)).await.unwrap();
    assert_eq!((counts.hits, counts.views), (1, 1));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 1);
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_hourly")
            .await,
        1
    );
    if db.is_postgres() {
        db.execute("DROP TRIGGER fail_daily ON hitcount_daily").await;
    } else {
        db.execute("DROP TRIGGER fail_daily; DROP TRIGGER fail_daily_update;")
            .await;
    }
    let retry = counter.count_hit(&post(1), &visitor("during")).await.unwrap();
    assert_eq!((retry.hit_counted, retry.total_hits), (true, 2));
}

async fn blacklist_changes_reach_other_instances(db: &TestDb) {
    let one = db.counter(Default::default()).await;
    let other_pool = db.second_pool().await;
    let refresh_now = hitcount::HitCounter::open_with_clock(
        other_pool.clone(),
        settings(|s| s.blacklist_refresh = Window::seconds(0)),
        db.clock.clock(),
    )
    .await
    .unwrap();
    let refresh_hourly = hitcount::HitCounter::open_with_clock(
        other_pool,
        settings(|s| s.blacklist_refresh = Window::hours(1)),
        db.clock.clock(),
    )
    .await
    .unwrap();
    one.admin().blacklist_ip("127.0.0.1").await.unwrap();
    assert_eq!(
        one.count_hit(&post(1), &visitor("a")).await.unwrap().reason,
        Reason::BlacklistedIp
    );
    assert_eq!(
        refresh_now
            .count_hit(&post(1), &visitor("b"))
            .await
            .unwrap()
            .reason,
        Reason::BlacklistedIp
    );
    // Within its refresh interval an instance serves its snapshot: the
    // documented staleness, and why the hot path does not query blacklists.
    assert!(
        refresh_hourly
            .count_hit(&post(1), &visitor("c"))
            .await
            .unwrap()
            .hit_counted
    );
}

/// A database whose schema another build made (it records a migration
/// this build does not have) is refused with what to do, never used with
/// columns missing.
async fn schemas_of_other_builds_are_refused(db: &TestDb) {
    db.counter(Default::default()).await;
    db.execute(
        "INSERT INTO hitcount_migrations (version, description, applied_at) \
         VALUES (6, 'exact instances', '2026-12-01T00:00:00+00:00')",
    )
    .await;
    let err = HitCounter::open(db.db.clone(), Default::default())
        .await
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(message.contains("versions [6]"), "{message}");
    assert!(message.contains("another build of rocket-hitcount"), "{message}");
    assert!(message.contains("use a new database"), "{message}");
}

/// Two app instances starting at once on a fresh database: both open, the
/// schema is applied once.
async fn migrations_run_once(db: &TestDb) {
    let pools = [db.db.clone(), db.second_pool().await];
    let opens = pools.map(|pool| {
        let clock = db.clock.clock();
        tokio::spawn(async move { HitCounter::open_with_clock(pool, Default::default(), clock).await })
    });
    for open in opens {
        open.await.unwrap().expect("both instances open");
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_migrations").await,
        2,
        "each migration once"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_state").await, 1);
}

/// A database made by a build before the blacklists counted refusals (the
/// first schema only) gets the second at the next launch, and keeps its
/// entries.
async fn a_database_of_an_older_schema_is_upgraded(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    counter.admin().blacklist_ip("192.0.2.1").await.unwrap();
    drop(counter);
    db.execute(
        "ALTER TABLE hitcount_blacklist_ip DROP COLUMN refused; \
         ALTER TABLE hitcount_blacklist_user_agent DROP COLUMN refused; \
         DELETE FROM hitcount_migrations WHERE version = 2",
    )
    .await;
    let counter = db.counter(Default::default()).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_migrations").await, 2);
    let entries = counter.admin().blacklisted_ips().await.unwrap();
    assert_eq!((entries[0].value.as_str(), entries[0].refused), ("192.0.2.1", 0));
}

/// The counting transaction's settings (isolation, timeouts, commits that
/// do not wait for the disk) are its own: behind PgBouncer in transaction
/// mode, the server connections it used serve other clients afterwards,
/// which must find the server's defaults.
async fn counting_leaves_no_settings_on_shared_connections(db: &TestDb) {
    if !db.url.starts_with("postgres") {
        return;
    }
    let counter = db.counter(settings(|s| s.fast_commits = true)).await;
    for i in 0..20 {
        assert!(counted(&counter, &post(1), &visitor(&format!("s{i}"))).await);
    }
    let Db::Postgres(pool) = &db.db else {
        unreachable!()
    };
    for _ in 0..20 {
        let mut tx = pool.begin().await.unwrap();
        for (name, default) in [
            ("synchronous_commit", "on"),
            ("statement_timeout", "0"),
            ("plan_cache_mode", "auto"),
            ("idle_in_transaction_session_timeout", "0"),
            ("transaction_isolation", "read committed"),
        ] {
            let value: String = sqlx::query_scalar(&format!("SHOW {name}"))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            assert_eq!(value, default, "{name}");
        }
        tx.commit().await.unwrap();
    }
}

/// A counter opened on a read replica (here: sessions that may not
/// write) of a database the primary has set up reads its counts: opening
/// writes nothing.
async fn a_counter_opens_on_a_read_only_replica(db: &TestDb) {
    // A session setting, which a pooler in transaction mode would hand
    // to other clients: on the server itself only.
    if !db.url.starts_with("postgres") || db.through_pgbouncer {
        return;
    }
    let primary = db.counter(Default::default()).await;
    assert!(counted(&primary, &post(1), &visitor("s")).await);
    let read_only = sqlx::postgres::PgPoolOptions::new()
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, "SET default_transaction_read_only = on").await?;
                Ok(())
            })
        })
        .connect(&db.url)
        .await
        .unwrap();
    let replica = HitCounter::open_with_clock(Db::from(read_only), Default::default(), db.clock.clock())
        .await
        .expect("opens without writing");
    assert_eq!(replica.counts(&post(1)).await.unwrap().hits, 1);
    assert_eq!(replica.hits_in_last(&post(1), Window::days(1)).await.unwrap(), 1);
}

/// A visitor whose first request was counted under another session key
/// (a cookieless first request) is not counted again under its new key.
async fn previous_session_key_keeps_its_hits(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    assert!(
        counter
            .count_hit(&post(1), &visitor("derived"))
            .await
            .unwrap()
            .hit_counted
    );
    let returning = visitor("random").with_previous_session_key("derived").unwrap();
    let again = counter.count_hit(&post(1), &returning).await.unwrap();
    assert_eq!(again.reason, Reason::SessionHasActiveHit);
    // Its new hits are its own.
    assert!(counter.count_hit(&post(2), &returning).await.unwrap().hit_counted);
    assert_eq!(
        counter
            .count_hit(&post(2), &visitor("random"))
            .await
            .unwrap()
            .reason,
        Reason::SessionHasActiveHit
    );
}

/// Session keys and user ids are data whatever they hold: quotes,
/// backslashes, dollar signs and JSON escapes (PostgreSQL's counting read
/// carries them in its text) are stored and found again as they are. With
/// no read cache, each repeat visit is the database's answer.
async fn keys_are_data_whatever_they_hold(db: &TestDb) {
    let counter = db
        .counter(settings(|s| s.counts_refresh = Window::seconds(0)))
        .await;
    let keys = [
        "$lookups$::JSONB) AS j(e, i); DELETE FROM hitcount_hit; --",
        "it's",
        r"back\slash\",
        "$$",
        r"\u0024",
        "\"quoted\"",
        "ünïcødé 🦀",
    ];
    for (i, key) in keys.iter().enumerate() {
        let anonymous = Visitor::new(*key).unwrap();
        let same_browser = Visitor::new(format!("new-{i}"))
            .unwrap()
            .with_previous_session_key(*key)
            .unwrap();
        let user = |session: &str| Visitor::new(session).unwrap().with_user(User::new(*key).unwrap());
        let answers = [
            counted(&counter, &post(1), &anonymous).await,
            counted(&counter, &post(1), &anonymous).await,
            counted(&counter, &post(1), &same_browser).await,
            counted(&counter, &post(1), &user(&format!("a-{i}"))).await,
            counted(&counter, &post(1), &user(&format!("b-{i}"))).await,
        ];
        assert_eq!(answers, [true, false, false, true, false], "{key}");
    }
    let n = keys.len() as i64;
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 2 * n);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 2 * n);
}

/// The server closes the counting connection while the site is quiet (as
/// MariaDB does after `wait_timeout`): the next visitor, a minute later,
/// is counted on a new connection rather than answered "unavailable".
async fn a_connection_closed_while_idle_is_replaced(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    assert!(counted(&counter, &post(1), &visitor("before")).await);
    match &db.db {
        Db::Postgres(pool) => {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        Db::MySql(pool) => {
            // From one connection, which kills every other.
            let mut killer = pool.acquire().await.unwrap();
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT CAST(id AS SIGNED) FROM information_schema.processlist \
                 WHERE db = DATABASE() AND id <> CONNECTION_ID()",
            )
            .fetch_all(&mut *killer)
            .await
            .unwrap();
            assert!(!ids.is_empty());
            for id in ids {
                sqlx::query(&format!("KILL {id}"))
                    .execute(&mut *killer)
                    .await
                    .unwrap();
            }
        }
        // An embedded database has no server to close it.
        _ => return,
    }
    db.clock.advance(TimeDelta::minutes(1));
    let after = counter.count_hit(&post(1), &visitor("after")).await.unwrap();
    assert_eq!(
        (after.hit_counted, after.total_hits),
        (true, 2),
        "{}",
        after.hit_message
    );
}

/// The day's first requests, at once on two instances and with old salts
/// to forget, all get the one salt: none fails (and none would then key
/// its cookieless visitor otherwise).
async fn a_days_first_requests_all_get_its_salt(db: &TestDb) {
    let one = db.counter(Default::default()).await;
    let other = HitCounter::open_with_clock(db.second_pool().await, Default::default(), db.clock.clock())
        .await
        .unwrap();
    for _ in 0..3 {
        one.daily_salt().await.unwrap();
        db.clock.advance(chrono::TimeDelta::days(1));
    }
    for round in 0..5 {
        db.clock.advance(chrono::TimeDelta::days(1));
        let calls = (0..32).map(|i| {
            let counter = if i % 2 == 0 { one.clone() } else { other.clone() };
            tokio::spawn(async move { counter.daily_salt().await })
        });
        let salts: Vec<Vec<u8>> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|joined| joined.unwrap().unwrap_or_else(|e| panic!("round {round}: {e}")))
            .collect();
        assert!(
            salts.iter().all(|salt| *salt == salts[0]),
            "round {round}: one salt"
        );
    }
}

async fn daily_salts_are_shared_and_forgotten(db: &TestDb) {
    let one = db.counter(Default::default()).await;
    let other = HitCounter::open_with_clock(db.second_pool().await, Default::default(), db.clock.clock())
        .await
        .unwrap();
    let today = one.daily_salt().await.unwrap();
    assert_eq!(
        other.daily_salt().await.unwrap(),
        today,
        "one salt for every instance"
    );
    db.clock.advance(chrono::TimeDelta::days(1));
    let tomorrow = one.daily_salt().await.unwrap();
    assert_ne!(tomorrow, today);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_daily_salt").await,
        2,
        "yesterday's is kept"
    );
    db.clock.advance(chrono::TimeDelta::days(1));
    one.daily_salt().await.unwrap();
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM hitcount_daily_salt").await,
        2,
        "older ones are deleted"
    );
}

/// On SQLite the counter switches the file to WAL (unless told not to), so
/// its commits need not wait for the disk and readers never wait.
async fn sqlite_databases_use_wal(db: &TestDb) {
    if !matches!(db.db, Db::Sqlite(_)) {
        return;
    }
    // Asked on a new connection: open ones learn of the change lazily.
    let mode = || async {
        let Db::Sqlite(fresh) = Db::connect(&db.url).await.unwrap() else {
            unreachable!()
        };
        hitcount::sqlx::query_scalar::<_, String>("PRAGMA journal_mode")
            .fetch_one(&fresh)
            .await
            .unwrap()
    };
    assert_eq!(mode().await, "delete");
    db.counter(settings(|s| s.sqlite_wal = false)).await;
    assert_eq!(mode().await, "delete");
    db.counter(Default::default()).await;
    assert_eq!(mode().await, "wal");
}

/// With `fast_commits = false` every commit waits for the disk; counting
/// behaves the same.
async fn durable_commits_count_alike(db: &TestDb) {
    let counter = db.counter(settings(|s| s.fast_commits = false)).await;
    assert!(crate::counted(&counter, &post(1), &visitor("a")).await);
    assert!(!crate::counted(&counter, &post(1), &visitor("a")).await);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 1);
}

/// A hit row written by the site's own SQL is an active hit like one the
/// crate counted, when its time has the form docs/retention.md gives: on
/// SQLite the crate's RFC 3339 text, on PostgreSQL any `TIMESTAMPTZ`. On
/// SQLite the form of `CURRENT_TIMESTAMP` compares as text before every
/// time of its day, so inside a day's window it is taken for an older hit.
async fn hits_written_by_your_own_sql(db: &TestDb) {
    let counter = db
        .counter(settings(|s| s.keep_hit_active = Window::hours(1)))
        .await;
    let pk = counter.register(&post(1)).await.unwrap();
    let at = (db.clock.now() - TimeDelta::minutes(30)).format("%Y-%m-%d %H:%M:%S");
    let insert = |session: &str, created: String| {
        format!(
            "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent) \
             VALUES ({pk}, {created}, NULL, '{session}', 'ua')"
        )
    };
    let documented = if db.is_postgres() {
        format!("TIMESTAMPTZ '{at}+00'")
    } else if db.is_mariadb() {
        format!("'{at}'")
    } else {
        format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', '{at}')")
    };
    db.execute(&insert("mine", documented)).await;
    let hit = counter.count_hit(&post(1), &visitor("mine")).await.unwrap();
    assert_eq!(hit.hit_message, "Not counted: session key has active hit");
    if matches!(db.db, Db::Sqlite(_)) {
        db.execute(&insert("sqlite-default", format!("'{at}'"))).await;
        let hit = counter
            .count_hit(&post(1), &visitor("sqlite-default"))
            .await
            .unwrap();
        assert!(hit.hit_counted, "the pitfall the docs warn of");
    }
}
