/*  People end to end: a scratch catalog of three titles whose credits name
    two people (the people rows come from the credits as they are stored),
    every routed actor and the gateway. GET /api/v1/people/{id} gives the
    person and a paged filmography, most popular title first; bad ids are
    400, unknown ones 404; search finds people only with type=person, and a
    name query on titles ranks the film the person leads first; autocomplete
    suggests the person as an item of type person.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"
#include "mg_http.h"

#define START_WAIT_MS  30000        //  migrations and registration at start
#define HTTP_WAIT_MS   5000

#define ID(x) "00000000-0000-4000-8000-00000000061" x
#define LEAD     ID ("1")
#define CAMEO    ID ("2")
#define DIRECTED ID ("3")
#define UNKNOWN  "00000000-0000-4000-8000-000000000619"

typedef struct {
    mg_test_stack_t stack;
} fixture_t;

static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, year, overview, popularity, checksum) VALUES "
    "('" LEAD "', 'movie', 'Vector Run', 1999, 'A hacker learns the world is a simulation.', 90, '\\x00'), "
    "('" CAMEO "', 'movie', 'Harbour Nights', 2004, 'Sailors wait out a storm.', 95, '\\x00'), "
    "('" DIRECTED "', 'tv', 'Quiet Fields', 2010, 'A farm through four winters.', 20, '\\x00')",
    "INSERT INTO credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department) VALUES "
    "('" LEAD "', 'cast', 0, 'Kenna Rivers', 6384, 'Neo', NULL, NULL), "
    "('" LEAD "', 'cast', 1, 'Lorne Fish', 2975, 'Morpheus', NULL, NULL), "
    "('" CAMEO "', 'cast', 0, 'Lorne Fish', 2975, 'Captain', NULL, NULL), "
    "('" CAMEO "', 'cast', 7, 'Kenna Rivers', 6384, 'Sailor', NULL, NULL), "
    "('" DIRECTED "', 'crew', 0, 'Kenna Rivers', 6384, NULL, 'Director', 'Directing')",
};

static int
group_setup (void **state)
{
    //  No model file: keyword search (what people ranking is made of).
    char model [256];
    snprintf (model, sizeof model, "/tmp/mg_people_%d.none", (int) getpid ());
    const char *settings [] = { "MG_RATE_ANONYMOUS=1000000/s,1000000/m", "MG_RESOLVER_INGEST=0", NULL };
    mg_test_stack_options_t options = {
        .db = "mg_people", .sql = s_fixtures, .sql_count = sizeof s_fixtures / sizeof s_fixtures [0],
        .settings = settings, .model = model, .train = false, .timeout_ms = START_WAIT_MS
    };
    return mg_test_stack_setup (state, sizeof (fixture_t), &options);
}

//  GET path, asserting the status; the body as JSON (caller decrefs).
static json_t *
s_get_json (fixture_t *f, const char *path, int status)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (f->stack.http_port, "GET", path, "", NULL, &reply, HTTP_WAIT_MS), 0);
    if (reply.status != status)
        fail_msg ("GET %s: %d, expected %d: %s", path, reply.status, status, reply.body);
    json_error_t error;
    json_t *json = json_loads (reply.body, 0, &error);
    assert_non_null (json);
    mg_http_reply_free (&reply);
    return json;
}

//  GET path must answer status with error code and name param (when given).
static void
s_assert_error (fixture_t *f, const char *path, int status, const char *code, const char *param)
{
    json_t *json = s_get_json (f, path, status);
    json_t *error = json_object_get (json, "error");
    assert_string_equal (json_string_value (json_object_get (error, "code")), code);
    const char *message = json_string_value (json_object_get (error, "message"));
    assert_non_null (message);
    if (param && !strstr (message, param))
        fail_msg ("GET %s: '%s' not named in %s", path, param, message);
    json_decref (json);
}

//  The canonical id of the person with TMDB id tmdb into out.
static void
s_person_id (fixture_t *f, int tmdb, char out [37])
{
    char err [256], sql [128];
    PGconn *pg = mg_pg_connect (f->stack.url, err, sizeof err);
    assert_non_null (pg);
    snprintf (sql, sizeof sql, "SELECT id FROM people WHERE tmdb_id = %d", tmdb);
    PGresult *res = PQexec (pg, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    snprintf (out, 37, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    PQfinish (pg);
}

static void
test_a_person_has_a_filmography_most_popular_first (void **state)
{
    fixture_t *f = *state;
    char id [37], path [128];
    s_person_id (f, 6384, id);
    snprintf (path, sizeof path, "/api/v1/people/%s", id);
    json_t *json = s_get_json (f, path, 200);
    assert_string_equal (json_string_value (json_object_get (json, "id")), id);
    assert_string_equal (json_string_value (json_object_get (json, "name")), "Kenna Rivers");
    assert_string_equal (json_string_value (json_object_get (json, "known_for_department")), "Acting");
    assert_int_equal (json_integer_value (json_object_get (json_object_get (json, "external_ids"), "tmdb")), 6384);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 3);
    assert_int_equal (json_integer_value (json_object_get (json, "page")), 1);
    assert_int_equal (json_integer_value (json_object_get (json, "per_page")), 20);
    json_t *films = json_object_get (json, "filmography");
    assert_int_equal (json_array_size (films), 3);
    static const struct { const char *id, *role; int order; } want [] = {
        { CAMEO, "cast", 7 }, { LEAD, "cast", 0 }, { DIRECTED, "crew", 0 }
    };
    for (size_t i = 0; i < 3; i++) {
        json_t *film = json_array_get (films, i);
        assert_string_equal (json_string_value (json_object_get (film, "id")), want [i].id);
        assert_string_equal (json_string_value (json_object_get (film, "role")), want [i].role);
        assert_int_equal (json_integer_value (json_object_get (film, "order")), want [i].order);
        assert_true (json_integer_value (json_object_get (film, "year")) > 0);
    }
    assert_string_equal (json_string_value (json_object_get (json_array_get (films, 1), "character")), "Neo");
    assert_string_equal (json_string_value (json_object_get (json_array_get (films, 2), "job")), "Director");
    assert_string_equal (json_string_value (json_object_get (json_array_get (films, 2), "type")), "tv");
    json_decref (json);
    //  Paged like a list.
    snprintf (path, sizeof path, "/api/v1/people/%s?per_page=1&page=2", id);
    json = s_get_json (f, path, 200);
    films = json_object_get (json, "filmography");
    assert_int_equal (json_array_size (films), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (films, 0), "id")), LEAD);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), 3);
    json_decref (json);
}

static void
test_people_bad_input_is_400_and_an_unknown_person_404 (void **state)
{
    fixture_t *f = *state;
    char id [37], path [128];
    s_person_id (f, 6384, id);
    s_assert_error (f, "/api/v1/people/" UNKNOWN, 404, "NOT_FOUND", UNKNOWN);
    s_assert_error (f, "/api/v1/people/not-a-uuid", 400, "INVALID_PARAMETER", "id");
    snprintf (path, sizeof path, "/api/v1/people/%s?per_page=101", id);
    s_assert_error (f, path, 400, "INVALID_PARAMETER", "per_page");
    s_assert_error (f, "/api/v1/search?q=kenna&type=book", 400, "INVALID_PARAMETER", "type");
}

static void
test_search_finds_people_only_when_asked (void **state)
{
    fixture_t *f = *state;
    char id [37];
    s_person_id (f, 6384, id);
    json_t *json = s_get_json (f, "/api/v1/search?q=kenna%20rivers&type=person", 200);
    json_t *results = json_object_get (json, "results");
    assert_true (json_array_size (results) >= 1);
    json_t *first = json_array_get (results, 0);
    assert_string_equal (json_string_value (json_object_get (first, "type")), "person");
    assert_string_equal (json_string_value (json_object_get (first, "id")), id);
    assert_string_equal (json_string_value (json_object_get (first, "title")), "Kenna Rivers");
    json_decref (json);
    //  The default search returns titles; the film the person leads first,
    //  before the more popular one where the part is small.
    json = s_get_json (f, "/api/v1/search?q=kenna%20rivers", 200);
    results = json_object_get (json, "results");
    assert_true (json_array_size (results) >= 2);
    for (size_t i = 0; i < json_array_size (results); i++)
        assert_string_not_equal (json_string_value (json_object_get (json_array_get (results, i), "type")), "person");
    assert_string_equal (json_string_value (json_object_get (json_array_get (results, 0), "id")), LEAD);
    json_decref (json);
}

static void
test_autocomplete_items_carry_their_type (void **state)
{
    fixture_t *f = *state;
    char id [37];
    s_person_id (f, 6384, id);
    json_t *json = s_get_json (f, "/api/v1/search/autocomplete?q=kenna", 200);
    json_t *results = json_object_get (json, "results");
    bool person = false;
    for (size_t i = 0; i < json_array_size (results); i++) {
        json_t *item = json_array_get (results, i);
        const char *type = json_string_value (json_object_get (item, "type"));
        assert_non_null (type);
        if (strcmp (type, "person") == 0) {
            assert_string_equal (json_string_value (json_object_get (item, "id")), id);
            assert_string_equal (json_string_value (json_object_get (item, "title")), "Kenna Rivers");
            person = true;
        }
    }
    assert_true (person);
    json_decref (json);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_person_has_a_filmography_most_popular_first),
        cmocka_unit_test (test_people_bad_input_is_400_and_an_unknown_person_404),
        cmocka_unit_test (test_search_finds_people_only_when_asked),
        cmocka_unit_test (test_autocomplete_items_carry_their_type),
    };
    return cmocka_run_group_tests (tests, group_setup, mg_test_stack_teardown);
}
