//! Moving a Django site's counts over: reading django-hitcount's tables
//! (`hitcount_hit_count`, `hitcount_hit`, the two blacklists, and
//! `django_content_type` to name kinds `app_label.model`) from its SQLite,
//! PostgreSQL or MySQL/MariaDB database, and adding them here,
//! idempotently.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;

use super::Admin;
use crate::error::{Error, Result};
use crate::store::{At, Db};
use crate::values::ObjectRef;
use crate::values::{day_start, hour_start};
use crate::values::{MAX_SESSION_KEY_LEN, MAX_USER_AGENT_LEN};

/// What an import added (zeros when everything was imported before).
///
/// ```
/// let report = hitcount::DjangoImport::default();
/// assert_eq!(report.to_string(), "Imported 0 objects (0 hits in their totals), 0 hit rows, 0 blacklisted IPs and 0 blacklisted user agents");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DjangoImport {
    /// Objects whose total was added.
    pub objects: u64,
    /// The hits those totals added.
    pub hits: i64,
    /// Hit rows added (with their hourly and daily buckets).
    pub hit_rows: u64,
    /// New blacklisted IPs.
    pub blacklisted_ips: u64,
    /// New blacklisted user agents.
    pub blacklisted_user_agents: u64,
}

impl std::fmt::Display for DjangoImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Imported {} objects ({} hits in their totals), {} hit rows, {} blacklisted IPs and {} blacklisted user agents",
            self.objects, self.hits, self.hit_rows, self.blacklisted_ips, self.blacklisted_user_agents
        )
    }
}

/// django-hitcount's `hitcount_hit_count` row: id, hits, content type, object pk.
type CountRow = (i64, i64, i64, String);

/// Every row of a small source table, as `Vec<$row>`. A macro, so that
/// the row type needs `FromRow` only for the backends that are built.
macro_rules! read_all {
    ($source:expr, $row:ty, $statement:expr) => {
        dispatch!($source, pool, _sql => {
            sqlx::query_as::<_, $row>($statement).fetch_all(pool).await.map_err(not_django)?
        })
    };
}

/// Its `hitcount_hit` row: created, ip, session, user agent, user id, hit count id.
type HitRow = (DateTime<Utc>, String, String, String, Option<String>, i64);

/// The statements that read django-hitcount's tables on one backend:
/// casts make Django's column types ours.
struct DjangoReads {
    content_types: &'static str,
    counts: &'static str,
    hits: &'static str,
}

/// [`DjangoReads`] written with the backend's names of a 64-bit integer
/// and of text, and its expression of a hit's time (Django writes UTC).
macro_rules! django_reads {
    ($bigint:literal, $text:literal, $created:literal) => {
        DjangoReads {
            content_types: concat!(
                "SELECT CAST(id AS ",
                $bigint,
                "), app_label || '.' || model FROM django_content_type"
            ),
            counts: concat!(
                "SELECT CAST(id AS ",
                $bigint,
                "), CAST(hits AS ",
                $bigint,
                "), CAST(content_type_id AS ",
                $bigint,
                "), CAST(object_pk AS ",
                $text,
                ") FROM hitcount_hit_count ORDER BY id"
            ),
            hits: concat!(
                "SELECT ",
                $created,
                ", ip, session, user_agent, CAST(user_id AS ",
                $text,
                "), CAST(hitcount_id AS ",
                $bigint,
                ") FROM hitcount_hit ORDER BY id"
            ),
        }
    };
}

impl DjangoReads {
    fn of(source: &Db) -> &'static DjangoReads {
        match source {
            // SQLite keeps times as text without a zone.
            #[cfg(feature = "sqlite")]
            Db::Sqlite(_) => &django_reads!("BIGINT", "TEXT", "created"),
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => &django_reads!("BIGINT", "TEXT", "CAST(created AS TIMESTAMPTZ)"),
            // `||` joins text: sqlx sets PIPES_AS_CONCAT.
            #[cfg(feature = "mysql")]
            Db::MySql(_) => &django_reads!("SIGNED", "CHAR", "created"),
        }
    }
}

const BLACKLISTED_IPS: &str = "SELECT ip FROM hitcount_blacklist_ip ORDER BY id";
const BLACKLISTED_USER_AGENTS: &str = "SELECT user_agent FROM hitcount_blacklist_user_agent ORDER BY id";

impl Admin<'_> {
    /// Imports a django-hitcount database (`source`, SQLite, PostgreSQL or
    /// MySQL/MariaDB): every object's total (kept whole, also when its hit
    /// log was cleaned up in Django), every hit row with its hourly and
    /// daily buckets, and both blacklists. IPs are stored as this counter's
    /// `ip_storage` says; with `private_hit_log`, hit rows keep no user
    /// agent and no user, and each its own key in place of the session
    /// key. Running it again adds nothing twice: totals are
    /// marked as imported per object, and a hit of the same object,
    /// session and time is not inserted again.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// let django = hitcount::Db::connect("sqlite:///srv/django/db.sqlite3").await?;
    /// println!("{}", counter.admin().import_django(&django).await?);
    /// # Ok(()) }
    /// ```
    pub async fn import_django(self, source: &Db) -> Result<DjangoImport> {
        let mut report = DjangoImport::default();
        let reads = DjangoReads::of(source);
        let kinds: HashMap<i64, String> = read_all!(source, (i64, String), reads.content_types)
            .into_iter()
            .collect();
        let counts: Vec<CountRow> = read_all!(source, CountRow, reads.counts);
        // django's hit count id -> ours.
        let mut pks = HashMap::with_capacity(counts.len());
        for (django_id, hits, content_type, object_pk) in counts {
            let kind = kinds.get(&content_type).ok_or_else(|| Error::InvalidInput {
                what: "django-hitcount database",
                value: format!("hitcount_hit_count {django_id}"),
                reason: "its content type is not in django_content_type",
            })?;
            let object = ObjectRef::new(kind.clone(), object_pk)?;
            let pk = self.counter.register(&object).await?;
            pks.insert(django_id, pk);
            if self.import_total(pk, hits).await? {
                report.objects += 1;
                report.hits += hits;
            }
        }
        report.hit_rows = self.import_hits(source, reads.hits, &pks).await?;
        for ip in read_all!(source, (String,), BLACKLISTED_IPS) {
            report.blacklisted_ips += u64::from(self.blacklist_ip(&ip.0).await?);
        }
        for agent in read_all!(source, (String,), BLACKLISTED_USER_AGENTS) {
            report.blacklisted_user_agents += u64::from(self.blacklist_user_agent(&agent.0).await?);
        }
        self.counter.changed_counts();
        Ok(report)
    }

    /// Adds Django's total to object `pk` unless it was added before.
    async fn import_total(self, pk: i64, hits: i64) -> Result<bool> {
        Ok(dispatch!(self.counter.writer(), pool, sql => {
            let mut tx = pool.begin().await?;
            let marked = sqlx::query(sql.mark_imported_total).bind(pk).execute(&mut *tx).await?.rows_affected();
            if marked == 1 {
                sqlx::query(sql.add_hits).bind(hits).bind(pk).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            marked == 1
        }))
    }

    /// Adds the hit rows that are not here yet, with their buckets, each in
    /// one transaction, as they stream from the source.
    async fn import_hits(self, source: &Db, select: &str, pks: &HashMap<i64, i64>) -> Result<u64> {
        let mut added = 0;
        dispatch!(source, pool, _sql => {
            let mut rows = sqlx::query_as::<_, HitRow>(select).fetch(pool);
            while let Some(row) = rows.try_next().await.map_err(not_django)? {
                added += self.import_hit(pks, row).await?;
            }
        });
        Ok(added)
    }

    /// Adds one of Django's hit rows and its buckets unless it is here.
    async fn import_hit(self, pks: &HashMap<i64, i64>, row: HitRow) -> Result<u64> {
        let (created, ip, session, user_agent, user_id, django_id) = row;
        let Some(&pk) = pks.get(&django_id) else {
            return Ok(0);
        };
        let created = created
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(created);
        let stored_ip = ip.parse().ok().and_then(|ip| self.counter.stored_ip(ip));
        let mut session: String = session.chars().take(MAX_SESSION_KEY_LEN).collect();
        let mut user_agent: String = user_agent.chars().take(MAX_USER_AGENT_LEN).collect();
        let mut user_id = user_id;
        if self.counter.settings().private_hit_log {
            // As the private hit log keeps its own hits: nothing of the
            // visitor, and a key of this row alone (made with a key that
            // stays, so that importing again finds it).
            let time = created.to_rfc3339();
            session = self.counter.private_key(&[&pk.to_string(), &time, &session]);
            user_agent.clear();
            user_id = None;
        }
        Ok(dispatch!(self.counter.writer(), pool, sql => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(sql.import_hit)
                .bind(pk)
                .bind(At(created))
                .bind(stored_ip.as_deref())
                .bind(&session)
                .bind(&user_agent)
                .bind(user_id.as_deref())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 1 {
                for (statement, start) in [(sql.add_hourly, hour_start(created)), (sql.add_daily, day_start(created))] {
                    sqlx::query(statement).bind(pk).bind(At(start)).bind(1_i64).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            inserted
        }))
    }
}

/// A source without django-hitcount's tables says so.
fn not_django(error: sqlx::Error) -> Error {
    match error {
        sqlx::Error::Database(db) => Error::InvalidInput {
            what: "django-hitcount database",
            value: db.message().to_owned(),
            reason: "expected django-hitcount's tables (hitcount_hit_count, hitcount_hit, the blacklists, django_content_type)",
        },
        other => Error::Database(other),
    }
}
