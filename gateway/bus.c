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
    is between handshakes): a call is held, not refused. It takes its slot
    and a copy of its request, waits in a queue, and is sent when a link's
    handshake succeeds (the monitor reports it), or ends GW_BUS_LOST (503 +
    Retry-After) when its ttl runs out first. Nothing of it was sent, so
    holding is safe for any call; the slot table bounds the queue. A call of
    a pair that has to go again while neither broker is connected is held
    the same way.  */
#include "gw_bus.h"
#include "gw_request.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_log.h"
#include "mg_msg.h"

#include <assert.h>
#include <errno.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define SLOTS_PER_CHUNK  1024       //  slots allocated at a time
#define CHUNKS_MAX       64         //  => at most 65,536 calls in flight per thread
#define DRAIN_BATCH      256        //  messages per wake before HTTP gets a turn
#define COMMON_TTLS_MAX  4          //  distinct ttls with a shared timer queue
#define SOCKET_HWM       20000      //  messages queued per direction
#define PASSIVE_PAUSE_MS 50         //  both brokers of a pair passive (failover under way):
                                    //  ask again this much later, within the call's ttl
#define FLUSH_RETRY_MS   1          //  held calls a fresh link would not take yet: libzmq
                                    //  attaches the connection at its next command check,
                                    //  at most a millisecond after the handshake

//  One DEALER to one broker.
typedef struct {
    gw_bus_t *bus;
    int index;                      //  in bus->links
    void *dealer;
    void *monitor;
    struct event *dealer_event;
    struct event *monitor_event;
    bool check_queued;              //  a drain is queued for this loop turn
    uint32_t epoch;                 //  bumped when the connection drops
    bool connected;
} s_link_t;

typedef struct s_slot_t {
    gw_bus_t *bus;
    uint32_t index;
    uint32_t generation;            //  bumped on release: stale ids miss
    int link;                       //  link it was sent on (-1: held, not sent)
    uint32_t epoch;                 //  that link's epoch when sent
    bool busy;
    bool idempotent;                //  may be sent again when its broker is lost
    bool held;                      //  waiting for a connected link (in bus->held)
    gw_bus_fn *cb;
    void *arg;
    int64_t sent_us;
    int64_t deadline_us;
    char *name;                     //  copy of the request (a pair, or held)
    uint8_t *body;
    size_t len;
    struct event timer;
    struct event again;             //  the paused re-send (a pair only)
    struct s_slot_t *held_prev;     //  neighbours in bus->held, oldest first
    struct s_slot_t *held_next;
} s_slot_t;

struct gw_bus_t {
    struct event_base *base;
    s_link_t links [MG_ENDPOINTS_MAX];
    int nlinks;
    int active;                     //  the link calls go to
    s_slot_t *chunks [CHUNKS_MAX];
    size_t nchunks;
    uint32_t *free_slots;           //  stack of free slot indexes
    size_t nfree;
    size_t pending;
    int index;
    struct {
        uint32_t ttl_ms;
        const struct timeval *tv;
    } common [COMMON_TTLS_MAX];
    size_t ncommon;
    struct {
        s_slot_t *head, *tail;
    } held;                         //  calls waiting for a connected link, oldest first
    struct event *flush_event;      //  sends the held calls a moment later
};

static void s_on_dealer (evutil_socket_t fd, short what, void *arg);
static void s_on_monitor (evutil_socket_t fd, short what, void *arg);
static void s_on_timeout (evutil_socket_t fd, short what, void *arg);
static void s_on_again (evutil_socket_t fd, short what, void *arg);
static void s_on_flush (evutil_socket_t fd, short what, void *arg);

//  Slot by index, or NULL.
static s_slot_t *
s_slot (gw_bus_t *self, uint32_t index)
{
    size_t chunk = index / SLOTS_PER_CHUNK;
    if (chunk >= self->nchunks)
        return NULL;
    return &self->chunks [chunk][index % SLOTS_PER_CHUNK];
}

//  Add a chunk of free slots. Returns 0, or -1 when at the limit or out of memory.
static int
s_grow (gw_bus_t *self)
{
    if (self->nchunks == CHUNKS_MAX)
        return -1;
    size_t total = (self->nchunks + 1) * SLOTS_PER_CHUNK;
    uint32_t *free_slots = realloc (self->free_slots, total * sizeof *free_slots);
    if (!free_slots)
        return -1;
    self->free_slots = free_slots;
    s_slot_t *chunk = calloc (SLOTS_PER_CHUNK, sizeof *chunk);
    if (!chunk)
        return -1;
    uint32_t base = (uint32_t) (self->nchunks * SLOTS_PER_CHUNK);
    for (uint32_t i = 0; i < SLOTS_PER_CHUNK; i++) {
        s_slot_t *slot = &chunk [i];
        slot->bus = self;
        slot->index = base + i;
        evtimer_assign (&slot->timer, self->base, s_on_timeout, slot);
        evtimer_assign (&slot->again, self->base, s_on_again, slot);
        //  Lowest index on top: recently used slots stay warm in cache.
        self->free_slots [self->nfree++] = base + SLOTS_PER_CHUNK - 1 - i;
    }
    self->chunks [self->nchunks++] = chunk;
    return 0;
}

//  A free slot, or NULL when the table is full.
static s_slot_t *
s_slot_take (gw_bus_t *self)
{
    if (self->nfree == 0 && s_grow (self))
        return NULL;
    s_slot_t *slot = s_slot (self, self->free_slots [--self->nfree]);
    slot->busy = true;
    self->pending++;
    return slot;
}

//  Take slot out of the held queue.
static void
s_held_remove (gw_bus_t *self, s_slot_t *slot)
{
    if (slot->held_prev)
        slot->held_prev->held_next = slot->held_next;
    else
        self->held.head = slot->held_next;
    if (slot->held_next)
        slot->held_next->held_prev = slot->held_prev;
    else
        self->held.tail = slot->held_prev;
    slot->held_prev = slot->held_next = NULL;
    slot->held = false;
}

//  Return slot to the free stack; its id becomes stale.
static void
s_slot_release (gw_bus_t *self, s_slot_t *slot)
{
    if (slot->held)
        s_held_remove (self, slot);
    event_del (&slot->timer);
    event_del (&slot->again);
    free (slot->name);
    free (slot->body);
    slot->name = NULL;
    slot->body = NULL;
    slot->busy = false;
    slot->generation++;
    slot->cb = NULL;
    slot->arg = NULL;
    self->free_slots [self->nfree++] = slot->index;
    self->pending--;
}

//  Release slot and tell its caller how the call ended.
static void
s_complete (gw_bus_t *self, s_slot_t *slot, gw_bus_outcome_t outcome,
            const uint8_t *body, size_t len)
{
    gw_bus_fn *cb = slot->cb;
    void *arg = slot->arg;
    int64_t rtt_us = gw_now_us () - slot->sent_us;
    s_slot_release (self, slot);
    cb (arg, outcome, body, len, rtt_us);
}

//  Timer of one call: no answer within its ttl. A held call never reached
//  a broker: the broker is unreachable, not slow.
static void
s_on_timeout (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_slot_t *slot = arg;
    if (slot->busy)
        s_complete (slot->bus, slot, slot->held ? GW_BUS_LOST : GW_BUS_TIMEOUT, NULL, 0);
}

//  Timer interval for ttl_ms, shared (common timeout) for the first few ttls.
static const struct timeval *
s_timeout_for (gw_bus_t *self, uint32_t ttl_ms, struct timeval *plain)
{
    for (size_t i = 0; i < self->ncommon; i++)
        if (self->common [i].ttl_ms == ttl_ms)
            return self->common [i].tv;
    plain->tv_sec = ttl_ms / 1000;
    plain->tv_usec = (ttl_ms % 1000) * 1000;
    if (self->ncommon < COMMON_TTLS_MAX) {
        const struct timeval *tv = event_base_init_common_timeout (self->base, plain);
        if (tv) {
            self->common [self->ncommon].ttl_ms = ttl_ms;
            self->common [self->ncommon++].tv = tv;
            return tv;
        }
    }
    return plain;
}

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
    s_link_t *link = &self->links [index];
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
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
    ||  zmq_connect (link->monitor, monitor_endpoint)
    ||  mg_curve_client (link->dealer)
    ||  zmq_connect (link->dealer, endpoint)
    ||  zmq_getsockopt (link->dealer, ZMQ_FD, &dealer_fd, &fd_size)
    ||  (fd_size = sizeof monitor_fd, zmq_getsockopt (link->monitor, ZMQ_FD, &monitor_fd, &fd_size))) {
        mg_error ("cannot set up the bus client", "endpoint=\"%s\" error=\"%s\"",
                  endpoint, zmq_strerror (errno));
        return -1;
    }
    link->dealer_event = event_new (self->base, dealer_fd, EV_READ | EV_PERSIST, s_on_dealer, link);
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
    self->flush_event = evtimer_new (base, s_on_flush, self);
    if (count == 0 || !self->flush_event || s_grow (self)) {
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
                s_slot_t *slot = &self->chunks [c][i];
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
            s_link_t *link = &self->links [i];
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

size_t
gw_bus_pending (gw_bus_t *self)
{
    assert (self);
    return self->pending;
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

//  Send one frame; more = another follows. Returns 0 or -1 (errno).
static int
s_send_frame (void *socket, const void *data, size_t len, bool more)
{
    int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);
    return zmq_send (socket, data, len, flags) == (int) len ? 0 : -1;
}

//  The link to send on: the active one when connected, else a connected
//  other one (which becomes active); NULL when none is connected.
static s_link_t *
s_link_for_send (gw_bus_t *self)
{
    if (self->links [self->active].connected)
        return &self->links [self->active];
    for (int i = 0; i < self->nlinks; i++)
        if (self->links [i].connected) {
            self->active = i;
            return &self->links [i];
        }
    return NULL;
}

//  Keep a copy of the request in slot, to send it later or again. 0, or -1
//  out of memory (slot keeps no copy).
static int
s_slot_copy (s_slot_t *slot, const char *name, const void *body, size_t len)
{
    slot->name = strdup (name);
    slot->body = malloc (len ? len : 1);
    if (!slot->name || !slot->body) {
        free (slot->name);
        free (slot->body);
        slot->name = NULL;
        slot->body = NULL;
        return -1;
    }
    if (len)
        memcpy (slot->body, body, len);
    slot->len = len;
    return 0;
}

//  Queue slot, whose request it holds a copy of, until a link is connected.
static void
s_hold (gw_bus_t *self, s_slot_t *slot)
{
    assert (slot->name && !slot->held);
    slot->held = true;
    slot->link = -1;
    slot->held_next = NULL;
    slot->held_prev = self->held.tail;
    if (self->held.tail)
        self->held.tail->held_next = slot;
    else
        self->held.head = slot;
    self->held.tail = slot;
}

//  Send slot's request (name, body) on link with what is left of its ttl.
//  0, or -1 when the link would not take it (no connection, full queue).
static int
s_send_on (s_link_t *link, s_slot_t *slot, const char *name, const void *body, size_t len)
{
    uint8_t id [8];
    memcpy (id, &slot->index, 4);
    memcpy (id + 4, &slot->generation, 4);
    int64_t left_ms = (slot->deadline_us - gw_now_us () + 999) / 1000;
    char ttl [16];
    int ttl_len = snprintf (ttl, sizeof ttl, "%lld", (long long) (left_ms > 1 ? left_ms : 1));
    //  The first frame decides: once it is queued, ZeroMQ takes the rest of
    //  the multipart message. EAGAIN here means no connection (IMMEDIATE) or
    //  a full queue.
    if (s_send_frame (link->dealer, MG_FRAME_PROTOCOL, 3, true))
        return -1;
    if (s_send_frame (link->dealer, "REQ", 3, true)
    ||  s_send_frame (link->dealer, name, strlen (name), true)
    ||  s_send_frame (link->dealer, id, sizeof id, true)
    ||  s_send_frame (link->dealer, ttl, (size_t) ttl_len, true)
    ||  s_send_frame (link->dealer, body, len, false))
        mg_error ("bus send failed mid-message", "error=\"%s\"", zmq_strerror (errno));
    slot->link = link->index;
    slot->epoch = link->epoch;
    //  The send may have taken the edge that announced a reply: drain once
    //  this loop turn (one check for all the calls made in it, not one each:
    //  every check costs libzmq a poll and a getpid).
    if (!link->check_queued) {
        link->check_queued = true;
        event_active (link->dealer_event, EV_READ, 0);
    }
    return 0;
}

//  Call of a pair sent on link, whose broker was passive (after_passive) or
//  lost: send it on the other link; if that is down too and nothing ran,
//  on the same link a little later. Ends it GW_BUS_LOST when it cannot go.
static void
s_send_again (gw_bus_t *self, s_slot_t *slot, bool after_passive)
{
    s_link_t *from = &self->links [slot->link];
    if (self->active == from->index)
        self->active = (from->index + 1) % self->nlinks;
    s_link_t *link = s_link_for_send (self);
    if (link && link != from && s_send_on (link, slot, slot->name, slot->body, slot->len) == 0)
        return;
    if (!link) {
        s_hold (self, slot);
        return;
    }
    if (after_passive && slot->deadline_us - gw_now_us () > PASSIVE_PAUSE_MS * 1000) {
        struct timeval pause = { 0, PASSIVE_PAUSE_MS * 1000 };
        event_add (&slot->again, &pause);
        return;
    }
    s_complete (self, slot, GW_BUS_LOST, NULL, 0);
}

//  Timer of a paused call: both brokers were passive a moment ago.
static void
s_on_again (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_slot_t *slot = arg;
    gw_bus_t *self = slot->bus;
    if (!slot->busy)
        return;
    s_link_t *link = s_link_for_send (self);
    if (!link)
        s_hold (self, slot);
    else
    if (s_send_on (link, slot, slot->name, slot->body, slot->len))
        s_complete (self, slot, GW_BUS_LOST, NULL, 0);
}

//  Send the held calls, oldest first, on a connected link; when it will not
//  take one yet (just connected, or its queue is full) try again a moment
//  later. Each held call still ends at its ttl if it never goes.
static void
s_flush (gw_bus_t *self)
{
    while (self->held.head) {
        s_link_t *link = s_link_for_send (self);
        if (!link)
            return;
        s_slot_t *slot = self->held.head;
        if (s_send_on (link, slot, slot->name, slot->body, slot->len)) {
            struct timeval retry = { 0, FLUSH_RETRY_MS * 1000 };
            event_add (self->flush_event, &retry);
            return;
        }
        s_held_remove (self, slot);
        if (self->nlinks == 1) {
            //  One broker: a sent call is never sent again, as if not held.
            free (slot->name);
            free (slot->body);
            slot->name = NULL;
            slot->body = NULL;
        }
    }
}

//  Timer: send the held calls a fresh link would not take a moment ago.
static void
s_on_flush (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_flush (arg);
}

//  gw_bus_call and gw_bus_call_idempotent.
static int
s_call (gw_bus_t *self, const char *name, const void *body, size_t len, uint32_t ttl_ms,
        bool idempotent, gw_bus_fn *cb, void *arg)
{
    assert (self);
    assert (name);
    assert (cb);
    s_slot_t *slot = s_slot_take (self);
    if (!slot) {
        mg_warn ("too many bus calls in flight", "thread=%d pending=%zu", self->index, self->pending);
        return -1;
    }
    slot->sent_us = gw_now_us ();
    slot->deadline_us = slot->sent_us + (int64_t) ttl_ms * 1000;
    slot->idempotent = idempotent;
    //  No connection: see the top, a send now could be lost unseen.
    s_link_t *link = s_link_for_send (self);
    if (!link) {
        if (s_slot_copy (slot, name, body, len)) {
            s_slot_release (self, slot);
            return -1;
        }
        s_hold (self, slot);
    }
    else {
        if (s_send_on (link, slot, name, body, len)) {
            s_slot_release (self, slot);
            return -1;
        }
        //  Out of memory: the call goes on, but cannot be sent again.
        if (self->nlinks > 1)
            s_slot_copy (slot, name, body, len);
    }
    slot->cb = cb;
    slot->arg = arg;
    struct timeval plain;
    event_add (&slot->timer, s_timeout_for (self, ttl_ms, &plain));
    return 0;
}

int
gw_bus_call (gw_bus_t *self, const char *name, const void *body, size_t len,
             uint32_t ttl_ms, gw_bus_fn *cb, void *arg)
{
    return s_call (self, name, body, len, ttl_ms, false, cb, arg);
}

int
gw_bus_call_idempotent (gw_bus_t *self, const char *name, const void *body, size_t len,
                        uint32_t ttl_ms, gw_bus_fn *cb, void *arg)
{
    return s_call (self, name, body, len, ttl_ms, true, cb, arg);
}

//  Receive one multipart message into parts (up to max); returns the number
//  of frames it had (more than max: the extra ones are dropped), 0 if none.
static size_t
s_recv (void *socket, zmq_msg_t *parts, size_t max)
{
    size_t count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t extra;
        zmq_msg_t *part = count < max ? &parts [count] : &extra;
        zmq_msg_init (part);
        if (zmq_msg_recv (part, socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (part);
            break;
        }
        more = zmq_msg_more (part);
        if (part == &extra)
            zmq_msg_close (part);
        count++;
    }
    return count;
}

//  True when an error body says the broker is the passive one of a pair.
static bool
s_is_passive (const uint8_t *body, size_t len)
{
    mg_error_t error;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_error_desc, body, len, &error, reason, sizeof reason))
        return false;
    bool passive = error.code && strcmp (error.code, "BROKER_PASSIVE") == 0;
    mg_msg_clear (&mg_error_desc, &error);
    return passive;
}

//  Handle one reply on link: MG1 REP|ERR name id body.
static void
s_on_reply (s_link_t *link, zmq_msg_t *parts, size_t count)
{
    gw_bus_t *self = link->bus;
    if (count != 5
    ||  zmq_msg_size (&parts [0]) != 3 || memcmp (zmq_msg_data (&parts [0]), MG_FRAME_PROTOCOL, 3)
    ||  zmq_msg_size (&parts [1]) != 3 || zmq_msg_size (&parts [3]) != 8) {
        mg_warn ("dropped a malformed bus reply", "frames=%zu", count);
        return;
    }
    const char *cmd = zmq_msg_data (&parts [1]);
    gw_bus_outcome_t outcome;
    if (memcmp (cmd, "REP", 3) == 0)
        outcome = GW_BUS_REPLY;
    else
    if (memcmp (cmd, "ERR", 3) == 0)
        outcome = GW_BUS_ERROR;
    else {
        mg_warn ("dropped a bus message with an unexpected command", "command=%.3s", cmd);
        return;
    }
    uint32_t index, generation;
    memcpy (&index, zmq_msg_data (&parts [3]), 4);
    memcpy (&generation, (const uint8_t *) zmq_msg_data (&parts [3]) + 4, 4);
    s_slot_t *slot = s_slot (self, index);
    if (!slot || !slot->busy || slot->generation != generation) {
        mg_debug ("dropped a late bus reply", "thread=%d", self->index);
        return;
    }
    if (outcome == GW_BUS_ERROR && self->nlinks > 1 && slot->name
    &&  s_is_passive (zmq_msg_data (&parts [4]), zmq_msg_size (&parts [4]))) {
        s_send_again (self, slot, true);
        return;
    }
    s_complete (self, slot, outcome, zmq_msg_data (&parts [4]), zmq_msg_size (&parts [4]));
}

//  Dealer readable (edge): drain a batch, come back later if more waits.
static void
s_on_dealer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_link_t *link = arg;
    link->check_queued = false;
    //  Receiving until EAGAIN re-arms the edge as a ZMQ_EVENTS check would.
    for (int n = 0; n < DRAIN_BATCH; n++) {
        zmq_msg_t parts [5];
        size_t count = s_recv (link->dealer, parts, 5);
        if (count == 0)
            return;
        s_on_reply (link, parts, count);
        for (size_t i = 0; i < count && i < 5; i++)
            zmq_msg_close (&parts [i]);
    }
    event_active (link->dealer_event, EV_READ, 0);
}

//  The connection of link dropped: every call sent on it will get no reply.
//  With a pair, idempotent calls go to the other broker (resend) unless
//  shutting down. Returns how many calls failed.
static size_t
s_fail_epoch (s_link_t *link, bool resend)
{
    gw_bus_t *self = link->bus;
    uint32_t epoch = link->epoch++;
    size_t failed = 0;
    for (size_t c = 0; c < self->nchunks; c++)
        for (size_t i = 0; i < SLOTS_PER_CHUNK; i++) {
            s_slot_t *slot = &self->chunks [c][i];
            if (!slot->busy || slot->link != link->index || slot->epoch != epoch
            ||  evtimer_pending (&slot->again, NULL))
                continue;
            if (resend && slot->idempotent && slot->name)
                s_send_again (self, slot, false);
            else {
                s_complete (self, slot, GW_BUS_LOST, NULL, 0);
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
                s_complete (self, &self->chunks [c][i], GW_BUS_LOST, NULL, 0);
}

//  Monitor events (edge-triggered like the dealer): connection up or down.
static void
s_on_monitor (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_link_t *link = arg;
    gw_bus_t *self = link->bus;
    while (gw_bus_readable (link->monitor)) {
        zmq_msg_t parts [2];
        size_t count = s_recv (link->monitor, parts, 2);
        if (count == 0)
            return;
        uint16_t event = 0;
        if (zmq_msg_size (&parts [0]) >= sizeof event)
            memcpy (&event, zmq_msg_data (&parts [0]), sizeof event);
        for (size_t i = 0; i < count && i < 2; i++)
            zmq_msg_close (&parts [i]);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            link->connected = true;
            mg_info ("connected to the broker", "thread=%d link=%d", self->index, link->index);
            s_flush (self);
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
