/*  mg-gateway end to end: real mg-broker, mg-catalog, mg-search (on the PostgreSQL named
    by MG_PG_URL) and mg-gateway processes on free ports, spoken to over raw
    HTTP/1.1 sockets so that malformed and oversized requests can be sent
    exactly.

    Not covered yet: 415 for a non-JSON body needs a route that takes a body,
    and the route table has none so far (the check itself is generic and unit
    tested in tests/unit/test_gateway.c); add it here with the first POST route.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_pg.h"
#include "mg_test.h"
#include "mg_http.h"

#define MAX_BODY       4096         //  MG_HTTP_MAX_BODY for the gateway under test
#define MAX_URL        2048         //  MG_HTTP_MAX_URL
#define MAX_HEADERS    4096         //  MG_HTTP_MAX_HEADERS
#define TIMEOUT_MS     3000         //  MG_REQUEST_TIMEOUT_MS
#define SHORT_TIMEOUT_MS 300        //  of the second gateway in the deadline test
#define START_WAIT_MS  30000        //  migrations and registration at start

typedef struct {
    char env_broker [96];
    char env_bind [96];
    char env_pub [96];
    char env_sub [96];
    char env_http [64];
    char env_events [96];
    char env_cache [96];
    const char *env [18];
    int http_port;
    pid_t broker;
    pid_t catalog;
    pid_t resolver;
    pid_t search;
    pid_t accounts;
    pid_t ratelimit;
    pid_t sync;
    pid_t alerts;
    pid_t gateway;
} fixture_t;

//  method path with extra header lines (may be ""), Connection: close.
static int
s_request (int port, const char *method, const char *path, const char *headers,
           mg_http_reply_t *reply, int timeout_ms)
{
    size_t len = strlen (method) + strlen (path) + strlen (headers) + 128;
    char *request = malloc (len);
    int n = snprintf (request, len, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n",
                      method, path, headers);
    int rc = mg_http_exchange (port, request, (size_t) n, reply, timeout_ms);
    free (request);
    return rc;
}

static int
s_get (fixture_t *f, const char *path, mg_http_reply_t *reply)
{
    return s_request (f->http_port, "GET", path, "", reply, TIMEOUT_MS + 2000);
}

//  POST body with Content-Type type to path.
static int
s_post (fixture_t *f, const char *path, const char *type, const char *body, mg_http_reply_t *reply)
{
    size_t len = strlen (path) + strlen (type) + strlen (body) + 192;
    char *request = malloc (len);
    int n = snprintf (request, len, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", path, type, strlen (body), body);
    int rc = mg_http_exchange (f->http_port, request, (size_t) n, reply, TIMEOUT_MS + 2000);
    free (request);
    return rc;
}


//  The error object of a JSON error reply: asserts the shape, returns its code.
static void
s_assert_error (const mg_http_reply_t *reply, int status, const char *code)
{
    assert_int_equal (reply->status, status);
    char type [128];
    assert_true (mg_http_header (reply, "Content-Type", type, sizeof type));
    assert_string_equal (type, "application/json; charset=utf-8");
    json_error_t error;
    json_t *json = json_loads (reply->body, 0, &error);
    assert_non_null (json);
    json_t *object = json_object_get (json, "error");
    assert_true (json_is_object (object));
    assert_string_equal (json_string_value (json_object_get (object, "code")), code);
    assert_true (json_is_string (json_object_get (object, "message")));
    json_decref (json);
}

//  GET path until it answers status, or timeout_ms passes; the last status.
static int
s_wait_status (fixture_t *f, const char *path, int status, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    int last = 0;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        s_get (f, path, &reply);
        last = reply.status;
        mg_http_reply_free (&reply);
        if (last == status)
            break;
        usleep (50 * 1000);
    }
    return last;
}

static pid_t
s_start_catalog (fixture_t *f)
{
    return mg_test_spawn ("mg-catalog", f->env);
}

static pid_t
s_start_broker (fixture_t *f)
{
    return mg_test_spawn ("mg-broker", f->env);
}

static int group_teardown (void **state);
static bool s_fixture_when_migrated (void);

static int
group_setup (void **state)
{
    if (!getenv ("MG_PG_URL")) {
        fprintf (stderr, "MG_PG_URL is not set: scripts/test provides a database\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    int broker_port = mg_test_free_port ();
    f->http_port = mg_test_free_port ();
    snprintf (f->env_broker, sizeof f->env_broker, "MG_BROKER=tcp://127.0.0.1:%d", broker_port);
    snprintf (f->env_bind, sizeof f->env_bind, "MG_BROKER_BIND=tcp://127.0.0.1:%d", broker_port);
    snprintf (f->env_pub, sizeof f->env_pub, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    int events_port = mg_test_free_port ();
    snprintf (f->env_sub, sizeof f->env_sub, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", events_port);
    snprintf (f->env_events, sizeof f->env_events, "MG_EVENTS=tcp://127.0.0.1:%d", events_port);
    snprintf (f->env_http, sizeof f->env_http, "MG_HTTP_PORT=%d", f->http_port);
    //  Search answers are cached under a prefix of this run's own.
    snprintf (f->env_cache, sizeof f->env_cache, "MG_SEARCH_CACHE_PREFIX=e2e%d:", (int) getpid ());
    const char *env [] = {
        f->env_broker, f->env_bind, f->env_pub, f->env_sub, f->env_http, f->env_events, f->env_cache,
        "MG_HTTP_MAX_BODY=4096", "MG_HTTP_MAX_URL=2048", "MG_HTTP_MAX_HEADERS=4096",
        "MG_REQUEST_TIMEOUT_MS=3000", "MG_HTTP_THREADS=2", "MG_HEARTBEAT_MS=250",
        "MG_HEARTBEAT_LIVENESS=3", "MG_RESOLVER_INGEST=0",
        //  Genres are this file's probe of the bus path: not from the gateway's memory.
        "MG_REFERENCE_CACHE_S=0",
        //  Rate limits are tested in test_accounts.c; here they stay out of the way.
        "MG_RATE_ANONYMOUS=1000000/s,1000000/m", NULL
    };
    memcpy (f->env, env, sizeof env);
    f->broker = s_start_broker (f);
    f->catalog = s_start_catalog (f);
    //  The catalog migrates the database; the resolver reads its entities
    //  once at start, the fixture title among them.
    *state = f;
    if (!s_fixture_when_migrated ()) {
        fprintf (stderr, "the catalog database was not ready\n");
        group_teardown (state);
        *state = NULL;
        return -1;
    }
    //  The search replica loads its snapshot (the fixture title in it) at start.
    f->resolver = mg_test_spawn ("mg-resolver", f->env);
    f->search = mg_test_spawn ("mg-search", f->env);
    f->accounts = mg_test_spawn ("mg-accounts", f->env);
    f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env);
    f->sync = mg_test_spawn ("mg-sync", f->env);
    f->alerts = mg_test_spawn ("mg-alerts", f->env);
    f->gateway = mg_test_spawn ("mg-gateway", f->env);
    if (f->broker > 0 && f->catalog > 0 && f->resolver > 0 && f->search > 0 && f->gateway > 0
    &&  f->accounts > 0 && f->ratelimit > 0 && f->sync > 0 && f->alerts > 0
    &&  s_wait_status (f, "/ready", 200, START_WAIT_MS) == 200)
        return 0;
    fprintf (stderr, "the gateway did not become ready\n");
    group_teardown (state);
    *state = NULL;
    return -1;
}

//  The catalog fixture: one title with the only offer on platform
//  e2e-platform (region ZZ), so list totals filtered on it are exact.
#define E2E_ID        "00000000-0000-4000-8000-0000000e2e01"
#define E2E_UNKNOWN   "00000000-0000-4000-8000-0000000e2e02"

static const char *s_catalog_fixture [] = {
    "DELETE FROM content WHERE id = '" E2E_ID "'",
    "INSERT INTO content (id, type, title, year, release_date, popularity, vote_average, vote_count, "
    "  poster_path, checksum) VALUES ('" E2E_ID "', 'movie', 'E2E Title', 1999, '1999-03-31', 12.5, "
    "  8.0, 100, '/e2e.jpg', '\\x00')",
    "INSERT INTO content_genres (content_id, genre_id) SELECT '" E2E_ID "', id FROM genres WHERE slug = 'drama'",
    "INSERT INTO external_ids (content_id, source, value) VALUES ('" E2E_ID "', 'tmdb', '424242'), "
    "  ('" E2E_ID "', 'imdb', 'tt4242420')",
    "INSERT INTO credits (content_id, role, ord, person_name, character) VALUES "
    "  ('" E2E_ID "', 'cast', 0, 'Jane Doe', 'Herself')",
    "INSERT INTO availability (content_id, platform, region, type, quality, price, currency, source) VALUES "
    "  ('" E2E_ID "', 'e2e-platform', 'ZZ', 'buy', 'hd', 9.5, 'EUR', 'e2e'), "
    "  ('" E2E_ID "', 'e2e-platform', 'ZY', 'rent', 'hd', 2.5, 'EUR', 'e2e')",
};

//  Run sql statements on MG_PG_URL; asserts each succeeds.
static void
s_sql (const char *const *sql, size_t count)
{
    char reason [256];
    PGconn *pg = mg_pg_connect (getenv ("MG_PG_URL"), reason, sizeof reason);
    assert_non_null (pg);
    for (size_t i = 0; i < count; i++) {
        PGresult *res = PQexec (pg, sql [i]);
        if (PQresultStatus (res) != PGRES_COMMAND_OK)
            fail_msg ("%s: %s", sql [i], PQresultErrorMessage (res));
        PQclear (res);
    }
    PQfinish (pg);
}

//  Wait until the catalog has migrated MG_PG_URL (the genres are seeded),
//  then write the catalog fixture. False when either fails.
static bool
s_fixture_when_migrated (void)
{
    char reason [256];
    PGconn *pg = mg_pg_connect (getenv ("MG_PG_URL"), reason, sizeof reason);
    if (!pg)
        return false;
    bool ready = false;
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (!ready && mg_test_now_ms () < until) {
        PGresult *res = PQexec (pg, "SELECT count(*) FROM genres");
        ready = PQresultStatus (res) == PGRES_TUPLES_OK && atoi (PQgetvalue (res, 0, 0)) == 18;
        PQclear (res);
        if (!ready)
            usleep (50 * 1000);
    }
    size_t count = sizeof s_catalog_fixture / sizeof s_catalog_fixture [0];
    for (size_t i = 0; ready && i < count; i++) {
        PGresult *res = PQexec (pg, s_catalog_fixture [i]);
        ready = PQresultStatus (res) == PGRES_COMMAND_OK;
        PQclear (res);
    }
    PQfinish (pg);
    return ready;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    char reason [256];
    PGconn *pg = mg_pg_connect (getenv ("MG_PG_URL"), reason, sizeof reason);
    if (pg)
        PQclear (PQexec (pg, s_catalog_fixture [0]));
    PQfinish (pg);
    if (f->gateway > 0)
        mg_test_stop (f->gateway, SIGTERM);
    if (f->resolver > 0)
        mg_test_stop (f->resolver, SIGTERM);
    if (f->search > 0)
        mg_test_stop (f->search, SIGTERM);
    if (f->accounts > 0)
        mg_test_stop (f->accounts, SIGTERM);
    if (f->ratelimit > 0)
        mg_test_stop (f->ratelimit, SIGTERM);
    if (f->alerts > 0)
        mg_test_stop (f->alerts, SIGTERM);
    if (f->sync > 0)
        mg_test_stop (f->sync, SIGTERM);
    if (f->catalog > 0)
        mg_test_stop (f->catalog, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    free (f);
    return 0;
}

static void
test_health_answers_ok (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/health", &reply), 0);
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, "{\"status\":\"ok\"}");
    char type [128];
    assert_true (mg_http_header (&reply, "Content-Type", type, sizeof type));
    assert_string_equal (type, "application/json; charset=utf-8");
    mg_http_reply_free (&reply);
}

//  The gateway's own end of conn (a connected client socket) duplicated from
//  the gateway process with pidfd_getfd: the socket whose peer is conn's local
//  address. -1 when not found.
static int
s_gateway_end_of (pid_t gateway, int conn)
{
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local;
    if (getsockname (conn, (struct sockaddr *) &local, &local_len))
        return -1;
    int pidfd = (int) syscall (SYS_pidfd_open, gateway, 0);
    if (pidfd < 0)
        return -1;
    int found = -1;
    char dir [64];
    snprintf (dir, sizeof dir, "/proc/%d/fd", (int) gateway);
    DIR *fds = opendir (dir);
    struct dirent *entry;
    while (fds && found < 0 && (entry = readdir (fds))) {
        char *end;
        long target = strtol (entry->d_name, &end, 10);
        if (*end || end == entry->d_name)
            continue;
        int fd = (int) syscall (SYS_pidfd_getfd, pidfd, (int) target, 0);
        if (fd < 0)
            continue;
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        if (getpeername (fd, (struct sockaddr *) &peer, &peer_len) == 0
        &&  peer_len == local_len && memcmp (&peer, &local, local_len) == 0)
            found = fd;
        else
            close (fd);
    }
    if (fds)
        closedir (fds);
    close (pidfd);
    return found;
}


//  Answers read off one kept-alive connection: bytes of a following answer
//  stay in buf for the next s_answer.
typedef struct {
    int fd;
    char buf [512 * 1024];
    size_t used;
} s_reader_t;

//  A connected socket to 127.0.0.1:port, with a receive buffer of rcvbuf
//  bytes when > 0 (set before connecting: it bounds the window).
static int
s_connect (int port, int rcvbuf)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &addr, sizeof addr)) {
        close (fd);
        return -1;
    }
    return fd;
}

//  More bytes into the reader within timeout_ms: > 0, 0 at EOF, -1 on
//  timeout, error or a full buffer.
static ssize_t
s_fill (s_reader_t *r, int timeout_ms)
{
    if (r->used == sizeof r->buf)
        return -1;
    struct pollfd p = { .fd = r->fd, .events = POLLIN };
    if (poll (&p, 1, timeout_ms) != 1)
        return -1;
    ssize_t n = recv (r->fd, r->buf + r->used, sizeof r->buf - r->used, 0);
    if (n > 0)
        r->used += (size_t) n;
    return n;
}

//  The next Content-Length framed answer on the connection: its status,
//  its head and body copied into head and body (NUL-terminated, body_size
//  bytes at most: longer bodies fail); -1 when none came whole in time.
static int
s_answer (s_reader_t *r, char *head, size_t head_size, char *body, size_t body_size, size_t *body_len)
{
    char *end;
    while (!(end = memmem (r->buf, r->used, "\r\n\r\n", 4)))
        if (s_fill (r, TIMEOUT_MS) <= 0)
            return -1;
    size_t head_len = (size_t) (end - r->buf) + 4;
    if (head_len >= head_size)
        return -1;
    memcpy (head, r->buf, head_len);
    head [head_len] = '\0';
    int status = 0;
    const char *cl = strcasestr (head, "\r\nContent-Length:");
    if (sscanf (head, "HTTP/1.%*d %d", &status) != 1 || !cl)
        return -1;
    size_t length = (size_t) atol (cl + 17);
    if (length >= body_size)
        return -1;
    while (r->used < head_len + length)
        if (s_fill (r, TIMEOUT_MS) <= 0)
            return -1;
    memcpy (body, r->buf + head_len, length);
    body [length] = '\0';
    *body_len = length;
    r->used -= head_len + length;
    memmove (r->buf, r->buf + head_len + length, r->used);
    return status;
}

static void
test_accepted_sockets_have_nodelay (void **state)
{
    fixture_t *f = *state;
    //  A kept-alive connection that has had one answer: the gateway has accepted it.
    int conn = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (conn >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) f->http_port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (conn, (struct sockaddr *) &addr, sizeof addr), 0);
    const char request [] = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal (send (conn, request, sizeof request - 1, 0), (ssize_t) (sizeof request - 1));
    char answer [512];
    assert_true (recv (conn, answer, sizeof answer, 0) > 0);
    int theirs = s_gateway_end_of (f->gateway, conn);
    assert_true (theirs >= 0);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    assert_int_equal (getsockopt (theirs, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    assert_int_equal (nodelay, 1);
    close (theirs);
    close (conn);
}

//  Requests sent in one write on one connection are answered in order, each
//  whole, whether answered from the gateway's memory (genres, /health), by
//  an actor (a title), or as an error; the connection then serves more.
static void
test_pipelined_requests_are_answered_in_order (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t alone;
    assert_int_equal (s_get (f, "/api/v1/genres", &alone), 0);
    assert_int_equal (alone.status, 200);
    static s_reader_t r;
    r.used = 0;
    r.fd = s_connect (f->http_port, 0);
    assert_true (r.fd >= 0);
    const char *paths [] = { "/api/v1/genres", "/health", "/api/v1/nothing-here",
                             "/api/v1/content/00000000-0000-0000-0000-000000000000",
                             "/api/v1/genres", "/health" };
    const int statuses [] = { 200, 200, 404, 404, 200, 200 };
    char requests [2048];
    size_t len = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++)
        len += (size_t) snprintf (requests + len, sizeof requests - len,
                                  "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", paths [i]);
    assert_int_equal (send (r.fd, requests, len, 0), (ssize_t) len);
    static char head [16384], body [256 * 1024];
    size_t body_len;
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        assert_int_equal (s_answer (&r, head, sizeof head, body, sizeof body, &body_len), statuses [i]);
        if (strcmp (paths [i], "/api/v1/genres") == 0) {
            assert_int_equal (body_len, alone.body_len);
            assert_memory_equal (body, alone.body, body_len);
        }
        if (strcmp (paths [i], "/health") != 0)
            assert_non_null (strcasestr (head, "\r\nX-RateLimit-Remaining:"));
    }
    assert_int_equal (r.used, 0);
    //  Kept alive: one more, sent on its own.
    const char more [] = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal (send (r.fd, more, sizeof more - 1, 0), (ssize_t) (sizeof more - 1));
    assert_int_equal (s_answer (&r, head, sizeof head, body, sizeof body, &body_len), 200);
    close (r.fd);
    mg_http_reply_free (&alone);
}

//  An answer larger than the socket takes at once, to a client that reads
//  late through a small window: it arrives whole, and the connection goes
//  on to the next request.
static void
test_a_large_answer_to_a_slow_reader_arrives_whole (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t alone;
    assert_int_equal (s_get (f, "/api/v1/openapi.json", &alone), 0);
    assert_int_equal (alone.status, 200);
    assert_true (alone.body_len > 64 * 1024);
    static s_reader_t r;
    r.used = 0;
    r.fd = s_connect (f->http_port, 4096);
    assert_true (r.fd >= 0);
    //  One request at a time: a next request would make the gateway write
    //  again, and hide an answer left half written.
    const char request [] = "GET /api/v1/openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal (send (r.fd, request, sizeof request - 1, 0), (ssize_t) (sizeof request - 1));
    usleep (300 * 1000);            //  the gateway meets a full socket meanwhile
    static char head [16384], body [1024 * 1024];
    size_t body_len;
    assert_int_equal (s_answer (&r, head, sizeof head, body, sizeof body, &body_len), 200);
    assert_int_equal (body_len, alone.body_len);
    assert_memory_equal (body, alone.body, body_len);
    const char next [] = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal (send (r.fd, next, sizeof next - 1, 0), (ssize_t) (sizeof next - 1));
    assert_int_equal (s_answer (&r, head, sizeof head, body, sizeof body, &body_len), 200);
    close (r.fd);
    mg_http_reply_free (&alone);
}

//  "Connection: close" and HTTP/1.0 without keep-alive: the answer, whole,
//  then the end of the connection, whether the answer came from memory
//  (genres, /health) or from an actor. An HTTP/1.0 answer may end with the
//  connection instead of a Content-Length: read to the end.
static void
test_an_answer_that_closes_the_connection_arrives_whole (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t genres;
    assert_int_equal (s_get (f, "/api/v1/genres", &genres), 0);
    assert_int_equal (genres.status, 200);
    const char *requests [] = {
        "GET /api/v1/genres HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "GET /health HTTP/1.0\r\n\r\n",
        "GET /api/v1/genres HTTP/1.0\r\n\r\n",
        "GET /api/v1/content/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: localhost\r\n"
        "Connection: close\r\n\r\n",
    };
    const int statuses [] = { 200, 200, 200, 404 };
    static s_reader_t r;
    for (size_t i = 0; i < sizeof requests / sizeof requests [0]; i++) {
        r.used = 0;
        r.fd = s_connect (f->http_port, 0);
        assert_true (r.fd >= 0);
        size_t len = strlen (requests [i]);
        assert_int_equal (send (r.fd, requests [i], len, 0), (ssize_t) len);
        ssize_t n;
        while ((n = s_fill (&r, TIMEOUT_MS)) > 0)
            ;
        assert_int_equal (n, 0);                                //  closed by the gateway
        close (r.fd);
        char *end = memmem (r.buf, r.used, "\r\n\r\n", 4);
        assert_non_null (end);
        *end = '\0';
        int status = 0;
        assert_int_equal (sscanf (r.buf, "HTTP/1.%*d %d", &status), 1);
        assert_int_equal (status, statuses [i]);
        size_t body_len = r.used - (size_t) (end + 4 - r.buf);
        const char *cl = strcasestr (r.buf, "\r\nContent-Length:");
        if (cl)
            assert_int_equal ((size_t) atol (cl + 17), body_len);
        assert_true (body_len > 0);
        if (strstr (requests [i], "/api/v1/genres")) {
            assert_int_equal (body_len, genres.body_len);
            assert_memory_equal (end + 4, genres.body, body_len);
        }
    }
    mg_http_reply_free (&genres);
}

static void
test_cors_preflight_is_answered_without_a_rate_check (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_request (f->http_port, "OPTIONS", "/api/v1/me/watchlist",
                                 "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n"
                                 "Access-Control-Request-Headers: authorization\r\n", &reply, TIMEOUT_MS), 0);
    assert_int_equal (reply.status, 204);
    char value [512];
    assert_true (mg_http_header (&reply, "Access-Control-Allow-Origin", value, sizeof value));
    assert_string_equal (value, "*");
    assert_true (mg_http_header (&reply, "Access-Control-Allow-Headers", value, sizeof value));
    assert_non_null (strstr (value, "Authorization"));
    assert_non_null (strstr (value, "X-API-Key"));
    assert_non_null (strstr (value, "Mcp-Session-Id"));
    assert_non_null (strstr (value, "Last-Event-ID"));
    assert_true (mg_http_header (&reply, "Access-Control-Allow-Methods", value, sizeof value));
    assert_non_null (strstr (value, "GET"));
    assert_false (mg_http_header (&reply, "Access-Control-Allow-Credentials", value, sizeof value));
    //  No rate-limit headers: the guard (and its ratelimit call) never ran.
    assert_false (mg_http_header (&reply, "X-RateLimit-Limit", value, sizeof value));
    mg_http_reply_free (&reply);
    //  A plain OPTIONS (no preflight headers) is still a 405 with Allow.
    assert_int_equal (s_request (f->http_port, "OPTIONS", "/api/v1/genres", "", &reply, TIMEOUT_MS), 0);
    assert_int_equal (reply.status, 405);
    mg_http_reply_free (&reply);
}

static void
test_cors_answers_expose_the_rate_limit_headers (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_request (f->http_port, "GET", "/api/v1/genres", "Origin: https://app.example\r\n",
                                 &reply, TIMEOUT_MS + 2000), 0);
    assert_int_equal (reply.status, 200);
    char value [512];
    assert_true (mg_http_header (&reply, "Access-Control-Allow-Origin", value, sizeof value));
    assert_string_equal (value, "*");
    assert_true (mg_http_header (&reply, "Access-Control-Expose-Headers", value, sizeof value));
    assert_non_null (strstr (value, "X-RateLimit-Remaining"));
    assert_non_null (strstr (value, "Retry-After"));
    mg_http_reply_free (&reply);
    //  Without Origin (not a browser): no CORS fields; ops endpoints never get them.
    assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
    assert_false (mg_http_header (&reply, "Access-Control-Allow-Origin", value, sizeof value));
    mg_http_reply_free (&reply);
    assert_int_equal (s_request (f->http_port, "GET", "/health", "Origin: https://app.example\r\n",
                                 &reply, TIMEOUT_MS), 0);
    assert_false (mg_http_header (&reply, "Access-Control-Allow-Origin", value, sizeof value));
    mg_http_reply_free (&reply);
}

static void
test_catalog_reads_revalidate_with_etag (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
    assert_int_equal (reply.status, 200);
    char etag [128], control [128];
    assert_true (mg_http_header (&reply, "ETag", etag, sizeof etag));
    assert_int_equal (etag [0], '"');
    assert_true (mg_http_header (&reply, "Cache-Control", control, sizeof control));
    assert_string_equal (control, "public, max-age=60");
    mg_http_reply_free (&reply);
    char headers [256];
    snprintf (headers, sizeof headers, "If-None-Match: W/\"x\", %s\r\n", etag);
    assert_int_equal (s_request (f->http_port, "GET", "/api/v1/genres", headers, &reply, TIMEOUT_MS + 2000), 0);
    assert_int_equal (reply.status, 304);
    assert_int_equal (reply.body_len, 0);
    char again [128];
    assert_true (mg_http_header (&reply, "ETag", again, sizeof again));
    assert_string_equal (again, etag);
    mg_http_reply_free (&reply);
    assert_int_equal (s_request (f->http_port, "GET", "/api/v1/genres", "If-None-Match: \"other\"\r\n",
                                 &reply, TIMEOUT_MS + 2000), 0);
    assert_int_equal (reply.status, 200);
    assert_true (reply.body_len > 100);
    mg_http_reply_free (&reply);
    //  Errors and user routes carry no validator.
    assert_int_equal (s_get (f, "/api/v1/content/not-a-uuid", &reply), 0);
    assert_int_equal (reply.status, 400);
    assert_false (mg_http_header (&reply, "ETag", etag, sizeof etag));
    mg_http_reply_free (&reply);
}

static void
test_genres_lists_the_18_canonical_genres (void **state)
{
    fixture_t *f = *state;
    static const char *slugs [] = {
        "action", "animation", "comedy", "crime", "documentary", "drama", "family", "fantasy",
        "history", "horror", "music", "mystery", "romance", "science-fiction", "thriller",
        "war", "western", "reality"
    };
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
    assert_int_equal (reply.status, 200);
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    assert_non_null (json);
    assert_int_equal (json_object_size (json), 1);
    json_t *results = json_object_get (json, "results");
    assert_true (json_is_array (results));
    assert_int_equal (json_array_size (results), 18);
    bool seen [18] = { false };
    size_t i;
    json_t *genre;
    json_array_foreach (results, i, genre) {
        assert_int_equal (json_object_size (genre), 3);
        assert_true (json_is_integer (json_object_get (genre, "id")));
        assert_true (json_is_string (json_object_get (genre, "name")));
        const char *slug = json_string_value (json_object_get (genre, "slug"));
        assert_non_null (slug);
        for (size_t s = 0; s < 18; s++)
            if (strcmp (slug, slugs [s]) == 0)
                seen [s] = true;
    }
    for (size_t s = 0; s < 18; s++)
        assert_true (seen [s]);
    json_decref (json);
    mg_http_reply_free (&reply);
    //  HEAD: same status and headers, no body.
    assert_int_equal (s_request (f->http_port, "HEAD", "/api/v1/genres", "", &reply, 5000), 0);
    assert_int_equal (reply.status, 200);
    assert_int_equal (reply.body_len, 0);
    mg_http_reply_free (&reply);
}

//  GET path, asserting the status; the body as JSON (caller decrefs).
static json_t *
s_get_json (fixture_t *f, const char *path, int status)
{
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, path, &reply), 0);
    if (reply.status != status)
        fail_msg ("GET %s: %d, expected %d: %s", path, reply.status, status, reply.body);
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    assert_non_null (json);
    mg_http_reply_free (&reply);
    return json;
}

//  GET path must answer 400 INVALID_PARAMETER whose message contains text.
static void
s_assert_invalid (fixture_t *f, const char *path, const char *text)
{
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, path, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    if (!strstr (reply.body, text))
        fail_msg ("GET %s: '%s' not in %s", path, text, reply.body);
    mg_http_reply_free (&reply);
}

static void
test_search_over_http (void **state)
{
    fixture_t *f = *state;
    //  A typo in a 5-letter word, the fixture's only offer as filter, explain.
    json_t *json = s_get_json (f, "/api/v1/search?q=e2e+titel&mode=keyword&platforms=e2e-platform"
                                  "&region=zz&explain=true&per_page=5&facets=genres,platforms,years", 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 1);
    assert_int_equal (json_integer_value (json_object_get (json, "page")), 1);
    assert_int_equal (json_integer_value (json_object_get (json, "per_page")), 5);
    assert_true (json_is_number (json_object_get (json, "took_ms")));
    json_t *hit = json_array_get (json_object_get (json, "results"), 0);
    assert_string_equal (json_string_value (json_object_get (hit, "id")), E2E_ID);
    assert_string_equal (json_string_value (json_object_get (hit, "title")), "E2E Title");
    assert_int_equal (json_integer_value (json_object_get (json_object_get (hit, "external_ids"), "tmdb")), 424242);
    assert_true (json_is_number (json_object_get (hit, "score")));
    json_t *offers = json_object_get (hit, "availability");
    assert_int_equal (json_array_size (offers), 1);
    //  One region's offers (the region filter's): the page names it once.
    assert_null (json_object_get (json_array_get (offers, 0), "region"));
    assert_string_equal (json_string_value (json_object_get (json, "offers_region")), "ZZ");
    json_t *explain = json_object_get (hit, "explain");
    assert_int_equal (json_integer_value (json_object_get (explain, "keyword_rank")), 1);
    assert_int_equal (json_integer_value (json_object_get (explain, "typos")), 1);
    json_t *facets = json_object_get (json, "facets");
    json_t *genre = json_array_get (json_object_get (facets, "genres"), 0);
    assert_string_equal (json_string_value (json_object_get (genre, "value")), "drama");
    assert_int_equal (json_integer_value (json_object_get (genre, "count")), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (json_object_get (facets, "years"), 0), "value")), "1999");
    assert_string_equal (json_string_value (json_object_get (json_array_get (json_object_get (facets, "platforms"), 0), "value")), "e2e-platform");
    json_decref (json);
    //  Filters that exclude it: an exact, empty answer.
    json = s_get_json (f, "/api/v1/search?q=e2e+title&type=tv", 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 0);
    assert_true (json_is_true (json_object_get (json, "total_exact")));
    //  Facets only when asked.
    assert_null (json_object_get (json, "facets"));
    assert_int_equal (json_array_size (json_object_get (json, "results")), 0);
    json_decref (json);
    json = s_get_json (f, "/api/v1/search?q=e2e+title&year_from=2000&genres=drama", 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 0);
    json_decref (json);
}

//  q absent, empty or blank: the catalog by popularity, with the same
//  filters and facets (placeholder search), not 400.
static void
test_search_placeholder_over_http (void **state)
{
    fixture_t *f = *state;
    const char *paths [] = {
        "/api/v1/search?platforms=e2e-platform&region=zz&facets=genres",
        "/api/v1/search?q=&platforms=e2e-platform&region=zz&mode=keyword&facets=genres",
        "/api/v1/search?q=%20%20&platforms=e2e-platform&region=zz&explain=true&facets=genres",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        json_t *json = s_get_json (f, paths [i], 200);
        assert_int_equal (json_integer_value (json_object_get (json, "total")), 1);
        json_t *hit = json_array_get (json_object_get (json, "results"), 0);
        assert_string_equal (json_string_value (json_object_get (hit, "id")), E2E_ID);
        json_t *genre = json_array_get (json_object_get (json_object_get (json, "facets"), "genres"), 0);
        assert_string_equal (json_string_value (json_object_get (genre, "value")), "drama");
        json_decref (json);
    }
    json_t *json = s_get_json (f, "/api/v1/search", 200);
    assert_true (json_integer_value (json_object_get (json, "total")) >= 1);
    json_decref (json);
    json = s_get_json (f, "/api/v1/search?platforms=e2e-platform&region=zz&type=tv", 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 0);
    json_decref (json);
}

static void
test_search_autocomplete_over_http (void **state)
{
    fixture_t *f = *state;
    json_t *json = s_get_json (f, "/api/v1/search/autocomplete?q=e2e+tit", 200);
    json_t *first = json_array_get (json_object_get (json, "results"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "id")), E2E_ID);
    assert_string_equal (json_string_value (json_object_get (first, "title")), "E2E Title");
    assert_int_equal (json_integer_value (json_object_get (first, "year")), 1999);
    json_decref (json);
    //  People: a cast member's name, the person named in the suggestion.
    json = s_get_json (f, "/api/v1/search/autocomplete?q=jane+d", 200);
    bool found = false;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (json, "results"), i, item)
        if (json_string_value (json_object_get (item, "person"))
        &&  strcmp (json_string_value (json_object_get (item, "person")), "Jane Doe") == 0)
            found = true;
    assert_true (found);
    json_decref (json);
}

//  GET path must answer 400 INVALID_PARAMETER naming parameter name (the
//  actor's "param" field, or the gateway's message quoting it).
static void
s_assert_names (fixture_t *f, const char *path, const char *name)
{
    char param [128], quoted [128];
    snprintf (param, sizeof param, "\"param\":\"%s\"", name);
    snprintf (quoted, sizeof quoted, "'%s'", name);
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, path, &reply), 0);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    if (!strstr (reply.body, param) && !strstr (reply.body, quoted))
        fail_msg ("GET %s: parameter %s not named in %s", path, name, reply.body);
    mg_http_reply_free (&reply);
}

static void
test_search_bad_input_is_400_naming_the_parameter (void **state)
{
    fixture_t *f = *state;
    char path [1024];
    s_assert_invalid (f, "/api/v1/search?q=%2B%2B", "q has no letters");
    s_assert_names (f, "/api/v1/search?q=%FF", "q");
    snprintf (path, sizeof path, "/api/v1/search?q=%0513d", 0);
    s_assert_names (f, path, "q");
    //  No replica here has a model: a server-side limit, 503 with Retry-After.
    mg_http_reply_t unavailable;
    assert_int_equal (s_get (f, "/api/v1/search?q=x&mode=semantic", &unavailable), 0);
    s_assert_error (&unavailable, 503, "SERVICE_UNAVAILABLE");
    char retry [16];
    assert_true (mg_http_header (&unavailable, "Retry-After", retry, sizeof retry));
    mg_http_reply_free (&unavailable);
    s_assert_names (f, "/api/v1/search?q=x&mode=fuzzy", "mode");
    s_assert_names (f, "/api/v1/search?q=x&semantic_ratio=2", "semantic_ratio");
    s_assert_names (f, "/api/v1/search?q=x&sort=title", "sort");
    s_assert_names (f, "/api/v1/search?q=x&per_page=101", "per_page");
    s_assert_names (f, "/api/v1/search?q=x&genres=bogus", "genres");
    s_assert_names (f, "/api/v1/search?q=x&region=USA", "region");
    s_assert_names (f, "/api/v1/search?q=x&min_rating=11", "min_rating");
    s_assert_names (f, "/api/v1/search?q=x&year_from=2010&year_to=2000", "year_from");
    s_assert_invalid (f, "/api/v1/search?q=x&filter=1", "unknown query parameter 'filter'");
    s_assert_names (f, "/api/v1/search/autocomplete", "q");
}

static void
test_content_details_over_http (void **state)
{
    fixture_t *f = *state;
    s_sql (s_catalog_fixture, sizeof s_catalog_fixture / sizeof s_catalog_fixture [0]);
    json_t *json = s_get_json (f, "/api/v1/content/" E2E_ID, 200);
    assert_string_equal (json_string_value (json_object_get (json, "id")), E2E_ID);
    assert_string_equal (json_string_value (json_object_get (json, "title")), "E2E Title");
    assert_int_equal (json_integer_value (json_object_get (json, "year")), 1999);
    assert_string_equal (json_string_value (json_object_get (json, "poster")),
                         "https://image.tmdb.org/t/p/w500/e2e.jpg");
    json_t *ids = json_object_get (json, "external_ids");
    assert_true (json_is_integer (json_object_get (ids, "tmdb")));
    assert_int_equal (json_integer_value (json_object_get (ids, "tmdb")), 424242);
    assert_string_equal (json_string_value (json_object_get (ids, "imdb")), "tt4242420");
    json_t *genres = json_object_get (json, "genres");
    assert_int_equal (json_array_size (genres), 1);
    assert_string_equal (json_string_value (json_array_get (genres, 0)), "drama");
    json_t *cast = json_object_get (json_object_get (json, "credits"), "cast");
    assert_int_equal (json_array_size (cast), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (cast, 0), "character")), "Herself");
    assert_int_equal (json_array_size (json_object_get (json_object_get (json, "credits"), "crew")), 0);
    assert_true (json_is_array (json_object_get (json, "videos")));
    json_decref (json);

    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/content/not-a-uuid", &reply), 0);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    assert_non_null (strstr (reply.body, "\"param\":\"id\""));
    mg_http_reply_free (&reply);
    assert_int_equal (s_get (f, "/api/v1/content/" E2E_UNKNOWN, &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
    s_assert_invalid (f, "/api/v1/content/" E2E_ID "?foo=1", "unknown query parameter 'foo'");
}

static void
test_content_availability_over_http (void **state)
{
    fixture_t *f = *state;
    s_sql (s_catalog_fixture, sizeof s_catalog_fixture / sizeof s_catalog_fixture [0]);
    json_t *json = s_get_json (f, "/api/v1/content/" E2E_ID "/availability?region=zz", 200);
    assert_string_equal (json_string_value (json_object_get (json, "region")), "ZZ");
    json_t *results = json_object_get (json, "results");
    assert_int_equal (json_array_size (results), 1);
    json_t *offer = json_array_get (results, 0);
    assert_string_equal (json_string_value (json_object_get (offer, "platform")), "e2e-platform");
    assert_string_equal (json_string_value (json_object_get (offer, "type")), "buy");
    assert_true (json_real_value (json_object_get (offer, "price")) == 9.5);
    assert_string_equal (json_string_value (json_object_get (offer, "currency")), "EUR");
    json_decref (json);
    json = s_get_json (f, "/api/v1/content/" E2E_ID "/availability", 200);
    assert_int_equal (json_array_size (json_object_get (json, "results")), 2);
    json_decref (json);
    s_assert_invalid (f, "/api/v1/content/" E2E_ID "/availability?region=ZZZ", "alpha-2");
    s_assert_invalid (f, "/api/v1/content/" E2E_ID "/availability?country=ZZ", "unknown query parameter 'country'");
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/content/" E2E_UNKNOWN "/availability", &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
}

//  A list reply: asserts {results, total, page, per_page, offers_region}
//  (one region's offers, by default; and trending's window_fallback, a
//  boolean, only there) and returns total.
static json_int_t
s_assert_list_shape (json_t *json, json_int_t page, json_int_t per_page)
{
    json_t *fallback = json_object_get (json, "window_fallback");
    assert_true (!fallback || json_is_boolean (fallback));
    assert_true (json_is_string (json_object_get (json, "offers_region")));
    assert_int_equal (json_object_size (json), fallback ? 6 : 5);
    assert_true (json_is_array (json_object_get (json, "results")));
    assert_int_equal (json_integer_value (json_object_get (json, "page")), page);
    assert_int_equal (json_integer_value (json_object_get (json, "per_page")), per_page);
    assert_true ((json_int_t) json_array_size (json_object_get (json, "results")) <= per_page);
    assert_true (json_is_integer (json_object_get (json, "total")));
    return json_integer_value (json_object_get (json, "total"));
}

static void
test_trending_over_http (void **state)
{
    fixture_t *f = *state;
    s_sql (s_catalog_fixture, sizeof s_catalog_fixture / sizeof s_catalog_fixture [0]);
    json_t *json = s_get_json (f, "/api/v1/trending", 200);
    json_int_t total = s_assert_list_shape (json, 1, 20);
    assert_true (total >= 1);
    json_decref (json);
    json = s_get_json (f, "/api/v1/trending?type=movie&window=day&page=1&per_page=1", 200);
    assert_true (s_assert_list_shape (json, 1, 1) >= 1);
    json_t *item = json_array_get (json_object_get (json, "results"), 0);
    assert_true (json_is_string (json_object_get (item, "id")));
    assert_true (json_is_array (json_object_get (item, "genres")));
    assert_true (json_is_object (json_object_get (item, "external_ids")));
    //  The search item shape: a score and the current offers.
    assert_true (json_is_number (json_object_get (item, "score")));
    assert_true (json_is_array (json_object_get (item, "availability")));
    assert_true (json_is_boolean (json_object_get (json, "window_fallback")));
    json_decref (json);
    s_assert_invalid (f, "/api/v1/trending?window=month", "window");
    s_assert_invalid (f, "/api/v1/trending?type=film", "type");
    s_assert_invalid (f, "/api/v1/trending?per_page=101", "per_page");
    s_assert_invalid (f, "/api/v1/trending?page=0", "page");
    s_assert_invalid (f, "/api/v1/trending?page=abc", "page");
    s_assert_invalid (f, "/api/v1/trending?q=x", "unknown query parameter 'q'");
}

static void
test_discover_over_http (void **state)
{
    fixture_t *f = *state;
    s_sql (s_catalog_fixture, sizeof s_catalog_fixture / sizeof s_catalog_fixture [0]);
    json_t *json = s_get_json (f, "/api/v1/discover?type=movie&genres=drama,action&year_from=1990"
                                  "&year_to=2000&platforms=e2e-platform&region=ZZ&min_rating=7.5"
                                  "&sort=rating&page=1&per_page=5", 200);
    assert_int_equal (s_assert_list_shape (json, 1, 5), 1);
    json_t *item = json_array_get (json_object_get (json, "results"), 0);
    assert_string_equal (json_string_value (json_object_get (item, "id")), E2E_ID);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (item, "external_ids"), "tmdb")), 424242);
    //  The offer it was found by is among the item's offers; no window here.
    assert_true (json_array_size (json_object_get (item, "availability")) >= 1);
    assert_null (json_object_get (json, "window_fallback"));
    json_decref (json);
    //  Past the last page: no results, the same exact total.
    json = s_get_json (f, "/api/v1/discover?platforms=e2e-platform&page=2&per_page=1", 200);
    assert_int_equal (s_assert_list_shape (json, 2, 1), 1);
    assert_int_equal (json_array_size (json_object_get (json, "results")), 0);
    json_decref (json);
    json = s_get_json (f, "/api/v1/discover?platforms=e2e-platform&min_rating=8.5", 200);
    assert_int_equal (s_assert_list_shape (json, 1, 20), 0);
    json_decref (json);
    json = s_get_json (f, "/api/v1/discover", 200);
    assert_true (s_assert_list_shape (json, 1, 20) >= 1);
    json_decref (json);
    s_assert_invalid (f, "/api/v1/discover?genres=drama,nope", "'nope'");
    s_assert_invalid (f, "/api/v1/discover?year_from=2010&year_to=2000", "year_from");
    s_assert_invalid (f, "/api/v1/discover?sort=relevance", "sort");
    s_assert_invalid (f, "/api/v1/discover?min_rating=high", "min_rating");
    s_assert_invalid (f, "/api/v1/discover?q=matrix", "unknown query parameter 'q'");
}

static void
test_resolve_answers_in_input_order_with_nulls_and_errors (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_post (f, "/api/v1/resolve", "application/json",
        "{\"records\":[{\"title\":\"e2e title\",\"year\":1999},{\"title\":\"Nothing Like It\",\"year\":1999},"
        "{\"year\":1999},{\"title\":\"Another Name\",\"ids\":{\"tmdb\":424242}}]}", &reply), 0);
    assert_int_equal (reply.status, 200);
    json_error_t jerr;
    json_t *json = json_loads (reply.body, 0, &jerr);
    assert_non_null (json);
    json_t *results = json_object_get (json, "results");
    assert_int_equal (json_array_size (results), 4);
    json_t *first = json_array_get (results, 0);
    assert_true (json_is_object (first));
    assert_string_equal (json_string_value (json_object_get (first, "id")), E2E_ID);
    assert_int_equal (json_integer_value (json_object_get (first, "tmdb_id")), 424242);
    assert_int_equal (json_integer_value (json_object_get (first, "tier")), 3);
    assert_true (json_is_null (json_array_get (results, 1)));
    assert_true (json_is_null (json_array_get (results, 2)));
    json_t *by_id = json_array_get (results, 3);
    assert_true (json_is_object (by_id));
    assert_string_equal (json_string_value (json_object_get (by_id, "id")), E2E_ID);
    assert_int_equal (json_integer_value (json_object_get (by_id, "tier")), 2);
    json_t *errors = json_object_get (json, "errors");
    assert_int_equal (json_array_size (errors), 1);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (errors, 0), "index")), 2);
    json_decref (json);
    mg_http_reply_free (&reply);

    assert_int_equal (s_post (f, "/api/v1/resolve", "application/json", "{\"records\": [", &reply), 0);
    s_assert_error (&reply, 400, "INVALID_JSON");
    mg_http_reply_free (&reply);
    assert_int_equal (s_post (f, "/api/v1/resolve", "application/json", "{\"rows\": []}", &reply), 0);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    assert_int_equal (s_post (f, "/api/v1/resolve", "text/plain", "{\"records\": []}", &reply), 0);
    s_assert_error (&reply, 415, "UNSUPPORTED_MEDIA_TYPE");
    mg_http_reply_free (&reply);
}

static void
test_unknown_path_is_404 (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/nothing-here", &reply), 0);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
}

static void
test_wrong_method_is_405_with_allow (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_request (f->http_port, "DELETE", "/api/v1/genres", "", &reply, 5000), 0);
    s_assert_error (&reply, 405, "METHOD_NOT_ALLOWED");
    char allow [64];
    assert_true (mg_http_header (&reply, "Allow", allow, sizeof allow));
    assert_string_equal (allow, "GET, HEAD");
    mg_http_reply_free (&reply);
}

static void
test_unknown_query_parameter_is_400_naming_it (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/genres?foo=1", &reply), 0);
    assert_int_equal (reply.status, 400);
    assert_string_equal (reply.body,
        "{\"error\":{\"code\":\"INVALID_PARAMETER\",\"message\":\"unknown query parameter 'foo'\"}}");
    mg_http_reply_free (&reply);
}

static void
test_oversized_body_is_413 (void **state)
{
    fixture_t *f = *state;
    size_t body_len = MAX_BODY + 1;
    size_t cap = body_len + 256;
    char *request = malloc (cap);
    int n = snprintf (request, cap, "GET /api/v1/genres HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", body_len);
    memset (request + n, 'x', body_len);
    mg_http_reply_t reply;
    assert_int_equal (mg_http_exchange (f->http_port, request, (size_t) n + body_len, &reply, 5000), 0);
    s_assert_error (&reply, 413, "PAYLOAD_TOO_LARGE");
    mg_http_reply_free (&reply);
    free (request);
}

static void
test_long_url_is_414 (void **state)
{
    fixture_t *f = *state;
    char path [MAX_URL + 64];
    strcpy (path, "/api/v1/genres?q=");
    size_t len = strlen (path);
    memset (path + len, 'a', MAX_URL);
    path [len + MAX_URL] = '\0';
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, path, &reply), 0);
    s_assert_error (&reply, 414, "URI_TOO_LONG");
    mg_http_reply_free (&reply);
}

static void
test_big_headers_are_431 (void **state)
{
    fixture_t *f = *state;
    char headers [MAX_HEADERS + 64];
    strcpy (headers, "X-Padding: ");
    size_t len = strlen (headers);
    memset (headers + len, 'p', MAX_HEADERS);
    strcpy (headers + len + MAX_HEADERS, "\r\n");
    mg_http_reply_t reply;
    assert_int_equal (s_request (f->http_port, "GET", "/api/v1/genres", headers, &reply, 5000), 0);
    s_assert_error (&reply, 431, "HEADERS_TOO_LARGE");
    mg_http_reply_free (&reply);
    //  Just under the limit is served.
    memset (headers + len, 'p', MAX_HEADERS - 200);
    strcpy (headers + len + MAX_HEADERS - 200, "\r\n");
    assert_int_equal (s_request (f->http_port, "GET", "/health", headers, &reply, 5000), 0);
    assert_int_equal (reply.status, 200);
    mg_http_reply_free (&reply);
}

static void
test_ready_names_the_services (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/ready", &reply), 0);
    assert_int_equal (reply.status, 200);
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    assert_non_null (json);
    assert_string_equal (json_string_value (json_object_get (json, "status")), "ready");
    json_t *catalog = json_object_get (json_object_get (json, "services"), "catalog");
    assert_true (json_is_integer (catalog));
    assert_true (json_integer_value (catalog) >= 1);
    json_decref (json);
    mg_http_reply_free (&reply);
}

static void
test_metrics_count_requests (void **state)
{
    fixture_t *f = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
    mg_http_reply_free (&reply);
    assert_int_equal (s_get (f, "/metrics", &reply), 0);
    assert_int_equal (reply.status, 200);
    char type [128];
    assert_true (mg_http_header (&reply, "Content-Type", type, sizeof type));
    assert_non_null (strstr (type, "text/plain"));
    const char *expected [] = {
        "# TYPE mg_gateway_http_requests_total counter",
        "mg_gateway_http_requests_total{method=\"GET\",route=\"/api/v1/genres\",status=\"200\"} ",
        "mg_gateway_http_requests_total{method=\"GET\",route=\"/api/v1/genres\",status=\"400\"} ",
        "mg_gateway_http_requests_total{method=\"\",route=\"unmatched\",status=\"404\"} ",
        "# TYPE mg_gateway_http_request_duration_seconds histogram",
        "mg_gateway_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/genres\",le=\"+Inf\"} ",
        "# TYPE mg_gateway_bus_roundtrip_seconds histogram",
        "mg_gateway_bus_roundtrip_seconds_count{method=\"GET\",route=\"/api/v1/genres\"} ",
        "mg_gateway_bus_requests_total{method=\"GET\",route=\"/api/v1/genres\",outcome=\"reply\"} ",
        "# TYPE mg_gateway_http_requests_in_flight gauge",
        "mg_gateway_http_requests_in_flight 1\n",    //  this very request
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected [0]; i++)
        if (!strstr (reply.body, expected [i]))
            fail_msg ("metrics lack: %s\n%s", expected [i], reply.body);
    mg_http_reply_free (&reply);
}

//  A gateway of its own on a free port (into *port), without the reference
//  memo (genres asked of the catalog each time) and with deadline_ms, once it
//  answers genres 200 within wait_ms; its pid, or -1 (nothing left running).
static pid_t
s_own_gateway (fixture_t *f, const char *deadline_ms, int wait_ms, int *port)
{
    char env_http [64], env_deadline [64];
    *port = mg_test_free_port ();
    snprintf (env_http, sizeof env_http, "MG_HTTP_PORT=%d", *port);
    snprintf (env_deadline, sizeof env_deadline, "MG_REQUEST_TIMEOUT_MS=%s", deadline_ms);
    const char *env [] = { f->env_broker, env_http, env_deadline, "MG_REFERENCE_CACHE_S=0", NULL };
    pid_t gateway = mg_test_spawn ("mg-gateway", env);
    if (gateway <= 0)
        return -1;
    int64_t until = mg_test_now_ms () + wait_ms;
    int status = 0;
    while (status != 200 && mg_test_now_ms () < until) {
        mg_http_reply_t reply = { 0 };
        s_request (*port, "GET", "/api/v1/genres", "", &reply, 2000);
        status = reply.status;
        mg_http_reply_free (&reply);
        if (status != 200)
            usleep (50 * 1000);
    }
    if (status == 200)
        return gateway;
    mg_test_stop (gateway, SIGTERM);
    return -1;
}

//  Workers of service as /ready counts them, or -1.
static int
s_ready_workers (fixture_t *f, const char *service)
{
    mg_http_reply_t reply;
    if (s_get (f, "/ready", &reply))
        return -1;
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    json_t *count = json ? json_object_get (json_object_get (json, "services"), service) : NULL;
    int workers = json_is_integer (count) ? (int) json_integer_value (count) : -1;
    json_decref (json);
    mg_http_reply_free (&reply);
    return workers;
}

static void
test_reads_held_by_a_stopped_replica_are_answered_by_another (void **state)
{
    fixture_t *f = *state;
    pid_t second = s_start_catalog (f);
    assert_true (second > 0);
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    int workers = 0;
    while ((workers = s_ready_workers (f, "catalog")) < 2 && mg_test_now_ms () < until)
        usleep (50 * 1000);
    if (workers != 2)
        mg_test_stop (second, SIGTERM);
    assert_int_equal (workers, 2);
    int port = 0;
    pid_t gateway = s_own_gateway (f, "3000", START_WAIT_MS, &port);
    if (gateway < 0)
        mg_test_stop (second, SIGTERM);
    assert_true (gateway > 0);
    mg_http_reply_t reply = { 0 };
    //  The first replica stops (as if it hung or its host went): the broker
    //  takes a read to it as lost after 3 heartbeats and gives it to the other.
    //  The broker hands requests out least recently used first, so of four in
    //  a row one or more reach the stopped replica.
    mg_test_signal (f->catalog, SIGSTOP);
    int served = 0;
    int64_t slowest = 0;
    for (int i = 0; i < 4; i++) {
        int64_t start = mg_test_now_ms ();
        assert_int_equal (s_request (port, "GET", "/api/v1/genres", "", &reply, TIMEOUT_MS + 2000), 0);
        int64_t took = mg_test_now_ms () - start;
        if (took > slowest)
            slowest = took;
        if (reply.status != 200)
            fprintf (stderr, "GET %d: %d %s\n", i, reply.status, reply.body);
        served += reply.status == 200;
        mg_http_reply_free (&reply);
    }
    mg_test_signal (f->catalog, SIGCONT);
    //  Stopped before the checks: a failed one leaves nothing running.
    int gateway_status = mg_test_stop (gateway, SIGTERM);
    int second_status = mg_test_stop (second, SIGTERM);
    assert_int_equal (served, 4);
    //  One of them waited for the broker to give up on the stopped replica.
    assert_true (slowest >= 500);
    assert_int_equal (WEXITSTATUS (gateway_status), 0);
    assert_int_equal (WEXITSTATUS (second_status), 0);
    assert_int_equal (s_wait_status (f, "/api/v1/genres", 200, 10000), 200);
}

static void
test_killed_catalog_is_503_then_recovers (void **state)
{
    fixture_t *f = *state;
    mg_test_stop (f->catalog, SIGKILL);
    f->catalog = -1;
    //  The broker notices the dead worker within 3 heartbeats (750 ms).
    int64_t killed = mg_test_now_ms ();
    mg_http_reply_t reply;
    int status = 0;
    while (mg_test_now_ms () - killed < 1000) {
        assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
        status = reply.status;
        if (status == 503)
            break;
        mg_http_reply_free (&reply);
    }
    assert_int_equal (status, 503);
    assert_true (mg_test_now_ms () - killed <= 1000);
    //  WORKER_LOST if the broker had handed it to the dead worker, else SERVICE_UNAVAILABLE.
    s_assert_error (&reply, 503, strstr (reply.body, "WORKER_LOST") ? "WORKER_LOST" : "SERVICE_UNAVAILABLE");
    char retry [16];
    assert_true (mg_http_header (&reply, "Retry-After", retry, sizeof retry));
    assert_true (atoi (retry) >= 1);
    mg_http_reply_free (&reply);

    assert_int_equal (s_wait_status (f, "/ready", 503, 2000), 503);
    assert_int_equal (s_get (f, "/ready", &reply), 0);
    assert_true (mg_http_header (&reply, "Retry-After", retry, sizeof retry));
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    assert_non_null (json);
    assert_string_equal (json_string_value (json_object_get (json, "status")), "not_ready");
    assert_string_equal (json_string_value (json_array_get (json_object_get (json, "missing"), 0)), "catalog");
    json_decref (json);
    mg_http_reply_free (&reply);

    f->catalog = s_start_catalog (f);
    assert_int_equal (s_wait_status (f, "/api/v1/genres", 200, START_WAIT_MS), 200);
    assert_int_equal (s_wait_status (f, "/ready", 200, 5000), 200);
}

static void
test_lost_broker_is_503_at_once_and_reconnects (void **state)
{
    fixture_t *f = *state;
    mg_test_stop (f->broker, SIGKILL);
    f->broker = -1;
    //  New requests do not wait for the deadline: no connection, no queueing.
    int64_t start = mg_test_now_ms ();
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
    assert_true (mg_test_now_ms () - start < 1000);
    s_assert_error (&reply, 503, "SERVICE_UNAVAILABLE");
    char retry [16];
    assert_true (mg_http_header (&reply, "Retry-After", retry, sizeof retry));
    mg_http_reply_free (&reply);
    start = mg_test_now_ms ();
    assert_int_equal (s_get (f, "/ready", &reply), 0);
    assert_int_equal (reply.status, 503);
    assert_true (mg_test_now_ms () - start < 1000);
    mg_http_reply_free (&reply);

    //  Same endpoint, new broker: the gateway and the catalog find it themselves.
    f->broker = s_start_broker (f);
    start = mg_test_now_ms ();
    assert_int_equal (s_wait_status (f, "/api/v1/genres", 200, 5000), 200);
    assert_true (mg_test_now_ms () - start <= 5000);
    assert_int_equal (s_wait_status (f, "/ready", 200, 5000), 200);
}

static void
test_calls_in_flight_when_the_broker_dies_are_503 (void **state)
{
    fixture_t *f = *state;
    //  A stopped catalog holds the request at the broker; then the broker dies.
    mg_test_signal (f->catalog, SIGSTOP);
    mg_http_reply_t reply;
    pid_t child = fork ();
    if (child == 0) {
        usleep (150 * 1000);
        mg_test_signal (f->broker, SIGKILL);
        _exit (0);
    }
    int64_t start = mg_test_now_ms ();
    assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
    int64_t took = mg_test_now_ms () - start;
    waitpid (child, NULL, 0);
    mg_test_stop (f->broker, 0);
    mg_test_signal (f->catalog, SIGCONT);
    s_assert_error (&reply, 503, "SERVICE_UNAVAILABLE");
    assert_non_null (strstr (reply.body, "lost the connection"));
    assert_true (took < 700);       //  before the broker could have declared the worker lost
    mg_http_reply_free (&reply);
    f->broker = s_start_broker (f);
    assert_int_equal (s_wait_status (f, "/api/v1/genres", 200, 10000), 200);
}

static void
test_no_answer_within_the_deadline_is_504 (void **state)
{
    fixture_t *f = *state;
    int port = 0;
    pid_t gateway = s_own_gateway (f, "300", START_WAIT_MS, &port);
    assert_true (gateway > 0);
    mg_http_reply_t reply = { 0 };
    mg_test_signal (f->catalog, SIGSTOP);
    int64_t start = mg_test_now_ms ();
    assert_int_equal (s_request (port, "GET", "/api/v1/genres", "", &reply, 3000), 0);
    int64_t took = mg_test_now_ms () - start;
    mg_test_signal (f->catalog, SIGCONT);
    s_assert_error (&reply, 504, "DEADLINE_EXCEEDED");
    assert_true (took >= 250 && took < 1000);
    mg_http_reply_free (&reply);
    assert_int_equal (WEXITSTATUS (mg_test_stop (gateway, SIGTERM)), 0);
    assert_int_equal (s_wait_status (f, "/api/v1/genres", 200, 10000), 200);
}

static void
test_sigterm_answers_in_flight_requests_and_exits_0 (void **state)
{
    fixture_t *f = *state;
    mg_test_signal (f->catalog, SIGSTOP);
    pid_t child = fork ();
    if (child == 0) {
        usleep (150 * 1000);
        mg_test_signal (f->gateway, SIGTERM);
        _exit (0);
    }
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, "/api/v1/genres", &reply), 0);
    waitpid (child, NULL, 0);
    mg_test_signal (f->catalog, SIGCONT);
    //  Answered although the gateway was told to stop while it waited:
    //  the broker declared the stopped worker lost.
    assert_int_equal (reply.status, 503);
    mg_http_reply_free (&reply);
    int status = mg_test_stop (f->gateway, 0);
    f->gateway = -1;
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    //  Nobody listens any more.
    assert_int_equal (s_get (f, "/health", &reply), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_health_answers_ok),
        cmocka_unit_test (test_accepted_sockets_have_nodelay),
        cmocka_unit_test (test_pipelined_requests_are_answered_in_order),
        cmocka_unit_test (test_a_large_answer_to_a_slow_reader_arrives_whole),
        cmocka_unit_test (test_an_answer_that_closes_the_connection_arrives_whole),
        cmocka_unit_test (test_cors_preflight_is_answered_without_a_rate_check),
        cmocka_unit_test (test_cors_answers_expose_the_rate_limit_headers),
        cmocka_unit_test (test_catalog_reads_revalidate_with_etag),
        cmocka_unit_test (test_genres_lists_the_18_canonical_genres),
        cmocka_unit_test (test_content_details_over_http),
        cmocka_unit_test (test_content_availability_over_http),
        cmocka_unit_test (test_trending_over_http),
        cmocka_unit_test (test_discover_over_http),
        cmocka_unit_test (test_search_over_http),
        cmocka_unit_test (test_search_placeholder_over_http),
        cmocka_unit_test (test_search_autocomplete_over_http),
        cmocka_unit_test (test_search_bad_input_is_400_naming_the_parameter),
        cmocka_unit_test (test_resolve_answers_in_input_order_with_nulls_and_errors),
        cmocka_unit_test (test_unknown_path_is_404),
        cmocka_unit_test (test_wrong_method_is_405_with_allow),
        cmocka_unit_test (test_unknown_query_parameter_is_400_naming_it),
        cmocka_unit_test (test_oversized_body_is_413),
        cmocka_unit_test (test_long_url_is_414),
        cmocka_unit_test (test_big_headers_are_431),
        cmocka_unit_test (test_ready_names_the_services),
        cmocka_unit_test (test_metrics_count_requests),
        cmocka_unit_test (test_reads_held_by_a_stopped_replica_are_answered_by_another),
        cmocka_unit_test (test_killed_catalog_is_503_then_recovers),
        cmocka_unit_test (test_lost_broker_is_503_at_once_and_reconnects),
        cmocka_unit_test (test_calls_in_flight_when_the_broker_dies_are_503),
        cmocka_unit_test (test_no_answer_within_the_deadline_is_504),
        cmocka_unit_test (test_sigterm_answers_in_flight_requests_and_exits_0),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
