/*  Browsers and HTTP caches.

    CORS on /api/v1 and /mcp: a preflight is answered by preflight.c; every
    answer to an allowed Origin carries Access-Control-Allow-Origin and exposes the
    rate-limit fields. Allowed origins come from MG_CORS_ORIGINS ("*" or a
    comma-separated list of exact origins). No cookies are used, so
    Access-Control-Allow-Credentials is never sent, and Authorization is
    listed by name: a "*" in Access-Control-Allow-Headers does not cover it
    (Fetch standard).

    Validators on public catalog reads (GW_ROUTE_PUBLIC): a 200 answer gets a
    strong ETag (BLAKE2b-128 of the body, hashed in place over the evbuffer's
    chains) and Cache-Control; If-None-Match naming it turns the answer into
    a 304 with no body (RFC 9110 §13.1.2: weak comparison).  */
#include "gw_cors.h"
#include "gw_routes.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PUBLIC_MAX_AGE_S     60         //  catalog changes reach the search cache at once; clients may lag 1 min
#define ETAG_BYTES           16         //  128 bits: collisions are not a concern at any catalog size
#define ETAG_TEXT_MAX        (2 * ETAG_BYTES + 3)

static const char s_expose_headers [] =
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit, RateLimit-Policy, "
    "Retry-After, ETag, X-Cache, Mcp-Session-Id, Location";

//  Is path (len bytes) prefix itself or below it?
static bool
s_under (const char *path, size_t len, const char *prefix)
{
    size_t n = strlen (prefix);
    return len >= n && memcmp (path, prefix, n) == 0 && (len == n || path [n] == '/');
}

bool
gw_cors_applies (const gw_request_t *request)
{
    assert (request);
    return s_under (request->uri, request->path_len, "/api/v1")
        || s_under (request->uri, request->path_len, "/mcp");
}

//  Is origin allowed by the configured list ("*", or exact origins separated by commas)?
static bool
s_origin_allowed (const char *list, const char *origin, bool *any)
{
    *any = false;
    for (const char *p = list; *p; ) {
        p += strspn (p, " ,");
        size_t n = strcspn (p, ",");
        size_t end = n;
        while (end > 0 && p [end - 1] == ' ')
            end--;
        if (end == 1 && *p == '*') {
            *any = true;
            return true;
        }
        if (end > 0 && strlen (origin) == end && strncasecmp (p, origin, end) == 0)
            return true;
        p += n;
    }
    return false;
}

bool
gw_cors_origin_allowed (const gw_config_t *config, const char *origin)
{
    assert (config && origin);
    bool any;
    return s_origin_allowed (config->cors_origins, origin, &any);
}

bool
gw_cors_allow_origin (gw_request_t *request, const char *origin)
{
    assert (request && origin);
    bool any;
    if (!s_origin_allowed (request->config->cors_origins, origin, &any))
        return false;
    struct evkeyvalq *out = evhttp_request_get_output_headers (request->http);
    evhttp_add_header (out, "Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any)
        evhttp_add_header (out, "Vary", "Origin");
    return true;
}

void
gw_cors_headers (gw_request_t *request)
{
    assert (request);
    if (!gw_cors_applies (request))
        return;
    struct evkeyvalq *out = evhttp_request_get_output_headers (request->http);
    if (evhttp_find_header (out, "Access-Control-Allow-Origin"))
        return;                     //  a preflight, answered already
    const char *origin = evhttp_find_header (evhttp_request_get_input_headers (request->http), "Origin");
    if (origin && gw_cors_allow_origin (request, origin))
        evhttp_add_header (out, "Access-Control-Expose-Headers", s_expose_headers);
}

//  ETag text ("\"<hex>\"") of the whole of body, hashed chain by chain
//  without copying; -1 when memory for the chain list runs out.
static int
s_etag (struct evbuffer *body, char *tag, size_t size)
{
    int count = evbuffer_peek (body, -1, NULL, NULL, 0);
    struct evbuffer_iovec local [16];
    struct evbuffer_iovec *chains = count <= 16 ? local : malloc ((size_t) count * sizeof *chains);
    if (!chains)
        return -1;
    count = count > 0 ? evbuffer_peek (body, -1, NULL, chains, count) : 0;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, ETAG_BYTES);
    for (int i = 0; i < count; i++)
        crypto_generichash_update (&state, chains [i].iov_base, chains [i].iov_len);
    if (chains != local)
        free (chains);
    uint8_t hash [ETAG_BYTES];
    crypto_generichash_final (&state, hash, sizeof hash);
    char hex [2 * ETAG_BYTES + 1];
    sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
    snprintf (tag, size, "\"%s\"", hex);
    return 0;
}

//  Does an If-None-Match list name tag (weak comparison: W/ ignored)?
static bool
s_none_match (const char *list, const char *tag)
{
    size_t tag_len = strlen (tag);
    for (const char *p = list; *p; ) {
        p += strspn (p, " ,\t");
        if (*p == '*')
            return true;
        if (strncmp (p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn (p, ", \t");
        if (n == tag_len && memcmp (p, tag, n) == 0)
            return true;
        p += n;
    }
    return false;
}

int
gw_http_validate (gw_request_t *request, int status)
{
    assert (request);
    struct evhttp_request *http = request->http;
    enum evhttp_cmd_type method = evhttp_request_get_command (http);
    if (status != 200 || !request->route || !(request->route->flags & GW_ROUTE_PUBLIC)
    ||  (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD))
        return status;
    struct evbuffer *body = evhttp_request_get_output_buffer (http);
    char tag [ETAG_TEXT_MAX];
    if (s_etag (body, tag, sizeof tag))
        return status;              //  no validator this time; the answer itself is fine
    struct evkeyvalq *out = evhttp_request_get_output_headers (http);
    evhttp_add_header (out, "ETag", tag);
    //  Signed-in callers may get answers shaped by their own settings.
    char control [48];
    snprintf (control, sizeof control, "%s, max-age=%d",
              request->caller.kind == GW_CALLER_ANONYMOUS ? "public" : "private", PUBLIC_MAX_AGE_S);
    evhttp_add_header (out, "Cache-Control", control);
    const char *none_match = evhttp_find_header (evhttp_request_get_input_headers (http), "If-None-Match");
    if (none_match && s_none_match (none_match, tag)) {
        evbuffer_drain (body, evbuffer_get_length (body));
        evhttp_remove_header (out, "Content-Type");
        return 304;
    }
    return status;
}
