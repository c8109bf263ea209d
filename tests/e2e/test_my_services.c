/*  My services and leaving soon end to end: real mg-broker, mg-catalog,
    mg-search, mg-sync, mg-alerts, mg-accounts, mg-ratelimit, mg-resolver (for /ready)
    and mg-gateway over HTTP, on a catalog fixture of its own in region XM
    (no other data has offers there, so every count is exact).

    The fixture (canonical platforms, region XM unless said):
      One   netflix subscription (no end), hulu rent ending in 3 days
      Two   hulu subscription ended yesterday, prime-video subscription
      Three netflix subscription and rent (one deep link) in region XN only
      Four  disney-plus subscription ending in 10 days
      Five  netflix subscription ending in 1 day
    One also has a netflix subscription in region XN, which items show only
    when asked for (offers_region) or when XN is the caller's region.
    The user has services netflix and hulu in region XM. A second gateway
    (one thread, the same long MG_MINE_CACHE_S) shares the bus: a
    preferences change made through the first is seen by it at once.  */
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

#include "mg_client.h"
#include "mg_http.h"
#include "mg_pg.h"
#include "mg_test.h"

#define TIMEOUT_MS     8000
#define START_WAIT_MS  60000
#define SECRET         "e2e-secret-my-services-0123456789abcdef"
#define MINE_CACHE_S   600          //  long: only the invalidation on a write explains a fresh answer
#define EVENT_WAIT_MS  3000         //  a preferences event crossing the bus to the other gateway (milliseconds when idle)

#define ID_ONE   "00000000-0000-4000-8000-00000000b001"
#define ID_TWO   "00000000-0000-4000-8000-00000000b002"
#define ID_THREE "00000000-0000-4000-8000-00000000b003"
#define ID_FOUR  "00000000-0000-4000-8000-00000000b004"
#define ID_FIVE  "00000000-0000-4000-8000-00000000b005"
#define THREE_LINK "https://www.netflix.com/title/b003"
#define FOUR_WORDS "Quorvex drifts over the moving island. "     //  39 characters, 8 times: 312
#define OVERVIEW_MAX 160            //  characters of a list item's overview (SQL_ITEM_OVERVIEW_MAX)
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
    "  ('" ID_ONE "', 'netflix', 'XN', 'subscription', NULL, NULL, NULL, 'e2e'), "
    "  ('" ID_TWO "', 'hulu', 'XM', 'subscription', NULL, NULL, now () - interval '1 day', 'e2e'), "
    "  ('" ID_TWO "', 'prime-video', 'XM', 'subscription', NULL, NULL, NULL, 'e2e'), "
    "  ('" ID_THREE "', 'netflix', 'XN', 'subscription', NULL, NULL, NULL, 'e2e'), "
    "  ('" ID_FOUR "', 'disney-plus', 'XM', 'subscription', NULL, NULL, now () + interval '10 days', 'e2e'), "
    "  ('" ID_FIVE "', 'netflix', 'XM', 'subscription', NULL, NULL, now () + interval '1 day', 'e2e')",
    //  Three's subscription and rent on netflix share one deep link: list items write it once.
    "INSERT INTO availability (content_id, platform, region, type, price, currency, deep_link, source) VALUES "
    "  ('" ID_THREE "', 'netflix', 'XN', 'rent', 2.99, 'USD', '" THREE_LINK "', 'e2e')",
    "UPDATE availability SET deep_link = '" THREE_LINK "' WHERE content_id = '" ID_THREE "'",
    //  Four's synopsis is longer than a list item shows.
    "UPDATE content SET overview = repeat ('" FOUR_WORDS "', 8) WHERE id = '" ID_FOUR "'",
};

typedef struct {
    char env_text [10][96];
    const char *env [24];
    const char *env_b [24];         //  the second gateway's
    int http_port, http_port_b;
    char endpoint [64];             //  the broker's, for calls on the bus
    pid_t broker, catalog, resolver, accounts, ratelimit, search, sync, alerts, gateway, gateway_b;
    char auth [1200];               //  "Authorization: Bearer ...\r\n" of the user
} fixture_t;

static fixture_t *s_f;

static int
s_call (const char *method, const char *path, const char *headers, const char *body, mg_http_reply_t *reply)
{
    return mg_http_request (s_f->http_port, method, path, headers, body, reply, TIMEOUT_MS);
}

//  JSON body of a reply of status to method path, through the gateway on
//  port, as the user (signed in) or anonymous; asserts both. Caller decrefs.
static json_t *
s_expect_at (int port, const char *method, const char *path, bool signed_in, const char *body, int status)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (port, method, path, signed_in ? s_f->auth : "", body, &reply, TIMEOUT_MS), 0);
    if (reply.status != status)
        fail_msg ("%s %s: expected %d, got %d: %s", method, path, status, reply.status, reply.body);
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    if (!json)
        fail_msg ("%s %s: not JSON: %s", method, path, reply.body);
    mg_http_reply_free (&reply);
    return json;
}

//  s_expect_at through the first gateway.
static json_t *
s_expect (const char *method, const char *path, bool signed_in, const char *body, int status)
{
    return s_expect_at (s_f->http_port, method, path, signed_in, body, status);
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

//  The regions of the offers (availability) of the result titled title,
//  one per offer in order, joined by ',' into out; "?" when no result has
//  that title. A platform group names its region with offers_region=all,
//  else the page names it once (offers_region).
static const char *
s_regions (const json_t *json, const char *title, char *out, size_t size)
{
    size_t index;
    json_t *item;
    snprintf (out, size, "?");
    json_array_foreach (json_object_get (json, "results"), index, item) {
        if (strcmp (json_string_value (json_object_get (item, "title")), title) != 0)
            continue;
        size_t used = 0, i, j;
        json_t *group, *offer;
        out [0] = '\0';
        json_array_foreach (json_object_get (item, "availability"), i, group) {
            const json_t *region = json_object_get (group, "region");
            if (!region)
                region = json_object_get (json, "offers_region");
            json_array_foreach (json_object_get (group, "offers"), j, offer)
                used += (size_t) snprintf (out + used, size - used, "%s%s", used ? "," : "",
                                           json_string_value (region));
        }
        return out;
    }
    return out;
}

static int
s_wait_ready_at (int port)
{
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        if (mg_http_request (port, "GET", "/ready", "", NULL, &reply, TIMEOUT_MS) == 0 && reply.status == 200) {
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
    pid_t *pids [] = { &f->gateway_b, &f->gateway, &f->alerts, &f->sync, &f->search, &f->ratelimit, &f->accounts, &f->resolver,
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
    f->http_port_b = mg_test_free_port ();
    snprintf (f->endpoint, sizeof f->endpoint, "tcp://127.0.0.1:%d", broker);
    snprintf (f->env_text [0], 96, "MG_BROKER=%s", f->endpoint);
    snprintf (f->env_text [1], 96, "MG_BROKER_BIND=tcp://127.0.0.1:%d", broker);
    int publish = mg_test_free_port (), subscribe = mg_test_free_port ();
    snprintf (f->env_text [2], 96, "MG_EVENTS_PUB_BIND=tcp://127.0.0.1:%d", publish);
    snprintf (f->env_text [3], 96, "MG_EVENTS_SUB_BIND=tcp://127.0.0.1:%d", subscribe);
    //  The events this stack publishes (sync's preferences.set) and follows (the gateways).
    snprintf (f->env_text [8], 96, "MG_EVENTS_PUB=tcp://127.0.0.1:%d", publish);
    snprintf (f->env_text [9], 96, "MG_EVENTS=tcp://127.0.0.1:%d", subscribe);
    snprintf (f->env_text [4], 96, "MG_HTTP_PORT=%d", f->http_port);
    snprintf (f->env_text [5], 96, "MG_MINE_CACHE_S=%d", MINE_CACHE_S);
    snprintf (f->env_text [6], 96, "MG_HTTP_PORT=%d", f->http_port_b);
    //  One thread: the answers it caches are the ones it is asked again.
    snprintf (f->env_text [7], 96, "MG_HTTP_THREADS=1");
    const char *fixed [] = {
        "MG_JWT_SECRET=" SECRET, "MG_RATE_ANONYMOUS=100000/s,1000000/m", "MG_RATE_FREE=100000/s,1000000/m",
        "MG_HEARTBEAT_MS=250", "MG_RESOLVER_INGEST=0", "MG_REQUEST_TIMEOUT_MS=6000",
        "MG_SEARCH_CACHE_TTL_S=0", "MG_PWHASH_MEMLIMIT_KIB=16384", "MG_DEFAULT_REGION=US", NULL
    };
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        f->env [n++] = f->env_text [i];
    f->env [n++] = f->env_text [8];
    f->env [n++] = f->env_text [9];
    for (int i = 0; fixed [i]; i++)
        f->env [n++] = fixed [i];
    f->env [n] = NULL;
    memcpy (f->env_b, f->env, sizeof f->env);
    f->env_b [4] = f->env_text [6];
    f->env_b [n] = f->env_text [7];
    f->env_b [n + 1] = NULL;
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
        f->gateway_b = mg_test_spawn ("mg-gateway", f->env_b);
        if (s_wait_ready_at (f->http_port) == 0 && s_wait_ready_at (f->http_port_b) == 0 && s_sign_in (f) == 0)
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

static void
test_items_show_the_signed_in_callers_regions_offers (void **state)
{
    (void) state;
    char regions [128];
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
    //  Search, discover and trending: the caller's region (XM), not MG_DEFAULT_REGION
    //  (US) nor every region; offers_region=all is every region.
    const char *lists [] = {
        "/api/v1/search?q=quorvex&mode=keyword&sort=popularity", "/api/v1/discover?available=mine",
        "/api/v1/trending?available=mine",
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists [0]; i++) {
        char path [160];
        json_t *json = s_expect ("GET", lists [i], true, NULL, 200);
        s_regions (json, "Quorvex One", regions, sizeof regions);
        if (strcmp (regions, "XM,XM") != 0)
            fail_msg ("GET %s signed in: One shows offers of %s (wanted XM,XM)", lists [i], regions);
        json_decref (json);
        snprintf (path, sizeof path, "%s%coffers_region=all", lists [i], strchr (lists [i], '?') ? '&' : '?');
        json = s_expect ("GET", path, true, NULL, 200);
        s_regions (json, "Quorvex One", regions, sizeof regions);
        if (strcmp (regions, "XM,XM,XN") != 0)
            fail_msg ("GET %s: One shows offers of %s (wanted XM,XM,XN)", path, regions);
        json_decref (json);
        snprintf (path, sizeof path, "%s%coffers_region=xn", lists [i], strchr (lists [i], '?') ? '&' : '?');
        json = s_expect ("GET", path, true, NULL, 200);
        assert_string_equal (s_regions (json, "Quorvex One", regions, sizeof regions), "XN");
        json_decref (json);
    }
    //  Anonymous callers: MG_DEFAULT_REGION's (none here); the region filter's when given.
    json_t *json = s_expect ("GET", "/api/v1/search?q=quorvex&mode=keyword", false, NULL, 200);
    assert_string_equal (s_regions (json, "Quorvex One", regions, sizeof regions), "");
    json_decref (json);
    json = s_expect ("GET", "/api/v1/discover?region=XN", false, NULL, 200);
    assert_string_equal (s_regions (json, "Quorvex One", regions, sizeof regions), "XN");
    json_decref (json);
    //  A new region preference is shown at once (the write drops the cached one).
    s_set_services ("{\"region\":\"XN\"}");
    json = s_expect ("GET", "/api/v1/search?q=quorvex&mode=keyword&sort=popularity", true, NULL, 200);
    assert_string_equal (s_regions (json, "Quorvex One", regions, sizeof regions), "XN");
    assert_string_equal (s_regions (json, "Quorvex Three", regions, sizeof regions), "XN,XN");
    json_decref (json);
    json = s_expect ("GET", "/api/v1/discover?region=XM", true, NULL, 200);
    assert_string_equal (s_regions (json, "Quorvex One", regions, sizeof regions), "XM,XM");
    json_decref (json);
    //  Similar titles too: whatever they are, they show the caller's region's offers.
    char path [160];
    snprintf (path, sizeof path, "/api/v1/content/%s/similar?per_page=100", ID_TWO);
    json = s_expect ("GET", path, true, NULL, 200);
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (json, "results"), index, item) {
        size_t i;
        json_t *group;
        json_array_foreach (json_object_get (item, "availability"), i, group)
            assert_null (json_object_get (group, "region"));
    }
    assert_string_equal (json_string_value (json_object_get (json, "offers_region")), "XN");
    json_decref (json);
    s_set_services ("{\"region\":\"XM\"}");
}

//  The offers' regions of the hit titled title in a search reply, joined by ','.
static const char *
s_hit_regions (const mg_search_reply_t *reply, const char *title, char *out, size_t size)
{
    snprintf (out, size, "?");
    for (size_t i = 0; i < reply->results_count; i++) {
        const mg_search_hit_t *hit = &reply->results [i];
        if (strcmp (hit->title, title) != 0)
            continue;
        size_t used = 0;
        out [0] = '\0';
        for (size_t j = 0; j < hit->availability_count; j++) {
            const mg_item_platform_t *group = &hit->availability [j];
            for (size_t k = 0; k < group->offers_count; k++)
                used += (size_t) snprintf (out + used, size - used, "%s%s", used ? "," : "",
                                           group->region ? group->region : reply->offers_region);
        }
    }
    return out;
}

static void
test_the_search_replica_answers_one_regions_offers_on_the_bus (void **state)
{
    fixture_t *f = *state;
    mg_test_keys ();
    mg_client_t *client = mg_client_new (f->endpoint);
    assert_non_null (client);
    char regions [128];
    const char *cases [][2] = {
        { NULL, "" },               //  MG_DEFAULT_REGION (US): none of One's
        { "XM", "XM,XM" }, { "xn", "XN" }, { "all", "XM,XM,XN" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        mg_search_request_t request = { .q = "quorvex", .mode = "keyword", .offers_region = (char *) cases [i][0] };
        mg_search_reply_t reply = { 0 };
        mg_error_t err = { 0 };
        if (mg_client_call (client, "search.query", &mg_search_request_desc, &request, &mg_search_reply_desc,
                            &reply, TIMEOUT_MS, &err))
            fail_msg ("search.query: %s %s", err.code, err.message);
        s_hit_regions (&reply, "Quorvex One", regions, sizeof regions);
        if (strcmp (regions, cases [i][1]) != 0)
            fail_msg ("search.query offers_region=%s: One shows %s (wanted %s)", cases [i][0] ? cases [i][0] : "-",
                      regions, cases [i][1]);
        mg_msg_clear (&mg_search_reply_desc, &reply);
    }
    //  The catalog's lists alike: the region filter's offers by default.
    mg_discover_request_t discover = { .region = "XN" };
    mg_content_list_t list = { 0 };
    mg_error_t err = { 0 };
    if (mg_client_call (client, "catalog.discover", &mg_discover_request_desc, &discover, &mg_content_list_desc,
                        &list, TIMEOUT_MS, &err))
        fail_msg ("catalog.discover: %s %s", err.code, err.message);
    bool seen = false;
    for (size_t i = 0; i < list.results_count; i++) {
        const mg_content_item_t *item = &list.results [i];
        seen |= strcmp (item->title, "Quorvex One") == 0 && item->availability_count == 1;
        for (size_t j = 0; j < item->availability_count; j++)
            assert_null (item->availability [j].region);
    }
    assert_true (seen);
    assert_string_equal (list.offers_region, "XN");
    mg_msg_clear (&mg_content_list_desc, &list);
    //  A bad offers_region is the caller's error, from the replica itself.
    mg_search_request_t bad = { .q = "quorvex", .offers_region = "usa" };
    mg_search_reply_t reply = { 0 };
    assert_int_equal (mg_client_call (client, "search.query", &mg_search_request_desc, &bad, &mg_search_reply_desc,
                                      &reply, TIMEOUT_MS, &err), -1);
    assert_string_equal (err.code, "INVALID_PARAMETER");
    assert_string_equal (err.param, "offers_region");
    mg_msg_clear (&mg_error_desc, &err);
    mg_client_destroy (&client);
}

//  The item titled title in json's results (asserted present).
static const json_t *
s_item (const json_t *json, const char *title)
{
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (json, "results"), index, item)
        if (strcmp (json_string_value (json_object_get (item, "title")), title) == 0)
            return item;
    fail_msg ("no result titled %s", title);
    return NULL;
}

static void
test_list_items_name_the_region_once_and_a_platforms_link_once (void **state)
{
    (void) state;
    //  Signed in with region XN: trending's available=mine keeps to the fixture's titles.
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XN\"}");
    const char *lists [] = {
        "/api/v1/search?q=quorvex&mode=keyword", "/api/v1/discover?region=XN", "/api/v1/trending?available=mine",
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists [0]; i++) {
        char path [160];
        //  One region: the page says it, and Three's two netflix offers are
        //  one group with their shared link, no region and no link per offer.
        snprintf (path, sizeof path, "%s&offers_region=xn", lists [i]);
        json_t *json = s_expect ("GET", path, true, NULL, 200);
        assert_string_equal (json_string_value (json_object_get (json, "offers_region")), "XN");
        const json_t *offers = json_object_get (s_item (json, "Quorvex Three"), "availability");
        if (json_array_size (offers) != 1)
            fail_msg ("GET %s: Three has %zu platform groups (wanted 1)", path, json_array_size (offers));
        const json_t *group = json_array_get (offers, 0);
        assert_string_equal (json_string_value (json_object_get (group, "platform")), "netflix");
        assert_string_equal (json_string_value (json_object_get (group, "deep_link")), THREE_LINK);
        assert_null (json_object_get (group, "region"));
        const json_t *each = json_object_get (group, "offers");
        assert_int_equal (json_array_size (each), 2);
        const char *types [] = { "rent", "subscription" };
        for (size_t k = 0; k < 2; k++) {
            const json_t *offer = json_array_get (each, k);
            assert_string_equal (json_string_value (json_object_get (offer, "type")), types [k]);
            assert_null (json_object_get (offer, "region"));
            assert_null (json_object_get (offer, "deep_link"));
            assert_null (json_object_get (offer, "platform"));
            assert_null (json_object_get (offer, "stale"));
        }
        assert_string_equal (json_string_value (json_object_get (json_array_get (each, 0), "currency")), "USD");
        json_decref (json);
        //  Every region: each group names its own, the page none.
        snprintf (path, sizeof path, "%s&offers_region=all", lists [i]);
        json = s_expect ("GET", path, true, NULL, 200);
        assert_null (json_object_get (json, "offers_region"));
        size_t index;
        json_t *item;
        json_array_foreach (json_object_get (json, "results"), index, item) {
            size_t k;
            json_array_foreach (json_object_get (item, "availability"), k, group)
                if (!json_is_string (json_object_get (group, "region")))
                    fail_msg ("GET %s: a platform group without its region", path);
        }
        char regions [128];
        assert_string_equal (s_regions (json, "Quorvex One", regions, sizeof regions), "XM,XM,XN");
        json_decref (json);
    }
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
}

static void
test_list_items_show_a_cut_overview_and_details_the_whole (void **state)
{
    (void) state;
    const char *ellipsis = "\xe2\x80\xa6";       //  U+2026
    char full [8 * sizeof FOUR_WORDS];
    full [0] = '\0';
    for (int i = 0; i < 8; i++)
        strcat (full, FOUR_WORDS);
    //  The search replica's items and the catalog's (only the fixture has offers in XM).
    const char *lists [] = { "/api/v1/search?q=quorvex&mode=keyword", "/api/v1/discover?region=XM" };
    for (size_t i = 0; i < sizeof lists / sizeof lists [0]; i++) {
        json_t *json = s_expect ("GET", lists [i], false, NULL, 200);
        size_t index;
        json_t *item;
        bool seen = false;
        json_array_foreach (json_object_get (json, "results"), index, item) {
            if (strcmp (json_string_value (json_object_get (item, "id")), ID_FOUR) != 0)
                continue;
            seen = true;
            const char *overview = json_string_value (json_object_get (item, "overview"));
            assert_non_null (overview);
            //  Whole words (all ASCII here: bytes are characters), then the ellipsis.
            size_t cut = strlen (overview) - strlen (ellipsis);
            assert_true (strlen (overview) > strlen (ellipsis));
            assert_string_equal (overview + cut, ellipsis);
            assert_true (cut <= OVERVIEW_MAX);
            assert_true (cut > OVERVIEW_MAX - sizeof FOUR_WORDS);
            assert_int_equal (strncmp (overview, full, cut), 0);
            assert_true (full [cut] == ' ');
        }
        if (!seen)
            fail_msg ("GET %s: Quorvex Four not listed", lists [i]);
        json_decref (json);
    }
    json_t *details = s_expect ("GET", "/api/v1/content/" ID_FOUR, false, NULL, 200);
    assert_string_equal (json_string_value (json_object_get (details, "overview")), full);
    json_decref (details);
}

static void
test_a_services_change_through_one_gateway_is_seen_at_once_by_another (void **state)
{
    fixture_t *f = *state;
    char titles [512];
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
    json_t *json = s_expect_at (f->http_port_b, "GET", "/api/v1/discover?available=mine", true, NULL, 200);
    assert_string_equal (s_titles (json, NULL, titles, sizeof titles), "Quorvex One|Quorvex Five");
    json_decref (json);
    //  Written through the first gateway; the second has the old services
    //  cached for MG_MINE_CACHE_S (600 s) unless the change event drops them.
    s_set_services ("{\"services\":[\"disney-plus\",\"prime-video\"]}");
    int64_t until = mg_test_now_ms () + EVENT_WAIT_MS;
    do {
        json = s_expect_at (f->http_port_b, "GET", "/api/v1/discover?available=mine", true, NULL, 200);
        s_titles (json, NULL, titles, sizeof titles);
        json_decref (json);
        if (strcmp (titles, "Quorvex Two|Quorvex Four") != 0)
            usleep (50 * 1000);
    } while (strcmp (titles, "Quorvex Two|Quorvex Four") != 0 && mg_test_now_ms () < until);
    assert_string_equal (titles, "Quorvex Two|Quorvex Four");
    //  The region too: whose offers items show.
    s_set_services ("{\"region\":\"XN\"}");
    char regions [128] = "";
    until = mg_test_now_ms () + EVENT_WAIT_MS;
    do {
        json = s_expect_at (f->http_port_b, "GET", "/api/v1/search?q=quorvex&mode=keyword", true, NULL, 200);
        s_regions (json, "Quorvex Three", regions, sizeof regions);
        json_decref (json);
        if (strcmp (regions, "XN,XN") != 0)
            usleep (50 * 1000);
    } while (strcmp (regions, "XN,XN") != 0 && mg_test_now_ms () < until);
    assert_string_equal (regions, "XN,XN");
    s_set_services ("{\"services\":[\"netflix\",\"hulu\"],\"region\":\"XM\"}");
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
        cmocka_unit_test (test_items_show_the_signed_in_callers_regions_offers),
        cmocka_unit_test (test_the_search_replica_answers_one_regions_offers_on_the_bus),
        cmocka_unit_test (test_list_items_name_the_region_once_and_a_platforms_link_once),
        cmocka_unit_test (test_list_items_show_a_cut_overview_and_details_the_whole),
        cmocka_unit_test (test_a_services_change_through_one_gateway_is_seen_at_once_by_another),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
