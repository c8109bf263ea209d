/*  routes.c: the route table (method, path, bus method, messages, flags,
    local handler), matching a request to it and binding its parameters.  */
#ifndef GW_ROUTES_H_INCLUDED
#define GW_ROUTES_H_INCLUDED

#include "gw_request.h"
#include "mg_msg.h"

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
#define GW_ROUTE_CACHE (1u << 7)    //  answers cached in Redis (cache.c): search.query, catalog.content and catalog.discover replies
#define GW_CACHE_DISCOVER_METHOD "catalog.discover"   //  the one list whose answers GW_ROUTE_CACHE may keep
#define GW_ROUTE_MINE  (1u << 20)   //  takes available=mine: a signed-in caller's services and region are passed on (mine.c)
#define GW_ROUTE_MEMO  (1u << 22)   //  a reference answer (genres, platforms) kept in the thread's memory (memo.c)
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

//  True when name is a request field only the gateway fills (caller, client, services).
bool gw_routes_gateway_field (const char *name);

//  The deadline of one call of route (GW_ROUTE_LONG routes get the long one).
uint32_t gw_route_timeout_ms (const gw_route_t *route, const gw_config_t *config);

//  The value of query parameter name (raw, not %-decoded) into *value and
//  *value_len. Returns true when the query has it.
bool gw_query_param (const char *query, size_t len, const char *name, const char **value, size_t *value_len);

#endif
