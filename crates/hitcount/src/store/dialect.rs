//! The SQL of the crate, in one place. [`STANDARD`] is the SQL that SQLite
//! and PostgreSQL share (numbered `$n` parameters, `ON CONFLICT`,
//! `RETURNING`); each backend file takes it and overrides what differs.
//! JSON functions are not shared: the batch statements here are SQLite's
//! (`json_each`, several statements in one query), and PostgreSQL's file
//! has its own. A backend without those features writes its own
//! [`Dialect`].

use chrono::{DateTime, Utc};

use super::migrate::Migration;

/// Every statement the crate runs, for one backend.
pub(crate) struct Dialect {
    /// The backend's name, for messages.
    pub name: &'static str,
    /// Whether bind parameters are numbered (`$1`); otherwise each is a
    /// `?`, bound in the order of the text.
    pub numbered_params: bool,
    /// What opens a list of rows that a row is tested against (`(a, b) IN
    /// (VALUES (..), (..))`): `VALUES ` where the list is a table.
    pub row_list: &'static str,
    /// The schema, oldest first.
    pub migrations: &'static [Migration],
    /// Run once on the counting writer's own connection (settings of the
    /// connection itself, which a pooler would not keep: see
    /// `begin_counting` for those of each transaction).
    pub counting_setup: &'static [&'static str],
    /// How two app instances starting at once keep from migrating at once
    /// (see [`MigrationLock`]).
    pub migration_lock: MigrationLock,
    /// Run first in a transaction whose writes race another instance's
    /// (the migrations, the IP hash key's first store): READ COMMITTED, so
    /// that it sees what the other committed (under a server default of
    /// REPEATABLE READ or SERIALIZABLE its snapshot would predate a lock's
    /// wait, and its write would fail with a serialization error).
    pub read_committed: Option<&'static str>,

    /// Creates or updates an object row with `views + 1`: a refused
    /// request's first view. Binds: kind, object_id, now. Returns: id, hits.
    pub upsert_view: &'static str,
    /// The same with `bot_hits + 1`.
    pub upsert_bot: &'static str,
    /// Creates the object row if missing, changing nothing. Binds: kind,
    /// object_id, now. Returns: id.
    pub register: &'static str,
    /// Adds buffered views to a known row. Binds: n, id.
    pub add_views: &'static str,
    /// Adds hits to a known row. Binds: n, id.
    pub add_hits: &'static str,
    /// Binds: kind, object_id. Returns: id, hits, views, bot_hits.
    pub find_object: &'static str,
    /// Binds: id. Returns: kind, object_id, hits, views, bot_hits.
    pub find_object_by_pk: &'static str,

    /// How a counting batch starts: its transaction, its locks and its
    /// read of the visitors' active hits (see [`BatchStart`]).
    pub batch_start: BatchStart,
    /// The most requests one counting transaction decides: bounds how long
    /// it holds its locks, and how many it takes.
    pub max_batch: usize,
    /// Active hits from an IP on the whole site. Binds: ip, active_since.
    pub ip_hits_site: &'static str,
    /// Active hits from an IP on one object. Binds: ip, active_since, id.
    pub ip_hits_object: &'static str,
    /// Starts the counting transaction, as its own round trip (simple
    /// statements, run as one query), with the settings the decision
    /// relies on scoped to the transaction, so that they hold behind a
    /// connection pooler too. PostgreSQL: each statement sees what
    /// committed before it (READ COMMITTED, whatever the server's
    /// default), and a batch held up by a stalled lock gives up.
    /// `None` where the batch's read starts it (see [`BatchStart`]).
    pub begin_counting: Option<&'static str>,
    /// `begin_counting` with `fast_commits`: the transaction's commit
    /// need not wait for the disk.
    pub begin_counting_fast: Option<&'static str>,
    /// Writes a decided batch: the hit rows in array order, each object's
    /// new hits and views, and the buckets, from the JSON arrays of
    /// `BatchWrite` (see [`Bind`]): hits `[hit_count_id, created_at (see
    /// `json_time`), ip, session_key, user_agent, user_id]`, objects `[id,
    /// hits, views]`, hourly buckets `[hit_count_id, start_at, hits]` and
    /// daily ones `[hit_count_id, start_at, hits, views]` (each key once).
    /// One step where a statement can do it all; the step marked `totals`
    /// returns id, hits of each object that exists. SQLite's also commits:
    /// one round trip fewer.
    pub write_batch: &'static [WriteStep],
    /// The text of a time in the batches' JSON arrays.
    pub json_time: fn(DateTime<Utc>) -> String,
    /// Commits the counting transaction after `write_batch`; `None` where
    /// `write_batch` does.
    pub commit_counting: Option<&'static str>,
    /// Ends a transaction of the dialect's own statements that failed (run
    /// as a simple query, like `commit_counting`).
    pub rollback: &'static str,
    /// Adds to an hourly bucket. Binds: hit_count_id, start_at, hits.
    pub add_hourly: &'static str,
    /// Adds to a daily bucket. Binds: hit_count_id, start_at, hits.
    pub add_daily: &'static str,
    /// Adds views to a daily bucket. Binds: hit_count_id, start_at, views.
    pub add_daily_views: &'static str,
    /// Adds bot hits to a daily bucket. Binds: hit_count_id, start_at,
    /// bot hits.
    pub add_daily_bot_hits: &'static str,

    /// Hits of one object inside a window (see `window_hits_expr!`). Binds:
    /// from, first full hour, first full day, kind, object_id.
    pub window_hits: &'static str,
    /// The start of the objects query for lists, with the window
    /// expression: append a `WHERE` on `c`. Binds $1-$3 as `window_hits`.
    pub list_objects: &'static str,
    /// The same without the window: totals only, and 0. Append a `WHERE`
    /// on `c`; binds start at $1.
    pub list_totals: &'static str,
    /// The top objects of a kind (or all kinds when the kind is NULL) by
    /// hits within a window. Binds: from, first full hour, first full day,
    /// kind, limit. Returns: id, kind, object_id, window hits.
    pub most_viewed_within: &'static str,
    /// The same by total hits. Binds: kind, kind again, limit (each
    /// parameter used once, so that MariaDB's `?` can say it and the
    /// `(kind, hits)` index serves it).
    pub most_viewed_total: &'static str,

    /// An object's daily buckets from a day on. Binds: kind, object_id,
    /// first day. Returns: start_at, hits, views, bot_hits, oldest first.
    pub daily_hits: &'static str,

    /// Each day's sums over every object's daily buckets in a period.
    /// Binds: from, until or NULL. Returns: start_at, hits, views,
    /// bot_hits.
    pub period_days: &'static str,
    /// The same for one object. Binds: from, until or NULL, hit_count_id.
    pub period_days_of: &'static str,
    /// The objects of a period's three rankings (by hits, by views per
    /// hit among objects with more views than hits, by bot share among
    /// objects with bot hits), each at most `limit` long, from the sums of
    /// their daily buckets; and a last row with the number of objects
    /// with anything in the period. The database sums every object, but
    /// only the rankings' rows travel. Binds: from, until or NULL, limit.
    /// Returns: ranking (0, 1, 2; 3 for the count), hit_count_id (the
    /// count), hits, views, bot_hits.
    pub period_rankings: &'static str,
    /// The IP and user agent of a period's newest hits. Binds: from,
    /// until or NULL, limit. Returns: ip, user_agent.
    pub newest_visitors: &'static str,
    /// The same for one object. Binds: hit_count_id, from, until or
    /// NULL, limit.
    pub newest_visitors_of: &'static str,

    /// Every object's totals, of one kind or all. Binds: kind or NULL.
    /// Returns: kind, object_id, id, hits, views, bot_hits, by id.
    pub export_totals: &'static str,
    /// Every daily bucket, of one kind or all, from a day on. Binds: kind
    /// or NULL twice, first day or NULL twice. Returns: kind, object_id, start_at,
    /// hits, views, bot_hits, by object and day.
    pub export_daily: &'static str,

    /// Marks an object's imported total. Binds: id. Affects 0 rows when it
    /// was marked before.
    pub mark_imported_total: &'static str,
    /// Inserts an imported hit unless the object has one of that session
    /// at that time. Binds as `insert_hit` (one row).
    pub import_hit: &'static str,

    /// Deletes an object's hit log, buckets, import mark and row, in this
    /// order (not left to ON DELETE CASCADE: SQLite enforces it only on
    /// connections with foreign keys on). Binds: kind, object_id.
    pub delete_object: [&'static str; 5],
    /// Deletes one hit. Binds: id. Returns: hit_count_id, created_at.
    pub delete_hit: &'static str,
    /// Binds: id. Returns: ip, user_agent.
    pub hit_visitor: &'static str,
    /// Lowers a total, never below zero. Binds: id, n.
    pub remove_hits: &'static str,
    /// Lowers an hourly bucket, never below zero. Binds: id, start_at, n.
    pub remove_hourly: &'static str,
    /// Lowers a daily bucket, never below zero. Binds: id, start_at, n.
    pub remove_daily: &'static str,

    /// Binds: ip, now. Inserts unless present.
    pub add_blacklisted_ip: &'static str,
    /// Binds: user_agent, now. Inserts unless present.
    pub add_blacklisted_user_agent: &'static str,
    /// Binds: ip.
    pub remove_blacklisted_ip: &'static str,
    /// Binds: user_agent.
    pub remove_blacklisted_user_agent: &'static str,
    /// Returns: ip, created_at, refused, oldest first.
    pub blacklisted_ips: &'static str,
    /// Returns: user_agent, created_at, refused, oldest first.
    pub blacklisted_user_agents: &'static str,
    /// Adds refused requests to an IP entry. Binds: n, ip.
    pub add_ip_refusals: &'static str,
    /// Adds refused requests to a user agent entry. Binds: n, user_agent.
    pub add_user_agent_refusals: &'static str,
    /// Marks the blacklists changed, so other instances reload them.
    pub bump_blacklist_version: &'static str,
    /// Returns: blacklist_version.
    pub blacklist_version: &'static str,
    /// Stores a generated IP hash key unless one exists. Binds: key.
    pub init_ip_hash_key: &'static str,
    /// Returns: ip_hash_key.
    pub ip_hash_key: &'static str,
    /// Takes the cleanup lease until $1 when it is free or expired before
    /// $2. One row affected: taken.
    pub take_cleanup_lease: &'static str,
    /// Moves the lease held until $2 to $1 (NULL gives it up). One row
    /// affected: still held.
    pub renew_cleanup_lease: &'static str,

    /// Stores a day's salt unless one exists. Binds: day, salt.
    pub insert_salt: &'static str,
    /// Binds: day. Returns: salt.
    pub day_salt: &'static str,
    /// Forgets the salts of days before $1.
    pub delete_old_salts: &'static str,

    /// How cleanup shares the database with counting unless told
    /// otherwise (see `CleanupOptions::batch_time` and `pause`).
    pub cleanup_pacing: CleanupPacing,
    /// Deletes at most $3 hit rows created before $2 and not before $1,
    /// oldest first. Returns: each one's created_at. Each batch starts at
    /// the last one's latest time, so the index scan never walks the
    /// rows removed before (PostgreSQL keeps them in the index until
    /// vacuum, and batches from the start slowed down as they piled up).
    pub cleanup_batch: &'static str,
    /// Counts the hit rows created before $1.
    pub count_expired: &'static str,
    /// Returns: the start of the oldest hourly bucket, or NULL.
    pub oldest_hourly: &'static str,
    /// Deletes the hourly buckets from $1 to $2 (not included).
    pub delete_hourly: &'static str,

    /// The names of the database's tables and views (not the engine's
    /// own), where hitcount's tables are created. Returns: name, by name.
    pub table_names: &'static str,
}

/// How a counting batch starts (after `begin_counting`, where there is
/// one): what locks it takes, and its read of the batch's visitors. The
/// read is bound a JSON array with one element per request: `[hit_count_id,
/// session_key, previous session key (or the session key again), user_id
/// or null, the IP as the hit log stores it or null, the start of the IP's
/// active window, hit_count_id or null]` (the last three where the per-IP
/// limit applies; the last one when it is per object). It returns each
/// visitor's latest hit on its object since the batch's earliest active
/// window began: a user's by user_id, anyone else's by either session key.
#[derive(Clone, Copy)]
pub(crate) enum BatchStart {
    /// One prepared statement, which starts the transaction and takes the
    /// database's write lock: SQLite's `BEGIN IMMEDIATE`, so that what the
    /// batch reads stays true until it commits (a deferred `BEGIN` could
    /// meet another connection's write between its read and its own
    /// write). Binds: the JSON array, active_since. Returns: the element's
    /// index (0-based), the time or NULL. The per-IP counts are read with
    /// `ip_hits_site` / `ip_hits_object`.
    Read(&'static str),
    /// Built for each batch (see [`LockedBatch`]), and run after
    /// `begin_counting` in the same simple
    /// query, one round trip: transaction-scoped locks on the batch's
    /// visitors (and IPs, under the per-IP limit), in ascending order so
    /// that two batches never deadlock, then the read, a statement of its
    /// own that starts once the locks are held and so sees every hit
    /// committed before. The object rows are locked only by the write, for
    /// its last moment. Returns: the index, the time as microseconds since
    /// the epoch or NULL, the IP's active hits (0 without an IP).
    #[cfg(feature = "postgres")]
    Locked(fn(&LockedBatch<'_>) -> String),
    /// After `begin_counting`, `lock` locks the batch's object rows in id
    /// order and returns the ids that exist (binds: a JSON array of the
    /// ids), then `read` reads as `Read` does (binds: the JSON array,
    /// active_since), each a statement of its own that sees what committed
    /// before it (READ COMMITTED).
    /// Under a site-wide per-IP limit, `ip_lock` first takes a lock per IP
    /// of the batch, in order (binds: the IP's lock key; answers 1 when
    /// taken), which `commit_counting` and `rollback` release.
    #[cfg(feature = "mysql")]
    RowsLocked {
        lock: &'static str,
        read: &'static str,
        ip_lock: &'static str,
    },
}

/// How app instances starting at once keep from migrating at once.
pub(crate) enum MigrationLock {
    /// Starting a transaction locks the whole database (SQLite).
    Database,
    /// A lock taken first in each migration's transaction, after
    /// `read_committed`, and held to its end: transaction-scoped, so it
    /// holds behind a pooler in transaction mode. Binds: key (i64).
    #[cfg(feature = "postgres")]
    Transaction(&'static str),
    /// Where a schema change commits on its own (MariaDB): a lock of the
    /// connection, taken (`lock` answers 1) before the bookkeeping table is
    /// made, held while each missing migration runs and is then recorded
    /// (`record`, binds: version, description, applied_at), and released.
    #[cfg(feature = "mysql")]
    Session {
        lock: &'static str,
        unlock: &'static str,
        create_table: &'static str,
        record: &'static str,
    },
}

/// One statement of `Dialect::write_batch`.
pub(crate) struct WriteStep {
    pub sql: &'static str,
    /// Its parameters, in order.
    pub binds: &'static [Bind],
    /// Whether it returns the objects' new totals.
    pub totals: bool,
}

/// An argument of `Dialect::write_batch`.
pub(crate) enum Bind {
    Hits,
    Objects,
    Hourly,
    Daily,
    /// The batch's latest time (`modified_at`).
    Now,
}

impl WriteStep {
    /// The whole write in one statement, binding every argument in order.
    pub(crate) const fn all(sql: &'static str) -> [WriteStep; 1] {
        [WriteStep {
            sql,
            binds: &[Bind::Hits, Bind::Objects, Bind::Hourly, Bind::Daily, Bind::Now],
            totals: true,
        }]
    }
}

/// What `BatchStart::Locked` builds its statements from.
#[cfg(feature = "postgres")]
pub(crate) struct LockedBatch<'a> {
    /// The lock keys, ascending.
    pub locks: &'a [i32],
    /// The JSON array of the read.
    pub lookups: &'a str,
    /// The start of the batch's earliest active window.
    pub since: DateTime<Utc>,
    /// Whether a request of the batch has a user, a previous session key
    /// other than its own, or an IP under the per-IP limit.
    pub users: bool,
    pub previous_keys: bool,
    pub ips: bool,
}

/// Cleanup's pace on a backend: batches sized to take about `batch_time`
/// (zero: batches of `CleanupOptions::batch_size`), each followed by
/// `pause`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CleanupPacing {
    /// Starts a batch's transaction by taking the write lock, so that the
    /// time a batch is sized by is its own, not its wait for counting to
    /// let go; `None`: each batch is one statement on its own.
    pub begin: Option<&'static str>,
    /// Ends that transaction.
    pub commit: &'static str,
    /// The default of `CleanupOptions::batch_time`.
    pub batch_time: std::time::Duration,
    /// The default of `CleanupOptions::pause`.
    pub pause: std::time::Duration,
}

impl Dialect {
    /// The `n`th bind parameter (1-based) in this dialect, where every
    /// parameter is bound once, in order.
    pub(crate) fn param(&self, n: usize) -> String {
        if self.numbered_params {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    }
}

/// Hits of object `c` inside a window, exact while the window starts
/// inside the hit log: hit rows from the window's start to the next full
/// hour, hourly buckets to the next full day, then daily buckets. Buckets
/// are complete (written with each hit), so only the first partial hour
/// reads the hit log; a window reaching past the hit log's retention is
/// bound to start at the top of an hour and reads buckets only (see
/// `counts::window_bounds`). Written with the window's start, first full
/// hour and first full day (`$1`, `$2`, `$3` in the standard SQL), and
/// the backend's name of a 64-bit integer.
macro_rules! window_hits_expr {
    ($from:literal, $hour:literal, $day:literal, $bigint:literal) => {
        concat!(
            "CAST((SELECT COUNT(*) FROM hitcount_hit h \
               WHERE h.hit_count_id = c.id AND h.created_at >= ",
            $from,
            " AND h.created_at < ",
            $hour,
            ") \
             + (SELECT COALESCE(SUM(b.hits), 0) FROM hitcount_hourly b \
               WHERE b.hit_count_id = c.id AND b.start_at >= ",
            $hour,
            " AND b.start_at < ",
            $day,
            ") \
             + (SELECT COALESCE(SUM(d.hits), 0) FROM hitcount_daily d \
               WHERE d.hit_count_id = c.id AND d.start_at >= ",
            $day,
            ") AS ",
            $bigint,
            ")"
        )
    };
}

pub(crate) const STANDARD: Dialect = Dialect {
    name: "standard",
    numbered_params: true,
    row_list: "VALUES ",
    migrations: &[],
    counting_setup: &[],
    migration_lock: MigrationLock::Database,
    read_committed: None,

    upsert_view: "INSERT INTO hitcount_hit_count (kind, object_id, views, created_at, modified_at) \
                  VALUES ($1, $2, 1, $3, $3) \
                  ON CONFLICT (kind, object_id) DO UPDATE \
                  SET views = hitcount_hit_count.views + 1, modified_at = excluded.modified_at \
                  RETURNING id, hits",
    upsert_bot: "INSERT INTO hitcount_hit_count (kind, object_id, bot_hits, created_at, modified_at) \
                 VALUES ($1, $2, 1, $3, $3) \
                 ON CONFLICT (kind, object_id) DO UPDATE \
                 SET bot_hits = hitcount_hit_count.bot_hits + 1, modified_at = excluded.modified_at \
                 RETURNING id, hits",
    register: "INSERT INTO hitcount_hit_count (kind, object_id, created_at, modified_at) \
               VALUES ($1, $2, $3, $3) \
               ON CONFLICT (kind, object_id) DO UPDATE SET kind = excluded.kind \
               RETURNING id",
    add_views: "UPDATE hitcount_hit_count SET views = views + $1 WHERE id = $2",
    add_hits: "UPDATE hitcount_hit_count SET hits = hits + $1 WHERE id = $2",
    find_object: "SELECT id, hits, views, bot_hits FROM hitcount_hit_count WHERE kind = $1 AND object_id = $2",
    find_object_by_pk: "SELECT kind, object_id, hits, views, bot_hits FROM hitcount_hit_count WHERE id = $1",

    // Each key looked up on its own (a UNION, not an OR), latest first.
    batch_start: BatchStart::Read("BEGIN IMMEDIATE; \
                  SELECT CAST(j.key AS BIGINT), CASE WHEN json_extract(j.value, '$[3]') IS NULL \
                    THEN (SELECT MAX(t) FROM ( \
                            SELECT (SELECT MAX(h.created_at) FROM hitcount_hit h \
                                    WHERE h.hit_count_id = json_extract(j.value, '$[0]') \
                                      AND h.session_key = json_extract(j.value, '$[1]') AND h.created_at >= $2) AS t \
                            UNION ALL \
                            SELECT (SELECT MAX(h.created_at) FROM hitcount_hit h \
                                    WHERE h.hit_count_id = json_extract(j.value, '$[0]') \
                                      AND h.session_key = json_extract(j.value, '$[2]') AND h.created_at >= $2)) k) \
                    ELSE (SELECT MAX(h.created_at) FROM hitcount_hit h \
                          WHERE h.hit_count_id = json_extract(j.value, '$[0]') \
                            AND h.user_id = json_extract(j.value, '$[3]') AND h.created_at >= $2) \
                  END FROM json_each($1) j"),
    max_batch: 256,
    ip_hits_site: "SELECT COUNT(*) FROM hitcount_hit WHERE ip = $1 AND created_at >= $2",
    ip_hits_object: "SELECT COUNT(*) FROM hitcount_hit WHERE ip = $1 AND created_at >= $2 AND hit_count_id = $3",
    begin_counting: None,
    begin_counting_fast: None,
    write_batch: &WriteStep::all("INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) \
                  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
                         json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
                         json_extract(value, '$[4]'), json_extract(value, '$[5]') \
                  FROM json_each($1) ORDER BY key; \
                  UPDATE hitcount_hit_count \
                  SET hits = hits + json_extract(j.value, '$[1]'), views = views + json_extract(j.value, '$[2]'), \
                      modified_at = $5 \
                  FROM json_each($2) AS j WHERE hitcount_hit_count.id = json_extract(j.value, '$[0]') \
                  RETURNING hitcount_hit_count.id, hitcount_hit_count.hits; \
                  INSERT INTO hitcount_hourly (hit_count_id, start_at, hits) \
                  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') \
                  FROM json_each($3) WHERE true \
                  ON CONFLICT (hit_count_id, start_at) DO UPDATE SET hits = hitcount_hourly.hits + excluded.hits; \
                  INSERT INTO hitcount_daily (hit_count_id, start_at, hits, views) \
                  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
                         json_extract(value, '$[3]') \
                  FROM json_each($4) WHERE true \
                  ON CONFLICT (hit_count_id, start_at) \
                  DO UPDATE SET hits = hitcount_daily.hits + excluded.hits, views = hitcount_daily.views + excluded.views; \
                  COMMIT"),
    json_time: super::json_time,
    commit_counting: None,
    rollback: "ROLLBACK",
    add_hourly: "INSERT INTO hitcount_hourly (hit_count_id, start_at, hits) VALUES ($1, $2, $3) \
                 ON CONFLICT (hit_count_id, start_at) DO UPDATE SET hits = hitcount_hourly.hits + excluded.hits",
    add_daily: "INSERT INTO hitcount_daily (hit_count_id, start_at, hits) VALUES ($1, $2, $3) \
                ON CONFLICT (hit_count_id, start_at) DO UPDATE SET hits = hitcount_daily.hits + excluded.hits",
    add_daily_views: "INSERT INTO hitcount_daily (hit_count_id, start_at, hits, views) VALUES ($1, $2, 0, $3) \
                      ON CONFLICT (hit_count_id, start_at) DO UPDATE SET views = hitcount_daily.views + excluded.views",
    add_daily_bot_hits: "INSERT INTO hitcount_daily (hit_count_id, start_at, hits, bot_hits) VALUES ($1, $2, 0, $3) \
                         ON CONFLICT (hit_count_id, start_at) DO UPDATE SET bot_hits = hitcount_daily.bot_hits + excluded.bot_hits",

    window_hits: concat!(
        "SELECT ",
        window_hits_expr!("$1", "$2", "$3", "BIGINT"),
        " FROM hitcount_hit_count c WHERE c.kind = $4 AND c.object_id = $5"
    ),
    list_objects: concat!(
        "SELECT c.id, c.kind, c.object_id, c.hits, c.views, c.bot_hits, ",
        window_hits_expr!("$1", "$2", "$3", "BIGINT"),
        " FROM hitcount_hit_count c"
    ),
    list_totals: "SELECT c.id, c.kind, c.object_id, c.hits, c.views, c.bot_hits, CAST(0 AS BIGINT) \
                  FROM hitcount_hit_count c",
    most_viewed_within: "SELECT c.id, c.kind, c.object_id, CAST(SUM(w.n) AS BIGINT) AS n FROM ( \
                           SELECT hit_count_id, COUNT(*) AS n FROM hitcount_hit \
                            WHERE created_at >= $1 AND created_at < $2 GROUP BY hit_count_id \
                           UNION ALL \
                           SELECT hit_count_id, SUM(hits) AS n FROM hitcount_hourly \
                            WHERE start_at >= $2 AND start_at < $3 GROUP BY hit_count_id \
                           UNION ALL \
                           SELECT hit_count_id, SUM(hits) AS n FROM hitcount_daily \
                            WHERE start_at >= $3 GROUP BY hit_count_id \
                         ) w JOIN hitcount_hit_count c ON c.id = w.hit_count_id \
                         WHERE ($4 IS NULL OR c.kind = $4) \
                         GROUP BY c.id, c.kind, c.object_id \
                         HAVING SUM(w.n) > 0 \
                         ORDER BY n DESC, c.id LIMIT $5",
    most_viewed_total: "SELECT id, kind, object_id, hits FROM hitcount_hit_count \
                        WHERE ($1 IS NULL OR kind = $2) AND hits > 0 \
                        ORDER BY hits DESC, id LIMIT $3",

    period_days: "SELECT start_at, CAST(SUM(hits) AS BIGINT), CAST(SUM(views) AS BIGINT), \
                  CAST(SUM(bot_hits) AS BIGINT) FROM hitcount_daily \
                  WHERE start_at >= $1 AND ($2 IS NULL OR start_at < $2) GROUP BY start_at",
    period_days_of: "SELECT start_at, hits, views, bot_hits FROM hitcount_daily \
                     WHERE hit_count_id = $3 AND start_at >= $1 AND ($2 IS NULL OR start_at < $2)",
    period_rankings: "WITH sums AS ( \
                        SELECT hit_count_id, CAST(SUM(hits) AS BIGINT) AS h, CAST(SUM(views) AS BIGINT) AS v, \
                               CAST(SUM(bot_hits) AS BIGINT) AS b FROM hitcount_daily \
                        WHERE start_at >= $1 AND ($2 IS NULL OR start_at < $2) GROUP BY hit_count_id) \
                      SELECT CAST(0 AS BIGINT), hit_count_id, h, v, b FROM ( \
                        SELECT * FROM sums WHERE h > 0 ORDER BY h DESC, hit_count_id LIMIT $3) t0 \
                      UNION ALL SELECT CAST(1 AS BIGINT), hit_count_id, h, v, b FROM ( \
                        SELECT * FROM sums WHERE v > h \
                        ORDER BY CAST(v AS DOUBLE PRECISION) / CASE WHEN h > 0 THEN h ELSE 1 END DESC, hit_count_id \
                        LIMIT $3) t1 \
                      UNION ALL SELECT CAST(2 AS BIGINT), hit_count_id, h, v, b FROM ( \
                        SELECT * FROM sums WHERE b > 0 \
                        ORDER BY CAST(b AS DOUBLE PRECISION) / (h + b) DESC, hit_count_id LIMIT $3) t2 \
                      UNION ALL SELECT CAST(3 AS BIGINT), CAST(COUNT(*) AS BIGINT), CAST(0 AS BIGINT), \
                        CAST(0 AS BIGINT), CAST(0 AS BIGINT) FROM sums",
    newest_visitors: "SELECT ip, user_agent FROM hitcount_hit \
                      WHERE created_at >= $1 AND ($2 IS NULL OR created_at < $2) \
                      ORDER BY created_at DESC, id DESC LIMIT $3",
    newest_visitors_of: "SELECT ip, user_agent FROM hitcount_hit \
                         WHERE hit_count_id = $1 AND created_at >= $2 AND ($3 IS NULL OR created_at < $3) \
                         ORDER BY created_at DESC, id DESC LIMIT $4",
    daily_hits: "SELECT d.start_at, d.hits, d.views, d.bot_hits FROM hitcount_daily d \
                 JOIN hitcount_hit_count c ON c.id = d.hit_count_id \
                 WHERE c.kind = $1 AND c.object_id = $2 AND d.start_at >= $3 ORDER BY d.start_at",

    export_totals: "SELECT kind, object_id, id, hits, views, bot_hits FROM hitcount_hit_count \
                    WHERE ($1 IS NULL OR kind = $1) ORDER BY id",
    export_daily: "SELECT c.kind, c.object_id, d.start_at, d.hits, d.views, d.bot_hits FROM hitcount_daily d \
                   JOIN hitcount_hit_count c ON c.id = d.hit_count_id \
                   WHERE ($1 IS NULL OR c.kind = $2) AND ($3 IS NULL OR d.start_at >= $4) \
                   ORDER BY c.id, d.start_at",

    mark_imported_total: "INSERT INTO hitcount_imported_total (hit_count_id) VALUES ($1) \
                          ON CONFLICT (hit_count_id) DO NOTHING",
    import_hit: "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM hitcount_hit \
                   WHERE hit_count_id = $1 AND session_key = $4 AND created_at = $2)",

    delete_object: [
        "DELETE FROM hitcount_hit WHERE hit_count_id IN \
         (SELECT id FROM hitcount_hit_count WHERE kind = $1 AND object_id = $2)",
        "DELETE FROM hitcount_hourly WHERE hit_count_id IN \
         (SELECT id FROM hitcount_hit_count WHERE kind = $1 AND object_id = $2)",
        "DELETE FROM hitcount_daily WHERE hit_count_id IN \
         (SELECT id FROM hitcount_hit_count WHERE kind = $1 AND object_id = $2)",
        "DELETE FROM hitcount_imported_total WHERE hit_count_id IN \
         (SELECT id FROM hitcount_hit_count WHERE kind = $1 AND object_id = $2)",
        "DELETE FROM hitcount_hit_count WHERE kind = $1 AND object_id = $2",
    ],
    delete_hit: "DELETE FROM hitcount_hit WHERE id = $1 RETURNING hit_count_id, created_at",
    hit_visitor: "SELECT ip, user_agent FROM hitcount_hit WHERE id = $1",
    remove_hits: "UPDATE hitcount_hit_count SET hits = CASE WHEN hits > $2 THEN hits - $2 ELSE 0 END WHERE id = $1",
    remove_hourly: "UPDATE hitcount_hourly SET hits = CASE WHEN hits > $3 THEN hits - $3 ELSE 0 END \
                    WHERE hit_count_id = $1 AND start_at = $2",
    remove_daily: "UPDATE hitcount_daily SET hits = CASE WHEN hits > $3 THEN hits - $3 ELSE 0 END \
                   WHERE hit_count_id = $1 AND start_at = $2",

    add_blacklisted_ip: "INSERT INTO hitcount_blacklist_ip (ip, created_at) VALUES ($1, $2) \
                         ON CONFLICT (ip) DO NOTHING",
    add_blacklisted_user_agent: "INSERT INTO hitcount_blacklist_user_agent (user_agent, created_at) \
                                 VALUES ($1, $2) ON CONFLICT (user_agent) DO NOTHING",
    remove_blacklisted_ip: "DELETE FROM hitcount_blacklist_ip WHERE ip = $1",
    remove_blacklisted_user_agent: "DELETE FROM hitcount_blacklist_user_agent WHERE user_agent = $1",
    blacklisted_ips: "SELECT ip, created_at, refused FROM hitcount_blacklist_ip ORDER BY id",
    blacklisted_user_agents: "SELECT user_agent, created_at, refused FROM hitcount_blacklist_user_agent ORDER BY id",
    add_ip_refusals: "UPDATE hitcount_blacklist_ip SET refused = refused + $1 WHERE ip = $2",
    add_user_agent_refusals: "UPDATE hitcount_blacklist_user_agent SET refused = refused + $1 WHERE user_agent = $2",
    bump_blacklist_version: "UPDATE hitcount_state SET blacklist_version = blacklist_version + 1 WHERE id = 1",
    blacklist_version: "SELECT blacklist_version FROM hitcount_state WHERE id = 1",
    init_ip_hash_key: "UPDATE hitcount_state SET ip_hash_key = $1 WHERE id = 1 AND ip_hash_key IS NULL",
    ip_hash_key: "SELECT ip_hash_key FROM hitcount_state WHERE id = 1",
    take_cleanup_lease: "UPDATE hitcount_state SET cleanup_lease_until = $1 \
                         WHERE id = 1 AND (cleanup_lease_until IS NULL OR cleanup_lease_until < $2)",
    renew_cleanup_lease: "UPDATE hitcount_state SET cleanup_lease_until = $1 WHERE id = 1 AND cleanup_lease_until = $2",

    insert_salt: "INSERT INTO hitcount_daily_salt (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
    day_salt: "SELECT salt FROM hitcount_daily_salt WHERE day = $1",
    delete_old_salts: "DELETE FROM hitcount_daily_salt WHERE day < $1",

    cleanup_pacing: CleanupPacing {
        begin: None,
        commit: "COMMIT",
        batch_time: std::time::Duration::ZERO,
        pause: std::time::Duration::ZERO,
    },
    cleanup_batch: "DELETE FROM hitcount_hit WHERE id IN \
                    (SELECT id FROM hitcount_hit WHERE created_at >= $1 AND created_at < $2 \
                     ORDER BY created_at LIMIT $3) \
                    RETURNING created_at",
    count_expired: "SELECT COUNT(*) FROM hitcount_hit WHERE created_at < $1",
    oldest_hourly: "SELECT MIN(start_at) FROM hitcount_hourly",
    delete_hourly: "DELETE FROM hitcount_hourly WHERE start_at >= $1 AND start_at < $2",

    table_names: "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                  WHERE table_schema = CURRENT_SCHEMA ORDER BY 1",
};
