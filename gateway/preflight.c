/*  CORS preflights on /api/v1 and /mcp (OPTIONS with Origin and
    Access-Control-Request-Method), answered at the accept stage, before the
    guard, so they cost no bus hop and no rate-limit token.  */
#include "gw_preflight.h"
#include "gw_cors.h"
#include "gw_respond.h"
#include "gw_routes.h"

#include <assert.h>

#define PREFLIGHT_MAX_AGE_S  "600"      //  browsers cap it anyway (Chromium: 2 h)

static const char s_allow_headers [] =
    "Authorization, X-API-Key, Content-Type, Last-Event-ID, Mcp-Session-Id, "
    "Mcp-Protocol-Version, X-Device-Id, If-None-Match";
bool
gw_cors_preflight (gw_request_t *request)
{
    assert (request);
    struct evhttp_request *http = request->http;
    if (evhttp_request_get_command (http) != EVHTTP_REQ_OPTIONS || !gw_cors_applies (request))
        return false;
    struct evkeyvalq *in = evhttp_request_get_input_headers (http);
    const char *origin = evhttp_find_header (in, "Origin");
    const char *method = evhttp_find_header (in, "Access-Control-Request-Method");
    if (!origin || !method)
        return false;               //  a plain OPTIONS: the router answers 405 with Allow
    gw_match_t match;
    if (gw_routes_match ((int) EVHTTP_REQ_OPTIONS, request->uri, request->path_len, &match)
        == GW_MATCH_NO_PATH) {
        gw_reply_error (request, 404, "NOT_FOUND", 0, "no route for %.*s",
                        (int) (request->path_len > 200 ? 200 : request->path_len), request->uri);
        return true;
    }
    if (!gw_cors_allow_origin (request, origin)) {
        gw_reply_error (request, 403, "FORBIDDEN", 0,
                        "origin %.200s may not call this API (MG_CORS_ORIGINS)", origin);
        return true;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers (http);
    evhttp_add_header (out, "Access-Control-Allow-Methods", match.allow);
    evhttp_add_header (out, "Access-Control-Allow-Headers", s_allow_headers);
    evhttp_add_header (out, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE_S);
    gw_reply_json (request, 204, "", 0);
    return true;
}
