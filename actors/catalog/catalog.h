/*  Catalog actor: the read side of the catalog over PostgreSQL.  */
#ifndef CATALOG_H_INCLUDED
#define CATALOG_H_INCLUDED

#include "mg_actor.h"
#include "mg_filters.h"
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

//  One per worker thread: its own connection and reference-data cache.
typedef struct {
    PGconn *pg;
    char *pg_url;
    mg_genres_reply_t genres;       //  cached canonical genres
    int64_t genres_loaded_ms;       //  monotonic time of the last load, 0 = never
    int64_t refresh_ms;             //  how long the cache is trusted
    char default_region [3];        //  MG_DEFAULT_REGION: offers inlined in details by default
} catalog_thread_t;

typedef struct catalog_follow_t catalog_follow_t;

//  Start following content.changed and availability.changed for the
//  gateway's details cache (follow.c). NULL when that cache is off
//  (MG_DETAILS_CACHE_TTL_S=0) or the thread cannot start (logged).
catalog_follow_t *catalog_follow_new (void);

//  Stop following and free. Nulls *self_p.
void catalog_follow_destroy (catalog_follow_t **self_p);

//  A working connection for this thread, reconnecting if it was lost;
//  NULL with err filled (SERVICE_UNAVAILABLE) when PostgreSQL is down.
PGconn *catalog_pg (catalog_thread_t *self, mg_error_t *err);

//  The cached canonical genres (reloaded when older than refresh_ms); NULL
//  with err filled when they were never loaded and cannot be. Owned by self.
const mg_genres_reply_t *catalog_genres (catalog_thread_t *self, mg_error_t *err);

//  Run sql (text parameters, NULL = SQL NULL) that yields at most one row of
//  one JSON column, and decode that JSON into rep by desc. Returns 0 when
//  filled, 1 when there was no row, -1 with err filled (retried once on a
//  lost connection).
int catalog_query_json (catalog_thread_t *self, const char *sql, int nparams,
                        const char *const *params, const mg_msgdesc_t *desc,
                        void *rep, mg_error_t *err);


//  catalog.genres: the 18 canonical genres ordered by name.
int catalog_on_genres (void *state, const void *req, void *rep, mg_error_t *err);

//  catalog.content: one title with credits, videos, genres, external ids.
int catalog_on_content (void *state, const void *req, void *rep, mg_error_t *err);

//  Paging as SQL text: per_page, offset and page into text (0, or -1 with
//  err filled: a bad page or per_page).
int catalog_paging (bool has_page, uint64_t page, bool has_per_page, uint64_t per_page,
                    char text [3][24], mg_error_t *err);

//  catalog.person: one person with a page of their filmography (people.c).
int catalog_on_person (void *state, const void *req, void *rep, mg_error_t *err);

//  catalog.availability: current (unexpired) offers of one title.
int catalog_on_availability (void *state, const void *req, void *rep, mg_error_t *err);

//  catalog.trending: titles by stored popularity, paged.
int catalog_on_trending (void *state, const void *req, void *rep, mg_error_t *err);

//  catalog.discover: titles by filters, sorted and paged.
int catalog_on_discover (void *state, const void *req, void *rep, mg_error_t *err);

#endif
