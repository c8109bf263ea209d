/*  Resolver actor: normalises raw records into the canonical model and
    resolves them to entities (tiers in match.h). Two jobs:
    - the ingest loop: claims queued records from the indexer, normalises,
      matches, and hands the resolved batch back to the indexer to write;
    - resolver.resolve: read-only matching of a user's records.  */
#ifndef RESOLVER_H_INCLUDED
#define RESOLVER_H_INCLUDED

#include "match.h"
#include "mg_actor.h"

#include <czmq.h>

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    pthread_rwlock_t lock;            //  guards index
    match_index_t *index;
    const char *pg_url;
    const char *broker;
    zsock_t *events;                  //  content.changed (the follower's, once started)
    uint64_t content_seq;             //  last content.changed event the index holds
    atomic_bool stopping;
    atomic_uint_fast64_t resolved, merged, created, rejected;
} resolver_t;

//  Load every known entity into self->index, and the content.changed
//  number that snapshot includes. Returns 0 or -1 (logged).
int resolver_load (resolver_t *self);

//  The follower (a thread), until self->stopping: entities that
//  content.changed names are re-read from PostgreSQL and added to the index,
//  so that every replica matches what any replica's ingest created.
void *resolver_follow (void *self);

//  The ingest loop (a thread): until self->stopping.
void *resolver_ingest_main (void *self);

//  Fill a match record from a normalised raw record (pointers borrowed).
void resolver_match_record (const mg_raw_record_t *record, match_record_t *out);

int resolver_on_resolve (void *state, const void *req, void *rep, mg_error_t *err);
int resolver_on_stats (void *state, const void *req, void *rep, mg_error_t *err);

#endif
