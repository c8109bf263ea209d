/*  A fetch run's records into the pipeline: batches of at most a given
    number of records and 3/4 of the bus's message limit, each sent with
    indexer.enqueue by a thread of its own, so that fetching goes on while
    the indexer commits a batch.  */
#ifndef FETCHER_SENDER_H_INCLUDED
#define FETCHER_SENDER_H_INCLUDED

#include "mg_client.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _fetch_sender_t fetch_sender_t;

//  A sender of batches of batch records over client, which only the
//  sender uses until it is closed; a batch is also sent once its first
//  record has waited flush_ms (fetch_sender_tick). NULL when out of memory.
fetch_sender_t *fetch_sender_new (mg_client_t *client, size_t batch, int64_t flush_ms);

//  Add a record to the open batch (sent when it is full). Returns 0, or -1
//  with err when the schema refuses it or it is over the batch size limit.
int fetch_sender_add (fetch_sender_t *self, const json_t *record, char *err, size_t errlen);

//  Hand the open batch to the sender now, full or not.
void fetch_sender_flush (fetch_sender_t *self);

//  Hand the open batch to the sender when its first record has waited
//  flush_ms: called on every turn of the run's loop, so that a finished
//  title reaches the pipeline within that, whatever the titles after it wait for.
void fetch_sender_tick (fetch_sender_t *self);

//  Send what is left and wait for every batch. Returns how many records
//  the indexer queued, or -1 when any batch was refused.
int64_t fetch_sender_close (fetch_sender_t *self);

//  Destroy the sender (closing it first when that was not done).
void fetch_sender_destroy (fetch_sender_t **self_p);

#endif
