/*  SSE streams of the benchmark clients (bench_sse.h).  */
#include "bench_sse.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

//  libevent: bytes from a stream: the head's status, then body lines.
static void
s_on_read (struct bufferevent *bev, void *arg)
{
    bench_sse_t *stream = arg;
    struct evbuffer *in = bufferevent_get_input (bev);
    for (;;) {
        size_t len;
        char *line = evbuffer_readln (in, &len, EVBUFFER_EOL_CRLF);
        if (!line)
            break;
        if (!stream->head_done) {
            if (strncmp (line, "HTTP/1.1 200", 12) == 0 && !stream->open) {
                stream->open = true;
                if (stream->opened)
                    atomic_fetch_add (stream->opened, 1);
            }
            if (len == 0)
                stream->head_done = true;
        }
        else
        if (stream->on_line)
            stream->on_line (stream, line);
        free (line);
    }
}

//  libevent: a stream closed or failed.
static void
s_on_event (struct bufferevent *bev, short what, void *arg)
{
    bench_sse_t *stream = arg;
    (void) bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (stream->open && stream->opened)
            atomic_fetch_sub (stream->opened, 1);
        stream->open = false;
        if (stream->failures)
            atomic_fetch_add (stream->failures, 1);
    }
}

int
bench_sse_open (struct event_base *base, int port, const char *token, const char *device, bench_sse_t *stream)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    stream->bev = bufferevent_socket_new (base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!stream->bev)
        return -1;
    bufferevent_setcb (stream->bev, s_on_read, NULL, s_on_event, stream);
    bufferevent_enable (stream->bev, EV_READ);
    if (bufferevent_socket_connect (stream->bev, (struct sockaddr *) &addr, sizeof addr))
        return -1;
    return evbuffer_add_printf (bufferevent_get_output (stream->bev),
        "GET /api/v1/sync/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
        "Authorization: Bearer %s\r\nX-Device-Id: %s\r\n\r\n", token, device) < 0 ? -1 : 0;
}

void
bench_sse_close (bench_sse_t *stream)
{
    if (stream->bev)
        bufferevent_free (stream->bev);
    stream->bev = NULL;
}

#define STOP_CHECK_US  100000      //  how often the loop looks at *done

struct bench_stop_t {
    struct event_base *base;
    struct event *timer;
    atomic_bool *done;
};

//  Timer: leave the loop once *done.
static void
s_on_tick (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    bench_stop_t *self = arg;
    if (atomic_load (self->done))
        event_base_loopbreak (self->base);
}

bench_stop_t *
bench_stop_new (struct event_base *base, atomic_bool *done)
{
    bench_stop_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    *self = (bench_stop_t) { .base = base, .done = done };
    self->timer = event_new (base, -1, EV_PERSIST, s_on_tick, self);
    struct timeval every = { 0, STOP_CHECK_US };
    if (!self->timer || event_add (self->timer, &every)) {
        bench_stop_free (&self);
        return NULL;
    }
    return self;
}

void
bench_stop_free (bench_stop_t **self_p)
{
    if (*self_p) {
        if ((*self_p)->timer)
            event_free ((*self_p)->timer);
        free (*self_p);
        *self_p = NULL;
    }
}

int
bench_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

double
bench_pct_ms (const int64_t *sorted, size_t n, double p)
{
    size_t i = (size_t) ((p / 100.0) * (double) (n - 1) + 0.5);
    return (double) sorted [i < n ? i : n - 1] / 1000.0;
}
