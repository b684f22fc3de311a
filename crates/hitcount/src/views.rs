//! Raw views of repeat visits, added up in memory and written in batches:
//! a repeat visit then costs one indexed read and no write. Reads on this
//! instance add what is pending, so they stay exact here; other instances
//! see views at most one flush interval late, and a crash loses at most
//! that interval's views (never hits, which are always written at once).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Result;
use crate::store::Db;

/// How often pending views are written.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Views not yet written, by hit count pk.
#[derive(Default)]
pub(crate) struct ViewBuffer {
    pending: Mutex<HashMap<i64, i64>>,
    /// Held for writing by a flush, for reading by reads of totals: a read
    /// never sees a batch both in the database and still pending, or in
    /// neither.
    flushing: tokio::sync::RwLock<()>,
}

impl ViewBuffer {
    pub(crate) fn add(&self, pk: i64) {
        *self.pending.lock().expect("not poisoned").entry(pk).or_default() += 1;
    }

    /// Hold while reading totals from the database and adding `pending`.
    pub(crate) async fn reading(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.flushing.read().await
    }

    /// [`ViewBuffer::reading`], unless a flush holds the lock now.
    pub(crate) fn try_reading(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        self.flushing.try_read().ok()
    }

    pub(crate) fn pending(&self, pk: i64) -> i64 {
        self.pending
            .lock()
            .expect("not poisoned")
            .get(&pk)
            .copied()
            .unwrap_or(0)
    }

    /// Writes the pending views in one transaction, then takes them out of
    /// the buffer; on failure they stay pending for the next flush.
    pub(crate) async fn flush(&self, db: &Db) -> Result<()> {
        let _flushing = self.flushing.write().await;
        // In pk order, the order the counting transactions lock rows in.
        let batch: BTreeMap<i64, i64> = self
            .pending
            .lock()
            .expect("not poisoned")
            .clone()
            .into_iter()
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        dispatch!(db, pool, sql => {
            let mut tx = pool.begin().await?;
            for (pk, n) in &batch {
                sqlx::query(sql.add_views).bind(pk).bind(n).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        let mut pending = self.pending.lock().expect("not poisoned");
        for (pk, n) in batch {
            if let Some(left) = pending.get_mut(&pk) {
                *left -= n;
                if *left == 0 {
                    pending.remove(&pk);
                }
            }
        }
        Ok(())
    }
}
