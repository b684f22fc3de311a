//! PostgreSQL: the standard SQL, with a counting transaction that locks
//! its visitors rather than its objects. A batch decides under
//! transaction-scoped advisory locks, one per visitor (and per IP under
//! the per-IP limit), and only its write locks the object rows, for its
//! last statement: the batches of several app instances on one object
//! run side by side up to that point.

use super::dialect::{BatchStart, Dialect, LockedBatch, MigrationLock, WriteStep, STANDARD};
use super::json_time;

/// The counting transaction's start (see `Dialect::begin_counting`). A
/// batch takes milliseconds: one held up this long (a lock held by a
/// stalled client) is given up, as is a transaction left open by a
/// connection that went silent, so its locks do not stall every
/// instance's counting.
macro_rules! begin_counting {
    () => {
        "BEGIN ISOLATION LEVEL READ COMMITTED; \
         SET LOCAL statement_timeout = '5s'; \
         SET LOCAL idle_in_transaction_session_timeout = '10s'"
    };
}

pub(crate) const SQL: Dialect = Dialect {
    name: "PostgreSQL",
    migrations: migrations!("postgres"),
    counting_setup: &[],
    migration_lock: MigrationLock::Transaction("SELECT pg_advisory_xact_lock($1)"),
    read_committed: Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
    batch_start: BatchStart::Locked(start_batch),
    // Each request takes one to three advisory locks (its session key,
    // its user or previous session key, its IP under the limit), which
    // live in PostgreSQL's shared lock table (64 × max_connections slots
    // by default, shared by every session): batches of 64 keep one
    // transaction's share of it small.
    max_batch: 64,
    begin_counting: Some(begin_counting!()),
    begin_counting_fast: Some(concat!(begin_counting!(), "; SET LOCAL synchronous_commit = off")),
    // One statement: the CTEs and the UPDATE all run, each key of a CTE
    // once (the buckets come summed). The object rows are locked first,
    // in pk order, so that two batches never deadlock; the buckets,
    // whose rows belong to them, after. A plain prepared statement: nothing in it depends on
    // the data's shape, so one plan serves every batch.
    write_batch: &WriteStep::all("WITH locked AS ( \
                    SELECT id FROM hitcount_hit_count \
                    WHERE id IN (SELECT (e->>0)::BIGINT FROM jsonb_array_elements($2::JSONB) e) \
                    ORDER BY id FOR UPDATE), \
                  hits AS ( \
                    INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) \
                    SELECT (j.e->>0)::BIGINT, (j.e->>1)::TIMESTAMPTZ, j.e->>2, j.e->>3, j.e->>4, j.e->>5 \
                    FROM jsonb_array_elements($1::JSONB) WITH ORDINALITY AS j(e, i) ORDER BY j.i), \
                  hourly AS ( \
                    INSERT INTO hitcount_hourly (hit_count_id, start_at, hits) \
                    SELECT (e->>0)::BIGINT, (e->>1)::TIMESTAMPTZ, (e->>2)::BIGINT FROM jsonb_array_elements($3::JSONB) e \
                    ON CONFLICT (hit_count_id, start_at) DO UPDATE SET hits = hitcount_hourly.hits + excluded.hits), \
                  daily AS ( \
                    INSERT INTO hitcount_daily (hit_count_id, start_at, hits, views) \
                    SELECT (e->>0)::BIGINT, (e->>1)::TIMESTAMPTZ, (e->>2)::BIGINT, (e->>3)::BIGINT \
                    FROM jsonb_array_elements($4::JSONB) e \
                    ON CONFLICT (hit_count_id, start_at) \
                    DO UPDATE SET hits = hitcount_daily.hits + excluded.hits, views = hitcount_daily.views + excluded.views) \
                  UPDATE hitcount_hit_count c \
                  SET hits = c.hits + (j.e->>1)::BIGINT, views = c.views + (j.e->>2)::BIGINT, modified_at = $5 \
                  FROM jsonb_array_elements($2::JSONB) AS j(e) \
                  WHERE c.id = (j.e->>0)::BIGINT AND c.id IN (SELECT id FROM locked) \
                  RETURNING c.id, c.hits"),
    commit_counting: Some("COMMIT"),
    ..STANDARD
};

/// The namespace of the counting transaction's advisory locks ("hitc"),
/// so that they never meet the application's own (its one-key locks live
/// apart from two-key ones anyway).
const LOCK_NAMESPACE: i32 = 0x6869_7463;

/// The statements of `BatchStart::Locked`: the locks, then the read.
///
/// Built as text because it runs in the transaction's first round trip,
/// with `BEGIN` and its settings (the simple query protocol, which takes
/// no parameters), and because a read planned for its batch picks the
/// session index whatever the table's size, where a prepared plan made
/// while the table was small walks every hit of the object. Only the
/// lookups the batch needs are in it (a user's, a previous session key's,
/// an IP's), since planning is most of its cost. What is written into it:
/// integers, a time formatted here, and the JSON array as a dollar-quoted
/// literal with every `$` in it written `\u0024`, the same string to the
/// JSON parser, so no text of a visitor can end the literal.
fn start_batch(batch: &LockedBatch<'_>) -> String {
    let keys: Vec<String> = batch.locks.iter().map(i32::to_string).collect();
    let since = json_time(batch.since);
    // The latest hit of the element's object found by `column = value`.
    let latest = |column: &str, value: &str| {
        format!(
            "(SELECT h.created_at FROM hitcount_hit h WHERE h.hit_count_id = (j.e->>0)::BIGINT \
             AND h.{column} = {value} AND h.created_at >= '{since}' ORDER BY h.created_at DESC LIMIT 1)"
        )
    };
    let mut session = latest("session_key", "j.e->>1");
    if batch.previous_keys {
        session = format!("GREATEST({session}, {})", latest("session_key", "j.e->>2"));
    }
    let latest_hit = if batch.users {
        format!(
            "CASE WHEN j.e->>3 IS NULL THEN {session} ELSE {} END",
            latest("user_id", "j.e->>3")
        )
    } else {
        session
    };
    let ip_hits = if batch.ips {
        "CASE WHEN j.e->>4 IS NULL THEN 0 \
           ELSE (SELECT COUNT(*) FROM hitcount_hit h WHERE h.ip = j.e->>4 \
                 AND h.created_at >= (j.e->>5)::TIMESTAMPTZ \
                 AND (j.e->>6 IS NULL OR h.hit_count_id = (j.e->>6)::BIGINT)) END"
    } else {
        "0::BIGINT"
    };
    format!(
        "SELECT pg_advisory_xact_lock({LOCK_NAMESPACE}, k) FROM unnest('{{{keys}}}'::INT4[]) AS k; \
         SELECT j.i - 1, (EXTRACT(EPOCH FROM {latest_hit}) * 1000000)::BIGINT, {ip_hits} \
         FROM jsonb_array_elements($lookups${lookups}$lookups$::JSONB) WITH ORDINALITY AS j(e, i)",
        keys = keys.join(","),
        lookups = batch.lookups.replace('$', "\\u0024"),
    )
}
