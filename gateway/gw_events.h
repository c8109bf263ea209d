/*  events.c: a gateway thread's one subscription to the bus's events.

    Parts of a thread that follow events (the SSE streams, the reference
    memo) register a topic prefix and a handler; the thread's single SUB
    socket receives what every part asked for, and each event goes to the
    handler of the first registered prefix it starts with. One socket a
    thread, not one per part: one connection to the event endpoint and one
    copy of each event.  */
#ifndef GW_EVENTS_H_INCLUDED
#define GW_EVENTS_H_INCLUDED

#include <event2/event.h>
#include <stddef.h>
#include <zmq.h>

typedef struct gw_events_t gw_events_t;

//  An event in two parts: its topic and its body (the handler does not
//  keep either past its return).
typedef void (gw_events_fn) (void *arg, const zmq_msg_t *topic, zmq_msg_t *body);

//  The thread's subscription on base, connected (CURVE when keys are set)
//  to endpoint (one or a comma-separated pair). NULL on failure (logged).
gw_events_t *gw_events_new (struct event_base *base, void *zmq_ctx, const char *endpoint);
void gw_events_destroy (gw_events_t **self_p);

//  Subscribe to topics starting with prefix and hand them to fn (arg).
//  0, or -1 when the table is full or the subscription was refused.
int gw_events_on (gw_events_t *self, const char *prefix, gw_events_fn *fn, void *arg);

//  True when topic is exactly name.
int gw_events_topic_is (const zmq_msg_t *topic, const char *name);

#endif
