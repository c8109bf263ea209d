/*  mg-sync: devices, watchlists, watch progress and preferences kept in
    step across a user's devices (see sync.h). Any number of replicas: each
    has its own clock node, and the database serialises a user's writes.  */
#include "sync.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <czmq.h>
#include <sodium.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DRIFT_MS  60000           //  ops stamped further ahead of our clock are refused

static const mg_method_t s_methods [] = {
    { "sync.devices.list",   &mg_sync_list_request_desc,        &mg_devices_reply_desc, sync_on_devices_list },
    { "sync.devices.add",    &mg_device_add_request_desc,       &mg_device_desc,        sync_on_devices_add },
    { "sync.devices.remove", &mg_device_request_desc,           &mg_empty_desc,         sync_on_devices_remove },
    { "sync.state",          &mg_sync_user_request_desc,        &mg_sync_state_desc,    sync_on_state },
    { "sync.watchlist.list", &mg_sync_list_request_desc,        &mg_watchlist_page_desc, sync_on_watchlist_list },
    { "sync.progress.list",  &mg_sync_list_request_desc,        &mg_progress_page_desc, sync_on_progress_list },
    { "sync.preferences.get", &mg_sync_user_request_desc,       &mg_sync_preferences_desc, sync_on_preferences_get },
    { "sync.ops",            &mg_sync_ops_request_desc,         &mg_sync_ops_reply_desc, sync_on_ops },
    { "sync.watchlist.put",  &mg_sync_item_request_desc,        &mg_sync_state_desc,    sync_on_watchlist_put },
    { "sync.watchlist.delete", &mg_sync_item_request_desc,      &mg_sync_state_desc,    sync_on_watchlist_delete },
    { "sync.progress.get",   &mg_sync_title_request_desc,       &mg_progress_item_desc, sync_on_progress_get },
    { "sync.progress.put",   &mg_sync_progress_request_desc,    &mg_sync_state_desc,    sync_on_progress_put },
    { "sync.preferences.put", &mg_sync_preferences_request_desc, &mg_sync_state_desc,   sync_on_preferences_put },
    { "sync.handoff",        &mg_sync_handoff_request_desc,     &mg_sync_handoff_desc,  sync_on_handoff },
    { "sync.events",         &mg_sync_events_request_desc,      &mg_sync_events_reply_desc, sync_on_events },
    { "sync.import.upload",  &mg_import_upload_desc,            &mg_import_job_desc,    sync_on_import_upload },
    { "sync.import.get",     &mg_import_request_desc,           &mg_import_job_desc,    sync_on_import_get },
    { NULL, NULL, NULL, NULL }
};

PGconn *
sync_pg (sync_thread_t *self, mg_error_t *err)
{
    return mg_pg_keep (&self->pg, self->shared->pg_url, "sync database", err);
}

hlc_t
sync_now (sync_thread_t *self)
{
    pthread_mutex_lock (&self->shared->lock);
    hlc_t t = hlc_clock_now (&self->shared->clock, zclock_time ());
    pthread_mutex_unlock (&self->shared->lock);
    return t;
}

int
sync_receive (sync_thread_t *self, hlc_t remote)
{
    hlc_t merged;
    pthread_mutex_lock (&self->shared->lock);
    int rc = hlc_clock_receive (&self->shared->clock, remote, zclock_time (), &merged);
    pthread_mutex_unlock (&self->shared->lock);
    return rc;
}

static void *
s_thread_init (void *shared)
{
    sync_thread_t *self = calloc (1, sizeof *self);
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
    sync_thread_t *self = state;
    PQfinish (self->pg);
    zsock_destroy (&self->events);
    mg_client_destroy (&self->bus);
    free (self);
}

//  The retention job: at start, then every MG_SYNC_RETENTION_S seconds, on
//  its own connection, until the process is told to stop.
typedef struct {
    sync_shared_t *shared;
    int64_t every_s;
} s_retention_t;

static void *
s_retention (void *arg)
{
    s_retention_t *job = arg;
    PGconn *pg = NULL;
    int64_t next = zclock_mono ();
    while (!zsys_interrupted) {
        if (zclock_mono () < next) {
            zclock_sleep (250);         //  wakes often enough to stop promptly
            continue;
        }
        next = zclock_mono () + job->every_s * 1000;
        mg_error_t err = { 0 };
        int64_t ops = 0, events = 0;
        if (mg_pg_keep (&pg, job->shared->pg_url, "sync database", &err)
        &&  sync_retention_run (pg, job->shared->ops_keep_s, job->shared->events_keep_s, &ops, &events, &err) == 0) {
            if (ops || events)
                mg_info ("retention", "ops_deleted=%" PRId64 " events_deleted=%" PRId64, ops, events);
        }
        else
            mg_warn ("retention run failed", "reason=\"%s\"", err.message ? err.message : "");
        mg_msg_clear (&mg_error_desc, &err);
    }
    PQfinish (pg);
    return NULL;
}

//  The latest HLC in the op log: this node's clock starts after it, so
//  time never runs backwards across restarts.
static int
s_last_hlc (PGconn *pg, hlc_t *last)
{
    PGresult *res = PQexec (pg, "SELECT coalesce (max (hlc), '') FROM sync_ops");
    int rc = PQresultStatus (res) == PGRES_TUPLES_OK ? 0 : -1;
    memset (last, 0, sizeof *last);
    if (rc == 0 && *PQgetvalue (res, 0, 0))
        rc = hlc_parse (PQgetvalue (res, 0, 0), last);
    PQclear (res);
    return rc;
}

int
main (void)
{
    mg_log_init ("sync");
    zsys_init ();
    if (sodium_init () < 0)
        return EXIT_FAILURE;
    const char *pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway");
    char reason [256];
    PGconn *pg = mg_pg_prepare (pg_url) ? NULL : mg_pg_connect (pg_url, reason, sizeof reason);
    if (!pg)
        return EXIT_FAILURE;
    sync_shared_t shared = {
        .pg_url = pg_url,
        .events_keep = mg_config_int ("MG_SYNC_EVENTS_KEEP", 1000, 1, 1000000),
        .events_keep_s = mg_config_int ("MG_SYNC_EVENTS_KEEP_S", 604800, 1, 31536000),
        .ops_keep_s = mg_config_int ("MG_SYNC_OPS_KEEP_S", 2592000, 1, 315360000),
        .broker = mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"),
        .import_lease_s = mg_config_int ("MG_IMPORT_LEASE_S", 30, 1, 3600),
        .import_poll_ms = mg_config_int ("MG_IMPORT_POLL_MS", 5000, 100, 3600000)
    };
    const char *region = mg_config_str ("MG_DEFAULT_REGION", "US");
    if (strlen (region) != 2 || strspn (region, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != 2) {
        mg_error ("MG_DEFAULT_REGION must be an ISO 3166-1 alpha-2 code", "value=\"%s\"", region);
        PQfinish (pg);
        return EXIT_FAILURE;
    }
    shared.default_region [0] = (char) toupper ((unsigned char) region [0]);
    shared.default_region [1] = (char) toupper ((unsigned char) region [1]);
    hlc_t last;
    if (s_last_hlc (pg, &last)) {
        mg_error ("cannot read the op log clock", "table=%s", "sync_ops");
        PQfinish (pg);
        return EXIT_FAILURE;
    }
    PQfinish (pg);
    //  A random node id per process: replicas never stamp the same time.
    hlc_clock_init (&shared.clock, randombytes_random (), last, MAX_DRIFT_MS);
    if (pthread_mutex_init (&shared.lock, NULL))
        return EXIT_FAILURE;
    mg_actor_t *actor = mg_actor_new ("sync", s_methods);
    if (!actor)
        return EXIT_FAILURE;
    //  Each thread mostly waits for a commit to be durable: several keep
    //  several users' writes in flight (one user's are serialised by a row lock).
    int threads = (int) mg_config_int ("MG_SYNC_THREADS", 4, 1, 64);
    mg_actor_set_threads (actor, threads, s_thread_init, s_thread_fini, &shared);
    s_retention_t job = { &shared, mg_config_int ("MG_SYNC_RETENTION_S", 3600, 1, 86400) };
    pthread_t retention;
    if (pthread_create (&retention, NULL, s_retention, &job)) {
        mg_actor_destroy (&actor);
        return EXIT_FAILURE;
    }
    pthread_t importer;
    if (pthread_create (&importer, NULL, sync_import_worker, &shared)) {
        zsys_interrupted = 1;
        pthread_join (retention, NULL);
        mg_actor_destroy (&actor);
        return EXIT_FAILURE;
    }
    int rc = mg_actor_run (actor);
    zsys_interrupted = 1;               //  the jobs stop with the actor
    pthread_join (retention, NULL);
    pthread_join (importer, NULL);
    mg_actor_destroy (&actor);
    pthread_mutex_destroy (&shared.lock);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
