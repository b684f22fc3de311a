//! # hitcount
//!
//! The counting rules and storage of rocket-hitcount, a port of
//! django-hitcount: one hit per visitor per object inside an active window
//! (7 days by default), a hit log, totals, and "hits within the last N".
//! This crate has no Rocket dependency; `rocket_hitcount` builds the
//! fairing, guards, routes and Tera functions on it.
//!
//! - **Exactly once**: concurrent requests of one visitor for one object
//!   count once, on SQLite, PostgreSQL and MariaDB, and across app
//!   instances sharing one PostgreSQL or MariaDB database.
//! - **History that survives cleanup**: hourly and daily buckets keep
//!   `hits_in_last` counting hits that cleanup removed from the hit log,
//!   exact to the hour while the hourly buckets are kept
//!   (`keep_hourly_buckets`), to the day after.
//! - **Any key**: objects are `(kind, id)` with string ids (integers,
//!   UUIDs, slugs).
//! - **Group commit**: the requests that need the database are decided and
//!   written in batches, one transaction each; repeat visits are answered
//!   from memory.
//! - **No raw IPs by default**, bot counts apart from human ones, raw views
//!   next to unique hits, blacklists served from memory.
//!
//! | backend    | feature    | use it for                           |
//! |------------|------------|--------------------------------------|
//! | SQLite     | `sqlite`   | the embedded default, no service      |
//! | PostgreSQL | `postgres` | many app instances on one database    |
//! | MariaDB    | `mysql`    | the same, where the site runs MariaDB 10.11+ (not MySQL 8) |
//!
//! ## Quickstart
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
//! use hitcount::{Db, HitCounter, ObjectRef, Settings, Visitor, Window};
//!
//! let counter = HitCounter::open(Db::connect("sqlite::memory:").await?, Settings::default()).await?;
//! let post = ObjectRef::new("blog.post", 1)?;
//! let visitor = Visitor::new("session-key")?
//!     .with_ip("192.0.2.1".parse().unwrap())
//!     .with_user_agent("Mozilla/5.0");
//!
//! let result = counter.count_hit(&post, &visitor).await?;
//! assert_eq!(result.hit_message, "Hit counted: session key");
//! assert_eq!(counter.hits_in_last(&post, Window::parse("days=1")?).await?, 1);
//! # Ok(()) }
//! ```
//!
//! The user guide in `docs/` explains the settings and the counting rules.
#![deny(missing_docs)]

#[macro_use]
mod store;

mod admin;
mod counting;
mod error;
mod reading;
mod retention;
mod rules;
mod settings;
mod values;

pub use admin::{
    ActionReport, Admin, AdminAction, BlacklistEntry, Blacklisted, DjangoImport, HitColumn, HitFilter,
    HitOrder, HitPage, HitRecord, Period, PeriodObject, PeriodReport, PeriodTotals, Tally, TopVisitors,
    COUNTED_HITS, MAX_PERIOD_DAYS, MAX_PER_PAGE, VISITOR_SAMPLE,
};
pub use counting::{HitCounter, HitResult};
pub use error::{Error, Result, WindowError, WindowErrorKind};
pub use reading::{BlockingCounter, Counts, DayHits, ObjectCounts, Ranked};
pub use retention::{CleanupOptions, CleanupReport};
pub use rules::Reason;
pub use settings::{BotPolicy, IpLimitScope, Settings};
pub use store::Db;
pub use values::{
    parse_ip, Clock, IpStorage, ObjectRef, User, Visitor, Window, MAX_ID_LEN, MAX_KIND_LEN,
    MAX_SESSION_KEY_LEN, MAX_USER_AGENT_LEN, MAX_USER_ID_LEN,
};

/// The sqlx that rocket_db_pools 0.2 uses, re-exported so that pools
/// built by the application match the crate's.
pub use sqlx;

/// Rocket runs handlers and fairings on a multi-threaded runtime, so every
/// future of the public API must be `Send`. This fails to compile if one
/// is not (a borrowed sqlx executor held across an await can do that).
#[cfg(test)]
#[allow(dead_code)]
mod futures_are_send {
    use super::*;

    fn is_send<T: Send>(_: T) {}

    fn check(counter: &HitCounter, db: Db, object: &ObjectRef, visitor: &Visitor, filter: &HitFilter) {
        is_send(HitCounter::open(db, Settings::default()));
        is_send(Db::connect("sqlite::memory:"));
        is_send(counter.count_hit(object, visitor));
        is_send(counter.count_hit_pk(1, visitor));
        is_send(counter.register(object));
        is_send(counter.counts(object));
        is_send(counter.object_by_pk(1));
        is_send(counter.hits_in_last(object, Window::days(1)));
        is_send(counter.counts_many(std::slice::from_ref(object)));
        is_send(counter.hits_in_last_many(std::slice::from_ref(object), Window::days(1)));
        is_send(counter.most_viewed(None, None, 10));
        is_send(counter.admin().list_hits(filter));
        is_send(counter.admin().run_action(AdminAction::DeleteHits, &[1]));
        is_send(counter.admin().delete_hits(&[1]));
        is_send(counter.admin().delete_counts(object));
        is_send(counter.admin().blacklist_ip("192.0.2.1"));
        is_send(counter.admin().blacklist_user_agent("x"));
        is_send(counter.admin().unblacklist_ip("192.0.2.1"));
        is_send(counter.admin().unblacklist_user_agent("x"));
        is_send(counter.admin().blacklisted_ips());
        is_send(counter.admin().blacklisted_user_agents());
        is_send(counter.admin().cleanup());
        is_send(counter.daily_salt());
        is_send(counter.flush_views());
        is_send(
            counter
                .admin()
                .cleanup_with(&CleanupOptions::from(counter.settings()), |_| {}),
        );
    }
}

/// The futures every request awaits stay small: each is moved whole into
/// Rocket's boxes and the caller's, and the database paths inline would
/// make them kilobytes (the salt's would be 5.8 KB; boxing the database
/// paths is worth about 5 points of the bare route's throughput to repeat
/// visits).
/// Slow paths go behind `Box::pin`.
#[cfg(all(test, feature = "sqlite"))]
mod hot_futures_are_small {
    use super::*;

    #[tokio::test]
    async fn sizes() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let counter = HitCounter::open(db, Settings::default()).await.unwrap();
        let object = ObjectRef::new("blog.post", 1).unwrap();
        let visitor = Visitor::new("s").unwrap();
        let count_hit = std::mem::size_of_val(&counter.count_hit(&object, &visitor));
        let daily_salt = std::mem::size_of_val(&counter.daily_salt());
        assert!(count_hit <= 512, "count_hit's future is {count_hit} bytes");
        assert!(daily_salt <= 128, "daily_salt's future is {daily_salt} bytes");
    }
}
