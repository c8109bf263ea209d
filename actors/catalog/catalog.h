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
    char default_region [3];        //  MG_DEFAULT_REGION: offers inlined by default; a caller's region when they set none
} catalog_thread_t;

typedef struct catalog_follow_t catalog_follow_t;

//  Start following content.changed and availability.changed for the
//  gateway's details cache (follow.c). NULL when that cache is off
//  (MG_DETAILS_CACHE_TTL_S=0) or the thread cannot start (logged).
catalog_follow_t *catalog_follow_new (void);

//  Stop following and free. Nulls *self_p.
void catalog_follow_destroy (catalog_follow_t **self_p);

#define CATALOG_ARRAY_TEXT_MAX 4096  //  a text[] literal: 32 platforms of <= 64 bytes, commas

//  The platform slugs (any case; empty items skipped) as a text[] literal
//  into text, or NULL into *filter when there are none. Slugs are checked
//  for their shape only: a platform nobody offers simply matches nothing.
//  Returns 0, or -1 with err naming platforms.
int catalog_platforms_array (char **slugs, size_t count, char *text, size_t size, const char **filter,
                             mg_error_t *err);

//  A signed-in caller's services as SQL parameters (catalog_mine).
typedef struct {
    const char *flag;               //  "true" for available=mine, else NULL
    char *services;                 //  JSON array of slugs; NULL for anonymous callers (no marking)
    char region [3];                //  the caller's region, else default_region
} catalog_mine_t;

//  Check available= and fill mine from the gateway's fields (services: the
//  caller's, my_region: their preferred region or NULL). Returns 0 (the
//  caller frees mine->services), or -1 with err: 400 for a bad value, 401
//  for available=mine from an anonymous caller.
int catalog_mine (catalog_thread_t *self, const char *available, bool signed_in, char **services,
                  size_t services_count, const char *my_region, catalog_mine_t *mine, mg_error_t *err);

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

//  catalog.leaving: offers expiring within a window, soonest first, paged.
int catalog_on_leaving (void *state, const void *req, void *rep, mg_error_t *err);

//  catalog.platforms: the canonical platforms (optionally those serving a region), paged.
int catalog_on_platforms (void *state, const void *req, void *rep, mg_error_t *err);

#endif
