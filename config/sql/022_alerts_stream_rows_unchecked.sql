-- Notifications and stream events without a foreign-key check per row. An
-- availability change writes a notification and a stream event for each
-- watcher of the title inside the time from the change to the user's
-- event, and each of those rows checked its user_id against users (a
-- lookup and a row lock on the user, per row). What the two keys gave is
-- kept by the row every writer of them already locks: each writer of
-- sync_events or notifications (the sync actor, the alerts actor) moves
-- the user's sync_event_seq row in the same transaction, and that row
-- still references users (ON DELETE CASCADE). So:
--   - deleting a user deletes the user's sync_event_seq row, and deleting
--     that row deletes the user's stream events and notifications (the
--     trigger below, with a snapshot of its own: it sees rows committed
--     while the delete waited);
--   - a writer that locked the row first makes the delete wait for its
--     commit, and the trigger then deletes what it wrote; a writer that
--     comes after the delete finds no row to move, makes one, and fails
--     the key on users: nothing is left without its user.
-- (docs/alerts.md, "Rows without a key check").
ALTER TABLE notifications DROP CONSTRAINT notifications_user_id_fkey;
ALTER TABLE sync_events DROP CONSTRAINT sync_events_user_id_fkey;

-- Every user with rows has a sequence row to hang them on (a user whose
-- notification came before stream events existed may have none yet).
INSERT INTO sync_event_seq (user_id, last_id)
    SELECT DISTINCT n.user_id, 0 FROM notifications n
    WHERE NOT EXISTS (SELECT 1 FROM sync_event_seq q WHERE q.user_id = n.user_id)
      AND EXISTS (SELECT 1 FROM users u WHERE u.id = n.user_id)
ON CONFLICT (user_id) DO NOTHING;

CREATE FUNCTION sync_event_seq_gone () RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    DELETE FROM sync_events WHERE user_id = OLD.user_id;
    DELETE FROM notifications WHERE user_id = OLD.user_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_event_seq_gone AFTER DELETE ON sync_event_seq
    FOR EACH ROW EXECUTE FUNCTION sync_event_seq_gone ();
