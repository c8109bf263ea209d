/*  Resolver title rules: what normalises together, what never matches.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "title.h"

static void
s_expect (const char *title, const char *normalized)
{
    char out [TITLE_MAX];
    assert_true (title_normalize (title, out, sizeof out) > 0);
    assert_string_equal (out, normalized);
}

static void
test_accents_case_punctuation_and_articles_fold_away (void **state)
{
    (void) state;
    s_expect ("Amélie", "amelie");
    s_expect ("The Matrix", "matrix");
    s_expect ("Schindler's List", "schindlers list");
    s_expect ("Schindler’s List", "schindlers list");
    s_expect ("Crouching Tiger, Hidden Dragon", "crouching tiger hidden dragon");
    s_expect ("Fast & Furious", "fast and furious");
    s_expect ("WALL·E", "wall e");
    //  An article alone is the title itself.
    s_expect ("A", "a");
}

static void
test_numerals_and_number_words_become_digits (void **state)
{
    (void) state;
    s_expect ("Rocky II", "rocky 2");
    s_expect ("Fantastic Four", "fantastic 4");
    s_expect ("Fantastic 4", "fantastic 4");
    s_expect ("My Bloody Valentine 3-D", "my bloody valentine");
    s_expect ("Step Up 3D", "step up");
}

static void
test_non_latin_scripts_survive (void **state)
{
    (void) state;
    s_expect ("千と千尋の神隠し", "千と千尋の神隠し");
    s_expect ("Крёстный отец", "крестныи отец");
}

static void
test_invalid_or_empty_input_is_refused (void **state)
{
    (void) state;
    char out [TITLE_MAX];
    assert_int_equal (title_normalize ("\xff\xfe", out, sizeof out), -1);
    assert_int_equal (title_normalize ("  ...  ", out, sizeof out), -1);
    assert_int_equal (title_normalize (NULL, out, sizeof out), -1);
}

static void
test_variants_split_main_title_subtitle_and_possessive (void **state)
{
    (void) state;
    title_variant_t v [TITLE_VARIANTS];
    int n = title_variants ("Interview with the Vampire: The Vampire Chronicles", v);
    assert_int_equal (n, 3);
    assert_true (v [0].full);
    assert_string_equal (v [1].text, "interview with the vampire");
    assert_false (v [1].full);
    assert_string_equal (v [2].text, "vampire chronicles");
    n = title_variants ("Tyler Perry's I Can Do Bad All by Myself", v);
    assert_int_equal (n, 2);
    assert_string_equal (v [1].text, "i can do bad all by myself");
    //  A one-word short remainder is too ambiguous to be a variant.
    n = title_variants ("Geri's Game", v);
    assert_int_equal (n, 1);
    n = title_variants ("Amy's O", v);
    assert_int_equal (n, 1);
}

static void
test_similarity_is_normalised_levenshtein_over_code_points (void **state)
{
    (void) state;
    assert_true (title_similarity ("matrix", "matrix") == 1.0);
    //  one edit in ten code points
    assert_true (title_similarity ("terminator", "terminatr") > 0.89);
    assert_true (title_similarity ("terminator", "terminatr") < 0.91);
    //  "é" is one code point, not two bytes
    assert_true (title_similarity ("amélie", "amelie") > 0.83);
    assert_true (title_similarity ("alien", "aliens") < 0.85);
    assert_true (title_similarity ("", "") == 1.0);
}

static void
test_sequel_numbers_must_agree (void **state)
{
    (void) state;
    assert_true (title_same_numbers ("toy story 2", "toy story 2"));
    assert_false (title_same_numbers ("toy story 2", "toy story 3"));
    assert_false (title_same_numbers ("toy story", "toy story 2"));
    assert_true (title_same_numbers ("heat", "heat"));
    assert_int_equal (title_words ("toy story 2"), 3);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_accents_case_punctuation_and_articles_fold_away),
        cmocka_unit_test (test_numerals_and_number_words_become_digits),
        cmocka_unit_test (test_non_latin_scripts_survive),
        cmocka_unit_test (test_invalid_or_empty_input_is_refused),
        cmocka_unit_test (test_variants_split_main_title_subtitle_and_possessive),
        cmocka_unit_test (test_similarity_is_normalised_levenshtein_over_code_points),
        cmocka_unit_test (test_sequel_numbers_must_agree),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
