/*  See mg_load.h.  */
#include "mg_load.h"
#include "mg_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS_MAX     64
#define SAMPLES_FIRST   4096        //  per thread, doubled as needed
#define PAUSE_US        (20 * 1000) //  when next has nothing to send yet

typedef struct {
    mg_load_t *load;
    int index;
    pthread_t thread;
    bool started;
    mg_load_sample_t *samples;      //  written by the thread alone, read after the join
    size_t count, room;
} s_thread_t;

struct mg_load_t {
    int port;
    int timeout_ms;
    mg_load_next_fn *next;
    mg_load_done_fn *done;
    void *arg;
    atomic_bool stopping;
    int nthreads;
    s_thread_t threads [THREADS_MAX];
    bool joined;
};

//  Keep sample in the thread's list; false when out of memory.
static bool
s_keep (s_thread_t *thread, const mg_load_sample_t *sample)
{
    if (thread->count == thread->room) {
        size_t room = thread->room ? thread->room * 2 : SAMPLES_FIRST;
        mg_load_sample_t *bigger = realloc (thread->samples, room * sizeof *bigger);
        if (!bigger)
            return false;
        thread->samples = bigger;
        thread->room = room;
    }
    thread->samples [thread->count++] = *sample;
    return true;
}

static void *
s_thread_main (void *arg)
{
    s_thread_t *thread = arg;
    mg_load_t *load = thread->load;
    for (uint64_t n = 0; !atomic_load (&load->stopping); ) {
        mg_load_request_t request;
        memset (&request, 0, sizeof request);
        if (load->next (load->arg, thread->index, n, &request)) {
            usleep (PAUSE_US);
            continue;
        }
        n++;
        mg_load_sample_t sample = { .kind = request.kind, .start_ms = mg_test_now_ms () };
        mg_http_reply_t reply;
        int rc = mg_http_request (load->port, request.method, request.path, request.headers,
                                  request.body [0] ? request.body : NULL, &reply, load->timeout_ms);
        sample.end_ms = mg_test_now_ms ();
        if (rc == 0) {
            char value [32];
            sample.status = reply.status;
            sample.retry_after = mg_http_header (&reply, "Retry-After", value, sizeof value);
        }
        if (load->done)
            load->done (load->arg, thread->index, &request, rc == 0 ? &reply : NULL);
        mg_http_reply_free (&reply);
        if (!s_keep (thread, &sample))
            break;
        //  Refused connections come back at once: do not spin on them.
        if (rc != 0)
            usleep (PAUSE_US);
    }
    return NULL;
}

mg_load_t *
mg_load_start (int port, int threads, int timeout_ms, mg_load_next_fn *next,
               mg_load_done_fn *done, void *arg)
{
    if (threads < 1 || threads > THREADS_MAX || !next)
        return NULL;
    mg_load_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->port = port;
    self->timeout_ms = timeout_ms;
    self->next = next;
    self->done = done;
    self->arg = arg;
    atomic_init (&self->stopping, false);
    self->nthreads = threads;
    for (int i = 0; i < threads; i++) {
        s_thread_t *thread = &self->threads [i];
        thread->load = self;
        thread->index = i;
        thread->started = pthread_create (&thread->thread, NULL, s_thread_main, thread) == 0;
        if (!thread->started) {
            mg_load_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
mg_load_stop (mg_load_t *self)
{
    if (!self || self->joined)
        return;
    atomic_store (&self->stopping, true);
    for (int i = 0; i < self->nthreads; i++)
        if (self->threads [i].started)
            pthread_join (self->threads [i].thread, NULL);
    self->joined = true;
}

void
mg_load_destroy (mg_load_t **self_p)
{
    if (*self_p) {
        mg_load_t *self = *self_p;
        mg_load_stop (self);
        for (int i = 0; i < self->nthreads; i++)
            free (self->threads [i].samples);
        free (self);
        *self_p = NULL;
    }
}

static int
s_compare_ms (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  Count status in stats' table (the last slot takes what does not fit).
static void
s_count_status (mg_load_stats_t *stats, int status)
{
    int i = 0;
    while (i < stats->nstatuses && stats->statuses [i] != status)
        i++;
    if (i == stats->nstatuses) {
        if (stats->nstatuses == MG_LOAD_STATUSES)
            i = MG_LOAD_STATUSES - 1;
        else
            stats->statuses [stats->nstatuses++] = status;
    }
    stats->status_counts [i]++;
}

void
mg_load_window (mg_load_t *self, int64_t from_ms, int64_t to_ms, int kind, int64_t hang_ms,
                mg_load_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    stats->last_error_ms = -1;
    size_t total = 0;
    for (int t = 0; t < self->nthreads; t++)
        total += self->threads [t].count;
    int64_t *took = malloc ((total ? total : 1) * sizeof *took);
    if (!took)
        return;
    for (int t = 0; t < self->nthreads; t++)
        for (size_t i = 0; i < self->threads [t].count; i++) {
            const mg_load_sample_t *s = &self->threads [t].samples [i];
            if (s->start_ms < from_ms || s->start_ms >= to_ms || (kind >= 0 && s->kind != kind))
                continue;
            int64_t ms = s->end_ms - s->start_ms;
            took [stats->requests++] = ms;
            s_count_status (stats, s->status);
            if (s->status == 0 || ms > hang_ms)
                stats->hung++;
            if (s->status >= 200 && s->status < 300) {
                stats->ok++;
                continue;
            }
            if (s->status == 503) {
                stats->unavailable++;
                if (!s->retry_after)
                    stats->unavailable_bare++;
            }
            else
                stats->other++;
            if (s->end_ms > stats->last_error_ms)
                stats->last_error_ms = s->end_ms;
        }
    if (stats->requests) {
        qsort (took, stats->requests, sizeof *took, s_compare_ms);
        size_t at = (stats->requests * 99 + 99) / 100;
        stats->p99_ms = took [(at ? at : 1) - 1];
        stats->max_ms = took [stats->requests - 1];
    }
    free (took);
}

void
mg_load_statuses_text (const mg_load_stats_t *stats, char *text, size_t size)
{
    size_t used = 0;
    text [0] = '\0';
    for (int i = 0; i < stats->nstatuses && used < size; i++) {
        int n = snprintf (text + used, size - used, "%s%d %.1f%%", i ? ", " : "",
                          stats->statuses [i],
                          100.0 * (double) stats->status_counts [i] / (double) stats->requests);
        if (n < 0)
            break;
        used += (size_t) n;
    }
}
