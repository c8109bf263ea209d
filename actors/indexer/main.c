/*  mg-indexer: the only writer of the catalog tables (see indexer.h).
    MG_INDEXER_THREADS handler threads (default 2), each with its own
    connection: an enqueue or a claim need not wait for an apply. Applies
    may run side by side; their events are numbered and published in
    commit order (see apply.c).  */
#include "indexer.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <sodium.h>
#include <stdlib.h>

#define INDEXER_BATCH_TTL_MS 30000  //  what enqueue and apply callers allow a batch
#define INDEXER_STATEMENT_MS 25000  //  a batch statement: under the callers' 30 s, so they get our 503
#define INDEXER_LOCK_MS      5000   //  applies of overlapping batches wait for each other this long

static const mg_method_t s_methods [] = {
    { "indexer.enqueue", &mg_enqueue_request_desc, &mg_enqueue_reply_desc, indexer_on_enqueue },
    { "indexer.claim", &mg_claim_request_desc, &mg_claim_reply_desc, indexer_on_claim },
    { "indexer.apply", &mg_apply_request_desc, &mg_apply_reply_desc, indexer_on_apply },
    { "indexer.stats", &mg_empty_desc, &mg_indexer_stats_desc, indexer_on_stats },
    { NULL, NULL, NULL, NULL }
};

PGconn *
indexer_pg (indexer_t *self, mg_error_t *err)
{
    return mg_pg_keep (&self->pg, self->shared->pg_url, "catalog database", err);
}

static void *
s_thread_init (void *shared)
{
    indexer_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->shared = shared;
    self->events = mg_actor_event_publisher ();
    if (!self->events) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_thread_fini (void *state)
{
    indexer_t *self = state;
    PQfinish (self->pg);
    zsock_destroy (&self->events);
    free (self);
}

int
main (void)
{
    mg_log_init ("indexer");
    zsys_init ();
    if (sodium_init () < 0)
        return EXIT_FAILURE;
    const char *pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway");
    //  Enqueues and applies commit batches of up to 500 records in one
    //  statement or transaction: a few seconds on a loaded machine is normal.
    mg_pg_set_request_bounds (INDEXER_STATEMENT_MS, INDEXER_LOCK_MS);
    if (mg_pg_prepare (pg_url))
        return EXIT_FAILURE;
    mg_actor_t *actor = mg_actor_new ("indexer", s_methods);
    if (!actor)
        return EXIT_FAILURE;
    indexer_shared_t shared = { .pg_url = pg_url };
    if (pthread_mutex_init (&shared.publish_order, NULL)) {
        mg_actor_destroy (&actor);
        return EXIT_FAILURE;
    }
    int threads = (int) mg_config_int ("MG_INDEXER_THREADS", 2, 1, 16);
    mg_actor_set_threads (actor, threads, s_thread_init, s_thread_fini, &shared);
    //  An enqueue or an apply commits a batch of up to 500 records in one
    //  transaction; its callers give it 30 s.
    mg_actor_set_stall (actor, INDEXER_BATCH_TTL_MS);
    int rc = mg_actor_run (actor);
    mg_actor_destroy (&actor);
    pthread_mutex_destroy (&shared.publish_order);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
