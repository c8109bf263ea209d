/*  JSON-RPC 2.0 for /mcp: decoding one message, and answering a request
    with a result or an error, as JSON or as a one-event SSE stream when the
    client accepts text/event-stream (mcp.c and mcp_tools.c answer here).  */
#include "gw_mcp.h"
#include "gw_json.h"
#include "gw_respond.h"
#include "gw_sse_format.h"
#include "mg_log.h"

#include <assert.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  --------------------------------------------------------------------------
//  JSON-RPC decoding

void
gw_rpc_clear (gw_rpc_t *rpc)
{
    assert (rpc);
    json_decref (rpc->root);
    memset (rpc, 0, sizeof *rpc);
}

//  Fail decoding with code and why.
static int
s_invalid (gw_rpc_t *rpc, int code, const char *why)
{
    rpc->code = code;
    rpc->why = why;
    return -1;
}

int
gw_rpc_decode (const char *text, size_t len, gw_rpc_t *rpc)
{
    assert (rpc);
    memset (rpc, 0, sizeof *rpc);
    json_error_t error;
    rpc->root = text ? json_loadb (text, len, JSON_REJECT_DUPLICATES, &error) : NULL;
    if (!rpc->root)
        return s_invalid (rpc, GW_RPC_PARSE_ERROR, "the body is not JSON");
    if (json_is_array (rpc->root))
        return s_invalid (rpc, GW_RPC_INVALID_REQUEST, "batches are not part of MCP since 2025-06-18: send one message");
    if (!json_is_object (rpc->root))
        return s_invalid (rpc, GW_RPC_INVALID_REQUEST, "a message is a JSON object");
    json_t *id = json_object_get (rpc->root, "id");
    //  MCP ids are strings or integers, never null.
    if (id && (json_is_string (id) || json_is_integer (id)))
        rpc->id = id;
    const char *version = json_string_value (json_object_get (rpc->root, "jsonrpc"));
    if (!version || strcmp (version, "2.0") != 0)
        return s_invalid (rpc, GW_RPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
    if (id && !rpc->id)
        return s_invalid (rpc, GW_RPC_INVALID_REQUEST, "\"id\" must be a string or an integer");
    json_t *method = json_object_get (rpc->root, "method");
    if (!method) {
        if (rpc->id && (json_object_get (rpc->root, "result") || json_object_get (rpc->root, "error"))) {
            rpc->kind = GW_RPC_RESPONSE;
            return 0;
        }
        return s_invalid (rpc, GW_RPC_INVALID_REQUEST, "a message needs a \"method\" (or is a response)");
    }
    rpc->method = json_string_value (method);
    if (!rpc->method)
        return s_invalid (rpc, GW_RPC_INVALID_REQUEST, "\"method\" must be a string");
    rpc->kind = rpc->id ? GW_RPC_REQUEST : GW_RPC_NOTIFICATION;
    rpc->params = json_object_get (rpc->root, "params");
    if (rpc->params && !json_is_object (rpc->params))
        return s_invalid (rpc, GW_RPC_INVALID_PARAMS, "\"params\" must be an object");
    return 0;
}

//  --------------------------------------------------------------------------
//  Answers

//  Does the client take an SSE answer (Accept names text/event-stream)?
static bool
s_accepts_sse (gw_request_t *request)
{
    const char *accept = evhttp_find_header (evhttp_request_get_input_headers (request->http), "Accept");
    return accept && strcasestr (accept, "text/event-stream") != NULL;
}

//  Send message (a JSON-RPC object; reference taken) with HTTP status, as
//  JSON or, for a streamed method, as one SSE event. Ends the request.
static void
s_send (gw_request_t *request, int status, json_t *message, bool stream)
{
    char *text = message ? json_dumps (message, JSON_COMPACT) : NULL;
    json_decref (message);
    if (!text) {
        gw_reply_error (request, 500, "INTERNAL", 0, "could not encode the answer");
        return;
    }
    struct evbuffer *out = evhttp_request_get_output_buffer (request->http);
    if (stream && status == 200 && s_accepts_sse (request)) {
        evhttp_add_header (evhttp_request_get_output_headers (request->http), "Cache-Control", "no-cache");
        int rc = gw_sse_format (out, 1, "message", text);
        free (text);
        if (rc)
            gw_reply_error (request, 500, "INTERNAL", 0, "could not encode the answer");
        else
            gw_reply_buffer (request, status, "text/event-stream");
        return;
    }
    int rc = evbuffer_add (out, text, strlen (text));
    free (text);
    if (rc)
        gw_reply_error (request, 500, "INTERNAL", 0, "out of memory");
    else
        gw_reply_buffer (request, status, GW_JSON_TYPE);
}

void
gw_mcp_result (gw_request_t *request, const json_t *id, json_t *result, bool stream)
{
    assert (request);
    json_t *message = result ? json_pack ("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", result) : NULL;
    s_send (request, 200, message, stream);
}

void
gw_mcp_error (gw_request_t *request, const json_t *id, int code, const char *message, json_t *data)
{
    assert (request && message);
    json_t *error = json_pack ("{s:i,s:s}", "code", code, "message", message);
    if (error && data && json_object_set_new (error, "data", data)) {
        json_decref (error);
        error = NULL;
    }
    else
    if (!error)
        json_decref (data);
    json_t *reply = error ? json_pack ("{s:s,s:O?,s:o}", "jsonrpc", "2.0", "id", id, "error", error) : NULL;
    //  JSON-RPC's id is null when the request's could not be read.
    if (reply && !id && json_object_set_new (reply, "id", json_null ())) {
        json_decref (reply);
        reply = NULL;
    }
    bool malformed = code == GW_RPC_PARSE_ERROR || code == GW_RPC_INVALID_REQUEST;
    s_send (request, malformed ? 400 : 200, reply, false);
}
