/*  The OpenAPI 3.1 description of the HTTP API, generated from the route
    table (routes.c) and the message descriptors (messages/schema.def), so
    that the document cannot drift from what the gateway does: every route
    is an operation; its request message gives the path and query
    parameters (or the JSON body of GW_ROUTE_BODY routes) with their types
    and limits; its reply message gives the response schema exactly as
    gw_msg_append writes it (present fields only, never null, list items
    null on GW_ROUTE_NULLS routes); the flags give the security, the error
    statuses and the headers.

    What the tables cannot say (summaries, the shape of raw bodies and of
    local handlers' answers, examples from the bundled catalog) is in
    openapi_texts.c, keyed by method and path. A route missing there is still
    described, with its messages' own docs.

    mg-openapi prints the document (docs/openapi.yaml, as YAML by
    openapi_yaml.c); the gateway builds it once at start and serves it at
    /api/v1/openapi.yaml and .json (openapi_serve.c).  */
#include "gw_openapi.h"
#include "gw_openapi_texts.h"
#include "gw_routes.h"
#include "mg_log.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPENAPI_VERSION   "3.1.0"
#define API_VERSION       "1.0.0"   //  of the /api/v1 contract; bump on a breaking change
#define DEFAULT_SERVER    "http://localhost:8080"  //  scripts/run's gateway (MG_HTTP_PORT)
#define NAME_BYTES        128       //  an operationId or a route key

//  Generation state: the document, and whether anything failed.
typedef struct {
    json_t *doc;
    json_t *schemas;                //  components.schemas
    bool failed;
} s_gen_t;

//  obj[key] = value (value's reference taken), remembering a failure.
static void
s_set (s_gen_t *gen, json_t *obj, const char *key, json_t *value)
{
    if (!obj || !value || json_object_set_new (obj, key, value))
        gen->failed = true;
}

//  Append value to array (reference taken), remembering a failure.
static void
s_append (s_gen_t *gen, json_t *array, json_t *value)
{
    if (!array || !value || json_array_append_new (array, value))
        gen->failed = true;
}

//  Parse a JSON text of openapi_texts.c; NULL (and a log line) when it is not JSON.
static json_t *
s_parse (s_gen_t *gen, const char *text, const char *what)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &error);
    if (!json) {
        mg_error ("bad JSON in the OpenAPI texts", "what=\"%s\" reason=\"%s\" column=%d",
                  what, error.text, error.column);
        gen->failed = true;
    }
    return json;
}

//  {"$ref": "#/components/schemas/<name>"}.
static json_t *
s_ref_to (const char *name)
{
    char ref [NAME_BYTES + sizeof GW_OPENAPI_SCHEMA_REF];
    snprintf (ref, sizeof ref, GW_OPENAPI_SCHEMA_REF "%s", name);
    return json_pack ("{s:s}", "$ref", ref);
}

static json_t *s_message_schema (s_gen_t *gen, const mg_msgdesc_t *desc, bool nulls);

//  A reference to desc's component schema, adding the component (and the
//  ones it uses) the first time.
static json_t *
s_ref (s_gen_t *gen, const mg_msgdesc_t *desc)
{
    if (!json_object_get (gen->schemas, desc->name)) {
        //  A placeholder first: a message is added once even if reached again below.
        s_set (gen, gen->schemas, desc->name, json_object ());
        s_set (gen, gen->schemas, desc->name, s_message_schema (gen, desc, false));
    }
    return s_ref_to (desc->name);
}

//  The JSON Schema of one field's value as the codec reads and writes it.
//  nulls: list items with no fields are null (GW_ROUTE_NULLS replies).
static json_t *
s_field_schema (s_gen_t *gen, const mg_field_t *f, bool nulls)
{
    json_t *schema = NULL;
    switch (f->type) {
        case MG_T_STR:
            schema = json_pack ("{s:s,s:I}", "type", "string", "maxLength", (json_int_t) f->max);
            break;
        case MG_T_INT:
            schema = json_pack ("{s:s}", "type", "integer");
            break;
        case MG_T_UINT:
            schema = json_pack ("{s:s,s:i}", "type", "integer", "minimum", 0);
            break;
        case MG_T_DOUBLE:
            schema = json_pack ("{s:s}", "type", "number");
            break;
        case MG_T_BOOL:
            schema = json_pack ("{s:s}", "type", "boolean");
            break;
        case MG_T_STRLIST:
            schema = json_pack ("{s:s,s:{s:s},s:I}", "type", "array", "items", "type", "string",
                                "maxItems", (json_int_t) f->max);
            break;
        case MG_T_MSG:
            schema = s_ref (gen, f->sub);
            break;
        case MG_T_MSGLIST: {
            json_t *item = s_ref (gen, f->sub);
            if (nulls && item)
                item = json_pack ("{s:[o,{s:s}]}", "anyOf", item, "type", "null");
            schema = json_pack ("{s:s,s:o*,s:I}", "type", "array", "items", item,
                                "maxItems", (json_int_t) f->max);
            break;
        }
    }
    if (schema && f->doc && *f->doc)
        s_set (gen, schema, "description", json_string (f->doc));
    if (!schema)
        gen->failed = true;
    return schema;
}

//  The schema of desc's JSON object; skip (may be NULL) names fields left out.
static json_t *
s_object_schema (s_gen_t *gen, const mg_msgdesc_t *desc, bool nulls, bool (*skip) (const mg_field_t *, const void *),
                 const void *arg)
{
    json_t *schema = json_pack ("{s:s}", "type", "object");
    json_t *properties = json_object ();
    json_t *required = json_array ();
    if (desc->doc && *desc->doc)
        s_set (gen, schema, "description", json_string (desc->doc));
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (skip && skip (f, arg))
            continue;
        s_set (gen, properties, f->name, s_field_schema (gen, f, nulls));
        if (f->required)
            s_append (gen, required, json_string (f->name));
    }
    if (json_array_size (required))
        s_set (gen, schema, "required", required);
    else
        json_decref (required);
    s_set (gen, schema, "properties", properties);
    //  mg_msg_from_json refuses unknown keys, and gw_msg_append writes only the fields.
    s_set (gen, schema, "additionalProperties", json_false ());
    return schema;
}

//  The schema of a message as gw_msg_append writes it.
static json_t *
s_message_schema (s_gen_t *gen, const mg_msgdesc_t *desc, bool nulls)
{
    return s_object_schema (gen, desc, nulls, NULL, NULL);
}

//  Fill schema's enum, default, minimum and maximum from a parameter's doc
//  text: "all|movie|tv (default all)", "Page size 1-100 (default 20)".
static void
s_doc_limits (s_gen_t *gen, const mg_field_t *f, json_t *schema)
{
    const char *doc = f->doc ? f->doc : "";
    bool numeric = f->type == MG_T_UINT || f->type == MG_T_INT || f->type == MG_T_DOUBLE;
    size_t word = strspn (doc, "abcdefghijklmnopqrstuvwxyz_|");
    if (f->type == MG_T_STR && word > 0 && memchr (doc, '|', word)
    &&  (doc [word] == '\0' || doc [word] == ' ' || doc [word] == ';')) {
        json_t *values = json_array ();
        for (const char *p = doc; p < doc + word; ) {
            size_t n = strcspn (p, "|");
            if (n > (size_t) (doc + word - p))
                n = (size_t) (doc + word - p);
            s_append (gen, values, json_stringn (p, n));
            p += n + 1;
        }
        s_set (gen, schema, "enum", values);
    }
    const char *at = strstr (doc, "(default ");
    if (at) {
        at += strlen ("(default ");
        size_t n = strcspn (at, ")");
        char text [64];
        if (n < sizeof text) {
            memcpy (text, at, n);
            text [n] = '\0';
            char *end = NULL;
            if (numeric) {
                double value = strtod (text, &end);
                if (end != text && *end == '\0')
                    s_set (gen, schema, "default", f->type == MG_T_DOUBLE ? json_real (value)
                                                                          : json_integer ((json_int_t) value));
            }
            else
            if (f->type == MG_T_STR)
                s_set (gen, schema, "default", json_string (text));
        }
    }
    //  A range "N-M" standing as a word (not "ISO 3166-1": text fields are not looked at).
    for (const char *p = doc; numeric && *p; p++) {
        unsigned low, high;
        int used = 0;
        if ((p == doc || p [-1] == ' ') && isdigit ((unsigned char) *p)
        &&  sscanf (p, "%u-%u%n", &low, &high, &used) == 2
        &&  (p [used] == '\0' || p [used] == ' ' || p [used] == ',' || p [used] == ')') && low < high) {
            s_set (gen, schema, "minimum", json_integer (low));
            s_set (gen, schema, "maximum", json_integer (high));
            break;
        }
    }
}

//  Is field f one of route's {path} parameters?
static bool
s_in_path (const gw_route_t *route, const char *name)
{
    size_t len = strlen (name);
    for (const char *p = strchr (route->path, '{'); p; p = strchr (p + 1, '{'))
        if (strncmp (p + 1, name, len) == 0 && p [len + 1] == '}')
            return true;
    return false;
}

//  Fields a client never sends in a body: the caller, the path's, and the
//  device of a user route (X-Device-Id only).
static bool
s_not_in_body (const mg_field_t *f, const void *arg)
{
    const gw_route_t *route = arg;
    bool user = (route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) != 0;
    return gw_routes_gateway_field (f->name) || s_in_path (route, f->name)
        || (user && strcmp (f->name, GW_DEVICE_FIELD) == 0);
}

//  Example of parameter name, or NULL.
static json_t *
s_param_example (s_gen_t *gen, const char *name)
{
    const char *example = gw_openapi_param_example (name);
    return example ? s_parse (gen, example, name) : NULL;
}

//  One Parameter object: where is path, query or header.
static json_t *
s_parameter (s_gen_t *gen, const mg_field_t *f, const char *name, const char *where, bool required)
{
    json_t *schema = s_field_schema (gen, f, false);
    json_t *description = schema ? json_object_get (schema, "description") : NULL;
    json_t *param = json_pack ("{s:s,s:s,s:b}", "name", name, "in", where, "required", required);
    if (description)
        s_set (gen, param, "description", json_incref (description));
    if (schema)
        json_object_del (schema, "description");
    if (schema && f->type != MG_T_MSG && f->type != MG_T_MSGLIST)
        s_doc_limits (gen, f, schema);
    s_set (gen, param, "schema", schema);
    if (f->type == MG_T_STRLIST) {
        s_set (gen, param, "style", json_string ("form"));
        s_set (gen, param, "explode", json_false ());
    }
    json_t *example = strcmp (where, "header") ? s_param_example (gen, f->name) : NULL;
    if (example)
        s_set (gen, param, "example", example);
    return param;
}

//  The parameters of route: path first, then query (not on body routes:
//  their fields go in the body), then the headers the gateway reads.
static json_t *
s_parameters (s_gen_t *gen, const gw_route_t *route)
{
    json_t *params = json_array ();
    const mg_msgdesc_t *desc = route->request;
    bool user = (route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) != 0;
    bool body = (route->flags & (GW_ROUTE_BODY | GW_ROUTE_RAW_BODY)) != 0;
    for (size_t i = 0; desc && i < desc->nfields; i++)
        if (s_in_path (route, desc->fields [i].name))
            s_append (gen, params, s_parameter (gen, &desc->fields [i], desc->fields [i].name, "path", true));
    for (size_t i = 0; desc && !body && i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (s_in_path (route, f->name) || gw_routes_gateway_field (f->name)
        ||  (user && strcmp (f->name, GW_DEVICE_FIELD) == 0 && !(route->flags & GW_ROUTE_QUERY_DEVICE))
        ||  f->type == MG_T_MSG || f->type == MG_T_MSGLIST)
            continue;
        s_append (gen, params, s_parameter (gen, f, f->name, "query", f->required));
    }
    const mg_field_t *device = desc && user ? mg_msg_field (desc, GW_DEVICE_FIELD) : NULL;
    if (device) {
        json_t *param = s_parameter (gen, device, "X-Device-Id", "header", false);
        if (route->flags & GW_ROUTE_QUERY_DEVICE)
            s_set (gen, param, "description", json_string ("The caller's device (wins over the device_id parameter)"));
        s_append (gen, params, param);
    }
    if (desc && mg_msg_field (desc, "last_event_id"))
        s_append (gen, params, json_pack ("{s:s,s:s,s:b,s:s,s:{s:s,s:s}}", "name", "Last-Event-ID", "in", "header",
                                          "required", 0, "description",
                                          "Resume after this event id (sent by EventSource on a reconnect; wins over last_event_id)",
                                          "schema", "type", "string", "pattern", "^[ \\t]*[0-9]+[ \\t]*$"));
    if (route->flags & GW_ROUTE_PUBLIC)
        s_append (gen, params, json_pack ("{s:s,s:s,s:b,s:s,s:{s:s}}", "name", "If-None-Match", "in", "header",
                                          "required", 0, "description",
                                          "ETags of answers the client holds: 304 when the answer is unchanged",
                                          "schema", "type", "string"));
    return params;
}

//  {"$ref": "#/components/<section>/<name>"}.
static json_t *
s_component (const char *section, const char *name)
{
    char ref [NAME_BYTES];
    snprintf (ref, sizeof ref, "#/components/%s/%s", section, name);
    return json_pack ("{s:s}", "$ref", ref);
}

//  A media type object {schema, example?}.
static json_t *
s_media (s_gen_t *gen, json_t *schema, const char *example, const char *what)
{
    json_t *media = json_object ();
    s_set (gen, media, "schema", schema);
    if (example)
        s_set (gen, media, "example", s_parse (gen, example, what));
    return media;
}

//  The request body of route, or NULL for none.
static json_t *
s_request_body (s_gen_t *gen, const gw_route_t *route, const gw_openapi_doc_t *doc)
{
    json_t *schema = NULL;
    if (route->flags & GW_ROUTE_RAW_BODY)
        schema = doc && doc->body ? s_parse (gen, doc->body, route->path) : json_object ();
    else
    if ((route->flags & GW_ROUTE_BODY) && route->request)
        schema = s_object_schema (gen, route->request, false, s_not_in_body, route);
    if (!schema && doc && doc->body && route->handler && !(route->flags & GW_ROUTE_RAW_BODY)) {
        //  Not JSON (a file, a form): the content object is given whole.
        json_t *content = s_parse (gen, doc->body, route->path);
        return content ? json_pack ("{s:b,s:o}", "required", 1, "content", content) : NULL;
    }
    if (!schema)
        return NULL;
    //  A body route with nothing required may be sent without a body.
    json_t *required = json_object_get (schema, "required");
    json_t *body = json_pack ("{s:b}", "required", json_array_size (required) > 0);
    json_t *content = json_object ();
    s_set (gen, content, "application/json", s_media (gen, schema, doc ? doc->example : NULL, route->path));
    s_set (gen, body, "content", content);
    return body;
}

//  operationId from method and path: "get_content_id_availability".
static void
s_operation_id (const gw_route_t *route, char *id, size_t size)
{
    const char *path = route->path;
    if (strncmp (path, "/api/v1", 7) == 0)
        path += 7;
    size_t used = 0;
    for (const char *m = route->method; *m && used + 1 < size; m++)
        id [used++] = (char) tolower ((unsigned char) *m);
    bool gap = true;
    for (const char *p = path; *p && used + 1 < size; p++) {
        if (isalnum ((unsigned char) *p)) {
            if (gap)
                id [used++] = '_';
            if (used + 1 < size)
                id [used++] = *p;
            gap = false;
        }
        else
            gap = true;
    }
    id [used] = '\0';
}

//  The success response of route.
static json_t *
s_success (s_gen_t *gen, const gw_route_t *route, const gw_openapi_doc_t *doc)
{
    json_t *response = json_pack ("{s:s}", "description", route->reply && route->reply->doc ? route->reply->doc
                                                        : doc && doc->summary ? doc->summary : "Done");
    json_t *headers = json_object ();
    json_t *schema = NULL;
    if (route->reply)
        schema = (route->flags & GW_ROUTE_NULLS) ? s_message_schema (gen, route->reply, true)
                                                 : s_ref (gen, route->reply);
    else
    if (doc && doc->reply)
        schema = s_parse (gen, doc->reply, route->path);
    if (schema) {
        json_t *content = json_object ();
        s_set (gen, content, doc && doc->type ? doc->type : "application/json",
               s_media (gen, schema, doc ? doc->reply_example : NULL, route->path));
        s_set (gen, response, "content", content);
    }
    if (!(route->flags & GW_ROUTE_OPS))
        for (const char *const *h = (const char *const []) { "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                                             "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy", NULL };
             *h; h++)
            s_set (gen, headers, *h, s_component ("headers", *h));
    if (route->flags & GW_ROUTE_PUBLIC) {
        s_set (gen, headers, "ETag", s_component ("headers", "ETag"));
        s_set (gen, headers, "Cache-Control", s_component ("headers", "Cache-Control"));
    }
    if (route->flags & GW_ROUTE_CACHE)
        s_set (gen, headers, "X-Cache", s_component ("headers", "X-Cache"));
    if (json_object_size (headers))
        s_set (gen, response, "headers", headers);
    else
        json_decref (headers);
    return response;
}

//  Every response of route: success, the errors its flags allow, default.
static json_t *
s_responses (s_gen_t *gen, const gw_route_t *route, const gw_openapi_doc_t *doc)
{
    json_t *responses = json_object ();
    char status [8];
    snprintf (status, sizeof status, "%d", route->status);
    s_set (gen, responses, status, s_success (gen, route, doc));
    unsigned flags = route->flags;
    bool api = !(flags & GW_ROUTE_OPS);
    bool user = (flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) != 0;
    if (flags & GW_ROUTE_PUBLIC)
        s_set (gen, responses, "304", s_component ("responses", "NotModified"));
    if (api) {
        s_set (gen, responses, "400", s_component ("responses", "BadRequest"));
        s_set (gen, responses, "401", s_component ("responses", "Unauthorized"));
    }
    if (flags & GW_ROUTE_SESSION)
        s_set (gen, responses, "403", s_component ("responses", "Forbidden"));
    //  A user route's X-Device-Id must name a registered device.
    if (strchr (route->path, '{') || (user && mg_msg_field (route->request, GW_DEVICE_FIELD)))
        s_set (gen, responses, "404", s_component ("responses", "NotFound"));
    if (flags & (GW_ROUTE_BODY | GW_ROUTE_RAW_BODY)) {
        s_set (gen, responses, "413", s_component ("responses", "PayloadTooLarge"));
        s_set (gen, responses, "415", s_component ("responses", "UnsupportedMediaType"));
    }
    if (api) {
        s_set (gen, responses, "429", s_component ("responses", "TooManyRequests"));
        s_set (gen, responses, "503", s_component ("responses", "ServiceUnavailable"));
    }
    if (route->bus || ((flags & GW_ROUTE_USER) && route->handler))
        s_set (gen, responses, "504", s_component ("responses", "GatewayTimeout"));
    if (doc && doc->responses) {
        json_t *more = s_parse (gen, doc->responses, route->path);
        if (more && json_object_update (responses, more))
            gen->failed = true;
        json_decref (more);
    }
    s_set (gen, responses, "default", s_component ("responses", "Error"));
    return responses;
}

//  Who may call route: anyone (credentials raise the tier), signed-in
//  callers (Bearer or API key), Bearer only, or nobody's business (ops).
static json_t *
s_security (const gw_route_t *route)
{
    if (route->flags & GW_ROUTE_OPS)
        return json_array ();
    if (route->flags & GW_ROUTE_SESSION)
        return json_pack ("[{s:[]}]", "bearerAuth");
    if (route->flags & GW_ROUTE_USER)
        return json_pack ("[{s:[]},{s:[]}]", "bearerAuth", "apiKey");
    return json_pack ("[{},{s:[]},{s:[]}]", "bearerAuth", "apiKey");
}

//  The Operation object of route.
static json_t *
s_operation (s_gen_t *gen, const gw_route_t *route)
{
    const gw_openapi_doc_t *doc = gw_openapi_doc (route->method, route->path);
    json_t *op = json_object ();
    const char *tag = doc ? doc->tag : route->bus ? route->bus : "ops";
    s_set (gen, op, "tags", json_pack ("[s]", tag));
    const char *summary = doc ? doc->summary : route->request && route->request->doc ? route->request->doc : route->path;
    s_set (gen, op, "summary", json_string (summary));
    //  Room for the longest route text (the list routes' offers rule, ~1.5 KB) and the answer line.
    char description [4096], answer [384] = "";
    const char *text = doc && doc->description ? doc->description : summary;
    if (route->reply)
        snprintf (answer, sizeof answer, " The answer: %s (`%s`).", route->reply->doc, route->reply->name);
    if (route->bus)
        snprintf (description, sizeof description, "%s\n\nAnswered by `%s` on the bus.%s", text, route->bus, answer);
    else
        snprintf (description, sizeof description, "%s\n\nAnswered by the gateway itself.", text);
    s_set (gen, op, "description", json_string (description));
    char id [NAME_BYTES];
    s_operation_id (route, id, sizeof id);
    s_set (gen, op, "operationId", json_string (id));
    json_t *params = s_parameters (gen, route);
    if (json_array_size (params))
        s_set (gen, op, "parameters", params);
    else
        json_decref (params);
    json_t *body = s_request_body (gen, route, doc);
    if (body)
        s_set (gen, op, "requestBody", body);
    s_set (gen, op, "responses", s_responses (gen, route, doc));
    s_set (gen, op, "security", s_security (route));
    if (route->bus)
        s_set (gen, op, "x-bus-method", json_string (route->bus));
    return op;
}

//  An error Response object that refers to the shared Error schema.
static json_t *
s_error_response (s_gen_t *gen, const char *description, bool retry)
{
    json_t *response = json_pack ("{s:s,s:{s:{s:{s:s}}}}", "description", description, "content",
                                  "application/json", "schema", "$ref", GW_OPENAPI_SCHEMA_REF "Error");
    json_t *headers = json_object ();
    for (const char *const *h = (const char *const []) { "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                                         "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy", NULL };
         *h; h++)
        s_set (gen, headers, *h, s_component ("headers", *h));
    if (retry)
        s_set (gen, headers, "Retry-After", s_component ("headers", "Retry-After"));
    s_set (gen, response, "headers", headers);
    return response;
}

//  components: the error shape, shared responses, headers, security schemes.
static void
s_components (s_gen_t *gen, json_t *components)
{
    s_set (gen, gen->schemas, "Error", json_pack ("{s:s,s:s,s:[s],s:{s:o},s:b}", "description",
           "The one error shape of the API", "type", "object", "required", "error", "properties",
           "error", s_ref (gen, &mg_error_desc), "additionalProperties", 0));
    json_t *responses = json_object ();
    static const struct {
        const char *name, *description;
        bool retry;
    } errors [] = {
        { "BadRequest", "A parameter or the body is malformed or unknown (INVALID_PARAMETER, INVALID_JSON)", false },
        { "Unauthorized", "Credentials missing where needed, or invalid (UNAUTHORIZED); `WWW-Authenticate` says how", false },
        { "Forbidden", "The credentials may not do this (FORBIDDEN): API keys cannot manage API keys", false },
        { "NotFound", "No such resource (NOT_FOUND)", false },
        { "PayloadTooLarge", "The body is larger than MG_HTTP_MAX_BODY (PAYLOAD_TOO_LARGE)", false },
        { "UnsupportedMediaType", "The body is not application/json (UNSUPPORTED_MEDIA_TYPE)", false },
        { "TooManyRequests", "Rate limited (RATE_LIMITED), or too many open streams (TOO_MANY_STREAMS): retry after `Retry-After` seconds", true },
        { "ServiceUnavailable", "A service, the rate limiter or storage is unavailable (SERVICE_UNAVAILABLE, SERVICE_BUSY, WORKER_LOST): retry after `Retry-After` seconds", true },
        { "GatewayTimeout", "No answer within the request deadline (DEADLINE_EXCEEDED)", false },
        { "Error", "Any other error: the same shape (409 CONFLICT, 414, 431, 500 INTERNAL, 502 BAD_REPLY, ...)", false },
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors [0]; i++)
        s_set (gen, responses, errors [i].name, s_error_response (gen, errors [i].description, errors [i].retry));
    s_set (gen, responses, "NotModified", json_pack ("{s:s,s:{s:o}}", "description",
           "The answer is unchanged since the ETag given in If-None-Match (no body)",
           "headers", "ETag", s_component ("headers", "ETag")));
    s_set (gen, components, "responses", responses);
    s_set (gen, components, "headers", json_pack (
        "{s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},"
        "s:{s:s,s:{s:s,s:i}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s,s:[ss]}}}",
        "X-RateLimit-Limit", "description", "Requests allowed in the window nearest to running out (per second or per minute)",
        "schema", "type", "integer",
        "X-RateLimit-Remaining", "description", "Requests left in that window", "schema", "type", "integer",
        "X-RateLimit-Reset", "description", "Unix time (s) when that window is full again", "schema", "type", "integer",
        "RateLimit", "description", "IETF RateLimit header: \"<tier>-<s|m>\";r=<remaining>;t=<seconds to reset>",
        "schema", "type", "string",
        "RateLimit-Policy", "description", "IETF RateLimit-Policy: both windows of the caller's tier, \"<tier>-s\";q=<n>;w=1, \"<tier>-m\";q=<n>;w=60",
        "schema", "type", "string",
        "Retry-After", "description", "Seconds to wait before retrying", "schema", "type", "integer", "minimum", 0,
        "ETag", "description", "Strong validator of the answer's body", "schema", "type", "string",
        "Cache-Control", "description", "public, max-age=60 (anonymous) or private, max-age=60", "schema", "type", "string",
        "X-Cache", "description", "Whether the Redis cache (search results, discover pages, details) answered", "schema", "type", "string", "enum", "hit", "miss"));
    s_set (gen, components, "securitySchemes", json_pack (
        "{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s}}",
        "bearerAuth", "type", "http", "scheme", "bearer", "bearerFormat", "JWT",
        "description", "The access_token of POST /auth/login or /auth/refresh: Authorization: Bearer <token>",
        "apiKey", "type", "apiKey", "in", "header", "name", "X-API-Key",
        "description", "A key made with POST /auth/api-keys (mg_live_...); its tier sets the rate limits"));
}

json_t *
gw_openapi_document (void)
{
    s_gen_t gen = { .doc = json_object (), .schemas = json_object () };
    s_set (&gen, gen.doc, "openapi", json_string (OPENAPI_VERSION));
    s_set (&gen, gen.doc, "info", json_pack ("{s:s,s:s,s:s,s:{s:s,s:s}}", "title", "Media Gateway API",
           "version", API_VERSION, "description", gw_openapi_info, "license", "name", "MIT", "identifier", "MIT"));
    s_set (&gen, gen.doc, "servers", json_pack ("[{s:s,s:s}]", "url", DEFAULT_SERVER, "description",
           "A local gateway (scripts/run; MG_HTTP_PORT)"));
    s_set (&gen, gen.doc, "tags", json_pack ("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]",
           "name", "catalog", "description", "Titles, genres, where to watch, trending and discovery (public)",
           "name", "search", "description", "Search, autocomplete and similar titles (public)",
           "name", "accounts", "description", "Accounts, tokens and API keys",
           "name", "me", "description", "The signed-in caller's watchlist, progress, preferences and devices",
           "name", "sync", "description", "Offline ops, handoff and the live event stream",
           "name", "meta", "description", "This description",
           "name", "mcp", "description", "The Model Context Protocol endpoint for assistants (at the root, rate limited like /api/v1)",
           "name", "ops", "description", "Liveness, readiness and metrics (at the root, never rate limited)"));
    json_t *paths = json_object ();
    for (size_t i = 0; i < gw_routes_count (); i++) {
        const gw_route_t *route = gw_routes_at (i);
        json_t *item = json_object_get (paths, route->path);
        if (!item) {
            item = json_object ();
            s_set (&gen, paths, route->path, item);
        }
        char method [8];
        size_t n = 0;
        for (; route->method [n] && n + 1 < sizeof method; n++)
            method [n] = (char) tolower ((unsigned char) route->method [n]);
        method [n] = '\0';
        s_set (&gen, item, method, s_operation (&gen, route));
    }
    s_set (&gen, gen.doc, "paths", paths);
    json_t *components = json_object ();
    s_components (&gen, components);
    //  Schemas last: the operations above added the messages they use.
    s_set (&gen, components, "schemas", json_incref (gen.schemas));
    s_set (&gen, gen.doc, "components", components);
    json_decref (gen.schemas);
    if (gen.failed) {
        mg_error ("could not build the OpenAPI document", "reason=\"bad text or out of memory\"");
        json_decref (gen.doc);
        return NULL;
    }
    return gen.doc;
}
