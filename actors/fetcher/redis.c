/*  One Redis connection for the fetcher's modules. Commands go in argv
    form (binary-safe bodies); a lost connection is reopened once per
    command. Scripts run by SHA1 (EVALSHA sends 40 bytes, not the script)
    and are loaded again after NOSCRIPT, which a Redis restart or SCRIPT
    FLUSH causes.  */
#include "fetcher.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS_MAX 32                 //  EVALSHA sha nkeys + keys + args: the largest script call
#define SCRIPTS_MAX 8               //  distinct scripts the modules run

typedef struct {
    const char *source;
    char sha [41];                  //  empty until loaded
} s_script_t;

struct fetcher_redis_t {
    char host [256];
    int port;
    int db;
    struct timeval timeout;
    redisContext *conn;
    s_script_t scripts [SCRIPTS_MAX];
};

fetcher_redis_t *
fetcher_redis_new (const char *url, int timeout_ms)
{
    assert (url);
    fetcher_redis_t *self = calloc (1, sizeof *self);
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
fetcher_redis_destroy (fetcher_redis_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fetcher_redis_t *self = *self_p;
        if (self->conn)
            redisFree (self->conn);
        free (self);
        *self_p = NULL;
    }
}

//  Forget an unusable connection.
static void
s_drop (fetcher_redis_t *self)
{
    if (self->conn)
        redisFree (self->conn);
    self->conn = NULL;
}

//  Connect unless connected. Returns 0 or -1 with why.
static int
s_open (fetcher_redis_t *self, char *why, size_t whylen)
{
    if (self->conn)
        return 0;
    self->conn = redisConnectWithTimeout (self->host, self->port, self->timeout);
    if (!self->conn || self->conn->err) {
        snprintf (why, whylen, "cannot connect to Redis: %s",
                  self->conn ? self->conn->errstr : "out of memory");
        s_drop (self);
        return -1;
    }
    if (redisSetTimeout (self->conn, self->timeout) != REDIS_OK) {
        snprintf (why, whylen, "cannot set the Redis timeout");
        s_drop (self);
        return -1;
    }
    if (self->db) {
        redisReply *reply = redisCommand (self->conn, "SELECT %d", self->db);
        bool ok = reply && reply->type == REDIS_REPLY_STATUS;
        if (reply)
            freeReplyObject (reply);
        if (!ok) {
            snprintf (why, whylen, "SELECT %d failed", self->db);
            s_drop (self);
            return -1;
        }
    }
    return 0;
}

//  One command, reconnecting once; error replies are returned as they are.
static redisReply *
s_command (fetcher_redis_t *self, int argc, const char **argv, char *why, size_t whylen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_open (self, why, whylen))
            continue;
        redisReply *reply = redisCommandArgv (self->conn, argc, argv, NULL);
        if (reply)
            return reply;
        snprintf (why, whylen, "Redis connection lost: %s", self->conn->errstr);
        s_drop (self);
    }
    return NULL;
}

redisReply *
fetcher_redis_command (fetcher_redis_t *self, int argc, const char **argv, char *why, size_t whylen)
{
    assert (self && argv && why);
    redisReply *reply = s_command (self, argc, argv, why, whylen);
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        snprintf (why, whylen, "Redis %s: %s", argv [0], reply->str);
        freeReplyObject (reply);
        return NULL;
    }
    return reply;
}

//  The slot of script source (taken on first use), or NULL with why.
static s_script_t *
s_script (fetcher_redis_t *self, const char *source, char *why, size_t whylen)
{
    for (int i = 0; i < SCRIPTS_MAX; i++)
        if (self->scripts [i].source == source || !self->scripts [i].source) {
            self->scripts [i].source = source;
            return &self->scripts [i];
        }
    snprintf (why, whylen, "more than %d scripts", SCRIPTS_MAX);
    return NULL;
}

//  SCRIPT LOAD the script unless its SHA1 is known. Returns 0 or -1 with why.
static int
s_script_load (fetcher_redis_t *self, s_script_t *script, char *why, size_t whylen)
{
    if (script->sha [0])
        return 0;
    const char *load [] = { "SCRIPT", "LOAD", script->source };
    redisReply *reply = fetcher_redis_command (self, 3, load, why, whylen);
    if (!reply)
        return -1;
    bool ok = reply->type == REDIS_REPLY_STRING && reply->len == 40;
    if (ok)
        memcpy (script->sha, reply->str, 41);
    freeReplyObject (reply);
    if (!ok) {
        snprintf (why, whylen, "SCRIPT LOAD gave no SHA1");
        return -1;
    }
    return 0;
}

redisReply *
fetcher_redis_eval (fetcher_redis_t *self, const char *source, int nkeys, const char **keys,
                    int nargs, const char **args, char *why, size_t whylen)
{
    assert (self && source && why);
    if (nkeys < 0 || nargs < 0 || 3 + nkeys + nargs > ARGS_MAX) {
        snprintf (why, whylen, "too many script arguments");
        return NULL;
    }
    s_script_t *script = s_script (self, source, why, whylen);
    if (!script)
        return NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_script_load (self, script, why, whylen))
            return NULL;
        char count [16];
        snprintf (count, sizeof count, "%d", nkeys);
        const char *argv [ARGS_MAX];
        int argc = 0;
        argv [argc++] = "EVALSHA";
        argv [argc++] = script->sha;
        argv [argc++] = count;
        for (int i = 0; i < nkeys; i++)
            argv [argc++] = keys [i];
        for (int i = 0; i < nargs; i++)
            argv [argc++] = args [i];
        redisReply *reply = s_command (self, argc, argv, why, whylen);
        if (!reply)
            return NULL;
        if (reply->type == REDIS_REPLY_ERROR && strncmp (reply->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject (reply);
            script->sha [0] = '\0';
            continue;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            snprintf (why, whylen, "script failed: %s", reply->str);
            freeReplyObject (reply);
            return NULL;
        }
        return reply;
    }
    snprintf (why, whylen, "script not loadable");
    return NULL;
}

int
fetcher_redis_eval_many (fetcher_redis_t *self, const char *source, size_t n, int nkeys, int nargs,
                         const char *const *params, redisReply **replies, char *why, size_t whylen)
{
    assert (self && source && (n == 0 || (params && replies)) && why);
    if (nkeys < 0 || nargs < 0 || 3 + nkeys + nargs > ARGS_MAX) {
        snprintf (why, whylen, "too many script arguments");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        replies [i] = NULL;
    if (n == 0)
        return 0;
    s_script_t *script = s_script (self, source, why, whylen);
    if (!script || s_script_load (self, script, why, whylen) || s_open (self, why, whylen))
        return -1;
    char count [16];
    snprintf (count, sizeof count, "%d", nkeys);
    int per_call = nkeys + nargs;
    //  Every command into hiredis's output buffer, then the replies in
    //  order: the first redisGetReply writes the buffer in one go.
    for (size_t i = 0; i < n; i++) {
        const char *argv [ARGS_MAX];
        int argc = 0;
        argv [argc++] = "EVALSHA";
        argv [argc++] = script->sha;
        argv [argc++] = count;
        for (int j = 0; j < per_call; j++)
            argv [argc++] = params [i * (size_t) per_call + (size_t) j];
        if (redisAppendCommandArgv (self->conn, argc, argv, NULL) != REDIS_OK) {
            snprintf (why, whylen, "Redis pipeline: %s", self->conn->errstr);
            s_drop (self);
            return -1;
        }
    }
    bool noscript = false;
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply (self->conn, &reply) != REDIS_OK || !reply) {
            snprintf (why, whylen, "Redis connection lost: %s", self->conn->errstr);
            s_drop (self);
            for (size_t j = 0; j < i; j++)
                if (replies [j]) {
                    freeReplyObject (replies [j]);
                    replies [j] = NULL;
                }
            return -1;
        }
        redisReply *r = reply;
        if (r->type == REDIS_REPLY_ERROR) {
            noscript = noscript || strncmp (r->str, "NOSCRIPT", 8) == 0;
            freeReplyObject (r);
            r = NULL;
        }
        replies [i] = r;
    }
    if (noscript) {
        //  Redis lost the script (restart, SCRIPT FLUSH): the refused calls
        //  again one by one, which loads it again.
        script->sha [0] = '\0';
        for (size_t i = 0; i < n; i++)
            if (!replies [i]) {
                char ignored [FETCHER_WHY_LEN];
                replies [i] = fetcher_redis_eval (self, source, nkeys,
                                                  (const char **) params + i * (size_t) per_call, nargs,
                                                  (const char **) params + i * (size_t) per_call + nkeys,
                                                  ignored, sizeof ignored);
            }
    }
    return 0;
}
