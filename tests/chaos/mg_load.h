/*  A closed-loop HTTP load for chaos tests: threads that send one request
    after another (a new connection each, as mg_http_request does) and
    record every answer's status, Retry-After and timing, then per time
    window: requests, statuses, p99, hangs and when the errors stopped.  */
#ifndef MG_LOAD_H_INCLUDED
#define MG_LOAD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_http.h"

#define MG_LOAD_KINDS     8         //  request kinds a load may mix
#define MG_LOAD_STATUSES  12        //  distinct statuses counted per window

//  One request to send: filled by the load's next function.
typedef struct {
    int kind;                       //  0 .. MG_LOAD_KINDS-1, the caller's
    char method [8];
    char path [512];
    char headers [1536];            //  extra header lines, each ending "\r\n"
    char body [1024];               //  "" : none
    char tag [64];                  //  the caller's (e.g. the op id a write carries)
} mg_load_request_t;

//  One answered (or not) request. status 0: no answer within the timeout.
typedef struct {
    int64_t start_ms, end_ms;       //  mg_test_now_ms
    int status;
    int kind;
    bool retry_after;
} mg_load_sample_t;

//  Fill request for the n-th request of thread; return 0, or -1 to pause
//  a moment and ask again.
typedef int (mg_load_next_fn) (void *arg, int thread, uint64_t n, mg_load_request_t *request);

//  Told of every answer (reply NULL: none came); may be NULL.
typedef void (mg_load_done_fn) (void *arg, int thread, const mg_load_request_t *request,
                                const mg_http_reply_t *reply);

typedef struct mg_load_t mg_load_t;

//  Start threads sending to 127.0.0.1:port, each request given timeout_ms.
mg_load_t *mg_load_start (int port, int threads, int timeout_ms, mg_load_next_fn *next,
                          mg_load_done_fn *done, void *arg);

//  Stop and join the threads; the samples stay readable. Safe to call twice.
void mg_load_stop (mg_load_t *self);

//  Free everything. Nulls *self_p.
void mg_load_destroy (mg_load_t **self_p);

//  Figures of the requests started in [from_ms, to_ms), of one kind (-1: all).
typedef struct {
    size_t requests;
    size_t ok;                      //  2xx
    size_t unavailable;             //  503
    size_t unavailable_bare;        //  503 without Retry-After
    size_t other;                   //  anything else but 2xx, 503 (status 0 included)
    size_t hung;                    //  took longer than the hang bound, or no answer
    int statuses [MG_LOAD_STATUSES];
    size_t status_counts [MG_LOAD_STATUSES];
    int nstatuses;
    int64_t p99_ms, max_ms;
    int64_t last_error_ms;          //  end of the last non-2xx answer; -1: none
} mg_load_stats_t;

//  Stats of the requests started in [from_ms, to_ms) (after mg_load_stop);
//  a request longer than hang_ms counts as hung.
void mg_load_window (mg_load_t *self, int64_t from_ms, int64_t to_ms, int kind, int64_t hang_ms,
                     mg_load_stats_t *stats);

//  "200 97.1%, 503 2.9%" into text.
void mg_load_statuses_text (const mg_load_stats_t *stats, char *text, size_t size);

#endif
