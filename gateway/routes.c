/*  The route table: where every HTTP request goes.

    One line per endpoint. A route either names a bus method (the gateway
    forwards the request to the service before the '.') or a local handler
    (ops endpoints). The request message lists the parameters the route
    accepts: each {name} in the path and each query parameter must be one of
    its fields, and is parsed by the field's type (mg_msg_set_text), so an
    unknown or malformed parameter is a 400 naming it before anything is sent.
    Routes with GW_ROUTE_BODY also take a JSON body into the same message;
    GW_ROUTE_RAW_BODY routes pass the JSON body on as text (field "body")
    for services that check a document item by item.

    Adding an endpoint is adding a line here (and its message to
    messages/schema.def if it needs a new one).  */
#include "gw_routes.h"
#include "gw_mcp.h"
#include "gw_openapi.h"
#include "gw_ops.h"
#include "import.h"
#include "gw_sse.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

static const gw_route_t s_routes [] = {
    //  method  path                                bus method              request                        reply                        local handler    flags          status
    { "GET",    "/health",                          NULL,                   NULL,                          NULL,                        gw_ops_health,   GW_ROUTE_OPS,  200 },
    { "GET",    "/ready",                           NULL,                   NULL,                          NULL,                        gw_ops_ready,    GW_ROUTE_OPS,  200 },
    { "GET",    "/metrics",                         NULL,                   NULL,                          NULL,                        gw_ops_metrics,  GW_ROUTE_OPS,  200 },
    { "POST",   "/mcp",                             NULL,                   NULL,                          NULL,                        gw_mcp_post,     GW_ROUTE_RAW_BODY, 200 },
    { "DELETE", "/mcp",                             NULL,                   NULL,                          NULL,                        gw_mcp_delete,   0,             204 },
    { "GET",    "/api/v1/genres",                   "catalog.genres",       &mg_empty_desc,                &mg_genres_reply_desc,       NULL,            GW_ROUTE_PUBLIC | GW_ROUTE_MEMO, 200 },
    { "GET",    "/api/v1/content/{id}",             "catalog.content",      &mg_content_request_desc,      &mg_content_details_desc,    NULL,            GW_ROUTE_CACHE | GW_ROUTE_PUBLIC, 200 },
    { "GET",    "/api/v1/content/{id}/availability","catalog.availability", &mg_availability_request_desc, &mg_availability_reply_desc, NULL,            GW_ROUTE_PUBLIC, 200 },
    { "GET",    "/api/v1/people/{id}",              "catalog.person",       &mg_person_request_desc,       &mg_person_details_desc,     NULL,            GW_ROUTE_PUBLIC, 200 },
    { "GET",    "/api/v1/trending",                 "catalog.trending",     &mg_trending_request_desc,     &mg_content_list_desc,       NULL,            GW_ROUTE_PUBLIC | GW_ROUTE_MINE, 200 },
    { "GET",    "/api/v1/discover",                 "catalog.discover",     &mg_discover_request_desc,     &mg_content_list_desc,       NULL,            GW_ROUTE_CACHE | GW_ROUTE_PUBLIC | GW_ROUTE_MINE, 200 },
    { "GET",    "/api/v1/platforms",                "catalog.platforms",    &mg_platforms_request_desc,    &mg_platforms_reply_desc,    NULL,            GW_ROUTE_PUBLIC | GW_ROUTE_MEMO, 200 },
    { "GET",    "/api/v1/leaving",                  "catalog.leaving",      &mg_leaving_request_desc,      &mg_leaving_reply_desc,      NULL,            GW_ROUTE_PUBLIC | GW_ROUTE_MINE, 200 },
    { "GET",    "/api/v1/search",                   "search.query",         &mg_search_request_desc,       &mg_search_reply_desc,       NULL,            GW_ROUTE_CACHE | GW_ROUTE_PUBLIC | GW_ROUTE_MINE, 200 },
    { "GET",    "/api/v1/search/autocomplete",      "search.autocomplete",  &mg_autocomplete_request_desc, &mg_autocomplete_reply_desc, NULL,            GW_ROUTE_PUBLIC, 200 },
    { "GET",    "/api/v1/content/{id}/similar",     "search.similar",       &mg_similar_request_desc,      &mg_similar_reply_desc,      NULL,            GW_ROUTE_PUBLIC | GW_ROUTE_MINE, 200 },
    { "POST",   "/api/v1/resolve",                  "resolver.resolve",     &mg_resolve_request_desc,      &mg_resolve_reply_desc,      NULL,            GW_ROUTE_RAW_BODY | GW_ROUTE_NULLS | GW_ROUTE_LONG, 200 },
    { "POST",   "/api/v1/auth/register",            "accounts.register",    &mg_credentials_desc,          &mg_register_reply_desc,     NULL,            GW_ROUTE_BODY, 201 },
    { "POST",   "/api/v1/auth/login",               "accounts.login",       &mg_credentials_desc,          &mg_token_reply_desc,        NULL,            GW_ROUTE_BODY, 200 },
    { "POST",   "/api/v1/auth/refresh",             "accounts.refresh",     &mg_refresh_request_desc,      &mg_token_reply_desc,        NULL,            GW_ROUTE_BODY, 200 },
    { "GET",    "/api/v1/auth/api-keys",            "accounts.keys_list",   &mg_api_keys_list_request_desc, &mg_api_keys_reply_desc,     NULL,            GW_ROUTE_SESSION, 200 },
    { "POST",   "/api/v1/auth/api-keys",            "accounts.keys_create", &mg_api_key_create_desc,       &mg_api_key_created_desc,    NULL,            GW_ROUTE_BODY | GW_ROUTE_SESSION, 201 },
    { "DELETE", "/api/v1/auth/api-keys/{id}",       "accounts.keys_revoke", &mg_api_key_revoke_desc,       NULL,                        NULL,            GW_ROUTE_SESSION, 204 },
    { "GET",    "/api/v1/me/watchlist",             "sync.watchlist.list",  &mg_sync_list_request_desc,    &mg_watchlist_page_desc,     NULL,            GW_ROUTE_USER, 200 },
    { "PUT",    "/api/v1/me/watchlist/{content_id}", "sync.watchlist.put",  &mg_sync_item_request_desc,    &mg_sync_state_desc,         NULL,            GW_ROUTE_USER, 200 },
    { "DELETE", "/api/v1/me/watchlist/{content_id}", "sync.watchlist.delete", &mg_sync_item_request_desc,  &mg_sync_state_desc,         NULL,            GW_ROUTE_USER, 200 },
    { "GET",    "/api/v1/me/progress",              "sync.progress.list",   &mg_sync_list_request_desc,    &mg_progress_page_desc,      NULL,            GW_ROUTE_USER, 200 },
    { "GET",    "/api/v1/me/progress/{content_id}", "sync.progress.get",    &mg_sync_title_request_desc,   &mg_progress_item_desc,      NULL,            GW_ROUTE_USER, 200 },
    { "PUT",    "/api/v1/me/progress/{content_id}", "sync.progress.put",    &mg_sync_progress_request_desc, &mg_sync_state_desc,        NULL,            GW_ROUTE_BODY | GW_ROUTE_USER, 200 },
    { "GET",    "/api/v1/me/preferences",           "sync.preferences.get", &mg_sync_user_request_desc,    &mg_sync_preferences_desc,   NULL,            GW_ROUTE_USER, 200 },
    { "PUT",    "/api/v1/me/preferences",           "sync.preferences.put", &mg_sync_preferences_request_desc, &mg_sync_state_desc,     NULL,            GW_ROUTE_BODY | GW_ROUTE_USER | GW_ROUTE_PREFS, 200 },
    { "GET",    "/api/v1/me/devices",               "sync.devices.list",    &mg_sync_list_request_desc,    &mg_devices_reply_desc,      NULL,            GW_ROUTE_USER, 200 },
    { "POST",   "/api/v1/me/devices",               "sync.devices.add",     &mg_device_add_request_desc,   &mg_device_desc,             NULL,            GW_ROUTE_BODY | GW_ROUTE_USER, 201 },
    { "DELETE", "/api/v1/me/devices/{id}",          "sync.devices.remove",  &mg_device_request_desc,       NULL,                        NULL,            GW_ROUTE_USER, 204 },
    { "GET",    "/api/v1/me/notifications",         "alerts.notifications", &mg_notifications_request_desc, &mg_notifications_page_desc, NULL,           GW_ROUTE_USER, 200 },
    { "POST",   "/api/v1/me/notifications/read",    "alerts.read",          &mg_notifications_read_request_desc, &mg_notifications_read_reply_desc, NULL,   GW_ROUTE_BODY | GW_ROUTE_USER, 200 },
    { "GET",    "/api/v1/me/webhooks",              "alerts.webhooks",      &mg_alerts_page_request_desc,  &mg_webhooks_page_desc,      NULL,            GW_ROUTE_USER, 200 },
    { "POST",   "/api/v1/me/webhooks",              "alerts.webhook.create", &mg_webhook_create_request_desc, &mg_webhook_desc,         NULL,            GW_ROUTE_BODY | GW_ROUTE_USER, 201 },
    { "DELETE", "/api/v1/me/webhooks/{id}",         "alerts.webhook.delete", &mg_webhook_request_desc,     NULL,                        NULL,            GW_ROUTE_USER, 204 },
    { "GET",    "/api/v1/me/webhooks/{id}/deliveries", "alerts.deliveries", &mg_deliveries_request_desc,   &mg_deliveries_page_desc,    NULL,            GW_ROUTE_USER, 200 },
    { "POST",   "/api/v1/me/webhooks/{id}/deliveries/{delivery}/replay", "alerts.replay", &mg_replay_request_desc, &mg_delivery_desc,     NULL,            GW_ROUTE_USER, 202 },
    { "POST",   GW_IMPORT_PATH,                     NULL,                   &mg_sync_user_request_desc,    &mg_import_job_desc,         gw_import_post,  GW_ROUTE_USER | GW_ROUTE_LONG, 200 },
    { "GET",    "/api/v1/me/imports/{id}",          "sync.import.get",      &mg_import_request_desc,       &mg_import_job_desc,         NULL,            GW_ROUTE_USER, 200 },
    { "POST",   "/api/v1/sync/ops",                 "sync.ops",             &mg_sync_ops_request_desc,     &mg_sync_ops_reply_desc,     NULL,            GW_ROUTE_RAW_BODY | GW_ROUTE_USER | GW_ROUTE_PREFS, 200 },
    { "POST",   "/api/v1/sync/handoff",             "sync.handoff",         &mg_sync_handoff_request_desc, &mg_sync_handoff_desc,       NULL,            GW_ROUTE_BODY | GW_ROUTE_USER, 202 },
    { "GET",    "/api/v1/sync/stream",              NULL,                   &mg_sync_stream_request_desc,  NULL,                        gw_sse_open,     GW_ROUTE_USER | GW_ROUTE_QUERY_DEVICE, 200 },
    { "GET",    "/api/v1/openapi.yaml",             NULL,                   NULL,                          NULL,                        gw_openapi_serve_yaml, GW_ROUTE_PUBLIC, 200 },
    { "GET",    "/api/v1/openapi.json",             NULL,                   NULL,                          NULL,                        gw_openapi_serve_json, GW_ROUTE_PUBLIC, 200 },
};

#define ROUTES_COUNT      (sizeof s_routes / sizeof s_routes [0])
#define SERVICES_MAX      32        //  distinct services the table may name
#define MSG_FIELDS_MAX    64        //  fields a request message may have (duplicate mask)
#define PARAM_NAME_SHOWN  64        //  bytes of a bad parameter's name echoed in errors

static char s_service_names [SERVICES_MAX][MG_NAME_MAX + 1];
static const char *s_services [SERVICES_MAX + 1];

//  The HTTP methods a route may name.
static const struct {
    const char *name;
    int bit;
} s_methods [] = {
    { "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST }, { "PUT", EVHTTP_REQ_PUT },
    { "DELETE", EVHTTP_REQ_DELETE }, { "PATCH", EVHTTP_REQ_PATCH }
};

//  EVHTTP_REQ_* bit of a method name, or 0.
static int
s_method_bit (const char *name)
{
    for (size_t i = 0; i < sizeof s_methods / sizeof s_methods [0]; i++)
        if (strcmp (s_methods [i].name, name) == 0)
            return s_methods [i].bit;
    return 0;
}

size_t
gw_routes_count (void)
{
    return ROUTES_COUNT;
}

const gw_route_t *
gw_routes_at (size_t index)
{
    return index < ROUTES_COUNT ? &s_routes [index] : NULL;
}

size_t
gw_routes_index (const gw_route_t *route)
{
    return route ? (size_t) (route - s_routes) : ROUTES_COUNT;
}

const char *const *
gw_routes_services (void)
{
    return s_services;
}

//  Remember the service of a bus method once. Returns 0, or -1 when full.
static int
s_add_service (const char *method)
{
    size_t len = mg_frame_service_len (method, strlen (method));
    size_t i = 0;
    for (; s_services [i]; i++)
        if (strlen (s_services [i]) == len && memcmp (s_services [i], method, len) == 0)
            return 0;
    if (i == SERVICES_MAX)
        return -1;
    memcpy (s_service_names [i], method, len);
    s_service_names [i][len] = '\0';
    s_services [i] = s_service_names [i];
    return 0;
}

//  Check one route; log and return -1 when it is unusable.
static int
s_check_route (const gw_route_t *route)
{
    const char *why = NULL;
    if (!s_method_bit (route->method))
        why = "unknown method";
    else
    if (!route->path || route->path [0] != '/')
        why = "path must start with '/'";
    else
    if (!route->bus == !route->handler)
        why = "needs exactly one of a bus method and a local handler";
    else
    if (route->bus && !mg_frame_name_valid (route->bus, strlen (route->bus)))
        why = "invalid bus method name";
    else
    if (route->bus && !route->request)
        why = "a bus route needs a request message (mg_empty_desc for none)";
    else
    if ((route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION))
    &&  (!route->request || !mg_msg_field (route->request, GW_USER_FIELD)))
        why = "a route for signed-in callers needs a user_id field in its request message";
    else
    if ((route->flags & GW_ROUTE_CACHE) && ((route->reply != &mg_search_reply_desc
                                           && route->reply != &mg_content_details_desc
                                           && (!route->bus || strcmp (route->bus, GW_CACHE_DISCOVER_METHOD) != 0))
                                         || (route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION))))
        why = "only search.query, catalog.content and catalog.discover replies are cached, for any caller alike";
    else
    if ((route->flags & GW_ROUTE_MINE)
    &&  (!route->request || !mg_msg_field (route->request, GW_MINE_SERVICES_FIELD)
      || !mg_msg_field (route->request, GW_MINE_REGION_FIELD) || !mg_msg_field (route->request, GW_SIGNED_IN_FIELD)))
        why = "an available=mine route needs my_services, my_region and signed_in fields";
    else
    if ((route->request && (route->request->size > GW_MSG_STORAGE
                        ||  route->request->nfields > MSG_FIELDS_MAX))
    ||  (route->reply && route->reply->size > GW_MSG_STORAGE))
        why = "message struct too large for the gateway's stack storage";
    if (!why)
        for (const char *p = strchr (route->path, '{'); p; p = strchr (p + 1, '{')) {
            const char *close = strchr (p, '}');
            char name [MG_NAME_MAX + 1];
            size_t len = close ? (size_t) (close - p - 1) : 0;
            if (!close || len == 0 || len > MG_NAME_MAX || memchr (p + 1, '/', len)
            ||  (close [1] != '/' && close [1] != '\0')) {
                why = "malformed {parameter} in path";
                break;
            }
            memcpy (name, p + 1, len);
            name [len] = '\0';
            const mg_field_t *field = route->request ? mg_msg_field (route->request, name) : NULL;
            if (!field || field->type == MG_T_MSG || field->type == MG_T_MSGLIST) {
                why = "path parameter is not a text field of the request message";
                break;
            }
        }
    if (why) {
        mg_error ("bad route", "method=%s path=\"%s\" reason=\"%s\"",
                  route->method, route->path ? route->path : "", why);
        return -1;
    }
    return 0;
}

int
gw_routes_check (void)
{
    memset (s_services, 0, sizeof s_services);
    for (size_t i = 0; i < ROUTES_COUNT; i++) {
        if (s_check_route (&s_routes [i]))
            return -1;
        if (s_routes [i].bus && s_add_service (s_routes [i].bus)) {
            mg_error ("too many services in the route table", "max=%d", SERVICES_MAX);
            return -1;
        }
    }
    return 0;
}

bool
gw_routes_path_match (const char *pattern, const char *path, size_t len, gw_match_t *match)
{
    size_t at = 0;
    match->nparams = 0;
    const char *p = pattern;
    while (*p) {
        if (*p == '{') {
            const char *close = strchr (p, '}');
            size_t start = at;
            while (at < len && path [at] != '/')
                at++;
            if (at == start || match->nparams == GW_PATH_PARAMS_MAX)
                return false;
            match->params [match->nparams++] = (gw_param_t) {
                .name = p + 1, .name_len = (size_t) (close - p - 1),
                .value = path + start, .value_len = at - start
            };
            p = close + 1;
        }
        else {
            if (at >= len || path [at] != *p)
                return false;
            at++;
            p++;
        }
    }
    return at == len;
}

gw_match_result_t
gw_routes_match (int method, const char *path, size_t len, gw_match_t *match)
{
    assert (match);
    //  HEAD is a GET without the body (libevent drops the body).
    int wanted = method == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : method;
    int allowed = 0;
    match->mine = NULL;
    for (size_t i = 0; i < ROUTES_COUNT; i++) {
        const gw_route_t *route = &s_routes [i];
        if (!gw_routes_path_match (route->path, path, len, match))
            continue;
        int bit = s_method_bit (route->method);
        if (bit == wanted) {
            match->route = route;
            return GW_MATCH_OK;
        }
        allowed |= bit;
    }
    match->route = NULL;
    match->nparams = 0;
    if (!allowed)
        return GW_MATCH_NO_PATH;
    size_t used = 0;
    match->allow [0] = '\0';
    for (size_t i = 0; i < sizeof s_methods / sizeof s_methods [0]; i++) {
        if (!(allowed & s_methods [i].bit))
            continue;
        int n = snprintf (match->allow + used, sizeof match->allow - used, "%s%s%s",
                          used ? ", " : "", s_methods [i].name,
                          s_methods [i].bit == EVHTTP_REQ_GET ? ", HEAD" : "");
        if (n < 0 || (size_t) n >= sizeof match->allow - used)
            break;
        used += (size_t) n;
    }
    return GW_MATCH_NO_METHOD;
}

static int
s_fault (gw_fault_t *fault, int status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Fill fault with an HTTP error; returns -1.
static int
s_fault (gw_fault_t *fault, int status, const char *code, const char *fmt, ...)
{
    fault->status = status;
    fault->code = code;
    va_list args;
    va_start (args, fmt);
    vsnprintf (fault->message, sizeof fault->message, fmt, args);
    va_end (args);
    return -1;
}

//  Value of a hex digit, or -1.
static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Percent-decode src (len bytes) into dst (room for len + 1), '+' as space
//  when plus is set. Returns the decoded length, or -1 on a malformed escape
//  or an encoded NUL (parameters are C strings).
static ssize_t
s_decode (const char *src, size_t len, char *dst, bool plus)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src [i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = s_hex (src [i + 1]);
            int lo = s_hex (src [i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            dst [out++] = (char) (hi * 16 + lo);
            i += 2;
        }
        else
            dst [out++] = (plus && c == '+') ? ' ' : c;
    }
    dst [out] = '\0';
    return (ssize_t) out;
}

//  Strip "field: " that mg_msg_set_text puts before its reason.
static const char *
s_reason (const char *err, const char *field)
{
    size_t len = strlen (field);
    if (strncmp (err, field, len) == 0 && err [len] == ':' && err [len + 1] == ' ')
        return err + len + 2;
    return err;
}

//  True when content_type is application/json (any parameters).
static bool
s_is_json (const char *content_type)
{
    static const char json [] = "application/json";
    if (!content_type)
        return false;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    if (strncasecmp (content_type, json, sizeof json - 1) != 0)
        return false;
    char next = content_type [sizeof json - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

//  Index of field in desc (field belongs to desc).
static size_t
s_field_index (const mg_msgdesc_t *desc, const mg_field_t *field)
{
    return (size_t) (field - desc->fields);
}

//  Bind the JSON body into msg (a zeroed message of desc). Returns 0 or -1.
static int
s_bind_body (const mg_msgdesc_t *desc, struct evbuffer *body, const char *content_type,
             const char *user_id, void *msg, gw_fault_t *fault)
{
    size_t len = evbuffer_get_length (body);
    if (!s_is_json (content_type))
        return s_fault (fault, 415, "UNSUPPORTED_MEDIA_TYPE",
                        "the request body must be application/json");
    const char *text = (const char *) evbuffer_pullup (body, -1);
    json_error_t error;
    json_t *json = json_loadb (text, len, JSON_REJECT_DUPLICATES, &error);
    if (!json)
        return s_fault (fault, 400, "INVALID_JSON", "the request body is not valid JSON: %s (line %d, column %d)",
                        error.text, error.line, error.column);
    if (!json_is_object (json)) {
        json_decref (json);
        return s_fault (fault, 400, "INVALID_JSON", "the request body must be a JSON object");
    }
    //  The caller's id comes from their credentials only, the device from X-Device-Id.
    const char *refused = user_id && json_object_get (json, GW_DEVICE_FIELD) ? GW_DEVICE_FIELD : NULL;
    const char *key;
    json_t *value;
    json_object_foreach (json, key, value)
        if (!refused && gw_routes_gateway_field (key))
            refused = key;
    if (refused) {
        //  The message is written before json (which holds key) goes.
        s_fault (fault, 400, "INVALID_PARAMETER", "invalid request body: unknown field '%.64s'", refused);
        json_decref (json);
        return -1;
    }
    if (user_id && json_object_set_new (json, GW_USER_FIELD, json_string (user_id))) {
        json_decref (json);
        return s_fault (fault, 500, "INTERNAL", "out of memory");
    }
    char reason [MG_MSG_ERR_LEN];
    int rc = mg_msg_from_json (desc, json, msg, reason, sizeof reason);
    json_decref (json);
    if (rc)
        return s_fault (fault, 400, "INVALID_PARAMETER", "invalid request body: %s", reason);
    return 0;
}

//  Put the JSON body, as text, into msg's "body" field: the service checks
//  it item by item (a bad record must not fail a batch). Returns 0 or -1.
static int
s_bind_raw_body (const mg_msgdesc_t *desc, struct evbuffer *body, const char *content_type,
                 void *msg, gw_fault_t *fault)
{
    if (!s_is_json (content_type))
        return s_fault (fault, 415, "UNSUPPORTED_MEDIA_TYPE",
                        "the request body must be application/json");
    size_t len = evbuffer_get_length (body);
    const char *text = (const char *) evbuffer_pullup (body, -1);
    if (len == 0 || !text || memchr (text, '\0', len))
        return s_fault (fault, 400, "INVALID_JSON", "the request body must be a JSON document");
    char *copy = malloc (len + 1);
    if (!copy)
        return s_fault (fault, 500, "INTERNAL", "out of memory");
    memcpy (copy, text, len);
    copy [len] = '\0';
    char reason [MG_MSG_ERR_LEN];
    int rc = mg_msg_set_text (mg_msg_field (desc, "body"), msg, copy, reason, sizeof reason);
    free (copy);
    if (rc)
        return s_fault (fault, 400, "INVALID_JSON", "invalid request body: %s", reason);
    return 0;
}

bool
gw_routes_gateway_field (const char *name)
{
    static const char *const fields [] = {
        GW_USER_FIELD, GW_CLIENT_FIELD, GW_MINE_SERVICES_FIELD, GW_MINE_REGION_FIELD, GW_SIGNED_IN_FIELD
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++)
        if (strcmp (name, fields [i]) == 0)
            return true;
    return false;
}

//  Bind a signed-in caller's services and region (GW_ROUTE_MINE) into msg.
//  Returns 0 or -1.
static int
s_bind_mine (const gw_mine_t *mine, const mg_msgdesc_t *desc, void *msg, gw_fault_t *fault)
{
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_set_text (mg_msg_field (desc, GW_SIGNED_IN_FIELD), msg, "true", reason, sizeof reason)
    ||  (*mine->region && mg_msg_set_text (mg_msg_field (desc, GW_MINE_REGION_FIELD), msg, mine->region,
                                           reason, sizeof reason))
    ||  (*mine->services && mg_msg_set_text (mg_msg_field (desc, GW_MINE_SERVICES_FIELD), msg, mine->services,
                                             reason, sizeof reason)))
        return s_fault (fault, 500, "INTERNAL", "cannot pass the caller's services on: %s", reason);
    return 0;
}

//  Bind path parameters into msg. Returns 0 or -1.
static int
s_bind_path (const gw_match_t *match, const mg_msgdesc_t *desc, void *msg, gw_fault_t *fault)
{
    for (size_t i = 0; i < match->nparams; i++) {
        const gw_param_t *param = &match->params [i];
        char name [MG_NAME_MAX + 1];
        memcpy (name, param->name, param->name_len);
        name [param->name_len] = '\0';
        const mg_field_t *field = mg_msg_field (desc, name);
        char *value = malloc (param->value_len + 1);
        if (!value)
            return s_fault (fault, 500, "INTERNAL", "out of memory");
        char reason [MG_MSG_ERR_LEN];
        int rc = 0;
        if (s_decode (param->value, param->value_len, value, false) < 0)
            rc = s_fault (fault, 400, "INVALID_PARAMETER",
                          "malformed percent-encoding in path parameter '%s'", name);
        else
        if (mg_msg_set_text (field, msg, value, reason, sizeof reason))
            rc = s_fault (fault, 400, "INVALID_PARAMETER", "invalid path parameter '%s': %s",
                          name, s_reason (reason, name));
        free (value);
        if (rc)
            return rc;
    }
    return 0;
}

//  True when name is one of the route's path parameters.
static bool
s_is_path_param (const gw_match_t *match, const char *name)
{
    for (size_t i = 0; i < match->nparams; i++)
        if (strlen (name) == match->params [i].name_len
        &&  memcmp (name, match->params [i].name, match->params [i].name_len) == 0)
            return true;
    return false;
}

//  Bind the query string into msg (desc may be NULL: no parameter allowed).
//  scratch has room for query_len + 1 bytes. Returns 0 or -1.
static int
s_bind_query (const gw_match_t *match, const mg_msgdesc_t *desc, const char *query,
              size_t query_len, char *scratch, void *msg, gw_fault_t *fault)
{
    uint64_t seen = 0;
    size_t at = 0;
    //  Routes for signed-in callers take device_id from X-Device-Id only.
    bool desc_user = desc && (match->route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) != 0
                  && !(match->route->flags & GW_ROUTE_QUERY_DEVICE);
    while (at < query_len) {
        const char *pair = query + at;
        const char *amp = memchr (pair, '&', query_len - at);
        size_t pair_len = amp ? (size_t) (amp - pair) : query_len - at;
        at += pair_len + 1;
        if (pair_len == 0)
            continue;           //  "a=1&&b=2", a trailing '&'
        const char *eq = memchr (pair, '=', pair_len);
        size_t name_len = eq ? (size_t) (eq - pair) : pair_len;
        char *name = scratch;
        ssize_t n = s_decode (pair, name_len, name, true);
        if (n < 0)
            return s_fault (fault, 400, "INVALID_PARAMETER",
                            "malformed percent-encoding in query parameter '%.*s'",
                            (int) (name_len < PARAM_NAME_SHOWN ? name_len : PARAM_NAME_SHOWN), pair);
        const mg_field_t *field = desc && n > 0 && !gw_routes_gateway_field (name)
                                && !(desc_user && strcmp (name, GW_DEVICE_FIELD) == 0)
                                ? mg_msg_field (desc, name) : NULL;
        if (!field || s_is_path_param (match, name)
        ||  field->type == MG_T_MSG || field->type == MG_T_MSGLIST)
            return s_fault (fault, 400, "INVALID_PARAMETER", "unknown query parameter '%.*s'",
                            PARAM_NAME_SHOWN, name);
        uint64_t bit = (uint64_t) 1 << s_field_index (desc, field);
        if (seen & bit)
            return s_fault (fault, 400, "INVALID_PARAMETER",
                            "query parameter '%s' is given more than once", field->name);
        seen |= bit;
        char *value = scratch + n + 1;
        const char *raw = eq ? eq + 1 : pair + pair_len;
        size_t raw_len = eq ? pair_len - name_len - 1 : 0;
        if (s_decode (raw, raw_len, value, true) < 0)
            return s_fault (fault, 400, "INVALID_PARAMETER",
                            "malformed percent-encoding in query parameter '%s'", field->name);
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_set_text (field, msg, value, reason, sizeof reason))
            return s_fault (fault, 400, "INVALID_PARAMETER", "invalid query parameter '%s': %s",
                            field->name, s_reason (reason, field->name));
    }
    return 0;
}

int
gw_routes_bind (const gw_match_t *match, const char *query, size_t query_len,
                struct evbuffer *body, const char *content_type, const char *user_id,
                const char *device_id, const char *client, uint8_t **body_p, size_t *len_p,
                gw_fault_t *fault)
{
    assert (match && match->route);
    assert (body_p && len_p && fault);
    const gw_route_t *route = match->route;
    const mg_msgdesc_t *desc = route->request;
    *body_p = NULL;
    *len_p = 0;
    //  Names and values decode into one scratch copy: decoding only shrinks.
    char stack_scratch [512];
    char *scratch = stack_scratch;
    if (query_len + 2 > sizeof stack_scratch) {
        scratch = malloc (query_len + 2);
        if (!scratch)
            return s_fault (fault, 500, "INTERNAL", "out of memory");
    }
    alignas (max_align_t) unsigned char storage [GW_MSG_STORAGE];
    void *msg = storage;
    if (desc)
        memset (storage, 0, desc->size);
    int rc = 0;
    bool user_route = user_id && (route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION));
    bool body_bound = false;
    if (desc && (route->flags & GW_ROUTE_RAW_BODY))
        rc = s_bind_raw_body (desc, body ? body : NULL, content_type, msg, fault);
    else
    if (desc && (route->flags & GW_ROUTE_BODY) && body && evbuffer_get_length (body) > 0) {
        rc = s_bind_body (desc, body, content_type, user_route ? user_id : NULL, msg, fault);
        body_bound = true;
    }
    if (rc == 0 && desc)
        rc = s_bind_path (match, desc, msg, fault);
    if (rc == 0)
        rc = s_bind_query (match, desc, query, query_len, scratch, msg, fault);
    if (rc == 0 && desc && match->mine && (route->flags & GW_ROUTE_MINE))
        rc = s_bind_mine (match->mine, desc, msg, fault);
    if (rc == 0 && desc && user_route && !body_bound) {
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_set_text (mg_msg_field (desc, GW_USER_FIELD), msg, user_id, reason, sizeof reason))
            rc = s_fault (fault, 500, "INTERNAL", "cannot pass the caller on");
    }
    const mg_field_t *device_field = desc ? mg_msg_field (desc, GW_DEVICE_FIELD) : NULL;
    if (rc == 0 && user_route && device_id && device_field) {
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_set_text (device_field, msg, device_id, reason, sizeof reason))
            rc = s_fault (fault, 400, "INVALID_PARAMETER", "invalid X-Device-Id: %s", reason);
    }
    const mg_field_t *client_field = desc ? mg_msg_field (desc, GW_CLIENT_FIELD) : NULL;
    if (rc == 0 && client && *client && client_field) {
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_set_text (client_field, msg, client, reason, sizeof reason))
            rc = s_fault (fault, 500, "INTERNAL", "cannot pass the client address on");
    }
    if (rc == 0 && desc) {
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_encode (desc, msg, body_p, len_p, reason, sizeof reason))
            rc = s_fault (fault, 400, "INVALID_PARAMETER", "%s", reason);
    }
    if (desc)
        mg_msg_clear (desc, msg);
    if (scratch != stack_scratch)
        free (scratch);
    return rc;
}

int
gw_routes_require (const char *method)
{
    assert (method);
    return s_add_service (method);
}

uint32_t
gw_route_timeout_ms (const gw_route_t *route, const gw_config_t *config)
{
    assert (route && config);
    return (route->flags & GW_ROUTE_LONG) ? config->long_timeout_ms : config->request_timeout_ms;
}

bool
gw_query_param (const char *query, size_t len, const char *name, const char **value, size_t *value_len)
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
        if (key - at == name_len && memcmp (query + at, name, name_len) == 0) {
            *value = key < end ? query + key + 1 : query + end;
            *value_len = key < end ? end - key - 1 : 0;
            return true;
        }
        at = end + 1;
    }
    return false;
}
