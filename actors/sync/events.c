/*  Change events: every change of a user's state (ops, REST writes,
    handoffs, devices) is written to sync_events with the next per-user id
    in the transaction that makes it, and published on sync.<user_id> after
    the commit. A stream that missed some (a restart, a slow reader, a lost
    PUB message) asks sync.events for what follows the last id it has: ids
    are consecutive, so a gap is always noticed and always filled.  */
#include "sync.h"
#include "mg_filters.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define REPLAY_EVENTS_MAX  256              //  events per sync.events reply (the message's list limit)
#define REPLAY_BYTES_MAX   (512 * 1024)     //  data bytes per reply: well under the 1 MiB message limit
#define TOPIC_PREFIX       "sync."
#define AGE_PRUNE_EVERY    64               //  events between two prunes by age

int
sync_events_record (sync_thread_t *self, PGconn *pg, const char *user_id, json_t *events, mg_error_t *err)
{
    size_t count = json_array_size (events);
    if (count == 0)
        return 0;
    char n [24], keep [24], keep_s [24], latest [24];
    snprintf (n, sizeof n, "%zu", count);
    snprintf (keep, sizeof keep, "%" PRId64, self->shared->events_keep);
    snprintf (keep_s, sizeof keep_s, "%" PRId64, self->shared->events_keep_s);
    PGresult *res = PQexecParams (pg,
        "INSERT INTO sync_event_seq (user_id, last_id) VALUES ($1::uuid, $2::bigint) "
        "ON CONFLICT (user_id) DO UPDATE SET last_id = sync_event_seq.last_id + $2::bigint RETURNING last_id",
        2, NULL, P (user_id, n), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1) {
        mg_pg_fail (err, pg, res, "sync event sequence");
        PQclear (res);
        return -1;
    }
    int64_t last = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    int64_t id = last - (int64_t) count + 1;
    snprintf (latest, sizeof latest, "%" PRId64, last);
    size_t index;
    json_t *event;
    json_array_foreach (events, index, event)
        json_object_set_new (event, "id", json_integer (id + (json_int_t) index));
    char *text = json_dumps (events, JSON_COMPACT);
    res = text ? PQexecParams (pg,
        "INSERT INTO sync_events (user_id, id, type, device_id, target, data) "
        "SELECT $1::uuid, (x.e->>'id')::bigint, x.e->>'type', (x.e->>'device_id')::uuid, "
        "(x.e->>'target')::uuid, x.e->'data' FROM json_array_elements ($2::json) AS x (e)",
        2, NULL, P (user_id, text), NULL, NULL, 0) : NULL;
    free (text);
    if (PQresultStatus (res) != PGRES_COMMAND_OK) {
        mg_pg_fail (err, pg, res, "sync events");
        PQclear (res);
        return -1;
    }
    PQclear (res);
    //  Bounded history: the newest keep events (a range of the primary key),
    //  and, each time the ids pass a multiple of AGE_PRUNE_EVERY, none older
    //  than keep_s (that check reads every kept row of the user).
    bool by_age = (last / AGE_PRUNE_EVERY) != ((id - 1) / AGE_PRUNE_EVERY);
    res = PQexecParams (pg, by_age
        ? "DELETE FROM sync_events WHERE user_id = $1::uuid "
          "AND (id <= $2::bigint - $3::bigint OR created_at < now () - make_interval (secs => $4::bigint))"
        : "DELETE FROM sync_events WHERE user_id = $1::uuid AND id <= $2::bigint - $3::bigint",
        by_age ? 4 : 3, NULL, P (user_id, latest, keep, keep_s), NULL, NULL, 0);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : mg_pg_fail (err, pg, res, "sync events");
    PQclear (res);
    return rc;
}

void
sync_events_publish (sync_thread_t *self, const char *user_id, const json_t *events)
{
    char topic [sizeof TOPIC_PREFIX + 36];
    snprintf (topic, sizeof topic, TOPIC_PREFIX "%s", user_id);
    size_t index;
    json_t *event;
    json_array_foreach (events, index, event) {
        char *data = json_dumps (json_object_get (event, "data"), JSON_COMPACT);
        mg_sync_event_t message = {
            .user_id = (char *) user_id,
            .id = (uint64_t) json_integer_value (json_object_get (event, "id")), .has_id = true,
            .type = (char *) json_string_value (json_object_get (event, "type")),
            .device_id = (char *) json_string_value (json_object_get (event, "device_id")),
            .target = (char *) json_string_value (json_object_get (event, "target")),
            .data = data
        };
        char reason [MG_MSG_ERR_LEN] = "out of memory";
        if (!data || mg_actor_publish (self->events, topic, &mg_sync_event_desc, &message, reason, sizeof reason))
            //  Streams notice the missing id and fetch it from sync_events.
            mg_warn ("event not published", "user=%s id=%" PRIu64 " reason=\"%s\"", user_id, message.id, reason);
        free (data);
    }
}

//  The kept events after since into reply (at most REPLAY_EVENTS_MAX and
//  REPLAY_BYTES_MAX of data), with more set when some were left for later.
static int
s_replay (PGconn *pg, const char *user_id, int64_t since, int64_t last, mg_sync_events_reply_t *reply,
          mg_error_t *err)
{
    char from [24], limit [24];
    snprintf (from, sizeof from, "%" PRId64, since);
    snprintf (limit, sizeof limit, "%d", REPLAY_EVENTS_MAX);
    PGresult *res = PQexecParams (pg,
        "SELECT id, type, device_id::text, target::text, data::text FROM sync_events "
        "WHERE user_id = $1::uuid AND id > $2::bigint ORDER BY id LIMIT $3::int",
        3, NULL, P (user_id, from, limit), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync events");
        PQclear (res);
        return -1;
    }
    int rows = PQntuples (res);
    //  Ids are consecutive: a first id past since + 1 means the ones between were dropped.
    if (since < last && (rows == 0 || strtoll (PQgetvalue (res, 0, 0), NULL, 10) != since + 1)) {
        PQclear (res);
        reply->reset = true;
        return 0;
    }
    reply->events = calloc ((size_t) (rows ? rows : 1), sizeof (mg_sync_event_t));
    if (!reply->events) {
        PQclear (res);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    size_t bytes = 0;
    int r = 0;
    for (; r < rows; r++) {
        size_t size = (size_t) PQgetlength (res, r, 4);
        if (r > 0 && bytes + size > REPLAY_BYTES_MAX)
            break;
        bytes += size;
        mg_sync_event_t *event = &reply->events [reply->events_count++];
        event->user_id = strdup (user_id);
        event->id = (uint64_t) strtoll (PQgetvalue (res, r, 0), NULL, 10);
        event->has_id = true;
        event->type = strdup (PQgetvalue (res, r, 1));
        if (!PQgetisnull (res, r, 2))
            event->device_id = strdup (PQgetvalue (res, r, 2));
        if (!PQgetisnull (res, r, 3))
            event->target = strdup (PQgetvalue (res, r, 3));
        event->data = strdup (PQgetvalue (res, r, 4));
        if ((uint64_t) last < event->id)
            reply->last_id = event->id;
    }
    reply->more = r < rows || rows == REPLAY_EVENTS_MAX;
    PQclear (res);
    return 0;
}

int
sync_on_events (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_sync_events_request_t *request = req;
    mg_sync_events_reply_t *reply = rep;
    if (request->has_since && request->since < 0)
        return mg_actor_fail (err, "INVALID_PARAMETER", "since", "an event id is a number >= 0");
    char user_id [37], device_id [37];
    if (mg_filters_uuid (request->user_id, user_id, "user_id", err)
    ||  mg_filters_uuid (request->device_id, device_id, "device_id", err))
        return -1;
    PGconn *pg = sync_pg (state, err);
    if (!pg)
        return -1;
    PGresult *res = PQexecParams (pg,
        "SELECT coalesce ((SELECT last_id FROM sync_event_seq WHERE user_id = $1::uuid), 0), "
        "EXISTS (SELECT 1 FROM devices WHERE id = $2::uuid AND user_id = $1::uuid)",
        2, NULL, P (user_id, device_id), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "sync events");
        PQclear (res);
        return -1;
    }
    int64_t last = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    bool mine = strcmp (PQgetvalue (res, 0, 1), "t") == 0;
    PQclear (res);
    if (!mine)
        return mg_actor_fail (err, "NOT_FOUND", "device_id", "no such device: register it with POST /api/v1/me/devices");
    reply->last_id = (uint64_t) last;
    reply->has_last_id = reply->has_reset = reply->has_more = true;
    //  The last id is read first: every event up to it is committed, so
    //  whatever the replay misses of them was dropped (reset), not late.
    if (!request->has_since || request->since == last)
        return 0;
    if (request->since > last) {
        reply->reset = true;        //  an id this user never had (another server's, or a wiped database)
        return 0;
    }
    return s_replay (pg, user_id, request->since, last, reply, err);
}
