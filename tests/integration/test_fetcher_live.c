/*  mg-fetcher against the provider simulator, over a real broker, resolver
    and indexer: a title reaches the catalog with availability and
    trailers; each fault gives the documented behaviour (5xx retried with
    backoff, Retry-After honoured, breaker open -> half-open -> closed,
    SA -> Watchmode -> stale cache, dead letter recorded then replayed);
    YouTube keys rotate on exhaustion; ETags turn into 304s; two fetchers
    share one quota exactly (counted by the simulator).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_client.h"
#include "mg_http.h"
#include "mg_pg.h"
#include "mg_test.h"

#define REDIS_DB      9             //  the fetcher's shared state here, flushed per test
#define ENV_MAX       48
#define CALL_TTL_MS   60000
#define WAIT_MS       20000         //  the pipeline applies a queued record within this
#define MATRIX        603           //  TMDB id of The Matrix (bundled catalog)
#define HTTP_MS       5000
#define PROBE_MS      3000          //  breaker probe delay: long enough that "open" is seen open

typedef struct {
    char url [512];
    char redis [256];
    mg_test_env_t env;
    char text [ENV_MAX][600];
    const char *envp [ENV_MAX + 1];
    int count;
    int sim_port;
    PGconn *admin;
    PGconn *pg;
    pid_t broker, indexer, resolver, catalog, sim, fetcher, second, gateway;
    int http_port;
    mg_client_t *client;
} fixture_t;

//  One more setting for the fetchers of this fixture.
static void
s_env (fixture_t *f, const char *fmt, ...)
{
    assert_true (f->count < ENV_MAX);
    va_list args;
    va_start (args, fmt);
    vsnprintf (f->text [f->count], sizeof f->text [0], fmt, args);
    va_end (args);
    f->envp [f->count] = f->text [f->count];
    f->envp [++f->count] = NULL;
}

//  The stack's settings plus the fetcher's, with extra (NULL-terminated) last.
static void
s_fetcher_env (fixture_t *f, const char *const *extra)
{
    f->count = 0;
    for (int i = 0; f->env.envp [i]; i++)
        s_env (f, "%s", f->env.envp [i]);
    s_env (f, "MG_REDIS_URL=%s", f->redis);
    s_env (f, "MG_TMDB_BASE_URL=http://127.0.0.1:%d/tmdb/3", f->sim_port);
    s_env (f, "MG_SA_BASE_URL=http://127.0.0.1:%d/sa", f->sim_port);
    s_env (f, "MG_WATCHMODE_BASE_URL=http://127.0.0.1:%d/watchmode/v1", f->sim_port);
    s_env (f, "MG_YOUTUBE_BASE_URL=http://127.0.0.1:%d/youtube/v3", f->sim_port);
    s_env (f, "TMDB_API_KEY=tmdbkey");
    s_env (f, "SA_API_KEY=sakey");
    s_env (f, "WATCHMODE_API_KEY=wmkey");
    s_env (f, "YOUTUBE_API_KEYS=yt1,yt2");
    s_env (f, "MG_FETCHER_SCHEDULE=0");
    s_env (f, "MG_FETCHER_RETRY_ATTEMPTS=3");
    s_env (f, "MG_FETCHER_RETRY_BASE_MS=20");
    s_env (f, "MG_FETCHER_RETRY_CAP_MS=200");
    s_env (f, "MG_FETCHER_BREAKER_MIN_REQUESTS=4");
    s_env (f, "MG_FETCHER_BREAKER_PROBE_MS=%d", PROBE_MS);
    //  Every availability and content answer is old at once: each fetch
    //  asks the provider again (conditionally when it gave an ETag).
    s_env (f, "MG_FETCHER_TTL_AVAILABILITY_S=0");
    s_env (f, "MG_FETCHER_TTL_CONTENT_S=0");
    s_env (f, "MG_FETCHER_TTL_WATCHMODE_S=0");
    s_env (f, "MG_FETCHER_TRAILERS=always");
    s_env (f, "MG_FETCHER_TMDB_PER_S=0");
    s_env (f, "MG_FETCHER_SA_PER_MIN=0");
    for (int i = 0; extra && extra [i]; i++)
        s_env (f, "%s", extra [i]);
}

//  Flush the fetcher's Redis database.
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

//  POST/DELETE on the simulator's admin API.
static void
s_sim (fixture_t *f, const char *method, const char *path, const char *body)
{
    mg_http_reply_t reply = { 0 };
    assert_int_equal (mg_http_request (f->sim_port, method, path, "", body, &reply, HTTP_MS), 0);
    assert_true (reply.status >= 200 && reply.status < 300);
    mg_http_reply_free (&reply);
}

//  A counter of the simulator's stats for provider ("requests", ...).
static long
s_sim_stat (fixture_t *f, const char *provider, const char *name)
{
    mg_http_reply_t reply = { 0 };
    assert_int_equal (mg_http_request (f->sim_port, "GET", "/_sim/stats", "", NULL, &reply, HTTP_MS), 0);
    assert_int_equal (reply.status, 200);
    json_t *root = json_loads (reply.body, 0, NULL);
    assert_non_null (root);
    json_t *v = json_object_get (json_object_get (json_object_get (root, "providers"), provider), name);
    long n = json_is_integer (v) ? (long) json_integer_value (v) : -1;
    json_decref (root);
    mg_http_reply_free (&reply);
    return n;
}

//  Requests the simulator saw for provider with key.
static long
s_sim_by_key (fixture_t *f, const char *provider, const char *key)
{
    mg_http_reply_t reply = { 0 };
    assert_int_equal (mg_http_request (f->sim_port, "GET", "/_sim/stats", "", NULL, &reply, HTTP_MS), 0);
    json_t *root = json_loads (reply.body, 0, NULL);
    assert_non_null (root);
    json_t *v = json_object_get (json_object_get (json_object_get (json_object_get (root, "providers"),
                                 provider), "by_key"), key);
    long n = json_is_integer (v) ? (long) json_integer_value (v) : 0;
    json_decref (root);
    mg_http_reply_free (&reply);
    return n;
}

static long
s_scalar (fixture_t *f, const char *sql)
{
    PGresult *res = PQexec (f->pg, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long v = PQntuples (res) && !PQgetisnull (res, 0, 0) ? atol (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    return v;
}

//  Wait until sql gives at least want.
static long
s_wait_scalar (fixture_t *f, const char *sql, long want)
{
    int64_t until = mg_test_now_ms () + WAIT_MS;
    long v;
    while ((v = s_scalar (f, sql)) < want && mg_test_now_ms () < until)
        usleep (50 * 1000);
    return v;
}

static pid_t
s_start_fetcher (fixture_t *f, const char *const *extra)
{
    s_fetcher_env (f, extra);
    pid_t pid = mg_test_spawn ("mg-fetcher", f->envp);
    assert_true (pid > 0);
    assert_int_equal (mg_test_wait_service (f->env.endpoint, "fetcher", 15000), 0);
    return pid;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    char err [256];
    f->admin = mg_test_scratch_db ("mg_fetcher_live", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    const char *redis = getenv ("MG_REDIS_URL");
    snprintf (f->redis, sizeof f->redis, "%s/%d", redis ? redis : "redis://127.0.0.1:6379", REDIS_DB);
    s_flush_redis ();
    mg_test_env_init (&f->env, f->url);
    f->sim_port = mg_test_free_port ();
    char port [16], catalog [600];
    snprintf (port, sizeof port, "%d", f->sim_port);
    snprintf (catalog, sizeof catalog, "%s/data/catalog.jsonl.gz", MG_SOURCE_DIR);
    char sim_env [2][700];
    snprintf (sim_env [0], sizeof sim_env [0], "MG_SIM_PORT=%s", port);
    snprintf (sim_env [1], sizeof sim_env [1], "MG_SIM_CATALOG=%s", catalog);
    const char *sim_envp [] = { sim_env [0], sim_env [1], NULL };
    f->sim = mg_test_spawn ("mg-provider-sim", sim_envp);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    mg_test_wait_service (f->env.endpoint, "indexer", 15000);
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    //  The simulator answers once its catalog is loaded: seconds, and more
    //  than 15 on a loaded machine with the sanitizers.
    int64_t until = mg_test_now_ms () + 60000;
    mg_http_reply_t reply = { 0 };
    while (mg_test_now_ms () < until) {
        if (mg_http_request (f->sim_port, "GET", "/_sim/stats", "", NULL, &reply, 1000) == 0
        &&  reply.status == 200)
            break;
        mg_http_reply_free (&reply);
        usleep (50 * 1000);
    }
    mg_http_reply_free (&reply);
    f->fetcher = s_start_fetcher (f, NULL);
    mg_test_wait_service (f->env.endpoint, "resolver", 15000);
    f->http_port = mg_test_free_port ();
    char http [32];
    snprintf (http, sizeof http, "MG_HTTP_PORT=%d", f->http_port);
    const char *gateway [] = { http, "MG_HTTP_THREADS=1", NULL };
    s_fetcher_env (f, gateway);
    f->gateway = mg_test_spawn ("mg-gateway", f->envp);
    *state = f;
    return f->pg ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    mg_test_stop (f->fetcher, SIGTERM);
    if (f->second > 0)
        mg_test_stop (f->second, SIGTERM);
    mg_test_stop (f->gateway, SIGTERM);
    mg_test_stop (f->catalog, SIGTERM);
    mg_test_stop (f->resolver, SIGTERM);
    mg_test_stop (f->indexer, SIGTERM);
    mg_test_stop (f->broker, SIGTERM);
    mg_test_stop (f->sim, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  fetcher.title for tmdb; the reply in out. Returns the call's rc.
static int
s_title (fixture_t *f, long long tmdb, mg_fetcher_run_reply_t *out)
{
    mg_fetcher_title_request_t req = { .tmdb = tmdb, .has_tmdb = true };
    mg_error_t err = { 0 };
    memset (out, 0, sizeof *out);
    int rc = mg_client_call (f->client, "fetcher.title", &mg_fetcher_title_request_desc, &req,
                             &mg_fetcher_run_reply_desc, out, CALL_TTL_MS, &err);
    if (rc)
        fprintf (stderr, "fetcher.title: %s: %s\n", err.code, err.message);
    mg_msg_clear (&mg_error_desc, &err);
    return rc;
}

//  fetcher.metrics; the reply in out (caller clears).
static void
s_metrics (fixture_t *f, mg_fetcher_metrics_reply_t *out)
{
    mg_error_t err = { 0 };
    memset (out, 0, sizeof *out);
    assert_int_equal (mg_client_call (f->client, "fetcher.metrics", NULL, NULL,
                                      &mg_fetcher_metrics_reply_desc, out, 5000, &err), 0);
}

//  Breaker state of provider in a metrics reply.
static const char *
s_breaker (const mg_fetcher_metrics_reply_t *m, const char *provider)
{
    for (size_t i = 0; i < m->providers_count; i++)
        if (strcmp (m->providers [i].provider, provider) == 0)
            return m->providers [i].breaker;
    return "?";
}

static void
test_a_title_reaches_the_catalog_with_availability_and_a_youtube_trailer (void **state)
{
    fixture_t *f = *state;
    mg_fetcher_run_reply_t run;
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (run.titles, 1);
    assert_int_equal (run.queued, 1);
    assert_int_equal (run.failed, 0);
    assert_int_equal (run.stale, 0);
    //  TMDB details, SA availability, a YouTube search.
    assert_int_equal (run.calls, 3);
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM external_ids WHERE source = 'tmdb' AND value = '%d'", MATRIX);
    assert_int_equal (s_wait_scalar (f, sql, 1), 1);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM availability a JOIN external_ids e ON e.content_id = a.content_id"
              " AND e.source = 'tmdb' AND e.value = '%d' WHERE NOT a.stale", MATRIX);
    assert_true (s_wait_scalar (f, sql, 1) >= 1);
    //  GET /api/v1/content/{id} (catalog.content) shows the trailers.
    PGresult *res = PQexec (f->pg, "SELECT content_id FROM external_ids WHERE source = 'tmdb' AND value = '603'");
    assert_int_equal (PQntuples (res), 1);
    mg_content_request_t req = { .id = strdup (PQgetvalue (res, 0, 0)) };
    PQclear (res);
    mg_content_details_t details;
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "catalog.content", &mg_content_request_desc, &req,
                                      &mg_content_details_desc, &details, 5000, &err), 0);
    bool youtube = false;
    for (size_t i = 0; i < details.videos_count; i++)
        youtube = youtube || strcmp (details.videos [i].site, "youtube") == 0;
    assert_true (youtube);
    assert_true (details.videos_count >= 2);
    mg_msg_clear (&mg_content_details_desc, &details);
    mg_msg_clear (&mg_content_request_desc, &req);
    assert_int_equal (s_sim_by_key (f, "sa", "sakey"), 1);
}

static void
test_5xx_is_retried_and_a_retry_after_is_waited_for (void **state)
{
    fixture_t *f = *state;
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    s_sim (f, "POST", "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"503\",\"rate\":1,\"count\":2}");
    mg_fetcher_run_reply_t run;
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (run.queued, 1);
    assert_int_equal (s_sim_stat (f, "tmdb", "requests"), 3);
    //  A 429 asking for 1 s: the retry comes no sooner (backoff alone is <= 200 ms here).
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    s_sim (f, "POST", "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"429\",\"rate\":1,\"count\":1,\"retry_after\":1}");
    int64_t start = mg_test_now_ms ();
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_true (mg_test_now_ms () - start >= 1000);
    assert_int_equal (run.queued, 1);
    assert_int_equal (s_sim_stat (f, "tmdb", "requests"), 2);
}

static void
test_breaker_opens_falls_back_to_watchmode_then_probes_and_closes (void **state)
{
    fixture_t *f = *state;
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    s_sim (f, "POST", "/_sim/faults", "{\"provider\":\"sa\",\"fault\":\"500\",\"rate\":1}");
    //  Two titles, three SA attempts each: the breaker opens at 4 failures.
    mg_fetcher_run_reply_t run;
    for (int i = 0; i < 2; i++) {
        assert_int_equal (s_title (f, MATRIX, &run), 0);
        assert_int_equal (run.queued, 1);
        assert_int_equal (run.stale, 0);        //  Watchmode answered
    }
    long sa_calls = s_sim_stat (f, "sa", "requests");
    assert_true (sa_calls >= 4 && sa_calls <= 6);
    assert_true (s_sim_stat (f, "watchmode", "requests") >= 1);
    mg_fetcher_metrics_reply_t m;
    s_metrics (f, &m);
    assert_string_equal (s_breaker (&m, "sa"), "open");
    mg_msg_clear (&mg_fetcher_metrics_reply_desc, &m);
    //  While open, SA is not called at all.
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (s_sim_stat (f, "sa", "requests"), sa_calls);
    //  SA recovers; after the probe delay one probe closes the breaker.
    s_sim (f, "DELETE", "/_sim/faults", NULL);
    usleep ((PROBE_MS + 100) * 1000);
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (s_sim_stat (f, "sa", "requests"), sa_calls + 1);
    s_metrics (f, &m);
    assert_string_equal (s_breaker (&m, "sa"), "closed");
    mg_msg_clear (&mg_fetcher_metrics_reply_desc, &m);
}

static void
test_both_availability_providers_down_serve_the_last_cached_value_as_stale (void **state)
{
    fixture_t *f = *state;
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    mg_fetcher_run_reply_t run;
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (run.stale, 0);
    s_sim (f, "POST", "/_sim/faults", "{\"provider\":\"sa\",\"fault\":\"malformed\",\"rate\":1}");
    s_sim (f, "POST", "/_sim/faults", "{\"provider\":\"watchmode\",\"fault\":\"503\",\"rate\":1}");
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (run.queued, 1);
    assert_int_equal (run.stale, 1);
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM availability a JOIN external_ids e ON e.content_id = a.content_id"
              " AND e.source = 'tmdb' AND e.value = '%d' WHERE a.stale", MATRIX);
    assert_true (s_wait_scalar (f, sql, 1) >= 1);
    s_sim (f, "DELETE", "/_sim/faults", NULL);
}

static void
test_a_title_that_keeps_failing_is_a_dead_letter_until_replayed (void **state)
{
    fixture_t *f = *state;
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    PQclear (PQexec (f->pg, "DELETE FROM dead_letters"));
    s_sim (f, "POST", "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"truncated\",\"rate\":1}");
    mg_fetcher_run_reply_t run;
    assert_int_equal (s_title (f, 13, &run), 0);
    assert_int_equal (run.failed, 1);
    assert_int_equal (run.queued, 0);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM dead_letters WHERE provider = 'tmdb' AND replayed_at IS NULL"), 1);
    assert_int_equal (s_scalar (f, "SELECT attempts FROM dead_letters"), 3);
    mg_fetcher_metrics_reply_t m;
    s_metrics (f, &m);
    assert_int_equal (m.dead_letters, 1);
    mg_msg_clear (&mg_fetcher_metrics_reply_desc, &m);
    //  The gateway's /metrics shows it, with every provider's breaker.
    mg_http_reply_t scrape = { 0 };
    int64_t until = mg_test_now_ms () + 10000;
    do {
        mg_http_reply_free (&scrape);
        assert_int_equal (mg_http_request (f->http_port, "GET", "/metrics", "", NULL, &scrape, HTTP_MS) == 0
                          || mg_test_now_ms () < until, true);
        if (!scrape.body || !strstr (scrape.body, "mg_fetcher_dead_letters"))
            usleep (100 * 1000);
    } while ((!scrape.body || !strstr (scrape.body, "mg_fetcher_dead_letters")) && mg_test_now_ms () < until);
    assert_int_equal (scrape.status, 200);
    assert_non_null (strstr (scrape.body, "mg_fetcher_dead_letters 1\n"));
    assert_non_null (strstr (scrape.body, "mg_fetcher_breaker_state{provider=\"tmdb\",state=\"closed\"} 0\n"));
    assert_non_null (strstr (scrape.body, "mg_fetcher_breaker_state{provider=\"sa\""));
    assert_non_null (strstr (scrape.body, "mg_fetcher_failures_total{provider=\"tmdb\"}"));
    mg_http_reply_free (&scrape);
    s_sim (f, "DELETE", "/_sim/faults", NULL);
    mg_fetcher_replay_request_t req = { 0 };
    mg_fetcher_run_reply_t replay = { 0 };
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "fetcher.replay", &mg_fetcher_replay_request_desc, &req,
                                      &mg_fetcher_run_reply_desc, &replay, CALL_TTL_MS, &err), 0);
    assert_int_equal (replay.replayed, 1);
    assert_int_equal (replay.queued, 1);
    s_metrics (f, &m);
    assert_int_equal (m.dead_letters, 0);
    mg_msg_clear (&mg_fetcher_metrics_reply_desc, &m);
    assert_int_equal (s_wait_scalar (f, "SELECT count(*) FROM external_ids WHERE source = 'tmdb' AND value = '13'", 1), 1);
}

static void
test_youtube_keys_rotate_when_one_is_exhausted_and_etags_give_304 (void **state)
{
    fixture_t *f = *state;
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    //  yt1 refuses as spent: the pool moves on to yt2 for good.
    s_sim (f, "POST", "/_sim/faults", "{\"provider\":\"youtube\",\"fault\":\"quota\",\"rate\":1,\"count\":1}");
    mg_fetcher_run_reply_t run;
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (run.queued, 1);
    assert_int_equal (s_sim_by_key (f, "youtube", "yt1"), 1);
    assert_int_equal (s_sim_by_key (f, "youtube", "yt2"), 1);
    assert_int_equal (s_title (f, MATRIX, &run), 0);
    assert_int_equal (s_sim_by_key (f, "youtube", "yt1"), 1);
    assert_int_equal (s_sim_by_key (f, "youtube", "yt2"), 2);
    //  The second TMDB call carried the first one's ETag.
    assert_int_equal (s_sim_stat (f, "tmdb", "not_modified"), 1);
    assert_true (run.cache_hits >= 1);
}

static void
test_two_fetchers_share_one_watchmode_quota_exactly (void **state)
{
    fixture_t *f = *state;
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    mg_test_stop (f->fetcher, SIGTERM);
    //  Availability from Watchmode only, five calls a day between both.
    const char *extra [] = { "SA_API_KEY=", "MG_FETCHER_WATCHMODE_PER_DAY=5", "YOUTUBE_API_KEYS=", NULL };
    f->fetcher = s_start_fetcher (f, extra);
    f->second = s_start_fetcher (f, extra);
    static const long long ids [] = { 5, 11, 12, 13, 14, 15, 16, 18 };
    mg_fetcher_run_reply_t run;
    long stale = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids [0]; i++) {
        assert_int_equal (s_title (f, ids [i], &run), 0);
        stale += (long) run.stale;
    }
    assert_int_equal (s_sim_stat (f, "watchmode", "requests"), 5);
    assert_int_equal (s_sim_stat (f, "sa", "requests"), 0);
    mg_test_stop (f->second, SIGTERM);
    f->second = 0;
    mg_test_stop (f->fetcher, SIGTERM);
    f->fetcher = s_start_fetcher (f, NULL);
}

//  A refresh whose records pass the bus's 1 MB limit queues every title
//  (batches close by size too), and a second one is served from the cache.
static void
test_a_large_refresh_queues_every_title_and_a_second_is_all_cache_hits (void **state)
{
    fixture_t *f = *state;
    s_flush_redis ();
    s_sim (f, "POST", "/_sim/reset", "{}");
    mg_test_stop (f->fetcher, SIGTERM);
    //  TMDB and Watchmode only (the simulator's SA allows 100 calls a
    //  minute, its Watchmode 1,000 a day), answers fresh for an hour.
    const char *extra [] = { "SA_API_KEY=", "YOUTUBE_API_KEYS=", "MG_FETCHER_TRAILERS=missing",
                             "MG_FETCHER_TTL_CONTENT_S=3600", "MG_FETCHER_TTL_WATCHMODE_S=3600", NULL };
    f->fetcher = s_start_fetcher (f, extra);
    mg_fetcher_refresh_request_t req = { .list = strdup ("popular"), .pages = 25, .has_pages = true };
    mg_fetcher_run_reply_t first, again;
    mg_error_t err = { 0 };
    //  25 pages of 20: about 1.5 MB of records with credits.
    int rc = mg_client_call (f->client, "fetcher.refresh", &mg_fetcher_refresh_request_desc, &req,
                             &mg_fetcher_run_reply_desc, &first, CALL_TTL_MS, &err);
    if (rc)
        fprintf (stderr, "fetcher.refresh: %s: %s\n", err.code, err.message);
    assert_int_equal (rc, 0);
    assert_int_equal (first.titles, 500);
    assert_int_equal (first.queued, 500);
    assert_int_equal (first.failed, 0);
    assert_int_equal (first.calls, 1000);
    assert_int_equal (first.cache_hits, 0);
    assert_int_equal (mg_client_call (f->client, "fetcher.refresh", &mg_fetcher_refresh_request_desc, &req,
                                      &mg_fetcher_run_reply_desc, &again, CALL_TTL_MS, &err), 0);
    assert_int_equal (again.titles, 500);
    assert_int_equal (again.queued, 500);
    assert_int_equal (again.calls, 0);
    assert_int_equal (again.cache_hits, 1000);
    //  The simulator saw one details and one availability call per title.
    assert_int_equal (s_sim_stat (f, "watchmode", "requests"), 500);
    mg_msg_clear (&mg_fetcher_run_reply_desc, &first);
    mg_msg_clear (&mg_fetcher_run_reply_desc, &again);
    mg_msg_clear (&mg_fetcher_refresh_request_desc, &req);
    mg_test_stop (f->fetcher, SIGTERM);
    f->fetcher = s_start_fetcher (f, NULL);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_title_reaches_the_catalog_with_availability_and_a_youtube_trailer),
        cmocka_unit_test (test_5xx_is_retried_and_a_retry_after_is_waited_for),
        cmocka_unit_test (test_breaker_opens_falls_back_to_watchmode_then_probes_and_closes),
        cmocka_unit_test (test_both_availability_providers_down_serve_the_last_cached_value_as_stale),
        cmocka_unit_test (test_a_title_that_keeps_failing_is_a_dead_letter_until_replayed),
        cmocka_unit_test (test_youtube_keys_rotate_when_one_is_exhausted_and_etags_give_304),
        cmocka_unit_test (test_two_fetchers_share_one_watchmode_quota_exactly),
        cmocka_unit_test (test_a_large_refresh_queues_every_title_and_a_second_is_all_cache_hits),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
