/*  Every HTTP response leaves through here: JSON bodies, the one error shape
    {"error":{"code":"UPPER_SNAKE","message":"..."}}, and the table that maps
    bus error codes to HTTP statuses.  */
#include "gw_respond.h"
#include "gw_cors.h"
#include "gw_json.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Bus error code -> HTTP status, and the Retry-After (s) to send when the
//  error carries none. Codes not listed are 500: an error we did not plan
//  for is ours, not the client's.
static const struct {
    const char *code;
    int status;
    uint32_t retry_after;
} s_codes [] = {
    { "INVALID_PARAMETER",      400, 0 },
    { "BAD_REQUEST",            400, 0 },
    { "INVALID_JSON",           400, 0 },
    { "UNAUTHORIZED",           401, 0 },
    { "FORBIDDEN",              403, 0 },
    { "NOT_FOUND",              404, 0 },
    { "METHOD_NOT_ALLOWED",     405, 0 },
    { "CONFLICT",               409, 0 },
    { "PAYLOAD_TOO_LARGE",      413, 0 },
    { "UNSUPPORTED_MEDIA_TYPE", 415, 0 },
    { "UNPROCESSABLE",          422, 0 },
    { "RATE_LIMITED",           429, 1 },
    { "INTERNAL",               500, 0 },
    { "BAD_FRAME",              500, 0 },
    { "NOT_IMPLEMENTED",        501, 0 },
    { "BAD_REPLY",              502, 0 },
    { "SERVICE_UNAVAILABLE",    503, 1 },
    { "SERVICE_BUSY",           503, 1 },
    { "WORKER_LOST",            503, 1 },
    { "BROKER_PASSIVE",         503, 1 },
    { "DEADLINE_EXCEEDED",      504, 0 },
};

#define CODES_COUNT (sizeof s_codes / sizeof s_codes [0])

//  Index of code in s_codes, or -1.
static int
s_code_index (const char *code)
{
    for (size_t i = 0; code && i < CODES_COUNT; i++)
        if (strcmp (s_codes [i].code, code) == 0)
            return (int) i;
    return -1;
}

int
gw_status_for_code (const char *code)
{
    int i = s_code_index (code);
    return i < 0 ? 500 : s_codes [i].status;
}

//  Write the answer libevent just queued on conn now, in this loop turn.
//  libevent would enable the socket's write event and write in the next
//  turn, then disable it: two epoll_ctl calls per request (the changelist
//  folds an enable and a disable only within one turn) and a turn of
//  delay. Written here, the enable and the disable fall in the same turn
//  and cancel out. libevent's write callback is what finishes the request
//  (and reads the connection's next one), and it runs only after a write
//  of its own: run it here once everything is out. What is not written
//  (a full socket buffer, an error) stays queued: libevent's write event
//  writes it, or meets the error, as it would have.
static void
s_write_now (struct evhttp_connection *conn)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent (conn);
    evutil_socket_t fd = bev ? bufferevent_getfd (bev) : -1;
    struct evbuffer *out = bev ? bufferevent_get_output (bev) : NULL;
    if (fd < 0 || !out || evbuffer_get_length (out) == 0)
        return;
    //  A bufferevent keeps its output's front frozen: only it drains it.
    evbuffer_unfreeze (out, 1);
    int written = evbuffer_write (out, fd);
    evbuffer_freeze (out, 1);
    if (written > 0 && evbuffer_get_length (out) == 0)
        bufferevent_trigger (bev, EV_WRITE, 0);
}

//  Hand the response to libevent and end the request.
static void
s_send (gw_request_t *request, int status)
{
    //  The rate decision of a parallel GET is still out (or refused it):
    //  guard.c sends this answer, or the refusal, once both are in.
    if (request->rate_parallel) {
        request->hold (request, status);
        return;
    }
    struct evhttp_request *http = request->http;
    status = gw_http_validate (request, status);
    gw_cors_headers (request);
    if (evhttp_request_get_command (http) == EVHTTP_REQ_HEAD && status != 304) {
        //  libevent would send the body of a HEAD answer: announce its length, drop it.
        struct evbuffer *out = evhttp_request_get_output_buffer (http);
        char length [24];
        snprintf (length, sizeof length, "%zu", evbuffer_get_length (out));
        evhttp_add_header (evhttp_request_get_output_headers (http), "Content-Length", length);
        evbuffer_drain (out, evbuffer_get_length (out));
    }
    gw_request_done (request, status);
    struct evhttp_connection *conn = evhttp_request_get_connection (http);
    //  libevent has no reason phrase for 429 ("Client Error" otherwise).
    evhttp_send_reply (http, status, status == 429 ? "Too Many Requests" : NULL, NULL);
    //  http may be gone from here on (no connection: freed by the send).
    if (conn)
        s_write_now (conn);
}

void
gw_reply_send (gw_request_t *request, int status)
{
    assert (request);
    s_send (request, status);
}

void
gw_reply_json (gw_request_t *request, int status, const char *json, size_t len)
{
    assert (request);
    evbuffer_add (evhttp_request_get_output_buffer (request->http), json, len);
    s_send (request, status);
}

void
gw_reply_buffer (gw_request_t *request, int status, const char *content_type)
{
    assert (request);
    if (content_type && strcmp (content_type, GW_JSON_TYPE) != 0)
        evhttp_add_header (evhttp_request_get_output_headers (request->http),
                           "Content-Type", content_type);
    s_send (request, status);
}

//  Write the error body and headers, then send.
static void
s_error (gw_request_t *request, int status, const char *code, uint32_t retry_after,
         const char *param, const char *message)
{
    struct evbuffer *out = evhttp_request_get_output_buffer (request->http);
    evbuffer_drain (out, evbuffer_get_length (out));
    evbuffer_add_printf (out, "{\"error\":{\"code\":");
    gw_json_append_string (out, code, strlen (code));
    evbuffer_add_printf (out, ",\"message\":");
    gw_json_append_string (out, message, strlen (message));
    if (param) {
        evbuffer_add_printf (out, ",\"param\":");
        gw_json_append_string (out, param, strlen (param));
    }
    if (retry_after > 0) {
        char seconds [16];
        snprintf (seconds, sizeof seconds, "%u", retry_after);
        evbuffer_add_printf (out, ",\"retry_after\":%s", seconds);
        evhttp_add_header (evhttp_request_get_output_headers (request->http),
                           "Retry-After", seconds);
    }
    evbuffer_add (out, "}}", 2);
    s_send (request, status);
}

void
gw_reply_error (gw_request_t *request, int status, const char *code,
                uint32_t retry_after, const char *fmt, ...)
{
    assert (request);
    assert (code);
    char message [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    s_error (request, status, code, retry_after, NULL, message);
}

void
gw_reply_bus_error (gw_request_t *request, const mg_error_t *error)
{
    assert (request);
    assert (error);
    const char *code = error->code ? error->code : "INTERNAL";
    int i = s_code_index (code);
    int status = i < 0 ? 500 : s_codes [i].status;
    uint32_t retry_after = 0;
    if (error->has_retry_after && error->retry_after > 0)
        retry_after = error->retry_after > UINT32_MAX ? UINT32_MAX : (uint32_t) error->retry_after;
    else
    if (i >= 0)
        retry_after = s_codes [i].retry_after;
    //  RFC 9110 §11.6.1: a 401 says how to authenticate (available=mine, anonymous).
    if (status == 401)
        evhttp_add_header (evhttp_request_get_output_headers (request->http), "WWW-Authenticate",
                           "Bearer realm=\"api\"");
    s_error (request, status, code, retry_after, error->param,
             error->message ? error->message : "");
}
