/*  mg-provider-sim: a stand-in for the providers the fetcher calls (TMDB v3,
    Streaming Availability, Watchmode, YouTube Data v3, OpenAI embeddings),
    fed from the bundled catalog, with per-key quotas as each provider counts
    them, latency, and faults injected at start (--fault) or at run time
    through the admin API under /_sim/. One libevent loop: latency and slow
    answers are timers and held requests cost nothing, so a few thousand
    concurrent requests each waiting their latency are served at once.

    Usage: mg-provider-sim [--port N] [--bind ADDR] [--catalog PATH]
           [--latency-ms N] [--quota provider=N]... [--fault provider:kind[:rate]]...
           [--seed N] [--verbose]  */
#include "sim.h"
#include "sim_faults.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#define SIM_DEFAULT_PORT        8090
#define SIM_BODY_MAX            (8 * 1024 * 1024)   //  embeddings batches are the largest bodies
#define SIM_HOLD_MAX_MS         300000  //  a "timeout" request is closed unanswered after 5 min
#define SIM_KEY_MAX             256
#define SIM_DAY_S               86400
#define SIM_MINUTE_S            60
#define SIM_BAD_KEY_PREFIX      "invalid"   //  keys starting so are refused as the provider refuses a bad key
#define SIM_STATS_KEYS_MAX      10000   //  distinct keys counted per provider (bounds memory)

//  Default quota per key, from the providers' free plans.
static const long s_default_quota [SIM_PROVIDER_COUNT] = {
    [SIM_TMDB] = 0,                 //  no quota (TMDB rate-limits at its CDN only)
    [SIM_SA] = 100,                 //  requests per minute
    [SIM_WATCHMODE] = 1000,         //  requests per day
    [SIM_YOUTUBE] = 10000,          //  units per day
    [SIM_OPENAI] = 0                //  no quota
};

static const sim_provider_desc_t *const s_providers [SIM_PROVIDER_COUNT] = {
    [SIM_TMDB] = &sim_tmdb_desc, [SIM_SA] = &sim_sa_desc, [SIM_WATCHMODE] = &sim_watchmode_desc,
    [SIM_YOUTUBE] = &sim_youtube_desc, [SIM_OPENAI] = &sim_openai_desc
};

typedef struct self_t self_t;

//  An answer waiting for its latency, or a request held unanswered.
typedef struct pending_t {
    self_t *self;
    struct evhttp_request *req;
    struct event *timer;
    int status;
    bool hold;                      //  a "timeout" fault: close, never answer
    LIST_ENTRY (pending_t) link;
} pending_t;

typedef struct {
    long requests, faults, not_modified;
    json_t *by_key;                 //  key -> requests
    long quota;                     //  units per window per key, 0 = none
    json_t *used;                   //  key -> units used in the current window
    json_t *since;                  //  key -> start of its per-minute window (Unix time)
    long long window;               //  the current day of daily quotas
    long latency_ms;                //  -1: the global latency
} provider_state_t;

struct self_t {
    struct event_base *base;
    struct evhttp *http;
    struct event *signals [2];
    sim_catalog_t *catalog;
    sim_faults_t *faults;
    uint64_t seed;
    long latency_ms;
    bool verbose;
    provider_state_t state [SIM_PROVIDER_COUNT];
    LIST_HEAD (, pending_t) pending;
};

//  ---- answers ----

//  The error body of the admin API (the project's own shape).
static void
s_admin_error (struct evhttp_request *req, int status, const char *code, const char *message)
{
    json_t *body = json_pack ("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps (body, JSON_COMPACT);
    evhttp_add_header (evhttp_request_get_output_headers (req), "Content-Type", "application/json");
    if (text)
        evbuffer_add (evhttp_request_get_output_buffer (req), text, strlen (text));
    evhttp_send_reply (req, status, NULL, NULL);
    free (text);
    json_decref (body);
}

static void
s_admin_reply (struct evhttp_request *req, json_t *body)
{
    char *text = json_dumps (body, JSON_COMPACT);
    evhttp_add_header (evhttp_request_get_output_headers (req), "Content-Type", "application/json");
    if (text)
        evbuffer_add (evhttp_request_get_output_buffer (req), text, strlen (text));
    evhttp_send_reply (req, 200, "OK", NULL);
    free (text);
    json_decref (body);
}

//  Release a pending answer: send it, or close a held request unanswered.
static void
s_pending_finish (pending_t *pending, bool send)
{
    LIST_REMOVE (pending, link);
    if (pending->timer)
        event_free (pending->timer);
    struct evhttp_connection *conn = evhttp_request_get_connection (pending->req);
    if (send || !conn)
        //  A request whose client left is detached by libevent; sending frees it.
        evhttp_send_reply (pending->req, pending->status, NULL, NULL);
    else
        evhttp_connection_free (conn);
    free (pending);
}

static void
s_on_pending (evutil_socket_t fd, short events, void *arg)
{
    (void) fd; (void) events;
    pending_t *pending = arg;
    s_pending_finish (pending, !pending->hold);
}

//  Send now, or after delay_ms, or hold (never answer) when hold.
static void
s_send_later (self_t *self, struct evhttp_request *req, int status, long delay_ms, bool hold)
{
    if (delay_ms <= 0 && !hold) {
        evhttp_send_reply (req, status, NULL, NULL);
        return;
    }
    pending_t *pending = calloc (1, sizeof *pending);
    if (pending)
        pending->timer = evtimer_new (self->base, s_on_pending, pending);
    if (!pending || !pending->timer) {
        free (pending);
        evhttp_send_reply (req, status, NULL, NULL);
        return;
    }
    pending->self = self;
    pending->req = req;
    pending->status = status;
    pending->hold = hold;
    long ms = hold ? SIM_HOLD_MAX_MS : delay_ms;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add (pending->timer, &tv);
    LIST_INSERT_HEAD (&self->pending, pending, link);
}

//  ---- faults that alter a good answer ----

//  Every scalar the wrong JSON type: numbers become strings, strings
//  numbers, booleans strings; containers keep their shape.
static json_t *
s_wrong_types (const json_t *value)
{
    if (json_is_object (value)) {
        json_t *out = json_object ();
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *) value, key, item)
            json_object_set_new (out, key, s_wrong_types (item));
        return out;
    }
    if (json_is_array (value)) {
        json_t *out = json_array ();
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
            json_array_append_new (out, s_wrong_types (item));
        return out;
    }
    if (json_is_string (value))
        return json_integer ((json_int_t) json_string_length (value));
    if (json_is_number (value)) {
        char text [64];
        snprintf (text, sizeof text, "%g", json_number_value (value));
        return json_string (text);
    }
    if (json_is_boolean (value))
        return json_string (json_is_true (value) ? "yes" : "no");
    return json_integer (0);
}

//  ---- quotas and stats ----

//  Count one more for key in map (bounded number of keys).
static long
s_count (json_t *map, const char *key, long add)
{
    json_t *value = json_object_get (map, key);
    if (!value && json_object_size (map) >= SIM_STATS_KEYS_MAX)
        return 0;
    long n = (long) json_integer_value (value) + add;
    json_object_set_new (map, key, json_integer (n));
    return n;
}

//  Start a new quota window where the last one ended: daily quotas reset at
//  00:00 UTC for every key; a per-minute rate runs 60 s from a key's first
//  call in the window. Returns seconds left in key's window.
static long
s_window (provider_state_t *state, bool per_minute, const char *key)
{
    time_t now = time (NULL);
    if (!per_minute) {
        long long day = (long long) now / SIM_DAY_S;
        if (day != state->window) {
            json_object_clear (state->used);
            state->window = day;
        }
        return SIM_DAY_S - (long) (now % SIM_DAY_S);
    }
    json_t *since = json_object_get (state->since, key);
    if (!since || now - (time_t) json_integer_value (since) >= SIM_MINUTE_S) {
        if (json_object_size (state->since) < SIM_STATS_KEYS_MAX)
            json_object_set_new (state->since, key, json_integer (now));
        json_object_del (state->used, key);
        return SIM_MINUTE_S;
    }
    return SIM_MINUTE_S - (long) (now - (time_t) json_integer_value (since));
}

//  Charge call's cost to its key. false (and the provider's error set) when
//  the key's quota is spent; a refused call costs nothing, as with YouTube.
static bool
s_charge (self_t *self, sim_provider_t p, sim_call_t *call)
{
    provider_state_t *state = &self->state [p];
    const sim_provider_desc_t *desc = s_providers [p];
    if (state->quota <= 0)
        return true;
    long left_s = s_window (state, desc->per_minute, call->key);
    long cost = desc->cost (call);
    long used = (long) json_integer_value (json_object_get (state->used, call->key));
    if (used + cost > state->quota) {
        desc->quota_headers (call, state->quota, used, left_s);
        desc->fail (call, desc->per_minute ? SIM_FAIL_RATE_LIMITED : SIM_FAIL_QUOTA, NULL, (int) left_s);
        return false;
    }
    used = s_count (state->used, call->key, cost);
    desc->quota_headers (call, state->quota, used, left_s);
    return true;
}

//  ---- provider requests ----

//  The provider whose prefix starts path, or -1.
static int
s_provider_of (const char *path)
{
    for (int p = 0; p < SIM_PROVIDER_COUNT; p++) {
        size_t n = strlen (s_providers [p]->prefix);
        if (strncmp (path, s_providers [p]->prefix, n) == 0 && (path [n] == '/' || path [n] == '\0'))
            return p;
    }
    return -1;
}

static const char *
s_method_name (enum evhttp_cmd_type cmd)
{
    switch (cmd) {
        case EVHTTP_REQ_GET: return "GET";
        case EVHTTP_REQ_POST: return "POST";
        case EVHTTP_REQ_HEAD: return "HEAD";
        case EVHTTP_REQ_PUT: return "PUT";
        case EVHTTP_REQ_DELETE: return "DELETE";
        case EVHTTP_REQ_OPTIONS: return "OPTIONS";
        case EVHTTP_REQ_PATCH: return "PATCH";
        default: return "OTHER";
    }
}

//  A strong ETag over the body's bytes (FNV-1a 64).
static void
s_etag (const char *text, char *out, size_t size)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = text; *c; c++)
        h = (h ^ (unsigned char) *c) * 1099511628211ULL;
    snprintf (out, size, "\"%016llx\"", (unsigned long long) h);
}

//  Put call's answer on req and send it (after the provider's latency plus
//  fault delay), applying a body-altering fault.
static void
s_answer (self_t *self, sim_provider_t p, struct evhttp_request *req, sim_call_t *call,
          const sim_fault_t *fault)
{
    provider_state_t *state = &self->state [p];
    struct evkeyvalq *out = evhttp_request_get_output_headers (req);
    int kind = fault ? (int) fault->kind : -1;
    if (call->reply && call->status == 200 && kind == SIM_FAULT_WRONG_TYPES) {
        json_t *wrong = s_wrong_types (call->reply);
        json_decref (call->reply);
        call->reply = wrong;
    }
    char *text = call->text ? strdup (call->text)
               : call->reply ? json_dumps (call->reply, JSON_COMPACT | JSON_REAL_PRECISION (10)) : strdup ("");
    if (!text) {
        evhttp_send_error (req, 500, "out of memory");
        return;
    }
    int status = call->status ? call->status : 500;
    for (int i = 0; i < call->header_count; i++)
        evhttp_add_header (out, call->header_names [i], call->header_values [i]);
    evhttp_add_header (out, "Content-Type", call->text ? call->content_type : "application/json;charset=utf-8");
    if (s_providers [p]->etag && status == 200 && (kind < 0 || kind == SIM_FAULT_SLOW)) {
        char etag [24];
        s_etag (text, etag, sizeof etag);
        evhttp_add_header (out, "ETag", etag);
        evhttp_add_header (out, "Cache-Control", "public, max-age=28800");
        const char *match = evhttp_find_header (evhttp_request_get_input_headers (req), "If-None-Match");
        if (match && (strcmp (match, etag) == 0 || strcmp (match, "*") == 0
                      || (strncmp (match, "W/", 2) == 0 && strcmp (match + 2, etag) == 0))) {
            status = 304;
            state->not_modified++;
            *text = '\0';
        }
    }
    size_t len = strlen (text);
    if (status == 200 && kind == SIM_FAULT_TRUNCATED)
        len /= 2;                   //  cut mid-document; Content-Length says the cut length
    if (status == 200 && kind == SIM_FAULT_MALFORMED) {
        static const char garbage [] = "{\"page\":1,\"results\":[{\"id\":12,\"title\":\"Finding Nemo\",}]";
        evbuffer_add (evhttp_request_get_output_buffer (req), garbage, sizeof garbage - 1);
    }
    else
    if (status != 304)
        evbuffer_add (evhttp_request_get_output_buffer (req), text, len);
    free (text);
    long latency = state->latency_ms >= 0 ? state->latency_ms : self->latency_ms;
    if (kind == SIM_FAULT_SLOW)
        latency += fault->delay_ms;
    s_send_later (self, req, status, latency, false);
}

//  Serve one provider request: count it, draw a fault, check the key and
//  its quota, build the answer.
static void
s_provider_request (self_t *self, sim_provider_t p, struct evhttp_request *req, const char *path,
                    struct evkeyvalq *query)
{
    const sim_provider_desc_t *desc = s_providers [p];
    provider_state_t *state = &self->state [p];
    struct evbuffer *input = evhttp_request_get_input_buffer (req);
    size_t body_len = evbuffer_get_length (input);
    char *body = malloc (body_len + 1);
    if (!body) {
        evhttp_send_error (req, 500, "out of memory");
        return;
    }
    evbuffer_copyout (input, body, body_len);
    body [body_len] = '\0';
    sim_call_t call = {
        .catalog = self->catalog, .method = s_method_name (evhttp_request_get_command (req)),
        .path = path + strlen (desc->prefix), .query = query,
        .headers = evhttp_request_get_input_headers (req), .body = body, .body_len = body_len, .key = ""
    };
    char key [SIM_KEY_MAX];
    desc->key (&call, key, sizeof key);
    call.key = key;
    state->requests++;
    s_count (state->by_key, *key ? key : "-", 1);

    sim_fault_t fault;
    bool faulty = sim_faults_draw (self->faults, p, &fault);
    if (faulty) {
        state->faults++;
        if (self->verbose)
            mg_info ("fault", "provider=%s kind=%s path=\"%.200s\"", desc->name, sim_fault_kind_name (fault.kind), path);
    }
    if (faulty && fault.kind == SIM_FAULT_TIMEOUT) {
        s_send_later (self, req, 504, 0, true);
        free (body);
        return;
    }
    static const sim_fail_t fails [SIM_FAULT_KIND_COUNT] = {
        [SIM_FAULT_429] = SIM_FAIL_RATE_LIMITED, [SIM_FAULT_500] = SIM_FAIL_500,
        [SIM_FAULT_502] = SIM_FAIL_502, [SIM_FAULT_503] = SIM_FAIL_503, [SIM_FAULT_QUOTA] = SIM_FAIL_QUOTA
    };
    bool fails_whole = faulty && (fault.kind == SIM_FAULT_429 || fault.kind == SIM_FAULT_500
                                  || fault.kind == SIM_FAULT_502 || fault.kind == SIM_FAULT_503
                                  || fault.kind == SIM_FAULT_QUOTA);
    if (fails_whole) {
        desc->fail (&call, fails [fault.kind], NULL, fault.retry_after_s);
        if (fault.kind == SIM_FAULT_429) {
            bool has = false;
            for (int i = 0; i < call.header_count; i++)
                has = has || strcasecmp (call.header_names [i], "Retry-After") == 0;
            if (!has)
                sim_call_header (&call, "Retry-After", "%d", fault.retry_after_s);
        }
    }
    else
    if (!*key)
        desc->fail (&call, SIM_FAIL_UNAUTHORIZED, NULL, 0);
    else
    if (strncmp (key, SIM_BAD_KEY_PREFIX, strlen (SIM_BAD_KEY_PREFIX)) == 0)
        desc->fail (&call, SIM_FAIL_BAD_KEY, NULL, 0);
    else
    if (s_charge (self, p, &call))
        desc->serve (&call);
    if (self->verbose)
        mg_info ("request", "provider=%s method=%s path=\"%.200s\" status=%d", desc->name, call.method, path, call.status);
    s_answer (self, p, req, &call, faulty && !fails_whole ? &fault : NULL);
    json_decref (call.reply);
    free (call.text);
    free (body);
}

//  ---- admin API ----

static json_t *
s_stats (self_t *self)
{
    json_t *providers = json_object ();
    for (int p = 0; p < SIM_PROVIDER_COUNT; p++) {
        provider_state_t *state = &self->state [p];
        json_object_set_new (providers, s_providers [p]->name, json_pack ("{s:I, s:I, s:I, s:O, s:I, s:O, s:I}",
            "requests", (json_int_t) state->requests, "faults", (json_int_t) state->faults,
            "not_modified", (json_int_t) state->not_modified, "by_key", state->by_key,
            "quota", (json_int_t) state->quota, "quota_used", state->used,
            "latency_ms", (json_int_t) (state->latency_ms >= 0 ? state->latency_ms : self->latency_ms)));
    }
    json_int_t pending = 0;
    pending_t *item;
    LIST_FOREACH (item, &self->pending, link)
        pending++;
    return json_pack ("{s:o, s:I, s:I}", "providers", providers, "latency_ms", (json_int_t) self->latency_ms,
                      "pending", pending);
}

static void
s_reset (self_t *self)
{
    sim_faults_clear (self->faults, SIM_PROVIDER_COUNT);
    for (int p = 0; p < SIM_PROVIDER_COUNT; p++) {
        provider_state_t *state = &self->state [p];
        state->requests = state->faults = state->not_modified = 0;
        json_object_clear (state->by_key);
        json_object_clear (state->used);
        json_object_clear (state->since);
    }
}

static void
s_admin (self_t *self, struct evhttp_request *req, const char *path, struct evkeyvalq *query)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command (req);
    struct evbuffer *input = evhttp_request_get_input_buffer (req);
    size_t len = evbuffer_get_length (input);
    const char *body = len ? (const char *) evbuffer_pullup (input, -1) : "";
    char err [256];
    if (strcmp (path, "/_sim/faults") == 0 && cmd == EVHTTP_REQ_POST) {
        sim_fault_t fault;
        if (sim_fault_from_json (body, len, &fault, err, sizeof err) != 0)
            s_admin_error (req, 400, "BAD_REQUEST", err);
        else
        if (sim_faults_add (self->faults, &fault) != 0)
            s_admin_error (req, 409, "TOO_MANY_FAULTS", "this provider already holds 16 faults; DELETE some first");
        else
            s_admin_reply (req, json_pack ("{s:{s:s, s:s, s:f, s:I, s:i, s:i}}", "fault",
                "provider", sim_provider_name (fault.provider), "fault", sim_fault_kind_name (fault.kind),
                "rate", fault.rate, "count", (json_int_t) fault.count,
                "retry_after", fault.retry_after_s, "delay_ms", fault.delay_ms));
    }
    else
    if (strcmp (path, "/_sim/faults") == 0 && cmd == EVHTTP_REQ_DELETE) {
        const char *name = evhttp_find_header (query, "provider");
        int p = name ? sim_provider_from_name (name, strlen (name)) : SIM_PROVIDER_COUNT;
        if (p < 0)
            s_admin_error (req, 400, "BAD_REQUEST", "provider: one of tmdb, sa, watchmode, youtube, openai");
        else {
            sim_faults_clear (self->faults, (sim_provider_t) p);
            s_admin_reply (req, json_pack ("{s:s}", "cleared", name ? name : "all"));
        }
    }
    else
    if (strcmp (path, "/_sim/latency") == 0 && cmd == EVHTTP_REQ_POST) {
        long ms;
        sim_provider_t p;
        if (sim_latency_from_json (body, len, &ms, &p, err, sizeof err) != 0)
            s_admin_error (req, 400, "BAD_REQUEST", err);
        else {
            if (p == SIM_PROVIDER_COUNT) {
                self->latency_ms = ms;
                for (int i = 0; i < SIM_PROVIDER_COUNT; i++)
                    self->state [i].latency_ms = -1;
            }
            else
                self->state [p].latency_ms = ms;
            s_admin_reply (req, json_pack ("{s:I, s:s}", "ms", (json_int_t) ms,
                                           "provider", p == SIM_PROVIDER_COUNT ? "all" : sim_provider_name (p)));
        }
    }
    else
    if (strcmp (path, "/_sim/stats") == 0 && cmd == EVHTTP_REQ_GET)
        s_admin_reply (req, s_stats (self));
    else
    if (strcmp (path, "/_sim/reset") == 0 && cmd == EVHTTP_REQ_POST) {
        s_reset (self);
        s_admin_reply (req, json_pack ("{s:b}", "reset", 1));
    }
    else
    if (strcmp (path, "/_sim/faults") == 0 || strcmp (path, "/_sim/latency") == 0
    ||  strcmp (path, "/_sim/stats") == 0 || strcmp (path, "/_sim/reset") == 0)
        s_admin_error (req, 405, "METHOD_NOT_ALLOWED", "see docs/simulator.md for the admin API's methods");
    else
        s_admin_error (req, 404, "NOT_FOUND", "admin endpoints: /_sim/faults, /_sim/latency, /_sim/stats, /_sim/reset");
}

//  Turn Nagle off on req's connection: answers larger than a segment would
//  otherwise wait for the client's delayed ACK (~40 ms) on every keep-alive
//  request. (libevent 2.1 has no new-connection hook that sees the socket.)
static void
s_no_delay (struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection (req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent (conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd (bev) : -1;
    int on = 1;
    if (fd >= 0)
        setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

//  Every request: admin, a provider, or 404.
static void
s_on_request (struct evhttp_request *req, void *arg)
{
    self_t *self = arg;
    s_no_delay (req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri (req);
    const char *path = uri ? evhttp_uri_get_path (uri) : NULL;
    const char *query_text = uri ? evhttp_uri_get_query (uri) : NULL;
    struct evkeyvalq query;
    TAILQ_INIT (&query);
    if (!path || (query_text && evhttp_parse_query_str (query_text, &query) != 0)) {
        evhttp_clear_headers (&query);
        s_admin_error (req, 400, "BAD_REQUEST", "the request URI or its query string does not parse");
        return;
    }
    int p = s_provider_of (path);
    if (strncmp (path, "/_sim/", 6) == 0)
        s_admin (self, req, path, &query);
    else
    if (p >= 0)
        s_provider_request (self, (sim_provider_t) p, req, path, &query);
    else
        s_admin_error (req, 404, "NOT_FOUND",
                       "no provider here; prefixes: /tmdb/3, /sa, /watchmode/v1, /youtube/v3, /openai/v1, /_sim");
    evhttp_clear_headers (&query);
}

static void
s_on_signal (evutil_socket_t fd, short events, void *arg)
{
    (void) fd; (void) events;
    event_base_loopexit ((struct event_base *) arg, NULL);
}

//  ---- setup ----

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        self_t *self = *self_p;
        while (!LIST_EMPTY (&self->pending))
            s_pending_finish (LIST_FIRST (&self->pending), false);
        for (int i = 0; i < 2; i++)
            if (self->signals [i])
                event_free (self->signals [i]);
        if (self->http)
            evhttp_free (self->http);
        if (self->base)
            event_base_free (self->base);
        for (int p = 0; p < SIM_PROVIDER_COUNT; p++) {
            json_decref (self->state [p].by_key);
            json_decref (self->state [p].used);
            json_decref (self->state [p].since);
        }
        sim_faults_destroy (&self->faults);
        sim_catalog_destroy (&self->catalog);
        free (self);
        *self_p = NULL;
    }
}

static self_t *
s_self_new (void)
{
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    LIST_INIT (&self->pending);
    for (int p = 0; p < SIM_PROVIDER_COUNT; p++) {
        self->state [p].by_key = json_object ();
        self->state [p].used = json_object ();
        self->state [p].since = json_object ();
        self->state [p].quota = s_default_quota [p];
        self->state [p].latency_ms = -1;
    }
    return self;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: mg-provider-sim [options]\n"
        "  --port N                listen port (MG_SIM_PORT, default 8090)\n"
        "  --bind ADDR             listen address (MG_SIM_BIND, default 127.0.0.1)\n"
        "  --catalog PATH          JSON lines catalog (MG_SIM_CATALOG, default data/catalog.jsonl.gz)\n"
        "  --latency-ms N          delay of every answer (MG_SIM_LATENCY_MS, default 0)\n"
        "  --quota provider=N      per-key quota (youtube units/day 10000, watchmode requests/day 1000,\n"
        "                          sa requests/minute 100, tmdb and openai 0 = none)\n"
        "  --fault provider:kind[:rate]  inject a fault from the start (repeatable)\n"
        "  --seed N                seed of the fault draws (MG_SIM_SEED, default 1)\n"
        "  --drift-period-s N      popularity drifts by up to 25 %% over this period\n"
        "                          (MG_SIM_DRIFT_PERIOD_S, default 345600 = 4 days; 0 = no drift)\n"
        "  (MG_SIM_QUOTA and MG_SIM_FAULTS take --quota / --fault values, comma-separated)\n"
        "  --verbose               log every request\n");
}

//  Parse --quota provider=N into self. 0 or -1 (reported).
static int
s_parse_quota (self_t *self, const char *spec)
{
    const char *eq = strchr (spec, '=');
    int p = eq ? sim_provider_from_name (spec, (size_t) (eq - spec)) : -1;
    char *end = NULL;
    long value = eq ? strtol (eq + 1, &end, 10) : -1;
    if (p < 0 || !end || end == eq + 1 || *end || value < 0) {
        fprintf (stderr, "mg-provider-sim: --quota %s: provider=N with a known provider and N >= 0 is required\n", spec);
        return -1;
    }
    self->state [p].quota = value;
    return 0;
}

int
main (int argc, char **argv)
{
    mg_log_init ("provider-sim");
    self_t *self = s_self_new ();
    if (!self)
        return 1;
    long port = (long) mg_config_int ("MG_SIM_PORT", SIM_DEFAULT_PORT, 1, 65535);
    const char *bind = mg_config_str ("MG_SIM_BIND", "127.0.0.1");
    const char *catalog = mg_config_str ("MG_SIM_CATALOG", "data/catalog.jsonl.gz");
    self->latency_ms = (long) mg_config_int ("MG_SIM_LATENCY_MS", 0, 0, SIM_LATENCY_MAX_MS);
    self->seed = (uint64_t) mg_config_int ("MG_SIM_SEED", 1, 0, INT64_MAX);
    long drift_s = (long) mg_config_int ("MG_SIM_DRIFT_PERIOD_S", SIM_DRIFT_PERIOD_DEFAULT_S, 0, SIM_DRIFT_PERIOD_MAX_S);
    enum { OPT_PORT = 1, OPT_BIND, OPT_CATALOG, OPT_LATENCY, OPT_QUOTA, OPT_FAULT, OPT_SEED, OPT_VERBOSE, OPT_HELP,
           OPT_DRIFT };
    static const struct option options [] = {
        { "port", required_argument, NULL, OPT_PORT }, { "bind", required_argument, NULL, OPT_BIND },
        { "catalog", required_argument, NULL, OPT_CATALOG }, { "latency-ms", required_argument, NULL, OPT_LATENCY },
        { "quota", required_argument, NULL, OPT_QUOTA }, { "fault", required_argument, NULL, OPT_FAULT },
        { "seed", required_argument, NULL, OPT_SEED }, { "verbose", no_argument, NULL, OPT_VERBOSE },
        { "help", no_argument, NULL, OPT_HELP }, { "drift-period-s", required_argument, NULL, OPT_DRIFT },
        { NULL, 0, NULL, 0 }
    };
    sim_fault_t start_faults [SIM_PROVIDER_COUNT * SIM_FAULTS_MAX];
    int fault_count = 0, opt, rc = 1;
    char err [256], *end;
    //  MG_SIM_QUOTA / MG_SIM_FAULTS: the options' values, comma-separated.
    char list [1024];
    snprintf (list, sizeof list, "%s", mg_config_str ("MG_SIM_QUOTA", ""));
    char *save = NULL;
    for (char *spec = strtok_r (list, ",", &save); spec; spec = strtok_r (NULL, ",", &save))
        if (s_parse_quota (self, spec) != 0)
            goto done;
    snprintf (list, sizeof list, "%s", mg_config_str ("MG_SIM_FAULTS", ""));
    for (char *spec = strtok_r (list, ",", &save); spec; spec = strtok_r (NULL, ",", &save)) {
        if (fault_count == (int) (sizeof start_faults / sizeof *start_faults)
        ||  sim_fault_from_spec (spec, &start_faults [fault_count], err, sizeof err) != 0) {
            fprintf (stderr, "mg-provider-sim: MG_SIM_FAULTS: %s\n", fault_count < (int) (sizeof start_faults / sizeof *start_faults) ? err : "too many faults");
            goto done;
        }
        fault_count++;
    }
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case OPT_PORT:
                port = strtol (optarg, &end, 10);
                if (*end || port < 1 || port > 65535) {
                    fprintf (stderr, "mg-provider-sim: --port %s: a port from 1 to 65535 is required\n", optarg);
                    goto done;
                }
                break;
            case OPT_BIND: bind = optarg; break;
            case OPT_CATALOG: catalog = optarg; break;
            case OPT_LATENCY:
                self->latency_ms = strtol (optarg, &end, 10);
                if (*end || self->latency_ms < 0 || self->latency_ms > SIM_LATENCY_MAX_MS) {
                    fprintf (stderr, "mg-provider-sim: --latency-ms %s: 0 to %d is required\n", optarg, SIM_LATENCY_MAX_MS);
                    goto done;
                }
                break;
            case OPT_QUOTA:
                if (s_parse_quota (self, optarg) != 0)
                    goto done;
                break;
            case OPT_FAULT:
                if (fault_count == (int) (sizeof start_faults / sizeof *start_faults)) {
                    fprintf (stderr, "mg-provider-sim: too many --fault options\n");
                    goto done;
                }
                if (sim_fault_from_spec (optarg, &start_faults [fault_count], err, sizeof err) != 0) {
                    fprintf (stderr, "mg-provider-sim: %s\n", err);
                    goto done;
                }
                fault_count++;
                break;
            case OPT_SEED:
                self->seed = strtoull (optarg, &end, 10);
                if (*end || !*optarg) {
                    fprintf (stderr, "mg-provider-sim: --seed %s: an unsigned integer is required\n", optarg);
                    goto done;
                }
                break;
            case OPT_DRIFT:
                drift_s = strtol (optarg, &end, 10);
                if (*end || !*optarg || drift_s < 0 || drift_s > SIM_DRIFT_PERIOD_MAX_S) {
                    fprintf (stderr, "mg-provider-sim: --drift-period-s %s: 0 to %d is required\n", optarg,
                             SIM_DRIFT_PERIOD_MAX_S);
                    goto done;
                }
                break;
            case OPT_VERBOSE: self->verbose = true; break;
            case OPT_HELP: s_usage (stdout); rc = 0; goto done;
            default: s_usage (stderr); goto done;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "mg-provider-sim: unexpected argument '%s'\n", argv [optind]);
        goto done;
    }
    sim_catalog_set_drift (drift_s);
    self->catalog = sim_catalog_new (catalog, err, sizeof err);
    if (!self->catalog) {
        mg_error ("cannot load the catalog", "reason=\"%s\"", err);
        goto done;
    }
    self->faults = sim_faults_new (self->seed);
    self->base = event_base_new ();
    self->http = self->base ? evhttp_new (self->base) : NULL;
    if (!self->faults || !self->http) {
        mg_error ("cannot set up", "reason=\"out of memory\"");
        goto done;
    }
    for (int i = 0; i < fault_count; i++)
        if (sim_faults_add (self->faults, &start_faults [i]) != 0) {
            mg_error ("too many faults", "provider=%s max=%d", sim_provider_name (start_faults [i].provider), SIM_FAULTS_MAX);
            goto done;
        }
    evhttp_set_max_body_size (self->http, SIM_BODY_MAX);
    evhttp_set_allowed_methods (self->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE
                                            | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb (self->http, s_on_request, self);
    if (evhttp_bind_socket (self->http, bind, (ev_uint16_t) port) != 0) {
        mg_error ("cannot listen", "bind=%s port=%ld reason=\"%s\"", bind, port, strerror (errno));
        goto done;
    }
    self->signals [0] = evsignal_new (self->base, SIGTERM, s_on_signal, self->base);
    self->signals [1] = evsignal_new (self->base, SIGINT, s_on_signal, self->base);
    for (int i = 0; i < 2; i++)
        if (!self->signals [i] || event_add (self->signals [i], NULL) != 0) {
            mg_error ("cannot watch signals", NULL);
            goto done;
        }
    signal (SIGPIPE, SIG_IGN);
    mg_info ("listening", "bind=%s port=%ld titles=%zu latency_ms=%ld faults=%d quota_youtube=%ld "
             "quota_watchmode=%ld quota_sa_per_min=%ld seed=%llu drift_period_s=%ld", bind, port, sim_catalog_size (self->catalog),
             self->latency_ms, fault_count, self->state [SIM_YOUTUBE].quota, self->state [SIM_WATCHMODE].quota,
             self->state [SIM_SA].quota, (unsigned long long) self->seed, drift_s);
    event_base_dispatch (self->base);
    rc = 0;
done:
    s_self_destroy (&self);
    return rc;
}
