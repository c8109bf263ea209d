/*  sync.ops and the REST writes (watchlist, progress, preferences,
    handoff), which are one-op batches. A batch: every op checked first
    (the whole batch is refused if one is bad), then one transaction that
    locks the user's state row, records the ops in the op log (an op id seen
    before is skipped), applies the new ones and stores the merged state.  */
#include "sync.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define STATE_KEY "state"
#define LEAVING_DAYS_MAX 90         //  the alerts actor's leaving-soon window, days

//  A batch being applied: ops (JSON, stamped), their parsed form (borrowing
//  from ops), and what came of it.
typedef struct {
    json_t *ops;
    sync_op_t parsed [SYNC_BATCH_MAX];
    size_t count;
    size_t applied, duplicates;
    bool fresh [SYNC_BATCH_MAX];      //  op i was applied now (not seen before)
    json_t *state;                    //  merged state after the batch
    json_t *events;                   //  recorded in the transaction, published after it
    const mg_sync_handoff_request_t *handoff;   //  a handoff: its event goes to to_device
} s_batch_t;

//  Fill batch->parsed from batch->ops: stamp ops without an HLC, take in
//  devices' HLCs, give ops without a device the batch's. 0 or -1.
static int
s_check (sync_thread_t *self, s_batch_t *batch, const char *device, mg_error_t *err)
{
    size_t index;
    json_t *op;
    json_array_foreach (batch->ops, index, op) {
        char where [32];
        snprintf (where, sizeof where, "ops[%zu]", index);
        if (!json_is_object (op))
            return mg_actor_fail (err, "INVALID_PARAMETER", where, "%s: an op must be an object", where);
        if (!json_object_get (op, "hlc")) {
            char text [HLC_TEXT_LEN];
            hlc_format (sync_now (self), text);
            json_object_set_new (op, "hlc", json_string (text));
        }
        //  An op is the batch's device's, nothing else: naming another
        //  device would keep that device's streams from hearing of it.
        const json_t *named = json_object_get (op, "device_id");
        if (named && !(device && json_is_string (named) && strcasecmp (json_string_value (named), device) == 0))
            return mg_actor_fail (err, "INVALID_PARAMETER", where,
                                  "%s: device_id must be the batch's device (X-Device-Id or the body's device_id)",
                                  where);
        if (device)
            json_object_set_new (op, "device_id", json_string (device));
        char reason [256];
        sync_op_t *parsed = &batch->parsed [index];
        if (sync_op_from_json (op, parsed, reason, sizeof reason))
            return mg_actor_fail (err, "INVALID_PARAMETER", where, "%s: %s", where, reason);
        if (sync_receive (self, parsed->hlc))
            return mg_actor_fail (err, "INVALID_PARAMETER", where,
                                  "%s: hlc is more than a minute ahead of the server's clock", where);
        if (sync_op_check_preference (parsed, reason, sizeof reason))
            return mg_actor_fail (err, "INVALID_PARAMETER", where, "%s: %s", where, reason);
    }
    batch->count = json_array_size (batch->ops);
    return 0;
}

json_t *
sync_load (PGconn *pg, const char *user_id, bool lock, mg_error_t *err)
{
    PGresult *res = PQexecParams (pg, lock
        ? "SELECT state::text FROM sync_state WHERE user_id = $1::uuid AND key = '" STATE_KEY "' FOR UPDATE"
        : "SELECT state::text FROM sync_state WHERE user_id = $1::uuid AND key = '" STATE_KEY "'",
        1, NULL, P (user_id), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return NULL;
    }
    json_t *state = NULL;
    char reason [128] = "no stored state";
    if (PQntuples (res) == 1) {
        json_error_t jerr;
        state = json_loads (PQgetvalue (res, 0, 0), 0, &jerr);
        if (state && sync_state_check (state, reason, sizeof reason)) {
            json_decref (state);
            state = NULL;
            mg_error ("stored sync state is damaged", "user=%s reason=\"%s\"", user_id, reason);
            mg_actor_fail (err, "INTERNAL", NULL, "stored state is damaged");
        }
    }
    else
        state = sync_state_new ();
    PQclear (res);
    return state;
}

//  Run sql with params; 0, or -1 with err (mg_pg_fail: the failure is the
//  database's, never the caller's).
static int
s_exec (PGconn *pg, const char *sql, int n, const char *const *params, mg_error_t *err)
{
    PGresult *res = PQexecParams (pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? 0 : mg_pg_fail (err, pg, res, "sync database");
    PQclear (res);
    return rc;
}

//  The item of list (a view's watchlist or progress) for content_id, or NULL.
static json_t *
s_view_item (const json_t *view, const char *list, const char *content_id)
{
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (view, list), index, item)
        if (strcmp (json_string_value (json_object_get (item, "content_id")), content_id) == 0)
            return item;
    return NULL;
}

//  The event of an applied op: its type, origin and the change as merged
//  (view is the state after the batch). New object.
static json_t *
s_op_event (const sync_op_t *op, const json_t *view)
{
    char hlc [HLC_TEXT_LEN];
    hlc_format (op->hlc, hlc);
    json_t *data = json_pack ("{s:s, s:s, s:o}", "op_id", op->op_id, "hlc", hlc,
                              "device_id", op->device ? json_string (op->device) : json_null ());
    if (!data)
        return NULL;
    switch (op->type) {
        case SYNC_WATCHLIST_ADD:
        case SYNC_WATCHLIST_REMOVE: {
            json_t *item = s_view_item (view, "watchlist", op->content_id);
            json_object_set_new (data, "content_id", json_string (op->content_id));
            json_object_set_new (data, "in_watchlist", json_boolean (item != NULL));
            if (item)
                json_object_set (data, "item", item);
            break;
        }
        case SYNC_PROGRESS_SET: {
            json_t *item = s_view_item (view, "progress", op->content_id);
            json_object_set_new (data, "content_id", json_string (op->content_id));
            json_object_set (data, "progress", item ? item : json_null ());
            break;
        }
        case SYNC_PREFERENCES_SET: {
            json_t *value = json_object_get (json_object_get (view, "preferences"), op->field);
            json_object_set_new (data, "field", json_string (op->field));
            json_object_set (data, "value", value ? value : json_null ());
            break;
        }
    }
    json_t *event = json_pack ("{s:s, s:o}", "type", sync_op_type_name (op->type), "data", data);
    if (event && op->device)
        json_object_set_new (event, "device_id", json_string (op->device));
    return event;
}

//  Record the events of the batch's applied ops (and of its handoff) in
//  the open transaction. 0 or -1.
static int
s_events (sync_thread_t *self, PGconn *pg, const char *user_id, s_batch_t *batch, mg_error_t *err)
{
    batch->events = json_array ();
    if (batch->applied == 0 && !batch->handoff)
        return 0;               //  a read, or only duplicates: nothing changed
    json_t *view = sync_state_view (batch->state);
    if (!batch->events || !view) {
        json_decref (view);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    for (size_t i = 0; i < batch->count; i++)
        if (batch->fresh [i])
            json_array_append_new (batch->events, s_op_event (&batch->parsed [i], view));
    if (batch->handoff) {
        const mg_sync_handoff_request_t *handoff = batch->handoff;
        char hlc [HLC_TEXT_LEN];
        hlc_format (batch->parsed [0].hlc, hlc);
        json_t *item = s_view_item (view, "progress", handoff->content_id);
        json_t *data = json_pack ("{s:s, s:s, s:s, s:f, s:s, s:O}", "from_device", handoff->from_device,
                                  "to_device", handoff->to_device, "content_id", handoff->content_id,
                                  "position_s", handoff->position_s, "hlc", hlc,
                                  "progress", item ? item : json_null ());
        json_array_append_new (batch->events, json_pack ("{s:s, s:s, s:s, s:o}", "type", "handoff",
                                                         "device_id", handoff->from_device,
                                                         "target", handoff->to_device, "data", data));
    }
    json_decref (view);
    return sync_events_record (self, pg, user_id, batch->events, err);
}

//  A handoff's target must be one of the user's devices; the progress it
//  writes keeps the title's known duration. 0 or -1.
static int
s_handoff_check (PGconn *pg, const char *user_id, s_batch_t *batch, mg_error_t *err)
{
    PGresult *res = PQexecParams (pg, "SELECT 1 FROM devices WHERE id = $2::uuid AND user_id = $1::uuid",
                                  2, NULL, P (user_id, batch->handoff->to_device), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return -1;
    }
    bool mine = PQntuples (res) == 1;
    PQclear (res);
    if (!mine)
        return mg_actor_fail (err, "NOT_FOUND", "to_device", "no such device: to_device must be one of yours");
    const json_t *known = json_object_get (json_object_get (batch->state, "progress"), batch->handoff->content_id);
    double duration = json_number_value (json_object_get (known, "duration_s"));
    if (duration > 0) {
        batch->parsed [0].duration_s = duration;
        json_object_set_new (json_array_get (batch->ops, 0), "duration_s", json_real (duration));
    }
    return 0;
}

//  0 when res holds rows (or a command's outcome), else -1 with err
//  (mg_pg_fail) and res cleared.
static int
s_ok (PGconn *pg, PGresult *res, mg_error_t *err)
{
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return 0;
    mg_pg_fail (err, pg, res, "sync database");
    PQclear (res);
    return -1;
}

//  The op ids of batch that the op log already holds (a JSON object used
//  as a set), or NULL with err.
static json_t *
s_logged (PGconn *pg, const char *user_id, const s_batch_t *batch, mg_error_t *err)
{
    json_t *ids = json_array ();
    for (size_t i = 0; ids && i < batch->count; i++)
        json_array_append_new (ids, json_string (batch->parsed [i].op_id));
    char *text = ids ? json_dumps (ids, JSON_COMPACT) : NULL;
    json_decref (ids);
    json_t *seen = json_object ();
    if (!text || !seen) {
        free (text);
        json_decref (seen);
        mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
        return NULL;
    }
    PGresult *res = PQexecParams (pg, "SELECT op_id FROM sync_ops WHERE user_id = $1::uuid "
                                      "AND op_id IN (SELECT jsonb_array_elements_text ($2::jsonb))",
                                  2, NULL, P (user_id, text), NULL, NULL, 0);
    free (text);
    if (s_ok (pg, res, err)) {
        json_decref (seen);
        return NULL;
    }
    for (int r = 0; r < PQntuples (res); r++)
        json_object_set_new (seen, PQgetvalue (res, r, 0), json_true ());
    PQclear (res);
    return seen;
}

//  Apply the new ops of the batch to its state in order, each completed
//  first from the state the ops before it left (sync_op_settle: so an add
//  repeated in one batch supersedes the one before it); mark which were
//  new. 0 or -1.
static int
s_merge (s_batch_t *batch, json_t *seen, mg_error_t *err)
{
    for (size_t i = 0; i < batch->count; i++) {
        sync_op_t *parsed = &batch->parsed [i];
        //  Each new op once, even when the batch names it twice.
        if (json_object_get (seen, parsed->op_id)) {
            batch->duplicates++;
            continue;
        }
        char reason [128];
        if (json_object_set_new (seen, parsed->op_id, json_true ())
        ||  sync_op_settle (batch->state, json_array_get (batch->ops, i), parsed, reason, sizeof reason)
        ||  sync_state_apply (batch->state, parsed))
            return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
        batch->fresh [i] = true;
        batch->applied++;
    }
    return 0;
}

//  Write the batch's new ops, as applied, to the op log. 0 or -1.
static int
s_log (PGconn *pg, const char *user_id, const s_batch_t *batch, mg_error_t *err)
{
    json_t *rows = json_array ();
    for (size_t i = 0; rows && i < batch->count; i++)
        if (batch->fresh [i])
            json_array_append_new (rows, sync_op_to_json (&batch->parsed [i]));
    char *text = rows && json_array_size (rows) ? json_dumps (rows, JSON_COMPACT) : NULL;
    bool empty = rows && json_array_size (rows) == 0;
    json_decref (rows);
    if (empty)
        return 0;
    if (!text)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    int rc = s_exec (pg, "INSERT INTO sync_ops (user_id, op_id, device_id, type, hlc, body) "
                         "SELECT $1::uuid, x->>'op_id', (x->>'device_id')::uuid, x->>'type', x->>'hlc', x "
                         "FROM jsonb_array_elements ($2::jsonb) x", 2, P (user_id, text), err);
    free (text);
    return rc;
}

//  Apply the checked batch for user_id in one transaction. 0 or -1.
static int
s_apply (sync_thread_t *self, PGconn *pg, const char *user_id, const char *device, s_batch_t *batch,
         mg_error_t *err)
{
    if (s_exec (pg, "BEGIN", 0, NULL, err))
        return -1;
    int rc = -1;
    PGresult *res = PQexecParams (pg, "SELECT 1 FROM users WHERE id = $1::uuid FOR SHARE", 1, NULL, P (user_id),
                                  NULL, NULL, 0);
    if (s_ok (pg, res, err))
        goto done;
    bool known = PQntuples (res) == 1;
    PQclear (res);
    if (!known) {
        mg_actor_fail (err, "NOT_FOUND", "user_id", "no such user");
        goto done;
    }
    if (device) {
        res = PQexecParams (pg, "UPDATE devices SET last_seen_at = now () WHERE id = $2::uuid AND user_id = $1::uuid",
                            2, NULL, P (user_id, device), NULL, NULL, 0);
        if (s_ok (pg, res, err))
            goto done;
        bool mine = strcmp (PQcmdTuples (res), "1") == 0;
        PQclear (res);
        if (!mine) {
            mg_actor_fail (err, "NOT_FOUND", "device_id", "no such device: register it with POST /api/v1/me/devices");
            goto done;
        }
    }
    if (s_exec (pg, "INSERT INTO sync_state (user_id, key, state) VALUES ($1::uuid, '" STATE_KEY "', "
                    "'{\"watchlist\":{},\"progress\":{},\"preferences\":{}}') ON CONFLICT DO NOTHING",
                1, P (user_id), err))
        goto done;
    //  The state row is locked from here: the user's other writes wait, so
    //  the op log read below stays true until the commit.
    batch->state = sync_load (pg, user_id, true, err);
    if (!batch->state)
        goto done;
    if (batch->handoff && s_handoff_check (pg, user_id, batch, err))
        goto done;
    json_t *seen = s_logged (pg, user_id, batch, err);
    if (!seen)
        goto done;
    size_t titles = sync_state_titles (batch->state);
    int merged = s_merge (batch, seen, err);
    json_decref (seen);
    if (merged)
        goto done;
    size_t after = sync_state_titles (batch->state);
    if (after > SYNC_TITLES_MAX && after > titles) {
        mg_actor_fail (err, "CONFLICT", "ops", "a watchlist holds at most %d titles: remove some first",
                       SYNC_TITLES_MAX);
        goto done;
    }
    if (s_log (pg, user_id, batch, err))
        goto done;
    //  Tombstones outlive no add they could still meet: past the op log's
    //  window an add is not recognised as a duplicate either.
    hlc_t now = sync_now (self);
    sync_state_compact (batch->state, (hlc_t) { now.wall_ms - self->shared->ops_keep_s * 1000, 0, 0 });
    sync_state_trim (batch->state, SYNC_PROGRESS_MAX, SYNC_DEAD_MAX);
    char *text = json_dumps (batch->state, JSON_COMPACT);
    int stored = text ? s_exec (pg, "UPDATE sync_state SET state = $2::jsonb, updated_at = now () "
                                    "WHERE user_id = $1::uuid AND key = '" STATE_KEY "'",
                                2, P (user_id, text), err)
                      : mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    free (text);
    if (stored == 0)
        stored = s_events (self, pg, user_id, batch, err);
    if (stored == 0)
        rc = s_exec (pg, "COMMIT", 0, NULL, err);
done:
    if (rc)
        mg_pg_settle (pg);
    return rc;
}

//  s_batch for a prepared batch (batch->ops owned, freed here with what the
//  batch made).
static int
s_batch_run (sync_thread_t *self, const char *user_id, const char *device, s_batch_t *batch,
             mg_sync_state_t *reply, size_t *applied, size_t *duplicates, mg_error_t *err)
{
    PGconn *pg = NULL;
    if (!mg_uuid_is (user_id, false))
        mg_actor_fail (err, "INVALID_PARAMETER", "user_id", "user_id must be a user id (UUID)");
    else
        pg = sync_pg (self, err);
    int rc = pg ? s_check (self, batch, device, err) : -1;
    if (rc == 0)
        rc = s_apply (self, pg, user_id, device, batch, err);
    if (rc == 0)
        sync_events_publish (self, user_id, batch->events);
    if (rc == 0 && reply)
        rc = sync_view (self, batch->state, reply, err);
    if (applied)
        *applied = batch->applied;
    if (duplicates)
        *duplicates = batch->duplicates;
    if (rc == 0 && batch->handoff)
        return 0;               //  the handoff reads state and events, then frees them
    json_decref (batch->state);
    json_decref (batch->events);
    json_decref (batch->ops);
    return rc;
}

//  Check and apply ops (owned) for user_id (handoff: the batch is its
//  progress write); publish its events; the merged state into reply (NULL:
//  the caller reads batch_out). batch_out (may be NULL) takes the batch's
//  state and events, which the caller then frees.
static int
s_batch (sync_thread_t *self, const char *user_id, const char *device, json_t *ops,
         mg_sync_state_t *reply, size_t *applied, size_t *duplicates, mg_error_t *err)
{
    s_batch_t batch = { .ops = ops };
    return s_batch_run (self, user_id, device, &batch, reply, applied, duplicates, err);
}

int
sync_on_ops (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_ops_request_t *request = req;
    mg_sync_ops_reply_t *reply = rep;
    json_t *ops;
    char device_id [37];
    if (sync_batch_read (request->body, request->device_id, &ops, device_id, err))
        return -1;
    reply->state = calloc (1, sizeof (mg_sync_state_t));
    if (!reply->state) {
        json_decref (ops);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    size_t applied = 0, duplicates = 0;
    int rc = s_batch (state, request->user_id, *device_id ? device_id : NULL, ops, reply->state,
                      &applied, &duplicates, err);
    reply->applied = applied;
    reply->duplicates = duplicates;
    reply->has_applied = reply->has_duplicates = true;
    return rc;
}

//  One op of type for a REST write, with a fresh op id.
static json_t *
s_rest_op (const char *type, const char *content_id)
{
    unsigned char bytes [12];
    randombytes_buf (bytes, sizeof bytes);
    char op_id [32] = "srv-";
    sodium_bin2hex (op_id + 4, sizeof op_id - 4, bytes, sizeof bytes);
    json_t *op = json_pack ("{s:s, s:s}", "op_id", op_id, "type", type);
    if (op && content_id)
        json_object_set_new (op, "content_id", json_string (content_id));
    return op;
}

int
sync_on_watchlist_put (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_item_request_t *request = req;
    json_t *ops = json_pack ("[o]", s_rest_op ("watchlist.add", request->content_id));
    return s_batch (state, request->user_id, request->device_id, ops, rep, NULL, NULL, err);
}

int
sync_on_watchlist_delete (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_item_request_t *request = req;
    json_t *ops = json_pack ("[o]", s_rest_op ("watchlist.remove", request->content_id));
    return s_batch (state, request->user_id, request->device_id, ops, rep, NULL, NULL, err);
}

int
sync_on_progress_put (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_progress_request_t *request = req;
    if (!request->content_id)
        return mg_actor_fail (err, "INVALID_PARAMETER", "content_id", "content_id is required");
    json_t *op = s_rest_op ("progress.set", request->content_id);
    json_object_set_new (op, "position_s", json_real (request->position_s));
    if (request->has_duration_s)
        json_object_set_new (op, "duration_s", json_real (request->duration_s));
    json_object_set_new (op, "completed", json_boolean (request->has_completed && request->completed));
    return s_batch (state, request->user_id, request->device_id, json_pack ("[o]", op), rep, NULL, NULL, err);
}

int
sync_on_preferences_put (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_preferences_request_t *request = req;
    if (request->has_leaving_days && request->leaving_days > LEAVING_DAYS_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "leaving_days", "leaving_days must be 0 to %d", LEAVING_DAYS_MAX);
    //  One op per field given: each field is its own register.
    json_t *given = mg_msg_to_json (&mg_sync_preferences_request_desc, request);
    json_t *ops = json_array ();
    const char *field;
    json_t *value;
    json_object_foreach (given, field, value) {
        if (!strcmp (field, "user_id") || !strcmp (field, "device_id"))
            continue;
        json_t *op = s_rest_op ("preferences.set", NULL);
        json_object_set_new (op, "field", json_string (field));
        json_object_set (op, "value", value);
        json_array_append_new (ops, op);
    }
    json_decref (given);
    if (json_array_size (ops) == 0) {
        json_decref (ops);
        return mg_actor_fail (err, "INVALID_PARAMETER", NULL,
                              "give at least one of language, subtitles, region, autoplay, genres, maturity, services");
    }
    return s_batch (state, request->user_id, request->device_id, ops, rep, NULL, NULL, err);
}

int
sync_on_handoff (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_handoff_request_t *request = req;
    mg_sync_handoff_t *reply = rep;
    const char *bad = !mg_uuid_is (request->from_device, false) ? "from_device"
                    : !mg_uuid_is (request->to_device, false) ? "to_device"
                    : !mg_uuid_is (request->content_id, false) ? "content_id" : NULL;
    if (bad)
        return mg_actor_fail (err, "INVALID_PARAMETER", bad, "%s must be a UUID", bad);
    if (strcasecmp (request->from_device, request->to_device) == 0)
        return mg_actor_fail (err, "INVALID_PARAMETER", "to_device", "to_device must differ from from_device");
    if (!(request->position_s >= 0) || !isfinite (request->position_s))
        return mg_actor_fail (err, "INVALID_PARAMETER", "position_s", "position_s must be a number of seconds >= 0");
    json_t *op = s_rest_op ("progress.set", request->content_id);
    json_object_set_new (op, "position_s", json_real (request->position_s));
    json_object_set_new (op, "completed", json_false ());
    s_batch_t batch = { .ops = json_pack ("[o]", op), .handoff = request };
    int rc = s_batch_run (state, request->user_id, request->from_device, &batch, NULL, NULL, NULL, err);
    if (rc)
        return rc;
    //  The reply is the handoff event's data, with the event's id.
    json_t *event = json_array_get (batch.events, json_array_size (batch.events) - 1);
    json_t *data = json_deep_copy (json_object_get (event, "data"));
    char reason [256];
    if (data)
        json_object_set (data, "event_id", json_object_get (event, "id"));
    rc = data ? mg_msg_from_json (&mg_sync_handoff_desc, data, reply, reason, sizeof reason) : -1;
    if (rc) {
        mg_error ("handoff does not fit the reply", "reason=\"%s\"", data ? reason : "out of memory");
        mg_actor_fail (err, "INTERNAL", NULL, "the handoff could not be encoded");
    }
    json_decref (data);
    json_decref (batch.state);
    json_decref (batch.events);
    json_decref (batch.ops);
    return rc;
}

int
sync_apply_ops (sync_thread_t *self, const char *user_id, json_t *ops, size_t *applied, mg_error_t *err)
{
    return s_batch (self, user_id, NULL, ops, NULL, applied, NULL, err);
}
