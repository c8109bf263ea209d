/*  indexer.apply over a real broker, indexer and PostgreSQL while another
    session holds a lock on content: the batch is answered
    SERVICE_UNAVAILABLE with retry_after (lock_timeout, a database failure,
    not the record's fault), its job is not failed and stays claimed, and
    the same apply succeeds once the lock is gone.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_pg.h"
#include "mg_test.h"

#define CALL_TTL_MS  8000       //  far above the lock bound under test
#define ENTITY       "00000000-0000-4000-8000-000000000701"

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    PGconn *pg;
    pid_t broker;
    pid_t indexer;
    mg_client_t *client;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    char err [256];
    f->admin = mg_test_scratch_db ("mg_indexer_pg_bounds", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    mg_test_env_init (&f->env, f->url);
    mg_test_env_add (&f->env, "MG_PG_LOCK_TIMEOUT_MS=300");
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    if (!f->client || mg_test_wait_service (f->env.endpoint, "indexer", 20000))
        return -1;
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    return f->pg ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    if (f->indexer > 0)
        mg_test_stop (f->indexer, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  State of job id.
static char *
s_job_state (fixture_t *f, uint64_t id)
{
    char text [24];
    snprintf (text, sizeof text, "%llu", (unsigned long long) id);
    const char *params [1] = { text };
    PGresult *res = PQexecParams (f->pg, "SELECT state FROM ingest_jobs WHERE id = $1::bigint",
                                  1, NULL, params, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    char *state = strdup (PQgetvalue (res, 0, 0));
    PQclear (res);
    return state;
}

static void
test_a_locked_catalog_is_503_and_fails_no_job (void **state)
{
    fixture_t *f = *state;
    //  One record queued and claimed, as the resolver would.
    mg_raw_record_t record = { .source = "tmdb", .source_id = "701", .title = "Locked Out",
                               .year = 2001, .has_year = true };
    mg_enqueue_request_t enqueue = { .records = &record, .records_count = 1 };
    mg_enqueue_reply_t queued;
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "indexer.enqueue", &mg_enqueue_request_desc, &enqueue,
                                      &mg_enqueue_reply_desc, &queued, CALL_TTL_MS, &err), 0);
    mg_msg_clear (&mg_enqueue_reply_desc, &queued);
    mg_claim_request_t claim = { .worker = "test", .max = 1, .has_max = true };
    mg_claim_reply_t claimed;
    assert_int_equal (mg_client_call (f->client, "indexer.claim", &mg_claim_request_desc, &claim,
                                      &mg_claim_reply_desc, &claimed, CALL_TTL_MS, &err), 0);
    assert_int_equal (claimed.jobs_count, 1);
    uint64_t job = claimed.jobs [0].id;
    mg_msg_clear (&mg_claim_reply_desc, &claimed);

    char reason [256];
    PGconn *locker = mg_pg_connect (f->url, reason, sizeof reason);
    assert_non_null (locker);
    PGresult *res = PQexec (locker, "BEGIN; LOCK TABLE content IN ACCESS EXCLUSIVE MODE");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);

    mg_apply_item_t item = { .job = job, .has_job = true, .entity = ENTITY,
                             .new_entity = true, .has_new_entity = true, .record = &record };
    mg_apply_request_t apply = { .items = &item, .items_count = 1 };
    mg_apply_reply_t applied;
    int64_t started = mg_test_now_ms ();
    assert_int_equal (mg_client_call (f->client, "indexer.apply", &mg_apply_request_desc, &apply,
                                      &mg_apply_reply_desc, &applied, CALL_TTL_MS, &err), -1);
    assert_string_equal (err.code, "SERVICE_UNAVAILABLE");
    assert_true (err.has_retry_after && err.retry_after >= 1);
    assert_true (mg_test_now_ms () - started < CALL_TTL_MS);
    mg_msg_clear (&mg_error_desc, &err);
    //  The record did nothing wrong: its job is still claimed, not failed.
    char *job_state = s_job_state (f, job);
    assert_string_equal (job_state, "running");
    free (job_state);

    res = PQexec (locker, "ROLLBACK");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    PQfinish (locker);
    assert_int_equal (mg_client_call (f->client, "indexer.apply", &mg_apply_request_desc, &apply,
                                      &mg_apply_reply_desc, &applied, CALL_TTL_MS, &err), 0);
    assert_int_equal (applied.created, 1);
    assert_int_equal (applied.failed, 0);
    mg_msg_clear (&mg_apply_reply_desc, &applied);
    job_state = s_job_state (f, job);
    assert_string_equal (job_state, "done");
    free (job_state);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_locked_catalog_is_503_and_fails_no_job, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
