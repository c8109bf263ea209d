/*  memo.c: reference replies (genres, platforms) answered from the
    thread's memory; the catalog's change events and a TTL drop them.  */
#ifndef GW_MEMO_H_INCLUDED
#define GW_MEMO_H_INCLUDED

#include "gw_request.h"

#include <event2/event.h>

//  The memo of one thread, subscribed to the catalog's change events on
//  config's event endpoint. NULL when it cannot subscribe (logged).
gw_memo_t *gw_memo_new (struct event_base *base, void *zmq_ctx, const gw_config_t *config);
void gw_memo_destroy (gw_memo_t **self_p);

//  Answer request (a GW_ROUTE_MEMO route) from memory, or forward it
//  (gw_forward) and keep its 200 answer. Takes ownership of *body_p.
void gw_memo_forward (gw_request_t *request, uint8_t **body_p, size_t len);

//  Replies kept now (tests, metrics).
size_t gw_memo_size (gw_memo_t *self);

#endif
