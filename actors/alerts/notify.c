/*  Recording notifications. One statement per changed title matches its
    current offers against the users whose watchlist holds it, inserts what
    is new (the unique key of notifications makes a second replica, a
    restart or a repeated event insert nothing) and queues a delivery per
    enabled webhook of each user. Each new notification also becomes an
    event on the user's stream, numbered in sync_events like every other
    change of the user's state, so a stream that missed it live replays it
    (Last-Event-ID) and the gateway needs nothing new to show it. A title on
    a thousand watchlists is one round trip, not thousands; and the
    statement can take one share of the watchers (a hash of the user id), so
    the follower runs the shares at once on several connections and
    publishes each as it commits: the users' rows are written on several
    cores instead of one.  */
#include "alerts.h"
#include "mg_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define BATCH_TOPIC  "sync.batch"       //  several users' events in one message (gateway/sse_events.c)
#define BATCH_EVENTS 256                //  events per message: the batch message's list limit
#define BATCH_BYTES  (512 * 1024)       //  data bytes per message: well under the 1 MiB body limit
#define EVENT_TYPE   "notification"     //  the SSE event name
#define MATCH_STATEMENT "alerts_match"  //  prepared on each connection that matches

//  An event to publish after the commit.
typedef struct {
    char user_id [37];
    uint64_t id;
    char *data;
} s_event_t;

//  Offers of the title now, one per platform and region: open-ended when
//  any offer there is, else ending with the last one. Those on a user's
//  service in the user's region are "available"; those ending within the
//  user's window also "leaving".
static const char s_match_sql [] =
    //  $6 shares, $7 this one: the last byte of a (random) user id.
    "WITH watchers AS (SELECT * FROM (%s) p WHERE get_byte (uuid_send (p.user_id), 15) %% $6::int = $7::int), "
    "offers AS ("
    "  SELECT platform, region, CASE WHEN bool_or (expires_at IS NULL) THEN NULL ELSE max (expires_at) END AS until "
    "  FROM availability WHERE content_id = $1::uuid AND (expires_at IS NULL OR expires_at > now ()) "
    "  GROUP BY platform, region), "
    "hits AS ("
    "  SELECT w.user_id, o.platform, o.region, o.until, 'available' AS kind "
    "  FROM watchers w JOIN offers o ON o.region = w.region AND w.services ? o.platform "
    "  WHERE NOT $8::bool "
    "  UNION ALL "
    "  SELECT w.user_id, o.platform, o.region, o.until, 'leaving' "
    "  FROM watchers w JOIN offers o ON o.region = w.region AND w.services ? o.platform "
    "  WHERE o.until IS NOT NULL AND o.until <= now () + make_interval (days => w.leaving_days)), "
    "made AS ("
    "  INSERT INTO notifications (user_id, kind, content_id, platform, region, offer_until, data) "
    "  SELECT h.user_id, h.kind, c.id, h.platform, h.region, h.until, jsonb_build_object ('title', c.title) "
    "  FROM hits h JOIN content c ON c.id = $1::uuid ORDER BY h.user_id "
    "  ON CONFLICT DO NOTHING RETURNING *), "
    //  The notifications of one statement differ only by user and id
    //  within an offer window and kind (same title, same created_at): each
    //  such shape is shown once and the id put in front (jsonb shows "id"
    //  first, so the text is what alerts_notification_json gives). The
    //  shapes are materialized (inlined, they were worked out again per
    //  row) and looked up by a subquery, not a join: with a join the
    //  planner expected one row here and matched it to the sequence rows
    //  below by a nested loop, a thousand times a thousand.
    "shapes AS MATERIALIZED ("
    "  SELECT m.kind, m.platform, m.region, m.offer_until, substr ((alerts_notification_json (m) - 'id')::text, 2) AS rest "
    "  FROM made m JOIN (SELECT DISTINCT ON (kind, platform, region, offer_until) id FROM made) d ON d.id = m.id), "
    "shown AS ("
    "  SELECT m.user_id, m.id, '{\"id\": \"' || m.id || '\", ' || (SELECT s.rest FROM shapes s "
    "    WHERE s.kind = m.kind AND s.platform = m.platform AND s.region = m.region "
    "      AND s.offer_until IS NOT DISTINCT FROM m.offer_until) AS j "
    "  FROM made m), "
    //  Each user's next stream event ids, for all of the user's new
    //  notifications at once (one row lock per user). Rows are written in
    //  user order, so two statements on the same users (the sweep and a
    //  change) wait for each other rather than deadlock.
    "seq AS ("
    "  INSERT INTO sync_event_seq (user_id, last_id) SELECT user_id, count(*) FROM shown GROUP BY user_id ORDER BY user_id "
    "  ON CONFLICT (user_id) DO UPDATE SET last_id = sync_event_seq.last_id + EXCLUDED.last_id "
    "  RETURNING user_id, last_id), "
    "numbered AS ("
    "  SELECT sh.user_id, q.last_id + 1 - row_number () OVER (PARTITION BY sh.user_id ORDER BY sh.id DESC) AS event_id, sh.j "
    "  FROM shown sh JOIN seq q ON q.user_id = sh.user_id), "
    "events AS ("
    "  INSERT INTO sync_events (user_id, id, type, data) "
    "  SELECT user_id, event_id, '" EVENT_TYPE "', j::json FROM numbered), "
    //  The stream history as bounded as sync keeps it.
    "pruned AS ("
    "  DELETE FROM sync_events e USING seq q "
    "  WHERE q.last_id > $5::bigint AND e.user_id = q.user_id AND e.id <= q.last_id - $5::bigint), "
    "queued AS ("
    "  INSERT INTO webhook_deliveries (webhook_id, notification_id, give_up_at) "
    "  SELECT w.id, m.id, now () + make_interval (secs => $4::int) "
    "  FROM made m JOIN webhooks w ON w.user_id = m.user_id AND w.enabled "
    "  ON CONFLICT DO NOTHING) "
    "SELECT user_id, event_id, j::text FROM numbered ORDER BY user_id, event_id";

//  Note an event to publish after the commit. Returns 0 or -1.
static int
s_note (zlist_t *events, const char *user_id, uint64_t id, const char *data, char *why, size_t whylen)
{
    s_event_t *event = calloc (1, sizeof *event);
    if (!event || !(event->data = strdup (data))) {
        free (event);
        snprintf (why, whylen, "out of memory");
        return -1;
    }
    snprintf (event->user_id, sizeof event->user_id, "%s", user_id);
    event->id = id;
    zlist_append (events, event);
    return 0;
}

//  Number the notification data as the user's next stream event, keep the
//  user's history as bounded as sync keeps it, and note it for publishing.
static int
s_stream_event (alerts_t *self, PGconn *pg, const char *user_id, const char *data, zlist_t *events,
                char *why, size_t whylen)
{
    PGresult *res = PQexecParams (pg,
        "INSERT INTO sync_event_seq (user_id, last_id) VALUES ($1::uuid, 1) "
        "ON CONFLICT (user_id) DO UPDATE SET last_id = sync_event_seq.last_id + 1 RETURNING last_id",
        1, NULL, P (user_id), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1) {
        snprintf (why, whylen, "event sequence: %s", PQerrorMessage (pg));
        PQclear (res);
        return -1;
    }
    uint64_t id = strtoull (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    char number [24], keep [24];
    snprintf (number, sizeof number, "%" PRIu64, id);
    snprintf (keep, sizeof keep, "%" PRId64, self->events_keep);
    res = PQexecParams (pg,
        "WITH kept AS (DELETE FROM sync_events WHERE user_id = $1::uuid AND id <= $2::bigint - $4::bigint) "
        "INSERT INTO sync_events (user_id, id, type, data) VALUES ($1::uuid, $2::bigint, '" EVENT_TYPE "', $3::json)",
        4, NULL, P (user_id, number, data, keep), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_COMMAND_OK) {
        snprintf (why, whylen, "stream event: %s", PQerrorMessage (pg));
        PQclear (res);
        return -1;
    }
    PQclear (res);
    return s_note (events, user_id, id, data, why, whylen);
}

int
alerts_notify_prepare (PGconn *pg, char *why, size_t whylen)
{
    char sql [sizeof s_match_sql + 2048];
    if (snprintf (sql, sizeof sql, s_match_sql, alerts_prefs_sql ()) >= (int) sizeof sql) {
        snprintf (why, whylen, "the matching statement does not fit its buffer");
        return -1;
    }
    //  Planning the statement costs about as much as running it for a
    //  hundred users: it is planned once per connection, for any title.
    PGresult *res = PQexec (pg, "SET plan_cache_mode = force_generic_plan");
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear (res);
    if (rc == 0) {
        res = PQprepare (pg, MATCH_STATEMENT, sql, 8, NULL);
        rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear (res);
    }
    if (rc)
        snprintf (why, whylen, "preparing the matching statement: %s", PQerrorMessage (pg));
    return rc;
}

int
alerts_notify_send (alerts_t *self, PGconn *pg, const char *content_id, int share, int shares, bool leaving_only,
                    char *why, size_t whylen)
{
    char days [16], retry_for [16], keep [24], of [16], this [16];
    snprintf (days, sizeof days, "%d", self->leaving_days);
    snprintf (retry_for, sizeof retry_for, "%d", self->retry_for_s);
    snprintf (keep, sizeof keep, "%" PRId64, self->events_keep);
    snprintf (of, sizeof of, "%d", shares);
    snprintf (this, sizeof this, "%d", share);
    if (!PQsendQueryPrepared (pg, MATCH_STATEMENT, 8,
                              P (content_id, self->default_region, days, retry_for, keep, of, this,
                                 leaving_only ? "true" : "false"), NULL, NULL, 0)) {
        snprintf (why, whylen, "matching %s: %s", content_id, PQerrorMessage (pg));
        return -1;
    }
    return 0;
}

int
alerts_notify_recv (PGconn *pg, zlist_t *events, char *why, size_t whylen)
{
    int made = 0;
    PGresult *res;
    while ((res = PQgetResult (pg))) {
        if (made >= 0 && PQresultStatus (res) != PGRES_TUPLES_OK) {
            snprintf (why, whylen, "matching: %s", PQerrorMessage (pg));
            made = -1;
        }
        for (int row = 0; made >= 0 && row < PQntuples (res); row++)
            made = s_note (events, PQgetvalue (res, row, 0), strtoull (PQgetvalue (res, row, 1), NULL, 10),
                           PQgetvalue (res, row, 2), why, whylen) ? -1 : made + 1;
        PQclear (res);
    }
    return made;
}

int
alerts_notify_disabled (alerts_t *self, PGconn *pg, const char *user_id, const char *webhook_id,
                        const char *reason, zlist_t *events, char *why, size_t whylen)
{
    PGresult *res = PQexecParams (pg,
        "INSERT INTO notifications (user_id, kind, webhook_id, data) "
        "VALUES ($1::uuid, 'webhook.disabled', $2::uuid, jsonb_build_object ('reason', $3::text)) "
        "ON CONFLICT DO NOTHING RETURNING alerts_notification_json (notifications)::text",
        3, NULL, P (user_id, webhook_id, reason), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        snprintf (why, whylen, "webhook notification: %s", PQerrorMessage (pg));
        PQclear (res);
        return -1;
    }
    int rc = PQntuples (res) == 1 ? s_stream_event (self, pg, user_id, PQgetvalue (res, 0, 0), events, why, whylen) : 0;
    PQclear (res);
    return rc;
}

//  Send one batch of events on BATCH_TOPIC. A lost message is not lost
//  for the streams: each user's next event shows the gap and the gateway
//  fetches it from sync_events.
static void
s_send_batch (zsock_t *pub, mg_sync_event_t *batch, size_t count)
{
    mg_sync_event_batch_t message = { .events = batch, .events_count = count };
    char reason [MG_MSG_ERR_LEN];
    if (pub && mg_actor_publish (pub, BATCH_TOPIC, &mg_sync_event_batch_desc, &message, reason, sizeof reason))
        mg_warn ("notification events not published", "events=%zu reason=\"%s\"", count, reason);
}

void
alerts_publish (zsock_t *pub, zlist_t *events)
{
    //  A share's events go out a batch at a time, not one message each:
    //  the proxy, every gateway thread and the bench handle each message
    //  on the bus in full (a wake, CURVE both ways), which for a thousand
    //  watchers was tens of milliseconds of one core between the first
    //  and the last event (docs/benchmarks.md).
    mg_sync_event_t batch [BATCH_EVENTS];
    s_event_t *taken [BATCH_EVENTS];
    while (zlist_size (events)) {
        size_t count = 0, bytes = 0;
        s_event_t *event;
        while (count < BATCH_EVENTS && (event = zlist_first (events))
           &&  (count == 0 || bytes + strlen (event->data) <= BATCH_BYTES)) {
            zlist_pop (events);
            bytes += strlen (event->data);
            batch [count] = (mg_sync_event_t) {
                .user_id = event->user_id, .id = event->id, .has_id = true, .type = EVENT_TYPE, .data = event->data,
            };
            taken [count++] = event;
        }
        s_send_batch (pub, batch, count);
        for (size_t i = 0; i < count; i++) {
            free (taken [i]->data);
            free (taken [i]);
        }
    }
}
