/*  Actor runtime over a real mg-broker: load spreading, a killed worker,
    draining on SIGTERM, recovery after a broker restart.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_frame.h"
#include "mg_test.h"

#define HEARTBEAT_MS  100

typedef struct {
    char endpoint [64];
    char env_broker [96];
    char env_bind [96];
    char env_pub [96];
    char env_sub [96];
    char env_hb [64];
    const char *env [8];
    pid_t broker;
    pid_t actors [2];
    mg_client_t *client;
} fixture_t;

static pid_t
s_start_broker (fixture_t *f)
{
    return mg_test_spawn ("mg-broker", f->env);
}

//  Call test.ping until it answers or timeout_ms passes; pid of the answer or 0.
static uint64_t
s_ping (fixture_t *f, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        mg_ping_reply_t pong;
        mg_error_t err = { 0 };
        if (mg_client_call (f->client, "test.ping", NULL, NULL, &mg_ping_reply_desc, &pong, 500, &err) == 0) {
            uint64_t pid = pong.pid;
            mg_msg_clear (&mg_ping_reply_desc, &pong);
            return pid;
        }
        mg_msg_clear (&mg_error_desc, &err);
        zclock_sleep (20);
    }
    return 0;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    int port = mg_test_free_port ();
    int pub = mg_test_free_port ();
    int sub = mg_test_free_port ();
    snprintf (f->endpoint, sizeof f->endpoint, "tcp://127.0.0.1:%d", port);
    snprintf (f->env_broker, sizeof f->env_broker, "MG_BROKER=%s", f->endpoint);
    snprintf (f->env_bind, sizeof f->env_bind, "MG_BROKER_BIND=%s", f->endpoint);
    snprintf (f->env_pub, sizeof f->env_pub, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", pub);
    snprintf (f->env_sub, sizeof f->env_sub, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", sub);
    snprintf (f->env_hb, sizeof f->env_hb, "MG_HEARTBEAT_MS=%d", HEARTBEAT_MS);
    const char *env [] = { f->env_broker, f->env_bind, f->env_pub, f->env_sub, f->env_hb,
                           "MG_WORKER_THREADS=2", NULL };
    memcpy (f->env, env, sizeof env);
    f->broker = s_start_broker (f);
    f->actors [0] = mg_test_spawn ("mg-test-actor", f->env);
    f->actors [1] = mg_test_spawn ("mg-test-actor", f->env);
    f->client = mg_client_new (f->endpoint);
    assert_non_null (f->client);
    *state = f;
    //  Both actors registered: pings come back from two pids.
    int64_t until = mg_test_now_ms () + 10000;
    uint64_t first = 0;
    while (mg_test_now_ms () < until) {
        uint64_t pid = s_ping (f, 2000);
        if (first == 0)
            first = pid;
        else
        if (pid && pid != first)
            return 0;
    }
    return -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    for (int i = 0; i < 2; i++)
        if (f->actors [i] > 0)
            mg_test_stop (f->actors [i], SIGKILL);
    mg_test_stop (f->broker, SIGTERM);
    free (f);
    return 0;
}

static void
test_requests_spread_over_both_actors (void **state)
{
    fixture_t *f = *state;
    int hits [2] = { 0, 0 };
    for (int i = 0; i < 40; i++) {
        uint64_t pid = s_ping (f, 2000);
        assert_true (pid != 0);
        if (pid == (uint64_t) f->actors [0])
            hits [0]++;
        else
        if (pid == (uint64_t) f->actors [1])
            hits [1]++;
    }
    assert_int_equal (hits [0] + hits [1], 40);
    assert_true (hits [0] >= 10);
    assert_true (hits [1] >= 10);
}

static void
test_sigterm_finishes_the_request_in_flight (void **state)
{
    fixture_t *f = *state;
    //  Two sleeps in flight, so each actor holds one; then SIGTERM both.
    uint64_t id = 1;
    mg_sleep_request_t req = { .ms = 600, .has_ms = true };
    uint8_t *body;
    size_t len;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_encode (&mg_sleep_request_desc, &req, &body, &len, reason, sizeof reason), 0);
    zsock_t *raw = mg_test_socket (ZMQ_DEALER, f->endpoint, NULL);
    for (int i = 0; i < 2; i++) {
        zmsg_t *msg = mg_frame_request ("test.sleep", &id, sizeof id, 5000, body, len);
        assert_int_equal (zmsg_send (&msg, raw), 0);
        id++;
    }
    free (body);
    zclock_sleep (200);
    mg_test_signal (f->actors [0], SIGTERM);
    mg_test_signal (f->actors [1], SIGTERM);
    for (int i = 0; i < 2; i++) {
        zsock_set_rcvtimeo (raw, 3000);
        zmsg_t *reply = zmsg_recv (raw);
        assert_non_null (reply);
        zmsg_first (reply);
        zframe_t *cmd = zmsg_next (reply);
        assert_int_equal (mg_frame_cmd (cmd), MG_CMD_REP);
        zmsg_destroy (&reply);
    }
    for (int i = 0; i < 2; i++) {
        int status = mg_test_stop (f->actors [i], 0);    //  already signalled: just reap
        assert_true (WIFEXITED (status));
        assert_int_equal (WEXITSTATUS (status), 0);
        f->actors [i] = -1;
    }
    zsock_destroy (&raw);
}

static void
test_killed_actor_answers_held_request_with_worker_lost_then_unavailable (void **state)
{
    fixture_t *f = *state;
    //  Leave one actor; make it hold a long request; kill -9 it.
    mg_test_stop (f->actors [1], SIGKILL);
    f->actors [1] = -1;
    zclock_sleep (HEARTBEAT_MS * 5);
    mg_sleep_request_t req = { .ms = 5000, .has_ms = true };
    uint8_t *body;
    size_t len;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_encode (&mg_sleep_request_desc, &req, &body, &len, reason, sizeof reason), 0);
    zsock_t *raw = mg_test_socket (ZMQ_DEALER, f->endpoint, NULL);
    uint64_t id = 77;
    zmsg_t *msg = mg_frame_request ("test.sleep", &id, sizeof id, 10000, body, len);
    free (body);
    assert_int_equal (zmsg_send (&msg, raw), 0);
    zclock_sleep (200);
    int64_t killed_at = mg_test_now_ms ();
    mg_test_stop (f->actors [0], SIGKILL);
    f->actors [0] = -1;
    zsock_set_rcvtimeo (raw, 3000);
    zmsg_t *reply = zmsg_recv (raw);
    assert_non_null (reply);
    int64_t waited = mg_test_now_ms () - killed_at;
    zmsg_first (reply);
    assert_int_equal (mg_frame_cmd (zmsg_next (reply)), MG_CMD_ERR);
    zmsg_next (reply);
    zmsg_next (reply);
    zframe_t *ebody = zmsg_next (reply);
    mg_error_t err;
    assert_int_equal (mg_msg_decode (&mg_error_desc, zframe_data (ebody), zframe_size (ebody), &err, reason, sizeof reason), 0);
    assert_string_equal (err.code, "WORKER_LOST");
    mg_msg_clear (&mg_error_desc, &err);
    zmsg_destroy (&reply);
    assert_true (waited < 1000);
    //  No worker left: the next call fails fast with SERVICE_UNAVAILABLE.
    mg_error_t e2 = { 0 };
    mg_ping_reply_t pong;
    int64_t t0 = mg_test_now_ms ();
    assert_int_equal (mg_client_call (f->client, "test.ping", NULL, NULL, &mg_ping_reply_desc, &pong, 5000, &e2), -1);
    assert_true (mg_test_now_ms () - t0 < 1000);
    assert_string_equal (e2.code, "SERVICE_UNAVAILABLE");
    assert_int_equal (e2.retry_after, 1);
    mg_msg_clear (&mg_error_desc, &e2);
    zsock_destroy (&raw);
}

static void
test_broker_restart_is_recovered_without_restarting_actors (void **state)
{
    fixture_t *f = *state;
    mg_test_stop (f->broker, SIGKILL);
    zclock_sleep (100);
    f->broker = s_start_broker (f);
    assert_true (f->broker > 0);
    int64_t t0 = mg_test_now_ms ();
    //  The actors notice the silence and register again; requests work.
    assert_true (s_ping (f, 5000) != 0);
    int64_t took = mg_test_now_ms () - t0;
    print_message ("recovered %lld ms after the broker restart\n", (long long) took);
    assert_true (took < 5000);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_requests_spread_over_both_actors, setup, teardown),
        cmocka_unit_test_setup_teardown (test_sigterm_finishes_the_request_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown (test_killed_actor_answers_held_request_with_worker_lost_then_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown (test_broker_restart_is_recovered_without_restarting_actors, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
