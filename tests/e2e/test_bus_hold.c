/*  A gateway whose broker connection is not up yet holds a request instead
    of refusing it (gateway/bus.c): started while its broker does not answer
    (SIGSTOPped: the TCP connection opens, the ZMTP handshake waits), a
    request made at once is served once the broker answers 300 ms later;
    with no broker at all, a request ends 503 + Retry-After by its deadline
    (+ 1 s), and /ready says not ready at once instead of waiting.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_test.h"

#define START_WAIT_MS   60000       //  a process under ASan on a loaded machine
#define DEADLINE_MS     2000        //  MG_REQUEST_TIMEOUT_MS of these gateways
#define HANG_MS         (DEADLINE_MS + 1000)
#define BROKER_LATE_MS  300         //  the broker answers this long after the request
#define HEARTBEAT_MS    2000        //  with liveness 3: the catalog keeps its broker through
                                    //  the seconds the broker is stopped
#define READY_WAIT_MS   1000        //  generous bound for a /ready that does not wait

typedef struct {
    mg_test_env_t env;
    int http_port;
    pid_t broker, catalog;
} fixture_t;

//  Settings every gateway of this test shares on top of env.
static void
s_settings (mg_test_env_t *env, int http_port)
{
    mg_test_env_add (env, "MG_HTTP_PORT=%d", http_port);
    mg_test_env_add (env, "MG_HTTP_THREADS=1");
    mg_test_env_add (env, "MG_RATE_ENABLED=0");
    mg_test_env_add (env, "MG_REQUEST_TIMEOUT_MS=%d", DEADLINE_MS);
    mg_test_env_add (env, "MG_HEARTBEAT_MS=%d", HEARTBEAT_MS);
    //  Genres is the probe of the bus path, not answered from memory.
    mg_test_env_add (env, "MG_REFERENCE_CACHE_S=0");
}

static int
setup (void **state)
{
    const char *pg = getenv ("MG_PG_URL");
    if (!pg) {
        fprintf (stderr, "MG_PG_URL is not set: scripts/test provides a database\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    mg_test_env_init (&f->env, pg);
    f->http_port = mg_test_free_port ();
    s_settings (&f->env, f->http_port);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    if (f->broker < 0 || f->catalog < 0)
        return -1;
    return mg_test_wait_service (f->env.endpoint, "catalog", START_WAIT_MS);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    if (f) {
        if (f->broker > 0) {
            mg_test_signal (f->broker, SIGCONT);
            mg_test_stop (f->broker, SIGTERM);
        }
        if (f->catalog > 0)
            mg_test_stop (f->catalog, SIGTERM);
        free (f);
    }
    return 0;
}

//  Thread: let the stopped broker go on BROKER_LATE_MS from now.
static void *
s_continue_later (void *arg)
{
    pid_t broker = *(pid_t *) arg;
    usleep (BROKER_LATE_MS * 1000);
    mg_test_signal (broker, SIGCONT);
    return NULL;
}

static void
test_bus_hold_request_made_before_the_broker_answers_is_served (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (mg_test_signal (f->broker, SIGSTOP), 0);
    pid_t gateway = mg_test_spawn ("mg-gateway", f->env.envp);
    assert_true (gateway > 0);
    assert_int_equal (mg_test_wait_http (f->http_port, "/health", 200, START_WAIT_MS), 0);

    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_continue_later, &f->broker), 0);
    mg_http_reply_t reply;
    int rc = mg_http_request (f->http_port, "GET", "/api/v1/genres", "", NULL, &reply, HANG_MS);
    pthread_join (thread, NULL);
    assert_int_equal (rc, 0);
    if (reply.status != 200)
        fail_msg ("GET /api/v1/genres made before the broker answered: %d %s", reply.status,
                  reply.body ? reply.body : "");
    mg_http_reply_free (&reply);
    assert_int_equal (mg_test_stop (gateway, SIGTERM), 0);
}

static void
test_bus_hold_request_with_no_broker_ends_503_by_its_deadline (void **state)
{
    (void) state;
    //  An environment of its own: its broker endpoint is a free port nobody listens on.
    mg_test_env_t env;
    mg_test_env_init (&env, getenv ("MG_PG_URL"));
    int http_port = mg_test_free_port ();
    s_settings (&env, http_port);
    pid_t gateway = mg_test_spawn ("mg-gateway", env.envp);
    assert_true (gateway > 0);
    assert_int_equal (mg_test_wait_http (http_port, "/health", 200, START_WAIT_MS), 0);

    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (http_port, "GET", "/ready", "", NULL, &reply, READY_WAIT_MS), 0);
    assert_int_equal (reply.status, 503);
    mg_http_reply_free (&reply);

    int64_t started = mg_test_now_ms ();
    int rc = mg_http_request (http_port, "GET", "/api/v1/genres", "", NULL, &reply, HANG_MS + 1000);
    int64_t took = mg_test_now_ms () - started;
    assert_int_equal (rc, 0);
    char retry_after [16] = "";
    if (reply.status != 503 || !mg_http_header (&reply, "Retry-After", retry_after, sizeof retry_after))
        fail_msg ("GET with no broker: %d %s", reply.status, reply.body ? reply.body : "");
    assert_string_equal (retry_after, "1");
    assert_non_null (strstr (reply.body, "SERVICE_UNAVAILABLE"));
    mg_http_reply_free (&reply);
    if (took > HANG_MS)
        fail_msg ("the 503 came %lld ms after the request (deadline %d ms)", (long long) took, DEADLINE_MS);
    assert_int_equal (mg_test_stop (gateway, SIGTERM), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_bus_hold_request_made_before_the_broker_answers_is_served),
        cmocka_unit_test (test_bus_hold_request_with_no_broker_ends_503_by_its_deadline),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
