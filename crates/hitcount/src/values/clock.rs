//! Where the counter gets the time, and the hour and day boundaries of the
//! buckets.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, DurationRound, TimeDelta, Timelike, Utc};

/// The source of "now" for a [`HitCounter`](crate::HitCounter).
///
/// The system clock in production; a fixed or stepped clock in tests and
/// imports, so that "a hit 10 days ago" goes through the same code as a
/// hit now. Times are cut to microseconds, the precision every backend
/// stores.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use hitcount::Clock;
///
/// let fixed = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
/// let clock = Clock::new(move || fixed);
/// assert_eq!(clock.now(), fixed);
/// assert!(Clock::system().now() > fixed);
/// ```
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    ///
    /// ```
    /// let now = hitcount::Clock::system().now();
    /// assert_eq!(now.timestamp_subsec_nanos() % 1000, 0);
    /// ```
    pub fn system() -> Clock {
        Clock::new(Utc::now)
    }

    /// A clock that asks `now` for the time.
    ///
    /// ```
    /// let clock = hitcount::Clock::new(chrono::Utc::now);
    /// # let _ = clock;
    /// ```
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The current time, to the microsecond.
    ///
    /// ```
    /// let a = hitcount::Clock::system().now();
    /// assert!(hitcount::Clock::system().now() >= a);
    /// ```
    pub fn now(&self) -> DateTime<Utc> {
        let now = (self.0)();
        // Every request asks: cheaper than `duration_trunc`, which divides
        // the whole timestamp. (A leap second's nanoseconds stay above 1e9.)
        now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The start of the hour (UTC) that contains `t`.
pub(crate) fn hour_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).expect("in range")
}

/// The start of the day (UTC) that contains `t`.
pub(crate) fn day_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::days(1)).expect("in range")
}

/// The first hour boundary at or after `t`.
pub(crate) fn next_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let start = hour_start(t);
    if start == t {
        t
    } else {
        start + TimeDelta::hours(1)
    }
}

/// The first day boundary at or after `t`.
pub(crate) fn next_day(t: DateTime<Utc>) -> DateTime<Utc> {
    let start = day_start(t);
    if start == t {
        t
    } else {
        start + TimeDelta::days(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn boundaries() {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        assert_eq!(hour_start(t), Utc.with_ymd_and_hms(2026, 3, 4, 5, 0, 0).unwrap());
        assert_eq!(day_start(t), Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).unwrap());
        assert_eq!(next_hour(t), Utc.with_ymd_and_hms(2026, 3, 4, 6, 0, 0).unwrap());
        assert_eq!(next_day(t), Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap());
        let on = Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).unwrap();
        assert_eq!(next_hour(on), on);
        assert_eq!(next_day(on), on);
    }
}
