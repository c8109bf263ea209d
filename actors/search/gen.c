/*  The result cache's generation. The gateway caches search answers in
    Redis under keys that carry the catalog generation: the sequence numbers
    of the last content.changed and availability.changed events applied.
    Each replica, once it has applied events, raises <prefix>gen to its
    numbers (a script keeps the larger of each, so a replica that lags
    never lowers it). A gateway that reads generation G stores an answer
    under G only when the replica that answered had applied at least G, so
    a page from before a change is never stored under a key read after it.
    A failed publish is retried on the follower's next turn: until then the
    gateway keeps reading the old generation, whose entries expire by TTL.
    Each publish is bounded by MG_REDIS_TIMEOUT_MS (lib/mg_redis.h); after
    a timeout, publishes are skipped for BACKOFF_MS so that a stalled Redis
    does not hold up the follower once per turn. */
#include "search.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX_MAX 64          //  bytes of MG_SEARCH_CACHE_PREFIX
#define BACKOFF_MS 1000        //  after a Redis timeout, publishes wait this long

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
    char key [PREFIX_MAX + 8];
    mg_redis_t *redis;
    uint64_t published [SEARCH_STREAMS];
    bool done;                 //  published holds what Redis was told last
    bool down;                 //  the last try failed (logged once)
};

search_gen_t *
search_gen_new (void)
{
    const char *url = mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:6379");
    const char *prefix = mg_config_str ("MG_SEARCH_CACHE_PREFIX", "search:");
    int64_t timeout_ms = mg_config_int ("MG_REDIS_TIMEOUT_MS", 200, 1, 60000);
    if (strlen (prefix) > PREFIX_MAX) {
        mg_warn ("the result cache's generation is not published: MG_SEARCH_CACHE_PREFIX is too long", NULL);
        return NULL;
    }
    search_gen_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->redis = mg_redis_new (url, (int) timeout_ms, BACKOFF_MS);
    if (!self->redis) {
        mg_warn ("the result cache's generation is not published: bad MG_REDIS_URL", NULL);
        free (self);
        return NULL;
    }
    snprintf (self->key, sizeof self->key, "%sgen", prefix);
    return self;
}

void
search_gen_destroy (search_gen_t **self_p)
{
    if (self_p && *self_p) {
        mg_redis_destroy (&(*self_p)->redis);
        free (*self_p);
        *self_p = NULL;
    }
}

int
search_gen_publish (search_gen_t *self, const uint64_t applied [SEARCH_STREAMS])
{
    if (!self)
        return 0;
    if (self->done && memcmp (self->published, applied, sizeof self->published) == 0)
        return 0;
    char c [24], a [24], why [256];
    snprintf (c, sizeof c, "%llu", (unsigned long long) applied [0]);
    snprintf (a, sizeof a, "%llu", (unsigned long long) applied [1]);
    const char *keys [] = { self->key };
    const char *args [] = { c, a };
    redisReply *reply = mg_redis_eval (self->redis, s_raise, 1, keys, 2, args, why, sizeof why);
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
                 reply ? "unexpected reply" : why);
    }
    if (reply)
        freeReplyObject (reply);
    return ok ? 0 : -1;
}
