/*  Register, login and refresh.

    Passwords: Argon2id (libsodium crypto_pwhash_str). A login for an
    unknown email still verifies a dummy hash, so the answer takes as long
    as for a known one and does not tell which emails exist.

    Login throttling: consecutive failures per email are counted in
    login_failures; at MG_LOGIN_MAX_FAILURES the email is locked for
    MG_LOGIN_LOCK_S seconds (429 with retry_after, checked before any
    hashing so a locked email costs no Argon2 work).

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

//  Seconds the email is still locked for (0: not locked), or -1 with err.
static int64_t
s_locked_for (accounts_thread_t *self, const char *email, mg_error_t *err)
{
    const char *params [] = { email };
    PGresult *res = accounts_exec (self,
        "SELECT ceil(extract(epoch FROM locked_until - now()))::bigint FROM login_failures "
        "WHERE email = lower($1) AND locked_until > now()", 1, params, err);
    if (!res)
        return -1;
    int64_t seconds = PQntuples (res) == 1 ? atoll (PQgetvalue (res, 0, 0)) : 0;
    PQclear (res);
    return seconds < 0 ? 0 : seconds;
}

//  Count a failed login for email; lock it when the failures reach the limit.
static void
s_count_failure (accounts_thread_t *self, const char *email)
{
    char max [24], lock [24];
    snprintf (max, sizeof max, "%lld", (long long) self->config->login_max_failures);
    snprintf (lock, sizeof lock, "%lld", (long long) self->config->login_lock_s);
    const char *params [] = { email, max, lock };
    mg_error_t err = { 0 };
    //  A lock that has run out starts a fresh count.
    PGresult *res = accounts_exec (self,
        "INSERT INTO login_failures AS f (email, failures) VALUES (lower($1), 1) "
        "ON CONFLICT (email) DO UPDATE SET "
        "  failures = CASE WHEN f.locked_until IS NOT NULL AND f.locked_until <= now() THEN 1 "
        "                  ELSE f.failures + 1 END, "
        "  locked_until = CASE WHEN f.locked_until IS NOT NULL AND f.locked_until <= now() THEN NULL "
        "                      WHEN f.failures + 1 >= $2::int THEN now() + $3::bigint * interval '1 second' "
        "                      ELSE f.locked_until END, "
        "  updated_at = now() "
        "RETURNING failures", 3, params, &err);
    if (res && atoi (PQgetvalue (res, 0, 0)) >= self->config->login_max_failures)
        mg_warn ("login locked after repeated failures", "failures=%s", PQgetvalue (res, 0, 0));
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
    int64_t locked = s_locked_for (self, request->email, err);
    if (locked < 0)
        return -1;
    if (locked > 0) {
        mg_actor_fail (err, "RATE_LIMITED", NULL, "too many failed logins for this account; try again later");
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
        s_count_failure (self, request->email);
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, UNAUTHORIZED_LOGIN);
    }
    char user_id [37], tier [16];
    snprintf (user_id, sizeof user_id, "%s", PQgetvalue (res, 0, 0));
    snprintf (tier, sizeof tier, "%s", PQgetvalue (res, 0, 2));
    PQclear (res);
    res = accounts_exec (self, "DELETE FROM login_failures WHERE email = lower($1)", 1, params, err);
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
    if (s_run (self, "BEGIN", 0, NULL, err))
        return -1;
    const char *params [] = { hash };
    //  FOR UPDATE: two refreshes with one token are serialised, and the
    //  second sees the first's rotation (a reuse).
    PGresult *res = accounts_exec (self,
        "SELECT t.user_id::text, t.family::text, "
        "       (t.rotated_at IS NOT NULL OR t.revoked_at IS NOT NULL), t.expires_at <= now(), u.tier "
        "FROM refresh_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = decode($1, 'hex') FOR UPDATE OF t", 1, params, err);
    if (!res) {
        mg_error_t ignored = { 0 };
        s_run (self, "ROLLBACK", 0, NULL, &ignored);
        mg_msg_clear (&mg_error_desc, &ignored);
        return -1;
    }
    if (PQntuples (res) != 1 || strcmp (PQgetvalue (res, 0, 3), "t") == 0) {
        PQclear (res);
        mg_error_t ignored = { 0 };
        s_run (self, "ROLLBACK", 0, NULL, &ignored);
        mg_msg_clear (&mg_error_desc, &ignored);
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, "invalid or expired refresh token");
    }
    char user_id [37], family [37], tier [16];
    snprintf (user_id, sizeof user_id, "%s", PQgetvalue (res, 0, 0));
    snprintf (family, sizeof family, "%s", PQgetvalue (res, 0, 1));
    snprintf (tier, sizeof tier, "%s", PQgetvalue (res, 0, 4));
    bool reused = strcmp (PQgetvalue (res, 0, 2), "t") == 0;
    PQclear (res);
    if (reused) {
        const char *fam [] = { family };
        if (s_run (self, "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
                         "WHERE family = $1::uuid", 1, fam, err)
        ||  s_run (self, "COMMIT", 0, NULL, err))
            return -1;
        mg_warn ("refresh token reused: its family is revoked", "user_id=%s family=%s", user_id, family);
        return mg_actor_fail (err, "UNAUTHORIZED", NULL,
                              "refresh token already used: every session of this login is revoked");
    }
    if (s_run (self, "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = decode($1, 'hex')",
               1, params, err)
    ||  s_issue (self, user_id, tier, family, rep, err)
    ||  s_run (self, "COMMIT", 0, NULL, err)) {
        mg_error_t ignored = { 0 };
        s_run (self, "ROLLBACK", 0, NULL, &ignored);
        mg_msg_clear (&mg_error_desc, &ignored);
        mg_msg_clear (&mg_token_reply_desc, rep);
        return -1;
    }
    return 0;
}
