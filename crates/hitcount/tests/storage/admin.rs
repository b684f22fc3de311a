//! django-hitcount's admin tests: listing the hit log and the actions on
//! selected hits.

use chrono::TimeDelta;
use hitcount::{AdminAction, HitCounter, HitFilter, IpStorage, Reason, Visitor};

use crate::common::{settings, TestDb};
use crate::post;

storage_tests!(
    pgbouncer, mariadb;
    list_is_newest_first_and_paginated,
    search_and_filters,
    blacklist_ips_single,
    blacklist_ips_multiple,
    blacklist_ips_add_only_once,
    blacklist_user_agents_single,
    blacklist_user_agents_multiple,
    blacklist_user_agents_add_only_once,
    delete_queryset,
    delete_queryset_single_item,
    delete_never_goes_below_zero,
    blacklist_and_delete_ips,
    blacklist_and_delete_user_agents,
    blacklisting_a_hashed_ip_blocks_its_visitor,
    bad_admin_input,
    on_delete_cascade,
    times_far_from_now_are_found,
);

/// django-hitcount's admin fixture: 10 hits on one post, hit x from IP
/// 127.0.0.x with user agent agent_x, one minute apart (hit 9 newest).
async fn fixture(db: &TestDb, storage: IpStorage) -> HitCounter {
    let counter = db.counter(settings(|s| s.ip_storage = storage)).await;
    for x in 0..10 {
        let v = Visitor::new(format!("s{x}"))
            .unwrap()
            .with_ip(format!("127.0.0.{x}").parse().unwrap())
            .with_user_agent(&format!("agent_{x}"));
        assert!(counter.count_hit(&post(1), &v).await.unwrap().hit_counted);
        db.clock.advance(TimeDelta::minutes(1));
    }
    counter
}

/// The ids of django-hitcount's `Hit.objects.all()[:5]`: the 5 newest.
async fn newest_five(counter: &HitCounter) -> Vec<i64> {
    let page = counter
        .admin()
        .list_hits(&HitFilter {
            per_page: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    page.hits.iter().map(|h| h.id).collect()
}

/// The id of the hit from 127.0.0.5.
async fn hit_from_five(counter: &HitCounter) -> i64 {
    let page = counter
        .admin()
        .list_hits(&HitFilter {
            search: Some("agent_5".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    page.hits[0].id
}

async fn list_is_newest_first_and_paginated(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let first = counter
        .admin()
        .list_hits(&HitFilter {
            per_page: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((first.total, first.pages()), (10, 4));
    let agents: Vec<&str> = first.hits.iter().map(|h| h.user_agent.as_str()).collect();
    assert_eq!(agents, ["agent_9", "agent_8", "agent_7"]);
    let last = counter
        .admin()
        .list_hits(&HitFilter {
            per_page: 3,
            page: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(last.hits.len(), 1);
    assert_eq!(last.hits[0].user_agent, "agent_0");
    assert_eq!(last.hits[0].ip.as_deref(), Some("127.0.0.0"));
    assert_eq!(last.hits[0].object, post(1));
    let beyond = counter
        .admin()
        .list_hits(&HitFilter {
            per_page: 3,
            page: 9,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(beyond.hits.is_empty());
}

async fn search_and_filters(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let other = Visitor::new("x").unwrap().with_user_agent("Other 100%_agent");
    counter.count_hit(&post(2), &other).await.unwrap();
    let find = |filter: HitFilter| {
        let counter = counter.clone();
        async move { counter.admin().list_hits(&filter).await.unwrap().total }
    };
    assert_eq!(
        find(HitFilter {
            search: Some("AGENT_5".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        find(HitFilter {
            search: Some("127.0.0.5".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        find(HitFilter {
            search: Some("127.0.0".into()),
            ..Default::default()
        })
        .await,
        10
    );
    // LIKE wildcards in the search are literal.
    assert_eq!(
        find(HitFilter {
            search: Some("100%_".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        find(HitFilter {
            search: Some("_".into()),
            ..Default::default()
        })
        .await,
        11
    );
    assert_eq!(
        find(HitFilter {
            search: Some("%".into()),
            ..Default::default()
        })
        .await,
        1
    );
    let pk2 = counter.counts(&post(2)).await.unwrap().pk;
    assert_eq!(
        find(HitFilter {
            object_pk: pk2,
            ..Default::default()
        })
        .await,
        1
    );
    let start = db.clock.now() - TimeDelta::minutes(10);
    let since = Some(start + TimeDelta::minutes(5));
    assert_eq!(
        find(HitFilter {
            since,
            object_pk: counter.counts(&post(1)).await.unwrap().pk,
            ..Default::default()
        })
        .await,
        5
    );
    assert_eq!(
        find(HitFilter {
            until: since,
            ..Default::default()
        })
        .await,
        5
    );
}

async fn blacklist_ips_single(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let report = counter
        .admin()
        .run_action(AdminAction::BlacklistIps, &[hit_from_five(&counter).await])
        .await
        .unwrap();
    assert_eq!(report.messages, ["Successfully blacklisted 1 IPs"]);
    let ips = counter.admin().blacklisted_ips().await.unwrap();
    assert_eq!(ips.len(), 1);
    assert_eq!(ips[0].value, "127.0.0.5");
}

async fn blacklist_ips_multiple(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let report = counter
        .admin()
        .run_action(AdminAction::BlacklistIps, &newest_five(&counter).await)
        .await
        .unwrap();
    assert_eq!(report.messages, ["Successfully blacklisted 5 IPs"]);
    let ips: Vec<String> = counter
        .admin()
        .blacklisted_ips()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(ips.len(), 5);
    assert!(ips.contains(&"127.0.0.5".to_string()) && ips.contains(&"127.0.0.9".to_string()));
    // The totals are untouched by blacklisting.
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 10);
}

async fn blacklist_ips_add_only_once(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let id = hit_from_five(&counter).await;
    counter
        .admin()
        .run_action(AdminAction::BlacklistIps, &[id])
        .await
        .unwrap();
    let again = counter
        .admin()
        .run_action(AdminAction::BlacklistIps, &[id])
        .await
        .unwrap();
    assert_eq!(again.blacklisted, 0);
    assert_eq!(counter.admin().blacklisted_ips().await.unwrap().len(), 1);
}

async fn blacklist_user_agents_single(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let report = counter
        .admin()
        .run_action(AdminAction::BlacklistUserAgents, &[hit_from_five(&counter).await])
        .await
        .unwrap();
    assert_eq!(report.messages, ["Successfully blacklisted 1 User Agents"]);
    let agents = counter.admin().blacklisted_user_agents().await.unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].value, "agent_5");
}

async fn blacklist_user_agents_multiple(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    counter
        .admin()
        .run_action(AdminAction::BlacklistUserAgents, &newest_five(&counter).await)
        .await
        .unwrap();
    let agents: Vec<String> = counter
        .admin()
        .blacklisted_user_agents()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(agents.len(), 5);
    assert!(agents.contains(&"agent_7".to_string()));
}

async fn blacklist_user_agents_add_only_once(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let id = hit_from_five(&counter).await;
    counter
        .admin()
        .run_action(AdminAction::BlacklistUserAgents, &[id])
        .await
        .unwrap();
    counter
        .admin()
        .run_action(AdminAction::BlacklistUserAgents, &[id])
        .await
        .unwrap();
    assert_eq!(counter.admin().blacklisted_user_agents().await.unwrap().len(), 1);
}

async fn delete_queryset(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let report = counter
        .admin()
        .run_action(AdminAction::DeleteHits, &newest_five(&counter).await)
        .await
        .unwrap();
    assert_eq!(report.messages, ["5 hits were successfully deleted."]);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 5);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 5);
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_daily")
            .await,
        5
    );
    assert_eq!(
        db.scalar("SELECT CAST(SUM(hits) AS BIGINT) FROM hitcount_hourly")
            .await,
        5
    );
}

async fn delete_queryset_single_item(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let report = counter
        .admin()
        .run_action(AdminAction::DeleteHits, &[hit_from_five(&counter).await])
        .await
        .unwrap();
    assert_eq!(report.messages, ["1 hit was successfully deleted."]);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 9);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 9);
}

async fn delete_never_goes_below_zero(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    // A total smaller than the hit log (an imported or hand-edited total).
    db.execute("UPDATE hitcount_hit_count SET hits = 2").await;
    let ids = newest_five(&counter).await;
    assert_eq!(counter.admin().delete_hits(&ids).await.unwrap(), 5);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 0);
    // Deleting what is gone deletes nothing and changes nothing.
    assert_eq!(counter.admin().delete_hits(&ids).await.unwrap(), 0);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 0);
}

async fn blacklist_and_delete_ips(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    let report = counter
        .admin()
        .run_action(AdminAction::BlacklistDeleteIps, &newest_five(&counter).await)
        .await
        .unwrap();
    assert_eq!(
        report.messages,
        [
            "Successfully blacklisted 5 IPs",
            "5 hits were successfully deleted."
        ]
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 5);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 5);
    assert_eq!(counter.admin().blacklisted_ips().await.unwrap().len(), 5);
}

async fn blacklist_and_delete_user_agents(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    counter
        .admin()
        .run_action(
            AdminAction::BlacklistDeleteUserAgents,
            &newest_five(&counter).await,
        )
        .await
        .unwrap();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 5);
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 5);
    assert_eq!(counter.admin().blacklisted_user_agents().await.unwrap().len(), 5);
}

/// Under the default hashed storage, blacklisting the IP of a hit blocks
/// that visitor's address (the entry is the hash, never the address), and
/// searching the log by address finds the hashed hits.
async fn blacklisting_a_hashed_ip_blocks_its_visitor(db: &TestDb) {
    let counter = fixture(db, IpStorage::Hashed).await;
    let by_address = counter
        .admin()
        .list_hits(&HitFilter {
            search: Some("127.0.0.5".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_address.total, 1);
    assert_ne!(by_address.hits[0].ip.as_deref(), Some("127.0.0.5"));
    counter
        .admin()
        .run_action(AdminAction::BlacklistIps, &[by_address.hits[0].id])
        .await
        .unwrap();
    let entry = &counter.admin().blacklisted_ips().await.unwrap()[0].value;
    // A hash, in hex: no address in it (a bare "127" may occur by chance).
    assert!(entry.chars().all(|c| c.is_ascii_hexdigit()), "{entry}");
    let returning = Visitor::new("fresh")
        .unwrap()
        .with_ip("127.0.0.5".parse().unwrap());
    let result = counter.count_hit(&post(2), &returning).await.unwrap();
    assert_eq!(result.reason, Reason::BlacklistedIp);
    assert_eq!(result.hit_message, "Not counted: user IP has been blacklisted");
    let neighbour = Visitor::new("n").unwrap().with_ip("127.0.0.6".parse().unwrap());
    assert_eq!(
        counter.count_hit(&post(2), &neighbour).await.unwrap().reason,
        Reason::CountedSession
    );
}

async fn bad_admin_input(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    for bad in [
        HitFilter {
            per_page: 0,
            ..Default::default()
        },
        HitFilter {
            per_page: 5000,
            ..Default::default()
        },
        HitFilter {
            page: 0,
            ..Default::default()
        },
    ] {
        let err = counter.admin().list_hits(&bad).await.unwrap_err().to_string();
        assert!(err.contains("page"), "{err}");
    }
    for bad in ["", "999.1.1.1", "127.0.0.1; DROP TABLE hitcount_hit", "::g"] {
        let err = counter.admin().blacklist_ip(bad).await.unwrap_err().to_string();
        assert!(err.contains(&format!("{bad:?}")), "{err}");
    }
    assert!(counter.admin().blacklist_user_agent("").await.is_err());
    assert!(
        counter.admin().blacklisted_ips().await.unwrap().is_empty(),
        "nothing written"
    );
    assert!(counter
        .admin()
        .blacklisted_user_agents()
        .await
        .unwrap()
        .is_empty());
    // Unknown hit ids are skipped, not errors: like an empty selection.
    let report = counter
        .admin()
        .run_action(AdminAction::BlacklistDeleteIps, &[99_999])
        .await
        .unwrap();
    assert_eq!(
        report.messages,
        [
            "Successfully blacklisted 0 IPs",
            "0 hits were successfully deleted."
        ]
    );
    assert_eq!(counter.counts(&post(1)).await.unwrap().hits, 10);
}

/// django-hitcount's test_on_delete_cascade: deleting an object's counts
/// deletes its hit log (and here its buckets), and nothing of other objects.
async fn on_delete_cascade(db: &TestDb) {
    let counter = fixture(db, IpStorage::Full).await;
    counter
        .count_hit(&post(2), &Visitor::new("other").unwrap())
        .await
        .unwrap();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 11);
    assert!(counter.admin().delete_counts(&post(1)).await.unwrap());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit").await, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hit_count").await, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_hourly").await, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM hitcount_daily").await, 1);
    assert!(!counter.admin().delete_counts(&post(1)).await.unwrap());
    assert_eq!(counter.counts(&post(2)).await.unwrap().hits, 1);
}

/// Hits counted after 2038, and bounds from year 1 to 9999, are found and
/// windowed as any other: times are bound as the backend stores them
/// (MariaDB misreads a TIMESTAMP parameter outside 1970-2038).
async fn times_far_from_now_are_found(db: &TestDb) {
    let counter = db.counter(Default::default()).await;
    let year = |y: i32| {
        chrono::NaiveDate::from_ymd_opt(y, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    };
    db.clock.set(year(2040) + TimeDelta::hours(5));
    let visitor = Visitor::new("far-future").unwrap();
    assert!(counter.count_hit(&post(1), &visitor).await.unwrap().hit_counted);
    db.clock.advance(TimeDelta::minutes(90));
    assert_eq!(
        counter
            .hits_in_last(&post(1), hitcount::Window::days(3))
            .await
            .unwrap(),
        1
    );
    for (since, until) in [
        (year(1), year(9999)),
        (year(1969), year(2041)),
        (year(2039), year(2100)),
    ] {
        let page = counter
            .admin()
            .list_hits(&HitFilter {
                since: Some(since),
                until: Some(until),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 1, "{since} to {until}");
    }
    let outside = counter
        .admin()
        .list_hits(&HitFilter {
            until: Some(year(2040)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outside.total, 0);
}
