/*  mg-search: a search replica. Loads every title from PostgreSQL into an
    in-memory keyword index, registers with the broker, and follows the
    catalog's change events. Any number of replicas; the broker spreads
    requests over them.  */
#include "search.h"
#include "mg_config.h"
#include "mg_filters.h"
#include "mg_curve.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <stdlib.h>
#include <string.h>

static const mg_method_t s_methods [] = {
    { "search.query",        &mg_search_request_desc,       &mg_search_reply_desc,       search_on_query },
    { "search.autocomplete", &mg_autocomplete_request_desc, &mg_autocomplete_reply_desc, search_on_autocomplete },
    { "search.similar",      &mg_similar_request_desc,      &mg_similar_reply_desc,      search_on_similar },
    { NULL, NULL, NULL, NULL }
};

//  The replica's lock: readers (queries) and a writer (the follower) that
//  is not starved by a steady stream of queries.
static int
s_lock_init (pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;
    if (pthread_rwlockattr_init (&attr))
        return -1;
    int rc = pthread_rwlockattr_setkind_np (&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP)
          || pthread_rwlock_init (lock, &attr);
    pthread_rwlockattr_destroy (&attr);
    return rc ? -1 : 0;
}

//  Handlers share the replica (the index has its own lock).
static void *
s_thread_init (void *shared)
{
    return shared;
}

int
main (void)
{
    mg_log_init ("search");
    mg_curve_set_role ("search");
    zsys_init ();
    search_t self = { .pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway") };
    mg_error_t region_err = { 0 };
    if (mg_filters_region (mg_config_str ("MG_DEFAULT_REGION", "US"), self.default_region,
                           "MG_DEFAULT_REGION", &region_err)) {
        mg_error ("MG_DEFAULT_REGION must be an ISO 3166-1 alpha-2 code", "value=\"%s\"",
                  mg_config_str ("MG_DEFAULT_REGION", "US"));
        mg_msg_clear (&mg_error_desc, &region_err);
        return EXIT_FAILURE;
    }
    char reason [512] = "";
    //  Migrations run at start under an advisory lock, so actors may race.
    if (mg_pg_prepare (self.pg_url))
        return EXIT_FAILURE;
    //  Subscribe before the snapshot: an event committed after the snapshot
    //  is then either received or seen as a gap.
    const char *events = mg_config_str ("MG_EVENTS", "tcp://127.0.0.1:5557");
    self.events = zsock_new (ZMQ_SUB);
    if (!self.events || mg_curve_client (self.events) || mg_config_connect (self.events, events)) {
        mg_error ("cannot connect to the event proxy", "endpoint=%s", events);
        zsock_destroy (&self.events);
        return EXIT_FAILURE;
    }
    for (int s = 0; s < SEARCH_STREAMS; s++)
        zsock_set_subscribe (self.events, search_streams [s]);
    //  The embedder is optional: without a model the replica serves keyword
    //  search and declines mode=semantic (mg-embed-train writes the model).
    const char *model = mg_config_str ("MG_EMBED_MODEL", "var/lsa.model");
    self.lsa = mg_lsa_load (model, reason, sizeof reason);
    if (!self.lsa)
        mg_warn ("no embedder: keyword search only", "reason=\"%s\"", reason);
    else
        mg_info ("embedder loaded", "model=%s dims=%u", model, mg_lsa_dims (self.lsa));
    int64_t started = zclock_mono ();
    self.index = search_load_all (self.pg_url, self.lsa, self.seq, reason, sizeof reason);
    if (!self.index) {
        mg_error ("cannot load the catalog", "reason=\"%s\"", reason);
        zsock_destroy (&self.events);
        mg_lsa_destroy (&self.lsa);
        return EXIT_FAILURE;
    }
    mg_info ("search index loaded", "titles=%zu took_ms=%lld content_seq=%llu",
             search_index_count (self.index), (long long) (zclock_mono () - started),
             (unsigned long long) self.seq [0]);
    memcpy (self.applied, self.seq, sizeof self.applied);
    self.gen = search_gen_new ();
    if (s_lock_init (&self.lock)
    ||  pthread_create (&self.follower, NULL, search_follow, &self)) {
        mg_error ("cannot start the event follower", NULL);
        search_index_destroy (&self.index);
        zsock_destroy (&self.events);
        mg_lsa_destroy (&self.lsa);
        search_gen_destroy (&self.gen);
        return EXIT_FAILURE;
    }
    int rc = -1;
    mg_actor_t *actor = mg_actor_new ("search", s_methods);
    if (actor) {
        //  Queries hold the replica's lock for reading: each worker thread
        //  (MG_WORKER_THREADS) answers one at once.
        mg_actor_set_threads (actor, 0, s_thread_init, NULL, &self);
        rc = mg_actor_run (actor);
        mg_actor_destroy (&actor);
    }
    self.stop = true;
    pthread_join (self.follower, NULL);
    pthread_rwlock_destroy (&self.lock);
    zsock_destroy (&self.events);
    search_index_destroy (&self.index);
    mg_lsa_destroy (&self.lsa);
    search_gen_destroy (&self.gen);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
