/*  Register, login and refresh.

    Passwords: Argon2id (libsodium crypto_pwhash_str). A login for an
    unknown email still verifies a dummy hash, so the answer takes as long
    as for a known one and does not tell which emails exist.

    Login throttling (OWASP authentication cheat sheet: lock the attacker,
    not the account). Failures are counted in login_failures per (email,
    client), client being the network address the gateway saw, and once
    more per email (client '*'):
      - a client that fails MG_LOGIN_MAX_FAILURES times for an email within
        MG_LOGIN_WINDOW_S is locked out of that email for MG_LOGIN_LOCK_S
        (429 with retry_after, checked before any hashing so a locked
        client costs no Argon2 work);
      - once an email has MG_LOGIN_GLOBAL_FAILURES failures within the
        window from all clients together (a guess spread over many
        addresses), every further failure locks its client out of that
        email for MG_LOGIN_GLOBAL_LOCK_S, from its first failure on.
    Only clients that fail are ever locked: the right password from a client
    that has not been failing is always accepted, so nobody can lock the
    owner out by failing on purpose. Locks expire; a success clears the
    client's count.

    Refresh tokens rotate: each is good for one refresh, which marks it
    rotated and issues the next of the same family. Presenting a rotated or
    revoked token again means it leaked (or a client raced itself): the
    whole family is revoked and the caller gets 401.  */
#include "accounts.h"
#include "mg_jwt.h"
#include "mg_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFRESH_PREFIX   "mgr_"
#define REFRESH_RANDOM   32         //  random bytes in a refresh token
#define UNAUTHORIZED_LOGIN "wrong email or password"

//  Fill rep with a new access token for (user, tier) and a new refresh
//  token of family (NULL: a new family). Returns 0 or -1 with err.
static int
s_issue (accounts_thread_t *self, const char *user_id, const char *tier, const char *family,
         mg_token_reply_t *rep, mg_error_t *err)
{
    const accounts_config_t *config = self->config;
    char refresh [96];
    char hash [65];
    char ttl [24];
    if (accounts_random_token (REFRESH_PREFIX, REFRESH_RANDOM, refresh, sizeof refresh))
        return mg_actor_fail (err, "INTERNAL", NULL, "cannot make a token");
    accounts_sha256_hex (refresh, hash);
    snprintf (ttl, sizeof ttl, "%lld", (long long) config->refresh_ttl_s);
    const char *params [] = { hash, user_id, family, ttl };
    PGresult *res = accounts_exec (self,
        "INSERT INTO refresh_tokens (token_hash, user_id, family, expires_at) "
        "VALUES (decode($1, 'hex'), $2, coalesce($3::uuid, gen_random_uuid()), "
        "        now() + $4::bigint * interval '1 second')", 4, params, err);
    if (!res)
        return -1;
    PQclear (res);
    mg_jwt_claims_t claims = { .iat = (int64_t) time (NULL) };
    claims.exp = claims.iat + config->access_ttl_s;
    snprintf (claims.sub, sizeof claims.sub, "%s", user_id);
    snprintf (claims.tier, sizeof claims.tier, "%s", tier);
    char access [MG_JWT_MAX_LEN];
    if (mg_jwt_sign (config->jwt_key, config->jwt_key_len, &claims, access, sizeof access))
        return mg_actor_fail (err, "INTERNAL", NULL, "cannot sign a token");
    rep->access_token = strdup (access);
    rep->refresh_token = strdup (refresh);
    rep->token_type = strdup ("Bearer");
    rep->expires_in = (uint64_t) config->access_ttl_s;
    rep->has_expires_in = true;
    sodium_memzero (refresh, sizeof refresh);
    if (!rep->access_token || !rep->refresh_token || !rep->token_type)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    return 0;
}

int
accounts_on_register (void *state, const void *req, void *rep, mg_error_t *err)
{
    accounts_thread_t *self = state;
    const mg_credentials_t *request = req;
    mg_register_reply_t *reply = rep;
    const char *reason;
    if (accounts_email_check (request->email, &reason))
        return mg_actor_fail (err, "INVALID_PARAMETER", "email", "%s", reason);
    if (accounts_password_check (request->password, &reason))
        return mg_actor_fail (err, "INVALID_PARAMETER", "password", "%s", reason);
    char hash [crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str (hash, request->password, strlen (request->password),
                           self->config->pwhash_ops, self->config->pwhash_mem) != 0)
        return mg_actor_fail (err, "SERVICE_BUSY", NULL, "cannot hash the password now (out of memory)");
    const char *params [] = { request->email, hash };
    PGresult *res = accounts_exec (self,
        "INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING id::text, email", 2, params, err);
    sodium_memzero (hash, sizeof hash);
    if (!res) {
        if (err->code && strcmp (err->code, "CONFLICT") == 0)
            return mg_actor_fail (err, "CONFLICT", "email", "an account with this email already exists");
        return -1;
    }
    reply->user = calloc (1, sizeof *reply->user);
    if (reply->user) {
        reply->user->id = strdup (PQgetvalue (res, 0, 0));
        reply->user->email = strdup (PQgetvalue (res, 0, 1));
    }
    PQclear (res);
    if (!reply->user || !reply->user->id || !reply->user->email)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    mg_info ("user registered", "user_id=%s", reply->user->id);
    return 0;
}

//  The throttle key of the caller: the address the gateway saw, or one
//  shared key for bus callers that give none.
static const char *
s_client (const mg_credentials_t *request)
{
    return request->client && *request->client && strcmp (request->client, "*") != 0
         ? request->client : "-";
}

//  Seconds this client is still locked out of email for (0: not locked),
//  or -1 with err.
static int64_t
s_locked_for (accounts_thread_t *self, const char *email, const char *client, mg_error_t *err)
{
    const char *params [] = { email, client };
    PGresult *res = accounts_exec (self,
        "SELECT ceil(extract(epoch FROM locked_until - now()))::bigint FROM login_failures "
        "WHERE email = lower($1) AND client = $2 AND locked_until > now()", 2, params, err);
    if (!res)
        return -1;
    bool locked = PQntuples (res) == 1;
    int64_t seconds = locked ? atoll (PQgetvalue (res, 0, 0)) : 0;
    PQclear (res);
    //  Locked for less than a second still answers "retry in 1 s".
    return locked && seconds < 1 ? 1 : seconds;
}

//  Count a failed login of client for email (and for the email over all
//  clients); lock the client out as the header comment says.
static void
s_count_failure (accounts_thread_t *self, const char *email, const char *client)
{
    const accounts_config_t *config = self->config;
    char max [24], lock [24], global_max [24], global_lock [24], window [24];
    snprintf (max, sizeof max, "%lld", (long long) config->login_max_failures);
    snprintf (lock, sizeof lock, "%lld", (long long) config->login_lock_s);
    snprintf (global_max, sizeof global_max, "%lld", (long long) config->login_global_failures);
    snprintf (global_lock, sizeof global_lock, "%lld", (long long) config->login_global_lock_s);
    snprintf (window, sizeof window, "%lld", (long long) config->login_window_s);
    const char *params [] = { email, client, max, lock, global_max, global_lock, window };
    mg_error_t err = { 0 };
    //  A count starts again after a quiet window or once its lock ran out.
    PGresult *res = accounts_exec (self,
        "WITH g AS ("
        "  INSERT INTO login_failures AS f (email, client, failures) VALUES (lower($1), '*', 1) "
        "  ON CONFLICT (email, client) DO UPDATE SET "
        "    failures = CASE WHEN f.updated_at < now() - $7::bigint * interval '1 second' THEN 1 "
        "                    ELSE f.failures + 1 END, "
        "    updated_at = now() "
        "  RETURNING failures), "
        "c AS ("
        "  INSERT INTO login_failures AS f (email, client, failures, locked_until) "
        "  SELECT lower($1), $2, 1, CASE WHEN g.failures >= $5::int THEN now() + $6::bigint * interval '1 second' "
        "                                WHEN 1 >= $3::int THEN now() + $4::bigint * interval '1 second' END FROM g "
        "  ON CONFLICT (email, client) DO UPDATE SET "
        "    failures = CASE WHEN f.updated_at < now() - $7::bigint * interval '1 second' "
        "                      OR f.locked_until <= now() THEN 1 ELSE f.failures + 1 END, "
        "    locked_until = CASE "
        "      WHEN (SELECT failures FROM g) >= $5::int THEN now() + $6::bigint * interval '1 second' "
        "      WHEN (CASE WHEN f.updated_at < now() - $7::bigint * interval '1 second' "
        "                   OR f.locked_until <= now() THEN 1 ELSE f.failures + 1 END) >= $3::int "
        "        THEN now() + $4::bigint * interval '1 second' "
        "      ELSE NULL END, "
        "    updated_at = now() "
        "  RETURNING failures, locked_until) "
        "SELECT c.failures, (SELECT failures FROM g), c.locked_until IS NOT NULL FROM c", 7, params, &err);
    if (res && PQntuples (res) == 1 && strcmp (PQgetvalue (res, 0, 2), "t") == 0)
        mg_warn ("login client locked after repeated failures", "client_failures=%s email_failures=%s",
                 PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1));
    PQclear (res);
    mg_msg_clear (&mg_error_desc, &err);
}

int
accounts_on_login (void *state, const void *req, void *rep, mg_error_t *err)
{
    accounts_thread_t *self = state;
    const mg_credentials_t *request = req;
    const char *reason;
    if (accounts_email_check (request->email, &reason))
        return mg_actor_fail (err, "INVALID_PARAMETER", "email", "%s", reason);
    if (strlen (request->password) > ACCOUNTS_PASSWORD_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "password", "password must be at most 128 bytes long");
    const char *client = s_client (request);
    int64_t locked = s_locked_for (self, request->email, client, err);
    if (locked < 0)
        return -1;
    if (locked > 0) {
        mg_actor_fail (err, "RATE_LIMITED", NULL, "too many failed logins from this address; try again later");
        err->has_retry_after = true;
        err->retry_after = (uint64_t) locked;
        return -1;
    }
    const char *params [] = { request->email };
    PGresult *res = accounts_exec (self,
        "SELECT id::text, password_hash, tier FROM users WHERE lower(email) = lower($1)", 1, params, err);
    if (!res)
        return -1;
    bool known = PQntuples (res) == 1;
    const char *hash = known ? PQgetvalue (res, 0, 1) : self->config->dummy_hash;
    bool good = crypto_pwhash_str_verify (hash, request->password, strlen (request->password)) == 0;
    if (!known || !good) {
        PQclear (res);
        s_count_failure (self, request->email, client);
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, UNAUTHORIZED_LOGIN);
    }
    char user_id [37], tier [16];
    snprintf (user_id, sizeof user_id, "%s", PQgetvalue (res, 0, 0));
    snprintf (tier, sizeof tier, "%s", PQgetvalue (res, 0, 2));
    PQclear (res);
    const char *pair [] = { request->email, client };
    res = accounts_exec (self, "DELETE FROM login_failures WHERE email = lower($1) AND client = $2", 2, pair, err);
    if (!res)
        return -1;
    PQclear (res);
    return s_issue (self, user_id, tier, NULL, rep, err);
}

//  Run sql with no result wanted; 0 or -1 with err.
static int
s_run (accounts_thread_t *self, const char *sql, int nparams, const char *const *params, mg_error_t *err)
{
    PGresult *res = accounts_exec (self, sql, nparams, params, err);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

int
accounts_on_refresh (void *state, const void *req, void *rep, mg_error_t *err)
{
    accounts_thread_t *self = state;
    const mg_refresh_request_t *request = req;
    if (strncmp (request->refresh_token, REFRESH_PREFIX, sizeof REFRESH_PREFIX - 1) != 0
    ||  strlen (request->refresh_token) > 96)
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, "invalid refresh token");
    char hash [65];
    accounts_sha256_hex (request->refresh_token, hash);
    if (accounts_begin (self, err))
        return -1;
    const char *params [] = { hash };
    //  FOR UPDATE: two refreshes with one token are serialised, and the
    //  second sees the first's rotation (a reuse).
    PGresult *res = accounts_exec (self,
        "SELECT t.user_id::text, t.family::text, "
        "       (t.rotated_at IS NOT NULL OR t.revoked_at IS NOT NULL), t.expires_at <= now(), u.tier "
        "FROM refresh_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = decode($1, 'hex') FOR UPDATE OF t", 1, params, err);
    if (!res)
        return -1;                  //  accounts_exec rolled back
    if (PQntuples (res) != 1 || strcmp (PQgetvalue (res, 0, 3), "t") == 0) {
        PQclear (res);
        accounts_rollback (self);
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, "invalid or expired refresh token");
    }
    char user_id [37], family [37], tier [16];
    snprintf (user_id, sizeof user_id, "%s", PQgetvalue (res, 0, 0));
    snprintf (family, sizeof family, "%s", PQgetvalue (res, 0, 1));
    snprintf (tier, sizeof tier, "%s", PQgetvalue (res, 0, 4));
    bool reused = strcmp (PQgetvalue (res, 0, 2), "t") == 0;
    PQclear (res);
    if (reused) {
        //  A failure here (a lock timeout against a concurrent refresh of
        //  the family, a lost connection) is rolled back by accounts_exec:
        //  the caller gets 503 and may present the token again.
        const char *fam [] = { family };
        if (s_run (self, "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
                         "WHERE family = $1::uuid", 1, fam, err)
        ||  accounts_commit (self, err))
            return -1;
        mg_warn ("refresh token reused: its family is revoked", "user_id=%s family=%s", user_id, family);
        return mg_actor_fail (err, "UNAUTHORIZED", NULL,
                              "refresh token already used: every session of this login is revoked");
    }
    if (s_run (self, "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = decode($1, 'hex')",
               1, params, err)
    ||  s_issue (self, user_id, tier, family, rep, err)
    ||  accounts_commit (self, err)) {
        accounts_rollback (self);
        mg_msg_clear (&mg_token_reply_desc, rep);
        return -1;
    }
    return 0;
}
