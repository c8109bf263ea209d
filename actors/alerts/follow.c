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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(...) ((const char *const []) { __VA_ARGS__ })
#define STREAM       "availability.changed"
#define BATCH_MAX    "200"          //  changes per transaction: bounded lock time
#define RETRY_MS     1000           //  after a database failure
#define LEAVING_DAYS_MAX "90"       //  the longest leaving_days a user may set
#define TRACE_LEN    512            //  one title's timings as a debug log field

//  Where the time of one title went (the debug line "title handled"):
//  microseconds of the monotonic clock (zclock_usecs), which other
//  processes on the same host read alike (bench/alerts_trace.awk).
typedef struct {
    int64_t woke;                   //  the availability.changed event read (0: the poll interval)
    int64_t begun;                  //  the batch's transaction begun
    int64_t read;                   //  change_log read
    char shares [TRACE_LEN];        //  per share: statement answered, events published (ms after woke)
    size_t len;
} s_trace_t;

//  Milliseconds from origin (zclock_usecs) to now.
static double
s_since (int64_t origin)
{
    return (double) (zclock_usecs () - origin) / 1000.0;
}

//  The next share of pending (true: not read yet) whose answer has come
//  in; the first pending one when none has (or the wait failed: reading
//  it then blocks, as reading in order would). -1 when none is pending.
static int
s_next_done (PGconn **shares, const bool *pending, int count)
{
    struct pollfd fds [SHARES_MAX];
    int which [SHARES_MAX], n = 0;
    for (int share = 0; share < count; share++) {
        if (!pending [share])
            continue;
        //  An answer already read in full, or a connection that cannot be
        //  read: its result (or error) is there to take.
        if (!PQconsumeInput (shares [share]) || !PQisBusy (shares [share]))
            return share;
        fds [n] = (struct pollfd) { .fd = PQsocket (shares [share]), .events = POLLIN };
        which [n++] = share;
    }
    if (n == 0)
        return -1;
    if (poll (fds, (nfds_t) n, -1) > 0)
        for (int i = 0; i < n; i++)
            if (fds [i].revents)
                return which [i];
    return which [0];
}

//  Match the title content_id against all of its watchers at once: one
//  share of them on each share connection (autocommit: each share commits
//  on its own), each share's events published as soon as it has
//  committed, in the order the shares finish. Returns the notifications
//  made, or -1 with why (the shares that committed are kept: matching
//  again inserts nothing for them).
static int
s_title (alerts_t *self, PGconn **shares, zsock_t *pub, const char *content_id, zlist_t *events,
         s_trace_t *trace, char *why, size_t whylen)
{
    int64_t origin = trace->woke ? trace->woke : trace->begun;
    trace->len = 0;
    trace->shares [0] = 0;
    bool pending [SHARES_MAX] = { false };
    int made = 0;
    for (int share = 0; share < self->shares && made >= 0; share++)
        if (alerts_notify_send (self, shares [share], content_id, share, self->shares, false, why, whylen))
            made = -1;
        else
            pending [share] = true;
    int share;
    while ((share = s_next_done (shares, pending, self->shares)) >= 0) {
        pending [share] = false;
        char share_why [512];
        int n = alerts_notify_recv (shares [share], events, share_why, sizeof share_why);
        double answered = s_since (origin);
        alerts_publish (pub, events);
        if (trace->len < sizeof trace->shares) {
            int wrote = snprintf (trace->shares + trace->len, sizeof trace->shares - trace->len,
                                  "%s%d:%d:%.1f:%.1f", trace->len ? "," : "", share, n, answered,
                                  s_since (origin));
            trace->len += wrote > 0 ? (size_t) wrote : 0;
        }
        if (n < 0 && made >= 0)
            snprintf (why, whylen, "%s", share_why);
        made = made < 0 || n < 0 ? -1 : made + n;
    }
    if (made > 0)
        alerts_wake (self);
    return made;
}

//  Handle the next batch of changes. Returns the changes handled, 0 when
//  there were none, -1 with why on failure (the cursor not moved).
static int
s_batch (alerts_t *self, PGconn *pg, PGconn **shares, zsock_t *pub, zlist_t *events, int64_t woke,
         char *why, size_t whylen)
{
    int64_t started = zclock_mono ();
    s_trace_t trace = { .woke = woke, .begun = zclock_usecs () };
    int64_t origin = woke ? woke : trace.begun;
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
    trace.read = zclock_usecs ();
    int made = 0;
    zhashx_t *seen = zhashx_new ();         //  a title changed twice in a batch is matched once
    for (int row = 0; row < changes && made >= 0; row++) {
        const char *content_id = PQgetvalue (res, row, 1);
        if (zhashx_lookup (seen, content_id))
            continue;
        zhashx_insert (seen, content_id, (void *) 1);
        int n = s_title (self, shares, pub, content_id, events, &trace, why, whylen);
        made = n < 0 ? -1 : made + n;
        //  share:notifications:answered_ms:published_ms, all after woke_us.
        mg_debug ("title handled", "content_id=%s woke_us=%" PRId64 " begun_ms=%.1f read_ms=%.1f shares=%s",
                  content_id, origin, (double) (trace.begun - origin) / 1000.0,
                  (double) (trace.read - origin) / 1000.0, trace.shares);
    }
    zhashx_destroy (&seen);
    char last [24] = "";
    if (changes)
        snprintf (last, sizeof last, "%s", PQgetvalue (res, changes - 1, 0));
    PQclear (res);
    //  The cursor moves once every share of every title has committed: a
    //  failure or a kill -9 before this leaves the batch to be handled
    //  again, which the unique key makes insert nothing twice.
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
        return -1;
    }
    if (changes)
        mg_info ("availability changes handled", "changes=%d notifications=%d through=%s took_ms=%lld committed_ms=%.1f",
                 changes, made, last, (long long) (zclock_mono () - started), s_since (origin));
    return changes;
}

//  The sweep: offers do not announce that time passes, so every sweep_ms
//  the titles on some watchlist with an offer ending within the longest
//  leaving window are matched for "leaving" notifications. One replica
//  sweeps per interval: it claims the interval by moving
//  alerts_cursor.swept_at (one statement, so two replicas cannot both
//  claim it); the unique key would make a second sweep insert nothing
//  anyway. A sweep cut short is done again at the next interval. Returns
//  the notifications made (0 when another replica has the interval), or
//  -1 with why.
static int
s_sweep (alerts_t *self, PGconn *pg, zsock_t *pub, zlist_t *events, char *why, size_t whylen)
{
    char interval [24];
    snprintf (interval, sizeof interval, "%d", self->sweep_ms);
    PGresult *res = PQexecParams (pg,
        "UPDATE alerts_cursor SET swept_at = now () "
        "WHERE swept_at <= now () - make_interval (secs => $1::int / 1000.0) RETURNING true",
        1, NULL, P (interval), NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        snprintf (why, whylen, "sweep claim: %s", PQerrorMessage (pg));
        PQclear (res);
        return -1;
    }
    bool mine = PQntuples (res) == 1;
    PQclear (res);
    if (!mine)
        return 0;
    res = PQexec (pg,
        "SELECT DISTINCT a.content_id FROM availability a "
        "WHERE a.expires_at > now () AND a.expires_at <= now () + make_interval (days => " LEAVING_DAYS_MAX ") "
        "  AND EXISTS (SELECT 1 FROM sync_state s WHERE s.key = 'state' AND s.state->'watchlist' ? a.content_id::text)");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        snprintf (why, whylen, "sweep titles: %s", PQerrorMessage (pg));
        PQclear (res);
        return -1;
    }
    int made = 0;
    for (int row = 0; row < PQntuples (res) && made >= 0 && !self->stop; row++) {
        int n = alerts_notify_send (self, pg, PQgetvalue (res, row, 0), 0, 1, true, why, whylen);
        if (n == 0)
            n = alerts_notify_recv (pg, events, why, whylen);
        alerts_publish (pub, events);
        made = n < 0 ? -1 : made + n;
    }
    if (made >= 0)
        mg_info ("sweep done", "titles=%d notifications=%d", PQntuples (res), made);
    PQclear (res);
    if (made > 0)
        alerts_wake (self);
    return made;
}

//  True when *pg_p is connected with the matching statement prepared (a
//  new connection prepares it); false after a log line and a pause.
static bool
s_connected (alerts_t *self, PGconn **pg_p)
{
    PGconn *was = *pg_p;
    if (!alerts_pg_connected (self, pg_p))
        return false;
    char why [512];
    if (*pg_p != was
    &&  alerts_notify_prepare (*pg_p, why, sizeof why)) {
        mg_warn ("availability changes not handled yet", "reason=\"%s\"", why);
        PQfinish (*pg_p);
        *pg_p = NULL;
        zclock_sleep (RETRY_MS);
        return false;
    }
    return true;
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
    PGconn *shares [SHARES_MAX] = { NULL };
    int64_t sweep_at = zclock_mono ();      //  a start sweeps (when no replica has just done so)
    char why [1024];
    int64_t woke = 0;                       //  when the event that woke the loop was read (trace only)
    while (!self->stop) {
        bool connected = s_connected (self, &pg);
        for (int share = 0; share < self->shares && connected; share++)
            connected = s_connected (self, &shares [share]);
        if (!connected)
            continue;
        int rc;
        while ((rc = s_batch (self, pg, shares, pub, events, woke, why, sizeof why)) > 0 && !self->stop)
            woke = 0;
        woke = 0;
        if (rc < 0) {
            mg_warn ("availability changes not handled yet", "reason=\"%s\"", why);
            zclock_sleep (RETRY_MS);
            continue;
        }
        if (zclock_mono () >= sweep_at) {
            sweep_at = zclock_mono () + self->sweep_ms;
            if (s_sweep (self, pg, pub, events, why, sizeof why) < 0)
                mg_warn ("sweep not done: the next one catches up", "reason=\"%s\"", why);
        }
        //  Sleep until an event (or the poll interval, or the next sweep),
        //  then drain every event waiting: one read of change_log covers
        //  them all.
        int64_t to_sweep = sweep_at - zclock_mono ();
        long wait_ms = to_sweep < self->poll_ms ? (to_sweep > 0 ? (long) to_sweep : 0) : self->poll_ms;
        void *socket = sub ? zsock_resolve (sub) : NULL;
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        if (socket && zmq_poll (&item, 1, wait_ms) > 0) {
            woke = zclock_usecs ();
            while (zmq_poll (&item, 1, 0) > 0) {
                zmsg_t *msg = zmsg_recv (sub);
                zmsg_destroy (&msg);
            }
        }
        else
        if (!socket)
            zclock_sleep ((int) wait_ms);
    }
    for (int share = 0; share < self->shares; share++)
        PQfinish (shares [share]);
    PQfinish (pg);
    zlist_destroy (&events);
    zsock_destroy (&pub);
    zsock_destroy (&sub);
    return NULL;
}
