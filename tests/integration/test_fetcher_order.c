/*  The fetcher's scheduler refreshes what users see first: an availability
    sweep starts with the most popular titles, then titles on someone's
    watchlist, then the rest in catalog order. And it takes popularity
    snapshots (trending's windows rank by their change), dropping those
    older than the retention.

    A scratch catalog of six titles of the bundled catalog (the simulator
    serves them) with popularities and content ids chosen so that catalog
    (id) order is not popularity order; one transfer at a time, so the order
    the records are queued in (ingest_jobs ids) is the order of the fetches.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_msg.h"
#include "mg_pg.h"
#include "mg_test.h"

#define REDIS_DB      11            //  the fetcher's leases and cache here, flushed first
#define WAIT_MS       60000         //  a loaded machine queues six titles well within this
#define SIM_UP_MS     60000         //  the simulator loads the bundled catalog within this

#define ID(x) "00000000-0000-4000-8000-00000000000" x

typedef struct {
    char url [512];
    char redis [256];
    mg_test_env_t env;
    PGconn *admin;
    PGconn *pg;
    pid_t broker, indexer, sim, fetcher;
    int sim_port;
} fixture_t;

//  Titles (TMDB id, popularity): catalog order is a..f; popularity order
//  is b, e, c, a, d, f; f alone is on a watchlist.
static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, popularity, checksum) VALUES "
    "('" ID ("a") "', 'movie', 'Four Rooms', 10, '\\x00'), "
    "('" ID ("b") "', 'movie', 'Star Wars', 90, '\\x00'), "
    "('" ID ("c") "', 'movie', 'Finding Nemo', 50, '\\x00'), "
    "('" ID ("d") "', 'movie', 'Forrest Gump', 5, '\\x00'), "
    "('" ID ("e") "', 'movie', 'American Beauty', 70, '\\x00'), "
    "('" ID ("f") "', 'movie', 'Dancer in the Dark', 1, '\\x00')",
    "INSERT INTO external_ids (content_id, source, value) VALUES "
    "('" ID ("a") "', 'tmdb', '5'), ('" ID ("b") "', 'tmdb', '11'), ('" ID ("c") "', 'tmdb', '12'), "
    "('" ID ("d") "', 'tmdb', '13'), ('" ID ("e") "', 'tmdb', '14'), ('" ID ("f") "', 'tmdb', '16')",
    "INSERT INTO users (id, email, password_hash) VALUES "
    "('00000000-0000-4000-8000-0000000000aa', 'order@example.com', 'x')",
    //  A live watchlist entry holds an add tag; a removed one only a tombstone.
    "INSERT INTO sync_state (user_id, key, state) VALUES ('00000000-0000-4000-8000-0000000000aa', 'state', "
    "'{\"watchlist\": {\"" ID ("f") "\": {\"tags\": {\"op1\": \"0000000001-0000-dev\"}, \"dead\": {}}, "
    "                  \"" ID ("d") "\": {\"tags\": {}, \"dead\": {\"op2\": \"0000000002-0000-dev\"}}}, "
    "  \"progress\": {}, \"preferences\": {}}')",
    //  A snapshot older than the retention, dropped by the next one.
    "INSERT INTO popularity_snapshots (taken_at, content_id, popularity) VALUES "
    "(now () - interval '9 days', '" ID ("a") "', 3)",
};

//  Flush the fetcher's Redis database (leases of an earlier run would hold the jobs).
static void
s_flush_redis (void)
{
    const char *url = getenv ("MG_REDIS_URL");
    int port = 6379;
    const char *colon = url ? strrchr (url, ':') : NULL;
    if (colon && strncmp (url, "redis://", 8) == 0 && colon > url + 8)
        port = atoi (colon + 1);
    redisContext *c = redisConnect ("127.0.0.1", port);
    assert_true (c && !c->err);
    redisReply *r = redisCommand (c, "SELECT %d", REDIS_DB);
    freeReplyObject (r);
    r = redisCommand (c, "FLUSHDB");
    assert_non_null (r);
    freeReplyObject (r);
    redisFree (c);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    char err [256];
    f->admin = mg_test_scratch_db ("mg_fetcher_order", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    const char *redis = getenv ("MG_REDIS_URL");
    snprintf (f->redis, sizeof f->redis, "%s/%d", redis ? redis : "redis://127.0.0.1:6379", REDIS_DB);
    s_flush_redis ();
    mg_test_env_init (&f->env, f->url);
    f->sim_port = mg_test_free_port ();
    char sim_env [2][700];
    snprintf (sim_env [0], sizeof sim_env [0], "MG_SIM_PORT=%d", f->sim_port);
    snprintf (sim_env [1], sizeof sim_env [1], "MG_SIM_CATALOG=%s/data/catalog.jsonl.gz", MG_SOURCE_DIR);
    const char *sim_envp [] = { sim_env [0], sim_env [1], NULL };
    f->sim = mg_test_spawn ("mg-provider-sim", sim_envp);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    //  The indexer migrates the scratch database, then registers.
    if (mg_test_wait_service (f->env.endpoint, "indexer", 15000))
        return -1;
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    if (!f->pg)
        return -1;
    for (size_t i = 0; i < sizeof s_fixtures / sizeof s_fixtures [0]; i++) {
        PGresult *res = PQexec (f->pg, s_fixtures [i]);
        int ok = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf (stderr, "fixture %zu: %s", i, PQresultErrorMessage (res));
        PQclear (res);
        if (!ok)
            return -1;
    }
    //  The simulator answers once its catalog is loaded (seconds on a
    //  loaded machine); the fetcher must not start before, or its first
    //  titles become dead letters.
    int64_t until = mg_test_now_ms () + SIM_UP_MS;
    mg_http_reply_t reply = { 0 };
    bool up = false;
    while (!up && mg_test_now_ms () < until) {
        up = mg_http_request (f->sim_port, "GET", "/_sim/stats", "", NULL, &reply, 1000) == 0
          && reply.status == 200;
        mg_http_reply_free (&reply);
        if (!up)
            usleep (50 * 1000);
    }
    return up ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    if (f->fetcher > 0)
        mg_test_stop (f->fetcher, SIGTERM);
    if (f->indexer > 0)
        mg_test_stop (f->indexer, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    if (f->sim > 0)
        mg_test_stop (f->sim, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  First value of sql as a long (-1 for none or NULL).
static long
s_scalar (fixture_t *f, const char *sql)
{
    PGresult *res = PQexec (f->pg, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long v = PQntuples (res) && !PQgetisnull (res, 0, 0) ? atol (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    return v;
}

//  Wait until sql gives at least want; returns what it last gave.
static long
s_wait_scalar (fixture_t *f, const char *sql, long want)
{
    int64_t until = mg_test_now_ms () + WAIT_MS;
    long v;
    while ((v = s_scalar (f, sql)) < want && mg_test_now_ms () < until)
        usleep (100 * 1000);
    return v;
}

//  Start the fetcher with only the availability sweep and the popularity
//  snapshot scheduled, the simulator as every provider, no quotas, and
//  extra settings (NULL-terminated; may be NULL).
static void
s_start_fetcher (fixture_t *f, const char *const *extra)
{
    char text [16][600];
    const char *envp [64];
    int n = 0;
    for (int i = 0; f->env.envp [i] && n < 40; i++)
        envp [n++] = f->env.envp [i];
    int t = 0;
    snprintf (text [t++], sizeof text [0], "MG_REDIS_URL=%s", f->redis);
    snprintf (text [t++], sizeof text [0], "MG_TMDB_BASE_URL=http://127.0.0.1:%d/tmdb/3", f->sim_port);
    snprintf (text [t++], sizeof text [0], "MG_SA_BASE_URL=http://127.0.0.1:%d/sa", f->sim_port);
    snprintf (text [t++], sizeof text [0], "MG_WATCHMODE_BASE_URL=http://127.0.0.1:%d/watchmode/v1", f->sim_port);
    snprintf (text [t++], sizeof text [0], "MG_YOUTUBE_BASE_URL=http://127.0.0.1:%d/youtube/v3", f->sim_port);
    for (int i = 0; i < t; i++)
        envp [n++] = text [i];
    static const char *const fixed [] = {
        "TMDB_API_KEY=tmdbkey", "SA_API_KEY=sakey", "WATCHMODE_API_KEY=wmkey", "YOUTUBE_API_KEYS=yt1",
        "MG_FETCHER_SCHEDULE=1", "MG_FETCHER_CATALOG_EVERY_S=0", "MG_FETCHER_EXPIRING_EVERY_S=0",
        "MG_FETCHER_AVAILABILITY_EVERY_S=3600", "MG_FETCHER_POPULARITY_EVERY_S=3600",
        "MG_FETCHER_SWEEP_FIRST=2", "MG_FETCHER_CONCURRENCY=1",
        "MG_FETCHER_TMDB_PER_S=0", "MG_FETCHER_SA_PER_MIN=0", NULL
    };
    for (int i = 0; fixed [i]; i++)
        envp [n++] = fixed [i];
    for (int i = 0; extra && extra [i] && n < 63; i++)
        envp [n++] = extra [i];
    envp [n] = NULL;
    f->fetcher = mg_test_spawn ("mg-fetcher", envp);
    assert_true (f->fetcher > 0);
}

static void
test_a_sweep_refreshes_popular_then_watchlisted_titles_first (void **state)
{
    fixture_t *f = *state;
    s_start_fetcher (f, NULL);
    //  The sweep queues the first titles (b, e, then the watchlisted f),
    //  then all six in catalog order: nine records.
    const char *count = "SELECT count (*) FROM ingest_jobs WHERE source = 'tmdb'";
    assert_true (s_wait_scalar (f, count, 9) >= 9);
    PGresult *res = PQexec (f->pg, "SELECT source_id FROM ingest_jobs "
                                   "WHERE source = 'tmdb' ORDER BY id");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    char order [128] = "";
    for (int i = 0; i < PQntuples (res); i++) {
        size_t used = strlen (order);
        snprintf (order + used, sizeof order - used, "%s%s", i ? " " : "", PQgetvalue (res, i, 0));
    }
    PQclear (res);
    //  Star Wars (90) and American Beauty (70), then Dancer in the Dark
    //  (watchlisted, least popular), before Four Rooms, Finding Nemo and
    //  Forrest Gump (whose watchlist entry was removed).
    assert_string_equal (order, "11 14 16 5 11 12 13 14 16");
}

static void
test_a_popularity_snapshot_is_taken_and_old_ones_dropped (void **state)
{
    fixture_t *f = *state;
    if (f->fetcher <= 0)
        s_start_fetcher (f, NULL);
    //  Every title with a popularity, in one snapshot.
    const char *recent = "SELECT count (*) FROM popularity_snapshots WHERE taken_at > now () - interval '1 hour'";
    assert_int_equal (s_wait_scalar (f, recent, 6), 6);
    assert_int_equal (s_scalar (f, "SELECT count (DISTINCT taken_at) FROM popularity_snapshots"), 1);
    assert_int_equal (s_scalar (f, "SELECT popularity FROM popularity_snapshots WHERE content_id = '" ID ("b") "'"), 90);
}

//  Set the simulator's latency for one provider (ms).
static void
s_sim_latency (fixture_t *f, const char *provider, int ms)
{
    char body [96];
    snprintf (body, sizeof body, "{\"ms\": %d, \"provider\": \"%s\"}", ms, provider);
    mg_http_reply_t reply = { 0 };
    assert_int_equal (mg_http_request (f->sim_port, "POST", "/_sim/latency", "", body, &reply, 5000), 0);
    assert_int_equal (reply.status, 200);
    mg_http_reply_free (&reply);
}

//  A run's first titles are queued as soon as they are complete, not
//  when its last title is: with Streaming Availability answering after
//  SA_LATENCY_MS and one transfer at a time, the sweep's first run (Star
//  Wars, American Beauty, Dancer in the Dark) takes three of those; Star
//  Wars, with its offers and trailer, must reach the pipeline while
//  American Beauty still waits for its answer. (A run that held its
//  records until its end queued all three together, SA_LATENCY_MS after
//  the third call: the top of a page waited for the page's tail.)
#define SA_LATENCY_MS 10000

//  The record of the one job queued after job before for TMDB id tmdb,
//  decoded from the msgpack the queue stores.
static void
s_queued_record (fixture_t *f, long before, const char *tmdb, mg_raw_record_t *record)
{
    char after [24];
    snprintf (after, sizeof after, "%ld", before);
    const char *params [2] = { after, tmdb };
    PGresult *res = PQexecParams (f->pg, "SELECT record FROM ingest_jobs WHERE id > $1::bigint "
                                  "AND source = 'tmdb' AND source_id = $2", 2, NULL, params, NULL, NULL, 1);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    char reason [MG_MSG_ERR_LEN];
    int rc = mg_msg_decode (&mg_raw_record_desc, (const uint8_t *) PQgetvalue (res, 0, 0),
                            (size_t) PQgetlength (res, 0, 0), record, reason, sizeof reason);
    PQclear (res);
    if (rc)
        fail_msg ("queued record: %s", reason);
}

//  A fresh fetcher (no lease, and no cached answer to spare the calls)
//  whose Streaming Availability answers take SA_LATENCY_MS. Returns the
//  last ingest_jobs id before it started.
static long
s_restart_with_slow_sa (fixture_t *f)
{
    if (f->fetcher > 0)
        mg_test_stop (f->fetcher, SIGTERM);
    f->fetcher = 0;
    s_flush_redis ();
    long before = s_scalar (f, "SELECT coalesce (max (id), 0) FROM ingest_jobs");
    s_sim_latency (f, "sa", SA_LATENCY_MS);
    static const char *const extra [] = { "MG_FETCHER_TIMEOUT_MS=60000", NULL };
    s_start_fetcher (f, extra);
    return before;
}

static void
test_a_run_queues_its_first_titles_before_its_tail (void **state)
{
    fixture_t *f = *state;
    long before = s_restart_with_slow_sa (f);
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM ingest_jobs WHERE id > %ld "
              "AND source = 'tmdb' AND source_id = '11'", before);
    //  Three SA answers, the fetcher's start and a loaded machine: well
    //  within this.
    int64_t until = mg_test_now_ms () + WAIT_MS + 3 * SA_LATENCY_MS;
    while (s_scalar (f, sql) < 1 && mg_test_now_ms () < until)
        usleep (100 * 1000);
    snprintf (sql, sizeof sql, "SELECT string_agg (source_id, ' ' ORDER BY id) FROM ingest_jobs "
              "WHERE id > %ld AND source = 'tmdb'", before);
    PGresult *res = PQexec (f->pg, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    char queued [128];
    snprintf (queued, sizeof queued, "%s", PQntuples (res) && !PQgetisnull (res, 0, 0) ? PQgetvalue (res, 0, 0) : "");
    PQclear (res);
    s_sim_latency (f, "sa", 0);
    //  Star Wars alone: American Beauty (the run's second title) is not
    //  queued yet.
    assert_string_equal (queued, "11");
    //  ... and it is complete: offers from SA and TMDB's trailer.
    mg_raw_record_t record;
    s_queued_record (f, before, "11", &record);
    assert_true (record.availability_count > 0);
    bool trailer = false;
    for (size_t i = 0; i < record.videos_count; i++)
        trailer |= record.videos [i].type && !strcmp (record.videos [i].type, "trailer");
    assert_true (trailer);
    mg_msg_clear (&mg_raw_record_desc, &record);
}

//  A fetcher asked to stop in the middle of a run, while the broker it
//  sends its records through is frozen, exits by itself: the run ends at
//  once (its titles wait for the next run) and a batch's indexer.enqueue is
//  cancelled rather than waited for (30 s, three tries). Before, the run
//  went on through its titles and the send waited out its deadline, so a
//  stop (scripts/stop, a deploy) took minutes or ended in SIGKILL.
#define STOP_BOUND_MS 10000         //  mg_test_stop's grace before it kills

static void
test_a_fetcher_stops_in_the_middle_of_a_run (void **state)
{
    fixture_t *f = *state;
    long before = s_restart_with_slow_sa (f);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM ingest_jobs WHERE id > %ld "
              "AND source = 'tmdb'", before);
    assert_true (s_wait_scalar (f, sql, 1) >= 1);     //  the run is under way
    //  The broker frozen, the providers fast again: the title in flight
    //  and the next ones finish, and their batch's send waits on a broker
    //  that does not answer.
    assert_int_equal (mg_test_signal (f->broker, SIGSTOP), 0);
    s_sim_latency (f, "sa", 0);
    usleep ((SA_LATENCY_MS + 2000) * 1000);
    int64_t asked = mg_test_now_ms ();
    int status = mg_test_stop (f->fetcher, SIGTERM);
    int64_t took = mg_test_now_ms () - asked;
    f->fetcher = 0;
    assert_int_equal (mg_test_signal (f->broker, SIGCONT), 0);
    //  Exited on its own (not killed after the bound), cleanly.
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    assert_true (took < STOP_BOUND_MS);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_sweep_refreshes_popular_then_watchlisted_titles_first),
        cmocka_unit_test (test_a_popularity_snapshot_is_taken_and_old_ones_dropped),
        cmocka_unit_test (test_a_run_queues_its_first_titles_before_its_tail),
        cmocka_unit_test (test_a_fetcher_stops_in_the_middle_of_a_run),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
