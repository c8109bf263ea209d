-- Availability alerts (alerts actor): notifications of titles on a user's
-- watchlist arriving on, or about to leave, one of the user's services, and
-- their delivery to the user's webhooks.

-- Where the alerts actors are in the availability.changed stream
-- (change_log): one row, locked by the replica that reads the next events,
-- so a restart or a second replica neither skips nor repeats a change.
CREATE TABLE alerts_cursor (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq  bigint NOT NULL
);
-- Alerts begin with the changes after the migration, not the whole history.
INSERT INTO alerts_cursor (last_seq)
    SELECT coalesce ((SELECT last_seq FROM change_streams WHERE stream = 'availability.changed'), 0);

CREATE TABLE webhooks (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url           text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    secret        text NOT NULL,                -- whsec_<base64>: shown at creation, signs every call
    enabled       boolean NOT NULL DEFAULT true,
    dead_streak   integer NOT NULL DEFAULT 0,   -- dead letters in a row (reset by a success)
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user_idx ON webhooks (user_id);

-- One notification per user, title, platform, kind and offer window
-- (offer_until: the offer's expiry, NULL = open-ended): the unique key is
-- what makes recording it idempotent across replicas and restarts.
-- kind 'webhook.disabled' names its webhook and no title.
CREATE TABLE notifications (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('available', 'leaving', 'webhook.disabled')),
    content_id   uuid,
    platform     text,
    region       char(2),
    offer_until  timestamptz,
    webhook_id   uuid,
    data         jsonb NOT NULL,
    read_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (user_id, content_id, platform, kind, offer_until, webhook_id)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);

-- Durable webhook deliveries: a row per (webhook, notification), claimed
-- when next_attempt_at is due (and pushed out by the claim, so a replica
-- that dies mid-call leaves it to be retried, never lost).
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    notification_id  uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    give_up_at       timestamptz NOT NULL,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (webhook_id, notification_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC);

-- Times as the API shows them (RFC 3339, UTC, milliseconds).
CREATE FUNCTION alerts_time (t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char (t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A notification as the API, the event stream and webhooks show it: one
-- shape everywhere.
CREATE FUNCTION alerts_notification_json (n notifications) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls (jsonb_build_object (
        'id', n.id, 'kind', n.kind, 'content_id', n.content_id, 'title', n.data->>'title',
        'platform', n.platform, 'region', n.region, 'offer_until', alerts_time (n.offer_until),
        'webhook_id', n.webhook_id, 'reason', n.data->>'reason', 'created_at', alerts_time (n.created_at)))
        || jsonb_build_object ('read', n.read_at IS NOT NULL)
$$;
