/*  The supervision tree of scripts/supervise under fire: the whole stack on
    private ports, then kill -9 of one process's supervisor (s6-supervise),
    of an actor, and of the gateway's supervisor. Each time the other routes
    keep answering 200, the killed one answers 200 again within 3 s (every
    answer in between a 503 with Retry-After), exactly one copy of the
    process runs afterwards (no orphan beside its successor), and after
    scripts/supervise stop no process of the stack remains.  */
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
#include "mg_stack.h"
#include "mg_test.h"

#define START_WAIT_MS   120000      //  PostgreSQL, migrations and every actor under ASan
#define BACK_WITHIN_MS  3000        //  what the API promises after one process dies
#define HTTP_WAIT_MS    5000        //  a request's hang bound: the gateway's deadline + slack
#define POLL_MS         50
#define OTHERS_CHECK_MS 1000        //  the others keep serving at least this long after
#define PIDS_MAX        16

//  A route per killed process, and one served by somebody else.
#define CATALOG_PATH "/api/v1/genres"
#define SEARCH_PATH  "/api/v1/search?q=lighthouse&mode=keyword&per_page=3"

//  GET path; its status (0: no answer within the hang bound). A non-200
//  must be a 503 with Retry-After.
static int
s_get_checked (mg_stack_t *stack, const char *path)
{
    mg_http_reply_t reply;
    if (mg_http_request (stack->http_port, "GET", path, "", NULL, &reply, HTTP_WAIT_MS))
        return 0;
    int status = reply.status;
    if (status != 200) {
        char retry [16];
        if (status != 503 || !mg_http_header (&reply, "Retry-After", retry, sizeof retry))
            fail_msg ("GET %s: %d without Retry-After: %s", path, status, reply.body);
    }
    mg_http_reply_free (&reply);
    return status;
}

//  Poll path until it answers 200; the milliseconds it took, -1 on timeout.
static int64_t
s_wait_200 (mg_stack_t *stack, const char *path, int timeout_ms)
{
    int64_t start = mg_test_now_ms ();
    while (mg_test_now_ms () - start < timeout_ms) {
        if (s_get_checked (stack, path) == 200)
            return mg_test_now_ms () - start;
        usleep (POLL_MS * 1000);
    }
    return -1;
}

static int
group_setup (void **state)
{
    return mg_stack_new_ready ((mg_stack_t **) state, "supervision", START_WAIT_MS);
}

static int
group_teardown (void **state)
{
    mg_stack_destroy ((mg_stack_t **) state);
    return 0;
}

//  Kill -9 victim, then: path is back to 200 within BACK_WITHIN_MS while
//  other keeps answering 200; one program process runs again, a new one.
static void
s_kill_and_check (mg_stack_t *stack, pid_t victim, const char *program, const char *path,
                  const char *other)
{
    pid_t before = mg_stack_pid (stack, program, NULL);
    assert_true (before > 0);
    assert_int_equal (s_get_checked (stack, path), 200);
    assert_int_equal (mg_test_signal (victim, SIGKILL), 0);
    int64_t killed = mg_test_now_ms ();
    int64_t back = -1, others_until = killed + BACK_WITHIN_MS + OTHERS_CHECK_MS;
    while (mg_test_now_ms () < others_until) {
        int status = s_get_checked (stack, other);
        if (status != 200)
            fail_msg ("GET %s answered %d %lld ms after the kill", other, status,
                      (long long) (mg_test_now_ms () - killed));
        if (back < 0 && s_get_checked (stack, path) == 200 && !mg_stack_alive (before))
            back = mg_test_now_ms () - killed;
        if (back < 0 && mg_test_now_ms () - killed > BACK_WITHIN_MS)
            fail_msg ("GET %s not back %d ms after the kill", path, BACK_WITHIN_MS);
        usleep (POLL_MS * 1000);
    }
    fprintf (stderr, "%s: back after %lld ms\n", program, (long long) back);
    pid_t after [PIDS_MAX];
    int count = mg_stack_pids (stack, program, NULL, after, PIDS_MAX);
    if (count != 1)
        fail_msg ("%d %s processes after the kill (an orphan beside its successor?)", count, program);
    assert_true (after [0] != before);
}

static void
test_killed_supervisor_costs_only_its_process (void **state)
{
    mg_stack_t *stack = *state;
    pid_t supervisor = mg_stack_pid (stack, "s6-supervise", "catalog");
    assert_true (supervisor > 0);
    s_kill_and_check (stack, supervisor, "mg-catalog", CATALOG_PATH, SEARCH_PATH);
    //  A new supervisor watches the new process.
    pid_t successor = mg_stack_pid (stack, "s6-supervise", "catalog");
    assert_true (successor > 0 && successor != supervisor);
}

static void
test_killed_actor_costs_only_its_requests (void **state)
{
    mg_stack_t *stack = *state;
    pid_t actor = mg_stack_pid (stack, "mg-search", NULL);
    assert_true (actor > 0);
    s_kill_and_check (stack, actor, "mg-search", SEARCH_PATH, CATALOG_PATH);
}

static void
test_killed_gateway_supervisor_frees_the_port (void **state)
{
    mg_stack_t *stack = *state;
    pid_t supervisor = mg_stack_pid (stack, "s6-supervise", "gateway");
    assert_true (supervisor > 0);
    pid_t gateway = mg_stack_pid (stack, "mg-gateway", NULL);
    assert_true (gateway > 0);
    assert_int_equal (mg_test_signal (supervisor, SIGKILL), 0);
    int64_t killed = mg_test_now_ms ();
    //  An orphaned gateway would keep the port and serve on: it must die
    //  with its supervisor and the new one be the one answering.
    while (mg_stack_alive (gateway) && mg_test_now_ms () - killed < BACK_WITHIN_MS)
        usleep (POLL_MS * 1000);
    assert_false (mg_stack_alive (gateway));
    int64_t back = s_wait_200 (stack, CATALOG_PATH, BACK_WITHIN_MS);
    fprintf (stderr, "mg-gateway: back after %lld ms\n", (long long) (mg_test_now_ms () - killed));
    assert_true (back >= 0 && mg_test_now_ms () - killed <= BACK_WITHIN_MS);
    pid_t successor = mg_stack_pid (stack, "mg-gateway", NULL);
    assert_true (successor > 0 && successor != gateway);
}

static void
test_stop_leaves_no_process (void **state)
{
    mg_stack_t *stack = *state;
    pid_t pids [PIDS_MAX];
    assert_true (mg_stack_pids (stack, NULL, NULL, pids, PIDS_MAX) >= 10);
    assert_int_equal (mg_stack_shell (stack, "%s/scripts/supervise stop '%s'", MG_SOURCE_DIR, stack->dir), 0);
    int left = mg_stack_pids (stack, NULL, NULL, pids, PIDS_MAX);
    if (left)
        fail_msg ("%d processes of the stack outlived stop (first: %d)", left, (int) pids [0]);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_killed_supervisor_costs_only_its_process),
        cmocka_unit_test (test_killed_actor_costs_only_its_requests),
        cmocka_unit_test (test_killed_gateway_supervisor_frees_the_port),
        cmocka_unit_test (test_stop_leaves_no_process),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
