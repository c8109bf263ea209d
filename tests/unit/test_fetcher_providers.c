/*  The fetcher's pure parts: provider parsers (documented shapes accepted,
    malformed and wrong-typed bodies refused with a reason), request URLs,
    cache keys without credentials, backoff with full jitter, Retry-After,
    and pacing from a provider's remaining/reset headers.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "fetcher.h"
#include "mg_msg.h"
#include "providers.h"

#define LEN(s) (sizeof (s) - 1)

//  Does every element of list decode as desc (the schema's limits)?
static void
s_assert_schema (const json_t *list, const mg_msgdesc_t *desc)
{
    size_t index;
    const json_t *item;
    json_array_foreach (list, index, item) {
        char err [MG_MSG_ERR_LEN];
        uint8_t msg [1024];
        assert_true (desc->size <= sizeof msg);
        memset (msg, 0, sizeof msg);
        assert_int_equal (mg_msg_from_json (desc, item, msg, err, sizeof err), 0);
        mg_msg_clear (desc, msg);
    }
}

static void
test_sa_show_gives_every_country_offer_with_price_and_expiry (void **state)
{
    (void) state;
    static const char body [] =
        "{\"itemType\":\"show\",\"showType\":\"movie\",\"id\":\"82\",\"imdbId\":\"tt0133093\","
        "\"tmdbId\":\"movie/603\",\"title\":\"The Matrix\",\"streamingOptions\":{"
        "\"us\":[{\"service\":{\"id\":\"netflix\",\"name\":\"Netflix\"},\"type\":\"subscription\","
        "\"link\":\"https://www.netflix.com/title/20557937/\",\"quality\":\"uhd\",\"expiresSoon\":true,"
        "\"expiresOn\":1767225600},"
        "{\"service\":{\"id\":\"apple\",\"name\":\"Apple TV\"},\"type\":\"rent\",\"quality\":\"hd\","
        "\"price\":{\"amount\":\"3.99\",\"currency\":\"USD\",\"formatted\":\"3.99 USD\"}}],"
        "\"gb\":[{\"service\":{\"id\":\"prime\"},\"type\":\"addon\"}]}}";
    char err [256];
    json_t *offers = sa_parse_show (body, LEN (body), err, sizeof err);
    assert_non_null (offers);
    assert_int_equal (json_array_size (offers), 3);
    s_assert_schema (offers, &mg_raw_availability_desc);
    json_t *netflix = json_array_get (offers, 0), *apple = json_array_get (offers, 1);
    assert_string_equal (json_string_value (json_object_get (netflix, "platform")), "netflix");
    assert_string_equal (json_string_value (json_object_get (netflix, "region")), "us");
    assert_string_equal (json_string_value (json_object_get (netflix, "expires_at")), "2026-01-01T00:00:00Z");
    assert_true (json_real_value (json_object_get (apple, "price")) == 3.99);
    assert_string_equal (json_string_value (json_object_get (apple, "currency")), "USD");
    json_decref (offers);
}

static void
test_sa_refuses_malformed_and_wrong_typed_bodies (void **state)
{
    (void) state;
    const char *bad [] = {
        "{\"streamingOptions\":{\"us\":[{\"service\":{\"id\":\"netflix\"},\"type\":\"subscription\"",
        "[]",
        "{\"streamingOptions\":[]}",
        "{\"streamingOptions\":{\"us\":{}}}",
        "{\"streamingOptions\":{\"us\":[{\"service\":\"netflix\",\"type\":\"subscription\"}]}}",
        "{\"streamingOptions\":{\"us\":[{\"service\":{\"id\":7},\"type\":\"subscription\"}]}}",
        "{\"streamingOptions\":{\"us\":[{\"service\":{\"id\":\"n\"},\"type\":\"rent\",\"price\":{\"amount\":\"x\",\"currency\":\"USD\"}}]}}",
        "{\"streamingOptions\":{\"us\":[{\"service\":{\"id\":\"n\"},\"type\":\"rent\",\"expiresOn\":\"soon\"}]}}",
        "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char err [256] = "";
        json_t *offers = sa_parse_show (bad [i], strlen (bad [i]), err, sizeof err);
        assert_null (offers);
        assert_true (strlen (err) > 0);
    }
}

static void
test_watchmode_sources_map_to_offers_and_refuse_wrong_types (void **state)
{
    (void) state;
    static const char body [] =
        "[{\"source_id\":203,\"name\":\"Netflix\",\"type\":\"sub\",\"region\":\"US\","
        "\"web_url\":\"https://www.netflix.com/watch/60031236\",\"format\":\"HD\",\"price\":null},"
        "{\"source_id\":349,\"name\":\"iTunes\",\"type\":\"buy\",\"region\":\"US\",\"format\":\"4K\",\"price\":14.99},"
        "{\"source_id\":99,\"name\":\"Spectrum\",\"type\":\"tve\",\"region\":\"US\"}]";
    char err [256];
    json_t *offers = watchmode_parse_sources (body, LEN (body), err, sizeof err);
    assert_non_null (offers);
    assert_int_equal (json_array_size (offers), 3);
    s_assert_schema (offers, &mg_raw_availability_desc);
    assert_true (json_real_value (json_object_get (json_array_get (offers, 1), "price")) == 14.99);
    assert_string_equal (json_string_value (json_object_get (json_array_get (offers, 2), "type")), "sub");
    json_decref (offers);
    const char *bad [] = { "{}", "[1]", "[{\"name\":\"N\",\"type\":\"sub\"}]",
                           "[{\"name\":\"N\",\"type\":\"sub\",\"region\":\"US\",\"price\":\"free\"}]",
                           "[{\"name\":[],\"type\":\"sub\",\"region\":\"US\"}]", "[{\"name\":" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = '\0';
        assert_null (watchmode_parse_sources (bad [i], strlen (bad [i]), err, sizeof err));
        assert_true (strlen (err) > 0);
    }
}

static void
test_youtube_search_keeps_videos_and_detects_spent_quota (void **state)
{
    (void) state;
    static const char body [] =
        "{\"kind\":\"youtube#searchListResponse\",\"items\":["
        "{\"kind\":\"youtube#searchResult\",\"id\":{\"kind\":\"youtube#video\",\"videoId\":\"vKQi3bBA1y8\"},"
        "\"snippet\":{\"title\":\"The Matrix - Official Trailer\"}},"
        "{\"kind\":\"youtube#searchResult\",\"id\":{\"kind\":\"youtube#channel\",\"channelId\":\"UC1\"}}]}";
    char err [256];
    json_t *videos = youtube_parse_search (body, LEN (body), err, sizeof err);
    assert_non_null (videos);
    assert_int_equal (json_array_size (videos), 1);
    s_assert_schema (videos, &mg_raw_video_desc);
    assert_string_equal (json_string_value (json_object_get (json_array_get (videos, 0), "key")), "vKQi3bBA1y8");
    json_decref (videos);
    assert_null (youtube_parse_search ("{\"items\":{}}", 12, err, sizeof err));
    assert_null (youtube_parse_search ("{\"items\":[{\"id\":{\"kind\":5}}]}", 29, err, sizeof err));
    static const char spent [] =
        "{\"error\":{\"code\":403,\"message\":\"quota\",\"errors\":[{\"domain\":\"youtube.quota\","
        "\"reason\":\"quotaExceeded\"}]}}";
    assert_true (youtube_is_quota_exceeded (spent, LEN (spent)));
    assert_false (youtube_is_quota_exceeded ("{\"error\":{\"errors\":[{\"reason\":\"forbidden\"}]}}", 44));
    assert_false (youtube_is_quota_exceeded ("not json", 8));
}

static void
test_tmdb_details_and_lists_parse_strictly (void **state)
{
    (void) state;
    static const char body [] =
        "{\"id\":603,\"title\":\"The Matrix\",\"release_date\":\"1999-03-30\",\"imdb_id\":\"tt0133093\","
        "\"videos\":{\"results\":[{\"site\":\"YouTube\",\"key\":\"vKQi3bBA1y8\",\"type\":\"Trailer\",\"official\":true}]}}";
    char err [256];
    json_t *record = tmdb_parse_details (body, LEN (body), err, sizeof err);
    assert_non_null (record);
    assert_string_equal (json_string_value (json_object_get (record, "source_id")), "603");
    json_decref (record);
    assert_null (tmdb_parse_details ("{\"id\":\"603\",\"title\":\"x\"}", 24, err, sizeof err));
    assert_null (tmdb_parse_details ("{\"id\":603,\"title\":7}", 20, err, sizeof err));
    assert_null (tmdb_parse_details ("{\"id\":603,\"title\":\"x\",\"videos\":[]}", 34, err, sizeof err));
    long long ids [4];
    size_t count;
    int pages;
    static const char list [] = "{\"page\":1,\"results\":[{\"id\":1},{\"id\":2},{\"id\":3}],\"total_pages\":9}";
    assert_int_equal (tmdb_parse_ids (list, LEN (list), ids, 2, &count, &pages, err, sizeof err), 0);
    assert_int_equal (count, 2);
    assert_int_equal (pages, 9);
    assert_int_equal (ids [1], 2);
    static const char wrong [] = "{\"results\":[{\"id\":\"1\"}]}";
    assert_int_equal (tmdb_parse_ids (wrong, LEN (wrong), ids, 4, &count, &pages, err, sizeof err), -1);
}

static void
test_urls_are_built_and_unsafe_ids_refused (void **state)
{
    (void) state;
    char url [PROVIDER_URL_MAX];
    assert_int_equal (sa_show_url ("http://h/sa", "movie/603", "US", url, sizeof url), 0);
    assert_string_equal (url, "http://h/sa/shows/movie/603?country=us&output_language=en");
    assert_int_equal (sa_show_url ("http://h/sa", "../admin", "US", url, sizeof url), -1);
    assert_int_equal (watchmode_sources_url ("http://h/wm", "k1", "tt0133093", "us", url, sizeof url), 0);
    assert_string_equal (url, "http://h/wm/title/tt0133093/sources/?apiKey=k1&regions=US");
    assert_int_equal (youtube_search_url ("http://h/yt", "k", "The Matrix 1999 trailer", url, sizeof url), 0);
    assert_non_null (strstr (url, "q=The%20Matrix%201999%20trailer"));
    assert_int_equal (tmdb_details_url ("http://h/t", "k", "film", 1, url, sizeof url), -1);
    char small [16];
    assert_int_equal (tmdb_list_url ("http://h/tmdb/3", "k", "popular", 1, small, sizeof small), -1);
}

static void
test_cache_keys_ignore_credentials_only (void **state)
{
    (void) state;
    char a [128], b [128], c [128];
    assert_int_equal (cache_key ("youtube", "http://h/search?q=x&key=AAA", a, sizeof a), 0);
    assert_int_equal (cache_key ("youtube", "http://h/search?q=x&key=BBB", b, sizeof b), 0);
    assert_int_equal (cache_key ("youtube", "http://h/search?q=y&key=AAA", c, sizeof c), 0);
    assert_string_equal (a, b);
    assert_string_not_equal (a, c);
    assert_int_equal (strncmp (a, "mg:fc:youtube:", 14), 0);
    assert_int_equal (cache_key ("tmdb", "http://h/movie/1?api_key=S&x=1", a, sizeof a), 0);
    assert_int_equal (cache_key ("tmdb", "http://h/movie/1?x=1", b, sizeof b), 0);
    assert_string_equal (a, b);
    assert_int_equal (cache_key ("tmdb", "http://h/movie/1", a, 10), -1);
}

static void
test_backoff_is_full_jitter_under_a_doubling_ceiling_and_retry_after_is_a_floor (void **state)
{
    (void) state;
    retry_policy_t policy = { .max_attempts = 5, .base_ms = 100, .cap_ms = 1000 };
    assert_int_equal (retry_backoff_ms (&policy, 1, 0), 0);
    assert_int_equal (retry_backoff_ms (&policy, 1, 100), 100);
    assert_int_equal (retry_backoff_ms (&policy, 1, 101), 0);
    assert_int_equal (retry_backoff_ms (&policy, 3, 400), 400);
    assert_int_equal (retry_backoff_ms (&policy, 3, 401), 0);
    for (uint32_t r = 0; r < 5000; r += 7)
        assert_true (retry_backoff_ms (&policy, 30, r * 2654435761u) <= 1000);
    assert_int_equal (retry_after_ms ("7", 0), 7000);
    assert_int_equal (retry_after_ms (" 0 ", 0), 0);
    assert_int_equal (retry_after_ms ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10000);
    assert_int_equal (retry_after_ms ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
    assert_int_equal (retry_after_ms ("soon", 0), -1);
    assert_int_equal (retry_after_ms ("-3", 0), -1);
    assert_int_equal (retry_after_ms ("99999999", 0), -1);
    assert_int_equal (retry_after_ms (NULL, 0), -1);
    assert_int_equal (retry_delay_ms (&policy, 1, 5000, 3), 5000);
    assert_int_equal (retry_delay_ms (&policy, 1, -1, 50), 50);
    assert_true (retry_is_retryable (429) && retry_is_retryable (503) && retry_is_retryable (0));
    assert_false (retry_is_retryable (404) || retry_is_retryable (400) || retry_is_retryable (200));
}

static void
test_pacing_spreads_the_last_calls_of_a_window (void **state)
{
    (void) state;
    assert_int_equal (retry_pace_ms (50, 10000, 10), 0);
    assert_int_equal (retry_pace_ms (9, 10000, 10), 1000);
    assert_int_equal (retry_pace_ms (0, 4000, 10), 4000);
    assert_int_equal (retry_pace_ms (-1, 4000, 10), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_sa_show_gives_every_country_offer_with_price_and_expiry),
        cmocka_unit_test (test_sa_refuses_malformed_and_wrong_typed_bodies),
        cmocka_unit_test (test_watchmode_sources_map_to_offers_and_refuse_wrong_types),
        cmocka_unit_test (test_youtube_search_keeps_videos_and_detects_spent_quota),
        cmocka_unit_test (test_tmdb_details_and_lists_parse_strictly),
        cmocka_unit_test (test_urls_are_built_and_unsafe_ids_refused),
        cmocka_unit_test (test_cache_keys_ignore_credentials_only),
        cmocka_unit_test (test_backoff_is_full_jitter_under_a_doubling_ceiling_and_retry_after_is_a_floor),
        cmocka_unit_test (test_pacing_spreads_the_last_calls_of_a_window),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
