/*  sync.devices.*: a user's devices, at most SYNC_DEVICES_MAX. Only an
    explicit registration makes a device; removing one frees its slot.  */
#include "sync.h"
#include "mg_filters.h"
#include "mg_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })

//  Copy row r of res (id, name, created_at, last_seen_at) into device.
static void
s_device (PGresult *res, int r, mg_device_t *device)
{
    device->id = strdup (PQgetvalue (res, r, 0));
    device->name = strdup (PQgetvalue (res, r, 1));
    device->created_at = strdup (PQgetvalue (res, r, 2));
    if (!PQgetisnull (res, r, 3))
        device->last_seen_at = strdup (PQgetvalue (res, r, 3));
}

//  Record a device event (type, the device as data) in the open transaction,
//  commit, then publish it. 0, or -1 with err (the transaction rolled back).
static int
s_device_event (sync_thread_t *self, PGconn *pg, const char *user_id, const char *type,
                const mg_device_t *device, mg_error_t *err)
{
    json_t *events = json_pack ("[{s:s, s:{s:{s:s, s:s}}}]", "type", type, "data", "device",
                                "id", device->id, "name", device->name);
    if (!events)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    int rc = sync_events_record (self, pg, user_id, events, err);
    if (rc == 0) {
        PGresult *res = PQexec (pg, "COMMIT");
        if (PQresultStatus (res) != PGRES_COMMAND_OK)
            rc = mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
    }
    else
        mg_pg_settle (pg);
    if (rc == 0)
        sync_events_publish (self, user_id, events);
    json_decref (events);
    return rc;
}

//  BEGIN on pg. 0, or -1 with err.
static int
s_begin (PGconn *pg, mg_error_t *err)
{
    PGresult *res = PQexec (pg, "BEGIN");
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : mg_pg_fail (err, pg, res, "sync database");
    PQclear (res);
    return rc;
}

#define DEVICE_COLUMNS \
    "id::text, name, to_char (created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
    "to_char (last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

int
sync_on_devices_list (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_list_request_t *request = req;
    mg_devices_reply_t *reply = rep;
    uint64_t page, per_page, offset;
    if (request->available)
        return mg_actor_fail (err, "INVALID_PARAMETER", "available", "available applies to /me/watchlist only");
    if (mg_filters_paging (request->has_page, request->page, request->has_per_page, request->per_page,
                           &page, &per_page, &offset, err))
        return -1;
    char user_id [37];
    if (mg_filters_uuid (request->user_id, user_id, "user_id", err))
        return -1;
    PGconn *pg = sync_pg (state, err);
    if (!pg)
        return -1;
    PGresult *res = PQexecParams (pg, "SELECT " DEVICE_COLUMNS " FROM devices WHERE user_id = $1::uuid "
                                      "ORDER BY created_at, id", 1, NULL, P (user_id), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return -1;
    }
    int rows = PQntuples (res);
    reply->total = (uint64_t) rows;
    reply->page = page;
    reply->per_page = per_page;
    reply->has_total = reply->has_page = reply->has_per_page = true;
    reply->results = calloc (SYNC_DEVICES_MAX, sizeof (mg_device_t));
    if (!reply->results) {
        PQclear (res);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    for (uint64_t r = offset; r < (uint64_t) rows && r < offset + per_page; r++)
        if (reply->results_count < SYNC_DEVICES_MAX)
            s_device (res, (int) r, &reply->results [reply->results_count++]);
    PQclear (res);
    return 0;
}

int
sync_on_devices_add (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_device_add_request_t *request = req;
    char user_id [37];
    if (mg_filters_uuid (request->user_id, user_id, "user_id", err))
        return -1;
    size_t name_len = strlen (request->name);
    if (name_len == 0 || name_len > 100)
        return mg_actor_fail (err, "INVALID_PARAMETER", "name", "name must be 1 to 100 characters");
    PGconn *pg = sync_pg (state, err);
    if (!pg)
        return -1;
    //  The user row is locked so two registrations cannot both take the last slot.
    char count [16];
    snprintf (count, sizeof count, "%d", SYNC_DEVICES_MAX);
    if (s_begin (pg, err))
        return -1;
    PGresult *res = PQexecParams (pg,
        "WITH u AS (SELECT id FROM users WHERE id = $1::uuid FOR UPDATE), "
        "n AS (SELECT count (*) AS devices FROM devices WHERE user_id = $1::uuid) "
        "INSERT INTO devices (user_id, name) SELECT u.id, $2 FROM u, n WHERE n.devices < $3::int "
        "RETURNING " DEVICE_COLUMNS, 3, NULL, P (user_id, request->name, count), NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_TUPLES_OK && PQntuples (res) == 1) {
        s_device (res, 0, rep);
        PQclear (res);
        return s_device_event (state, pg, user_id, "device.added", rep, err);
    }
    if (status != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return -1;
    }
    PQclear (res);
    mg_pg_settle (pg);
    res = PQexecParams (pg, "SELECT 1 FROM users WHERE id = $1::uuid", 1, NULL, P (user_id), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return -1;
    }
    bool known = PQntuples (res) == 1;
    PQclear (res);
    if (!known)
        return mg_actor_fail (err, "NOT_FOUND", "user_id", "no such user");
    return mg_actor_fail (err, "CONFLICT", NULL, "at most %d devices per account: remove one first", SYNC_DEVICES_MAX);
}

int
sync_on_devices_remove (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_device_request_t *request = req;
    (void) rep;
    char user_id [37], id [37];
    if (mg_filters_uuid (request->user_id, user_id, "user_id", err) || mg_filters_uuid (request->id, id, "id", err))
        return -1;
    PGconn *pg = sync_pg (state, err);
    if (!pg)
        return -1;
    if (s_begin (pg, err))
        return -1;
    PGresult *res = PQexecParams (pg, "DELETE FROM devices WHERE id = $2::uuid AND user_id = $1::uuid "
                                      "RETURNING " DEVICE_COLUMNS, 2, NULL, P (user_id, id),
                                  NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    mg_device_t device = { 0 };
    bool removed = status == PGRES_TUPLES_OK && PQntuples (res) == 1;
    if (removed)
        s_device (res, 0, &device);
    if (status != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync database");
        PQclear (res);
        return -1;
    }
    PQclear (res);
    if (!removed) {
        mg_pg_settle (pg);
        return mg_actor_fail (err, "NOT_FOUND", "id", "no such device");
    }
    int rc = s_device_event (state, pg, user_id, "device.removed", &device, err);
    mg_msg_clear (&mg_device_desc, &device);
    return rc;
}
