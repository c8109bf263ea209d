/*  A gateway thread's one subscription to the bus's events (gw_events.h).

    The SUB socket's file descriptor is edge-triggered: each wake drains up
    to DRAIN_BATCH events, then, if more are queued, schedules itself again
    so that HTTP gets a turn in between.  */
#include "gw_events.h"
#include "gw_bus.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HANDLERS_MAX    8           //  parts of a thread that follow events (today 2)
#define PREFIX_MAX      64          //  bytes of a topic prefix
#define DRAIN_BATCH     256         //  events per wake before HTTP gets a turn
#define RECHECK_S       1           //  a missed fd edge is found within this

typedef struct {
    char prefix [PREFIX_MAX];
    size_t prefix_len;
    gw_events_fn *fn;
    void *arg;
} s_handler_t;

struct gw_events_t {
    void *sub;
    struct event *sub_event;
    struct event *recheck;          //  drains if an fd edge was missed
    s_handler_t handlers [HANDLERS_MAX];
    size_t count;
};

//  Hand one event to the handler of the first prefix its topic starts with.
static void
s_dispatch (gw_events_t *self, const zmq_msg_t *topic, zmq_msg_t *body)
{
    size_t len = zmq_msg_size ((zmq_msg_t *) topic);
    const char *data = zmq_msg_data ((zmq_msg_t *) topic);
    for (size_t i = 0; i < self->count; i++) {
        s_handler_t *h = &self->handlers [i];
        if (len >= h->prefix_len && memcmp (data, h->prefix, h->prefix_len) == 0) {
            h->fn (h->arg, topic, body);
            return;
        }
    }
}

//  libevent: the SUB socket's fd signalled (edge-triggered: drain it).
static void
s_on_sub (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_events_t *self = arg;
    for (int n = 0; n < DRAIN_BATCH; n++) {
        zmq_msg_t topic, body;
        zmq_msg_init (&topic);
        zmq_msg_init (&body);
        if (zmq_msg_recv (&topic, self->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&topic);
            zmq_msg_close (&body);
            return;                 //  EAGAIN: the edge is re-armed
        }
        bool two = zmq_msg_more (&topic) && zmq_msg_recv (&body, self->sub, 0) >= 0;
        //  Anything after the body is not ours: skip it.
        while (zmq_msg_more (two ? &body : &topic)) {
            zmq_msg_t extra;
            zmq_msg_init (&extra);
            int rc = zmq_msg_recv (&extra, self->sub, 0);
            bool more = rc >= 0 && zmq_msg_more (&extra);
            zmq_msg_close (&extra);
            if (!more)
                break;
        }
        if (two)
            s_dispatch (self, &topic, &body);
        zmq_msg_close (&topic);
        zmq_msg_close (&body);
    }
    //  Batch full: come back on the next loop turn, HTTP first.
    if (gw_bus_readable (self->sub))
        event_active (self->sub_event, EV_READ, 0);
}

//  libevent: the timer. ZMQ_FD signals edges, and an edge consumed by a
//  call that is not ours to see (libzmq processes commands on any socket
//  operation) would leave queued events unread until the next one.
static void
s_on_recheck (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_events_t *self = arg;
    if (gw_bus_readable (self->sub))
        event_active (self->sub_event, EV_READ, 0);
}

gw_events_t *
gw_events_new (struct event_base *base, void *zmq_ctx, const char *endpoint)
{
    assert (base && zmq_ctx && endpoint);
    gw_events_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sub = zmq_socket (zmq_ctx, ZMQ_SUB);
    //  Past MG_EVENTS_HWM events drop: sync streams refetch a gap, the memo has its TTL.
    int hwm = MG_EVENTS_HWM, linger = 0;
    int fd = -1;
    size_t fd_size = sizeof fd;
    if (!self->sub
    ||  zmq_setsockopt (self->sub, ZMQ_RCVHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (self->sub, ZMQ_LINGER, &linger, sizeof linger)
    ||  mg_curve_client (self->sub)
    ||  mg_config_connect (self->sub, endpoint)
    ||  zmq_getsockopt (self->sub, ZMQ_FD, &fd, &fd_size)) {
        mg_error ("cannot subscribe to events", "endpoint=\"%s\" error=\"%s\"", endpoint,
                  zmq_strerror (zmq_errno ()));
        gw_events_destroy (&self);
        return NULL;
    }
    self->sub_event = event_new (base, fd, EV_READ | EV_PERSIST, s_on_sub, self);
    self->recheck = event_new (base, -1, EV_PERSIST, s_on_recheck, self);
    struct timeval every = { RECHECK_S, 0 };
    if (!self->sub_event || !self->recheck || event_add (self->sub_event, NULL)
    ||  event_add (self->recheck, &every)) {
        gw_events_destroy (&self);
        return NULL;
    }
    return self;
}

void
gw_events_destroy (gw_events_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_events_t *self = *self_p;
        if (self->sub_event)
            event_free (self->sub_event);
        if (self->recheck)
            event_free (self->recheck);
        if (self->sub)
            zmq_close (self->sub);
        free (self);
        *self_p = NULL;
    }
}

int
gw_events_on (gw_events_t *self, const char *prefix, gw_events_fn *fn, void *arg)
{
    assert (self && prefix && fn);
    size_t len = strlen (prefix);
    if (self->count == HANDLERS_MAX || len == 0 || len >= PREFIX_MAX
    ||  zmq_setsockopt (self->sub, ZMQ_SUBSCRIBE, prefix, len)) {
        mg_error ("cannot follow events", "prefix=\"%s\"", prefix);
        return -1;
    }
    s_handler_t *h = &self->handlers [self->count++];
    memcpy (h->prefix, prefix, len + 1);
    h->prefix_len = len;
    h->fn = fn;
    h->arg = arg;
    return 0;
}

int
gw_events_topic_is (const zmq_msg_t *topic, const char *name)
{
    size_t len = strlen (name);
    return zmq_msg_size ((zmq_msg_t *) topic) == len
        && memcmp (zmq_msg_data ((zmq_msg_t *) topic), name, len) == 0;
}
