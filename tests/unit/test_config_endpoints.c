/*  mg_config_endpoint: the endpoint lists that name one broker or the two
    of a pair (MG_BROKER=tcp://a:5555,tcp://b:5555).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "mg_config.h"

static void
test_config_endpoint_one_broker (void **state)
{
    (void) state;
    char out [MG_ENDPOINT_MAX];
    assert_int_equal (mg_config_endpoint ("tcp://127.0.0.1:5555", 0, out, sizeof out), 1);
    assert_string_equal (out, "tcp://127.0.0.1:5555");
    assert_int_equal (mg_config_endpoint ("tcp://127.0.0.1:5555", 1, out, sizeof out), 1);
    assert_string_equal (out, "");
}

static void
test_config_endpoint_pair_skips_empty_items (void **state)
{
    (void) state;
    char out [MG_ENDPOINT_MAX];
    const char *list = ",tcp://a:5555,,tcp://b:5555,";
    assert_int_equal (mg_config_endpoint (list, 0, out, sizeof out), 2);
    assert_string_equal (out, "tcp://a:5555");
    assert_int_equal (mg_config_endpoint (list, 1, out, sizeof out), 2);
    assert_string_equal (out, "tcp://b:5555");
}

static void
test_config_endpoint_bounds_count_and_size (void **state)
{
    (void) state;
    char out [8];
    //  At most MG_ENDPOINTS_MAX endpoints are read.
    assert_int_equal (mg_config_endpoint ("a,b,c", 2, out, sizeof out), MG_ENDPOINTS_MAX);
    assert_string_equal (out, "");
    //  An item that does not fit is not cut short: it is "".
    assert_int_equal (mg_config_endpoint ("tcp://too-long:1", 0, out, sizeof out), 1);
    assert_string_equal (out, "");
    assert_int_equal (mg_config_endpoint ("", 0, out, sizeof out), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_config_endpoint_one_broker),
        cmocka_unit_test (test_config_endpoint_pair_skips_empty_items),
        cmocka_unit_test (test_config_endpoint_bounds_count_and_size),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
