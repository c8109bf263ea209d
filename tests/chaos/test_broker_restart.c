/*  kill -9 of the broker under load: 16 connections on /api/v1/genres while
    the supervision tree starts a new broker. Every error is a 503 with
    Retry-After (counted by status), no request hangs past its deadline,
    and the errors stop within 2 s of the new broker listening.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_load.h"
#include "mg_stack.h"
#include "mg_test.h"

#define START_WAIT_MS   120000      //  PostgreSQL, migrations and every actor under ASan
#define CONNECTIONS     16
#define DEADLINE_MS     5000        //  MG_REQUEST_TIMEOUT_MS of the stack (the default)
#define HANG_MS         (DEADLINE_MS + 1000)
#define CLIENT_WAIT_MS  (HANG_MS + 4000)    //  long enough to see a hang as one
#define WARM_MS         1000
#define BACK_WAIT_MS    15000       //  the supervisor starting a new broker
#define ERRORS_STOP_MS  2000        //  after the new broker listens
#define WATCH_MS        5000        //  load kept on after the new broker listens

static int
s_next (void *arg, int thread, uint64_t n, mg_load_request_t *request)
{
    (void) arg;
    (void) thread;
    (void) n;
    snprintf (request->method, sizeof request->method, "GET");
    snprintf (request->path, sizeof request->path, "/api/v1/genres");
    return 0;
}

static int
group_setup (void **state)
{
    return mg_stack_new_ready ((mg_stack_t **) state, "broker-restart", START_WAIT_MS);
}

static int
group_teardown (void **state)
{
    mg_stack_destroy ((mg_stack_t **) state);
    return 0;
}

static void
test_broker_restart_under_load_errors_stop_within_2s (void **state)
{
    mg_stack_t *stack = *state;
    int broker_port = 0;
    assert_int_equal (sscanf (stack->env.endpoint, "tcp://127.0.0.1:%d", &broker_port), 1);
    pid_t broker = mg_stack_pid (stack, "mg-broker", NULL);
    assert_true (broker > 0);

    mg_load_t *load = mg_load_start (stack->http_port, CONNECTIONS, CLIENT_WAIT_MS, s_next, NULL, NULL);
    assert_non_null (load);
    usleep (WARM_MS * 1000);
    int64_t killed = mg_test_now_ms ();
    assert_int_equal (mg_test_signal (broker, SIGKILL), 0);
    //  Back: a new broker process that accepts connections on its port.
    int64_t back = -1;
    while (back < 0 && mg_test_now_ms () - killed < BACK_WAIT_MS) {
        pid_t now = mg_stack_pid (stack, "mg-broker", NULL);
        if (now > 0 && now != broker && mg_stack_listening (broker_port))
            back = mg_test_now_ms ();
        else
            usleep (10 * 1000);
    }
    if (back >= 0)
        usleep (WATCH_MS * 1000);
    int64_t end = mg_test_now_ms ();
    mg_load_stop (load);
    assert_true (back >= 0);

    //  Figures from the kill on; checks on every request, those in flight
    //  at the kill included.
    mg_load_stats_t all, during;
    mg_load_window (load, 0, end, -1, HANG_MS, &all);
    mg_load_window (load, killed, end, -1, HANG_MS, &during);
    char text [256];
    mg_load_statuses_text (&during, text, sizeof text);
    fprintf (stderr, "broker restart: back after %lld ms; %zu requests (%s), p99 %lld ms, max %lld ms,"
                     " errors until %lld ms after back\n",
             (long long) (back - killed), during.requests, text, (long long) during.p99_ms,
             (long long) during.max_ms,
             (long long) (all.last_error_ms < 0 ? 0 : all.last_error_ms - back));
    mg_load_destroy (&load);
    assert_true (during.ok > 0);
    assert_int_equal (all.hung, 0);
    assert_int_equal (all.unavailable_bare, 0);
    if (all.other)
        fail_msg ("%zu answers were neither 2xx nor 503", all.other);
    if (all.last_error_ms > back + ERRORS_STOP_MS)
        fail_msg ("errors went on %lld ms after the new broker listened",
                  (long long) (all.last_error_ms - back));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_broker_restart_under_load_errors_stop_within_2s),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
