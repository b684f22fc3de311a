//! Which app instances count `"exact"` into a database: each has a row in
//! `hitcount_exact_instance` saying until when it runs, renewed while it
//! does and deleted when it shuts down. An instance does not open
//! write-behind while such a row is live (its memory would not see their
//! hits), just as an exact instance does not open while the write-behind
//! lease is held. Each side writes its own mark first and reads the other's
//! after, so of two instances opening at once at least one sees the other.
//!
//! On SQLite the times are text in sqlx's form (RFC 3339, `+00:00`), which
//! sorts as the times do: `DELETE_EXPIRED` compares them as text.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::lease::{is_live, renewal_due, LIVE_FOR};
use crate::store::Db;

const UPSERT: &str = "INSERT INTO hitcount_exact_instance (id, until) VALUES ($1, $2) \
                      ON CONFLICT (id) DO UPDATE SET until = excluded.until";
const DELETE: &str = "DELETE FROM hitcount_exact_instance WHERE id = $1";
const DELETE_EXPIRED: &str = "DELETE FROM hitcount_exact_instance WHERE until < $1";
const ALL: &str = "SELECT until FROM hitcount_exact_instance";

/// This instance's row, while it counts exactly.
pub(crate) struct ExactPresence {
    id: String,
    /// Until when the row says this instance runs; `None` once deleted.
    /// A tokio mutex: renewing and withdrawing take turns across their
    /// statement.
    until: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    /// Set by [`ExactPresence::withdraw`]: no more renewals, even while
    /// its statement has not succeeded yet.
    withdrawn: AtomicBool,
}

impl ExactPresence {
    /// Writes this instance's row at `now`, and forgets the rows of
    /// instances that died without withdrawing theirs.
    pub(crate) async fn announce(db: &Db, now: DateTime<Utc>) -> Result<ExactPresence> {
        let id = crate::counter::random_hex_32("this instance's id")?;
        let until = now + LIVE_FOR;
        dispatch!(db, pool, _dialect => {
            sqlx::query(DELETE_EXPIRED).bind(now).execute(pool).await?;
            sqlx::query(UPSERT).bind(&id).bind(until).execute(pool).await?;
        });
        Ok(ExactPresence {
            id,
            until: tokio::sync::Mutex::new(Some(until)),
            withdrawn: AtomicBool::new(false),
        })
    }

    /// Moves the row on once it is due (the keeper asks every second).
    /// Written again if another instance deleted it as expired (this one
    /// stalled). `false` once withdrawn: there is nothing more to renew.
    pub(crate) async fn renew(&self, db: &Db, now: DateTime<Utc>) -> Result<bool> {
        let mut until = self.until.lock().await;
        let held = match *until {
            Some(held) if !self.withdrawn.load(Ordering::Acquire) => held,
            _ => return Ok(false),
        };
        if !renewal_due(held, now) {
            return Ok(true);
        }
        let next = now + LIVE_FOR;
        dispatch!(db, pool, _dialect => {
            sqlx::query(UPSERT).bind(&self.id).bind(next).execute(pool).await?;
        });
        *until = Some(next);
        Ok(true)
    }

    /// Deletes the row, for good: a write-behind instance may open now. If
    /// the statement fails, the row is no longer renewed and runs out by
    /// itself; a second call tries again.
    pub(crate) async fn withdraw(&self, db: &Db) -> Result<()> {
        self.withdrawn.store(true, Ordering::Release);
        let mut until = self.until.lock().await;
        if until.is_some() {
            dispatch!(db, pool, _dialect => {
                sqlx::query(DELETE).bind(&self.id).execute(pool).await?;
            });
            *until = None;
        }
        Ok(())
    }

    /// Until when the last live row of an exact instance says it runs, if
    /// any is live at `now`.
    pub(crate) async fn live_until(db: &Db, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let rows: Vec<DateTime<Utc>> = dispatch!(db, pool, _dialect => {
            sqlx::query_scalar(ALL).fetch_all(pool).await?
        });
        Ok(rows.into_iter().filter(|until| is_live(*until, now)).max())
    }
}
