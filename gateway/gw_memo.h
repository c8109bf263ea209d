/*  memo.c: reference replies (genres, platforms) answered from the
    thread's memory; the catalog's change events and a TTL drop them.  */
#ifndef GW_MEMO_H_INCLUDED
#define GW_MEMO_H_INCLUDED

#include "gw_events.h"
#include "gw_request.h"

//  The memo of one thread, following the catalog's change events on the
//  thread's subscription. NULL when it cannot follow them (logged).
gw_memo_t *gw_memo_new (gw_events_t *events, const gw_config_t *config);
void gw_memo_destroy (gw_memo_t **self_p);

//  Answer request (a GW_ROUTE_MEMO route) from memory, or forward it
//  (gw_forward) and keep its 200 answer. Takes ownership of *body_p.
void gw_memo_forward (gw_request_t *request, uint8_t **body_p, size_t len);

//  Replies kept now (tests, metrics).
size_t gw_memo_size (gw_memo_t *self);

#endif
