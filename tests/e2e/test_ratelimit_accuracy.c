/*  Accuracy across gateways: two mg-gateway processes share one API key's
    limit through one mg-ratelimit and Redis. Clients on both, together far
    above the limit, for RUN_S seconds: the requests admitted must be what
    one exact GCRA (rate RATE_S/s, burst RATE_S) admits over the run, within
    1 %, and never more. Below a high limit, leases spare the bus: most
    requests are admitted by the gateway without a ratelimit.check, with
    the same headers.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_test.h"

#define RUN_S          10
#define RATE_S         50           //  MG_RATE_PRO per second here (per minute: not binding)
#define CLIENTS        4            //  keep-alive connections, half on each gateway
#define START_WAIT_MS  30000
#define S_STR2(x)      #x
#define S_STR(x)       S_STR2 (x)
#define LEASED_REQUESTS 400         //  anonymous requests below the (raised) anonymous limit
#define ANON_LIMIT_S   100000       //  MG_RATE_ANONYMOUS per second here

typedef struct {
    int port;
    const char *key;
    int64_t until_ms;
    int64_t last_sent_ms;           //  when its last request left: no later token could be used
    long ok, limited, other;
} s_client_t;

//  Read one HTTP/1.1 response from fd (Content-Length framed); its status or -1.
static int
s_read_response (int fd, char *buf, size_t size)
{
    size_t used = 0;
    char *end = NULL;
    while (!end) {
        if (used == size)
            return -1;
        ssize_t n = recv (fd, buf + used, size - used, 0);
        if (n <= 0)
            return -1;
        used += (size_t) n;
        end = memmem (buf, used, "\r\n\r\n", 4);
    }
    int status = 0;
    if (sscanf (buf, "HTTP/1.1 %d", &status) != 1)
        return -1;
    const char *cl = strcasestr (buf, "\r\nContent-Length:");
    size_t length = cl && cl < end ? (size_t) atol (cl + 17) : 0;
    size_t have = used - (size_t) (end + 4 - buf);
    while (have < length) {
        ssize_t n = recv (fd, buf, size, 0);
        if (n <= 0)
            return -1;
        have += (size_t) n;
    }
    return status;
}

static void *
s_client (void *arg)
{
    s_client_t *c = arg;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) c->port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr))
        return NULL;
    char request [256];
    int len = snprintf (request, sizeof request,
                        "GET /api/v1/genres HTTP/1.1\r\nHost: localhost\r\nX-API-Key: %s\r\n\r\n", c->key);
    char buf [16384];
    while (mg_test_now_ms () < c->until_ms) {
        c->last_sent_ms = mg_test_now_ms ();
        if (send (fd, request, (size_t) len, MSG_NOSIGNAL) != len)
            break;
        int status = s_read_response (fd, buf, sizeof buf);
        if (status == 200)
            c->ok++;
        else
        if (status == 429)
            c->limited++;
        else {
            c->other++;
            if (status < 0)
                break;
        }
    }
    close (fd);
    return NULL;
}

//  The stack's processes, stopped by the teardown even when an assertion fails.
static pid_t s_pids [10];

static int
s_stop_stack (void **state)
{
    (void) state;
    for (int i = 9; i >= 0; i--)
        if (s_pids [i] > 0) {
            mg_test_stop (s_pids [i], SIGTERM);
            s_pids [i] = 0;
        }
    return 0;
}

static int s_http [2];               //  the gateways' ports

static int
s_start_stack (void **state)
{
    (void) state;
    char text [8][96];
    const char *env [20];
    int broker = mg_test_free_port ();
    int http [2] = { mg_test_free_port (), mg_test_free_port () };
    snprintf (text [0], 96, "MG_BROKER=tcp://127.0.0.1:%d", broker);
    snprintf (text [1], 96, "MG_BROKER_BIND=tcp://127.0.0.1:%d", broker);
    snprintf (text [2], 96, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (text [3], 96, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (text [4], 96, "MG_RATE_PRO=%d/s,1000000/m", RATE_S);
    snprintf (text [5], 96, "MG_HTTP_PORT=%d", http [0]);
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        env [n++] = text [i];
    env [n++] = "MG_RATE_ANONYMOUS=" S_STR (ANON_LIMIT_S) "/s,1000000/m";
    env [n++] = "MG_RESOLVER_INGEST=0";
    env [n++] = "MG_PWHASH_MEMLIMIT_KIB=16384";
    env [n++] = "MG_JWT_SECRET=accuracy-secret-0123456789abcdef0123";
    env [n] = NULL;
    pid_t *pids = s_pids;
    pids [7] = mg_test_spawn ("mg-search", env);
    pids [8] = mg_test_spawn ("mg-sync", env);
    pids [9] = mg_test_spawn ("mg-alerts", env);
    pids [0] = mg_test_spawn ("mg-broker", env);
    pids [1] = mg_test_spawn ("mg-accounts", env);
    pids [2] = mg_test_spawn ("mg-catalog", env);
    pids [3] = mg_test_spawn ("mg-resolver", env);
    pids [4] = mg_test_spawn ("mg-ratelimit", env);
    pids [5] = mg_test_spawn ("mg-gateway", env);
    snprintf (text [5], 96, "MG_HTTP_PORT=%d", http [1]);
    pids [6] = mg_test_spawn ("mg-gateway", env);
    for (int g = 0; g < 2; g++) {
        int64_t until = mg_test_now_ms () + START_WAIT_MS;
        int status = 0;
        while (status != 200 && mg_test_now_ms () < until) {
            mg_http_reply_t reply;
            if (mg_http_request (http [g], "GET", "/ready", "", NULL, &reply, 2000) == 0)
                status = reply.status;
            mg_http_reply_free (&reply);
            if (status != 200)
                usleep (100 * 1000);
        }
        if (status != 200)
            return -1;
    }
    s_http [0] = http [0];
    s_http [1] = http [1];
    return 0;
}

static void
test_two_gateways_admit_what_one_exact_gcra_admits (void **state)
{
    (void) state;
    int *http = s_http;
    //  One account with one key, on the pro tier.
    char email [128], body [256], command [512], auth [1200], key [64];
    snprintf (email, sizeof email, "accuracy-%ld-%d@example.com", (long) time (NULL), (int) getpid ());
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"accuracy-pw\"}", email);
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (http [0], "POST", "/api/v1/auth/register", "", body, &reply, 5000), 0);
    assert_int_equal (reply.status, 201);
    mg_http_reply_free (&reply);
    snprintf (command, sizeof command, "%s/mg-admin set-tier %s pro >/dev/null", MG_BIN_DIR, email);
    assert_int_equal (system (command), 0);
    assert_int_equal (mg_http_request (http [0], "POST", "/api/v1/auth/login", "", body, &reply, 5000), 0);
    assert_int_equal (reply.status, 200);
    json_t *json = json_loads (reply.body, 0, NULL);
    snprintf (auth, sizeof auth, "Authorization: Bearer %s\r\n",
              json_string_value (json_object_get (json, "access_token")));
    json_decref (json);
    mg_http_reply_free (&reply);
    assert_int_equal (mg_http_request (http [1], "POST", "/api/v1/auth/api-keys", auth,
                                       "{\"name\":\"accuracy\"}", &reply, 5000), 0);
    assert_int_equal (reply.status, 201);
    json = json_loads (reply.body, 0, NULL);
    snprintf (key, sizeof key, "%s", json_string_value (json_object_get (json, "key")));
    json_decref (json);
    mg_http_reply_free (&reply);
    //  The run: every client over the limit, on both gateways at once.
    s_client_t clients [CLIENTS];
    pthread_t threads [CLIENTS];
    int64_t start = mg_test_now_ms ();
    for (int i = 0; i < CLIENTS; i++) {
        clients [i] = (s_client_t) { .port = http [i % 2], .key = key, .until_ms = start + RUN_S * 1000 };
        assert_int_equal (pthread_create (&threads [i], NULL, s_client, &clients [i]), 0);
    }
    long ok = 0, limited = 0, other = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join (threads [i], NULL);
        ok += clients [i].ok;
        limited += clients [i].limited;
        other += clients [i].other;
    }
    //  GCRA admits at most RATE_S + t * RATE_S over t. The upper bound counts
    //  until the last answer came back; the lower one only until the last
    //  request left (tokens that accrue while it is answered go unused, and
    //  on a loaded machine that answer can take a while).
    int64_t elapsed = mg_test_now_ms () - start;
    int64_t last_sent = start;
    for (int i = 0; i < CLIENTS; i++)
        last_sent = clients [i].last_sent_ms > last_sent ? clients [i].last_sent_ms : last_sent;
    double expected = RATE_S + (double) elapsed * RATE_S / 1000.0;
    double expected_low = RATE_S + (double) (last_sent - start) * RATE_S / 1000.0;
    fprintf (stderr, "accuracy: admitted=%ld limited=%ld other=%ld expected=%.1f..%.1f elapsed_ms=%lld "
             "per_gateway=[%ld,%ld]\n", ok, limited, other, expected_low, expected, (long long) elapsed,
             clients [0].ok + clients [2].ok, clients [1].ok + clients [3].ok);
    assert_int_equal (other, 0);
    assert_true (limited > ok);                     //  far above the limit throughout
    assert_true (clients [0].ok + clients [2].ok > 0 && clients [1].ok + clients [3].ok > 0);
    assert_true (ok <= expected + 1);               //  never above one exact GCRA
    assert_true (ok >= expected_low * 0.99);        //  and within 1 % of it
}

#define ALLOWED "mg_gateway_ratelimit_decisions_total{outcome=\"allowed\"}"
#define CHECKS  "mg_gateway_ratelimit_check_seconds_count"

//  Anonymous callers far below their limit (ANON_LIMIT_S/s): every request
//  is admitted with the headers of the anonymous tier, and a lease
//  (1,000,000/m is the slower window: 16,666/s / 100 / 4 holders = 41 per
//  decision)
//  answers most of them without a ratelimit.check on the bus.
static void
test_below_the_limit_leases_spare_the_bus (void **state)
{
    (void) state;
    double allowed0 = 0, checks0 = 0;
    for (int g = 0; g < 2; g++) {
        allowed0 += mg_http_metric (s_http [g], ALLOWED);
        checks0 += mg_http_metric (s_http [g], CHECKS);
    }
    long ok = 0;
    for (int i = 0; i < LEASED_REQUESTS; i++) {
        mg_http_reply_t reply;
        assert_int_equal (mg_http_request (s_http [i % 2], "GET", "/api/v1/genres", "", NULL, &reply, 5000), 0);
        char limit [32], remaining [32], policy [160];
        if (reply.status == 200
        &&  mg_http_header (&reply, "X-RateLimit-Limit", limit, sizeof limit)
        &&  mg_http_header (&reply, "X-RateLimit-Remaining", remaining, sizeof remaining)
        &&  mg_http_header (&reply, "RateLimit-Policy", policy, sizeof policy)) {
            //  the per-second window has fewer left: it is the one reported
            assert_int_equal (atol (limit), ANON_LIMIT_S);
            assert_true (atol (remaining) > ANON_LIMIT_S - 2 * LEASED_REQUESTS - 1000);
            assert_true (atol (remaining) < ANON_LIMIT_S);
            assert_non_null (strstr (policy, "\"anonymous-s\";q=" S_STR (ANON_LIMIT_S) ";w=1"));
            ok++;
        }
        mg_http_reply_free (&reply);
    }
    double allowed = -allowed0, checks = -checks0;
    for (int g = 0; g < 2; g++) {
        allowed += mg_http_metric (s_http [g], ALLOWED);
        checks += mg_http_metric (s_http [g], CHECKS);
    }
    fprintf (stderr, "leases: admitted=%ld allowed=%.0f checks=%.0f\n", ok, allowed, checks);
    assert_int_equal (ok, LEASED_REQUESTS);
    //  the /metrics reads are not rate limited: every decision is one of ours
    assert_true (allowed >= LEASED_REQUESTS);
    //  leases of 41: a few checks per thread; a quarter of the requests is
    //  a bound no gateway without leases meets (one check per request)
    assert_true (checks * 4 <= allowed);
}

#define RENEWED "mg_gateway_ratelimit_renewals_total{outcome=\"granted\"}"
#define RENEW_REQUESTS 1000         //  anonymous requests, one connection each

//  A lease is renewed before it runs out: requests one after another find
//  it held, so hardly any of them waits for a ratelimit.check of its own.
//  Without renewals every lease of 41 would end in one (1,000 / 41 = 24 at
//  least); with them only a holder's first request after its lease lapsed
//  does (4 holders), with slack for a renewal slower than 20 requests.
static void
test_a_lease_is_renewed_before_it_runs_out (void **state)
{
    (void) state;
    double checks0 = 0, renewed0 = 0;
    for (int g = 0; g < 2; g++) {
        checks0 += mg_http_metric (s_http [g], CHECKS);
        renewed0 += mg_http_metric (s_http [g], RENEWED);
    }
    for (int i = 0; i < RENEW_REQUESTS; i++) {
        mg_http_reply_t reply;
        assert_int_equal (mg_http_request (s_http [i % 2], "GET", "/api/v1/genres", "", NULL, &reply, 5000), 0);
        assert_int_equal (reply.status, 200);
        char remaining [32];
        assert_true (mg_http_header (&reply, "X-RateLimit-Remaining", remaining, sizeof remaining));
        mg_http_reply_free (&reply);
    }
    double checks = -checks0, renewed = -renewed0;
    for (int g = 0; g < 2; g++) {
        checks += mg_http_metric (s_http [g], CHECKS);
        renewed += mg_http_metric (s_http [g], RENEWED);
    }
    fprintf (stderr, "renewals: requests=%d checks=%.0f renewed=%.0f\n", RENEW_REQUESTS, checks, renewed);
    assert_true (renewed >= 4);
    assert_true (checks <= 12);
}

int
main (void)
{
    if (!getenv ("MG_PG_URL") || !getenv ("MG_REDIS_URL")) {
        fprintf (stderr, "MG_PG_URL and MG_REDIS_URL must be set (scripts/test does)\n");
        return 1;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_two_gateways_admit_what_one_exact_gcra_admits),
        cmocka_unit_test (test_below_the_limit_leases_spare_the_bus),
        cmocka_unit_test (test_a_lease_is_renewed_before_it_runs_out),
    };
    return cmocka_run_group_tests (tests, s_start_stack, s_stop_stack);
}
