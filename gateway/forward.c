/*  Forwarding a bus route: the bound request goes to the route's bus method;
    the reply is decoded by the route's reply message and answered as JSON,
    an error reply keeps its code (status from respond.c's table), no answer
    within the deadline is 504 and a lost broker is 503.  */
#include "gw_forward.h"
#include "gw_bus.h"
#include "gw_json.h"
#include "gw_metrics.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "mg_log.h"

#include <assert.h>
#include <jansson.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_AFTER_S 1             //  broker gone or restarting: worth a retry soon

//  A REP: decode it by the route's reply message and answer it as JSON.
static void
s_reply_ok (gw_request_t *request, const uint8_t *body, size_t len)
{
    const gw_route_t *route = request->route;
    int status = route->status ? route->status : 200;
    if (request->on_success)
        request->on_success (request);
    if (!route->reply) {
        gw_reply_buffer (request, status, GW_JSON_TYPE);
        return;
    }
    alignas (max_align_t) unsigned char storage [GW_MSG_STORAGE];
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (route->reply, body, len, storage, reason, sizeof reason)) {
        mg_error ("undecodable bus reply", "method=%s reason=\"%s\"", route->bus, reason);
        gw_reply_error (request, 502, "BAD_REPLY", 0, "the %s service sent an invalid reply",
                        route->bus);
        return;
    }
    struct evbuffer *out = evhttp_request_get_output_buffer (request->http);
    int rc = gw_msg_append (out, route->reply, storage, (route->flags & GW_ROUTE_NULLS) != 0);
    if (rc == 0 && request->store && status == 200)
        request->store (request, storage, out);
    mg_msg_clear (route->reply, storage);
    if (rc) {
        gw_reply_error (request, 500, "INTERNAL", 0, "could not encode the reply");
        return;
    }
    gw_reply_buffer (request, status, GW_JSON_TYPE);
}

//  An ERR: pass the service's error on with its status.
static void
s_reply_error (gw_request_t *request, const uint8_t *body, size_t len)
{
    mg_error_t error;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_error_desc, body, len, &error, reason, sizeof reason)) {
        mg_error ("undecodable bus error", "method=%s reason=\"%s\"", request->route->bus, reason);
        gw_reply_error (request, 502, "BAD_REPLY", 0, "the %s service sent an invalid error",
                        request->route->bus);
        return;
    }
    gw_reply_bus_error (request, &error);
    mg_msg_clear (&mg_error_desc, &error);
}

//  Bus callback: the call for request ended.
static void
s_on_answer (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len,
             int64_t rtt_us)
{
    gw_request_t *request = arg;
    const gw_route_t *route = request->route;
    gw_metrics_bus (request->metrics, gw_routes_index (route), outcome, rtt_us);
    switch (outcome) {
        case GW_BUS_REPLY:
            s_reply_ok (request, body, len);
            break;
        case GW_BUS_ERROR:
            s_reply_error (request, body, len);
            break;
        case GW_BUS_TIMEOUT:
            gw_reply_error (request, 504, "DEADLINE_EXCEEDED", 0, "no answer from %s within %u ms",
                            route->bus, gw_route_timeout_ms (route, request->config));
            break;
        case GW_BUS_LOST:
            gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S,
                            "lost the connection to the message broker");
            break;
    }
}

void
gw_forward (gw_request_t *request, uint8_t **body_p, size_t len)
{
    assert (request && request->route && request->route->bus);
    assert (body_p);
    int rc = gw_bus_call (request->bus, request->route->bus, *body_p, len,
                          gw_route_timeout_ms (request->route, request->config), s_on_answer, request);
    free (*body_p);
    *body_p = NULL;
    if (rc)
        gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S,
                        "the message broker is unreachable");
}
