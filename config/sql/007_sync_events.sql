-- Change events of the sync actor: every change of a user's state gets the
-- next per-user id in the transaction that makes it, so ids are consecutive,
-- survive restarts and let a stream resume (Last-Event-ID). Only the newest
-- MG_SYNC_EVENTS_KEEP events per user, none older than MG_SYNC_EVENTS_KEEP_S,
-- are kept; a resume from before them gets a reset.
CREATE TABLE sync_event_seq (
    user_id  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_id  bigint NOT NULL
);

CREATE TABLE sync_events (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id          bigint NOT NULL,
    type        text NOT NULL,
    device_id   uuid,                   -- device that made the change; NULL = the account
    target      uuid,                   -- only this device's streams receive it (handoff)
    data        json NOT NULL,          -- json, not jsonb: replays send the very text the live event had
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id)
);
