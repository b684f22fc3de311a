-- A day's views and bot hits beside its counted hits, as the totals of
-- hitcount_hit_count have them.
ALTER TABLE hitcount_daily ADD COLUMN views BIGINT NOT NULL DEFAULT 0 CHECK (views >= 0);
ALTER TABLE hitcount_daily ADD COLUMN bot_hits BIGINT NOT NULL DEFAULT 0 CHECK (bot_hits >= 0);
