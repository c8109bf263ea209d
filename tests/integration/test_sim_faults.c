/*  mg-provider-sim's faults, quotas, conditional requests and latency, on a
    real simulator: each fault kind answered as the provider would, per-key
    quotas and their headers, ETag/304, latency and held requests that never
    block other callers. Quotas are small here (MG_SIM_QUOTA) so that
    exhausting them takes a few calls.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "mg_http.h"
#include "mg_test.h"

#define HTTP_TIMEOUT_MS     30000
#define START_TIMEOUT_MS    60000
#define HELD_TIMEOUT_MS     1500    //  the client gives up on a held request after this
#define LONG_DELAY_MS       60000   //  longer than any test: the answer is still pending

typedef struct {
    pid_t sim;
    int port;
    int sockets [4];                //  raw connections left waiting for an answer
    int socket_count;
} fixture_t;

static fixture_t s_fixture;

//  GET/POST/DELETE path; returns the status, fills *doc (parsed body or NULL)
//  and the reply when wanted (caller frees).
static int
s_call (fixture_t *self, const char *method, const char *path, const char *headers, const char *body,
        json_t **doc, mg_http_reply_t *keep)
{
    mg_http_reply_t reply = { 0 };
    assert_int_equal (mg_http_request (self->port, method, path, headers, body, &reply, HTTP_TIMEOUT_MS), 0);
    int status = reply.status;
    if (doc)
        *doc = reply.body ? json_loads (reply.body, JSON_DECODE_ANY, NULL) : NULL;
    if (keep)
        *keep = reply;
    else
        mg_http_reply_free (&reply);
    return status;
}

//  POST an admin body; the admin API must accept it.
static void
s_admin (fixture_t *self, const char *path, const char *body)
{
    json_t *doc;
    int status = s_call (self, "POST", path, "", body, &doc, NULL);
    if (status != 200)
        fail_msg ("%s %s: status %d", path, body, status);
    json_decref (doc);
}

//  The stats number at providers.<provider>.<field> (or a top-level field).
static json_int_t
s_stat (fixture_t *self, const char *provider, const char *field)
{
    json_t *doc;
    assert_int_equal (s_call (self, "GET", "/_sim/stats", "", NULL, &doc, NULL), 200);
    const json_t *from = provider ? json_object_get (json_object_get (doc, "providers"), provider) : doc;
    json_t *value = json_object_get (from, field);
    assert_true (json_is_integer (value));
    json_int_t n = json_integer_value (value);
    json_decref (doc);
    return n;
}

//  Send a request on a raw connection and leave it waiting.
static void
s_send_and_leave (fixture_t *self, const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) self->port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    char request [512];
    int n = snprintf (request, sizeof request, "GET %s HTTP/1.1\r\nHost: sim\r\n\r\n", path);
    assert_int_equal (write (fd, request, (size_t) n), n);
    assert_true (self->socket_count < 4);
    self->sockets [self->socket_count++] = fd;
}

//  Wait until the simulator holds pending answers.
static void
s_wait_pending (fixture_t *self, json_int_t pending)
{
    int64_t deadline = mg_test_now_ms () + HTTP_TIMEOUT_MS;
    while (s_stat (self, NULL, "pending") < pending && mg_test_now_ms () < deadline)
        usleep (20 * 1000);
    assert_int_equal (s_stat (self, NULL, "pending"), pending);
}

static int
group_setup (void **state)
{
    fixture_t *self = &s_fixture;
    memset (self, 0, sizeof *self);
    self->port = mg_test_free_port ();
    char port [32], catalog [512];
    snprintf (port, sizeof port, "MG_SIM_PORT=%d", self->port);
    snprintf (catalog, sizeof catalog, "MG_SIM_CATALOG=%s/data/catalog.jsonl.gz", MG_SOURCE_DIR);
    const char *env [] = { port, catalog, "MG_SIM_QUOTA=youtube=250,watchmode=3,sa=2", "MG_SIM_SEED=7", NULL };
    self->sim = mg_test_spawn ("mg-provider-sim", env);
    assert_true (self->sim > 0);
    int64_t deadline = mg_test_now_ms () + START_TIMEOUT_MS;
    mg_http_reply_t reply = { 0 };
    while (mg_test_now_ms () < deadline) {
        if (mg_http_request (self->port, "GET", "/_sim/stats", "", NULL, &reply, 1000) == 0 && reply.status == 200)
            break;
        mg_http_reply_free (&reply);
        usleep (100 * 1000);
    }
    assert_int_equal (reply.status, 200);
    mg_http_reply_free (&reply);
    *state = self;
    return 0;
}

static int
group_teardown (void **state)
{
    fixture_t *self = *state;
    //  SIGTERM with answers still pending and requests held: a clean exit.
    int status = mg_test_stop (self->sim, SIGTERM);
    for (int i = 0; i < self->socket_count; i++)
        close (self->sockets [i]);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    return 0;
}

//  Each test starts with no faults, stats, quota use or latency.
static int
setup (void **state)
{
    fixture_t *self = *state;
    s_admin (self, "/_sim/reset", "{}");
    s_admin (self, "/_sim/latency", "{\"ms\":0}");
    return 0;
}

static void
test_429_fault_answers_with_retry_after_then_clears (void **state)
{
    fixture_t *self = *state;
    s_admin (self, "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"429\",\"count\":1,\"retry_after\":7}");
    mg_http_reply_t reply;
    json_t *doc;
    assert_int_equal (s_call (self, "GET", "/tmdb/3/genre/movie/list?api_key=k", "", NULL, &doc, &reply), 429);
    char value [32];
    assert_true (mg_http_header (&reply, "Retry-After", value, sizeof value));
    assert_string_equal (value, "7");
    assert_int_equal (json_integer_value (json_object_get (doc, "status_code")), 25);
    assert_true (json_is_false (json_object_get (doc, "success")));
    mg_http_reply_free (&reply);
    json_decref (doc);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/genre/movie/list?api_key=k", "", NULL, NULL, NULL), 200);
    assert_int_equal (s_stat (self, "tmdb", "faults"), 1);
    assert_int_equal (s_stat (self, "tmdb", "requests"), 2);
}

static void
test_5xx_faults_answer_each_providers_error_body (void **state)
{
    fixture_t *self = *state;
    json_t *doc;
    s_admin (self, "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"500\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", "", NULL, &doc, NULL), 500);
    assert_int_equal (json_integer_value (json_object_get (doc, "status_code")), 11);
    json_decref (doc);
    s_admin (self, "/_sim/faults", "{\"provider\":\"sa\",\"fault\":\"502\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/sa/shows/tt1000005", "X-RapidAPI-Key: k\r\n", NULL, &doc, NULL), 502);
    assert_non_null (strstr (json_string_value (json_object_get (doc, "messages")), "unreachable"));
    json_decref (doc);
    s_admin (self, "/_sim/faults", "{\"provider\":\"youtube\",\"fault\":\"503\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/youtube/v3/videos?part=snippet&id=x&key=k", "", NULL, &doc, NULL), 503);
    assert_string_equal (json_string_value (json_object_get (json_object_get (doc, "error"), "status")), "UNAVAILABLE");
    json_decref (doc);
    s_admin (self, "/_sim/faults", "{\"provider\":\"watchmode\",\"fault\":\"500\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/watchmode/v1/sources/?apiKey=k", "", NULL, &doc, NULL), 500);
    assert_int_equal (json_integer_value (json_object_get (doc, "statusCode")), 500);
    json_decref (doc);
    s_admin (self, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"503\",\"count\":1}");
    assert_int_equal (s_call (self, "POST", "/openai/v1/embeddings", "Authorization: Bearer k\r\n",
                              "{\"model\":\"text-embedding-3-small\",\"input\":\"x\"}", &doc, NULL), 503);
    assert_string_equal (json_string_value (json_object_get (json_object_get (doc, "error"), "type")), "server_error");
    json_decref (doc);
}

static void
test_quota_fault_answers_as_each_provider_does (void **state)
{
    fixture_t *self = *state;
    json_t *doc;
    s_admin (self, "/_sim/faults", "{\"provider\":\"youtube\",\"fault\":\"quota\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/youtube/v3/videos?part=snippet&id=x&key=k", "", NULL, &doc, NULL), 403);
    json_t *first = json_array_get (json_object_get (json_object_get (doc, "error"), "errors"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "reason")), "quotaExceeded");
    assert_string_equal (json_string_value (json_object_get (first, "domain")), "youtube.quota");
    json_decref (doc);
    s_admin (self, "/_sim/faults", "{\"provider\":\"watchmode\",\"fault\":\"quota\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/watchmode/v1/sources/?apiKey=k", "", NULL, &doc, NULL), 429);
    assert_true (json_is_false (json_object_get (doc, "success")));
    json_decref (doc);
    s_admin (self, "/_sim/faults", "{\"provider\":\"sa\",\"fault\":\"quota\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/sa/shows/tt1000005", "X-RapidAPI-Key: k\r\n", NULL, &doc, NULL), 429);
    assert_non_null (strstr (json_string_value (json_object_get (doc, "message")), "MONTHLY quota"));
    json_decref (doc);
    s_admin (self, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"quota\",\"count\":1}");
    assert_int_equal (s_call (self, "POST", "/openai/v1/embeddings", "Authorization: Bearer k\r\n",
                              "{\"model\":\"text-embedding-3-small\",\"input\":\"x\"}", &doc, NULL), 429);
    assert_string_equal (json_string_value (json_object_get (json_object_get (doc, "error"), "code")), "insufficient_quota");
    json_decref (doc);
}

//  A held request never gets an answer, and the loop keeps serving others.
static void
test_timeout_fault_holds_the_request_without_blocking_others (void **state)
{
    fixture_t *self = *state;
    s_admin (self, "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"timeout\",\"count\":1}");
    mg_http_reply_t reply = { 0 };
    assert_int_equal (mg_http_request (self->port, "GET", "/tmdb/3/genre/movie/list?api_key=k", "", NULL,
                                       &reply, HELD_TIMEOUT_MS), -1);
    mg_http_reply_free (&reply);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/genre/movie/list?api_key=k", "", NULL, NULL, NULL), 200);
    assert_int_equal (s_stat (self, "tmdb", "faults"), 1);
}

//  Latency and slow answers wait on timers: while one waits, others are served.
static void
test_latency_and_slow_fault_delay_answers_without_blocking (void **state)
{
    fixture_t *self = *state;
    json_int_t before = s_stat (self, NULL, "pending");
    char body [128];
    snprintf (body, sizeof body, "{\"ms\":%d,\"provider\":\"tmdb\"}", LONG_DELAY_MS);
    s_admin (self, "/_sim/latency", body);
    assert_int_equal (s_stat (self, "tmdb", "latency_ms"), LONG_DELAY_MS);
    assert_int_equal (s_stat (self, "sa", "latency_ms"), 0);
    s_send_and_leave (self, "/tmdb/3/genre/movie/list?api_key=k");
    s_wait_pending (self, before + 1);
    assert_int_equal (s_call (self, "GET", "/sa/shows/tt1000005", "X-RapidAPI-Key: k\r\n", NULL, NULL, NULL), 200);
    snprintf (body, sizeof body, "{\"provider\":\"watchmode\",\"fault\":\"slow\",\"count\":1,\"delay_ms\":%d}", LONG_DELAY_MS);
    s_admin (self, "/_sim/faults", body);
    s_send_and_leave (self, "/watchmode/v1/sources/?apiKey=k");
    s_wait_pending (self, before + 2);
    //  A short latency still answers.
    s_admin (self, "/_sim/latency", "{\"ms\":50}");
    assert_int_equal (s_stat (self, NULL, "latency_ms"), 50);
    assert_int_equal (s_call (self, "GET", "/youtube/v3/videos?part=snippet&id=x&key=k", "", NULL, NULL, NULL), 200);
}

static void
test_malformed_and_truncated_faults_send_bodies_that_do_not_parse (void **state)
{
    fixture_t *self = *state;
    mg_http_reply_t whole, cut, bad;
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", "", NULL, NULL, &whole), 200);
    s_admin (self, "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"truncated\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", "", NULL, NULL, &cut), 200);
    assert_true (cut.body_len > 0 && cut.body_len < whole.body_len);
    assert_memory_equal (cut.body, whole.body, cut.body_len);
    assert_null (json_loads (cut.body, 0, NULL));
    s_admin (self, "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"malformed\",\"count\":1}");
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", "", NULL, NULL, &bad), 200);
    assert_true (bad.body_len > 0);
    assert_null (json_loads (bad.body, 0, NULL));
    mg_http_reply_free (&whole);
    mg_http_reply_free (&cut);
    mg_http_reply_free (&bad);
}

//  rate hits some requests, not all, and stats count each hit.
static void
test_fault_rate_hits_a_share_of_requests (void **state)
{
    fixture_t *self = *state;
    s_admin (self, "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"503\",\"rate\":0.5}");
    int failed = 0;
    for (int i = 0; i < 40; i++)
        failed += s_call (self, "GET", "/tmdb/3/genre/tv/list?api_key=k", "", NULL, NULL, NULL) == 503;
    assert_true (failed >= 5 && failed <= 35);
    assert_int_equal (s_stat (self, "tmdb", "faults"), failed);
    assert_int_equal (s_call (self, "DELETE", "/_sim/faults?provider=tmdb", "", NULL, NULL, NULL), 200);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/genre/tv/list?api_key=k", "", NULL, NULL, NULL), 200);
}

//  search.list costs 100 units, videos.list 1, per key (quota 250 here).
static void
test_youtube_quota_is_counted_in_units_per_key (void **state)
{
    fixture_t *self = *state;
    const char *search_a = "/youtube/v3/search?part=snippet&q=Avatar&type=video&key=alpha";
    assert_int_equal (s_call (self, "GET", search_a, "", NULL, NULL, NULL), 200);
    assert_int_equal (s_call (self, "GET", search_a, "", NULL, NULL, NULL), 200);
    json_t *doc;
    assert_int_equal (s_call (self, "GET", search_a, "", NULL, &doc, NULL), 403);
    json_t *first = json_array_get (json_object_get (json_object_get (doc, "error"), "errors"), 0);
    assert_string_equal (json_string_value (json_object_get (first, "reason")), "quotaExceeded");
    json_decref (doc);
    //  200 units used: a 1-unit call still fits; another key is untouched.
    assert_int_equal (s_call (self, "GET", "/youtube/v3/videos?part=snippet&id=x&key=alpha", "", NULL, NULL, NULL), 200);
    assert_int_equal (s_call (self, "GET", "/youtube/v3/search?part=snippet&q=Avatar&type=video&key=beta",
                              "", NULL, NULL, NULL), 200);
    json_t *stats;
    assert_int_equal (s_call (self, "GET", "/_sim/stats", "", NULL, &stats, NULL), 200);
    json_t *youtube = json_object_get (json_object_get (stats, "providers"), "youtube");
    assert_int_equal (json_integer_value (json_object_get (json_object_get (youtube, "by_key"), "alpha")), 4);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (youtube, "quota_used"), "alpha")), 201);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (youtube, "quota_used"), "beta")), 100);
    json_decref (stats);
}

static void
test_watchmode_quota_headers_count_every_call (void **state)
{
    fixture_t *self = *state;
    char value [32], expected [8];
    for (int i = 1; i <= 3; i++) {
        mg_http_reply_t reply;
        assert_int_equal (s_call (self, "GET", "/watchmode/v1/sources/?apiKey=wm", "", NULL, NULL, &reply), 200);
        assert_true (mg_http_header (&reply, "X-Account-Quota", value, sizeof value));
        assert_string_equal (value, "3");
        assert_true (mg_http_header (&reply, "X-Account-Quota-Used", value, sizeof value));
        snprintf (expected, sizeof expected, "%d", i);
        assert_string_equal (value, expected);
        mg_http_reply_free (&reply);
    }
    json_t *doc;
    assert_int_equal (s_call (self, "GET", "/watchmode/v1/sources/?apiKey=wm", "", NULL, &doc, NULL), 429);
    assert_int_equal (json_integer_value (json_object_get (doc, "statusCode")), 429);
    assert_true (json_is_false (json_object_get (doc, "success")));
    json_decref (doc);
}

static void
test_streaming_availability_rate_limit_headers_then_429 (void **state)
{
    fixture_t *self = *state;
    char value [32];
    for (int i = 0; i < 2; i++) {
        mg_http_reply_t reply;
        assert_int_equal (s_call (self, "GET", "/sa/shows/tt1000005", "X-RapidAPI-Key: rl\r\n", NULL, NULL, &reply), 200);
        assert_true (mg_http_header (&reply, "X-RateLimit-Requests-Limit", value, sizeof value));
        assert_string_equal (value, "2");
        assert_true (mg_http_header (&reply, "X-RateLimit-Requests-Remaining", value, sizeof value));
        assert_string_equal (value, i == 0 ? "1" : "0");
        assert_true (mg_http_header (&reply, "X-RateLimit-Requests-Reset", value, sizeof value));
        mg_http_reply_free (&reply);
    }
    json_t *doc;
    assert_int_equal (s_call (self, "GET", "/sa/shows/tt1000005", "X-RapidAPI-Key: rl\r\n", NULL, &doc, NULL), 429);
    assert_string_equal (json_string_value (json_object_get (doc, "message")), "Too many requests");
    json_decref (doc);
    assert_int_equal (s_call (self, "GET", "/sa/shows/tt1000005", "X-RapidAPI-Key: other\r\n", NULL, NULL, NULL), 200);
}

static void
test_tmdb_etag_and_if_none_match_answer_304 (void **state)
{
    fixture_t *self = *state;
    mg_http_reply_t reply;
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", "", NULL, NULL, &reply), 200);
    char etag [64], header [128];
    assert_true (mg_http_header (&reply, "ETag", etag, sizeof etag));
    mg_http_reply_free (&reply);
    snprintf (header, sizeof header, "If-None-Match: %s\r\n", etag);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", header, NULL, NULL, &reply), 304);
    assert_int_equal (reply.body_len, 0);
    mg_http_reply_free (&reply);
    snprintf (header, sizeof header, "If-None-Match: W/%s\r\n", etag);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", header, NULL, NULL, NULL), 304);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", "If-None-Match: \"0\"\r\n", NULL, NULL, NULL), 200);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/11?api_key=k", header, NULL, NULL, NULL), 200);
    assert_int_equal (s_stat (self, "tmdb", "not_modified"), 2);
}

static void
test_missing_or_invalid_keys_answer_each_providers_auth_error (void **state)
{
    fixture_t *self = *state;
    json_t *doc;
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5", "", NULL, &doc, NULL), 401);
    assert_int_equal (json_integer_value (json_object_get (doc, "status_code")), 7);
    json_decref (doc);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5", "Authorization: Bearer invalid-token\r\n", NULL, NULL, NULL), 401);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5", "Authorization: Bearer good-token\r\n", NULL, NULL, NULL), 200);
    assert_int_equal (s_call (self, "GET", "/youtube/v3/videos?part=snippet&id=x&key=invalid", "", NULL, &doc, NULL), 400);
    assert_string_equal (json_string_value (json_object_get (json_object_get (doc, "error"), "status")), "INVALID_ARGUMENT");
    json_decref (doc);
    assert_int_equal (s_call (self, "GET", "/sa/shows/tt1000005", "", NULL, NULL, NULL), 401);
    assert_int_equal (s_call (self, "GET", "/watchmode/v1/sources/", "", NULL, NULL, NULL), 401);
    assert_int_equal (s_call (self, "POST", "/openai/v1/embeddings", "Authorization: Bearer invalid-sk\r\n",
                              "{\"model\":\"text-embedding-3-small\",\"input\":\"x\"}", &doc, NULL), 401);
    assert_string_equal (json_string_value (json_object_get (json_object_get (doc, "error"), "code")), "invalid_api_key");
    json_decref (doc);
}

//  Bad admin bodies: 400 naming the field, nothing changed.
static void
test_admin_rejects_malformed_settings (void **state)
{
    fixture_t *self = *state;
    static const struct { const char *path, *body, *names; } cases [] = {
        { "/_sim/faults", "{", "body" },
        { "/_sim/faults", "[]", "body" },
        { "/_sim/faults", "{\"provider\":\"imdb\",\"fault\":\"500\"}", "provider" },
        { "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"418\"}", "fault" },
        { "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"500\",\"rate\":2}", "rate" },
        { "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"500\",\"count\":0}", "count" },
        { "/_sim/faults", "{\"provider\":\"tmdb\",\"fault\":\"500\",\"colour\":1}", "colour" },
        { "/_sim/latency", "{\"ms\":-1}", "ms" },
        { "/_sim/latency", "{\"ms\":5,\"provider\":3}", "provider" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *doc;
        assert_int_equal (s_call (self, "POST", cases [i].path, "", cases [i].body, &doc, NULL), 400);
        json_t *error = json_object_get (doc, "error");
        assert_string_equal (json_string_value (json_object_get (error, "code")), "BAD_REQUEST");
        if (!strstr (json_string_value (json_object_get (error, "message")), cases [i].names))
            fail_msg ("%s: message '%s' does not name %s", cases [i].body,
                      json_string_value (json_object_get (error, "message")), cases [i].names);
        json_decref (doc);
    }
    assert_int_equal (s_call (self, "DELETE", "/_sim/faults?provider=imdb", "", NULL, NULL, NULL), 400);
    assert_int_equal (s_call (self, "GET", "/_sim/nothing", "", NULL, NULL, NULL), 404);
    assert_int_equal (s_call (self, "GET", "/_sim/faults", "", NULL, NULL, NULL), 405);
    assert_int_equal (s_call (self, "GET", "/nowhere", "", NULL, NULL, NULL), 404);
    assert_int_equal (s_call (self, "GET", "/tmdb/3/movie/5?api_key=k", "", NULL, NULL, NULL), 200);
}

static void
test_reset_clears_stats_faults_and_quotas (void **state)
{
    fixture_t *self = *state;
    for (int i = 0; i < 3; i++)
        s_call (self, "GET", "/watchmode/v1/sources/?apiKey=r", "", NULL, NULL, NULL);
    s_admin (self, "/_sim/faults", "{\"provider\":\"watchmode\",\"fault\":\"500\"}");
    assert_int_equal (s_call (self, "GET", "/watchmode/v1/sources/?apiKey=r", "", NULL, NULL, NULL), 500);
    s_admin (self, "/_sim/reset", "{}");
    assert_int_equal (s_stat (self, "watchmode", "requests"), 0);
    assert_int_equal (s_stat (self, "watchmode", "faults"), 0);
    assert_int_equal (s_call (self, "GET", "/watchmode/v1/sources/?apiKey=r", "", NULL, NULL, NULL), 200);
    assert_int_equal (s_stat (self, "watchmode", "requests"), 1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup (test_429_fault_answers_with_retry_after_then_clears, setup),
        cmocka_unit_test_setup (test_5xx_faults_answer_each_providers_error_body, setup),
        cmocka_unit_test_setup (test_quota_fault_answers_as_each_provider_does, setup),
        cmocka_unit_test_setup (test_timeout_fault_holds_the_request_without_blocking_others, setup),
        cmocka_unit_test_setup (test_latency_and_slow_fault_delay_answers_without_blocking, setup),
        cmocka_unit_test_setup (test_malformed_and_truncated_faults_send_bodies_that_do_not_parse, setup),
        cmocka_unit_test_setup (test_fault_rate_hits_a_share_of_requests, setup),
        cmocka_unit_test_setup (test_youtube_quota_is_counted_in_units_per_key, setup),
        cmocka_unit_test_setup (test_watchmode_quota_headers_count_every_call, setup),
        cmocka_unit_test_setup (test_streaming_availability_rate_limit_headers_then_429, setup),
        cmocka_unit_test_setup (test_tmdb_etag_and_if_none_match_answer_304, setup),
        cmocka_unit_test_setup (test_missing_or_invalid_keys_answer_each_providers_auth_error, setup),
        cmocka_unit_test_setup (test_admin_rejects_malformed_settings, setup),
        cmocka_unit_test_setup (test_reset_clears_stats_faults_and_quotas, setup),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
