/*  API keys: create (the key is shown once and stored only as its SHA-256),
    list and revoke the caller's own keys, and authenticate a key for the
    gateway. Every query names the caller (user_id, set by the gateway from
    a verified identity), so a user never sees or changes another's keys: a
    key of someone else is "not found", like one that does not exist.

    A key is 256 random bits, so a fast hash is enough to store it (there is
    nothing to brute-force, unlike a password), and the gateway can look it
    up by hash in one indexed query.  */
#include "accounts.h"
#include "mg_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

//  strdup of the value at (row, col), or NULL when it is SQL NULL.
static char *
s_value (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? NULL : strdup (PQgetvalue (res, row, col));
}

//  The caller's id as the gateway set it; -1 with err when missing.
static int
s_caller (const char *user_id, mg_error_t *err)
{
    if (!mg_uuid_is (user_id, false))
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, "authentication required");
    return 0;
}

int
accounts_on_keys_list (void *state, const void *req, void *rep, mg_error_t *err)
{
    accounts_thread_t *self = state;
    const mg_api_keys_list_request_t *request = req;
    mg_api_keys_reply_t *reply = rep;
    if (s_caller (request->user_id, err))
        return -1;
    uint64_t page = request->has_page ? request->page : 1;
    uint64_t per_page = request->has_per_page ? request->per_page : ACCOUNTS_PER_PAGE;
    //  An account has at most ACCOUNTS_KEYS_MAX live keys: no page past that.
    if (page < 1 || page > ACCOUNTS_KEYS_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "page", "page must be 1 to %d", ACCOUNTS_KEYS_MAX);
    if (per_page < 1 || per_page > ACCOUNTS_KEYS_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "per_page", "per_page must be 1 to %d", ACCOUNTS_KEYS_MAX);
    char limit [24], offset [24];
    snprintf (limit, sizeof limit, "%llu", (unsigned long long) per_page);
    snprintf (offset, sizeof offset, "%llu", (unsigned long long) ((page - 1) * per_page));
    const char *params [] = { request->user_id, limit, offset };
    //  The total comes with the page (a window over the same rows): one
    //  statement, so the two always agree.
    PGresult *res = accounts_exec (self,
        "SELECT id::text, name, tier, prefix, " ISO_UTC ("created_at") ", " ISO_UTC ("last_used_at")
        ", count(*) OVER () FROM api_keys WHERE user_id = $1::uuid AND revoked_at IS NULL "
        "ORDER BY created_at DESC, id LIMIT $2::int OFFSET $3::int", 3, params, err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    reply->page = page;
    reply->per_page = per_page;
    reply->has_page = reply->has_per_page = reply->has_total = true;
    if (rows)
        reply->total = (uint64_t) atoll (PQgetvalue (res, 0, 6));
    else {
        //  Past the last page: the window has no row to carry the total.
        PQclear (res);
        res = accounts_exec (self, "SELECT count(*) FROM api_keys WHERE user_id = $1::uuid AND revoked_at IS NULL",
                             1, params, err);
        if (!res)
            return -1;
        reply->total = (uint64_t) atoll (PQgetvalue (res, 0, 0));
    }
    reply->results = rows ? calloc ((size_t) rows, sizeof *reply->results) : NULL;
    if (rows && !reply->results) {
        PQclear (res);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    reply->results_count = (size_t) rows;
    for (int i = 0; i < rows; i++) {
        mg_api_key_t *key = &reply->results [i];
        key->id = s_value (res, i, 0);
        key->name = s_value (res, i, 1);
        key->tier = s_value (res, i, 2);
        key->prefix = s_value (res, i, 3);
        key->created_at = s_value (res, i, 4);
        key->last_used_at = s_value (res, i, 5);
    }
    PQclear (res);
    return 0;
}

int
accounts_on_keys_create (void *state, const void *req, void *rep, mg_error_t *err)
{
    accounts_thread_t *self = state;
    const mg_api_key_create_t *request = req;
    mg_api_key_created_t *reply = rep;
    const char *reason;
    if (s_caller (request->user_id, err))
        return -1;
    if (accounts_key_name_check (request->name, &reason))
        return mg_actor_fail (err, "INVALID_PARAMETER", "name", "%s", reason);
    char key [ACCOUNTS_KEY_LEN + 8];
    char hash [65];
    char prefix [ACCOUNTS_KEY_SHOWN + 1];
    char max [16];
    if (accounts_random_token (ACCOUNTS_KEY_PREFIX, ACCOUNTS_KEY_RANDOM, key, sizeof key))
        return mg_actor_fail (err, "INTERNAL", NULL, "cannot make a key");
    accounts_sha256_hex (key, hash);
    memcpy (prefix, key, ACCOUNTS_KEY_SHOWN);
    prefix [ACCOUNTS_KEY_SHOWN] = '\0';
    snprintf (max, sizeof max, "%d", ACCOUNTS_KEYS_MAX);
    //  New keys take the account's tier (free unless an operator changed
    //  it); the count check and the insert are one statement.
    const char *params [] = { request->user_id, request->name, prefix, hash, max };
    PGresult *res = accounts_exec (self,
        "INSERT INTO api_keys (user_id, name, prefix, key_hash, tier) "
        "SELECT u.id, $2, $3, decode($4, 'hex'), u.tier FROM users u WHERE u.id = $1::uuid "
        "  AND (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) < $5::int "
        "RETURNING id::text, tier, " ISO_UTC ("created_at"), 5, params, err);
    if (!res) {
        sodium_memzero (key, sizeof key);
        return -1;
    }
    if (PQntuples (res) != 1) {
        PQclear (res);
        sodium_memzero (key, sizeof key);
        return mg_actor_fail (err, "CONFLICT", NULL,
                              "an account has at most %d live API keys; revoke one first", ACCOUNTS_KEYS_MAX);
    }
    reply->id = s_value (res, 0, 0);
    reply->tier = s_value (res, 0, 1);
    reply->created_at = s_value (res, 0, 2);
    PQclear (res);
    reply->name = strdup (request->name);
    reply->key = strdup (key);
    reply->prefix = strdup (prefix);
    sodium_memzero (key, sizeof key);
    if (!reply->id || !reply->tier || !reply->created_at || !reply->name || !reply->key || !reply->prefix)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    mg_info ("api key created", "user_id=%s key_id=%s", request->user_id, reply->id);
    return 0;
}

//  Tell every gateway the key is revoked (auth.key_revoked): they drop it
//  from their caches and end its streams at once. A lost event costs at
//  most the gateways' MG_KEY_CACHE_S, as before there was one.
static void
s_publish_revoked (accounts_thread_t *self, const char *user_id, const char *key_id)
{
    mg_key_revoked_t event = { .user_id = (char *) user_id, .key_id = (char *) key_id };
    char reason [MG_MSG_ERR_LEN];
    if (mg_actor_publish (self->events, ACCOUNTS_REVOKED_TOPIC, &mg_key_revoked_desc, &event, reason, sizeof reason))
        mg_warn ("key revocation not published", "key_id=%s reason=\"%s\"", key_id, reason);
}

int
accounts_on_keys_revoke (void *state, const void *req, void *rep, mg_error_t *err)
{
    (void) rep;
    accounts_thread_t *self = state;
    const mg_api_key_revoke_t *request = req;
    if (s_caller (request->user_id, err))
        return -1;
    if (!mg_uuid_is (request->id, false))
        return mg_actor_fail (err, "NOT_FOUND", "id", "no such API key");
    const char *params [] = { request->id, request->user_id };
    PGresult *res = accounts_exec (self,
        "UPDATE api_keys SET revoked_at = now() "
        "WHERE id = $1::uuid AND user_id = $2::uuid AND revoked_at IS NULL", 2, params, err);
    if (!res)
        return -1;
    bool found = strcmp (PQcmdTuples (res), "1") == 0;
    PQclear (res);
    if (!found)
        return mg_actor_fail (err, "NOT_FOUND", "id", "no such API key");
    mg_info ("api key revoked", "user_id=%s key_id=%s", request->user_id, request->id);
    s_publish_revoked (self, request->user_id, request->id);
    return 0;
}

int
accounts_on_authenticate (void *state, const void *req, void *rep, mg_error_t *err)
{
    accounts_thread_t *self = state;
    const mg_authenticate_request_t *request = req;
    mg_authenticate_reply_t *reply = rep;
    if (!accounts_key_shape_ok (request->key))
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, "invalid API key");
    char hash [65];
    accounts_sha256_hex (request->key, hash);
    const char *params [] = { hash };
    //  last_used_at is written at most once a minute per key: lookups come
    //  at most once per gateway cache period anyway.
    PGresult *res = accounts_exec (self,
        "WITH k AS (SELECT id, user_id, tier FROM api_keys "
        "           WHERE key_hash = decode($1, 'hex') AND revoked_at IS NULL), "
        "     touched AS (UPDATE api_keys SET last_used_at = now() FROM k WHERE api_keys.id = k.id "
        "           AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < now() - interval '1 minute')) "
        "SELECT id::text, user_id::text, tier FROM k", 1, params, err);
    if (!res)
        return -1;
    if (PQntuples (res) != 1) {
        PQclear (res);
        return mg_actor_fail (err, "UNAUTHORIZED", NULL, "invalid or revoked API key");
    }
    reply->key_id = s_value (res, 0, 0);
    reply->user_id = s_value (res, 0, 1);
    reply->tier = s_value (res, 0, 2);
    PQclear (res);
    if (!reply->key_id || !reply->user_id || !reply->tier)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    return 0;
}

int
accounts_on_fingerprint (void *state, const void *req, void *rep, mg_error_t *err)
{
    (void) req;
    accounts_thread_t *self = state;
    mg_fingerprint_reply_t *reply = rep;
    reply->fingerprint = strdup (self->config->jwt_fingerprint);
    if (!reply->fingerprint)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    return 0;
}
