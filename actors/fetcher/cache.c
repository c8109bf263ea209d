/*  Provider responses in Redis, one hash per request (mg:fc:<provider>:<h>,
    h a BLAKE2b digest of the URL without its credentials): body, ETag and
    the time it was fetched. Freshness is the caller's TTL (content 7 d,
    availability 1 h, Watchmode 24 h); an entry outlives it by up to
    CACHE_KEEP_S so an expired one can still be revalidated with
    If-None-Match (a 304 costs no body) and served, marked stale, when every
    provider of the fallback chain fails. Times come from Redis's TIME, so
    replicas agree on ages.  */
#include "fetcher.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_KEEP_S   2592000      //  30 days: the stale fallback's horizon
#define CACHE_DIGEST   16           //  bytes of BLAKE2b: 128 bits, no collisions in practice

//  KEYS: entry. Returns {body, etag, age_ms} or nil.
static const char s_get [] =
    "local h = redis.call('HMGET', KEYS[1], 'body', 'etag', 'at')\n"
    "if not h[1] then return nil end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "return {h[1], h[2] or '', now - (tonumber(h[3]) or 0)}\n";

//  KEYS: entry. ARGV: body, etag, keep_s.
static const char s_put [] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], 'body', ARGV[1], 'etag', ARGV[2], 'at', now)\n"
    "return redis.call('EXPIRE', KEYS[1], ARGV[3])\n";

//  KEYS: entry. ARGV: keep_s. 1 when it existed.
static const char s_touch [] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], 'at', now)\n"
    "return redis.call('EXPIRE', KEYS[1], ARGV[1])\n";

//  Is the query parameter at p (after ? or &) a credential?
static bool
s_is_credential (const char *p)
{
    static const char *names [] = { "api_key=", "apiKey=", "key=" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        if (strncmp (p, names [i], strlen (names [i])) == 0)
            return true;
    return false;
}

int
cache_key (const char *provider, const char *url, char *key, size_t keylen)
{
    assert (provider && url && key);
    crypto_generichash_state state;
    if (crypto_generichash_init (&state, NULL, 0, CACHE_DIGEST))
        return -1;
    //  The URL, parameter by parameter, credentials left out.
    const char *p = url;
    while (*p) {
        size_t len = strcspn (p + 1, "?&") + 1;
        bool param = (*p == '?' || *p == '&');
        //  Parameters are hashed with one separator, so dropping the first
        //  one (?api_key=...&x=1) gives the same key as never having it.
        if (!param)
            crypto_generichash_update (&state, (const unsigned char *) p, len);
        else if (!s_is_credential (p + 1)) {
            crypto_generichash_update (&state, (const unsigned char *) "&", 1);
            crypto_generichash_update (&state, (const unsigned char *) p + 1, len - 1);
        }
        p += len;
    }
    unsigned char digest [CACHE_DIGEST];
    crypto_generichash_final (&state, digest, sizeof digest);
    char hex [2 * CACHE_DIGEST + 1];
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    int n = snprintf (key, keylen, "mg:fc:%s:%s", provider, hex);
    return n < 0 || (size_t) n >= keylen ? -1 : 0;
}

//  An entry from the get script's reply. Returns 0 (body NULL on a miss)
//  or -1 with why.
static int
s_entry (const redisReply *reply, int64_t ttl_ms, cache_entry_t *entry, char *why, size_t whylen)
{
    memset (entry, 0, sizeof *entry);
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3
    &&  reply->element [0]->type == REDIS_REPLY_STRING
    &&  reply->element [1]->type == REDIS_REPLY_STRING
    &&  reply->element [2]->type == REDIS_REPLY_INTEGER) {
        entry->body = malloc (reply->element [0]->len + 1);
        if (!entry->body) {
            snprintf (why, whylen, "out of memory");
            return -1;
        }
        memcpy (entry->body, reply->element [0]->str, reply->element [0]->len);
        entry->body [reply->element [0]->len] = '\0';
        entry->body_len = reply->element [0]->len;
        snprintf (entry->etag, sizeof entry->etag, "%s", reply->element [1]->str);
        entry->age_ms = reply->element [2]->integer;
        entry->fresh = entry->age_ms < ttl_ms;
        return 0;
    }
    if (reply->type != REDIS_REPLY_NIL) {
        snprintf (why, whylen, "cache script: unexpected reply");
        return -1;
    }
    return 0;
}

int
cache_get (mg_redis_t *redis, const char *key, int64_t ttl_ms, cache_entry_t *entry,
           char *why, size_t whylen)
{
    assert (redis && key && entry && why);
    memset (entry, 0, sizeof *entry);
    const char *keys [] = { key };
    redisReply *reply = mg_redis_eval (redis, s_get, 1, keys, 0, NULL, why, whylen);
    if (!reply)
        return -1;
    int rc = s_entry (reply, ttl_ms, entry, why, whylen);
    freeReplyObject (reply);
    return rc;
}

int
cache_get_many (mg_redis_t *redis, size_t n, const char *const *keys, const int64_t *ttl_ms,
                cache_entry_t *entries, char *why, size_t whylen)
{
    assert (redis && (n == 0 || (keys && ttl_ms && entries)) && why);
    for (size_t i = 0; i < n; i++)
        memset (&entries [i], 0, sizeof entries [i]);
    redisReply **replies = calloc (n ? n : 1, sizeof *replies);
    if (!replies) {
        snprintf (why, whylen, "out of memory");
        return -1;
    }
    int rc = mg_redis_eval_many (redis, s_get, n, 1, 0, keys, replies, why, whylen);
    for (size_t i = 0; i < n; i++)
        if (replies [i]) {
            char ignored [FETCHER_WHY_LEN];
            if (rc == 0)
                s_entry (replies [i], ttl_ms [i], &entries [i], ignored, sizeof ignored);
            freeReplyObject (replies [i]);
        }
    free (replies);
    return rc;
}

int
cache_put (mg_redis_t *redis, const char *key, const char *body, size_t body_len,
           const char *etag, char *why, size_t whylen)
{
    assert (redis && key && body && why);
    //  hiredis argv is NUL-terminated here; provider bodies are JSON text.
    if (strlen (body) != body_len) {
        snprintf (why, whylen, "body holds a NUL byte");
        return -1;
    }
    char keep [24];
    snprintf (keep, sizeof keep, "%d", CACHE_KEEP_S);
    const char *keys [] = { key };
    const char *argv [] = { body, etag ? etag : "", keep };
    redisReply *reply = mg_redis_eval (redis, s_put, 1, keys, 3, argv, why, whylen);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
cache_put_many (mg_redis_t *redis, size_t n, const char *const *keys,
                const char *const *bodies, const size_t *body_lens, const char *const *etags,
                char *why, size_t whylen)
{
    assert (redis && (n == 0 || (keys && bodies && body_lens && etags)) && why);
    enum { PER_CALL = 4 };          //  key, body, etag, keep_s
    const char **params = calloc (n ? n * PER_CALL : 1, sizeof *params);
    redisReply **replies = calloc (n ? n : 1, sizeof *replies);
    if (!params || !replies) {
        free (params);
        free (replies);
        snprintf (why, whylen, "out of memory");
        return -1;
    }
    char keep [24];
    snprintf (keep, sizeof keep, "%d", CACHE_KEEP_S);
    size_t calls = 0;
    for (size_t i = 0; i < n; i++) {
        //  hiredis argv is NUL-terminated here; provider bodies are JSON text.
        if (strlen (bodies [i]) != body_lens [i])
            continue;
        params [calls * PER_CALL] = keys [i];
        params [calls * PER_CALL + 1] = bodies [i];
        params [calls * PER_CALL + 2] = etags [i] ? etags [i] : "";
        params [calls * PER_CALL + 3] = keep;
        calls++;
    }
    int stored = -1;
    if (mg_redis_eval_many (redis, s_put, calls, 1, 3, params, replies, why, whylen) == 0) {
        stored = 0;
        for (size_t i = 0; i < calls; i++)
            stored += replies [i] != NULL;
    }
    for (size_t i = 0; i < calls; i++)
        if (replies [i])
            freeReplyObject (replies [i]);
    free (params);
    free (replies);
    return stored;
}

int
cache_touch (mg_redis_t *redis, const char *key, char *why, size_t whylen)
{
    assert (redis && key && why);
    char keep [24];
    snprintf (keep, sizeof keep, "%d", CACHE_KEEP_S);
    const char *keys [] = { key };
    const char *argv [] = { keep };
    redisReply *reply = mg_redis_eval (redis, s_touch, 1, keys, 1, argv, why, whylen);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1 ? 0 : -1;
    if (rc)
        snprintf (why, whylen, "no cached entry to revalidate");
    freeReplyObject (reply);
    return rc;
}

void
cache_entry_clear (cache_entry_t *entry)
{
    if (entry) {
        free (entry->body);
        entry->body = NULL;
        entry->body_len = 0;
    }
}
