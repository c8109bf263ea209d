/*  Search text and vocabulary: normalisation (NFKC, case and accent
    folding), words, edit distance, typo budgets, title similarity, and typo
    candidates from the vocabulary.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mg_text.h"
#include "vocab.h"

static void
s_assert_normal (const char *text, const char *expected)
{
    char *norm = mg_text_normalize (text, strlen (text));
    assert_non_null (norm);
    assert_string_equal (norm, expected);
    free (norm);
}

static void
test_search_text_folds_case_accents_and_compatibility_forms (void **state)
{
    (void) state;
    s_assert_normal ("Amélie", "amelie");
    s_assert_normal ("LÉON: The Professional", "leon the professional");
    s_assert_normal ("Straße", "strasse");
    s_assert_normal ("Ｆｕｌｌ　Ｗｉｄｔｈ", "full width");       //  NFKC
    s_assert_normal ("ﬁnal", "final");                            //  ligature
    s_assert_normal ("Søren Kierkegaard, Ærø", "soren kierkegaard aero");
    s_assert_normal ("Michael Jackson's This Is It", "michael jackson s this is it");
    s_assert_normal ("Spider-Man 2", "spider man 2");
    s_assert_normal ("  ...!  ", "");
    s_assert_normal ("千と千尋の神隠し", "千と千尋の神隠し");
}

static void
test_search_text_rejects_invalid_utf8 (void **state)
{
    (void) state;
    assert_null (mg_text_normalize ("\xff\xfe", 2));
    char words [4][MG_TEXT_WORD_BYTES];
    assert_int_equal (mg_text_words ("ok \xc3", words, 4), -1);
}

static void
test_search_text_words_split_and_cap (void **state)
{
    (void) state;
    char words [3][MG_TEXT_WORD_BYTES];
    assert_int_equal (mg_text_words ("The Lord of the Rings", words, 3), 3);
    assert_string_equal (words [0], "the");
    assert_string_equal (words [2], "of");
    char long_word [200];
    memset (long_word, 'a', sizeof long_word - 1);
    long_word [sizeof long_word - 1] = '\0';
    assert_int_equal (mg_text_words (long_word, words, 3), 1);
    assert_int_equal (strlen (words [0]), MG_TEXT_WORD_BYTES - 1);
}

static void
test_search_text_distance_counts_edits_and_transpositions (void **state)
{
    (void) state;
    assert_int_equal (mg_text_distance ("matrix", "matrix", 2), 0);
    assert_int_equal (mg_text_distance ("matrx", "matrix", 2), 1);
    assert_int_equal (mg_text_distance ("mtarix", "matrix", 2), 1);     //  transposition
    assert_int_equal (mg_text_distance ("amelie", "amelia", 1), 1);
    assert_int_equal (mg_text_distance ("kitten", "sitting", 3), 3);
    assert_int_equal (mg_text_distance ("kitten", "sitting", 1), 2);    //  stops past max
    assert_int_equal (mg_text_distance ("céline", "celine", 1), 1);     //  code points, not bytes
}

//  Damerau-Levenshtein, not optimal string alignment: a swapped pair may be
//  edited again, so a deletion next to a swap costs 2 (OSA says 3).
static void
test_search_text_distance_is_damerau_levenshtein (void **state)
{
    (void) state;
    assert_int_equal (mg_text_distance ("meaficent", "maleficent", 3), 2);
    assert_int_equal (mg_text_distance ("ca", "abc", 3), 2);
    assert_int_equal (mg_text_distance ("figthir", "fighter", 2), 2);
    assert_int_equal (mg_text_distance ("ca", "abc", 1), 2);            //  past max: max + 1
    assert_int_equal (mg_text_distance ("", "abc", 3), 3);
    assert_int_equal (mg_text_distance ("abc", "", 3), 3);
    assert_int_equal (mg_text_distance ("éa", "aé", 1), 1);             //  a swap of code points
}

static void
test_search_text_typo_budget_grows_with_length (void **state)
{
    (void) state;
    assert_int_equal (mg_text_typo_budget (NULL, 4, false, false), 0);
    assert_int_equal (mg_text_typo_budget (NULL, 5, false, false), 1);
    assert_int_equal (mg_text_typo_budget (NULL, 8, false, false), 1);
    assert_int_equal (mg_text_typo_budget (NULL, 9, false, false), 2);
    //  A short word when nothing else in the query is distinctive.
    assert_int_equal (mg_text_typo_budget (NULL, 3, true, false), 1);
    assert_int_equal (mg_text_typo_budget (NULL, 2, true, false), 0);
}

//  The second pass allows two edits from 5 letters; rules are configurable.
static void
test_search_text_typo_budget_wide_and_configured (void **state)
{
    (void) state;
    assert_int_equal (mg_text_typo_budget (NULL, 5, false, true), 2);
    assert_int_equal (mg_text_typo_budget (NULL, 4, false, true), 0);
    assert_int_equal (mg_text_typo_budget (NULL, 4, true, true), 1);
    mg_text_typo_t strict = { .one = 7, .two = 12, .wide_two = 10 };
    assert_int_equal (mg_text_typo_budget (&strict, 6, false, false), 0);
    assert_int_equal (mg_text_typo_budget (&strict, 7, false, false), 1);
    assert_int_equal (mg_text_typo_budget (&strict, 11, false, false), 1);
    assert_int_equal (mg_text_typo_budget (&strict, 12, false, false), 2);
    assert_int_equal (mg_text_typo_budget (&strict, 10, false, true), 2);
    //  A wide pass never allows less than the first.
    mg_text_typo_t odd = { .one = 5, .two = 9, .wide_two = 20 };
    assert_int_equal (mg_text_typo_budget (&odd, 9, false, true), 2);
}

static void
test_search_text_title_match_prefers_the_typed_title (void **state)
{
    (void) state;
    char words [3][MG_TEXT_WORD_BYTES] = { "the", "matrx", "rel" };
    double w [3] = { 0.1, 3.0, 2.0 };
    int budget [3] = { 0, 1, 0 };
    int typos = -1;
    double exact = mg_text_title_match (words, w, budget, 3, true, "the matrix reloaded", &typos);
    assert_int_equal (typos, 1);
    double partial = mg_text_title_match (words, w, budget, 3, true, "the matrix", &typos);
    double other = mg_text_title_match (words, w, budget, 3, true, "the other", &typos);
    assert_true (exact > 1.0);          //  every word both ways: the bonus
    assert_true (partial < exact);
    assert_true (other < partial);
    assert_true (other > 0);
}

static void
test_search_vocab_finds_candidates_fewest_edits_first (void **state)
{
    (void) state;
    search_vocab_t *vocab = search_vocab_new ();
    assert_non_null (vocab);
    assert_int_equal (search_vocab_add (vocab, "matrix", 3), 0);
    assert_int_equal (search_vocab_add (vocab, "matron", 9), 0);
    assert_int_equal (search_vocab_add (vocab, "amelie", 1), 0);
    assert_int_equal (search_vocab_add (vocab, "mattrix", 1), 0);
    assert_int_equal (search_vocab_seal (vocab), 0);
    assert_int_equal (search_vocab_size (vocab), 4);
    assert_int_equal (search_vocab_docs (vocab, "matron"), 9);
    assert_int_equal (search_vocab_docs (vocab, "nothing"), 0);
    char out [4][MG_TEXT_WORD_BYTES];
    int dist [4];
    int n = search_vocab_candidates (vocab, "matrx", 2, out, dist, 4);
    assert_int_equal (n, 3);
    assert_string_equal (out [0], "matrix");
    assert_int_equal (dist [0], 1);
    assert_string_equal (out [1], "matron");    //  2 edits, most documents first
    assert_string_equal (out [2], "mattrix");
    assert_int_equal (search_vocab_candidates (vocab, "matrx", 0, out, dist, 4), 0);
    assert_int_equal (search_vocab_candidates (vocab, "matrx", 2, out, NULL, 1), 1);
    assert_string_equal (out [0], "matrix");
    search_vocab_destroy (&vocab);
    assert_null (vocab);
    search_vocab_destroy (&vocab);
}

//  A random word of 2-10 letters over a small alphabet (so that many
//  words are within a few edits of each other), one letter sometimes
//  accented.
static void
s_random_word (char *out, size_t size, unsigned *seed)
{
    static const char *const letters [] = { "a", "b", "c", "d", "e", "r", "s", "t", "\xc3\xa9" };
    int length = 2 + (int) (rand_r (seed) % 9);
    size_t used = 0;
    out [0] = '\0';
    for (int i = 0; i < length; i++) {
        const char *l = letters [rand_r (seed) % (sizeof letters / sizeof letters [0])];
        size_t n = strlen (l);
        if (used + n + 1 > size)
            break;
        memcpy (out + used, l, n + 1);
        used += n;
    }
}

static void
test_search_vocab_candidates_match_a_full_scan (void **state)
{
    (void) state;
    enum { WORDS = 3000, QUERIES = 300 };
    search_vocab_t *vocab = search_vocab_new ();
    assert_non_null (vocab);
    static char words [WORDS][MG_TEXT_WORD_BYTES];
    unsigned seed = 7;
    size_t count = 0;
    for (int i = 0; i < WORDS; i++) {
        s_random_word (words [count], MG_TEXT_WORD_BYTES, &seed);
        bool dup = false;
        for (size_t k = 0; k < count && !dup; k++)
            dup = strcmp (words [k], words [count]) == 0;
        if (dup)
            continue;
        assert_int_equal (search_vocab_add (vocab, words [count], 1 + (unsigned) (rand_r (&seed) % 50)), 0);
        count++;
    }
    assert_int_equal (search_vocab_seal (vocab), 0);
    for (int q = 0; q < QUERIES; q++) {
        char query [MG_TEXT_WORD_BYTES];
        s_random_word (query, sizeof query, &seed);
        for (int budget = 1; budget <= 2; budget++) {
            //  Every word within budget, by a full scan.
            int expected = 0;
            for (size_t k = 0; k < count; k++) {
                int d = mg_text_distance (query, words [k], budget);
                expected += d > 0 && d <= budget;
            }
            enum { MAX = 4096 };
            static char out [MAX][MG_TEXT_WORD_BYTES];
            static int dist [MAX];
            int n = search_vocab_candidates (vocab, query, budget, out, dist, MAX);
            assert_int_equal (n, expected);
            for (int k = 0; k < n; k++) {
                assert_int_equal (mg_text_distance (query, out [k], budget), dist [k]);
                assert_true (k == 0 || dist [k - 1] <= dist [k]);
            }
        }
    }
    search_vocab_destroy (&vocab);
}

static void
test_search_vocab_sums_the_documents_of_a_prefix (void **state)
{
    (void) state;
    search_vocab_t *vocab = search_vocab_new ();
    assert_non_null (vocab);
    assert_int_equal (search_vocab_add (vocab, "star", 10), 0);
    assert_int_equal (search_vocab_add (vocab, "stars", 4), 0);
    assert_int_equal (search_vocab_add (vocab, "start", 3), 0);
    assert_int_equal (search_vocab_add (vocab, "stop", 100), 0);
    assert_int_equal (search_vocab_seal (vocab), 0);
    assert_int_equal (search_vocab_prefix_docs (vocab, "star", 1000), 17);
    assert_int_equal (search_vocab_prefix_docs (vocab, "st", 1000), 117);
    assert_int_equal (search_vocab_prefix_docs (vocab, "x", 1000), 0);
    assert_true (search_vocab_prefix_docs (vocab, "st", 5) > 5);     //  stops once past the cap
    search_vocab_destroy (&vocab);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_search_text_folds_case_accents_and_compatibility_forms),
        cmocka_unit_test (test_search_text_rejects_invalid_utf8),
        cmocka_unit_test (test_search_text_words_split_and_cap),
        cmocka_unit_test (test_search_text_distance_counts_edits_and_transpositions),
        cmocka_unit_test (test_search_text_distance_is_damerau_levenshtein),
        cmocka_unit_test (test_search_text_typo_budget_grows_with_length),
        cmocka_unit_test (test_search_text_typo_budget_wide_and_configured),
        cmocka_unit_test (test_search_text_title_match_prefers_the_typed_title),
        cmocka_unit_test (test_search_vocab_finds_candidates_fewest_edits_first),
        cmocka_unit_test (test_search_vocab_candidates_match_a_full_scan),
        cmocka_unit_test (test_search_vocab_sums_the_documents_of_a_prefix),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
