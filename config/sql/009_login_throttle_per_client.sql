-- Login throttling per (email, client address) instead of per email alone,
-- so failing on purpose locks out the one who fails, not the account's owner.
-- The row with client '*' counts an email's failures over all clients (the
-- slower global backoff, actors/accounts/users.c).
ALTER TABLE login_failures ADD COLUMN client text NOT NULL DEFAULT '*';
ALTER TABLE login_failures DROP CONSTRAINT login_failures_pkey;
ALTER TABLE login_failures ADD PRIMARY KEY (email, client);
-- The accounts retention job deletes by age.
CREATE INDEX login_failures_updated_idx ON login_failures (updated_at);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_revoked_idx ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
