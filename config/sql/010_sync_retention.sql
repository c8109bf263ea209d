-- The sync retention job (actors/sync/retention.c) deletes op log rows and
-- events by age across all users: these indexes find them without a scan.
CREATE INDEX sync_ops_applied_at_idx ON sync_ops (applied_at);
CREATE INDEX sync_events_created_at_idx ON sync_events (created_at);
