/*  The actors' Redis client (lib/mg_redis.h) against a redis-server of its
    own: a call ends within its deadline when Redis is stopped (SIGSTOP),
    backs off, and works again once Redis continues; a script survives
    SCRIPT FLUSH (NOSCRIPT, loaded again) and a Redis restart; a pipeline
    of script calls is bounded by the same deadline.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_redis.h"
#include "mg_test.h"

#define TIMEOUT_MS   200            //  the client's deadline per call
#define BACKOFF_MS   300            //  calls refused at once after a timeout
#define HANG_SLACK_MS 1000          //  a hang bound, not a speed claim: deadline + 1 s

typedef struct {
    int port;
    pid_t redis;
    bool stopped;                   //  SIGSTOPped: SIGCONT before stopping it
    char url [64];
    mg_redis_t *client;
} fixture_t;

//  KEYS[1] incremented by ARGV[1]; its new value.
static const char s_incr [] = "return redis.call('INCRBY', KEYS[1], ARGV[1])\n";

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->port = mg_test_free_port ();
    f->redis = mg_test_redis_start (f->port);
    snprintf (f->url, sizeof f->url, "redis://127.0.0.1:%d", f->port);
    f->client = mg_redis_new (f->url, TIMEOUT_MS, BACKOFF_MS);
    return f->redis > 0 && f->client ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    if (f->stopped)
        mg_test_signal (f->redis, SIGCONT);
    if (f->redis > 0)
        mg_test_stop (f->redis, SIGTERM);
    mg_redis_destroy (&f->client);
    free (f);
    return 0;
}

//  SET key value through the client; 0 or -1.
static int
s_set (fixture_t *f, const char *key, const char *value)
{
    char why [256];
    const char *argv [] = { "SET", key, value };
    redisReply *reply = mg_redis_command (f->client, 3, argv, why, sizeof why);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

//  The script s_incr on key by 1 through the client: the value, or -1.
static long long
s_eval_incr (fixture_t *f, const char *key)
{
    char why [256];
    const char *keys [] = { key };
    const char *args [] = { "1" };
    redisReply *reply = mg_redis_eval (f->client, s_incr, 1, keys, 1, args, why, sizeof why);
    if (!reply)
        return -1;
    long long value = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    freeReplyObject (reply);
    return value;
}

//  Retry s_set until it works or timeout_ms passes; 0 or -1.
static int
s_set_within (fixture_t *f, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (s_set (f, "mg:test:client", "again")) {
        if (mg_test_now_ms () >= until)
            return -1;
        usleep (50 * 1000);
    }
    return 0;
}

static void
test_a_stopped_redis_costs_one_deadline_then_the_client_reconnects (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_set (f, "mg:test:client", "1"), 0);
    assert_int_equal (mg_redis_stats (f->client)->connects, 1);
    assert_int_equal (mg_test_signal (f->redis, SIGSTOP), 0);
    f->stopped = true;
    int64_t start = mg_test_now_ms ();
    assert_int_equal (s_set (f, "mg:test:client", "2"), -1);
    int64_t took = mg_test_now_ms () - start;
    assert_true (took < TIMEOUT_MS + HANG_SLACK_MS);
    assert_int_equal (mg_redis_stats (f->client)->timeouts, 1);
    //  Within the back-off, calls fail without waiting for Redis.
    start = mg_test_now_ms ();
    assert_int_equal (s_set (f, "mg:test:client", "3"), -1);
    assert_true (mg_test_now_ms () - start < HANG_SLACK_MS);
    assert_int_equal (mg_redis_stats (f->client)->refused, 1);
    //  A script call and a pipeline are bounded the same way.
    usleep ((BACKOFF_MS + 50) * 1000);
    start = mg_test_now_ms ();
    assert_int_equal (s_eval_incr (f, "mg:test:counter"), -1);
    assert_true (mg_test_now_ms () - start < TIMEOUT_MS + HANG_SLACK_MS);
    usleep ((BACKOFF_MS + 50) * 1000);
    const char *params [] = { "mg:test:a", "1", "mg:test:b", "1" };
    redisReply *replies [2];
    char why [256];
    start = mg_test_now_ms ();
    assert_int_equal (mg_redis_eval_many (f->client, s_incr, 2, 1, 1, params, replies, why, sizeof why), -1);
    assert_true (mg_test_now_ms () - start < TIMEOUT_MS + HANG_SLACK_MS);
    assert_null (replies [0]);
    assert_true (mg_redis_stats (f->client)->timeouts >= 2);
    //  Redis continues: a new connection, and the commands work.
    assert_int_equal (mg_test_signal (f->redis, SIGCONT), 0);
    f->stopped = false;
    assert_int_equal (s_set_within (f, 5000), 0);
    assert_true (mg_redis_stats (f->client)->connects >= 2);
    redisReply *reply = mg_redis_command (f->client, 2, (const char *[]) { "GET", "mg:test:client" },
                                          why, sizeof why);
    assert_non_null (reply);
    assert_string_equal (reply->str, "again");
    freeReplyObject (reply);
}

static void
test_a_script_is_loaded_again_after_script_flush_and_a_restart (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_eval_incr (f, "mg:test:counter"), 1);
    assert_int_equal (mg_redis_stats (f->client)->script_loads, 1);
    assert_int_equal (s_eval_incr (f, "mg:test:counter"), 2);
    assert_int_equal (mg_redis_stats (f->client)->script_loads, 1);
    //  SCRIPT FLUSH: NOSCRIPT, loaded again, the same call retried.
    redisContext *admin = redisConnect ("127.0.0.1", f->port);
    assert_true (admin && !admin->err);
    redisReply *r = redisCommand (admin, "SCRIPT FLUSH");
    assert_non_null (r);
    freeReplyObject (r);
    assert_int_equal (s_eval_incr (f, "mg:test:counter"), 3);
    assert_int_equal (mg_redis_stats (f->client)->script_loads, 2);
    //  ... and in a pipeline: the refused calls again one by one.
    r = redisCommand (admin, "SCRIPT FLUSH");
    assert_non_null (r);
    freeReplyObject (r);
    redisFree (admin);
    const char *params [] = { "mg:test:a", "1", "mg:test:a", "1" };
    redisReply *replies [2];
    char why [256];
    assert_int_equal (mg_redis_eval_many (f->client, s_incr, 2, 1, 1, params, replies, why, sizeof why), 0);
    assert_non_null (replies [0]);
    assert_non_null (replies [1]);
    assert_int_equal (replies [0]->integer + replies [1]->integer, 3);
    freeReplyObject (replies [0]);
    freeReplyObject (replies [1]);
    assert_int_equal (mg_redis_stats (f->client)->script_loads, 3);
    //  Redis restarted (empty, no scripts): the lost connection is reopened
    //  within the call, the script loaded again.
    mg_test_stop (f->redis, SIGTERM);
    f->redis = mg_test_redis_start (f->port);
    assert_true (f->redis > 0);
    uint64_t connects = mg_redis_stats (f->client)->connects;
    assert_int_equal (s_eval_incr (f, "mg:test:counter"), 1);
    assert_int_equal (mg_redis_stats (f->client)->connects, connects + 1);
    assert_int_equal (mg_redis_stats (f->client)->script_loads, 4);
}

static void
test_redis_down_fails_at_once_without_back_off (void **state)
{
    fixture_t *f = *state;
    mg_test_stop (f->redis, SIGTERM);
    f->redis = -1;
    int64_t start = mg_test_now_ms ();
    assert_int_equal (s_set (f, "mg:test:client", "1"), -1);
    assert_true (mg_test_now_ms () - start < TIMEOUT_MS + HANG_SLACK_MS);
    assert_int_equal (mg_redis_stats (f->client)->timeouts, 0);
    //  A refused connection is no stall: the next call tries again.
    f->redis = mg_test_redis_start (f->port);
    assert_true (f->redis > 0);
    assert_int_equal (s_set (f, "mg:test:client", "1"), 0);
    assert_int_equal (mg_redis_stats (f->client)->refused, 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_stopped_redis_costs_one_deadline_then_the_client_reconnects,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_script_is_loaded_again_after_script_flush_and_a_restart,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_redis_down_fails_at_once_without_back_off, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
