//! MariaDB: its own SQL for what differs from the standard (`?`
//! placeholders, each bound once and in order; `ON DUPLICATE KEY UPDATE`
//! and `INSERT IGNORE` for upserts; no `UPDATE ... RETURNING`; `JSON_TABLE`
//! for the batches' arrays), and the standard statements whose `$n`
//! placeholders are already bound once each, in order, with `$n` written
//! `?`. A counting batch locks its objects' rows (`SELECT ... FOR UPDATE`,
//! in id order) under READ COMMITTED, then reads, then writes.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::dialect::{BatchStart, Bind, Dialect, MigrationLock, WriteStep, STANDARD};

/// `sql` with `$1`, `$2`... written `?`: the standard statements whose
/// parameters are bound once each, in order. Panics on one that reuses a
/// parameter or binds them out of order: it needs its own MariaDB text.
fn q(sql: &'static str) -> &'static str {
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' || !chars.peek().is_some_and(char::is_ascii_digit) {
            out.push(c);
            continue;
        }
        let mut n = 0;
        while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
            n = n * 10 + digit;
            chars.next();
        }
        assert_eq!(n, expected, "parameters out of order or reused in {sql}");
        expected += 1;
        out.push('?');
    }
    Box::leak(out.into_boxed_str())
}

/// The end of a period without one (a NULL bound): later than any time
/// stored.
macro_rules! no_end {
    () => {
        "TIMESTAMP'9999-12-31 00:00:00'"
    };
}

/// A JSON array's elements as rows: `JSON_TABLE` with `columns`.
macro_rules! json_rows {
    ($columns:literal) => {
        concat!("JSON_TABLE(?, '$[*]' COLUMNS (", $columns, "))")
    };
}

pub(crate) static SQL: LazyLock<Dialect> = LazyLock::new(|| {
    Dialect {
    name: "MariaDB",
    numbered_params: false,
    // A table of `?` rows would name two columns `?`.
    row_list: "",
    migrations: migrations!("mysql"),
    // The writer's own connection: a batch held up by a lock, or left
    // open by a client gone silent, gives up.
    counting_setup: &["SET SESSION innodb_lock_wait_timeout = 5, max_statement_time = 5, \
                       idle_transaction_timeout = 10"],
    migration_lock: MigrationLock::Session {
        // Named for the database: a server's locks are shared by all of
        // its databases.
        lock: "SELECT GET_LOCK(CONCAT('hitcount_migrate_', LEFT(SHA1(DATABASE()), 16)), 30)",
        unlock: "SELECT RELEASE_LOCK(CONCAT('hitcount_migrate_', LEFT(SHA1(DATABASE()), 16)))",
        create_table: "CREATE TABLE IF NOT EXISTS hitcount_migrations (version BIGINT PRIMARY KEY, \
                       description VARCHAR(255) NOT NULL, applied_at VARCHAR(64) NOT NULL)",
        record: "INSERT IGNORE INTO hitcount_migrations (version, description, applied_at) VALUES (?, ?, ?)",
    },
    // MariaDB takes a transaction's isolation only before it starts; the
    // writes that race another instance's (the IP hash key's first store)
    // are locking reads there, which see the latest commit.
    read_committed: None,

    upsert_view: "INSERT INTO hitcount_hit_count (kind, object_id, views, created_at, modified_at) \
                  SELECT p.k, p.o, 1, p.t, p.t FROM (SELECT ? AS k, ? AS o, ? AS t) p \
                  ON DUPLICATE KEY UPDATE views = views + 1, modified_at = VALUES(modified_at) \
                  RETURNING id, hits",
    upsert_bot: "INSERT INTO hitcount_hit_count (kind, object_id, bot_hits, created_at, modified_at) \
                 SELECT p.k, p.o, 1, p.t, p.t FROM (SELECT ? AS k, ? AS o, ? AS t) p \
                 ON DUPLICATE KEY UPDATE bot_hits = bot_hits + 1, modified_at = VALUES(modified_at) \
                 RETURNING id, hits",
    register: "INSERT INTO hitcount_hit_count (kind, object_id, created_at, modified_at) \
               SELECT p.k, p.o, p.t, p.t FROM (SELECT ? AS k, ? AS o, ? AS t) p \
               ON DUPLICATE KEY UPDATE kind = VALUES(kind) \
               RETURNING id",
    add_views: q(STANDARD.add_views),
    add_hits: q(STANDARD.add_hits),
    find_object: q(STANDARD.find_object),
    find_object_by_pk: q(STANDARD.find_object_by_pk),

    batch_start: BatchStart::RowsLocked {
        ip_lock: "SELECT GET_LOCK(CONCAT('hitcount_ip_', LEFT(SHA1(DATABASE()), 16), '_', ?), 5)",
        lock: concat!(
            "SELECT c.id FROM hitcount_hit_count c WHERE c.id IN (SELECT j.pk FROM ",
            json_rows!("pk BIGINT PATH '$[0]'"),
            " j) ORDER BY c.id FOR UPDATE"
        ),
        // Each key looked up on its own: `session_key IN (a, b)` would
        // walk the object's hits.
        read: concat!(
            "SELECT CAST(j.i - 1 AS SIGNED), CASE WHEN j.uid IS NULL THEN \
               (SELECT MAX(h.created_at) AS t FROM hitcount_hit h \
                 WHERE h.hit_count_id = j.pk AND h.session_key = j.sk AND h.created_at >= p.since \
                UNION ALL \
                SELECT MAX(h.created_at) FROM hitcount_hit h \
                 WHERE h.hit_count_id = j.pk AND h.session_key = j.prev AND h.created_at >= p.since \
                ORDER BY 1 DESC LIMIT 1) \
             ELSE (SELECT MAX(h.created_at) FROM hitcount_hit h \
                   WHERE h.hit_count_id = j.pk AND h.user_id = j.uid AND h.created_at >= p.since) END \
             FROM ",
            json_rows!(
                "i FOR ORDINALITY, pk BIGINT PATH '$[0]', \
                 sk VARCHAR(64) COLLATE utf8mb4_nopad_bin PATH '$[1]', \
                 prev VARCHAR(64) COLLATE utf8mb4_nopad_bin PATH '$[2]', \
                 uid VARCHAR(255) COLLATE utf8mb4_nopad_bin PATH '$[3]'"
            ),
            " j CROSS JOIN (SELECT ? AS since) p ORDER BY j.i"
        ),
    },
    max_batch: 256,
    ip_hits_site: q(STANDARD.ip_hits_site),
    ip_hits_object: q(STANDARD.ip_hits_object),
    begin_counting: Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION"),
    begin_counting_fast: Some("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION"),
    write_batch: &[
        WriteStep {
            sql: concat!(
                "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) \
                 SELECT j.pk, j.at, j.ip, j.sk, j.ua, j.uid FROM ",
                json_rows!(
                    "i FOR ORDINALITY, pk BIGINT PATH '$[0]', at DATETIME(6) PATH '$[1]', \
                     ip VARCHAR(64) PATH '$[2]', sk VARCHAR(64) PATH '$[3]', \
                     ua VARCHAR(255) PATH '$[4]', uid VARCHAR(255) PATH '$[5]'"
                ),
                " j ORDER BY j.i"
            ),
            binds: &[Bind::Hits],
            totals: false,
        },
        WriteStep {
            sql: concat!(
                "UPDATE hitcount_hit_count c JOIN ",
                json_rows!("pk BIGINT PATH '$[0]', hits BIGINT PATH '$[1]', views BIGINT PATH '$[2]'"),
                " j ON c.id = j.pk SET c.hits = c.hits + j.hits, c.views = c.views + j.views, c.modified_at = ?"
            ),
            binds: &[Bind::Objects, Bind::Now],
            totals: false,
        },
        WriteStep {
            sql: concat!(
                "INSERT INTO hitcount_hourly (hit_count_id, start_at, hits) SELECT j.pk, j.s, j.n FROM ",
                json_rows!("pk BIGINT PATH '$[0]', s DATETIME(6) PATH '$[1]', n BIGINT PATH '$[2]'"),
                " j ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits)"
            ),
            binds: &[Bind::Hourly],
            totals: false,
        },
        WriteStep {
            sql: concat!(
                "INSERT INTO hitcount_daily (hit_count_id, start_at, hits, views) SELECT j.pk, j.s, j.h, j.v FROM ",
                json_rows!(
                    "pk BIGINT PATH '$[0]', s DATETIME(6) PATH '$[1]', h BIGINT PATH '$[2]', v BIGINT PATH '$[3]'"
                ),
                " j ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits), views = views + VALUES(views)"
            ),
            binds: &[Bind::Daily],
            totals: false,
        },
        // The new totals, read under the rows' locks: this batch's own.
        WriteStep {
            sql: concat!(
                "SELECT c.id, c.hits FROM hitcount_hit_count c JOIN ",
                json_rows!("pk BIGINT PATH '$[0]'"),
                " j ON c.id = j.pk"
            ),
            binds: &[Bind::Objects],
            totals: true,
        },
    ],
    json_time,

    // Parameters used more than once come from a one-row derived table.
    window_hits: concat!(
        "SELECT ",
        window_hits_expr!("p.f", "p.h", "p.d", "SIGNED"),
        " FROM hitcount_hit_count c CROSS JOIN (SELECT ? AS f, ? AS h, ? AS d) p \
         WHERE c.kind = ? AND c.object_id = ?"
    ),
    list_objects: concat!(
        "SELECT c.id, c.kind, c.object_id, c.hits, c.views, c.bot_hits, ",
        window_hits_expr!("p.f", "p.h", "p.d", "SIGNED"),
        " FROM hitcount_hit_count c CROSS JOIN (SELECT ? AS f, ? AS h, ? AS d) p"
    ),
    list_totals: "SELECT c.id, c.kind, c.object_id, c.hits, c.views, c.bot_hits, CAST(0 AS SIGNED) \
                  FROM hitcount_hit_count c",
    // A NULL kind is every kind: `kind = COALESCE(?, kind)`.
    most_viewed_within: "WITH p AS (SELECT ? AS f, ? AS h, ? AS d) \
                         SELECT c.id, c.kind, c.object_id, CAST(SUM(w.n) AS SIGNED) AS n FROM ( \
                           SELECT hit_count_id, COUNT(*) AS n FROM hitcount_hit, p \
                            WHERE created_at >= p.f AND created_at < p.h GROUP BY hit_count_id \
                           UNION ALL \
                           SELECT hit_count_id, SUM(hits) AS n FROM hitcount_hourly, p \
                            WHERE start_at >= p.h AND start_at < p.d GROUP BY hit_count_id \
                           UNION ALL \
                           SELECT hit_count_id, SUM(hits) AS n FROM hitcount_daily, p \
                            WHERE start_at >= p.d GROUP BY hit_count_id \
                         ) w JOIN hitcount_hit_count c ON c.id = w.hit_count_id \
                         WHERE c.kind = COALESCE(?, c.kind) \
                         GROUP BY c.id, c.kind, c.object_id \
                         HAVING SUM(w.n) > 0 \
                         ORDER BY n DESC, c.id LIMIT ?",
    most_viewed_total: q(STANDARD.most_viewed_total),
    daily_hits: q(STANDARD.daily_hits),

    // A NULL end is no end.
    period_days: concat!(
        "SELECT start_at, CAST(SUM(hits) AS SIGNED), CAST(SUM(views) AS SIGNED), \
         CAST(SUM(bot_hits) AS SIGNED) FROM hitcount_daily \
         WHERE start_at >= ? AND start_at < COALESCE(?, ",
        no_end!(),
        ") GROUP BY start_at"
    ),
    period_days_of: concat!(
        "SELECT start_at, hits, views, bot_hits FROM hitcount_daily \
         WHERE start_at >= ? AND start_at < COALESCE(?, ",
        no_end!(),
        ") AND hit_count_id = ?"
    ),
    // Each ranking's first `limit` by ROW_NUMBER: LIMIT takes no column.
    period_rankings: concat!(
        "WITH p AS (SELECT ? AS f, ? AS u, ? AS l), \
         sums AS ( \
           SELECT hit_count_id, CAST(SUM(hits) AS SIGNED) AS h, CAST(SUM(views) AS SIGNED) AS v, \
                  CAST(SUM(bot_hits) AS SIGNED) AS b FROM hitcount_daily, p \
           WHERE start_at >= p.f AND start_at < COALESCE(p.u, ",
        no_end!(),
        ") GROUP BY hit_count_id) \
         SELECT 0, hit_count_id, h, v, b FROM ( \
           SELECT s.*, ROW_NUMBER() OVER (ORDER BY h DESC, hit_count_id) AS r FROM sums s WHERE h > 0) t0, p \
           WHERE t0.r <= p.l \
         UNION ALL SELECT 1, hit_count_id, h, v, b FROM ( \
           SELECT s.*, ROW_NUMBER() OVER ( \
             ORDER BY CAST(v AS DOUBLE) / CASE WHEN h > 0 THEN h ELSE 1 END DESC, hit_count_id) AS r \
           FROM sums s WHERE v > h) t1, p WHERE t1.r <= p.l \
         UNION ALL SELECT 2, hit_count_id, h, v, b FROM ( \
           SELECT s.*, ROW_NUMBER() OVER (ORDER BY CAST(b AS DOUBLE) / (h + b) DESC, hit_count_id) AS r \
           FROM sums s WHERE b > 0) t2, p WHERE t2.r <= p.l \
         UNION ALL SELECT 3, COUNT(*), 0, 0, 0 FROM sums"
    ),
    newest_visitors: concat!(
        "SELECT ip, user_agent FROM hitcount_hit WHERE created_at >= ? AND created_at < COALESCE(?, ",
        no_end!(),
        ") ORDER BY created_at DESC, id DESC LIMIT ?"
    ),
    newest_visitors_of: concat!(
        "SELECT ip, user_agent FROM hitcount_hit \
         WHERE hit_count_id = ? AND created_at >= ? AND created_at < COALESCE(?, ",
        no_end!(),
        ") ORDER BY created_at DESC, id DESC LIMIT ?"
    ),

    export_totals: "SELECT kind, object_id, id, hits, views, bot_hits FROM hitcount_hit_count \
                    WHERE kind = COALESCE(?, kind) ORDER BY id",
    export_daily: q(STANDARD.export_daily),

    mark_imported_total: "INSERT IGNORE INTO hitcount_imported_total (hit_count_id) VALUES (?)",
    import_hit: "INSERT INTO hitcount_hit (hit_count_id, created_at, ip, session_key, user_agent, user_id) \
                 SELECT p.pk, p.t, p.ip, p.sk, p.ua, p.uid FROM (SELECT ? AS pk, ? AS t, ? AS ip, \
                   CAST(? AS CHAR) COLLATE utf8mb4_nopad_bin AS sk, ? AS ua, ? AS uid) p \
                 WHERE NOT EXISTS (SELECT 1 FROM hitcount_hit h \
                   WHERE h.hit_count_id = p.pk AND h.session_key = p.sk AND h.created_at = p.t)",

    delete_object: STANDARD.delete_object.map(q),
    delete_hit: q(STANDARD.delete_hit),
    hit_visitor: q(STANDARD.hit_visitor),
    remove_hits: "UPDATE hitcount_hit_count c JOIN (SELECT ? AS id, ? AS n) p ON c.id = p.id \
                  SET c.hits = c.hits - LEAST(c.hits, p.n)",
    remove_hourly: "UPDATE hitcount_hourly b JOIN (SELECT ? AS id, ? AS s, ? AS n) p \
                    ON b.hit_count_id = p.id AND b.start_at = p.s SET b.hits = b.hits - LEAST(b.hits, p.n)",
    remove_daily: "UPDATE hitcount_daily b JOIN (SELECT ? AS id, ? AS s, ? AS n) p \
                   ON b.hit_count_id = p.id AND b.start_at = p.s SET b.hits = b.hits - LEAST(b.hits, p.n)",

    cleanup_batch: "DELETE FROM hitcount_hit WHERE created_at >= ? AND created_at < ? \
                    ORDER BY created_at LIMIT ? RETURNING created_at",
    // The IP locks are the connection's: released with the transaction.
    commit_counting: Some("COMMIT; DO RELEASE_ALL_LOCKS()"),
    rollback: "ROLLBACK; DO RELEASE_ALL_LOCKS()",
    add_hourly: "INSERT INTO hitcount_hourly (hit_count_id, start_at, hits) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits)",
    add_daily: "INSERT INTO hitcount_daily (hit_count_id, start_at, hits) VALUES (?, ?, ?) \
                ON DUPLICATE KEY UPDATE hits = hits + VALUES(hits)",
    add_daily_views: "INSERT INTO hitcount_daily (hit_count_id, start_at, hits, views) VALUES (?, ?, 0, ?) \
                      ON DUPLICATE KEY UPDATE views = views + VALUES(views)",
    add_daily_bot_hits: "INSERT INTO hitcount_daily (hit_count_id, start_at, hits, bot_hits) VALUES (?, ?, 0, ?) \
                         ON DUPLICATE KEY UPDATE bot_hits = bot_hits + VALUES(bot_hits)",

    add_blacklisted_ip: "INSERT IGNORE INTO hitcount_blacklist_ip (ip, created_at) VALUES (?, ?)",
    add_blacklisted_user_agent: "INSERT IGNORE INTO hitcount_blacklist_user_agent (user_agent, created_at) \
                                 VALUES (?, ?)",
    remove_blacklisted_ip: q(STANDARD.remove_blacklisted_ip),
    remove_blacklisted_user_agent: q(STANDARD.remove_blacklisted_user_agent),
    add_ip_refusals: q(STANDARD.add_ip_refusals),
    add_user_agent_refusals: q(STANDARD.add_user_agent_refusals),
    init_ip_hash_key: q(STANDARD.init_ip_hash_key),
    take_cleanup_lease: q(STANDARD.take_cleanup_lease),
    renew_cleanup_lease: q(STANDARD.renew_cleanup_lease),
    insert_salt: "INSERT IGNORE INTO hitcount_daily_salt (day, salt) VALUES (?, ?)",
    day_salt: q(STANDARD.day_salt),
    delete_old_salts: q(STANDARD.delete_old_salts),
    count_expired: q(STANDARD.count_expired),
    delete_hourly: q(STANDARD.delete_hourly),
    table_names: "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1",
    ..STANDARD
}
});

/// A time in the batches' JSON arrays, as `JSON_TABLE` reads a DATETIME(6).
fn json_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}
