/*  mg-ratelimit: ratelimit.check over Redis (GCRA, see store.c). Knows
    tiers and client ids, nothing of keys or users. Any number of replicas:
    the state is in Redis.  */
#include "ratelimit.h"
#include "mg_config.h"
#include "mg_log.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define DOWN_LOG_EVERY_MS 1000      //  "Redis unavailable" at most once a second per thread

typedef struct {
    rl_tier_t tiers [RL_TIERS];
    const char *redis_url;
    int timeout_ms;
} s_shared_t;

typedef struct {
    const s_shared_t *shared;
    rl_store_t *store;
    int64_t down_logged_ms;
} s_thread_t;

static int
s_on_check (void *state, const void *req, void *rep, mg_error_t *err)
{
    s_thread_t *self = state;
    const mg_ratelimit_request_t *request = req;
    mg_ratelimit_reply_t *reply = rep;
    const rl_tier_t *tier = rl_tier_find (self->shared->tiers, request->tier);
    if (!tier)
        return mg_actor_fail (err, "INVALID_PARAMETER", "tier", "unknown tier");
    if (request->client [0] == '\0')
        return mg_actor_fail (err, "INVALID_PARAMETER", "client", "empty client id");
    //  A lease larger than RL_WANT_MAX is granted in part, never refused.
    uint64_t want = !request->has_want || request->want == 0 ? 1
                  : request->want > RL_WANT_MAX ? RL_WANT_MAX : request->want;
    rl_decision_t decision;
    char why [256];
    if (rl_store_check (self->store, tier, request->client, want, &decision, why, sizeof why)) {
        int64_t now = zclock_mono ();
        if (now - self->down_logged_ms >= DOWN_LOG_EVERY_MS) {
            mg_warn ("Redis unavailable", "reason=\"%s\"", why);
            self->down_logged_ms = now;
        }
        mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "rate limit store unavailable");
        err->has_retry_after = true;
        err->retry_after = 1;
        return -1;
    }
    reply->allowed = decision.allowed;
    reply->tier = strdup (tier->name);
    reply->limit_s = tier->limit_s;
    reply->limit_m = tier->limit_m;
    reply->remaining_s = decision.remaining_s;
    reply->remaining_m = decision.remaining_m;
    reply->reset_s_ms = decision.reset_s_ms;
    reply->reset_m_ms = decision.reset_m_ms;
    reply->retry_s_ms = decision.retry_s_ms;
    reply->retry_m_ms = decision.retry_m_ms;
    reply->granted = decision.granted;
    reply->has_granted = true;
    reply->has_allowed = reply->has_limit_s = reply->has_limit_m = true;
    reply->has_remaining_s = reply->has_remaining_m = true;
    reply->has_reset_s_ms = reply->has_reset_m_ms = true;
    reply->has_retry_s_ms = reply->has_retry_m_ms = true;
    if (!reply->tier)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    return 0;
}

static const mg_method_t s_methods [] = {
    { "ratelimit.check", &mg_ratelimit_request_desc, &mg_ratelimit_reply_desc, s_on_check },
    { NULL, NULL, NULL, NULL }
};

static void *
s_thread_init (void *shared)
{
    const s_shared_t *config = shared;
    s_thread_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->shared = config;
    self->store = rl_store_new (config->redis_url, config->timeout_ms);
    if (!self->store) {
        free (self);
        return NULL;
    }
    //  Connect and load the script now, so the first request does not pay
    //  for it; a Redis that is down now is retried per request.
    char why [256];
    if (rl_store_open (self->store, why, sizeof why))
        mg_warn ("Redis unavailable at start", "reason=\"%s\"", why);
    return self;
}

static void
s_thread_fini (void *state)
{
    s_thread_t *self = state;
    rl_store_destroy (&self->store);
    free (self);
}

int
main (void)
{
    mg_log_init ("ratelimit");
    zsys_init ();
    static s_shared_t shared;
    if (rl_tiers_load (shared.tiers))
        return EXIT_FAILURE;
    shared.redis_url = mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:56379");
    shared.timeout_ms = (int) mg_config_int ("MG_REDIS_TIMEOUT_MS", 200, 1, 60000);
    mg_actor_t *actor = mg_actor_new ("ratelimit", s_methods);
    if (!actor)
        return EXIT_FAILURE;
    //  A decision is one synchronous Redis round trip, during which its
    //  thread only waits: more threads keep more decisions in flight.
    int threads = (int) mg_config_int ("MG_RATELIMIT_THREADS", 8, 1, 64);
    mg_actor_set_threads (actor, threads, s_thread_init, s_thread_fini, &shared);
    int rc = mg_actor_run (actor);
    mg_actor_destroy (&actor);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
