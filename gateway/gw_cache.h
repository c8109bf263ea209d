/*  cache.c: the cache stage: search and discover answers in Redis, keyed
    by request and catalog generation, and details answers, keyed by
    request and the title's version; a miss goes on to the forward stage.  */
#ifndef GW_CACHE_H_INCLUDED
#define GW_CACHE_H_INCLUDED

#include "gw_request.h"

#include <event2/event.h>

//  The cache of one thread (its connection opens on first use). NULL when
//  config's Redis URL is bad (logged).
gw_cache_t *gw_cache_new (struct event_base *base, const gw_config_t *config, gw_metrics_t *metrics);
void gw_cache_destroy (gw_cache_t **self_p);

//  Answer request from the cache, or forward it (gw_forward) and remember
//  to store its answer. Takes ownership of *body_p.
void gw_cache_forward (gw_request_t *request, uint8_t **body_p, size_t len);

//  A 200 answer for request is in out (JSON text); reply is the decoded
//  reply message. Stores it when the request was a miss: a search answer
//  when the replica had applied the generation read, a discover or a
//  details answer until the TTL or the earliest expiry of the offers it
//  shows.
void gw_cache_store (gw_request_t *request, const void *reply, struct evbuffer *out);

#endif
