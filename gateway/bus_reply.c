/*  The bus client's reply dispatch (bus_impl.h): drain a link's DEALER
    and hand each reply to the call it answers; a late reply is dropped,
    and a pair's BROKER_PASSIVE answer sends the call again.  */
#include "bus_impl.h"
#include "mg_frame.h"
#include "mg_log.h"
#include "mg_msg.h"

#include <string.h>

#define DRAIN_BATCH      256        //  messages per wake before HTTP gets a turn

//  Receive one multipart message into parts (up to max); returns the number
//  of frames it had (more than max: the extra ones are dropped), 0 if none.
size_t
bus_recv (void *socket, zmq_msg_t *parts, size_t max)
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
s_on_reply (bus_link_t *link, zmq_msg_t *parts, size_t count)
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
    bus_slot_t *slot = bus_slot (self, index);
    if (!slot || !slot->busy || slot->generation != generation) {
        mg_debug ("dropped a late bus reply", "thread=%d", self->index);
        return;
    }
    if (outcome == GW_BUS_ERROR && self->nlinks > 1 && slot->name
    &&  s_is_passive (zmq_msg_data (&parts [4]), zmq_msg_size (&parts [4]))) {
        bus_send_again (self, slot, true);
        return;
    }
    bus_complete (self, slot, outcome, zmq_msg_data (&parts [4]), zmq_msg_size (&parts [4]));
}

//  Dealer readable (edge): drain a batch, come back later if more waits.
void
bus_on_dealer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    bus_link_t *link = arg;
    link->check_queued = false;
    //  Receiving until EAGAIN re-arms the edge as a ZMQ_EVENTS check would.
    for (int n = 0; n < DRAIN_BATCH; n++) {
        zmq_msg_t parts [5];
        size_t count = bus_recv (link->dealer, parts, 5);
        if (count == 0)
            return;
        s_on_reply (link, parts, count);
        for (size_t i = 0; i < count && i < 5; i++)
            zmq_msg_close (&parts [i]);
    }
    event_active (link->dealer_event, EV_READ, 0);
}
