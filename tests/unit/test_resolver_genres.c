/*  Resolver genre mapping: every provider's names and ids to the 18.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "genres.h"

#define IS(set, slug) (((set) >> (genres_id (slug) - 1)) & 1)

static void
test_tmdb_ids_fold_adventure_into_action_and_drop_tv_movie (void **state)
{
    (void) state;
    assert_true (IS (genres_from_tmdb_id (12), "action"));
    assert_true (IS (genres_from_tmdb_id (878), "science-fiction"));
    assert_int_equal (genres_from_tmdb_id (10770), 0);
    assert_int_equal (genres_from_tmdb_id (424242), 0);
    genre_set_t scifi_fantasy = genres_from_tmdb_id (10765);
    assert_true (IS (scifi_fantasy, "science-fiction") && IS (scifi_fantasy, "fantasy"));
    assert_true (IS (genres_from_tmdb_id (10767), "reality"));
}

static void
test_names_from_every_provider_map_by_alias (void **state)
{
    (void) state;
    assert_true (IS (genres_from_name ("Sci-Fi"), "science-fiction"));
    assert_true (IS (genres_from_name ("Children"), "family"));
    assert_true (IS (genres_from_name ("Film-Noir"), "crime"));
    assert_true (IS (genres_from_name ("Action & Adventure"), "action"));
    assert_true (IS (genres_from_name ("Stand-Up"), "comedy"));
    assert_int_equal (genres_from_name ("IMAX"), 0);
    assert_int_equal (genres_from_name ("(no genres listed)"), 0);
    assert_int_equal (genres_from_name ("TV Movie"), 0);
}

static void
test_misspelt_names_map_by_similarity_and_unrelated_ones_do_not (void **state)
{
    (void) state;
    assert_true (IS (genres_from_name ("Documentery"), "documentary"));
    assert_true (IS (genres_from_name ("thriler"), "thriller"));
    assert_int_equal (genres_from_name ("Cooking"), 0);
    assert_int_equal (genres_from_name (""), 0);
}

static void
test_slugs_and_ids_round_trip (void **state)
{
    (void) state;
    for (int id = 1; id <= GENRE_COUNT; id++)
        assert_int_equal (genres_id (genres_slug (id)), id);
    assert_null (genres_slug (19));
    assert_int_equal (genres_id ("sci-fi"), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_tmdb_ids_fold_adventure_into_action_and_drop_tv_movie),
        cmocka_unit_test (test_names_from_every_provider_map_by_alias),
        cmocka_unit_test (test_misspelt_names_map_by_similarity_and_unrelated_ones_do_not),
        cmocka_unit_test (test_slugs_and_ids_round_trip),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
