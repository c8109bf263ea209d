/*  catalog.genres. The genre table changes only through migrations, so each
    worker keeps a copy for MG_CATALOG_REFRESH_S seconds: the actor answers
    every request itself without a PostgreSQL round trip each time.  */
#include "catalog.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  Load the genres from PostgreSQL into self->genres.
static int
s_load (catalog_thread_t *self, mg_error_t *err)
{
    PGconn *pg = catalog_pg (self, err);
    if (!pg)
        return -1;
    PGresult *res = PQexec (pg, "SELECT id, slug, name FROM genres ORDER BY name");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        int rc = mg_pg_fail (err, pg, res, "catalog database");
        PQclear (res);
        return rc;
    }
    int rows = PQntuples (res);
    mg_genres_reply_t fresh = { 0 };
    fresh.results = calloc ((size_t) (rows ? rows : 1), sizeof (mg_genre_t));
    if (!fresh.results) {
        PQclear (res);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    fresh.results_count = (size_t) rows;
    for (int i = 0; i < rows; i++) {
        mg_genre_t *g = &fresh.results [i];
        g->id = strtoull (PQgetvalue (res, i, 0), NULL, 10);
        g->has_id = true;
        g->slug = strdup (PQgetvalue (res, i, 1));
        g->name = strdup (PQgetvalue (res, i, 2));
        if (!g->slug || !g->name) {
            PQclear (res);
            mg_msg_clear (&mg_genres_reply_desc, &fresh);
            return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
        }
    }
    PQclear (res);
    mg_msg_clear (&mg_genres_reply_desc, &self->genres);
    self->genres = fresh;
    self->genres_loaded_ms = zclock_mono ();
    return 0;
}

const mg_genres_reply_t *
catalog_genres (catalog_thread_t *self, mg_error_t *err)
{
    assert (self);
    if (self->genres_loaded_ms == 0 || zclock_mono () - self->genres_loaded_ms > self->refresh_ms)
        if (s_load (self, err) && self->genres_loaded_ms == 0)
            return NULL;      //  never loaded; a stale copy is better than an error
    return &self->genres;
}

int
catalog_on_genres (void *state, const void *req, void *rep, mg_error_t *err)
{
    catalog_thread_t *self = state;
    mg_genres_reply_t *reply = rep;
    (void) req;
    const mg_genres_reply_t *genres = catalog_genres (self, err);
    if (!genres)
        return -1;
    reply->results = calloc (genres->results_count ? genres->results_count : 1,
                             sizeof (mg_genre_t));
    if (!reply->results)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    for (size_t i = 0; i < genres->results_count; i++) {
        const mg_genre_t *from = &genres->results [i];
        mg_genre_t *to = &reply->results [i];
        reply->results_count = i + 1;
        *to = (mg_genre_t) { .id = from->id, .has_id = true,
                             .slug = strdup (from->slug), .name = strdup (from->name) };
        if (!to->slug || !to->name)
            return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    return 0;
}
