//! The dashboard's reads: a period's figures from the daily buckets, the
//! top visitors of the hit log, its order and exact filters, and the
//! blacklist marks.

use chrono::TimeDelta;
use hitcount::{HitColumn, HitCounter, HitFilter, HitOrder, IpStorage, Period, PeriodTotals, Visitor};

use crate::common::{settings, TestDb};
use crate::post;

storage_tests!(
    pgbouncer, mariadb;
    a_period_sums_its_days_and_ranks_objects,
    a_period_of_one_object,
    unusual_traffic_is_ranked,
    top_visitors_of_a_period,
    the_hit_log_sorts_and_filters_exactly,
    blacklisted_hits_are_marked,
    blacklist_entries_count_what_they_refused,
    bad_report_input,
);

fn person(session: &str, ip: &str, user_agent: &str) -> Visitor {
    Visitor::new(session)
        .unwrap()
        .with_ip(ip.parse().unwrap())
        .with_user_agent(user_agent)
}

/// Post 1: 2 hits today, post 2: 4 yesterday, post 3: 8 two days ago and
/// 1 today.
async fn three_posts(db: &TestDb) -> HitCounter {
    let counter = db.counter(settings(|_| {})).await;
    let start = db.clock.now();
    for (days_ago, post_id, visitors) in [(2, 3, 8), (1, 2, 4), (0, 1, 2), (0, 3, 1)] {
        db.clock.set(start - TimeDelta::days(days_ago));
        for v in 0..visitors {
            let visitor = person(&format!("p{post_id}v{v}d{days_ago}"), "192.0.2.1", "Firefox");
            assert!(
                counter
                    .count_hit(&post(post_id), &visitor)
                    .await
                    .unwrap()
                    .hit_counted
            );
        }
    }
    db.clock.set(start);
    counter
}

async fn a_period_sums_its_days_and_ranks_objects(db: &TestDb) {
    let counter = three_posts(db).await;
    let today = db.clock.now().date_naive();
    let week = Period::last_days(today, 7).unwrap();
    let report = counter.admin().period_report(week, 10).await.unwrap();
    assert_eq!(report.totals.hits, 15);
    assert_eq!(report.totals.views, 15);
    assert_eq!(report.days.len(), 7);
    let hits: Vec<i64> = report.days.iter().map(|d| d.hits).collect();
    assert_eq!(hits, [0, 0, 0, 0, 8, 4, 3]);
    assert_eq!(report.days[6].day, today);
    let ranked: Vec<(i64, i64)> = report
        .top
        .iter()
        .map(|o| (o.object.id().parse().unwrap(), o.hits))
        .collect();
    assert_eq!(ranked, [(3, 9), (2, 4), (1, 2)]);
    assert_eq!(report.objects, 3);

    // Today only: post 1's 2 hits and post 3's 1.
    let today_only = Period::last_days(today, 1).unwrap();
    let report = counter.admin().period_report(today_only, 1).await.unwrap();
    assert_eq!(report.totals.hits, 3);
    assert_eq!(report.top.len(), 1, "the limit holds");
    assert_eq!(
        report.objects, 2,
        "every object of the period is counted, ranked or not"
    );
    assert_eq!(report.top[0].object, post(1));

    // After cleanup removed the hit log, the buckets still answer.
    db.clock.advance(TimeDelta::days(60));
    counter.admin().cleanup().await.unwrap();
    let report = counter.admin().period_report(week, 10).await.unwrap();
    assert_eq!(report.totals.hits, 15);
}

async fn a_period_of_one_object(db: &TestDb) {
    let counter = three_posts(db).await;
    let pk = counter.counts(&post(3)).await.unwrap().pk.unwrap();
    let week = Period::last_days(db.clock.now().date_naive(), 7).unwrap();
    let days = counter.admin().period_days(week, Some(pk)).await.unwrap();
    assert_eq!(PeriodTotals::of(&days).hits, 9);
    let hits: Vec<i64> = days.iter().map(|d| d.hits).collect();
    assert_eq!(hits, [0, 0, 0, 0, 8, 0, 1]);
}

async fn unusual_traffic_is_ranked(db: &TestDb) {
    let counter = db.counter(settings(|_| {})).await;
    // Post 1: one visitor reloading 9 times. Post 2: two people, no
    // repeats, and three bots. Post 3: one person and one bot.
    let reloader = person("r", "192.0.2.9", "Firefox");
    for _ in 0..10 {
        counter.count_hit(&post(1), &reloader).await.unwrap();
    }
    for v in 0..2 {
        counter
            .count_hit(&post(2), &person(&format!("p{v}"), "192.0.2.2", "Firefox"))
            .await
            .unwrap();
    }
    for b in 0..3 {
        let bot = person(&format!("b{b}"), "192.0.2.3", "Googlebot/2.1");
        counter.count_hit(&post(2), &bot).await.unwrap();
    }
    counter
        .count_hit(&post(3), &person("q", "192.0.2.4", "Firefox"))
        .await
        .unwrap();
    counter
        .count_hit(&post(3), &person("qb", "192.0.2.4", "bingbot/2.0"))
        .await
        .unwrap();
    // Views of repeat visits reach the buckets within a second.
    counter.flush_views().await.unwrap();
    let today = Period::last_days(db.clock.now().date_naive(), 1).unwrap();
    let report = counter.admin().period_report(today, 10).await.unwrap();
    assert_eq!(report.totals.bot_hits, 4);
    let views_per_hit: Vec<_> = report
        .most_views_per_hit
        .iter()
        .map(|o| o.object.clone())
        .collect();
    assert_eq!(views_per_hit, [post(1)], "only post 1 has more views than hits");
    assert_eq!(report.most_views_per_hit[0].views_per_hit(), 10.0);
    let bots: Vec<_> = report
        .most_bots
        .iter()
        .map(|o| (o.object.clone(), o.bot_share()))
        .collect();
    assert_eq!(bots, [(post(2), 0.6), (post(3), 0.5)]);
}

async fn top_visitors_of_a_period(db: &TestDb) {
    let counter = db.counter(settings(|s| s.ip_storage = IpStorage::Full)).await;
    for v in 0..5 {
        let visitor = person(&format!("a{v}"), "192.0.2.1", "Firefox");
        counter.count_hit(&post(1), &visitor).await.unwrap();
    }
    for v in 0..2 {
        let visitor = person(&format!("b{v}"), "192.0.2.2", "Chrome");
        counter.count_hit(&post(2), &visitor).await.unwrap();
    }
    // Yesterday's hit is outside today's period.
    db.clock.advance(TimeDelta::days(-1));
    counter
        .count_hit(&post(2), &person("old", "192.0.2.3", "Old"))
        .await
        .unwrap();
    db.clock.advance(TimeDelta::days(1));
    let today = Period::last_days(db.clock.now().date_naive(), 1).unwrap();
    let top = counter.admin().top_visitors(today, None, 10).await.unwrap();
    assert_eq!(top.sampled, 7);
    let ips: Vec<(&str, i64)> = top.ips.iter().map(|t| (t.value.as_str(), t.hits)).collect();
    assert_eq!(ips, [("192.0.2.1", 5), ("192.0.2.2", 2)]);
    let agents: Vec<(&str, i64)> = top
        .user_agents
        .iter()
        .map(|t| (t.value.as_str(), t.hits))
        .collect();
    assert_eq!(agents, [("Firefox", 5), ("Chrome", 2)]);
    let pk = counter.counts(&post(2)).await.unwrap().pk.unwrap();
    let two_days = Period::last_days(db.clock.now().date_naive(), 2).unwrap();
    let top = counter.admin().top_visitors(two_days, Some(pk), 1).await.unwrap();
    assert_eq!(top.sampled, 3);
    assert_eq!(top.ips.len(), 1, "the limit holds");
    assert_eq!(top.ips[0].value, "192.0.2.2");
}

async fn the_hit_log_sorts_and_filters_exactly(db: &TestDb) {
    let counter = db.counter(settings(|s| s.ip_storage = IpStorage::Full)).await;
    for (i, (ip, agent)) in [("192.0.2.3", "b"), ("192.0.2.1", "c"), ("192.0.2.2", "a")]
        .into_iter()
        .enumerate()
    {
        counter
            .count_hit(&post(i as i64 + 1), &person(&format!("s{i}"), ip, agent))
            .await
            .unwrap();
        db.clock.advance(TimeDelta::minutes(1));
    }
    let list = |order: HitOrder, ip: Option<&str>, user_agent: Option<&str>| {
        let counter = &counter;
        let filter = HitFilter {
            order,
            ip: ip.map(str::to_owned),
            user_agent: user_agent.map(str::to_owned),
            ..Default::default()
        };
        async move {
            let page = counter.admin().list_hits(&filter).await.unwrap();
            page.hits
                .iter()
                .map(|h| h.user_agent.clone())
                .collect::<Vec<_>>()
                .join("")
        }
    };
    let by = |column, descending| HitOrder { column, descending };
    assert_eq!(list(HitOrder::default(), None, None).await, "acb");
    assert_eq!(list(by(HitColumn::Created, false), None, None).await, "bca");
    assert_eq!(list(by(HitColumn::Ip, false), None, None).await, "cab");
    assert_eq!(list(by(HitColumn::Ip, true), None, None).await, "bac");
    assert_eq!(list(by(HitColumn::UserAgent, false), None, None).await, "abc");
    assert_eq!(list(by(HitColumn::Object, true), None, None).await, "acb");
    assert_eq!(list(HitOrder::default(), Some("192.0.2.1"), None).await, "c");
    assert_eq!(list(HitOrder::default(), None, Some("a")).await, "a");
    assert_eq!(list(HitOrder::default(), Some("192.0.2.1"), Some("a")).await, "");
    // Exact: a part of the address finds nothing.
    assert_eq!(list(HitOrder::default(), Some("192.0.2."), None).await, "");
}

async fn blacklisted_hits_are_marked(db: &TestDb) {
    let counter = db.counter(settings(|s| s.ip_storage = IpStorage::Full)).await;
    for (i, (ip, agent)) in [("192.0.2.7", "good"), ("198.51.100.7", "EvilAgent")]
        .into_iter()
        .enumerate()
    {
        counter
            .count_hit(&post(1), &person(&format!("s{i}"), ip, agent))
            .await
            .unwrap();
        db.clock.advance(TimeDelta::minutes(1));
    }
    counter.admin().blacklist_ip("198.51.100.0/24").await.unwrap();
    counter.admin().blacklist_user_agent("EvilAgent").await.unwrap();
    let page = counter.admin().list_hits(&HitFilter::default()).await.unwrap();
    let marks: Vec<(bool, bool)> = counter
        .admin()
        .blacklisted(&page.hits)
        .await
        .iter()
        .map(|m| (m.ip, m.user_agent))
        .collect();
    assert_eq!(marks, [(true, true), (false, false)]);
}

async fn blacklist_entries_count_what_they_refused(db: &TestDb) {
    let counter = db.counter(settings(|_| {})).await;
    let admin = counter.admin();
    admin.blacklist_ip("198.51.100.0/24").await.unwrap();
    admin.blacklist_ip("192.0.2.9").await.unwrap();
    admin.blacklist_user_agent("EvilAgent").await.unwrap();
    for (i, ip) in ["198.51.100.1", "198.51.100.2", "198.51.100.3", "192.0.2.9"]
        .iter()
        .enumerate()
    {
        let refused = counter
            .count_hit(&post(1), &person(&format!("s{i}"), ip, "Firefox"))
            .await
            .unwrap();
        assert_eq!(refused.reason, hitcount::Reason::BlacklistedIp);
    }
    for i in 0..2 {
        counter
            .count_hit(&post(1), &person(&format!("u{i}"), "192.0.2.1", "EvilAgent"))
            .await
            .unwrap();
    }
    let ips = |entries: Vec<hitcount::BlacklistEntry>| -> Vec<(String, i64)> {
        entries.into_iter().map(|e| (e.value, e.refused)).collect()
    };
    let expected_ips = vec![("198.51.100.0/24".to_owned(), 3), ("192.0.2.9".to_owned(), 1)];
    // This instance's refusals show at once; another instance's, once
    // written.
    assert_eq!(ips(admin.blacklisted_ips().await.unwrap()), expected_ips);
    let other = db.counter(settings(|_| {})).await;
    assert_eq!(ips(other.admin().blacklisted_ips().await.unwrap())[0].1, 0);
    counter.flush_views().await.unwrap();
    assert_eq!(ips(other.admin().blacklisted_ips().await.unwrap()), expected_ips);
    assert_eq!(
        ips(admin.blacklisted_ips().await.unwrap()),
        expected_ips,
        "not counted twice"
    );
    let agents = ips(other.admin().blacklisted_user_agents().await.unwrap());
    assert_eq!(agents, [("EvilAgent".to_owned(), 2)]);
    // Refusals of an entry removed before they are written are dropped.
    counter
        .count_hit(&post(1), &person("late", "192.0.2.9", "Firefox"))
        .await
        .unwrap();
    admin.unblacklist_ip("192.0.2.9").await.unwrap();
    counter.flush_views().await.unwrap();
    assert_eq!(
        ips(admin.blacklisted_ips().await.unwrap()),
        [("198.51.100.0/24".to_owned(), 3)]
    );
}

async fn bad_report_input(db: &TestDb) {
    let counter = db.counter(settings(|_| {})).await;
    let today = db.clock.now().date_naive();
    let week = Period::last_days(today, 7).unwrap();
    for limit in [0, 1001] {
        let err = counter.admin().period_report(week, limit).await.unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }
    let err = counter.admin().top_visitors(week, None, 0).await.unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    assert!(Period::last_days(today, 367).is_err());
    assert!(Period::new(today, today - TimeDelta::days(1)).is_err());
    let filter = HitFilter {
        user_agent: Some("a\0b".into()),
        ..Default::default()
    };
    let err = counter.admin().list_hits(&filter).await.unwrap_err();
    assert!(err.to_string().contains("user agent"), "{err}");
    // An unknown object reads as nothing, not an error.
    let days = counter.admin().period_days(week, Some(12345)).await.unwrap();
    assert_eq!(PeriodTotals::of(&days).hits, 0);
}
