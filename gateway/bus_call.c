/*  The bus client's calls (bus_impl.h): the slot table whose index and
    generation make a call's request id, each call's timer, the queue of
    calls held while no link is connected, and sending a call (again) on
    the link it goes to.  */
#include "bus_impl.h"
#include "gw_request.h"
#include "mg_frame.h"
#include "mg_log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSIVE_PAUSE_MS 50         //  both brokers of a pair passive (failover under way):
                                    //  ask again this much later, within the call's ttl
#define FLUSH_RETRY_MS   1          //  held calls a fresh link would not take yet: libzmq
                                    //  attaches the connection at its next command check,
                                    //  at most a millisecond after the handshake

static void s_on_timeout (evutil_socket_t fd, short what, void *arg);
static void s_on_again (evutil_socket_t fd, short what, void *arg);

//  Slot by index, or NULL.
bus_slot_t *
bus_slot (gw_bus_t *self, uint32_t index)
{
    size_t chunk = index / SLOTS_PER_CHUNK;
    if (chunk >= self->nchunks)
        return NULL;
    return &self->chunks [chunk][index % SLOTS_PER_CHUNK];
}

//  Add a chunk of free slots. Returns 0, or -1 when at the limit or out of memory.
int
bus_grow (gw_bus_t *self)
{
    if (self->nchunks == CHUNKS_MAX)
        return -1;
    size_t total = (self->nchunks + 1) * SLOTS_PER_CHUNK;
    uint32_t *free_slots = realloc (self->free_slots, total * sizeof *free_slots);
    if (!free_slots)
        return -1;
    self->free_slots = free_slots;
    bus_slot_t *chunk = calloc (SLOTS_PER_CHUNK, sizeof *chunk);
    if (!chunk)
        return -1;
    uint32_t base = (uint32_t) (self->nchunks * SLOTS_PER_CHUNK);
    for (uint32_t i = 0; i < SLOTS_PER_CHUNK; i++) {
        bus_slot_t *slot = &chunk [i];
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
static bus_slot_t *
s_slot_take (gw_bus_t *self)
{
    if (self->nfree == 0 && bus_grow (self))
        return NULL;
    bus_slot_t *slot = bus_slot (self, self->free_slots [--self->nfree]);
    slot->busy = true;
    self->pending++;
    return slot;
}

//  Take slot out of the held queue.
static void
s_held_remove (gw_bus_t *self, bus_slot_t *slot)
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
s_slot_release (gw_bus_t *self, bus_slot_t *slot)
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
void
bus_complete (gw_bus_t *self, bus_slot_t *slot, gw_bus_outcome_t outcome,
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
    bus_slot_t *slot = arg;
    if (slot->busy)
        bus_complete (slot->bus, slot, slot->held ? GW_BUS_LOST : GW_BUS_TIMEOUT, NULL, 0);
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

//  The link to send on: the active one when connected, else a connected
//  other one (which becomes active); NULL when none is connected.
static bus_link_t *
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
s_slot_copy (bus_slot_t *slot, const char *name, const void *body, size_t len)
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
s_hold (gw_bus_t *self, bus_slot_t *slot)
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

//  Slot, which keeps a copy of its request, could not go now: no link is
//  connected, or the one believed connected would not take it (its
//  connection went a moment ago, before the monitor said so: ZMQ_IMMEDIATE
//  refuses the send; or its queue is full). Nothing of it was sent, so hold
//  it: the next handshake sends it, and while a link still counts as
//  connected the flush timer tries again a moment later. Returns false when
//  every link was refused (the broker is not there: not waited for).
static bool
s_hold_unsent (gw_bus_t *self, bus_slot_t *slot, bool link_up)
{
    if (bus_all_refused (self))
        return false;
    s_hold (self, slot);
    if (link_up) {
        struct timeval retry = { 0, FLUSH_RETRY_MS * 1000 };
        event_add (self->flush_event, &retry);
    }
    return true;
}

//  Send slot's request (name, body) on link with what is left of its ttl.
//  0, or -1 when the link would not take it (no connection, full queue).
static int
s_send_on (bus_link_t *link, bus_slot_t *slot, const char *name, const void *body, size_t len)
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
    ||  s_send_frame (link->dealer, body, len, slot->idempotent)
    ||  (slot->idempotent && s_send_frame (link->dealer, MG_FRAME_IDEMPOTENT, strlen (MG_FRAME_IDEMPOTENT), false)))
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
void
bus_send_again (gw_bus_t *self, bus_slot_t *slot, bool after_passive)
{
    bus_link_t *from = &self->links [slot->link];
    if (self->active == from->index)
        self->active = (from->index + 1) % self->nlinks;
    bus_link_t *link = s_link_for_send (self);
    if (link && link != from) {
        if (s_send_on (link, slot, slot->name, slot->body, slot->len) == 0
        ||  s_hold_unsent (self, slot, true))
            return;
    }
    else
    if (!link && s_hold_unsent (self, slot, false))
        return;
    else
    //  Only the passive broker is connected: a failover is under way.
    if (link && after_passive && slot->deadline_us - gw_now_us () > PASSIVE_PAUSE_MS * 1000) {
        struct timeval pause = { 0, PASSIVE_PAUSE_MS * 1000 };
        event_add (&slot->again, &pause);
        return;
    }
    bus_complete (self, slot, GW_BUS_LOST, NULL, 0);
}

//  Timer of a paused call: both brokers were passive a moment ago.
static void
s_on_again (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    bus_slot_t *slot = arg;
    gw_bus_t *self = slot->bus;
    if (!slot->busy)
        return;
    bus_link_t *link = s_link_for_send (self);
    if (link && s_send_on (link, slot, slot->name, slot->body, slot->len) == 0)
        return;
    if (!s_hold_unsent (self, slot, link != NULL))
        bus_complete (self, slot, GW_BUS_LOST, NULL, 0);
}

//  Send the held calls, oldest first, on a connected link; when it will not
//  take one yet (just connected, or its queue is full) try again a moment
//  later. Each held call still ends at its ttl if it never goes.
void
bus_flush (gw_bus_t *self)
{
    while (self->held.head) {
        bus_link_t *link = s_link_for_send (self);
        if (!link)
            return;
        bus_slot_t *slot = self->held.head;
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

bool
bus_all_refused (gw_bus_t *self)
{
    for (int i = 0; i < self->nlinks; i++)
        if (!self->links [i].refused)
            return false;
    return true;
}

void
bus_fail_held (gw_bus_t *self)
{
    while (self->held.head)
        bus_complete (self, self->held.head, GW_BUS_LOST, NULL, 0);
}

//  Timer: send the held calls a fresh link would not take a moment ago.
void
bus_on_flush (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    bus_flush (arg);
}

//  gw_bus_call and gw_bus_call_idempotent.
static int
s_call (gw_bus_t *self, const char *name, const void *body, size_t len, uint32_t ttl_ms,
        bool idempotent, gw_bus_fn *cb, void *arg)
{
    assert (self);
    assert (name);
    assert (cb);
    bus_slot_t *slot = s_slot_take (self);
    if (!slot) {
        mg_warn ("too many bus calls in flight", "thread=%d pending=%zu", self->index, self->pending);
        return -1;
    }
    slot->sent_us = gw_now_us ();
    slot->deadline_us = slot->sent_us + (int64_t) ttl_ms * 1000;
    slot->idempotent = idempotent;
    //  Not sent (no link, or the link would not take it): held, see the top.
    bus_link_t *link = s_link_for_send (self);
    if (link && s_send_on (link, slot, name, body, len) == 0) {
        //  Out of memory: the call goes on, but cannot be sent again.
        if (self->nlinks > 1)
            s_slot_copy (slot, name, body, len);
    }
    else
    if (s_slot_copy (slot, name, body, len) || !s_hold_unsent (self, slot, link != NULL)) {
        s_slot_release (self, slot);
        return -1;
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
