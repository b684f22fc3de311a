//! Leases in `hitcount_state`: which one of the app instances sharing a
//! database does a job that only one may do at a time. A lease is a time in
//! a column: taken when it is empty or past, moved on and given up only by
//! the instance whose time it still holds, and expiring by itself after an
//! instance that died.

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{Error, Result};
use crate::store::Db;

/// How long an instance's mark in the database (the write-behind lease, an
/// exact instance's row) runs unless renewed: the longest a new instance
/// has to wait after one that died without giving it up.
pub(crate) const LIVE_FOR: TimeDelta = TimeDelta::seconds(30);

/// How long after writing its mark an instance renews it.
pub(crate) const RENEW_AFTER: TimeDelta = TimeDelta::seconds(10);

/// How far ahead of this instance's clock a live mark may be: another
/// instance read its clock a moment after this one (two opening at once),
/// or its clock runs a little ahead.
const CLOCK_SLACK: TimeDelta = TimeDelta::seconds(60);

/// Whether a mark running until `until` is a live instance's at `now`. One
/// much further ahead than an instance ever sets it is no live instance's,
/// but that of a counter whose clock is set in the past (an import).
pub(crate) fn is_live(until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    until >= now && until <= now + LIVE_FOR + CLOCK_SLACK
}

/// The error that refuses an instance, from its read of the other kind's
/// mark: `refused` when the mark is live, the read's own error when it
/// failed (the caller then gives up the mark it wrote first).
pub(crate) fn refusal(
    other: Result<Option<DateTime<Utc>>>,
    now: DateTime<Utc>,
    refused: fn(DateTime<Utc>) -> Error,
) -> Option<Error> {
    match other {
        Ok(until) => until.filter(|until| is_live(*until, now)).map(refused),
        Err(e) => Some(e),
    }
}

/// Whether a mark written to run until `held` is due for renewal at `now`.
pub(crate) fn renewal_due(held: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= held - LIVE_FOR + RENEW_AFTER
}

/// The jobs that take a lease.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lease {
    /// The background cleanup (`cleanup_interval`).
    Cleanup,
    /// Counting in memory (`counting = "write_behind"`).
    WriteBehind,
}

/// A lease's statements, the same on every backend.
struct Statements {
    /// Takes it until $1 when it is free or expired at $2.
    take: &'static str,
    /// Moves it from $2 (ours) on to $1.
    renew: &'static str,
    /// Until when it is held.
    until: &'static str,
}

macro_rules! statements {
    ($column:literal) => {
        Statements {
            take: concat!(
                "UPDATE hitcount_state SET ",
                $column,
                " = $1 WHERE id = 1 AND (",
                $column,
                " IS NULL OR ",
                $column,
                " < $2)"
            ),
            renew: concat!(
                "UPDATE hitcount_state SET ",
                $column,
                " = $1 WHERE id = 1 AND ",
                $column,
                " = $2"
            ),
            until: concat!("SELECT ", $column, " FROM hitcount_state WHERE id = 1"),
        }
    };
}

impl Lease {
    fn statements(self) -> &'static Statements {
        const CLEANUP: Statements = statements!("cleanup_lease_until");
        const WRITE_BEHIND: Statements = statements!("write_behind_lease_until");
        match self {
            Lease::Cleanup => &CLEANUP,
            Lease::WriteBehind => &WRITE_BEHIND,
        }
    }

    /// Takes the lease until `until` if no one holds it at `now`. Whether
    /// it was taken.
    pub(crate) async fn take(self, db: &Db, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
        let sql = self.statements().take;
        let taken = dispatch!(db, pool, _dialect => {
            sqlx::query(sql).bind(until).bind(now).execute(pool).await?.rows_affected()
        });
        Ok(taken == 1)
    }

    /// Moves our lease, held until `held`, on to `until` (`None` gives it
    /// up). `false` when it is no longer ours: another instance took it
    /// after it expired.
    pub(crate) async fn renew(
        self,
        db: &Db,
        held: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let sql = self.statements().renew;
        let kept = dispatch!(db, pool, _dialect => {
            sqlx::query(sql).bind(until).bind(held).execute(pool).await?.rows_affected()
        });
        Ok(kept == 1)
    }

    /// Until when someone holds the lease, if anyone does or did.
    pub(crate) async fn held_until(self, db: &Db) -> Result<Option<DateTime<Utc>>> {
        let sql = self.statements().until;
        Ok(dispatch!(db, pool, _dialect => {
            sqlx::query_scalar(sql).fetch_one(pool).await?
        }))
    }
}
