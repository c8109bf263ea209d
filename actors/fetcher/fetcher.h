/*  The live fetcher's modules, over the Redis client of lib/mg_redis.h:
    shared provider quotas and key pools (quota.c), circuit breakers
    (breaker.c), retry timing (retry.c), the response cache (cache.c), the
    dead-letter table (deadletter.c) and scheduler leases (schedule.c).
    Every piece of state that replicas must agree on lives in Redis or
    PostgreSQL, never in one process.  */
#ifndef FETCHER_H_INCLUDED
#define FETCHER_H_INCLUDED

#include "mg_redis.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FETCHER_WHY_LEN 256

//  ---- quota.c: per-provider request rate, daily units, key pool ----

#define QUOTA_KEYS_MAX 5            //  YouTube: a pool of at most 5 keys

typedef struct {
    const char *provider;           //  "tmdb", "sa", "watchmode", "youtube"
    int64_t rate_limit;             //  requests per rate window; 0 = no limit
    int64_t rate_window_ms;
    int64_t daily_units;            //  units per key per UTC day; 0 = no daily quota
    int keys;                       //  keys in the pool (1 when it has no pool)
} quota_spec_t;

typedef struct {
    bool granted;
    int key_index;                  //  pool key to use when granted
    int64_t wait_ms;                //  when refused by the rate: time to the window's end
    bool exhausted;                 //  when refused because every key's day is spent
    int64_t units_left;             //  on the chosen key today (-1 = no daily quota)
} quota_grant_t;

//  Take one request of cost units for spec's provider, atomically for all
//  fetchers: the rate window first, then the first pool key (from the one
//  used last) with cost units left today. Returns 0 with grant filled, or
//  -1 with why when Redis cannot be used.
int quota_take (mg_redis_t *redis, const quota_spec_t *spec, int64_t cost,
                quota_grant_t *grant, char *why, size_t whylen);

//  The provider said key_index is out of quota (e.g. YouTube 403
//  quotaExceeded): mark its day spent so every fetcher rotates past it.
int quota_exhaust (mg_redis_t *redis, const quota_spec_t *spec, int key_index,
                   char *why, size_t whylen);

//  Units used today on key_index (tests, metrics); -1 on error.
int64_t quota_used_today (mg_redis_t *redis, const quota_spec_t *spec, int key_index);

//  ---- breaker.c: one circuit breaker per provider, shared ----

typedef enum { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 } breaker_state_t;

typedef struct {
    const char *provider;
    int64_t window_ms;              //  failures are counted over this window
    int64_t min_requests;           //  no opening on fewer requests in the window
    int64_t failure_pct;            //  open at >= this share of failures
    int64_t probe_after_ms;         //  open -> one half-open probe after this
} breaker_spec_t;

//  May a request go to the provider now? *allowed is false while open, and
//  in half-open for every request but the single probe. Returns 0 or -1.
int breaker_allow (mg_redis_t *redis, const breaker_spec_t *spec, bool *allowed,
                   breaker_state_t *state, char *why, size_t whylen);

//  Record a request's outcome (the probe's outcome closes or reopens).
int breaker_record (mg_redis_t *redis, const breaker_spec_t *spec, bool success,
                    breaker_state_t *state, char *why, size_t whylen);

//  Record several outcomes at once (a fetcher batches the successes it
//  sees while the breaker is closed; a failure is recorded at once).
int breaker_record_many (mg_redis_t *redis, const breaker_spec_t *spec, uint64_t successes,
                         uint64_t failures, breaker_state_t *state, char *why, size_t whylen);

//  Current state (for /metrics); -1 on error.
int breaker_state (mg_redis_t *redis, const breaker_spec_t *spec, breaker_state_t *state,
                   char *why, size_t whylen);

//  "closed", "open", "half_open".
const char *breaker_state_name (breaker_state_t state);

//  ---- retry.c: when to try again ----

typedef struct {
    int max_attempts;               //  attempts in all, the first included
    int64_t base_ms;                //  first backoff ceiling
    int64_t cap_ms;                 //  no backoff ceiling above this
} retry_policy_t;

//  Is an HTTP status (0 = transport failure or timeout) worth retrying?
bool retry_is_retryable (long status);

//  Full-jitter backoff before attempt (1 = the first retry): uniform in
//  [0, min(cap, base * 2^(attempt-1))], drawn from random (any 32 bits).
int64_t retry_backoff_ms (const retry_policy_t *policy, int attempt, uint32_t random);

//  A Retry-After value (delta-seconds or an HTTP-date) in ms from now_s;
//  -1 when absent or unparseable.
int64_t retry_after_ms (const char *value, int64_t now_s);

//  The delay before attempt: the backoff, but never less than what the
//  provider asked for (retry_after_ms >= 0), and never above cap unless
//  the provider asked for more.
int64_t retry_delay_ms (const retry_policy_t *policy, int attempt, int64_t retry_after_ms,
                        uint32_t random);

//  Adaptive pacing from a provider's own headers: with remaining calls left
//  until reset_ms from now, the gap to leave before the next call so the
//  rest spread over the window (0 while remaining is above low_water).
int64_t retry_pace_ms (int64_t remaining, int64_t reset_ms, int64_t low_water);

//  ---- cache.c: provider responses in Redis ----

typedef struct {
    char *body;                     //  owned; NULL when nothing is cached
    size_t body_len;
    char etag [256];                //  "" when the provider gave none
    int64_t age_ms;
    bool fresh;                     //  younger than the kind's TTL
} cache_entry_t;

//  Cache key for a request: provider, then the URL without its credentials
//  (the api_key / apiKey / key query parameters), so keys in a pool share
//  one entry. Writes at most keylen bytes; -1 when it does not fit.
int cache_key (const char *provider, const char *url, char *key, size_t keylen);

//  Look key up. Returns 0 (entry->body NULL on a miss) or -1 with why.
//  A found entry is fresh when younger than ttl_ms; older ones are kept
//  (up to CACHE_KEEP_S) for conditional requests and the stale fallback.
int cache_get (mg_redis_t *redis, const char *key, int64_t ttl_ms, cache_entry_t *entry,
               char *why, size_t whylen);

//  Look n keys up in one round trip; entries [i] as cache_get gives it for
//  keys [i] with ttl_ms [i] (a failed look-up is a miss). Returns 0, or -1
//  with why (every entry a miss) when Redis cannot be used.
int cache_get_many (mg_redis_t *redis, size_t n, const char *const *keys, const int64_t *ttl_ms,
                    cache_entry_t *entries, char *why, size_t whylen);

//  Store a 200 response's body and ETag (etag may be NULL).
int cache_put (mg_redis_t *redis, const char *key, const char *body, size_t body_len,
               const char *etag, char *why, size_t whylen);

//  Store n responses in one round trip (etags [i] may be NULL). Returns how
//  many were stored, or -1 with why when Redis cannot be used.
int cache_put_many (mg_redis_t *redis, size_t n, const char *const *keys,
                    const char *const *bodies, const size_t *body_lens, const char *const *etags,
                    char *why, size_t whylen);

//  A 304 Not Modified: the stored body is fresh again.
int cache_touch (mg_redis_t *redis, const char *key, char *why, size_t whylen);

//  Free the entry's body.
void cache_entry_clear (cache_entry_t *entry);

//  ---- deadletter.c: work that failed after its retries ----

typedef struct {
    int64_t id;
    char provider [32];
    char kind [32];
    char *payload;                  //  owned JSON text
    char reason [512];
    int attempts;
} deadletter_t;

//  Record one failure. Returns its id, or -1 with why.
int64_t deadletter_add (PGconn *conn, const char *provider, const char *kind,
                        const char *payload_json, const char *reason, int attempts,
                        char *why, size_t whylen);

//  Letters not yet replayed, oldest first, at most max. Returns how many
//  (*out owned by the caller, free with deadletter_list_free) or -1.
int deadletter_pending (PGconn *conn, int max, deadletter_t **out, char *why, size_t whylen);
void deadletter_list_free (deadletter_t **list_p, int count);

//  Count of letters not yet replayed; -1 on error.
int64_t deadletter_count (PGconn *conn, char *why, size_t whylen);

//  Mark id replayed (its work was handed back). Returns 0, or -1 when it
//  is unknown or was replayed already.
int deadletter_mark_replayed (PGconn *conn, int64_t id, char *why, size_t whylen);

//  ---- schedule.c: periodic jobs that run once across replicas ----

//  Take the lease name for ttl_ms unless another holder has it; token
//  identifies this holder. *taken says whether it is ours. Returns 0 or -1.
int lease_take (mg_redis_t *redis, const char *name, const char *token, int64_t ttl_ms,
                bool *taken, char *why, size_t whylen);

//  Give the lease back, only when token still holds it. Returns 0 or -1.
int lease_release (mg_redis_t *redis, const char *name, const char *token,
                   char *why, size_t whylen);

//  Is a job last run at last_ms (0 = never) due at now_ms every interval_ms?
bool schedule_due (int64_t last_ms, int64_t interval_ms, int64_t now_ms);

#endif
