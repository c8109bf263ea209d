/*  The details cache end to end: a Redis of its own, a scratch database,
    the pipeline (mg-import -> mg-indexer -> mg-resolver) and every routed
    actor behind mg-gateway. A repeated GET /api/v1/content/{id} is answered
    from Redis (X-Cache: hit); an import that changes the title, or only its
    offers, makes the next reads fresh (the catalog raises the title's
    version on the change event); an entry showing an offer that expires is
    gone at that expires_at; with Redis stopped or gone, details are served
    by the catalog within their deadline.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_test.h"

#define START_WAIT_MS    30000      //  migrations, snapshot and registration at start
#define CHANGE_WAIT_MS   15000      //  an import's event reaching the catalog's follower
#define HTTP_WAIT_MS     5000
#define RATE_TIMEOUT_MS  250        //  MG_RATE_TIMEOUT_MS: the limiter's budget (fail open past it)
#define LOOKUP_TIMEOUT_MS 500       //  MG_SEARCH_CACHE_TIMEOUT_MS, the details look-up's too: generous, a loaded machine must still see hits
#define HANG_SLACK_MS    1000       //  a hang bound, not a speed claim
#define STALL_WAIT_MS    10000      //  how long a stalled request is waited for before it counts as hung
#define EXPIRY_IN_S      4          //  the expiring offer leaves this long after it is set
#define EXPIRY_SLACK_MS  300        //  reads this long after expires_at must not see the entry

typedef struct {
    mg_test_stack_t stack;          //  first: mg_test_stack_setup
    PGconn *db;                     //  the scratch database (ids, an offer's expiry)
    char catalog [64];              //  the catalog file mg-import reads
    char id [37];                   //  the title's canonical id
} fixture_t;

//  Write path: one title as the importer reads it (TMDB-like JSON line)
//  with one offer on platform in the US and one on mubi in GB.
static void
s_write_catalog (const char *path, const char *title, const char *platform)
{
    FILE *out = fopen (path, "w");
    assert_non_null (out);
    fprintf (out, "{\"source\":\"tmdb\",\"type\":\"movie\",\"id\":990101,\"title\":\"%s\","
                  "\"original_title\":\"%s\",\"original_language\":\"en\","
                  "\"overview\":\"A cartographer maps a moving island.\",\"release_date\":\"2003-04-05\","
                  "\"popularity\":5.5,\"vote_average\":7.1,\"vote_count\":10,"
                  "\"genres\":[{\"id\":18,\"name\":\"Drama\"}],\"keywords\":[\"island\"],"
                  "\"availability\":[{\"platform\":\"%s\",\"region\":\"US\",\"type\":\"subscription\","
                  "\"quality\":\"hd\"},{\"platform\":\"mubi\",\"region\":\"GB\",\"type\":\"subscription\","
                  "\"quality\":\"hd\"}]}\n",
             title, title, platform);
    fclose (out);
}

//  The title renamed or its offer moved, through mg-import --wait; its exit status.
static int
s_import (fixture_t *f, const char *title, const char *platform)
{
    s_write_catalog (f->catalog, title, platform);
    return mg_test_stack_import (&f->stack, f->catalog);
}

static int
s_get (fixture_t *f, const char *path, mg_http_reply_t *reply)
{
    return mg_http_request (f->stack.http_port, "GET", path, "", NULL, reply, HTTP_WAIT_MS);
}

static int
group_setup (void **state)
{
    char catalog [64], lookup [64], rate [64];
    snprintf (catalog, sizeof catalog, "/tmp/mg-details-cache.%d.jsonl", (int) getpid ());
    s_write_catalog (catalog, "Detailtest Alpha", "netflix");
    snprintf (lookup, sizeof lookup, "MG_SEARCH_CACHE_TIMEOUT_MS=%d", LOOKUP_TIMEOUT_MS);
    snprintf (rate, sizeof rate, "MG_RATE_TIMEOUT_MS=%d", RATE_TIMEOUT_MS);
    const char *settings [] = {
        "MG_RATE_ANONYMOUS=1000000/s,1000000/m", "MG_DETAILS_CACHE_TTL_S=600", "MG_DEFAULT_REGION=US", lookup, rate, NULL
    };
    mg_test_stack_options_t options = {
        .db = "mg_details_cache", .redis = true, .import = catalog, .settings = settings, .timeout_ms = START_WAIT_MS
    };
    if (mg_test_stack_setup (state, sizeof (fixture_t), &options)) {
        unlink (catalog);
        return -1;
    }
    fixture_t *f = *state;
    snprintf (f->catalog, sizeof f->catalog, "%s", catalog);
    f->db = PQconnectdb (f->stack.url);
    if (PQstatus (f->db) != CONNECTION_OK)
        return -1;
    PGresult *res = PQexec (f->db, "SELECT id FROM content WHERE title = 'Detailtest Alpha'");
    bool found = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1;
    if (found)
        snprintf (f->id, sizeof f->id, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    return found ? 0 : -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (f) {
        PQfinish (f->db);
        unlink (f->catalog);
    }
    return mg_test_stack_teardown (state);
}

//  What one details answer showed.
typedef struct {
    char cache [32];                //  X-Cache ("" when absent)
    char title [128];
    char platforms [256];           //  the offers' platforms, comma-separated
    char regions [256];             //  the offers' regions, comma-separated
    char expires [64];              //  the first offer's expires_at ("" when none)
    char *body;                     //  the JSON text (free)
} s_details_t;

//  GET the fixture's title with query (may be ""): asserts 200.
static void
s_details (fixture_t *f, const char *query, s_details_t *out)
{
    char path [256];
    snprintf (path, sizeof path, "/api/v1/content/%s%s", f->id, query);
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, path, &reply), 0);
    if (reply.status != 200)
        fail_msg ("GET %s: %d %s", path, reply.status, reply.body);
    memset (out, 0, sizeof *out);
    if (!mg_http_header (&reply, "X-Cache", out->cache, sizeof out->cache))
        out->cache [0] = '\0';
    json_error_t jerr;
    json_t *json = json_loads (reply.body, 0, &jerr);
    assert_non_null (json);
    snprintf (out->title, sizeof out->title, "%s", json_string_value (json_object_get (json, "title")));
    size_t i;
    json_t *offer;
    json_array_foreach (json_object_get (json, "offers"), i, offer) {
        size_t used = strlen (out->platforms);
        snprintf (out->platforms + used, sizeof out->platforms - used, "%s%s", used ? "," : "",
                  json_string_value (json_object_get (offer, "platform")));
        used = strlen (out->regions);
        snprintf (out->regions + used, sizeof out->regions - used, "%s%s", used ? "," : "",
                  json_string_value (json_object_get (offer, "region")));
        const char *expires = json_string_value (json_object_get (offer, "expires_at"));
        if (i == 0 && expires)
            snprintf (out->expires, sizeof out->expires, "%s", expires);
    }
    json_decref (json);
    out->body = strdup (reply.body);
    mg_http_reply_free (&reply);
}

//  Read the title until want (title or platforms) shows, or CHANGE_WAIT_MS
//  passes; the last answer into out.
static void
s_details_until (fixture_t *f, const char *want_title, const char *want_platforms, s_details_t *out)
{
    int64_t until = mg_test_now_ms () + CHANGE_WAIT_MS;
    while (true) {
        s_details (f, "", out);
        bool done = (!want_title || strcmp (out->title, want_title) == 0)
                 && (!want_platforms || strcmp (out->platforms, want_platforms) == 0);
        if (done || mg_test_now_ms () >= until)
            return;
        free (out->body);
        usleep (100 * 1000);
    }
}

//  Value of the details cache counter outcome in /metrics, -1 when absent.
static long
s_cache_metric (fixture_t *f, const char *outcome)
{
    char name [96];
    snprintf (name, sizeof name, "mg_gateway_details_cache_total{outcome=\"%s\"}", outcome);
    return (long) mg_http_metric (f->stack.http_port, name);
}

static void
test_a_repeated_read_is_a_cache_hit (void **state)
{
    fixture_t *f = *state;
    s_details_t first, second, all;
    s_details (f, "", &first);
    assert_string_equal (first.cache, "miss");
    assert_string_equal (first.title, "Detailtest Alpha");
    //  One region's offers: MG_DEFAULT_REGION's.
    assert_string_equal (first.platforms, "netflix");
    assert_string_equal (first.regions, "US");
    s_details (f, "", &second);
    assert_string_equal (second.cache, "hit");
    assert_string_equal (second.body, first.body);
    //  Another offers region is another entry.
    s_details (f, "?offers_region=all", &all);
    assert_string_equal (all.cache, "miss");
    assert_string_equal (all.regions, "GB,US");
    assert_true (s_cache_metric (f, "hit") >= 1);
    assert_true (s_cache_metric (f, "store") >= 2);
    free (first.body);
    free (second.body);
    free (all.body);
}

static void
test_a_change_event_makes_the_next_read_fresh (void **state)
{
    fixture_t *f = *state;
    s_details_t seen;
    s_details (f, "", &seen);
    free (seen.body);
    s_details (f, "", &seen);
    assert_string_equal (seen.cache, "hit");
    assert_string_equal (seen.title, "Detailtest Alpha");
    free (seen.body);
    //  content.changed: the cached answer (TTL 600 s) stops being served.
    assert_int_equal (s_import (f, "Detailtest Beta", "netflix"), 0);
    s_details_until (f, "Detailtest Beta", NULL, &seen);
    assert_string_equal (seen.title, "Detailtest Beta");
    free (seen.body);
    s_details (f, "", &seen);
    assert_string_equal (seen.title, "Detailtest Beta");
    assert_string_equal (seen.cache, "hit");
    free (seen.body);
    //  availability.changed alone (the title is unchanged): the same.
    assert_int_equal (s_import (f, "Detailtest Beta", "hulu"), 0);
    s_details_until (f, NULL, "hulu", &seen);
    assert_string_equal (seen.platforms, "hulu");
    free (seen.body);
    s_details (f, "", &seen);
    assert_string_equal (seen.platforms, "hulu");
    assert_string_equal (seen.cache, "hit");
    free (seen.body);
}

//  GET a search for the fixture's title with query: asserts 200 and one
//  result; its offers' regions (comma-separated, sorted as answered) into regions.
static void
s_search_regions (fixture_t *f, const char *query, char *regions, size_t size)
{
    char path [256];
    snprintf (path, sizeof path, "/api/v1/search?q=detailtest&mode=keyword%s", query);
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, path, &reply), 0);
    if (reply.status != 200)
        fail_msg ("GET %s: %d %s", path, reply.status, reply.body);
    json_error_t jerr;
    json_t *json = json_loads (reply.body, 0, &jerr);
    mg_http_reply_free (&reply);
    assert_non_null (json);
    json_t *results = json_object_get (json, "results");
    assert_int_equal (json_array_size (results), 1);
    regions [0] = '\0';
    size_t i;
    json_t *group;
    json_array_foreach (json_object_get (json_array_get (results, 0), "availability"), i, group) {
        //  A platform group names its region with offers_region=all, else the page says it once.
        const json_t *region = json_object_get (group, "region");
        size_t used = strlen (regions);
        snprintf (regions + used, size - used, "%s%s", used ? "," : "",
                  json_string_value (region ? region : json_object_get (json, "offers_region")));
    }
    json_decref (json);
}

static void
test_items_show_one_regions_offers (void **state)
{
    fixture_t *f = *state;
    char regions [256];
    //  Default: MG_DEFAULT_REGION's offers only; all: today's shape; one
    //  region: that one's, whatever the case.
    s_search_regions (f, "", regions, sizeof regions);
    assert_string_equal (regions, "US");
    s_search_regions (f, "&offers_region=all", regions, sizeof regions);
    assert_string_equal (regions, "GB,US");
    s_search_regions (f, "&offers_region=gb", regions, sizeof regions);
    assert_string_equal (regions, "GB");
    //  The region filter alone: the offers of that region.
    s_search_regions (f, "&region=gb", regions, sizeof regions);
    assert_string_equal (regions, "GB");
    //  It trims what is shown, never which titles match.
    s_search_regions (f, "&offers_region=JP", regions, sizeof regions);
    assert_string_equal (regions, "");
    s_details_t seen;
    s_details (f, "?offers_region=GB", &seen);
    assert_string_equal (seen.regions, "GB");
    free (seen.body);
    //  Anything else is the caller's mistake.
    const char *bad [] = { "/api/v1/search?q=detailtest&offers_region=usa",
                           "/api/v1/search?q=detailtest&offers_region=",
                           "/api/v1/content/00000000-0000-0000-0000-000000000000/similar?offers_region=1x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        mg_http_reply_t reply;
        assert_int_equal (s_get (f, bad [i], &reply), 0);
        if (reply.status != 400 || !strstr (reply.body, "offers_region"))
            fail_msg ("GET %s: %d %s (wanted 400 naming offers_region)", bad [i], reply.status, reply.body);
        mg_http_reply_free (&reply);
    }
}

static void
test_an_entry_is_gone_at_its_earliest_offer_expiry (void **state)
{
    fixture_t *f = *state;
    //  Set straight in the database, with no event: only the entry's own
    //  lifetime can retire it. A query string not read before gives an
    //  entry stored after the expiry was set.
    char sql [256];
    //  A whole second: the answer shows expires_at to the second.
    snprintf (sql, sizeof sql, "UPDATE availability SET expires_at = date_trunc ('second', now ()) "
                               "+ interval '%d seconds' WHERE content_id = '%s'", EXPIRY_IN_S, f->id);
    PGresult *res = PQexec (f->db, sql);
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    const char *query = "?offers_region=us";
    s_details_t seen;
    s_details (f, query, &seen);
    assert_string_equal (seen.cache, "miss");
    assert_string_not_equal (seen.platforms, "");
    assert_string_not_equal (seen.expires, "");
    free (seen.body);
    s_details (f, query, &seen);
    assert_string_equal (seen.cache, "hit");
    assert_string_not_equal (seen.platforms, "");
    //  Wait until just past expires_at by the wall clock.
    struct tm tm = { 0 };
    assert_int_equal (sscanf (seen.expires, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                              &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
    free (seen.body);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t expires_ms = (int64_t) timegm (&tm) * 1000;
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    int64_t wait_ms = expires_ms + EXPIRY_SLACK_MS - ((int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000);
    assert_true (wait_ms < (EXPIRY_IN_S + 2) * 1000);
    if (wait_ms > 0)
        usleep ((useconds_t) wait_ms * 1000);
    s_details (f, query, &seen);
    assert_string_not_equal (seen.cache, "hit");
    assert_string_equal (seen.platforms, "");
    free (seen.body);
}

//  GET the title waiting up to STALL_WAIT_MS: asserts 200 within bound_ms;
//  X-Cache into cache. Returns the milliseconds taken.
static int64_t
s_details_within (fixture_t *f, int64_t bound_ms, char *cache, size_t cache_size)
{
    char path [128];
    snprintf (path, sizeof path, "/api/v1/content/%s", f->id);
    mg_http_reply_t reply;
    int64_t start = mg_test_now_ms ();
    int rc = mg_http_request (f->stack.http_port, "GET", path, "", NULL, &reply, STALL_WAIT_MS);
    int64_t took = mg_test_now_ms () - start;
    if (rc != 0)
        fail_msg ("GET %s: no answer within %d ms", path, STALL_WAIT_MS);
    if (reply.status != 200 || took >= bound_ms)
        fail_msg ("GET %s: %d after %lld ms (wanted 200 within %lld ms)", path, reply.status,
                  (long long) took, (long long) bound_ms);
    if (!mg_http_header (&reply, "X-Cache", cache, cache_size))
        cache [0] = '\0';
    mg_http_reply_free (&reply);
    return took;
}

static void
test_with_redis_stopped_details_are_served_within_their_deadline (void **state)
{
    fixture_t *f = *state;
    long timeouts = s_cache_metric (f, "timeout");
    assert_int_equal (mg_test_signal (f->stack.redis, SIGSTOP), 0);
    f->stack.redis_stopped = true;
    const int64_t bound = RATE_TIMEOUT_MS + LOOKUP_TIMEOUT_MS + HANG_SLACK_MS;
    int64_t stopped_at = mg_test_now_ms ();
    int served = 0;
    int64_t slowest = 0;
    char cache [32];
    while (served < 3 || mg_test_now_ms () - stopped_at < 2500) {
        int64_t took = s_details_within (f, bound, cache, sizeof cache);
        slowest = took > slowest ? took : slowest;
        assert_string_not_equal (cache, "hit");
        served++;
        usleep (100 * 1000);
    }
    fprintf (stderr, "redis stopped: details=%d slowest_ms=%lld bound_ms=%lld\n",
             served, (long long) slowest, (long long) bound);
    assert_true (s_cache_metric (f, "timeout") >= timeouts + 1);
    assert_int_equal (mg_test_signal (f->stack.redis, SIGCONT), 0);
    f->stack.redis_stopped = false;
}

static void
test_with_redis_down_details_are_served_by_the_catalog (void **state)
{
    fixture_t *f = *state;
    long before = s_cache_metric (f, "unavailable");
    assert_int_equal (mg_test_stop (f->stack.redis, SIGKILL) != -1, 1);
    f->stack.redis = 0;
    const int64_t bound = RATE_TIMEOUT_MS + LOOKUP_TIMEOUT_MS + HANG_SLACK_MS;
    for (int i = 0; i < 3; i++) {
        char cache [32];
        s_details_within (f, bound, cache, sizeof cache);
        assert_string_not_equal (cache, "hit");
    }
    s_details_t seen;
    s_details (f, "", &seen);
    assert_string_equal (seen.title, "Detailtest Beta");
    free (seen.body);
    assert_true (s_cache_metric (f, "unavailable") >= before + 3);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_repeated_read_is_a_cache_hit),
        cmocka_unit_test (test_a_change_event_makes_the_next_read_fresh),
        cmocka_unit_test (test_items_show_one_regions_offers),
        cmocka_unit_test (test_an_entry_is_gone_at_its_earliest_offer_expiry),
        cmocka_unit_test (test_with_redis_stopped_details_are_served_within_their_deadline),
        cmocka_unit_test (test_with_redis_down_details_are_served_by_the_catalog),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
