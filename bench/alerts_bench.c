/*  mg-alerts-bench: latency of availability alerts.

    mg-alerts-bench USERS ROUNDS

    Seeds USERS users whose watchlist holds one title and whose services
    and region match the offer the rounds announce (users and their sync
    state written straight to PostgreSQL: the bench measures alerts, not
    sign-ups), subscribes to "sync." on the event proxy (MG_EVENTS) as every
    gateway thread's SSE code does, then ROUNDS times sends the title with a
    new offer window to indexer.apply (MG_BROKER) and takes, for every user,
    the time from sending the apply to that user's notification event
    arriving on the subscription (alone on sync.<user_id>, or in a
    sync.batch message with other users' events). The gateway writes an event it receives
    to the user's open streams without another hop, so this is the
    availability change → SSE notification latency less that last write.
    Prints p50/p95/p99 over USERS x ROUNDS notifications and the count, and
    per change (median over the rounds) when the indexer answered the apply
    (its transaction committed, availability.changed published), when the
    first and when the last user's event arrived.  */
#include "mg_client.h"
#include "mg_curve.h"
#include "mg_msg.h"

#include <czmq.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_WAIT_MS  30000        //  a round's notifications must all arrive by then
#define PAUSE_MS       200          //  between rounds: no queueing measured
#define APPLY_TTL_MS   30000
#define BATCH_TOPIC    "sync.batch" //  several users' events in one message (actors/alerts/notify.c)

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

//  Run sql; exit on failure.
static PGresult *
s_sql (PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams (pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        fprintf (stderr, "mg-alerts-bench: %s\n", PQerrorMessage (pg));
        exit (1);
    }
    return res;
}

//  The median of n values (sorted in place).
static int64_t
s_median (int64_t *values, size_t n)
{
    qsort (values, n, sizeof *values, s_cmp);
    return n ? values [n / 2] : 0;
}

//  True when event is a notification of this run's title (entity; another
//  run on the same stack has its own) in the round's offer window (a late
//  one of the title's creation or of the round before is not this round's).
static bool
s_ours (const mg_sync_event_t *event, const char *entity, const char *window)
{
    return strcmp (event->type, "notification") == 0 && event->data && strstr (event->data, entity)
        && strstr (event->data, window);
}

//  Send the title (entity) with one offer ending at until to indexer.apply.
//  The indexer keys a title by its source id: each run's title has its own
//  (alerts-<entity>), else a second run's changes would land on the first
//  run's title and reach only the first run's users.
static void
s_apply (mg_client_t *client, const char *entity, bool create, const char *until)
{
    char source_id [64];
    snprintf (source_id, sizeof source_id, "alerts-%s", entity);
    mg_raw_availability_t offer = {
        .platform = "netflix", .region = "GB", .type = "subscription", .expires_at = (char *) until,
    };
    mg_raw_record_t record = {
        .source = "bench", .source_id = source_id, .title = "Alerts Bench Title", .type = "movie",
        .release_date = "2001-01-01", .availability = &offer, .availability_count = 1,
    };
    mg_apply_item_t item = { .entity = (char *) entity, .new_entity = create, .has_new_entity = true, .record = &record };
    mg_apply_request_t request = { .items = &item, .items_count = 1 };
    mg_apply_reply_t reply = { 0 };
    mg_error_t err = { 0 };
    //  The indexer may still be starting: SERVICE_UNAVAILABLE is retried.
    int64_t give_up = zclock_mono () + APPLY_TTL_MS;
    while (mg_client_call (client, "indexer.apply", &mg_apply_request_desc, &request, &mg_apply_reply_desc, &reply,
                           APPLY_TTL_MS, &err)) {
        if (strcmp (err.code, "SERVICE_UNAVAILABLE") != 0 || zclock_mono () > give_up) {
            fprintf (stderr, "mg-alerts-bench: indexer.apply: %s %s\n", err.code, err.message);
            exit (1);
        }
        mg_msg_clear (&mg_error_desc, &err);
        zclock_sleep (200);
    }
    mg_msg_clear (&mg_apply_reply_desc, &reply);
}

int
main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: mg-alerts-bench USERS ROUNDS\n");
        return 2;
    }
    int users = atoi (argv [1]), rounds = atoi (argv [2]);
    const char *url = getenv ("MG_PG_URL"), *broker = getenv ("MG_BROKER"), *events = getenv ("MG_EVENTS");
    if (users < 1 || rounds < 1 || !url || !broker || !events) {
        fprintf (stderr, "mg-alerts-bench: USERS, ROUNDS >= 1; MG_PG_URL, MG_BROKER and MG_EVENTS set\n");
        return 2;
    }
    PGconn *pg = PQconnectdb (url);
    if (PQstatus (pg) != CONNECTION_OK) {
        fprintf (stderr, "mg-alerts-bench: %s\n", PQerrorMessage (pg));
        return 1;
    }
    mg_client_t *client = mg_client_new (broker);
    //  A CURVE client of the event proxy, as the gateway's subscription is.
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!client || !sub)
        return 1;
    //  No receive bound (set before connecting: it applies to connections
    //  made after it): a round's thousand events at once can overflow the
    //  default 1,000 on a loaded machine, and a dropped event would read as
    //  a lost notification (the gateway's streams fetch a missed event by
    //  id; the bench counts only what arrives live).
    zsock_set_rcvhwm (sub, 0);
    if (mg_curve_client (sub) || zsock_connect (sub, "%s", events))
        return 1;
    zsock_set_subscribe (sub, "sync.");
    //  The title, made through the indexer like any other.
    char entity [37];
    PGresult *res = s_sql (pg, "SELECT gen_random_uuid ()::text", 0, NULL);
    snprintf (entity, sizeof entity, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    s_apply (client, entity, true, "2099-01-01T00:00:00Z");
    char count [16];
    snprintf (count, sizeof count, "%d", users);
    PQclear (s_sql (pg,
        "WITH u AS (INSERT INTO users (email, password_hash) "
        "  SELECT 'alerts-bench-' || g || '-' || $2 || '@example.com', 'none' FROM generate_series (1, $1::int) g RETURNING id) "
        "INSERT INTO sync_state (user_id, key, state) SELECT u.id, 'state', jsonb_build_object ("
        "  'watchlist', jsonb_build_object ($2, jsonb_build_object ('tags', jsonb_build_object ('bench', '000000000001-00000000-00000000'), 'dead', '{}'::jsonb)), "
        "  'progress', '{}'::jsonb, "
        "  'preferences', jsonb_build_object ("
        "    'services', jsonb_build_object ('value', jsonb_build_array ('netflix'), 'hlc', '000000000001-00000000-00000000'), "
        "    'region', jsonb_build_object ('value', 'GB', 'hlc', '000000000001-00000000-00000000'))) FROM u",
        2, (const char *const []) { count, entity }));
    zclock_sleep (1000);            //  the first apply's notifications (none: nobody watched yet) are past
    zpoller_t *poller = zpoller_new (sub, NULL);
    //  MG_BENCH_TRACE=1: each change's start (monotonic, as mg-alerts'
    //  "title handled" lines) for bench/alerts_trace.awk.
    bool trace = getenv ("MG_BENCH_TRACE") && strcmp (getenv ("MG_BENCH_TRACE"), "1") == 0;
    size_t total = (size_t) users * (size_t) rounds, got = 0;
    int64_t *latency = calloc (total, sizeof *latency);
    int64_t *applied = calloc ((size_t) rounds, sizeof *applied);
    int64_t *first = calloc ((size_t) rounds, sizeof *first);
    int64_t *last = calloc ((size_t) rounds, sizeof *last);
    if (!latency || !applied || !first || !last)
        return 1;
    for (int round = 0; round < rounds; round++) {
        //  A new offer window each round (beyond any leaving-soon window):
        //  one new "available" notification per user.
        char until [40], window [40];
        time_t end = time (NULL) + 365 * 86400 + round * 60;
        strftime (until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", gmtime (&end));
        //  The window as a notification shows it ("offer_until", to the
        //  millisecond): a round counts its own notifications only, not a
        //  late one of the title's creation or of the round before.
        strftime (window, sizeof window, "%Y-%m-%dT%H:%M:%S.000Z", gmtime (&end));
        int64_t start = zclock_usecs ();
        s_apply (client, entity, false, until);
        applied [round] = zclock_usecs () - start;
        int seen = 0;
        int64_t deadline = zclock_mono () + ROUND_WAIT_MS;
        while (seen < users && zclock_mono () < deadline) {
            zmsg_t *msg = zpoller_wait (poller, 100) ? zmsg_recv (sub) : NULL;
            if (!msg)
                continue;
            int64_t now = zclock_usecs ();
            //  One user's event on sync.<user_id>, or several users' on
            //  sync.batch (as the alerts actor publishes a commit's).
            zframe_t *topic = zmsg_first (msg), *body = zmsg_last (msg);
            bool batched = topic && zframe_streq (topic, BATCH_TOPIC);
            mg_sync_event_batch_t batch = { 0 };
            mg_sync_event_t single = { 0 };
            char reason [MG_MSG_ERR_LEN];
            bool decoded = body && (batched
                ? mg_msg_decode (&mg_sync_event_batch_desc, zframe_data (body), zframe_size (body), &batch,
                                 reason, sizeof reason) == 0
                : mg_msg_decode (&mg_sync_event_desc, zframe_data (body), zframe_size (body), &single,
                                 reason, sizeof reason) == 0);
            size_t count = !decoded ? 0 : batched ? batch.events_count : 1;
            for (size_t i = 0; i < count; i++)
                if (s_ours (batched ? &batch.events [i] : &single, entity, window) && got < total) {
                    latency [got++] = now - start;
                    if (seen++ == 0)
                        first [round] = now - start;
                    last [round] = now - start;
                }
            if (decoded && batched)
                mg_msg_clear (&mg_sync_event_batch_desc, &batch);
            else
            if (decoded)
                mg_msg_clear (&mg_sync_event_desc, &single);
            zmsg_destroy (&msg);
        }
        if (trace)
            fprintf (stderr, "round start_us=%" PRId64 "\n", start);
        if (seen < users)
            fprintf (stderr, "mg-alerts-bench: change %d: %d of %d notifications arrived\n", round + 1, seen, users);
        zclock_sleep (PAUSE_MS);
    }
    qsort (latency, got, sizeof *latency, s_cmp);
    if (got == 0) {
        printf ("mg-alerts-bench: no notification arrived\n");
        return 1;
    }
    printf ("mg-alerts-bench: %d users hold the title, %d changes: %zu of %zu notifications arrived\n",
            users, rounds, got, total);
    printf ("change -> notification event: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n",
            latency [got / 2] / 1000.0, latency [got * 95 / 100] / 1000.0, latency [got * 99 / 100] / 1000.0,
            latency [got - 1] / 1000.0);
    printf ("per change (median of %d): apply answered %.1f ms, first event %.1f ms, last event %.1f ms\n", rounds,
            s_median (applied, (size_t) rounds) / 1000.0, s_median (first, (size_t) rounds) / 1000.0,
            s_median (last, (size_t) rounds) / 1000.0);
    free (latency);
    free (applied);
    free (first);
    free (last);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    mg_client_destroy (&client);
    PQfinish (pg);
    return got == total ? 0 : 1;
}
