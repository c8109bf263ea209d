/*  Overload, short form: bursts of requests far past what one gateway
    thread may hold (MG_HTTP_MAX_IN_FLIGHT) get 200 or a fast 503 with
    Retry-After (OVERLOADED), nothing else; the resident memory of the
    gateway, the broker and the catalog stays under a bound; and once the
    bursts stop, a request is served again. Statuses and memory only, no
    times (docs/benchmarks.md has the long form's figures).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->gateway = mg_test_spawn ("mg-gateway", f->env.envp);
    return mg_test_wait_http (f->http_port, "/api/v1/genres", 200, START_WAIT_MS);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
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

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_requests_past_the_in_flight_bound_get_503_and_memory_stays_bounded,
                                         setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
