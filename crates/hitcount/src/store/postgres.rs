//! PostgreSQL: the standard SQL plus an advisory lock for the site-wide
//! per-IP limit. The counting transaction locks its objects' rows first
//! (`lock_objects`, in pk order), which serialises counting per object
//! across every app instance.

use super::dialect::{Dialect, STANDARD};

/// The counting transaction's start (see `Dialect::begin_counting`). A
/// batch takes milliseconds: one held up this long (a lock held by a
/// stalled client) is given up, as is a transaction left open by a
/// connection that went silent, so its row locks do not stall every
/// instance's counting.
macro_rules! begin_counting {
    () => {
        "BEGIN ISOLATION LEVEL READ COMMITTED; \
         SET LOCAL plan_cache_mode = force_custom_plan; \
         SET LOCAL statement_timeout = '5s'; \
         SET LOCAL idle_in_transaction_session_timeout = '10s'"
    };
}

pub(crate) const SQL: Dialect = Dialect {
    name: "PostgreSQL",
    migrations: migrations!("postgres"),
    counting_setup: &[],
    ip_lock: Some("SELECT pg_advisory_xact_lock($1, $2)"),
    migration_lock: Some("SELECT pg_advisory_xact_lock($1)"),
    read_committed: Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
    active_hits: "SELECT j.i - 1, CASE WHEN j.e->>3 IS NULL \
                    THEN (SELECT MAX(t) FROM ( \
                            SELECT (SELECT MAX(h.created_at) FROM hitcount_hit h \
                                    WHERE h.hit_count_id = (j.e->>0)::BIGINT \
                                      AND h.session_key = j.e->>1 AND h.created_at >= $2) AS t \
                            UNION ALL \
                            SELECT (SELECT MAX(h.created_at) FROM hitcount_hit h \
                                    WHERE h.hit_count_id = (j.e->>0)::BIGINT \
                                      AND h.session_key = j.e->>2 AND h.created_at >= $2)) k) \
                    ELSE (SELECT MAX(h.created_at) FROM hitcount_hit h \
                          WHERE h.hit_count_id = (j.e->>0)::BIGINT \
                            AND h.user_id = j.e->>3 AND h.created_at >= $2) \
                  END FROM jsonb_array_elements($1::JSONB) WITH ORDINALITY AS j(e, i)",
    begin_counting: Some(begin_counting!()),
    begin_counting_fast: Some(concat!(begin_counting!(), "; SET LOCAL synchronous_commit = off")),
    lock_objects: Some("SELECT id FROM hitcount_hit_count \
                   WHERE id IN (SELECT value::BIGINT FROM jsonb_array_elements_text($1::JSONB)) \
                   ORDER BY id FOR UPDATE"),
    // One statement: the CTEs and the UPDATE all run, each key of a CTE
    // once (the buckets come summed).
    write_batch: "WITH hits AS ( \
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
                  FROM jsonb_array_elements($2::JSONB) AS j(e) WHERE c.id = (j.e->>0)::BIGINT \
                  RETURNING c.id, c.hits",
    commit_counting: Some("COMMIT"),
    ..STANDARD
};
