-- Accounts (accounts actor) and cross-device state (sync actor).

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    -- Argon2id string from libsodium crypto_pwhash_str
    password_hash  text NOT NULL,
    tier           text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro', 'enterprise')),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix      text NOT NULL,                 -- shown in listings, never the key
    key_hash    bytea NOT NULL UNIQUE,         -- the key itself is shown once and never stored
    tier        text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro', 'enterprise')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- Rotating refresh tokens: reuse of a rotated one revokes its whole family.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family      uuid NOT NULL,
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);

CREATE TABLE devices (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz
);
CREATE INDEX devices_user_idx ON devices (user_id);

-- Durable op log: op ids make ingestion idempotent.
CREATE TABLE sync_ops (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    op_id       text NOT NULL CHECK (length(op_id) BETWEEN 1 AND 128),
    device_id   uuid,
    type        text NOT NULL CHECK (type IN ('watchlist.add', 'watchlist.remove', 'progress.set', 'preferences.set')),
    hlc         text NOT NULL,
    body        jsonb NOT NULL,
    seq         bigserial,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, op_id)
);
CREATE INDEX sync_ops_user_seq_idx ON sync_ops (user_id, seq);

-- Materialised CRDT state per user and key (e.g. 'watchlist', 'progress:<id>').
CREATE TABLE sync_state (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         text NOT NULL,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
