/*  Inside the bus client (gw_bus.h): the state its files share, and what
    each file offers the others. One concern a file, each calling only the
    ones below it:

    bus.c        the links: a DEALER and its monitor per broker, connection
                 state, a dropped connection's calls, set-up and tear-down
    bus_reply.c  reply dispatch: draining a DEALER, a reply to its call
    bus_call.c   slots, calls and the held queue: ids, timers, sending and
                 sending again, the link a call goes to

    The design (ids, edge-triggered fds, broker liveness, pairs, holding)
    is described at the top of bus.c.  */
#ifndef GW_BUS_IMPL_H_INCLUDED
#define GW_BUS_IMPL_H_INCLUDED

#include "gw_bus.h"
#include "mg_config.h"

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define SLOTS_PER_CHUNK  1024       //  slots allocated at a time
#define CHUNKS_MAX       64         //  => at most 65,536 calls in flight per thread
#define COMMON_TTLS_MAX  4          //  distinct ttls with a shared timer queue

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
    bool refused;                   //  its last attempt was refused or failed its
                                    //  handshake: no broker to wait for there
} bus_link_t;

//  One call: a slot of the table, its request id, its timers.
typedef struct bus_slot_t {
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
    struct bus_slot_t *held_prev;   //  neighbours in bus->held, oldest first
    struct bus_slot_t *held_next;
} bus_slot_t;

struct gw_bus_t {
    struct event_base *base;
    bus_link_t links [MG_ENDPOINTS_MAX];
    int nlinks;
    int active;                     //  the link calls go to
    bus_slot_t *chunks [CHUNKS_MAX];
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
        bus_slot_t *head, *tail;
    } held;                         //  calls waiting for a connected link, oldest first
    struct event *flush_event;      //  sends the held calls a moment later
};

//  bus_call.c

//  Slot by index, or NULL.
bus_slot_t *bus_slot (gw_bus_t *self, uint32_t index);

//  Add a chunk of free slots. Returns 0, or -1 when at the limit or out of memory.
int bus_grow (gw_bus_t *self);

//  Release slot and tell its caller how the call ended.
void bus_complete (gw_bus_t *self, bus_slot_t *slot, gw_bus_outcome_t outcome,
                   const uint8_t *body, size_t len);

//  Call of a pair sent on link, whose broker was passive (after_passive) or
//  lost: send it on the other link; if that is down too and nothing ran,
//  on the same link a little later. Ends it GW_BUS_LOST when it cannot go.
void bus_send_again (gw_bus_t *self, bus_slot_t *slot, bool after_passive);

//  Send the held calls, oldest first, on a connected link; when it will not
//  take one yet (just connected, or its queue is full) try again a moment
//  later. Each held call still ends at its ttl if it never goes.
void bus_flush (gw_bus_t *self);

//  Timer: send the held calls a fresh link would not take a moment ago.
void bus_on_flush (evutil_socket_t fd, short what, void *arg);

//  True when every link's last attempt was refused: no broker is there to
//  wait for, so a call is refused at once instead of held.
bool bus_all_refused (gw_bus_t *self);

//  End every held call GW_BUS_LOST: no broker is there to send them to.
void bus_fail_held (gw_bus_t *self);

//  bus_reply.c

//  Receive one multipart message into parts (up to max); returns the number
//  of frames it had (more than max: the extra ones are dropped), 0 if none.
size_t bus_recv (void *socket, zmq_msg_t *parts, size_t max);

//  Dealer readable (edge): drain a batch, come back later if more waits.
void bus_on_dealer (evutil_socket_t fd, short what, void *arg);

#endif
