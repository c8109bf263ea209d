/*  Following availability.changed. The PUB event only wakes the loop: what
    changed is read from change_log after the last sequence number handled
    (alerts_cursor), in the transaction that records the notifications and
    moves the cursor, so an event lost on the bus, a restart or a kill -9
    neither skips a change nor handles one twice. The cursor row is locked
    for that transaction: replicas take turns.  */
#include "alerts.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define STREAM       "availability.changed"
#define BATCH_MAX    "200"          //  changes per transaction: bounded lock time
#define RETRY_MS     1000           //  after a database failure

//  Handle the next batch of changes. Returns the changes handled, 0 when
//  there were none, -1 with why on failure (rolled back).
static int
s_batch (alerts_t *self, PGconn *pg, zlist_t *events, char *why, size_t whylen)
{
    int64_t started = zclock_mono ();
    PGresult *res = PQexec (pg, "BEGIN");
    bool ok = PQresultStatus (res) == PGRES_COMMAND_OK;
    PQclear (res);
    if (!ok) {
        snprintf (why, whylen, "begin: %s", PQerrorMessage (pg));
        return -1;
    }
    res = PQexecParams (pg,
        "SELECT l.seq, l.content_id FROM change_log l, "
        "  (SELECT last_seq FROM alerts_cursor FOR UPDATE) c "
        "WHERE l.stream = '" STREAM "' AND l.seq > c.last_seq ORDER BY l.seq LIMIT " BATCH_MAX,
        0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        snprintf (why, whylen, "change log: %s", PQerrorMessage (pg));
        PQclear (res);
        mg_pg_settle (pg);
        return -1;
    }
    int changes = PQntuples (res);
    int made = 0;
    zhashx_t *seen = zhashx_new ();         //  a title changed twice in a batch is matched once
    for (int row = 0; row < changes && made >= 0; row++) {
        const char *content_id = PQgetvalue (res, row, 1);
        if (zhashx_lookup (seen, content_id))
            continue;
        zhashx_insert (seen, content_id, (void *) 1);
        int n = alerts_notify_title (self, pg, content_id, events, why, whylen);
        made = n < 0 ? -1 : made + n;
    }
    zhashx_destroy (&seen);
    char last [24] = "";
    if (changes)
        snprintf (last, sizeof last, "%s", PQgetvalue (res, changes - 1, 0));
    PQclear (res);
    if (made >= 0 && changes) {
        res = PQexecParams (pg, "UPDATE alerts_cursor SET last_seq = $1::bigint", 1, NULL, P (last), NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            snprintf (why, whylen, "cursor: %s", PQerrorMessage (pg));
            made = -1;
        }
        PQclear (res);
    }
    if (made >= 0) {
        res = PQexec (pg, "COMMIT");
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            snprintf (why, whylen, "commit: %s", PQerrorMessage (pg));
            made = -1;
        }
        PQclear (res);
    }
    if (made < 0) {
        mg_pg_settle (pg);
        alerts_publish (NULL, events);      //  nothing committed: dropped, not sent
        return -1;
    }
    if (changes)
        mg_info ("availability changes handled", "changes=%d notifications=%d through=%s took_ms=%lld", changes, made,
                 last, (long long) (zclock_mono () - started));
    return changes;
}

void *
alerts_follow (void *arg)
{
    alerts_t *self = arg;
    const char *endpoint = mg_config_str ("MG_EVENTS", "tcp://127.0.0.1:5557");
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub || mg_curve_client (sub) || mg_config_connect (sub, endpoint))
        mg_error ("cannot connect to the event proxy: polling only", "endpoint=%s", endpoint);
    else
        zsock_set_subscribe (sub, STREAM);
    zsock_t *pub = mg_actor_event_publisher ();
    zlist_t *events = zlist_new ();
    PGconn *pg = NULL;
    char why [1024];
    while (!self->stop) {
        if (!alerts_pg_connected (self, &pg))
            continue;
        int rc;
        while ((rc = s_batch (self, pg, events, why, sizeof why)) > 0 && !self->stop) {
            alerts_publish (pub, events);
            alerts_wake (self);
        }
        if (rc < 0) {
            mg_warn ("availability changes not handled yet", "reason=\"%s\"", why);
            zclock_sleep (RETRY_MS);
            continue;
        }
        //  Sleep until an event (or the poll interval), then drain every
        //  event waiting: one read of change_log covers them all.
        void *socket = sub ? zsock_resolve (sub) : NULL;
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        if (socket && zmq_poll (&item, 1, self->poll_ms) > 0)
            while (zmq_poll (&item, 1, 0) > 0) {
                zmsg_t *msg = zmsg_recv (sub);
                zmsg_destroy (&msg);
            }
        else
        if (!socket)
            zclock_sleep (self->poll_ms);
    }
    PQfinish (pg);
    zlist_destroy (&events);
    zsock_destroy (&pub);
    zsock_destroy (&sub);
    return NULL;
}
