//! The cleanup lease in `hitcount_state`: which one of the app instances
//! sharing a database runs the background cleanup. A lease is a time in a
//! column: taken when it is empty or past, moved on and given up only by
//! the instance whose time it still holds, and expiring by itself after an
//! instance that died.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::store::{At, Db};

/// Takes the lease until `until` if no one holds it at `now`. Whether it
/// was taken.
pub(crate) async fn take(db: &Db, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
    let taken = dispatch!(db, pool, sql => {
        sqlx::query(sql.take_cleanup_lease).bind(At(until)).bind(At(now)).execute(pool).await?.rows_affected()
    });
    Ok(taken == 1)
}

/// Moves our lease, held until `held`, on to `until` (`None` gives it up).
/// `false` when it is no longer ours: another instance took it after it
/// expired.
pub(crate) async fn renew(db: &Db, held: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Result<bool> {
    let kept = dispatch!(db, pool, sql => {
        sqlx::query(sql.renew_cleanup_lease).bind(until.map(At)).bind(At(held)).execute(pool).await?.rows_affected()
    });
    Ok(kept == 1)
}
