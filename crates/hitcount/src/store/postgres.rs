//! PostgreSQL: the standard SQL plus an advisory lock for the site-wide
//! per-IP limit. The counting transaction's first write locks the object's
//! row, which serialises counting per object across every app instance.

use super::dialect::{Dialect, STANDARD};

pub(crate) const SQL: Dialect = Dialect {
    name: "PostgreSQL",
    migrations: migrations!("postgres"),
    counting_setup: &[
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET plan_cache_mode = force_custom_plan",
    ],
    counting_fast_commit: Some("SET synchronous_commit = off"),
    ip_lock: Some("SELECT pg_advisory_xact_lock($1, $2)"),
    migration_lock: Some(("SELECT pg_advisory_lock($1)", "SELECT pg_advisory_unlock($1)")),
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
    insert_hits: "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) \
                  SELECT (j.e->>0)::BIGINT, (j.e->>1)::TIMESTAMPTZ, j.e->>2, j.e->>3, j.e->>4, j.e->>5 \
                  FROM jsonb_array_elements($1::JSONB) WITH ORDINALITY AS j(e, i) ORDER BY j.i",
    ..STANDARD
};
