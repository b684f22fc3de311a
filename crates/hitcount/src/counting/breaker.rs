//! Resting from a database that is away: after a few counting requests in
//! a row met an outage (no answer within `count_timeout`, no connection),
//! the counter answers [`Reason::Unavailable`](crate::Reason::Unavailable)
//! at once for a moment, then lets one request try; the rest doubles while
//! the database stays away, up to half a minute, and the first success
//! ends the outage. An outage is logged when it starts and when it ends,
//! not once per request.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Outages in a row that start a rest.
const FAILURES: u32 = 3;
const FIRST_REST: Duration = Duration::from_secs(1);
const LONGEST_REST: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct Breaker {
    /// Outages in a row; read without the lock on every request.
    failures: AtomicU32,
    /// Whether the counter is resting; read without the lock.
    resting: AtomicBool,
    rest: Mutex<Rest>,
}

#[derive(Default)]
struct Rest {
    until: Option<Instant>,
    length: Duration,
    since: Option<Instant>,
    /// Whether a request is trying the database after a rest.
    trying: bool,
}

impl Breaker {
    /// Whether a request may go to the database now. While resting, no;
    /// once the rest is over, one request may (the others rest until it
    /// answers, or until another rest has passed).
    pub(crate) fn allows(&self) -> bool {
        if !self.resting.load(Ordering::Acquire) {
            return true;
        }
        let mut rest = self.rest.lock().expect("not poisoned");
        let now = Instant::now();
        match rest.until {
            Some(until) if now < until => false,
            _ => {
                rest.until = Some(now + rest.length);
                rest.trying = true;
                true
            }
        }
    }

    /// The database answered.
    pub(crate) fn succeeded(&self) {
        if self.failures.load(Ordering::Acquire) == 0 && !self.resting.load(Ordering::Acquire) {
            return;
        }
        let mut rest = self.rest.lock().expect("not poisoned");
        self.failures.store(0, Ordering::Release);
        if self.resting.swap(false, Ordering::AcqRel) {
            let down = rest.since.map_or(Duration::ZERO, |since| since.elapsed());
            log::warn!(
                "hit counter: the database answers again; counting resumed after {:.1} s",
                down.as_secs_f64()
            );
        }
        *rest = Rest::default();
    }

    /// The database was away for one request (`why` says how).
    pub(crate) fn failed(&self, why: &dyn std::fmt::Display) {
        // Counted under the lock, so that a success resetting the count
        // cannot fall between this count and the decision to rest.
        let mut rest = self.rest.lock().expect("not poisoned");
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let now = Instant::now();
        if self.resting.load(Ordering::Acquire) {
            // The try after a rest failed: rest longer. (Requests sent
            // before the rest began, failing now, change nothing.)
            if std::mem::take(&mut rest.trying) {
                rest.length = (rest.length * 2).min(LONGEST_REST);
                rest.until = Some(now + rest.length);
            }
        } else if failures >= FAILURES {
            self.resting.store(true, Ordering::Release);
            *rest = Rest {
                until: Some(now + FIRST_REST),
                length: FIRST_REST,
                since: Some(now),
                trying: false,
            };
            log::error!(
                "hit counter: the database is unavailable ({why}); requests are answered \
                 \"not counted\" until it answers again (tried every {} s to {} s)",
                FIRST_REST.as_secs(),
                LONGEST_REST.as_secs()
            );
        }
    }

    /// Whether the counter is resting now.
    #[cfg(test)]
    pub(crate) fn resting(&self) -> bool {
        self.resting.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rests_after_failures_in_a_row_and_wakes_on_success() {
        let breaker = Breaker::default();
        assert!(breaker.allows());
        breaker.failed(&"refused");
        breaker.failed(&"refused");
        breaker.succeeded();
        breaker.failed(&"refused");
        breaker.failed(&"refused");
        assert!(!breaker.resting(), "a success in between starts the count again");
        assert!(breaker.allows());
        breaker.failed(&"refused");
        assert!(breaker.resting());
        assert!(!breaker.allows(), "resting: no request goes to the database");
        // Once the rest is over, one request tries.
        breaker.rest.lock().unwrap().until = Some(Instant::now());
        assert!(breaker.allows());
        assert!(!breaker.allows(), "only one");
        breaker.failed(&"refused");
        assert_eq!(
            breaker.rest.lock().unwrap().length,
            FIRST_REST * 2,
            "rests longer"
        );
        breaker.rest.lock().unwrap().until = Some(Instant::now());
        assert!(breaker.allows());
        breaker.succeeded();
        assert!(!breaker.resting());
        assert!(breaker.allows() && breaker.allows());
    }

    #[test]
    fn the_rest_grows_to_half_a_minute() {
        let breaker = Breaker::default();
        for _ in 0..FAILURES + 16 {
            breaker.failed(&"no answer");
        }
        assert_eq!(
            breaker.rest.lock().unwrap().length,
            FIRST_REST,
            "requests sent before the rest do not lengthen it"
        );
        for _ in 0..10 {
            breaker.rest.lock().unwrap().until = Some(Instant::now());
            assert!(breaker.allows());
            breaker.failed(&"no answer");
        }
        assert_eq!(breaker.rest.lock().unwrap().length, LONGEST_REST);
    }
}
