/*  GET /api/v1/content/{id}/similar end to end: a scratch catalog of six
    titles (three about astronauts in space, three about chefs in love), an
    LSA model trained on it by mg-embed-train, every routed actor and the
    gateway; neighbours come back in the search result shape, topic first,
    never the title itself, paged and filtered, and bad input is 400/404.  */
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

#define START_WAIT_MS  30000        //  migrations, training and registration at start
#define HTTP_WAIT_MS   5000

#define ID(x) "00000000-0000-4000-8000-00000000051" x
#define SPACE1   ID ("1")
#define SPACE2   ID ("2")
#define SPACE3   ID ("3")
#define COOK1    ID ("4")
#define COOK2    ID ("5")
#define COOK3    ID ("6")
#define UNKNOWN  ID ("9")

typedef struct {
    mg_test_stack_t stack;
} fixture_t;

static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, year, overview, popularity, checksum) VALUES "
    "('" SPACE1 "', 'movie', 'Star Voyager', 2001, 'An astronaut crew pilots a spaceship across the galaxy to a distant planet.', 10, '\\x00'), "
    "('" SPACE2 "', 'movie', 'Galaxy Drifters', 2005, 'Astronauts on a damaged spaceship drift through the galaxy toward an alien planet.', 8, '\\x00'), "
    "('" SPACE3 "', 'tv', 'Moon Station', 2010, 'A lonely astronaut on a lunar station watches the planet and the galaxy.', 6, '\\x00'), "
    "('" COOK1 "', 'movie', 'Kitchen Hearts', 2012, 'A chef falls in love with a baker while cooking in a small restaurant kitchen.', 9, '\\x00'), "
    "('" COOK2 "', 'movie', 'Recipe for Love', 2015, 'Two rival chefs cook in the same restaurant kitchen and fall in love.', 7, '\\x00'), "
    "('" COOK3 "', 'tv', 'The Last Bakery', 2018, 'A baker and a chef save a family restaurant kitchen with one recipe.', 5, '\\x00')",
    "INSERT INTO content_genres (content_id, genre_id) SELECT x.id::uuid, g.id FROM (VALUES "
    "('" SPACE1 "', 'science-fiction'), ('" SPACE2 "', 'science-fiction'), ('" SPACE2 "', 'action'), "
    "('" SPACE3 "', 'science-fiction'), ('" SPACE3 "', 'drama'), ('" COOK1 "', 'romance'), "
    "('" COOK1 "', 'comedy'), ('" COOK2 "', 'romance'), ('" COOK3 "', 'comedy')) x (id, slug) "
    "JOIN genres g ON g.slug = x.slug",
    "INSERT INTO external_ids (content_id, source, value) VALUES ('" SPACE2 "', 'tmdb', '5102')",
};

static int
group_setup (void **state)
{
    char model [256];
    snprintf (model, sizeof model, "/tmp/mg_similar_%d.model", (int) getpid ());
    const char *settings [] = { "MG_RATE_ANONYMOUS=1000000/s,1000000/m", "MG_RESOLVER_INGEST=0", NULL };
    mg_test_stack_options_t options = {
        .db = "mg_similar", .sql = s_fixtures, .sql_count = sizeof s_fixtures / sizeof s_fixtures [0],
        .settings = settings, .model = model, .train = true, .timeout_ms = START_WAIT_MS
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

//  True when id is one of the three space titles.
static bool
s_space (const char *id)
{
    return strcmp (id, SPACE1) == 0 || strcmp (id, SPACE2) == 0 || strcmp (id, SPACE3) == 0;
}

static void
test_similar_titles_share_the_topic_and_never_include_the_title (void **state)
{
    fixture_t *f = *state;
    json_t *json = s_get_json (f, "/api/v1/content/" SPACE1 "/similar", 200);
    json_t *results = json_object_get (json, "results");
    assert_true (json_is_array (results));
    size_t count = json_array_size (results);
    assert_true (count >= 2);
    assert_int_equal (json_integer_value (json_object_get (json, "total")), count);
    assert_int_equal (json_integer_value (json_object_get (json, "page")), 1);
    assert_int_equal (json_integer_value (json_object_get (json, "per_page")), 20);
    //  The two other space titles first, then (if at all) the kitchen ones.
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (results, i);
        const char *id = json_string_value (json_object_get (item, "id"));
        assert_non_null (id);
        assert_string_not_equal (id, SPACE1);
        if (i < 2)
            assert_true (s_space (id));
        //  The search result shape.
        assert_non_null (json_string_value (json_object_get (item, "title")));
        assert_non_null (json_string_value (json_object_get (item, "type")));
        assert_true (json_is_array (json_object_get (item, "genres")));
        assert_true (json_is_object (json_object_get (item, "external_ids")));
        assert_true (json_is_array (json_object_get (item, "availability")));
        assert_true (json_is_number (json_object_get (item, "score")));
        if (i)
            assert_true (json_number_value (json_object_get (item, "score"))
                         <= json_number_value (json_object_get (json_array_get (results, i - 1), "score")));
    }
    json_decref (json);
    //  The kitchen side finds kitchen titles.
    json = s_get_json (f, "/api/v1/content/" COOK2 "/similar?per_page=2", 200);
    results = json_object_get (json, "results");
    assert_int_equal (json_array_size (results), 2);
    for (size_t i = 0; i < 2; i++) {
        const char *id = json_string_value (json_object_get (json_array_get (results, i), "id"));
        assert_false (s_space (id));
        assert_string_not_equal (id, COOK2);
    }
    json_decref (json);
}

static void
test_similar_pages_and_filters_by_type (void **state)
{
    fixture_t *f = *state;
    json_t *all = s_get_json (f, "/api/v1/content/" SPACE1 "/similar", 200);
    json_t *second = s_get_json (f, "/api/v1/content/" SPACE1 "/similar?page=2&per_page=1", 200);
    assert_int_equal (json_integer_value (json_object_get (second, "total")),
                      json_integer_value (json_object_get (all, "total")));
    assert_int_equal (json_array_size (json_object_get (second, "results")), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (json_object_get (second, "results"), 0), "id")),
                         json_string_value (json_object_get (json_array_get (json_object_get (all, "results"), 1), "id")));
    json_decref (all);
    json_decref (second);
    json_t *tv = s_get_json (f, "/api/v1/content/" SPACE1 "/similar?type=tv", 200);
    json_t *results = json_object_get (tv, "results");
    assert_true (json_array_size (results) >= 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (results, 0), "id")), SPACE3);
    for (size_t i = 0; i < json_array_size (results); i++)
        assert_string_equal (json_string_value (json_object_get (json_array_get (results, i), "type")), "tv");
    json_decref (tv);
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

static void
test_similar_bad_input_is_400_and_an_unknown_title_404 (void **state)
{
    fixture_t *f = *state;
    s_assert_error (f, "/api/v1/content/" UNKNOWN "/similar", 404, "NOT_FOUND", UNKNOWN);
    s_assert_error (f, "/api/v1/content/not-a-uuid/similar", 400, "INVALID_PARAMETER", "id");
    s_assert_error (f, "/api/v1/content/" SPACE1 "/similar?per_page=101", 400, "INVALID_PARAMETER", "per_page");
    s_assert_error (f, "/api/v1/content/" SPACE1 "/similar?type=book", 400, "INVALID_PARAMETER", "type");
    s_assert_error (f, "/api/v1/content/" SPACE1 "/similar?region=France", 400, "INVALID_PARAMETER", "region");
    s_assert_error (f, "/api/v1/content/" SPACE1 "/similar?q=star", 400, "INVALID_PARAMETER", "q");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_similar_titles_share_the_topic_and_never_include_the_title),
        cmocka_unit_test (test_similar_pages_and_filters_by_type),
        cmocka_unit_test (test_similar_bad_input_is_400_and_an_unknown_title_404),
    };
    return cmocka_run_group_tests (tests, group_setup, mg_test_stack_teardown);
}
