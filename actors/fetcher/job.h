/*  A fetch run: titles through the providers (TMDB details, availability
    from Streaming Availability -> Watchmode -> the last cached value, a
    YouTube trailer when TMDB has none), many at once on one libcurl multi
    engine, then into the pipeline with indexer.enqueue.  */
#ifndef FETCHER_JOB_H_INCLUDED
#define FETCHER_JOB_H_INCLUDED

#include "fetcher.h"
#include "http.h"
#include "mg_client.h"
#include "providers.h"

#include <stdatomic.h>

//  Everything a run is configured with (fetch_config_load).
typedef struct {
    char base [PROVIDER_COUNT][512];    //  MG_TMDB_BASE_URL, MG_SA_BASE_URL, ...
    char key [PROVIDER_COUNT][256];     //  TMDB_API_KEY, SA_API_KEY, WATCHMODE_API_KEY
    char youtube_keys [QUOTA_KEYS_MAX][128];    //  YOUTUBE_API_KEYS (comma-separated)
    int youtube_key_count;
    quota_spec_t quota [PROVIDER_COUNT];
    breaker_spec_t breaker [PROVIDER_COUNT];
    retry_policy_t retry;
    int64_t ttl_ms [PROVIDER_COUNT];    //  freshness of cached responses
    char region [3];                    //  availability asked for this country
    int concurrency;                    //  transfers in flight
    int timeout_ms;                     //  per transfer
    int64_t pace_low_water;             //  pace when a provider says fewer calls are left
    int batch;                          //  records per indexer.enqueue
    int64_t flush_ms;                   //  the longest a finished title's record waits for its batch
    bool trailers_always;               //  search YouTube even when TMDB lists a trailer
    const atomic_bool *stop;            //  set when the process stops: a run ends early (may be NULL)
} fetch_config_t;

//  Per-provider counters of this process (for fetcher.metrics).
typedef struct {
    atomic_uint_fast64_t calls, failures, cache_hits, quota_waits;
} fetch_counters_t;

//  What a run did.
typedef struct {
    uint64_t titles, queued, failed, calls, cache_hits, stale;
} fetch_stats_t;

//  One title to fetch.
typedef struct {
    long long tmdb;
    char type [8];                      //  movie | tv
} fetch_item_t;

//  Fill config from the environment (config/default.env documents each
//  variable). Returns 0, or -1 with a log line naming the bad one.
int fetch_config_load (fetch_config_t *config);

//  Fetch items (count of them) and queue what they give. redis, pg (may be
//  NULL: dead letters are then only logged), client (the bus, for
//  indexer.enqueue) and engine are the caller's; counters may be NULL.
//  Returns 0 with stats filled, or -1 when the pipeline refused the records
//  or config->stop was set (the titles not done are left for the next run;
//  what the providers answered is in the cache).
int fetch_run (const fetch_config_t *config, mg_redis_t *redis, PGconn *pg,
               mg_client_t *client, http_engine_t *engine, fetch_counters_t *counters,
               const fetch_item_t *items, size_t count, fetch_stats_t *stats);

//  Walk pages of a TMDB list (trending, popular, changes) into items:
//  up to max, *count of them. Returns 0 or -1 with why.
int fetch_list (const fetch_config_t *config, mg_redis_t *redis, http_engine_t *engine,
                fetch_counters_t *counters, const char *list, int pages, fetch_item_t *items,
                size_t max, size_t *count, char *why, size_t whylen);

#endif
