/*  The synchronous Redis client (see mg_redis.h).

    Deadline: a call takes a deadline of timeout_ms when it starts, and
    every step - connecting, SELECT, SCRIPT LOAD, the command, a reconnect
    and retry - gets only the time left (connect timeout, then the socket's
    SO_RCVTIMEO/SO_SNDTIMEO through redisSetTimeout). hiredis reports a
    socket timeout as an I/O error; the context is then unusable (its
    reply stream is out of step), so it is freed and the next call that
    may try connects afresh.

    Stall or loss: a timeout means Redis is stalled (SIGSTOP, a long
    command, an unreachable host): the call fails, and calls then fail at
    once for backoff_ms so that callers do not queue one deadline each
    behind a Redis that does not answer. A connection closed under a
    command (Redis restarted, a client kill) is reopened and the command
    retried once, within the same deadline. A refused connection fails at
    once and is tried again by the next call.

    Scripts run by SHA1 (EVALSHA sends 40 bytes, not the script) and are
    loaded again after NOSCRIPT, which a Redis restart or SCRIPT FLUSH
    causes.  */
#include "mg_redis.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARGS_MAX    32              //  EVALSHA sha nkeys + keys + args: the largest script call
#define SCRIPTS_MAX 8               //  distinct scripts one client runs
#define WHY_MAX     200             //  bytes of the last failure kept for refused calls

typedef struct {
    const char *source;
    char sha [41];                  //  empty until loaded
} s_script_t;

struct mg_redis_t {
    char host [256];
    int port, db;
    int timeout_ms, backoff_ms;
    redisContext *conn;             //  NULL: not connected
    int64_t retry_at_ms;            //  monotonic time before which calls are refused
    bool down;                      //  an outage was logged
    char last_why [WHY_MAX];
    s_script_t scripts [SCRIPTS_MAX];
    mg_redis_stats_t stats;
};

static struct timeval
s_timeval (int64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t) (ms / 1000), .tv_usec = (suseconds_t) (ms % 1000) * 1000 };
    return tv;
}

mg_redis_t *
mg_redis_new (const char *url, int timeout_ms, int backoff_ms)
{
    assert (url && timeout_ms > 0 && backoff_ms >= 0);
    mg_redis_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (mg_config_redis_url (url, self->host, sizeof self->host, &self->port, &self->db)) {
        mg_error ("bad Redis URL (redis://host[:port][/db])", "url=%s", url);
        free (self);
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->backoff_ms = backoff_ms;
    return self;
}

void
mg_redis_destroy (mg_redis_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mg_redis_t *self = *self_p;
        if (self->conn)
            redisFree (self->conn);
        free (self);
        *self_p = NULL;
    }
}

const mg_redis_stats_t *
mg_redis_stats (mg_redis_t *self)
{
    assert (self);
    return &self->stats;
}

//  Redis could not be used for this call: forget the connection, back
//  off after a timeout (a refused connection costs nothing to retry), log
//  the outage once.
static void
s_unusable (mg_redis_t *self, bool timed_out, const char *why)
{
    if (self->conn)
        redisFree (self->conn);
    self->conn = NULL;
    self->stats.failures++;
    if (timed_out) {
        self->stats.timeouts++;
        self->retry_at_ms = zclock_mono () + self->backoff_ms;
    }
    snprintf (self->last_why, sizeof self->last_why, "%s", why);
    if (!self->down)
        mg_warn ("Redis unavailable", "host=%s port=%d reason=\"%s\"", self->host, self->port, why);
    self->down = true;
}

//  Redis answered: end a logged outage.
static void
s_answered (mg_redis_t *self)
{
    if (self->down)
        mg_info ("Redis reachable again", "host=%s port=%d", self->host, self->port);
    self->down = false;
}

//  Whether the failed command on conn ran out of time (rather than lost
//  its connection): hiredis turns a socket timeout into an I/O error.
static bool
s_timed_out (const redisContext *conn, int64_t deadline)
{
    return (conn->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        || zclock_mono () >= deadline;
}

//  Start a call: its deadline, or -1 with why while backing off.
static int
s_begin (mg_redis_t *self, int64_t *deadline, char *why, size_t whylen)
{
    self->stats.calls++;
    int64_t now = zclock_mono ();
    if (now < self->retry_at_ms) {
        self->stats.refused++;
        self->stats.failures++;
        snprintf (why, whylen, "Redis unavailable (retried in %lld ms): %s",
                  (long long) (self->retry_at_ms - now), self->last_why);
        return -1;
    }
    *deadline = now + self->timeout_ms;
    return 0;
}

//  Give the connection's socket the time left until deadline. Returns 0,
//  or -1 with why (and the call given up) when none is left.
static int
s_arm (mg_redis_t *self, int64_t deadline, char *why, size_t whylen)
{
    int64_t left = deadline - zclock_mono ();
    if (left <= 0) {
        snprintf (why, whylen, "Redis did not answer within %d ms", self->timeout_ms);
        s_unusable (self, true, why);
        return -1;
    }
    if (redisSetTimeout (self->conn, s_timeval (left)) != REDIS_OK) {
        snprintf (why, whylen, "cannot set the Redis timeout");
        s_unusable (self, false, why);
        return -1;
    }
    return 0;
}

//  Connect unless connected, within deadline. Returns 0 or -1 with why.
static int
s_open (mg_redis_t *self, int64_t deadline, char *why, size_t whylen)
{
    if (self->conn)
        return 0;
    int64_t left = deadline - zclock_mono ();
    if (left <= 0) {
        snprintf (why, whylen, "Redis did not answer within %d ms", self->timeout_ms);
        s_unusable (self, true, why);
        return -1;
    }
    self->conn = redisConnectWithTimeout (self->host, self->port, s_timeval (left));
    if (!self->conn || self->conn->err) {
        bool timed_out = self->conn && s_timed_out (self->conn, deadline);
        snprintf (why, whylen, "cannot connect to Redis at %s:%d: %s", self->host, self->port,
                  self->conn ? self->conn->errstr : "out of memory");
        s_unusable (self, timed_out, why);
        return -1;
    }
    self->stats.connects++;
    if (self->db) {
        if (s_arm (self, deadline, why, whylen))
            return -1;
        redisReply *reply = redisCommand (self->conn, "SELECT %d", self->db);
        bool ok = reply && reply->type == REDIS_REPLY_STATUS;
        bool timed_out = !reply && s_timed_out (self->conn, deadline);
        if (reply)
            freeReplyObject (reply);
        if (!ok) {
            snprintf (why, whylen, "SELECT %d failed", self->db);
            s_unusable (self, timed_out, why);
            return -1;
        }
    }
    return 0;
}

//  One command within deadline, retried once on a fresh connection when
//  the connection was lost under it. Error replies are returned as they are.
static redisReply *
s_command (mg_redis_t *self, int64_t deadline, int argc, const char **argv, const size_t *argvlen,
           char *why, size_t whylen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_open (self, deadline, why, whylen) || s_arm (self, deadline, why, whylen))
            return NULL;
        redisReply *reply = redisCommandArgv (self->conn, argc, argv, argvlen);
        if (reply) {
            s_answered (self);
            return reply;
        }
        bool timed_out = s_timed_out (self->conn, deadline);
        if (timed_out)
            snprintf (why, whylen, "Redis did not answer %s within %d ms", argv [0], self->timeout_ms);
        else
            snprintf (why, whylen, "Redis connection lost: %s", self->conn->errstr);
        if (timed_out || attempt == 1) {
            s_unusable (self, timed_out, why);
            return NULL;
        }
        redisFree (self->conn);
        self->conn = NULL;
    }
    return NULL;
}

redisReply *
mg_redis_command_len (mg_redis_t *self, int argc, const char **argv, const size_t *argvlen,
                      char *why, size_t whylen)
{
    assert (self && argc > 0 && argv && why);
    int64_t deadline;
    if (s_begin (self, &deadline, why, whylen))
        return NULL;
    redisReply *reply = s_command (self, deadline, argc, argv, argvlen, why, whylen);
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        snprintf (why, whylen, "Redis %s: %s", argv [0], reply->str);
        freeReplyObject (reply);
        return NULL;
    }
    return reply;
}

redisReply *
mg_redis_command (mg_redis_t *self, int argc, const char **argv, char *why, size_t whylen)
{
    return mg_redis_command_len (self, argc, argv, NULL, why, whylen);
}

//  The slot of script source (taken on first use), or NULL with why.
static s_script_t *
s_script (mg_redis_t *self, const char *source, char *why, size_t whylen)
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
s_script_load (mg_redis_t *self, int64_t deadline, s_script_t *script, char *why, size_t whylen)
{
    if (script->sha [0])
        return 0;
    const char *load [] = { "SCRIPT", "LOAD", script->source };
    redisReply *reply = s_command (self, deadline, 3, load, NULL, why, whylen);
    if (!reply)
        return -1;
    bool ok = reply->type == REDIS_REPLY_STRING && reply->len == 40;
    if (ok) {
        memcpy (script->sha, reply->str, 40);
        script->sha [40] = '\0';
        self->stats.script_loads++;
    }
    else
        snprintf (why, whylen, "SCRIPT LOAD failed: %s",
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "no SHA1");
    freeReplyObject (reply);
    return ok ? 0 : -1;
}

//  EVALSHA argv for one call of script into argv; its argc.
static int
s_evalsha_argv (const s_script_t *script, char count [16], int nkeys, const char *const *keys,
                int nargs, const char *const *args, const char **argv)
{
    snprintf (count, 16, "%d", nkeys);
    int argc = 0;
    argv [argc++] = "EVALSHA";
    argv [argc++] = script->sha;
    argv [argc++] = count;
    for (int i = 0; i < nkeys; i++)
        argv [argc++] = keys [i];
    for (int i = 0; i < nargs; i++)
        argv [argc++] = args [i];
    return argc;
}

//  One script call within deadline, loading the script again after NOSCRIPT.
static redisReply *
s_eval (mg_redis_t *self, int64_t deadline, s_script_t *script, int nkeys, const char *const *keys,
        int nargs, const char *const *args, char *why, size_t whylen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_script_load (self, deadline, script, why, whylen))
            return NULL;
        char count [16];
        const char *argv [ARGS_MAX];
        int argc = s_evalsha_argv (script, count, nkeys, keys, nargs, args, argv);
        redisReply *reply = s_command (self, deadline, argc, argv, NULL, why, whylen);
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
    snprintf (why, whylen, "script not loadable (NOSCRIPT after SCRIPT LOAD)");
    return NULL;
}

int
mg_redis_script_load (mg_redis_t *self, const char *source, char *why, size_t whylen)
{
    assert (self && source && why);
    s_script_t *script = s_script (self, source, why, whylen);
    int64_t deadline;
    if (!script || s_begin (self, &deadline, why, whylen))
        return -1;
    return s_script_load (self, deadline, script, why, whylen);
}

redisReply *
mg_redis_eval (mg_redis_t *self, const char *source, int nkeys, const char **keys,
               int nargs, const char **args, char *why, size_t whylen)
{
    assert (self && source && why);
    if (nkeys < 0 || nargs < 0 || 3 + nkeys + nargs > ARGS_MAX) {
        snprintf (why, whylen, "too many script arguments");
        return NULL;
    }
    s_script_t *script = s_script (self, source, why, whylen);
    int64_t deadline;
    if (!script || s_begin (self, &deadline, why, whylen))
        return NULL;
    return s_eval (self, deadline, script, nkeys, keys, nargs, args, why, whylen);
}

//  Free replies [0 .. n) and set them to NULL.
static void
s_free_replies (redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (replies [i]) {
            freeReplyObject (replies [i]);
            replies [i] = NULL;
        }
}

int
mg_redis_eval_many (mg_redis_t *self, const char *source, size_t n, int nkeys, int nargs,
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
    int64_t deadline;
    if (!script || s_begin (self, &deadline, why, whylen)
    ||  s_script_load (self, deadline, script, why, whylen)
    ||  s_open (self, deadline, why, whylen))
        return -1;
    int per_call = nkeys + nargs;
    //  Every command into hiredis's output buffer, then the replies in
    //  order: the first redisGetReply writes the buffer in one go.
    for (size_t i = 0; i < n; i++) {
        const char *const *call = params + i * (size_t) per_call;
        char count [16];
        const char *argv [ARGS_MAX];
        int argc = s_evalsha_argv (script, count, nkeys, call, nargs, call + nkeys, argv);
        if (redisAppendCommandArgv (self->conn, argc, argv, NULL) != REDIS_OK) {
            snprintf (why, whylen, "Redis pipeline: %s", self->conn->errstr);
            s_unusable (self, false, why);
            return -1;
        }
    }
    bool noscript = false;
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        if (s_arm (self, deadline, why, whylen)) {
            s_free_replies (replies, i);
            return -1;
        }
        if (redisGetReply (self->conn, &reply) != REDIS_OK || !reply) {
            bool timed_out = s_timed_out (self->conn, deadline);
            if (timed_out)
                snprintf (why, whylen, "Redis did not answer a pipeline within %d ms", self->timeout_ms);
            else
                snprintf (why, whylen, "Redis connection lost: %s", self->conn->errstr);
            s_unusable (self, timed_out, why);
            s_free_replies (replies, i);
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
    s_answered (self);
    if (noscript) {
        //  Redis lost the script (restart, SCRIPT FLUSH): the refused calls
        //  again one by one, which loads it again, within the same deadline.
        script->sha [0] = '\0';
        for (size_t i = 0; i < n && self->conn; i++)
            if (!replies [i]) {
                const char *const *call = params + i * (size_t) per_call;
                char ignored [WHY_MAX];
                replies [i] = s_eval (self, deadline, script, nkeys, call, nargs, call + nkeys,
                                      ignored, sizeof ignored);
            }
    }
    return 0;
}
