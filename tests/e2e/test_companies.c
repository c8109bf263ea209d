/*  Production companies and people's profile images from the provider to
    the API: the simulator answers TMDB details with production_companies
    and credits with profile_path, as TMDB does; mg-fetcher fetches a few
    titles through the pipeline (resolver, indexer) into a scratch
    database; then every routed actor and the gateway answer. A company's
    name finds its films first ("pixar", "studio ghibli") ahead of more
    popular films that only share a company or a word with it; the details
    carry the companies with their logos; a person's profile image reaches
    GET /api/v1/people/{id} and the person items of search.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_client.h"
#include "mg_http.h"
#include "mg_pg.h"
#include "mg_test.h"

#define REDIS_DB       13           //  the fetcher's cache and the stack's state here, flushed first
#define START_WAIT_MS  60000        //  migrations, the simulator's catalog, registration (ASan, loaded machine)
#define INDEX_WAIT_MS  60000        //  fetched titles reach the search replica within this
#define CALL_TTL_MS    60000
#define HTTP_WAIT_MS   5000
#define IMAGE_URL      "https://image.tmdb.org/t/p/w185"   //  SQL_IMAGE of logos and profiles

//  TMDB ids of the bundled catalog: three Pixar films, two Studio Ghibli
//  films, and films that must not come first: Frozen (Walt Disney Pictures
//  like most Pixar films, and more popular than any of them), two whose
//  overviews speak of a studio.
#define TOY_STORY      862
#define FINDING_NEMO   12
#define UP             14160
#define SPIRITED_AWAY  129
#define MONONOKE       128
#define FROZEN         109445
#define BOWFINGER      11353
#define SINGIN         872
#define TOM_HANKS      31           //  Toy Story's lead
static const long long s_titles [] = {
    FROZEN, TOY_STORY, BOWFINGER, FINDING_NEMO, SINGIN, UP, SPIRITED_AWAY, MONONOKE
};
#define TITLES (sizeof s_titles / sizeof s_titles [0])

static const char *s_stack [] = {
    "mg-indexer", "mg-resolver", "mg-fetcher", "mg-catalog", "mg-search", "mg-accounts",
    "mg-ratelimit", "mg-sync", "mg-alerts", "mg-gateway"
};
#define STACK (sizeof s_stack / sizeof s_stack [0])

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    int http_port, sim_port;
    pid_t sim, broker;
    pid_t actors [STACK];
    mg_client_t *client;
} fixture_t;

static int group_teardown (void **state);

//  Flush the stack's Redis database.
static int
s_flush_redis (void)
{
    const char *url = getenv ("MG_REDIS_URL");
    const char *colon = url ? strrchr (url, ':') : NULL;
    int port = colon && strncmp (url, "redis://", 8) == 0 && colon > url + 8 ? atoi (colon + 1) : 6379;
    redisContext *c = redisConnect ("127.0.0.1", port);
    if (!c || c->err) {
        redisFree (c);
        return -1;
    }
    redisReply *r = redisCommand (c, "SELECT %d", REDIS_DB);
    freeReplyObject (r);
    r = redisCommand (c, "FLUSHDB");
    int rc = r ? 0 : -1;
    freeReplyObject (r);
    redisFree (c);
    return rc;
}

//  GET path on port, asserting 200; the body as JSON (caller decrefs).
static json_t *
s_get_json (int port, const char *path)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (port, "GET", path, "", NULL, &reply, HTTP_WAIT_MS), 0);
    if (reply.status != 200)
        fail_msg ("GET %s: %d: %s", path, reply.status, reply.body);
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    mg_http_reply_free (&reply);
    assert_non_null (json);
    return json;
}

//  Start the simulator on the bundled catalog and wait until it answers.
static int
s_start_sim (fixture_t *f)
{
    f->sim_port = mg_test_free_port ();
    char env [2][700];
    snprintf (env [0], sizeof env [0], "MG_SIM_PORT=%d", f->sim_port);
    snprintf (env [1], sizeof env [1], "MG_SIM_CATALOG=%s/data/catalog.jsonl.gz", MG_SOURCE_DIR);
    const char *envp [] = { env [0], env [1], NULL };
    f->sim = mg_test_spawn ("mg-provider-sim", envp);
    return f->sim > 0 ? mg_test_wait_http (f->sim_port, "/_sim/stats", 200, START_WAIT_MS) : -1;
}

//  fetcher.title for tmdb: the title is queued into the pipeline.
static void
s_fetch (fixture_t *f, long long tmdb)
{
    mg_fetcher_title_request_t req = { .tmdb = tmdb, .has_tmdb = true };
    mg_fetcher_run_reply_t reply = { 0 };
    mg_error_t err = { 0 };
    int rc = mg_client_call (f->client, "fetcher.title", &mg_fetcher_title_request_desc, &req,
                             &mg_fetcher_run_reply_desc, &reply, CALL_TTL_MS, &err);
    if (rc)
        fail_msg ("fetcher.title %lld: %s: %s", tmdb, err.code, err.message);
    assert_int_equal (reply.queued, 1);
    mg_msg_clear (&mg_fetcher_run_reply_desc, &reply);
}

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    f->admin = mg_test_scratch_db ("mg_companies", f->url, sizeof f->url);
    if (!f->admin || s_flush_redis () || s_start_sim (f)) {
        fprintf (stderr, "the database, Redis or the provider simulator is not there\n");
        return -1;
    }
    const char *redis = getenv ("MG_REDIS_URL");
    mg_test_env_init (&f->env, f->url);
    f->http_port = mg_test_free_port ();
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_REDIS_URL=%s/%d", redis ? redis : "redis://127.0.0.1:6379", REDIS_DB);
    mg_test_env_add (&f->env, "MG_TMDB_BASE_URL=http://127.0.0.1:%d/tmdb/3", f->sim_port);
    mg_test_env_add (&f->env, "MG_SA_BASE_URL=http://127.0.0.1:%d/sa", f->sim_port);
    mg_test_env_add (&f->env, "MG_WATCHMODE_BASE_URL=http://127.0.0.1:%d/watchmode/v1", f->sim_port);
    mg_test_env_add (&f->env, "MG_YOUTUBE_BASE_URL=http://127.0.0.1:%d/youtube/v3", f->sim_port);
    mg_test_env_add (&f->env, "TMDB_API_KEY=tmdbkey");
    mg_test_env_add (&f->env, "SA_API_KEY=sakey");
    mg_test_env_add (&f->env, "MG_FETCHER_SCHEDULE=0");
    mg_test_env_add (&f->env, "MG_RATE_ANONYMOUS=1000000/s,1000000/m");
    //  No model file: keyword search, the ranking under test.
    mg_test_env_add (&f->env, "MG_EMBED_MODEL=/tmp/mg_companies_%d.none", (int) getpid ());
    f->client = mg_client_new (f->env.endpoint);
    if (!f->client
    ||  mg_test_stack_start (&f->broker, f->actors, s_stack, STACK, f->env.envp, f->http_port, START_WAIT_MS)
    ||  mg_test_wait_service (f->env.endpoint, "fetcher", START_WAIT_MS)) {
        fprintf (stderr, "the stack did not become ready\n");
        group_teardown (state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    mg_client_destroy (&f->client);
    mg_test_stack_stop (&f->broker, f->actors, STACK);
    if (f->sim > 0)
        mg_test_stop (f->sim, SIGTERM);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  Fetch every title once and wait until the search replica holds them all.
static void
s_catalog_ready (fixture_t *f)
{
    static bool fetched;
    if (fetched)
        return;
    for (size_t i = 0; i < TITLES; i++)
        s_fetch (f, s_titles [i]);
    int64_t until = mg_test_now_ms () + INDEX_WAIT_MS;
    json_int_t total = 0;
    while (total < (json_int_t) TITLES && mg_test_now_ms () < until) {
        json_t *json = s_get_json (f->http_port, "/api/v1/search?per_page=1");
        total = json_integer_value (json_object_get (json, "total"));
        json_decref (json);
        if (total < (json_int_t) TITLES)
            usleep (100 * 1000);
    }
    assert_int_equal (total, (json_int_t) TITLES);
    fetched = true;
}

//  TMDB id of result i of a search reply (0 when absent).
static json_int_t
s_tmdb_at (json_t *reply, size_t i)
{
    json_t *item = json_array_get (json_object_get (reply, "results"), i);
    return json_integer_value (json_object_get (json_object_get (item, "external_ids"), "tmdb"));
}

//  The first count results of GET path are exactly the films of want
//  (TMDB ids, any order).
static void
s_assert_first (fixture_t *f, const char *path, const long long *want, size_t count)
{
    json_t *json = s_get_json (f->http_port, path);
    for (size_t i = 0; i < count; i++) {
        json_int_t got = s_tmdb_at (json, i);
        bool expected = false;
        for (size_t k = 0; k < count; k++)
            expected = expected || got == want [k];
        if (!expected) {
            char *text = json_dumps (json_object_get (json, "results"), JSON_COMPACT);
            fail_msg ("GET %s: result %zu is TMDB %lld: %.2000s", path, i, (long long) got, text);
        }
    }
    json_decref (json);
}

//  Canonical id (UUID) of TMDB id tmdb in table (content: its external id,
//  people: its tmdb_id) into out.
static void
s_canonical_id (fixture_t *f, const char *sql, long long tmdb, char out [37])
{
    char err [256], text [256];
    PGconn *pg = mg_pg_connect (f->url, err, sizeof err);
    assert_non_null (pg);
    snprintf (text, sizeof text, sql, tmdb);
    PGresult *res = PQexec (pg, text);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    snprintf (out, 37, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    PQfinish (pg);
}

//  What the simulator answers for TMDB movie tmdb (details and credits).
static json_t *
s_sim_movie (fixture_t *f, long long tmdb)
{
    char path [128];
    snprintf (path, sizeof path, "/tmdb/3/movie/%lld?api_key=tmdbkey&append_to_response=credits", tmdb);
    return s_get_json (f->sim_port, path);
}

static void
test_a_company_name_finds_its_films_first (void **state)
{
    fixture_t *f = *state;
    s_catalog_ready (f);
    static const long long pixar [] = { TOY_STORY, FINDING_NEMO, UP };
    static const long long ghibli [] = { SPIRITED_AWAY, MONONOKE };
    s_assert_first (f, "/api/v1/search?q=pixar", pixar, 3);
    s_assert_first (f, "/api/v1/search?q=studio%20ghibli", ghibli, 2);
    s_assert_first (f, "/api/v1/search?q=Studio%20Ghibli&mode=keyword", ghibli, 2);
}

static void
test_details_carry_the_companies_with_their_logos (void **state)
{
    fixture_t *f = *state;
    s_catalog_ready (f);
    json_t *sim = s_sim_movie (f, TOY_STORY);
    json_t *given = json_array_get (json_object_get (sim, "production_companies"), 0);
    const char *logo_path = json_string_value (json_object_get (given, "logo_path"));
    assert_non_null (logo_path);
    char id [37], path [128], logo [256];
    s_canonical_id (f, "SELECT content_id FROM external_ids WHERE source = 'tmdb' AND value = '%lld'", TOY_STORY, id);
    snprintf (path, sizeof path, "/api/v1/content/%s", id);
    json_t *json = s_get_json (f->http_port, path);
    json_t *companies = json_object_get (json, "production_companies");
    assert_int_equal (json_array_size (companies), json_array_size (json_object_get (sim, "production_companies")));
    json_t *company = json_array_get (companies, 0);
    assert_string_equal (json_string_value (json_object_get (company, "name")), "Pixar Animation Studios");
    assert_int_equal (json_integer_value (json_object_get (company, "tmdb_id")),
                      json_integer_value (json_object_get (given, "id")));
    snprintf (logo, sizeof logo, IMAGE_URL "%s", logo_path);
    assert_string_equal (json_string_value (json_object_get (company, "logo")), logo);
    //  TMDB's "" (country not known) is no country.
    assert_null (json_object_get (company, "origin_country"));
    json_decref (json);
    json_decref (sim);
}

static void
test_a_persons_profile_image_reaches_the_person_and_search (void **state)
{
    fixture_t *f = *state;
    s_catalog_ready (f);
    json_t *sim = s_sim_movie (f, TOY_STORY);
    json_t *lead = json_array_get (json_object_get (json_object_get (sim, "credits"), "cast"), 0);
    assert_int_equal (json_integer_value (json_object_get (lead, "id")), TOM_HANKS);
    const char *profile_path = json_string_value (json_object_get (lead, "profile_path"));
    assert_non_null (profile_path);
    char profile [256], id [37], path [128];
    snprintf (profile, sizeof profile, IMAGE_URL "%s", profile_path);
    json_decref (sim);
    s_canonical_id (f, "SELECT id FROM people WHERE tmdb_id = %lld", TOM_HANKS, id);
    snprintf (path, sizeof path, "/api/v1/people/%s", id);
    json_t *json = s_get_json (f->http_port, path);
    assert_string_equal (json_string_value (json_object_get (json, "name")), "Tom Hanks");
    assert_non_null (json_object_get (json, "profile"));
    assert_string_equal (json_string_value (json_object_get (json, "profile")), profile);
    json_decref (json);
    json = s_get_json (f->http_port, "/api/v1/search?q=tom%20hanks&type=person");
    json_t *first = json_array_get (json_object_get (json, "results"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "id")), id);
    assert_non_null (json_object_get (first, "profile"));
    assert_string_equal (json_string_value (json_object_get (first, "profile")), profile);
    json_decref (json);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_company_name_finds_its_films_first),
        cmocka_unit_test (test_details_carry_the_companies_with_their_logos),
        cmocka_unit_test (test_a_persons_profile_image_reaches_the_person_and_search),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
