/*  The request record of mg-gateway: its configuration, who is calling,
    one HTTP request in progress, and its completion.

    A request's path runs one way through stages (docs/gateway.md,
    "Request path"):
      accept  (server.c)   size limits, CORS preflight (preflight.c), then
      guard   (guard.c)    who is calling, one rate-limit decision, then
      dispatch(server.c)   route, bind parameters (routes.c), the caller's
                           services (mine.c), then a local handler or
      cache   (cache.c)    Redis, then
      forward (forward.c)  the bus, then
      respond (respond.c)  the one way out of every request.
    The lower layers (this record and its completion, respond.c, json.c,
    metrics.c, bus.c, cors.c, keycache.c, ratelimit.c, the route table)
    never call a stage; a stage reaches an earlier one only through the
    hooks of gw_request_t.  */
#ifndef GW_REQUEST_H_INCLUDED
#define GW_REQUEST_H_INCLUDED

#include "mg_jwt.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_server_t gw_server_t;
typedef struct gw_thread_t gw_thread_t;
typedef struct gw_bus_t gw_bus_t;
typedef struct gw_metrics_t gw_metrics_t;
typedef struct gw_request_t gw_request_t;
typedef struct gw_route_t gw_route_t;
typedef struct gw_keycache_t gw_keycache_t;
typedef struct gw_lease_t gw_lease_t;
typedef struct gw_memo_t gw_memo_t;
typedef struct gw_sse_t gw_sse_t;
typedef struct gw_sse_limits_t gw_sse_limits_t;
typedef struct gw_cache_t gw_cache_t;
typedef struct gw_mine_cache_t gw_mine_cache_t;
typedef struct gw_mcp_t gw_mcp_t;

#define GW_CACHE_PREFIX_MAX 64          //  bytes of MG_SEARCH_CACHE_PREFIX

//  --------------------------------------------------------------------------
//  Configuration (main.c reads it from the environment)

typedef struct {
    const char *addr;               //  MG_HTTP_ADDR
    int port;                       //  MG_HTTP_PORT (0: any free port)
    int threads;                    //  MG_HTTP_THREADS
    size_t max_body;                //  MG_HTTP_MAX_BODY, bytes
    size_t max_in_flight;           //  MG_HTTP_MAX_IN_FLIGHT: requests per thread not yet
                                    //  answered; past it 503 + Retry-After at once
    size_t max_url;                 //  MG_HTTP_MAX_URL, bytes of the request target
    size_t max_headers;             //  MG_HTTP_MAX_HEADERS, bytes of all header lines
    uint32_t request_timeout_ms;    //  MG_REQUEST_TIMEOUT_MS: deadline of a bus request
    const char *broker;             //  MG_BROKER
    int heartbeat_ms;               //  MG_HEARTBEAT_MS: ZMTP ping interval to the broker
    int liveness;                   //  MG_HEARTBEAT_LIVENESS: silent intervals = broker gone
    mg_jwt_keys_t jwt;              //  MG_JWT_SECRET (+ MG_JWT_SECRET_PREVIOUS): verify access tokens
    char jwt_fingerprint [MG_JWT_FINGERPRINT_LEN + 1];  //  of the current secret: /ready compares accounts'
    uint32_t fingerprint_cache_s;   //  MG_JWT_FINGERPRINT_CACHE_S: /ready asks accounts this often
    bool rate_enabled;              //  MG_RATE_ENABLED
    bool rate_fail_open;            //  MG_RATE_FAIL_OPEN: limiter down -> admit (else 503)
    uint32_t rate_timeout_ms;       //  MG_RATE_TIMEOUT_MS: deadline of one ratelimit.check
    bool rate_parallel_reads;       //  MG_RATE_PARALLEL_READS: GETs ask limiter and actor at once
    bool rate_lease;                //  MG_RATE_LEASE: decisions may grant several requests (lease.c)
    uint32_t rate_gateways;         //  MG_RATE_GATEWAYS: gateways sharing the limits (sizes leases)
    uint32_t key_cache_s;           //  MG_KEY_CACHE_S: API key lookups are trusted this long
    char trusted_proxies [512];     //  MG_TRUSTED_PROXIES: peers whose X-Forwarded-For we believe
    uint32_t long_timeout_ms;       //  MG_REQUEST_LONG_TIMEOUT_MS: deadline of GW_ROUTE_LONG routes
    char cors_origins [1024];       //  MG_CORS_ORIGINS: "*" or exact origins, comma-separated
    const char *events;             //  MG_EVENTS: the broker's event endpoint for subscribers
    int sse_heartbeat_s;            //  MG_SSE_HEARTBEAT_S: comment line on idle streams this often
    uint32_t sse_retry_ms;          //  MG_SSE_RETRY_MS: the retry: hint sent to clients
    size_t sse_max_buffer;          //  MG_SSE_MAX_BUFFER: unsent bytes before a slow stream is cut
    int sse_per_user;               //  MG_SSE_PER_USER: open streams per user (per gateway)
    int sse_max_streams;            //  MG_SSE_MAX_STREAMS: open streams in all (per gateway)
    const char *redis_url;          //  MG_REDIS_URL: the search result cache
    uint32_t cache_ttl_s;           //  MG_SEARCH_CACHE_TTL_S: 0 = no result cache
    uint32_t cache_timeout_ms;      //  MG_SEARCH_CACHE_TIMEOUT_MS: a look-up slower than this is skipped
    char cache_prefix [GW_CACHE_PREFIX_MAX + 1];    //  MG_SEARCH_CACHE_PREFIX
    uint32_t details_ttl_s;         //  MG_DETAILS_CACHE_TTL_S: 0 = details not cached
    char details_prefix [GW_CACHE_PREFIX_MAX + 1];  //  MG_DETAILS_CACHE_PREFIX
    uint32_t memo_ttl_s;            //  MG_REFERENCE_CACHE_S: genres/platforms answers kept (0: not kept)
    uint32_t mine_cache_s;          //  MG_MINE_CACHE_S: a caller's services are trusted this long (0: ask each time)
    uint32_t mcp_session_ttl_s;     //  MG_MCP_SESSION_TTL_S: an idle MCP session ends after this
    uint32_t mcp_redis_timeout_ms;  //  MG_MCP_REDIS_TIMEOUT_MS: deadline of one session look-up
} gw_config_t;

//  --------------------------------------------------------------------------
//  Who is calling (guard.c)

typedef enum {
    GW_CALLER_ANONYMOUS = 0,        //  no credentials: limited by client IP
    GW_CALLER_TOKEN,                //  Authorization: Bearer <JWT>
    GW_CALLER_KEY                   //  X-API-Key
} gw_caller_kind_t;

typedef struct {
    gw_caller_kind_t kind;
    char user_id [37];              //  empty when anonymous
    char tier [16];                 //  anonymous|free|pro|enterprise
    char client [80];               //  ratelimit client id: ip:<addr> or user:<uuid>
    char address [80];              //  ip:<addr> of the caller whoever they are (login throttling)
    int64_t expires;                //  GW_CALLER_TOKEN: the token's exp (epoch s), else 0
    char key_id [37];               //  GW_CALLER_KEY: the API key's id, else empty
} gw_caller_t;

//  Rate-limit header values of one decision (ratelimit.c).
typedef struct {
    char limit [24];                //  X-RateLimit-Limit
    char remaining [24];            //  X-RateLimit-Remaining
    char reset [24];                //  X-RateLimit-Reset (epoch seconds)
    char policy [160];              //  RateLimit-Policy
    char state [96];                //  RateLimit
    uint32_t retry_after;           //  seconds (denied decisions), else 0
} gw_rate_headers_t;

#define GW_MINE_TEXT_MAX 1024         //  bytes of a caller's services, comma-separated (32 canonical slugs)

//  What a signed-in caller of a GW_ROUTE_MINE route has (mine.c).
typedef struct {
    bool ready;                     //  looked up: bind it into the request
    char region [3];                //  preferred region, "" when none
    char services [GW_MINE_TEXT_MAX];   //  platform slugs, comma-separated, "" when none
} gw_mine_t;

//  Stage hooks. A stage hands a request on to a later one by a call; a
//  later stage or a lower layer reaches an earlier one only through these
//  pointers, which the earlier stage sets, so that no file calls back up.
typedef void (gw_stage_fn) (gw_request_t *request);
typedef void (gw_status_fn) (gw_request_t *request, int status);
typedef void (gw_store_fn) (gw_request_t *request, const void *reply, struct evbuffer *out);

//  One HTTP request in progress. Owned by its thread; every request ends in
//  exactly one gw_reply* call, which records metrics and recycles it.

struct gw_request_t {
    struct evhttp_request *http;
    gw_thread_t *thread;
    gw_server_t *server;
    gw_bus_t *bus;                  //  the thread's bus client
    gw_metrics_t *metrics;          //  the thread's counters
    const gw_config_t *config;
    gw_keycache_t *keys;            //  the thread's API key cache
    gw_lease_t *lease;              //  the thread's leased rate-limit budgets
    gw_sse_t *sse;                  //  the thread's event streams
    const gw_route_t *route;        //  NULL until a route matched
    int64_t start_us;               //  monotonic
    const char *uri;                //  the request target (owned by http)
    size_t path_len;                //  bytes of uri before '?' or '#'
    const char *query;              //  after '?', query_len bytes (may be 0)
    size_t query_len;
    gw_caller_t caller;
    int auth_status;                //  != 0: the credentials failed; answered after the rate check
    const char *auth_code;
    const char *auth_message;       //  static text
    const uint8_t *bound;           //  local handlers: the bound request message (msgpack), during the call
    size_t bound_len;
    gw_cache_t *cache;              //  the thread's search result cache (NULL: none)
    gw_mcp_t *mcp;                  //  the thread's MCP session store (NULL: none)
    gw_memo_t *memo;                //  the thread's reference answers (memo.c)
    uint64_t memo_generation;       //  memo's generation when this request was forwarded
    bool cache_store;               //  a miss: store a 200 answer under cache_key + cache_gen
    char cache_key [GW_CACHE_PREFIX_MAX + 40];   //  <prefix><hash>:
    char cache_gen [48];            //  the generation read with the lookup
    uint8_t *cache_body;            //  the bound request while the lookup runs
    size_t cache_len;
    //  A GET/HEAD of a bus route runs its rate check and its answer at the
    //  same time (guard.c): the answer is held until the decision, and the
    //  request is recycled only once both bus calls have ended.
    bool rate_parallel;             //  the answer waits for the decision
    int rate_verdict;               //  != 0: a refusal came first: 429 (limited) or 503 (fail closed)
    int held_status;                //  != 0: the answer is ready, held for the decision
    gw_rate_headers_t rate_headers; //  of a refusal decided before the answer was ready
    bool rate_have_headers;
    gw_mine_cache_t *mine_cache;    //  the thread's cache of callers' services
    gw_mine_t mine;                 //  GW_ROUTE_MINE routes: the caller's services
    //  Hooks (see gw_stage_fn): set by server.c when the request starts,
    //  the later ones by the stage named.
    gw_status_fn *done;             //  server.c: the answer is sent: count it, recycle the request
    gw_stage_fn *dispatch;          //  server.c: route, bind, answer or forward (guard.c, mine.c call it)
    gw_stage_fn *on_success;        //  server.c: a bus route answered with success (forward.c calls it)
    gw_status_fn *hold;             //  guard.c: an answer is ready while rate_parallel (respond.c calls it)
    gw_store_fn *store;             //  cache.c: a 200 answer to store, or NULL (forward.c calls it)
    gw_metrics_t *const *all_metrics;   //  every thread's counters, for /metrics (ops.c)
    size_t all_metrics_count;
    gw_request_t *next_free;
};

//  Monotonic microseconds.
int64_t gw_now_us (void);

//  The request is answered: its done hook records status and latency and
//  recycles it. (Called by respond.c and sse.c only.)
void gw_request_done (gw_request_t *request, int status);

#endif
