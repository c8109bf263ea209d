/*  The query-embedding cache: Redis key "mg:emb:<model>:<sha256 of the
    text>" holds the vector's dims float32 (host order), or an empty string
    when the text has nothing to embed, for ttl_s (5 minutes by default: a
    repeated query - paging, a refresh - skips the model, while a model
    change needs no invalidation since the model is in the key). One
    synchronous connection per worker thread, with a timeout: a slow or
    absent Redis makes the cache a miss, never an error.  */
#include "embedder.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_TIMEOUT_MS  50        //  a cache slower than this is worse than none
#define RECONNECT_MS      1000      //  after a failure, do not retry Redis sooner

struct embedder_cache_t {
    char host [256];
    int port, db, ttl_s;
    redisContext *redis;
    int64_t down_until;             //  zclock_mono () before which Redis is not tried
};

embedder_cache_t *
embedder_cache_new (const char *url, int ttl_s)
{
    assert (url);
    embedder_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ttl_s = ttl_s;
    if (mg_config_redis_url (url, self->host, sizeof self->host, &self->port, &self->db)) {
        mg_error ("bad Redis URL (redis://host[:port][/db])", "url=%s", url);
        free (self);
        return NULL;
    }
    return self;
}

void
embedder_cache_destroy (embedder_cache_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        if ((*self_p)->redis)
            redisFree ((*self_p)->redis);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Drop a broken connection and do not retry for RECONNECT_MS.
static void
s_down (embedder_cache_t *self)
{
    if (self->redis)
        redisFree (self->redis);
    self->redis = NULL;
    self->down_until = zclock_mono () + RECONNECT_MS;
}

//  A usable connection, or NULL.
static redisContext *
s_redis (embedder_cache_t *self)
{
    if (self->redis || zclock_mono () < self->down_until)
        return self->redis;
    struct timeval timeout = { 0, REDIS_TIMEOUT_MS * 1000 };
    self->redis = redisConnectWithTimeout (self->host, self->port, timeout);
    if (!self->redis || self->redis->err || redisSetTimeout (self->redis, timeout) != REDIS_OK) {
        mg_warn ("query-embedding cache unavailable", "host=%s port=%d", self->host, self->port);
        s_down (self);
        return NULL;
    }
    if (self->db) {
        redisReply *reply = redisCommand (self->redis, "SELECT %d", self->db);
        bool ok = reply && reply->type == REDIS_REPLY_STATUS;
        if (reply)
            freeReplyObject (reply);
        if (!ok)
            s_down (self);
    }
    return self->redis;
}

//  The key of (model, text) into key.
static void
s_key (const char *model, const char *text, char key [256])
{
    unsigned char hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, (const unsigned char *) text, strlen (text));
    char hex [crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
    snprintf (key, 256, "mg:emb:%.128s:%s", model, hex);
}

int
embedder_cache_get (embedder_cache_t *self, const char *model, const char *text, uint32_t dims,
                    float *out, bool *empty)
{
    assert (self && model && text && out && empty);
    redisContext *redis = s_redis (self);
    if (!redis)
        return -1;
    char key [256];
    s_key (model, text, key);
    redisReply *reply = redisCommand (redis, "GET %s", key);
    if (!reply) {
        s_down (self);
        return -1;
    }
    int rc = 0;
    if (reply->type == REDIS_REPLY_STRING && reply->len == 0) {
        *empty = true;
        rc = 1;
    }
    else
    if (reply->type == REDIS_REPLY_STRING && (size_t) reply->len == dims * sizeof *out) {
        memcpy (out, reply->str, dims * sizeof *out);
        *empty = false;
        rc = 1;
    }
    freeReplyObject (reply);
    return rc;
}

int
embedder_cache_put (embedder_cache_t *self, const char *model, const char *text, uint32_t dims,
                    const float *vector)
{
    assert (self && model && text);
    redisContext *redis = s_redis (self);
    if (!redis)
        return -1;
    char key [256];
    s_key (model, text, key);
    redisReply *reply = redisCommand (redis, "SET %s %b EX %d", key, vector ? (const void *) vector : "",
                                      vector ? (size_t) dims * sizeof *vector : (size_t) 0, self->ttl_s);
    if (!reply) {
        s_down (self);
        return -1;
    }
    freeReplyObject (reply);
    return 0;
}
