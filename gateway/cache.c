/*  The search result cache: GET /api/v1/search answers kept in Redis and
    served by the gateway itself, with no bus round trip on a hit.

    Key: <prefix><request hash>:<generation>. The request hash is BLAKE2b
    of the bound request (the msgpack the search replica would get: every
    parameter, q and filters, in one canonical order). The generation "C.A"
    is what the search replicas publish in <prefix>gen (actors/search/gen.c):
    the last applied content.changed and availability.changed numbers. One
    script reads the generation and the entry in one round trip; a change
    event moves the generation, so every older entry stops being looked up
    (and expires by TTL). On a miss the answer is stored under the
    generation read before the call only when the replica that answered
    had applied at least that generation (its reply's "generation"): a
    lagging replica's page is never stored under a newer key.

    Not cached: requests with an explain parameter, answers other than 200.
    Fail open: without Redis (down, refused, an error reply) the request is
    forwarded as if there were no cache; the outage is logged once and a
    reconnect is tried at most every RECONNECT_MS. One asynchronous hiredis
    connection per gateway thread, on the thread's libevent loop.  */
#include "gateway.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MS   1000        //  Redis unreachable: try again after this long
#define HASH_BYTES     16          //  BLAKE2b-128 of the bound request: collisions are out of reach

//  KEYS[1]: the generation key; ARGV[1]: the entry's key without the
//  generation. Returns {generation, entry or nil}.
static const char s_lookup [] =
    "local g = redis.call('GET', KEYS[1]) or '0.0'\n"
    "return {g, redis.call('GET', ARGV[1] .. g)}\n";

struct gw_cache_t {
    struct event_base *base;
    redisAsyncContext *redis;      //  NULL when not connected
    char host [256];
    int port, db;
    uint32_t ttl_s;
    char gen_key [GW_CACHE_PREFIX_MAX + 8];
    char prefix [GW_CACHE_PREFIX_MAX + 1];
    char sha [41];                 //  of s_lookup once loaded on this connection, else empty
    int64_t retry_at_us;
    bool down;                     //  an outage was logged
    bool closing;
    gw_metrics_t *metrics;
};

//  Log an outage once; keep the connection closed until RECONNECT_MS.
static void
s_down (gw_cache_t *self, const char *reason)
{
    self->retry_at_us = gw_now_us () + RECONNECT_MS * 1000;
    if (!self->down)
        mg_warn ("search cache unavailable: serving uncached", "reason=\"%s\"", reason);
    self->down = true;
}

//  hiredis: the connection is up, or failed.
static void
s_on_connect (const redisAsyncContext *redis, int status)
{
    gw_cache_t *self = redis->data;
    if (status != REDIS_OK) {
        self->redis = NULL;        //  hiredis frees it
        s_down (self, redis->errstr);
    }
    else
    if (self->down) {
        mg_info ("search cache reachable again", NULL);
        self->down = false;
    }
}

//  hiredis: the connection closed (hiredis frees it).
static void
s_on_disconnect (const redisAsyncContext *redis, int status)
{
    gw_cache_t *self = redis->data;
    self->redis = NULL;
    self->sha [0] = '\0';
    if (status != REDIS_OK && !self->closing)
        s_down (self, redis->errstr);
}

//  SCRIPT LOAD answered: later lookups send the SHA1, not the script.
static void
s_on_loaded (redisAsyncContext *redis, void *r, void *arg)
{
    (void) arg;
    gw_cache_t *self = redis->data;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy (self->sha, reply->str, 41);
}

//  Open the connection (asynchronously). Returns 0, or -1 (logged).
static int
s_connect (gw_cache_t *self)
{
    redisAsyncContext *redis = redisAsyncConnect (self->host, self->port);
    if (!redis || redis->err) {
        s_down (self, redis ? redis->errstr : "out of memory");
        if (redis)
            redisAsyncFree (redis);
        return -1;
    }
    redis->data = self;
    if (redisLibeventAttach (redis, self->base) != REDIS_OK) {
        s_down (self, "cannot attach to the event loop");
        redisAsyncFree (redis);
        return -1;
    }
    redisAsyncSetConnectCallback (redis, s_on_connect);
    redisAsyncSetDisconnectCallback (redis, s_on_disconnect);
    self->redis = redis;
    self->sha [0] = '\0';
    if (self->db)
        redisAsyncCommand (redis, NULL, NULL, "SELECT %d", self->db);
    redisAsyncCommand (redis, s_on_loaded, NULL, "SCRIPT LOAD %s", s_lookup);
    return 0;
}

gw_cache_t *
gw_cache_new (struct event_base *base, const gw_config_t *config, gw_metrics_t *metrics)
{
    assert (base && config);
    gw_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->base = base;
    self->metrics = metrics;
    self->ttl_s = config->cache_ttl_s;
    if (mg_config_redis_url (config->redis_url, self->host, sizeof self->host, &self->port, &self->db)) {
        mg_error ("bad MG_REDIS_URL (redis://host[:port][/db])", NULL);
        free (self);
        return NULL;
    }
    snprintf (self->prefix, sizeof self->prefix, "%s", config->cache_prefix);
    snprintf (self->gen_key, sizeof self->gen_key, "%sgen", config->cache_prefix);
    return self;
}

void
gw_cache_destroy (gw_cache_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_cache_t *self = *self_p;
        self->closing = true;
        if (self->redis)
            redisAsyncFree (self->redis);
        free (self);
        *self_p = NULL;
    }
}

//  True when the query string has a parameter called name.
static bool
s_has_param (const char *query, size_t len, const char *name)
{
    size_t name_len = strlen (name);
    size_t at = 0;
    while (at < len) {
        size_t end = at;
        while (end < len && query [end] != '&')
            end++;
        size_t key = at;
        while (key < end && query [key] != '=')
            key++;
        if (key - at == name_len && memcmp (query + at, name, name_len) == 0)
            return true;
        at = end + 1;
    }
    return false;
}

//  Parse "C.A" into two numbers. Returns 0 or -1.
static int
s_parse_gen (const char *text, uint64_t gen [2])
{
    char *end;
    if (!text || !*text)
        return -1;
    gen [0] = strtoull (text, &end, 10);
    if (*end != '.' || end == text)
        return -1;
    const char *second = end + 1;
    gen [1] = strtoull (second, &end, 10);
    return end == second || *end ? -1 : 0;
}

//  The lookup answered (reply NULL: the connection is gone).
static void
s_on_lookup (redisAsyncContext *redis, void *r, void *arg)
{
    gw_cache_t *self = redis->data;
    gw_request_t *request = arg;
    redisReply *reply = r;
    if (self->closing) {
        free (request->cache_body);
        request->cache_body = NULL;
        return;
    }
    uint8_t *body = request->cache_body;
    size_t len = request->cache_len;
    request->cache_body = NULL;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
    &&  reply->element [0]->type == REDIS_REPLY_STRING && reply->element [0]->len < sizeof request->cache_gen) {
        redisReply *entry = reply->element [1];
        if (entry->type == REDIS_REPLY_STRING) {
            free (body);
            gw_metrics_cache (request->metrics, GW_CACHE_HIT);
            evhttp_add_header (evhttp_request_get_output_headers (request->http), "X-Cache", "hit");
            gw_reply_json (request, 200, entry->str, entry->len);
            return;
        }
        memcpy (request->cache_gen, reply->element [0]->str, reply->element [0]->len + 1);
        request->cache_store = true;
        gw_metrics_cache (request->metrics, GW_CACHE_MISS);
        evhttp_add_header (evhttp_request_get_output_headers (request->http), "X-Cache", "miss");
    }
    else {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            if (strncmp (reply->str, "NOSCRIPT", 8) == 0 && self->redis) {
                self->sha [0] = '\0';
                redisAsyncCommand (self->redis, s_on_loaded, NULL, "SCRIPT LOAD %s", s_lookup);
            }
            else
                mg_warn ("search cache lookup failed: serving uncached", "reason=\"%.200s\"", reply->str);
        }
        gw_metrics_cache (request->metrics, GW_CACHE_UNAVAILABLE);
    }
    gw_forward (request, &body, len);
}

void
gw_cache_forward (gw_request_t *request, uint8_t **body_p, size_t len)
{
    assert (request && body_p);
    gw_cache_t *self = request->cache;
    request->cache_store = false;
    if (!self || self->ttl_s == 0 || s_has_param (request->query, request->query_len, "explain")) {
        gw_forward (request, body_p, len);
        return;
    }
    if (!self->redis && gw_now_us () >= self->retry_at_us)
        s_connect (self);
    if (!self->redis) {
        gw_metrics_cache (request->metrics, GW_CACHE_UNAVAILABLE);
        gw_forward (request, body_p, len);
        return;
    }
    uint8_t hash [HASH_BYTES];
    crypto_generichash (hash, sizeof hash, *body_p, len, NULL, 0);
    char hex [HASH_BYTES * 2 + 1];
    sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
    snprintf (request->cache_key, sizeof request->cache_key, "%s%s:", self->prefix, hex);
    request->cache_body = *body_p;
    request->cache_len = len;
    int rc = self->sha [0]
        ? redisAsyncCommand (self->redis, s_on_lookup, request, "EVALSHA %s 1 %s %s",
                             self->sha, self->gen_key, request->cache_key)
        : redisAsyncCommand (self->redis, s_on_lookup, request, "EVAL %s 1 %s %s",
                             s_lookup, self->gen_key, request->cache_key);
    if (rc != REDIS_OK) {
        request->cache_body = NULL;
        gw_metrics_cache (request->metrics, GW_CACHE_UNAVAILABLE);
        gw_forward (request, body_p, len);
        return;
    }
    *body_p = NULL;
}

void
gw_cache_store (gw_request_t *request, const char *generation, struct evbuffer *out)
{
    assert (request && out);
    gw_cache_t *self = request->cache;
    if (!request->cache_store || !self || !self->redis)
        return;
    request->cache_store = false;
    uint64_t read [2], answered [2];
    if (s_parse_gen (request->cache_gen, read) || s_parse_gen (generation, answered)
    ||  answered [0] < read [0] || answered [1] < read [1])
        return;                 //  the replica lags the generation read: not stored
    size_t len = evbuffer_get_length (out);
    const unsigned char *data = evbuffer_pullup (out, -1);
    if (!data)
        return;
    if (redisAsyncCommand (self->redis, NULL, NULL, "SET %s%s %b EX %u", request->cache_key,
                           request->cache_gen, data, len, self->ttl_s) == REDIS_OK)
        gw_metrics_cache (request->metrics, GW_CACHE_STORE);
}
