/*  mode=semantic over a real broker and two real search replicas, one with
    an LSA model (trained by mg-embed-train on a scratch catalog) and one
    without: the replica without declines and the broker routes to the one
    with, so every semantic request succeeds; with only the model-less
    replica left, semantic is SERVICE_UNAVAILABLE with retry_after (HTTP
    503 + Retry-After) while keyword search still works.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"

#define CALL_TTL_MS   5000
#define START_WAIT_MS 30000     //  migrations, snapshot load and registration
#define CALLS         30        //  enough that LRU dispatch tries both replicas

#define ID(x) "00000000-0000-4000-8000-00000000061" x

typedef struct {
    char url [512];
    char model [256];
    mg_test_env_t env;
    PGconn *admin;
    pid_t broker;
    pid_t with_model;
    pid_t without_model;
    mg_client_t *client;
} fixture_t;

static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, year, overview, popularity, checksum) VALUES "
    "('" ID ("1") "', 'movie', 'Star Voyager', 2001, 'An astronaut crew pilots a spaceship across the galaxy to a distant planet.', 10, '\\x00'), "
    "('" ID ("2") "', 'movie', 'Galaxy Drifters', 2005, 'Astronauts on a damaged spaceship drift through the galaxy toward an alien planet.', 8, '\\x00'), "
    "('" ID ("3") "', 'movie', 'Kitchen Hearts', 2012, 'A chef falls in love with a baker while cooking in a small restaurant kitchen.', 9, '\\x00'), "
    "('" ID ("4") "', 'movie', 'Recipe for Love', 2015, 'Two rival chefs cook in the same restaurant kitchen and fall in love.', 7, '\\x00')",
};

//  search.query {q, mode}: 0, or -1 with err filled.
static int
s_search (fixture_t *f, const char *mode, mg_error_t *err)
{
    mg_search_request_t req = { .q = "astronaut spaceship", .mode = (char *) mode };
    mg_search_reply_t rep;
    memset (err, 0, sizeof *err);
    int rc = mg_client_call (f->client, "search.query", &mg_search_request_desc, &req,
                             &mg_search_reply_desc, &rep, CALL_TTL_MS, err);
    if (rc == 0)
        mg_msg_clear (&mg_search_reply_desc, &rep);
    return rc;
}

//  Until ping answers from pid (both replicas registered), up to START_WAIT_MS.
static bool
s_wait_for (fixture_t *f, pid_t pid)
{
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_ping_reply_t pong;
        mg_error_t err = { 0 };
        if (mg_client_call (f->client, "search.ping", NULL, NULL, &mg_ping_reply_desc, &pong, 1000, &err) == 0) {
            bool found = pong.pid == (uint64_t) pid;
            mg_msg_clear (&mg_ping_reply_desc, &pong);
            if (found)
                return true;
        }
        else {
            mg_msg_clear (&mg_error_desc, &err);
            zclock_sleep (100);
        }
    }
    return false;
}

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    char err [256];
    f->admin = mg_test_scratch_db ("mg_semantic_replicas", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    PGconn *pg = mg_pg_connect (f->url, err, sizeof err);
    bool ok = pg && mg_pg_migrate (pg, mg_config_str ("MG_SQL_DIR", "config/sql"), err, sizeof err) >= 0;
    for (size_t i = 0; ok && i < sizeof s_fixtures / sizeof s_fixtures [0]; i++) {
        PGresult *res = PQexec (pg, s_fixtures [i]);
        ok = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf (stderr, "fixture %zu: %s", i, PQresultErrorMessage (res));
        PQclear (res);
    }
    PQfinish (pg);
    if (!ok)
        return -1;
    snprintf (f->model, sizeof f->model, "/tmp/mg_semantic_replicas_%d.model", (int) getpid ());
    mg_test_env_init (&f->env, f->url);
    mg_test_env_add (&f->env, "MG_EMBED_MODEL=%s", f->model);
    if (!mg_test_run ("mg-embed-train", f->env.envp, (char *[]) { "--dims", "2", NULL })) {
        fprintf (stderr, "mg-embed-train failed\n");
        return -1;
    }
    //  The same settings but a model file that does not exist.
    mg_test_env_t blind = f->env;
    for (int i = 0; i < blind.count; i++)
        blind.envp [i] = blind.text [i];
    mg_test_env_add (&blind, "MG_EMBED_MODEL=/nonexistent/lsa.model");
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->with_model = mg_test_spawn ("mg-search", f->env.envp);
    f->without_model = mg_test_spawn ("mg-search", blind.envp);
    f->client = mg_client_new (f->env.endpoint);
    if (!f->client || !s_wait_for (f, f->with_model) || !s_wait_for (f, f->without_model))
        return -1;
    return 0;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    if (f->with_model > 0)
        mg_test_stop (f->with_model, SIGTERM);
    if (f->without_model > 0)
        mg_test_stop (f->without_model, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    remove (f->model);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

static void
test_mixed_replicas_serve_every_semantic_request (void **state)
{
    fixture_t *f = *state;
    //  Only semantic calls in a row: least-recently-used dispatch offers
    //  every other one to the replica without a model.
    for (int i = 0; i < CALLS; i++) {
        mg_error_t err;
        if (s_search (f, "semantic", &err))
            fail_msg ("semantic call %d: %s %s", i, err.code, err.message);
    }
    for (int i = 0; i < CALLS; i++) {
        mg_error_t err;
        if (s_search (f, "keyword", &err))
            fail_msg ("keyword call %d: %s %s", i, err.code, err.message);
    }
}

static void
test_without_a_model_semantic_is_503 (void **state)
{
    fixture_t *f = *state;
    mg_test_stop (f->with_model, SIGTERM);
    f->with_model = 0;
    for (int i = 0; i < 10; i++) {
        mg_error_t err;
        assert_int_equal (s_search (f, "semantic", &err), -1);
        assert_string_equal (err.code, "SERVICE_UNAVAILABLE");
        assert_true (err.has_retry_after && err.retry_after >= 1);
        mg_msg_clear (&mg_error_desc, &err);
        assert_int_equal (s_search (f, "keyword", &err), 0);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_mixed_replicas_serve_every_semantic_request),
        cmocka_unit_test (test_without_a_model_semantic_is_503),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
