/*  /mcp: the Model Context Protocol's Streamable HTTP transport.

    One endpoint at the root, authenticated and rate limited like /api/v1
    (server.c sends it through the guard). POST carries one JSON-RPC 2.0
    message; DELETE ends a session. GET (a stream of messages the server
    starts on its own) is not offered: this server never starts any, so the
    router answers 405, as the transport specification allows.

    Protocol revisions 2025-06-18 and 2025-11-25: initialize answers the
    client's revision when it is one of them, else the newest; later
    requests may name theirs in MCP-Protocol-Version (another value: 400).

    Sessions. initialize makes a session id (128 random bits, hex) kept in
    Redis (MG_REDIS_URL) under mcp:session:<id> as "<revision> <user or ->"
    for MG_MCP_SESSION_TTL_S, renewed on each use, so any gateway serves any
    session. Every later message names it in Mcp-Session-Id (none: 400); a
    session that is unknown, ended, expired or opened by another caller is
    a 404, after which a client starts again with initialize. DELETE ends
    it. The store is one synchronous Redis call per message, bounded by
    MG_MCP_REDIS_TIMEOUT_MS (and fails at once for a second after a time
    out), so a stalled Redis costs a thread at most that; without Redis the
    answer is 503 with Retry-After.

    Origin: a browser's Origin must be one MG_CORS_ORIGINS allows (403
    otherwise), the DNS rebinding defence the transport requires.

    Answers: protocol errors are JSON-RPC errors (-32700 unparsable, -32600
    not a request, -32601 no such method, -32602 bad params); a parse error
    or invalid request is sent with HTTP 400, everything else with 200.
    Notifications and client responses are accepted with 202 and no body.
    tools/call and resources/read are answered as a one-event SSE stream
    when the client accepts text/event-stream, other requests as JSON.
    JSON-RPC decoding and answers are in mcp_rpc.c, the tools themselves
    in mcp_tools.c.  */
#include "gw_mcp.h"
#include "gw_cors.h"
#include "gw_json.h"
#include "gw_respond.h"
#include "gw_sse_format.h"
#include "mg_log.h"
#include "mg_redis.h"

#include <assert.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SESSION_KEY        "mcp:session:"  //  Redis key prefix of a session
#define SESSION_BYTES      16       //  128 random bits: ids cannot be guessed
#define SESSION_ID_LEN     (2 * SESSION_BYTES)
#define SESSION_VALUE_MAX  64       //  "<revision> <user uuid or ->"
#define REDIS_BACKOFF_MS   1000     //  after a time out, fail at once this long
#define RETRY_AFTER_S      1
#define SERVER_NAME        "media-gateway"
#define SERVER_VERSION     "1.0.0"  //  of the tool set; follows the /api/v1 contract
#define DOWN_LOG_EVERY_US  1000000  //  "store unavailable" is logged at most this often

static _Atomic int64_t s_down_logged_us;

//  Newest first: initialize falls back to the first.
static const char *const s_revisions [] = { "2025-11-25", "2025-06-18" };
#define REVISIONS (sizeof s_revisions / sizeof s_revisions [0])

static const char s_instructions [] =
    "Media Gateway: a catalog of movies and series merged from many sources, where to watch them, "
    "and a signed-in user's watchlist and progress. Search with search_titles, look a title up with "
    "get_title, find offers with where_to_watch (region: ISO 3166-1 code). The user tools need the "
    "connection's credentials (Authorization: Bearer or X-API-Key).";

struct gw_mcp_t {
    mg_redis_t *redis;
    uint32_t ttl_s;
};

gw_mcp_t *
gw_mcp_new (const gw_config_t *config)
{
    assert (config);
    gw_mcp_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ttl_s = config->mcp_session_ttl_s;
    self->redis = mg_redis_new (config->redis_url, (int) config->mcp_redis_timeout_ms, REDIS_BACKOFF_MS);
    if (!self->redis)
        gw_mcp_destroy (&self);
    return self;
}

void
gw_mcp_destroy (gw_mcp_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_mcp_t *self = *self_p;
        mg_redis_destroy (&self->redis);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Sessions

//  Redis key of session id.
static void
s_key (const char *id, char *key, size_t size)
{
    snprintf (key, size, SESSION_KEY "%s", id);
}

//  Who the session belongs to: the caller's user id, or "-" when anonymous.
static const char *
s_owner (const gw_request_t *request)
{
    return request->caller.kind == GW_CALLER_ANONYMOUS ? "-" : request->caller.user_id;
}

//  Is id (the Mcp-Session-Id value) shaped as ours? Anything else is unknown.
static bool
s_session_shaped (const char *id)
{
    return id && strlen (id) == SESSION_ID_LEN && strspn (id, "0123456789abcdef") == SESSION_ID_LEN;
}

//  The store failed: 503, and a log line (at most one a second, all threads).
static void
s_store_down (gw_request_t *request, const char *why)
{
    int64_t now = gw_now_us ();
    int64_t last = atomic_load_explicit (&s_down_logged_us, memory_order_relaxed);
    if (now - last >= DOWN_LOG_EVERY_US && atomic_compare_exchange_strong (&s_down_logged_us, &last, now))
        mg_warn ("mcp session store unavailable", "reason=\"%s\"", why);
    gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S, "the MCP session store is unavailable");
}

typedef enum { S_FOUND, S_UNKNOWN, S_DOWN } s_lookup_t;

//  Look session id up (renewing it when renew) and check it is the
//  caller's; revision (SESSION_VALUE_MAX bytes) gets its protocol revision.
static s_lookup_t
s_session_get (gw_request_t *request, const char *id, bool renew, char *revision, char *why, size_t whylen)
{
    gw_mcp_t *self = request->mcp;
    if (!self) {
        snprintf (why, whylen, "no Redis client");
        return S_DOWN;
    }
    if (!s_session_shaped (id))
        return S_UNKNOWN;
    char key [sizeof SESSION_KEY + SESSION_ID_LEN], ttl [16];
    s_key (id, key, sizeof key);
    snprintf (ttl, sizeof ttl, "%u", self->ttl_s);
    redisReply *reply = renew
        ? mg_redis_command (self->redis, 4, (const char *[]) { "GETEX", key, "EX", ttl }, why, whylen)
        : mg_redis_command (self->redis, 2, (const char *[]) { "GET", key }, why, whylen);
    if (!reply)
        return S_DOWN;
    s_lookup_t found = S_UNKNOWN;
    if (reply->type == REDIS_REPLY_STRING && reply->len < SESSION_VALUE_MAX) {
        const char *space = memchr (reply->str, ' ', reply->len);
        const char *owner = s_owner (request);
        if (space && strlen (owner) == reply->len - (size_t) (space + 1 - reply->str)
        &&  memcmp (space + 1, owner, strlen (owner)) == 0) {
            snprintf (revision, SESSION_VALUE_MAX, "%.*s", (int) (space - reply->str), reply->str);
            found = S_FOUND;
        }
    }
    freeReplyObject (reply);
    return found;
}

//  The session of a request other than initialize: true when it is live
//  and the caller's (revision filled); else answered (400, 404 or 503).
static bool
s_session_check (gw_request_t *request, char *revision)
{
    const char *id = evhttp_find_header (evhttp_request_get_input_headers (request->http), "Mcp-Session-Id");
    if (!id) {
        gw_reply_error (request, 400, "BAD_REQUEST", 0, "send Mcp-Session-Id (the id initialize answered with)");
        return false;
    }
    char why [128] = "";
    switch (s_session_get (request, id, true, revision, why, sizeof why)) {
        case S_FOUND:
            return true;
        case S_UNKNOWN:
            gw_reply_error (request, 404, "NOT_FOUND", 0, "no such MCP session (ended or expired): initialize again");
            return false;
        case S_DOWN:
            s_store_down (request, why);
            return false;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Requests

//  An Origin header, when present, must be allowed (DNS rebinding): true,
//  or answered 403.
static bool
s_origin_ok (gw_request_t *request)
{
    const char *origin = evhttp_find_header (evhttp_request_get_input_headers (request->http), "Origin");
    if (!origin || gw_cors_origin_allowed (request->config, origin))
        return true;
    gw_reply_error (request, 403, "FORBIDDEN", 0, "origin %.200s may not call /mcp (MG_CORS_ORIGINS)", origin);
    return false;
}

//  Is revision one this server speaks?
static bool
s_revision_known (const char *revision)
{
    for (size_t i = 0; i < REVISIONS; i++)
        if (strcmp (s_revisions [i], revision) == 0)
            return true;
    return false;
}

//  initialize: agree on a revision, open a session, say what we offer.
static void
s_initialize (gw_request_t *request, const gw_rpc_t *rpc)
{
    const char *asked = json_string_value (json_object_get (rpc->params, "protocolVersion"));
    if (!asked) {
        gw_mcp_error (request, rpc->id, GW_RPC_INVALID_PARAMS, "initialize needs params.protocolVersion", NULL);
        return;
    }
    const char *revision = s_revision_known (asked) ? asked : s_revisions [0];
    gw_mcp_t *self = request->mcp;
    if (!self) {
        s_store_down (request, "no Redis client");
        return;
    }
    uint8_t random [SESSION_BYTES];
    char id [SESSION_ID_LEN + 1], key [sizeof SESSION_KEY + SESSION_ID_LEN], value [SESSION_VALUE_MAX], ttl [16];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (id, sizeof id, random, sizeof random);
    s_key (id, key, sizeof key);
    snprintf (value, sizeof value, "%s %s", revision, s_owner (request));
    snprintf (ttl, sizeof ttl, "%u", self->ttl_s);
    char why [128] = "";
    redisReply *reply = mg_redis_command (self->redis, 6, (const char *[]) { "SET", key, value, "EX", ttl, "NX" },
                                          why, sizeof why);
    bool stored = reply && reply->type == REDIS_REPLY_STATUS;
    if (reply)
        freeReplyObject (reply);
    if (!stored) {
        s_store_down (request, *why ? why : "SET NX refused");
        return;
    }
    evhttp_add_header (evhttp_request_get_output_headers (request->http), "Mcp-Session-Id", id);
    json_t *result = json_pack ("{s:s,s:{s:{s:b},s:{s:b,s:b}},s:{s:s,s:s,s:s},s:s}",
        "protocolVersion", revision,
        "capabilities", "tools", "listChanged", 0, "resources", "subscribe", 0, "listChanged", 0,
        "serverInfo", "name", SERVER_NAME, "title", "Media Gateway", "version", SERVER_VERSION,
        "instructions", s_instructions);
    gw_mcp_result (request, rpc->id, result, false);
}

//  A request within a session: route it by method.
static void
s_request (gw_request_t *request, const gw_rpc_t *rpc)
{
    const char *method = rpc->method;
    if (strcmp (method, "ping") == 0)
        gw_mcp_result (request, rpc->id, json_object (), false);
    else
    if (strcmp (method, "tools/list") == 0)
        gw_mcp_result (request, rpc->id, gw_mcp_tools_list (), false);
    else
    if (strcmp (method, "tools/call") == 0)
        gw_mcp_tools_call (request, rpc->id, rpc->params);
    else
    if (strcmp (method, "resources/list") == 0)
        gw_mcp_result (request, rpc->id, gw_mcp_resources_list (), false);
    else
    if (strcmp (method, "resources/templates/list") == 0)
        gw_mcp_result (request, rpc->id, gw_mcp_resource_templates (), false);
    else
    if (strcmp (method, "resources/read") == 0)
        gw_mcp_resources_read (request, rpc->id, rpc->params);
    else
    if (strcmp (method, "initialize") == 0)
        gw_mcp_error (request, rpc->id, GW_RPC_INVALID_REQUEST, "this session is initialized already", NULL);
    else
        gw_mcp_error (request, rpc->id, GW_RPC_METHOD_NOT_FOUND, "no such method", json_pack ("{s:s}", "method", method));
}

void
gw_mcp_post (gw_request_t *request)
{
    assert (request);
    if (!s_origin_ok (request))
        return;
    struct evkeyvalq *in = evhttp_request_get_input_headers (request->http);
    const char *revision = evhttp_find_header (in, "MCP-Protocol-Version");
    if (revision && !s_revision_known (revision)) {
        gw_reply_error (request, 400, "BAD_REQUEST", 0, "unsupported MCP-Protocol-Version %.40s (this server: %s, %s)",
                        revision, s_revisions [0], s_revisions [1]);
        return;
    }
    const char *type = evhttp_find_header (in, "Content-Type");
    if (!type || strncasecmp (type + strspn (type, " \t"), "application/json", 16) != 0) {
        gw_reply_error (request, 415, "UNSUPPORTED_MEDIA_TYPE", 0, "an MCP message is application/json");
        return;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer (request->http);
    size_t len = evbuffer_get_length (body);
    gw_rpc_t rpc;
    if (gw_rpc_decode ((const char *) evbuffer_pullup (body, -1), len, &rpc)) {
        gw_mcp_error (request, rpc.id, rpc.code, rpc.why, NULL);
        gw_rpc_clear (&rpc);
        return;
    }
    if (rpc.kind == GW_RPC_REQUEST && strcmp (rpc.method, "initialize") == 0) {
        s_initialize (request, &rpc);
        gw_rpc_clear (&rpc);
        return;
    }
    char session_revision [SESSION_VALUE_MAX];
    if (s_session_check (request, session_revision)) {
        if (rpc.kind == GW_RPC_REQUEST)
            s_request (request, &rpc);
        else
            gw_reply_json (request, 202, "", 0);     //  notifications and responses need no answer
    }
    gw_rpc_clear (&rpc);
}

void
gw_mcp_delete (gw_request_t *request)
{
    assert (request);
    if (!s_origin_ok (request))
        return;
    const char *id = evhttp_find_header (evhttp_request_get_input_headers (request->http), "Mcp-Session-Id");
    if (!id) {
        gw_reply_error (request, 400, "BAD_REQUEST", 0, "send Mcp-Session-Id: the session to end");
        return;
    }
    char revision [SESSION_VALUE_MAX], why [128] = "";
    s_lookup_t found = s_session_get (request, id, false, revision, why, sizeof why);
    if (found == S_UNKNOWN) {
        gw_reply_error (request, 404, "NOT_FOUND", 0, "no such MCP session (ended or expired)");
        return;
    }
    redisReply *reply = NULL;
    if (found == S_FOUND) {
        char key [sizeof SESSION_KEY + SESSION_ID_LEN];
        s_key (id, key, sizeof key);
        reply = mg_redis_command (request->mcp->redis, 2, (const char *[]) { "DEL", key }, why, sizeof why);
    }
    if (!reply) {
        s_store_down (request, why);
        return;
    }
    bool deleted = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject (reply);
    if (deleted)
        gw_reply_json (request, 204, "", 0);
    else
        gw_reply_error (request, 404, "NOT_FOUND", 0, "no such MCP session (ended or expired)");
}
