/*  The MCP tools and resources: each one is a REST route of the table
    (routes.c) called through the same binding and the same bus message, so
    there is no second implementation of any logic and no second place for
    a parameter to drift.

    Schemas come from the OpenAPI document (openapi.c), built once at
    start: a tool's inputSchema is its route's path and query parameters
    (or JSON body fields) under their REST names, its outputSchema the
    route's success body, with every $ref inlined so that each schema
    stands alone. tools/list shows every tool to every caller.

    A call: the arguments are checked against the inputSchema's top level
    (names, required, JSON types: -32602 when wrong), then written as the
    route's query string, path and body and bound by gw_routes_bind, as an
    HTTP request would be. A value the route refuses, a bus error, a
    deadline or a user tool called anonymously is a tool result with
    isError and the API's error object {"error":{"code","message"}} as its
    text. A success has the REST body both as text and as
    structuredContent.  */
#include "gw_mcp.h"
#include "gw_bus.h"
#include "gw_json.h"
#include "gw_metrics.h"
#include "gw_openapi.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_PREFIX     "#/components/schemas/"
#define INLINE_DEPTH_MAX  32        //  deeper than any message nests; a cycle fails the start
#define ARG_TEXT_MAX      64        //  bytes of a number's text
#define RESOURCE_TITLE    "mediagateway://title/"
#define RESOURCE_WATCHLIST "mediagateway://me/watchlist"
#define WATCHLIST_PAGE    "100"     //  the resource shows the first page at the largest size

typedef struct {
    const char *name;
    const char *title;
    const char *method;             //  the REST route
    const char *path;
    const char *fixed;              //  query text the tool always sends, or NULL
    const char *only;               //  the route's parameters offered, comma-separated; NULL: all
    const char *description;
} s_tool_t;

static const s_tool_t s_tools [] = {
    { "search_titles", "Search titles", "GET", "/api/v1/search", NULL, NULL,
      "Search movies and series by text and filters (GET /api/v1/search). Without q: the catalog by "
      "popularity. Items carry id, type, title, year, genres, score and where to watch: availability, one "
      "region's offers (the page's offers_region) grouped by platform, each group with its link." },
    { "get_title", "Get a title", "GET", "/api/v1/content/{id}", NULL, NULL,
      "One title's details by id (GET /api/v1/content/{id}): overview, genres, credits, videos, external ids." },
    { "where_to_watch", "Where to watch", "GET", "/api/v1/content/{id}/availability", NULL, NULL,
      "Where a title can be watched, by region (GET /api/v1/content/{id}/availability): platform, "
      "subscription/rent/buy, quality, price, link." },
    { "trending", "Trending titles", "GET", "/api/v1/trending", NULL, NULL,
      "Titles trending now, over a day or a week (GET /api/v1/trending)." },
    { "discover", "Discover titles", "GET", "/api/v1/discover", NULL, NULL,
      "Browse titles by filters without a query: genres, years, platforms, region, rating, sort (GET /api/v1/discover)." },
    { "find_person", "Find a person", "GET", "/api/v1/search", "type=person", "q,page,per_page",
      "Find actors, directors and other people by name: GET /api/v1/search with type=person. Answers the search "
      "page shape (results, total, page, per_page); each result is a person: id, type \"person\", title (their "
      "name), known_for_department, profile (image URL). GET /api/v1/people/{id} has a person's filmography." },
    { "resolve_titles", "Resolve titles to ids", "POST", "/api/v1/resolve", NULL, NULL,
      "Match up to 1,000 records {title, year?, type?, genres?, ids?} to catalog ids (POST /api/v1/resolve): "
      "one result per record in order, null where nothing matched." },
    { "get_watchlist", "Get my watchlist", "GET", "/api/v1/me/watchlist", NULL, NULL,
      "The signed-in user's watchlist, one page (GET /api/v1/me/watchlist)." },
    { "add_to_watchlist", "Add to my watchlist", "PUT", "/api/v1/me/watchlist/{content_id}", NULL, NULL,
      "Add a title to the signed-in user's watchlist (PUT /api/v1/me/watchlist/{content_id})." },
    { "remove_from_watchlist", "Remove from my watchlist", "DELETE", "/api/v1/me/watchlist/{content_id}", NULL, NULL,
      "Remove a title from the signed-in user's watchlist (DELETE /api/v1/me/watchlist/{content_id})." },
    { "set_progress", "Set my progress", "PUT", "/api/v1/me/progress/{content_id}", NULL, NULL,
      "Record how far the signed-in user has watched a title (PUT /api/v1/me/progress/{content_id})." },
};

#define TOOLS (sizeof s_tools / sizeof s_tools [0])

//  Built at start, read-only after: the routes, the input schemas (for
//  checking arguments) and the tools/list answer.
static const gw_route_t *s_routes [TOOLS];
static json_t *s_inputs [TOOLS];
static json_t *s_list;

//  Route of method and path in the table, or NULL.
static const gw_route_t *
s_route_find (const char *method, const char *path)
{
    for (size_t i = 0; i < gw_routes_count (); i++) {
        const gw_route_t *route = gw_routes_at (i);
        if (strcmp (route->method, method) == 0 && strcmp (route->path, path) == 0)
            return route;
    }
    return NULL;
}

//  Follow "#/a/b/c" in doc.
static json_t *
s_pointer (json_t *doc, const char *ref)
{
    if (strncmp (ref, "#/", 2) != 0)
        return NULL;
    json_t *at = doc;
    char part [128];
    for (const char *p = ref + 2; at && *p; ) {
        size_t n = strcspn (p, "/");
        if (n >= sizeof part)
            return NULL;
        memcpy (part, p, n);
        part [n] = '\0';
        at = json_object_get (at, part);
        p += n + (p [n] == '/');
    }
    return at;
}

//  A copy of schema with its "$ref"s to components replaced by their
//  targets and OpenAPI's "example" annotations left out (JSON Schema has
//  none), so it stands alone. NULL on a cycle, a dangling $ref or no memory.
static json_t *
s_inline (json_t *doc, json_t *schema, int depth, bool property_names)
{
    if (depth > INLINE_DEPTH_MAX)
        return NULL;
    if (json_is_array (schema)) {
        json_t *copy = json_array ();
        size_t i;
        json_t *item;
        json_array_foreach (schema, i, item) {
            json_t *value = s_inline (doc, item, depth + 1, false);
            if (!copy || !value || json_array_append_new (copy, value)) {
                json_decref (value);
                json_decref (copy);
                return NULL;
            }
        }
        return copy;
    }
    if (!json_is_object (schema))
        return json_deep_copy (schema);
    const char *ref = json_string_value (json_object_get (schema, "$ref"));
    if (ref && !property_names) {
        json_t *target = strncmp (ref, SCHEMA_PREFIX, strlen (SCHEMA_PREFIX)) == 0 ? s_pointer (doc, ref) : NULL;
        return target ? s_inline (doc, target, depth + 1, false) : NULL;
    }
    json_t *copy = json_object ();
    const char *key;
    json_t *value;
    json_object_foreach (schema, key, value) {
        if (!property_names && strcmp (key, "example") == 0)
            continue;
        //  The keys of "properties" are names, not keywords.
        json_t *inner = property_names ? s_inline (doc, value, depth + 1, false)
                                       : s_inline (doc, value, depth + 1, strcmp (key, "properties") == 0);
        if (!copy || !inner || json_object_set_new (copy, key, inner)) {
            json_decref (inner);
            json_decref (copy);
            return NULL;
        }
    }
    return copy;
}

//  Is name in the comma-separated list (NULL: every name is)?
static bool
s_offered (const char *list, const char *name)
{
    if (!list)
        return true;
    size_t len = strlen (name);
    for (const char *p = list; *p; ) {
        size_t n = strcspn (p, ",");
        if (n == len && strncmp (p, name, n) == 0)
            return true;
        p += n + (p [n] == ',');
    }
    return false;
}

//  The inputSchema of tool from its operation op: path and query
//  parameters, then the JSON body's fields. NULL on failure.
static json_t *
s_input_schema (json_t *doc, json_t *op, const s_tool_t *tool)
{
    json_t *properties = json_object ();
    json_t *required = json_array ();
    bool ok = properties && required;
    size_t i;
    json_t *param;
    json_array_foreach (json_object_get (op, "parameters"), i, param) {
        const char *name = json_string_value (json_object_get (param, "name"));
        const char *in = json_string_value (json_object_get (param, "in"));
        if (!name || !in || (strcmp (in, "path") && strcmp (in, "query")) || !s_offered (tool->only, name))
            continue;
        json_t *schema = s_inline (doc, json_object_get (param, "schema"), 0, false);
        json_t *description = json_object_get (param, "description");
        if (!schema || (description && json_object_set (schema, "description", description))
        ||  json_object_set_new (properties, name, schema))
            ok = false;
        if (json_is_true (json_object_get (param, "required")) && json_array_append_new (required, json_string (name)))
            ok = false;
    }
    json_t *content = json_object_get (json_object_get (op, "requestBody"), "content");
    json_t *body = json_object_get (json_object_get (content, "application/json"), "schema");
    json_t *fields = body ? s_inline (doc, body, 0, false) : NULL;
    if (body && !fields)
        ok = false;
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (fields, "properties"), key, value)
        if (json_object_set (properties, key, value))
            ok = false;
    if (fields && json_array_extend (required, json_object_get (fields, "required") ? json_object_get (fields, "required")
                                                                                      : json_array ()))
        ok = false;
    json_decref (fields);
    json_t *schema = ok ? json_pack ("{s:s,s:O,s:b}", "type", "object", "properties", properties,
                                     "additionalProperties", 0) : NULL;
    if (schema && json_array_size (required) && json_object_set (schema, "required", required)) {
        json_decref (schema);
        schema = NULL;
    }
    json_decref (properties);
    json_decref (required);
    return schema;
}

//  The outputSchema of a route's operation: its success body, inlined.
static json_t *
s_output_schema (json_t *doc, json_t *op, const gw_route_t *route)
{
    char status [8];
    snprintf (status, sizeof status, "%d", route->status);
    json_t *content = json_object_get (json_object_get (json_object_get (op, "responses"), status), "content");
    json_t *schema = json_object_get (json_object_get (content, "application/json"), "schema");
    json_t *output = schema ? s_inline (doc, schema, 0, false) : NULL;
    const char *type = json_string_value (json_object_get (output, "type"));
    if (!type || strcmp (type, "object") != 0) {
        json_decref (output);
        return NULL;                //  MCP's structuredContent is an object
    }
    return output;
}

int
gw_mcp_tools_init (void)
{
    json_t *doc = gw_openapi_document ();
    json_t *tools = json_array ();
    int rc = doc && tools ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < TOOLS; i++) {
        const s_tool_t *tool = &s_tools [i];
        s_routes [i] = s_route_find (tool->method, tool->path);
        char method [8];
        size_t n = 0;
        for (; tool->method [n] && n + 1 < sizeof method; n++)
            method [n] = (char) tolower ((unsigned char) tool->method [n]);
        method [n] = '\0';
        json_t *op = json_object_get (json_object_get (json_object_get (doc, "paths"), tool->path), method);
        s_inputs [i] = s_routes [i] && op ? s_input_schema (doc, op, tool) : NULL;
        json_t *output = s_routes [i] && op ? s_output_schema (doc, op, s_routes [i]) : NULL;
        bool user = s_routes [i] && (s_routes [i]->flags & GW_ROUTE_USER);
        bool reads = strcmp (tool->method, "GET") == 0;
        json_t *entry = s_inputs [i] && output
            ? json_pack ("{s:s,s:s,s:s,s:O,s:o,s:{s:b,s:b,s:b,s:b}}", "name", tool->name, "title", tool->title,
                         "description", tool->description, "inputSchema", s_inputs [i], "outputSchema", output,
                         "annotations", "readOnlyHint", reads, "destructiveHint", 0,
                         "idempotentHint", 1, "openWorldHint", 0)
            : NULL;
        if (entry && user) {
            char text [1024];
            snprintf (text, sizeof text, "%s Needs a signed-in caller: anonymous calls answer UNAUTHORIZED.",
                      tool->description);
            if (json_object_set_new (entry, "description", json_string (text)))
                rc = -1;
        }
        if (!entry || json_array_append_new (tools, entry)) {
            if (!entry)
                json_decref (output);
            mg_error ("cannot describe an MCP tool", "tool=%s route=\"%s %s\"", tool->name, tool->method, tool->path);
            rc = -1;
        }
    }
    s_list = rc == 0 ? json_pack ("{s:O}", "tools", tools) : NULL;
    json_decref (tools);
    json_decref (doc);
    if (!s_list) {
        gw_mcp_tools_term ();
        return -1;
    }
    return 0;
}

void
gw_mcp_tools_term (void)
{
    for (size_t i = 0; i < TOOLS; i++) {
        json_decref (s_inputs [i]);
        s_inputs [i] = NULL;
    }
    json_decref (s_list);
    s_list = NULL;
}

json_t *
gw_mcp_tools_list (void)
{
    return s_list ? json_deep_copy (s_list) : NULL;
}

json_t *
gw_mcp_resources_list (void)
{
    return json_pack ("{s:[{s:s,s:s,s:s,s:s,s:s}]}", "resources",
                      "uri", RESOURCE_WATCHLIST, "name", "watchlist", "title", "My watchlist",
                      "description", "The signed-in caller's watchlist (first " WATCHLIST_PAGE " entries)",
                      "mimeType", "application/json");
}

json_t *
gw_mcp_resource_templates (void)
{
    return json_pack ("{s:[{s:s,s:s,s:s,s:s,s:s}]}", "resourceTemplates",
                      "uriTemplate", RESOURCE_TITLE "{id}", "name", "title", "title", "A title",
                      "description", "A movie or series by its id: the answer of GET /api/v1/content/{id}",
                      "mimeType", "application/json");
}

//  --------------------------------------------------------------------------
//  Calls

typedef struct {
    gw_request_t *request;
    const gw_route_t *route;
    json_t *id;                     //  the JSON-RPC id (a reference)
    char *uri;                      //  a resource read: its uri; a tool call: NULL
} s_call_t;

//  Index of the tool named name, or -1.
static int
s_tool_index (const char *name)
{
    for (size_t i = 0; name && i < TOOLS; i++)
        if (strcmp (s_tools [i].name, name) == 0)
            return (int) i;
    return -1;
}

//  Does value have JSON Schema type type ("number" takes integers too)?
static bool
s_type_fits (const char *type, const json_t *value)
{
    if (!type)
        return true;
    if (strcmp (type, "string") == 0)
        return json_is_string (value);
    if (strcmp (type, "integer") == 0)
        return json_is_integer (value);
    if (strcmp (type, "number") == 0)
        return json_is_number (value);
    if (strcmp (type, "boolean") == 0)
        return json_is_boolean (value);
    if (strcmp (type, "array") == 0)
        return json_is_array (value);
    if (strcmp (type, "object") == 0)
        return json_is_object (value);
    return true;
}

//  Check arguments against schema's top level. Returns 0, or -1 with why.
static int
s_check_arguments (const json_t *schema, const json_t *arguments, char *why, size_t size)
{
    json_t *properties = json_object_get (schema, "properties");
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) arguments, key, value) {
        json_t *property = json_object_get (properties, key);
        if (!property) {
            snprintf (why, size, "unknown argument '%.64s'", key);
            return -1;
        }
        const char *type = json_string_value (json_object_get (property, "type"));
        json_t *items = json_object_get (property, "items");
        if (!s_type_fits (type, value)) {
            snprintf (why, size, "argument '%s' must be of type %s", key, type);
            return -1;
        }
        const char *item_type = json_string_value (json_object_get (items, "type"));
        size_t i;
        json_t *item;
        if (json_is_array (value))
            json_array_foreach (value, i, item)
                if (!s_type_fits (item_type, item)) {
                    snprintf (why, size, "the items of argument '%s' must be of type %s", key, item_type);
                    return -1;
                }
    }
    size_t i;
    json_t *name;
    json_array_foreach (json_object_get (schema, "required"), i, name)
        if (!json_object_get (arguments, json_string_value (name))) {
            snprintf (why, size, "argument '%s' is required", json_string_value (name));
            return -1;
        }
    return 0;
}

//  Append text (len bytes) percent-encoded (RFC 3986 unreserved kept).
static int
s_encode (struct evbuffer *out, const char *text, size_t len)
{
    static const char hex [] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        int rc = isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~'
               ? evbuffer_add (out, &text [i], 1)
               : evbuffer_add_printf (out, "%%%c%c", hex [c >> 4], hex [c & 15]) < 0 ? -1 : 0;
        if (rc)
            return -1;
    }
    return 0;
}

//  Append a scalar argument as a parameter's text (strings as they are,
//  arrays comma-separated as REST lists are). Returns 0 or -1.
static int
s_encode_value (struct evbuffer *out, const json_t *value)
{
    char text [ARG_TEXT_MAX];
    if (json_is_string (value))
        return s_encode (out, json_string_value (value), json_string_length (value));
    if (json_is_integer (value))
        snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
    else
    if (json_is_real (value))
        snprintf (text, sizeof text, "%.17g", json_real_value (value));
    else
    if (json_is_boolean (value))
        snprintf (text, sizeof text, "%s", json_is_true (value) ? "true" : "false");
    else
    if (json_is_array (value)) {
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item)
            if ((i > 0 && evbuffer_add (out, ",", 1)) || s_encode_value (out, item))
                return -1;
        return 0;
    }
    else
        return -1;
    return s_encode (out, text, strlen (text));
}

//  A tool result that is an error: the API's error object as its text.
static json_t *
s_tool_error (const char *code, const char *message)
{
    json_t *error = json_pack ("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = error ? json_dumps (error, JSON_COMPACT) : NULL;
    json_decref (error);
    json_t *result = text ? json_pack ("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text, "isError", 1) : NULL;
    free (text);
    return result;
}

//  End call with an API error: a tool result with isError, or a JSON-RPC
//  error for a resource (-32002 when there is no such resource).
static void
s_fail (s_call_t *call, const char *code, const char *message)
{
    if (!call->uri) {
        gw_mcp_result (call->request, call->id, s_tool_error (code, message), true);
        return;
    }
    int rpc = strcmp (code, "NOT_FOUND") == 0 ? GW_RPC_RESOURCE_NOT_FOUND
            : strcmp (code, "INVALID_PARAMETER") == 0 ? GW_RPC_INVALID_PARAMS : GW_RPC_INTERNAL_ERROR;
    gw_mcp_error (call->request, call->id, rpc, message,
                  json_pack ("{s:s,s:{s:s,s:s}}", "uri", call->uri, "error", "code", code, "message", message));
}

//  End call with the REST body text (len bytes).
static void
s_succeed (s_call_t *call, const char *text, size_t len)
{
    json_t *result = NULL;
    if (call->uri)
        result = json_pack ("{s:[{s:s,s:s,s:s%}]}", "contents", "uri", call->uri, "mimeType", "application/json",
                            "text", text, len);
    else {
        json_t *structured = json_loadb (text, len, 0, NULL);
        if (structured)
            result = json_pack ("{s:[{s:s,s:s%}],s:o}", "content", "type", "text", "text", text, len,
                                "structuredContent", structured);
    }
    if (result)
        gw_mcp_result (call->request, call->id, result, true);
    else
        s_fail (call, "INTERNAL", "could not encode the answer");
}

//  A REP: the route's reply message written as the REST body.
static void
s_on_reply (s_call_t *call, const uint8_t *body, size_t len)
{
    const gw_route_t *route = call->route;
    if (!route->reply) {
        s_succeed (call, "{}", 2);
        return;
    }
    alignas (max_align_t) unsigned char storage [GW_MSG_STORAGE];
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (route->reply, body, len, storage, reason, sizeof reason)) {
        mg_error ("undecodable bus reply", "method=%s reason=\"%s\"", route->bus, reason);
        s_fail (call, "BAD_REPLY", "the service sent an invalid reply");
        return;
    }
    struct evbuffer *out = evbuffer_new ();
    int rc = out ? gw_msg_append (out, route->reply, storage, (route->flags & GW_ROUTE_NULLS) != 0) : -1;
    mg_msg_clear (route->reply, storage);
    size_t size = out ? evbuffer_get_length (out) : 0;
    const char *text = rc == 0 ? (const char *) evbuffer_pullup (out, -1) : NULL;
    if (text)
        s_succeed (call, text, size);
    else
        s_fail (call, "INTERNAL", "could not encode the answer");
    if (out)
        evbuffer_free (out);
}

//  An ERR: the service's code and message.
static void
s_on_error (s_call_t *call, const uint8_t *body, size_t len)
{
    mg_error_t error;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_error_desc, body, len, &error, reason, sizeof reason)) {
        s_fail (call, "BAD_REPLY", "the service sent an invalid error");
        return;
    }
    s_fail (call, error.code ? error.code : "INTERNAL", error.message ? error.message : "");
    mg_msg_clear (&mg_error_desc, &error);
}

//  Bus callback: the route's call ended; answer and free the call.
static void
s_on_answer (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len, int64_t rtt_us)
{
    s_call_t *call = arg;
    gw_request_t *request = call->request;
    gw_metrics_bus (request->metrics, gw_routes_index (request->route), outcome, rtt_us);
    char message [160];
    switch (outcome) {
        case GW_BUS_REPLY:
            s_on_reply (call, body, len);
            break;
        case GW_BUS_ERROR:
            s_on_error (call, body, len);
            break;
        case GW_BUS_TIMEOUT:
            snprintf (message, sizeof message, "no answer from %s within %u ms", call->route->bus,
                      gw_route_timeout_ms (call->route, request->config));
            s_fail (call, "DEADLINE_EXCEEDED", message);
            break;
        case GW_BUS_LOST:
            s_fail (call, "SERVICE_UNAVAILABLE", "lost the connection to the message broker");
            break;
    }
    json_decref (call->id);
    free (call->uri);
    free (call);
}

//  Write arguments as route's query, path parameters and body, bind them as
//  REST does, send the bus message. Ends the request (answered now or when
//  the bus answers). fixed: query text always sent (may be NULL).
static void
s_call (gw_request_t *request, const json_t *id, const gw_route_t *route, const json_t *arguments,
        const char *fixed, const char *uri)
{
    s_call_t local = { .request = request, .route = route, .id = (json_t *) id, .uri = (char *) uri };
    if ((route->flags & GW_ROUTE_USER) && request->caller.kind == GW_CALLER_ANONYMOUS) {
        s_fail (&local, "UNAUTHORIZED", "sign in first: connect with Authorization: Bearer <access token> or X-API-Key");
        return;
    }
    bool has_body = (route->flags & (GW_ROUTE_BODY | GW_ROUTE_RAW_BODY)) != 0;
    struct evbuffer *query = evbuffer_new ();
    struct evbuffer *paths = evbuffer_new ();
    struct evbuffer *body = evbuffer_new ();
    json_t *fields = json_object ();
    gw_match_t match = { .route = route };
    int rc = query && paths && body && fields ? 0 : -1;
    //  Path parameters first: their encoded values stay in paths, read by the match.
    size_t offsets [GW_PATH_PARAMS_MAX];
    for (const char *p = strchr (route->path, '{'); rc == 0 && p; p = strchr (p + 1, '{')) {
        const char *close = strchr (p, '}');
        char name [MG_NAME_MAX + 1];
        snprintf (name, sizeof name, "%.*s", (int) (close - p - 1), p + 1);
        json_t *value = json_object_get (arguments, name);
        if (match.nparams == GW_PATH_PARAMS_MAX || !value) {
            rc = -1;
            break;
        }
        offsets [match.nparams] = evbuffer_get_length (paths);
        match.params [match.nparams++] = (gw_param_t) { .name = p + 1, .name_len = (size_t) (close - p - 1) };
        rc = s_encode_value (paths, value);
    }
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) arguments, key, value) {
        bool in_path = false;
        for (size_t i = 0; i < match.nparams; i++)
            in_path |= strlen (key) == match.params [i].name_len && memcmp (key, match.params [i].name, strlen (key)) == 0;
        if (rc || in_path)
            continue;
        if (has_body)
            rc = json_object_set (fields, key, value);
        else {
            if (evbuffer_get_length (query))
                rc = evbuffer_add (query, "&", 1);
            if (rc == 0)
                rc = s_encode (query, key, strlen (key));
            if (rc == 0)
                rc = evbuffer_add (query, "=", 1);
            if (rc == 0)
                rc = s_encode_value (query, value);
        }
    }
    if (rc == 0 && fixed)
        rc = evbuffer_add_printf (query, "%s%s", evbuffer_get_length (query) ? "&" : "", fixed) < 0 ? -1 : 0;
    if (rc == 0 && has_body && json_object_size (fields)) {
        char *text = json_dumps (fields, JSON_COMPACT);
        rc = text ? evbuffer_add (body, text, strlen (text)) : -1;
        free (text);
    }
    json_decref (fields);
    size_t path_len = paths ? evbuffer_get_length (paths) : 0;
    const char *path_text = rc == 0 ? (const char *) evbuffer_pullup (paths, -1) : NULL;
    for (size_t i = 0; rc == 0 && i < match.nparams; i++) {
        size_t end = i + 1 < match.nparams ? offsets [i + 1] : path_len;
        match.params [i].value = path_text + offsets [i];
        match.params [i].value_len = end - offsets [i];
    }
    uint8_t *bus_body = NULL;
    size_t bus_len = 0;
    gw_fault_t fault = { .status = 500, .code = "INTERNAL" };
    snprintf (fault.message, sizeof fault.message, "could not build the request");
    if (rc == 0) {
        size_t query_len = evbuffer_get_length (query);
        const char *query_text = query_len ? (const char *) evbuffer_pullup (query, -1) : "";
        const char *user = request->caller.kind != GW_CALLER_ANONYMOUS ? request->caller.user_id : NULL;
        rc = gw_routes_bind (&match, query_text, query_len, body, "application/json", user, NULL,
                             request->caller.address, &bus_body, &bus_len, &fault);
    }
    if (query)
        evbuffer_free (query);
    if (paths)
        evbuffer_free (paths);
    if (body)
        evbuffer_free (body);
    if (rc) {
        s_fail (&local, fault.code, fault.message);
        return;
    }
    s_call_t *call = malloc (sizeof *call);
    char *uri_copy = uri ? strdup (uri) : NULL;
    if (!call || (uri && !uri_copy)) {
        free (call);
        free (uri_copy);
        free (bus_body);
        s_fail (&local, "INTERNAL", "out of memory");
        return;
    }
    *call = (s_call_t) { .request = request, .route = route, .id = json_incref ((json_t *) id), .uri = uri_copy };
    rc = gw_bus_call (request->bus, route->bus, bus_body, bus_len, gw_route_timeout_ms (route, request->config),
                      s_on_answer, call);
    free (bus_body);
    if (rc) {
        json_decref (call->id);
        free (call->uri);
        free (call);
        s_fail (&local, "SERVICE_UNAVAILABLE", "the message broker is unreachable");
    }
}

void
gw_mcp_tools_call (gw_request_t *request, const json_t *id, const json_t *params)
{
    assert (request);
    const char *name = json_string_value (json_object_get (params, "name"));
    int index = s_tool_index (name);
    if (index < 0) {
        gw_mcp_error (request, id, GW_RPC_INVALID_PARAMS, "unknown tool",
                      json_pack ("{s:s?}", "name", name));
        return;
    }
    json_t *arguments = json_object_get (params, "arguments");
    json_t *none = arguments ? NULL : json_object ();
    if (arguments && !json_is_object (arguments)) {
        gw_mcp_error (request, id, GW_RPC_INVALID_PARAMS, "arguments must be an object", NULL);
        return;
    }
    char why [160];
    if (s_check_arguments (s_inputs [index], arguments ? arguments : none, why, sizeof why)) {
        json_decref (none);
        gw_mcp_error (request, id, GW_RPC_INVALID_PARAMS, why, json_pack ("{s:s}", "tool", name));
        return;
    }
    s_call (request, id, s_routes [index], arguments ? arguments : none, s_tools [index].fixed, NULL);
    json_decref (none);
}

void
gw_mcp_resources_read (gw_request_t *request, const json_t *id, const json_t *params)
{
    assert (request);
    const char *uri = json_string_value (json_object_get (params, "uri"));
    if (!uri) {
        gw_mcp_error (request, id, GW_RPC_INVALID_PARAMS, "resources/read needs params.uri", NULL);
        return;
    }
    size_t prefix = strlen (RESOURCE_TITLE);
    json_t *arguments = NULL;
    int tool = -1;
    if (strncmp (uri, RESOURCE_TITLE, prefix) == 0 && uri [prefix] && !strchr (uri + prefix, '/')) {
        arguments = json_pack ("{s:s}", "id", uri + prefix);
        tool = s_tool_index ("get_title");
    }
    else
    if (strcmp (uri, RESOURCE_WATCHLIST) == 0) {
        arguments = json_pack ("{s:i}", "per_page", atoi (WATCHLIST_PAGE));
        tool = s_tool_index ("get_watchlist");
    }
    if (tool < 0) {
        gw_mcp_error (request, id, GW_RPC_RESOURCE_NOT_FOUND, "no such resource", json_pack ("{s:s}", "uri", uri));
        return;
    }
    if (!arguments) {
        gw_mcp_error (request, id, GW_RPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    s_call (request, id, s_routes [tool], arguments, NULL, uri);
    json_decref (arguments);
}
