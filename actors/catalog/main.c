/*  mg-catalog: read side of the catalog (genres, details, availability,
    trending, discover) over PostgreSQL. Any number of replicas.  */
#include "catalog.h"
#include "mg_curve.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

static const mg_method_t s_methods [] = {
    { "catalog.genres",       &mg_empty_desc,               &mg_genres_reply_desc,       catalog_on_genres },
    { "catalog.content",      &mg_content_request_desc,     &mg_content_details_desc,    catalog_on_content },
    { "catalog.availability", &mg_availability_request_desc, &mg_availability_reply_desc, catalog_on_availability },
    { "catalog.person",       &mg_person_request_desc,      &mg_person_details_desc,     catalog_on_person },
    { "catalog.trending",     &mg_trending_request_desc,    &mg_content_list_desc,       catalog_on_trending },
    { "catalog.discover",     &mg_discover_request_desc,    &mg_content_list_desc,       catalog_on_discover },
    { "catalog.leaving",      &mg_leaving_request_desc,     &mg_leaving_reply_desc,      catalog_on_leaving },
    { "catalog.platforms",    &mg_platforms_request_desc,   &mg_platforms_reply_desc,    catalog_on_platforms },
    { NULL, NULL, NULL, NULL }
};

PGconn *
catalog_pg (catalog_thread_t *self, mg_error_t *err)
{
    return mg_pg_keep (&self->pg, self->pg_url, "catalog database", err);
}

//  What every worker starts from.
typedef struct {
    const char *pg_url;
    char default_region [3];
} s_shared_t;

//  Worker state: a connection of its own (libpq connections are not shared).
static void *
s_thread_init (void *arg)
{
    const s_shared_t *shared = arg;
    catalog_thread_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->pg_url = strdup (shared->pg_url);
    memcpy (self->default_region, shared->default_region, sizeof self->default_region);
    self->refresh_ms = mg_config_int ("MG_CATALOG_REFRESH_S", 30, 0, 86400) * 1000;
    const char *region = mg_config_str ("MG_DEFAULT_REGION", "US");
    mg_error_t err = { 0 };
    if (mg_filters_region (region, self->default_region, "MG_DEFAULT_REGION", &err)) {
        mg_error ("MG_DEFAULT_REGION must be an ISO 3166-1 alpha-2 code", "value=\"%s\"", region);
        mg_msg_clear (&mg_error_desc, &err);
        free (self);
        return NULL;
    }
    if (!self->pg_url) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_thread_fini (void *state)
{
    catalog_thread_t *self = state;
    PQfinish (self->pg);
    mg_msg_clear (&mg_genres_reply_desc, &self->genres);
    free (self->pg_url);
    free (self);
}

int
main (void)
{
    mg_log_init ("catalog");
    //  The bus role is set before any thread opens a bus socket.
    mg_curve_set_role ("catalog");
    zsys_init ();
    const char *pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway");
    //  Migrations run at start under an advisory lock, so replicas may race.
    if (mg_pg_prepare (pg_url))
        return EXIT_FAILURE;
    s_shared_t shared = { .pg_url = pg_url };
    mg_error_t err = { 0 };
    const char *region = mg_config_str ("MG_DEFAULT_REGION", "US");
    int bad = mg_filters_region (region, shared.default_region, "MG_DEFAULT_REGION", &err);
    mg_msg_clear (&mg_error_desc, &err);
    if (bad) {
        mg_error ("MG_DEFAULT_REGION must be an ISO 3166-1 alpha-2 code", "value=\"%s\"", region);
        return EXIT_FAILURE;
    }
    mg_actor_t *actor = mg_actor_new ("catalog", s_methods);
    if (!actor)
        return EXIT_FAILURE;
    mg_actor_set_threads (actor, 0, s_thread_init, s_thread_fini, &shared);
    catalog_follow_t *follow = catalog_follow_new ();
    int rc = mg_actor_run (actor);
    catalog_follow_destroy (&follow);
    mg_actor_destroy (&actor);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
