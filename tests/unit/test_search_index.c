/*  The search index (in-memory SQLite FTS5, the replica's real index) on a
    small made-up catalog: typing as people type (Damerau-Levenshtein, the
    second pass, exact over typo'd), placeholder search, the popularity
    prior in explain, facets only when asked, total capped at 10,000
    with total_exact, bounded work on a broad word, and a page chosen from
    the hits as a sort of all of them would order it.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_impl.h"

typedef struct {
    const char *title, *overview, *type;
    int year;
    double popularity;
} s_title_t;

//  Made-up titles; a handful of popular ones outrank the rest for
//  placeholder search.
static const s_title_t s_catalog [] = {
    { "Merrow Lane", "a quiet town", "movie", 2001, 3.0 },
    { "Sanctuary", "monks keep a secret", "movie", 1995, 20.0 },
    { "The Goldfinch", "a painting survives a blast", "movie", 2019, 15.0 },
    { "The Meadow Keeper", "a meadow", "movie", 1980, 1.0 },
    { "Harbour Lights", "ships at night", "tv", 2010, 90.0 },
    { "Glass Orchard", "apples and glass", "movie", 1999, 50.0 },
    { "Class Orchard", "lessons under apple trees", "movie", 1999, 80.0 },
    { "The Lighthouse", "a storm", "movie", 2019, 40.0 },
};

#define FILLER 60       //  more titles, unpopular, that no query of these tests is about

static void
s_put (search_index_t *index, int n, const char *title, const char *overview, const char *type,
       int year, double popularity)
{
    char id [40], json [512];
    snprintf (id, sizeof id, "00000000-0000-4000-8000-%012d", n);
    snprintf (json, sizeof json,
              "{\"id\":\"%s\",\"type\":\"%s\",\"title\":\"%s\",\"genres\":[],\"external_ids\":{\"tmdb\":%d},"
              "\"availability\":[]}", id, type, title, n);
    mg_doc_t doc = {
        .id = id, .type = type, .title = title, .overview = overview, .year = year,
        .popularity = popularity, .hit_json = json, .genres = "", .offers = "",
        .vector_stored = true
    };
    assert_int_equal (search_index_put (index, &doc), 0);
}

//  A new empty index, its load begun (search_index_commit ends it).
static search_index_t *
s_begin (void)
{
    char err [256];
    search_index_t *index = search_index_new (NULL, err, sizeof err);
    assert_non_null (index);
    assert_int_equal (search_index_begin (index), 0);
    return index;
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
        s_put (index, n, s_catalog [i].title, s_catalog [i].overview, s_catalog [i].type,
               s_catalog [i].year, s_catalog [i].popularity);
    for (int i = 0; i < FILLER; i++, n++) {
        char title [64];
        snprintf (title, sizeof title, "Filler %c%c", 'a' + i % 26, 'a' + i / 26);
        s_put (index, n, title, "a walk down a lane", "movie", 2000, 0.5);
    }
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
s_query_facets (search_index_t *index, const char *q, const char *type, bool explain, unsigned facets,
                mg_search_reply_t *rep)
{
    search_query_t query = { .q = q, .type = type, .per_page = 10, .explain = explain,
                             .mode = SEARCH_MODE_KEYWORD, .facets = facets };
    char err [256] = "";
    memset (rep, 0, sizeof *rep);
    if (search_index_query (index, &query, rep, err, sizeof err))
        fail_msg ("query '%s' failed: %s", q, err);
}

static void
s_query (search_index_t *index, const char *q, const char *type, bool explain, mg_search_reply_t *rep)
{
    s_query_facets (index, q, type, explain, 0, rep);
}

//  Title of the first result, "" when none.
static const char *
s_first (const mg_search_reply_t *rep)
{
    return rep->results_count ? rep->results [0].title : "";
}

static void
test_a_swap_next_to_a_deletion_is_two_edits (void **state)
{
    mg_search_reply_t rep;
    //  "sanctuary" with the n dropped and the a/c swapped: 2 edits under
    //  Damerau-Levenshtein (within the second pass's budget), 3 under
    //  optimal string alignment (beyond any budget).
    s_query (*state, "scatuary", NULL, false, &rep);
    assert_string_equal (s_first (&rep), "Sanctuary");
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_the_second_pass_allows_two_edits_from_five_letters (void **state)
{
    mg_search_reply_t rep;
    //  "goldfinch" swapped and missing a letter: 2 edits in 8 letters,
    //  beyond the first budget (1 below 9 letters).
    s_query (*state, "the glodfnch", NULL, true, &rep);
    assert_string_equal (s_first (&rep), "The Goldfinch");
    assert_int_equal (rep.results [0].explain->typos, 2);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  An exact title keeps its exact answer (no second pass).
    s_query (*state, "glass orchard", NULL, true, &rep);
    assert_string_equal (s_first (&rep), "Glass Orchard");
    assert_int_equal (rep.results [0].explain->typos, 0);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

//  Exact beats typo'd: both spellings are titles, the typed one wins over
//  the more popular one a typo away.
static void
test_exact_words_beat_typod_words (void **state)
{
    mg_search_reply_t rep;
    s_query (*state, "glass orchard", NULL, true, &rep);
    assert_string_equal (s_first (&rep), "Glass Orchard");
    assert_int_equal (rep.results [0].explain->typos, 0);
    assert_true (rep.results_count >= 2);
    assert_string_equal (rep.results [1].title, "Class Orchard");
    assert_int_equal (rep.results [1].explain->typos, 1);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_placeholder_search_is_the_catalog_by_popularity (void **state)
{
    mg_search_reply_t rep;
    s_query (*state, "", NULL, true, &rep);
    size_t all = sizeof s_catalog / sizeof s_catalog [0] + FILLER;
    assert_int_equal (rep.total, all);
    assert_int_equal (rep.results_count, 10);
    assert_string_equal (rep.results [0].title, "Harbour Lights");
    assert_string_equal (rep.results [1].title, "Class Orchard");
    assert_string_equal (rep.results [2].title, "Glass Orchard");
    for (size_t i = 1; i < rep.results_count; i++)
        assert_true (rep.results [i - 1].score >= rep.results [i].score);
    //  The score is the prior, bounded by 0.1 (the most popular title has it all).
    assert_true (fabs (rep.results [0].explain->popularity - 0.1) < 1e-6);
    assert_true (rep.results [1].explain->popularity < 0.1);
    assert_true (rep.has_total_exact && rep.total_exact);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  The same filters as any search.
    s_query (*state, "", "tv", false, &rep);
    assert_int_equal (rep.total, 1);
    assert_string_equal (s_first (&rep), "Harbour Lights");
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_facets_are_counted_only_when_asked (void **state)
{
    mg_search_reply_t rep;
    s_query (*state, "", NULL, false, &rep);
    assert_null (rep.facets);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    s_query_facets (*state, "orchard", NULL, false, SEARCH_FACET_TYPES | SEARCH_FACET_YEARS, &rep);
    assert_non_null (rep.facets);
    assert_null (rep.facets->genres);
    assert_null (rep.facets->platforms);
    assert_int_equal (rep.facets->types_count, 1);
    assert_string_equal (rep.facets->types [0].value, "movie");
    assert_int_equal (rep.facets->types [0].count, 2);
    assert_int_equal (rep.facets->years_count, 1);
    assert_string_equal (rep.facets->years [0].value, "1999");
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  Asked for and held by no result: present and empty.
    s_query_facets (*state, "orchard", NULL, false, SEARCH_FACET_PLATFORMS, &rep);
    assert_non_null (rep.facets->platforms);
    assert_int_equal (rep.facets->platforms_count, 0);
    assert_null (rep.facets->types);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

#define MANY (SEARCH_TOTAL_MAX + 20)     //  titles of the capped catalog

static void
test_total_is_exact_up_to_the_cap (void **state)
{
    (void) state;
    search_index_t *index = s_begin ();
    for (int n = 1; n <= MANY; n++)
        s_put (index, n, n % 2 ? "Common Odd" : "Common Even", "a shared word", "movie", 2000, n);
    assert_int_equal (search_index_commit (index), 0);
    mg_search_reply_t rep;
    //  Half of them: exact.
    s_query (index, "odd", NULL, false, &rep);
    assert_int_equal (rep.total, MANY / 2);
    assert_true (rep.has_total_exact && rep.total_exact);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  All of them, by a word and by placeholder: the cap, not exact; the
    //  page is still the best ones. One word and no filter: known to be
    //  over the cap from its phrase's row count, the rest not walked.
    uint64_t walks = atomic_load (&index->phase_runs [PHASE_REST]);
    s_query (index, "common", NULL, false, &rep);
    assert_int_equal (rep.total, SEARCH_TOTAL_MAX);
    assert_true (rep.has_total_exact && !rep.total_exact);
    assert_int_equal (rep.results_count, 10);
    assert_int_equal (atomic_load (&index->phase_runs [PHASE_REST]), walks);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  A filter: the rest is walked and counted up to the cap.
    s_query (index, "common", "movie", false, &rep);
    assert_int_equal (rep.total, SEARCH_TOTAL_MAX);
    assert_false (rep.total_exact);
    assert_int_equal (atomic_load (&index->phase_runs [PHASE_REST]), walks + 1);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  Two words: walked.
    s_query (index, "common shared", NULL, false, &rep);
    assert_int_equal (rep.total, SEARCH_TOTAL_MAX);
    assert_false (rep.total_exact);
    assert_int_equal (atomic_load (&index->phase_runs [PHASE_REST]), walks + 2);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    s_query (index, "", NULL, false, &rep);
    assert_int_equal (rep.total, SEARCH_TOTAL_MAX);
    assert_false (rep.total_exact);
    assert_string_equal (s_first (&rep), MANY % 2 ? "Common Odd" : "Common Even");   //  the most popular
    mg_msg_clear (&mg_search_reply_desc, &rep);
    search_index_destroy (&index);
}

#define BROAD (3 * KEYWORD_TOP)      //  titles holding the broad word

//  A word most titles hold: a relevance page scores (BM25) the most popular
//  KEYWORD_TOP matches and the titles that hold the word in their titles,
//  counts the rest exactly, and still finds the unpopular title the query
//  types. Facets, other sorts and deep pages see every match.
static void
test_a_broad_word_scores_a_bounded_number_of_matches (void **state)
{
    (void) state;
    char err [256];
    search_index_t *index = s_begin ();
    //  Most popular first, as a snapshot load gives rowids (load.c).
    for (int n = 1; n <= BROAD; n++)
        s_put (index, n, n == 1 ? "Plain Top" : "Plain", "a broad river", "movie", 2000, BROAD - n + 10);
    s_put (index, BROAD + 1, "River", "a boat", "movie", 1990, 0.1);
    assert_int_equal (search_index_commit (index), 0);
    mg_search_reply_t rep;
    s_query (index, "river", NULL, false, &rep);
    assert_int_equal (rep.total, BROAD + 1);
    assert_true (rep.total_exact);
    assert_string_equal (s_first (&rep), "River");
    //  Each pass steps one row past its bound (to know matches are left).
    assert_true (search_index_scored (index) <= 2 * (KEYWORD_TOP + 1));
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  Facets count every match: every match is scored.
    s_query_facets (index, "river", NULL, false, SEARCH_FACET_TYPES, &rep);
    assert_int_equal (rep.total, BROAD + 1);
    assert_int_equal (rep.facets->types [0].count, BROAD + 1);
    assert_int_equal (search_index_scored (index), BROAD + 1);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  Another sort and a deep page: every match.
    search_query_t query = { .q = "river", .per_page = 10, .mode = SEARCH_MODE_KEYWORD,
                             .sort = SEARCH_SORT_POPULARITY };
    memset (&rep, 0, sizeof rep);
    assert_int_equal (search_index_query (index, &query, &rep, err, sizeof err), 0);
    assert_string_equal (s_first (&rep), "Plain Top");
    assert_int_equal (search_index_scored (index), BROAD + 1);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    query = (search_query_t) { .q = "river", .per_page = 10, .offset = RERANK_MAX, .mode = SEARCH_MODE_KEYWORD };
    memset (&rep, 0, sizeof rep);
    assert_int_equal (search_index_query (index, &query, &rep, err, sizeof err), 0);
    assert_int_equal (rep.total, BROAD + 1);
    assert_int_equal (search_index_scored (index), BROAD + 1);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    //  Filters apply to the counted rest too.
    s_query (index, "river", "tv", false, &rep);
    assert_int_equal (rep.total, 0);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    search_index_destroy (&index);
}

//  A broad word most titles hold in their own titles: the walk of the
//  titles' own matches and the count of the rest begin after the AND's
//  last scored match (no match scored twice), and still count exactly,
//  filters included.
#define COVE (2 * KEYWORD_TOP - 10)  //  the title "Cove": among the titles' own matches after the AND's

static void
test_a_broad_titled_word_scores_no_match_twice (void **state)
{
    (void) state;
    search_index_t *index = s_begin ();
    for (int n = 1; n <= BROAD; n++)
        s_put (index, n, n == COVE ? "Cove" : "Cove Road", "a road", n % 3 ? "movie" : "tv", 2000, BROAD - n + 10);
    assert_int_equal (search_index_commit (index), 0);
    mg_search_reply_t rep;
    s_query (index, "cove", NULL, false, &rep);
    assert_int_equal (rep.total, BROAD);
    assert_true (rep.total_exact);
    //  An unpopular title past the AND's bound, the one the query types.
    assert_string_equal (s_first (&rep), "Cove");
    //  The AND's KEYWORD_TOP and one, then as many of the titles' own
    //  after them: not the AND's again (3 x KEYWORD_TOP and more before).
    assert_true (search_index_scored (index) <= 2 * (KEYWORD_TOP + 1));
    mg_msg_clear (&mg_search_reply_desc, &rep);
    s_query (index, "cove", "tv", false, &rep);
    assert_int_equal (rep.total, BROAD / 3);
    assert_true (rep.total_exact);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    s_query (index, "cove road", "movie", false, &rep);
    assert_int_equal (rep.total, BROAD - BROAD / 3);
    assert_true (rep.total_exact);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    search_index_destroy (&index);
}

//  A page chosen from the hits (index_hits_top) is what a sort of all
//  of them puts there, whatever the page's size, ties of score included
//  (broken by rowid); every hit is kept.
static void
test_the_page_is_the_sorted_hits_first_ones (void **state)
{
    (void) state;
    enum { HITS = 500 };
    size_t pages [] = { 0, 1, 10, 20, 63, 64, 65, 124, 125, 126, HITS };
    srand (7);
    for (size_t p = 0; p < sizeof pages / sizeof pages [0]; p++) {
        index_hits_t hits = { 0 }, all = { 0 };
        for (int i = 0; i < HITS; i++) {
            index_hit_t hit = { .rowid = 1 + (i * 7919) % HITS, .tier = rand () % 2, .score = (double) (rand () % 40) };
            assert_int_equal (index_hits_push (&hits, &hit), 0);
            assert_int_equal (index_hits_push (&all, &hit), 0);
        }
        index_hits_top (&hits, pages [p], index_by_score);
        index_hits_sort (&all, index_by_score);
        assert_int_equal (hits.count, HITS);
        for (size_t i = 0; i < pages [p]; i++)
            assert_int_equal (hits.items [i].rowid, all.items [i].rowid);
        index_hits_sort (&hits, index_by_rowid);
        for (int i = 0; i < HITS; i++)
            assert_int_equal (hits.items [i].rowid, i + 1);
        index_hits_free (&hits);
        index_hits_free (&all);
    }
}

//  Pages of a broad word, each asked for on its own, are the slices of
//  one long page: each short page chosen from the hits (no sort of all)
//  is where the long one (sorted whole) puts it.
static void
test_pages_asked_one_by_one_are_slices_of_one_long_page (void **state)
{
    (void) state;
    char err [256];
    search_index_t *index = s_begin ();
    for (int n = 1; n <= 300; n++)
        s_put (index, n, n % 3 ? "Stone Bridge" : "Stone", n % 5 ? "a stone" : "a bridge of stone", "movie",
               2000, (double) (n % 17));
    assert_int_equal (search_index_commit (index), 0);
    char long_ids [100][40];
    search_query_t query = { .q = "stone", .per_page = 100, .mode = SEARCH_MODE_KEYWORD };
    mg_search_reply_t rep;
    memset (&rep, 0, sizeof rep);
    assert_int_equal (search_index_query (index, &query, &rep, err, sizeof err), 0);
    assert_int_equal (rep.results_count, 100);
    for (size_t i = 0; i < rep.results_count; i++)
        snprintf (long_ids [i], sizeof long_ids [i], "%s", rep.results [i].id);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    for (uint64_t offset = 0; offset < 100; offset += 10) {
        query = (search_query_t) { .q = "stone", .per_page = 10, .offset = offset, .mode = SEARCH_MODE_KEYWORD };
        memset (&rep, 0, sizeof rep);
        assert_int_equal (search_index_query (index, &query, &rep, err, sizeof err), 0);
        assert_int_equal (rep.results_count, 10);
        assert_int_equal (rep.total, 300);
        for (size_t i = 0; i < rep.results_count; i++)
            assert_string_equal (rep.results [i].id, long_ids [offset + i]);
        mg_msg_clear (&mg_search_reply_desc, &rep);
    }
    search_index_destroy (&index);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_swap_next_to_a_deletion_is_two_edits),
        cmocka_unit_test (test_the_second_pass_allows_two_edits_from_five_letters),
        cmocka_unit_test (test_exact_words_beat_typod_words),
        cmocka_unit_test (test_placeholder_search_is_the_catalog_by_popularity),
        cmocka_unit_test (test_facets_are_counted_only_when_asked),
        cmocka_unit_test (test_total_is_exact_up_to_the_cap),
        cmocka_unit_test (test_a_broad_word_scores_a_bounded_number_of_matches),
        cmocka_unit_test (test_a_broad_titled_word_scores_no_match_twice),
        cmocka_unit_test (test_the_page_is_the_sorted_hits_first_ones),
        cmocka_unit_test (test_pages_asked_one_by_one_are_slices_of_one_long_page),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
