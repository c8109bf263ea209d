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
    fast 503).  */
#include "gw_bus.h"
#include "gw_request.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_log.h"

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

typedef struct {
    gw_bus_t *bus;
    uint32_t index;
    uint32_t generation;            //  bumped on release: stale ids miss
    uint32_t epoch;                 //  connection epoch when sent
    bool busy;
    gw_bus_fn *cb;
    void *arg;
    int64_t sent_us;
    struct event timer;
} s_slot_t;

struct gw_bus_t {
    struct event_base *base;
    void *dealer;
    void *monitor;
    struct event *dealer_event;
    struct event *monitor_event;
    s_slot_t *chunks [CHUNKS_MAX];
    size_t nchunks;
    uint32_t *free_slots;           //  stack of free slot indexes
    size_t nfree;
    size_t pending;
    bool check_queued;              //  a drain is queued for this loop turn
    uint32_t epoch;                 //  bumped when the connection drops
    bool connected;
    int index;
    struct {
        uint32_t ttl_ms;
        const struct timeval *tv;
    } common [COMMON_TTLS_MAX];
    size_t ncommon;
};

static void s_on_dealer (evutil_socket_t fd, short what, void *arg);
static void s_on_monitor (evutil_socket_t fd, short what, void *arg);
static void s_on_timeout (evutil_socket_t fd, short what, void *arg);

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

//  Return slot to the free stack; its id becomes stale.
static void
s_slot_release (gw_bus_t *self, s_slot_t *slot)
{
    event_del (&slot->timer);
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

//  Timer of one call: no answer within its ttl.
static void
s_on_timeout (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_slot_t *slot = arg;
    if (slot->busy)
        s_complete (slot->bus, slot, GW_BUS_TIMEOUT, NULL, 0);
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

//  True when a message is waiting on socket.
static bool
s_readable (void *socket)
{
    int events = 0;
    size_t size = sizeof events;
    return zmq_getsockopt (socket, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLIN);
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
    self->dealer = zmq_socket (zmq_ctx, ZMQ_DEALER);
    self->monitor = zmq_socket (zmq_ctx, ZMQ_PAIR);
    int zero = 0;
    int one = 1;
    int hwm = SOCKET_HWM;
    int timeout_ms = heartbeat_ms * liveness;
    char monitor_endpoint [64];
    snprintf (monitor_endpoint, sizeof monitor_endpoint, "inproc://gw-bus-monitor-%d-%p",
              index, (void *) self);
    evutil_socket_t dealer_fd = -1;
    evutil_socket_t monitor_fd = -1;
    size_t fd_size = sizeof dealer_fd;
    if (!self->dealer || !self->monitor
    ||  zmq_setsockopt (self->dealer, ZMQ_LINGER, &zero, sizeof zero)
    ||  zmq_setsockopt (self->dealer, ZMQ_IMMEDIATE, &one, sizeof one)
    ||  zmq_setsockopt (self->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (self->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (self->dealer, ZMQ_HEARTBEAT_IVL, &heartbeat_ms, sizeof heartbeat_ms)
    ||  zmq_setsockopt (self->dealer, ZMQ_HEARTBEAT_TIMEOUT, &timeout_ms, sizeof timeout_ms)
    ||  zmq_setsockopt (self->monitor, ZMQ_LINGER, &zero, sizeof zero)
    ||  zmq_socket_monitor (self->dealer, monitor_endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
    ||  zmq_connect (self->monitor, monitor_endpoint)
    ||  mg_curve_client (self->dealer)
    ||  zmq_connect (self->dealer, endpoint)
    ||  zmq_getsockopt (self->dealer, ZMQ_FD, &dealer_fd, &fd_size)
    ||  (fd_size = sizeof monitor_fd, zmq_getsockopt (self->monitor, ZMQ_FD, &monitor_fd, &fd_size))) {
        mg_error ("cannot set up the bus client", "endpoint=\"%s\" error=\"%s\"",
                  endpoint, zmq_strerror (errno));
        gw_bus_destroy (&self);
        return NULL;
    }
    self->dealer_event = event_new (base, dealer_fd, EV_READ | EV_PERSIST, s_on_dealer, self);
    self->monitor_event = event_new (base, monitor_fd, EV_READ | EV_PERSIST, s_on_monitor, self);
    if (!self->dealer_event || !self->monitor_event
    ||  event_add (self->dealer_event, NULL) || event_add (self->monitor_event, NULL)
    ||  s_grow (self)) {
        mg_error ("cannot set up the bus client", "endpoint=\"%s\"", endpoint);
        gw_bus_destroy (&self);
        return NULL;
    }
    //  Edges that came before the loop watched the fds would be lost: look now.
    event_active (self->dealer_event, EV_READ, 0);
    event_active (self->monitor_event, EV_READ, 0);
    return self;
}

void
gw_bus_destroy (gw_bus_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_bus_t *self = *self_p;
        if (self->dealer_event)
            event_free (self->dealer_event);
        if (self->monitor_event)
            event_free (self->monitor_event);
        for (size_t c = 0; c < self->nchunks; c++) {
            for (size_t i = 0; i < SLOTS_PER_CHUNK; i++)
                event_del (&self->chunks [c][i].timer);
            free (self->chunks [c]);
        }
        free (self->free_slots);
        if (self->dealer) {
            zmq_socket_monitor (self->dealer, NULL, 0);
            zmq_close (self->dealer);
        }
        if (self->monitor)
            zmq_close (self->monitor);
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

//  Send one frame; more = another follows. Returns 0 or -1 (errno).
static int
s_send_frame (void *socket, const void *data, size_t len, bool more)
{
    int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);
    return zmq_send (socket, data, len, flags) == (int) len ? 0 : -1;
}

int
gw_bus_call (gw_bus_t *self, const char *name, const void *body, size_t len,
             uint32_t ttl_ms, gw_bus_fn *cb, void *arg)
{
    assert (self);
    assert (name);
    assert (cb);
    if (!self->connected)
        return -1;              //  see the top: a send now could be lost unseen
    s_slot_t *slot = s_slot_take (self);
    if (!slot) {
        mg_warn ("too many bus calls in flight", "thread=%d pending=%zu", self->index, self->pending);
        return -1;
    }
    uint8_t id [8];
    memcpy (id, &slot->index, 4);
    memcpy (id + 4, &slot->generation, 4);
    char ttl [16];
    int ttl_len = snprintf (ttl, sizeof ttl, "%u", ttl_ms);
    //  The first frame decides: once it is queued, ZeroMQ takes the rest of
    //  the multipart message. EAGAIN here means no connection (IMMEDIATE) or
    //  a full queue.
    if (s_send_frame (self->dealer, MG_FRAME_PROTOCOL, 3, true)) {
        s_slot_release (self, slot);
        return -1;
    }
    if (s_send_frame (self->dealer, "REQ", 3, true)
    ||  s_send_frame (self->dealer, name, strlen (name), true)
    ||  s_send_frame (self->dealer, id, sizeof id, true)
    ||  s_send_frame (self->dealer, ttl, (size_t) ttl_len, true)
    ||  s_send_frame (self->dealer, body, len, false))
        mg_error ("bus send failed mid-message", "error=\"%s\"", zmq_strerror (errno));
    slot->cb = cb;
    slot->arg = arg;
    slot->epoch = self->epoch;
    slot->sent_us = gw_now_us ();
    struct timeval plain;
    event_add (&slot->timer, s_timeout_for (self, ttl_ms, &plain));
    //  The send may have taken the edge that announced a reply: drain once
    //  this loop turn (one check for all the calls made in it, not one each:
    //  every check costs libzmq a poll and a getpid).
    if (!self->check_queued) {
        self->check_queued = true;
        event_active (self->dealer_event, EV_READ, 0);
    }
    return 0;
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

//  Handle one reply: MG1 REP|ERR name id body.
static void
s_on_reply (gw_bus_t *self, zmq_msg_t *parts, size_t count)
{
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
    s_complete (self, slot, outcome, zmq_msg_data (&parts [4]), zmq_msg_size (&parts [4]));
}

//  Dealer readable (edge): drain a batch, come back later if more waits.
static void
s_on_dealer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_bus_t *self = arg;
    self->check_queued = false;
    //  Receiving until EAGAIN re-arms the edge as a ZMQ_EVENTS check would.
    for (int n = 0; n < DRAIN_BATCH; n++) {
        zmq_msg_t parts [5];
        size_t count = s_recv (self->dealer, parts, 5);
        if (count == 0)
            return;
        s_on_reply (self, parts, count);
        for (size_t i = 0; i < count && i < 5; i++)
            zmq_msg_close (&parts [i]);
    }
    event_active (self->dealer_event, EV_READ, 0);
}

//  The connection dropped: every call sent on it will get no reply.
//  Returns how many calls failed.
static size_t
s_fail_epoch (gw_bus_t *self)
{
    uint32_t epoch = self->epoch++;
    size_t failed = 0;
    for (size_t c = 0; c < self->nchunks; c++)
        for (size_t i = 0; i < SLOTS_PER_CHUNK; i++) {
            s_slot_t *slot = &self->chunks [c][i];
            if (slot->busy && slot->epoch == epoch) {
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
    s_fail_epoch (self);
}

//  Monitor events (edge-triggered like the dealer): connection up or down.
static void
s_on_monitor (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_bus_t *self = arg;
    while (s_readable (self->monitor)) {
        zmq_msg_t parts [2];
        size_t count = s_recv (self->monitor, parts, 2);
        if (count == 0)
            return;
        uint16_t event = 0;
        if (zmq_msg_size (&parts [0]) >= sizeof event)
            memcpy (&event, zmq_msg_data (&parts [0]), sizeof event);
        for (size_t i = 0; i < count && i < 2; i++)
            zmq_msg_close (&parts [i]);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            self->connected = true;
            mg_info ("connected to the broker", "thread=%d", self->index);
        }
        else
        if (event == ZMQ_EVENT_DISCONNECTED) {
            bool was_connected = self->connected;
            self->connected = false;
            size_t failed = s_fail_epoch (self);
            if (was_connected || failed)
                mg_warn ("lost the connection to the broker", "thread=%d failed_calls=%zu",
                         self->index, failed);
        }
    }
}
