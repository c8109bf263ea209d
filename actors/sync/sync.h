/*  Sync actor: a user's devices and replicated state (crdt.h) in
    PostgreSQL — an op log that makes every op apply once (sync_ops) and the
    merged state per user (sync_state) — changed only in transactions that
    lock the user's state row, so a batch applies whole or not at all.  */
#ifndef SYNC_H_INCLUDED
#define SYNC_H_INCLUDED

#include "crdt.h"
#include "mg_actor.h"
#include "mg_client.h"
#include "mg_uuid.h"

#include <czmq.h>
#include <libpq-fe.h>
#include <pthread.h>

#define SYNC_DEVICES_MAX   10        //  devices per user
#define SYNC_BATCH_MAX     100       //  ops per POST /sync/ops
//  What one user's merged state may hold, so that every answer that carries
//  it (writes answer the whole state) stays far under the 1 MiB message
//  limit: 2,000 titles of about 230 bytes on each list.
#define SYNC_TITLES_MAX    2000      //  titles on the watchlist (more: the batch is refused)
#define SYNC_PROGRESS_MAX  2000      //  titles with progress (more: the oldest updated goes)
#define SYNC_DEAD_MAX      64        //  tombstones kept per title (more: the oldest go)

//  Shared by the handler threads of one process.
typedef struct {
    const char *pg_url;
    pthread_mutex_t lock;             //  guards clock
    hlc_clock_t clock;
    int64_t events_keep;              //  MG_SYNC_EVENTS_KEEP: events kept per user
    int64_t events_keep_s;            //  MG_SYNC_EVENTS_KEEP_S: and none older than this
    int64_t ops_keep_s;               //  MG_SYNC_OPS_KEEP_S: op ids remembered (duplicates recognised)
    char default_region [3];          //  MG_DEFAULT_REGION: offers shown without a preferred region
    const char *broker;               //  MG_BROKER: imports ask the resolver
    int64_t import_lease_s;           //  MG_IMPORT_LEASE_S: an import's worker holds it this long per chunk
    int64_t import_poll_ms;           //  MG_IMPORT_POLL_MS: the worker's backstop look for work (a queued job wakes it)
} sync_shared_t;

typedef struct {
    sync_shared_t *shared;
    PGconn *pg;
    zsock_t *events;                  //  PUB to MG_EVENTS_PUB: sync.<user_id> topics
    mg_client_t *bus;                 //  imports: resolver.resolve (made on first use)
} sync_thread_t;

//  A working connection, reconnecting when lost; NULL with err filled.
PGconn *sync_pg (sync_thread_t *self, mg_error_t *err);

//  A timestamp from the process clock for an op made here.
hlc_t sync_now (sync_thread_t *self);

//  Take in a device's timestamp. 0, or -1 when it is too far in the future.
int sync_receive (sync_thread_t *self, hlc_t remote);

//  Number events (a JSON array of {type, device_id?, target?, data}) with
//  the user's next ids (each gets "id") and write them, inside the caller's
//  transaction; drop what is past the history bound. 0, or -1 with err.
int sync_events_record (sync_thread_t *self, PGconn *pg, const char *user_id, json_t *events, mg_error_t *err);

//  Publish recorded events on sync.<user_id> (after the commit).
void sync_events_publish (sync_thread_t *self, const char *user_id, const json_t *events);

//  Delete what correctness no longer needs, in bounded steps: op log rows
//  older than ops_keep_s (the window in which a resent op is recognised)
//  and events older than events_keep_s (the window a stream can resume
//  from). The counts deleted into ops and events. 0, or -1 with err.
int sync_retention_run (PGconn *pg, int64_t ops_keep_s, int64_t events_keep_s, int64_t *ops, int64_t *events,
                        mg_error_t *err);

//  Read a POST /sync/ops body {device_id?, ops:[...]} (at most
//  SYNC_BATCH_MAX ops, else PAYLOAD_TOO_LARGE): its ops (a new reference)
//  and the batch's device, the body's device_id or header_device
//  (X-Device-Id, may be NULL), which must agree (canonical text; "" = the
//  account itself). The ops themselves are not checked here. 0, or -1 with err.
int sync_batch_read (const char *body, const char *header_device, json_t **ops, char device [37], mg_error_t *err);

//  A preferences.set op must name a field of sync.preferences with a
//  value of its type (a region: two upper-case letters). 0, or -1 with a
//  reason; other ops pass.
int sync_op_check_preference (const sync_op_t *op, char *reason, size_t reasonlen);

//  The user's stored state (with lock, locked to the end of the
//  transaction), or a new one. NULL with err filled.
json_t *sync_load (PGconn *pg, const char *user_id, bool lock, mg_error_t *err);

//  Fill reply (sync.state) from state, with the server's clock. 0 or -1.
int sync_view (sync_thread_t *self, const json_t *state, mg_sync_state_t *reply, mg_error_t *err);

//  Apply ops (owned, at most SYNC_BATCH_MAX) for user_id as the account
//  itself (no device, so every device's stream hears of them); the number
//  applied (not seen before) into applied. 0, or -1 with err.
int sync_apply_ops (sync_thread_t *self, const char *user_id, json_t *ops, size_t *applied, mg_error_t *err);

//  user_id's state as users see it (sync_state_view) plus "titles" (the
//  watchlist's size, sync_state_titles), read without a lock. NULL with err.
json_t *sync_user_view (sync_thread_t *self, const char *user_id, mg_error_t *err);

//  The import worker (import.c): claims queued imports, and those whose
//  worker stopped (lease run out), and runs them, until zsys_interrupted.
void *sync_import_worker (void *shared);

int sync_on_import_upload (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_import_get (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_events (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_handoff (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_devices_list (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_devices_add (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_devices_remove (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_state (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_watchlist_list (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_progress_list (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_preferences_get (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_ops (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_watchlist_put (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_watchlist_delete (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_progress_get (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_progress_put (void *state, const void *req, void *rep, mg_error_t *err);
int sync_on_preferences_put (void *state, const void *req, void *rep, mg_error_t *err);

#endif
