/*  mg-fetcher: live provider clients. Handlers fetch on request
    (fetcher.title, fetcher.refresh), replay dead letters (fetcher.replay)
    and report provider state for the gateway's /metrics (fetcher.metrics).
    A scheduler thread runs the periodic refreshes, each under a Redis
    lease so that one replica runs it per interval. Quotas, breakers, the
    cache and leases are in Redis: any number of replicas share them.  */
#include "job.h"
#include "mg_actor.h"
#include "mg_config.h"
#include "mg_frame.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define LIST_TITLES_MAX   10000     //  titles one refresh takes from TMDB lists
#define REPLAY_DEFAULT    100
#define REPLAY_MAX        10000
#define SCHEDULE_TICK_MS  1000      //  the scheduler looks at its jobs once a second
#define SWEEP_PAGE        1000      //  titles per fetch_run in availability sweeps
#define REDIS_BACKOFF_MS  1000      //  Redis stalled or down: its calls fail at once this long
#define CATALOG_RETRY_MS  30000     //  a catalog job whose lists failed runs again after this

typedef struct {
    fetch_config_t config;
    fetch_counters_t counters [PROVIDER_COUNT];
    const char *redis_url;
    const char *pg_url;
    const char *broker;
    int redis_timeout_ms;
    atomic_bool stopping;
    char token [64];                //  this replica's lease token
    int sweep_first;                //  most popular titles a sweep refreshes first
} s_shared_t;

//  What a thread needs to run fetches.
typedef struct {
    s_shared_t *shared;
    mg_redis_t *redis;
    PGconn *pg;
    mg_client_t *client;
    http_engine_t *engine;
} s_worker_t;

static void
s_worker_destroy (s_worker_t **self_p)
{
    if (*self_p) {
        s_worker_t *self = *self_p;
        mg_redis_destroy (&self->redis);
        if (self->pg)
            PQfinish (self->pg);
        mg_client_destroy (&self->client);
        http_engine_destroy (&self->engine);
        free (self);
        *self_p = NULL;
    }
}

static s_worker_t *
s_worker_new (s_shared_t *shared)
{
    s_worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->shared = shared;
    self->redis = mg_redis_new (shared->redis_url, shared->redis_timeout_ms, REDIS_BACKOFF_MS);
    self->client = mg_client_new (shared->broker);
    self->engine = http_engine_new (shared->config.concurrency, shared->config.timeout_ms);
    if (!self->redis || !self->client || !self->engine)
        s_worker_destroy (&self);
    else
        mg_client_set_cancel (self->client, &shared->stopping);
    return self;
}

//  The dead-letter connection, reopened when lost (NULL: letters are only logged).
static PGconn *
s_pg (s_worker_t *self)
{
    mg_error_t err = { 0 };
    PGconn *conn = mg_pg_keep (&self->pg, self->shared->pg_url, "dead-letter database", &err);
    mg_msg_clear (&mg_error_desc, &err);
    return conn;
}

//  Run items and fill the reply. Returns 0 or -1 after mg_actor_fail.
static int
s_run (s_worker_t *self, const fetch_item_t *items, size_t count, mg_fetcher_run_reply_t *reply,
       mg_error_t *err)
{
    int64_t started = zclock_mono ();
    fetch_stats_t stats;
    int rc = fetch_run (&self->shared->config, self->redis, s_pg (self), self->client, self->engine,
                        self->shared->counters, items, count, &stats);
    if (rc)
        return mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "the indexer did not take the records");
    reply->titles = stats.titles;
    reply->queued = stats.queued;
    reply->failed = stats.failed;
    reply->calls = stats.calls;
    reply->cache_hits = stats.cache_hits;
    reply->stale = stats.stale;
    reply->has_titles = reply->has_queued = reply->has_failed = reply->has_calls = true;
    reply->has_cache_hits = reply->has_stale = true;
    if (!reply->has_took_ms) {
        reply->took_ms = (uint64_t) (zclock_mono () - started);
        reply->has_took_ms = true;
    }
    mg_info ("fetch run", "titles=%llu queued=%llu failed=%llu calls=%llu cache_hits=%llu stale=%llu",
             (unsigned long long) stats.titles, (unsigned long long) stats.queued,
             (unsigned long long) stats.failed, (unsigned long long) stats.calls,
             (unsigned long long) stats.cache_hits, (unsigned long long) stats.stale);
    return 0;
}

static int
s_on_title (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_fetcher_title_request_t *request = req;
    if (request->tmdb <= 0)
        return mg_actor_fail (err, "INVALID_PARAMETER", "tmdb", "tmdb must be a positive id");
    fetch_item_t item = { .tmdb = request->tmdb };
    const char *type = request->type ? request->type : "movie";
    if (strcmp (type, "movie") && strcmp (type, "tv"))
        return mg_actor_fail (err, "INVALID_PARAMETER", "type", "type must be movie or tv");
    snprintf (item.type, sizeof item.type, "%s", type);
    return s_run (state, &item, 1, rep, err);
}

//  Titles of pages of a TMDB list, fetched. Returns 0 or -1 after mg_actor_fail.
static int
s_refresh (s_worker_t *self, const char *list, int pages, mg_fetcher_run_reply_t *reply, mg_error_t *err)
{
    fetch_item_t *items = calloc (LIST_TITLES_MAX, sizeof *items);
    if (!items)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    size_t count = 0;
    char why [FETCHER_WHY_LEN];
    int64_t started = zclock_mono ();
    int rc = fetch_list (&self->shared->config, self->redis, self->engine, self->shared->counters,
                         list, pages, items, LIST_TITLES_MAX, &count, why, sizeof why);
    if (rc)
        rc = mg_actor_fail (err, "UPSTREAM_UNAVAILABLE", NULL, "TMDB %s: %s", list, why);
    else {
        rc = s_run (self, items, count, reply, err);
        reply->took_ms = (uint64_t) (zclock_mono () - started);
    }
    free (items);
    return rc;
}

static int
s_on_refresh (void *state, const void *req, void *rep, mg_error_t *err)
{
    const mg_fetcher_refresh_request_t *request = req;
    if (strcmp (request->list, "trending") && strcmp (request->list, "popular")
    &&  strcmp (request->list, "changes"))
        return mg_actor_fail (err, "INVALID_PARAMETER", "list", "list must be trending, popular or changes");
    uint64_t pages = request->has_pages ? request->pages : 1;
    if (pages < 1 || pages > 500)
        return mg_actor_fail (err, "INVALID_PARAMETER", "pages", "pages must be 1 to 500");
    return s_refresh (state, request->list, (int) pages, rep, err);
}

static int
s_on_replay (void *state, const void *req, void *rep, mg_error_t *err)
{
    s_worker_t *self = state;
    const mg_fetcher_replay_request_t *request = req;
    uint64_t max = request->has_max ? request->max : REPLAY_DEFAULT;
    if (max < 1 || max > REPLAY_MAX)
        return mg_actor_fail (err, "INVALID_PARAMETER", "max", "max must be 1 to %d", REPLAY_MAX);
    PGconn *pg = s_pg (self);
    if (!pg)
        return mg_pg_fail (err, NULL, NULL, "dead-letter database");
    deadletter_t *letters = NULL;
    char why [FETCHER_WHY_LEN];
    int n = deadletter_pending (pg, (int) max, &letters, why, sizeof why);
    if (n < 0) {
        mg_warn ("dead letters not read", "reason=\"%s\"", why);
        return mg_pg_fail (err, pg, NULL, "dead-letter database");
    }
    fetch_item_t *items = calloc ((size_t) (n ? n : 1), sizeof *items);
    if (!items) {
        deadletter_list_free (&letters, n);
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    size_t count = 0;
    for (int i = 0; i < n; i++) {
        json_t *payload = json_loads (letters [i].payload, 0, NULL);
        const json_t *tmdb = json_object_get (payload, "tmdb");
        const char *type = json_string_value (json_object_get (payload, "type"));
        if (json_is_integer (tmdb) && json_integer_value (tmdb) > 0) {
            items [count].tmdb = json_integer_value (tmdb);
            snprintf (items [count].type, sizeof items [0].type, "%s", type && !strcmp (type, "tv") ? "tv" : "movie");
            count++;
        }
        json_decref (payload);
    }
    mg_fetcher_run_reply_t *reply = rep;
    int rc = s_run (self, items, count, reply, err);
    uint64_t replayed = 0;
    //  Handed back: what failed again is a new letter with its new reason.
    for (int i = 0; rc == 0 && i < n; i++)
        if (deadletter_mark_replayed (pg, letters [i].id, why, sizeof why) == 0)
            replayed++;
    reply->replayed = replayed;
    reply->has_replayed = true;
    free (items);
    deadletter_list_free (&letters, n);
    return rc;
}

static int
s_on_metrics (void *state, const void *req, void *rep, mg_error_t *err)
{
    s_worker_t *self = state;
    (void) req;
    mg_fetcher_metrics_reply_t *reply = rep;
    reply->providers = calloc (PROVIDER_COUNT, sizeof *reply->providers);
    if (!reply->providers)
        return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    reply->providers_count = PROVIDER_COUNT;
    char why [FETCHER_WHY_LEN];
    for (int p = 0; p < PROVIDER_COUNT; p++) {
        mg_fetcher_provider_t *out = &reply->providers [p];
        breaker_state_t state;
        if (breaker_state (self->redis, &self->shared->config.breaker [p], &state, why, sizeof why))
            return mg_actor_fail (err, "SERVICE_UNAVAILABLE", NULL, "%s", why);
        fetch_counters_t *c = &self->shared->counters [p];
        out->provider = strdup (provider_name ((provider_id_t) p));
        out->breaker = strdup (breaker_state_name (state));
        out->calls = atomic_load (&c->calls);
        out->failures = atomic_load (&c->failures);
        out->cache_hits = atomic_load (&c->cache_hits);
        out->quota_waits = atomic_load (&c->quota_waits);
        out->has_calls = out->has_failures = out->has_cache_hits = out->has_quota_waits = true;
        if (!out->provider || !out->breaker)
            return mg_actor_fail (err, "INTERNAL", NULL, "out of memory");
    }
    PGconn *pg = s_pg (self);
    int64_t letters = pg ? deadletter_count (pg, why, sizeof why) : -1;
    if (letters < 0)
        return mg_pg_fail (err, pg, NULL, "dead-letter database");
    reply->dead_letters = (uint64_t) letters;
    reply->has_dead_letters = true;
    return 0;
}

static const mg_method_t s_methods [] = {
    { "fetcher.title",   &mg_fetcher_title_request_desc,   &mg_fetcher_run_reply_desc,     s_on_title },
    { "fetcher.refresh", &mg_fetcher_refresh_request_desc, &mg_fetcher_run_reply_desc,     s_on_refresh },
    { "fetcher.replay",  &mg_fetcher_replay_request_desc,  &mg_fetcher_run_reply_desc,     s_on_replay },
    { "fetcher.metrics", &mg_empty_desc,                   &mg_fetcher_metrics_reply_desc, s_on_metrics },
    { NULL, NULL, NULL, NULL }
};

static void *
s_thread_init (void *shared)
{
    return s_worker_new (shared);
}

static void
s_thread_fini (void *state)
{
    s_worker_t *self = state;
    s_worker_destroy (&self);
}

//  ---- scheduler ----

//  A title to fetch from its stored TMDB id and type into item: 1, or 0
//  (item untouched) when the id is not a positive number.
static size_t
s_item (fetch_item_t *item, const char *tmdb_text, const char *type)
{
    long long tmdb = strtoll (tmdb_text, NULL, 10);
    if (tmdb <= 0)
        return 0;
    item->tmdb = tmdb;
    snprintf (item->type, sizeof item->type, "%s", strcmp (type, "tv") == 0 ? "tv" : "movie");
    return 1;
}

//  Titles with a TMDB id from the catalog, a page after last_id (content
//  id order); expiring: only those with an offer leaving within 7 days.
static size_t
s_catalog_titles (PGconn *pg, bool expiring, char *last_id, size_t last_len, fetch_item_t *items)
{
    char limit [16];
    snprintf (limit, sizeof limit, "%d", SWEEP_PAGE);
    const char *params [] = { last_id, limit };
    PGresult *res = PQexecParams (pg, expiring
        ? "SELECT c.id, e.value, c.type FROM content c JOIN external_ids e ON e.content_id = c.id"
          " AND e.source = 'tmdb' WHERE c.id::text > $1 AND EXISTS (SELECT 1 FROM availability a"
          " WHERE a.content_id = c.id AND a.expires_at < now () + interval '7 days')"
          " ORDER BY c.id LIMIT $2::int"
        : "SELECT c.id, e.value, c.type FROM content c JOIN external_ids e ON e.content_id = c.id"
          " AND e.source = 'tmdb' WHERE c.id::text > $1 ORDER BY c.id LIMIT $2::int",
        2, NULL, params, NULL, NULL, 0);
    size_t count = 0;
    if (PQresultStatus (res) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples (res); i++) {
            snprintf (last_id, last_len, "%s", PQgetvalue (res, i, 0));
            count += s_item (&items [count], PQgetvalue (res, i, 1), PQgetvalue (res, i, 2));
        }
        if (PQntuples (res) < SWEEP_PAGE)
            last_id [0] = '\0';
    }
    else {
        mg_warn ("catalog titles not read", "reason=\"%s\"", PQerrorMessage (pg));
        last_id [0] = '\0';
    }
    PQclear (res);
    return count;
}

//  The titles users see first, in the order a sweep refreshes them: the
//  first most popular titles (trending and popular lists draw from them),
//  then titles on anyone's watchlist, most popular first. Returns how many.
static size_t
s_first_titles (PGconn *pg, int first, fetch_item_t *items, size_t max)
{
    char limit [16], total [16];
    snprintf (limit, sizeof limit, "%d", first);
    snprintf (total, sizeof total, "%zu", max);
    const char *params [] = { limit, total };
    //  A watchlist entry is live while it holds an add tag (docs/sync.md).
    PGresult *res = PQexecParams (pg,
        "WITH top AS (SELECT id, popularity, 0 AS tier FROM content ORDER BY popularity DESC, id LIMIT $1::int), "
        "watched AS (SELECT c.id, c.popularity, 1 AS tier FROM content c WHERE c.id IN ("
        "  SELECT w.key::uuid FROM sync_state s CROSS JOIN jsonb_each (s.state->'watchlist') w "
        "  WHERE s.key = 'state' AND w.key ~ '^[0-9a-f-]{36}$' AND jsonb_typeof (w.value->'tags') = 'object' "
        "  AND w.value->'tags' <> '{}'::jsonb) AND c.id NOT IN (SELECT id FROM top)) "
        "SELECT e.value, c.type FROM (SELECT * FROM top UNION ALL SELECT * FROM watched) t "
        "JOIN content c ON c.id = t.id JOIN external_ids e ON e.content_id = t.id AND e.source = 'tmdb' "
        "ORDER BY t.tier, t.popularity DESC, t.id LIMIT $2::int",
        2, NULL, params, NULL, NULL, 0);
    size_t count = 0;
    if (PQresultStatus (res) == PGRES_TUPLES_OK)
        for (int i = 0; i < PQntuples (res) && count < max; i++)
            count += s_item (&items [count], PQgetvalue (res, i, 0), PQgetvalue (res, i, 1));
    else
        mg_warn ("first titles not read", "reason=\"%s\"", PQerrorMessage (pg));
    PQclear (res);
    return count;
}

//  Refresh the titles users see first (s_first_titles), items being room
//  for SWEEP_PAGE of them; their content and offers reach the catalog
//  before the rest of a sweep is started.
static void
s_refresh_first (s_worker_t *self, PGconn *pg, fetch_item_t *items)
{
    if (self->shared->sweep_first == 0)
        return;
    size_t count = s_first_titles (pg, self->shared->sweep_first, items, SWEEP_PAGE);
    fetch_stats_t stats;
    if (count && fetch_run (&self->shared->config, self->redis, pg, self->client, self->engine,
                            self->shared->counters, items, count, &stats))
        mg_warn ("first titles not refreshed", "titles=%zu", count);
}

//  Fetch every catalog title again (availability freshness comes from the
//  cache TTLs: a title's content is cached 7 d, its availability 1 h). The
//  expiring-soon sweep runs more often than that TTL, so it asks the
//  availability providers again whatever the cache's age. The full sweep
//  starts with what users see first (s_first_titles); those come round
//  again in id order, from the cache, at no provider call.
static void
s_sweep (s_worker_t *self, bool expiring)
{
    PGconn *pg = s_pg (self);
    if (!pg)
        return;
    fetch_config_t config = self->shared->config;
    if (expiring)
        config.ttl_ms [PROVIDER_SA] = config.ttl_ms [PROVIDER_WATCHMODE] = 0;
    fetch_item_t *items = calloc (SWEEP_PAGE, sizeof *items);
    if (!items)
        return;
    if (!expiring)
        s_refresh_first (self, pg, items);
    char last [64] = "";
    do {
        size_t count = s_catalog_titles (pg, expiring, last, sizeof last, items);
        fetch_stats_t stats;
        if (count && fetch_run (&config, self->redis, pg, self->client, self->engine,
                                self->shared->counters, items, count, &stats))
            break;
    } while (last [0] && !atomic_load (&self->shared->stopping) && !zsys_interrupted);
    free (items);
}

//  Record one popularity snapshot of the catalog (every title with a
//  popularity, one taken_at for all) and drop snapshots older than
//  retention_s: trending's day and week windows rank by the change since.
static void
s_snapshot (s_worker_t *self, int64_t retention_s)
{
    PGconn *pg = s_pg (self);
    if (!pg)
        return;
    char retention [24];
    snprintf (retention, sizeof retention, "%lld", (long long) retention_s);
    const char *params [] = { retention };
    PGresult *res = PQexecParams (pg,
        "WITH taken AS (INSERT INTO popularity_snapshots (taken_at, content_id, popularity) "
        "  SELECT now (), id, popularity FROM content WHERE popularity > 0 RETURNING 1), "
        "gone AS (DELETE FROM popularity_snapshots WHERE taken_at < now () - $1::bigint * interval '1 second' "
        "  RETURNING 1) "
        "SELECT (SELECT count (*) FROM taken), (SELECT count (*) FROM gone)",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1)
        mg_info ("popularity snapshot", "titles=%s dropped=%s", PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1));
    else {
        mg_warn ("popularity snapshot failed", "reason=\"%s\"", PQresultErrorMessage (res));
        mg_pg_settle (pg);
    }
    PQclear (res);
}

typedef struct {
    const char *name;               //  lease name
    const char *variable;           //  its interval's setting
    int64_t default_s;
} s_job_t;

//  Catalog every 6 h, availability every 1 h, expiring-soon every 15 min,
//  a popularity snapshot every hour.
enum { JOB_CATALOG, JOB_AVAILABILITY, JOB_EXPIRING, JOB_POPULARITY, JOB_COUNT };
static const s_job_t s_jobs [JOB_COUNT] = {
    [JOB_CATALOG]      = { "catalog",      "MG_FETCHER_CATALOG_EVERY_S",      21600 },
    [JOB_AVAILABILITY] = { "availability", "MG_FETCHER_AVAILABILITY_EVERY_S", 3600 },
    [JOB_EXPIRING]     = { "expiring",     "MG_FETCHER_EXPIRING_EVERY_S",     900 },
    [JOB_POPULARITY]   = { "popularity",   "MG_FETCHER_POPULARITY_EVERY_S",   3600 },
};

//  Snapshots are kept 8 days at least: a week's window needs one taken a
//  week ago, and a day of slack keeps one whatever the interval.
#define POPULARITY_RETENTION_MIN_S  (8 * 86400)

static void *
s_scheduler (void *arg)
{
    s_shared_t *shared = arg;
    s_worker_t *self = s_worker_new (shared);
    if (!self)
        return NULL;
    int64_t every [JOB_COUNT];
    for (int j = 0; j < JOB_COUNT; j++)
        every [j] = mg_config_int (s_jobs [j].variable, s_jobs [j].default_s, 0, 31536000) * 1000;
    int pages = (int) mg_config_int ("MG_FETCHER_CATALOG_PAGES", 5, 1, 500);
    int64_t retention_s = mg_config_int ("MG_POPULARITY_RETENTION_S", POPULARITY_RETENTION_MIN_S,
                                         POPULARITY_RETENTION_MIN_S, 31536000);
    while (!atomic_load (&shared->stopping) && !zsys_interrupted) {
        for (int j = 0; j < JOB_COUNT; j++) {
            if (every [j] == 0)
                continue;
            //  The lease lasts the interval: taking it is "this replica runs
            //  the job now, and no replica runs it again before the interval".
            bool taken = false;
            char why [FETCHER_WHY_LEN];
            if (lease_take (self->redis, s_jobs [j].name, shared->token, every [j], &taken, why, sizeof why)) {
                mg_warn ("lease unavailable", "job=%s reason=\"%s\"", s_jobs [j].name, why);
                continue;
            }
            if (!taken)
                continue;
            mg_info ("scheduled job", "job=%s", s_jobs [j].name);
            if (j == JOB_CATALOG) {
                //  What users see first is refreshed first: the catalog's
                //  trending page ranks by popularity, so TMDB's popular list,
                //  then its trending list, then watchlisted titles, then the
                //  changes.
                static const char *const lists [] = { "popular", "trending", NULL, "changes" };
                int failed = 0;
                for (int l = 0; l < 4; l++) {
                    if (!lists [l]) {
                        PGconn *pg = s_pg (self);
                        fetch_item_t *items = pg ? calloc (SWEEP_PAGE, sizeof *items) : NULL;
                        if (items)
                            s_refresh_first (self, pg, items);
                        free (items);
                        continue;
                    }
                    mg_fetcher_run_reply_t reply = { 0 };
                    mg_error_t err = { 0 };
                    if (s_refresh (self, lists [l], pages, &reply, &err)) {
                        mg_warn ("catalog refresh failed", "list=%s reason=\"%s\"", lists [l],
                                 err.message ? err.message : "-");
                        failed += l < 2;
                    }
                    mg_msg_clear (&mg_error_desc, &err);
                }
                //  The popular or trending list could not be read (TMDB down,
                //  or not up yet when the stack starts): the job runs again
                //  after CATALOG_RETRY_MS instead of after its whole interval,
                //  or the first page would lack trailers and offers for hours.
                if (failed && (lease_release (self->redis, s_jobs [j].name, shared->token, why, sizeof why)
                           ||  lease_take (self->redis, s_jobs [j].name, shared->token, CATALOG_RETRY_MS,
                                           &taken, why, sizeof why)))
                    mg_warn ("catalog retry not scheduled", "reason=\"%s\"", why);
                else
                if (failed)
                    mg_info ("catalog job to run again", "in_ms=%d", CATALOG_RETRY_MS);
            }
            else
            if (j == JOB_POPULARITY)
                s_snapshot (self, retention_s);
            else
                s_sweep (self, j == JOB_EXPIRING);
        }
        zclock_sleep (SCHEDULE_TICK_MS);
    }
    s_worker_destroy (&self);
    return NULL;
}

int
main (void)
{
    mg_log_init ("fetcher");
    zsys_init ();
    if (sodium_init () < 0 || curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return EXIT_FAILURE;
    static s_shared_t shared;
    if (fetch_config_load (&shared.config))
        return EXIT_FAILURE;
    shared.config.stop = &shared.stopping;
    shared.redis_url = mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:56379");
    shared.pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway");
    shared.broker = mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555");
    shared.redis_timeout_ms = (int) mg_config_int ("MG_REDIS_TIMEOUT_MS", 200, 1, 60000);
    shared.sweep_first = (int) mg_config_int ("MG_FETCHER_SWEEP_FIRST", 200, 0, SWEEP_PAGE);
    snprintf (shared.token, sizeof shared.token, "%d-%08x", (int) getpid (), randombytes_random ());
    if (mg_pg_prepare (shared.pg_url))
        return EXIT_FAILURE;
    mg_info ("providers", "tmdb=%s sa=%s watchmode=%s youtube=%s youtube_keys=%d",
             shared.config.base [PROVIDER_TMDB], shared.config.key [PROVIDER_SA][0] ? shared.config.base [PROVIDER_SA] : "off",
             shared.config.key [PROVIDER_WATCHMODE][0] ? shared.config.base [PROVIDER_WATCHMODE] : "off",
             shared.config.youtube_key_count ? shared.config.base [PROVIDER_YOUTUBE] : "off",
             shared.config.youtube_key_count);
    mg_actor_t *actor = mg_actor_new ("fetcher", s_methods);
    if (!actor)
        return EXIT_FAILURE;
    int threads = (int) mg_config_int ("MG_FETCHER_THREADS", 2, 1, 64);
    mg_actor_set_threads (actor, threads, s_thread_init, s_thread_fini, &shared);
    //  fetcher.title/refresh/replay hold a thread for a whole run, by design.
    mg_actor_set_stall (actor, MG_TTL_MAX_MS);
    pthread_t scheduler;
    bool scheduling = mg_config_int ("MG_FETCHER_SCHEDULE", 1, 0, 1) == 1
                   && pthread_create (&scheduler, NULL, s_scheduler, &shared) == 0;
    int rc = mg_actor_run (actor);
    atomic_store (&shared.stopping, true);
    if (scheduling)
        pthread_join (scheduler, NULL);
    mg_actor_destroy (&actor);
    curl_global_cleanup ();
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
