/*  GCRA state in Redis: one Lua script decides both windows atomically.

    Why a script: a decision reads two theoretical arrival times (TATs),
    compares them with the time, and writes both only when both windows
    admit. Done as separate commands, two gateways could both read the old
    state and both be admitted; a script runs alone in Redis. Its clock is
    Redis's TIME, so gateways and actors on hosts with skewed clocks still
    agree. (Redis 7 replicates a script's effects, not the script, so TIME
    before a write is allowed.)

    The script is loaded once (SCRIPT LOAD) and then called by its SHA1 with
    EVALSHA, which sends 40 bytes instead of the script. A Redis restart or
    SCRIPT FLUSH empties Redis's script cache: EVALSHA then answers NOSCRIPT
    and the script is loaded again, once, before the same call is retried.
    A lost connection is reopened once per decision; when that fails the
    caller gets an error (and the gateway fails open or closed).  */
#include "ratelimit.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_PREFIX  "mg:rl:"        //  mg:rl:<tier>:<client>, a hash {s, m} of TATs in us

//  KEYS[1]: the client's state. ARGV: T and tau of the per-second window,
//  then of the per-minute window, in microseconds.
//  Returns {allowed, remaining_s, remaining_m, reset_s_ms, reset_m_ms,
//  retry_s_ms, retry_m_ms}.
static const char s_script [] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local stored = redis.call('HMGET', KEYS[1], 's', 'm')\n"
    "local tat, wait = {}, {}\n"
    "local allowed = 1\n"
    "for i = 1, 2 do\n"
    "  local tau = tonumber(ARGV[2 * i])\n"
    "  local v = tonumber(stored[i]) or now\n"
    "  if v < now then v = now end\n"
    "  tat[i] = v\n"
    "  wait[i] = v - tau - now\n"
    "  if wait[i] > 0 then allowed = 0 else wait[i] = 0 end\n"
    "end\n"
    "local out = {allowed, 0, 0, 0, 0, math.ceil(wait[1] / 1000), math.ceil(wait[2] / 1000)}\n"
    "local ttl = 1\n"
    "for i = 1, 2 do\n"
    "  local period = tonumber(ARGV[2 * i - 1])\n"
    "  local tau = tonumber(ARGV[2 * i])\n"
    "  if allowed == 1 then tat[i] = tat[i] + period end\n"
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
    char host [256];
    int port;
    int db;
    struct timeval timeout;
    redisContext *redis;
    char sha [41];                  //  empty until loaded on this connection's server
    uint64_t loads;
};

rl_store_t *
rl_store_new (const char *url, int timeout_ms)
{
    assert (url);
    rl_store_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (mg_config_redis_url (url, self->host, sizeof self->host, &self->port, &self->db)) {
        mg_error ("bad Redis URL (redis://host:port[/db])", NULL);
        free (self);
        return NULL;
    }
    self->timeout.tv_sec = timeout_ms / 1000;
    self->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    return self;
}

void
rl_store_destroy (rl_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        rl_store_t *self = *self_p;
        if (self->redis)
            redisFree (self->redis);
        free (self);
        *self_p = NULL;
    }
}

uint64_t
rl_store_loads (rl_store_t *self)
{
    assert (self);
    return self->loads;
}

//  Drop the connection (a NULL reply: it is unusable now).
static void
s_drop (rl_store_t *self)
{
    if (self->redis)
        redisFree (self->redis);
    self->redis = NULL;
    self->sha [0] = '\0';
}

//  Load the script; its SHA1 into self->sha. Returns 0 or -1 with why.
static int
s_load (rl_store_t *self, char *why, size_t whylen)
{
    redisReply *reply = redisCommand (self->redis, "SCRIPT LOAD %s", s_script);
    if (!reply || reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        snprintf (why, whylen, "SCRIPT LOAD failed: %s",
                  reply && reply->type == REDIS_REPLY_ERROR ? reply->str : self->redis->errstr);
        if (reply)
            freeReplyObject (reply);
        else
            s_drop (self);
        return -1;
    }
    memcpy (self->sha, reply->str, 40);
    self->sha [40] = '\0';
    self->loads++;
    freeReplyObject (reply);
    return 0;
}

int
rl_store_open (rl_store_t *self, char *why, size_t whylen)
{
    assert (self && why);
    if (self->redis && self->sha [0])
        return 0;
    if (!self->redis) {
        self->redis = redisConnectWithTimeout (self->host, self->port, self->timeout);
        if (!self->redis || self->redis->err) {
            snprintf (why, whylen, "cannot connect to Redis: %s",
                      self->redis ? self->redis->errstr : "out of memory");
            s_drop (self);
            return -1;
        }
        if (redisSetTimeout (self->redis, self->timeout) != REDIS_OK) {
            snprintf (why, whylen, "cannot set the Redis timeout");
            s_drop (self);
            return -1;
        }
        if (self->db) {
            redisReply *reply = redisCommand (self->redis, "SELECT %d", self->db);
            bool ok = reply && reply->type == REDIS_REPLY_STATUS;
            if (reply)
                freeReplyObject (reply);
            if (!ok) {
                snprintf (why, whylen, "SELECT failed");
                s_drop (self);
                return -1;
            }
        }
    }
    return s_load (self, why, whylen);
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
rl_store_check (rl_store_t *self, const rl_tier_t *tier, const char *client,
                rl_decision_t *decision, char *why, size_t whylen)
{
    assert (self && tier && client && decision && why);
    char key [256];
    snprintf (key, sizeof key, KEY_PREFIX "%s:%s", tier->name, client);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (rl_store_open (self, why, whylen))
            continue;
        redisReply *reply = redisCommand (self->redis, "EVALSHA %s 1 %s %lld %lld %lld %lld",
                                          self->sha, key,
                                          (long long) tier->period_s_us, (long long) tier->tau_s_us,
                                          (long long) tier->period_m_us, (long long) tier->tau_m_us);
        if (!reply) {
            snprintf (why, whylen, "lost the connection to Redis: %s", self->redis->errstr);
            s_drop (self);
            continue;
        }
        if (reply->type == REDIS_REPLY_ERROR && strncmp (reply->str, "NOSCRIPT", 8) == 0) {
            //  Redis restarted (or its scripts were flushed): load again.
            freeReplyObject (reply);
            mg_info ("Redis lost the script: loading it again", NULL);
            self->sha [0] = '\0';
            snprintf (why, whylen, "NOSCRIPT twice");
            continue;
        }
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 7) {
            snprintf (why, whylen, "unexpected reply from the script: %s",
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "wrong shape");
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
        freeReplyObject (reply);
        return 0;
    }
    return -1;
}
