/*  The search result cache: GET /api/v1/search answers kept in Redis and
    served by the gateway itself, with no bus round trip on a hit.

    Key: <prefix><request hash>:<generation>. The request hash is BLAKE2b
    of REPLY_SHAPE and the bound request (the msgpack the search replica
    would get: every parameter, q and filters, in one canonical order).
    The generation "C.A"
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
    connection per gateway thread, on the thread's libevent loop.

    Deadlines: hiredis 0.14 has no timeouts for asynchronous commands, so
    every command carries a libevent timer of ours. A look-up not answered
    within MG_SEARCH_CACHE_TIMEOUT_MS is given up: the request is forwarded
    uncached and counted (outcome "timeout"); its late reply, if any, is
    dropped. Any command unanswered for STALL_MS means the connection is
    stalled (Redis stopped, a host gone): it is dropped - every look-up
    still waiting on it is forwarded uncached at once - and reopened after
    RECONNECT_MS. Each command's context (s_pending_t) is freed by its
    hiredis callback, which hiredis calls exactly once: with the reply, or
    with NULL when the connection closes or is freed.

    The details cache (GET /api/v1/content/{id}) rides on the same
    connection, look-up deadline and fail-open rules, with keys of its own:
    <details prefix><request hash>:<E>.<V>, where V is the title's version
    <details prefix>v:<id> and E the epoch <details prefix>epoch. The
    catalog replicas raise V on every content.changed or
    availability.changed of the title, and E when events may have been
    missed (actors/catalog/follow.c), so a change retires the title's
    entries; one script reads E, V and the entry. A miss stores its answer
    under the E.V read before the call: a race with a change stores it
    under a number that is no longer looked up. An entry lives
    MG_DETAILS_CACHE_TTL_S at most and never past the earliest expires_at
    of the offers it shows: an offer leaves by time, with no event.

    The discover cache (GET /api/v1/discover) shares the search cache's
    keys, generation and TTL: <prefix><hash>:<generation>, the hash taken
    over the bus method too (an empty discover and an empty search bind the
    same bytes). A miss stores its answer under the generation read before
    the call with no further check: the catalog reads PostgreSQL, and a
    search replica publishes a generation only after applying an event,
    which is sent only after its change is committed, so an answer is
    never older than the generation read before it. An entry lives
    MG_SEARCH_CACHE_TTL_S at most and never past the earliest expires_at of
    the offers its items show, as a details entry. For that long at most,
    the total may still count a title of another page whose offer has
    left, and a page whose offers_region differs from its region= filter
    an item whose matching offer has left.  */
#include "gw_cache.h"
#include "gw_forward.h"
#include "gw_metrics.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_uuid.h"

#include <assert.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_MS   1000        //  Redis unreachable or stalled: try again after this long
#define STALL_MS       1000        //  a command unanswered this long: the connection is stalled
#define HASH_BYTES     16          //  BLAKE2b-128 of the bound request: collisions are out of reach
//  Hashed ahead of the bound request: raised whenever a cached reply's JSON
//  changes shape, so a gateway never serves an entry an older one stored
//  under the same request (2: list items' offers grouped by platform).
#define REPLY_SHAPE    "reply-shape-2:"

//  KEYS[1]: the generation key; ARGV[1]: the entry's key without the
//  generation. Returns {generation, entry or nil}.
static const char s_lookup [] =
    "local g = redis.call('GET', KEYS[1]) or '0.0'\n"
    "return {g, redis.call('GET', ARGV[1] .. g)}\n";

//  KEYS[1]: the details epoch, KEYS[2]: the title's version; ARGV[1]: the
//  entry's key without them. Returns {"E.V", entry or nil}.
static const char s_lookup_details [] =
    "local g = (redis.call('GET', KEYS[1]) or '0') .. '.' .. (redis.call('GET', KEYS[2]) or '0')\n"
    "return {g, redis.call('GET', ARGV[1] .. g)}\n";

#define UUID_TEXT      MG_UUID_TEXT_LEN
#define DETAILS_PATH   "/api/v1/content/"

struct gw_cache_t {
    struct event_base *base;
    redisAsyncContext *redis;      //  NULL when not connected
    char host [256];
    int port, db;
    uint32_t ttl_s;
    char gen_key [GW_CACHE_PREFIX_MAX + 8];
    char prefix [GW_CACHE_PREFIX_MAX + 1];
    char sha [41];                 //  of s_lookup once loaded on this connection, else empty
    char sha_details [41];         //  of s_lookup_details, the same way
    uint32_t details_ttl_s;        //  MG_DETAILS_CACHE_TTL_S: 0 = details not cached
    char details_prefix [GW_CACHE_PREFIX_MAX + 1];
    char details_epoch [GW_CACHE_PREFIX_MAX + 8];
    uint32_t lookup_ms;            //  MG_SEARCH_CACHE_TIMEOUT_MS
    int64_t retry_at_us;
    bool down;                     //  an outage was logged
    bool connected_once;           //  later connections count as reconnections
    bool closing;
    gw_metrics_t *metrics;
    struct event *flush;           //  active: commands of this loop turn wait to be written
    bool flush_pending;
};

typedef struct s_pending_t s_pending_t;

//  What to do with a command's reply (NULL: the connection is gone).
typedef void (s_done_fn) (gw_cache_t *self, s_pending_t *pending, redisReply *reply);

//  One command in flight and its deadline.
struct s_pending_t {
    gw_cache_t *self;
    struct event *timer;
    s_done_fn *done;               //  NULL: the reply is not needed
    gw_request_t *request;         //  a look-up's request while it waits; NULL once forwarded
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
    else {
        if (self->connected_once)
            gw_metrics_redis (self->metrics, GW_REDIS_RECONNECTED);
        self->connected_once = true;
        if (self->down) {
            mg_info ("search cache reachable again", NULL);
            self->down = false;
        }
    }
}

//  hiredis: the connection closed (hiredis frees it).
static void
s_on_disconnect (const redisAsyncContext *redis, int status)
{
    gw_cache_t *self = redis->data;
    self->redis = NULL;
    self->sha [0] = '\0';
    self->sha_details [0] = '\0';
    if (status != REDIS_OK && !self->closing)
        s_down (self, redis->errstr);
}

//  SCRIPT LOAD answered: later lookups send the SHA1, not the script.
static void
s_on_loaded (gw_cache_t *self, s_pending_t *pending, redisReply *reply)
{
    (void) pending;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy (self->sha, reply->str, 41);
}

//  The same for the details look-up.
static void
s_on_loaded_details (gw_cache_t *self, s_pending_t *pending, redisReply *reply)
{
    (void) pending;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy (self->sha_details, reply->str, 41);
}

//  hiredis: a command's reply, or NULL when the connection went. Runs the
//  command's done, then frees its context.
static void
s_on_reply (redisAsyncContext *redis, void *reply, void *arg)
{
    (void) redis;
    s_pending_t *pending = arg;
    event_free (pending->timer);
    if (pending->done)
        pending->done (pending->self, pending, reply);
    free (pending);
}

//  Drop a stalled connection: hiredis answers every command still waiting
//  on it with NULL (their look-ups are forwarded uncached).
static void
s_drop (gw_cache_t *self, const char *reason)
{
    redisAsyncContext *redis = self->redis;
    if (!redis)
        return;
    gw_metrics_redis (self->metrics, GW_REDIS_STALLED);
    s_down (self, reason);
    redisAsyncFree (redis);
    //  A connection that never completed gets no disconnect callback.
    self->redis = NULL;
    self->sha [0] = '\0';
    self->sha_details [0] = '\0';
}

static void s_forward_uncached (gw_request_t *request, gw_cache_outcome_t outcome);

//  Write the commands of this loop turn now, at the end of the turn's
//  callbacks. hiredis would enable the connection's write event and write
//  in the next turn, then disable it: two epoll_ctl calls per turn with
//  commands and a turn of delay for every look-up. Written in the same
//  turn, the enable and the disable cancel out in libevent's changelist;
//  what cannot be written at once keeps the write event, as before.
static void
s_on_flush (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_cache_t *self = arg;
    self->flush_pending = false;
    if (self->redis && (self->redis->c.flags & REDIS_CONNECTED))
        redisAsyncHandleWrite (self->redis);
}

//  A command was queued on the connection: have it written this turn.
static void
s_flush_soon (gw_cache_t *self)
{
    if (!self->flush_pending && self->flush) {
        self->flush_pending = true;
        event_active (self->flush, EV_TIMEOUT, 0);
    }
}

//  A command's timer: a look-up past its deadline is forwarded uncached
//  (the command keeps running until STALL_MS); any command past STALL_MS
//  drops the connection.
static void
s_on_deadline (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_pending_t *pending = arg;
    gw_cache_t *self = pending->self;
    if (pending->request) {
        gw_request_t *request = pending->request;
        pending->request = NULL;
        if (self->lookup_ms < STALL_MS) {
            struct timeval rest = { 0, (suseconds_t) (STALL_MS - self->lookup_ms) * 1000 };
            evtimer_add (pending->timer, &rest);
        }
        else
            s_drop (self, "a search cache look-up was not answered in time");
        s_forward_uncached (request, GW_CACHE_TIMEOUT);
        return;
    }
    s_drop (self, "Redis stalled: a command unanswered for 1 s");
}

//  Send a command with its deadline: done gets its reply; request (may be
//  NULL) is a look-up's request, forwarded uncached past timeout_ms.
//  Returns 0, or -1 when it could not be sent (done is not called).
static int
s_send (gw_cache_t *self, s_done_fn *done, gw_request_t *request, uint32_t timeout_ms, const char *format, ...)
{
    assert (self->redis);
    s_pending_t *pending = calloc (1, sizeof *pending);
    if (!pending)
        return -1;
    pending->self = self;
    pending->done = done;
    pending->request = request;
    pending->timer = evtimer_new (self->base, s_on_deadline, pending);
    struct timeval deadline = { (time_t) (timeout_ms / 1000), (suseconds_t) (timeout_ms % 1000) * 1000 };
    if (!pending->timer || evtimer_add (pending->timer, &deadline)) {
        if (pending->timer)
            event_free (pending->timer);
        free (pending);
        return -1;
    }
    va_list args;
    va_start (args, format);
    int rc = redisvAsyncCommand (self->redis, s_on_reply, pending, format, args);
    va_end (args);
    if (rc != REDIS_OK) {
        event_free (pending->timer);
        free (pending);
        return -1;
    }
    s_flush_soon (self);
    return 0;
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
    self->sha_details [0] = '\0';
    if (self->db)
        s_send (self, NULL, NULL, STALL_MS, "SELECT %d", self->db);
    s_send (self, s_on_loaded, NULL, STALL_MS, "SCRIPT LOAD %s", s_lookup);
    s_send (self, s_on_loaded_details, NULL, STALL_MS, "SCRIPT LOAD %s", s_lookup_details);
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
    self->lookup_ms = config->cache_timeout_ms ? config->cache_timeout_ms : 1;
    if (mg_config_redis_url (config->redis_url, self->host, sizeof self->host, &self->port, &self->db)) {
        mg_error ("bad MG_REDIS_URL (redis://host[:port][/db])", NULL);
        free (self);
        return NULL;
    }
    snprintf (self->prefix, sizeof self->prefix, "%s", config->cache_prefix);
    snprintf (self->gen_key, sizeof self->gen_key, "%sgen", config->cache_prefix);
    self->details_ttl_s = config->details_ttl_s;
    snprintf (self->details_prefix, sizeof self->details_prefix, "%s", config->details_prefix);
    snprintf (self->details_epoch, sizeof self->details_epoch, "%sepoch", config->details_prefix);
    self->flush = event_new (base, -1, 0, s_on_flush, self);
    if (!self->flush) {
        free (self);
        return NULL;
    }
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
        if (self->flush)
            event_free (self->flush);
        free (self);
        *self_p = NULL;
    }
}

//  True when the query string has a parameter called name.
static bool
s_has_param (const char *query, size_t len, const char *name)
{
    const char *value;
    size_t value_len;
    return gw_query_param (query, len, name, &value, &value_len);
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

//  True for a request of the details route.
static bool
s_is_details (const gw_request_t *request)
{
    return request->route->reply == &mg_content_details_desc;
}

//  True for a request of the discover route (a request of neither this
//  nor the details route is a search).
static bool
s_is_discover (const gw_request_t *request)
{
    return request->route->bus && strcmp (request->route->bus, GW_CACHE_DISCOVER_METHOD) == 0;
}

//  Count outcome for request's cache (details, discover or search).
static void
s_count (gw_request_t *request, gw_cache_outcome_t outcome)
{
    if (s_is_details (request))
        gw_metrics_details_cache (request->metrics, outcome);
    else
    if (s_is_discover (request))
        gw_metrics_discover_cache (request->metrics, outcome);
    else
        gw_metrics_cache (request->metrics, outcome);
}

//  The title id of a details request path as the catalog writes it (lower
//  case) into id. Returns 0, or -1 when the path holds no canonical UUID
//  (such a request is forwarded uncached: the catalog refuses it).
static int
s_details_id (const gw_request_t *request, char id [UUID_TEXT + 1])
{
    size_t skip = strlen (DETAILS_PATH);
    if (request->path_len != skip + UUID_TEXT || strncmp (request->uri, DETAILS_PATH, skip) != 0)
        return -1;
    return mg_uuid_lower (request->uri + skip, UUID_TEXT, id);
}

//  Forward request without the cache, counted as outcome.
static void
s_forward_uncached (gw_request_t *request, gw_cache_outcome_t outcome)
{
    uint8_t *body = request->cache_body;
    request->cache_body = NULL;
    s_count (request, outcome);
    gw_forward (request, &body, request->cache_len);
}

//  The lookup answered (reply NULL: the connection is gone).
static void
s_on_lookup (gw_cache_t *self, s_pending_t *pending, redisReply *reply)
{
    gw_request_t *request = pending->request;
    if (!request)
        return;                 //  given up at its deadline: already forwarded
    if (self->closing) {
        free (request->cache_body);
        request->cache_body = NULL;
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
    &&  reply->element [0]->type == REDIS_REPLY_STRING && reply->element [0]->len < sizeof request->cache_gen) {
        redisReply *entry = reply->element [1];
        if (entry->type == REDIS_REPLY_STRING) {
            free (request->cache_body);
            request->cache_body = NULL;
            s_count (request, GW_CACHE_HIT);
            evhttp_add_header (evhttp_request_get_output_headers (request->http), "X-Cache", "hit");
            gw_reply_json (request, 200, entry->str, entry->len);
            return;
        }
        memcpy (request->cache_gen, reply->element [0]->str, reply->element [0]->len + 1);
        request->cache_store = true;
        request->store = gw_cache_store;
        evhttp_add_header (evhttp_request_get_output_headers (request->http), "X-Cache", "miss");
        s_forward_uncached (request, GW_CACHE_MISS);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        if (strncmp (reply->str, "NOSCRIPT", 8) == 0 && self->redis) {
            self->sha [0] = '\0';
            self->sha_details [0] = '\0';
            s_send (self, s_on_loaded, NULL, STALL_MS, "SCRIPT LOAD %s", s_lookup);
            s_send (self, s_on_loaded_details, NULL, STALL_MS, "SCRIPT LOAD %s", s_lookup_details);
        }
        else
            mg_warn ("search cache lookup failed: serving uncached", "reason=\"%.200s\"", reply->str);
    }
    s_forward_uncached (request, GW_CACHE_UNAVAILABLE);
}

void
gw_cache_forward (gw_request_t *request, uint8_t **body_p, size_t len)
{
    assert (request && body_p);
    gw_cache_t *self = request->cache;
    request->cache_store = false;
    bool details = s_is_details (request);
    char id [UUID_TEXT + 1];
    if (!self || (details ? self->details_ttl_s == 0 || s_details_id (request, id)
                          : self->ttl_s == 0 || s_has_param (request->query, request->query_len, "explain"))) {
        gw_forward (request, body_p, len);
        return;
    }
    if (!self->redis && gw_now_us () >= self->retry_at_us)
        s_connect (self);
    if (!self->redis) {
        s_count (request, GW_CACHE_UNAVAILABLE);
        gw_forward (request, body_p, len);
        return;
    }
    uint8_t hash [HASH_BYTES];
    crypto_generichash_state state;
    //  Discover's keys hash its method first (with its NUL); search keys
    //  the request alone, so entries stored before discover was cached
    //  still count.
    const char *method = s_is_discover (request) ? GW_CACHE_DISCOVER_METHOD : "";
    if (crypto_generichash_init (&state, NULL, 0, sizeof hash)
    ||  crypto_generichash_update (&state, (const uint8_t *) REPLY_SHAPE, sizeof REPLY_SHAPE - 1)
    ||  (*method && crypto_generichash_update (&state, (const uint8_t *) method, strlen (method) + 1))
    ||  crypto_generichash_update (&state, *body_p, len)
    ||  crypto_generichash_final (&state, hash, sizeof hash)) {
        gw_forward (request, body_p, len);
        return;
    }
    char hex [HASH_BYTES * 2 + 1];
    sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
    snprintf (request->cache_key, sizeof request->cache_key, "%s%s:",
              details ? self->details_prefix : self->prefix, hex);
    request->cache_body = *body_p;
    request->cache_len = len;
    int rc;
    if (details) {
        char version [GW_CACHE_PREFIX_MAX + 3 + UUID_TEXT];
        snprintf (version, sizeof version, "%sv:%s", self->details_prefix, id);
        rc = self->sha_details [0]
           ? s_send (self, s_on_lookup, request, self->lookup_ms, "EVALSHA %s 2 %s %s %s",
                     self->sha_details, self->details_epoch, version, request->cache_key)
           : s_send (self, s_on_lookup, request, self->lookup_ms, "EVAL %s 2 %s %s %s",
                     s_lookup_details, self->details_epoch, version, request->cache_key);
    }
    else
        rc = self->sha [0]
           ? s_send (self, s_on_lookup, request, self->lookup_ms, "EVALSHA %s 1 %s %s",
                     self->sha, self->gen_key, request->cache_key)
           : s_send (self, s_on_lookup, request, self->lookup_ms, "EVAL %s 1 %s %s",
                     s_lookup, self->gen_key, request->cache_key);
    if (rc) {
        request->cache_body = NULL;
        s_count (request, GW_CACHE_UNAVAILABLE);
        gw_forward (request, body_p, len);
        return;
    }
    *body_p = NULL;
}

//  Epoch milliseconds of an RFC 3339 UTC time as the catalog writes it
//  ("YYYY-MM-DDTHH:MM:SSZ"). Returns 0, or -1 for any other text.
static int
s_rfc3339_ms (const char *text, int64_t *ms)
{
    struct tm tm = { 0 };
    char zone = 0, end = 0;
    if (sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &zone, &end) != 7 || zone != 'Z')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t at = timegm (&tm);
    if (at == (time_t) -1)
        return -1;
    *ms = (int64_t) at * 1000;
    return 0;
}

//  Epoch milliseconds now.
static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Cut *life (ms from now_ms) at an offer's expires_at (NULL: never).
//  Returns 0, or -1 for an unreadable time, which counts as already passed.
static int
s_cut_life (const char *expires, int64_t now_ms, int64_t *life)
{
    int64_t at;
    if (!expires)
        return 0;
    if (s_rfc3339_ms (expires, &at))
        return -1;
    if (at - now_ms < *life)
        *life = at - now_ms;
    return 0;
}

//  How long a details answer may be kept: the TTL, cut at the earliest
//  expires_at of its offers (0: do not keep it).
static int64_t
s_details_life_ms (const gw_cache_t *self, const mg_content_details_t *details)
{
    int64_t now_ms = s_now_ms ();
    int64_t life = (int64_t) self->details_ttl_s * 1000;
    for (size_t i = 0; i < details->offers_count; i++)
        if (s_cut_life (details->offers [i].expires_at, now_ms, &life))
            return 0;
    return life > 0 ? life : 0;
}

//  How long a discover page may be kept: the TTL, cut at the earliest
//  expires_at of the offers its items show (0: do not keep it): an offer
//  leaves by time, with no event.
static int64_t
s_list_life_ms (const gw_cache_t *self, const mg_content_list_t *list)
{
    int64_t now_ms = s_now_ms ();
    int64_t life = (int64_t) self->ttl_s * 1000;
    for (size_t i = 0; i < list->results_count; i++) {
        const mg_content_item_t *item = &list->results [i];
        for (size_t g = 0; g < item->availability_count; g++)
            for (size_t o = 0; o < item->availability [g].offers_count; o++)
                if (s_cut_life (item->availability [g].offers [o].expires_at, now_ms, &life))
                    return 0;
    }
    return life > 0 ? life : 0;
}

void
gw_cache_store (gw_request_t *request, const void *reply, struct evbuffer *out)
{
    assert (request && reply && out);
    gw_cache_t *self = request->cache;
    if (!request->cache_store || !self || !self->redis)
        return;
    request->cache_store = false;
    int64_t life_ms;
    if (s_is_details (request)) {
        life_ms = s_details_life_ms (self, reply);
        if (life_ms == 0)
            return;             //  an offer it shows expires now
    }
    else
    if (s_is_discover (request)) {
        life_ms = s_list_life_ms (self, reply);
        if (life_ms == 0)
            return;             //  an offer it shows expires now
    }
    else {
        uint64_t read [2], answered [2];
        const char *generation = ((const mg_search_reply_t *) reply)->generation;
        if (s_parse_gen (request->cache_gen, read) || s_parse_gen (generation, answered)
        ||  answered [0] < read [0] || answered [1] < read [1])
            return;             //  the replica lags the generation read: not stored
        life_ms = (int64_t) self->ttl_s * 1000;
    }
    size_t len = evbuffer_get_length (out);
    const unsigned char *data = evbuffer_pullup (out, -1);
    if (!data)
        return;
    if (s_send (self, NULL, NULL, STALL_MS, "SET %s%s %b PX %lld", request->cache_key,
                request->cache_gen, data, len, (long long) life_ms) == 0)
        s_count (request, GW_CACHE_STORE);
}
