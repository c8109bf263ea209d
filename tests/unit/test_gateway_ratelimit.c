/*  Rate-limit header values of a decision, and the client address behind
    trusted proxies (gateway/ratelimit.c); leased budgets (gateway/lease.c).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "gw_keycache.h"
#include "gw_lease.h"
#include "gw_ratelimit.h"

static mg_ratelimit_reply_t
s_decision (bool allowed, const char *tier, uint64_t limit_s, uint64_t limit_m)
{
    mg_ratelimit_reply_t d = { .allowed = allowed, .tier = (char *) tier,
                               .limit_s = limit_s, .limit_m = limit_m };
    return d;
}

static void
test_headers_report_the_window_closest_to_running_out (void **state)
{
    (void) state;
    mg_ratelimit_reply_t d = s_decision (true, "pro", 50, 1000);
    d.remaining_s = 49;
    d.remaining_m = 997;
    d.reset_s_ms = 20;
    d.reset_m_ms = 11500;
    gw_rate_headers_t h;
    assert_int_equal (gw_rate_headers_format (&d, 1700000000, &h), 0);
    assert_string_equal (h.limit, "50");
    assert_string_equal (h.remaining, "49");
    assert_string_equal (h.reset, "1700000001");
    assert_string_equal (h.policy, "\"pro-s\";q=50;w=1, \"pro-m\";q=1000;w=60");
    assert_string_equal (h.state, "\"pro-s\";r=49;t=1");
    assert_int_equal (h.retry_after, 0);
    //  The minute window nearly spent: it is the one reported.
    d.remaining_m = 3;
    assert_int_equal (gw_rate_headers_format (&d, 1700000000, &h), 0);
    assert_string_equal (h.limit, "1000");
    assert_string_equal (h.remaining, "3");
    assert_string_equal (h.state, "\"pro-m\";r=3;t=12");
    assert_string_equal (h.reset, "1700000012");
}

static void
test_a_refusal_reports_the_refusing_window_and_retry_after (void **state)
{
    (void) state;
    mg_ratelimit_reply_t d = s_decision (false, "free", 10, 200);
    d.remaining_s = 0;
    d.remaining_m = 150;
    d.reset_s_ms = 1000;
    d.reset_m_ms = 15000;
    d.retry_s_ms = 100;
    gw_rate_headers_t h;
    assert_int_equal (gw_rate_headers_format (&d, 100, &h), 0);
    assert_string_equal (h.remaining, "0");
    assert_string_equal (h.limit, "10");
    assert_string_equal (h.state, "\"free-s\";r=0;t=1");
    assert_int_equal (h.retry_after, 1);        //  100 ms rounds up to a whole second
    //  The minute window refuses for longer: it is reported, and its wait.
    d.retry_m_ms = 2500;
    assert_int_equal (gw_rate_headers_format (&d, 100, &h), 0);
    assert_string_equal (h.limit, "200");
    assert_string_equal (h.remaining, "0");
    assert_int_equal (h.retry_after, 3);
}

//  Leases: a hundredth of the rate per holder, at least 1, at most GW_LEASE_MAX.
static void
test_a_lease_is_a_hundredth_of_the_rate_per_holder (void **state)
{
    (void) state;
    assert_int_equal (gw_lease_size (50, 1000, 2, 2), 1);         //  small limits: today's one by one
    assert_int_equal (gw_lease_size (100000, 6000000, 2, 2), 250);
    assert_int_equal (gw_lease_size (100000, 60000, 2, 2), 2);    //  the minute window is slower: 1000/s
    assert_int_equal (gw_lease_size (UINT32_MAX, UINT64_MAX, 1, 1), GW_LEASE_MAX);
    assert_int_equal (gw_lease_size (100000, 6000000, 0, 0), GW_LEASE_MAX);
}

//  A grant of 5 answers its request and 4 more here, with headers that
//  count down; then the limiter is asked again, for the lease size.
static void
test_a_lease_is_spent_locally_then_asked_again (void **state)
{
    (void) state;
    gw_lease_t *lease = gw_lease_new (64, true, 2, 2);
    assert_non_null (lease);
    gw_rate_headers_t h;
    int64_t now = 5000000;
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));
    assert_int_equal (gw_lease_want (lease, "ip:1.2.3.4", "anonymous"), 1);     //  limits unknown
    mg_ratelimit_reply_t d = s_decision (true, "anonymous", 100000, 6000000);
    d.granted = 5;
    d.has_granted = true;
    d.remaining_s = 99995;
    d.remaining_m = 5999995;
    d.reset_s_ms = 50;
    d.reset_m_ms = 50;
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &d);
    assert_int_equal (d.remaining_s, 99999);        //  the requester's answer counts what is held
    for (int i = 0; i < 4; i++) {
        assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 1000 * i, 100, &h));
        char expected [24];
        snprintf (expected, sizeof expected, "%d", 99998 - i);
        assert_string_equal (h.remaining, expected);
        assert_string_equal (h.limit, "100000");
        assert_string_equal (h.policy, "\"anonymous-s\";q=100000;w=1, \"anonymous-m\";q=6000000;w=60");
    }
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 5000, 100, &h));
    assert_int_equal (gw_lease_want (lease, "ip:1.2.3.4", "anonymous"), 250);
    //  Another tier of the same client is another budget.
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "free", now, 100, &h));
    //  Unspent after a second: dropped, never spent late.
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &d);
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 1000000, 100, &h));
    //  A refusal grants nothing.
    mg_ratelimit_reply_t refused = s_decision (false, "anonymous", 100000, 6000000);
    refused.has_granted = true;
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &refused);
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));
    gw_lease_destroy (&lease);
    //  Leases off: one request per decision, whatever it grants.
    lease = gw_lease_new (64, false, 2, 2);
    assert_non_null (lease);
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &d);
    assert_int_equal (gw_lease_want (lease, "ip:1.2.3.4", "anonymous"), 1);
    gw_lease_destroy (&lease);
}

//  A lease of 250 half spent is renewed ahead, once at a time, for what
//  tops it up to 250; every unit of the renewal is held (no request spent
//  the first), so the lease never holds more than its size.
static void
test_a_lease_is_renewed_ahead_once_half_spent (void **state)
{
    (void) state;
    gw_lease_t *lease = gw_lease_new (64, true, 2, 2);
    assert_non_null (lease);
    gw_rate_headers_t h;
    int64_t now = 5000000;
    uint64_t want = 0;
    int arg;
    //  Limits unknown: nothing to renew.
    assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want));
    mg_ratelimit_reply_t d = s_decision (true, "anonymous", 100000, 6000000);
    d.granted = 250;
    d.has_granted = true;
    d.remaining_s = 99750;
    d.remaining_m = 5999750;
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &d);      //  249 held
    for (int i = 0; i < 123; i++) {
        assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));
        assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want));
    }
    assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));    //  125 held
    gw_lease_renewal_t *renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, 250 - 125);
    assert_ptr_equal (gw_lease_renewal_arg (renewal), &arg);
    assert_string_equal (gw_lease_renewal_client (renewal), "ip:1.2.3.4");
    assert_string_equal (gw_lease_renewal_tier (renewal), "anonymous");
    //  One at a time: the requests meanwhile spend what is left.
    for (int i = 0; i < 24; i++) {
        assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));
        assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want));
    }
    //  101 held; the renewal grants its 125, all held: 226, never above 250.
    mg_ratelimit_reply_t r = s_decision (true, "anonymous", 100000, 6000000);
    r.granted = 125;
    r.has_granted = true;
    r.remaining_s = 99000;
    r.remaining_m = 5999000;
    gw_lease_renewed (renewal, now + 2000, &r);
    assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h));
    //  Redis's 99,000 less the 101 held before (counted by the earlier
    //  decision), plus the 225 still held: never more than the limit.
    assert_string_equal (h.remaining, "99124");
    for (int i = 0; i < 225; i++)
        assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h));
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h));
    //  A renewal that got no decision holds nothing and lets the next one go.
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 2000, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, 250);
    gw_lease_renewed (renewal, now + 3000, NULL);
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 3000, 100, &h));
    //  A refused renewal holds nothing either.
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 3000, &arg, &want);
    assert_non_null (renewal);
    mg_ratelimit_reply_t refused = s_decision (false, "anonymous", 100000, 6000000);
    refused.has_granted = true;
    gw_lease_renewed (renewal, now + 4000, &refused);
    assert_false (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 4000, 100, &h));
    gw_lease_destroy (&lease);
    //  A caller faster than a round trip: 60 requests while a renewal of a
    //  lease of 41 was out (20 spent what was held, 40 went on credit). Its
    //  window becomes 6 x 60: renewed at 180 held, topped up to 360.
    lease = gw_lease_new (64, true, 2, 2);
    assert_non_null (lease);
    mg_ratelimit_reply_t fast = s_decision (true, "anonymous", 1000000, 1000000);
    fast.granted = 41;
    fast.has_granted = true;
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &fast);          //  40 held
    for (int i = 0; i < 19; i++) {
        assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));
        assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want));
    }
    assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));    //  20 held
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, 21);
    for (int i = 0; i < 60; i++)
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h),
                          i < 20 ? GW_LEASE_HELD : GW_LEASE_OWED);
    fast.granted = 21;
    gw_lease_renewed (renewal, now + 1000, &fast);                      //  none held, 19 owed
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 1000, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, 360);
    //  Back to a slow caller (no request during that renewal): the window
    //  halves per renewal, 180 now.
    fast.granted = 360;
    gw_lease_renewed (renewal, now + 2000, &fast);                      //  341 held
    for (int i = 0; i < 250; i++) {
        assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h));
        assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 2000, &arg, &want));
    }
    assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h));    //  90 held
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 2000, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, 180 - 90);
    gw_lease_renewed (renewal, now + 3000, NULL);
    gw_lease_destroy (&lease);
    //  Small leases (limits below 400/s per holder) are not renewed ahead;
    //  nor is any lease with leases off.
    lease = gw_lease_new (64, true, 2, 2);
    assert_non_null (lease);
    mg_ratelimit_reply_t small = s_decision (true, "anonymous", 1000, 60000);
    small.granted = 2;
    small.has_granted = true;
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &small);
    assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h));
    assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want));
    gw_lease_destroy (&lease);
    lease = gw_lease_new (64, false, 2, 2);
    assert_non_null (lease);
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, &d);
    assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, &arg, &want));
    gw_lease_destroy (&lease);
}

//  A table of 2 gateways x 2 threads holding, for an anonymous caller at
//  1,000,000/s, a lease of 41 half spent (20 held), its decision in *d
//  (999,000 left) and its renewal ahead, for 21, out in *renewal.
static gw_lease_t *
s_lease_renewing (int64_t now, mg_ratelimit_reply_t *d, gw_lease_renewal_t **renewal, void *arg)
{
    gw_lease_t *lease = gw_lease_new (64, true, 2, 2);
    assert_non_null (lease);
    gw_rate_headers_t h;
    *d = s_decision (true, "anonymous", 1000000, 1000000);
    d->granted = 41;
    d->has_granted = true;
    d->remaining_s = 999000;
    d->remaining_m = 999000;
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now, d);         //  40 held
    for (int i = 0; i < 20; i++)
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h),
                          GW_LEASE_HELD);
    uint64_t want = 0;
    *renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now, arg, &want);
    assert_non_null (*renewal);
    assert_int_equal (want, 21);
    return lease;
}

//  A renewal late: the caller's requests spend up to the lease size (41)
//  of it on credit instead of asking on their own, and what they owe is
//  taken from the next units granted; at no time does the thread admit
//  more than 41 beyond what Redis counted for it.
static void
test_a_late_renewal_is_spent_on_credit_up_to_the_lease_size (void **state)
{
    (void) state;
    gw_rate_headers_t h;
    int64_t now = 5000000;
    uint64_t want = 0;
    int arg;
    mg_ratelimit_reply_t d;
    gw_lease_renewal_t *renewal;
    gw_lease_t *lease = s_lease_renewing (now, &d, &renewal, &arg);
    //  No renewal out: an empty lease is not spent on credit.
    gw_lease_t *idle = gw_lease_new (64, true, 2, 2);
    assert_non_null (idle);
    mg_ratelimit_reply_t one = d;
    one.granted = 1;
    gw_lease_put (idle, "ip:1.2.3.4", "anonymous", now, &one);
    assert_int_equal (gw_lease_take (idle, "ip:1.2.3.4", "anonymous", now, 100, &h), GW_LEASE_NONE);
    gw_lease_destroy (&idle);
    for (int i = 0; i < 20; i++)
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h),
                          GW_LEASE_HELD);
    //  Empty, the renewal still out: 41 on credit, the headers counting
    //  them off what Redis had left; then the requests ask again.
    for (int i = 0; i < 41; i++) {
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h),
                          GW_LEASE_OWED);
        char expect [16];
        snprintf (expect, sizeof expect, "%d", 999000 - 1 - i);
        assert_string_equal (h.remaining, expect);
        assert_string_equal (h.limit, "1000000");
    }
    assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h), GW_LEASE_NONE);
    //  The renewal grants its 21: all go to the 41 owed, 20 still owed.
    d.granted = 21;
    d.remaining_s = d.remaining_m = 998900;
    gw_lease_renewed (renewal, now + 1000, &d);
    assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 1000, 100, &h),
                      GW_LEASE_NONE);
    //  Another renewal out: credit up to 41 owed again (21 more), then
    //  refused: nothing granted, the 41 stay owed and no more credit.
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 1000, &arg, &want);
    assert_non_null (renewal);
    for (int i = 0; i < 21; i++)
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 1000, 100, &h),
                          GW_LEASE_OWED);
    assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 1000, 100, &h),
                      GW_LEASE_NONE);
    mg_ratelimit_reply_t refused = s_decision (false, "anonymous", 1000000, 1000000);
    refused.has_granted = true;
    gw_lease_renewed (renewal, now + 2000, &refused);
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 2000, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h),
                      GW_LEASE_NONE);
    gw_lease_renewed (renewal, now + 3000, NULL);
    //  A request's own decision of 50: it takes one, 41 repay the debt,
    //  8 are held; its headers count what the caller may still do.
    d.granted = 50;
    d.remaining_s = d.remaining_m = 998000;
    gw_lease_put (lease, "ip:1.2.3.4", "anonymous", now + 3000, &d);
    assert_int_equal (d.remaining_s, 998000 + 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 3000, 100, &h),
                          GW_LEASE_HELD);
    assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 3000, 100, &h),
                      GW_LEASE_NONE);
    gw_lease_destroy (&lease);
}

//  A caller that spends 700 requests on a thread in a renewal's round
//  trip: its window is 6 x 700, capped at the largest grant (4,000, four
//  times the largest lease), renewed once 2,000 or fewer are held, for
//  what tops it up.
static void
test_a_fast_callers_window_reaches_the_largest_grant (void **state)
{
    (void) state;
    gw_rate_headers_t h;
    int64_t now = 5000000;
    uint64_t want = 0;
    int arg;
    mg_ratelimit_reply_t d;
    gw_lease_renewal_t *renewal;
    gw_lease_t *lease = s_lease_renewing (now, &d, &renewal, &arg);
    //  700 requests meanwhile: 20 held, 41 on credit, 639 would ask.
    for (int i = 0; i < 700; i++)
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now, 100, &h),
                          i < 20 ? GW_LEASE_HELD : i < 61 ? GW_LEASE_OWED : GW_LEASE_NONE);
    d.granted = 21;
    gw_lease_renewed (renewal, now + 1000, &d);                       //  none held, 20 owed
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 1000, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, GW_GRANT_MAX);
    //  As fast again during this one: 21 more on credit, then asking.
    for (int i = 0; i < 700; i++)
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 1000, 100, &h),
                          i < 21 ? GW_LEASE_OWED : GW_LEASE_NONE);
    d.granted = GW_GRANT_MAX;
    gw_lease_renewed (renewal, now + 2000, &d);                       //  3,959 held
    //  Due at 2,000 held, not at the 500 of a window of 1,000.
    for (int i = 0; i < 1958; i++) {
        assert_int_equal (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h),
                          GW_LEASE_HELD);
        assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 2000, &arg, &want));
    }
    assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 2000, 100, &h));
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 2000, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, GW_GRANT_MAX - 2000);
    //  A quiet round trip halves the window: 2,000, renewed at 1,000 held.
    d.granted = want;
    gw_lease_renewed (renewal, now + 3000, &d);                       //  4,000 held
    for (int i = 0; i < 2999; i++) {
        assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 3000, 100, &h));
        assert_null (gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 3000, &arg, &want));
    }
    assert_true (gw_lease_take (lease, "ip:1.2.3.4", "anonymous", now + 3000, 100, &h));
    renewal = gw_lease_renewal (lease, "ip:1.2.3.4", "anonymous", now + 3000, &arg, &want);
    assert_non_null (renewal);
    assert_int_equal (want, 1000);
    gw_lease_renewed (renewal, now + 4000, NULL);
    gw_lease_destroy (&lease);
}

static void
test_client_ip_believes_forwarded_for_only_from_trusted_proxies (void **state)
{
    (void) state;
    char out [80];
    gw_rate_client_ip ("10.0.0.9", "1.2.3.4", "", out, sizeof out);
    assert_string_equal (out, "ip:10.0.0.9");
    gw_rate_client_ip ("10.0.0.9", "1.2.3.4", "10.0.0.1", out, sizeof out);
    assert_string_equal (out, "ip:10.0.0.9");
    gw_rate_client_ip ("10.0.0.1", "1.2.3.4", "10.0.0.1", out, sizeof out);
    assert_string_equal (out, "ip:1.2.3.4");
    //  A client-written left part is ignored: the right-most untrusted hop counts.
    gw_rate_client_ip ("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "10.0.0.1,10.0.0.2", out, sizeof out);
    assert_string_equal (out, "ip:1.2.3.4");
    gw_rate_client_ip ("10.0.0.1", "2001:db8::1", "10.0.0.1", out, sizeof out);
    assert_string_equal (out, "ip:2001:db8::1");
    //  Garbage is not an address: the proxy itself is the client then.
    gw_rate_client_ip ("10.0.0.1", "'; DROP TABLE users --", "10.0.0.1", out, sizeof out);
    assert_string_equal (out, "ip:10.0.0.1");
    gw_rate_client_ip (NULL, NULL, "", out, sizeof out);
    assert_string_equal (out, "ip:unknown");
}

static void
test_key_cache_expires_and_keeps_no_key (void **state)
{
    (void) state;
    gw_keycache_t *cache = gw_keycache_new (8);
    assert_non_null (cache);
    gw_key_entry_t in = { .valid = true, .user_id = "u", .tier = "pro" }, out;
    const char *key = "mg_live_abc";
    assert_false (gw_keycache_get (cache, key, strlen (key), 0, &out));
    gw_keycache_put (cache, key, strlen (key), 1000, 30000000, &in);
    assert_true (gw_keycache_get (cache, key, strlen (key), 2000, &out));
    assert_string_equal (out.tier, "pro");
    assert_false (gw_keycache_get (cache, "mg_live_abd", 11, 2000, &out));
    assert_false (gw_keycache_get (cache, key, strlen (key), 1000 + 30000000, &out));
    //  Many keys in a small cache: it stays bounded and answers for the newest.
    char other [32];
    for (int i = 0; i < 100; i++) {
        snprintf (other, sizeof other, "mg_live_%d", i);
        gw_keycache_put (cache, other, strlen (other), 5000 + i, 1000000, &in);
    }
    assert_true (gw_keycache_get (cache, other, strlen (other), 6000, &out));
    gw_keycache_destroy (&cache);
    assert_null (cache);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_headers_report_the_window_closest_to_running_out),
        cmocka_unit_test (test_a_refusal_reports_the_refusing_window_and_retry_after),
        cmocka_unit_test (test_client_ip_believes_forwarded_for_only_from_trusted_proxies),
        cmocka_unit_test (test_a_lease_is_a_hundredth_of_the_rate_per_holder),
        cmocka_unit_test (test_a_lease_is_spent_locally_then_asked_again),
        cmocka_unit_test (test_a_lease_is_renewed_ahead_once_half_spent),
        cmocka_unit_test (test_a_late_renewal_is_spent_on_credit_up_to_the_lease_size),
        cmocka_unit_test (test_a_fast_callers_window_reaches_the_largest_grant),
        cmocka_unit_test (test_key_cache_expires_and_keeps_no_key),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
