/*  The result cache's generation. The gateway caches search answers in
    Redis under keys that carry the catalog generation: the sequence numbers
    of the last content.changed and availability.changed events applied.
    Each replica, once it has applied events, raises <prefix>gen to its
    numbers (a script keeps the larger of each, so a replica that lags
    never lowers it). A gateway that reads generation G stores an answer
    under G only when the replica that answered had applied at least G, so
    a page from before a change is never stored under a key read after it.
    A failed publish is retried on the follower's next turn: until then the
    gateway keeps reading the old generation, whose entries expire by TTL. */
#include "search.h"
#include "mg_config.h"
#include "mg_log.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX_MAX 64          //  bytes of MG_SEARCH_CACHE_PREFIX

//  KEYS[1]: the generation key; ARGV: content and availability numbers.
static const char s_raise [] =
    "local cur = redis.call('GET', KEYS[1]) or '0.0'\n"
    "local c, a = string.match(cur, '^(%d+)%.(%d+)$')\n"
    "c = tonumber(c) or 0\n"
    "a = tonumber(a) or 0\n"
    "local nc, na = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "if nc > c then c = nc end\n"
    "if na > a then a = na end\n"
    "local new = string.format('%d.%d', c, a)\n"
    "if new ~= cur then redis.call('SET', KEYS[1], new) end\n"
    "return new\n";

struct search_gen_t {
    char host [256];
    int port, db;
    struct timeval timeout;
    char key [PREFIX_MAX + 8];
    redisContext *redis;
    uint64_t published [SEARCH_STREAMS];
    bool done;                 //  published holds what Redis was told last
    bool down;                 //  the last try failed (logged once)
};

search_gen_t *
search_gen_new (void)
{
    search_gen_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    const char *url = mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:6379");
    const char *prefix = mg_config_str ("MG_SEARCH_CACHE_PREFIX", "search:");
    int64_t timeout_ms = mg_config_int ("MG_REDIS_TIMEOUT_MS", 200, 1, 60000);
    if (mg_config_redis_url (url, self->host, sizeof self->host, &self->port, &self->db)
    ||  strlen (prefix) > PREFIX_MAX) {
        mg_warn ("the result cache's generation is not published: bad MG_REDIS_URL or MG_SEARCH_CACHE_PREFIX", NULL);
        free (self);
        return NULL;
    }
    snprintf (self->key, sizeof self->key, "%sgen", prefix);
    self->timeout.tv_sec = timeout_ms / 1000;
    self->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    return self;
}

void
search_gen_destroy (search_gen_t **self_p)
{
    if (self_p && *self_p) {
        if ((*self_p)->redis)
            redisFree ((*self_p)->redis);
        free (*self_p);
        *self_p = NULL;
    }
}

//  One command's reply, reconnecting once when the connection is gone.
static redisReply *
s_command (search_gen_t *self, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!self->redis) {
            self->redis = redisConnectWithTimeout (self->host, self->port, self->timeout);
            if (self->redis && !self->redis->err && redisSetTimeout (self->redis, self->timeout) == REDIS_OK
            &&  self->db) {
                redisReply *r = redisCommand (self->redis, "SELECT %d", self->db);
                if (!r || r->type == REDIS_REPLY_ERROR)
                    self->redis->err = REDIS_ERR_OTHER;
                freeReplyObject (r);
            }
            if (!self->redis || self->redis->err) {
                if (self->redis)
                    redisFree (self->redis);
                self->redis = NULL;
                return NULL;
            }
        }
        va_list args;
        va_start (args, fmt);
        redisReply *reply = redisvCommand (self->redis, fmt, args);
        va_end (args);
        if (reply)
            return reply;
        redisFree (self->redis);
        self->redis = NULL;
    }
    return NULL;
}

int
search_gen_publish (search_gen_t *self, const uint64_t applied [SEARCH_STREAMS])
{
    if (!self)
        return 0;
    if (self->done && memcmp (self->published, applied, sizeof self->published) == 0)
        return 0;
    char c [24], a [24];
    snprintf (c, sizeof c, "%llu", (unsigned long long) applied [0]);
    snprintf (a, sizeof a, "%llu", (unsigned long long) applied [1]);
    redisReply *reply = s_command (self, "EVAL %s 1 %s %s %s", s_raise, self->key, c, a);
    bool ok = reply && reply->type == REDIS_REPLY_STRING;
    if (ok) {
        memcpy (self->published, applied, sizeof self->published);
        self->done = true;
        if (self->down)
            mg_info ("result cache generation published again", "generation=%s", reply->str);
        self->down = false;
    }
    else
    if (!self->down) {
        self->down = true;
        mg_warn ("cannot publish the result cache generation (retrying)", "reason=\"%s\"",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "Redis unreachable");
    }
    freeReplyObject (reply);
    return ok ? 0 : -1;
}
