/*  GCRA state in Redis: one Lua script decides both windows atomically.

    Why a script: a decision reads two theoretical arrival times (TATs),
    compares them with the time, and writes both only when both windows
    admit. Done as separate commands, two gateways could both read the old
    state and both be admitted; a script runs alone in Redis. Its clock is
    Redis's TIME, so gateways and actors on hosts with skewed clocks still
    agree. (Redis 7 replicates a script's effects, not the script, so TIME
    before a write is allowed.)

    The client of lib/mg_redis.h runs the script by its SHA1 (loading it
    again after NOSCRIPT: Redis restarted, SCRIPT FLUSH), reopens a lost
    connection once per decision and bounds every decision by
    MG_REDIS_TIMEOUT_MS, which stays below the gateway's MG_RATE_TIMEOUT_MS
    so that a stalled Redis gives the gateway an error reply to fail open
    on within its budget. After a timeout the store answers errors at once
    for BACKOFF_MS rather than make each decision wait out a deadline.  */
#include "ratelimit.h"
#include "mg_redis.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  mg:rl:{<client>}:<tier>, a hash {s, m} of TATs in us. The client is the
//  key's hash tag, so on Redis Cluster all of one caller's keys (every
//  tier it has had) share one slot.
#define KEY_PREFIX  "mg:rl:"
#define BACKOFF_MS  250             //  after a Redis timeout, decisions fail at once this long

//  KEYS[1]: the client's state. ARGV: T and tau of the per-second window,
//  then of the per-minute window, in microseconds, then want: admit up to
//  that many requests at once (a lease, see gateway/lease.c). A window at
//  TAT v admits floor((tau + T - (v - now)) / T) requests now; the grant is
//  the least of want and what both windows admit, and both TATs advance by
//  grant x T: exactly as if grant single requests had come one after the
//  other now (want 1: the plain GCRA decision).
//  Returns {allowed, remaining_s, remaining_m, reset_s_ms, reset_m_ms,
//  retry_s_ms, retry_m_ms, granted}.
static const char s_script [] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local stored = redis.call('HMGET', KEYS[1], 's', 'm')\n"
    "local grant = tonumber(ARGV[5]) or 1\n"
    "local tat, wait = {}, {}\n"
    "for i = 1, 2 do\n"
    "  local period = tonumber(ARGV[2 * i - 1])\n"
    "  local tau = tonumber(ARGV[2 * i])\n"
    "  local v = tonumber(stored[i]) or now\n"
    "  if v < now then v = now end\n"
    "  tat[i] = v\n"
    "  wait[i] = v - tau - now\n"
    "  if wait[i] < 0 then wait[i] = 0 end\n"
    "  local fits = math.floor((tau + period - (v - now)) / period)\n"
    "  if fits < grant then grant = fits end\n"
    "end\n"
    "if grant < 0 then grant = 0 end\n"
    "local allowed = 0\n"
    "if grant >= 1 then allowed = 1; wait[1] = 0; wait[2] = 0 end\n"
    "local out = {allowed, 0, 0, 0, 0, math.ceil(wait[1] / 1000), math.ceil(wait[2] / 1000), grant}\n"
    "local ttl = 1\n"
    "for i = 1, 2 do\n"
    "  local period = tonumber(ARGV[2 * i - 1])\n"
    "  local tau = tonumber(ARGV[2 * i])\n"
    "  tat[i] = tat[i] + grant * period\n"
    "  local ahead = tat[i] - now\n"
    "  local remaining = math.floor((tau + period - ahead) / period)\n"
    "  if remaining < 0 then remaining = 0 end\n"
    "  out[1 + i] = remaining\n"
    "  out[3 + i] = math.ceil(ahead / 1000)\n"
    "  if ahead / 1000 > ttl then ttl = math.ceil(ahead / 1000) end\n"
    "end\n"
    "if allowed == 1 then\n"
    "  redis.call('HSET', KEYS[1], 's', string.format('%.0f', tat[1]), 'm', string.format('%.0f', tat[2]))\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl + 1000)\n"
    "end\n"
    "return out\n";

struct rl_store_t {
    mg_redis_t *redis;
};

rl_store_t *
rl_store_new (const char *url, int timeout_ms)
{
    assert (url);
    rl_store_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->redis = mg_redis_new (url, timeout_ms, BACKOFF_MS);
    if (!self->redis) {
        free (self);
        return NULL;
    }
    return self;
}

void
rl_store_destroy (rl_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        rl_store_t *self = *self_p;
        mg_redis_destroy (&self->redis);
        free (self);
        *self_p = NULL;
    }
}

uint64_t
rl_store_loads (rl_store_t *self)
{
    assert (self);
    return mg_redis_stats (self->redis)->script_loads;
}

int
rl_store_open (rl_store_t *self, char *why, size_t whylen)
{
    assert (self && why);
    return mg_redis_script_load (self->redis, s_script, why, whylen);
}

//  Integer element i of an array reply (negative or missing -> 0).
static uint64_t
s_int (const redisReply *reply, size_t i)
{
    if (i >= reply->elements || reply->element [i]->type != REDIS_REPLY_INTEGER
    ||  reply->element [i]->integer < 0)
        return 0;
    return (uint64_t) reply->element [i]->integer;
}

int
rl_store_check (rl_store_t *self, const rl_tier_t *tier, const char *client, uint64_t want,
                rl_decision_t *decision, char *why, size_t whylen)
{
    assert (self && tier && client && decision && why);
    assert (want >= 1 && want <= RL_WANT_MAX);
    char key [256];
    snprintf (key, sizeof key, KEY_PREFIX "{%s}:%s", client, tier->name);
    char args [5][24];
    const int64_t values [5] = { tier->period_s_us, tier->tau_s_us, tier->period_m_us, tier->tau_m_us,
                                 (int64_t) want };
    const char *argv [5];
    for (int i = 0; i < 5; i++) {
        snprintf (args [i], sizeof args [i], "%lld", (long long) values [i]);
        argv [i] = args [i];
    }
    const char *keys [] = { key };
    redisReply *reply = mg_redis_eval (self->redis, s_script, 1, keys, 5, argv, why, whylen);
    if (!reply)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 8) {
        snprintf (why, whylen, "unexpected reply from the script: wrong shape");
        freeReplyObject (reply);
        return -1;
    }
    decision->allowed = s_int (reply, 0) == 1;
    decision->remaining_s = s_int (reply, 1);
    decision->remaining_m = s_int (reply, 2);
    decision->reset_s_ms = s_int (reply, 3);
    decision->reset_m_ms = s_int (reply, 4);
    decision->retry_s_ms = s_int (reply, 5);
    decision->retry_m_ms = s_int (reply, 6);
    decision->granted = s_int (reply, 7);
    freeReplyObject (reply);
    return 0;
}
