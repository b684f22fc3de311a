-- Until when one app instance runs the background cleanup
-- (`cleanup_interval`): the others skip their turn meanwhile.
ALTER TABLE hitcount_state ADD COLUMN cleanup_lease_until TIMESTAMPTZ;
