/*  catalog read methods over a real broker and PostgreSQL: content details,
    availability, trending and discover against fixture rows written
    directly into a scratch database of this test's own.

    Fixtures (id ...00X, popularity, vote_average, year / release date):
      a  movie  Alpha    50.5  7.5  2001-05-04  action, science-fiction
      b  tv     Beta     30    8.5  2010-01-01  drama
      c  movie  Gamma    80    6.0  1995-06-01  action, comedy
      d  movie  Delta    0     -    2020 (year only)  horror
      e  tv     Epsilon  10    7.0  2015-03-03  reality
    Offers: a netflix US, apple-tv US rent (expires in 2 days), hulu US
    (expired), netflix GB; b hulu US; c disney-plus CA; e hulu US (expired).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <math.h>

#include "mg_client.h"
#include "mg_pg.h"
#include "mg_test.h"

#define CALL_TTL_MS  5000

#define ID(x) "00000000-0000-4000-8000-00000000000" x

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    PGconn *pg;
    pid_t broker;
    pid_t catalog;
    mg_client_t *client;
} fixture_t;

static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, original_title, original_language, year, release_date, "
    "  overview, tagline, runtime_min, popularity, vote_average, vote_count, poster_path, backdrop_path, "
    "  keywords, checksum, version) VALUES "
    "('" ID ("a") "', 'movie', 'Alpha', 'Alpha Original', 'en', 2001, '2001-05-04', 'Alpha overview', "
    "  'Alpha tagline', 136, 50.5, 7.5, 1200, '/alpha.jpg', 'https://img.example/alpha-bd.jpg', "
    "  '{space,ship}', '\\x00', 3), "
    "('" ID ("b") "', 'tv', 'Beta', NULL, NULL, 2010, '2010-01-01', NULL, NULL, NULL, 30, 8.5, 50, "
    "  NULL, NULL, '{}', '\\x00', 1), "
    "('" ID ("c") "', 'movie', 'Gamma', NULL, NULL, 1995, '1995-06-01', NULL, NULL, NULL, 80, 6.0, 10, "
    "  NULL, NULL, '{}', '\\x00', 1), "
    "('" ID ("d") "', 'movie', 'Delta', NULL, NULL, 2020, NULL, NULL, NULL, NULL, 0, NULL, 0, "
    "  NULL, NULL, '{}', '\\x00', 1), "
    "('" ID ("e") "', 'tv', 'Epsilon', NULL, NULL, 2015, '2015-03-03', NULL, NULL, NULL, 10, 7.0, 5, "
    "  NULL, NULL, '{}', '\\x00', 1)",
    "INSERT INTO content_genres (content_id, genre_id) SELECT x.id::uuid, g.id FROM (VALUES "
    "('" ID ("a") "', 'science-fiction'), ('" ID ("a") "', 'action'), ('" ID ("b") "', 'drama'), "
    "('" ID ("c") "', 'action'), ('" ID ("c") "', 'comedy'), ('" ID ("d") "', 'horror'), "
    "('" ID ("e") "', 'reality')) x (id, slug) JOIN genres g ON g.slug = x.slug",
    "INSERT INTO external_ids (content_id, source, value) VALUES "
    "('" ID ("a") "', 'tmdb', '603'), ('" ID ("a") "', 'imdb', 'tt0133093'), "
    "('" ID ("a") "', 'movielens', '2571'), ('" ID ("b") "', 'tmdb', '1399')",
    "INSERT INTO credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department) VALUES "
    "('" ID ("a") "', 'cast', 1, 'Laurence Fishburne', 2975, 'Morpheus', NULL, NULL), "
    "('" ID ("a") "', 'cast', 0, 'Keanu Reeves', 6384, 'Neo', NULL, NULL), "
    "('" ID ("a") "', 'crew', 0, 'Lana Wachowski', NULL, NULL, 'Director', 'Directing')",
    "INSERT INTO videos (content_id, site, key, type, name, official) VALUES "
    "('" ID ("a") "', 'vimeo', 'v123', 'clip', 'A clip', false), "
    "('" ID ("a") "', 'youtube', 'yt42', 'trailer', 'Official Trailer', true)",
    "INSERT INTO availability (content_id, platform, region, type, quality, price, currency, deep_link, "
    "  expires_at, source, stale) VALUES "
    "('" ID ("a") "', 'netflix', 'US', 'subscription', 'hd', NULL, NULL, 'https://netflix.example/a', NULL, 'sim', false), "
    "('" ID ("a") "', 'apple-tv', 'US', 'rent', 'uhd', 3.5, 'USD', NULL, now () + interval '2 days', 'sim', true), "
    "('" ID ("a") "', 'hulu', 'US', 'subscription', 'hd', NULL, NULL, NULL, now () - interval '1 hour', 'sim', false), "
    "('" ID ("a") "', 'netflix', 'GB', 'subscription', 'sd', NULL, NULL, NULL, NULL, 'sim', false), "
    "('" ID ("b") "', 'hulu', 'US', 'subscription', 'hd', NULL, NULL, NULL, NULL, 'sim', false), "
    "('" ID ("c") "', 'disney-plus', 'CA', 'subscription', 'hd', NULL, NULL, NULL, NULL, 'sim', false), "
    "('" ID ("e") "', 'hulu', 'US', 'subscription', 'hd', NULL, NULL, NULL, now () - interval '1 day', 'sim', false)",
};

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    char err [256];
    f->admin = mg_test_scratch_db ("mg_catalog_read", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    PGresult *res;
    mg_test_env_init (&f->env, f->url);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    //  The catalog migrates the scratch database, then registers.
    bool up = mg_test_wait_service (f->env.endpoint, "catalog", 15000) == 0;
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    if (!up || !f->pg)
        return -1;
    for (size_t i = 0; i < sizeof s_fixtures / sizeof s_fixtures [0]; i++) {
        res = PQexec (f->pg, s_fixtures [i]);
        int ok = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf (stderr, "fixture %zu: %s", i, PQresultErrorMessage (res));
        PQclear (res);
        if (!ok)
            return -1;
    }
    return 0;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    mg_client_destroy (&f->client);
    if (f->catalog > 0)
        mg_test_stop (f->catalog, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  Call method; 0 with rep filled, or -1 with err filled.
static int
s_call (fixture_t *f, const char *method, const mg_msgdesc_t *req_desc, const void *req,
        const mg_msgdesc_t *rep_desc, void *rep, mg_error_t *err)
{
    memset (err, 0, sizeof *err);
    return mg_client_call (f->client, method, req_desc, req, rep_desc, rep, CALL_TTL_MS, err);
}

//  Expect method to fail with code naming param.
static void
s_assert_fails (fixture_t *f, const char *method, const mg_msgdesc_t *req_desc, const void *req,
                const mg_msgdesc_t *rep_desc, const char *code, const char *param)
{
    char rep [4096] = { 0 };
    assert_true (rep_desc->size <= sizeof rep);
    mg_error_t err;
    int rc = s_call (f, method, req_desc, req, rep_desc, rep, &err);
    if (rc == 0) {
        mg_msg_clear (rep_desc, rep);
        fail_msg ("%s succeeded; expected %s", method, code);
    }
    assert_string_equal (err.code, code);
    if (param) {
        assert_non_null (err.param);
        assert_string_equal (err.param, param);
    }
    mg_msg_clear (&mg_error_desc, &err);
}

//  The ids of a list as their fixture letters ("cab"), and the list's total.
static void
s_assert_list (const mg_content_list_t *list, const char *letters, uint64_t total)
{
    char got [16] = "";
    for (size_t i = 0; i < list->results_count && i < sizeof got - 1; i++) {
        const char *id = list->results [i].id;
        assert_int_equal (strlen (id), 36);
        assert_memory_equal (id, ID ("?"), 35);
        got [i] = id [35];
        got [i + 1] = '\0';
    }
    assert_string_equal (got, letters);
    assert_int_equal (list->total, total);
}

//  Discover with req; asserts it succeeds with letters and total.
static void
s_assert_discover (fixture_t *f, const mg_discover_request_t *req, const char *letters, uint64_t total)
{
    mg_content_list_t list;
    mg_error_t err;
    if (s_call (f, "catalog.discover", &mg_discover_request_desc, req, &mg_content_list_desc, &list, &err))
        fail_msg ("discover failed: %s %s", err.code, err.message);
    s_assert_list (&list, letters, total);
    mg_msg_clear (&mg_content_list_desc, &list);
}

static void
test_content_details_have_credits_videos_genres_and_external_ids (void **state)
{
    fixture_t *f = *state;
    mg_content_request_t req = { .id = ID ("a") };
    mg_content_details_t d;
    mg_error_t err;
    assert_int_equal (s_call (f, "catalog.content", &mg_content_request_desc, &req,
                              &mg_content_details_desc, &d, &err), 0);
    assert_string_equal (d.id, ID ("a"));
    assert_string_equal (d.type, "movie");
    assert_string_equal (d.title, "Alpha");
    assert_string_equal (d.original_title, "Alpha Original");
    assert_string_equal (d.original_language, "en");
    assert_int_equal (d.year, 2001);
    assert_string_equal (d.release_date, "2001-05-04");
    assert_string_equal (d.overview, "Alpha overview");
    assert_string_equal (d.tagline, "Alpha tagline");
    assert_true (d.has_runtime);
    assert_int_equal (d.runtime, 136);
    assert_true (d.popularity == 50.5);
    assert_true (d.has_vote_average && d.vote_average == 7.5);
    assert_int_equal (d.vote_count, 1200);
    assert_int_equal (d.version, 3);
    assert_string_equal (d.poster, "https://image.tmdb.org/t/p/w500/alpha.jpg");
    assert_string_equal (d.backdrop, "https://img.example/alpha-bd.jpg");
    assert_int_equal (d.genres_count, 2);
    assert_string_equal (d.genres [0], "action");
    assert_string_equal (d.genres [1], "science-fiction");
    assert_int_equal (d.keywords_count, 2);
    assert_string_equal (d.keywords [0], "space");
    assert_non_null (d.credits);
    assert_int_equal (d.credits->cast_count, 2);
    assert_string_equal (d.credits->cast [0].name, "Keanu Reeves");
    assert_string_equal (d.credits->cast [0].character, "Neo");
    assert_int_equal (d.credits->cast [0].person_tmdb_id, 6384);
    assert_int_equal (d.credits->cast [1].order, 1);
    assert_int_equal (d.credits->crew_count, 1);
    assert_string_equal (d.credits->crew [0].job, "Director");
    assert_string_equal (d.credits->crew [0].department, "Directing");
    assert_null (d.credits->crew [0].character);
    assert_int_equal (d.videos_count, 2);
    assert_string_equal (d.videos [0].key, "yt42");             //  official first
    assert_string_equal (d.videos [0].url, "https://www.youtube.com/watch?v=yt42");
    assert_true (d.videos [0].official);
    assert_string_equal (d.videos [1].url, "https://vimeo.com/v123");
    assert_false (d.videos [1].official);
    assert_non_null (d.external_ids);
    assert_true (d.external_ids->has_tmdb);
    assert_int_equal (d.external_ids->tmdb, 603);
    assert_string_equal (d.external_ids->imdb, "tt0133093");
    assert_null (d.external_ids->eidr);
    assert_int_equal (strlen (d.updated_at), 20);
    assert_int_equal (d.updated_at [19], 'Z');
    mg_msg_clear (&mg_content_details_desc, &d);
}

static void
test_content_with_little_data_has_empty_lists_and_no_nulls (void **state)
{
    fixture_t *f = *state;
    //  Upper-case UUIDs are the same id.
    mg_content_request_t req = { .id = "00000000-0000-4000-8000-00000000000D" };
    mg_content_details_t d;
    mg_error_t err;
    assert_int_equal (s_call (f, "catalog.content", &mg_content_request_desc, &req,
                              &mg_content_details_desc, &d, &err), 0);
    assert_string_equal (d.id, ID ("d"));
    assert_null (d.release_date);
    assert_null (d.poster);
    assert_false (d.has_vote_average);
    assert_false (d.has_runtime);
    assert_int_equal (d.genres_count, 1);
    assert_int_equal (d.credits->cast_count, 0);
    assert_int_equal (d.videos_count, 0);
    assert_false (d.external_ids->has_tmdb);
    mg_msg_clear (&mg_content_details_desc, &d);
}

static void
test_content_bad_id_is_invalid_parameter_and_unknown_is_not_found (void **state)
{
    fixture_t *f = *state;
    const char *bad [] = { "42", "not-a-uuid", "00000000-0000-4000-8000-00000000000g",
                           "00000000000040008000000000000000", "00000000-0000-4000-8000-00000000000a0" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        mg_content_request_t req = { .id = (char *) bad [i] };
        s_assert_fails (f, "catalog.content", &mg_content_request_desc, &req,
                        &mg_content_details_desc, "INVALID_PARAMETER", "id");
    }
    mg_content_request_t req = { .id = ID ("f") };
    s_assert_fails (f, "catalog.content", &mg_content_request_desc, &req,
                    &mg_content_details_desc, "NOT_FOUND", "id");
}

static void
test_availability_lists_current_offers_only (void **state)
{
    fixture_t *f = *state;
    mg_availability_request_t req = { .id = ID ("a") };
    mg_availability_reply_t r;
    mg_error_t err;
    assert_int_equal (s_call (f, "catalog.availability", &mg_availability_request_desc, &req,
                              &mg_availability_reply_desc, &r, &err), 0);
    assert_string_equal (r.id, ID ("a"));
    assert_null (r.region);
    //  hulu US expired an hour ago: not shown. Order: region, platform, type.
    assert_int_equal (r.results_count, 3);
    assert_string_equal (r.results [0].region, "GB");
    assert_string_equal (r.results [0].quality, "sd");
    assert_string_equal (r.results [1].platform, "apple-tv");
    assert_string_equal (r.results [1].type, "rent");
    assert_true (r.results [1].has_price && r.results [1].price == 3.5);
    assert_string_equal (r.results [1].currency, "USD");
    assert_non_null (r.results [1].expires_at);
    assert_true (r.results [1].stale);
    assert_string_equal (r.results [2].platform, "netflix");
    assert_string_equal (r.results [2].deep_link, "https://netflix.example/a");
    assert_false (r.results [2].has_price);
    assert_null (r.results [2].expires_at);
    mg_msg_clear (&mg_availability_reply_desc, &r);

    //  region is case-insensitive and echoed upper-case.
    req.region = "us";
    assert_int_equal (s_call (f, "catalog.availability", &mg_availability_request_desc, &req,
                              &mg_availability_reply_desc, &r, &err), 0);
    assert_string_equal (r.region, "US");
    assert_int_equal (r.results_count, 2);
    assert_string_equal (r.results [0].platform, "apple-tv");
    assert_string_equal (r.results [1].platform, "netflix");
    mg_msg_clear (&mg_availability_reply_desc, &r);

    //  Only expired offers: an empty list, not an error.
    req = (mg_availability_request_t) { .id = ID ("e") };
    assert_int_equal (s_call (f, "catalog.availability", &mg_availability_request_desc, &req,
                              &mg_availability_reply_desc, &r, &err), 0);
    assert_int_equal (r.results_count, 0);
    mg_msg_clear (&mg_availability_reply_desc, &r);
}

static void
test_availability_rejects_bad_region_and_unknown_content (void **state)
{
    fixture_t *f = *state;
    const char *bad [] = { "USA", "U", "", "1A", "u-" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        mg_availability_request_t req = { .id = ID ("a"), .region = (char *) bad [i] };
        s_assert_fails (f, "catalog.availability", &mg_availability_request_desc, &req,
                        &mg_availability_reply_desc, "INVALID_PARAMETER", "region");
    }
    mg_availability_request_t req = { .id = "nope" };
    s_assert_fails (f, "catalog.availability", &mg_availability_request_desc, &req,
                    &mg_availability_reply_desc, "INVALID_PARAMETER", "id");
    req.id = ID ("f");
    s_assert_fails (f, "catalog.availability", &mg_availability_request_desc, &req,
                    &mg_availability_reply_desc, "NOT_FOUND", "id");
}

//  Trending with type, window, page and per_page (0 = absent).
static void
s_assert_trending (fixture_t *f, const char *type, const char *window, uint64_t page,
                   uint64_t per_page, const char *letters, uint64_t total)
{
    mg_trending_request_t req = {
        .type = (char *) type, .window = (char *) window,
        .page = page, .has_page = page > 0, .per_page = per_page, .has_per_page = per_page > 0
    };
    mg_content_list_t list;
    mg_error_t err;
    if (s_call (f, "catalog.trending", &mg_trending_request_desc, &req, &mg_content_list_desc, &list, &err))
        fail_msg ("trending failed: %s %s", err.code, err.message);
    s_assert_list (&list, letters, total);
    assert_int_equal (list.page, page ? page : 1);
    assert_int_equal (list.per_page, per_page ? per_page : 20);
    mg_msg_clear (&mg_content_list_desc, &list);
}

static void
test_trending_ranks_by_popularity_with_exact_totals_and_pages (void **state)
{
    fixture_t *f = *state;
    //  Delta has no popularity: not trending.
    s_assert_trending (f, NULL, NULL, 0, 0, "cabe", 4);
    s_assert_trending (f, "all", "day", 0, 0, "cabe", 4);
    s_assert_trending (f, "movie", "week", 0, 0, "ca", 2);
    s_assert_trending (f, "tv", NULL, 0, 0, "be", 2);
    s_assert_trending (f, NULL, NULL, 1, 3, "cab", 4);
    s_assert_trending (f, NULL, NULL, 2, 3, "e", 4);
    s_assert_trending (f, NULL, NULL, 3, 3, "", 4);
    s_assert_trending (f, NULL, NULL, 4, 1, "e", 4);
}

static void
test_trending_item_has_the_search_item_shape (void **state)
{
    fixture_t *f = *state;
    mg_trending_request_t req = { .type = "movie", .per_page = 1, .has_per_page = true, .page = 2, .has_page = true,
                                  .offers_region = "all" };
    mg_content_list_t list;
    mg_error_t err;
    assert_int_equal (s_call (f, "catalog.trending", &mg_trending_request_desc, &req,
                              &mg_content_list_desc, &list, &err), 0);
    assert_int_equal (list.results_count, 1);
    const mg_content_item_t *a = &list.results [0];
    assert_string_equal (a->id, ID ("a"));
    assert_string_equal (a->type, "movie");
    assert_string_equal (a->title, "Alpha");
    assert_string_equal (a->original_title, "Alpha Original");
    assert_int_equal (a->year, 2001);
    assert_string_equal (a->overview, "Alpha overview");
    assert_int_equal (a->genres_count, 2);
    assert_string_equal (a->genres [1], "science-fiction");
    assert_string_equal (a->poster, "https://image.tmdb.org/t/p/w500/alpha.jpg");
    assert_int_equal (a->external_ids->tmdb, 603);
    assert_string_equal (a->external_ids->imdb, "tt0133093");
    assert_true (a->vote_average == 7.5);
    //  No popularity history: the score is the popularity it ranks by.
    assert_true (a->score == 50.5);
    //  Current offers of every region, one group per region, platform and
    //  deep link, each naming its region: the expired hulu offer is left out.
    assert_null (list.offers_region);
    assert_int_equal (a->availability_count, 3);
    assert_string_equal (a->availability [0].region, "GB");
    assert_string_equal (a->availability [1].platform, "apple-tv");
    assert_string_equal (a->availability [1].region, "US");
    assert_null (a->availability [1].deep_link);
    assert_int_equal (a->availability [1].offers_count, 1);
    const mg_item_offer_t *rent = &a->availability [1].offers [0];
    assert_string_equal (rent->type, "rent");
    assert_true (rent->price == 3.5);
    assert_string_equal (rent->currency, "USD");
    assert_true (rent->stale);
    assert_non_null (rent->expires_at);
    assert_string_equal (a->availability [2].platform, "netflix");
    assert_string_equal (a->availability [2].region, "US");
    assert_string_equal (a->availability [2].deep_link, "https://netflix.example/a");
    //  List items' offers leave the row's bookkeeping out (stale shows only when true).
    assert_false (a->availability [2].offers [0].has_stale);
    assert_true (list.has_window_fallback && list.window_fallback);
    mg_msg_clear (&mg_content_list_desc, &list);
}

//  Run sql on the fixture database.
static void
s_exec (fixture_t *f, const char *sql)
{
    PGresult *res = PQexec (f->pg, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        fail_msg ("%s: %s", sql, PQresultErrorMessage (res));
    PQclear (res);
}

//  Trending over window: asserts letters, the fallback flag and, for the
//  first title, its score.
static void
s_assert_window (fixture_t *f, const char *window, const char *letters, bool fallback, double first_score)
{
    mg_trending_request_t req = { .window = (char *) window };
    mg_content_list_t list;
    mg_error_t err;
    if (s_call (f, "catalog.trending", &mg_trending_request_desc, &req, &mg_content_list_desc, &list, &err))
        fail_msg ("trending failed: %s %s", err.code, err.message);
    s_assert_list (&list, letters, 4);
    assert_true (list.has_window_fallback);
    assert_int_equal (list.window_fallback, fallback);
    assert_true (fabs (list.results [0].score - first_score) < 1e-9);
    mg_msg_clear (&mg_content_list_desc, &list);
}

static void
test_trending_ranks_by_the_popularity_gained_over_the_window (void **state)
{
    fixture_t *f = *state;
    //  No snapshot: both windows fall back to current popularity.
    s_assert_window (f, "day", "cabe", true, 80);
    s_assert_window (f, "week", "cabe", true, 80);
    //  Two days ago: a 10 (gained 40.5), b 29 (1), c 79 (1); e had no
    //  popularity then (counts from 0: gained 10). Ties go to the more
    //  popular title. A day's window has history, a week's not yet.
    s_exec (f, "INSERT INTO popularity_snapshots (taken_at, content_id, popularity) VALUES "
               "(now () - interval '2 days', '" ID ("a") "', 10), (now () - interval '2 days', '" ID ("b") "', 29), "
               "(now () - interval '2 days', '" ID ("c") "', 79)");
    s_assert_window (f, "day", "aecb", false, 40.5);
    s_assert_window (f, "week", "cabe", true, 80);
    //  Eight days ago: c 20 (gained 60), b 5 (25), a 50 (0.5), e 10 (0).
    //  The week compares with it; the day still with the last snapshot at
    //  or before its start.
    s_exec (f, "INSERT INTO popularity_snapshots (taken_at, content_id, popularity) VALUES "
               "(now () - interval '8 days', '" ID ("a") "', 50), (now () - interval '8 days', '" ID ("b") "', 5), "
               "(now () - interval '8 days', '" ID ("c") "', 20), (now () - interval '8 days', '" ID ("e") "', 10)");
    s_assert_window (f, "week", "cbae", false, 60);
    s_assert_window (f, "day", "aecb", false, 40.5);
    //  A snapshot younger than a day is no history for either window.
    s_exec (f, "INSERT INTO popularity_snapshots (taken_at, content_id, popularity) VALUES "
               "(now () - interval '1 hour', '" ID ("e") "', 1000)");
    s_assert_window (f, "day", "aecb", false, 40.5);
    s_exec (f, "DELETE FROM popularity_snapshots");
    s_assert_window (f, "day", "cabe", true, 80);
}

static void
test_trending_rejects_bad_type_window_and_paging (void **state)
{
    fixture_t *f = *state;
    struct {
        mg_trending_request_t req;
        const char *param;
    } cases [] = {
        { { .type = "film" }, "type" },
        { { .window = "month" }, "window" },
        { { .page = 0, .has_page = true }, "page" },
        { { .per_page = 0, .has_per_page = true }, "per_page" },
        { { .per_page = 101, .has_per_page = true }, "per_page" },
        { { .page = UINT64_MAX, .has_page = true }, "page" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_assert_fails (f, "catalog.trending", &mg_trending_request_desc, &cases [i].req,
                        &mg_content_list_desc, "INVALID_PARAMETER", cases [i].param);
    //  per_page 100 is allowed.
    s_assert_trending (f, NULL, NULL, 1, 100, "cabe", 4);
}

static void
test_discover_without_filters_lists_everything_by_popularity (void **state)
{
    fixture_t *f = *state;
    mg_discover_request_t req = { 0 };
    s_assert_discover (f, &req, "cabed", 5);
    req = (mg_discover_request_t) { .page = 2, .has_page = true, .per_page = 2, .has_per_page = true };
    s_assert_discover (f, &req, "be", 5);
    req.page = 3;
    s_assert_discover (f, &req, "d", 5);
    req.page = 4;
    s_assert_discover (f, &req, "", 5);
}

static void
test_discover_filters_by_type_genres_years_and_rating (void **state)
{
    fixture_t *f = *state;
    char *action [] = { "action" };
    char *action_drama [] = { "action", "Drama", "" };
    mg_discover_request_t req = { .type = "tv" };
    s_assert_discover (f, &req, "be", 2);
    req = (mg_discover_request_t) { .genres = action, .genres_count = 1 };
    s_assert_discover (f, &req, "ca", 2);
    //  Any of the genres; case and empty items do not matter.
    req = (mg_discover_request_t) { .genres = action_drama, .genres_count = 3 };
    s_assert_discover (f, &req, "cab", 3);
    req = (mg_discover_request_t) { .genres = action, .genres_count = 1, .type = "movie",
                                    .year_from = 2000, .has_year_from = true };
    s_assert_discover (f, &req, "a", 1);
    req = (mg_discover_request_t) { .year_from = 2001, .has_year_from = true,
                                    .year_to = 2015, .has_year_to = true };
    s_assert_discover (f, &req, "abe", 3);
    req = (mg_discover_request_t) { .year_to = 2001, .has_year_to = true };
    s_assert_discover (f, &req, "ca", 2);
    //  Bounds are inclusive, and a title without a rating never passes min_rating.
    req = (mg_discover_request_t) { .min_rating = 7.5, .has_min_rating = true };
    s_assert_discover (f, &req, "ab", 2);
    req = (mg_discover_request_t) { .min_rating = 0, .has_min_rating = true };
    s_assert_discover (f, &req, "cabe", 4);
}

static void
test_discover_filters_by_current_offers (void **state)
{
    fixture_t *f = *state;
    char *hulu [] = { "hulu" };
    char *hulu_netflix [] = { "hulu", "NETFLIX" };
    char *disney [] = { "disney-plus" };
    //  Epsilon's only hulu offer has expired.
    mg_discover_request_t req = { .platforms = hulu, .platforms_count = 1 };
    s_assert_discover (f, &req, "b", 1);
    req = (mg_discover_request_t) { .platforms = hulu_netflix, .platforms_count = 2 };
    s_assert_discover (f, &req, "ab", 2);
    req = (mg_discover_request_t) { .region = "US" };
    s_assert_discover (f, &req, "ab", 2);
    req = (mg_discover_request_t) { .region = "gb" };
    s_assert_discover (f, &req, "a", 1);
    req = (mg_discover_request_t) { .region = "CA", .platforms = hulu_netflix, .platforms_count = 2 };
    s_assert_discover (f, &req, "", 0);
    req = (mg_discover_request_t) { .region = "ca", .platforms = disney, .platforms_count = 1 };
    s_assert_discover (f, &req, "c", 1);
}

static void
test_discover_sorts (void **state)
{
    fixture_t *f = *state;
    mg_discover_request_t req = { .sort = "popularity" };
    s_assert_discover (f, &req, "cabed", 5);
    //  Unrated and undated titles sort last.
    req.sort = "rating";
    s_assert_discover (f, &req, "baecd", 5);
    req.sort = "release_date";
    s_assert_discover (f, &req, "ebacd", 5);
    req = (mg_discover_request_t) { .sort = "rating", .page = 2, .has_page = true,
                                    .per_page = 2, .has_per_page = true };
    s_assert_discover (f, &req, "ec", 5);
    //  Whatever the sort, an item's score is its popularity; discover has
    //  no window to fall back from.
    req = (mg_discover_request_t) { .sort = "rating", .per_page = 1, .has_per_page = true };
    mg_content_list_t list;
    mg_error_t err;
    assert_int_equal (s_call (f, "catalog.discover", &mg_discover_request_desc, &req,
                              &mg_content_list_desc, &list, &err), 0);
    assert_int_equal (list.results_count, 1);
    assert_true (list.results [0].score == 30);
    assert_int_equal (list.results [0].availability_count, 1);
    assert_string_equal (list.results [0].availability [0].platform, "hulu");
    //  One region's offers (MG_DEFAULT_REGION): the page names it, not each group.
    assert_string_equal (list.offers_region, "US");
    assert_null (list.results [0].availability [0].region);
    assert_false (list.has_window_fallback);
    mg_msg_clear (&mg_content_list_desc, &list);
}

static void
test_discover_rejects_bad_parameters_naming_them (void **state)
{
    fixture_t *f = *state;
    char *unknown [] = { "action", "nope" };
    char *bad_platform [] = { "net flix" };
    struct {
        mg_discover_request_t req;
        const char *param;
    } cases [] = {
        { { .genres = unknown, .genres_count = 2 }, "genres" },
        { { .platforms = bad_platform, .platforms_count = 1 }, "platforms" },
        { { .year_from = 2010, .has_year_from = true, .year_to = 2000, .has_year_to = true }, "year_from" },
        { { .year_to = 100000, .has_year_to = true }, "year_to" },
        { { .min_rating = 10.5, .has_min_rating = true }, "min_rating" },
        { { .min_rating = -1, .has_min_rating = true }, "min_rating" },
        { { .sort = "relevance" }, "sort" },
        { { .type = "movies" }, "type" },
        { { .region = "XYZ" }, "region" },
        { { .per_page = 101, .has_per_page = true }, "per_page" },
        { { .page = 0, .has_page = true }, "page" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_assert_fails (f, "catalog.discover", &mg_discover_request_desc, &cases [i].req,
                        &mg_content_list_desc, "INVALID_PARAMETER", cases [i].param);
    //  The unknown slug is named in the message.
    mg_discover_request_t req = { .genres = unknown, .genres_count = 2 };
    mg_content_list_t list;
    mg_error_t err;
    assert_int_equal (s_call (f, "catalog.discover", &mg_discover_request_desc, &req,
                              &mg_content_list_desc, &list, &err), -1);
    assert_non_null (strstr (err.message, "'nope'"));
    mg_msg_clear (&mg_error_desc, &err);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_content_details_have_credits_videos_genres_and_external_ids),
        cmocka_unit_test (test_content_with_little_data_has_empty_lists_and_no_nulls),
        cmocka_unit_test (test_content_bad_id_is_invalid_parameter_and_unknown_is_not_found),
        cmocka_unit_test (test_availability_lists_current_offers_only),
        cmocka_unit_test (test_availability_rejects_bad_region_and_unknown_content),
        cmocka_unit_test (test_trending_ranks_by_popularity_with_exact_totals_and_pages),
        cmocka_unit_test (test_trending_item_has_the_search_item_shape),
        cmocka_unit_test (test_trending_rejects_bad_type_window_and_paging),
        cmocka_unit_test (test_trending_ranks_by_the_popularity_gained_over_the_window),
        cmocka_unit_test (test_discover_without_filters_lists_everything_by_popularity),
        cmocka_unit_test (test_discover_filters_by_type_genres_years_and_rating),
        cmocka_unit_test (test_discover_filters_by_current_offers),
        cmocka_unit_test (test_discover_sorts),
        cmocka_unit_test (test_discover_rejects_bad_parameters_naming_them),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
