/*  metrics.c: per-thread counters and histograms, summed for /metrics.  */
#ifndef GW_METRICS_H_INCLUDED
#define GW_METRICS_H_INCLUDED

#include "gw_bus.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_metrics_t gw_metrics_t;

//  Why a stream ended (sse.c), counted here.
typedef enum {
    GW_SSE_END_CLIENT = 0,          //  the client closed it
    GW_SSE_END_SLOW,                //  cut: unsent output past sse_max_buffer
    GW_SSE_END_DEVICE_REMOVED,      //  its device was removed
    GW_SSE_END_SHUTDOWN,            //  the gateway is stopping
    GW_SSE_END_ERROR,               //  a gap could not be filled (sync unreachable)
    GW_SSE_END_REAUTH,              //  its token expired or its API key was revoked
    GW_SSE_ENDS
} gw_sse_end_t;

//  Counters of one thread for routes routes (+1 slot for unmatched requests).
gw_metrics_t *gw_metrics_new (size_t routes);
void gw_metrics_destroy (gw_metrics_t **self_p);

//  A request ended: route index (gw_routes_count () when none matched).
void gw_metrics_request (gw_metrics_t *self, size_t route, int status, int64_t latency_us);

//  A bus call of route ended after rtt_us.
void gw_metrics_bus (gw_metrics_t *self, size_t route, gw_bus_outcome_t outcome, int64_t rtt_us);

typedef enum {
    GW_RATE_ALLOWED = 0,
    GW_RATE_LIMITED,                //  429
    GW_RATE_FAIL_OPEN,              //  limiter unreachable: admitted unchecked
    GW_RATE_FAIL_CLOSED,            //  limiter unreachable: 503
    GW_RATE_OUTCOMES
} gw_rate_outcome_t;

typedef enum {
    GW_AUTH_ANONYMOUS = 0,
    GW_AUTH_TOKEN,                  //  verified Bearer token
    GW_AUTH_KEY_CACHED,             //  API key answered from the cache
    GW_AUTH_KEY_LOOKUP,             //  API key looked up on the bus
    GW_AUTH_REJECTED,               //  401
    GW_AUTH_OUTCOMES
} gw_auth_outcome_t;

typedef enum {
    GW_CACHE_HIT = 0,
    GW_CACHE_MISS,
    GW_CACHE_STORE,                 //  a miss's answer stored
    GW_CACHE_UNAVAILABLE,           //  Redis down or failing: served uncached
    GW_CACHE_TIMEOUT,               //  no answer within MG_SEARCH_CACHE_TIMEOUT_MS: served uncached
    GW_CACHE_OUTCOMES
} gw_cache_outcome_t;

//  A search result cache event.
void gw_metrics_cache (gw_metrics_t *self, gw_cache_outcome_t outcome);

//  A details cache event.
void gw_metrics_details_cache (gw_metrics_t *self, gw_cache_outcome_t outcome);

//  A discover cache event.
void gw_metrics_discover_cache (gw_metrics_t *self, gw_cache_outcome_t outcome);

//  A reference reply memo look-up (memo.c: hit or miss).
void gw_metrics_memo (gw_metrics_t *self, gw_cache_outcome_t outcome);

typedef enum {
    GW_REDIS_STALLED = 0,           //  a connection with a command unanswered too long, dropped
    GW_REDIS_RECONNECTED,           //  a connection opened again after one was lost or dropped
    GW_REDIS_EVENTS
} gw_redis_event_t;

//  An event of the gateway's Redis connections.
void gw_metrics_redis (gw_metrics_t *self, gw_redis_event_t event);

//  A rate-limit decision (check_us: its bus round trip, 0 if none).
void gw_metrics_rate (gw_metrics_t *self, gw_rate_outcome_t outcome, int64_t check_us);

typedef enum {
    GW_RENEWAL_GRANTED = 0,         //  a lease renewed ahead (lease.c)
    GW_RENEWAL_REFUSED,             //  the limiter granted nothing
    GW_RENEWAL_FAILED,              //  no decision (limiter or broker unreachable, timeout)
    GW_RENEWAL_OUTCOMES
} gw_renewal_outcome_t;

//  A renewal ahead of a lease ended.
void gw_metrics_renewal (gw_metrics_t *self, gw_renewal_outcome_t outcome);

//  A request was admitted on credit from a late renewal (lease.c).
void gw_metrics_on_credit (gw_metrics_t *self);

//  How a caller was identified.
void gw_metrics_auth (gw_metrics_t *self, gw_auth_outcome_t outcome);

//  Requests started minus requests answered, by this thread.
void gw_metrics_in_flight (gw_metrics_t *self, int delta);

//  The refuser answered one of this thread's new connections 503 (called
//  from the refuser's thread only).
void gw_metrics_refused_at_accept (gw_metrics_t *self);

//  Timings of one refused connection, from the arrival of its request (the
//  kernel's receive time): waited_us until the refuser accepted it,
//  answered_us until its 503 was written. The refuser's thread only.
void gw_metrics_refuse_timed (gw_metrics_t *self, int64_t waited_us, int64_t answered_us);

//  The refuser's thread woke to events (one refuser per process: it counts
//  in the first thread's counters). The refuser's thread only.
void gw_metrics_refuser_woke (gw_metrics_t *self);

//  Streams: opened (delta 1) or ended (-1); an event sent; a stream ended
//  for reason; a stream refused (total: the gateway's bound, else the
//  user's); a reset sent.
void gw_metrics_sse_open (gw_metrics_t *self, int delta);
void gw_metrics_sse_event (gw_metrics_t *self);
void gw_metrics_sse_end (gw_metrics_t *self, gw_sse_end_t reason);
void gw_metrics_sse_refused (gw_metrics_t *self, bool total);
void gw_metrics_sse_reset (gw_metrics_t *self);

//  Append the sum of all (n threads) in Prometheus text format.
void gw_metrics_render (gw_metrics_t *const *all, size_t n, struct evbuffer *out);

#endif
