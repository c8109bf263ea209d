/*  CURVE on the bus (docs/security.md, "The bus"): mg-broker with a key
    directory accepts only listed keys on its request and event sockets,
    lets a role register only the services its certificate names, counts
    and logs what it refuses (mmi.stats), and reads the clients directory
    again when it changes or on SIGHUP.  */
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
#include "mg_msg.h"
#include "mg_test.h"

#define SILENCE_MS  1000          //  a refused peer's request: no answer in this long
#define WAIT_MS     5000          //  generous on a loaded machine

typedef struct {
    mg_test_env_t env;
    const char *keys;
    pid_t broker;
    mg_client_t *client;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    mg_test_env_init (&f->env, NULL);
    //  Raw test workers do not heartbeat: 1 s x 3 leaves them 3 s.
    mg_test_env_add (&f->env, "MG_HEARTBEAT_MS=1000");
    f->keys = mg_test_keys ();
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    *state = f;
    return f->keys && f->broker > 0 && f->client ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    mg_test_stop (f->broker, SIGTERM);
    free (f);
    return 0;
}

//  A DEALER to endpoint speaking with cert (not ours) to the broker.
static zsock_t *
s_socket_with (fixture_t *f, int type, const char *endpoint, zcert_t *cert)
{
    char path [512];
    snprintf (path, sizeof path, "%s/broker.key", f->keys);
    zcert_t *broker = zcert_load (path);
    assert_non_null (broker);
    zsock_t *sock = zsock_new (type);
    assert_non_null (sock);
    zsock_set_linger (sock, 0);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (broker));
    zcert_destroy (&broker);
    assert_int_equal (zsock_connect (sock, "%s", endpoint), 0);
    return sock;
}

//  The pair of role from the test's key directory.
static zcert_t *
s_role_cert (fixture_t *f, const char *role)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s.key_secret", f->keys, role);
    zcert_t *cert = zcert_load (path);
    assert_non_null (cert);
    return cert;
}

//  The broker's counters.
static mg_mmi_stats_reply_t
s_stats (fixture_t *f)
{
    mg_mmi_stats_reply_t stats = { 0 };
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "mmi.stats", NULL, NULL, &mg_mmi_stats_reply_desc,
                                      &stats, WAIT_MS, &err), 0);
    mg_msg_clear (&mg_error_desc, &err);
    return stats;
}

//  Wait until service has want live workers; true when it did.
static bool
s_wait_workers (fixture_t *f, const char *service, uint64_t want)
{
    return mg_test_wait_workers (f->client, service, want, WAIT_MS);
}

//  True when an mmi.services request on sock is answered within SILENCE_MS.
static bool
s_answered (zsock_t *sock)
{
    zmsg_t *msg = mg_frame_request ("mmi.services", "1", 1, 2000, NULL, 0);
    assert_non_null (msg);
    assert_int_equal (zmsg_send (&msg, sock), 0);
    zsock_set_rcvtimeo (sock, SILENCE_MS);
    zmsg_t *reply = zmsg_recv (sock);
    bool answered = reply != NULL;
    zmsg_destroy (&reply);
    return answered;
}

static void
test_listed_keys_are_served_and_others_refused_and_counted (void **state)
{
    fixture_t *f = *state;
    mg_mmi_stats_reply_t before = s_stats (f);
    assert_true (before.curve);

    zcert_t *gateway = s_role_cert (f, "gateway");
    zsock_t *listed = s_socket_with (f, ZMQ_DEALER, f->env.endpoint, gateway);
    assert_true (s_answered (listed));

    //  A key pair of its own, in no clients directory.
    zcert_t *stranger = zcert_new ();
    zsock_t *unlisted = s_socket_with (f, ZMQ_DEALER, f->env.endpoint, stranger);
    assert_false (s_answered (unlisted));

    //  No CURVE at all.
    zsock_t *plain = zsock_new_dealer (f->env.endpoint);
    assert_non_null (plain);
    assert_false (s_answered (plain));

    mg_mmi_stats_reply_t after = s_stats (f);
    assert_true (after.refused_handshakes > before.refused_handshakes);
    zsock_destroy (&plain);
    zsock_destroy (&unlisted);
    zsock_destroy (&listed);
    zcert_destroy (&stranger);
    zcert_destroy (&gateway);
}

static void
test_a_role_registers_only_the_services_its_certificate_allows (void **state)
{
    fixture_t *f = *state;
    zcert_t *search = s_role_cert (f, "search");
    assert_string_equal (zcert_meta (search, "services"), "search");
    zsock_t *worker = s_socket_with (f, ZMQ_DEALER, f->env.endpoint, search);
    //  The search key may not answer authenticate for anyone.
    zstr_sendx (worker, MG_FRAME_PROTOCOL, "READY", "accounts", "1", NULL);
    zstr_sendx (worker, MG_FRAME_PROTOCOL, "READY", "search", "1", NULL);
    assert_true (s_wait_workers (f, "search", 1));
    assert_int_equal (mg_test_workers (f->client, "accounts"), 0);
    assert_true (s_stats (f).refused_registrations >= 1);

    //  The accounts key may.
    zcert_t *accounts = s_role_cert (f, "accounts");
    zsock_t *owner = s_socket_with (f, ZMQ_DEALER, f->env.endpoint, accounts);
    zstr_sendx (owner, MG_FRAME_PROTOCOL, "READY", "accounts", "1", NULL);
    assert_true (s_wait_workers (f, "accounts", 1));
    zsock_destroy (&owner);
    zsock_destroy (&worker);
    zcert_destroy (&accounts);
    zcert_destroy (&search);
}

static void
test_event_sockets_refuse_unlisted_keys (void **state)
{
    fixture_t *f = *state;
    zcert_t *sync = s_role_cert (f, "sync");
    zcert_t *stranger = zcert_new ();
    zsock_t *pub = s_socket_with (f, ZMQ_PUB, f->env.publish, sync);
    zsock_t *sub = mg_test_socket (ZMQ_SUB, f->env.events, "sync.");
    zsock_t *spy = s_socket_with (f, ZMQ_SUB, f->env.events, stranger);
    zsock_t *forger = s_socket_with (f, ZMQ_PUB, f->env.publish, stranger);
    assert_non_null (sub);
    zsock_set_subscribe (spy, "sync.");
    zsock_set_rcvtimeo (sub, 100);
    zsock_set_rcvtimeo (spy, 100);
    //  Subscriptions travel asynchronously: publish until the listed
    //  subscriber has one, the forger's events interleaved.
    bool got = false, forged = false, spied = false;
    for (int i = 0; i < 50 && !got; i++) {
        zstr_sendx (forger, "sync.u1", "forged", NULL);
        zstr_sendx (pub, "sync.u1", "watchlist", NULL);
        char *topic = NULL, *payload = NULL;
        while (zstr_recvx (sub, &topic, &payload, NULL) == 2) {
            got |= strcmp (payload, "watchlist") == 0;
            forged |= strcmp (payload, "forged") == 0;
            zstr_free (&topic);
            zstr_free (&payload);
        }
        if (zstr_recvx (spy, &topic, &payload, NULL) == 2)
            spied = true;
        zstr_free (&topic);
        zstr_free (&payload);
    }
    assert_true (got);
    assert_false (forged);
    assert_false (spied);
    zsock_destroy (&forger);
    zsock_destroy (&spy);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
    zcert_destroy (&stranger);
    zcert_destroy (&sync);
}

static void
test_clients_directory_is_read_again_when_it_changes_and_on_sighup (void **state)
{
    fixture_t *f = *state;
    //  A role added while the broker runs (a new actor, a new host).
    char err [256];
    assert_int_equal (mg_curve_make (f->keys, "extra7", "extra", err, sizeof err), 0);
    zcert_t *extra = s_role_cert (f, "extra7");
    zsock_t *worker = s_socket_with (f, ZMQ_DEALER, f->env.endpoint, extra);
    zstr_sendx (worker, MG_FRAME_PROTOCOL, "READY", "extra", "1", NULL);
    assert_true (s_wait_workers (f, "extra", 1));

    //  Withdrawn: its worker is dropped, and the key connects no more.
    char path [512];
    snprintf (path, sizeof path, "%s/clients/extra7.key", f->keys);
    assert_int_equal (unlink (path), 0);
    assert_int_equal (mg_test_signal (f->broker, SIGHUP), 0);
    assert_true (s_wait_workers (f, "extra", 0));
    //  Its next message gets RESET, and its READY again is refused.
    zstr_sendx (worker, MG_FRAME_PROTOCOL, "READY", "extra", "1", NULL);
    usleep (300 * 1000);
    assert_int_equal (mg_test_workers (f->client, "extra"), 0);
    zsock_t *again = s_socket_with (f, ZMQ_DEALER, f->env.endpoint, extra);
    assert_false (s_answered (again));
    zsock_destroy (&again);
    zsock_destroy (&worker);
    zcert_destroy (&extra);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_listed_keys_are_served_and_others_refused_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_role_registers_only_the_services_its_certificate_allows, setup, teardown),
        cmocka_unit_test_setup_teardown (test_event_sockets_refuse_unlisted_keys, setup, teardown),
        cmocka_unit_test_setup_teardown (test_clients_directory_is_read_again_when_it_changes_and_on_sighup, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
