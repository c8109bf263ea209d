/*  mg-sync-bench: live sync under many open streams.

    mg-sync-bench PORT USERS DEVICES PUTS SECONDS WRITERS

    Registers USERS users with DEVICES devices each and opens one SSE stream
    (GET /api/v1/sync/stream) per device: USERS x DEVICES connections, all
    read by one libevent loop. Then:
      latency     PUTS progress writes (PUT /api/v1/me/progress/{id}), one
                  at a time and paced, each from device 0 of a user; the time
                  from sending the PUT to its event on device 1's stream
                  (p50/p95/p99), beside the PUT's own HTTP round trip
                  measured in the same run (the reference);
      throughput  WRITERS threads, each with its own keep-alive connection
                  and its own users, POST /api/v1/sync/ops batches of
                  BATCH_OPS ops for SECONDS, then REST PUTs for SECONDS:
                  ops/s and PUTs/s accepted (200), while every stream
                  receives the events they make.  */
#include "bench_sse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_OPS        50         //  ops per POST /sync/ops in the throughput phase
#define PUT_PACE_US      20000      //  latency phase: one PUT every 20 ms (no queueing measured)
#define READY_WAIT_S     60         //  streams must all be open by then
#define SETTLE_US        1000000    //  after the last PUT: time for its event
#define BODY_MAX         (1 << 20)  //  largest answer the setup client reads
#define TITLE            "00000000-0000-4000-8000-00000000b000"

typedef struct {
    char token [1024];
    char devices [10][37];
} s_user_t;

typedef struct {
    bench_sse_t sse;                //  first: the line callback gets it
    int user, device;
} s_stream_t;

static int s_port;
static int s_users, s_devices, s_puts, s_seconds, s_writers;
static s_user_t *s_user_list;
static int64_t *s_sent_us;          //  [s_puts] PUT sent
static int64_t *s_rtt_us;           //  [s_puts] PUT answered - sent
static int64_t *s_event_us;         //  [s_puts] event seen on device 1 (main thread writes)
static atomic_int s_open_streams;
static atomic_bool s_measuring;
static atomic_bool s_done;
static atomic_long s_ops_ok, s_puts_ok, s_failures;

//  Monotonic microseconds.
static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  --------------------------------------------------------------------------
//  A blocking keep-alive HTTP client (setup and writers)

typedef struct {
    int fd;
    char *buf;                      //  bytes read beyond the last answer
    size_t len;
} s_conn_t;

//  Connect to the gateway. 0 or -1.
static int
s_connect (s_conn_t *conn)
{
    conn->fd = socket (AF_INET, SOCK_STREAM, 0);
    conn->len = 0;
    if (!conn->buf)
        conn->buf = malloc (BODY_MAX + 1);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) s_port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int one = 1;
    if (conn->fd < 0 || !conn->buf || connect (conn->fd, (struct sockaddr *) &addr, sizeof addr))
        return -1;
    setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

//  Send a request and read its answer (Content-Length bodies only); the
//  status, the body into body (BODY_MAX + 1 bytes, may be NULL). -1 on a
//  broken connection.
static int
s_http (s_conn_t *conn, const char *method, const char *path, const char *headers, const char *body,
        char *out)
{
    char request [8192];
    int n = snprintf (request, sizeof request, "%s %s HTTP/1.1\r\nHost: bench\r\n%s%sContent-Length: %zu\r\n\r\n%s",
                      method, path, headers, body ? "Content-Type: application/json\r\n" : "",
                      body ? strlen (body) : 0, body ? body : "");
    if (n <= 0 || (size_t) n >= sizeof request || send (conn->fd, request, (size_t) n, MSG_NOSIGNAL) != n)
        return -1;
    for (;;) {
        conn->buf [conn->len] = '\0';
        char *end = strstr (conn->buf, "\r\n\r\n");
        if (end) {
            int status = 0;
            sscanf (conn->buf, "HTTP/1.1 %d", &status);
            const char *cl = strcasestr (conn->buf, "\r\nContent-Length:");
            size_t body_len = cl && cl < end ? strtoul (cl + 17, NULL, 10) : 0;
            size_t total = (size_t) (end + 4 - conn->buf) + body_len;
            if (total > BODY_MAX)
                return -1;
            if (conn->len >= total) {
                if (out) {
                    memcpy (out, end + 4, body_len);
                    out [body_len] = '\0';
                }
                memmove (conn->buf, conn->buf + total, conn->len - total);
                conn->len -= total;
                return status;
            }
        }
        if (conn->len >= BODY_MAX)
            return -1;
        ssize_t got = recv (conn->fd, conn->buf + conn->len, BODY_MAX - conn->len, 0);
        if (got <= 0)
            return -1;
        conn->len += (size_t) got;
    }
}

//  Register user u, log in, register its devices. 0 or -1.
static int
s_setup_user (s_conn_t *conn, int u)
{
    s_user_t *user = &s_user_list [u];
    char body [256], *out = malloc (BODY_MAX + 1), headers [1200];
    int rc = -1;
    snprintf (body, sizeof body, "{\"email\":\"bench-%d-%d@example.com\",\"password\":\"bench password 123\"}",
              (int) getpid (), u);
    if (!out || s_http (conn, "POST", "/api/v1/auth/register", "", body, out) != 201
    ||  s_http (conn, "POST", "/api/v1/auth/login", "", body, out) != 200)
        goto done;
    json_t *json = json_loads (out, 0, NULL);
    snprintf (user->token, sizeof user->token, "%s", json_string_value (json_object_get (json, "access_token")));
    json_decref (json);
    snprintf (headers, sizeof headers, "Authorization: Bearer %s\r\n", user->token);
    for (int d = 0; d < s_devices; d++) {
        snprintf (body, sizeof body, "{\"name\":\"device %d\"}", d);
        if (s_http (conn, "POST", "/api/v1/me/devices", headers, body, out) != 201)
            goto done;
        json = json_loads (out, 0, NULL);
        snprintf (user->devices [d], 37, "%s", json_string_value (json_object_get (json, "id")));
        json_decref (json);
    }
    rc = 0;
done:
    free (out);
    return rc;
}

//  --------------------------------------------------------------------------
//  Streams (main thread, libevent)

//  A line of a stream's SSE body: note when a measured write's event arrives.
static void
s_on_line (bench_sse_t *sse, const char *line)
{
    s_stream_t *stream = (s_stream_t *) sse;
    if (stream->device != 1 || strncmp (line, "data: ", 6) != 0 || !atomic_load (&s_measuring))
        return;
    const char *at = strstr (line, "\"position_s\":");
    if (!at || !strstr (line, TITLE))
        return;
    double position = strtod (at + 13, NULL);
    long i = (long) position;
    if (i >= 0 && i < s_puts && s_event_us [i] == 0 && (double) i == position)
        s_event_us [i] = s_now_us ();
}

//  --------------------------------------------------------------------------
//  Measuring (its own threads)

typedef struct {
    int index;
    int64_t until_us;
    bool batches;                   //  POST /sync/ops, else REST PUTs
} s_writer_t;

//  Throughput writer: its users are those with user % s_writers == index.
static void *
s_writer (void *arg)
{
    s_writer_t *self = arg;
    s_conn_t conn = { 0 };
    char *batch = malloc (BATCH_OPS * 200 + 64), headers [1200], path [128];
    if (!batch || s_connect (&conn)) {
        atomic_fetch_add (&s_failures, 1);
        free (batch);
        free (conn.buf);
        return NULL;
    }
    long n = 0;
    for (int u = self->index; s_now_us () < self->until_us; u += s_writers) {
        if (u >= s_users)
            u = self->index;
        s_user_t *user = &s_user_list [u];
        snprintf (headers, sizeof headers, "Authorization: Bearer %s\r\nX-Device-Id: %s\r\n", user->token,
                  user->devices [0]);
        int status;
        if (self->batches) {
            size_t used = (size_t) sprintf (batch, "{\"ops\":[");
            for (int i = 0; i < BATCH_OPS; i++, n++)
                used += (size_t) sprintf (batch + used, "%s{\"op_id\":\"b%d-%d-%ld\",\"type\":\"progress.set\","
                                          "\"content_id\":\"00000000-0000-4000-8000-%012d\",\"position_s\":%ld}",
                                          i ? "," : "", (int) getpid (), self->index, n, i, n);
            sprintf (batch + used, "]}");
            status = s_http (&conn, "POST", "/api/v1/sync/ops", headers, batch, NULL);
            if (status == 200)
                atomic_fetch_add (&s_ops_ok, BATCH_OPS);
        }
        else {
            snprintf (path, sizeof path, "/api/v1/me/progress/00000000-0000-4000-8000-%012ld", n++ % 100);
            status = s_http (&conn, "PUT", path, headers, "{\"position_s\":7,\"duration_s\":100}", NULL);
            if (status == 200)
                atomic_fetch_add (&s_puts_ok, 1);
        }
        if (status != 200) {
            atomic_fetch_add (&s_failures, 1);
            if (status < 0) {
                close (conn.fd);
                if (s_connect (&conn))
                    break;
            }
        }
    }
    close (conn.fd);
    free (conn.buf);
    free (batch);
    return NULL;
}

//  Run the writers for s_seconds; batches or PUTs.
static void
s_throughput (bool batches)
{
    pthread_t threads [64];
    s_writer_t writers [64];
    int64_t until = s_now_us () + (int64_t) s_seconds * 1000000;
    for (int i = 0; i < s_writers; i++) {
        writers [i] = (s_writer_t) { .index = i, .until_us = until, .batches = batches };
        pthread_create (&threads [i], NULL, s_writer, &writers [i]);
    }
    for (int i = 0; i < s_writers; i++)
        pthread_join (threads [i], NULL);
}

//  The latency phase, then the throughput phases; then s_done.
static void *
s_measure (void *arg)
{
    (void) arg;
    int64_t deadline = s_now_us () + (int64_t) READY_WAIT_S * 1000000;
    int total = s_users * s_devices;
    while (atomic_load (&s_open_streams) < total && s_now_us () < deadline)
        usleep (10000);
    fprintf (stderr, "streams open: %d of %d\n", atomic_load (&s_open_streams), total);
    s_conn_t conn = { 0 };
    if (s_connect (&conn)) {
        atomic_store (&s_done, true);
        return NULL;
    }
    atomic_store (&s_measuring, true);
    char headers [1200], body [128];
    for (int i = 0; i < s_puts; i++) {
        s_user_t *user = &s_user_list [i % s_users];
        snprintf (headers, sizeof headers, "Authorization: Bearer %s\r\nX-Device-Id: %s\r\n", user->token,
                  user->devices [0]);
        snprintf (body, sizeof body, "{\"position_s\":%d,\"duration_s\":100000}", i);
        int64_t start = s_now_us ();
        s_sent_us [i] = start;
        int status = s_http (&conn, "PUT", "/api/v1/me/progress/" TITLE, headers, body, NULL);
        s_rtt_us [i] = s_now_us () - start;
        if (status != 200)
            atomic_fetch_add (&s_failures, 1);
        int64_t pause = PUT_PACE_US - (s_now_us () - start);
        if (pause > 0)
            usleep ((useconds_t) pause);
    }
    usleep (SETTLE_US);
    atomic_store (&s_measuring, false);
    close (conn.fd);
    free (conn.buf);
    if (s_seconds > 0) {
        s_throughput (true);
        s_throughput (false);
    }
    atomic_store (&s_done, true);
    return NULL;
}

int
main (int argc, char **argv)
{
    if (argc != 7) {
        fprintf (stderr, "usage: mg-sync-bench PORT USERS DEVICES PUTS SECONDS WRITERS\n");
        return 2;
    }
    s_port = atoi (argv [1]);
    s_users = atoi (argv [2]);
    s_devices = atoi (argv [3]);
    s_puts = atoi (argv [4]);
    s_seconds = atoi (argv [5]);
    s_writers = atoi (argv [6]);
    if (s_users < 1 || s_devices < 2 || s_devices > 10 || s_puts < 1 || s_writers < 1 || s_writers > 64) {
        fprintf (stderr, "mg-sync-bench: USERS >= 1, DEVICES 2..10, PUTS >= 1, WRITERS 1..64\n");
        return 2;
    }
    s_user_list = calloc ((size_t) s_users, sizeof *s_user_list);
    s_sent_us = calloc ((size_t) s_puts, sizeof (int64_t));
    s_rtt_us = calloc ((size_t) s_puts, sizeof (int64_t));
    s_event_us = calloc ((size_t) s_puts, sizeof (int64_t));
    int total = s_users * s_devices;
    s_stream_t *streams = calloc ((size_t) total, sizeof *streams);
    struct event_base *base = event_base_new ();
    s_conn_t conn = { 0 };
    if (!s_user_list || !s_sent_us || !s_rtt_us || !s_event_us || !streams || !base || s_connect (&conn)) {
        fprintf (stderr, "mg-sync-bench: cannot start (memory or connection)\n");
        return 1;
    }
    int64_t setup = s_now_us ();
    for (int u = 0; u < s_users; u++)
        if (s_setup_user (&conn, u)) {
            fprintf (stderr, "mg-sync-bench: setting up user %d failed\n", u);
            return 1;
        }
    close (conn.fd);
    free (conn.buf);
    fprintf (stderr, "%d users with %d devices each set up in %.1f s\n", s_users, s_devices,
             (double) (s_now_us () - setup) / 1e6);
    for (int i = 0; i < total; i++) {
        streams [i] = (s_stream_t) { .sse = { .on_line = s_on_line, .opened = &s_open_streams, .failures = &s_failures },
                                     .user = i / s_devices, .device = i % s_devices };
        s_user_t *user = &s_user_list [streams [i].user];
        if (bench_sse_open (base, s_port, user->token, user->devices [streams [i].device], &streams [i].sse)) {
            fprintf (stderr, "mg-sync-bench: cannot open stream %d: %s\n", i, strerror (errno));
            return 1;
        }
    }
    bench_stop_t *stop = bench_stop_new (base, &s_done);
    if (!stop) {
        fprintf (stderr, "mg-sync-bench: cannot start (memory)\n");
        return 1;
    }
    pthread_t measure;
    pthread_create (&measure, NULL, s_measure, NULL);
    event_base_dispatch (base);
    pthread_join (measure, NULL);
    int still_open = atomic_load (&s_open_streams);

    //  Results.
    int64_t *latency = calloc ((size_t) s_puts, sizeof (int64_t));
    size_t seen = 0;
    for (int i = 0; i < s_puts; i++)
        if (s_event_us [i])
            latency [seen++] = s_event_us [i] - s_sent_us [i];
    qsort (latency, seen, sizeof (int64_t), bench_cmp_i64);
    qsort (s_rtt_us, (size_t) s_puts, sizeof (int64_t), bench_cmp_i64);
    printf ("streams        %d open of %d at the end\n", still_open, total);
    printf ("events         %zu of %d writes seen on device 1\n", seen, s_puts);
    if (seen) {
        double p95 = bench_pct_ms (latency, seen, 95), rtt95 = bench_pct_ms (s_rtt_us, (size_t) s_puts, 95);
        printf ("PUT -> event   p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  (goal p95 <= 30 ms: %s)\n",
                bench_pct_ms (latency, seen, 50), p95, bench_pct_ms (latency, seen, 99), p95 <= 30.0 ? "met" : "missed");
        printf ("PUT round trip p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  (reference)\n",
                bench_pct_ms (s_rtt_us, (size_t) s_puts, 50), rtt95, bench_pct_ms (s_rtt_us, (size_t) s_puts, 99));
        printf ("ratio          event p95 / PUT round trip p95 = %.2f\n", rtt95 > 0 ? p95 / rtt95 : 0.0);
    }
    if (s_seconds > 0)
        printf ("throughput     POST /sync/ops %.0f ops/s (batches of %d)  PUT /me/progress %.0f req/s  "
                "(%d writers, %d s each)\n", (double) atomic_load (&s_ops_ok) / s_seconds, BATCH_OPS,
                (double) atomic_load (&s_puts_ok) / s_seconds, s_writers, s_seconds);
    printf ("failures       %ld (non-200 answers, dropped streams)\n", atomic_load (&s_failures));
    for (int i = 0; i < total; i++)
        bench_sse_close (&streams [i].sse);
    bench_stop_free (&stop);
    event_base_free (base);
    free (latency);
    free (streams);
    free (s_user_list);
    free (s_sent_us);
    free (s_rtt_us);
    free (s_event_us);
    return seen == (size_t) s_puts && still_open == total ? 0 : 1;
}
