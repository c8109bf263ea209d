/*  GET /api/v1/sync/stream: Server-Sent Events of a user's state changes,
    per device.

    Each gateway thread follows "sync." (every user's topic sync.<user_id>)
    on its one event subscription (events.c), watched by its own event loop
    like the bus DEALER, and keeps a table of the streams it serves keyed by user. An event is
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
    key's revocation (auth.key_revoked, on the same subscription), which also
    drops the key from the thread's key cache; one whose device is removed
    ends on the device.removed event. A preferences.set event of any user
    (decoded only then) drops the user's cached services and region
    (mine.c), so a change made through another gateway is seen here at once.

    Bounds: at most sse_per_user streams per user and sse_max_streams in
    all (per gateway process, counted under one mutex when streams open and
    close, never per event); a stream whose unsent output passes
    sse_max_buffer bytes is cut (the client resumes with Last-Event-ID), so
    a slow reader cannot grow memory without limit.  */
#include "sse_impl.h"
#include "gw_sse_format.h"
#include "gw_respond.h"
#include "mg_curve.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define RETRY_AFTER_S      5          //  hint on 429/503 when streams are full
#define HEARTBEAT_LINE     ": keep-alive\n\n"    //  an SSE comment: clients ignore it

static void s_on_heartbeat (evutil_socket_t fd, short what, void *arg);


gw_sse_t *
gw_sse_new (struct event_base *base, gw_events_t *events, const gw_config_t *config, gw_bus_t *bus,
            gw_metrics_t *metrics, gw_sse_limits_t *limits)
{
    assert (base && events && config && bus && metrics && limits);
    gw_sse_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    *self = (gw_sse_t) { .base = base, .config = config, .bus = bus, .metrics = metrics, .limits = limits };
    if (sse_follow (self, events)) {
        gw_sse_destroy (&self);
        return NULL;
    }
    self->heartbeat = event_new (base, -1, EV_PERSIST, s_on_heartbeat, self);
    struct timeval every = { config->sse_heartbeat_s, 0 };
    if (!self->heartbeat || event_add (self->heartbeat, &every)) {
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


void
gw_sse_destroy (gw_sse_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        gw_sse_t *self = *self_p;
        gw_sse_close_all (self);
        //  Streams still waiting for sync.events: the bus that would answer is gone.
        while (self->zombies) {
            sse_stream_t *stream = self->zombies;
            sse_unlink (&self->zombies, stream);
            sse_stream_free (stream);
        }
        if (self->heartbeat)
            event_free (self->heartbeat);
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
    sse_stream_t *stream = calloc (1, sizeof *stream);
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
    *stream = (sse_stream_t) { .sse = self, .request = request, .http = request->http,
                             .has_since = has_since, .since = since };
    snprintf (stream->user_id, sizeof stream->user_id, "%s", bound.user_id);
    snprintf (stream->device_id, sizeof stream->device_id, "%s", bound.device_id);
    snprintf (stream->key_id, sizeof stream->key_id, "%s", request->caller.key_id);
    if (request->caller.kind == GW_CALLER_TOKEN) {
        int64_t left = request->caller.expires - (int64_t) time (NULL);
        struct timeval when = { left > 0 ? (time_t) left : 0, 0 };
        stream->expiry = evtimer_new (self->base, sse_on_expiry, stream);
        if (!stream->expiry || evtimer_add (stream->expiry, &when)) {
            gw_sse_limits_give (self->limits, stream->user_id);
            gw_reply_error (request, 500, "INTERNAL", 0, "out of memory");
            goto done;
        }
    }
    //  In the table first: live events that come before the backlog are noted.
    sse_link (sse_bucket (self, stream->user_id), stream);
    stream->cursor = has_since ? (uint64_t) since : 0;
    if (sse_fetch (stream, has_since)) {
        sse_unlink (sse_bucket (self, stream->user_id), stream);
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

//  Timer: a comment line on every live stream keeps proxies from closing it.
static void
s_on_heartbeat (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    gw_sse_t *self = arg;
    for (size_t b = 0; b < BUCKETS; b++)
        for (sse_stream_t *stream = self->buckets [b], *next; stream; stream = next) {
            next = stream->next;
            if (stream->phase != SSE_LIVE)
                continue;
            struct evbuffer *out = evbuffer_new ();
            if (out && evbuffer_add (out, HEARTBEAT_LINE, sizeof HEARTBEAT_LINE - 1) == 0)
                sse_write (stream, out, false);
            if (out)
                evbuffer_free (out);
        }
}

void
gw_sse_close_all (gw_sse_t *self)
{
    assert (self);
    for (size_t b = 0; b < BUCKETS; b++)
        while (self->buckets [b]) {
            sse_stream_t *stream = self->buckets [b];
            if (stream->phase == SSE_OPENING) {
                gw_reply_error (stream->request, 503, "SERVICE_UNAVAILABLE", 1, "the server is stopping");
                stream->request = NULL;
            }
            sse_end (stream, GW_SSE_END_SHUTDOWN, true);
        }
}
