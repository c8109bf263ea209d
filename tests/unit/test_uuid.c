/*  mg_uuid: the one UUID check (case, hyphens, length) and lower-casing.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "mg_uuid.h"

#define LOWER "0b5d8f8e-6a47-4c39-9a3e-5f0f2f1a6030"
#define UPPER "0B5D8F8E-6A47-4C39-9A3E-5F0F2F1A6030"

static void
test_the_shapes_of_a_uuid (void **state)
{
    (void) state;
    assert_true (mg_uuid_is (LOWER, true));
    assert_true (mg_uuid_is (LOWER, false));
    assert_true (mg_uuid_is (UPPER, false));
    assert_false (mg_uuid_is (UPPER, true));            //  canonical form only
    assert_false (mg_uuid_is (NULL, false));
    assert_false (mg_uuid_is ("", false));
    assert_false (mg_uuid_is (LOWER "0", false));       //  one too long
    assert_false (mg_uuid_ok (LOWER, 35, false));        //  one too short
    assert_false (mg_uuid_is ("0b5d8f8e6a47-4c39-9a3e-5f0f2f1a6030-", false));  //  hyphen moved
    assert_false (mg_uuid_is ("0b5d8f8e-6a47-4c39-9a3e-5f0f2f1a603g", false));  //  not hex
    assert_false (mg_uuid_is ("0b5d8f8e-6a47-4c39-9a3e-5f0f2f1a60 0", false));
    assert_false (mg_uuid_is ("1' OR '1'='1", false));
    //  Bytes after len do not count: a UUID inside a path is checked in place.
    assert_true (mg_uuid_ok (LOWER "/similar", 36, true));
}

static void
test_lower_copies_only_a_uuid (void **state)
{
    (void) state;
    char out [MG_UUID_TEXT_LEN + 1];
    memset (out, 'x', sizeof out);
    assert_int_equal (mg_uuid_lower (UPPER, strlen (UPPER), out), 0);
    assert_string_equal (out, LOWER);
    assert_int_equal (mg_uuid_lower ("not-a-uuid", 10, out), -1);
    assert_int_equal (mg_uuid_lower (UPPER "/x", 38, out), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_the_shapes_of_a_uuid),
        cmocka_unit_test (test_lower_copies_only_a_uuid),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
