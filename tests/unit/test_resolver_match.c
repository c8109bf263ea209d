/*  Resolver matching: each tier with its own fixtures, and the cases that
    must not merge (sequels, ambiguity, parts without corroboration).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "match.h"

#define E_MATRIX   "00000000-0000-4000-8000-000000000001"
#define E_MATRIX2  "00000000-0000-4000-8000-000000000002"
#define E_JEDI     "00000000-0000-4000-8000-000000000003"
#define E_AMELIE   "00000000-0000-4000-8000-000000000004"
#define E_HEAT_A   "00000000-0000-4000-8000-000000000005"
#define E_HEAT_B   "00000000-0000-4000-8000-000000000006"
#define E_JOBS     "00000000-0000-4000-8000-000000000007"
#define E_SHOW     "00000000-0000-4000-8000-000000000008"

static int
setup (void **state)
{
    match_index_t *index = match_index_new ();
    genre_set_t scifi = genres_from_name ("Science Fiction") | genres_from_name ("Action");
    match_record_t matrix = { .type = "movie", .titles = { "The Matrix" }, .ntitles = 1, .year = 1999,
                              .genres = scifi, .eidr = "10.5240/7791-8534-2C23-9030-8610-5", .imdb = "tt0133093", .tmdb = 603 };
    match_record_t matrix2 = { .type = "movie", .titles = { "The Matrix Reloaded" }, .ntitles = 1, .year = 2003,
                               .genres = scifi, .tmdb = 604 };
    match_record_t jedi = { .type = "movie", .titles = { "Return of the Jedi" }, .ntitles = 1, .year = 1983,
                            .genres = scifi, .tmdb = 1892 };
    match_record_t amelie = { .type = "movie", .titles = { "Amélie", "Le Fabuleux Destin d'Amélie Poulain" },
                              .ntitles = 2, .year = 2001, .genres = genres_from_name ("Comedy") | genres_from_name ("Romance") };
    match_record_t heat_a = { .type = "movie", .titles = { "Heat" }, .ntitles = 1, .year = 1995, .genres = genres_from_name ("Crime") };
    match_record_t heat_b = { .type = "movie", .titles = { "Heat" }, .ntitles = 1, .year = 1995, .genres = genres_from_name ("Drama") };
    match_record_t jobs = { .type = "movie", .titles = { "Steve Jobs" }, .ntitles = 1, .year = 2015,
                            .genres = genres_from_name ("Drama") | genres_from_name ("History") };
    match_record_t show = { .type = "tv", .titles = { "The Matrix" }, .ntitles = 1, .year = 1999, .tmdb = 603 };
    assert_int_equal (match_index_add (index, E_MATRIX, &matrix), 0);
    assert_int_equal (match_index_add (index, E_MATRIX2, &matrix2), 0);
    assert_int_equal (match_index_add (index, E_JEDI, &jedi), 0);
    assert_int_equal (match_index_add (index, E_AMELIE, &amelie), 0);
    assert_int_equal (match_index_add (index, E_HEAT_A, &heat_a), 0);
    assert_int_equal (match_index_add (index, E_HEAT_B, &heat_b), 0);
    assert_int_equal (match_index_add (index, E_JOBS, &jobs), 0);
    assert_int_equal (match_index_add (index, E_SHOW, &show), 0);
    *state = index;
    return 0;
}

static int
teardown (void **state)
{
    match_index_destroy ((match_index_t **) state);
    return 0;
}

static match_result_t
s_lookup (void **state, match_record_t record)
{
    match_result_t result;
    if (!record.type)
        record.type = "movie";
    match_index_lookup (*state, &record, &result);
    return result;
}

static void
test_tier1_eidr_wins_whatever_the_title (void **state)
{
    match_result_t r = s_lookup (state, (match_record_t) { .titles = { "Completely Different" }, .ntitles = 1,
                                 .year = 1950, .eidr = "10.5240/7791-8534-2C23-9030-8610-5" });
    assert_int_equal (r.tier, 1);
    assert_string_equal (r.entity, E_MATRIX);
    assert_true (r.confidence == 1.0);
}

static void
test_tier2_imdb_and_tmdb_ids_with_tmdb_ids_per_type (void **state)
{
    match_result_t r = s_lookup (state, (match_record_t) { .imdb = "tt0133093" });
    assert_int_equal (r.tier, 2);
    assert_string_equal (r.entity, E_MATRIX);
    r = s_lookup (state, (match_record_t) { .tmdb = 603 });
    assert_string_equal (r.entity, E_MATRIX);
    r = s_lookup (state, (match_record_t) { .type = "tv", .tmdb = 603 });
    assert_int_equal (r.tier, 2);
    assert_string_equal (r.entity, E_SHOW);
    r = s_lookup (state, (match_record_t) { .tmdb = 999999 });
    assert_int_equal (r.tier, 0);
}

static void
test_tier3_exact_title_with_year_within_one (void **state)
{
    match_result_t r = s_lookup (state, (match_record_t) { .titles = { "Matrix, The" }, .ntitles = 1, .year = 1999 });
    assert_int_equal (r.tier, 0);     //  MovieLens order is the importer's to undo
    r = s_lookup (state, (match_record_t) { .titles = { "the matrix" }, .ntitles = 1, .year = 2000 });
    assert_int_equal (r.tier, 3);
    assert_string_equal (r.entity, E_MATRIX);
    r = s_lookup (state, (match_record_t) { .titles = { "The Matrix" }, .ntitles = 1, .year = 2001 });
    assert_int_equal (r.tier, 0);
    r = s_lookup (state, (match_record_t) { .titles = { "Amelie" }, .ntitles = 1, .year = 2001 });
    assert_string_equal (r.entity, E_AMELIE);
    r = s_lookup (state, (match_record_t) { .titles = { "Fabuleux destin d'Amelie Poulain, Le" , "Le fabuleux destin d'Amélie Poulain" },
                                            .ntitles = 2, .year = 2001 });
    assert_string_equal (r.entity, E_AMELIE);
}

static void
test_tier3_fuzzy_title_but_never_another_sequel (void **state)
{
    match_result_t r = s_lookup (state, (match_record_t) { .titles = { "The Matrix Reloded" }, .ntitles = 1, .year = 2003 });
    assert_int_equal (r.tier, 3);
    assert_string_equal (r.entity, E_MATRIX2);
    assert_true (r.confidence < 0.95);
    r = s_lookup (state, (match_record_t) { .titles = { "The Matrix 2" }, .ntitles = 1, .year = 2003 });
    assert_int_equal (r.tier, 0);
    r = s_lookup (state, (match_record_t) { .titles = { "Return of the Jedi 2" }, .ntitles = 1, .year = 1983 });
    assert_int_equal (r.tier, 0);
}

static void
test_tier3_subtitle_needs_same_year_and_a_shared_genre (void **state)
{
    genre_set_t scifi = genres_from_name ("Sci-Fi");
    match_result_t r = s_lookup (state, (match_record_t) { .titles = { "Star Wars: Episode VI - Return of the Jedi" },
                                 .ntitles = 1, .year = 1983, .genres = scifi });
    assert_int_equal (r.tier, 3);
    assert_string_equal (r.entity, E_JEDI);
    r = s_lookup (state, (match_record_t) { .titles = { "Star Wars: Episode VI - Return of the Jedi" },
                                            .ntitles = 1, .year = 1984, .genres = scifi });
    assert_int_equal (r.tier, 0);
    //  A documentary sharing a main title with a drama is another film.
    r = s_lookup (state, (match_record_t) { .titles = { "Steve Jobs: The Man in the Machine" }, .ntitles = 1,
                                            .year = 2015, .genres = genres_from_name ("Documentary") });
    assert_int_equal (r.tier, 0);
}

static void
test_tier3_ambiguous_titles_match_nothing (void **state)
{
    match_result_t r = s_lookup (state, (match_record_t) { .titles = { "Heat" }, .ntitles = 1, .year = 1995 });
    assert_int_equal (r.tier, 0);
    assert_string_equal (r.entity, "");
}

static void
test_records_without_a_year_match_only_by_id (void **state)
{
    match_result_t r = s_lookup (state, (match_record_t) { .titles = { "The Matrix" }, .ntitles = 1 });
    assert_int_equal (r.tier, 0);
}

static void
test_tier3_never_merges_records_with_different_ids_of_one_kind (void **state)
{
    //  Same title and year as the Matrix entity, but another TMDB id: another film.
    match_result_t r = s_lookup (state, (match_record_t) { .titles = { "The Matrix" }, .ntitles = 1,
                                 .year = 1999, .tmdb = 12345 });
    assert_int_equal (r.tier, 0);
    r = s_lookup (state, (match_record_t) { .titles = { "The Matrix" }, .ntitles = 1,
                  .year = 1999, .imdb = "tt9999999" });
    assert_int_equal (r.tier, 0);
    r = s_lookup (state, (match_record_t) { .titles = { "The Matrix Reloded" }, .ntitles = 1,
                  .year = 2003, .tmdb = 777 });
    assert_int_equal (r.tier, 0);
    //  An id of a kind the entity lacks is no conflict.
    r = s_lookup (state, (match_record_t) { .titles = { "Return of the Jedi" }, .ntitles = 1,
                  .year = 1983, .imdb = "tt0086190" });
    assert_int_equal (r.tier, 3);
    assert_string_equal (r.entity, E_JEDI);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_tier1_eidr_wins_whatever_the_title, setup, teardown),
        cmocka_unit_test_setup_teardown (test_tier2_imdb_and_tmdb_ids_with_tmdb_ids_per_type, setup, teardown),
        cmocka_unit_test_setup_teardown (test_tier3_exact_title_with_year_within_one, setup, teardown),
        cmocka_unit_test_setup_teardown (test_tier3_fuzzy_title_but_never_another_sequel, setup, teardown),
        cmocka_unit_test_setup_teardown (test_tier3_subtitle_needs_same_year_and_a_shared_genre, setup, teardown),
        cmocka_unit_test_setup_teardown (test_tier3_ambiguous_titles_match_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_records_without_a_year_match_only_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown (test_tier3_never_merges_records_with_different_ids_of_one_kind, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
