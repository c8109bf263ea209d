/*  A circuit breaker per provider, its state in one Redis hash
    (mg:fb:<provider>) changed only by Lua scripts, so every fetcher replica
    sees the same state and only one of them sends the half-open probe.

    closed: requests flow; outcomes are counted over a window of window_ms
    (a fixed window, restarted by the first outcome after it ends). A
    failure that makes >= failure_pct % of >= min_requests outcomes opens
    it (a success never does).
    open: nothing is sent for probe_after_ms, then the next caller becomes
    the single probe (half-open). half_open: everyone else is refused; the
    probe's success closes the breaker with fresh counts, its failure opens
    it again for another probe_after_ms. A probe whose outcome never comes
    (its fetcher died) is replaced after probe_after_ms.  */
#include "fetcher.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

//  KEYS: the hash. ARGV: probe_after_ms. Returns {allowed, state}.
static const char s_allow [] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local probe_after = tonumber(ARGV[1])\n"
    "local h = redis.call('HMGET', KEYS[1], 'state', 'since')\n"
    "local state, since = tonumber(h[1]) or 0, tonumber(h[2]) or 0\n"
    "if state == 0 then return {1, 0} end\n"
    "if now - since >= probe_after then\n"
    "  redis.call('HSET', KEYS[1], 'state', 2, 'since', now)\n"
    "  return {1, 2}\n"
    "end\n"
    "return {0, state}\n";

//  KEYS: the hash. ARGV: successes, failures, window_ms, min_requests,
//  failure_pct. Returns the state after.
static const char s_record [] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local okn, failn, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local min, pct = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local h = redis.call('HMGET', KEYS[1], 'state', 'wstart', 'total', 'fail')\n"
    "local state = tonumber(h[1]) or 0\n"
    "if state == 2 then\n"
    "  if failn == 0 and okn > 0 then\n"
    "    redis.call('HSET', KEYS[1], 'state', 0, 'since', now, 'wstart', now, 'total', 0, 'fail', 0)\n"
    "    return 0\n"
    "  end\n"
    "  if failn > 0 then redis.call('HSET', KEYS[1], 'state', 1, 'since', now) return 1 end\n"
    "  return 2\n"
    "end\n"
    "if state == 1 then return 1 end\n"
    "local wstart, total, fail = tonumber(h[2]) or now, tonumber(h[3]) or 0, tonumber(h[4]) or 0\n"
    "if now - wstart >= window then wstart, total, fail = now, 0, 0 end\n"
    "total = total + okn + failn\n"
    "fail = fail + failn\n"
    "if failn > 0 and total >= min and fail * 100 >= pct * total then\n"
    "  redis.call('HSET', KEYS[1], 'state', 1, 'since', now, 'wstart', now, 'total', 0, 'fail', 0)\n"
    "  return 1\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'wstart', wstart, 'total', total, 'fail', fail)\n"
    "return 0\n";

//  The provider's hash name.
static void
s_key (const breaker_spec_t *spec, char key [128])
{
    snprintf (key, 128, "mg:fb:%s", spec->provider);
}

const char *
breaker_state_name (breaker_state_t state)
{
    return state == BREAKER_OPEN ? "open" : state == BREAKER_HALF_OPEN ? "half_open" : "closed";
}

int
breaker_allow (mg_redis_t *redis, const breaker_spec_t *spec, bool *allowed,
               breaker_state_t *state, char *why, size_t whylen)
{
    assert (redis && spec && allowed && state && why);
    char key [128], probe [24];
    s_key (spec, key);
    snprintf (probe, sizeof probe, "%lld", (long long) spec->probe_after_ms);
    const char *keys [] = { key };
    const char *argv [] = { probe };
    redisReply *reply = mg_redis_eval (redis, s_allow, 1, keys, 1, argv, why, whylen);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
    &&  reply->element [0]->type == REDIS_REPLY_INTEGER
    &&  reply->element [1]->type == REDIS_REPLY_INTEGER) {
        *allowed = reply->element [0]->integer == 1;
        *state = (breaker_state_t) reply->element [1]->integer;
        rc = 0;
    }
    else
        snprintf (why, whylen, "breaker script: unexpected reply");
    freeReplyObject (reply);
    return rc;
}

int
breaker_record_many (mg_redis_t *redis, const breaker_spec_t *spec, uint64_t successes,
                     uint64_t failures, breaker_state_t *state, char *why, size_t whylen)
{
    assert (redis && spec && state && why);
    char key [128], args [5][24];
    s_key (spec, key);
    snprintf (args [0], 24, "%llu", (unsigned long long) successes);
    snprintf (args [1], 24, "%llu", (unsigned long long) failures);
    snprintf (args [2], 24, "%lld", (long long) spec->window_ms);
    snprintf (args [3], 24, "%lld", (long long) spec->min_requests);
    snprintf (args [4], 24, "%lld", (long long) spec->failure_pct);
    const char *keys [] = { key };
    const char *argv [] = { args [0], args [1], args [2], args [3], args [4] };
    redisReply *reply = mg_redis_eval (redis, s_record, 1, keys, 5, argv, why, whylen);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_INTEGER) {
        *state = (breaker_state_t) reply->integer;
        rc = 0;
    }
    else
        snprintf (why, whylen, "breaker script: unexpected reply");
    freeReplyObject (reply);
    return rc;
}

int
breaker_record (mg_redis_t *redis, const breaker_spec_t *spec, bool success,
                breaker_state_t *state, char *why, size_t whylen)
{
    return breaker_record_many (redis, spec, success ? 1 : 0, success ? 0 : 1, state, why, whylen);
}

int
breaker_state (mg_redis_t *redis, const breaker_spec_t *spec, breaker_state_t *state,
               char *why, size_t whylen)
{
    assert (redis && spec && state && why);
    char key [128];
    s_key (spec, key);
    const char *argv [] = { "HGET", key, "state" };
    redisReply *reply = mg_redis_command (redis, 3, argv, why, whylen);
    if (!reply)
        return -1;
    *state = BREAKER_CLOSED;
    if (reply->type == REDIS_REPLY_STRING && reply->len == 1 && reply->str [0] >= '0'
    &&  reply->str [0] <= '2')
        *state = (breaker_state_t) (reply->str [0] - '0');
    freeReplyObject (reply);
    return 0;
}
