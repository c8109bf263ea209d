/*  mg-gateway internals: the HTTP/1.1 front of the system.

    A request's path through the modules:
      server.c   accepts it on one of N event-loop threads, enforces the size
                 limits, finds its route and binds its parameters;
      routes.c   the route table: method, path, bus method, messages, flags;
      forward.c  sends a bus route's request to the broker and maps the reply
                 (or error, or deadline) to HTTP;
      ops.c      /health, /ready and /metrics, answered by the gateway itself;
      bus.c      the asynchronous DEALER client of one thread;
      guard.c    /api/v1 requests first: who is calling (Bearer token verified
                 here, API key looked up once per cache period), then one
                 ratelimit.check; the rate-limit headers; then dispatch;
      keycache.c per-thread cache of API key -> (user, tier);
      ratelimit.c the rate-limit header values from a decision;
      respond.c  every response leaves through here: JSON bodies, error shape,
                 bus error code -> HTTP status;
      metrics.c  per-thread counters and histograms, summed for /metrics;
      sse.c      GET /api/v1/sync/stream: Server-Sent Events from the sync
                 actor's sync.<user_id> topics, one SUB socket per thread;
      mcp.c      /mcp: the Model Context Protocol (JSON-RPC, sessions in Redis);
      mcp_tools.c its tools and resources, each a route of the table.
    Nothing here blocks: a thread only ever waits in its event loop.  */
#ifndef GATEWAY_H_INCLUDED
#define GATEWAY_H_INCLUDED

#include "mg_jwt.h"
#include "mg_msg.h"

#include <event2/buffer.h>
#include <event2/event.h>
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

//  --------------------------------------------------------------------------
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
    gw_request_t *next_free;
};

//  Monotonic microseconds.
int64_t gw_now_us (void);

//  --------------------------------------------------------------------------
//  server.c

//  Bind one listening socket per thread (SO_REUSEPORT) and connect each
//  thread's bus client. NULL (with a log line) when a socket cannot be bound.
gw_server_t *gw_server_new (const gw_config_t *config);

//  Stop threads if running, close everything, free. Nulls *self_p.
void gw_server_destroy (gw_server_t **self_p);

//  Port the listeners are bound to (the real one when config asked for 0).
int gw_server_port (gw_server_t *self);

//  Serve until SIGTERM/SIGINT, then stop accepting, let in-flight requests
//  finish (bounded by the request deadline) and return 0; -1 on failure.
int gw_server_run (gw_server_t *self);

//  Append every thread's metrics, summed, in Prometheus text format.
void gw_server_render_metrics (gw_server_t *self, struct evbuffer *out);

//  The request is answered: record status and latency, recycle it.
//  (Called by respond.c only.)
void gw_request_done (gw_request_t *request, int status);

//  Route, bind and answer or forward request (after guard.c for /api/v1).
void gw_server_dispatch (gw_request_t *request);

//  The deadline of one call of route (GW_ROUTE_LONG routes get the long one).
uint32_t gw_route_timeout_ms (const gw_route_t *route, const gw_config_t *config);

//  --------------------------------------------------------------------------
//  cors.c: browsers (CORS) and HTTP validators

//  Is the request under /api/v1 or /mcp, where CORS applies?
bool gw_cors_applies (const gw_request_t *request);

//  A CORS preflight on /api/v1 or /mcp is answered here (204, or 403 for an
//  origin not allowed, 404 for no such path): true. Anything else: false.
bool gw_cors_preflight (gw_request_t *request);

//  Access-Control-Allow-Origin and -Expose-Headers on an answer to an
//  allowed Origin under /api/v1 or /mcp (respond.c and SSE streams).
void gw_cors_headers (gw_request_t *request);

//  Is origin one that MG_CORS_ORIGINS allows?
bool gw_cors_origin_allowed (const gw_config_t *config, const char *origin);

//  A 200 to GET/HEAD on a GW_ROUTE_PUBLIC route: add ETag and Cache-Control;
//  304 (body dropped) when If-None-Match names the ETag. Returns the status to send.
int gw_http_validate (gw_request_t *request, int status);

//  --------------------------------------------------------------------------
//  routes.c

#define GW_ROUTE_OPS   (1u << 0)    //  at the root, never rate limited
#define GW_ROUTE_BODY  (1u << 1)    //  takes a JSON body (POST/PUT): Content-Type checked
#define GW_ROUTE_RAW_BODY (1u << 2) //  the JSON body goes as text into the request's "body" field
#define GW_ROUTE_NULLS (1u << 3)    //  list items with no fields answer as JSON null
#define GW_ROUTE_USER  (1u << 4)    //  signed-in callers only; user_id is the caller's id
#define GW_ROUTE_SESSION (1u << 5)  //  as USER, and with a Bearer token: API keys cannot manage keys
#define GW_ROUTE_QUERY_DEVICE (1u << 6) //  a USER route that also takes device_id as a query parameter
                                    //  (EventSource cannot send headers); X-Device-Id wins
#define GW_ROUTE_LONG  (1u << 9)    //  batch work: MG_REQUEST_LONG_TIMEOUT_MS instead of MG_REQUEST_TIMEOUT_MS
#define GW_ROUTE_PUBLIC (1u << 8)   //  a public catalog read: ETag, If-None-Match → 304, Cache-Control (cors.c)
#define GW_ROUTE_CACHE (1u << 7)    //  answers cached in Redis (cache.c): search.query and catalog.content replies
#define GW_ROUTE_MINE  (1u << 20)   //  takes available=mine: a signed-in caller's services and region are passed on (mine.c)
#define GW_ROUTE_PREFS (1u << 21)   //  may change the caller's preferences: their cached services are forgotten
#define GW_USER_FIELD  "user_id"    //  request field the gateway fills; never taken from clients
#define GW_MINE_SERVICES_FIELD "my_services"    //  GW_ROUTE_MINE: filled by the gateway only
#define GW_MINE_REGION_FIELD   "my_region"      //  GW_ROUTE_MINE: filled by the gateway only
#define GW_SIGNED_IN_FIELD     "signed_in"      //  GW_ROUTE_MINE: filled by the gateway only
#define GW_DEVICE_FIELD "device_id" //  request field of user routes filled from X-Device-Id only
#define GW_CLIENT_FIELD "client"    //  request field the gateway fills with the caller's address; never from clients

typedef void (gw_handler_fn) (gw_request_t *request);

struct gw_route_t {
    const char *method;             //  "GET", "POST", ...
    const char *path;               //  "/api/v1/content/{id}": {name} binds a request field
    const char *bus;                //  bus method, NULL when handler answers locally
    const mg_msgdesc_t *request;    //  fields = the parameters the route accepts
    const mg_msgdesc_t *reply;      //  bus reply body -> JSON; NULL: empty reply
    gw_handler_fn *handler;         //  local handler (ops endpoints), or NULL
    unsigned flags;
    int status;                     //  success status (200, 201, 204)
};

#define GW_PATH_PARAMS_MAX 4
#define GW_MSG_STORAGE     4096     //  bytes for a request or reply message struct on the stack

typedef struct {
    const char *name;               //  in the route's pattern, not NUL-terminated
    size_t name_len;
    const char *value;              //  raw (percent-encoded) in the request path
    size_t value_len;
} gw_param_t;

typedef struct {
    const gw_route_t *route;
    const gw_mine_t *mine;          //  NULL, or the caller's services to bind (GW_ROUTE_MINE)
    size_t nparams;
    gw_param_t params [GW_PATH_PARAMS_MAX];
    char allow [96];                //  on 405: the methods the path accepts, "GET, HEAD"
} gw_match_t;

typedef enum {
    GW_MATCH_OK = 0,
    GW_MATCH_NO_PATH,               //  404
    GW_MATCH_NO_METHOD              //  405, match->allow filled
} gw_match_result_t;

//  Check the route table once at start (patterns, field names, bus names).
//  Returns 0, or -1 with a log line naming the bad route.
int gw_routes_check (void);

//  Number of routes, and route i (metrics label them by index).
size_t gw_routes_count (void);
const gw_route_t *gw_routes_at (size_t index);
size_t gw_routes_index (const gw_route_t *route);

//  True when path (len bytes) fits pattern ("/a/{id}/b": a parameter is one
//  non-empty segment); fills match->params and match->nparams.
bool gw_routes_path_match (const char *pattern, const char *path, size_t len,
                           gw_match_t *match);

//  Find the route for method (EVHTTP_REQ_*) and path (len bytes, no query).
gw_match_result_t gw_routes_match (int method, const char *path, size_t len,
                                   gw_match_t *match);

//  Services that bus routes use, NULL-terminated (for /ready). Static.
const char *const *gw_routes_services (void);

//  Also require the service of bus method for /ready (after gw_routes_check).
//  Returns 0, or -1 when the service list is full.
int gw_routes_require (const char *method);

//  Outcome of binding a request's parameters: an HTTP error when it fails.
typedef struct {
    int status;                     //  400, 415
    const char *code;               //  INVALID_PARAMETER, ...
    char message [256];
} gw_fault_t;

//  Build route's request body: JSON body (GW_ROUTE_BODY routes), then path
//  parameters, then the query string (query_len bytes, may be 0) into the
//  route's request message, encoded as msgpack into *body_p (caller frees;
//  NULL/0 for routes without a request message). Returns 0, or -1 with fault.
//  user_id (may be NULL) is the signed-in caller, put into user_id of
//  GW_ROUTE_USER/SESSION routes; device_id (may be NULL) is the X-Device-Id
//  header, put into their device_id field when the message has one; client
//  (may be NULL) is the caller's address, put into the message's client
//  field when it has one (any route).
int gw_routes_bind (const gw_match_t *match, const char *query, size_t query_len,
                    struct evbuffer *body, const char *content_type, const char *user_id,
                    const char *device_id, const char *client, uint8_t **body_p, size_t *len_p,
                    gw_fault_t *fault);

//  --------------------------------------------------------------------------
//  guard.c

//  Identify the caller of an /api/v1 request, check its rate limit, add the
//  rate-limit headers, then gw_server_dispatch it (or answer 401/429/503).
void gw_guard (gw_request_t *request);

//  respond.c: the answer of a request whose rate decision is still out
//  (request->rate_parallel) is ready with status. Holds it, or, when the
//  decision was a refusal, answers that instead.
void gw_guard_hold (gw_request_t *request, int status);

//  --------------------------------------------------------------------------
//  keycache.c: API key -> caller, per thread (no locks), bounded.

typedef struct {
    bool valid;                     //  false: a key the accounts service refused
    char user_id [37];
    char tier [16];
    char key_id [37];
} gw_key_entry_t;

gw_keycache_t *gw_keycache_new (size_t capacity);
void gw_keycache_destroy (gw_keycache_t **self_p);

//  Look key (len bytes) up at now_us: true with *entry filled when a live
//  entry exists.
bool gw_keycache_get (gw_keycache_t *self, const char *key, size_t len, int64_t now_us,
                      gw_key_entry_t *entry);

//  Remember entry for key until now_us + ttl_us (the oldest entry of its
//  bucket makes room).
void gw_keycache_put (gw_keycache_t *self, const char *key, size_t len, int64_t now_us,
                      int64_t ttl_us, const gw_key_entry_t *entry);

//  Forget the entries of key id key_id (it was revoked). Returns how many.
size_t gw_keycache_drop (gw_keycache_t *self, const char *key_id);

//  --------------------------------------------------------------------------
//  ratelimit.c: header values of a decision

//  Header values for decision at now_s (epoch seconds). The window closest
//  to running out is the one reported. Returns 0, or -1 when a value does
//  not fit (nothing to add then).
int gw_rate_headers_format (const mg_ratelimit_reply_t *decision, int64_t now_s,
                            gw_rate_headers_t *out);

//  Client id of the caller's network address: peer (the TCP peer's address),
//  or, when peer is one of trusted (comma-separated addresses), the
//  right-most X-Forwarded-For entry (xff, may be NULL) that is not trusted.
//  Writes "ip:<addr>" into out.
void gw_rate_client_ip (const char *peer, const char *xff, const char *trusted,
                        char *out, size_t outlen);

//  --------------------------------------------------------------------------
//  forward.c

//  Send the bound request body for request->route to its bus method and
//  answer the HTTP request when the reply, an error or the deadline comes.
//  Takes ownership of *body_p.
void gw_forward (gw_request_t *request, uint8_t **body_p, size_t len);

//  The value of query parameter name (raw, not %-decoded) into *value and
//  *value_len. Returns true when the query has it.
bool gw_query_param (const char *query, size_t len, const char *name, const char **value, size_t *value_len);

//  --------------------------------------------------------------------------
//  cache.c: search answers in Redis, keyed by request and catalog generation,
//  and details answers, keyed by request and the title's version

//  The cache of one thread (its connection opens on first use). NULL when
//  config's Redis URL is bad (logged).
gw_cache_t *gw_cache_new (struct event_base *base, const gw_config_t *config, gw_metrics_t *metrics);
void gw_cache_destroy (gw_cache_t **self_p);

//  Answer request from the cache, or forward it (gw_forward) and remember
//  to store its answer. Takes ownership of *body_p.
void gw_cache_forward (gw_request_t *request, uint8_t **body_p, size_t len);

//  A 200 answer for request is in out (JSON text); reply is the decoded
//  reply message. Stores it when the request was a miss: a search answer
//  when the replica had applied the generation read, a details answer
//  until the earliest expiry of the offers it shows.
void gw_cache_store (gw_request_t *request, const void *reply, struct evbuffer *out);

//  --------------------------------------------------------------------------
//  mine.c: a signed-in caller's services and region, for available=mine

gw_mine_cache_t *gw_mine_cache_new (size_t capacity);
void gw_mine_cache_destroy (gw_mine_cache_t **self_p);

//  Fill request->mine for its signed-in caller (from the thread's cache, or
//  by asking sync.preferences.get), then gw_server_dispatch the request
//  again; answers 503 itself when the lookup fails.
void gw_mine_lookup (gw_request_t *request);

//  user_id's preferences may have changed: every thread's cached answer is stale.
void gw_mine_forget (const char *user_id);

//  True when name is a request field only the gateway fills (caller, client, services).
bool gw_routes_gateway_field (const char *name);

//  --------------------------------------------------------------------------
//  ops.c

void gw_ops_health (gw_request_t *request);
void gw_ops_ready (gw_request_t *request);
void gw_ops_metrics (gw_request_t *request);

//  --------------------------------------------------------------------------
//  openapi.c: the OpenAPI 3.1 description, generated from the route table
//  and the message descriptors (mg-openapi prints it: docs/openapi.yaml)

//  New document (caller decrefs), or NULL with a log line.
json_t *gw_openapi_document (void);

//  Append doc as YAML (block style, after a "generated" comment line) to
//  out. Returns 0, or -1.
int gw_openapi_yaml (const json_t *doc, struct evbuffer *out);

//  Build the YAML and JSON texts the handlers serve (once, before the
//  threads start). Returns 0, or -1 with a log line.
int gw_openapi_init (void);

//  Free the served texts.
void gw_openapi_term (void);

//  Local handlers of GET /api/v1/openapi.yaml and /api/v1/openapi.json.
void gw_openapi_serve_yaml (gw_request_t *request);
void gw_openapi_serve_json (gw_request_t *request);

//  --------------------------------------------------------------------------
//  mcp.c: /mcp, the Model Context Protocol's Streamable HTTP transport

//  JSON-RPC 2.0 error codes (and MCP's resource-not-found).
#define GW_RPC_PARSE_ERROR        -32700
#define GW_RPC_INVALID_REQUEST    -32600
#define GW_RPC_METHOD_NOT_FOUND   -32601
#define GW_RPC_INVALID_PARAMS     -32602
#define GW_RPC_INTERNAL_ERROR     -32603
#define GW_RPC_RESOURCE_NOT_FOUND -32002

typedef enum {
    GW_RPC_REQUEST = 0,             //  method and id: answered
    GW_RPC_NOTIFICATION,            //  method, no id
    GW_RPC_RESPONSE                 //  id and result or error (we send no requests: ignored)
} gw_rpc_kind_t;

//  One decoded JSON-RPC message; id, method and params point into root.
typedef struct {
    json_t *root;
    gw_rpc_kind_t kind;
    json_t *id;                     //  string or integer; NULL for a notification
    const char *method;
    json_t *params;                 //  an object, or NULL
    int code;                       //  decoding failed: the JSON-RPC error code
    const char *why;                //  and a static reason
} gw_rpc_t;

//  Decode one message (len bytes of text, may be NULL). Returns 0, or -1
//  with rpc->code and rpc->why (rpc->id set when it could be read). Either
//  way gw_rpc_clear frees it.
int gw_rpc_decode (const char *text, size_t len, gw_rpc_t *rpc);
void gw_rpc_clear (gw_rpc_t *rpc);

//  The session store of one thread (a Redis client of config's URL,
//  connecting on first use). NULL on a bad URL (logged).
gw_mcp_t *gw_mcp_new (const gw_config_t *config);
void gw_mcp_destroy (gw_mcp_t **self_p);

//  Local handlers of POST and DELETE /mcp.
void gw_mcp_post (gw_request_t *request);
void gw_mcp_delete (gw_request_t *request);

//  Answer the request id with result (reference taken; NULL: 500).
//  stream: sent as one SSE event when the client accepts text/event-stream.
void gw_mcp_result (gw_request_t *request, const json_t *id, json_t *result, bool stream);

//  Answer a JSON-RPC error (data: reference taken, may be NULL).
void gw_mcp_error (gw_request_t *request, const json_t *id, int code, const char *message, json_t *data);

//  mcp_tools.c: describe the tools from the OpenAPI document (once, before
//  the threads start). Returns 0, or -1 with a log line.
int gw_mcp_tools_init (void);
void gw_mcp_tools_term (void);

//  New answers of tools/list, resources/list, resources/templates/list (caller owns).
json_t *gw_mcp_tools_list (void);
json_t *gw_mcp_resources_list (void);
json_t *gw_mcp_resource_templates (void);

//  tools/call and resources/read: answer request id (now or when the bus answers).
void gw_mcp_tools_call (gw_request_t *request, const json_t *id, const json_t *params);
void gw_mcp_resources_read (gw_request_t *request, const json_t *id, const json_t *params);

//  --------------------------------------------------------------------------
//  respond.c

#define GW_JSON_TYPE "application/json; charset=utf-8"

//  Answer with status and the JSON text (len bytes). Ends the request.
void gw_reply_json (gw_request_t *request, int status, const char *json, size_t len);

//  Answer with status and what is in the request's output buffer already,
//  with content_type. Ends the request.
void gw_reply_buffer (gw_request_t *request, int status, const char *content_type);

//  Send what the request's output buffer and headers hold with status (an
//  answer guard.c held for its rate decision). Ends the request.
void gw_reply_send (gw_request_t *request, int status);

//  Answer {"error":{"code":code,"message":...}} with status; retry_after > 0
//  adds Retry-After (and "retry_after" to the body for 429). Ends the request.
void gw_reply_error (gw_request_t *request, int status, const char *code,
                     uint32_t retry_after, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

//  Answer a bus error reply: status from its code, Retry-After from
//  retry_after (1 s for unavailable services when absent). Ends the request.
void gw_reply_bus_error (gw_request_t *request, const mg_error_t *error);

//  HTTP status for a bus error code (500 for codes it does not know).
int gw_status_for_code (const char *code);

//  Append json to out as compact JSON text, byte for byte what jansson's
//  json_dumps (JSON_COMPACT) writes, in one evbuffer_add and without
//  jansson's per-node allocations. Returns 0, or -1 (out unchanged).
int gw_json_append (struct evbuffer *out, const json_t *json);

//  Append msg (a message of desc) as JSON to out: the same text as
//  gw_json_append of mg_msg_to_json, written straight from the struct.
//  With nulls, list items that have no field shown are written as null.
//  Returns 0 or -1 (out of memory).
int gw_msg_append (struct evbuffer *out, const mg_msgdesc_t *desc, const void *msg, bool nulls);

//  Append s (len bytes) to out as a JSON string with quotes; bytes that are
//  not valid UTF-8 become U+FFFD so the document stays valid.
void gw_json_append_string (struct evbuffer *out, const char *s, size_t len);

//  --------------------------------------------------------------------------
//  bus.c

typedef enum {
    GW_BUS_REPLY = 0,               //  REP: body is the reply message
    GW_BUS_ERROR,                   //  ERR: body is an error message
    GW_BUS_TIMEOUT,                 //  no answer within ttl
    GW_BUS_LOST                     //  the connection to the broker dropped
} gw_bus_outcome_t;

//  Called exactly once per call, from the event loop, never from inside
//  gw_bus_call. body is valid during the call only.
typedef void (gw_bus_fn) (void *arg, gw_bus_outcome_t outcome,
                          const uint8_t *body, size_t len, int64_t rtt_us);

//  New client on base: a DEALER connected to endpoint, its fd watched by the
//  loop, ZMTP heartbeats every heartbeat_ms, dead after liveness silent
//  intervals. zmq_ctx is shared by all threads. NULL on failure.
gw_bus_t *gw_bus_new (struct event_base *base, void *zmq_ctx, const char *endpoint,
                      int heartbeat_ms, int liveness, int index);

//  Close the socket; callbacks of pending calls are not called. Nulls *self_p.
void gw_bus_destroy (gw_bus_t **self_p);

//  Send name + body with ttl_ms. Returns 0 (cb will be called), or -1 at once
//  when the broker is not connected or the send queue is full.
int gw_bus_call (gw_bus_t *self, const char *name, const void *body, size_t len,
                 uint32_t ttl_ms, gw_bus_fn *cb, void *arg);

//  Calls waiting for an answer.
size_t gw_bus_pending (gw_bus_t *self);

//  End every waiting call now with GW_BUS_LOST (shutdown past its deadline).
void gw_bus_abandon (gw_bus_t *self);

//  --------------------------------------------------------------------------
//  sse.c

typedef enum {
    GW_SSE_TAKEN = 0,
    GW_SSE_USER_FULL,               //  the user has sse_per_user streams: 429
    GW_SSE_FULL                     //  the gateway has sse_max_streams: 503
} gw_sse_take_t;

typedef enum {
    GW_SSE_END_CLIENT = 0,          //  the client closed it
    GW_SSE_END_SLOW,                //  cut: unsent output past sse_max_buffer
    GW_SSE_END_DEVICE_REMOVED,      //  its device was removed
    GW_SSE_END_SHUTDOWN,            //  the gateway is stopping
    GW_SSE_END_ERROR,               //  a gap could not be filled (sync unreachable)
    GW_SSE_END_REAUTH,              //  its token expired or its API key was revoked
    GW_SSE_ENDS
} gw_sse_end_t;

//  Per-process stream counts (shared by all threads, one mutex).
gw_sse_limits_t *gw_sse_limits_new (void);
void gw_sse_limits_destroy (gw_sse_limits_t **self_p);

//  Count one more stream of user_id unless that passes per_user for the
//  user or total in all.
gw_sse_take_t gw_sse_limits_take (gw_sse_limits_t *self, const char *user_id, int per_user, int total);

//  A stream of user_id ended.
void gw_sse_limits_give (gw_sse_limits_t *self, const char *user_id);

//  The streams of one thread: a SUB socket on config->events watched by
//  base, the heartbeat timer. NULL on failure (logged).
gw_sse_t *gw_sse_new (struct event_base *base, void *zmq_ctx, const gw_config_t *config, gw_bus_t *bus,
                      gw_metrics_t *metrics, gw_sse_limits_t *limits);

//  The thread's API key cache: a revocation event (auth.key_revoked) drops
//  the key from it as well as ending the key's streams.
void gw_sse_set_keycache (gw_sse_t *self, gw_keycache_t *keys);

//  End every stream, close the socket, free. Nulls *self_p.
void gw_sse_destroy (gw_sse_t **self_p);

//  End every stream gracefully (shutdown); streams opening get 503.
void gw_sse_close_all (gw_sse_t *self);

//  Live streams of this thread.
size_t gw_sse_open_count (gw_sse_t *self);

//  Local handler of GET /api/v1/sync/stream.
void gw_sse_open (gw_request_t *request);

//  Append one event to out in SSE text: "id:", "event:", one "data:" line
//  per line of data, a blank line. Returns 0, or -1 (type has a line break,
//  or out of memory).
int gw_sse_format (struct evbuffer *out, uint64_t id, const char *type, const char *data);

//  Parse a Last-Event-ID value (decimal digits, blanks around them).
//  Returns 0 with *id, or -1.
int gw_sse_parse_id (const char *text, int64_t *id);

//  Whether the stream of device gets an event made by origin (NULL: the
//  account) for target (NULL: every device): not its own changes, and a
//  targeted event only on its target.
bool gw_sse_wants (const char *device, const char *origin, const char *target);

//  --------------------------------------------------------------------------
//  metrics.c

//  Counters of one thread for routes routes (+1 slot for unmatched requests).
gw_metrics_t *gw_metrics_new (size_t routes);
void gw_metrics_destroy (gw_metrics_t **self_p);

//  A request ended: route index (gw_routes_count () when none matched).
void gw_metrics_request (gw_metrics_t *self, size_t route, int status, int64_t latency_us);

//  A bus call of route ended after rtt_us.
void gw_metrics_bus (gw_metrics_t *self, size_t route, gw_bus_outcome_t outcome, int64_t rtt_us);

typedef enum {
    GW_RATE_ALLOWED = 0,
    GW_RATE_LIMITED,                //  429
    GW_RATE_FAIL_OPEN,              //  limiter unreachable: admitted unchecked
    GW_RATE_FAIL_CLOSED,            //  limiter unreachable: 503
    GW_RATE_OUTCOMES
} gw_rate_outcome_t;

typedef enum {
    GW_AUTH_ANONYMOUS = 0,
    GW_AUTH_TOKEN,                  //  verified Bearer token
    GW_AUTH_KEY_CACHED,             //  API key answered from the cache
    GW_AUTH_KEY_LOOKUP,             //  API key looked up on the bus
    GW_AUTH_REJECTED,               //  401
    GW_AUTH_OUTCOMES
} gw_auth_outcome_t;

typedef enum {
    GW_CACHE_HIT = 0,
    GW_CACHE_MISS,
    GW_CACHE_STORE,                 //  a miss's answer stored
    GW_CACHE_UNAVAILABLE,           //  Redis down or failing: served uncached
    GW_CACHE_TIMEOUT,               //  no answer within MG_SEARCH_CACHE_TIMEOUT_MS: served uncached
    GW_CACHE_OUTCOMES
} gw_cache_outcome_t;

//  A search result cache event.
void gw_metrics_cache (gw_metrics_t *self, gw_cache_outcome_t outcome);

//  A details cache event.
void gw_metrics_details_cache (gw_metrics_t *self, gw_cache_outcome_t outcome);

typedef enum {
    GW_REDIS_STALLED = 0,           //  a connection with a command unanswered too long, dropped
    GW_REDIS_RECONNECTED,           //  a connection opened again after one was lost or dropped
    GW_REDIS_EVENTS
} gw_redis_event_t;

//  An event of the gateway's Redis connections.
void gw_metrics_redis (gw_metrics_t *self, gw_redis_event_t event);

//  A rate-limit decision (check_us: its bus round trip, 0 if none).
void gw_metrics_rate (gw_metrics_t *self, gw_rate_outcome_t outcome, int64_t check_us);

//  How a caller was identified.
void gw_metrics_auth (gw_metrics_t *self, gw_auth_outcome_t outcome);

//  Requests started minus requests answered, by this thread.
void gw_metrics_in_flight (gw_metrics_t *self, int delta);

//  Streams: opened (delta 1) or ended (-1); an event sent; a stream ended
//  for reason; a stream refused (total: the gateway's bound, else the
//  user's); a reset sent.
void gw_metrics_sse_open (gw_metrics_t *self, int delta);
void gw_metrics_sse_event (gw_metrics_t *self);
void gw_metrics_sse_end (gw_metrics_t *self, gw_sse_end_t reason);
void gw_metrics_sse_refused (gw_metrics_t *self, bool total);
void gw_metrics_sse_reset (gw_metrics_t *self);

//  Append the sum of all (n threads) in Prometheus text format.
void gw_metrics_render (gw_metrics_t *const *all, size_t n, struct evbuffer *out);

#endif
