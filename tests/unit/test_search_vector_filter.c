/*  Filtered semantic search over the "ivf-sq8" vector index when the lists
    a search scans hold too few titles that pass the filter: 4,000 titles
    (102 k-means lists, 4 scanned a query) whose vectors mix two of eight
    words of a made-up model, with years spread over 50.
    - A filter few titles pass anywhere (one year: 2 %) is answered
      exactly: every passing title over the cosine floor, and only the
      passing titles' vectors compared.
    - A filter that passes many titles (a decade: 20 %) but few in the
      scanned lists is answered by a search of more lists: the best
      titles that pass, without comparing every vector.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index_impl.h"
#include "mg_lsa.h"

#define TITLES 4000
#define WORDS  8

static const char *const s_words [WORDS] = {
    "ember", "forest", "glass", "harbor", "ledger", "river", "stone", "walk"
};

//  Title i's words: s_words [i % 8] once and another one 1-3 times; its year.
static int
s_first (int i)
{
    return i % WORDS;
}

static int
s_second (int i)
{
    int b = (i / WORDS) % WORDS;
    return b == s_first (i) ? (b + 1) % WORDS : b;
}

static int
s_year (int i)
{
    return 1950 + (i * 7) % 50;
}

static bool
s_holds (int i, const char *word)
{
    return strcmp (s_words [s_first (i)], word) == 0 || strcmp (s_words [s_second (i)], word) == 0;
}

typedef struct {
    char path [64];
    mg_lsa_t *lsa;
    search_index_t *index;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    snprintf (f->path, sizeof f->path, "/tmp/test_vector_filter_XXXXXX");
    int fd = mkstemp (f->path);
    if (fd < 0)
        return -1;
    close (fd);
    //  One axis a word.
    char *terms [WORDS];
    float idf [WORDS], proj [WORDS * WORDS] = { 0 };
    for (int w = 0; w < WORDS; w++) {
        terms [w] = (char *) s_words [w];
        idf [w] = 1;
        proj [w * WORDS + w] = 1;
    }
    char err [256] = "";
    if (setenv ("MG_SEARCH_VECTOR_INDEX", "ivf-sq8", 1) || setenv ("MG_SEARCH_IVF_PROBES", "4", 1))
        return -1;
    if (mg_lsa_write (f->path, terms, idf, proj, WORDS, WORDS, err, sizeof err)
    ||  !(f->lsa = mg_lsa_load (f->path, err, sizeof err))
    ||  !(f->index = search_index_new (f->lsa, err, sizeof err))) {
        fprintf (stderr, "setup: %s\n", err);
        return -1;
    }
    int rc = search_index_begin (f->index);
    for (int i = 0; rc == 0 && i < TITLES; i++) {
        char id [40], title [32], overview [96], json [256];
        snprintf (id, sizeof id, "00000000-0000-4000-8000-%012d", i + 1);
        snprintf (title, sizeof title, "Title %d", i + 1);
        int repeat = 1 + (i / (WORDS * WORDS)) % 3;
        snprintf (overview, sizeof overview, "%s", s_words [s_first (i)]);
        for (int r = 0; r < repeat; r++)
            snprintf (overview + strlen (overview), sizeof overview - strlen (overview), " %s",
                      s_words [s_second (i)]);
        snprintf (json, sizeof json, "{\"id\":\"%s\",\"type\":\"movie\",\"title\":\"%s\",\"genres\":[],"
                  "\"external_ids\":{\"tmdb\":%d},\"availability\":[]}", id, title, i + 1);
        mg_doc_t doc = {
            .id = id, .type = "movie", .title = title, .overview = overview, .year = s_year (i),
            .popularity = 1.0 + (double) (TITLES - i) / TITLES, .hit_json = json, .genres = "", .offers = ""
        };
        rc = search_index_put (f->index, &doc);
    }
    rc = rc ? rc : search_index_commit (f->index);
    unsetenv ("MG_SEARCH_VECTOR_INDEX");
    unsetenv ("MG_SEARCH_IVF_PROBES");
    return rc;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    search_index_destroy (&f->index);
    mg_lsa_destroy (&f->lsa);
    remove (f->path);
    free (f);
    return 0;
}

//  The title number (0-based) of a result id.
static int
s_number (const char *id)
{
    return atoi (id + strlen (id) - 12) - 1;
}

//  Semantic results for q with years [from, to] into rep; the vectors the
//  starved searches compared exactly and their further searches and scans
//  into *scanned and *runs.
static void
s_semantic (fixture_t *f, const char *q, int from, int to, mg_search_reply_t *rep, uint64_t *scanned, uint64_t *runs)
{
    search_query_t query = {
        .q = q, .per_page = 100, .mode = SEARCH_MODE_SEMANTIC, .has_year_from = true, .year_from = from,
        .has_year_to = true, .year_to = to
    };
    uint64_t rows = f->index->phase_rows [PHASE_STARVED], before = f->index->phase_runs [PHASE_STARVED];
    memset (rep, 0, sizeof *rep);
    char err [256] = "";
    int rc = search_index_query (f->index, &query, rep, err, sizeof err);
    if (rc)
        print_error ("query %s: %s\n", q, err);
    assert_int_equal (rc, 0);
    *scanned = f->index->phase_rows [PHASE_STARVED] - rows;
    *runs = f->index->phase_runs [PHASE_STARVED] - before;
}

//  One year: 80 titles pass, a quarter of them hold "harbor". The answer is those
//  ones exactly, and only the 80 passing titles' vectors were compared.
static void
test_search_vector_filter_few_pass_scans_only_them (void **state)
{
    fixture_t *f = *state;
    assert_string_equal (search_hnsw_kind (f->index->hnsw), "ivf-sq8");
    assert_true (search_hnsw_lists (f->index->hnsw) > 8);
    int year = 1977, passing = 0, expected = 0;
    for (int i = 0; i < TITLES; i++) {
        passing += s_year (i) == year;
        expected += s_year (i) == year && s_holds (i, "harbor");
    }
    mg_search_reply_t rep;
    uint64_t scanned, runs;
    s_semantic (f, "harbor", year, year, &rep, &scanned, &runs);
    print_message ("one year: %zu results of %d expected, %llu vectors compared, %d titles pass\n",
                   rep.results_count, expected, (unsigned long long) scanned, passing);
    assert_true (expected > 0 && expected < passing);
    assert_int_equal (rep.results_count, expected);
    for (size_t r = 0; r < rep.results_count; r++) {
        int i = s_number (rep.results [r].id);
        assert_int_equal (s_year (i), year);
        assert_true (s_holds (i, "harbor"));
    }
    assert_true (runs >= 1);
    assert_true (scanned <= (uint64_t) passing);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

//  A decade: 800 titles pass, about 200 of them hold "harbor", but
//  the 4 lists scanned hold few of them. More lists are searched, no
//  vector is compared outside them, and most of the best titles are found.
static void
test_search_vector_filter_many_pass_search_further (void **state)
{
    fixture_t *f = *state;
    int from = 1950, to = 1959, expected = 0;
    for (int i = 0; i < TITLES; i++)
        expected += s_year (i) >= from && s_year (i) <= to && s_holds (i, "harbor");
    mg_search_reply_t rep;
    uint64_t scanned, runs;
    s_semantic (f, "harbor", from, to, &rep, &scanned, &runs);
    int found = 0;
    for (size_t r = 0; r < rep.results_count; r++) {
        int i = s_number (rep.results [r].id);
        assert_true (s_year (i) >= from && s_year (i) <= to);
        found += s_holds (i, "harbor");
    }
    int want = expected < SEMANTIC_TOP ? expected : SEMANTIC_TOP;
    print_message ("a decade: %zu results, %d of the %d best holding the word; %llu further searches or scans,"
                   " %llu vectors compared exactly\n", rep.results_count, found, want,
                   (unsigned long long) runs, (unsigned long long) scanned);
    assert_true (expected > SEMANTIC_TOP / 2);
    assert_true (runs >= 1);
    assert_int_equal (scanned, 0);
    assert_true (found * 10 >= want * 9);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_search_vector_filter_few_pass_scans_only_them),
        cmocka_unit_test (test_search_vector_filter_many_pass_search_further),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
