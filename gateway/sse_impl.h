/*  Inside the SSE streams (gw_sse.h): the state their files share, and
    what each file offers the others. One concern a file, each calling only
    the ones below it:

    sse.c         the thread's streams: set-up, opening a stream (GET
                  /api/v1/sync/stream), heartbeats, shutdown
    sse_events.c  the SUB socket: sync events fanned out to the streams of
                  their user, API key revocations
    sse_stream.c  one stream: its place in the table, its ids and the
                  sync.events calls that fill gaps, writes and backpressure,
                  its end

    The design (ids, credentials, bounds) is described at the top of sse.c.  */
#ifndef GW_SSE_IMPL_H_INCLUDED
#define GW_SSE_IMPL_H_INCLUDED

#include "gw_sse.h"
#include "gw_events.h"
#include "gw_bus.h"
#include "mg_msg.h"

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPIC_PREFIX       "sync."
#define TOPIC_MAX          64         //  "sync." + a UUID, with room to spare
#define BUCKETS            1024       //  per-thread stream table (chained by user)

//  --------------------------------------------------------------------------
//  Streams

typedef enum {
    SSE_OPENING = 0,                //  first sync.events call in flight; no HTTP answer yet
    SSE_LIVE                        //  200 sent, events flowing
} sse_phase_t;

typedef struct sse_stream_t sse_stream_t;

struct sse_stream_t {
    gw_sse_t *sse;
    gw_request_t *request;          //  SSE_OPENING only (the HTTP answer is not sent yet)
    struct evhttp_request *http;
    struct evhttp_connection *conn; //  SSE_LIVE: the client's connection
    char user_id [37];
    char device_id [37];
    char key_id [37];               //  opened with this API key (empty: a token)
    struct event *expiry;           //  opened with a token: fires when it expires
    sse_phase_t phase;
    bool has_since;                 //  the client gave Last-Event-ID (SSE_OPENING)
    int64_t since;
    uint64_t cursor;                //  last id accounted for (sent or filtered out)
    uint64_t seen_max;              //  highest live id noted while a fetch was in flight
    bool fetching;                  //  a sync.events call is in flight
    bool more_pending;              //  kept events left to replay once the output drains
    bool dead;                      //  ended while fetching: freed when the call returns
    bool chunked;                   //  SSE_LIVE: the body is sent in chunks (an HTTP/1.1 client)
    struct evbuffer_cb_entry *drained;  //  on the connection's output: resumes a replay
    sse_stream_t *prev, *next;      //  in a bucket, or in the zombie list when dead
};

struct gw_sse_t {
    struct event_base *base;
    const gw_config_t *config;
    gw_bus_t *bus;
    gw_metrics_t *metrics;
    gw_sse_limits_t *limits;
    gw_keycache_t *keys;            //  the thread's API key cache (revocations drop keys)
    struct event *heartbeat;
    sse_stream_t *buckets [BUCKETS];
    sse_stream_t *zombies;          //  ended streams whose sync.events call is still out
    size_t open;
};

//  sse_stream.c

//  Link stream at the head of *list.
void sse_link (sse_stream_t **list, sse_stream_t *stream);

//  Unlink stream from *list.
void sse_unlink (sse_stream_t **list, sse_stream_t *stream);

//  The bucket of user_id.
sse_stream_t **sse_bucket (gw_sse_t *self, const char *user_id);

//  Free a stream that is in no list and holds no HTTP request.
void sse_stream_free (sse_stream_t *stream);

//  The stream is over (reason counts it): out of its bucket and the
//  limits; its connection ended gracefully (graceful) or cut; freed now,
//  or when its sync.events call returns.
void sse_end (sse_stream_t *stream, gw_sse_end_t reason, bool graceful);

//  Write out (SSE text) to the live stream, or cut the stream when its
//  unsent output is past the bound (unless replay: one sync.events answer,
//  itself bounded, is written whole). Returns 0, or -1 when the stream ended.
int sse_write (sse_stream_t *stream, struct evbuffer *out, bool replay);

//  A live event for stream: send it, drop it, or fill a gap before it.
//  Returns 0, or -1 when the stream ended.
int sse_offer (sse_stream_t *stream, const mg_sync_event_t *event);

//  Tell a live stream's client why it ends ("event: reauth", no id: the
//  client's Last-Event-ID stays where it was), then end it.
void sse_reauth (sse_stream_t *stream, const char *why);

//  Timer: the token that opened the stream has expired.
void sse_on_expiry (evutil_socket_t fd, short what, void *arg);

//  Ask sync.events for what follows the stream's cursor (since), or for
//  the last id only (first call without Last-Event-ID). 0, or -1 when the
//  call could not be sent.
int sse_fetch (sse_stream_t *stream, bool since);

//  sse_events.c

//  Follow sync.<user> and auth.key_revoked on the thread's subscription.
int sse_follow (gw_sse_t *self, gw_events_t *events);

#endif
