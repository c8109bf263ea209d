/*  The SSE streams' events (sse_impl.h), from the thread's subscription
    (events.c): a sync event goes to the streams of its user (a preferences
    change also drops the user's cached services), an API key revocation
    drops the key and ends the streams it opened. Several users' events may
    come in one message (sync.batch): each goes where it would have gone
    alone.  */
#include "sse_impl.h"
#include "gw_mine.h"
#include "mg_log.h"

#include <string.h>
#include <zmq.h>

#define REVOKED_TOPIC      "auth.key_revoked"
#define PREFS_EVENT        "preferences.set"    //  sync event type of a preferences change
#define AUTH_TOPIC_PREFIX  "auth."    //  accounts' events (auth.key_revoked)
#define BATCH_TOPIC        "sync.batch"   //  several users' events in one message (actors/alerts/notify.c)

//  One decoded event of user_id to the user's streams here, stream the
//  first of them in the bucket (NULL: none); a preferences change made
//  through any gateway also drops the user's cached services and region
//  (mine.c), so it is seen here at once.
static void
s_deliver (sse_stream_t *stream, const char *user_id, const mg_sync_event_t *event)
{
    if (strcmp (event->type, PREFS_EVENT) == 0)
        gw_mine_forget (user_id);
    //  sse_offer may end the stream: take the next one first.
    for (sse_stream_t *next; stream; stream = next) {
        next = stream->next;
        if (strcmp (stream->user_id, user_id) == 0)
            sse_offer (stream, event);
    }
}

//  The first stream of user_id in its bucket, NULL when none is here.
static sse_stream_t *
s_streams_of (gw_sse_t *self, const char *user_id)
{
    sse_stream_t *stream = *sse_bucket (self, user_id);
    while (stream && strcmp (stream->user_id, user_id) != 0)
        stream = stream->next;
    return stream;
}

//  A sync.batch message: several users' events (the alerts actor's
//  notifications of one commit), each delivered as if it had come alone on
//  its user's topic.
static void
s_on_batch (gw_sse_t *self, zmq_msg_t *body)
{
    mg_sync_event_batch_t batch;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_sync_event_batch_desc, zmq_msg_data (body), zmq_msg_size (body), &batch, reason,
                       sizeof reason)) {
        mg_warn ("undecodable sync event batch", "reason=\"%s\"", reason);
        return;
    }
    for (size_t i = 0; i < batch.events_count; i++)
        s_deliver (s_streams_of (self, batch.events [i].user_id), batch.events [i].user_id, &batch.events [i]);
    mg_msg_clear (&mg_sync_event_batch_desc, &batch);
}

//  gw_events: a sync.<user> event in parts (topic, body), to the streams
//  of its user; or a sync.batch of several users' events.
static void
s_on_sync (void *arg, const zmq_msg_t *topic, zmq_msg_t *body)
{
    gw_sse_t *self = arg;
    if (gw_events_topic_is (topic, BATCH_TOPIC)) {
        s_on_batch (self, body);
        return;
    }
    size_t topic_len = zmq_msg_size ((zmq_msg_t *) topic);
    char user_id [37];
    size_t prefix = sizeof TOPIC_PREFIX - 1;
    if (topic_len != prefix + 36)
        return;
    memcpy (user_id, (const char *) zmq_msg_data ((zmq_msg_t *) topic) + prefix, 36);
    user_id [36] = '\0';
    sse_stream_t *stream = s_streams_of (self, user_id);
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
    s_deliver (stream, user_id, &event);
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
