/*  catalog actor over a real broker and PostgreSQL: the genres, and an
    error reply (never silence) when the database is unreachable.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <sys/wait.h>

#include "mg_client.h"
#include "mg_test.h"

typedef struct {
    char endpoint [64];
    char env [6][160];
    const char *envp [8];
    pid_t broker;
    pid_t catalog;
    mg_client_t *client;
} fixture_t;

//  Start a broker and a catalog whose database is pg_url.
static fixture_t *
s_start (const char *pg_url)
{
    fixture_t *f = calloc (1, sizeof *f);
    int port = mg_test_free_port ();
    snprintf (f->endpoint, sizeof f->endpoint, "tcp://127.0.0.1:%d", port);
    snprintf (f->env [0], sizeof f->env [0], "MG_BROKER=%s", f->endpoint);
    snprintf (f->env [1], sizeof f->env [1], "MG_BROKER_BIND=%s", f->endpoint);
    snprintf (f->env [2], sizeof f->env [2], "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->env [3], sizeof f->env [3], "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->env [4], sizeof f->env [4], "MG_PG_URL=%s", pg_url);
    snprintf (f->env [5], sizeof f->env [5], "MG_HEARTBEAT_MS=100");
    for (int i = 0; i < 6; i++)
        f->envp [i] = f->env [i];
    f->broker = mg_test_spawn ("mg-broker", f->envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->envp);
    f->client = mg_client_new (f->endpoint);
    return f;
}

static void
s_stop (fixture_t *f)
{
    mg_client_destroy (&f->client);
    mg_test_stop (f->catalog, SIGTERM);
    mg_test_stop (f->broker, SIGTERM);
    free (f);
}

//  Call catalog.genres until the catalog has registered (or 10 s pass).
static int
s_genres (fixture_t *f, mg_genres_reply_t *reply, mg_error_t *err)
{
    int64_t until = mg_test_now_ms () + 10000;
    int rc = -1;
    while (mg_test_now_ms () < until) {
        mg_msg_clear (&mg_error_desc, err);
        rc = mg_client_call (f->client, "catalog.genres", NULL, NULL, &mg_genres_reply_desc, reply, 3000, err);
        if (rc == 0 || strcmp (err->code, "SERVICE_UNAVAILABLE") != 0)
            break;
        zclock_sleep (50);
    }
    return rc;
}

static int
setup_good (void **state)
{
    *state = s_start (getenv ("MG_PG_URL"));
    return 0;
}

static int
setup_unreachable (void **state)
{
    //  Nothing listens on this port.
    char url [128];
    snprintf (url, sizeof url, "postgresql://postgres@127.0.0.1:%d/mediagateway?connect_timeout=2",
              mg_test_free_port ());
    *state = s_start (url);
    return 0;
}

static int
teardown (void **state)
{
    s_stop (*state);
    return 0;
}

static void
test_genres_are_the_18_canonical_ones_ordered_by_name (void **state)
{
    fixture_t *f = *state;
    mg_genres_reply_t reply;
    mg_error_t err = { 0 };
    assert_int_equal (s_genres (f, &reply, &err), 0);
    assert_int_equal (reply.results_count, 18);
    assert_string_equal (reply.results [0].slug, "action");
    assert_string_equal (reply.results [0].name, "Action");
    bool scifi = false;
    for (size_t i = 0; i < reply.results_count; i++) {
        if (i > 0)
            assert_true (strcmp (reply.results [i - 1].name, reply.results [i].name) < 0);
        if (strcmp (reply.results [i].slug, "science-fiction") == 0)
            scifi = true;
    }
    assert_true (scifi);
    mg_msg_clear (&mg_genres_reply_desc, &reply);
}

static void
test_catalog_refuses_to_start_without_its_database (void **state)
{
    //  The catalog exits non-zero; the broker answers SERVICE_UNAVAILABLE.
    fixture_t *f = *state;
    int status = mg_test_stop (f->catalog, 0);
    f->catalog = -1;
    assert_true (WIFEXITED (status));
    assert_int_not_equal (WEXITSTATUS (status), 0);
    mg_genres_reply_t reply;
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "catalog.genres", NULL, NULL, &mg_genres_reply_desc, &reply, 2000, &err), -1);
    assert_string_equal (err.code, "SERVICE_UNAVAILABLE");
    mg_msg_clear (&mg_error_desc, &err);
}

int
main (void)
{
    if (!getenv ("MG_PG_URL")) {
        fprintf (stderr, "MG_PG_URL is not set (run through scripts/test)\n");
        return 1;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_genres_are_the_18_canonical_ones_ordered_by_name, setup_good, teardown),
        cmocka_unit_test_setup_teardown (test_catalog_refuses_to_start_without_its_database, setup_unreachable, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
