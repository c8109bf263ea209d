/*  The SSE streams' events (sse_impl.h), from the thread's subscription
    (events.c): a sync event goes to the streams of its user (a preferences
    change also drops the user's cached services), an API key revocation
    drops the key and ends the streams it opened.  */
#include "sse_impl.h"
#include "gw_mine.h"
#include "mg_log.h"

#include <string.h>
#include <zmq.h>

#define REVOKED_TOPIC      "auth.key_revoked"
#define PREFS_EVENT        "preferences.set"    //  sync event type of a preferences change
#define AUTH_TOPIC_PREFIX  "auth."    //  accounts' events (auth.key_revoked)

//  gw_events: a sync.<user> event in parts (topic, body), to the streams
//  of its user.
static void
s_on_sync (void *arg, const zmq_msg_t *topic, zmq_msg_t *body)
{
    gw_sse_t *self = arg;
    size_t topic_len = zmq_msg_size ((zmq_msg_t *) topic);
    char user_id [37];
    size_t prefix = sizeof TOPIC_PREFIX - 1;
    if (topic_len != prefix + 36)
        return;
    memcpy (user_id, (const char *) zmq_msg_data ((zmq_msg_t *) topic) + prefix, 36);
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

//  gw_events: an auth. event; only a key's revocation concerns streams.
static void
s_on_auth (void *arg, const zmq_msg_t *topic, zmq_msg_t *body)
{
    if (gw_events_topic_is (topic, REVOKED_TOPIC))
        s_on_revoked (arg, body);
}

int
sse_follow (gw_sse_t *self, gw_events_t *events)
{
    return gw_events_on (events, TOPIC_PREFIX, s_on_sync, self)
        || gw_events_on (events, AUTH_TOPIC_PREFIX, s_on_auth, self) ? -1 : 0;
}
