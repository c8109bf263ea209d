/*  Catalog actor: the read side of the catalog over PostgreSQL.  */
#ifndef CATALOG_H_INCLUDED
#define CATALOG_H_INCLUDED

#include "mg_actor.h"
#include <libpq-fe.h>
#include <stdint.h>

//  One per worker thread: its own connection and reference-data cache.
typedef struct {
    PGconn *pg;
    char *pg_url;
    mg_genres_reply_t genres;       //  cached canonical genres
    int64_t genres_loaded_ms;       //  monotonic time of the last load, 0 = never
    int64_t refresh_ms;             //  how long the cache is trusted
} catalog_thread_t;

//  A working connection for this thread, reconnecting if it was lost;
//  NULL with err filled (SERVICE_UNAVAILABLE) when PostgreSQL is down.
PGconn *catalog_pg (catalog_thread_t *self, mg_error_t *err);

//  catalog.genres: the 18 canonical genres ordered by name.
int catalog_on_genres (void *state, const void *req, void *rep, mg_error_t *err);

#endif
