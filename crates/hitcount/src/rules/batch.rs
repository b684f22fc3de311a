//! Deciding a batch: the requests the counting queue writes in one
//! transaction are decided here in arrival order, each seeing the hits of
//! the requests before it, exactly as if each had a transaction of its
//! own. Pure: the queue reads the facts under the batch's locks, and
//! writes what this decides.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{decide, Reason};
use crate::settings::{IpLimitScope, Settings};
use crate::values::Visitor;

/// One request of a batch, with what the hit log said of it under the
/// batch's locks.
#[derive(Clone, Debug)]
pub(crate) struct Request<'a> {
    /// The object's pk.
    pub pk: i64,
    pub visitor: &'a Visitor,
    /// The IP as the hit log stores it, when the per-IP limit applies.
    pub limited_ip: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// The visitor's latest stored hit on the object, if any (it may be
    /// older than the request's active window).
    pub stored_hit: Option<DateTime<Utc>>,
    /// Stored hits of `limited_ip` inside the request's active window: on
    /// the object, or site-wide, as `hits_per_ip_scope` says.
    pub stored_ip_hits: i64,
}

/// What the batch decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub reason: Reason,
    /// The object's hits of this batch up to and including this request.
    pub batch_hits: i64,
    /// The visitor's active hit on the object after this request, if any.
    pub active_hit: Option<DateTime<Utc>>,
}

/// Decides `requests` in order: django-hitcount's steps 4-6 for each, with
/// the hits counted earlier in the batch added to what the hit log holds.
pub(crate) fn decide_batch(settings: &Settings, requests: &[Request<'_>]) -> Vec<Decision> {
    let keep = settings.keep_hit_active.as_chrono();
    let mut counted: Vec<&Request<'_>> = Vec::new();
    let mut batch_hits: HashMap<i64, i64> = HashMap::new();
    let mut decisions = Vec::with_capacity(requests.len());
    for request in requests {
        let since = request.now - keep;
        let batch_hit = counted
            .iter()
            .filter(|hit| hit.pk == request.pk && hit.now >= since && is_of(hit.visitor, request.visitor))
            .map(|hit| hit.now)
            .max();
        let active = request.stored_hit.filter(|at| *at >= since).max(batch_hit);
        let ip_hits = request.limited_ip.map(|ip| {
            let in_batch = counted
                .iter()
                .filter(|hit| hit.limited_ip == Some(ip) && hit.now >= since)
                .filter(|hit| settings.hits_per_ip_scope == IpLimitScope::Site || hit.pk == request.pk)
                .count();
            request.stored_ip_hits + in_batch as i64
        });
        let reason = decide(settings, request.visitor, ip_hits, active.is_some());
        let so_far = batch_hits.entry(request.pk).or_default();
        if reason.counted() {
            counted.push(request);
            *so_far += 1;
        }
        decisions.push(Decision {
            reason,
            batch_hits: *so_far,
            active_hit: if reason.counted() {
                Some(request.now)
            } else {
                active
            },
        });
    }
    decisions
}

/// Whether a hit of `hit` is `visitor`'s, as the hit log's lookup tells: a
/// user's by user id, anyone else's by either session key.
fn is_of(hit: &Visitor, visitor: &Visitor) -> bool {
    match visitor.user() {
        Some(user) => hit.user().map(|u| u.id()) == Some(user.id()),
        None => {
            let key = hit.session_key();
            key == visitor.session_key() || Some(key) == visitor.previous_session_key()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::rules::{screen, Blacklists, BotCheck};
    use crate::values::User;
    use Reason::*;

    const IP: &str = "198.51.100.7";

    /// A request of a case: who, on which object, and what the hit log
    /// holds of it.
    #[derive(Clone)]
    struct Case {
        visitor: Visitor,
        pk: i64,
        /// Minutes before now of the visitor's stored hit.
        stored_hit: Option<i64>,
        stored_ip_hits: i64,
    }

    fn anon(session: &str) -> Case {
        Case {
            visitor: Visitor::new(session).unwrap(),
            pk: 1,
            stored_hit: None,
            stored_ip_hits: 0,
        }
    }

    fn user(id: &str, session: &str) -> Case {
        let mut case = anon(session);
        case.visitor = case.visitor.with_user(User::new(id).unwrap());
        case
    }

    impl Case {
        fn at_ip(mut self) -> Case {
            self.visitor = self.visitor.with_ip(IP.parse().unwrap());
            self
        }
        fn previous(mut self, key: &str) -> Case {
            self.visitor = self.visitor.with_previous_session_key(key).unwrap();
            self
        }
        fn on(mut self, pk: i64) -> Case {
            self.pk = pk;
            self
        }
        fn stored_hit(mut self, minutes_ago: i64) -> Case {
            self.stored_hit = Some(minutes_ago);
            self
        }
        fn stored_ip_hits(mut self, n: i64) -> Case {
            self.stored_ip_hits = n;
            self
        }
    }

    fn limit(n: u32, scope: IpLimitScope) -> Settings {
        Settings {
            hits_per_ip_limit: n,
            hits_per_ip_scope: scope,
            ..Settings::default()
        }
    }

    /// The request path in memory: each request is screened (blacklists,
    /// groups, bots), and the rest are decided as one batch, in order.
    /// Answers each request's reason and its object's batch hits so far.
    fn run(settings: &Settings, blacklisted_ips: &[&str], cases: &[Case]) -> Vec<(Reason, i64)> {
        let now = Utc::now();
        let lists = Blacklists::new(blacklisted_ips.iter().map(|s| s.to_string()), []);
        let screened: Vec<Option<Reason>> = cases
            .iter()
            .map(|c| screen(settings, &BotCheck::default(), &lists, &c.visitor, None))
            .collect();
        let requests: Vec<Request<'_>> = cases
            .iter()
            .zip(&screened)
            .filter(|(_, refused)| refused.is_none())
            .map(|(c, _)| Request {
                pk: c.pk,
                visitor: &c.visitor,
                limited_ip: (settings.hits_per_ip_limit > 0)
                    .then_some(IP)
                    .filter(|_| c.visitor.ip().is_some()),
                now,
                stored_hit: c.stored_hit.map(|m| now - TimeDelta::minutes(m)),
                stored_ip_hits: c.stored_ip_hits,
            })
            .collect();
        let mut decided = decide_batch(settings, &requests).into_iter();
        screened
            .into_iter()
            .map(|refused| match refused {
                Some(reason) => (reason, 0),
                None => {
                    let d = decided.next().expect("one decision per request");
                    (d.reason, d.batch_hits)
                }
            })
            .collect()
    }

    /// One line per case: settings, blacklisted IPs, the batch's requests
    /// in arrival order, and each request's reason and its object's batch
    /// hits up to it.
    macro_rules! batch_cases {
        ($($name:ident: $settings:expr, $blacklist:expr, [$($case:expr),* $(,)?] => [$($expected:expr),* $(,)?];)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(run(&$settings, &$blacklist, &[$($case),*]), [$($expected),*]);
            }
        )*};
    }

    const WEEK: i64 = 7 * 24 * 60;

    batch_cases! {
        one_new_visitor: Settings::default(), [], [anon("a")] => [(CountedSession, 1)];
        same_visitor_twice: Settings::default(), [], [anon("a"), anon("a")] => [(CountedSession, 1), (SessionHasActiveHit, 1)];
        two_visitors: Settings::default(), [], [anon("a"), anon("b")] => [(CountedSession, 1), (CountedSession, 2)];
        previous_key_is_the_same_visitor: Settings::default(), [], [anon("a"), anon("b").previous("a")] => [(CountedSession, 1), (SessionHasActiveHit, 1)];
        other_object_counts_again: Settings::default(), [], [anon("a"), anon("a").on(2)] => [(CountedSession, 1), (CountedSession, 1)];
        stored_hit_in_window: Settings::default(), [], [anon("a").stored_hit(60)] => [(SessionHasActiveHit, 0)];
        stored_hit_past_window: Settings::default(), [], [anon("a").stored_hit(WEEK + 1)] => [(CountedSession, 1)];
        user_with_active_hit: Settings::default(), [], [user("u", "s1").stored_hit(5)] => [(UserHasActiveHit, 0)];
        user_on_two_devices: Settings::default(), [], [user("u", "s1"), user("u", "s2")] => [(CountedUser, 1), (UserHasActiveHit, 1)];
        anonymous_on_a_users_session: Settings::default(), [], [user("u", "s1"), anon("s1")] => [(CountedUser, 1), (SessionHasActiveHit, 1)];
        user_not_matched_by_session: Settings::default(), [], [anon("s1"), user("u", "s1")] => [(CountedSession, 1), (CountedUser, 2)];
        ip_limit_reached_mid_batch: limit(2, IpLimitScope::Object), [], [anon("a").at_ip(), anon("b").at_ip(), anon("c").at_ip(), anon("d")]
            => [(CountedSession, 1), (CountedSession, 2), (IpLimitReached, 2), (CountedSession, 3)];
        ip_limit_counts_stored_hits: limit(2, IpLimitScope::Object), [], [anon("a").at_ip().stored_ip_hits(1), anon("b").at_ip().stored_ip_hits(1)]
            => [(CountedSession, 1), (IpLimitReached, 1)];
        ip_limit_per_object: limit(1, IpLimitScope::Object), [], [anon("a").at_ip(), anon("b").at_ip().on(2)] => [(CountedSession, 1), (CountedSession, 1)];
        ip_limit_site_wide: limit(1, IpLimitScope::Site), [], [anon("a").at_ip(), anon("b").at_ip().on(2)] => [(CountedSession, 1), (IpLimitReached, 0)];
        limit_before_active_hit: limit(1, IpLimitScope::Object), [], [anon("a").at_ip(), anon("a").at_ip()] => [(CountedSession, 1), (IpLimitReached, 1)];
        blacklisted_ip_never_reaches_the_batch: Settings::default(), [IP], [anon("a").at_ip(), anon("b")] => [(BlacklistedIp, 0), (CountedSession, 1)];
    }

    #[test]
    fn the_active_hit_after_each_request() {
        let now = Utc::now();
        let (a, b) = (Visitor::new("a").unwrap(), Visitor::new("b").unwrap());
        let request = |visitor, stored_hit| Request {
            pk: 1,
            visitor,
            limited_ip: None,
            now,
            stored_hit,
            stored_ip_hits: 0,
        };
        let earlier = now - TimeDelta::hours(1);
        let decided = decide_batch(
            &Settings::default(),
            &[request(&a, None), request(&a, None), request(&b, Some(earlier))],
        );
        let active: Vec<_> = decided.iter().map(|d| d.active_hit).collect();
        assert_eq!(active, [Some(now), Some(now), Some(earlier)]);
    }
}
