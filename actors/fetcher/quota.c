/*  Provider quotas shared by every fetcher: one Lua script takes a request
    atomically, so two fetchers on two hosts never both spend the last unit.

    Two limits per provider. The rate: at most rate_limit requests per fixed
    window of rate_window_ms (Streaming Availability 100/min, TMDB ~40/s),
    counted in mg:fq:<provider>:rate:<window number>. The day: at most
    daily_units units per key per UTC day (Watchmode 1,000 requests, YouTube
    10,000 units per key where a search costs 100 and a videos call 1),
    counted in mg:fq:<provider>:day:<day number>:<key index> (kept two days,
    for metrics). A pool keeps
    using one key until it cannot pay for the call, then moves on (the
    cursor, mg:fq:<provider>:cursor), so keys are spent one after another
    and a key the provider refused (quota_exhaust) is skipped by everyone.
    The clock is Redis's TIME, so hosts with skewed clocks agree.  */
#include "fetcher.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>


//  KEYS: rate prefix, cursor, day prefix. ARGV: rate_limit, window_ms,
//  daily_units, keys, cost. Returns {granted, key, wait_ms, exhausted, left}.
static const char s_take [] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local daily, nkeys, cost = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local rk\n"
    "if limit > 0 then\n"
    "  local slot = math.floor(now / window)\n"
    "  rk = KEYS[1] .. ':' .. slot\n"
    "  if tonumber(redis.call('GET', rk) or '0') >= limit then\n"
    "    return {0, -1, (slot + 1) * window - now, 0, -1}\n"
    "  end\n"
    "end\n"
    "local chosen, left = 0, -1\n"
    "if daily > 0 then\n"
    "  local day = math.floor(tonumber(t[1]) / 86400)\n"
    "  local start = tonumber(redis.call('GET', KEYS[2]) or '0') % nkeys\n"
    "  chosen = -1\n"
    "  for i = 0, nkeys - 1 do\n"
    "    local k = (start + i) % nkeys\n"
    "    local dk = KEYS[3] .. ':' .. day .. ':' .. k\n"
    "    local used = tonumber(redis.call('GET', dk) or '0')\n"
    "    if used + cost <= daily then\n"
    "      redis.call('INCRBY', dk, cost)\n"
    "      redis.call('EXPIRE', dk, 172800)\n"
    "      if k ~= start then redis.call('SET', KEYS[2], k) end\n"
    "      chosen, left = k, daily - used - cost\n"
    "      break\n"
    "    end\n"
    "  end\n"
    "  if chosen < 0 then\n"
    "    return {0, -1, (day + 1) * 86400000 - now, 1, 0}\n"
    "  end\n"
    "end\n"
    "if rk then\n"
    "  redis.call('INCR', rk)\n"
    "  redis.call('PEXPIRE', rk, window * 2)\n"
    "end\n"
    "return {1, chosen, 0, 0, left}\n";

//  KEYS: cursor, day prefix. ARGV: daily_units, keys, key index.
//  Marks the key's day spent and moves the cursor past it.
static const char s_exhaust [] =
    "local t = redis.call('TIME')\n"
    "local day = math.floor(tonumber(t[1]) / 86400)\n"
    "local k = tonumber(ARGV[3])\n"
    "redis.call('SET', KEYS[2] .. ':' .. day .. ':' .. k, ARGV[1], 'EX', 172800)\n"
    "if tonumber(redis.call('GET', KEYS[1]) or '0') == k then\n"
    "  redis.call('SET', KEYS[1], (k + 1) % tonumber(ARGV[2]))\n"
    "end\n"
    "return 1\n";

//  KEYS: day prefix. ARGV: key index. Units used today.
static const char s_used [] =
    "local t = redis.call('TIME')\n"
    "local day = math.floor(tonumber(t[1]) / 86400)\n"
    "return tonumber(redis.call('GET', KEYS[1] .. ':' .. day .. ':' .. ARGV[1]) or '0')\n";

//  The provider's three key names.
static void
s_keys (const quota_spec_t *spec, char rate [128], char cursor [128], char day [128])
{
    snprintf (rate, 128, "mg:fq:%s:rate", spec->provider);
    snprintf (cursor, 128, "mg:fq:%s:cursor", spec->provider);
    snprintf (day, 128, "mg:fq:%s:day", spec->provider);
}

//  Integer element i of an array reply, or fallback.
static int64_t
s_int (const redisReply *reply, size_t i, int64_t fallback)
{
    if (reply->type != REDIS_REPLY_ARRAY || i >= reply->elements
    ||  reply->element [i]->type != REDIS_REPLY_INTEGER)
        return fallback;
    return reply->element [i]->integer;
}

int
quota_take (mg_redis_t *redis, const quota_spec_t *spec, int64_t cost,
            quota_grant_t *grant, char *why, size_t whylen)
{
    assert (redis && spec && grant && why);
    if (spec->keys < 1 || spec->keys > QUOTA_KEYS_MAX || cost < 1
    ||  (spec->rate_limit > 0 && spec->rate_window_ms < 1)) {
        snprintf (why, whylen, "bad quota for %s", spec->provider);
        return -1;
    }
    if (spec->rate_limit == 0 && spec->daily_units == 0) {
        //  Nothing to count: no round trip.
        *grant = (quota_grant_t) { .granted = true, .key_index = 0, .units_left = -1 };
        return 0;
    }
    char rate [128], cursor [128], day [128];
    s_keys (spec, rate, cursor, day);
    char args [5][24];
    snprintf (args [0], 24, "%lld", (long long) spec->rate_limit);
    snprintf (args [1], 24, "%lld", (long long) spec->rate_window_ms);
    snprintf (args [2], 24, "%lld", (long long) spec->daily_units);
    snprintf (args [3], 24, "%d", spec->keys);
    snprintf (args [4], 24, "%lld", (long long) cost);
    const char *keys [] = { rate, cursor, day };
    const char *argv [] = { args [0], args [1], args [2], args [3], args [4] };
    redisReply *reply = mg_redis_eval (redis, s_take, 3, keys, 5, argv, why, whylen);
    if (!reply)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
        freeReplyObject (reply);
        snprintf (why, whylen, "quota script: unexpected reply");
        return -1;
    }
    grant->granted = s_int (reply, 0, 0) == 1;
    grant->key_index = (int) s_int (reply, 1, -1);
    grant->wait_ms = s_int (reply, 2, 0);
    grant->exhausted = s_int (reply, 3, 0) == 1;
    grant->units_left = s_int (reply, 4, -1);
    freeReplyObject (reply);
    return 0;
}

int
quota_exhaust (mg_redis_t *redis, const quota_spec_t *spec, int key_index,
               char *why, size_t whylen)
{
    assert (redis && spec && why);
    if (spec->daily_units <= 0 || key_index < 0 || key_index >= spec->keys) {
        snprintf (why, whylen, "%s key %d has no daily quota", spec->provider, key_index);
        return -1;
    }
    char rate [128], cursor [128], day [128];
    s_keys (spec, rate, cursor, day);
    char args [3][24];
    snprintf (args [0], 24, "%lld", (long long) spec->daily_units);
    snprintf (args [1], 24, "%d", spec->keys);
    snprintf (args [2], 24, "%d", key_index);
    const char *keys [] = { cursor, day };
    const char *argv [] = { args [0], args [1], args [2] };
    redisReply *reply = mg_redis_eval (redis, s_exhaust, 2, keys, 3, argv, why, whylen);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int64_t
quota_used_today (mg_redis_t *redis, const quota_spec_t *spec, int key_index)
{
    assert (redis && spec);
    char rate [128], cursor [128], day [128], index [16], why [FETCHER_WHY_LEN];
    s_keys (spec, rate, cursor, day);
    snprintf (index, sizeof index, "%d", key_index);
    const char *keys [] = { day };
    const char *argv [] = { index };
    redisReply *reply = mg_redis_eval (redis, s_used, 1, keys, 1, argv, why, sizeof why);
    if (!reply)
        return -1;
    int64_t used = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject (reply);
    return used;
}
