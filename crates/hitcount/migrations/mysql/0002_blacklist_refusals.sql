-- How many requests each blacklist entry has refused, written by the
-- app instances every second (as views of repeat visits are).
ALTER TABLE hitcount_blacklist_ip ADD COLUMN IF NOT EXISTS refused BIGINT NOT NULL DEFAULT 0 CHECK (refused >= 0);
ALTER TABLE hitcount_blacklist_user_agent ADD COLUMN IF NOT EXISTS refused BIGINT NOT NULL DEFAULT 0 CHECK (refused >= 0);
