/*  Live sync end to end: GET /api/v1/sync/stream (Server-Sent Events) and
    POST /api/v1/sync/handoff through a real mg-gateway, mg-broker, mg-sync
    (on MG_PG_URL) and the other routed actors (for /ready), read with a
    plain-socket SSE client.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_sse.h"
#include "mg_test.h"

#define TIMEOUT_MS     5000
#define START_WAIT_MS  30000
#define SECRET         "e2e-secret-0123456789abcdef0123456789"
#define KEEP_EVENTS    40           //  MG_SYNC_EVENTS_KEEP of the fixture
#define PER_USER       4            //  MG_SSE_PER_USER of the fixture
#define HLC_LEN        30           //  "wwwwwwwwwwww-cccccccc-nnnnnnnn"
#define TITLE          "00000000-0000-4000-8000-0000000000"      //  + two digits

typedef struct {
    mg_test_env_t env;
    int http_port;
    pid_t broker, catalog, resolver, accounts, ratelimit, search, sync, alerts, gateway;
    char run [24];                  //  makes this run's emails unique
} fixture_t;

static fixture_t *s_f;

typedef struct {
    char access [1024];
    char auth [1100];               //  "Authorization: Bearer ...\r\n"
} user_t;

static int
s_call (const char *method, const char *path, const char *headers, const char *body, mg_http_reply_t *reply)
{
    return mg_http_request (s_f->http_port, method, path, headers, body, reply, TIMEOUT_MS);
}

//  JSON body of reply (caller decrefs); asserts it parses.
static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *json = json_loads (text, 0, &error);
    if (!json)
        fail_msg ("not JSON: %s", text);
    return json;
}

//  Asserts reply is an error with status and code.
static void
s_assert_error (const mg_http_reply_t *reply, int status, const char *code)
{
    if (reply->status != status)
        fail_msg ("expected %d %s, got %d: %s", status, code, reply->status, reply->body);
    json_t *json = s_json (reply->body);
    json_t *error = json_object_get (json, "error");
    assert_string_equal (json_string_value (json_object_get (error, "code")), code);
    assert_true (json_is_string (json_object_get (error, "message")));
    json_decref (json);
}

//  Call as user with extra header lines; the reply.
static void
s_as (const user_t *user, const char *extra, const char *method, const char *path, const char *body,
      mg_http_reply_t *reply)
{
    char headers [1400];
    snprintf (headers, sizeof headers, "%s%s%s", user->auth, extra, body ? "Content-Type: application/json\r\n" : "");
    assert_int_equal (s_call (method, path, headers, body, reply), 0);
}

//  Call as user and expect status; the reply is freed.
static void
s_ok (const user_t *user, const char *extra, const char *method, const char *path, const char *body, int status)
{
    mg_http_reply_t reply;
    s_as (user, extra, method, path, body, &reply);
    if (reply.status != status)
        fail_msg ("%s %s: expected %d, got %d: %s", method, path, status, reply.status, reply.body);
    mg_http_reply_free (&reply);
}

//  A new signed-in user.
static void
s_user (const char *name, user_t *user)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\":\"%s-%s@example.com\",\"password\":\"correct horse battery\"}",
              name, s_f->run);
    mg_http_reply_t reply;
    assert_int_equal (s_call ("POST", "/api/v1/auth/register", "", body, &reply), 0);
    assert_int_equal (reply.status, 201);
    mg_http_reply_free (&reply);
    assert_int_equal (s_call ("POST", "/api/v1/auth/login", "", body, &reply), 0);
    assert_int_equal (reply.status, 200);
    json_t *json = s_json (reply.body);
    snprintf (user->access, sizeof user->access, "%s", json_string_value (json_object_get (json, "access_token")));
    snprintf (user->auth, sizeof user->auth, "Authorization: Bearer %s\r\n", user->access);
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  Register a device named name for user; its id into id (37 bytes).
static void
s_device (const user_t *user, const char *name, char *id)
{
    char body [128];
    snprintf (body, sizeof body, "{\"name\":\"%s\"}", name);
    mg_http_reply_t reply;
    s_as (user, "", "POST", "/api/v1/me/devices", body, &reply);
    assert_int_equal (reply.status, 201);
    json_t *json = s_json (reply.body);
    snprintf (id, 37, "%s", json_string_value (json_object_get (json, "id")));
    json_decref (json);
    mg_http_reply_free (&reply);
}

//  "X-Device-Id: <id>\r\n" into out (64 bytes).
static const char *
s_from (const char *device, char *out)
{
    snprintf (out, 64, "X-Device-Id: %s\r\n", device);
    return out;
}

//  Open the stream of user's device with extra header lines; asserts 200.
static mg_sse_t *
s_stream (const user_t *user, const char *device, const char *extra)
{
    char headers [1400];
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n%s", user->auth, device, extra);
    mg_http_reply_t reply;
    mg_sse_t *stream = mg_sse_open (s_f->http_port, "/api/v1/sync/stream", headers, &reply, TIMEOUT_MS);
    if (!stream)
        fail_msg ("stream: %d %s", reply.status, reply.body ? reply.body : "");
    char type [128];
    assert_true (mg_http_header (&reply, "Content-Type", type, sizeof type));
    assert_int_equal (strncmp (type, "text/event-stream", 17), 0);
    assert_true (mg_http_header (&reply, "X-RateLimit-Limit", type, sizeof type));
    return stream;
}

//  The answer to opening a stream that must fail: asserts status and code.
static void
s_stream_refused (const char *path, const char *headers, int status, const char *code)
{
    mg_http_reply_t reply;
    mg_sse_t *stream = mg_sse_open (s_f->http_port, path, headers, &reply, TIMEOUT_MS);
    if (stream) {
        mg_sse_close (&stream);
        fail_msg ("%s opened, expected %d %s", path, status, code);
    }
    s_assert_error (&reply, status, code);
    mg_http_reply_free (&reply);
}

//  The next event of stream: asserts its type; its id into *id (may be
//  NULL) and its data (caller decrefs).
static json_t *
s_expect (mg_sse_t *stream, const char *type, long *id)
{
    mg_sse_event_t event;
    int rc = mg_sse_next (stream, &event, TIMEOUT_MS);
    if (rc)
        fail_msg ("no %s event (%s)", type, rc > 0 ? "stream ended" : "timeout");
    if (strcmp (event.type, type) != 0)
        fail_msg ("expected a %s event, got %s: %s", type, event.type, event.data);
    if (id)
        *id = atol (event.id);
    assert_true (event.id [0] != '\0');
    json_t *data = s_json (event.data);
    mg_sse_event_free (&event);
    return data;
}

//  Put title number n on user's watchlist from device (NULL: the account).
static void
s_add_title (const user_t *user, const char *device, int n)
{
    char path [128], header [64];
    snprintf (path, sizeof path, "/api/v1/me/watchlist/" TITLE "%02d", n);
    s_ok (user, device ? s_from (device, header) : "", "PUT", path, NULL, 200);
}

static int
s_wait_ready (void)
{
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        if (s_call ("GET", "/ready", "", NULL, &reply) == 0 && reply.status == 200) {
            mg_http_reply_free (&reply);
            return 0;
        }
        mg_http_reply_free (&reply);
        usleep (100 * 1000);
    }
    return -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    pid_t *pids [] = { &f->gateway, &f->alerts, &f->sync, &f->search, &f->ratelimit, &f->accounts, &f->resolver,
                       &f->catalog, &f->broker };
    for (size_t i = 0; i < sizeof pids / sizeof pids [0]; i++)
        if (*pids [i] > 0)
            mg_test_stop (*pids [i], SIGTERM);
    free (f);
    return 0;
}

static int
group_setup (void **state)
{
    if (!getenv ("MG_PG_URL") || !getenv ("MG_REDIS_URL")) {
        fprintf (stderr, "MG_PG_URL and MG_REDIS_URL must be set (scripts/test does)\n");
        return -1;
    }
    fixture_t *f = calloc (1, sizeof *f);
    s_f = f;
    *state = f;
    f->http_port = mg_test_free_port ();
    snprintf (f->run, sizeof f->run, "%ld%d", (long) time (NULL), (int) getpid ());
    mg_test_env_init (&f->env, getenv ("MG_PG_URL"));
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_JWT_SECRET=%s", SECRET);
    mg_test_env_add (&f->env, "MG_RATE_FREE=%s", "100000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RATE_ANONYMOUS=%s", "100000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_PWHASH_MEMLIMIT_KIB=%d", 16384);
    mg_test_env_add (&f->env, "MG_SYNC_EVENTS_KEEP=%d", KEEP_EVENTS);
    mg_test_env_add (&f->env, "MG_SSE_PER_USER=%d", PER_USER);
    mg_test_env_add (&f->env, "MG_SSE_HEARTBEAT_S=%d", 1);
    mg_test_env_add (&f->env, "MG_SSE_MAX_BUFFER=%d", 8192);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->accounts = mg_test_spawn ("mg-accounts", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env.envp);
    f->search = mg_test_spawn ("mg-search", f->env.envp);
    f->sync = mg_test_spawn ("mg-sync", f->env.envp);
    f->alerts = mg_test_spawn ("mg-alerts", f->env.envp);
    f->gateway = mg_test_spawn ("mg-gateway", f->env.envp);
    if (s_wait_ready () == 0)
        return 0;
    fprintf (stderr, "the gateway did not become ready\n");
    group_teardown (state);
    *state = NULL;
    return -1;
}

static void
test_stream_needs_a_signed_in_caller_and_one_of_their_devices (void **state)
{
    (void) state;
    user_t ann, ben;
    s_user ("stream-ann", &ann);
    s_user ("stream-ben", &ben);
    char phone [37], headers [1400];
    s_device (&ann, "phone", phone);
    snprintf (headers, sizeof headers, "X-Device-Id: %s\r\n", phone);
    s_stream_refused ("/api/v1/sync/stream", headers, 401, "UNAUTHORIZED");
    s_stream_refused ("/api/v1/sync/stream", ann.auth, 400, "INVALID_PARAMETER");
    //  Ben cannot follow Ann's device, by header or by parameter.
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n", ben.auth, phone);
    s_stream_refused ("/api/v1/sync/stream", headers, 404, "NOT_FOUND");
    char path [256];
    snprintf (path, sizeof path, "/api/v1/sync/stream?device_id=%s", phone);
    s_stream_refused (path, ben.auth, 404, "NOT_FOUND");
    snprintf (headers, sizeof headers, "%sX-Device-Id: 00000000-0000-4000-8000-00000000abcd\r\n", ann.auth);
    s_stream_refused ("/api/v1/sync/stream", headers, 404, "NOT_FOUND");
    snprintf (headers, sizeof headers, "%sX-Device-Id: not-a-device\r\n", ann.auth);
    s_stream_refused ("/api/v1/sync/stream", headers, 400, "INVALID_PARAMETER");
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\nLast-Event-ID: twelve\r\n", ann.auth, phone);
    s_stream_refused ("/api/v1/sync/stream", headers, 400, "INVALID_PARAMETER");
    snprintf (path, sizeof path, "/api/v1/sync/stream?device_id=%s&last_event_id=-3", phone);
    s_stream_refused (path, ann.auth, 400, "INVALID_PARAMETER");
    snprintf (path, sizeof path, "/api/v1/sync/stream?device_id=%s&since=3", phone);
    s_stream_refused (path, ann.auth, 400, "INVALID_PARAMETER");
    //  The device_id parameter is for EventSource, which cannot send headers.
    snprintf (path, sizeof path, "/api/v1/sync/stream?device_id=%s", phone);
    mg_http_reply_t reply;
    mg_sse_t *stream = mg_sse_open (s_f->http_port, path, ann.auth, &reply, TIMEOUT_MS);
    assert_non_null (stream);
    mg_sse_close (&stream);
}

static void
test_device_b_receives_a_change_of_device_a_and_other_users_never_do (void **state)
{
    (void) state;
    user_t ann, ben;
    s_user ("live-ann", &ann);
    s_user ("live-ben", &ben);
    char a [37], b [37], c [37], header [64];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    s_device (&ben, "laptop", c);
    mg_sse_t *stream_a = s_stream (&ann, a, "");
    mg_sse_t *stream_b = s_stream (&ann, b, "");
    mg_sse_t *stream_c = s_stream (&ben, c, "");
    s_add_title (&ann, a, 1);
    long first;
    json_t *data = s_expect (stream_b, "watchlist.add", &first);
    assert_string_equal (json_string_value (json_object_get (data, "content_id")), TITLE "01");
    assert_string_equal (json_string_value (json_object_get (data, "device_id")), a);
    assert_true (json_is_true (json_object_get (data, "in_watchlist")));
    assert_int_equal (strlen (json_string_value (json_object_get (data, "hlc"))), HLC_LEN);
    json_decref (data);
    //  Device A does not hear its own change: its next event is B's progress.
    s_ok (&ann, s_from (b, header), "PUT", "/api/v1/me/progress/" TITLE "01",
          "{\"position_s\":125.5,\"duration_s\":5400}", 200);
    long next;
    data = s_expect (stream_a, "progress.set", &next);
    assert_int_equal (next, first + 1);
    json_t *progress = json_object_get (data, "progress");
    assert_true (json_number_value (json_object_get (progress, "position_s")) == 125.5);
    assert_string_equal (json_string_value (json_object_get (data, "device_id")), b);
    json_decref (data);
    //  A write of the account itself (no X-Device-Id) reaches every device.
    s_ok (&ann, "", "PUT", "/api/v1/me/preferences", "{\"language\":\"pt-BR\"}", 200);
    data = s_expect (stream_a, "preferences.set", NULL);
    assert_string_equal (json_string_value (json_object_get (data, "value")), "pt-BR");
    json_decref (data);
    data = s_expect (stream_b, "preferences.set", NULL);
    assert_true (json_is_null (json_object_get (data, "device_id")));
    json_decref (data);
    //  A batch of ops from B: one event per op applied, in order; a replayed batch adds none.
    const char *batch = "{\"ops\":[{\"op_id\":\"live-1\",\"type\":\"watchlist.add\",\"content_id\":\"" TITLE "02\"},"
                        "{\"op_id\":\"live-2\",\"type\":\"watchlist.remove\",\"content_id\":\"" TITLE "01\"}]}";
    s_ok (&ann, s_from (b, header), "POST", "/api/v1/sync/ops", batch, 200);
    s_ok (&ann, s_from (b, header), "POST", "/api/v1/sync/ops", batch, 200);
    data = s_expect (stream_a, "watchlist.add", NULL);
    assert_string_equal (json_string_value (json_object_get (data, "op_id")), "live-1");
    json_decref (data);
    data = s_expect (stream_a, "watchlist.remove", NULL);
    assert_false (json_is_true (json_object_get (data, "in_watchlist")));
    json_decref (data);
    //  Ben's stream saw none of Ann's changes: its first event is his own account's.
    s_add_title (&ben, NULL, 9);
    data = s_expect (stream_c, "watchlist.add", &next);
    assert_int_equal (next, 2);             //  1 was his device's registration, before the stream
    assert_string_equal (json_string_value (json_object_get (data, "content_id")), TITLE "09");
    json_decref (data);
    //  Heartbeat comments (MG_SSE_HEARTBEAT_S=1) and the retry hint.
    usleep (1500 * 1000);
    s_add_title (&ben, NULL, 8);
    json_decref (s_expect (stream_c, "watchlist.add", NULL));
    assert_true (mg_sse_comments (stream_c) >= 1);
    assert_int_equal (mg_sse_retry (stream_c), 2000);
    mg_sse_close (&stream_a);
    mg_sse_close (&stream_b);
    mg_sse_close (&stream_c);
}

//  Open a stream of device resuming after id; asserts the next count
//  events are ids id+1 .. id+count of type.
static mg_sse_t *
s_resume_expect (const user_t *user, const char *device, long id, int count, const char *type)
{
    char header [64];
    snprintf (header, sizeof header, "Last-Event-ID: %ld\r\n", id);
    mg_sse_t *stream = s_stream (user, device, header);
    for (int i = 1; i <= count; i++) {
        long got;
        json_decref (s_expect (stream, type, &got));
        assert_int_equal (got, id + i);
    }
    return stream;
}

static void
test_last_event_id_resumes_with_exactly_the_missed_events_even_after_a_sync_restart (void **state)
{
    (void) state;
    user_t ann;
    s_user ("resume-ann", &ann);
    char a [37], b [37];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    mg_sse_t *stream = s_stream (&ann, b, "");
    s_add_title (&ann, a, 1);
    long seen;
    json_decref (s_expect (stream, "watchlist.add", &seen));
    mg_sse_close (&stream);
    //  Missed while disconnected.
    for (int n = 2; n <= 4; n++)
        s_add_title (&ann, a, n);
    stream = s_resume_expect (&ann, b, seen, 3, "watchlist.add");
    //  Then live ones, without a duplicate or a gap.
    s_add_title (&ann, a, 5);
    long got;
    json_decref (s_expect (stream, "watchlist.add", &got));
    assert_int_equal (got, seen + 4);
    mg_sse_close (&stream);
    //  The same through the parameter EventSource users have.
    char path [256];
    snprintf (path, sizeof path, "/api/v1/sync/stream?device_id=%s&last_event_id=%ld", b, seen + 2);
    mg_http_reply_t reply;
    stream = mg_sse_open (s_f->http_port, path, ann.auth, &reply, TIMEOUT_MS);
    assert_non_null (stream);
    json_decref (s_expect (stream, "watchlist.add", &got));
    assert_int_equal (got, seen + 3);
    mg_sse_close (&stream);
    //  kill -9 of the sync actor: the events are in PostgreSQL, not in its memory.
    s_add_title (&ann, a, 6);
    mg_test_stop (s_f->sync, SIGKILL);
    s_f->sync = mg_test_spawn ("mg-sync", s_f->env.envp);
    //  Until the broker has dropped the killed worker, calls may end WORKER_LOST.
    char headers [1400];
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n", ann.auth, b);
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_sse_t *probe = mg_sse_open (s_f->http_port, "/api/v1/sync/stream", headers, &reply, TIMEOUT_MS);
        mg_http_reply_free (&reply);
        if (probe) {
            mg_sse_close (&probe);
            break;
        }
        usleep (100 * 1000);
    }
    stream = s_resume_expect (&ann, b, seen + 4, 1, "watchlist.add");
    s_add_title (&ann, a, 7);
    json_decref (s_expect (stream, "watchlist.add", &got));
    assert_int_equal (got, seen + 6);
    mg_sse_close (&stream);
}

static void
test_an_id_older_than_the_kept_events_gets_a_reset (void **state)
{
    (void) state;
    user_t ann;
    s_user ("reset-ann", &ann);
    char a [37], b [37];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    //  One batch of KEEP_EVENTS + 5 changes pushes the first ones out.
    char *batch = malloc (200 * (KEEP_EVENTS + 5) + 32);
    size_t used = (size_t) sprintf (batch, "{\"ops\":[");
    for (int i = 0; i < KEEP_EVENTS + 5; i++)
        used += (size_t) sprintf (batch + used, "%s{\"op_id\":\"reset-%d\",\"type\":\"progress.set\","
                                  "\"content_id\":\"" TITLE "01\",\"position_s\":%d}", i ? "," : "", i, i);
    sprintf (batch + used, "]}");
    char header [64];
    s_ok (&ann, s_from (a, header), "POST", "/api/v1/sync/ops", batch, 200);
    free (batch);
    long last = 2 + KEEP_EVENTS + 5;        //  two device registrations, then the batch
    mg_sse_t *stream = s_stream (&ann, b, "Last-Event-ID: 1\r\n");
    long id;
    json_t *data = s_expect (stream, "reset", &id);
    assert_int_equal (id, last);
    assert_int_equal (json_integer_value (json_object_get (data, "last_id")), last);
    json_decref (data);
    //  After the reset the stream carries on live from there.
    s_add_title (&ann, a, 2);
    json_decref (s_expect (stream, "watchlist.add", &id));
    assert_int_equal (id, last + 1);
    mg_sse_close (&stream);
    //  An id the user never reached is a reset too.
    stream = s_stream (&ann, b, "Last-Event-ID: 999999\r\n");
    json_decref (s_expect (stream, "reset", &id));
    assert_int_equal (id, last + 1);
    mg_sse_close (&stream);
    //  Within the kept window, no reset.
    stream = s_resume_expect (&ann, b, last - 2, 2, "progress.set");
    mg_sse_close (&stream);
}

static void
test_handoff_reaches_the_target_device (void **state)
{
    (void) state;
    user_t ann, ben;
    s_user ("handoff-ann", &ann);
    s_user ("handoff-ben", &ben);
    char a [37], b [37], c [37], other [37];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    s_device (&ann, "tablet", c);
    s_device (&ben, "laptop", other);
    s_ok (&ann, "", "PUT", "/api/v1/me/progress/" TITLE "07", "{\"position_s\":10,\"duration_s\":5400}", 200);
    mg_sse_t *stream_b = s_stream (&ann, b, "");
    mg_sse_t *stream_c = s_stream (&ann, c, "");
    char body [512];
    snprintf (body, sizeof body, "{\"from_device\":\"%s\",\"to_device\":\"%s\",\"content_id\":\"" TITLE "07\","
              "\"position_s\":1830.5}", a, b);
    mg_http_reply_t reply;
    s_as (&ann, "", "POST", "/api/v1/sync/handoff", body, &reply);
    if (reply.status != 202)
        fail_msg ("handoff: %d %s", reply.status, reply.body);
    json_t *stored = s_json (reply.body);
    mg_http_reply_free (&reply);
    assert_string_equal (json_string_value (json_object_get (stored, "to_device")), b);
    json_t *progress = json_object_get (stored, "progress");
    assert_true (json_number_value (json_object_get (progress, "position_s")) == 1830.5);
    assert_true (json_number_value (json_object_get (progress, "duration_s")) == 5400);   //  kept
    //  The target gets the progress and the handoff.
    json_decref (s_expect (stream_b, "progress.set", NULL));
    long id;
    json_t *data = s_expect (stream_b, "handoff", &id);
    assert_int_equal (id, json_integer_value (json_object_get (stored, "event_id")));
    assert_string_equal (json_string_value (json_object_get (data, "from_device")), a);
    assert_true (json_number_value (json_object_get (data, "position_s")) == 1830.5);
    json_decref (data);
    json_decref (stored);
    //  Another device sees the progress, not the handoff: its next event is the next change.
    json_decref (s_expect (stream_c, "progress.set", NULL));
    s_add_title (&ann, a, 3);
    json_decref (s_expect (stream_c, "watchlist.add", NULL));
    //  Bad handoffs.
    snprintf (body, sizeof body, "{\"from_device\":\"%s\",\"to_device\":\"%s\",\"content_id\":\"" TITLE "07\","
              "\"position_s\":1}", a, a);
    s_as (&ann, "", "POST", "/api/v1/sync/handoff", body, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    snprintf (body, sizeof body, "{\"from_device\":\"%s\",\"to_device\":\"%s\",\"content_id\":\"" TITLE "07\","
              "\"position_s\":1}", a, other);
    s_as (&ann, "", "POST", "/api/v1/sync/handoff", body, &reply);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
    snprintf (body, sizeof body, "{\"from_device\":\"%s\",\"to_device\":\"%s\",\"content_id\":\"" TITLE "07\","
              "\"position_s\":1}", other, b);
    s_as (&ann, "", "POST", "/api/v1/sync/handoff", body, &reply);
    s_assert_error (&reply, 404, "NOT_FOUND");
    mg_http_reply_free (&reply);
    snprintf (body, sizeof body, "{\"from_device\":\"%s\",\"to_device\":\"%s\",\"content_id\":\"" TITLE "07\","
              "\"position_s\":-1}", a, b);
    s_as (&ann, "", "POST", "/api/v1/sync/handoff", body, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    snprintf (body, sizeof body, "{\"from_device\":\"%s\",\"content_id\":\"" TITLE "07\",\"position_s\":1}", a);
    s_as (&ann, "", "POST", "/api/v1/sync/handoff", body, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    s_as (&ann, "", "POST", "/api/v1/sync/handoff", "{\"from_device\":", &reply);
    s_assert_error (&reply, 400, "INVALID_JSON");
    mg_http_reply_free (&reply);
    assert_int_equal (s_call ("POST", "/api/v1/sync/handoff", "Content-Type: application/json\r\n", body, &reply), 0);
    s_assert_error (&reply, 401, "UNAUTHORIZED");
    mg_http_reply_free (&reply);
    mg_sse_close (&stream_b);
    mg_sse_close (&stream_c);
}

static void
test_removing_a_device_ends_its_stream (void **state)
{
    (void) state;
    user_t ann;
    s_user ("remove-ann", &ann);
    char a [37], b [37], path [128];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    mg_sse_t *stream_a = s_stream (&ann, a, "");
    mg_sse_t *stream_b = s_stream (&ann, b, "");
    snprintf (path, sizeof path, "/api/v1/me/devices/%s", b);
    s_ok (&ann, "", "DELETE", path, NULL, 204);
    json_t *data = s_expect (stream_b, "device.removed", NULL);
    assert_string_equal (json_string_value (json_object_get (json_object_get (data, "device"), "id")), b);
    json_decref (data);
    mg_sse_event_t event;
    assert_int_equal (mg_sse_next (stream_b, &event, TIMEOUT_MS), 1);    //  ended by the server
    json_decref (s_expect (stream_a, "device.removed", NULL));
    mg_sse_close (&stream_b);
    char headers [1400];
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n", ann.auth, b);
    s_stream_refused ("/api/v1/sync/stream", headers, 404, "NOT_FOUND");
    mg_sse_close (&stream_a);
}

static void
test_streams_per_user_are_bounded_and_counted (void **state)
{
    (void) state;
    user_t ann;
    s_user ("bound-ann", &ann);
    char a [37];
    s_device (&ann, "phone", a);
    double open_before = mg_http_metric (s_f->http_port, "mg_gateway_sse_streams_open");
    mg_sse_t *streams [PER_USER];
    for (int i = 0; i < PER_USER; i++)
        streams [i] = s_stream (&ann, a, "");
    assert_true (mg_http_metric (s_f->http_port, "mg_gateway_sse_streams_open") == open_before + PER_USER);
    char headers [1400];
    snprintf (headers, sizeof headers, "%sX-Device-Id: %s\r\n", ann.auth, a);
    s_stream_refused ("/api/v1/sync/stream", headers, 429, "TOO_MANY_STREAMS");
    assert_true (mg_http_metric (s_f->http_port, "mg_gateway_sse_refused_total{bound=\"user\"}") >= 1);
    //  Closing one frees its place.
    mg_sse_close (&streams [0]);
    int64_t until = mg_test_now_ms () + TIMEOUT_MS;
    while (mg_http_metric (s_f->http_port, "mg_gateway_sse_streams_open") > open_before + PER_USER - 1 && mg_test_now_ms () < until)
        usleep (20 * 1000);
    streams [0] = s_stream (&ann, a, "");
    for (int i = 0; i < PER_USER; i++)
        mg_sse_close (&streams [i]);
}

static void
test_a_client_that_stops_reading_is_cut_and_resumes (void **state)
{
    (void) state;
    user_t ann;
    s_user ("slow-ann", &ann);
    char a [37], b [37], header [64];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    double cut_before = mg_http_metric (s_f->http_port, "mg_gateway_sse_streams_ended_total{reason=\"slow\"}");
    mg_sse_t *stream = s_stream (&ann, b, "");
    //  The stream is never read: the kernel buffers fill, then the gateway's
    //  (MG_SSE_MAX_BUFFER=8192) passes its bound.
    char *batch = malloc (100 * 200 + 32);
    int round = 0;
    int64_t until = mg_test_now_ms () + 60000;
    while (mg_http_metric (s_f->http_port, "mg_gateway_sse_streams_ended_total{reason=\"slow\"}") <= cut_before
       &&  mg_test_now_ms () < until) {
        size_t used = (size_t) sprintf (batch, "{\"ops\":[");
        for (int i = 0; i < 100; i++)
            used += (size_t) sprintf (batch + used, "%s{\"op_id\":\"slow-%d-%d\",\"type\":\"watchlist.add\","
                                      "\"content_id\":\"" TITLE "%02d\"}", i ? "," : "", round, i, i);
        sprintf (batch + used, "]}");
        s_ok (&ann, s_from (a, header), "POST", "/api/v1/sync/ops", batch, 200);
        round++;
    }
    free (batch);
    double cut_after = mg_http_metric (s_f->http_port, "mg_gateway_sse_streams_ended_total{reason=\"slow\"}");
    assert_true (cut_after > cut_before);
    //  What it had read, it can resume after.
    mg_sse_event_t event;
    long last = 0;
    int rc;
    while ((rc = mg_sse_next (stream, &event, TIMEOUT_MS)) == 0) {
        last = atol (event.id);
        mg_sse_event_free (&event);
    }
    assert_int_equal (rc, 1);
    mg_sse_close (&stream);
    //  Resuming goes on after the last event read: with the next one, or a
    //  reset when the ones missed are no longer kept.
    char resume [64];
    snprintf (resume, sizeof resume, "Last-Event-ID: %ld\r\n", last);
    stream = s_stream (&ann, b, resume);
    assert_int_equal (mg_sse_next (stream, &event, TIMEOUT_MS), 0);
    assert_true (strcmp (event.type, "reset") == 0 || atol (event.id) == last + 1);
    mg_sse_event_free (&event);
    //  A replay larger than the bound is written whole: the resumed stream is not cut.
    assert_true (mg_http_metric (s_f->http_port, "mg_gateway_sse_streams_ended_total{reason=\"slow\"}") == cut_after);
    mg_sse_close (&stream);
}

//  Read from fd into text (size bytes, NUL-kept) until it holds want or
//  timeout_ms pass. Returns the bytes held.
static size_t
s_read_until (int fd, char *text, size_t size, size_t used, const char *want, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    while (!strstr (text, want) && used + 1 < size && mg_test_now_ms () < until) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll (&pfd, 1, (int) (until - mg_test_now_ms ())) <= 0)
            break;
        ssize_t got = recv (fd, text + used, size - 1 - used, 0);
        if (got <= 0)
            break;
        used += (size_t) got;
        text [used] = '\0';
    }
    return used;
}

//  An HTTP/1.0 client's stream has no chunks (HTTP/1.0 has none): its body
//  is the SSE text itself, each live event as written, whether the gateway
//  sends it to the socket at once or queues it.
static void
test_an_http_1_0_stream_has_its_events_unframed (void **state)
{
    (void) state;
    user_t ann;
    s_user ("plain-ann", &ann);
    char a [37], b [37];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) s_f->http_port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    char request [1600];
    int len = snprintf (request, sizeof request, "GET /api/v1/sync/stream HTTP/1.0\r\n%sX-Device-Id: %s\r\n\r\n",
                        ann.auth, b);
    assert_int_equal (send (fd, request, (size_t) len, MSG_NOSIGNAL), len);
    char text [8192] = "";
    size_t used = s_read_until (fd, text, sizeof text, 0, "\r\n\r\n", TIMEOUT_MS);
    char *body = strstr (text, "\r\n\r\n");
    assert_non_null (body);
    assert_int_equal (strncmp (text, "HTTP/1.0 200", 12), 0);
    assert_null (strcasestr (text, "Transfer-Encoding"));
    body += 4;
    //  The head, then the retry hint; then two changes of device A, live.
    used = s_read_until (fd, text, sizeof text, used, "retry: ", TIMEOUT_MS);
    s_add_title (&ann, a, 41);
    s_add_title (&ann, a, 42);
    used = s_read_until (fd, text, sizeof text, used, TITLE "42", TIMEOUT_MS);
    used = s_read_until (fd, text, sizeof text, used, TITLE "42\"", TIMEOUT_MS);
    (void) used;
    assert_int_equal (strncmp (body, "retry: ", 7), 0);
    assert_null (strstr (body, "\r\n"));
    char *first = strstr (body, "event: watchlist.add\ndata: {");
    assert_non_null (first);
    assert_non_null (strstr (first, TITLE "41"));
    char *second = strstr (first + 1, "event: watchlist.add\ndata: {");
    assert_non_null (second);
    assert_non_null (strstr (second, TITLE "42"));
    close (fd);
}

#define WRITERS        4            //  concurrent writers in the ordering test
#define WRITES_EACH    15

typedef struct {
    const user_t *user;
    int index;
    int failures;
} s_writer_t;

//  Thread: WRITES_EACH watchlist writes of the account (no device).
static void *
s_writer (void *arg)
{
    s_writer_t *self = arg;
    char headers [1400], path [128];
    snprintf (headers, sizeof headers, "%s", self->user->auth);
    for (int i = 0; i < WRITES_EACH; i++) {
        snprintf (path, sizeof path, "/api/v1/me/watchlist/" TITLE "%02d", self->index * WRITES_EACH + i);
        mg_http_reply_t reply;
        if (s_call ("PUT", path, headers, NULL, &reply) || reply.status != 200)
            self->failures++;
        mg_http_reply_free (&reply);
    }
    return NULL;
}

static void
test_concurrent_writes_arrive_in_id_order_without_gaps_or_duplicates (void **state)
{
    (void) state;
    user_t ann;
    s_user ("order-ann", &ann);
    char b [37];
    s_device (&ann, "tv", b);
    mg_sse_t *stream = s_stream (&ann, b, "");
    //  The sync actor's threads commit and publish side by side: publications
    //  may come out of order, and the stream must still be 2, 3, 4, ...
    pthread_t threads [WRITERS];
    s_writer_t writers [WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writers [i] = (s_writer_t) { .user = &ann, .index = i };
        assert_int_equal (pthread_create (&threads [i], NULL, s_writer, &writers [i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join (threads [i], NULL);
        assert_int_equal (writers [i].failures, 0);
    }
    for (long i = 0; i < WRITERS * WRITES_EACH; i++) {
        long id;
        json_decref (s_expect (stream, "watchlist.add", &id));
        assert_int_equal (id, 2 + i);       //  1 was the device's registration
    }
    mg_sse_close (&stream);
}

//  Item 2 of the integrity issue over HTTP: 70 PUTs of one title, 20
//  batches of 100 adds of it, then add/remove cycles: every call 2xx and
//  the watchlist still answers.
static void
test_watchlist_repeated_put_keeps_account_usable_over_http (void **state)
{
    (void) state;
    user_t ann;
    s_user ("repeat-ann", &ann);
    char phone [37], header [64];
    s_device (&ann, "phone", phone);
    for (int i = 0; i < 70; i++)
        s_add_title (&ann, NULL, 7);
    size_t size = 100 * 160 + 128;
    char *body = malloc (size);
    assert_non_null (body);
    for (int b = 0; b < 20; b++) {
        size_t used = (size_t) snprintf (body, size, "{\"ops\":[");
        for (int i = 0; i < 100; i++)
            used += (size_t) snprintf (body + used, size - used, "%s{\"op_id\":\"b%d-%d\",\"type\":"
                                       "\"watchlist.add\",\"content_id\":\"" TITLE "07\"}", i ? "," : "", b, i);
        snprintf (body + used, size - used, "]}");
        s_ok (&ann, s_from (phone, header), "POST", "/api/v1/sync/ops", body, 200);
    }
    free (body);
    for (int i = 0; i < 20; i++) {
        s_add_title (&ann, i % 2 ? phone : NULL, 7);
        s_ok (&ann, s_from (phone, header), "DELETE", "/api/v1/me/watchlist/" TITLE "07", NULL, 200);
    }
    s_add_title (&ann, phone, 7);
    mg_http_reply_t reply;
    s_as (&ann, "", "GET", "/api/v1/me/watchlist", NULL, &reply);
    assert_int_equal (reply.status, 200);
    json_t *page = s_json (reply.body);
    assert_int_equal (json_integer_value (json_object_get (page, "total")), 1);
    json_t *tags = json_object_get (json_array_get (json_object_get (page, "results"), 0), "tags");
    assert_int_equal (json_array_size (tags), 1);
    json_decref (page);
    mg_http_reply_free (&reply);
}

//  Item 6: every op of a batch is the batch's device's. An op naming
//  another of the caller's devices is refused (the batch with it), so it
//  cannot keep that device's stream from hearing of the change.
static void
test_an_op_cannot_speak_for_another_device (void **state)
{
    (void) state;
    user_t ann;
    s_user ("device-ann", &ann);
    char a [37], b [37], header [64], body [512];
    s_device (&ann, "phone", a);
    s_device (&ann, "tv", b);
    mg_sse_t *stream_b = s_stream (&ann, b, "");
    //  From A, an op claiming to be B's.
    snprintf (body, sizeof body, "{\"device_id\":\"%s\",\"ops\":[{\"op_id\":\"spoof-1\",\"type\":"
              "\"watchlist.add\",\"device_id\":\"%s\",\"content_id\":\"" TITLE "31\"}]}", a, b);
    mg_http_reply_t reply;
    s_as (&ann, "", "POST", "/api/v1/sync/ops", body, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    //  The same through X-Device-Id, and a header and body that disagree.
    snprintf (body, sizeof body, "{\"ops\":[{\"op_id\":\"spoof-2\",\"type\":\"watchlist.add\","
              "\"device_id\":\"%s\",\"content_id\":\"" TITLE "32\"}]}", b);
    s_as (&ann, s_from (a, header), "POST", "/api/v1/sync/ops", body, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    snprintf (body, sizeof body, "{\"device_id\":\"%s\",\"ops\":[]}", b);
    s_as (&ann, s_from (a, header), "POST", "/api/v1/sync/ops", body, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    //  A's own op, named as A's or not at all, reaches B's stream as A's;
    //  nothing of the refused batches does.
    snprintf (body, sizeof body, "{\"ops\":[{\"op_id\":\"own-1\",\"type\":\"watchlist.add\","
              "\"device_id\":\"%s\",\"content_id\":\"" TITLE "33\"}]}", a);
    s_ok (&ann, s_from (a, header), "POST", "/api/v1/sync/ops", body, 200);
    json_t *data = s_expect (stream_b, "watchlist.add", NULL);
    assert_string_equal (json_string_value (json_object_get (data, "content_id")), TITLE "33");
    assert_string_equal (json_string_value (json_object_get (data, "device_id")), a);
    json_decref (data);
    mg_sse_close (&stream_b);
}

//  Item 9 over HTTP: the user lists answer the list contract and take
//  page and per_page; preferences stay one object.
static void
test_user_lists_answer_the_list_contract_over_http (void **state)
{
    (void) state;
    user_t ann;
    s_user ("lists-ann", &ann);
    char phone [37];
    s_device (&ann, "phone", phone);
    for (int n = 40; n < 43; n++)
        s_add_title (&ann, NULL, n);
    s_ok (&ann, "", "PUT", "/api/v1/me/progress/" TITLE "40", "{\"position_s\":30}", 200);
    s_ok (&ann, "", "PUT", "/api/v1/me/preferences", "{\"language\":\"en\"}", 200);
    const char *lists [][2] = {
        { "/api/v1/me/watchlist?page=2&per_page=2", "3" },
        { "/api/v1/me/progress?per_page=5", "1" },
        { "/api/v1/me/devices", "1" },
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists [0]; i++) {
        mg_http_reply_t reply;
        s_as (&ann, "", "GET", lists [i][0], NULL, &reply);
        if (reply.status != 200)
            fail_msg ("%s: %d %s", lists [i][0], reply.status, reply.body);
        json_t *page = s_json (reply.body);
        assert_true (json_is_array (json_object_get (page, "results")));
        assert_int_equal (json_integer_value (json_object_get (page, "total")), atoi (lists [i][1]));
        assert_true (json_integer_value (json_object_get (page, "page")) >= 1);
        assert_true (json_integer_value (json_object_get (page, "per_page")) >= 1);
        json_decref (page);
        mg_http_reply_free (&reply);
    }
    mg_http_reply_t reply;
    s_as (&ann, "", "GET", "/api/v1/me/watchlist?page=2&per_page=2", NULL, &reply);
    json_t *page = s_json (reply.body);
    assert_int_equal (json_array_size (json_object_get (page, "results")), 1);
    json_decref (page);
    mg_http_reply_free (&reply);
    s_as (&ann, "", "GET", "/api/v1/me/watchlist?per_page=0", NULL, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    s_as (&ann, "", "GET", "/api/v1/me/watchlist?sort=title", NULL, &reply);
    s_assert_error (&reply, 400, "INVALID_PARAMETER");
    mg_http_reply_free (&reply);
    s_as (&ann, "", "GET", "/api/v1/me/preferences", NULL, &reply);
    assert_int_equal (reply.status, 200);
    json_t *prefs = s_json (reply.body);
    assert_string_equal (json_string_value (json_object_get (prefs, "language")), "en");
    assert_null (json_object_get (prefs, "results"));
    json_decref (prefs);
    mg_http_reply_free (&reply);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_stream_needs_a_signed_in_caller_and_one_of_their_devices),
        cmocka_unit_test (test_device_b_receives_a_change_of_device_a_and_other_users_never_do),
        cmocka_unit_test (test_last_event_id_resumes_with_exactly_the_missed_events_even_after_a_sync_restart),
        cmocka_unit_test (test_an_id_older_than_the_kept_events_gets_a_reset),
        cmocka_unit_test (test_handoff_reaches_the_target_device),
        cmocka_unit_test (test_removing_a_device_ends_its_stream),
        cmocka_unit_test (test_streams_per_user_are_bounded_and_counted),
        cmocka_unit_test (test_a_client_that_stops_reading_is_cut_and_resumes),
        cmocka_unit_test (test_an_http_1_0_stream_has_its_events_unframed),
        cmocka_unit_test (test_concurrent_writes_arrive_in_id_order_without_gaps_or_duplicates),
        cmocka_unit_test (test_watchlist_repeated_put_keeps_account_usable_over_http),
        cmocka_unit_test (test_an_op_cannot_speak_for_another_device),
        cmocka_unit_test (test_user_lists_answer_the_list_contract_over_http),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
