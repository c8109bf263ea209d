/*  The query-embedding cache: Redis key "mg:emb:<model>:<sha256 of the
    text>" holds the vector's dims float32 (host order), or an empty string
    when the text has nothing to embed, for ttl_s (5 minutes by default: a
    repeated query - paging, a refresh - skips the model, while a model
    change needs no invalidation since the model is in the key). One client
    of lib/mg_redis.h per worker thread, each call bounded by
    REDIS_TIMEOUT_MS: a slow or absent Redis makes the cache a miss, never
    an error, and after a timeout the cache is not tried for BACKOFF_MS.  */
#include "embedder.h"
#include "mg_redis.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_TIMEOUT_MS  50        //  a cache slower than this is worse than none
#define BACKOFF_MS        1000      //  after a timeout, do not try Redis sooner

struct embedder_cache_t {
    mg_redis_t *redis;
    int ttl_s;
};

embedder_cache_t *
embedder_cache_new (const char *url, int ttl_s)
{
    assert (url);
    embedder_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ttl_s = ttl_s;
    self->redis = mg_redis_new (url, REDIS_TIMEOUT_MS, BACKOFF_MS);
    if (!self->redis) {
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
        mg_redis_destroy (&(*self_p)->redis);
        free (*self_p);
        *self_p = NULL;
    }
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
    char key [256], why [256];
    s_key (model, text, key);
    const char *argv [] = { "GET", key };
    redisReply *reply = mg_redis_command (self->redis, 2, argv, why, sizeof why);
    if (!reply)
        return -1;
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
    char key [256], ttl [16], why [256];
    s_key (model, text, key);
    snprintf (ttl, sizeof ttl, "%d", self->ttl_s);
    const char *argv [] = { "SET", key, vector ? (const char *) vector : "", "EX", ttl };
    const size_t lens [] = { 3, strlen (key), vector ? (size_t) dims * sizeof *vector : 0, 2, strlen (ttl) };
    redisReply *reply = mg_redis_command_len (self->redis, 5, argv, lens, why, sizeof why);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}
