/*  The title field outranks the others in hybrid search: on a small
    made-up catalog with a two-topic LSA model under which a film tagged
    with the query's word is the semantic side's best answer, a one-word
    query still lists the titles that hold the word before that film, as the
    keyword side ranks them; and a company's name finds the films of that
    company first (the companies field), whatever the semantic side finds.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index.h"
#include "mg_lsa.h"

typedef struct {
    const char *title, *keywords, *overview, *companies;
    double popularity;
} s_title_t;

//  "Gridlock" titles the word; "Night Harbor" only carries it as a tag and
//  is, for the model below, the closest film to the word.
static const s_title_t s_catalog [] = {
    { "Gridlock", "hacker\nsimulation", "a hacker wakes up", "Foxglove Pictures", 100.0 },
    { "Gridlock Returns", "hacker\nsequel", "the hacker fights on", "Foxglove Pictures", 70.0 },
    { "The Gridlock Revolt", "hacker\nsequel", "the war ends", "Foxglove Pictures", 72.0 },
    { "Night Harbor", "gridlock\nnoir", "a dark city where memories are rewritten at night", "Lantern Films", 40.0 },
    { "Paper Kites", "childhood", "two sisters and a kite", "Studio Brightwater\nLantern Films", 30.0 },
    { "Tin Garden", "robot", "a robot tends a garden", "Studio Brightwater", 25.0 },
    { "Harbor Road", "road trip", "a studio musician drives west", "Foxglove Pictures", 90.0 },
};
#define TITLES (sizeof s_catalog / sizeof s_catalog [0])
#define FILLER 40       //  unpopular titles no query here is about

typedef struct {
    char path [64];
    mg_lsa_t *lsa;
    search_index_t *index;
} fixture_t;

static void
s_put (search_index_t *index, int n, const s_title_t *t)
{
    char id [40], json [512];
    snprintf (id, sizeof id, "00000000-0000-4000-8000-%012d", n);
    snprintf (json, sizeof json, "{\"id\":\"%s\",\"type\":\"movie\",\"title\":\"%s\",\"genres\":[],"
              "\"external_ids\":{\"tmdb\":%d},\"availability\":[]}", id, t->title, n);
    mg_doc_t doc = {
        .id = id, .type = "movie", .title = t->title, .keywords = t->keywords, .overview = t->overview,
        .companies = t->companies, .year = 2000, .popularity = t->popularity, .hit_json = json,
        .genres = "", .offers = ""
    };
    assert_int_equal (search_index_put (index, &doc), 0);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    snprintf (f->path, sizeof f->path, "/tmp/test_title_field_XXXXXX");
    int fd = mkstemp (f->path);
    if (fd < 0)
        return -1;
    close (fd);
    //  Two topics: the word, the noir words, "studio" and the filler's
    //  words on axis 0; the sequels' and Gridlock's other words on axis 1.
    //  So "gridlock" is nearest to Night Harbor, whose every word is on the
    //  word's axis, and "studio brightwater" to films that are not the
    //  studio's (the studio's films have no word the model knows).
    //  Terms in byte order (the model file's order).
    char *terms [] = { "city", "dark", "gridlock", "harbor", "night", "noir", "returns", "revolt", "sequel",
                       "simulation", "studio", "walk" };
    float idf [] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    float proj [] = { 1, 0,  1, 0,  1, 0,  1, 0,  1, 0,  1, 0,  0, 1,  0, 1,  0, 1,  0, 1,  1, 0,  1, 0 };
    char err [256] = "";
    if (mg_lsa_write (f->path, terms, idf, proj, 12, 2, err, sizeof err)
    ||  !(f->lsa = mg_lsa_load (f->path, err, sizeof err))
    ||  !(f->index = search_index_new (f->lsa, err, sizeof err))) {
        fprintf (stderr, "setup: %s\n", err);
        return -1;
    }
    search_index_begin (f->index);
    int n = 1;
    for (size_t i = 0; i < TITLES; i++, n++)
        s_put (f->index, n, &s_catalog [i]);
    for (int i = 0; i < FILLER; i++, n++) {
        char title [64];
        snprintf (title, sizeof title, "Filler %c%c", 'a' + i % 26, 'a' + i / 26);
        s_title_t filler = { title, "walk", "a walk down a lane", "Nobody Films", 0.5 };
        s_put (f->index, n, &filler);
    }
    search_index_commit (f->index);
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    search_index_destroy (&f->index);
    mg_lsa_destroy (&f->lsa);
    remove (f->path);
    free (f);
    return 0;
}

//  Run q in mode (hybrid: semantic_ratio 0.5) into rep; asserts it succeeds.
static void
s_query (fixture_t *f, const char *q, search_mode_t mode, mg_search_reply_t *rep)
{
    search_query_t query = { .q = q, .per_page = 10, .mode = mode, .semantic_ratio = 0.5 };
    char err [256] = "";
    memset (rep, 0, sizeof *rep);
    if (search_index_query (f->index, &query, rep, err, sizeof err))
        fail_msg ("query '%s' failed: %s", q, err);
}

//  Place (from 0) of title in rep; fails when absent.
static size_t
s_place (const mg_search_reply_t *rep, const char *title)
{
    for (size_t i = 0; i < rep->results_count; i++)
        if (strcmp (rep->results [i].title, title) == 0)
            return i;
    fail_msg ("'%s' is not in the results", title);
    return 0;
}

static void
test_titles_holding_the_query_come_before_a_film_only_tagged_with_it (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    //  The semantic side alone puts the tagged film first: the case at hand.
    s_query (f, "gridlock", SEARCH_MODE_SEMANTIC, &rep);
    assert_string_equal (rep.results [0].title, "Night Harbor");
    mg_msg_clear (&mg_search_reply_desc, &rep);
    search_mode_t modes [] = { SEARCH_MODE_KEYWORD, SEARCH_MODE_HYBRID };
    for (size_t m = 0; m < 2; m++) {
        s_query (f, "gridlock", modes [m], &rep);
        assert_string_equal (rep.results [0].title, "Gridlock");
        size_t tagged = s_place (&rep, "Night Harbor");
        if (s_place (&rep, "Gridlock Returns") > tagged || s_place (&rep, "The Gridlock Revolt") > tagged)
            fail_msg ("mode %zu: a title holding the word is below the film only tagged with it", m);
        mg_msg_clear (&mg_search_reply_desc, &rep);
    }
}

static void
test_a_company_name_finds_the_companys_films (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    s_query (f, "studio brightwater", SEARCH_MODE_HYBRID, &rep);
    assert_true (rep.results_count >= 2);
    for (size_t i = 0; i < 2; i++)
        if (strcmp (rep.results [i].title, "Paper Kites") && strcmp (rep.results [i].title, "Tin Garden"))
            fail_msg ("result %zu is '%s', not a Studio Brightwater film", i, rep.results [i].title);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_titles_holding_the_query_come_before_a_film_only_tagged_with_it),
        cmocka_unit_test (test_a_company_name_finds_the_companys_films),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
