/*  Hybrid logical clocks: monotonic, causal, bounded skew, counter overflow,
    text order equal to time order.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "hlc.h"

#define DRIFT_MS 60000

static void
test_local_events_are_monotonic_even_when_the_wall_clock_goes_back (void **state)
{
    (void) state;
    hlc_clock_t clock;
    hlc_clock_init (&clock, 7, (hlc_t) { 0 }, DRIFT_MS);
    hlc_t a = hlc_clock_now (&clock, 1000);
    hlc_t b = hlc_clock_now (&clock, 1000);
    hlc_t c = hlc_clock_now (&clock, 400);          //  the wall clock stepped back
    hlc_t d = hlc_clock_now (&clock, 2000);
    assert_true (hlc_compare (a, b) < 0 && hlc_compare (b, c) < 0 && hlc_compare (c, d) < 0);
    assert_int_equal (c.wall_ms, 1000);
    assert_int_equal (c.counter, 2);
    assert_int_equal (d.wall_ms, 2000);
    assert_int_equal (d.counter, 0);
    assert_int_equal (d.node, 7);
}

static void
test_a_restart_never_issues_an_earlier_time (void **state)
{
    (void) state;
    hlc_t last = { 5000, 3, 1 };
    hlc_clock_t clock;
    hlc_clock_init (&clock, 1, last, DRIFT_MS);
    hlc_t next = hlc_clock_now (&clock, 4000);
    assert_true (hlc_compare (last, next) < 0);
}

static void
test_received_times_order_causally_and_far_future_is_refused (void **state)
{
    (void) state;
    hlc_clock_t clock;
    hlc_clock_init (&clock, 2, (hlc_t) { 0 }, DRIFT_MS);
    hlc_t mine = hlc_clock_now (&clock, 1000);
    hlc_t remote = { 30000, 5, 9 };                 //  30 s ahead: within the drift allowed
    hlc_t merged;
    assert_int_equal (hlc_clock_receive (&clock, remote, 1000, &merged), 0);
    assert_true (hlc_compare (remote, merged) < 0);
    assert_true (hlc_compare (mine, merged) < 0);
    assert_int_equal (merged.wall_ms, 30000);
    assert_int_equal (merged.counter, 6);
    hlc_t next = hlc_clock_now (&clock, 1500);      //  our wall clock is still behind
    assert_true (hlc_compare (merged, next) < 0);
    hlc_t wild = { 1000 + DRIFT_MS + 1, 0, 9 };
    assert_int_equal (hlc_clock_receive (&clock, wild, 1000, &merged), -1);
    hlc_t after = hlc_clock_now (&clock, 1500);     //  a refused time leaves the clock alone
    assert_int_equal (after.wall_ms, 30000);
}

static void
test_a_full_counter_moves_time_on (void **state)
{
    (void) state;
    hlc_clock_t clock;
    hlc_clock_init (&clock, 3, (hlc_t) { 1000, UINT32_MAX - 1, 3 }, DRIFT_MS);
    hlc_t a = hlc_clock_now (&clock, 1000);
    assert_int_equal (a.counter, UINT32_MAX);
    hlc_t b = hlc_clock_now (&clock, 1000);
    assert_int_equal (b.wall_ms, 1001);
    assert_int_equal (b.counter, 0);
    assert_true (hlc_compare (a, b) < 0);
}

static void
test_text_round_trips_and_sorts_as_time (void **state)
{
    (void) state;
    hlc_t times [] = { { 1, 0, 0 }, { 1, 1, 0 }, { 1, 1, 5 }, { 255, 0, 0 }, { 256, 0, 0 },
                       { 1764000000000LL, 42, 0xdeadbeef } };
    char previous [HLC_TEXT_LEN] = "";
    for (size_t i = 0; i < sizeof times / sizeof times [0]; i++) {
        char text [HLC_TEXT_LEN];
        hlc_format (times [i], text);
        assert_true (strcmp (previous, text) < 0);
        hlc_t back;
        assert_int_equal (hlc_parse (text, &back), 0);
        assert_int_equal (hlc_compare (back, times [i]), 0);
        strcpy (previous, text);
    }
    hlc_t t;
    const char *bad [] = { "", "zz", "000000000001-00000000-0000000", "000000000001_00000000-00000000",
                           "00000000000G-00000000-00000000", "000000000001-00000000-000000000" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        assert_int_equal (hlc_parse (bad [i], &t), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_local_events_are_monotonic_even_when_the_wall_clock_goes_back),
        cmocka_unit_test (test_a_restart_never_issues_an_earlier_time),
        cmocka_unit_test (test_received_times_order_causally_and_far_future_is_refused),
        cmocka_unit_test (test_a_full_counter_moves_time_on),
        cmocka_unit_test (test_text_round_trips_and_sorts_as_time),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
