-- Until when one app instance counts write-behind (`counting =
-- "write_behind"`): another cannot open in that mode meanwhile.
ALTER TABLE hitcount_state ADD COLUMN write_behind_lease_until TIMESTAMPTZ;
