/*  Asynchronous bus client of one gateway thread: a DEALER socket to the
    broker watched by the thread's event loop, and a table of calls waiting
    for an answer.

    A call's request id is its slot in that table plus the slot's generation,
    so a reply finds its call in O(1) and a late reply to a call that already
    timed out (the slot is free, or reused with a newer generation) is
    dropped. Each call has its own timer; all calls with the usual ttl share
    one libevent common timeout (a queue instead of a heap).

    ZMQ_FD is edge-triggered: it signals when the socket's state changes, not
    while messages wait. So every wake receives until EAGAIN (which, like a
    ZMQ_EVENTS check, processes libzmq's pending commands and re-arms the
    edge), and a loop turn that sent anything drains once more (a send can
    consume the edge that announced a reply).

    Broker liveness: ZMQ_IMMEDIATE makes a send fail at once while there is
    no connection (the caller answers 503 instead of queueing into nothing);
    ZMTP heartbeats drop a connection to a broker that stopped answering; and
    a socket monitor reports the drop, which fails every call sent on it (the
    broker that held them is gone, so no reply will come). From that report
    until the next handshake no call is sent at all: libzmq looks at its
    command queue at most once a millisecond when sending, so for a moment
    after the drop a send can still succeed into the dying pipe and be lost,
    and such a call would otherwise wait out its whole ttl (504 instead of a
    fast 503).

    A broker pair (MG_BROKER=tcp://a,tcp://b; docs/deploy.md): one DEALER
    link per broker, calls go to the one believed active. A BROKER_PASSIVE
    answer means nothing ran, so any call is sent again on the other link
    (or, when that one is down too, on the same link after a pause: a
    failover is under way). When a link drops, its idempotent calls are sent
    again on the other link; the rest end GW_BUS_LOST (503 + Retry-After:
    the dead broker may have delivered them). With a pair each call keeps a
    copy of its request for this; with one broker nothing is copied.

    No link connected (the gateway just started, or its broker connection
    is between handshakes), or the link believed connected would not take
    the send (its connection went a moment before the monitor says so):
    a call is held, not refused. It takes its slot
    and a copy of its request, waits in a queue, and is sent when a link's
    handshake succeeds (the monitor reports it), or ends GW_BUS_LOST (503 +
    Retry-After) when its ttl runs out first. Nothing of it was sent, so
    holding is safe for any call; the slot table bounds the queue. A call of
    a pair that has to go again while neither broker is connected is held
    the same way. But a broker that is not there is not waited for: once
    every link's last attempt was refused (connection refused, or a failed
    handshake: the monitor reports both), calls are refused at once and the
    held ones end GW_BUS_LOST, as before holding existed.  */
#include "bus_impl.h"
#include "mg_curve.h"
#include "mg_log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOCKET_HWM       20000      //  messages queued per direction

static void s_on_monitor (evutil_socket_t fd, short what, void *arg);


bool
gw_bus_readable (void *socket)
{
    assert (socket);
    int events = 0;
    size_t size = sizeof events;
    return zmq_getsockopt (socket, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLIN);
}

//  Open link index to endpoint. 0, or -1 (logged).
static int
s_link_open (gw_bus_t *self, void *zmq_ctx, int index, const char *endpoint, int heartbeat_ms, int liveness)
{
    bus_link_t *link = &self->links [index];
    link->bus = self;
    link->index = index;
    link->dealer = zmq_socket (zmq_ctx, ZMQ_DEALER);
    link->monitor = zmq_socket (zmq_ctx, ZMQ_PAIR);
    int zero = 0;
    int one = 1;
    int hwm = SOCKET_HWM;
    int timeout_ms = heartbeat_ms * liveness;
    char monitor_endpoint [64];
    snprintf (monitor_endpoint, sizeof monitor_endpoint, "inproc://gw-bus-monitor-%d-%d-%p",
              self->index, index, (void *) self);
    evutil_socket_t dealer_fd = -1;
    evutil_socket_t monitor_fd = -1;
    size_t fd_size = sizeof dealer_fd;
    if (!link->dealer || !link->monitor
    ||  zmq_setsockopt (link->dealer, ZMQ_LINGER, &zero, sizeof zero)
    ||  zmq_setsockopt (link->dealer, ZMQ_IMMEDIATE, &one, sizeof one)
    ||  zmq_setsockopt (link->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (link->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (link->dealer, ZMQ_HEARTBEAT_IVL, &heartbeat_ms, sizeof heartbeat_ms)
    ||  zmq_setsockopt (link->dealer, ZMQ_HEARTBEAT_TIMEOUT, &timeout_ms, sizeof timeout_ms)
    ||  zmq_setsockopt (link->monitor, ZMQ_LINGER, &zero, sizeof zero)
    ||  zmq_socket_monitor (link->dealer, monitor_endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED
                            | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED
                            | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
    ||  zmq_connect (link->monitor, monitor_endpoint)
    ||  mg_curve_client (link->dealer)
    ||  zmq_connect (link->dealer, endpoint)
    ||  zmq_getsockopt (link->dealer, ZMQ_FD, &dealer_fd, &fd_size)
    ||  (fd_size = sizeof monitor_fd, zmq_getsockopt (link->monitor, ZMQ_FD, &monitor_fd, &fd_size))) {
        mg_error ("cannot set up the bus client", "endpoint=\"%s\" error=\"%s\"",
                  endpoint, zmq_strerror (errno));
        return -1;
    }
    link->dealer_event = event_new (self->base, dealer_fd, EV_READ | EV_PERSIST, bus_on_dealer, link);
    link->monitor_event = event_new (self->base, monitor_fd, EV_READ | EV_PERSIST, s_on_monitor, link);
    if (!link->dealer_event || !link->monitor_event
    ||  event_add (link->dealer_event, NULL) || event_add (link->monitor_event, NULL)) {
        mg_error ("cannot set up the bus client", "endpoint=\"%s\"", endpoint);
        return -1;
    }
    //  Edges that came before the loop watched the fds would be lost: look now.
    event_active (link->dealer_event, EV_READ, 0);
    event_active (link->monitor_event, EV_READ, 0);
    return 0;
}

gw_bus_t *
gw_bus_new (struct event_base *base, void *zmq_ctx, const char *endpoint,
            int heartbeat_ms, int liveness, int index)
{
    assert (base);
    assert (zmq_ctx);
    assert (endpoint);
    gw_bus_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->base = base;
    self->index = index;
    char one [MG_ENDPOINT_MAX];
    size_t count = mg_config_endpoint (endpoint, 0, one, sizeof one);
    if (count == 0)
        mg_error ("MG_BROKER names no endpoint", "value=\"%.200s\"", endpoint);
    for (size_t i = 0; i < count; i++) {
        mg_config_endpoint (endpoint, i, one, sizeof one);
        if (s_link_open (self, zmq_ctx, (int) i, one, heartbeat_ms, liveness)) {
            gw_bus_destroy (&self);
            return NULL;
        }
        self->nlinks++;
    }
    self->flush_event = evtimer_new (base, bus_on_flush, self);
    if (count == 0 || !self->flush_event || bus_grow (self)) {
        gw_bus_destroy (&self);
        return NULL;
    }
    return self;
}

void
gw_bus_destroy (gw_bus_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_bus_t *self = *self_p;
        for (size_t c = 0; c < self->nchunks; c++) {
            for (size_t i = 0; i < SLOTS_PER_CHUNK; i++) {
                bus_slot_t *slot = &self->chunks [c][i];
                event_del (&slot->timer);
                event_del (&slot->again);
                free (slot->name);
                free (slot->body);
            }
            free (self->chunks [c]);
        }
        free (self->free_slots);
        if (self->flush_event)
            event_free (self->flush_event);
        for (int i = 0; i < MG_ENDPOINTS_MAX; i++) {
            bus_link_t *link = &self->links [i];
            if (link->dealer_event)
                event_free (link->dealer_event);
            if (link->monitor_event)
                event_free (link->monitor_event);
            if (link->dealer) {
                zmq_socket_monitor (link->dealer, NULL, 0);
                zmq_close (link->dealer);
            }
            if (link->monitor)
                zmq_close (link->monitor);
        }
        free (self);
        *self_p = NULL;
    }
}

bool
gw_bus_connected (gw_bus_t *self)
{
    assert (self);
    for (int i = 0; i < self->nlinks; i++)
        if (self->links [i].connected)
            return true;
    return false;
}

//  The connection of link dropped: every call sent on it will get no reply.
//  With a pair, idempotent calls go to the other broker (resend) unless
//  shutting down. Returns how many calls failed.
static size_t
s_fail_epoch (bus_link_t *link, bool resend)
{
    gw_bus_t *self = link->bus;
    uint32_t epoch = link->epoch++;
    size_t failed = 0;
    for (size_t c = 0; c < self->nchunks; c++)
        for (size_t i = 0; i < SLOTS_PER_CHUNK; i++) {
            bus_slot_t *slot = &self->chunks [c][i];
            if (!slot->busy || slot->link != link->index || slot->epoch != epoch
            ||  evtimer_pending (&slot->again, NULL))
                continue;
            if (resend && slot->idempotent && slot->name)
                bus_send_again (self, slot, false);
            else {
                bus_complete (self, slot, GW_BUS_LOST, NULL, 0);
                failed++;
            }
        }
    return failed;
}

void
gw_bus_abandon (gw_bus_t *self)
{
    assert (self);
    for (int i = 0; i < self->nlinks; i++)
        s_fail_epoch (&self->links [i], false);
    //  Calls paused for a passive pair end too.
    for (size_t c = 0; c < self->nchunks; c++)
        for (size_t i = 0; i < SLOTS_PER_CHUNK; i++)
            if (self->chunks [c][i].busy)
                bus_complete (self, &self->chunks [c][i], GW_BUS_LOST, NULL, 0);
}

//  Monitor events (edge-triggered like the dealer): connection up or down.
static void
s_on_monitor (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    bus_link_t *link = arg;
    gw_bus_t *self = link->bus;
    while (gw_bus_readable (link->monitor)) {
        zmq_msg_t parts [2];
        size_t count = bus_recv (link->monitor, parts, 2);
        if (count == 0)
            return;
        uint16_t event = 0;
        if (zmq_msg_size (&parts [0]) >= sizeof event)
            memcpy (&event, zmq_msg_data (&parts [0]), sizeof event);
        for (size_t i = 0; i < count && i < 2; i++)
            zmq_msg_close (&parts [i]);
        if (event == ZMQ_EVENT_CONNECTED)
            link->refused = false;          //  a connection, its handshake to come
        else
        if (event == ZMQ_EVENT_CONNECT_RETRIED
        ||  event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
        ||  event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
        ||  event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            link->refused = true;
            if (bus_all_refused (self))
                bus_fail_held (self);
        }
        else
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            link->connected = true;
            link->refused = false;
            mg_info ("connected to the broker", "thread=%d link=%d", self->index, link->index);
            bus_flush (self);
        }
        else
        if (event == ZMQ_EVENT_DISCONNECTED) {
            bool was_connected = link->connected;
            link->connected = false;
            if (self->active == link->index && self->nlinks > 1)
                self->active = (link->index + 1) % self->nlinks;
            size_t failed = s_fail_epoch (link, true);
            if (was_connected || failed)
                mg_warn ("lost the connection to the broker", "thread=%d link=%d failed_calls=%zu",
                         self->index, link->index, failed);
        }
    }
}
