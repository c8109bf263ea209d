/*  The keyword side's BM25 (index_bm25.c): mg_bm25 () with the phrases'
    row counts kept between queries scores every match exactly as FTS5's
    bm25 (), for every shape of expression the keyword side builds (the
    words' AND with typo candidates and the last word's prefix, the OR
    fallback, the titles' own columns, a company's phrase), and the counts
    follow the index when titles change. A company phrase no company can
    hold runs no statement; one that a company starts with still finds its
    films.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_impl.h"

#define TITLES 300      //  enough rows that IDFs differ from one phrase to the next

static const char *s_words [] = {
    "river", "night", "glass", "harbour", "meadow", "keeper", "storm", "light", "orchard", "lane",
    "the", "of", "a", "riverside", "nights"
};
#define WORDS (sizeof s_words / sizeof s_words [0])

//  Text of count words of s_words chosen by seed.
static void
s_text (unsigned seed, int count, char *out, size_t room)
{
    size_t used = 0;
    out [0] = '\0';
    for (int i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        int n = snprintf (out + used, room - used, "%s%s", i ? " " : "", s_words [(seed >> 16) % WORDS]);
        if (n > 0 && (size_t) n < room - used)
            used += (size_t) n;
    }
}

static void
s_put (search_index_t *index, int n, const char *companies)
{
    char id [40], json [512], title [128], alt [128], tagline [128], keywords [128], overview [256], cast [128];
    snprintf (id, sizeof id, "00000000-0000-4000-8000-%012d", n);
    s_text ((unsigned) n, 1 + n % 3, title, sizeof title);
    s_text ((unsigned) n * 7, n % 2, alt, sizeof alt);
    s_text ((unsigned) n * 13, 4, tagline, sizeof tagline);
    s_text ((unsigned) n * 17, 2, keywords, sizeof keywords);
    s_text ((unsigned) n * 31, 3 + n % 9, overview, sizeof overview);
    s_text ((unsigned) n * 37, 2, cast, sizeof cast);
    snprintf (json, sizeof json, "{\"id\":\"%s\",\"type\":\"movie\",\"title\":\"%s\",\"genres\":[],"
              "\"external_ids\":{\"tmdb\":%d},\"availability\":[]}", id, title, n);
    mg_doc_t doc = {
        .id = id, .type = "movie", .title = title, .original_title = alt, .tagline = tagline,
        .keywords = keywords, .overview = overview, .cast = cast, .companies = companies, .year = 2000,
        .popularity = TITLES - n + 1, .hit_json = json, .genres = "", .offers = ""
    };
    assert_int_equal (search_index_put (index, &doc), 0);
}

static int
setup (void **state)
{
    char err [256];
    search_index_t *index = search_index_new (NULL, err, sizeof err);
    if (!index || search_index_begin (index))
        return -1;
    for (int n = 1; n <= TITLES; n++)
        s_put (index, n, n % 50 == 0 ? "Brightwater Pictures" : n % 7 == 0 ? "Night Light Films" : "");
    if (search_index_commit (index) || index_vocab (index))
        return -1;
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

//  Expressions of every shape index_plan and index_keyword build.
static const char *s_matches [] = {
    "- {companies} : ((\"river\" OR \"riverside\") AND (\"night\" OR \"nights\" OR \"night\" *))",
    "- {companies} : ((\"the\") AND (\"storm\" OR \"the\" *))",
    "- {companies} : ((\"glass\" OR \"grass\") OR (\"meadow\") OR (\"l\" OR \"l\" *))",
    "{title alt} : ((\"the\") AND (\"river\" OR \"river\" *))",
    "{title alt} : ((\"of\"))",
    "companies : \"night light\" *",
    "companies : \"brightwater pictures\"",
    "- {companies} : ((\"unknownword\") AND (\"river\"))",
};

//  Every match of each expression: bm25 () and mg_bm25 () with the counts
//  index_idf_bind gives are the same score. The number of rows compared
//  into *rows.
static void
s_compare (search_index_t *index, size_t *rows)
{
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT rowid, bm25 (fts, %g, %g, %g, %g, %g, %g, %g, %g), "
              "mg_bm25 (fts, ?2, %g, %g, %g, %g, %g, %g, %g, %g) FROM fts WHERE fts MATCH ?1",
              W_TITLE, W_ALT, W_TAGLINE, W_KEYWORDS, W_OVERVIEW, W_CAST, W_CREW, W_COMPANIES,
              W_TITLE, W_ALT, W_TAGLINE, W_KEYWORDS, W_OVERVIEW, W_CAST, W_CREW, W_COMPANIES);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal (sqlite3_prepare_v2 (index->db, sql, -1, &stmt, NULL), SQLITE_OK);
    *rows = 0;
    for (size_t m = 0; m < sizeof s_matches / sizeof s_matches [0]; m++) {
        //  Twice: the counts are taken from the index, then kept.
        for (int pass = 0; pass < 2; pass++) {
            sqlite3_reset (stmt);
            sqlite3_clear_bindings (stmt);
            sqlite3_bind_text (stmt, 1, s_matches [m], -1, SQLITE_STATIC);
            assert_int_equal (index_idf_bind (index, stmt, 2, s_matches [m]), 0);
            int step;
            while ((step = sqlite3_step (stmt)) == SQLITE_ROW) {
                double fts5 = sqlite3_column_double (stmt, 1), ours = sqlite3_column_double (stmt, 2);
                if (fabs (fts5 - ours) > 1e-12 * fabs (fts5))
                    fail_msg ("%s: row %lld: bm25 %.17g, mg_bm25 %.17g", s_matches [m],
                              (long long) sqlite3_column_int64 (stmt, 0), fts5, ours);
                (*rows)++;
            }
            assert_int_equal (step, SQLITE_DONE);
        }
    }
    sqlite3_finalize (stmt);
}

static void
test_kept_counts_score_as_fts5s_bm25 (void **state)
{
    search_index_t *index = *state;
    size_t rows = 0;
    s_compare (index, &rows);
    assert_true (rows > 100);
    //  Titles change: a common word gets rarer, a rare one commoner. The
    //  counts kept before must not score the new index.
    assert_int_equal (search_index_begin (index), 0);
    for (int n = TITLES + 1; n <= TITLES + 200; n++)
        s_put (index, n, "Brightwater Pictures");
    assert_int_equal (search_index_commit (index), 0);
    assert_int_equal (index_vocab (index), 0);
    size_t after = 0;
    s_compare (index, &after);
    assert_true (after > rows);
}

//  A query holding a word no company has runs no company statement; a
//  company's name typed in part still finds the company's films.
static void
test_a_company_phrase_runs_only_when_a_company_can_hold_it (void **state)
{
    search_index_t *index = *state;
    char err [256];
    const char *queries [] = { "river storm", "night li", "brightwater" };
    const uint64_t company_runs [] = { 0, 1, 1 };
    for (size_t i = 0; i < sizeof queries / sizeof queries [0]; i++) {
        uint64_t before = index->phase_runs [PHASE_COMPANY];
        search_query_t query = { .q = queries [i], .per_page = 10, .mode = SEARCH_MODE_KEYWORD, .explain = true };
        mg_search_reply_t rep;
        memset (&rep, 0, sizeof rep);
        assert_int_equal (search_index_query (index, &query, &rep, err, sizeof err), 0);
        assert_int_equal (index->phase_runs [PHASE_COMPANY] - before, company_runs [i]);
        assert_true (rep.results_count > 0);
        mg_msg_clear (&mg_search_reply_desc, &rep);
    }
    //  "brightwater" is only a company's word: its films are found through
    //  the company statement, none of them otherwise.
    search_query_t query = { .q = "brightwater", .per_page = 100, .mode = SEARCH_MODE_KEYWORD };
    mg_search_reply_t rep;
    memset (&rep, 0, sizeof rep);
    assert_int_equal (search_index_query (index, &query, &rep, err, sizeof err), 0);
    assert_int_equal (rep.total, TITLES / 50);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_kept_counts_score_as_fts5s_bm25, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_company_phrase_runs_only_when_a_company_can_hold_it, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
