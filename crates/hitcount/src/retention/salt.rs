//! A random salt per UTC day, shared by every app instance through the
//! database and forgotten after two days: the Rocket integration derives
//! the session key of cookieless visitors from it, so such a key cannot be
//! traced back to an IP address once its day is over; with
//! `private_hit_log`, the hit log keeps each session key under it too.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::error::Result;
use crate::store::{random_key, Db};

/// Today's salt, cached by day.
#[derive(Default)]
pub(crate) struct SaltCache(Mutex<Option<(NaiveDate, Vec<u8>)>>);

impl SaltCache {
    /// The salt of `now`'s UTC day, when this instance has it.
    pub(crate) fn cached(&self, now: DateTime<Utc>) -> Option<Vec<u8>> {
        match &*self.0.lock().expect("not poisoned") {
            Some((day, salt)) if *day == now.date_naive() => Some(salt.clone()),
            _ => None,
        }
    }

    /// Makes the salt of `now`'s UTC day in `writer`'s database, or reads
    /// it when another instance made it first, and keeps it.
    pub(crate) async fn store(&self, writer: &Db, now: DateTime<Utc>) -> Result<Vec<u8>> {
        let today = now.date_naive();
        let day = today.to_string();
        let candidate = random_key("the day's salt of cookieless visitors' keys")?;
        // Statements each committed on their own: the read sees whichever
        // candidate was stored first. One transaction would gain nothing,
        // and on MariaDB (REPEATABLE READ) the delete's gap lock against
        // another instance's waiting insert made a deadlock of the day's
        // first requests, which then went without the salt.
        let stored: String = dispatch!(writer, pool, sql => {
            sqlx::query(sql.insert_salt).bind(&day).bind(&candidate).execute(pool).await?;
            sqlx::query_scalar(sql.day_salt).bind(&day).fetch_one(pool).await?
        });
        let salt = stored.into_bytes();
        *self.0.lock().expect("not poisoned") = Some((today, salt.clone()));
        // Forgetting older salts is housekeeping: the day's salt is had
        // whatever it meets, and the next day's first request, or the next
        // cleanup, tries again.
        if let Err(e) = forget_old_salts(writer, now).await {
            log::warn!("rocket-hitcount: the salts of days before yesterday could not be deleted: {e}");
        }
        Ok(salt)
    }
}

/// Deletes the salts of the days before yesterday (of `now`, UTC): a new
/// day's first salt does, and so does cleanup, so that on a quiet site no
/// salt outlives its two days by more than the time to the next cleanup.
pub(crate) async fn forget_old_salts(writer: &Db, now: DateTime<Utc>) -> Result<()> {
    let yesterday = (now - TimeDelta::days(1)).date_naive().to_string();
    dispatch!(writer, pool, sql => {
        sqlx::query(sql.delete_old_salts).bind(&yesterday).execute(pool).await?;
    });
    Ok(())
}
