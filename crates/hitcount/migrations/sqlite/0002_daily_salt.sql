-- A random salt per UTC day, shared by app instances, for keys of visitors
-- who send no cookie. Old salts are deleted, so those keys cannot be traced
-- back to an IP address once their day is over.
CREATE TABLE hitcount_daily_salt (
    day TEXT PRIMARY KEY,
    salt TEXT NOT NULL
);
