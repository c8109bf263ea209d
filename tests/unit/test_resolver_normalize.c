/*  normalize_record: provider platform names become the canonical slugs
    GET /api/v1/platforms lists, so "my services" filters find their offers.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <jansson.h>
#include "normalize.h"
#include "mg_platforms.h"

//  The platform slug normalize_record gives an offer of name and type.
static void
s_check (const char *name, const char *type, const char *expected)
{
    char text [256], err [256];
    snprintf (text, sizeof text,
              "{\"source\":\"sa\",\"source_id\":\"1\",\"type\":\"movie\",\"title\":\"T\","
              "\"availability\":[{\"platform\":\"%s\",\"region\":\"us\",\"type\":\"%s\"}]}", name, type);
    json_t *json = json_loads (text, 0, NULL);
    assert_non_null (json);
    mg_raw_record_t record;
    assert_int_equal (mg_msg_from_json (&mg_raw_record_desc, json, &record, err, sizeof err), 0);
    json_decref (json);
    assert_int_equal (normalize_record (&record, err, sizeof err), 0);
    assert_string_equal (record.availability [0].platform, expected);
    //  Every name a provider uses for a platform we list is one of ours.
    assert_non_null (mg_platforms_find (record.availability [0].platform));
    mg_msg_clear (&mg_raw_record_desc, &record);
}

static void
test_streaming_availability_service_ids_become_our_slugs (void **state)
{
    (void) state;
    s_check ("prime", "subscription", "prime-video");
    s_check ("hbo", "subscription", "max");
    s_check ("plutotv", "free", "pluto-tv");
    s_check ("apple", "subscription", "apple-tv-plus");
    s_check ("apple", "rent", "apple-tv");
    s_check ("apple", "buy", "apple-tv");
    s_check ("Apple TV+", "subscription", "apple-tv-plus");
    s_check ("Pluto TV", "ads", "pluto-tv");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_streaming_availability_service_ids_become_our_slugs),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
