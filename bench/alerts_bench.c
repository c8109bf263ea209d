/*  mg-alerts-bench: latency of availability alerts, to the SSE stream.

    mg-alerts-bench USERS ROUNDS HTTP_PORT

    Seeds USERS users whose watchlist holds one title and whose services
    and region match the offer the rounds announce, each with one device
    (users, their sync state and devices written straight to PostgreSQL:
    the bench measures alerts, not sign-ups), and an access token for each
    signed here as accounts signs one at login (HS256 over {sub, tier, iat,
    exp} with the run's MG_JWT_SECRET / MG_JWT_SECRET_FILE). Opens one
    authenticated SSE stream per user (GET /api/v1/sync/stream, X-Device-Id)
    through the gateway on HTTP_PORT, all read by one libevent loop on a
    thread of its own, and also subscribes to "sync." on the event proxy
    (MG_EVENTS) as every gateway thread does. Then ROUNDS times sends the
    title with a new offer window to indexer.apply (MG_BROKER) and takes,
    for every user, the time from sending the apply to
      - the user's "event: notification" read from its SSE stream (the end
        point: availability change -> SSE notification), and
      - the user's notification event arriving on the bus subscription
        (alone on sync.<user_id>, or in a sync.batch message with other
        users' events): what the gateway starts from;
    and their difference per user, the gateway's hop (its receive, fan-out
    and write, and this client's read). Prints p50/p95/p99 of each over
    USERS x ROUNDS notifications and the counts, and per change (median
    over the rounds) when the indexer answered the apply (its transaction
    committed, availability.changed published), when the first and when the
    last user's event arrived on the bus and on the streams.  */
#include "bench_sse.h"
#include "mg_client.h"
#include "mg_curve.h"
#include "mg_jwt.h"
#include "mg_msg.h"

#include <czmq.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_WAIT_MS  30000        //  a round's notifications must all arrive by then
#define PAUSE_MS       200          //  between rounds: no queueing measured
#define APPLY_TTL_MS   30000
#define BATCH_TOPIC    "sync.batch" //  several users' events in one message (actors/alerts/notify.c)
#define OPEN_WAIT_MS   60000        //  the streams must all be open by then
#define TOKEN_TTL_S    3600         //  the tokens outlive any run (a stream ends when its token expires)
#define TIER           "free"       //  the tier accounts gives a new account

typedef struct {
    char id [37];                   //  user id
    char device [37];
    char token [MG_JWT_MAX_LEN];
} s_user_t;

//  One user's stream; the line callback gets it (sse first).
typedef struct {
    bench_sse_t sse;
    int user;
    bool notification;              //  the last "event:" line said notification
} s_stream_t;

//  What the stream thread and the main thread share, under lock: the
//  round under way and when each user's notification came on its stream.
static struct {
    pthread_mutex_t lock;
    char entity [37];
    char window [40];               //  the round's offer window ("" between rounds)
    int64_t *sse_at;                //  [users] arrival of the round's notification (0: not yet)
    int seen;                       //  of the round
} s_round = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_int s_open_streams;
static atomic_long s_stream_failures;
static atomic_bool s_done;

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
    qsort (values, n, sizeof *values, bench_cmp_i64);
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

//  A line of a stream's body: an "event:" line names the next data's type;
//  the data of a notification of this round's window is noted (once per
//  user and round).
static void
s_on_line (bench_sse_t *sse, const char *line)
{
    s_stream_t *stream = (s_stream_t *) sse;
    if (strncmp (line, "event: ", 7) == 0) {
        stream->notification = strcmp (line + 7, "notification") == 0;
        return;
    }
    if (strncmp (line, "data: ", 6) != 0)
        return;
    bool notification = stream->notification;
    stream->notification = false;
    if (!notification || !strstr (line, s_round.entity))
        return;
    int64_t now = zclock_usecs ();
    pthread_mutex_lock (&s_round.lock);
    if (s_round.window [0] && strstr (line, s_round.window) && s_round.sse_at [stream->user] == 0) {
        s_round.sse_at [stream->user] = now;
        s_round.seen++;
    }
    pthread_mutex_unlock (&s_round.lock);
}

//  The stream thread: the libevent loop that reads every stream.
static void *
s_streams_run (void *arg)
{
    event_base_dispatch (arg);
    return NULL;
}

//  Users' ids in order, for the index of a bus event's user.
static int
s_cmp_user (const void *a, const void *b)
{
    return strcmp (((const s_user_t *) a)->id, ((const s_user_t *) b)->id);
}

//  The index of user_id among users (sorted by id), -1 when not ours.
static int
s_user_index (const s_user_t *users, int count, const char *user_id)
{
    s_user_t key;
    snprintf (key.id, sizeof key.id, "%s", user_id);
    const s_user_t *found = bsearch (&key, users, (size_t) count, sizeof *users, s_cmp_user);
    return found ? (int) (found - users) : -1;
}

//  Print p50/p95/p99/max of n latencies (us, sorted here) under label.
static void
s_print (const char *label, int64_t *values, size_t n)
{
    qsort (values, n, sizeof *values, bench_cmp_i64);
    if (n == 0) {
        printf ("%s: none\n", label);
        return;
    }
    printf ("%s: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n", label, bench_pct_ms (values, n, 50),
            bench_pct_ms (values, n, 95), bench_pct_ms (values, n, 99), values [n - 1] / 1000.0);
}

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: mg-alerts-bench USERS ROUNDS HTTP_PORT\n");
        return 2;
    }
    int users = atoi (argv [1]), rounds = atoi (argv [2]), port = atoi (argv [3]);
    const char *url = getenv ("MG_PG_URL"), *broker = getenv ("MG_BROKER"), *events = getenv ("MG_EVENTS");
    if (users < 1 || rounds < 1 || port < 1 || !url || !broker || !events) {
        fprintf (stderr, "mg-alerts-bench: USERS, ROUNDS, HTTP_PORT >= 1; MG_PG_URL, MG_BROKER and MG_EVENTS set\n");
        return 2;
    }
    uint8_t key [MG_JWT_SECRET_MAX];
    size_t key_len = 0;
    char reason [MG_MSG_ERR_LEN];
    if (mg_jwt_secret_load ("MG_JWT_SECRET", key, &key_len, reason, sizeof reason)) {
        fprintf (stderr, "mg-alerts-bench: no JWT secret to sign tokens with (MG_JWT_SECRET or MG_JWT_SECRET_FILE)\n");
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
    snprintf (s_round.entity, sizeof s_round.entity, "%s", entity);
    s_apply (client, entity, true, "2099-01-01T00:00:00Z");
    char count [16];
    snprintf (count, sizeof count, "%d", users);
    res = s_sql (pg,
        "WITH u AS (INSERT INTO users (email, password_hash) "
        "  SELECT 'alerts-bench-' || g || '-' || $2 || '@example.com', 'none' FROM generate_series (1, $1::int) g RETURNING id), "
        "s AS (INSERT INTO sync_state (user_id, key, state) SELECT u.id, 'state', jsonb_build_object ("
        "  'watchlist', jsonb_build_object ($2, jsonb_build_object ('tags', jsonb_build_object ('bench', '000000000001-00000000-00000000'), 'dead', '{}'::jsonb)), "
        "  'progress', '{}'::jsonb, "
        "  'preferences', jsonb_build_object ("
        "    'services', jsonb_build_object ('value', jsonb_build_array ('netflix'), 'hlc', '000000000001-00000000-00000000'), "
        "    'region', jsonb_build_object ('value', 'GB', 'hlc', '000000000001-00000000-00000000'))) FROM u), "
        "d AS (INSERT INTO devices (user_id, name) SELECT u.id, 'bench' FROM u RETURNING user_id, id) "
        "SELECT user_id::text, id::text FROM d ORDER BY user_id",
        2, (const char *const []) { count, entity });
    s_user_t *list = calloc ((size_t) users, sizeof *list);
    s_stream_t *streams = calloc ((size_t) users, sizeof *streams);
    s_round.sse_at = calloc ((size_t) users, sizeof (int64_t));
    if (!list || !streams || !s_round.sse_at || PQntuples (res) != users)
        return 1;
    mg_jwt_claims_t claims = { .iat = (int64_t) time (NULL) };
    claims.exp = claims.iat + TOKEN_TTL_S;
    snprintf (claims.tier, sizeof claims.tier, "%s", TIER);
    for (int u = 0; u < users; u++) {
        snprintf (list [u].id, sizeof list [u].id, "%s", PQgetvalue (res, u, 0));
        snprintf (list [u].device, sizeof list [u].device, "%s", PQgetvalue (res, u, 1));
        snprintf (claims.sub, sizeof claims.sub, "%s", list [u].id);
        if (mg_jwt_sign (key, key_len, &claims, list [u].token, sizeof list [u].token))
            return 1;
    }
    PQclear (res);
    //  Sorted by id (as the query returned them): s_user_index bisects.
    qsort (list, (size_t) users, sizeof *list, s_cmp_user);

    //  One stream per user, read by the stream thread.
    struct event_base *base = event_base_new ();
    bench_stop_t *stop = base ? bench_stop_new (base, &s_done) : NULL;
    if (!stop)
        return 1;
    int64_t opening = zclock_mono ();
    for (int u = 0; u < users; u++) {
        streams [u] = (s_stream_t) { .sse = { .on_line = s_on_line, .opened = &s_open_streams,
                                              .failures = &s_stream_failures }, .user = u };
        if (bench_sse_open (base, port, list [u].token, list [u].device, &streams [u].sse)) {
            fprintf (stderr, "mg-alerts-bench: cannot open stream %d\n", u);
            return 1;
        }
    }
    pthread_t reader;
    if (pthread_create (&reader, NULL, s_streams_run, base))
        return 1;
    while (atomic_load (&s_open_streams) < users && zclock_mono () - opening < OPEN_WAIT_MS)
        zclock_sleep (10);
    fprintf (stderr, "mg-alerts-bench: %d of %d streams open in %.1f s\n", atomic_load (&s_open_streams), users,
             (double) (zclock_mono () - opening) / 1000.0);

    zclock_sleep (1000);            //  the first apply's notifications (none: nobody watched yet) are past
    zpoller_t *poller = zpoller_new (sub, NULL);
    //  MG_BENCH_TRACE=1: each change's start (monotonic, as mg-alerts'
    //  "title handled" lines) for bench/alerts_trace.awk.
    bool trace = getenv ("MG_BENCH_TRACE") && strcmp (getenv ("MG_BENCH_TRACE"), "1") == 0;
    size_t total = (size_t) users * (size_t) rounds, got = 0, got_sse = 0, got_hop = 0;
    int64_t *latency = calloc (total, sizeof *latency);
    int64_t *latency_sse = calloc (total, sizeof *latency_sse);
    int64_t *hop = calloc (total, sizeof *hop);
    int64_t *bus_at = calloc ((size_t) users, sizeof *bus_at);
    int64_t *applied = calloc ((size_t) rounds, sizeof *applied);
    int64_t *first = calloc ((size_t) rounds, sizeof *first);
    int64_t *last = calloc ((size_t) rounds, sizeof *last);
    int64_t *first_sse = calloc ((size_t) rounds, sizeof *first_sse);
    int64_t *last_sse = calloc ((size_t) rounds, sizeof *last_sse);
    if (!poller || !latency || !latency_sse || !hop || !bus_at || !applied || !first || !last || !first_sse
    ||  !last_sse)
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
        memset (bus_at, 0, (size_t) users * sizeof *bus_at);
        pthread_mutex_lock (&s_round.lock);
        memset (s_round.sse_at, 0, (size_t) users * sizeof (int64_t));
        s_round.seen = 0;
        snprintf (s_round.window, sizeof s_round.window, "%s", window);
        pthread_mutex_unlock (&s_round.lock);
        int64_t start = zclock_usecs ();
        s_apply (client, entity, false, until);
        applied [round] = zclock_usecs () - start;
        int seen = 0, seen_sse = 0;
        int64_t deadline = zclock_mono () + ROUND_WAIT_MS;
        while ((seen < users || seen_sse < users) && zclock_mono () < deadline) {
            pthread_mutex_lock (&s_round.lock);
            seen_sse = s_round.seen;
            pthread_mutex_unlock (&s_round.lock);
            zmsg_t *msg = zpoller_wait (poller, 10) ? zmsg_recv (sub) : NULL;
            if (!msg)
                continue;
            int64_t now = zclock_usecs ();
            //  One user's event on sync.<user_id>, or several users' on
            //  sync.batch (as the alerts actor publishes a commit's).
            zframe_t *topic = zmsg_first (msg), *body = zmsg_last (msg);
            bool batched = topic && zframe_streq (topic, BATCH_TOPIC);
            mg_sync_event_batch_t batch = { 0 };
            mg_sync_event_t single = { 0 };
            bool decoded = body && (batched
                ? mg_msg_decode (&mg_sync_event_batch_desc, zframe_data (body), zframe_size (body), &batch,
                                 reason, sizeof reason) == 0
                : mg_msg_decode (&mg_sync_event_desc, zframe_data (body), zframe_size (body), &single,
                                 reason, sizeof reason) == 0);
            size_t events_count = !decoded ? 0 : batched ? batch.events_count : 1;
            for (size_t i = 0; i < events_count; i++) {
                const mg_sync_event_t *event = batched ? &batch.events [i] : &single;
                int u = s_ours (event, entity, window) ? s_user_index (list, users, event->user_id) : -1;
                if (u < 0 || bus_at [u])
                    continue;
                bus_at [u] = now;
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
        //  The round is over: later arrivals of its window are not counted.
        pthread_mutex_lock (&s_round.lock);
        s_round.window [0] = '\0';
        first_sse [round] = INT64_MAX;
        last_sse [round] = 0;
        for (int u = 0; u < users; u++) {
            int64_t at = s_round.sse_at [u];
            if (!at)
                continue;
            latency_sse [got_sse++] = at - start;
            first_sse [round] = at - start < first_sse [round] ? at - start : first_sse [round];
            last_sse [round] = at - start > last_sse [round] ? at - start : last_sse [round];
            if (bus_at [u])
                hop [got_hop++] = at - bus_at [u];
        }
        seen_sse = s_round.seen;
        pthread_mutex_unlock (&s_round.lock);
        if (first_sse [round] == INT64_MAX)
            first_sse [round] = 0;
        if (trace)
            fprintf (stderr, "round start_us=%" PRId64 "\n", start);
        if (seen < users || seen_sse < users)
            fprintf (stderr, "mg-alerts-bench: change %d: %d of %d notifications on the bus, %d on the streams\n",
                     round + 1, seen, users, seen_sse);
        zclock_sleep (PAUSE_MS);
    }
    atomic_store (&s_done, true);
    pthread_join (reader, NULL);
    int still_open = atomic_load (&s_open_streams);
    printf ("mg-alerts-bench: %d users hold the title, %d changes: %zu of %zu notifications on the SSE streams, "
            "%zu on the bus; %d of %d streams open at the end\n", users, rounds, got_sse, total, got, still_open, users);
    s_print ("change -> SSE notification", latency_sse, got_sse);
    s_print ("change -> bus event", latency, got);
    s_print ("gateway hop (stream - bus, per user)", hop, got_hop);
    printf ("per change (median of %d): apply answered %.1f ms, bus first %.1f ms, last %.1f ms; "
            "streams first %.1f ms, last %.1f ms\n", rounds, s_median (applied, (size_t) rounds) / 1000.0,
            s_median (first, (size_t) rounds) / 1000.0, s_median (last, (size_t) rounds) / 1000.0,
            s_median (first_sse, (size_t) rounds) / 1000.0, s_median (last_sse, (size_t) rounds) / 1000.0);
    for (int u = 0; u < users; u++)
        bench_sse_close (&streams [u].sse);
    bench_stop_free (&stop);
    event_base_free (base);
    free (streams);
    free (list);
    free (s_round.sse_at);
    free (latency);
    free (latency_sse);
    free (hop);
    free (bus_at);
    free (applied);
    free (first);
    free (last);
    free (first_sse);
    free (last_sse);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    mg_client_destroy (&client);
    PQfinish (pg);
    return got == total && got_sse == total && still_open == users ? 0 : 1;
}
