/*  The routes: /me/notifications and /me/webhooks. Each handler checks its
    parameters, runs one statement that builds the reply as JSON in
    PostgreSQL (the shapes of alerts_notification_json and the lists), and
    fills the reply from it.  */
#include "alerts.h"
#include "mg_filters.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define WEBHOOKS_MAX   10           //  per user: each one is a call per notification
#define SECRET_LEN     64           //  whsec_ + base64 of 24 bytes, with room

//  SQL fragments of the list shapes.
#define DELIVERY_JSON \
    "jsonb_strip_nulls (jsonb_build_object ('id', d.id, 'notification_id', d.notification_id, 'state', d.state, " \
    "  'attempts', d.attempts, 'next_attempt_at', CASE WHEN d.state = 'pending' THEN alerts_time (d.next_attempt_at) END, " \
    "  'last_status', d.last_status, 'last_error', d.last_error, 'created_at', alerts_time (d.created_at), " \
    "  'delivered_at', alerts_time (d.delivered_at)))"
#define WEBHOOK_JSON \
    "jsonb_strip_nulls (jsonb_build_object ('id', w.id, 'url', w.url, 'enabled', w.enabled, " \
    "  'disabled_at', alerts_time (w.disabled_at), 'created_at', alerts_time (w.created_at)))"

//  The thread's connection, or NULL with err set.
static PGconn *
s_pg (alerts_thread_t *self, mg_error_t *err)
{
    return mg_pg_keep (&self->pg, self->shared->pg_url, "alerts database", err);
}

//  Run sql (one row, one column: the reply as JSON) and fill rep (desc)
//  from it. NULL column, or no row: NOT_FOUND with what. Returns 0 or -1.
static int
s_reply (PGconn *pg, const char *sql, int count, const char *const *params, const mg_msgdesc_t *desc, void *rep,
         const char *what, mg_error_t *err)
{
    PGresult *res = PQexecParams (pg, sql, count, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, desc->name);
        PQclear (res);
        return -1;
    }
    if (PQntuples (res) == 0 || PQgetisnull (res, 0, 0)) {
        PQclear (res);
        return mg_actor_fail (err, "NOT_FOUND", NULL, "%s", what);
    }
    json_error_t parsed;
    json_t *json = json_loads (PQgetvalue (res, 0, 0), 0, &parsed);
    PQclear (res);
    if (!desc) {
        json_decref (json);
        return 0;
    }
    char reason [256];
    int rc = json ? mg_msg_from_json (desc, json, rep, reason, sizeof reason) : -1;
    json_decref (json);
    if (rc) {
        mg_error ("reply does not fit its message", "reply=%s reason=\"%s\"", desc->name, json ? reason : parsed.text);
        return mg_actor_fail (err, "INTERNAL", NULL, "the reply could not be encoded");
    }
    return 0;
}

//  What every list route does first: the caller's id and the paging
//  (page, per_page and offset as text) checked, then the connection.
//  Returns it, or NULL with err set.
static PGconn *
s_list_start (void *state, const char *user_id, bool has_page, uint64_t page, bool has_per_page, uint64_t per_page,
              char user [37], char paging [3][24], mg_error_t *err)
{
    uint64_t p, n, offset;
    if (mg_filters_uuid (user_id, user, "user_id", err)
    ||  mg_filters_paging (has_page, page, has_per_page, per_page, &p, &n, &offset, err))
        return NULL;
    snprintf (paging [0], 24, "%" PRIu64, p);
    snprintf (paging [1], 24, "%" PRIu64, n);
    snprintf (paging [2], 24, "%" PRIu64, offset);
    return s_pg (state, err);
}

int
alerts_on_notifications (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_notifications_request_t *request = req;
    char paging [3][24], user [37];
    PGconn *pg = s_list_start (state, request->user_id, request->has_page, request->page, request->has_per_page,
                               request->per_page, user, paging, err);
    if (!pg)
        return -1;
    const char *unread = request->has_unread && request->unread ? "t" : "f";
    return s_reply (pg,
        "SELECT json_build_object ("
        "  'results', coalesce ((SELECT json_agg (x.j ORDER BY x.created_at DESC, x.id) FROM ("
        "     SELECT alerts_notification_json (n) AS j, n.created_at, n.id FROM notifications n "
        "     WHERE n.user_id = $1::uuid AND (NOT $2::boolean OR n.read_at IS NULL) "
        "     ORDER BY n.created_at DESC, n.id LIMIT $4::bigint OFFSET $5::bigint) x), '[]'), "
        "  'total', (SELECT count(*) FROM notifications WHERE user_id = $1::uuid AND (NOT $2::boolean OR read_at IS NULL)), "
        "  'unread', (SELECT count(*) FROM notifications WHERE user_id = $1::uuid AND read_at IS NULL), "
        "  'page', $3::bigint, 'per_page', $4::bigint)",
        5, P (user, unread, paging [0], paging [1], paging [2]), &mg_notifications_page_desc, rep, "", err);
}

int
alerts_on_read (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_notifications_read_request_t *request = req;
    char user [37];
    if (mg_filters_uuid (request->user_id, user, "user_id", err))
        return -1;
    //  The ids as a PostgreSQL array literal: each one checked as a UUID
    //  first, so nothing but hex digits and hyphens goes in.
    char ids [100 * 38 + 3] = "";
    if (request->ids) {
        size_t len = 0;
        ids [len++] = '{';
        for (size_t i = 0; i < request->ids_count; i++) {
            char id [37];
            if (mg_filters_uuid (request->ids [i], id, "ids", err))
                return -1;
            len += (size_t) snprintf (ids + len, sizeof ids - len, "%s%s", i ? "," : "", id);
        }
        snprintf (ids + len, sizeof ids - len, "}");
    }
    PGconn *pg = s_pg (state, err);
    if (!pg)
        return -1;
    return s_reply (pg,
        "WITH marked AS (UPDATE notifications SET read_at = now () "
        "  WHERE user_id = $1::uuid AND read_at IS NULL AND ($2::uuid[] IS NULL OR id = ANY ($2::uuid[])) RETURNING id) "
        "SELECT json_build_object ('marked', (SELECT count(*) FROM marked), "
        "  'unread', (SELECT count(*) FROM notifications WHERE user_id = $1::uuid AND read_at IS NULL) "
        "            - (SELECT count(*) FROM marked))",
        2, P (user, request->ids ? ids : NULL), &mg_notifications_read_reply_desc, rep, "", err);
}

int
alerts_on_webhooks (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_alerts_page_request_t *request = req;
    char paging [3][24], user [37];
    PGconn *pg = s_list_start (state, request->user_id, request->has_page, request->page, request->has_per_page,
                               request->per_page, user, paging, err);
    if (!pg)
        return -1;
    return s_reply (pg,
        "SELECT json_build_object ("
        "  'results', coalesce ((SELECT json_agg (x.j ORDER BY x.created_at DESC, x.id) FROM ("
        "     SELECT " WEBHOOK_JSON " AS j, w.created_at, w.id FROM webhooks w WHERE w.user_id = $1::uuid "
        "     ORDER BY w.created_at DESC, w.id LIMIT $3::bigint OFFSET $4::bigint) x), '[]'), "
        "  'total', (SELECT count(*) FROM webhooks WHERE user_id = $1::uuid), "
        "  'page', $2::bigint, 'per_page', $3::bigint)",
        4, P (user, paging [0], paging [1], paging [2]), &mg_webhooks_page_desc, rep, "", err);
}

int
alerts_on_webhook_create (void *state, const void *req, void *rep, mg_error_t *err)
{
    alerts_thread_t *self = state;
    const mg_webhook_create_request_t *request = req;
    char user [37], host [256], addr [ALERTS_ADDR_TEXT], why [256];
    int port;
    if (mg_filters_uuid (request->user_id, user, "user_id", err))
        return -1;
    if (alerts_url_check (request->url, self->shared->allow_http, self->shared->allow_private, host, sizeof host,
                          &port, addr, why, sizeof why))
        return mg_actor_fail (err, "INVALID_PARAMETER", "url", "%s", why);
    PGconn *pg = s_pg (self, err);
    if (!pg)
        return -1;
    char secret [SECRET_LEN], limit [16];
    alerts_secret_new (secret, sizeof secret);
    snprintf (limit, sizeof limit, "%d", WEBHOOKS_MAX);
    //  The count and the insert in one statement; two creations racing
    //  past the limit by one are harmless.
    int rc = s_reply (pg,
        "WITH made AS (INSERT INTO webhooks (user_id, url, secret) "
        "  SELECT $1::uuid, $2, $3 WHERE (SELECT count(*) FROM webhooks WHERE user_id = $1::uuid) < $4::int "
        "  RETURNING *) "
        "SELECT " WEBHOOK_JSON " || jsonb_build_object ('secret', w.secret) FROM made w",
        4, P (user, request->url, secret, limit), &mg_webhook_desc, rep, "", err);
    if (rc && strcmp (err->code, "NOT_FOUND") == 0) {
        mg_msg_clear (&mg_error_desc, err);
        return mg_actor_fail (err, "CONFLICT", NULL, "at most %d webhooks per user: delete one first", WEBHOOKS_MAX);
    }
    return rc;
}

int
alerts_on_webhook_delete (void *state, const void *req, void *rep, mg_error_t *err)
{
    (void) rep;
    const mg_webhook_request_t *request = req;
    char user [37], id [37];
    if (mg_filters_uuid (request->user_id, user, "user_id", err) || mg_filters_uuid (request->id, id, "id", err))
        return -1;
    PGconn *pg = s_pg (state, err);
    if (!pg)
        return -1;
    return s_reply (pg, "DELETE FROM webhooks WHERE id = $1::uuid AND user_id = $2::uuid RETURNING '{}'",
                    2, P (id, user), NULL, NULL, "no such webhook", err);
}

int
alerts_on_deliveries (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_deliveries_request_t *request = req;
    char paging [3][24], user [37], id [37];
    const char *wanted = request->state;
    if (mg_filters_uuid (request->id, id, "id", err))
        return -1;
    if (wanted && strcmp (wanted, "pending") && strcmp (wanted, "delivered") && strcmp (wanted, "dead"))
        return mg_actor_fail (err, "INVALID_PARAMETER", "state", "state must be pending, delivered or dead");
    PGconn *pg = s_list_start (state, request->user_id, request->has_page, request->page, request->has_per_page,
                               request->per_page, user, paging, err);
    if (!pg)
        return -1;
    return s_reply (pg,
        "SELECT json_build_object ("
        "  'results', coalesce ((SELECT json_agg (x.j ORDER BY x.created_at DESC, x.id) FROM ("
        "     SELECT " DELIVERY_JSON " AS j, d.created_at, d.id FROM webhook_deliveries d "
        "     WHERE d.webhook_id = w.id AND ($3::text IS NULL OR d.state = $3) "
        "     ORDER BY d.created_at DESC, d.id LIMIT $5::bigint OFFSET $6::bigint) x), '[]'), "
        "  'total', (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND ($3::text IS NULL OR d.state = $3)), "
        "  'page', $4::bigint, 'per_page', $5::bigint) "
        "FROM webhooks w WHERE w.id = $1::uuid AND w.user_id = $2::uuid",
        6, P (id, user, wanted, paging [0], paging [1], paging [2]), &mg_deliveries_page_desc, rep,
        "no such webhook", err);
}

int
alerts_on_replay (void *state, const void *req, void *rep, mg_error_t *err)
{
    alerts_thread_t *self = state;
    const mg_replay_request_t *request = req;
    char user [37], id [37], delivery [37], retry_for [16];
    if (mg_filters_uuid (request->user_id, user, "user_id", err) || mg_filters_uuid (request->id, id, "id", err)
    ||  mg_filters_uuid (request->delivery, delivery, "delivery", err))
        return -1;
    PGconn *pg = s_pg (self, err);
    if (!pg)
        return -1;
    snprintf (retry_for, sizeof retry_for, "%d", self->shared->retry_for_s);
    //  A replay is a fresh delivery of the same message (same webhook-id,
    //  so a receiver that did get it can tell), and it enables the webhook
    //  again: replaying is how a user says the receiver is fixed.
    int rc = s_reply (pg,
        "WITH hook AS (UPDATE webhooks SET enabled = true, dead_streak = 0, disabled_at = NULL "
        "  WHERE id = $1::uuid AND user_id = $2::uuid AND EXISTS "
        "    (SELECT 1 FROM webhook_deliveries WHERE id = $3::uuid AND webhook_id = $1::uuid AND state = 'dead') "
        "  RETURNING id), "
        "d AS (UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now (), "
        "  give_up_at = now () + make_interval (secs => $4::int), last_status = NULL, last_error = NULL "
        "  WHERE id = $3::uuid AND webhook_id IN (SELECT id FROM hook) RETURNING *) "
        "SELECT " DELIVERY_JSON " FROM d",
        4, P (id, user, delivery, retry_for), &mg_delivery_desc, rep, "", err);
    if (rc == 0) {
        alerts_wake (self->shared);
        return 0;
    }
    if (strcmp (err->code, "NOT_FOUND") != 0)
        return rc;
    //  Why nothing was replayed: no such delivery of the caller's, or not a dead letter.
    mg_msg_clear (&mg_error_desc, err);
    PGresult *res = PQexecParams (pg,
        "SELECT d.state FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
        "WHERE d.id = $3::uuid AND w.id = $1::uuid AND w.user_id = $2::uuid",
        3, NULL, P (id, user, delivery), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        mg_pg_fail (err, pg, res, "delivery");
        PQclear (res);
        return -1;
    }
    bool found = PQntuples (res) == 1;
    PQclear (res);
    return found ? mg_actor_fail (err, "CONFLICT", "delivery", "only a dead letter can be replayed")
                 : mg_actor_fail (err, "NOT_FOUND", NULL, "no such delivery");
}
