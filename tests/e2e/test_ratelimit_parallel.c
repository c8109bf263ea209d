/*  Reads ask the limiter and the actor at once (MG_RATE_PARALLEL_READS):
    a refused GET was sent to its actor and still answers 429 with nothing
    of the answer; a refused write never reaches its actor; the headers are
    the same as when every request waits for its decision; fail-open holds
    the answer no longer than the decision's deadline.

    Gateway A reads in parallel (the default), gateway B waits for every
    decision (MG_RATE_PARALLEL_READS=0). Callers are told apart by
    X-Forwarded-For (127.0.0.1 is a trusted proxy), so each case has a
    limit of its own.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_test.h"

#define START_WAIT_MS   60000       //  a loaded machine starts a stack slowly
#define CALL_MS         10000       //  one HTTP call, generously
#define RATE_TIMEOUT_MS 3000        //  MG_RATE_TIMEOUT_MS: long enough to watch a held answer
#define TRIES           40          //  requests sent to run a 2/s limit out, at most
#define SECRET          "parallel-reads-secret-0123456789abcdef"  //  MG_JWT_SECRET of the stack

typedef struct {
    pid_t pids [7];                 //  broker, catalog, sync, ratelimit, gateway A, gateway B, accounts
    int http [2];
} s_stack_t;

static s_stack_t s_stack;

static int
s_setup (void **state)
{
    (void) state;
    static char text [8][128];
    const char *env [24];
    int broker = mg_test_free_port ();
    s_stack.http [0] = mg_test_free_port ();
    s_stack.http [1] = mg_test_free_port ();
    snprintf (text [0], 128, "MG_BROKER=tcp://127.0.0.1:%d", broker);
    snprintf (text [1], 128, "MG_BROKER_BIND=tcp://127.0.0.1:%d", broker);
    snprintf (text [2], 128, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (text [3], 128, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (text [4], 128, "MG_RATE_TIMEOUT_MS=%d", RATE_TIMEOUT_MS);
    snprintf (text [5], 128, "MG_HTTP_PORT=%d", s_stack.http [0]);
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        env [n++] = text [i];
    env [n++] = "MG_RATE_ANONYMOUS=2/s,1000/m";
    env [n++] = "MG_RATE_FREE=2/s,1000/m";
    env [n++] = "MG_TRUSTED_PROXIES=127.0.0.1";
    //  Genres through the bus, as every read here (not from the gateway's memory).
    env [n++] = "MG_REFERENCE_CACHE_S=0";
    env [n++] = "MG_RESOLVER_INGEST=0";
    env [n++] = "MG_JWT_SECRET=" SECRET;
    env [n++] = "MG_PWHASH_MEMLIMIT_KIB=16384";
    size_t mode = n;
    env [n++] = "MG_RATE_PARALLEL_READS=1";
    env [n] = NULL;
    s_stack.pids [0] = mg_test_spawn ("mg-broker", env);
    s_stack.pids [1] = mg_test_spawn ("mg-catalog", env);
    s_stack.pids [2] = mg_test_spawn ("mg-sync", env);
    s_stack.pids [3] = mg_test_spawn ("mg-ratelimit", env);
    s_stack.pids [6] = mg_test_spawn ("mg-accounts", env);
    s_stack.pids [4] = mg_test_spawn ("mg-gateway", env);
    snprintf (text [5], 128, "MG_HTTP_PORT=%d", s_stack.http [1]);
    env [mode] = "MG_RATE_PARALLEL_READS=0";
    s_stack.pids [5] = mg_test_spawn ("mg-gateway", env);
    for (int i = 0; i < 7; i++)
        if (s_stack.pids [i] <= 0)
            return -1;
    //  /ready needs every service the routes use (search and the resolver
    //  are not started): wait for the ones these tests use instead.
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", broker);
    if (mg_test_wait_service (endpoint, "catalog", START_WAIT_MS)
    ||  mg_test_wait_service (endpoint, "sync", START_WAIT_MS)
    ||  mg_test_wait_service (endpoint, "ratelimit", START_WAIT_MS)
    ||  mg_test_wait_service (endpoint, "accounts", START_WAIT_MS))
        return -1;
    for (int g = 0; g < 2; g++) {
        int64_t until = mg_test_now_ms () + START_WAIT_MS;
        int status = 0;
        while (status != 200 && mg_test_now_ms () < until) {
            mg_http_reply_t reply;
            if (mg_http_request (s_stack.http [g], "GET", "/health", "", NULL, &reply, 2000) == 0)
                status = reply.status;
            mg_http_reply_free (&reply);
            if (status != 200)
                usleep (100 * 1000);
        }
        if (status != 200)
            return -1;
    }
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    for (int i = 6; i >= 0; i--)
        if (s_stack.pids [i] > 0)
            mg_test_stop (s_stack.pids [i], SIGTERM);
    return 0;
}

//  Bus calls gateway g made for method route, over all outcomes.
static long
s_bus_calls (int g, const char *method, const char *route)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (s_stack.http [g], "GET", "/metrics", "", NULL, &reply, CALL_MS), 0);
    assert_int_equal (reply.status, 200);
    char prefix [160];
    snprintf (prefix, sizeof prefix, "mg_gateway_bus_requests_total{method=\"%s\",route=\"%s\",",
              method, route);
    long total = 0;
    for (const char *line = reply.body; line && *line; ) {
        const char *end = strchr (line, '\n');
        if (strncmp (line, prefix, strlen (prefix)) == 0) {
            const char *value = strchr (line, '}');
            assert_non_null (value);
            total += atol (value + 1);
        }
        line = end ? end + 1 : NULL;
    }
    mg_http_reply_free (&reply);
    return total;
}

//  X-Forwarded-For line of a caller of its own: 198.51.100.<n>.
static void
s_from (int n, char *line, size_t size)
{
    snprintf (line, size, "X-Forwarded-For: 198.51.100.%d\r\n", n);
}

//  GET path on gateway g as from until the answer is 429 (into refused):
//  returns how many answers came before it, or -1 when none was 429.
static int
s_get_until_refused (int g, const char *path, const char *from, mg_http_reply_t *refused)
{
    for (int i = 0; i < TRIES; i++) {
        assert_int_equal (mg_http_request (s_stack.http [g], "GET", path, from, NULL, refused, CALL_MS), 0);
        if (refused->status == 429)
            return i;
        assert_int_equal (refused->status, 200);
        mg_http_reply_free (refused);
    }
    return -1;
}

static void
test_a_refused_get_was_asked_in_parallel_and_answers_429_only (void **state)
{
    (void) state;
    char from [64];
    s_from (1, from, sizeof from);
    long before = s_bus_calls (0, "GET", "/api/v1/genres");
    mg_http_reply_t reply;
    int admitted = s_get_until_refused (0, "/api/v1/genres", from, &reply);
    assert_true (admitted >= 1);
    //  The refused request went to the catalog too (the check ran beside it) ...
    assert_int_equal (s_bus_calls (0, "GET", "/api/v1/genres") - before, admitted + 1);
    //  ... and its answer was dropped for the refusal.
    char value [128];
    assert_true (mg_http_header (&reply, "Retry-After", value, sizeof value));
    assert_true (atoi (value) >= 1);
    assert_true (mg_http_header (&reply, "X-RateLimit-Remaining", value, sizeof value));
    assert_string_equal (value, "0");
    assert_true (mg_http_header (&reply, "RateLimit-Policy", value, sizeof value));
    assert_non_null (strstr (reply.body, "\"RATE_LIMITED\""));
    assert_null (strstr (reply.body, "genres"));
    assert_null (strstr (reply.body, "slug"));
    mg_http_reply_free (&reply);
}

//  An Authorization line for a new user (free tier), registered and signed
//  in through gateway B from an address of its own.
static void
s_user (char *auth, size_t size)
{
    char email [128], body [256], from [64];
    s_from (30, from, sizeof from);
    snprintf (email, sizeof email, "parallel-%ld-%d@example.com", (long) time (NULL), (int) getpid ());
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"parallel-reads-pw\"}", email);
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (s_stack.http [1], "POST", "/api/v1/auth/register", from, body, &reply,
                                       CALL_MS), 0);
    assert_int_equal (reply.status, 201);
    mg_http_reply_free (&reply);
    assert_int_equal (mg_http_request (s_stack.http [1], "POST", "/api/v1/auth/login", from, body, &reply,
                                       CALL_MS), 0);
    assert_int_equal (reply.status, 200);
    json_t *json = json_loads (reply.body, 0, NULL);
    assert_non_null (json);
    snprintf (auth, size, "Authorization: Bearer %s\r\n",
              json_string_value (json_object_get (json, "access_token")));
    json_decref (json);
    mg_http_reply_free (&reply);
}

static void
test_a_refused_write_never_reaches_its_actor (void **state)
{
    (void) state;
    char auth [1200];
    s_user (auth, sizeof auth);
    long before = s_bus_calls (0, "PUT", "/api/v1/me/preferences");
    char body [64];
    int admitted = 0, refused_at = -1;
    mg_http_reply_t reply;
    for (int i = 0; i < TRIES && refused_at < 0; i++) {
        snprintf (body, sizeof body, "{\"maturity\":\"M%d\"}", i);
        assert_int_equal (mg_http_request (s_stack.http [0], "PUT", "/api/v1/me/preferences", auth, body,
                                           &reply, CALL_MS), 0);
        if (reply.status == 429)
            refused_at = i;
        else {
            assert_int_equal (reply.status, 200);
            admitted++;
        }
        mg_http_reply_free (&reply);
    }
    assert_true (refused_at >= 1);
    //  Every admitted write was sent, the refused one was not.
    assert_int_equal (s_bus_calls (0, "PUT", "/api/v1/me/preferences") - before, admitted);
    //  And it changed nothing: once the limit admits again, the last admitted value is there.
    char expected [32];
    snprintf (expected, sizeof expected, "\"maturity\":\"M%d\"", refused_at - 1);
    int status = 429;
    for (int i = 0; i < TRIES && status == 429; i++) {
        assert_int_equal (mg_http_request (s_stack.http [0], "GET", "/api/v1/me/preferences", auth, NULL,
                                           &reply, CALL_MS), 0);
        status = reply.status;
        if (status == 200)
            assert_non_null (strstr (reply.body, expected));
        mg_http_reply_free (&reply);
        if (status == 429)
            usleep (250 * 1000);
    }
    assert_int_equal (status, 200);
}

//  The header names of reply, lower case, sorted, one per line, into out.
static void
s_header_names (const mg_http_reply_t *reply, char *out, size_t size)
{
    char names [40][64];
    int count = 0;
    const char *line = strstr (reply->head, "\r\n");
    while (line && count < 40) {
        line += 2;
        const char *colon = strchr (line, ':');
        const char *end = strstr (line, "\r\n");
        if (!colon || (end && colon > end))
            break;
        size_t len = (size_t) (colon - line) < 63 ? (size_t) (colon - line) : 63;
        for (size_t i = 0; i < len; i++)
            names [count][i] = (char) tolower ((unsigned char) line [i]);
        names [count++][len] = '\0';
        line = end;
    }
    qsort (names, (size_t) count, sizeof names [0], (int (*) (const void *, const void *)) strcmp);
    out [0] = '\0';
    for (int i = 0; i < count; i++) {
        strncat (out, names [i], size - strlen (out) - 1);
        strncat (out, "\n", size - strlen (out) - 1);
    }
}

static void
test_headers_are_those_of_a_request_that_waits_for_its_decision (void **state)
{
    (void) state;
    char names [2][2][1024];            //  [gateway][admitted, refused]
    for (int g = 0; g < 2; g++) {
        char from [64];
        s_from (10 + g, from, sizeof from);
        mg_http_reply_t reply;
        assert_int_equal (mg_http_request (s_stack.http [g], "GET", "/api/v1/genres", from, NULL, &reply,
                                           CALL_MS), 0);
        assert_int_equal (reply.status, 200);
        s_header_names (&reply, names [g][0], sizeof names [g][0]);
        mg_http_reply_free (&reply);
        assert_true (s_get_until_refused (g, "/api/v1/genres", from, &reply) >= 0);
        s_header_names (&reply, names [g][1], sizeof names [g][1]);
        mg_http_reply_free (&reply);
    }
    fprintf (stderr, "admitted:\n%s\nrefused:\n%s", names [0][0], names [0][1]);
    assert_non_null (strstr (names [0][0], "ratelimit-policy\n"));
    assert_non_null (strstr (names [0][1], "retry-after\n"));
    assert_string_equal (names [0][0], names [1][0]);
    assert_string_equal (names [0][1], names [1][1]);
}

typedef struct {
    char from [64];
    mg_http_reply_t reply;
    int rc;
    int64_t elapsed_ms;
    atomic_bool done;
} s_call_t;

static void *
s_call (void *arg)
{
    s_call_t *call = arg;
    int64_t start = mg_test_now_ms ();
    call->rc = mg_http_request (s_stack.http [0], "GET", "/api/v1/genres", call->from, NULL, &call->reply,
                                RATE_TIMEOUT_MS + CALL_MS);
    call->elapsed_ms = mg_test_now_ms () - start;
    atomic_store (&call->done, true);
    return NULL;
}

static void
test_fail_open_holds_the_answer_until_the_decision_deadline_only (void **state)
{
    (void) state;
    long before = s_bus_calls (0, "GET", "/api/v1/genres");
    //  A limiter that does not answer: the decision ends at its deadline.
    assert_int_equal (mg_test_signal (s_stack.pids [3], SIGSTOP), 0);
    s_call_t call = { .rc = -1, .done = false };
    s_from (20, call.from, sizeof call.from);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_call, &call), 0);
    //  The catalog answers while the decision is still out (the caller waits).
    bool asked = false;
    while (!asked && !atomic_load (&call.done)) {
        asked = s_bus_calls (0, "GET", "/api/v1/genres") > before && !atomic_load (&call.done);
        if (!asked)
            usleep (20 * 1000);
    }
    pthread_join (thread, NULL);
    assert_int_equal (mg_test_signal (s_stack.pids [3], SIGCONT), 0);
    assert_true (asked);
    assert_int_equal (call.rc, 0);
    //  Admitted unchecked, without rate-limit headers, within the deadline + 1 s.
    assert_int_equal (call.reply.status, 200);
    char value [64];
    assert_false (mg_http_header (&call.reply, "X-RateLimit-Limit", value, sizeof value));
    assert_non_null (strstr (call.reply.body, "slug"));
    assert_true (call.elapsed_ms <= RATE_TIMEOUT_MS + 1000);
    mg_http_reply_free (&call.reply);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_refused_get_was_asked_in_parallel_and_answers_429_only),
        cmocka_unit_test (test_a_refused_write_never_reaches_its_actor),
        cmocka_unit_test (test_headers_are_those_of_a_request_that_waits_for_its_decision),
        cmocka_unit_test (test_fail_open_holds_the_answer_until_the_decision_deadline_only),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
