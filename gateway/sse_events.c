/*  The SSE streams' subscription (sse_impl.h): drain the thread's SUB
    socket; a sync event goes to the streams of its user (a preferences
    change also drops the user's cached services), an API key revocation
    drops the key and ends the streams it opened.  */
#include "sse_impl.h"
#include "gw_mine.h"
#include "mg_log.h"

#include <string.h>
#include <zmq.h>

#define REVOKED_TOPIC      "auth.key_revoked"
#define PREFS_EVENT        "preferences.set"    //  sync event type of a preferences change
#define DRAIN_BATCH        256        //  events per wake before HTTP gets a turn

//  The live event in parts (topic, body): to the streams of its user.
static void
s_on_event (gw_sse_t *self, zmq_msg_t *topic, zmq_msg_t *body)
{
    size_t topic_len = zmq_msg_size (topic);
    char user_id [37];
    size_t prefix = sizeof TOPIC_PREFIX - 1;
    if (topic_len != prefix + 36)
        return;
    memcpy (user_id, (const char *) zmq_msg_data (topic) + prefix, 36);
    user_id [36] = '\0';
    sse_stream_t *stream = *sse_bucket (self, user_id);
    while (stream && strcmp (stream->user_id, user_id) != 0)
        stream = stream->next;
    //  Only a body naming the preferences type can be a preferences change:
    //  other events of users with no stream here are not even decoded.
    bool prefs = memmem (zmq_msg_data (body), zmq_msg_size (body), PREFS_EVENT, sizeof PREFS_EVENT - 1) != NULL;
    if (!stream && !prefs)
        return;
    mg_sync_event_t event;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_sync_event_desc, zmq_msg_data (body), zmq_msg_size (body), &event, reason, sizeof reason)) {
        mg_warn ("undecodable sync event", "user=%s reason=\"%s\"", user_id, reason);
        return;
    }
    //  A preferences change made through any gateway: the caller's cached
    //  services and region (mine.c) are stale at once, here as there.
    if (prefs && strcmp (event.type, PREFS_EVENT) == 0)
        gw_mine_forget (user_id);
    //  sse_offer may end the stream: take the next one first.
    for (sse_stream_t *next; stream; stream = next) {
        next = stream->next;
        if (strcmp (stream->user_id, user_id) == 0)
            sse_offer (stream, &event);
    }
    mg_msg_clear (&mg_sync_event_desc, &event);
}

//  An auth.key_revoked event: forget the key, end the streams it opened.
static void
s_on_revoked (gw_sse_t *self, zmq_msg_t *body)
{
    mg_key_revoked_t event;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_key_revoked_desc, zmq_msg_data (body), zmq_msg_size (body), &event, reason, sizeof reason)) {
        mg_warn ("undecodable key revocation", "reason=\"%s\"", reason);
        return;
    }
    if (self->keys)
        gw_keycache_drop (self->keys, event.key_id);
    for (sse_stream_t *stream = *sse_bucket (self, event.user_id), *next; stream; stream = next) {
        next = stream->next;
        if (stream->phase == SSE_LIVE && strcmp (stream->user_id, event.user_id) == 0
        &&  strcmp (stream->key_id, event.key_id) == 0)
            sse_reauth (stream, "API key revoked");
    }
    mg_msg_clear (&mg_key_revoked_desc, &event);
}

//  libevent: the SUB socket's fd signalled (edge-triggered: drain it).
void
sse_on_sub (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_sse_t *self = arg;
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
        size_t topic_len = zmq_msg_size (&topic);
        if (two && topic_len == sizeof REVOKED_TOPIC - 1
        &&  memcmp (zmq_msg_data (&topic), REVOKED_TOPIC, topic_len) == 0)
            s_on_revoked (self, &body);
        else
        if (two)
            s_on_event (self, &topic, &body);
        zmq_msg_close (&topic);
        zmq_msg_close (&body);
    }
    //  Batch full: come back on the next loop turn, HTTP first.
    if (gw_bus_readable (self->sub))
        event_active (self->sub_event, EV_READ, 0);
}
