/*  A real catalog over a real broker and PostgreSQL whose table it reads is
    locked by another session: the request is answered SERVICE_UNAVAILABLE
    with retry_after (HTTP 503 + Retry-After) by lock_timeout, or by
    statement_timeout when the lock wait is allowed longer, instead of
    hanging until the caller's deadline; afterwards the same worker serves
    again on the same connection.  */
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

#define CALL_TTL_MS  8000       //  far above the bounds under test
#define MISSING_ID   "00000000-0000-4000-8000-0000000000ff"

typedef struct {
    char url [512];
    PGconn *admin;
    PGconn *locker;             //  holds the lock on content
    mg_test_env_t env;
    pid_t broker;
    pid_t catalog;
    mg_client_t *client;
} fixture_t;

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    f->admin = mg_test_scratch_db ("mg_catalog_pg_bounds", f->url, sizeof f->url);
    return f->admin ? 0 : -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    if (f->catalog > 0)
        mg_test_stop (f->catalog, SIGKILL);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    f->catalog = f->broker = 0;
    PQfinish (f->locker);
    f->locker = NULL;
    return 0;
}

//  Start a broker and a catalog with the statement and lock bounds given.
static void
s_start (fixture_t *f, int statement_ms, int lock_ms)
{
    mg_test_env_init (&f->env, f->url);
    mg_test_env_add (&f->env, "MG_PG_STATEMENT_TIMEOUT_MS=%d", statement_ms);
    mg_test_env_add (&f->env, "MG_PG_LOCK_TIMEOUT_MS=%d", lock_ms);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    assert_non_null (f->client);
    assert_int_equal (mg_test_wait_service (f->env.endpoint, "catalog", 20000), 0);
}

//  Lock content against every reader in a transaction left open.
static void
s_lock (fixture_t *f)
{
    char err [256];
    f->locker = mg_pg_connect (f->url, err, sizeof err);
    assert_non_null (f->locker);
    PGresult *res = PQexec (f->locker, "BEGIN; LOCK TABLE content IN ACCESS EXCLUSIVE MODE");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
}

//  catalog.content for an id that does not exist; the error it ends in.
static void
s_content (fixture_t *f, mg_error_t *err)
{
    mg_content_request_t req = { .id = MISSING_ID };
    mg_content_details_t rep;
    memset (err, 0, sizeof *err);
    int rc = mg_client_call (f->client, "catalog.content", &mg_content_request_desc, &req,
                             &mg_content_details_desc, &rep, CALL_TTL_MS, err);
    if (rc == 0)
        mg_msg_clear (&mg_content_details_desc, &rep);
    assert_int_not_equal (rc, 0);
    assert_non_null (err->code);
}

//  The locked read is a 503 with retry_after before the call's deadline,
//  and once the lock is gone the catalog answers again.
static void
s_expect_unavailable_then_served (fixture_t *f)
{
    s_lock (f);
    mg_error_t err;
    int64_t started = mg_test_now_ms ();
    s_content (f, &err);
    assert_string_equal (err.code, "SERVICE_UNAVAILABLE");
    assert_true (err.has_retry_after && err.retry_after >= 1);
    assert_true (mg_test_now_ms () - started < CALL_TTL_MS);
    mg_msg_clear (&mg_error_desc, &err);
    PGresult *res = PQexec (f->locker, "ROLLBACK");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    s_content (f, &err);
    assert_string_equal (err.code, "NOT_FOUND");
    mg_msg_clear (&mg_error_desc, &err);
}

static void
test_lock_timeout_is_503 (void **state)
{
    fixture_t *f = *state;
    s_start (f, 60000, 300);
    s_expect_unavailable_then_served (f);
}

static void
test_statement_timeout_is_503 (void **state)
{
    fixture_t *f = *state;
    s_start (f, 300, 60000);
    s_expect_unavailable_then_served (f);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_teardown (test_lock_timeout_is_503, teardown),
        cmocka_unit_test_teardown (test_statement_timeout_is_503, teardown),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
