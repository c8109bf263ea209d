/*  server.c: accepting HTTP requests on N event-loop threads, and the
    dispatch stage (route, bind, then a handler, the cache or the bus).  */
#ifndef GW_SERVER_H_INCLUDED
#define GW_SERVER_H_INCLUDED

#include "gw_request.h"

//  Bind one listening socket per thread (SO_REUSEPORT) and connect each
//  thread's bus client. NULL (with a log line) when a socket cannot be bound.
gw_server_t *gw_server_new (const gw_config_t *config);

//  Stop threads if running, close everything, free. Nulls *self_p.
void gw_server_destroy (gw_server_t **self_p);

//  Port the listeners are bound to (the real one when config asked for 0).
int gw_server_port (gw_server_t *self);

//  Serve until SIGTERM/SIGINT, then stop accepting, let in-flight requests
//  finish (bounded by the request deadline) and return 0; -1 on failure.
int gw_server_run (gw_server_t *self);

//  Append every thread's metrics, summed, in Prometheus text format.
void gw_server_render_metrics (gw_server_t *self, struct evbuffer *out);

//  Route, bind and answer or forward request (after guard.c for /api/v1;
//  later stages reach it through request->dispatch).
void gw_server_dispatch (gw_request_t *request);

#endif
