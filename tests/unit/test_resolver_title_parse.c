/*  Listing titles: articles moved back, alternates and years split off.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "title_parse.h"

static void
test_trailing_article_and_year (void **state)
{
    (void) state;
    title_parsed_t p;
    title_parse_listing ("Matrix, The (1999)", &p);
    assert_string_equal (p.title, "The Matrix");
    assert_int_equal (p.year, 1999);
    assert_int_equal (p.nalternates, 0);
    title_parse_listing ("Auberge espagnole, L' (2002)", &p);
    assert_string_equal (p.title, "L'Auberge espagnole");
    title_parse_listing ("Toy Story (1995)", &p);
    assert_string_equal (p.title, "Toy Story");
}

static void
test_alternates_in_parentheses_with_their_own_articles (void **state)
{
    (void) state;
    title_parsed_t p;
    title_parse_listing ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", &p);
    assert_string_equal (p.title, "The City of Lost Children");
    assert_int_equal (p.nalternates, 1);
    assert_string_equal (p.alternates [0], "La Cité des enfants perdus");
    assert_int_equal (p.year, 1995);
    title_parse_listing ("Seven (a.k.a. Se7en) (1995)", &p);
    assert_string_equal (p.title, "Seven");
    assert_string_equal (p.alternates [0], "Se7en");
}

static void
test_year_ranges_missing_years_and_odd_input (void **state)
{
    (void) state;
    title_parsed_t p;
    title_parse_listing ("Fawlty Towers (1975-1979)", &p);
    assert_string_equal (p.title, "Fawlty Towers");
    assert_int_equal (p.year, 1975);
    title_parse_listing ("Babylon 5", &p);
    assert_string_equal (p.title, "Babylon 5");
    assert_int_equal (p.year, 0);
    title_parse_listing ("(500) Days of Summer (2009)", &p);
    assert_string_equal (p.title, "(500) Days of Summer");
    assert_int_equal (p.year, 2009);
    title_parse_listing ("", &p);
    assert_string_equal (p.title, "");
    title_parse_listing (NULL, &p);
    assert_string_equal (p.title, "");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_trailing_article_and_year),
        cmocka_unit_test (test_alternates_in_parentheses_with_their_own_articles),
        cmocka_unit_test (test_year_ranges_missing_years_and_odd_input),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
