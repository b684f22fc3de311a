//! Which app instances count `"exact"` into a database: each has a row in
//! `hitcount_exact_instance` saying until when it runs, renewed while it
//! does and deleted when it shuts down. An instance does not open
//! write-behind while such a row is live (its memory would not see their
//! hits), just as an exact instance does not open while the write-behind
//! lease is held. Each side writes its own mark first and reads the other's
//! after, so of two instances opening at once at least one sees the other.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::lease::{is_live, LIVE_FOR, RENEW_AFTER};
use crate::store::Db;

const UPSERT: &str = "INSERT INTO hitcount_exact_instance (id, until) VALUES ($1, $2) \
                      ON CONFLICT (id) DO UPDATE SET until = excluded.until";
const DELETE: &str = "DELETE FROM hitcount_exact_instance WHERE id = $1";
const DELETE_EXPIRED: &str = "DELETE FROM hitcount_exact_instance WHERE until < $1";
const ALL: &str = "SELECT until FROM hitcount_exact_instance";

/// This instance's row, while it counts exactly.
pub(crate) struct ExactPresence {
    id: String,
    /// Until when the row says this instance runs; `None` once withdrawn.
    /// A tokio mutex: renewing and withdrawing take turns across their
    /// statement.
    until: tokio::sync::Mutex<Option<DateTime<Utc>>>,
}

impl ExactPresence {
    /// Writes this instance's row at `now`, and forgets the rows of
    /// instances that died without withdrawing theirs.
    pub(crate) async fn announce(db: &Db, now: DateTime<Utc>) -> Result<ExactPresence> {
        let id = crate::counter::random_hex_32()?;
        let until = now + LIVE_FOR;
        dispatch!(db, pool, _dialect => {
            sqlx::query(DELETE_EXPIRED).bind(now).execute(pool).await?;
            sqlx::query(UPSERT).bind(&id).bind(until).execute(pool).await?;
        });
        Ok(ExactPresence {
            id,
            until: tokio::sync::Mutex::new(Some(until)),
        })
    }

    /// Moves the row on once [`RENEW_AFTER`] has passed since it was
    /// written (the keeper asks every second). Written again if another
    /// instance deleted it as expired (this one stalled). `false` once it
    /// was withdrawn: there is nothing more to renew.
    pub(crate) async fn renew(&self, db: &Db, now: DateTime<Utc>) -> Result<bool> {
        let mut until = self.until.lock().await;
        let Some(held) = *until else { return Ok(false) };
        if now < held - LIVE_FOR + RENEW_AFTER {
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
    /// the statement fails, the row runs out by itself, no longer renewed.
    pub(crate) async fn withdraw(&self, db: &Db) -> Result<()> {
        let mut until = self.until.lock().await;
        if until.take().is_some() {
            dispatch!(db, pool, _dialect => {
                sqlx::query(DELETE).bind(&self.id).execute(pool).await?;
            });
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
