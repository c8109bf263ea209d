/*  People in the search index (in-memory SQLite FTS5, the replica's real
    index) on a small made-up catalog: a query naming a person ranks the
    films they lead or direct first, by centrality then popularity; a name
    plus a word finds the one film; type=person finds people only; the
    default search finds titles only; autocomplete suggests people as items
    of type person.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"

typedef struct {
    const char *title, *overview, *cast, *directors;
    double popularity;
} s_title_t;

//  Rowan Ford leads two films, directs one and has a small part in the most
//  popular title; "Rowan Hill" holds both of the name's words loosely (one
//  in its title, one in its overview), as a title that only shares words.
static const s_title_t s_catalog [] = {
    { "Star Quarry", "miners find a star", "Rowan Ford\nIda Stone", NULL, 80.0 },
    { "Iron Harbour", "a harbour strike", "Ida Stone\nRowan Ford", NULL, 30.0 },
    { "Quiet Field", "a farm in winter", "Ida Stone", "Rowan Ford", 10.0 },
    { "Busy Street", "a city day", "Ida Stone\nA One\nA Two\nA Three\nA Four\nA Five\nA Six\nA Seven\nA Eight\nRowan Ford",
      NULL, 95.0 },
    { "Rowan Hill", "a walk to the ford crossing", "Ida Stone", NULL, 90.0 },
    { "Deep Bank", "a river bank", "Rowan Banks", NULL, 60.0 },
};

#define FILLER 60       //  more titles, unpopular, that no query of these tests is about

static void
s_id (char id [40], int n)
{
    snprintf (id, 40, "00000000-0000-4000-8000-%012d", n);
}

static void
s_put (search_index_t *index, int n, const s_title_t *t)
{
    char id [40], json [512];
    s_id (id, n);
    snprintf (json, sizeof json,
              "{\"id\":\"%s\",\"type\":\"movie\",\"title\":\"%s\",\"genres\":[],\"external_ids\":{\"tmdb\":%d},"
              "\"availability\":[]}", id, t->title, n);
    mg_doc_t doc = {
        .id = id, .type = "movie", .title = t->title, .overview = t->overview, .cast = t->cast,
        .directors = t->directors, .year = 2000, .popularity = t->popularity, .hit_json = json,
        .genres = "", .offers = "", .vector_stored = true
    };
    assert_int_equal (search_index_put (index, &doc), 0);
}

static void
s_put_person (search_index_t *index, int n, const char *name, double popularity)
{
    char id [40], json [512];
    s_id (id, 1000 + n);
    snprintf (json, sizeof json,
              "{\"id\":\"%s\",\"type\":\"person\",\"title\":\"%s\",\"genres\":[],\"external_ids\":{\"tmdb\":%d},"
              "\"availability\":[],\"known_for_department\":\"Acting\"}", id, name, n);
    search_person_t person = { .id = id, .name = name, .popularity = popularity, .hit_json = json };
    assert_int_equal (search_index_put_person (index, &person), 0);
}

static int
setup (void **state)
{
    char err [256];
    search_index_t *index = search_index_new (NULL, err, sizeof err);
    if (!index)
        return -1;
    search_index_begin (index);
    int n = 1;
    for (size_t i = 0; i < sizeof s_catalog / sizeof s_catalog [0]; i++, n++)
        s_put (index, n, &s_catalog [i]);
    for (int i = 0; i < FILLER; i++, n++) {
        char title [64];
        snprintf (title, sizeof title, "Filler %c%c", 'a' + i % 26, 'a' + i / 26);
        s_title_t t = { title, "a walk down a lane", "Ida Stone", NULL, 0.5 };
        s_put (index, n, &t);
    }
    s_put_person (index, 1, "Rowan Ford", 120.0);
    s_put_person (index, 2, "Rowan Banks", 60.0);
    s_put_person (index, 3, "Ida Stone", 300.0);
    search_index_commit (index);
    *state = index;
    return 0;
}

static int
teardown (void **state)
{
    search_index_t *index = *state;
    search_index_destroy (&index);
    return 0;
}

//  Run q (keyword mode) into rep; asserts it succeeds.
static void
s_query (search_index_t *index, const char *q, const char *type, mg_search_reply_t *rep)
{
    search_query_t query = { .q = q, .type = type, .per_page = 10, .explain = true,
                             .mode = SEARCH_MODE_KEYWORD };
    char err [256] = "";
    memset (rep, 0, sizeof *rep);
    if (search_index_query (index, &query, rep, err, sizeof err))
        fail_msg ("query '%s' failed: %s", q, err);
}

static void
test_a_name_ranks_the_films_the_person_leads_or_directs_first (void **state)
{
    mg_search_reply_t rep;
    s_query (*state, "rowan ford", NULL, &rep);
    assert_true (rep.results_count >= 5);
    //  Leads and the film directed, the more popular first, above the
    //  small part in the most popular title and the title that only shares
    //  the name's words.
    assert_string_equal (rep.results [0].title, "Star Quarry");
    assert_string_equal (rep.results [1].title, "Iron Harbour");
    assert_string_equal (rep.results [2].title, "Quiet Field");
    assert_true (rep.results [0].explain->has_person && rep.results [0].explain->person > 1.0);
    bool small_part = false;
    for (size_t i = 0; i < rep.results_count; i++) {
        assert_string_equal (rep.results [i].type, "movie");
        if (strcmp (rep.results [i].title, "Rowan Hill") == 0)
            assert_false (rep.results [i].explain->has_person);
        if (strcmp (rep.results [i].title, "Busy Street") == 0) {
            small_part = true;
            assert_true (rep.results [i].explain->has_person);
            assert_true (rep.results [i].explain->person < rep.results [2].explain->person);
        }
    }
    assert_true (small_part);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_a_name_and_a_word_find_the_one_film (void **state)
{
    mg_search_reply_t rep;
    s_query (*state, "rowan ford harbour", NULL, &rep);
    assert_true (rep.results_count >= 1);
    assert_string_equal (rep.results [0].title, "Iron Harbour");
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_type_person_finds_people_only (void **state)
{
    mg_search_reply_t rep;
    s_query (*state, "rowan ford", "person", &rep);
    assert_true (rep.results_count >= 1);
    assert_string_equal (rep.results [0].type, "person");
    assert_string_equal (rep.results [0].title, "Rowan Ford");
    assert_string_equal (rep.results [0].known_for_department, "Acting");
    for (size_t i = 0; i < rep.results_count; i++)
        assert_string_equal (rep.results [i].type, "person");
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  One shared word: the more popular person first.
    s_query (*state, "rowan", "person", &rep);
    assert_int_equal (rep.total, 2);
    assert_string_equal (rep.results [0].title, "Rowan Ford");
    assert_string_equal (rep.results [1].title, "Rowan Banks");
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_autocomplete_suggests_people_as_type_person (void **state)
{
    mg_autocomplete_reply_t rep = { 0 };
    char err [256] = "";
    assert_int_equal (search_index_autocomplete (*state, "rowan f", &rep, err, sizeof err), 0);
    bool person = false;
    for (size_t i = 0; i < rep.results_count; i++)
        if (strcmp (rep.results [i].type, "person") == 0) {
            assert_string_equal (rep.results [i].title, "Rowan Ford");
            assert_string_equal (rep.results [i].person, "Rowan Ford");
            person = true;
        }
    assert_true (person);
    mg_msg_clear (&mg_autocomplete_reply_desc, &rep);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_name_ranks_the_films_the_person_leads_or_directs_first),
        cmocka_unit_test (test_a_name_and_a_word_find_the_one_film),
        cmocka_unit_test (test_type_person_finds_people_only),
        cmocka_unit_test (test_autocomplete_suggests_people_as_type_person),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
