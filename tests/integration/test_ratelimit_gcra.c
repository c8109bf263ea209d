/*  ratelimit actor over a real broker and Redis: the GCRA admits exactly
    what the arithmetic says (burst, then the steady rate), both windows
    apply together, and the script survives SCRIPT FLUSH and a Redis
    restart (reloaded after NOSCRIPT / a lost connection).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_client.h"
#include "mg_test.h"

#define RUN_MS        3000          //  steady-rate phase of the exactness test
#define RATE_S        20            //  per-second limit of tier "pro" here: low enough that a
                                    //  loaded machine still calls at over twice the rate
#define REDIS_TIMEOUT_MS 200        //  MG_REDIS_TIMEOUT_MS of config/default.env
#define HANG_SLACK_MS 1000          //  a hang bound, not a speed claim

typedef struct {
    char text [6][128];
    const char *env [12];
    pid_t broker, ratelimit, redis;
    bool redis_stopped;             //  SIGSTOPped: SIGCONT before stopping it
    int redis_port;
    mg_client_t *client;
} fixture_t;

static fixture_t *
s_start (const char *redis_url)
{
    fixture_t *f = calloc (1, sizeof *f);
    int port = mg_test_free_port ();
    snprintf (f->text [0], 128, "MG_BROKER=tcp://127.0.0.1:%d", port);
    snprintf (f->text [1], 128, "MG_BROKER_BIND=tcp://127.0.0.1:%d", port);
    snprintf (f->text [2], 128, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->text [3], 128, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->text [4], 128, "MG_REDIS_URL=%s", redis_url);
    snprintf (f->text [5], 128, "MG_RATE_PRO=%d/s,1000000/m", RATE_S);
    for (int i = 0; i < 6; i++)
        f->env [i] = f->text [i];
    f->env [6] = "MG_RATE_ENTERPRISE=1000/s,30/m";
    f->env [7] = "MG_HEARTBEAT_MS=100";
    f->env [8] = "MG_RATE_ANONYMOUS=1000000/s,1000000/m";
    f->env [9] = NULL;
    f->broker = mg_test_spawn ("mg-broker", f->env);
    f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    f->client = mg_client_new (endpoint);
    return f;
}

static int
setup_shared (void **state)
{
    *state = s_start (getenv ("MG_REDIS_URL"));
    return 0;
}

static int
setup_own_redis (void **state)
{
    int port = mg_test_free_port ();
    pid_t redis = mg_test_redis_start (port);
    char url [64];
    snprintf (url, sizeof url, "redis://127.0.0.1:%d", port);
    fixture_t *f = s_start (url);
    f->redis = redis;
    f->redis_port = port;
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    mg_test_stop (f->ratelimit, SIGTERM);
    mg_test_stop (f->broker, SIGTERM);
    if (f->redis > 0 && f->redis_stopped)
        mg_test_signal (f->redis, SIGCONT);
    if (f->redis > 0)
        mg_test_stop (f->redis, SIGTERM);
    free (f);
    return 0;
}

//  One decision for up to want requests (0: the field not sent) of client
//  in tier; 0, or -1 with the error code in code.
static int
s_check_want (fixture_t *f, const char *client, const char *tier, uint64_t want,
              mg_ratelimit_reply_t *reply, char *code, size_t size)
{
    mg_ratelimit_request_t request = { .client = (char *) client, .tier = (char *) tier,
                                       .want = want, .has_want = want > 0 };
    mg_error_t err = { 0 };
    int rc = mg_client_call (f->client, "ratelimit.check", &mg_ratelimit_request_desc, &request,
                             &mg_ratelimit_reply_desc, reply, 2000, &err);
    if (rc && code)
        snprintf (code, size, "%s", err.code ? err.code : "?");
    mg_msg_clear (&mg_error_desc, &err);
    return rc;
}

//  One decision for one request of client in tier, as the gateway asked before leases.
static int
s_check (fixture_t *f, const char *client, const char *tier, mg_ratelimit_reply_t *reply,
         char *code, size_t size)
{
    return s_check_want (f, client, tier, 0, reply, code, size);
}

//  Call until the actor answers (it registers after start).
static void
s_wait_actor (fixture_t *f)
{
    int64_t until = mg_test_now_ms () + 10000;
    while (mg_test_now_ms () < until) {
        mg_ratelimit_reply_t reply;
        char code [64];
        if (s_check (f, "warmup", "free", &reply, code, sizeof code) == 0) {
            mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
            return;
        }
        usleep (50 * 1000);
    }
    fail_msg ("the ratelimit actor did not answer");
}

static void
test_burst_then_steady_rate_admits_exactly_the_gcra_count (void **state)
{
    fixture_t *f = *state;
    s_wait_actor (f);
    char client [64];
    snprintf (client, sizeof client, "user:exact-%d-%lld", (int) getpid (), (long long) mg_test_now_ms ());
    //  Burst: the first RATE_S calls at once are all admitted.
    int64_t start = mg_test_now_ms ();
    long admitted = 0, calls = 0;
    int64_t end = start + RUN_MS;
    while (mg_test_now_ms () < end) {
        mg_ratelimit_reply_t reply;
        assert_int_equal (s_check (f, client, "pro", &reply, NULL, 0), 0);
        if (calls < RATE_S / 2)
            assert_true (reply.allowed);        //  well inside the burst
        if (reply.allowed)
            admitted++;
        else {
            assert_int_equal (reply.remaining_s, 0);
            assert_true (reply.retry_s_ms >= 1 && reply.retry_s_ms <= 1000 / RATE_S);
        }
        assert_int_equal (reply.limit_s, RATE_S);
        calls++;
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
    int64_t elapsed = mg_test_now_ms () - start;
    //  GCRA with burst q and interval T admits at most q + D/T over D.
    double expected = RATE_S + (double) elapsed * RATE_S / 1000.0;
    fprintf (stderr, "calls=%ld admitted=%ld expected=%.1f elapsed_ms=%lld\n",
             calls, admitted, expected, (long long) elapsed);
    assert_true (calls > 2 * expected);         //  the client was over the limit throughout
    assert_true (admitted <= expected + 1);
    assert_true (admitted >= expected * 0.99 - 1);
}

static void
test_the_minute_window_limits_too (void **state)
{
    fixture_t *f = *state;
    s_wait_actor (f);
    char client [64];
    snprintf (client, sizeof client, "user:minute-%d-%lld", (int) getpid (), (long long) mg_test_now_ms ());
    for (int i = 0; i < 31; i++) {
        mg_ratelimit_reply_t reply;
        assert_int_equal (s_check (f, client, "enterprise", &reply, NULL, 0), 0);
        if (i < 30) {
            assert_true (reply.allowed);
            assert_int_equal (reply.remaining_m, 29 - i);
        }
        else {
            assert_false (reply.allowed);
            assert_int_equal (reply.retry_s_ms, 0);
            assert_true (reply.retry_m_ms > 1000);      //  2 s per request at 30/m
            assert_true (reply.remaining_s > 0);
        }
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
    mg_ratelimit_reply_t reply;
    char code [64];
    assert_int_equal (s_check (f, client, "platinum", &reply, code, sizeof code), -1);
    assert_string_equal (code, "INVALID_PARAMETER");
}

//  A lease of want requests is counted as want single requests made at
//  once: granted in full while both windows admit that many, in part up to
//  what they admit, refused at none; at the steady rate the grants add up
//  to exactly the GCRA count.
static void
test_a_lease_grants_exactly_what_the_windows_admit (void **state)
{
    fixture_t *f = *state;
    s_wait_actor (f);
    char client [64];
    snprintf (client, sizeof client, "user:lease-%d-%lld", (int) getpid (), (long long) mg_test_now_ms ());
    //  enterprise here: 1000/s, 30/m; leases of 12: 12, 12, then the 6 left.
    const uint64_t granted [] = { 12, 12, 6, 0 };
    for (int i = 0; i < 4; i++) {
        mg_ratelimit_reply_t reply;
        assert_int_equal (s_check_want (f, client, "enterprise", 12, &reply, NULL, 0), 0);
        assert_true (reply.has_granted);
        assert_int_equal (reply.granted, granted [i]);
        assert_int_equal (reply.allowed, granted [i] > 0);
        if (granted [i])
            assert_int_equal (reply.remaining_m, 30 - 12 * (i + 1) > 0 ? 30 - 12 * (i + 1) : 0);
        else
            assert_true (reply.retry_m_ms > 1000);      //  2 s per request at 30/m
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
    //  A single request now is refused too: the lease took what there was.
    mg_ratelimit_reply_t reply;
    assert_int_equal (s_check (f, client, "enterprise", &reply, NULL, 0), 0);
    assert_false (reply.allowed);
    mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    //  A renewal ahead for a fast caller (anonymous: 1,000,000/s here) is
    //  granted up to 4,000 at once; more is granted in part, never refused.
    snprintf (client, sizeof client, "ip:lease-big-%d-%lld", (int) getpid (), (long long) mg_test_now_ms ());
    assert_int_equal (s_check_want (f, client, "anonymous", 4000, &reply, NULL, 0), 0);
    assert_true (reply.allowed);
    assert_int_equal (reply.granted, 4000);
    mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    assert_int_equal (s_check_want (f, client, "anonymous", 4001, &reply, NULL, 0), 0);
    assert_int_equal (reply.granted, 4000);
    mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    //  Steady rate (pro: RATE_S/s) with leases of 5: the grants add up to the GCRA count.
    snprintf (client, sizeof client, "user:lease-rate-%d-%lld", (int) getpid (), (long long) mg_test_now_ms ());
    int64_t start = mg_test_now_ms ();
    int64_t end = start + RUN_MS;
    uint64_t total = 0;
    long calls = 0;
    while (mg_test_now_ms () < end) {
        assert_int_equal (s_check_want (f, client, "pro", 5, &reply, NULL, 0), 0);
        assert_true (reply.granted <= 5);
        total += reply.granted;
        calls++;
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
    int64_t elapsed = mg_test_now_ms () - start;
    double expected = RATE_S + (double) elapsed * RATE_S / 1000.0;
    fprintf (stderr, "lease: calls=%ld granted=%llu expected=%.1f elapsed_ms=%lld\n",
             calls, (unsigned long long) total, expected, (long long) elapsed);
    assert_true (calls > 2 * expected / 5);     //  asked for more than the limit throughout
    assert_true ((double) total <= expected + 1);
    assert_true ((double) total >= expected * 0.99 - 1);
}

//  A decision succeeds within timeout_ms.
static bool
s_works_within (fixture_t *f, const char *client, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        mg_ratelimit_reply_t reply;
        char code [64];
        if (s_check (f, client, "free", &reply, code, sizeof code) == 0) {
            mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
            return true;
        }
        usleep (50 * 1000);
    }
    return false;
}

static void
test_script_is_reloaded_after_flush_and_redis_restart (void **state)
{
    fixture_t *f = *state;
    s_wait_actor (f);
    assert_true (s_works_within (f, "user:reload", 1000));
    //  SCRIPT FLUSH: the same connection gets NOSCRIPT, loads, retries.
    redisContext *redis = redisConnect ("127.0.0.1", f->redis_port);
    assert_true (redis && !redis->err);
    redisReply *r = redisCommand (redis, "SCRIPT FLUSH");
    assert_non_null (r);
    freeReplyObject (r);
    redisFree (redis);
    for (int i = 0; i < 4; i++) {           //  every worker thread meets the flush
        mg_ratelimit_reply_t reply;
        assert_int_equal (s_check (f, "user:reload", "free", &reply, NULL, 0), 0);
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
    //  Redis down: an error reply (the gateway then fails open), never silence.
    mg_test_stop (f->redis, SIGTERM);
    f->redis = -1;
    mg_ratelimit_reply_t reply;
    char code [64];
    assert_int_equal (s_check (f, "user:reload", "free", &reply, code, sizeof code), -1);
    assert_string_equal (code, "SERVICE_UNAVAILABLE");
    //  Redis back, empty: the actor reconnects and loads the script again.
    f->redis = mg_test_redis_start (f->redis_port);
    assert_true (s_works_within (f, "user:reload", 3000));
    for (int i = 0; i < 4; i++) {
        assert_int_equal (s_check (f, "user:reload", "free", &reply, NULL, 0), 0);
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
}

static void
test_a_stopped_redis_gets_error_replies_within_the_deadline (void **state)
{
    fixture_t *f = *state;
    s_wait_actor (f);
    assert_true (s_works_within (f, "user:stall", 1000));
    assert_int_equal (mg_test_signal (f->redis, SIGSTOP), 0);
    f->redis_stopped = true;
    //  Every decision is an error reply (the gateway then fails open),
    //  each within the Redis deadline: never silence, never a hang.
    for (int i = 0; i < 6; i++) {
        mg_ratelimit_reply_t reply;
        char code [64];
        int64_t start = mg_test_now_ms ();
        assert_int_equal (s_check (f, "user:stall", "free", &reply, code, sizeof code), -1);
        assert_string_equal (code, "SERVICE_UNAVAILABLE");
        assert_true (mg_test_now_ms () - start < REDIS_TIMEOUT_MS + HANG_SLACK_MS);
    }
    //  Redis continues: decisions again once the back-off is over.
    assert_int_equal (mg_test_signal (f->redis, SIGCONT), 0);
    f->redis_stopped = false;
    assert_true (s_works_within (f, "user:stall", 3000));
}

//  The state of one caller is kept under the caller as a Redis Cluster hash
//  tag: the keys of both tiers exist under mg:rl:{<client>}:<tier>, so a
//  cluster hashes only "<client>" and puts them in one slot.
static void
test_a_callers_keys_share_one_cluster_slot (void **state)
{
    fixture_t *f = *state;
    s_wait_actor (f);
    const char *tiers [] = { "free", "pro" };
    for (size_t i = 0; i < 2; i++) {
        mg_ratelimit_reply_t reply;
        assert_int_equal (s_check (f, "user:slot", tiers [i], &reply, NULL, 0), 0);
        assert_true (reply.allowed);
        mg_msg_clear (&mg_ratelimit_reply_desc, &reply);
    }
    redisContext *redis = redisConnect ("127.0.0.1", f->redis_port);
    assert_true (redis && !redis->err);
    long long found = 0;
    for (size_t i = 0; i < 2; i++) {
        redisReply *r = redisCommand (redis, "EXISTS mg:rl:{user:slot}:%s", tiers [i]);
        if (r && r->type == REDIS_REPLY_INTEGER)
            found += r->integer;
        freeReplyObject (r);
    }
    redisFree (redis);
    assert_int_equal (found, 2);
}

int
main (void)
{
    if (!getenv ("MG_REDIS_URL")) {
        fprintf (stderr, "MG_REDIS_URL is not set (run through scripts/test)\n");
        return 1;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_burst_then_steady_rate_admits_exactly_the_gcra_count, setup_shared, teardown),
        cmocka_unit_test_setup_teardown (test_the_minute_window_limits_too, setup_shared, teardown),
        cmocka_unit_test_setup_teardown (test_a_lease_grants_exactly_what_the_windows_admit, setup_shared, teardown),
        cmocka_unit_test_setup_teardown (test_script_is_reloaded_after_flush_and_redis_restart, setup_own_redis, teardown),
        cmocka_unit_test_setup_teardown (test_a_stopped_redis_gets_error_replies_within_the_deadline,
                                         setup_own_redis, teardown),
        cmocka_unit_test_setup_teardown (test_a_callers_keys_share_one_cluster_slot, setup_own_redis, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
