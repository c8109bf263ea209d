/*  lib/mg_import: each fixture export (tests/fixtures/import/, written to the
    services' published column layouts) is told by its header or shape and
    read into the rows it holds; malformed files fail naming the line.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_import.h"

#define FIXTURES MG_SOURCE_DIR "/tests/fixtures/import/"

//  The whole file name (under FIXTURES) into *len bytes; caller frees.
static char *
s_read (const char *name, size_t *len)
{
    char path [512];
    snprintf (path, sizeof path, FIXTURES "%s", name);
    FILE *file = fopen (path, "rb");
    assert_non_null (file);
    char *data = malloc (1 << 20);
    assert_non_null (data);
    *len = fread (data, 1, 1 << 20, file);
    fclose (file);
    return data;
}

//  Parse fixture name as content_type; asserts it succeeds as format with count rows.
static void
s_parse_fixture (const char *name, const char *content_type, mg_import_format_t format, size_t count,
                 mg_import_t *out)
{
    size_t len, line;
    char *data = s_read (name, &len);
    char err [256] = "";
    int rc = mg_import_parse (data, len, content_type, out, err, sizeof err, &line);
    free (data);
    if (rc)
        fail_msg ("%s: %s (line %zu)", name, err, line);
    assert_string_equal (mg_import_format_name (out->format), mg_import_format_name (format));
    assert_int_equal (out->count, count);
}

//  Parse text as content_type; asserts it fails at line with err holding part.
static void
s_assert_malformed (const char *text, const char *content_type, size_t line, const char *part)
{
    mg_import_t out;
    char err [256] = "";
    size_t at = 99;
    assert_int_equal (mg_import_parse (text, strlen (text), content_type, &out, err, sizeof err, &at), -1);
    if (at != line || !strstr (err, part))
        fail_msg ("%s: expected line %zu and '%s', got line %zu: %s", text, line, part, at, err);
    assert_null (out.rows);
    assert_int_equal (out.count, 0);
}

static void
test_imdb_list_export_is_told_by_its_header (void **state)
{
    (void) state;
    mg_import_t out;
    s_parse_fixture ("imdb_list.csv", "text/csv; charset=utf-8", MG_IMPORT_IMDB, 4, &out);
    assert_string_equal (out.rows [0].title, "The Matrix");
    assert_string_equal (out.rows [0].imdb, "tt0133093");
    assert_int_equal (out.rows [0].year, 1999);
    assert_string_equal (out.rows [0].type, "movie");
    assert_false (out.rows [0].watched);
    assert_int_equal (out.rows [0].line, 2);
    //  A rated row of a list export counts as watched.
    assert_true (out.rows [1].watched);
    assert_string_equal (out.rows [2].type, "tv");
    assert_int_equal (out.rows [3].line, 5);
    mg_import_clear (&out);
    s_parse_fixture ("imdb_ratings.csv", "text/csv", MG_IMPORT_IMDB_RATINGS, 2, &out);
    assert_string_equal (out.rows [1].title, "Titanic");
    assert_true (out.rows [0].watched && out.rows [1].watched);
    mg_import_clear (&out);
}

static void
test_letterboxd_exports_are_told_apart_by_watched_date (void **state)
{
    (void) state;
    mg_import_t out;
    s_parse_fixture ("letterboxd_watchlist.csv", "text/csv", MG_IMPORT_LETTERBOXD_WATCHLIST, 3, &out);
    assert_string_equal (out.rows [1].title, "Crouching Tiger, Hidden Dragon");
    assert_int_equal (out.rows [1].year, 2000);
    assert_int_equal (out.rows [2].year, 0);
    assert_string_equal (out.rows [2].type, "movie");
    assert_false (out.rows [0].watched);
    mg_import_clear (&out);
    s_parse_fixture ("letterboxd_diary.csv", "text/csv", MG_IMPORT_LETTERBOXD_DIARY, 2, &out);
    assert_string_equal (out.rows [0].title, "The Matrix");
    assert_true (out.rows [0].watched && out.rows [1].watched);
    mg_import_clear (&out);
}

static void
test_trakt_json_and_ndjson_exports (void **state)
{
    (void) state;
    mg_import_t out;
    s_parse_fixture ("trakt_watchlist.json", "application/json", MG_IMPORT_TRAKT, 3, &out);
    assert_string_equal (out.rows [1].title, "Breaking Bad");
    assert_string_equal (out.rows [1].type, "tv");
    assert_int_equal (out.rows [1].tmdb, 1396);
    assert_string_equal (out.rows [2].imdb, "tt0499549");
    assert_false (out.rows [0].watched);
    assert_int_equal (out.rows [0].line, 2);       //  the line each item starts on
    assert_int_equal (out.rows [1].line, 10);
    mg_import_clear (&out);
    s_parse_fixture ("trakt_history.ndjson", "application/x-ndjson", MG_IMPORT_TRAKT, 2, &out);
    assert_true (out.rows [0].watched);
    assert_int_equal (out.rows [1].line, 2);
    assert_int_equal (out.rows [1].tmdb, 597);
    mg_import_clear (&out);
}

static void
test_plain_title_year_list (void **state)
{
    (void) state;
    mg_import_t out;
    s_parse_fixture ("plain.csv", "text/csv", MG_IMPORT_PLAIN, 4, &out);
    assert_string_equal (out.rows [2].title, "Hamlet");
    assert_int_equal (out.rows [2].year, 0);
    assert_string_equal (out.rows [0].type, "");
    mg_import_clear (&out);
    //  A byte order mark, CRLF line ends and a blank line are fine.
    const char text [] = "\xEF\xBB\xBFTitle,Year\r\nAlien,1979\r\n\r\nHeat,1995\r\n";
    char err [256];
    size_t line;
    assert_int_equal (mg_import_parse (text, strlen (text), "text/csv", &out, err, sizeof err, &line), 0);
    assert_int_equal (out.count, 2);
    assert_string_equal (out.rows [1].title, "Heat");
    assert_int_equal (out.rows [1].line, 4);
    mg_import_clear (&out);
}

static void
test_malformed_files_name_the_line (void **state)
{
    (void) state;
    //  A quoted field across lines: the row is known by the line it ends on.
    s_assert_malformed ("title,year\nAlien,1979\nHeat,\"1995\nx\"\"y\",2\n", "text/csv", 4, "Year");
    s_assert_malformed ("title,year\nAlien,1979\n\"Heat,1995\n", "text/csv", 3, "");
    s_assert_malformed ("title,year\nAlien,1979\nHeat,19x5\n", "text/csv", 3, "not a year");
    s_assert_malformed ("title,year\nAlien,1979\n,1995\n", "text/csv", 3, "needs a title");
    s_assert_malformed ("name,when\nAlien,1979\n", "text/csv", 1, "unknown CSV header");
    s_assert_malformed ("", "text/csv", 1, "empty");
    s_assert_malformed ("[\n {\"movie\": {\"title\": \"Alien\"}},\n {\"movie\": {\"year\": 1995}}\n]", "application/json",
                        3, "needs a title");
    s_assert_malformed ("[\n {\"movie\": {\"title\": \"Alien\"}},\n {\"movie\": {\"title\": \"Heat\", }}\n]",
                        "application/json", 3, "invalid JSON");
    s_assert_malformed ("[\n {\"movie\": {\"title\": \"Alien\", \"year\": \"1979\"}}\n]", "application/json", 2, "year");
    s_assert_malformed ("{\"a\": 1, \"b\": 2}", "application/json", 1, "array");
    s_assert_malformed ("{\"movie\": {\"title\": \"Alien\"}}\n\n{\"movie\": {\"title\": \"Heat\"}\n", "application/x-ndjson",
                        3, "invalid JSON");
    s_assert_malformed ("title,year\n", "application/pdf", 0, "unsupported");
    const char nul [] = "title,year\nAl\0ien,1979\n";
    mg_import_t out;
    char err [256];
    size_t line;
    assert_int_equal (mg_import_parse (nul, sizeof nul - 1, "text/csv", &out, err, sizeof err, &line), -1);
    assert_int_equal (line, 2);
    assert_non_null (strstr (err, "NUL"));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_imdb_list_export_is_told_by_its_header),
        cmocka_unit_test (test_letterboxd_exports_are_told_apart_by_watched_date),
        cmocka_unit_test (test_trakt_json_and_ndjson_exports),
        cmocka_unit_test (test_plain_title_year_list),
        cmocka_unit_test (test_malformed_files_name_the_line),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
