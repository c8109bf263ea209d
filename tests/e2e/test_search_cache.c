/*  The search result cache end to end: a Redis of its own, a scratch
    database, the pipeline (mg-import -> mg-indexer -> mg-resolver), a
    search replica and every routed actor behind mg-gateway. A repeated
    search is answered from Redis (X-Cache: hit), an import that changes a
    title moves the catalog generation so the old page is no longer served,
    with Redis stopped (SIGSTOP) searches are answered uncached within their
    deadline and the cache works again once Redis continues, and with Redis
    gone searches are answered uncached.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_test.h"

#define START_WAIT_MS  30000        //  migrations, snapshot and registration at start
#define CHANGE_WAIT_MS 15000        //  an import's change reaching the replica
#define HTTP_WAIT_MS   5000
#define RATE_TIMEOUT_MS  250        //  MG_RATE_TIMEOUT_MS: the limiter's budget (fail open past it)
#define LOOKUP_TIMEOUT_MS 50        //  MG_SEARCH_CACHE_TIMEOUT_MS
#define HANG_SLACK_MS  1000         //  a hang bound, not a speed claim
#define STALL_WAIT_MS  10000        //  how long a stalled request is waited for before it counts as hung

typedef struct {
    mg_test_stack_t stack;          //  first: mg_test_stack_setup
    char catalog [64];              //  the catalog file mg-import reads
} fixture_t;

//  Write path: one title as the importer reads it (TMDB-like JSON line).
static void
s_write_catalog (const char *path, const char *title)
{
    FILE *out = fopen (path, "w");
    assert_non_null (out);
    fprintf (out, "{\"source\":\"tmdb\",\"type\":\"movie\",\"id\":990001,\"title\":\"%s\","
                  "\"original_title\":\"%s\",\"original_language\":\"en\","
                  "\"overview\":\"A lighthouse keeper counts ships.\",\"release_date\":\"2001-02-03\","
                  "\"popularity\":5.5,\"vote_average\":7.1,\"vote_count\":10,"
                  "\"genres\":[{\"id\":18,\"name\":\"Drama\"}],\"keywords\":[\"lighthouse\"]}\n",
             title, title);
    fclose (out);
}

//  The title renamed, through mg-import --wait; its exit status.
static int
s_import (fixture_t *f, const char *title)
{
    s_write_catalog (f->catalog, title);
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
    snprintf (catalog, sizeof catalog, "/tmp/mg-search-cache.%d.jsonl", (int) getpid ());
    s_write_catalog (catalog, "Cachetest Alpha");
    snprintf (lookup, sizeof lookup, "MG_SEARCH_CACHE_TIMEOUT_MS=%d", LOOKUP_TIMEOUT_MS);
    snprintf (rate, sizeof rate, "MG_RATE_TIMEOUT_MS=%d", RATE_TIMEOUT_MS);
    const char *settings [] = { "MG_RATE_ANONYMOUS=1000000/s,1000000/m", "MG_SEARCH_CACHE_TTL_S=600", lookup, rate, NULL };
    mg_test_stack_options_t options = {
        .db = "mg_search_cache", .redis = true, .import = catalog, .settings = settings, .timeout_ms = START_WAIT_MS
    };
    if (mg_test_stack_setup (state, sizeof (fixture_t), &options)) {
        unlink (catalog);
        return -1;
    }
    fixture_t *f = *state;
    snprintf (f->catalog, sizeof f->catalog, "%s", catalog);
    return 0;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (f)
        unlink (f->catalog);
    return mg_test_stack_teardown (state);
}

//  GET path: asserts 200; X-Cache into cache ("" when absent), the body's
//  first result title into title ("" when none). Returns the body (free).
static char *
s_search (fixture_t *f, const char *path, char *cache, size_t cache_size, char *title, size_t title_size)
{
    mg_http_reply_t reply;
    assert_int_equal (s_get (f, path, &reply), 0);
    if (reply.status != 200)
        fail_msg ("GET %s: %d %s", path, reply.status, reply.body);
    if (!mg_http_header (&reply, "X-Cache", cache, cache_size))
        cache [0] = '\0';
    json_error_t jerr;
    json_t *json = json_loads (reply.body, 0, &jerr);
    assert_non_null (json);
    json_t *first = json_array_get (json_object_get (json, "results"), 0);
    snprintf (title, title_size, "%s", first ? json_string_value (json_object_get (first, "title")) : "");
    json_decref (json);
    char *body = strdup (reply.body);
    mg_http_reply_free (&reply);
    return body;
}

//  Value of the cache counter outcome in /metrics, -1 when absent.
static long
s_cache_metric (fixture_t *f, const char *outcome)
{
    char name [96];
    snprintf (name, sizeof name, "mg_gateway_search_cache_total{outcome=\"%s\"}", outcome);
    return (long) mg_http_metric (f->stack.http_port, name);
}

//  GET path waiting up to STALL_WAIT_MS: asserts it answered status within
//  bound_ms; X-Cache into cache ("" when absent). Returns the milliseconds taken.
static int64_t
s_get_within (fixture_t *f, const char *path, int status, int64_t bound_ms, char *cache, size_t cache_size)
{
    mg_http_reply_t reply;
    int64_t start = mg_test_now_ms ();
    int rc = mg_http_request (f->stack.http_port, "GET", path, "", NULL, &reply, STALL_WAIT_MS);
    int64_t took = mg_test_now_ms () - start;
    if (rc != 0)
        fail_msg ("GET %s: no answer within %d ms", path, STALL_WAIT_MS);
    if (reply.status != status || took >= bound_ms)
        fail_msg ("GET %s: %d after %lld ms (wanted %d within %lld ms)", path, reply.status,
                  (long long) took, status, (long long) bound_ms);
    if (!mg_http_header (&reply, "X-Cache", cache, cache_size))
        cache [0] = '\0';
    mg_http_reply_free (&reply);
    return took;
}

//  Search path until its X-Cache is want_cache and its first title
//  want_title (NULL: any), or CHANGE_WAIT_MS passes; the last answer's
//  X-Cache and title into cache and title.
static void
s_search_until (fixture_t *f, const char *path, const char *want_cache, const char *want_title,
                char *cache, size_t cache_size, char *title, size_t title_size)
{
    int64_t until = mg_test_now_ms () + CHANGE_WAIT_MS;
    while (true) {
        free (s_search (f, path, cache, cache_size, title, title_size));
        bool done = (!want_cache || strcmp (cache, want_cache) == 0)
                 && (!want_title || strcmp (title, want_title) == 0);
        if (done || mg_test_now_ms () >= until)
            return;
        usleep (100 * 1000);
    }
}

static void
test_a_repeated_search_is_a_cache_hit (void **state)
{
    fixture_t *f = *state;
    char cache [32], title [128];
    const char *path = "/api/v1/search?q=cachetest&mode=keyword&per_page=5";
    char *first = s_search (f, path, cache, sizeof cache, title, sizeof title);
    assert_string_equal (cache, "miss");
    assert_string_equal (title, "Cachetest Alpha");
    char *second = s_search (f, path, cache, sizeof cache, title, sizeof title);
    assert_string_equal (cache, "hit");
    assert_string_equal (second, first);
    //  Another page is another entry; explain is never cached.
    free (s_search (f, "/api/v1/search?q=cachetest&mode=keyword&per_page=6", cache, sizeof cache, title, sizeof title));
    assert_string_equal (cache, "miss");
    for (int i = 0; i < 2; i++) {
        free (s_search (f, "/api/v1/search?q=cachetest&mode=keyword&explain=true", cache, sizeof cache,
                        title, sizeof title));
        assert_string_equal (cache, "");
    }
    assert_true (s_cache_metric (f, "hit") >= 1);
    assert_true (s_cache_metric (f, "miss") >= 2);
    assert_true (s_cache_metric (f, "store") >= 2);
    free (first);
    free (second);
}

static void
test_an_import_that_changes_a_title_invalidates_the_cache (void **state)
{
    fixture_t *f = *state;
    char cache [32], title [128];
    const char *path = "/api/v1/search?q=cachetest&mode=keyword&per_page=3";
    free (s_search (f, path, cache, sizeof cache, title, sizeof title));
    free (s_search (f, path, cache, sizeof cache, title, sizeof title));
    assert_string_equal (cache, "hit");
    assert_string_equal (title, "Cachetest Alpha");
    assert_int_equal (s_import (f, "Cachetest Beta"), 0);
    //  The replica applies the change and moves the generation: the cached
    //  page stops being served (its TTL, 600 s, is far away).
    s_search_until (f, path, NULL, "Cachetest Beta", cache, sizeof cache, title, sizeof title);
    assert_string_equal (title, "Cachetest Beta");
    //  ... and the new page is cached in its turn.
    free (s_search (f, path, cache, sizeof cache, title, sizeof title));
    assert_string_equal (title, "Cachetest Beta");
    assert_string_equal (cache, "hit");
}

static void
test_discover_pages_are_cached_apart_from_searches_until_an_import_changes_a_title (void **state)
{
    fixture_t *f = *state;
    char cache [32], title [128];
    //  Without parameters a search and a discover bind alike: the method
    //  keeps their entries apart, so neither is answered with the other.
    free (s_search (f, "/api/v1/search", cache, sizeof cache, title, sizeof title));
    free (s_search (f, "/api/v1/search", cache, sizeof cache, title, sizeof title));
    assert_string_equal (cache, "hit");
    long hits = (long) mg_http_metric (f->stack.http_port, "mg_gateway_discover_cache_total{outcome=\"hit\"}");
    char *plain = s_search (f, "/api/v1/discover", cache, sizeof cache, title, sizeof title);
    assert_string_equal (cache, "miss");
    assert_null (strstr (plain, "\"took_ms\""));
    free (plain);
    const char *path = "/api/v1/discover?genres=drama&sort=popularity&per_page=5";
    char *first = s_search (f, path, cache, sizeof cache, title, sizeof title);
    assert_string_equal (cache, "miss");
    char *second = s_search (f, path, cache, sizeof cache, title, sizeof title);
    assert_string_equal (cache, "hit");
    assert_string_equal (second, first);
    assert_string_not_equal (title, "Cachetest Gamma");
    assert_true (mg_http_metric (f->stack.http_port, "mg_gateway_discover_cache_total{outcome=\"hit\"}") >= hits + 1);
    free (first);
    free (second);
    //  A change moves the generation: the page is asked again, and kept.
    assert_int_equal (s_import (f, "Cachetest Gamma"), 0);
    s_search_until (f, path, NULL, "Cachetest Gamma", cache, sizeof cache, title, sizeof title);
    assert_string_equal (title, "Cachetest Gamma");
    free (s_search (f, path, cache, sizeof cache, title, sizeof title));
    assert_string_equal (title, "Cachetest Gamma");
    assert_string_equal (cache, "hit");
    //  The title back as the tests after this one expect it.
    assert_int_equal (s_import (f, "Cachetest Beta"), 0);
    s_search_until (f, "/api/v1/search?q=cachetest&mode=keyword&per_page=3", NULL, "Cachetest Beta",
                    cache, sizeof cache, title, sizeof title);
    assert_string_equal (title, "Cachetest Beta");
}

static void
test_with_redis_stopped_searches_are_served_uncached_within_their_deadline (void **state)
{
    fixture_t *f = *state;
    char cache [32], title [128];
    long timeouts = s_cache_metric (f, "timeout");
    long stalled = (long) mg_http_metric (f->stack.http_port, "mg_gateway_redis_connections_total{event=\"stalled\"}");
    long fail_open = (long) mg_http_metric (f->stack.http_port, "mg_gateway_ratelimit_decisions_total{outcome=\"fail_open\"}");
    long reconnected = (long) mg_http_metric (f->stack.http_port, "mg_gateway_redis_connections_total{event=\"reconnected\"}");
    assert_int_equal (mg_test_signal (f->stack.redis, SIGSTOP), 0);
    f->stack.redis_stopped = true;
    //  Neither the limiter (fails open within its budget) nor the cache
    //  (given up after its look-up deadline) holds a request up.
    const int64_t bound = RATE_TIMEOUT_MS + LOOKUP_TIMEOUT_MS + HANG_SLACK_MS;
    int64_t stopped_at = mg_test_now_ms ();
    int served = 0;
    int64_t slowest_search = 0, slowest_genres = 0;
    for (int per_page = 7; per_page <= 9 || mg_test_now_ms () - stopped_at < 2500; per_page++) {
        char path [128];
        snprintf (path, sizeof path, "/api/v1/search?q=cachetest&mode=keyword&per_page=%d", per_page);
        int64_t took = s_get_within (f, path, 200, bound, cache, sizeof cache);
        slowest_search = took > slowest_search ? took : slowest_search;
        assert_string_not_equal (cache, "hit");
        took = s_get_within (f, "/api/v1/genres", 200, bound, cache, sizeof cache);
        slowest_genres = took > slowest_genres ? took : slowest_genres;
        served++;
        usleep (100 * 1000);
    }
    fprintf (stderr, "redis stopped: searches=%d slowest_search_ms=%lld slowest_genres_ms=%lld bound_ms=%lld\n",
             served, (long long) slowest_search, (long long) slowest_genres, (long long) bound);
    assert_true (served >= 3);
    assert_true (s_cache_metric (f, "timeout") >= timeouts + 1);
    //  A command unanswered for 1 s: the connection was dropped as stalled.
    assert_true (mg_http_metric (f->stack.http_port, "mg_gateway_redis_connections_total{event=\"stalled\"}") >= stalled + 1);
    assert_true (mg_http_metric (f->stack.http_port, "mg_gateway_ratelimit_decisions_total{outcome=\"fail_open\"}") >= fail_open + 1);
    //  Redis continues: the gateway reconnects and the cache answers again.
    assert_int_equal (mg_test_signal (f->stack.redis, SIGCONT), 0);
    f->stack.redis_stopped = false;
    const char *path = "/api/v1/search?q=cachetest&mode=keyword&per_page=7";
    s_search_until (f, path, "hit", NULL, cache, sizeof cache, title, sizeof title);
    assert_string_equal (cache, "hit");
    assert_string_equal (title, "Cachetest Beta");
    //  The thread whose connection was dropped reconnects on its next
    //  look-up after RECONNECT_MS; searches land on either thread.
    int64_t until = mg_test_now_ms () + CHANGE_WAIT_MS;
    const char *name = "mg_gateway_redis_connections_total{event=\"reconnected\"}";
    while (mg_http_metric (f->stack.http_port, name) < reconnected + 1 && mg_test_now_ms () < until) {
        free (s_search (f, path, cache, sizeof cache, title, sizeof title));
        usleep (100 * 1000);
    }
    assert_true (mg_http_metric (f->stack.http_port, name) >= reconnected + 1);
}

static void
test_with_redis_down_searches_are_served_uncached (void **state)
{
    fixture_t *f = *state;
    char cache [32], title [128];
    long before = s_cache_metric (f, "unavailable");
    assert_int_equal (mg_test_stop (f->stack.redis, SIGKILL) != -1, 1);
    f->stack.redis = 0;
    for (int i = 0; i < 3; i++) {
        free (s_search (f, "/api/v1/search?q=cachetest&mode=keyword&per_page=3", cache, sizeof cache,
                        title, sizeof title));
        assert_string_equal (title, "Cachetest Beta");
        assert_string_not_equal (cache, "hit");
    }
    assert_true (s_cache_metric (f, "unavailable") >= before + 3);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_repeated_search_is_a_cache_hit),
        cmocka_unit_test (test_an_import_that_changes_a_title_invalidates_the_cache),
        cmocka_unit_test (test_discover_pages_are_cached_apart_from_searches_until_an_import_changes_a_title),
        cmocka_unit_test (test_with_redis_stopped_searches_are_served_uncached_within_their_deadline),
        cmocka_unit_test (test_with_redis_down_searches_are_served_uncached),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
