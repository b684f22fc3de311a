-- rocket-hitcount's schema on MariaDB. Times are DATETIME(6) in UTC;
-- text compares byte for byte, with trailing spaces (utf8mb4_nopad_bin),
-- as on the other backends. Each statement may run again after a failure
-- halfway (MariaDB commits each DDL statement on its own).
CREATE TABLE IF NOT EXISTS hitcount_hit_count (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(100) NOT NULL,
    object_id VARCHAR(255) NOT NULL,
    hits BIGINT NOT NULL DEFAULT 0 CHECK (hits >= 0),
    views BIGINT NOT NULL DEFAULT 0 CHECK (views >= 0),
    bot_hits BIGINT NOT NULL DEFAULT 0 CHECK (bot_hits >= 0),
    created_at DATETIME(6) NOT NULL,
    modified_at DATETIME(6) NOT NULL,
    UNIQUE KEY hitcount_hit_count_object (kind, object_id),
    KEY hitcount_hit_count_kind_hits (kind, hits DESC)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin ROW_FORMAT=DYNAMIC;

CREATE TABLE IF NOT EXISTS hitcount_hit (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    hit_count_id BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    ip VARCHAR(64) NULL,
    session_key VARCHAR(64) NOT NULL,
    user_agent VARCHAR(255) NOT NULL,
    user_id VARCHAR(255) NULL,
    KEY hitcount_hit_object_created (hit_count_id, created_at),
    KEY hitcount_hit_session (hit_count_id, session_key, created_at),
    KEY hitcount_hit_user (hit_count_id, user_id, created_at),
    KEY hitcount_hit_ip (ip, created_at),
    KEY hitcount_hit_created (created_at),
    CONSTRAINT hitcount_hit_fk FOREIGN KEY (hit_count_id) REFERENCES hitcount_hit_count (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin ROW_FORMAT=DYNAMIC;

CREATE TABLE IF NOT EXISTS hitcount_hourly (
    hit_count_id BIGINT NOT NULL,
    start_at DATETIME(6) NOT NULL,
    hits BIGINT NOT NULL CHECK (hits >= 0),
    PRIMARY KEY (hit_count_id, start_at),
    KEY hitcount_hourly_start (start_at),
    CONSTRAINT hitcount_hourly_fk FOREIGN KEY (hit_count_id) REFERENCES hitcount_hit_count (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS hitcount_daily (
    hit_count_id BIGINT NOT NULL,
    start_at DATETIME(6) NOT NULL,
    hits BIGINT NOT NULL CHECK (hits >= 0),
    views BIGINT NOT NULL DEFAULT 0 CHECK (views >= 0),
    bot_hits BIGINT NOT NULL DEFAULT 0 CHECK (bot_hits >= 0),
    PRIMARY KEY (hit_count_id, start_at),
    KEY hitcount_daily_start (start_at),
    CONSTRAINT hitcount_daily_fk FOREIGN KEY (hit_count_id) REFERENCES hitcount_hit_count (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS hitcount_blacklist_ip (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ip VARCHAR(64) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY hitcount_blacklist_ip_ip (ip)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE IF NOT EXISTS hitcount_blacklist_user_agent (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_agent VARCHAR(255) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY hitcount_blacklist_user_agent_ua (user_agent)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin ROW_FORMAT=DYNAMIC;

CREATE TABLE IF NOT EXISTS hitcount_state (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    blacklist_version BIGINT NOT NULL DEFAULT 0,
    ip_hash_key VARCHAR(64) NULL,
    cleanup_lease_until DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
INSERT IGNORE INTO hitcount_state (id) VALUES (1);

CREATE TABLE IF NOT EXISTS hitcount_daily_salt (
    day VARCHAR(10) NOT NULL PRIMARY KEY,
    salt VARCHAR(64) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS hitcount_imported_total (
    hit_count_id BIGINT NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
