/*  Indexer actor: the only writer of the catalog tables. Durable queue of
    raw records (ingest_jobs), idempotent writes of resolved records keyed by
    (source, source_id) with checksums, and change events numbered per
    stream in commit order.  */
#ifndef INDEXER_H_INCLUDED
#define INDEXER_H_INCLUDED

#include "mg_actor.h"
#include <czmq.h>
#include <libpq-fe.h>

#define INDEXER_MAX_ATTEMPTS  5       //  claims before a job is failed as poison

#include <pthread.h>

//  What the handler threads of one indexer process share.
typedef struct {
    const char *pg_url;
    //  Held from numbering a batch's events to publishing them, so that one
    //  process publishes in sequence order (the change_streams row lock
    //  already makes commits follow it).
    pthread_mutex_t publish_order;
} indexer_shared_t;

typedef struct {
    PGconn *pg;
    indexer_shared_t *shared;
    zsock_t *events;                  //  PUB to the broker's event proxy
} indexer_t;

//  A working connection, reconnecting when lost; NULL with err filled.
PGconn *indexer_pg (indexer_t *self, mg_error_t *err);

int indexer_on_enqueue (void *state, const void *req, void *rep, mg_error_t *err);
int indexer_on_claim (void *state, const void *req, void *rep, mg_error_t *err);
int indexer_on_apply (void *state, const void *req, void *rep, mg_error_t *err);
int indexer_on_stats (void *state, const void *req, void *rep, mg_error_t *err);

//  Canonical record of an entity merged from its sources' records (JSON
//  objects, highest precedence first). Returns a new JSON object.
json_t *indexer_merge (const char *entity, json_t *const *sources, const char *const *names, size_t count);

//  Problem with a normalised record that the database would refuse, or NULL.
const char *indexer_validate (const mg_raw_record_t *record);

//  Publish a change event (msgpack on the bus topic, protobuf on topic.pb).
void indexer_publish (indexer_t *self, const char *stream, uint64_t seq,
                      const char *content_id, uint64_t version);

//  Rows for COPY ... FROM STDIN in text format, built in memory.
typedef struct {
    char *data;
    size_t used, size;
    size_t rows;
    bool failed;                      //  out of memory: send refuses
} indexer_copy_t;

//  Append one field (NULL for SQL NULL), escaped for COPY's text format.
void indexer_copy_field (indexer_copy_t *self, const char *text);

//  End the current row.
void indexer_copy_end_row (indexer_copy_t *self);

//  Free the rows; the buffer can be used again.
void indexer_copy_clear (indexer_copy_t *self);

//  Run sql (a COPY ... FROM STDIN) with the rows; nothing when there are
//  none. Returns 0, or -1 with err and the server's sqlstate ("" if none).
int indexer_copy_send (PGconn *pg, const char *sql, indexer_copy_t *self, char *err, size_t errlen,
                       char sqlstate [8]);

#endif
