/*  sse.c, sse_stream.c, sse_events.c, sse_limits.c: GET /api/v1/sync/stream,
    Server-Sent Events from the sync actor's sync.<user_id> topics, one SUB
    socket per thread.  */
#ifndef GW_SSE_H_INCLUDED
#define GW_SSE_H_INCLUDED

#include "gw_events.h"
#include "gw_request.h"
#include "gw_keycache.h"
#include "gw_metrics.h"

#include <event2/event.h>

typedef enum {
    GW_SSE_TAKEN = 0,
    GW_SSE_USER_FULL,               //  the user has sse_per_user streams: 429
    GW_SSE_FULL                     //  the gateway has sse_max_streams: 503
} gw_sse_take_t;

//  A bucket (of buckets) for a user id: FNV-1a, shared by the process's
//  counts and each thread's stream table.
size_t gw_sse_bucket (const char *user_id, size_t buckets);

//  Per-process stream counts (shared by all threads, one mutex).
gw_sse_limits_t *gw_sse_limits_new (void);
void gw_sse_limits_destroy (gw_sse_limits_t **self_p);

//  Count one more stream of user_id unless that passes per_user for the
//  user or total in all.
gw_sse_take_t gw_sse_limits_take (gw_sse_limits_t *self, const char *user_id, int per_user, int total);

//  A stream of user_id ended.
void gw_sse_limits_give (gw_sse_limits_t *self, const char *user_id);

//  The streams of one thread: following users' sync events on the
//  thread's subscription (events), the heartbeat timer on base. NULL on
//  failure (logged).
gw_sse_t *gw_sse_new (struct event_base *base, gw_events_t *events, const gw_config_t *config, gw_bus_t *bus,
                      gw_metrics_t *metrics, gw_sse_limits_t *limits);

//  The thread's API key cache: a revocation event (auth.key_revoked) drops
//  the key from it as well as ending the key's streams.
void gw_sse_set_keycache (gw_sse_t *self, gw_keycache_t *keys);

//  End every stream, close the socket, free. Nulls *self_p.
void gw_sse_destroy (gw_sse_t **self_p);

//  End every stream gracefully (shutdown); streams opening get 503.
void gw_sse_close_all (gw_sse_t *self);

//  Live streams of this thread.
size_t gw_sse_open_count (gw_sse_t *self);

//  Local handler of GET /api/v1/sync/stream.
void gw_sse_open (gw_request_t *request);

#endif
