/*  mg-broker spoken to in raw MG1 frames (docs/protocol.md): credit, queue
    bound, ttl expiry in the queue, malformed frames, a lost worker's
    idempotent requests given to another, service discovery and the event
    proxy.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

#include "mg_actor.h"
#include "mg_curve.h"
#include "mg_frame.h"
#include "mg_msg.h"
#include "mg_test.h"

typedef struct {
    char endpoint [64];
    char pub [64];
    char sub [64];
    char env [6][128];
    const char *envp [8];
    pid_t broker;
    zsock_t *client;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->endpoint, sizeof f->endpoint, "tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->pub, sizeof f->pub, "tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->sub, sizeof f->sub, "tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->env [0], sizeof f->env [0], "MG_BROKER_BIND=%s", f->endpoint);
    snprintf (f->env [1], sizeof f->env [1], "MG_EVENTS_PUB_BIND=%s", f->pub);
    snprintf (f->env [2], sizeof f->env [2], "MG_EVENTS_SUB_BIND=%s", f->sub);
    //  Raw test workers do not heartbeat: 500 ms x 3 leaves them 1.5 s.
    snprintf (f->env [3], sizeof f->env [3], "MG_HEARTBEAT_MS=500");
    snprintf (f->env [4], sizeof f->env [4], "MG_BROKER_QUEUE_MAX=3");
    for (int i = 0; i < 5; i++)
        f->envp [i] = f->env [i];
    f->broker = mg_test_spawn ("mg-broker", f->envp);
    f->client = mg_test_socket (ZMQ_DEALER, f->endpoint, NULL);
    zsock_set_rcvtimeo (f->client, 3000);
    *state = f;
    return f->broker > 0 && f->client ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    zsock_destroy (&f->client);
    mg_test_stop (f->broker, SIGTERM);
    free (f);
    return 0;
}

//  A raw worker registered for service with credit; waits until the broker
//  knows it (mmi.service says so).
static zsock_t *
s_worker (fixture_t *f, const char *service, int credit)
{
    zsock_t *worker = mg_test_socket (ZMQ_DEALER, f->endpoint, NULL);
    assert_non_null (worker);
    zsock_set_rcvtimeo (worker, 3000);
    char credit_text [16];
    snprintf (credit_text, sizeof credit_text, "%d", credit);
    zstr_sendx (worker, MG_FRAME_PROTOCOL, "READY", service, credit_text, NULL);
    return worker;
}

//  Send a request with id (a string) and ttl; body is an empty message.
static void
s_request (zsock_t *client, const char *name, const char *id, uint32_t ttl)
{
    zmsg_t *msg = mg_frame_request (name, id, strlen (id), ttl, NULL, 0);
    assert_non_null (msg);
    assert_int_equal (zmsg_send (&msg, client), 0);
}

//  Receive a reply; returns its command and fills id and (for ERR) code.
static mg_cmd_t
s_reply (zsock_t *client, char *id, size_t id_len, char *code, size_t code_len)
{
    zmsg_t *msg = zmsg_recv (client);
    if (!msg)
        return MG_CMD_UNKNOWN;
    assert_int_equal (zmsg_size (msg), 5);
    zframe_t *proto = zmsg_first (msg);
    assert_true (mg_frame_is_protocol (proto));
    mg_cmd_t cmd = mg_frame_cmd (zmsg_next (msg));
    zmsg_next (msg);
    zframe_t *rid = zmsg_next (msg);
    zframe_t *body = zmsg_next (msg);
    snprintf (id, id_len, "%.*s", (int) zframe_size (rid), (char *) zframe_data (rid));
    if (code)
        code [0] = 0;
    if (cmd == MG_CMD_ERR && code) {
        mg_error_t err;
        char reason [MG_MSG_ERR_LEN];
        assert_int_equal (mg_msg_decode (&mg_error_desc, zframe_data (body), zframe_size (body), &err, reason, sizeof reason), 0);
        snprintf (code, code_len, "%s", err.code);
        mg_msg_clear (&mg_error_desc, &err);
    }
    zmsg_destroy (&msg);
    return cmd;
}

//  Worker side: receive one REQ; returns its envelope+id frames in a msg
//  ready to answer (caller answers with s_answer).
static zmsg_t *
s_take (zsock_t *worker)
{
    while (true) {
        zmsg_t *msg = zmsg_recv (worker);
        if (!msg)
            return NULL;
        zframe_t *proto = zmsg_pop (msg);
        char *cmd = zmsg_popstr (msg);
        bool is_req = cmd && strcmp (cmd, "REQ") == 0;
        zframe_destroy (&proto);
        free (cmd);
        if (is_req)
            return msg;     //  envelope name id ttl body
        zmsg_destroy (&msg);  //  heartbeat
    }
}

//  Answer a taken request with REP.
static void
s_answer (zsock_t *worker, zmsg_t **taken_p)
{
    zmsg_t *msg = *taken_p;
    zframe_t *envelope = zmsg_pop (msg);
    zframe_t *name = zmsg_pop (msg);
    zframe_t *id = zmsg_pop (msg);
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, MG_FRAME_PROTOCOL);
    zmsg_addstr (reply, "REP");
    zmsg_append (reply, &envelope);
    zmsg_append (reply, &name);
    zmsg_append (reply, &id);
    zmsg_addmem (reply, NULL, 0);
    assert_int_equal (zmsg_send (&reply, worker), 0);
    zmsg_destroy (taken_p);
}

//  Live workers of service, as mmi.service reports them.
static uint64_t
s_live_workers (fixture_t *f, const char *service)
{
    mg_mmi_service_request_t query = { .service = (char *) service };
    uint8_t *body;
    size_t len;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_encode (&mg_mmi_service_request_desc, &query, &body, &len, reason, sizeof reason), 0);
    zmsg_t *msg = mg_frame_request ("mmi.service", "mmi", 3, 1000, body, len);
    free (body);
    zmsg_send (&msg, f->client);
    zmsg_t *reply = zmsg_recv (f->client);
    assert_non_null (reply);
    zframe_t *rbody = zmsg_last (reply);
    mg_mmi_service_reply_t answer;
    assert_int_equal (mg_msg_decode (&mg_mmi_service_reply_desc, zframe_data (rbody), zframe_size (rbody), &answer, reason, sizeof reason), 0);
    uint64_t workers = answer.workers;
    mg_msg_clear (&mg_mmi_service_reply_desc, &answer);
    zmsg_destroy (&reply);
    return workers;
}

//  Wait until mmi.service reports n live workers for service.
static void
s_wait_workers (fixture_t *f, const char *service, uint64_t n)
{
    int64_t until = mg_test_now_ms () + 5000;
    while (mg_test_now_ms () < until) {
        if (s_live_workers (f, service) == n)
            return;
        zclock_sleep (20);
    }
    fail_msg ("service %s never had %llu workers", service, (unsigned long long) n);
}

static void
test_unknown_service_is_answered_unavailable_at_once (void **state)
{
    fixture_t *f = *state;
    char id [64], code [64];
    //  Connected first (the broker starting, the CURVE handshake): what is
    //  timed is the broker's answer.
    s_request (f->client, "mmi.services", "r0", 5000);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_REP);
    int64_t t0 = mg_test_now_ms ();
    s_request (f->client, "nobody.home", "r1", 5000);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_true (mg_test_now_ms () - t0 < 500);
    assert_string_equal (id, "r1");
    assert_string_equal (code, "SERVICE_UNAVAILABLE");
}

static void
test_worker_gets_no_more_than_its_credit_and_queue_is_bounded (void **state)
{
    fixture_t *f = *state;
    zsock_t *worker = s_worker (f, "slow", 2);
    s_wait_workers (f, "slow", 1);
    //  2 go to the worker, 3 wait in the queue, the 6th is refused.
    const char *ids [] = { "a", "b", "c", "d", "e", "f" };
    for (int i = 0; i < 6; i++)
        s_request (f->client, "slow.op", ids [i], 10000);
    char id [64], code [64];
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (id, "f");
    assert_string_equal (code, "SERVICE_BUSY");
    zmsg_t *first = s_take (worker);
    zmsg_t *second = s_take (worker);
    assert_non_null (first);
    assert_non_null (second);
    //  No third request while two are held.
    zsock_set_rcvtimeo (worker, 300);
    zmsg_t *third = s_take (worker);
    assert_null (third);
    zsock_set_rcvtimeo (worker, 3000);
    //  Answering one frees one credit: the next queued one arrives.
    s_answer (worker, &first);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_REP);
    assert_string_equal (id, "a");
    third = s_take (worker);
    assert_non_null (third);
    zmsg_destroy (&second);
    zmsg_destroy (&third);
    zsock_destroy (&worker);
}

static void
test_request_expiring_in_the_queue_is_never_delivered (void **state)
{
    fixture_t *f = *state;
    zsock_t *worker = s_worker (f, "busy", 1);
    s_wait_workers (f, "busy", 1);
    s_request (f->client, "busy.op", "held", 10000);
    zmsg_t *held = s_take (worker);
    assert_non_null (held);
    s_request (f->client, "busy.op", "short", 200);
    char id [64], code [64];
    int64_t t0 = mg_test_now_ms ();
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    int64_t waited = mg_test_now_ms () - t0;
    assert_string_equal (id, "short");
    assert_string_equal (code, "DEADLINE_EXCEEDED");
    assert_true (waited >= 150 && waited < 1000);
    //  Freeing the worker must not deliver the expired request.
    s_answer (worker, &held);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_REP);
    assert_string_equal (id, "held");
    zsock_set_rcvtimeo (worker, 300);
    zmsg_t *late = s_take (worker);
    assert_null (late);
    zsock_destroy (&worker);
}

static void
test_worker_reply_after_the_ttl_is_dropped (void **state)
{
    fixture_t *f = *state;
    zsock_t *worker = s_worker (f, "late", 1);
    s_wait_workers (f, "late", 1);
    s_request (f->client, "late.op", "x", 200);
    zmsg_t *held = s_take (worker);
    assert_non_null (held);
    char id [64], code [64];
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (code, "DEADLINE_EXCEEDED");
    s_answer (worker, &held);
    zsock_set_rcvtimeo (f->client, 300);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_UNKNOWN);
    zsock_destroy (&worker);
}

static void
test_malformed_frames_get_bad_frame_and_the_broker_stays_up (void **state)
{
    fixture_t *f = *state;
    char id [64], code [64];
    //  Bad name, bad ttl, missing body: each answered BAD_FRAME.
    zstr_sendx (f->client, MG_FRAME_PROTOCOL, "REQ", "No Dots", "b1", "100", "", NULL);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (code, "BAD_FRAME");
    zstr_sendx (f->client, MG_FRAME_PROTOCOL, "REQ", "a.b", "b2", "-5", "", NULL);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (code, "BAD_FRAME");
    zstr_sendx (f->client, MG_FRAME_PROTOCOL, "REQ", "a.b", "b3", "100", NULL);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (code, "BAD_FRAME");
    //  A 7th frame other than "idempotent", and an 8th.
    zstr_sendx (f->client, MG_FRAME_PROTOCOL, "REQ", "a.b", "b4", "100", "", "retry", NULL);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (id, "b4");
    assert_string_equal (code, "BAD_FRAME");
    zstr_sendx (f->client, MG_FRAME_PROTOCOL, "REQ", "a.b", "b5", "100", "", MG_FRAME_IDEMPOTENT, "", NULL);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (id, "b5");
    assert_string_equal (code, "BAD_FRAME");
    //  Not MG1 at all, and a garbage READY: dropped silently.
    zstr_sendx (f->client, "HTTP/1.1", "GET", NULL);
    zstr_sendx (f->client, MG_FRAME_PROTOCOL, "READY", "BAD SERVICE", "0", NULL);
    //  Still serving.
    s_request (f->client, "nobody.home", "alive", 1000);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (id, "alive");
    assert_string_equal (code, "SERVICE_UNAVAILABLE");
}

//  Send an idempotent request (the optional 7th frame) with id and ttl.
static void
s_request_idempotent (zsock_t *client, const char *name, const char *id, uint32_t ttl)
{
    zmsg_t *msg = mg_frame_request (name, id, strlen (id), ttl, NULL, 0);
    assert_non_null (msg);
    assert_int_equal (zmsg_addstr (msg, MG_FRAME_IDEMPOTENT), 0);
    assert_int_equal (zmsg_send (&msg, client), 0);
}

//  Worker side, heartbeating (raw test workers otherwise expire): the next
//  REQ within ms, or NULL.
static zmsg_t *
s_take_alive (zsock_t *worker, int ms)
{
    zsock_set_rcvtimeo (worker, 100);
    int64_t until = mg_test_now_ms () + ms;
    zmsg_t *taken = NULL;
    while (!taken && mg_test_now_ms () < until) {
        zstr_sendx (worker, MG_FRAME_PROTOCOL, "HB", NULL);
        taken = s_take (worker);
    }
    zsock_set_rcvtimeo (worker, 3000);
    return taken;
}

//  The id frame of a taken request, as a string.
static void
s_taken_id (zmsg_t *taken, char *id, size_t id_len)
{
    zframe_t *frame = zmsg_first (taken);       //  envelope
    frame = zmsg_next (taken);                  //  name
    frame = zmsg_next (taken);                  //  id
    snprintf (id, id_len, "%.*s", (int) zframe_size (frame), (char *) zframe_data (frame));
}

//  The broker's count of requests given again (mmi.stats).
static uint64_t
s_given_again (fixture_t *f)
{
    zmsg_t *msg = mg_frame_request ("mmi.stats", "st", 2, 1000, NULL, 0);
    assert_int_equal (zmsg_send (&msg, f->client), 0);
    zmsg_t *reply = zmsg_recv (f->client);
    assert_non_null (reply);
    zframe_t *body = zmsg_last (reply);
    mg_mmi_stats_reply_t stats;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_decode (&mg_mmi_stats_reply_desc, zframe_data (body), zframe_size (body), &stats, reason, sizeof reason), 0);
    assert_true (stats.has_given_again);
    uint64_t given_again = stats.given_again;
    mg_msg_clear (&mg_mmi_stats_reply_desc, &stats);
    zmsg_destroy (&reply);
    return given_again;
}

static void
test_a_lost_workers_idempotent_request_goes_to_another_once (void **state)
{
    fixture_t *f = *state;
    //  A holds an idempotent request and a plain one, then dies (a raw worker
    //  stops heartbeating); B, alive, must get the idempotent one.
    zsock_t *a = s_worker (f, "flaky", 2);
    s_wait_workers (f, "flaky", 1);
    s_request_idempotent (f->client, "flaky.read", "i1", 10000);
    s_request (f->client, "flaky.write", "p1", 10000);
    zmsg_t *held_i = s_take (a);
    zmsg_t *held_p = s_take (a);
    assert_non_null (held_i);
    assert_non_null (held_p);
    zsock_t *b = s_worker (f, "flaky", 1);
    s_wait_workers (f, "flaky", 2);
    zsock_destroy (&a);
    zmsg_t *again = s_take_alive (b, 4000);
    assert_non_null (again);
    char id [64], code [64];
    s_taken_id (again, id, sizeof id);
    assert_string_equal (id, "i1");
    //  The plain request was answered WORKER_LOST when A was dropped.
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (id, "p1");
    assert_string_equal (code, "WORKER_LOST");
    assert_int_equal (s_given_again (f), 1);
    //  B dies too while holding it: given again only once, so WORKER_LOST
    //  (not SERVICE_UNAVAILABLE, which a queued request would get).
    zsock_destroy (&b);
    zsock_set_rcvtimeo (f->client, 4000);
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_ERR);
    assert_string_equal (id, "i1");
    assert_string_equal (code, "WORKER_LOST");
    zmsg_destroy (&held_i);
    zmsg_destroy (&held_p);
    zmsg_destroy (&again);
}

static void
test_a_given_again_request_is_answered_by_the_new_worker (void **state)
{
    fixture_t *f = *state;
    zsock_t *a = s_worker (f, "flaky", 1);
    s_wait_workers (f, "flaky", 1);
    s_request_idempotent (f->client, "flaky.read", "i2", 10000);
    zmsg_t *held = s_take (a);
    assert_non_null (held);
    zsock_t *b = s_worker (f, "flaky", 1);
    s_wait_workers (f, "flaky", 2);
    zsock_destroy (&a);
    zmsg_t *again = s_take_alive (b, 4000);
    assert_non_null (again);
    s_answer (b, &again);
    char id [64], code [64];
    assert_int_equal (s_reply (f->client, id, sizeof id, code, sizeof code), MG_CMD_REP);
    assert_string_equal (id, "i2");
    zmsg_destroy (&held);
    zsock_destroy (&b);
}

static void
test_services_lists_live_workers (void **state)
{
    fixture_t *f = *state;
    zsock_t *a = s_worker (f, "alpha", 1);
    zsock_t *b = s_worker (f, "alpha", 1);
    s_wait_workers (f, "alpha", 2);
    zmsg_t *msg = mg_frame_request ("mmi.services", "s", 1, 1000, NULL, 0);
    zmsg_send (&msg, f->client);
    zmsg_t *reply = zmsg_recv (f->client);
    assert_non_null (reply);
    zframe_t *body = zmsg_last (reply);
    mg_mmi_services_reply_t services;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_decode (&mg_mmi_services_reply_desc, zframe_data (body), zframe_size (body), &services, reason, sizeof reason), 0);
    bool found = false;
    for (size_t i = 0; i < services.services_count; i++)
        if (strcmp (services.services [i].service, "alpha") == 0) {
            assert_int_equal (services.services [i].workers, 2);
            found = true;
        }
    assert_true (found);
    mg_msg_clear (&mg_mmi_services_reply_desc, &services);
    zmsg_destroy (&reply);
    //  A silent worker is dropped within liveness x heartbeat (3 x 500 ms)
    //  while one that heartbeats stays.
    zsock_destroy (&b);
    int64_t t0 = mg_test_now_ms ();
    uint64_t live = 2;
    while (live != 1 && mg_test_now_ms () - t0 < 5000) {
        zstr_sendx (a, MG_FRAME_PROTOCOL, "HB", NULL);
        live = s_live_workers (f, "alpha");
        zclock_sleep (50);
    }
    assert_int_equal (live, 1);
    int64_t took = mg_test_now_ms () - t0;
    assert_true (took >= 1000 && took < 2500);
    zsock_destroy (&a);
}

static void
test_events_pass_from_publishers_to_subscribers (void **state)
{
    fixture_t *f = *state;
    zsock_t *sub = mg_test_socket (ZMQ_SUB, f->sub, "content.");
    zsock_t *pub = mg_test_socket (ZMQ_PUB, f->pub, NULL);
    assert_non_null (pub);
    zsock_set_rcvtimeo (sub, 200);
    //  Subscriptions propagate asynchronously: publish until one arrives.
    bool got = false;
    for (int i = 0; i < 50 && !got; i++) {
        zstr_sendx (pub, "other.topic", "x", NULL);
        zstr_sendx (pub, "content.changed", "payload", NULL);
        char *topic = NULL, *payload = NULL;
        if (zstr_recvx (sub, &topic, &payload, NULL) == 2) {
            assert_string_equal (topic, "content.changed");
            assert_string_equal (payload, "payload");
            got = true;
        }
        free (topic);
        free (payload);
    }
    assert_true (got);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}

//  A burst far past ZeroMQ's default pipe bound (1,000 messages) from an
//  actor's event publisher reaches a subscriber whole, through the broker's
//  proxy: what the alerts actor publishes at once for a title on thousands
//  of watchlists (one sync.<user> event each).
static void
test_a_burst_of_events_reaches_a_subscriber_whole (void **state)
{
    fixture_t *f = *state;
    enum { BURST = 20000, PAYLOAD = 400 };
    mg_test_keys ();
    zsock_t *sub = zsock_new (ZMQ_SUB);
    assert_non_null (sub);
    zsock_set_rcvhwm (sub, 0);                  //  the subscriber's side is not what is tested
    assert_int_equal (mg_curve_client (sub), 0);
    assert_int_equal (zsock_connect (sub, "%s", f->sub), 0);
    zsock_set_subscribe (sub, "sync.");
    zsock_set_rcvtimeo (sub, 200);
    assert_int_equal (setenv ("MG_EVENTS_PUB", f->pub, 1), 0);
    zsock_t *pub = mg_actor_event_publisher ();
    assert_non_null (pub);
    //  Subscriptions propagate asynchronously: publish until one arrives.
    bool ready = false;
    for (int i = 0; i < 50 && !ready; i++) {
        zstr_sendx (pub, "sync.ready", "x", NULL);
        char *topic = NULL, *payload = NULL;
        ready = zstr_recvx (sub, &topic, &payload, NULL) == 2;
        free (topic);
        free (payload);
    }
    assert_true (ready);
    char payload [PAYLOAD + 1];
    memset (payload, 'p', PAYLOAD);
    payload [PAYLOAD] = '\0';
    for (int i = 0; i < BURST; i++) {
        char topic [32];
        snprintf (topic, sizeof topic, "sync.%d", i);
        assert_int_equal (zstr_sendx (pub, topic, payload, NULL), 0);
    }
    int got = 0;
    zsock_set_rcvtimeo (sub, 3000);             //  silence this long: the burst is over
    while (got < BURST) {
        char *topic = NULL, *body = NULL;
        if (zstr_recvx (sub, &topic, &body, NULL) != 2) {
            free (topic);
            free (body);
            break;
        }
        if (strcmp (topic, "sync.ready") != 0)
            got++;
        free (topic);
        free (body);
    }
    fprintf (stderr, "events received: %d of %d\n", got, BURST);
    assert_int_equal (got, BURST);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_unknown_service_is_answered_unavailable_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_worker_gets_no_more_than_its_credit_and_queue_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown (test_request_expiring_in_the_queue_is_never_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown (test_worker_reply_after_the_ttl_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown (test_malformed_frames_get_bad_frame_and_the_broker_stays_up, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_lost_workers_idempotent_request_goes_to_another_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_given_again_request_is_answered_by_the_new_worker, setup, teardown),
        cmocka_unit_test_setup_teardown (test_services_lists_live_workers, setup, teardown),
        cmocka_unit_test_setup_teardown (test_events_pass_from_publishers_to_subscribers, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_burst_of_events_reaches_a_subscriber_whole, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
