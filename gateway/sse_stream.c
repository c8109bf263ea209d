/*  One SSE stream (sse_impl.h): its place in the thread's table, its ids
    (the cursor, gaps filled by sync.events calls, replays), its writes and
    their bound (backpressure: a slow reader is cut, a replay waits for the
    output to drain), its credentials' expiry, its end.  */
#include "sse_impl.h"
#include "gw_sse_format.h"
#include "gw_cors.h"
#include "gw_respond.h"
#include "mg_log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define OPENING_RECHECK_S  1          //  a token that expires while its stream opens is looked at again
#define WRITE_TIMEOUT_S    60         //  a client that takes nothing for this long is cut
#define RESET_REASON       "the events after Last-Event-ID are no longer kept: refetch your state"

//  Link stream at the head of *list.
void
sse_link (sse_stream_t **list, sse_stream_t *stream)
{
    stream->prev = NULL;
    stream->next = *list;
    if (*list)
        (*list)->prev = stream;
    *list = stream;
}

//  Unlink stream from *list.
void
sse_unlink (sse_stream_t **list, sse_stream_t *stream)
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
sse_stream_t **
sse_bucket (gw_sse_t *self, const char *user_id)
{
    return &self->buckets [gw_sse_bucket (user_id, BUCKETS)];
}

//  Free a stream that is in no list and holds no HTTP request.
void
sse_stream_free (sse_stream_t *stream)
{
    if (stream->expiry)
        event_free (stream->expiry);
    free (stream);
}

//  The unsent output of the stream's connection, in bytes.
static size_t
s_queued (sse_stream_t *stream)
{
    struct bufferevent *bev = stream->conn ? evhttp_connection_get_bufferevent (stream->conn) : NULL;
    return bev ? evbuffer_get_length (bufferevent_get_output (bev)) : 0;
}

//  Stop watching the connection's output (before it goes).
static void
s_unwatch (sse_stream_t *stream)
{
    struct bufferevent *bev = stream->conn ? evhttp_connection_get_bufferevent (stream->conn) : NULL;
    if (bev && stream->drained)
        evbuffer_remove_cb_entry (bufferevent_get_output (bev), stream->drained);
    stream->drained = NULL;
}

//  The stream is over (reason counts it): out of its bucket and the
//  limits; its connection ended gracefully (graceful) or cut; freed now,
//  or when its sync.events call returns.
void
sse_end (sse_stream_t *stream, gw_sse_end_t reason, bool graceful)
{
    gw_sse_t *self = stream->sse;
    sse_unlink (sse_bucket (self, stream->user_id), stream);
    gw_sse_limits_give (self->limits, stream->user_id);
    if (stream->expiry) {
        event_free (stream->expiry);
        stream->expiry = NULL;
    }
    if (stream->phase == SSE_LIVE) {
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
        sse_link (&self->zombies, stream);
    }
    else
        sse_stream_free (stream);
}

//  libevent: the client's connection closed (or failed) under a live stream.
static void
s_on_close (struct evhttp_connection *conn, void *arg)
{
    (void) conn;
    sse_stream_t *stream = arg;
    s_unwatch (stream);
    //  libevent has detached the request from the connection it is freeing.
    stream->conn = NULL;
    sse_end (stream, GW_SSE_END_CLIENT, true);
}

//  Send out (SSE text) to the live stream's client, framed as libevent
//  frames a reply chunk. When nothing is queued before it, straight to the
//  socket: libevent would queue it, ask epoll to watch the socket for
//  writing, wake, write and ask epoll to stop watching, two more system
//  calls and a wake per stream for every event, which a change for a
//  thousand watchers pays a thousand times (docs/benchmarks.md, "Availability
//  alerts"); and the first streams' events leave while the rest are still
//  being formatted. What the socket does not take (or everything, when it
//  takes nothing or fails: libevent then sees the failure and closes as
//  before) is queued on the connection behind what was sent. Returns 0, or
//  -1 when the rest could not be queued (the client's framing is broken:
//  the caller cuts the stream).
static int
s_send (sse_stream_t *stream, struct evbuffer *out)
{
    size_t len = evbuffer_get_length (out);
    struct bufferevent *bev = stream->conn ? evhttp_connection_get_bufferevent (stream->conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd (bev) : -1;
    unsigned char *data = len && fd >= 0 && s_queued (stream) == 0 ? evbuffer_pullup (out, -1) : NULL;
    if (!data) {
        evhttp_send_reply_chunk (stream->http, out);
        return 0;
    }
    char head [24];
    int head_len = stream->chunked ? snprintf (head, sizeof head, "%zx\r\n", len) : 0;
    struct iovec parts [3] = {
        { .iov_base = head, .iov_len = (size_t) head_len },
        { .iov_base = data, .iov_len = len },
        { .iov_base = "\r\n", .iov_len = stream->chunked ? 2 : 0 },
    };
    struct msghdr message = { .msg_iov = parts, .msg_iovlen = 3 };
    ssize_t sent = sendmsg (fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent <= 0) {
        evhttp_send_reply_chunk (stream->http, out);
        return 0;
    }
    //  A part: queue the rest of the frame as it is (already framed).
    struct evbuffer *output = bufferevent_get_output (bev);
    size_t skip = (size_t) sent;
    for (int i = 0; i < 3; i++) {
        if (skip >= parts [i].iov_len) {
            skip -= parts [i].iov_len;
            continue;
        }
        if (evbuffer_add (output, (char *) parts [i].iov_base + skip, parts [i].iov_len - skip))
            return -1;
        skip = 0;
    }
    return 0;
}

//  Write out (SSE text) to the live stream, or cut the stream when its
//  unsent output is past the bound (unless replay: one sync.events answer,
//  itself bounded, is written whole). Returns 0, or -1 when the stream ended.
int
sse_write (sse_stream_t *stream, struct evbuffer *out, bool replay)
{
    size_t queued = s_queued (stream);
    if (replay || queued <= stream->sse->config->sse_max_buffer) {
        if (s_send (stream, out)) {
            mg_warn ("stream output lost", "user=%s device=%s", stream->user_id, stream->device_id);
            sse_end (stream, GW_SSE_END_ERROR, false);
            return -1;
        }
    }
    else {
        mg_warn ("slow stream cut", "user=%s device=%s queued=%zu", stream->user_id, stream->device_id, queued);
        sse_end (stream, GW_SSE_END_SLOW, false);
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
s_deliver (sse_stream_t *stream, const mg_sync_event_t *event, bool replay)
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
        int rc = sse_write (stream, out, replay);
        evbuffer_free (out);
        if (rc)
            return -1;
    }
    char removed [37];
    if (strcmp (event->type, "device.removed") == 0 && s_removed_device (event->data, removed)
    &&  strcasecmp (removed, stream->device_id) == 0) {
        sse_end (stream, GW_SSE_END_DEVICE_REMOVED, true);
        return -1;
    }
    return 0;
}

//  A live event for stream: send it, drop it, or fill a gap before it.
//  Returns 0, or -1 when the stream ended.
int
sse_offer (sse_stream_t *stream, const mg_sync_event_t *event)
{
    if (stream->phase != SSE_LIVE || stream->fetching || stream->more_pending) {
        if (event->id > stream->seen_max)
            stream->seen_max = event->id;
        return 0;
    }
    if (event->id <= stream->cursor)
        return 0;                   //  sent already (a replay overtook it)
    if (event->id == stream->cursor + 1)
        return s_deliver (stream, event, false);
    if (sse_fetch (stream, true)) {
        sse_end (stream, GW_SSE_END_ERROR, true);
        return -1;
    }
    return 0;
}

//  libevent: bytes of the stream's output were sent; a paused replay goes
//  on once half the bound is free.
static void
s_on_drained (struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    sse_stream_t *stream = arg;
    if (!stream->more_pending || info->n_deleted == 0
    ||  evbuffer_get_length (buffer) > stream->sse->config->sse_max_buffer / 2)
        return;
    stream->more_pending = false;
    //  Not ended from inside the buffer's own callback: the next live event
    //  finds the gap and asks again.
    if (sse_fetch (stream, true))
        mg_warn ("stream replay not resumed", "user=%s", stream->user_id);
}

//  Tell a live stream's client why it ends ("event: reauth", no id: the
//  client's Last-Event-ID stays where it was), then end it.
void
sse_reauth (sse_stream_t *stream, const char *why)
{
    struct evbuffer *out = evbuffer_new ();
    int ended = out && evbuffer_add_printf (out, "event: reauth\ndata: {\"reason\":\"%s\"}\n\n", why) > 0
              ? sse_write (stream, out, true) : 0;
    if (out)
        evbuffer_free (out);
    if (!ended)
        sse_end (stream, GW_SSE_END_REAUTH, true);
}

//  Timer: the token that opened the stream has expired.
void
sse_on_expiry (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    sse_stream_t *stream = arg;
    if (stream->phase != SSE_LIVE) {
        //  Still opening: its answer is not sent yet; look again shortly.
        struct timeval again = { OPENING_RECHECK_S, 0 };
        event_add (stream->expiry, &again);
        return;
    }
    sse_reauth (stream, "access token expired: refresh it and reconnect");
}

//  Start the HTTP answer of an opening stream: headers, retry hint.
static void
s_start (sse_stream_t *stream)
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
    stream->phase = SSE_LIVE;
    self->open++;
    gw_metrics_sse_open (self->metrics, 1);
    evhttp_send_reply_start (stream->http, 200, "OK");
    //  libevent chunks the body for an HTTP/1.1 client, and says so here.
    const char *encoding = evhttp_find_header (headers, "Transfer-Encoding");
    stream->chunked = encoding && strcasecmp (encoding, "chunked") == 0;
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
s_replay (sse_stream_t *stream, const mg_sync_events_reply_t *reply)
{
    if (reply->reset) {
        char data [192];
        snprintf (data, sizeof data, "{\"last_id\":%" PRIu64 ",\"reason\":\"%s\"}", reply->last_id, RESET_REASON);
        gw_metrics_sse_reset (stream->sse->metrics);
        stream->cursor = reply->last_id;
        struct evbuffer *out = evbuffer_new ();
        if (out && gw_sse_format (out, reply->last_id, "reset", data) == 0) {
            int rc = sse_write (stream, out, true);
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
        if (sse_fetch (stream, true)) {
            sse_end (stream, GW_SSE_END_ERROR, true);
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
    sse_stream_t *stream = arg;
    gw_sse_t *self = stream->sse;
    stream->fetching = false;
    if (stream->dead) {
        sse_unlink (&self->zombies, stream);
        sse_stream_free (stream);
        return;
    }
    mg_sync_events_reply_t reply = { 0 };
    mg_error_t error = { 0 };
    char reason [MG_MSG_ERR_LEN];
    bool ok = outcome == GW_BUS_REPLY
           && mg_msg_decode (&mg_sync_events_reply_desc, body, len, &reply, reason, sizeof reason) == 0;
    if (stream->phase == SSE_OPENING) {
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
            sse_end (stream, GW_SSE_END_ERROR, true);
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
        sse_end (stream, GW_SSE_END_ERROR, true);
        mg_msg_clear (&mg_sync_events_reply_desc, &reply);
        return;
    }
    s_replay (stream, &reply);
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
}

//  Ask sync.events for what follows the stream's cursor (since), or for
//  the last id only (first call without Last-Event-ID). 0, or -1 when the
//  call could not be sent.
int
sse_fetch (sse_stream_t *stream, bool since)
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
