//! A random salt per UTC day, shared by every app instance through the
//! database and forgotten after two days: the Rocket integration derives
//! the session key of cookieless visitors from it, so such a key cannot be
//! traced back to an IP address once its day is over.

use std::sync::Mutex;

use chrono::NaiveDate;

use crate::counter::HitCounter;
use crate::error::Result;

/// Today's salt, cached by day.
#[derive(Default)]
pub(crate) struct SaltCache(Mutex<Option<(NaiveDate, Vec<u8>)>>);

impl HitCounter {
    /// The salt of the current UTC day: 32 random bytes (as 64 hex
    /// characters), the same on every instance sharing the database. Salts older than yesterday are
    /// deleted when a new day's salt is made.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let salt = counter.daily_salt().await?;
    /// assert_eq!(salt.len(), 64);
    /// assert_eq!(counter.daily_salt().await?, salt);
    /// # Ok(()) }
    /// ```
    pub async fn daily_salt(&self) -> Result<Vec<u8>> {
        let now = self.now();
        if let Some((cached_day, salt)) = &*self.salt_cache().0.lock().expect("not poisoned") {
            if *cached_day == now.date_naive() {
                return Ok(salt.clone());
            }
        }
        // Boxed: every cookieless request awaits this future, and the
        // database statements would make it kilobytes to move around.
        Box::pin(self.store_daily_salt(now)).await
    }

    /// Makes the day's salt, or reads the one another instance made, and
    /// caches it.
    async fn store_daily_salt(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<u8>> {
        let today = now.date_naive();
        let day = today.to_string();
        let candidate: String = crate::counter::random_hex_32("the day's salt of cookieless visitors' keys")?;
        let yesterday = (now - chrono::TimeDelta::days(1)).date_naive().to_string();
        let stored: String = dispatch!(self.writer(), pool, sql => {
            let mut tx = pool.begin().await?;
            sqlx::query(sql.insert_salt).bind(&day).bind(&candidate).execute(&mut *tx).await?;
            sqlx::query(sql.delete_old_salts).bind(&yesterday).execute(&mut *tx).await?;
            let stored: String = sqlx::query_scalar(sql.day_salt).bind(&day).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            stored
        });
        let salt = stored.into_bytes();
        *self.salt_cache().0.lock().expect("not poisoned") = Some((today, salt.clone()));
        Ok(salt)
    }
}
