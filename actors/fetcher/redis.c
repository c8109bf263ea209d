/*  One Redis connection for the fetcher's modules. Commands go in argv
    form (binary-safe bodies); a lost connection is reopened once per
    command. Scripts run by SHA1 (EVALSHA sends 40 bytes, not the script)
    and are loaded again after NOSCRIPT, which a Redis restart or SCRIPT
    FLUSH causes.  */
#include "fetcher.h"
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

//  Parse redis://host[:port][/db]. Returns 0 or -1.
static int
s_parse_url (fetcher_redis_t *self, const char *url)
{
    static const char scheme [] = "redis://";
    if (strncmp (url, scheme, sizeof scheme - 1) != 0)
        return -1;
    const char *host = url + sizeof scheme - 1;
    size_t host_len = strcspn (host, ":/");
    if (host_len == 0 || host_len >= sizeof self->host)
        return -1;
    memcpy (self->host, host, host_len);
    self->host [host_len] = '\0';
    self->port = 6379;
    const char *p = host + host_len;
    if (*p == ':') {
        char *end;
        long port = strtol (p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return -1;
        self->port = (int) port;
        p = end;
    }
    if (*p == '/' && p [1]) {
        char *end;
        long db = strtol (p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 15)
            return -1;
        self->db = (int) db;
    }
    return 0;
}

fetcher_redis_t *
fetcher_redis_new (const char *url, int timeout_ms)
{
    assert (url);
    fetcher_redis_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (s_parse_url (self, url)) {
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

redisReply *
fetcher_redis_eval (fetcher_redis_t *self, const char *source, int nkeys, const char **keys,
                    int nargs, const char **args, char *why, size_t whylen)
{
    assert (self && source && why);
    if (nkeys < 0 || nargs < 0 || 3 + nkeys + nargs > ARGS_MAX) {
        snprintf (why, whylen, "too many script arguments");
        return NULL;
    }
    s_script_t *script = NULL;
    for (int i = 0; i < SCRIPTS_MAX && !script; i++) {
        if (self->scripts [i].source == source || !self->scripts [i].source) {
            script = &self->scripts [i];
            script->source = source;
        }
    }
    if (!script) {
        snprintf (why, whylen, "more than %d scripts", SCRIPTS_MAX);
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!script->sha [0]) {
            const char *load [] = { "SCRIPT", "LOAD", script->source };
            redisReply *reply = fetcher_redis_command (self, 3, load, why, whylen);
            if (!reply)
                return NULL;
            bool ok = reply->type == REDIS_REPLY_STRING && reply->len == 40;
            if (ok)
                memcpy (script->sha, reply->str, 41);
            freeReplyObject (reply);
            if (!ok) {
                snprintf (why, whylen, "SCRIPT LOAD gave no SHA1");
                return NULL;
            }
        }
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
