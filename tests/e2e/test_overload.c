/*  Overload, short form: bursts of requests far past what one gateway
    thread may hold (MG_HTTP_MAX_IN_FLIGHT) get 200 or a fast 503 with
    Retry-After (OVERLOADED), nothing else; the resident memory of the
    gateway, the broker and the catalog stays under a bound; and once the
    bursts stop, a request is served again. At the bound (requests held by a
    stopped catalog), a new connection is answered 503 by the refuser and a
    kept-alive one hears 503 and stays usable. Statuses, headers and memory
    only, no times (docs/benchmarks.md has the long form's figures).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_test.h"

#define IN_FLIGHT_MAX   4         //  per gateway thread: small, so bursts pass it
#define BURST           64        //  concurrent connections per burst
#define BURSTS          12        //  a few seconds of load
#define RSS_MAX_KIB     (400 * 1024)  //  per process, sanitizer build (ASan's shadow
                                      //  and quarantine included); release: benchmarks.md
#define START_WAIT_MS   30000
#define REQUEST_TIMEOUT_MS 10000  //  held requests end by then (504)
#define HELD_MAX        16        //  connections tried before the bound shows
#define HELD_WAIT_MS    300       //  no answer by then: the request is held
#define ANSWER_WAIT_S   10        //  hang bound of every read

typedef struct {
    mg_test_env_t env;
    int http_port;
    pid_t broker, catalog, gateway;
} fixture_t;

static int
setup (void **state)
{
    const char *pg = getenv ("MG_PG_URL");
    if (!pg) {
        fprintf (stderr, "MG_PG_URL is not set: scripts/test provides a database\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    mg_test_env_init (&f->env, pg);
    f->http_port = mg_test_free_port ();
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_HTTP_THREADS=1");
    mg_test_env_add (&f->env, "MG_HTTP_MAX_IN_FLIGHT=%d", IN_FLIGHT_MAX);
    mg_test_env_add (&f->env, "MG_RATE_ENABLED=0");
    mg_test_env_add (&f->env, "MG_WORKER_THREADS=1");
    //  The load is genres through the bus, not from the gateway's memory.
    mg_test_env_add (&f->env, "MG_REFERENCE_CACHE_S=0");
    //  A stopped catalog stays a live worker for the broker (80 heartbeats),
    //  and not a stuck one (whose requests would get SERVICE_BUSY at once),
    //  while the gateway's deadline ends the requests it holds.
    mg_test_env_add (&f->env, "MG_HEARTBEAT_LIVENESS=80");
    mg_test_env_add (&f->env, "MG_WORKER_STALL_MS=%d", 3 * REQUEST_TIMEOUT_MS);
    mg_test_env_add (&f->env, "MG_REQUEST_TIMEOUT_MS=%d", REQUEST_TIMEOUT_MS);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->gateway = mg_test_spawn ("mg-gateway", f->env.envp);
    return mg_test_wait_http (f->http_port, "/api/v1/genres", 200, START_WAIT_MS);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    //  A test that failed with the catalog stopped leaves it so.
    mg_test_signal (f->catalog, SIGCONT);
    mg_test_stop (f->gateway, SIGTERM);
    mg_test_stop (f->catalog, SIGTERM);
    mg_test_stop (f->broker, SIGTERM);
    free (f);
    return 0;
}

//  Resident set of pid in KiB (VmRSS), or -1.
static long
s_rss_kib (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kib = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (file)
        fclose (file);
    return kib;
}

//  Read one whole answer (the server closes) from fd; its status, or 0.
//  Fills retry_after and overloaded for a 503.
static int
s_read_answer (int fd, bool *retry_after, bool *overloaded)
{
    char buf [8192];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = recv (fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
        len += (size_t) n;
    buf [len] = 0;
    int status = 0;
    if (sscanf (buf, "HTTP/1.1 %d", &status) != 1)
        return 0;
    *retry_after = strstr (buf, "\r\nRetry-After: 1\r\n") != NULL;
    *overloaded = strstr (buf, "\"OVERLOADED\"") != NULL;
    return status;
}

static void
test_requests_past_the_in_flight_bound_get_503_and_memory_stays_bounded (void **state)
{
    fixture_t *f = *state;
    static const char request [] = "GET /api/v1/genres HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) f->http_port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int ok = 0, shed = 0, other = 0;
    for (int burst = 0; burst < BURSTS; burst++) {
        int fds [BURST];
        //  Every request written before any answer is read: they arrive together.
        for (int i = 0; i < BURST; i++) {
            fds [i] = socket (AF_INET, SOCK_STREAM, 0);
            assert_true (fds [i] >= 0);
            struct timeval timeout = { 10, 0 };
            setsockopt (fds [i], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            assert_int_equal (connect (fds [i], (struct sockaddr *) &addr, sizeof addr), 0);
        }
        for (int i = 0; i < BURST; i++)
            assert_int_equal (send (fds [i], request, sizeof request - 1, MSG_NOSIGNAL),
                              (ssize_t) (sizeof request - 1));
        for (int i = 0; i < BURST; i++) {
            bool retry_after = false, overloaded = false;
            int status = s_read_answer (fds [i], &retry_after, &overloaded);
            close (fds [i]);
            if (status == 200)
                ok++;
            else
            if (status == 503 && retry_after && overloaded)
                shed++;
            else {
                fprintf (stderr, "unexpected answer: status %d\n", status);
                other++;
            }
        }
    }
    fprintf (stderr, "%d requests: %d served, %d shed with 503\n", BURSTS * BURST, ok, shed);
    assert_int_equal (other, 0);
    assert_true (shed > 0);
    assert_true (ok >= BURSTS);               //  each burst served some
    pid_t pids [] = { f->gateway, f->broker, f->catalog };
    for (size_t i = 0; i < 3; i++) {
        long kib = s_rss_kib (pids [i]);
        fprintf (stderr, "pid %d: VmRSS %ld KiB\n", (int) pids [i], kib);
        assert_true (kib > 0 && kib < RSS_MAX_KIB);
    }
    //  Load gone: served again.
    assert_int_equal (mg_test_wait_http (f->http_port, "/api/v1/genres", 200, 5000), 0);
}

//  A connection to the gateway with a read timeout of ANSWER_WAIT_S.
static int
s_connect (int port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct timeval timeout = { ANSWER_WAIT_S, 0 };
    assert_int_equal (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    return fd;
}

//  Send request on fd.
static void
s_send (int fd, const char *request)
{
    assert_int_equal (send (fd, request, strlen (request), MSG_NOSIGNAL), (ssize_t) strlen (request));
}

//  Read one answer (head, then Content-Length bytes of body) from a
//  connection that may stay open, into buf; its status, or 0.
static int
s_read_one (int fd, char *buf, size_t size)
{
    size_t len = 0;
    char *end = NULL;
    long body = -1;
    while (len < size - 1) {
        ssize_t n = recv (fd, buf + len, size - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t) n;
        buf [len] = 0;
        if (!end && (end = strstr (buf, "\r\n\r\n")) != NULL) {
            const char *cl = strstr (buf, "Content-Length: ");
            body = cl && cl < end ? atol (cl + strlen ("Content-Length: ")) : 0;
        }
        if (end && (long) (len - (size_t) (end + 4 - buf)) >= body)
            break;
    }
    buf [len] = 0;
    int status = 0;
    if (!end || sscanf (buf, "HTTP/1.1 %d", &status) != 1)
        return 0;
    return status;
}

//  True when answer is a 503 with Retry-After.
static bool
s_is_shed (const char *answer)
{
    return strncmp (answer, "HTTP/1.1 503", 12) == 0
        && strstr (answer, "\r\nRetry-After: 1\r\n") != NULL;
}

static void
test_at_the_bound_new_connections_are_refused_and_kept_alive_ones_answered (void **state)
{
    fixture_t *f = *state;
    static const char genres [] = "GET /api/v1/genres HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    static const char genres_kept [] = "GET /api/v1/genres HTTP/1.1\r\nHost: test\r\n\r\n";
    static const char health [] = "GET /health HTTP/1.1\r\nHost: test\r\n\r\n";
    char answer [8192];
    //  A kept-alive connection the loop accepted below the bound.
    int kept = s_connect (f->http_port);
    s_send (kept, health);
    assert_int_equal (s_read_one (kept, answer, sizeof answer), 200);
    //  The catalog stops: genres requests stay in flight up to the bound.
    assert_int_equal (mg_test_signal (f->catalog, SIGSTOP), 0);
    int held [HELD_MAX];
    size_t nheld = 0;
    int shed = -1;
    while (shed < 0 && nheld < HELD_MAX) {
        int fd = s_connect (f->http_port);
        s_send (fd, genres);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll (&pfd, 1, HELD_WAIT_MS) == 0)
            held [nheld++] = fd;
        else
            shed = fd;
    }
    assert_true (shed >= 0);
    assert_true (nheld >= IN_FLIGHT_MAX);
    assert_int_equal (s_read_one (shed, answer, sizeof answer), 503);
    assert_true (s_is_shed (answer));
    assert_non_null (strstr (answer, "\"OVERLOADED\""));
    close (shed);
    //  The thread is at its bound and accepts nothing: the refuser answers,
    //  then closes.
    for (int i = 0; i < 4; i++) {
        int fd = s_connect (f->http_port);
        s_send (fd, genres);
        assert_int_equal (s_read_one (fd, answer, sizeof answer), 503);
        assert_true (s_is_shed (answer));
        assert_non_null (strstr (answer, "\r\nConnection: close\r\n"));
        assert_non_null (strstr (answer, "\"OVERLOADED\""));
        assert_int_equal (recv (fd, answer, sizeof answer, 0), 0);
        close (fd);
    }
    //  A HEAD is answered without a body.
    int head = s_connect (f->http_port);
    s_send (head, "HEAD /api/v1/genres HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    size_t len = 0;
    ssize_t n;
    while (len < sizeof answer - 1 && (n = recv (head, answer + len, sizeof answer - 1 - len, 0)) > 0)
        len += (size_t) n;
    answer [len] = 0;
    close (head);
    assert_true (s_is_shed (answer));
    assert_non_null (strstr (answer, "\r\n\r\n"));
    assert_string_equal (strstr (answer, "\r\n\r\n"), "\r\n\r\n");
    //  The kept-alive connection's next request: 503 from its loop.
    s_send (kept, genres_kept);
    assert_int_equal (s_read_one (kept, answer, sizeof answer), 503);
    assert_true (s_is_shed (answer));
    assert_non_null (strstr (answer, "\"OVERLOADED\""));
    //  The catalog resumes: the held requests end, and the gateway serves again.
    assert_int_equal (mg_test_signal (f->catalog, SIGCONT), 0);
    for (size_t i = 0; i < nheld; i++) {
        //  A 503 that took longer than HELD_WAIT_MS on a loaded machine
        //  counted as held here.
        int status = s_read_one (held [i], answer, sizeof answer);
        assert_true (status == 200 || status == 504 || status == 503);
        close (held [i]);
    }
    assert_int_equal (mg_test_wait_http (f->http_port, "/api/v1/genres", 200, 5000), 0);
    //  The kept-alive connection too.
    s_send (kept, health);
    assert_int_equal (s_read_one (kept, answer, sizeof answer), 200);
    close (kept);
    double refused = mg_http_metric (f->http_port, "mg_gateway_refused_at_accept_total");
    fprintf (stderr, "refused at accept: %.0f\n", refused);
    //  The four new connections and the HEAD, at least.
    assert_true (refused >= 5);
    //  Each answered one is timed, from its request's arrival, in both
    //  histograms; the refuser woke for them. Times themselves are not asserted.
    double timed = mg_http_metric (f->http_port, "mg_gateway_refuser_answer_seconds_count");
    double waited = mg_http_metric (f->http_port, "mg_gateway_refuser_wait_seconds_count");
    double wakes = mg_http_metric (f->http_port, "mg_gateway_refuser_wakeups_total");
    fprintf (stderr, "refuser: timed %.0f, waited %.0f, wake-ups %.0f\n", timed, waited, wakes);
    assert_true (timed >= 5);
    assert_true (timed <= refused);
    assert_true (waited == timed);
    assert_true (wakes >= 1);
    assert_true (mg_http_metric (f->http_port, "mg_gateway_refuser_answer_seconds_bucket{le=\"+Inf\"}") == timed);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_requests_past_the_in_flight_bound_get_503_and_memory_stays_bounded,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_at_the_bound_new_connections_are_refused_and_kept_alive_ones_answered,
                                         setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
