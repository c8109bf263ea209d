/*  THE synchronous Redis client of the actors (fetcher, ratelimit, the
    search replicas' generation publisher, the embedder's cache): connect
    with a timeout, a deadline per call, reconnection after a stall or a
    loss, scripts by SHA1 with NOSCRIPT handling. The gateway, which talks
    to Redis asynchronously on its libevent loops, guards its commands with
    its own timers (gateway/cache.c).  */
#ifndef MG_REDIS_H_INCLUDED
#define MG_REDIS_H_INCLUDED

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_redis_t mg_redis_t;

//  What a client has met since it was made (tests, logs, metrics).
typedef struct {
    uint64_t calls;                 //  commands, scripts and pipelines asked for
    uint64_t failures;              //  calls that returned no reply (timeouts included)
    uint64_t timeouts;              //  calls that ran out of their deadline
    uint64_t connects;              //  connections opened (the first one included)
    uint64_t script_loads;          //  SCRIPT LOADs (again after NOSCRIPT: restart, SCRIPT FLUSH)
    uint64_t refused;               //  calls refused at once while backing off
} mg_redis_stats_t;

//  A client of url (redis://host[:port][/db]); connects on first use.
//  Every call ends within timeout_ms, connecting and reconnecting
//  included. After a timeout, calls fail at once for backoff_ms (0: the
//  next call tries again), so a stalled Redis costs a caller one deadline
//  per backoff_ms, not one per call. NULL on a bad URL (logged).
//  Not thread-safe: one client per thread.
mg_redis_t *mg_redis_new (const char *url, int timeout_ms, int backoff_ms);
void mg_redis_destroy (mg_redis_t **self_p);


//  Run a command in argv form (NUL-terminated strings). Returns the reply
//  (caller frees with freeReplyObject), or NULL with why when Redis cannot
//  be used in time or answers with an error.
redisReply *mg_redis_command (mg_redis_t *self, int argc, const char **argv, char *why, size_t whylen);

//  The same with argument lengths (binary values).
redisReply *mg_redis_command_len (mg_redis_t *self, int argc, const char **argv, const size_t *argvlen,
                                  char *why, size_t whylen);

//  Run the Lua script source (a string that lives as long as the client)
//  with keys then args: EVALSHA, loading it again after NOSCRIPT. Returns
//  the reply, or NULL with why (error replies included).
redisReply *mg_redis_eval (mg_redis_t *self, const char *source, int nkeys, const char **keys,
                           int nargs, const char **args, char *why, size_t whylen);

//  Connect and load the script source unless done (at start, so that the
//  first call does not pay for it). Returns 0, or -1 with why.
int mg_redis_script_load (mg_redis_t *self, const char *source, char *why, size_t whylen);

//  Run the script source n times in one round trip (pipelining): call i
//  takes params [i * (nkeys + nargs) ...], its keys then its args.
//  replies [i] is call i's reply (caller frees), or NULL when Redis
//  answered it with an error. Returns 0, or -1 with why (every reply NULL)
//  when Redis cannot be used in time.
int mg_redis_eval_many (mg_redis_t *self, const char *source, size_t n, int nkeys, int nargs,
                        const char *const *params, redisReply **replies, char *why, size_t whylen);

//  The client's counters.
const mg_redis_stats_t *mg_redis_stats (mg_redis_t *self);

#endif
