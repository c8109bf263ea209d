-- Login throttling (accounts actor): consecutive failed logins per email.
-- After MG_LOGIN_MAX_FAILURES failures the email is locked for MG_LOGIN_LOCK_S
-- seconds; a success clears the row. Emails are stored lower-cased.
CREATE TABLE login_failures (
    email        text PRIMARY KEY,
    failures     integer NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Listing a user's live keys, newest first.
CREATE INDEX api_keys_user_live_idx ON api_keys (user_id, created_at DESC) WHERE revoked_at IS NULL;
