/*  Leases for the scheduler's jobs: a refresh runs on one replica at a time.
    SET NX PX takes the lease with an expiry, so a holder that dies frees it
    after ttl_ms; only the holder's token releases it early (a script
    compares and deletes, so an expired-and-retaken lease is not freed by
    its old holder).  */
#include "fetcher.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char s_release [] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

int
lease_take (mg_redis_t *redis, const char *name, const char *token, int64_t ttl_ms,
            bool *taken, char *why, size_t whylen)
{
    assert (redis && name && token && taken && why);
    char key [160], ttl [24];
    snprintf (key, sizeof key, "mg:fl:%s", name);
    snprintf (ttl, sizeof ttl, "%lld", (long long) ttl_ms);
    const char *argv [] = { "SET", key, token, "NX", "PX", ttl };
    redisReply *reply = mg_redis_command (redis, 6, argv, why, whylen);
    if (!reply)
        return -1;
    *taken = reply->type == REDIS_REPLY_STATUS && strcmp (reply->str, "OK") == 0;
    freeReplyObject (reply);
    return 0;
}

int
lease_release (mg_redis_t *redis, const char *name, const char *token,
               char *why, size_t whylen)
{
    assert (redis && name && token && why);
    char key [160];
    snprintf (key, sizeof key, "mg:fl:%s", name);
    const char *keys [] = { key };
    const char *argv [] = { token };
    redisReply *reply = mg_redis_eval (redis, s_release, 1, keys, 1, argv, why, whylen);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

bool
schedule_due (int64_t last_ms, int64_t interval_ms, int64_t now_ms)
{
    return last_ms == 0 || now_ms - last_ms >= interval_ms;
}
