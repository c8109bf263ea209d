/*  My services and leaving soon end to end: real mg-broker, mg-catalog,
    mg-search, mg-sync, mg-alerts, mg-accounts, mg-ratelimit, mg-resolver (for /ready)
    and mg-gateway over HTTP, on a catalog fixture of its own in region XM
    (no other data has offers there, so every count is exact).

    The fixture (canonical platforms, region XM unless said):
      One   netflix subscription (no end), hulu rent ending in 3 days
      Two   hulu subscription ended yesterday, prime-video subscription
      Three netflix subscription in region XN only
      Four  disney-plus subscription ending in 10 days
      Five  netflix subscription ending in 1 day
    The user has services netflix and hulu in region XM.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_pg.h"
#include "mg_test.h"

#define TIMEOUT_MS     8000
#define START_WAIT_MS  60000
#define SECRET         "e2e-secret-my-services-0123456789abcdef"
#define MINE_CACHE_S   600          //  long: only the invalidation on a write explains a fresh answer

#define ID_ONE   "00000000-0000-4000-8000-00000000b001"
#define ID_TWO   "00000000-0000-4000-8000-00000000b002"
#define ID_THREE "00000000-0000-4000-8000-00000000b003"
#define ID_FOUR  "00000000-0000-4000-8000-00000000b004"
#define ID_FIVE  "00000000-0000-4000-8000-00000000b005"
#define IDS      "'" ID_ONE "','" ID_TWO "','" ID_THREE "','" ID_FOUR "','" ID_FIVE "'"

#define TITLE(id, name, pop) \
    "INSERT INTO content (id, type, title, year, popularity, vote_average, vote_count, checksum) VALUES ('" \
    id "', 'movie', 'Quorvex " name "', 2001, " pop ", 7.0, 10, '\\x00')"

static const char *s_fixture [] = {
    "DELETE FROM content WHERE id IN (" IDS ")",
    TITLE (ID_ONE, "One", "50"), TITLE (ID_TWO, "Two", "40"), TITLE (ID_THREE, "Three", "30"),
    TITLE (ID_FOUR, "Four", "20"), TITLE (ID_FIVE, "Five", "10"),
    "INSERT INTO availability (content_id, platform, region, type, price, currency, expires_at, source) VALUES "
    "  ('" ID_ONE "', 'netflix', 'XM', 'subscription', NULL, NULL, NULL, 'e2e'), "
    "  ('" ID_ONE "', 'hulu', 'XM', 'rent', 3.99, 'USD', now () + interval '3 days', 'e2e'), "
    "  ('" ID_TWO "', 'hulu', 'XM', 'subscription', NULL, NULL, now () - interval '1 day', 'e2e'), "
    "  ('" ID_TWO "', 'prime-video', 'XM', 'subscription', NULL, NULL, NULL, 'e2e'), "
    "  ('" ID_THREE "', 'netflix', 'XN', 'subscription', NULL, NULL, NULL, 'e2e'), "
    "  ('" ID_FOUR "', 'disney-plus', 'XM', 'subscription', NULL, NULL, now () + interval '10 days', 'e2e'), "
    "  ('" ID_FIVE "', 'netflix', 'XM', 'subscription', NULL, NULL, now () + interval '1 day', 'e2e')",
};

typedef struct {
    char env_text [6][96];
    const char *env [24];
    int http_port;
    pid_t broker, catalog, resolver, accounts, ratelimit, search, sync, alerts, gateway;
    char auth [1200];               //  "Authorization: Bearer ...\r\n" of the user
} fixture_t;

static fixture_t *s_f;

static int
s_call (const char *method, const char *path, const char *headers, const char *body, mg_http_reply_t *reply)
{
    return mg_http_request (s_f->http_port, method, path, headers, body, reply, TIMEOUT_MS);
}

//  JSON body of a reply of status to method path as the user (signed in)
//  or anonymous; asserts both. Caller decrefs.
static json_t *
s_expect (const char *method, const char *path, bool signed_in, const char *body, int status)
{
    mg_http_reply_t reply;
    assert_int_equal (s_call (method, path, signed_in ? s_f->auth : "", body, &reply), 0);
    if (reply.status != status)
        fail_msg ("%s %s: expected %d, got %d: %s", method, path, status, reply.status, reply.body);
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    if (!json)
        fail_msg ("%s %s: not JSON: %s", method, path, reply.body);
    mg_http_reply_free (&reply);
    return json;
}

//  Asserts json is an error with code naming param (when not NULL).
static void
s_assert_error (json_t *json, const char *code, const char *param)
{
    json_t *error = json_object_get (json, "error");
    assert_string_equal (json_string_value (json_object_get (error, "code")), code);
    if (param)
        assert_string_equal (json_string_value (json_object_get (error, "param")), param);
    json_decref (json);
}

//  The titles of a list's results (item.title, or item.content.title) joined
//  by '|' into out, in order.
static const char *
s_titles (const json_t *json, const char *inner, char *out, size_t size)
{
    size_t used = 0, index;
    json_t *item;
    out [0] = '\0';
    json_array_foreach (json_object_get (json, "results"), index, item) {
        const json_t *title = inner ? json_object_get (json_object_get (item, inner), "title")
                                    : json_object_get (item, "title");
        int n = snprintf (out + used, size - used, "%s%s", used ? "|" : "", json_string_value (title));
        assert_true (n > 0 && (size_t) n < size - used);
        used += (size_t) n;
    }
    return out;
}

//  on_my_services of the result titled title, joined by ',' into out; "-"
//  when the item has none.
static const char *
s_marks (const json_t *json, const char *inner, const char *title, char *out, size_t size)
{
    size_t index;
    json_t *item;
    snprintf (out, size, "?");
    json_array_foreach (json_object_get (json, "results"), index, item) {
        const json_t *content = inner ? json_object_get (item, inner) : item;
        if (strcmp (json_string_value (json_object_get (content, "title")), title) != 0)
            continue;
        const json_t *marks = json_object_get (content, "on_my_services");
        if (!marks)
            return snprintf (out, size, "-"), out;
        size_t used = 0, i;
        json_t *mark;
        out [0] = '\0';
        json_array_foreach (marks, i, mark)
            used += (size_t) snprintf (out + used, size - used, "%s%s", used ? "," : "", json_string_value (mark));
        return out;
    }
    return out;
}

static int
s_wait_ready (void)
{
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        if (s_call ("GET", "/ready", "", NULL, &reply) == 0 && reply.status == 200) {
            mg_http_reply_free (&reply);
            return 0;
        }
        mg_http_reply_free (&reply);
        usleep (100 * 1000);
    }
    return -1;
}

//  Wait until the migrations ran (the genres are seeded), then write the
//  fixture. False when either fails.
static bool
s_fixture_when_migrated (void)
{
    char reason [256];
    PGconn *pg = mg_pg_connect (getenv ("MG_PG_URL"), reason, sizeof reason);
    if (!pg)
        return false;
    bool ready = false;
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (!ready && mg_test_now_ms () < until) {
        PGresult *res = PQexec (pg, "SELECT count(*) FROM genres");
        ready = PQresultStatus (res) == PGRES_TUPLES_OK && atoi (PQgetvalue (res, 0, 0)) == 18;
        PQclear (res);
        if (!ready)
            usleep (50 * 1000);
    }
    for (size_t i = 0; ready && i < sizeof s_fixture / sizeof s_fixture [0]; i++) {
        PGresult *res = PQexec (pg, s_fixture [i]);
        ready = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ready)
            fprintf (stderr, "%s: %s\n", s_fixture [i], PQresultErrorMessage (res));
        PQclear (res);
    }
    PQfinish (pg);
    return ready;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    pid_t *pids [] = { &f->gateway, &f->alerts, &f->sync, &f->search, &f->ratelimit, &f->accounts, &f->resolver,
                       &f->catalog, &f->broker };
    for (size_t i = 0; i < sizeof pids / sizeof pids [0]; i++)
        if (*pids [i] > 0)
            mg_test_stop (*pids [i], SIGTERM);
    char reason [256];
    PGconn *pg = mg_pg_connect (getenv ("MG_PG_URL"), reason, sizeof reason);
    if (pg)
        PQclear (PQexec (pg, s_fixture [0]));
    PQfinish (pg);
    free (f);
    return 0;
}

//  Register and log in a user of this run; their bearer header into f->auth.
//  A busy stack (a loaded CI machine) may answer 503 at first: retried, as
//  a client does, until START_WAIT_MS.
static int
s_sign_in (fixture_t *f)
{
    char body [256];
    snprintf (body, sizeof body, "{\"email\":\"mine-%ld-%d@example.com\",\"password\":\"password-1\"}",
              (long) time (NULL), (int) getpid ());
    bool registered = false;
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        int rc = s_call ("POST", registered ? "/api/v1/auth/login" : "/api/v1/auth/register", "", body, &reply);
        int status = rc ? 0 : reply.status;
        if (status == 200 && registered) {
            json_t *json = json_loads (reply.body, 0, NULL);
            const char *token = json_string_value (json_object_get (json, "access_token"));
            if (token)
                snprintf (f->auth, sizeof f->auth, "Authorization: Bearer %s\r\n", token);
            json_decref (json);
            mg_http_reply_free (&reply);
            return token ? 0 : -1;
        }
        mg_http_reply_free (&reply);
        //  201, or 409 when an answer lost to a busy moment had registered us already.
        if (!registered && (status == 201 || status == 409))
            registered = true;
        else
        if (status != 0 && status < 500) {
            fprintf (stderr, "sign in: %d\n", status);
            return -1;
        }
        else
            usleep (200 * 1000);
    }
    return -1;
}

static int
group_setup (void **state)
{
    if (!getenv ("MG_PG_URL") || !getenv ("MG_REDIS_URL")) {
        fprintf (stderr, "MG_PG_URL and MG_REDIS_URL must be set (scripts/test does)\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    s_f = f;
    *state = f;
    int broker = mg_test_free_port ();
    f->http_port = mg_test_free_port ();
    snprintf (f->env_text [0], 96, "MG_BROKER=tcp://127.0.0.1:%d", broker);
    snprintf (f->env_text [1], 96, "MG_BROKER_BIND=tcp://127.0.0.1:%d", broker);
    snprintf (f->env_text [2], 96, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->env_text [3], 96, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", mg_test_free_port ());
    snprintf (f->env_text [4], 96, "MG_HTTP_PORT=%d", f->http_port);
    snprintf (f->env_text [5], 96, "MG_MINE_CACHE_S=%d", MINE_CACHE_S);
    const char *fixed [] = {
        "MG_JWT_SECRET=" SECRET, "MG_RATE_ANONYMOUS=100000/s,1000000/m", "MG_RATE_FREE=100000/s,1000000/m",
        "MG_HEARTBEAT_MS=250", "MG_RESOLVER_INGEST=0", "MG_REQUEST_TIMEOUT_MS=6000",
        "MG_SEARCH_CACHE_TTL_S=0", "MG_PWHASH_MEMLIMIT_KIB=16384", "MG_DEFAULT_REGION=US", NULL
    };
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        f->env [n++] = f->env_text [i];
    for (int i = 0; fixed [i]; i++)
        f->env [n++] = fixed [i];
    f->env [n] = NULL;
    f->broker = mg_test_spawn ("mg-broker", f->env);
    f->catalog = mg_test_spawn ("mg-catalog", f->env);
    //  The search replica loads its snapshot at start: the fixture goes in first.
    if (s_fixture_when_migrated ()) {
        f->accounts = mg_test_spawn ("mg-accounts", f->env);
        f->resolver = mg_test_spawn ("mg-resolver", f->env);
        f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env);
        f->search = mg_test_spawn ("mg-search", f->env);
        f->sync = mg_test_spawn ("mg-sync", f->env);
        f->alerts = mg_test_spawn ("mg-alerts", f->env);
        f->gateway = mg_test_spawn ("mg-gateway", f->env);
        if (s_wait_ready () == 0 && s_sign_in (f) == 0)
            return 0;
    }
    fprintf (stderr, "the stack did not become ready\n");
    group_teardown (state);
    *state = NULL;
    return -1;
}

//  PUT the user's services and region; asserts 200.
static void
s_set_services (const char *body)
{
    json_decref (s_expect ("PUT", "/api/v1/me/preferences", true, body, 200));
}

static void
test_platforms_lists_the_canonical_platforms_by_the_list_contract (void **state)
{
    (void) state;
    json_t *json = s_expect ("GET", "/api/v1/platforms?per_page=100", false, NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 13);
    json_t *first = json_array_get (json_object_get (json, "results"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "slug")), "apple-tv");
    assert_string_equal (json_string_value (json_object_get (first, "name")), "Apple TV");
    assert_string_equal (json_string_value (json_object_get (first, "logo_path")), "/platforms/apple-tv.png");
    assert_true (json_array_size (json_object_get (first, "regions")) > 0);
    json_decref (json);
    //  Paged: 13 platforms, 5 a page, page 3 holds the last 3.
    json = s_expect ("GET", "/api/v1/platforms?per_page=5&page=3", false, NULL, 200);
    assert_int_equal (json_array_size (json_object_get (json, "results")), 3);
    assert_int_equal (json_integer_value (json_object_get (json, "page")), 3);
    json_decref (json);
    //  Those serving Japan.
    json = s_expect ("GET", "/api/v1/platforms?region=jp", false, NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 7);
    json_decref (json);
    s_assert_error (s_expect ("GET", "/api/v1/platforms?region=Japan", false, NULL, 400), "INVALID_PARAMETER", "region");
}

static void
test_services_preference_takes_canonical_slugs_only (void **state)
{
    (void) state;
    s_assert_error (s_expect ("PUT", "/api/v1/me/preferences", true, "{\"services\":[\"netflix\",\"nopeflix\"]}", 400),
                    "INVALID_PARAMETER", NULL);
    json_t *json = s_expect ("PUT", "/api/v1/me/preferences", true, "{\"services\":[\"netflix\",\"nopeflix\"]}", 400);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (json, "error"), "message")),
                             "nopeflix"));
    json_decref (json);
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
    json = s_expect ("GET", "/api/v1/me/preferences", true, NULL, 200);
    json_t *services = json_object_get (json, "services");
    assert_int_equal (json_array_size (services), 2);
    assert_string_equal (json_string_value (json_array_get (services, 0)), "netflix");
    json_decref (json);
    //  [] clears them; absent leaves them.
    s_set_services ("{\"services\":[]}");
    json = s_expect ("GET", "/api/v1/me/preferences", true, NULL, 200);
    assert_int_equal (json_array_size (json_object_get (json, "services")), 0);
    json_decref (json);
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"]}");
    s_set_services ("{\"autoplay\":true}");
    json = s_expect ("GET", "/api/v1/me/preferences", true, NULL, 200);
    assert_int_equal (json_array_size (json_object_get (json, "services")), 2);
    json_decref (json);
}

static void
test_available_mine_filters_and_marks_discover_trending_and_search (void **state)
{
    (void) state;
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
    char titles [512], marks [128];
    //  discover: One (netflix) and Five (netflix until tomorrow); Two's hulu ended,
    //  Three is elsewhere, Four is on a service the user lacks.
    json_t *json = s_expect ("GET", "/api/v1/discover?available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex One|Quorvex Five");
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 2);
    assert_string_equal (s_marks (json, NULL, "Quorvex One", marks, sizeof marks), "hulu,netflix");
    assert_string_equal (s_marks (json, NULL, "Quorvex Five", marks, sizeof marks), "netflix");
    json_decref (json);
    //  Filtered before paging: one a page, the second page holds Five, the total stays 2.
    json = s_expect ("GET", "/api/v1/discover?available=mine&per_page=1&page=2", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex Five");
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 2);
    json_decref (json);
    json = s_expect ("GET", "/api/v1/trending?available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex One|Quorvex Five");
    json_decref (json);
    //  Without the filter a signed-in caller's items are marked, [] when on none of theirs.
    json = s_expect ("GET", "/api/v1/discover?region=XM", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles),
                         "Quorvex One|Quorvex Two|Quorvex Four|Quorvex Five");
    assert_string_equal (s_marks (json, NULL, "Quorvex Two", marks, sizeof marks), "");
    assert_string_equal (s_marks (json, NULL, "Quorvex Four", marks, sizeof marks), "");
    json_decref (json);
    //  Anonymous callers get no marks.
    json = s_expect ("GET", "/api/v1/discover?region=XM", false, NULL, 200);
    assert_string_equal (s_marks (json, NULL, "Quorvex One", marks, sizeof marks), "-");
    json_decref (json);
    //  Search filters before paging too, and marks.
    json = s_expect ("GET", "/api/v1/search?q=quorvex&mode=keyword&available=mine&sort=popularity", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex One|Quorvex Five");
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 2);
    assert_string_equal (s_marks (json, NULL, "Quorvex One", marks, sizeof marks), "hulu,netflix");
    json_decref (json);
    json = s_expect ("GET", "/api/v1/search?q=quorvex&mode=keyword&available=mine&per_page=1&page=2&sort=popularity",
                     true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex Five");
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 2);
    json_decref (json);
    json = s_expect ("GET", "/api/v1/search?q=quorvex&mode=keyword", false, NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 5);
    assert_string_equal (s_marks (json, NULL, "Quorvex One", marks, sizeof marks), "-");
    json_decref (json);
}

static void
test_available_mine_is_401_anonymous_and_400_for_other_values (void **state)
{
    (void) state;
    const char *paths [] = {
        "/api/v1/discover?available=mine", "/api/v1/trending?available=mine",
        "/api/v1/search?q=quorvex&mode=keyword&available=mine", "/api/v1/leaving?available=mine",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++)
        s_assert_error (s_expect ("GET", paths [i], false, NULL, 401), "UNAUTHORIZED", "available");
    const char *bad [] = {
        "/api/v1/discover?available=all", "/api/v1/trending?available=yes",
        "/api/v1/search?q=quorvex&mode=keyword&available=MINE", "/api/v1/leaving?available=none",
        "/api/v1/me/watchlist?available=theirs", "/api/v1/me/progress?available=mine",
        "/api/v1/me/devices?available=mine",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        s_assert_error (s_expect ("GET", bad [i], true, NULL, 400), "INVALID_PARAMETER", "available");
    //  The gateway's own fields cannot be given by a client.
    s_assert_error (s_expect ("GET", "/api/v1/discover?my_services=netflix", false, NULL, 400),
                    "INVALID_PARAMETER", NULL);
    s_assert_error (s_expect ("GET", "/api/v1/search?q=a&signed_in=true", false, NULL, 400),
                    "INVALID_PARAMETER", NULL);
}

static void
test_watchlist_available_mine_filters_before_paging (void **state)
{
    (void) state;
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
    const char *ids [] = { ID_FOUR, ID_TWO, ID_ONE, ID_FIVE };
    for (size_t i = 0; i < sizeof ids / sizeof ids [0]; i++) {
        char path [128];
        snprintf (path, sizeof path, "/api/v1/me/watchlist/%s", ids [i]);
        json_decref (s_expect ("PUT", path, true, NULL, 200));
    }
    char titles [512], marks [128];
    json_t *json = s_expect ("GET", "/api/v1/me/watchlist", true, NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 4);
    assert_string_equal (s_marks (json, "content", "Quorvex Two", marks, sizeof marks), "");
    assert_string_equal (s_marks (json, "content", "Quorvex One", marks, sizeof marks), "hulu,netflix");
    json_decref (json);
    //  Newest first: Five, One.
    json = s_expect ("GET", "/api/v1/me/watchlist?available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex Five|Quorvex One");
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 2);
    json_decref (json);
    json = s_expect ("GET", "/api/v1/me/watchlist?available=mine&per_page=1&page=2", true, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex One");
    json_decref (json);
}

static void
test_a_services_change_is_seen_at_once_through_the_gateway (void **state)
{
    (void) state;
    char titles [512];
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
    json_t *json = s_expect ("GET", "/api/v1/discover?available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex One|Quorvex Five");
    json_decref (json);
    //  The cached services (MG_MINE_CACHE_S is long here) are forgotten on the write.
    s_set_services ("{\"services\":[\"disney-plus\",\"prime-video\"]}");
    json = s_expect ("GET", "/api/v1/discover?available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex Two|Quorvex Four");
    json_decref (json);
    json = s_expect ("GET", "/api/v1/search?q=quorvex&mode=keyword&available=mine&sort=popularity", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex Two|Quorvex Four");
    json_decref (json);
    //  Through a sync op too.
    char body [256];
    snprintf (body, sizeof body, "{\"ops\":[{\"op_id\":\"%08lx-0000-4000-8000-000000000001\","
              "\"type\":\"preferences.set\",\"field\":\"services\",\"value\":[\"netflix\"]}]}",
              (unsigned long) (time (NULL) & 0xffffffff));
    json_decref (s_expect ("POST", "/api/v1/sync/ops", true, body, 200));
    json = s_expect ("GET", "/api/v1/discover?available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex One|Quorvex Five");
    json_decref (json);
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"]}");
}

static void
test_leaving_lists_offers_in_the_window_soonest_first (void **state)
{
    (void) state;
    char titles [512];
    //  A week: Five (netflix, 1 day) then One (hulu, 3 days); Two's offer already ended.
    json_t *json = s_expect ("GET", "/api/v1/leaving?region=XM", false, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex Five|Quorvex One");
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 2);
    json_t *first = json_array_get (json_object_get (json, "results"), 0);
    assert_string_equal (json_string_value (json_object_get (json_object_get (first, "offer"), "platform")), "netflix");
    assert_non_null (json_string_value (json_object_get (json_object_get (first, "offer"), "expires_at")));
    json_decref (json);
    json = s_expect ("GET", "/api/v1/leaving?region=xm&within_days=30", false, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex Five|Quorvex One|Quorvex Four");
    json_decref (json);
    json = s_expect ("GET", "/api/v1/leaving?region=XM&within_days=2", false, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex Five");
    json_decref (json);
    json = s_expect ("GET", "/api/v1/leaving?region=XM&within_days=30&platforms=hulu,disney-plus", false, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex One|Quorvex Four");
    json_decref (json);
    json = s_expect ("GET", "/api/v1/leaving?region=XM&within_days=30&per_page=1&page=3", false, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex Four");
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 3);
    json_decref (json);
    //  The caller's region by default, and available=mine.
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
    json = s_expect ("GET", "/api/v1/leaving?within_days=30", true, NULL, 200);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 3);
    json_decref (json);
    json = s_expect ("GET", "/api/v1/leaving?within_days=30&available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, "content", titles, sizeof titles), "Quorvex Five|Quorvex One");
    json_decref (json);
    const struct { const char *path; const char *param; } bad [] = {
        { "/api/v1/leaving?within_days=0", "within_days" },
        { "/api/v1/leaving?within_days=91", "within_days" },
        { "/api/v1/leaving?within_days=soon", NULL },
        { "/api/v1/leaving?region=XMX", "region" },
        { "/api/v1/leaving?platforms=-bad", "platforms" },
        { "/api/v1/leaving?type=book", "type" },
        { "/api/v1/leaving?per_page=101", "per_page" },
        { "/api/v1/leaving?when=soon", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        s_assert_error (s_expect ("GET", bad [i].path, false, NULL, 400), "INVALID_PARAMETER", bad [i].param);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_platforms_lists_the_canonical_platforms_by_the_list_contract),
        cmocka_unit_test (test_services_preference_takes_canonical_slugs_only),
        cmocka_unit_test (test_available_mine_filters_and_marks_discover_trending_and_search),
        cmocka_unit_test (test_available_mine_is_401_anonymous_and_400_for_other_values),
        cmocka_unit_test (test_watchlist_available_mine_filters_before_paging),
        cmocka_unit_test (test_a_services_change_is_seen_at_once_through_the_gateway),
        cmocka_unit_test (test_leaving_lists_offers_in_the_window_soonest_first),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
