/*  Gateway modules without a network: the route table and its matching,
    parameter binding and its errors, the JSON writer (byte for byte what
    jansson writes), the error-code table and the metrics text.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_json.h"
#include "gw_metrics.h"
#include "gw_respond.h"
#include "gw_routes.h"

//  Bind query (and body with content type) for route; returns 0 or -1 with fault.
static int
s_bind (const gw_route_t *route, const char *path, const char *query,
        const char *body, const char *content_type,
        uint8_t **out, size_t *out_len, gw_fault_t *fault)
{
    gw_match_t match = { 0 };
    assert_true (gw_routes_path_match (route->path, path, strlen (path), &match));
    match.route = route;
    struct evbuffer *input = evbuffer_new ();
    assert_non_null (input);
    if (body)
        evbuffer_add (input, body, strlen (body));
    int rc = gw_routes_bind (&match, query, strlen (query), input, content_type, NULL, NULL, NULL,
                             out, out_len, fault);
    evbuffer_free (input);
    return rc;
}

static void
test_route_table_is_consistent (void **state)
{
    (void) state;
    assert_int_equal (gw_routes_check (), 0);
    const char *const *services = gw_routes_services ();
    bool catalog = false;
    for (; *services; services++)
        catalog = catalog || strcmp (*services, "catalog") == 0;
    assert_true (catalog);
    for (size_t i = 0; i < gw_routes_count (); i++)
        assert_int_equal (gw_routes_index (gw_routes_at (i)), i);
    assert_int_equal (gw_routes_index (NULL), gw_routes_count ());
}

static void
test_resolve_gets_the_long_deadline (void **state)
{
    (void) state;
    gw_config_t config = { .request_timeout_ms = 5000, .long_timeout_ms = 10000 };
    gw_match_t match;
    const char *resolve = "/api/v1/resolve";
    assert_int_equal (gw_routes_match (EVHTTP_REQ_POST, resolve, strlen (resolve), &match), GW_MATCH_OK);
    assert_int_equal (gw_route_timeout_ms (match.route, &config), 10000);
    const char *genres = "/api/v1/genres";
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, genres, strlen (genres), &match), GW_MATCH_OK);
    assert_int_equal (gw_route_timeout_ms (match.route, &config), 5000);
}

static void
test_routes_match_method_and_path (void **state)
{
    (void) state;
    gw_match_t match;
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/health", 7, &match), GW_MATCH_OK);
    assert_string_equal (match.route->path, "/health");
    assert_int_equal (gw_routes_match (EVHTTP_REQ_HEAD, "/health", 7, &match), GW_MATCH_OK);
    const char *genres = "/api/v1/genres";
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, genres, strlen (genres), &match), GW_MATCH_OK);
    assert_string_equal (match.route->bus, "catalog.genres");
    assert_int_equal (gw_routes_match (EVHTTP_REQ_POST, genres, strlen (genres), &match),
                      GW_MATCH_NO_METHOD);
    assert_string_equal (match.allow, "GET, HEAD");
    assert_null (match.route);
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/api/v1/genres/", 15, &match), GW_MATCH_NO_PATH);
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/api/v1/genre", 13, &match), GW_MATCH_NO_PATH);
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/", 1, &match), GW_MATCH_NO_PATH);
}

static void
test_path_parameters_are_single_segments (void **state)
{
    (void) state;
    gw_match_t match;
    const char *path = "/content/abc%20d/similar";
    assert_true (gw_routes_path_match ("/content/{id}/similar", path, strlen (path), &match));
    assert_int_equal (match.nparams, 1);
    assert_int_equal (match.params [0].name_len, 2);
    assert_memory_equal (match.params [0].name, "id", 2);
    assert_int_equal (match.params [0].value_len, 7);
    assert_memory_equal (match.params [0].value, "abc%20d", 7);
    assert_false (gw_routes_path_match ("/content/{id}/similar", "/content//similar", 17, &match));
    assert_false (gw_routes_path_match ("/content/{id}", "/content/a/b", 12, &match));
    assert_true (gw_routes_path_match ("/a/{x}/b/{y}", "/a/1/b/2", 8, &match));
    assert_int_equal (match.nparams, 2);
}

static void
test_genres_route_binds_an_empty_request (void **state)
{
    (void) state;
    gw_match_t match;
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/api/v1/genres", 14, &match), GW_MATCH_OK);
    uint8_t *body = NULL;
    size_t len = 0;
    gw_fault_t fault;
    assert_int_equal (gw_routes_bind (&match, "", 0, NULL, NULL, NULL, NULL, NULL, &body, &len, &fault), 0);
    assert_non_null (body);
    mg_empty_t empty;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_decode (&mg_empty_desc, body, len, &empty, reason, sizeof reason), 0);
    free (body);
    //  Empty pairs are no parameters.
    assert_int_equal (gw_routes_bind (&match, "&&", 2, NULL, NULL, NULL, NULL, NULL, &body, &len, &fault), 0);
    free (body);
}

static void
test_unknown_query_parameter_is_named (void **state)
{
    (void) state;
    gw_match_t match;
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/api/v1/genres", 14, &match), GW_MATCH_OK);
    uint8_t *body = NULL;
    size_t len = 0;
    gw_fault_t fault;
    const char *query = "foo=1";
    assert_int_equal (gw_routes_bind (&match, query, strlen (query), NULL, NULL, NULL, NULL, NULL, &body, &len, &fault), -1);
    assert_null (body);
    assert_int_equal (fault.status, 400);
    assert_string_equal (fault.code, "INVALID_PARAMETER");
    assert_string_equal (fault.message, "unknown query parameter 'foo'");
    //  The name is decoded before it is named.
    query = "f%6Fo+bar";
    assert_int_equal (gw_routes_bind (&match, query, strlen (query), NULL, NULL, NULL, NULL, NULL, &body, &len, &fault), -1);
    assert_string_equal (fault.message, "unknown query parameter 'foo bar'");
    //  Ops routes take no parameters at all.
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/health", 7, &match), GW_MATCH_OK);
    assert_int_equal (gw_routes_bind (&match, "verbose", 7, NULL, NULL, NULL, NULL, NULL, &body, &len, &fault), -1);
    assert_string_equal (fault.message, "unknown query parameter 'verbose'");
}

static void
test_malformed_percent_encoding_is_rejected (void **state)
{
    (void) state;
    gw_match_t match;
    assert_int_equal (gw_routes_match (EVHTTP_REQ_GET, "/api/v1/genres", 14, &match), GW_MATCH_OK);
    uint8_t *body = NULL;
    size_t len = 0;
    gw_fault_t fault;
    const char *bad [] = { "a%zz=1", "a%2", "%00=1", "a%" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (gw_routes_bind (&match, bad [i], strlen (bad [i]), NULL, NULL, NULL, NULL, NULL,
                                          &body, &len, &fault), -1);
        assert_int_equal (fault.status, 400);
        assert_non_null (strstr (fault.message, "malformed percent-encoding"));
    }
}

static void
test_query_values_are_typed_by_the_request_message (void **state)
{
    (void) state;
    const gw_route_t route = { "GET", "/sleep", "test.sleep", &mg_sleep_request_desc, NULL,
                               NULL, 0, 200 };
    uint8_t *body = NULL;
    size_t len = 0;
    gw_fault_t fault;
    assert_int_equal (s_bind (&route, "/sleep", "ms=abc", NULL, NULL, &body, &len, &fault), -1);
    assert_int_equal (fault.status, 400);
    assert_string_equal (fault.message, "invalid query parameter 'ms': must be a non-negative integer");
    assert_int_equal (s_bind (&route, "/sleep", "ms=5&ms=6", NULL, NULL, &body, &len, &fault), -1);
    assert_string_equal (fault.message, "query parameter 'ms' is given more than once");
    assert_int_equal (s_bind (&route, "/sleep", "ms=%32%35", NULL, NULL, &body, &len, &fault), 0);
    mg_sleep_request_t sleep;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_decode (&mg_sleep_request_desc, body, len, &sleep, reason, sizeof reason), 0);
    assert_int_equal (sleep.ms, 25);
    free (body);
    //  A required field left out fails where the message is built.
    assert_int_equal (s_bind (&route, "/sleep", "", NULL, NULL, &body, &len, &fault), -1);
    assert_int_equal (fault.status, 400);
}

static void
test_path_parameters_bind_fields_and_are_not_query_parameters (void **state)
{
    (void) state;
    const gw_route_t route = { "GET", "/services/{service}", "mmi.service",
                               &mg_mmi_service_request_desc, NULL, NULL, 0, 200 };
    uint8_t *body = NULL;
    size_t len = 0;
    gw_fault_t fault;
    assert_int_equal (s_bind (&route, "/services/cat%61log", "", NULL, NULL, &body, &len, &fault), 0);
    mg_mmi_service_request_t request;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_decode (&mg_mmi_service_request_desc, body, len, &request,
                                     reason, sizeof reason), 0);
    assert_string_equal (request.service, "catalog");
    mg_msg_clear (&mg_mmi_service_request_desc, &request);
    free (body);
    assert_int_equal (s_bind (&route, "/services/catalog", "service=x", NULL, NULL,
                              &body, &len, &fault), -1);
    assert_string_equal (fault.message, "unknown query parameter 'service'");
}

static void
test_json_body_needs_json_content_type (void **state)
{
    (void) state;
    const gw_route_t route = { "POST", "/sleep", "test.sleep", &mg_sleep_request_desc, NULL,
                               NULL, GW_ROUTE_BODY, 200 };
    uint8_t *body = NULL;
    size_t len = 0;
    gw_fault_t fault;
    assert_int_equal (s_bind (&route, "/sleep", "", "{\"ms\":7}", "text/plain", &body, &len, &fault), -1);
    assert_int_equal (fault.status, 415);
    assert_string_equal (fault.code, "UNSUPPORTED_MEDIA_TYPE");
    assert_int_equal (s_bind (&route, "/sleep", "", "{\"ms\":7}", NULL, &body, &len, &fault), -1);
    assert_int_equal (fault.status, 415);
    assert_int_equal (s_bind (&route, "/sleep", "", "{\"ms\":7", "application/json", &body, &len, &fault), -1);
    assert_int_equal (fault.status, 400);
    assert_string_equal (fault.code, "INVALID_JSON");
    assert_int_equal (s_bind (&route, "/sleep", "", "[1]", "application/json", &body, &len, &fault), -1);
    assert_string_equal (fault.code, "INVALID_JSON");
    assert_int_equal (s_bind (&route, "/sleep", "", "{\"ms\":\"x\"}", "application/json", &body, &len, &fault), -1);
    assert_string_equal (fault.code, "INVALID_PARAMETER");
    assert_int_equal (s_bind (&route, "/sleep", "", "{\"ms\":7}", "Application/JSON; charset=utf-8",
                              &body, &len, &fault), 0);
    mg_sleep_request_t sleep;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_decode (&mg_sleep_request_desc, body, len, &sleep, reason, sizeof reason), 0);
    assert_int_equal (sleep.ms, 7);
    free (body);
}

//  gw_json_append of json must equal jansson's compact dump.
static void
s_assert_same_json (json_t *json)
{
    char *expected = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null (expected);
    struct evbuffer *out = evbuffer_new ();
    assert_int_equal (gw_json_append (out, json), 0);
    size_t len = evbuffer_get_length (out);
    char *text = calloc (1, len + 1);
    evbuffer_remove (out, text, len);
    assert_string_equal (text, expected);
    free (text);
    free (expected);
    evbuffer_free (out);
    json_decref (json);
}

static void
test_json_writer_matches_jansson (void **state)
{
    (void) state;
    s_assert_same_json (json_pack ("{s:[{s:i,s:s,s:s}]}", "results", "id", 1, "slug", "action",
                                   "name", "Action"));
    s_assert_same_json (json_pack ("{s:s,s:s,s:s}", "quote", "say \"hi\"\\", "control", "a\tb\nc\x01\x1f",
                                   "unicode", "Am\xc3\xa9lie \xe2\x82\xac \xf0\x9f\x8e\xac /"));
    s_assert_same_json (json_pack ("[I,I,i,b,b,n]", (json_int_t) INT64_MAX, (json_int_t) INT64_MIN, 0,
                                   1, 0));
    s_assert_same_json (json_pack ("{s:{},s:[],s:[[[]]]}", "a", "b", "c"));
}

//  Text of out (caller frees).
static char *
s_drain (struct evbuffer *out)
{
    size_t len = evbuffer_get_length (out);
    char *text = calloc (1, len + 1);
    assert_non_null (text);
    evbuffer_remove (out, text, len);
    return text;
}

//  gw_msg_append of the message json_text (of desc) must equal the JSON
//  writer's text of mg_msg_to_json, and, with nulls, write empty items as null.
static void
s_assert_msg_writer (const mg_msgdesc_t *desc, const char *json_text, const char *expected_with_nulls)
{
    json_error_t jerr;
    json_t *json = json_loads (json_text, 0, &jerr);
    assert_non_null (json);
    alignas (max_align_t) unsigned char storage [GW_MSG_STORAGE];
    char err [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_from_json (desc, json, storage, err, sizeof err), 0);
    json_decref (json);
    struct evbuffer *a = evbuffer_new (), *b = evbuffer_new ();
    json_t *converted = mg_msg_to_json (desc, storage);
    assert_int_equal (gw_json_append (a, converted), 0);
    assert_int_equal (gw_msg_append (b, desc, storage, false), 0);
    char *via_jansson = s_drain (a), *direct = s_drain (b);
    assert_string_equal (direct, via_jansson);
    if (expected_with_nulls) {
        assert_int_equal (gw_msg_append (b, desc, storage, true), 0);
        char *with_nulls = s_drain (b);
        assert_string_equal (with_nulls, expected_with_nulls);
        free (with_nulls);
    }
    free (via_jansson);
    free (direct);
    json_decref (converted);
    evbuffer_free (a);
    evbuffer_free (b);
    mg_msg_clear (desc, storage);
}

static void
test_msg_writer_matches_the_json_path (void **state)
{
    (void) state;
    s_assert_msg_writer (&mg_genres_reply_desc,
        "{\"results\":[{\"id\":1,\"slug\":\"action\",\"name\":\"Action \\\"&\\\" Adventure\"},"
        "{\"id\":2,\"slug\":\"science-fiction\",\"name\":\"Sci\u00e9nce\\n\"}]}", NULL);
    s_assert_msg_writer (&mg_genres_reply_desc, "{\"results\":[]}", NULL);
    s_assert_msg_writer (&mg_resolve_reply_desc,
        "{\"results\":[{\"id\":\"00000000-0000-4000-8000-000000000001\",\"tmdb_id\":603,\"tier\":3,"
        "\"confidence\":0.97},{}],\"errors\":[{\"index\":1,\"message\":\"title missing\"}]}",
        "{\"results\":[{\"id\":\"00000000-0000-4000-8000-000000000001\",\"tmdb_id\":603,\"tier\":3,"
        "\"confidence\":0.97},null],\"errors\":[{\"index\":1,\"message\":\"title missing\"}]}");
    s_assert_msg_writer (&mg_raw_record_desc,
        "{\"source\":\"tmdb\",\"source_id\":\"1\",\"title\":\"T\",\"tmdb\":-5,\"popularity\":3.99,"
        "\"genres\":[\"a\",\"b\"],\"keywords\":[],\"cast\":[{\"name\":\"N\",\"order\":0}]}", NULL);
}

//  Reals: the fewest digits (15-17) that read back exactly, unlike jansson's %.17g.
static void
test_json_writer_prints_reals_short_and_exact (void **state)
{
    (void) state;
    struct { double value; const char *text; } cases [] = {
        { 1.0, "1.0" }, { 0.1, "0.1" }, { 3.99, "3.99" }, { -2.5e-7, "-2.5e-7" }, { 1e300, "1e300" },
        { 3.14159, "3.14159" }, { -0.0, "-0.0" }, { 0.1 + 0.2, "0.30000000000000004" },
        { 123456789012345680000.0, "1.2345678901234568e20" }, { 5e-324, "4.94065645841247e-324" }
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *json = json_real (cases [i].value);
        struct evbuffer *out = evbuffer_new ();
        assert_int_equal (gw_json_append (out, json), 0);
        size_t len = evbuffer_get_length (out);
        char text [64] = "";
        assert_true (len < sizeof text);
        evbuffer_remove (out, text, len);
        assert_string_equal (text, cases [i].text);
        assert_true (strtod (text, NULL) == cases [i].value);
        evbuffer_free (out);
        json_decref (json);
    }
}

static void
test_json_string_escapes_invalid_utf8 (void **state)
{
    (void) state;
    struct evbuffer *out = evbuffer_new ();
    const char raw [] = "bad\xff\xc3(\"q\"\n\xe2\x82\xac";
    gw_json_append_string (out, raw, sizeof raw - 1);
    size_t len = evbuffer_get_length (out);
    char *text = calloc (1, len + 1);
    evbuffer_remove (out, text, len);
    json_error_t error;
    json_t *parsed = json_loads (text, JSON_DECODE_ANY, &error);
    assert_non_null (parsed);
    assert_string_equal (json_string_value (parsed), "bad\xef\xbf\xbd\xef\xbf\xbd(\"q\"\n\xe2\x82\xac");
    json_decref (parsed);
    free (text);
    evbuffer_free (out);
}

static void
test_bus_error_codes_map_to_statuses (void **state)
{
    (void) state;
    assert_int_equal (gw_status_for_code ("NOT_FOUND"), 404);
    assert_int_equal (gw_status_for_code ("INVALID_PARAMETER"), 400);
    assert_int_equal (gw_status_for_code ("BAD_REQUEST"), 400);
    assert_int_equal (gw_status_for_code ("CONFLICT"), 409);
    assert_int_equal (gw_status_for_code ("UNAUTHORIZED"), 401);
    assert_int_equal (gw_status_for_code ("RATE_LIMITED"), 429);
    assert_int_equal (gw_status_for_code ("SERVICE_UNAVAILABLE"), 503);
    assert_int_equal (gw_status_for_code ("SERVICE_BUSY"), 503);
    assert_int_equal (gw_status_for_code ("WORKER_LOST"), 503);
    assert_int_equal (gw_status_for_code ("DEADLINE_EXCEEDED"), 504);
    assert_int_equal (gw_status_for_code ("SOMETHING_NEW"), 500);
    assert_int_equal (gw_status_for_code (NULL), 500);
}

static void
test_metrics_sum_threads (void **state)
{
    (void) state;
    gw_metrics_t *threads [2] = { gw_metrics_new (gw_routes_count ()), gw_metrics_new (gw_routes_count ()) };
    assert_non_null (threads [0]);
    assert_non_null (threads [1]);
    gw_metrics_request (threads [0], 0, 200, 300);
    gw_metrics_request (threads [1], 0, 200, 3000);
    gw_metrics_request (threads [1], gw_routes_count (), 404, 10);
    gw_metrics_bus (threads [0], 3, GW_BUS_TIMEOUT, 5000000);
    gw_metrics_in_flight (threads [0], 2);
    gw_metrics_in_flight (threads [1], 1);
    struct evbuffer *out = evbuffer_new ();
    gw_metrics_render (threads, 2, out);
    size_t len = evbuffer_get_length (out);
    char *text = calloc (1, len + 1);
    evbuffer_remove (out, text, len);
    const gw_route_t *first = gw_routes_at (0);
    char line [256];
    snprintf (line, sizeof line, "mg_gateway_http_requests_total{method=\"%s\",route=\"%s\",status=\"200\"} 2\n",
              first->method, first->path);
    assert_non_null (strstr (text, line));
    assert_non_null (strstr (text, "route=\"unmatched\",status=\"404\"} 1\n"));
    snprintf (line, sizeof line, "mg_gateway_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"0.0005\"} 1\n",
              first->method, first->path);
    assert_non_null (strstr (text, line));
    snprintf (line, sizeof line, "mg_gateway_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} 2\n",
              first->method, first->path);
    assert_non_null (strstr (text, line));
    assert_non_null (strstr (text, "outcome=\"timeout\"} 1\n"));
    assert_non_null (strstr (text, "mg_gateway_http_requests_in_flight 3\n"));
    free (text);
    evbuffer_free (out);
    gw_metrics_destroy (&threads [0]);
    gw_metrics_destroy (&threads [1]);
    assert_null (threads [0]);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_route_table_is_consistent),
        cmocka_unit_test (test_routes_match_method_and_path),
        cmocka_unit_test (test_resolve_gets_the_long_deadline),
        cmocka_unit_test (test_path_parameters_are_single_segments),
        cmocka_unit_test (test_genres_route_binds_an_empty_request),
        cmocka_unit_test (test_unknown_query_parameter_is_named),
        cmocka_unit_test (test_malformed_percent_encoding_is_rejected),
        cmocka_unit_test (test_query_values_are_typed_by_the_request_message),
        cmocka_unit_test (test_path_parameters_bind_fields_and_are_not_query_parameters),
        cmocka_unit_test (test_json_body_needs_json_content_type),
        cmocka_unit_test (test_json_writer_matches_jansson),
        cmocka_unit_test (test_json_writer_prints_reals_short_and_exact),
        cmocka_unit_test (test_msg_writer_matches_the_json_path),
        cmocka_unit_test (test_json_string_escapes_invalid_utf8),
        cmocka_unit_test (test_bus_error_codes_map_to_statuses),
        cmocka_unit_test (test_metrics_sum_threads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
