/*  Busy and stuck workers over a real mg-broker and real mg-test-actor
    processes: a stuck replica is given no more work while another is free,
    a service whose every worker is stuck answers SERVICE_BUSY at once
    instead of letting requests wait out their ttl, and a request whose
    deadline passed before a worker was free never runs (its side effect,
    a line in the trace file, is absent) and is counted in test.ping.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_test.h"

#define STUCK_MS      4000      //  how long the stuck request holds its worker
#define CALL_TTL_MS   3000      //  deadline of the calls that must not wait behind it

typedef struct {
    mg_test_env_t env;
    pid_t broker;
    pid_t actors [2];
    mg_client_t *client;
    zsock_t *raw;               //  a client of our own for requests left in flight
    char trace [64];
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    mg_test_env_init (&f->env, NULL);
    mg_test_env_add (&f->env, "MG_WORKER_THREADS=1");
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    zsock_destroy (&f->raw);
    for (int i = 0; i < 2; i++)
        if (f->actors [i] > 0)
            mg_test_stop (f->actors [i], SIGKILL);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    if (f->trace [0])
        unlink (f->trace);
    free (f);
    return 0;
}

//  Encode test.sleep {ms, tag} into a request frame set.
static zmsg_t *
s_sleep_request (const char *id, uint32_t ttl, uint64_t ms, const char *tag)
{
    mg_sleep_request_t req = { .ms = ms, .has_ms = true, .tag = (char *) tag };
    uint8_t *body;
    size_t len;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_encode (&mg_sleep_request_desc, &req, &body, &len, reason, sizeof reason), 0);
    zmsg_t *msg = mg_frame_request ("test.sleep", id, strlen (id), ttl, body, len);
    free (body);
    return msg;
}

//  test.ping through the client: pid of the answer, or 0 with err filled.
static uint64_t
s_ping (fixture_t *f, int ttl, mg_error_t *err)
{
    mg_ping_reply_t pong;
    memset (err, 0, sizeof *err);
    if (mg_client_call (f->client, "test.ping", NULL, NULL, &mg_ping_reply_desc, &pong, ttl, err))
        return 0;
    uint64_t pid = pong.pid;
    mg_msg_clear (&mg_ping_reply_desc, &pong);
    return pid;
}

//  Start the broker and count actors; wait until every actor answers.
static void
s_start (fixture_t *f, int count)
{
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    for (int i = 0; i < count; i++)
        f->actors [i] = mg_test_spawn ("mg-test-actor", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    assert_non_null (f->client);
    bool seen [2] = { false, count < 2 };
    int64_t until = mg_test_now_ms () + 15000;
    while (!(seen [0] && seen [1]) && mg_test_now_ms () < until) {
        mg_error_t err;
        uint64_t pid = s_ping (f, 1000, &err);
        mg_msg_clear (&mg_error_desc, &err);
        for (int i = 0; i < count; i++)
            if (pid == (uint64_t) f->actors [i])
                seen [i] = true;
        if (!pid)
            zclock_sleep (50);
    }
    assert_true (seen [0] && seen [1]);
    f->raw = mg_test_socket (ZMQ_DEALER, f->env.endpoint, NULL);
    assert_non_null (f->raw);
}

//  Start count actors that announce stall_ms, then hold one worker thread
//  with a request of STUCK_MS and wait wait_ms.
static void
s_start_with_one_stuck (fixture_t *f, int count, int stall_ms, int wait_ms)
{
    mg_test_env_add (&f->env, "MG_WORKER_STALL_MS=%d", stall_ms);
    s_start (f, count);
    zmsg_t *stuck = s_sleep_request ("stuck", STUCK_MS + 5000, STUCK_MS, NULL);
    assert_int_equal (zmsg_send (&stuck, f->raw), 0);
    zclock_sleep (wait_ms);
}

static void
test_a_stuck_replica_gets_no_more_work (void **state)
{
    fixture_t *f = *state;
    //  300 ms: the broker has handed it to one replica.
    s_start_with_one_stuck (f, 2, 60000, 300);
    //  Every call goes to the free replica; none waits behind the stuck one.
    uint64_t first = 0;
    for (int i = 0; i < 10; i++) {
        mg_error_t err;
        uint64_t pid = s_ping (f, CALL_TTL_MS, &err);
        if (!pid)
            fail_msg ("call %d failed: %s %s", i, err.code ? err.code : "-", err.message ? err.message : "-");
        if (!first)
            first = pid;
        assert_true (pid == first);
    }
    assert_true (first == (uint64_t) f->actors [0] || first == (uint64_t) f->actors [1]);
}

static void
test_all_workers_stuck_is_busy_at_once (void **state)
{
    fixture_t *f = *state;
    //  800 ms: past the stall time.
    s_start_with_one_stuck (f, 1, 300, 800);
    mg_error_t err;
    int64_t started = mg_test_now_ms ();
    assert_int_equal (s_ping (f, CALL_TTL_MS, &err), 0);
    //  Answered by the broker before the call's own deadline, as a 503.
    assert_non_null (err.code);
    assert_string_equal (err.code, "SERVICE_BUSY");
    assert_true (err.has_retry_after && err.retry_after >= 1);
    assert_true (mg_test_now_ms () - started < CALL_TTL_MS);
    mg_msg_clear (&mg_error_desc, &err);
    //  Once the worker is free again the service serves.
    int64_t until = mg_test_now_ms () + STUCK_MS + 10000;
    uint64_t pid = 0;
    while (!pid && mg_test_now_ms () < until) {
        pid = s_ping (f, 1000, &err);
        mg_msg_clear (&mg_error_desc, &err);
        if (!pid)
            zclock_sleep (100);
    }
    assert_true (pid == (uint64_t) f->actors [0]);
}

//  Frame i of msg as a new string.
static char *
s_frame (zmsg_t *msg, size_t i)
{
    zframe_t *frame = zmsg_first (msg);
    while (frame && i--)
        frame = zmsg_next (msg);
    return frame ? zframe_strdup (frame) : NULL;
}

//  Receive the next message from the actor that is not a heartbeat,
//  heartbeating it meanwhile; NULL after timeout_ms.
static zmsg_t *
s_recv_from_actor (zsock_t *router, zframe_t *identity, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (mg_test_now_ms () < until) {
        zmsg_t *hb = zmsg_new ();
        zmsg_append (hb, &(zframe_t *) { zframe_dup (identity) });
        zmsg_addstr (hb, MG_FRAME_PROTOCOL);
        zmsg_addstr (hb, "HB");
        assert_int_equal (zmsg_send (&hb, router), 0);
        zmq_pollitem_t item = { zsock_resolve (router), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv (router);
        assert_non_null (msg);
        char *cmd = s_frame (msg, 2);
        bool heartbeat = cmd && strcmp (cmd, "HB") == 0;
        free (cmd);
        if (!heartbeat)
            return msg;
        zmsg_destroy (&msg);
    }
    return NULL;
}

//  Play the broker toward identity: send REQ name id ttl body.
static void
s_deliver (zsock_t *router, zframe_t *identity, zmsg_t *request)
{
    //  request is MG1 REQ name id ttl body (a client's): make it a worker's.
    zframe_t *proto = zmsg_pop (request);
    zframe_t *cmd = zmsg_pop (request);
    zframe_destroy (&proto);
    zframe_destroy (&cmd);
    zmsg_pushstr (request, "client-envelope");
    zmsg_pushstr (request, "REQ");
    zmsg_pushstr (request, MG_FRAME_PROTOCOL);
    zmsg_prepend (request, &(zframe_t *) { zframe_dup (identity) });
    assert_int_equal (zmsg_send (&request, router), 0);
}

static void
test_an_expired_request_never_runs (void **state)
{
    fixture_t *f = *state;
    //  A broker of our own that, unlike mg-broker, sends a second request
    //  while the only worker is busy, so that it expires at the actor.
    snprintf (f->trace, sizeof f->trace, "/tmp/mg-test-trace-%d", (int) getpid ());
    unlink (f->trace);
    int port = mg_test_free_port ();
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    //  A CURVE server like mg-broker (no ZAP handler here: any key is let in).
    const char *keys = mg_test_keys ();
    if (keys)
        assert_int_equal (mg_curve_server (router, keys), 0);
    assert_true (zsock_bind (router, "tcp://127.0.0.1:%d", port) == port);
    mg_test_env_add (&f->env, "MG_BROKER=tcp://127.0.0.1:%d", port);
    mg_test_env_add (&f->env, "MG_HEARTBEAT_MS=1000");
    mg_test_env_add (&f->env, "MG_TEST_TRACE=%s", f->trace);
    f->actors [0] = mg_test_spawn ("mg-test-actor", f->env.envp);

    zmq_pollitem_t item = { zsock_resolve (router), 0, ZMQ_POLLIN, 0 };
    assert_true (zmq_poll (&item, 1, 15000) == 1);
    zmsg_t *ready = zmsg_recv (router);
    assert_non_null (ready);
    zframe_t *identity = zmsg_pop (ready);
    char *cmd = s_frame (ready, 1);
    char *credit = s_frame (ready, 3);
    assert_string_equal (cmd, "READY");
    assert_string_equal (credit, "1");      //  one thread: one request at a time
    free (cmd);
    free (credit);
    zmsg_destroy (&ready);

    s_deliver (router, identity, s_sleep_request ("a", 10000, 600, "a"));
    s_deliver (router, identity, s_sleep_request ("b", 200, 0, "b"));
    bool a_done = false, b_done = false;
    for (int i = 0; i < 2; i++) {
        zmsg_t *reply = s_recv_from_actor (router, identity, 10000);
        assert_non_null (reply);
        char *what = s_frame (reply, 2);
        char *id = s_frame (reply, 5);
        if (strcmp (id, "a") == 0) {
            assert_string_equal (what, "REP");
            a_done = true;
        }
        else {
            assert_string_equal (id, "b");
            assert_string_equal (what, "ERR");
            zframe_t *body = zmsg_last (reply);
            mg_error_t err;
            char reason [MG_MSG_ERR_LEN];
            assert_int_equal (mg_msg_decode (&mg_error_desc, zframe_data (body), zframe_size (body),
                                             &err, reason, sizeof reason), 0);
            assert_string_equal (err.code, "DEADLINE_EXCEEDED");
            mg_msg_clear (&mg_error_desc, &err);
            b_done = true;
        }
        free (what);
        free (id);
        zmsg_destroy (&reply);
    }
    assert_true (a_done && b_done);

    //  The drop is counted where operators look: test.ping.
    zmsg_t *ping = mg_frame_request ("test.ping", "p", 1, 5000, NULL, 0);
    s_deliver (router, identity, ping);
    zmsg_t *reply = s_recv_from_actor (router, identity, 10000);
    assert_non_null (reply);
    zframe_t *body = zmsg_last (reply);
    mg_ping_reply_t pong;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_decode (&mg_ping_reply_desc, zframe_data (body), zframe_size (body),
                                     &pong, reason, sizeof reason), 0);
    assert_true (pong.has_expired);
    assert_int_equal (pong.expired, 1);
    mg_msg_clear (&mg_ping_reply_desc, &pong);
    zmsg_destroy (&reply);

    //  a ran, b never did.
    FILE *file = fopen (f->trace, "r");
    assert_non_null (file);
    char text [64] = "";
    size_t got = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [got] = 0;
    assert_string_equal (text, "a\n");
    zframe_destroy (&identity);
    zsock_destroy (&router);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_stuck_replica_gets_no_more_work, setup, teardown),
        cmocka_unit_test_setup_teardown (test_all_workers_stuck_is_busy_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_an_expired_request_never_runs, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
