/*  Codec: round trips through msgpack and JSON, and strict rejection of
    every kind of malformed body.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mg_msg.h"
#include "mg_frame.h"

static char s_err [MG_MSG_ERR_LEN];

//  A reply with n genres named g0..g(n-1).
static void
s_build_genres (mg_genres_reply_t *reply, size_t n)
{
    memset (reply, 0, sizeof *reply);
    reply->results = calloc (n ? n : 1, sizeof (mg_genre_t));
    assert_non_null (reply->results);
    reply->results_count = n;
    for (size_t i = 0; i < n; i++) {
        char buf [32];
        snprintf (buf, sizeof buf, "g%zu", i);
        reply->results [i].id = i + 1;
        reply->results [i].has_id = true;
        reply->results [i].slug = strdup (buf);
        reply->results [i].name = strdup ("Science Fiction");
    }
}

static void
test_genres_reply_round_trips_through_msgpack (void **state)
{
    (void) state;
    mg_genres_reply_t reply;
    s_build_genres (&reply, 18);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (mg_msg_encode (&mg_genres_reply_desc, &reply, &buf, &len, s_err, sizeof s_err), 0);
    mg_genres_reply_t back;
    assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, buf, len, &back, s_err, sizeof s_err), 0);
    assert_int_equal (back.results_count, 18);
    assert_int_equal (back.results [17].id, 18);
    assert_string_equal (back.results [3].slug, "g3");
    assert_string_equal (back.results [3].name, "Science Fiction");
    mg_msg_clear (&mg_genres_reply_desc, &back);
    mg_msg_clear (&mg_genres_reply_desc, &reply);
    free (buf);
}

static void
test_to_json_gives_the_public_shape (void **state)
{
    (void) state;
    mg_genres_reply_t reply;
    s_build_genres (&reply, 2);
    json_t *json = mg_msg_to_json (&mg_genres_reply_desc, &reply);
    char *text = json_dumps (json, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal (text,
        "{\"results\":[{\"id\":1,\"slug\":\"g0\",\"name\":\"Science Fiction\"},"
        "{\"id\":2,\"slug\":\"g1\",\"name\":\"Science Fiction\"}]}");
    free (text);
    json_decref (json);
    mg_msg_clear (&mg_genres_reply_desc, &reply);
}

//  Encode an error message with the given fields for reject tests.
static void
s_encode_error (mg_error_t *e, uint8_t **buf, size_t *len)
{
    assert_int_equal (mg_msg_encode (&mg_error_desc, e, buf, len, s_err, sizeof s_err), 0);
}

static void
test_every_truncation_of_a_valid_body_is_rejected (void **state)
{
    (void) state;
    mg_genres_reply_t reply;
    s_build_genres (&reply, 5);
    uint8_t *buf;
    size_t len;
    assert_int_equal (mg_msg_encode (&mg_genres_reply_desc, &reply, &buf, &len, s_err, sizeof s_err), 0);
    for (size_t cut = 1; cut < len; cut++) {
        mg_genres_reply_t back;
        assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, buf, cut, &back, s_err, sizeof s_err), -1);
    }
    free (buf);
    mg_msg_clear (&mg_genres_reply_desc, &reply);
}

static void
test_declared_length_beyond_body_is_rejected_without_allocating (void **state)
{
    (void) state;
    //  map32 claiming 2^32-1 pairs, then array32 claiming 2^32-1 items
    const uint8_t huge_map [] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'x' };
    const uint8_t huge_array [] = { 0x81, 0xa7, 'r', 'e', 's', 'u', 'l', 't', 's', 0xdd, 0xff, 0xff, 0xff, 0xff };
    const uint8_t huge_str [] = { 0x81, 0xa1, 'x', 0xdb, 0x7f, 0xff, 0xff, 0xff, 'a' };
    mg_genres_reply_t back;
    assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, huge_map, sizeof huge_map, &back, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "longer than the message"));
    assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, huge_array, sizeof huge_array, &back, s_err, sizeof s_err), -1);
    assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, huge_str, sizeof huge_str, &back, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "truncated"));
}

static void
test_nesting_deeper_than_the_limit_is_rejected (void **state)
{
    (void) state;
    uint8_t buf [64];
    size_t n = 0;
    for (int i = 0; i < MG_MSG_MAX_DEPTH + 2; i++)
        buf [n++] = 0x91;         //  array of one item
    buf [n++] = 0x01;
    mg_error_t back;
    assert_int_equal (mg_msg_decode (&mg_error_desc, buf, n, &back, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "nested deeper"));
}

static void
test_trailing_bytes_and_invalid_bytes_are_rejected (void **state)
{
    (void) state;
    mg_error_t e = { .code = "X", .message = "m" };
    uint8_t *buf;
    size_t len;
    s_encode_error (&e, &buf, &len);
    uint8_t *longer = malloc (len + 1);
    memcpy (longer, buf, len);
    longer [len] = 0xc0;
    mg_error_t back;
    assert_int_equal (mg_msg_decode (&mg_error_desc, longer, len + 1, &back, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "trailing"));
    const uint8_t never_used [] = { 0xc1 };
    assert_int_equal (mg_msg_decode (&mg_error_desc, never_used, 1, &back, s_err, sizeof s_err), -1);
    free (longer);
    free (buf);
}

static void
test_wrong_type_name_and_newer_version_are_rejected (void **state)
{
    (void) state;
    mg_error_t e = { .code = "X", .message = "m" };
    uint8_t *buf;
    size_t len;
    s_encode_error (&e, &buf, &len);
    mg_genres_reply_t other;
    assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, buf, len, &other, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "not of type"));
    free (buf);
    //  {"@t":"error","@v":2,"code":"X","message":"m"}
    const uint8_t newer [] = { 0x84, 0xa2, '@', 't', 0xa5, 'e', 'r', 'r', 'o', 'r', 0xa2, '@', 'v', 0x02,
                               0xa4, 'c', 'o', 'd', 'e', 0xa1, 'X',
                               0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm' };
    mg_error_t back;
    assert_int_equal (mg_msg_decode (&mg_error_desc, newer, sizeof newer, &back, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "newer"));
}

static void
test_missing_required_field_and_wrong_types_name_the_field (void **state)
{
    (void) state;
    //  {"@t":"error","@v":1,"code":"X"}
    const uint8_t missing [] = { 0x83, 0xa2, '@', 't', 0xa5, 'e', 'r', 'r', 'o', 'r', 0xa2, '@', 'v', 0x01,
                                 0xa4, 'c', 'o', 'd', 'e', 0xa1, 'X' };
    mg_error_t back;
    assert_int_equal (mg_msg_decode (&mg_error_desc, missing, sizeof missing, &back, s_err, sizeof s_err), -1);
    assert_string_equal (s_err, "message: required field missing");
    //  code given as an integer
    const uint8_t wrong [] = { 0x84, 0xa2, '@', 't', 0xa5, 'e', 'r', 'r', 'o', 'r', 0xa2, '@', 'v', 0x01,
                               0xa4, 'c', 'o', 'd', 'e', 0x07,
                               0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm' };
    assert_int_equal (mg_msg_decode (&mg_error_desc, wrong, sizeof wrong, &back, s_err, sizeof s_err), -1);
    assert_string_equal (s_err, "code: expected string");
}

static void
test_nested_errors_name_the_path (void **state)
{
    (void) state;
    mg_genres_reply_t reply;
    s_build_genres (&reply, 3);
    free (reply.results [2].slug);
    reply.results [2].slug = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (mg_msg_encode (&mg_genres_reply_desc, &reply, &buf, &len, s_err, sizeof s_err), -1);
    assert_string_equal (s_err, "results[2].slug: required field missing");
    mg_msg_clear (&mg_genres_reply_desc, &reply);
}

static void
test_strings_over_limit_invalid_utf8_and_nul_are_rejected (void **state)
{
    (void) state;
    char big [80];
    memset (big, 'A', sizeof big - 1);
    big [sizeof big - 1] = 0;
    mg_error_t e = { .code = big, .message = "m" };
    uint8_t *buf = NULL;
    size_t len;
    assert_int_equal (mg_msg_encode (&mg_error_desc, &e, &buf, &len, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "code: string longer than 64"));
    //  {"@t":"error","code":"\xff","message":"m"}  and  code "a\0b"
    const uint8_t bad_utf8 [] = { 0x83, 0xa2, '@', 't', 0xa5, 'e', 'r', 'r', 'o', 'r',
                                  0xa4, 'c', 'o', 'd', 'e', 0xa1, 0xff,
                                  0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm' };
    const uint8_t with_nul [] = { 0x83, 0xa2, '@', 't', 0xa5, 'e', 'r', 'r', 'o', 'r',
                                  0xa4, 'c', 'o', 'd', 'e', 0xa3, 'a', 0x00, 'b',
                                  0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm' };
    mg_error_t back;
    assert_int_equal (mg_msg_decode (&mg_error_desc, bad_utf8, sizeof bad_utf8, &back, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "UTF-8"));
    assert_int_equal (mg_msg_decode (&mg_error_desc, with_nul, sizeof with_nul, &back, s_err, sizeof s_err), -1);
}

static void
test_unknown_keys_are_ignored_and_null_means_absent (void **state)
{
    (void) state;
    //  {"@t":"error","code":"X","message":"m","future":[1,2],"retry_after":nil}
    const uint8_t body [] = { 0x85, 0xa2, '@', 't', 0xa5, 'e', 'r', 'r', 'o', 'r',
                              0xa4, 'c', 'o', 'd', 'e', 0xa1, 'X',
                              0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm',
                              0xa6, 'f', 'u', 't', 'u', 'r', 'e', 0x92, 0x01, 0x02,
                              0xab, 'r', 'e', 't', 'r', 'y', '_', 'a', 'f', 't', 'e', 'r', 0xc0 };
    mg_error_t back;
    assert_int_equal (mg_msg_decode (&mg_error_desc, body, sizeof body, &back, s_err, sizeof s_err), 0);
    assert_string_equal (back.code, "X");
    assert_false (back.has_retry_after);
    mg_msg_clear (&mg_error_desc, &back);
}

static void
test_duplicate_keys_are_rejected (void **state)
{
    (void) state;
    const uint8_t body [] = { 0x84, 0xa2, '@', 't', 0xa5, 'e', 'r', 'r', 'o', 'r',
                              0xa4, 'c', 'o', 'd', 'e', 0xa1, 'X',
                              0xa4, 'c', 'o', 'd', 'e', 0xa1, 'Y',
                              0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'm' };
    mg_error_t back;
    assert_int_equal (mg_msg_decode (&mg_error_desc, body, sizeof body, &back, s_err, sizeof s_err), -1);
    assert_string_equal (s_err, "code: duplicate key");
}

static void
test_list_over_its_limit_is_rejected (void **state)
{
    (void) state;
    mg_genres_reply_t reply;
    s_build_genres (&reply, 65);
    uint8_t *buf = NULL;
    size_t len;
    assert_int_equal (mg_msg_encode (&mg_genres_reply_desc, &reply, &buf, &len, s_err, sizeof s_err), -1);
    assert_non_null (strstr (s_err, "more than 64 items"));
    mg_msg_clear (&mg_genres_reply_desc, &reply);
}

static void
test_from_json_is_strict_about_unknown_fields_and_types (void **state)
{
    (void) state;
    json_error_t jerr;
    json_t *ok = json_loads ("{\"code\":\"X\",\"message\":\"m\",\"retry_after\":3}", 0, &jerr);
    json_t *unknown = json_loads ("{\"code\":\"X\",\"message\":\"m\",\"colour\":1}", 0, &jerr);
    json_t *negative = json_loads ("{\"code\":\"X\",\"message\":\"m\",\"retry_after\":-1}", 0, &jerr);
    mg_error_t e;
    assert_int_equal (mg_msg_from_json (&mg_error_desc, ok, &e, s_err, sizeof s_err), 0);
    assert_int_equal (e.retry_after, 3);
    mg_msg_clear (&mg_error_desc, &e);
    assert_int_equal (mg_msg_from_json (&mg_error_desc, unknown, &e, s_err, sizeof s_err), -1);
    assert_string_equal (s_err, "colour: unknown field");
    assert_int_equal (mg_msg_from_json (&mg_error_desc, negative, &e, s_err, sizeof s_err), -1);
    json_decref (ok);
    json_decref (unknown);
    json_decref (negative);
}

static void
test_text_parameters_parse_strictly (void **state)
{
    (void) state;
    mg_error_t e = { 0 };
    const mg_field_t *retry = mg_msg_field (&mg_error_desc, "retry_after");
    const mg_field_t *code = mg_msg_field (&mg_error_desc, "code");
    assert_non_null (retry);
    assert_null (mg_msg_field (&mg_error_desc, "nope"));
    assert_int_equal (mg_msg_set_text (retry, &e, "12", s_err, sizeof s_err), 0);
    assert_int_equal (e.retry_after, 12);
    assert_int_equal (mg_msg_set_text (retry, &e, "12x", s_err, sizeof s_err), -1);
    assert_string_equal (s_err, "retry_after: must be a non-negative integer");
    assert_int_equal (mg_msg_set_text (retry, &e, "-1", s_err, sizeof s_err), -1);
    assert_int_equal (mg_msg_set_text (retry, &e, "", s_err, sizeof s_err), -1);
    assert_int_equal (mg_msg_set_text (code, &e, "A", s_err, sizeof s_err), 0);
    assert_int_equal (mg_msg_set_text (code, &e, "B", s_err, sizeof s_err), 0);
    assert_string_equal (e.code, "B");
    mg_msg_clear (&mg_error_desc, &e);
}

static void
test_required_list_may_be_empty (void **state)
{
    (void) state;
    mg_genres_reply_t empty = { 0 };
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (mg_msg_encode (&mg_genres_reply_desc, &empty, &buf, &len, s_err, sizeof s_err), 0);
    mg_genres_reply_t back;
    assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, buf, len, &back, s_err, sizeof s_err), 0);
    assert_int_equal (back.results_count, 0);
    json_t *json = mg_msg_to_json (&mg_genres_reply_desc, &back);
    char *text = json_dumps (json, JSON_COMPACT);
    assert_string_equal (text, "{\"results\":[]}");
    free (text);
    json_decref (json);
    mg_msg_clear (&mg_genres_reply_desc, &back);
    free (buf);
    //  Absent is still missing.
    const uint8_t no_results [] = { 0x82, 0xa2, '@', 't', 0xb4, 'c', 'a', 't', 'a', 'l', 'o', 'g', '.', 'g', 'e', 'n',
                                    'r', 'e', 's', '.', 'r', 'e', 'p', 'l', 'y', 0xa2, '@', 'v', 0x01 };
    assert_int_equal (mg_msg_decode (&mg_genres_reply_desc, no_results, sizeof no_results, &back, s_err, sizeof s_err), -1);
    assert_string_equal (s_err, "results: required field missing");
}

static void
test_frame_names_are_validated (void **state)
{
    (void) state;
    assert_true (mg_frame_name_valid ("catalog.genres", 14));
    assert_true (mg_frame_name_valid ("mmi.service", 11));
    assert_false (mg_frame_name_valid ("catalog", 7));
    assert_false (mg_frame_name_valid (".genres", 7));
    assert_false (mg_frame_name_valid ("catalog.", 8));
    assert_false (mg_frame_name_valid ("Catalog.genres", 14));
    assert_false (mg_frame_name_valid ("cat log.x", 9));
    assert_int_equal (mg_frame_service_len ("catalog.genres", 14), 7);
    zframe_t *ttl = zframe_new ("5000", 4);
    uint32_t v = 0;
    assert_int_equal (mg_frame_uint (ttl, 1, MG_TTL_MAX_MS, &v), 0);
    assert_int_equal (v, 5000);
    zframe_destroy (&ttl);
    ttl = zframe_new ("99999999999", 11);
    assert_int_equal (mg_frame_uint (ttl, 1, MG_TTL_MAX_MS, &v), -1);
    zframe_destroy (&ttl);
}

static void
test_error_body_decodes_as_error (void **state)
{
    (void) state;
    zframe_t *body = mg_frame_error_body ("SERVICE_UNAVAILABLE", "no worker", 1);
    assert_non_null (body);
    mg_error_t e;
    assert_int_equal (mg_msg_decode (&mg_error_desc, zframe_data (body), zframe_size (body), &e, s_err, sizeof s_err), 0);
    assert_string_equal (e.code, "SERVICE_UNAVAILABLE");
    assert_int_equal (e.retry_after, 1);
    mg_msg_clear (&mg_error_desc, &e);
    zframe_destroy (&body);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_genres_reply_round_trips_through_msgpack),
        cmocka_unit_test (test_to_json_gives_the_public_shape),
        cmocka_unit_test (test_every_truncation_of_a_valid_body_is_rejected),
        cmocka_unit_test (test_declared_length_beyond_body_is_rejected_without_allocating),
        cmocka_unit_test (test_nesting_deeper_than_the_limit_is_rejected),
        cmocka_unit_test (test_trailing_bytes_and_invalid_bytes_are_rejected),
        cmocka_unit_test (test_wrong_type_name_and_newer_version_are_rejected),
        cmocka_unit_test (test_missing_required_field_and_wrong_types_name_the_field),
        cmocka_unit_test (test_nested_errors_name_the_path),
        cmocka_unit_test (test_strings_over_limit_invalid_utf8_and_nul_are_rejected),
        cmocka_unit_test (test_unknown_keys_are_ignored_and_null_means_absent),
        cmocka_unit_test (test_duplicate_keys_are_rejected),
        cmocka_unit_test (test_list_over_its_limit_is_rejected),
        cmocka_unit_test (test_from_json_is_strict_about_unknown_fields_and_types),
        cmocka_unit_test (test_text_parameters_parse_strictly),
        cmocka_unit_test (test_required_list_may_be_empty),
        cmocka_unit_test (test_frame_names_are_validated),
        cmocka_unit_test (test_error_body_decodes_as_error),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
