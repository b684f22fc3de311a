-- rocket-hitcount schema 1 (SQLite). Times are RFC 3339 text in UTC, which sorts in time order.

-- One row per counted object: its totals. `id` is the pk pages hand to the
-- AJAX endpoint.
CREATE TABLE hitcount_hit_count (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    hits BIGINT NOT NULL DEFAULT 0 CHECK (hits >= 0),
    views BIGINT NOT NULL DEFAULT 0 CHECK (views >= 0),
    bot_hits BIGINT NOT NULL DEFAULT 0 CHECK (bot_hits >= 0),
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    UNIQUE (kind, object_id)
);
CREATE INDEX hitcount_hit_count_kind_hits ON hitcount_hit_count (kind, hits DESC);

-- The hit log: one row per counted hit, pruned by cleanup.
CREATE TABLE hitcount_hit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hit_count_id BIGINT NOT NULL REFERENCES hitcount_hit_count (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    ip TEXT,
    session_key TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    user_id TEXT
);
CREATE INDEX hitcount_hit_object_created ON hitcount_hit (hit_count_id, created_at);
CREATE INDEX hitcount_hit_session ON hitcount_hit (hit_count_id, session_key, created_at);
CREATE INDEX hitcount_hit_user ON hitcount_hit (hit_count_id, user_id, created_at) WHERE user_id IS NOT NULL;
CREATE INDEX hitcount_hit_ip ON hitcount_hit (ip, created_at) WHERE ip IS NOT NULL;
CREATE INDEX hitcount_hit_created ON hitcount_hit (created_at);

-- Counted hits per object per hour and per day (UTC), kept by cleanup so
-- that windows reaching past the hit log stay exact; the days also keep
-- their views and bot hits.
CREATE TABLE hitcount_hourly (
    hit_count_id BIGINT NOT NULL REFERENCES hitcount_hit_count (id) ON DELETE CASCADE,
    start_at TEXT NOT NULL,
    hits BIGINT NOT NULL CHECK (hits >= 0),
    PRIMARY KEY (hit_count_id, start_at)
);
CREATE INDEX hitcount_hourly_start ON hitcount_hourly (start_at);
CREATE TABLE hitcount_daily (
    hit_count_id BIGINT NOT NULL REFERENCES hitcount_hit_count (id) ON DELETE CASCADE,
    start_at TEXT NOT NULL,
    hits BIGINT NOT NULL CHECK (hits >= 0),
    -- A day's views and bot hits, as the totals have them.
    views BIGINT NOT NULL DEFAULT 0 CHECK (views >= 0),
    bot_hits BIGINT NOT NULL DEFAULT 0 CHECK (bot_hits >= 0),
    PRIMARY KEY (hit_count_id, start_at)
);
CREATE INDEX hitcount_daily_start ON hitcount_daily (start_at);

-- Blacklists: an IP entry is an address, a CIDR network or a hashed IP.
CREATE TABLE hitcount_blacklist_ip (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ip TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE hitcount_blacklist_user_agent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_agent TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- One row of shared state: the blacklist version that tells other app
-- instances to reload, the generated IP hash key, and the cleanup lease.
CREATE TABLE hitcount_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    blacklist_version BIGINT NOT NULL DEFAULT 0,
    ip_hash_key TEXT,
    -- Until when one app instance runs the background cleanup
    -- (`cleanup_interval`): the others skip their turn meanwhile.
    cleanup_lease_until TEXT
);
INSERT INTO hitcount_state (id) VALUES (1);

-- A random salt per UTC day, shared by app instances, for keys of visitors
-- who send no cookie. Old salts are deleted, so those keys cannot be traced
-- back to an IP address once their day is over.
CREATE TABLE hitcount_daily_salt (
    day TEXT PRIMARY KEY,
    salt TEXT NOT NULL
);

-- Objects whose django-hitcount total has been added by `hitcount
-- import-django`, so that importing again adds nothing twice.
CREATE TABLE hitcount_imported_total (
    hit_count_id BIGINT PRIMARY KEY
);
