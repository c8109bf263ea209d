/*  A fetch run's records into the pipeline (see sender.h). The run's loop
    adds records; full batches go to a queue of SEND_QUEUE that one thread
    sends in order with indexer.enqueue. The loop waits only when that
    queue is full, which bounds memory.  */
#include "sender.h"
#include "mg_log.h"
#include "mg_msg.h"

#include <assert.h>
#include <czmq.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENQUEUE_TTL_MS   30000      //  indexer.enqueue commits a batch in one transaction
#define ENQUEUE_TRIES    3
#define BATCH_BYTES      (MG_MSG_MAX_BYTES * 3 / 4)  //  an enqueue stays under the bus limit
#define SEND_QUEUE       2          //  batches waiting for the sender: bounds memory, fetching goes on meanwhile

struct _fetch_sender_t {
    mg_client_t *client;
    size_t max;                     //  records per batch
    mg_raw_record_t *batch;
    size_t batch_count;
    size_t batch_bytes;             //  encoded size of the batch so far
    int64_t flush_ms;               //  the longest a record waits in the open batch
    int64_t opened_ms;              //  when the open batch got its first record
    uint64_t queued;
    bool failed;
    bool closed;
    //  The thread: it alone uses client while it runs.
    pthread_t thread;
    bool running;
    bool threaded;                  //  lock and cond were made
    pthread_mutex_t lock;
    pthread_cond_t cond;
    mg_raw_record_t *queue [SEND_QUEUE];
    size_t queue_counts [SEND_QUEUE];
    size_t queue_bytes [SEND_QUEUE];
    size_t queue_len;
    bool closing;
};

//  Send count records with indexer.enqueue and clear them. Returns how
//  many the indexer queued, or -1.
static int64_t
s_send (mg_client_t *client, mg_raw_record_t *records, size_t count, size_t bytes)
{
    mg_enqueue_request_t request = { .records = records, .records_count = count };
    mg_enqueue_reply_t reply;
    mg_error_t err = { 0 };
    int rc = -1;
    int64_t started = zclock_mono (), queued = -1;
    for (int attempt = 0; attempt < ENQUEUE_TRIES && rc; attempt++) {
        if (attempt && err.code && streq (err.code, "CANCELLED"))
            break;                  //  the process is stopping: no retry
        if (attempt)
            mg_msg_clear (&mg_error_desc, &err);
        rc = mg_client_call (client, "indexer.enqueue", &mg_enqueue_request_desc, &request,
                             &mg_enqueue_reply_desc, &reply, ENQUEUE_TTL_MS, &err);
    }
    if (rc) {
        mg_error ("indexer.enqueue failed", "code=%s reason=\"%s\" records=%zu",
                  err.code ? err.code : "-", err.message ? err.message : "-", count);
        mg_msg_clear (&mg_error_desc, &err);
    }
    else {
        mg_info ("records queued", "records=%zu bytes=%zu took_ms=%lld", count, bytes,
                 (long long) (zclock_mono () - started));
        queued = (int64_t) reply.queued;
        mg_msg_clear (&mg_enqueue_reply_desc, &reply);
    }
    for (size_t i = 0; i < count; i++)
        mg_msg_clear (&mg_raw_record_desc, &records [i]);
    return queued;
}

//  Count a sent batch's outcome (under the lock while the thread runs).
static void
s_sent (fetch_sender_t *self, int64_t queued)
{
    if (queued < 0)
        self->failed = true;
    else
        self->queued += (uint64_t) queued;
}

//  The thread: sends queued batches in order until closing.
static void *
s_thread (void *arg)
{
    fetch_sender_t *self = arg;
    pthread_mutex_lock (&self->lock);
    while (self->queue_len || !self->closing) {
        if (!self->queue_len) {
            pthread_cond_wait (&self->cond, &self->lock);
            continue;
        }
        mg_raw_record_t *records = self->queue [0];
        size_t count = self->queue_counts [0], bytes = self->queue_bytes [0];
        pthread_mutex_unlock (&self->lock);
        int64_t queued = s_send (self->client, records, count, bytes);
        free (records);
        pthread_mutex_lock (&self->lock);
        s_sent (self, queued);
        //  Only now is the slot free: the loop waits while SEND_QUEUE are out.
        self->queue_len--;
        memmove (self->queue, self->queue + 1, self->queue_len * sizeof self->queue [0]);
        memmove (self->queue_counts, self->queue_counts + 1, self->queue_len * sizeof self->queue_counts [0]);
        memmove (self->queue_bytes, self->queue_bytes + 1, self->queue_len * sizeof self->queue_bytes [0]);
        pthread_cond_broadcast (&self->cond);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

//  Stop the thread once it has sent every batch handed to it.
static void
s_stop (fetch_sender_t *self)
{
    if (!self->running)
        return;
    pthread_mutex_lock (&self->lock);
    self->closing = true;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    self->running = false;
}

fetch_sender_t *
fetch_sender_new (mg_client_t *client, size_t batch, int64_t flush_ms)
{
    assert (client && batch > 0);
    fetch_sender_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->max = batch;
    self->flush_ms = flush_ms;
    self->batch = calloc (batch, sizeof *self->batch);
    if (!self->batch) {
        free (self);
        return NULL;
    }
    //  No thread (mutex, condition or thread refused): batches are sent inline.
    if (pthread_mutex_init (&self->lock, NULL) == 0) {
        if (pthread_cond_init (&self->cond, NULL) == 0) {
            self->running = pthread_create (&self->thread, NULL, s_thread, self) == 0;
            if (!self->running)
                pthread_cond_destroy (&self->cond);
        }
        if (!self->running)
            pthread_mutex_destroy (&self->lock);
    }
    self->threaded = self->running;
    return self;
}

void
fetch_sender_flush (fetch_sender_t *self)
{
    assert (self);
    if (self->batch_count == 0)
        return;
    mg_raw_record_t *fresh = self->running ? calloc (self->max, sizeof *fresh) : NULL;
    if (!fresh) {
        //  Out of memory: the thread finishes its queue, then batches go inline.
        s_stop (self);
        s_sent (self, s_send (self->client, self->batch, self->batch_count, self->batch_bytes));
        self->batch_count = 0;
        self->batch_bytes = 0;
        return;
    }
    pthread_mutex_lock (&self->lock);
    while (self->queue_len == SEND_QUEUE)
        pthread_cond_wait (&self->cond, &self->lock);
    self->queue [self->queue_len] = self->batch;
    self->queue_counts [self->queue_len] = self->batch_count;
    self->queue_bytes [self->queue_len] = self->batch_bytes;
    self->queue_len++;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
    self->batch = fresh;
    self->batch_count = 0;
    self->batch_bytes = 0;
}

void
fetch_sender_tick (fetch_sender_t *self)
{
    assert (self);
    if (self->batch_count && zclock_mono () - self->opened_ms >= self->flush_ms)
        fetch_sender_flush (self);
}

int
fetch_sender_add (fetch_sender_t *self, const json_t *record, char *err, size_t errlen)
{
    assert (self && record);
    mg_raw_record_t slot;
    memset (&slot, 0, sizeof slot);
    uint8_t *encoded = NULL;
    size_t size = 0;
    int rc = mg_msg_from_json (&mg_raw_record_desc, record, &slot, err, errlen);
    if (rc == 0 && mg_msg_encode (&mg_raw_record_desc, &slot, &encoded, &size, err, errlen))
        rc = -1;
    free (encoded);
    if (rc == 0 && size > BATCH_BYTES) {
        snprintf (err, errlen, "record of %zu bytes is over the %d-byte limit", size, BATCH_BYTES);
        rc = -1;
    }
    if (rc) {
        mg_msg_clear (&mg_raw_record_desc, &slot);
        return -1;
    }
    //  Batches close at max records or BATCH_BYTES encoded, whichever
    //  comes first (the bus refuses messages over 1 MB).
    if (self->batch_bytes + size > BATCH_BYTES)
        fetch_sender_flush (self);
    if (self->batch_count == 0)
        self->opened_ms = zclock_mono ();
    self->batch [self->batch_count++] = slot;
    self->batch_bytes += size;
    if (self->batch_count == self->max)
        fetch_sender_flush (self);
    return 0;
}

int64_t
fetch_sender_close (fetch_sender_t *self)
{
    assert (self);
    if (!self->closed) {
        fetch_sender_flush (self);
        s_stop (self);
        if (self->threaded) {
            pthread_cond_destroy (&self->cond);
            pthread_mutex_destroy (&self->lock);
            self->threaded = false;
        }
        self->closed = true;
    }
    return self->failed ? -1 : (int64_t) self->queued;
}

void
fetch_sender_destroy (fetch_sender_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fetch_sender_t *self = *self_p;
        fetch_sender_close (self);
        free (self->batch);
        free (self);
        *self_p = NULL;
    }
}
