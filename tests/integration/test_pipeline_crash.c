/*  The pipeline survives kill -9 of the resolver or the indexer while an
    import is provably under way: after a restart every record ends in
    exactly one entity, none twice, none lost.  */
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
#include "mg_pg.h"
#include "mg_test.h"

#define RECORDS  6000              //  enough that the import outlives the kill

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    PGconn *pg;
    pid_t broker, indexer, resolver;
    mg_client_t *client;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    char err [256];
    f->admin = mg_test_scratch_db ("mg_crash", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    mg_test_env_init (&f->env, f->url);
    mg_test_env_add (&f->env, "MG_RESOLVER_LEASE_S=2");
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    //  Ready once the indexer (which migrates the database) answers.
    bool ready = mg_test_wait_service (f->env.endpoint, "indexer", 15000) == 0;
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    *state = f;
    return ready && f->pg ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    mg_test_stop (f->resolver, SIGTERM);
    mg_test_stop (f->indexer, SIGTERM);
    mg_test_stop (f->broker, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

static long
s_scalar (fixture_t *f, const char *sql)
{
    PGresult *res = PQexec (f->pg, sql);
    long v = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) ? atol (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    return v;
}

//  Queue RECORDS distinct synthetic films (and, at the end, a second
//  source's copy of the first 100, which must merge by id).
static void
s_enqueue_all (fixture_t *f)
{
    for (int from = 0; from < RECORDS + 100; from += 1000) {
        int count = from + 1000 <= RECORDS + 100 ? 1000 : RECORDS + 100 - from;
        mg_enqueue_request_t req = { .records = calloc ((size_t) count, sizeof (mg_raw_record_t)),
                                     .records_count = (size_t) count };
        for (int i = 0; i < count; i++) {
            int n = from + i;
            bool copy = n >= RECORDS;
            int film = copy ? n - RECORDS : n;
            mg_raw_record_t *r = &req.records [i];
            char text [64];
            r->source = strdup (copy ? "watchmode" : "tmdb");
            snprintf (text, sizeof text, "%d", 5000000 + n);
            r->source_id = strdup (text);
            snprintf (text, sizeof text, "Synthetic Film Number %d", film);
            r->title = strdup (text);
            r->year = 1950 + (uint64_t) (film % 70);
            r->has_year = true;
            r->tmdb = 9000000 + film;
            r->has_tmdb = true;
        }
        mg_enqueue_reply_t reply;
        mg_error_t err = { 0 };
        int rc = mg_client_call (f->client, "indexer.enqueue", &mg_enqueue_request_desc, &req,
                                 &mg_enqueue_reply_desc, &reply, 10000, &err);
        mg_msg_clear (&mg_enqueue_request_desc, &req);
        if (rc) {
            print_message ("enqueue failed: %s %s\n", err.code, err.message);
            mg_msg_clear (&mg_error_desc, &err);
            fail ();
        }
    }
}

//  Wait until some but not all jobs are done; returns how many were.
static long
s_wait_partway (fixture_t *f)
{
    int64_t until = mg_test_now_ms () + 30000;
    long done = 0;
    while (mg_test_now_ms () < until) {
        done = s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'");
        if (done >= 500)
            break;
        zclock_sleep (5);
    }
    return done;
}

//  Wait until every job is finished (killed work waits out its 2 s lease).
static void
s_wait_all (fixture_t *f)
{
    int64_t until = mg_test_now_ms () + 90000;
    while (mg_test_now_ms () < until
       &&  s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state <> 'done'") > 0)
        zclock_sleep (100);
}

static void
s_check_exact (fixture_t *f)
{
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state <> 'done'"), 0);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), RECORDS);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_sources"), RECORDS + 100);
    assert_int_equal (s_scalar (f, "SELECT count(DISTINCT value) FROM external_ids WHERE source = 'tmdb'"), RECORDS);
    //  Each copy joined its film: entities with two sources are exactly 100.
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM (SELECT content_id FROM content_sources "
                                   "GROUP BY content_id HAVING count(*) = 2) t"), 100);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM (SELECT title FROM content GROUP BY title "
                                   "HAVING count(*) > 1) t"), 0);
}

static void
test_kill_9_of_the_resolver_mid_import_loses_and_doubles_nothing (void **state)
{
    fixture_t *f = *state;
    s_enqueue_all (f);
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    long done = s_wait_partway (f);
    mg_test_stop (f->resolver, SIGKILL);
    long after = s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'");
    print_message ("killed the resolver with %ld of %d records done\n", after, RECORDS + 100);
    assert_true (done > 0);
    assert_true (after < RECORDS + 100);      //  provably mid-import
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    s_wait_all (f);
    s_check_exact (f);
}

static void
test_kill_9_of_the_indexer_mid_import_loses_and_doubles_nothing (void **state)
{
    fixture_t *f = *state;
    s_enqueue_all (f);
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    s_wait_partway (f);
    mg_test_stop (f->indexer, SIGKILL);
    long after = s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'");
    print_message ("killed the indexer with %ld of %d records done\n", after, RECORDS + 100);
    assert_true (after < RECORDS + 100);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    s_wait_all (f);
    s_check_exact (f);
}

int
main (void)
{
    if (!getenv ("MG_PG_URL")) {
        fprintf (stderr, "MG_PG_URL is not set (run through scripts/test)\n");
        return 1;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_kill_9_of_the_resolver_mid_import_loses_and_doubles_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_kill_9_of_the_indexer_mid_import_loses_and_doubles_nothing, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
