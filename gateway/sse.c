/*  GET /api/v1/sync/stream: Server-Sent Events of a user's state changes,
    per device.

    Each gateway thread has one SUB socket subscribed to "sync." (every
    user's topic sync.<user_id>), watched by its own event loop like the bus
    DEALER, and a table of the streams it serves keyed by user. An event is
    matched by its topic to the thread's streams of that user; a thread that
    has none drops it without decoding. No stream ever moves between threads
    and no lock is taken on the event path.

    Ids: the sync actor numbers a user's events 1, 2, 3... in the transaction
    that makes them, so a stream keeps a cursor (the last id it accounted
    for, sent or filtered out) and needs nothing else to be gap-free:
      - opening: the stream joins the table first, then asks sync.events
        for what follows Last-Event-ID (or only for the current last id);
        live events that arrive meanwhile are noted, not sent;
      - live: id = cursor + 1 is sent; id <= cursor is a duplicate (a
        replay overtook it) and dropped; id > cursor + 1 means some were
        missed (PUB order across the actor's threads, a full queue, a
        broker restart) and sync.events fills the gap from the database;
      - an id older than the kept history, or unknown, becomes a "reset"
        event: the client refetches its state and carries on from there.
    A stream does not receive the changes its own device made, and a
    handoff only reaches its target device.

    Credentials: a stream lives no longer than what opened it. One opened
    with an access token gets "event: reauth" and is closed when the token
    expires (the client refreshes and reconnects with Last-Event-ID); one
    opened with an API key ends the same way when accounts publishes the
    key's revocation (auth.key_revoked, on the same SUB socket), which also
    drops the key from the thread's key cache; one whose device is removed
    ends on the device.removed event. A preferences.set event of any user
    (decoded only then) drops the user's cached services and region
    (mine.c), so a change made through another gateway is seen here at once.

    Bounds: at most sse_per_user streams per user and sse_max_streams in
    all (per gateway process, counted under one mutex when streams open and
    close, never per event); a stream whose unsent output passes
    sse_max_buffer bytes is cut (the client resumes with Last-Event-ID), so
    a slow reader cannot grow memory without limit.  */
#include "gw_sse.h"
#include "gw_sse_format.h"
#include "gw_bus.h"
#include "gw_cors.h"
#include "gw_mine.h"
#include "gw_respond.h"
#include "mg_curve.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zmq.h>

#define TOPIC_PREFIX       "sync."
#define AUTH_TOPIC_PREFIX  "auth."    //  accounts' revocations (auth.key_revoked)
#define REVOKED_TOPIC      "auth.key_revoked"
#define PREFS_EVENT        "preferences.set"    //  sync event type of a preferences change
#define OPENING_RECHECK_S  1          //  a token that expires while its stream opens is looked at again
#define TOPIC_MAX          64         //  "sync." + a UUID, with room to spare
#define BUCKETS            1024       //  per-thread stream table (chained by user)
#define DRAIN_BATCH        256        //  events per wake before HTTP gets a turn
#define SUB_HWM            100000     //  events queued for a slow thread before they drop (gaps are refetched)
#define WRITE_TIMEOUT_S    60         //  a client that takes nothing for this long is cut
#define RETRY_AFTER_S      5          //  hint on 429/503 when streams are full
#define HEARTBEAT_LINE     ": keep-alive\n\n"    //  an SSE comment: clients ignore it
#define RESET_REASON       "the events after Last-Event-ID are no longer kept: refetch your state"

//  --------------------------------------------------------------------------
//  Streams

typedef enum {
    S_OPENING = 0,                  //  first sync.events call in flight; no HTTP answer yet
    S_LIVE                          //  200 sent, events flowing
} s_phase_t;

typedef struct s_stream_t s_stream_t;

struct s_stream_t {
    gw_sse_t *sse;
    gw_request_t *request;          //  S_OPENING only (the HTTP answer is not sent yet)
    struct evhttp_request *http;
    struct evhttp_connection *conn; //  S_LIVE: the client's connection
    char user_id [37];
    char device_id [37];
    char key_id [37];               //  opened with this API key (empty: a token)
    struct event *expiry;           //  opened with a token: fires when it expires
    s_phase_t phase;
    bool has_since;                 //  the client gave Last-Event-ID (S_OPENING)
    int64_t since;
    uint64_t cursor;                //  last id accounted for (sent or filtered out)
    uint64_t seen_max;              //  highest live id noted while a fetch was in flight
    bool fetching;                  //  a sync.events call is in flight
    bool more_pending;              //  kept events left to replay once the output drains
    bool dead;                      //  ended while fetching: freed when the call returns
    struct evbuffer_cb_entry *drained;  //  on the connection's output: resumes a replay
    s_stream_t *prev, *next;        //  in a bucket, or in the zombie list when dead
};

struct gw_sse_t {
    struct event_base *base;
    const gw_config_t *config;
    gw_bus_t *bus;
    gw_metrics_t *metrics;
    gw_sse_limits_t *limits;
    gw_keycache_t *keys;            //  the thread's API key cache (revocations drop keys)
    void *sub;
    struct event *sub_event;
    struct event *heartbeat;
    s_stream_t *buckets [BUCKETS];
    s_stream_t *zombies;            //  ended streams whose sync.events call is still out
    size_t open;
};

static void s_on_sub (evutil_socket_t fd, short what, void *arg);
static void s_on_heartbeat (evutil_socket_t fd, short what, void *arg);
static int s_fetch (s_stream_t *stream, bool since);

//  Link stream at the head of *list.
static void
s_link (s_stream_t **list, s_stream_t *stream)
{
    stream->prev = NULL;
    stream->next = *list;
    if (*list)
        (*list)->prev = stream;
    *list = stream;
}

//  Unlink stream from *list.
static void
s_unlink (s_stream_t **list, s_stream_t *stream)
{
    if (stream->prev)
        stream->prev->next = stream->next;
    else
        *list = stream->next;
    if (stream->next)
        stream->next->prev = stream->prev;
    stream->prev = stream->next = NULL;
}

//  The bucket of user_id.
static s_stream_t **
s_bucket (gw_sse_t *self, const char *user_id)
{
    return &self->buckets [gw_sse_bucket (user_id, BUCKETS)];
}

gw_sse_t *
gw_sse_new (struct event_base *base, void *zmq_ctx, const gw_config_t *config, gw_bus_t *bus,
            gw_metrics_t *metrics, gw_sse_limits_t *limits)
{
    assert (base && zmq_ctx && config && bus && metrics && limits);
    gw_sse_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    *self = (gw_sse_t) { .base = base, .config = config, .bus = bus, .metrics = metrics, .limits = limits };
    self->sub = zmq_socket (zmq_ctx, ZMQ_SUB);
    int hwm = SUB_HWM, linger = 0;
    int fd = -1;
    size_t fd_size = sizeof fd;
    if (!self->sub
    ||  zmq_setsockopt (self->sub, ZMQ_RCVHWM, &hwm, sizeof hwm)
    ||  zmq_setsockopt (self->sub, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_setsockopt (self->sub, ZMQ_SUBSCRIBE, TOPIC_PREFIX, strlen (TOPIC_PREFIX))
    ||  zmq_setsockopt (self->sub, ZMQ_SUBSCRIBE, AUTH_TOPIC_PREFIX, strlen (AUTH_TOPIC_PREFIX))
    ||  mg_curve_client (self->sub)
    ||  mg_config_connect (self->sub, config->events)
    ||  zmq_getsockopt (self->sub, ZMQ_FD, &fd, &fd_size)) {
        mg_error ("cannot subscribe to sync events", "endpoint=\"%s\" error=\"%s\"", config->events,
                  zmq_strerror (zmq_errno ()));
        gw_sse_destroy (&self);
        return NULL;
    }
    self->sub_event = event_new (base, fd, EV_READ | EV_PERSIST, s_on_sub, self);
    self->heartbeat = event_new (base, -1, EV_PERSIST, s_on_heartbeat, self);
    struct timeval every = { config->sse_heartbeat_s, 0 };
    if (!self->sub_event || !self->heartbeat || event_add (self->sub_event, NULL)
    ||  event_add (self->heartbeat, &every)) {
        gw_sse_destroy (&self);
        return NULL;
    }
    return self;
}

void
gw_sse_set_keycache (gw_sse_t *self, gw_keycache_t *keys)
{
    assert (self);
    self->keys = keys;
}

//  Free a stream that is in no list and holds no HTTP request.
static void
s_stream_free (s_stream_t *stream)
{
    if (stream->expiry)
        event_free (stream->expiry);
    free (stream);
}

void
gw_sse_destroy (gw_sse_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_sse_t *self = *self_p;
        gw_sse_close_all (self);
        //  Streams still waiting for sync.events: the bus that would answer is gone.
        while (self->zombies) {
            s_stream_t *stream = self->zombies;
            s_unlink (&self->zombies, stream);
            s_stream_free (stream);
        }
        if (self->sub_event)
            event_free (self->sub_event);
        if (self->heartbeat)
            event_free (self->heartbeat);
        if (self->sub)
            zmq_close (self->sub);
        free (self);
        *self_p = NULL;
    }
}

size_t
gw_sse_open_count (gw_sse_t *self)
{
    assert (self);
    return self->open;
}

//  The unsent output of the stream's connection, in bytes.
static size_t
s_queued (s_stream_t *stream)
{
    struct bufferevent *bev = stream->conn ? evhttp_connection_get_bufferevent (stream->conn) : NULL;
    return bev ? evbuffer_get_length (bufferevent_get_output (bev)) : 0;
}

//  Stop watching the connection's output (before it goes).
static void
s_unwatch (s_stream_t *stream)
{
    struct bufferevent *bev = stream->conn ? evhttp_connection_get_bufferevent (stream->conn) : NULL;
    if (bev && stream->drained)
        evbuffer_remove_cb_entry (bufferevent_get_output (bev), stream->drained);
    stream->drained = NULL;
}

//  The stream is over (reason counts it): out of its bucket and the
//  limits; its connection ended gracefully (graceful) or cut; freed now,
//  or when its sync.events call returns.
static void
s_end (s_stream_t *stream, gw_sse_end_t reason, bool graceful)
{
    gw_sse_t *self = stream->sse;
    s_unlink (s_bucket (self, stream->user_id), stream);
    gw_sse_limits_give (self->limits, stream->user_id);
    if (stream->expiry) {
        event_free (stream->expiry);
        stream->expiry = NULL;
    }
    if (stream->phase == S_LIVE) {
        self->open--;
        gw_metrics_sse_open (self->metrics, -1);
        gw_metrics_sse_end (self->metrics, reason);
        s_unwatch (stream);
        if (stream->conn) {
            evhttp_connection_set_closecb (stream->conn, NULL, NULL);
            if (graceful)
                evhttp_send_reply_end (stream->http);       //  the response says Connection: close
            else
                evhttp_connection_free (stream->conn);      //  frees the request too
        }
        else
            evhttp_send_reply_end (stream->http);           //  detached by libevent: this frees it
        stream->http = NULL;
        stream->conn = NULL;
    }
    if (stream->fetching) {
        stream->dead = true;
        s_link (&self->zombies, stream);
    }
    else
        s_stream_free (stream);
}

//  libevent: the client's connection closed (or failed) under a live stream.
static void
s_on_close (struct evhttp_connection *conn, void *arg)
{
    (void) conn;
    s_stream_t *stream = arg;
    s_unwatch (stream);
    //  libevent has detached the request from the connection it is freeing.
    stream->conn = NULL;
    s_end (stream, GW_SSE_END_CLIENT, true);
}

//  Write out (SSE text) to the live stream, or cut the stream when its
//  unsent output is past the bound (unless replay: one sync.events answer,
//  itself bounded, is written whole). Returns 0, or -1 when the stream ended.
static int
s_write (s_stream_t *stream, struct evbuffer *out, bool replay)
{
    size_t queued = s_queued (stream);
    if (replay || queued <= stream->sse->config->sse_max_buffer)
        evhttp_send_reply_chunk (stream->http, out);
    else {
        mg_warn ("slow stream cut", "user=%s device=%s queued=%zu", stream->user_id, stream->device_id, queued);
        s_end (stream, GW_SSE_END_SLOW, false);
        return -1;
    }
    return 0;
}

//  The removed device of a device.removed event's data, into id. true when found.
static bool
s_removed_device (const char *data, char id [37])
{
    json_error_t error;
    json_t *json = json_loads (data, 0, &error);
    const char *text = json_string_value (json_object_get (json_object_get (json, "device"), "id"));
    bool found = text && strlen (text) == 36;
    if (found)
        memcpy (id, text, 37);
    json_decref (json);
    return found;
}

//  Account for event (the next id of the live stream): send it when the
//  device wants it; end the stream when its own device was removed.
//  Returns 0, or -1 when the stream ended.
static int
s_deliver (s_stream_t *stream, const mg_sync_event_t *event, bool replay)
{
    stream->cursor = event->id;
    if (gw_sse_wants (stream->device_id, event->device_id, event->target)) {
        struct evbuffer *out = evbuffer_new ();
        if (!out || gw_sse_format (out, event->id, event->type, event->data)) {
            if (out)
                evbuffer_free (out);
            mg_warn ("event not sent", "user=%s id=%" PRIu64, stream->user_id, event->id);
            return 0;
        }
        gw_metrics_sse_event (stream->sse->metrics);
        int rc = s_write (stream, out, replay);
        evbuffer_free (out);
        if (rc)
            return -1;
    }
    char removed [37];
    if (strcmp (event->type, "device.removed") == 0 && s_removed_device (event->data, removed)
    &&  strcasecmp (removed, stream->device_id) == 0) {
        s_end (stream, GW_SSE_END_DEVICE_REMOVED, true);
        return -1;
    }
    return 0;
}

//  A live event for stream: send it, drop it, or fill a gap before it.
//  Returns 0, or -1 when the stream ended.
static int
s_offer (s_stream_t *stream, const mg_sync_event_t *event)
{
    if (stream->phase != S_LIVE || stream->fetching || stream->more_pending) {
        if (event->id > stream->seen_max)
            stream->seen_max = event->id;
        return 0;
    }
    if (event->id <= stream->cursor)
        return 0;                   //  sent already (a replay overtook it)
    if (event->id == stream->cursor + 1)
        return s_deliver (stream, event, false);
    if (s_fetch (stream, true)) {
        s_end (stream, GW_SSE_END_ERROR, true);
        return -1;
    }
    return 0;
}

//  libevent: bytes of the stream's output were sent; a paused replay goes
//  on once half the bound is free.
static void
s_on_drained (struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    s_stream_t *stream = arg;
    if (!stream->more_pending || info->n_deleted == 0
    ||  evbuffer_get_length (buffer) > stream->sse->config->sse_max_buffer / 2)
        return;
    stream->more_pending = false;
    //  Not ended from inside the buffer's own callback: the next live event
    //  finds the gap and asks again.
    if (s_fetch (stream, true))
        mg_warn ("stream replay not resumed", "user=%s", stream->user_id);
}

//  Tell a live stream's client why it ends ("event: reauth", no id: the
//  client's Last-Event-ID stays where it was), then end it.
static void
s_reauth (s_stream_t *stream, const char *why)
{
    struct evbuffer *out = evbuffer_new ();
    if (out && evbuffer_add_printf (out, "event: reauth\ndata: {\"reason\":\"%s\"}\n\n", why) > 0)
        s_write (stream, out, true);
    if (out)
        evbuffer_free (out);
    s_end (stream, GW_SSE_END_REAUTH, true);
}

//  Timer: the token that opened the stream has expired.
static void
s_on_expiry (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_stream_t *stream = arg;
    if (stream->phase != S_LIVE) {
        //  Still opening: its answer is not sent yet; look again shortly.
        struct timeval again = { OPENING_RECHECK_S, 0 };
        event_add (stream->expiry, &again);
        return;
    }
    s_reauth (stream, "access token expired: refresh it and reconnect");
}

//  Start the HTTP answer of an opening stream: headers, retry hint.
static void
s_start (s_stream_t *stream)
{
    gw_sse_t *self = stream->sse;
    gw_request_t *request = stream->request;
    struct evkeyvalq *headers = evhttp_request_get_output_headers (stream->http);
    evhttp_add_header (headers, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header (headers, "Cache-Control", "no-cache");
    evhttp_add_header (headers, "X-Accel-Buffering", "no");   //  proxies must not hold events back
    evhttp_add_header (headers, "Connection", "close");       //  a stream's connection ends with it
    gw_cors_headers (request);                                //  EventSource from a web page
    gw_request_done (request, 200);
    stream->request = NULL;
    stream->phase = S_LIVE;
    self->open++;
    gw_metrics_sse_open (self->metrics, 1);
    evhttp_send_reply_start (stream->http, 200, "OK");
    stream->conn = evhttp_request_get_connection (stream->http);
    evhttp_connection_set_closecb (stream->conn, s_on_close, stream);
    //  Only writes time out: a stream's client sends nothing after its request.
    struct timeval write = { WRITE_TIMEOUT_S, 0 };
    struct bufferevent *bev = evhttp_connection_get_bufferevent (stream->conn);
    bufferevent_set_timeouts (bev, NULL, &write);
    stream->drained = evbuffer_add_cb (bufferevent_get_output (bev), s_on_drained, stream);
    struct evbuffer *out = evbuffer_new ();
    if (out) {
        evbuffer_add_printf (out, "retry: %u\n\n", self->config->sse_retry_ms);
        evhttp_send_reply_chunk (stream->http, out);
        evbuffer_free (out);
    }
}

//  Apply a sync.events reply to a live stream. Returns 0, or -1 when the
//  stream ended.
static int
s_replay (s_stream_t *stream, const mg_sync_events_reply_t *reply)
{
    if (reply->reset) {
        char data [192];
        snprintf (data, sizeof data, "{\"last_id\":%" PRIu64 ",\"reason\":\"%s\"}", reply->last_id, RESET_REASON);
        gw_metrics_sse_reset (stream->sse->metrics);
        stream->cursor = reply->last_id;
        struct evbuffer *out = evbuffer_new ();
        if (out && gw_sse_format (out, reply->last_id, "reset", data) == 0) {
            int rc = s_write (stream, out, true);
            evbuffer_free (out);
            if (rc)
                return -1;
        }
        else
        if (out)
            evbuffer_free (out);
    }
    for (size_t i = 0; i < reply->events_count; i++) {
        const mg_sync_event_t *event = &reply->events [i];
        if (event->id <= stream->cursor)
            continue;
        if (event->id != stream->cursor + 1)
            break;                  //  cannot happen (the actor checks): ask again from the cursor
        if (s_deliver (stream, event, true))
            return -1;
    }
    //  More kept events, or live ones noted while this call was out: ask
    //  again, once the client has taken half of what is queued for it.
    if ((reply->more || stream->seen_max > stream->cursor)
    &&  s_queued (stream) > stream->sse->config->sse_max_buffer / 2) {
        stream->more_pending = true;
        return 0;
    }
    if (reply->more || stream->seen_max > stream->cursor) {
        if (s_fetch (stream, true)) {
            s_end (stream, GW_SSE_END_ERROR, true);
            return -1;
        }
    }
    return 0;
}

//  Bus callback: a sync.events call of stream ended.
static void
s_on_events (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len, int64_t rtt_us)
{
    (void) rtt_us;
    s_stream_t *stream = arg;
    gw_sse_t *self = stream->sse;
    stream->fetching = false;
    if (stream->dead) {
        s_unlink (&self->zombies, stream);
        s_stream_free (stream);
        return;
    }
    mg_sync_events_reply_t reply = { 0 };
    mg_error_t error = { 0 };
    char reason [MG_MSG_ERR_LEN];
    bool ok = outcome == GW_BUS_REPLY
           && mg_msg_decode (&mg_sync_events_reply_desc, body, len, &reply, reason, sizeof reason) == 0;
    if (stream->phase == S_OPENING) {
        gw_request_t *request = stream->request;
        if (!ok || !evhttp_request_get_connection (stream->http)) {
            if (outcome == GW_BUS_ERROR && mg_msg_decode (&mg_error_desc, body, len, &error, reason, sizeof reason) == 0) {
                gw_reply_bus_error (request, &error);
                mg_msg_clear (&mg_error_desc, &error);
            }
            else
            if (outcome == GW_BUS_TIMEOUT)
                gw_reply_error (request, 504, "DEADLINE_EXCEEDED", 0, "no answer from sync.events within %u ms",
                                self->config->request_timeout_ms);
            else
            if (outcome == GW_BUS_REPLY && ok)
                gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", 1, "the client left");
            else
            if (outcome == GW_BUS_REPLY || outcome == GW_BUS_ERROR)
                gw_reply_error (request, 502, "BAD_REPLY", 0, "the sync service sent an invalid reply");
            else
                gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", 1, "lost the connection to the message broker");
            stream->request = NULL;
            s_end (stream, GW_SSE_END_ERROR, true);
            mg_msg_clear (&mg_sync_events_reply_desc, &reply);
            return;
        }
        //  Without Last-Event-ID the stream starts after the current last event.
        stream->cursor = stream->has_since ? (uint64_t) stream->since : reply.last_id;
        s_start (stream);
    }
    else
    if (!ok) {
        //  Cannot fill a gap now: end the stream, the client resumes where it was.
        mg_warn ("stream gap not filled", "user=%s outcome=%d", stream->user_id, (int) outcome);
        s_end (stream, GW_SSE_END_ERROR, true);
        mg_msg_clear (&mg_sync_events_reply_desc, &reply);
        return;
    }
    s_replay (stream, &reply);
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
}

//  Ask sync.events for what follows the stream's cursor (since), or for
//  the last id only (first call without Last-Event-ID). 0, or -1 when the
//  call could not be sent.
static int
s_fetch (s_stream_t *stream, bool since)
{
    gw_sse_t *self = stream->sse;
    mg_sync_events_request_t request = {
        .user_id = stream->user_id, .device_id = stream->device_id,
        .since = since ? (int64_t) stream->cursor : 0, .has_since = since
    };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_encode (&mg_sync_events_request_desc, &request, &body, &len, reason, sizeof reason))
        return -1;
    stream->seen_max = 0;
    int rc = gw_bus_call (self->bus, "sync.events", body, len, self->config->request_timeout_ms, s_on_events, stream);
    free (body);
    if (rc == 0)
        stream->fetching = true;
    return rc;
}

void
gw_sse_open (gw_request_t *request)
{
    assert (request && request->sse);
    gw_sse_t *self = request->sse;
    const gw_config_t *config = self->config;
    if (evhttp_request_get_command (request->http) == EVHTTP_REQ_HEAD) {
        gw_reply_buffer (request, 200, "text/event-stream; charset=utf-8");
        return;
    }
    mg_sync_stream_request_t bound = { 0 };
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_sync_stream_request_desc, request->bound, request->bound_len, &bound, reason,
                       sizeof reason)) {
        gw_reply_error (request, 500, "INTERNAL", 0, "cannot read the bound request");
        return;
    }
    s_stream_t *stream = calloc (1, sizeof *stream);
    const char *header = evhttp_find_header (evhttp_request_get_input_headers (request->http), "Last-Event-ID");
    int64_t since = bound.last_event_id;
    bool has_since = bound.has_last_event_id;
    //  Browsers resend Last-Event-ID on reconnect: the header is the newer word.
    if (header && gw_sse_parse_id (header, &since)) {
        gw_reply_error (request, 400, "INVALID_PARAMETER", 0, "Last-Event-ID must be an event id (a number >= 0)");
        goto done;
    }
    has_since = has_since || header != NULL;
    if (has_since && since < 0) {
        gw_reply_error (request, 400, "INVALID_PARAMETER", 0, "last_event_id must be an event id (a number >= 0)");
        goto done;
    }
    if (!bound.device_id) {
        gw_reply_error (request, 400, "INVALID_PARAMETER", 0,
                        "name the device: X-Device-Id header or device_id parameter (POST /api/v1/me/devices registers one)");
        goto done;
    }
    if (!stream) {
        gw_reply_error (request, 500, "INTERNAL", 0, "out of memory");
        goto done;
    }
    switch (gw_sse_limits_take (self->limits, bound.user_id, config->sse_per_user, config->sse_max_streams)) {
        case GW_SSE_USER_FULL:
            gw_metrics_sse_refused (self->metrics, false);
            gw_reply_error (request, 429, "TOO_MANY_STREAMS", RETRY_AFTER_S,
                            "at most %d open streams per account: close one first", config->sse_per_user);
            goto done;
        case GW_SSE_FULL:
            gw_metrics_sse_refused (self->metrics, true);
            gw_reply_error (request, 503, "SERVICE_BUSY", RETRY_AFTER_S,
                            "this server has too many open streams: retry later");
            goto done;
        case GW_SSE_TAKEN:
            break;
    }
    *stream = (s_stream_t) { .sse = self, .request = request, .http = request->http,
                             .has_since = has_since, .since = since };
    snprintf (stream->user_id, sizeof stream->user_id, "%s", bound.user_id);
    snprintf (stream->device_id, sizeof stream->device_id, "%s", bound.device_id);
    snprintf (stream->key_id, sizeof stream->key_id, "%s", request->caller.key_id);
    if (request->caller.kind == GW_CALLER_TOKEN) {
        int64_t left = request->caller.expires - (int64_t) time (NULL);
        struct timeval when = { left > 0 ? (time_t) left : 0, 0 };
        stream->expiry = evtimer_new (self->base, s_on_expiry, stream);
        if (!stream->expiry || evtimer_add (stream->expiry, &when)) {
            gw_sse_limits_give (self->limits, stream->user_id);
            gw_reply_error (request, 500, "INTERNAL", 0, "out of memory");
            goto done;
        }
    }
    //  In the table first: live events that come before the backlog are noted.
    s_link (s_bucket (self, stream->user_id), stream);
    stream->cursor = has_since ? (uint64_t) since : 0;
    if (s_fetch (stream, has_since)) {
        s_unlink (s_bucket (self, stream->user_id), stream);
        gw_sse_limits_give (self->limits, stream->user_id);
        gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", 1, "the message broker is unreachable");
        goto done;
    }
    stream = NULL;
done:
    if (stream && stream->expiry)
        event_free (stream->expiry);
    free (stream);
    mg_msg_clear (&mg_sync_stream_request_desc, &bound);
}

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
    s_stream_t *stream = *s_bucket (self, user_id);
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
    //  s_offer may end the stream: take the next one first.
    for (s_stream_t *next; stream; stream = next) {
        next = stream->next;
        if (strcmp (stream->user_id, user_id) == 0)
            s_offer (stream, &event);
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
    for (s_stream_t *stream = *s_bucket (self, event.user_id), *next; stream; stream = next) {
        next = stream->next;
        if (stream->phase == S_LIVE && strcmp (stream->user_id, event.user_id) == 0
        &&  strcmp (stream->key_id, event.key_id) == 0)
            s_reauth (stream, "API key revoked");
    }
    mg_msg_clear (&mg_key_revoked_desc, &event);
}

//  libevent: the SUB socket's fd signalled (edge-triggered: drain it).
static void
s_on_sub (evutil_socket_t fd, short what, void *arg)
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

//  Timer: a comment line on every live stream keeps proxies from closing it.
static void
s_on_heartbeat (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_sse_t *self = arg;
    for (size_t b = 0; b < BUCKETS; b++)
        for (s_stream_t *stream = self->buckets [b], *next; stream; stream = next) {
            next = stream->next;
            if (stream->phase != S_LIVE)
                continue;
            struct evbuffer *out = evbuffer_new ();
            if (out && evbuffer_add (out, HEARTBEAT_LINE, sizeof HEARTBEAT_LINE - 1) == 0)
                s_write (stream, out, false);
            if (out)
                evbuffer_free (out);
        }
    //  A thread whose fd edge was consumed elsewhere still drains here.
    if (gw_bus_readable (self->sub))
        event_active (self->sub_event, EV_READ, 0);
}

void
gw_sse_close_all (gw_sse_t *self)
{
    assert (self);
    for (size_t b = 0; b < BUCKETS; b++)
        while (self->buckets [b]) {
            s_stream_t *stream = self->buckets [b];
            if (stream->phase == S_OPENING) {
                gw_reply_error (stream->request, 503, "SERVICE_UNAVAILABLE", 1, "the server is stopping");
                stream->request = NULL;
            }
            s_end (stream, GW_SSE_END_SHUTDOWN, true);
        }
}
