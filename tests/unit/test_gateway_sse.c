/*  The SSE helpers of gateway/sse.c without a network: event text, the
    Last-Event-ID parser, which device gets which event, the stream bounds;
    and the tests' SSE parser (tests/support/mg_sse.c) reading back what the
    gateway writes.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_sse.h"
#include "gw_sse_format.h"
#include "mg_sse.h"

//  The text of out (caller frees).
static char *
s_text (struct evbuffer *out)
{
    size_t len = evbuffer_get_length (out);
    char *text = malloc (len + 1);
    assert_non_null (text);
    evbuffer_copyout (out, text, len);
    text [len] = '\0';
    return text;
}

static void
test_an_event_is_id_type_data_and_a_blank_line (void **state)
{
    (void) state;
    struct evbuffer *out = evbuffer_new ();
    assert_int_equal (gw_sse_format (out, 42, "progress.set", "{\"position_s\":12.5}"), 0);
    char *text = s_text (out);
    assert_string_equal (text, "id: 42\nevent: progress.set\ndata: {\"position_s\":12.5}\n\n");
    free (text);
    evbuffer_free (out);
}

static void
test_data_with_line_breaks_becomes_several_data_lines (void **state)
{
    (void) state;
    struct evbuffer *out = evbuffer_new ();
    assert_int_equal (gw_sse_format (out, 1, "reset", "a\nb\r\nc\rd"), 0);
    char *text = s_text (out);
    assert_string_equal (text, "id: 1\nevent: reset\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    free (text);
    evbuffer_drain (out, evbuffer_get_length (out));
    //  An event type with a line break would forge fields: refused.
    assert_int_equal (gw_sse_format (out, 1, "x\nid: 9", "{}"), -1);
    evbuffer_free (out);
}

static void
test_last_event_id_is_a_plain_decimal_number (void **state)
{
    (void) state;
    int64_t id = -1;
    assert_int_equal (gw_sse_parse_id ("0", &id), 0);
    assert_int_equal (id, 0);
    assert_int_equal (gw_sse_parse_id (" 1234 ", &id), 0);
    assert_int_equal (id, 1234);
    assert_int_equal (gw_sse_parse_id ("999999999999999999", &id), 0);
    const char *bad [] = { "", " ", "-1", "+1", "12a", "1 2", "0x10", "1e3", "9999999999999999999", NULL };
    for (int i = 0; bad [i]; i++)
        if (gw_sse_parse_id (bad [i], &id) == 0)
            fail_msg ("'%s' was taken as an event id", bad [i]);
    assert_int_equal (gw_sse_parse_id (NULL, &id), -1);
}

static void
test_a_device_gets_others_changes_and_its_own_handoffs_only (void **state)
{
    (void) state;
    const char *a = "aaaaaaaa-0000-4000-8000-000000000001";
    const char *b = "bbbbbbbb-0000-4000-8000-000000000002";
    const char *c = "cccccccc-0000-4000-8000-000000000003";
    assert_true (gw_sse_wants (b, a, NULL));            //  another device's change
    assert_true (gw_sse_wants (b, NULL, NULL));         //  the account's change
    assert_false (gw_sse_wants (a, a, NULL));           //  its own
    assert_false (gw_sse_wants (a, "AAAAAAAA-0000-4000-8000-000000000001", NULL));
    assert_true (gw_sse_wants (b, a, b));               //  a handoff to it
    assert_false (gw_sse_wants (c, a, b));              //  a handoff to another
}

static void
test_streams_are_bounded_per_user_and_in_all (void **state)
{
    (void) state;
    gw_sse_limits_t *limits = gw_sse_limits_new ();
    assert_non_null (limits);
    const char *ann = "11111111-0000-4000-8000-000000000001", *ben = "22222222-0000-4000-8000-000000000002";
    assert_int_equal (gw_sse_limits_take (limits, ann, 2, 3), GW_SSE_TAKEN);
    assert_int_equal (gw_sse_limits_take (limits, ann, 2, 3), GW_SSE_TAKEN);
    assert_int_equal (gw_sse_limits_take (limits, ann, 2, 3), GW_SSE_USER_FULL);
    assert_int_equal (gw_sse_limits_take (limits, ben, 2, 3), GW_SSE_TAKEN);
    assert_int_equal (gw_sse_limits_take (limits, ben, 2, 3), GW_SSE_FULL);
    gw_sse_limits_give (limits, ann);
    assert_int_equal (gw_sse_limits_take (limits, ben, 2, 3), GW_SSE_TAKEN);
    gw_sse_limits_give (limits, ann);
    gw_sse_limits_give (limits, ben);
    gw_sse_limits_give (limits, ben);
    gw_sse_limits_give (limits, ben);       //  one too many: ignored
    assert_int_equal (gw_sse_limits_take (limits, ann, 1, 1), GW_SSE_TAKEN);
    gw_sse_limits_destroy (&limits);
    assert_null (limits);
    gw_sse_limits_destroy (&limits);
}

static void
test_what_the_gateway_writes_reads_back_the_same (void **state)
{
    (void) state;
    struct evbuffer *out = evbuffer_new ();
    evbuffer_add_printf (out, "retry: 2000\n\n: keep-alive\n\n");
    assert_int_equal (gw_sse_format (out, 7, "watchlist.add", "{\"a\":1}\n{\"b\":2}"), 0);
    assert_int_equal (gw_sse_format (out, 8, "handoff", ""), 0);
    char *text = s_text (out);
    size_t at = 0, used = 0, comments = 0;
    int retry = -1;
    mg_sse_event_t event;
    assert_int_equal (mg_sse_parse (text + at, strlen (text + at), &event, &used, &comments, &retry), 0);
    assert_string_equal (event.id, "7");
    assert_string_equal (event.type, "watchlist.add");
    assert_string_equal (event.data, "{\"a\":1}\n{\"b\":2}");
    assert_int_equal (retry, 2000);
    assert_int_equal (comments, 1);
    mg_sse_event_free (&event);
    at += used;
    assert_int_equal (mg_sse_parse (text + at, strlen (text + at), &event, &used, &comments, &retry), 0);
    assert_string_equal (event.id, "8");
    assert_string_equal (event.data, "");
    mg_sse_event_free (&event);
    at += used;
    assert_int_equal (mg_sse_parse (text + at, strlen (text + at), &event, &used, &comments, &retry), 1);
    //  An event cut short is not an event yet.
    assert_int_equal (mg_sse_parse ("id: 9\nevent: x\ndata: {", 23, &event, &used, &comments, &retry), 1);
    free (text);
    evbuffer_free (out);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_an_event_is_id_type_data_and_a_blank_line),
        cmocka_unit_test (test_data_with_line_breaks_becomes_several_data_lines),
        cmocka_unit_test (test_last_event_id_is_a_plain_decimal_number),
        cmocka_unit_test (test_a_device_gets_others_changes_and_its_own_handoffs_only),
        cmocka_unit_test (test_streams_are_bounded_per_user_and_in_all),
        cmocka_unit_test (test_what_the_gateway_writes_reads_back_the_same),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
