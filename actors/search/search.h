/*  Search actor: one replica's index, loaded from PostgreSQL and kept
    current by following content.changed / availability.changed.  */
#ifndef SEARCH_H_INCLUDED
#define SEARCH_H_INCLUDED

#include "index.h"
#include "mg_lsa.h"
#include "mg_actor.h"

#include <czmq.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SEARCH_STREAMS 3        //  content.changed, availability.changed, vectors.changed

typedef struct search_gen_t search_gen_t;

typedef struct {
    pthread_rwlock_t lock;      //  guards index: handlers read (at once), the follower writes
    search_index_t *index;
    mg_lsa_t *lsa;          //  the embedder, NULL without a model (keyword only)
    const char *pg_url;
    uint64_t seq [SEARCH_STREAMS];  //  last applied number of each stream (follower only)
    zsock_t *events;            //  SUB to MG_EVENTS (follower only)
    pthread_t follower;
    volatile bool stop;
    uint64_t resyncs;           //  full reloads after a gap (follower only)
    uint64_t applied [SEARCH_STREAMS];  //  numbers the index reflects (under lock)
    search_gen_t *gen;          //  publishes applied to Redis for the result cache (follower only)
    char default_region [3];    //  MG_DEFAULT_REGION: a signed-in caller's region when they set none
} search_t;

extern const char *const search_streams [SEARCH_STREAMS];

//  A new index with every title, and the streams' last sequence numbers of
//  the same snapshot into seq. NULL with a reason in err.
//  With lsa (may be NULL) every title gets its vector.
search_index_t *search_load_all (const char *pg_url, const mg_lsa_t *lsa, uint64_t seq [SEARCH_STREAMS], char *err, size_t errlen);

//  Re-read the titles ids (count of them) from pg and apply them to self's
//  index under its lock (a title no longer stored is removed). 0 or -1.
int search_load_ids (search_t *self, PGconn *pg, char **ids, size_t count, char *err, size_t errlen);

//  Follower thread: applies change events; a gap -> full reload.
void *search_follow (void *self);

//  The result cache's generation in Redis (gen.c): <prefix>gen holds
//  "C.A", the highest content.changed and availability.changed numbers
//  some replica has applied (each the largest published). NULL when
//  MG_REDIS_URL is unusable (logged): nothing is published then.
search_gen_t *search_gen_new (void);
void search_gen_destroy (search_gen_t **self_p);

//  Publish applied when it differs from what was published last (or the
//  last try failed). Returns 0, or -1 (logged once per outage).
int search_gen_publish (search_gen_t *self, const uint64_t applied [SEARCH_STREAMS]);

//  search.query and search.autocomplete handlers (state: search_t).
int search_on_query (void *state, const void *req, void *rep, mg_error_t *err);
int search_on_autocomplete (void *state, const void *req, void *rep, mg_error_t *err);

//  search.similar: a title's nearest titles (404 for an unknown id).
int search_on_similar (void *state, const void *req, void *rep, mg_error_t *err);

#endif
