/*  Shared by the benchmark clients (sync_bench.c, alerts_bench.c): SSE
    streams of GET /api/v1/sync/stream read by one libevent loop, each line
    of a stream's body handed to the bench.  */
#ifndef BENCH_SSE_H_INCLUDED
#define BENCH_SSE_H_INCLUDED

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct bench_sse_t bench_sse_t;

//  A line of a stream's body (after the head), without its end of line.
typedef void (bench_sse_line_fn) (bench_sse_t *stream, const char *line);

struct bench_sse_t {
    struct bufferevent *bev;
    bool open;                      //  200 came
    bool head_done;
    bench_sse_line_fn *on_line;
    void *arg;                      //  the bench's own
    atomic_int *opened;             //  counts streams open now (may be NULL)
    atomic_long *failures;          //  counts streams that closed or failed (may be NULL)
};

//  Connect stream (on_line, arg, opened and failures set by the caller)
//  to the gateway on 127.0.0.1:port and send GET /api/v1/sync/stream with
//  token and device. 0 or -1.
int bench_sse_open (struct event_base *base, int port, const char *token, const char *device, bench_sse_t *stream);

//  Close the stream's connection (if any).
void bench_sse_close (bench_sse_t *stream);

//  A timer on base that leaves its loop once *done is true (another
//  thread sets it; looked at every 100 ms). NULL on failure; free it with
//  bench_stop_free.
typedef struct bench_stop_t bench_stop_t;
bench_stop_t *bench_stop_new (struct event_base *base, atomic_bool *done);
void bench_stop_free (bench_stop_t **self_p);

//  Sort helper for int64_t values (qsort).
int bench_cmp_i64 (const void *a, const void *b);

//  Percentile p (0..100) of sorted values (n > 0), in ms (values in us).
double bench_pct_ms (const int64_t *sorted, size_t n, double p);

#endif
