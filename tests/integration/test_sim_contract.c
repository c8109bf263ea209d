/*  mg-provider-sim against the providers' published shapes: every case of
    tests/sim/contracts/<provider>.shape is requested from a real simulator
    on a free port and its answer checked field by field. Also shows the
    checker can fail: hand-made drifts and the simulator's own wrong_types
    fault are rejected.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_test.h"
#include "sim_shape.h"

#define HTTP_TIMEOUT_MS     30000   //  a whole search/changes page under ASan
#define START_TIMEOUT_MS    60000   //  the catalog loads in seconds under ASan
#define LINE_MAX_BYTES      2048

typedef struct {
    pid_t sim;
    int port;
    char trailer [16];              //  a YouTube id TMDB's videos name
} fixture_t;

static fixture_t s_fixture;

//  Start the simulator and wait until its admin API answers.
static int
setup (void **state)
{
    fixture_t *self = &s_fixture;
    memset (self, 0, sizeof *self);
    self->port = mg_test_free_port ();
    char port [32], catalog [512];
    snprintf (port, sizeof port, "MG_SIM_PORT=%d", self->port);
    snprintf (catalog, sizeof catalog, "MG_SIM_CATALOG=%s/data/catalog.jsonl.gz", MG_SOURCE_DIR);
    const char *env [] = { port, catalog, NULL };
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
teardown (void **state)
{
    fixture_t *self = *state;
    int status = mg_test_stop (self->sim, SIGTERM);
    //  A clean exit: no leak report, no crash.
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    return 0;
}

//  One request of a contract, its answer parsed (NULL when not JSON).
static json_t *
s_exchange (fixture_t *self, const char *method, const char *path, const char *headers,
            const char *body, int *status)
{
    mg_http_reply_t reply = { 0 };
    assert_int_equal (mg_http_request (self->port, method, path, headers, body, &reply, HTTP_TIMEOUT_MS), 0);
    *status = reply.status;
    json_error_t jerr;
    json_t *doc = reply.body ? json_loads (reply.body, JSON_DECODE_ANY, &jerr) : NULL;
    mg_http_reply_free (&reply);
    return doc;
}

//  Replace @TRAILER@ in line by the trailer id found through TMDB.
static void
s_substitute (fixture_t *self, char *line, size_t size)
{
    char *at = strstr (line, "@TRAILER@");
    if (!at)
        return;
    char rest [LINE_MAX_BYTES];
    snprintf (rest, sizeof rest, "%s", at + 9);
    snprintf (at, size - (size_t) (at - line), "%s%s", self->trailer, rest);
}

typedef struct {
    char method [8], path [LINE_MAX_BYTES], headers [1024], body [LINE_MAX_BYTES];
    int expect;
    json_t *doc;
    int status;
    bool sent;
} s_case_t;

//  Send the case (once, on its first field rule) and check its status.
static void
s_send (fixture_t *self, s_case_t *c, const char *file)
{
    if (c->sent)
        return;
    c->doc = s_exchange (self, c->method, c->path, c->headers, *c->body ? c->body : NULL, &c->status);
    c->sent = true;
    if (c->status != c->expect)
        fail_msg ("%s: %s %s: status %d, %d expected", file, c->method, c->path, c->status, c->expect);
    if (!c->doc)
        fail_msg ("%s: %s %s: the body is not JSON", file, c->method, c->path);
}

//  Run every case of tests/sim/contracts/<name>.shape; returns the rules checked.
static int
s_run_contract (fixture_t *self, const char *name)
{
    char file [512];
    snprintf (file, sizeof file, "%s/tests/sim/contracts/%s.shape", MG_SOURCE_DIR, name);
    FILE *in = fopen (file, "r");
    assert_non_null (in);
    char line [LINE_MAX_BYTES];
    s_case_t c = { .expect = 200 };
    int rules = 0, cases = 0;
    while (fgets (line, sizeof line, in)) {
        line [strcspn (line, "\r\n")] = '\0';
        s_substitute (self, line, sizeof line);
        if (!*line || *line == '#')
            continue;
        if (strncmp (line, "request ", 8) == 0) {
            if (c.sent || cases)
                s_send (self, &c, file);
            json_decref (c.doc);
            memset (&c, 0, sizeof c);
            c.expect = 200;
            assert_int_equal (sscanf (line + 8, "%7s %2047s", c.method, c.path), 2);
            cases++;
        }
        else
        if (strncmp (line, "header ", 7) == 0) {
            size_t used = strlen (c.headers);
            snprintf (c.headers + used, sizeof c.headers - used, "%s\r\n", line + 7);
        }
        else
        if (strncmp (line, "body ", 5) == 0)
            snprintf (c.body, sizeof c.body, "%s", line + 5);
        else
        if (strncmp (line, "expect ", 7) == 0)
            c.expect = atoi (line + 7);
        else
        if (strncmp (line, "field ", 6) == 0 || strncmp (line, "field? ", 7) == 0) {
            bool optional = line [5] == '?';
            char path [256], types [128];
            assert_int_equal (sscanf (line + (optional ? 7 : 6), "%255s %127s", path, types), 2);
            s_send (self, &c, file);
            char err [512];
            if (sim_shape_check (c.doc, path, types, optional, err, sizeof err) != 0)
                fail_msg ("%s: %s %s: %s", file, c.method, c.path, err);
            rules++;
        }
        else
            fail_msg ("%s: unknown directive '%s'", file, line);
    }
    if (cases)
        s_send (self, &c, file);
    json_decref (c.doc);
    fclose (in);
    assert_true (cases > 0 && rules > 0);
    return rules;
}

static void
test_tmdb_answers_match_the_tmdb_v3_contract (void **state)
{
    assert_true (s_run_contract (*state, "tmdb") > 50);
}

static void
test_streaming_availability_answers_match_the_v4_contract (void **state)
{
    assert_true (s_run_contract (*state, "sa") > 30);
}

static void
test_watchmode_answers_match_the_watchmode_contract (void **state)
{
    assert_true (s_run_contract (*state, "watchmode") > 30);
}

//  The trailer ids YouTube serves are the ones TMDB's videos name.
static void
test_youtube_answers_match_the_data_api_contract (void **state)
{
    fixture_t *self = *state;
    int status;
    json_t *videos = s_exchange (self, "GET", "/tmdb/3/movie/19995/videos?api_key=contract", "", NULL, &status);
    assert_int_equal (status, 200);
    const char *key = json_string_value (json_object_get (json_array_get (json_object_get (videos, "results"), 0), "key"));
    assert_non_null (key);
    assert_int_equal (strlen (key), 11);
    snprintf (self->trailer, sizeof self->trailer, "%s", key);
    json_decref (videos);
    assert_true (s_run_contract (self, "youtube") > 20);
}

static void
test_openai_embeddings_match_the_openai_contract (void **state)
{
    fixture_t *self = *state;
    assert_true (s_run_contract (self, "openai") > 5);
    //  Unit vectors of the requested dimension, the same for the same text.
    int status;
    const char *body = "{\"model\":\"text-embedding-3-small\",\"input\":[\"The Matrix\",\"The Matrix\",\"Cats\"],"
                       "\"dimensions\":64}";
    json_t *doc = s_exchange (self, "POST", "/openai/v1/embeddings", "Authorization: Bearer k\r\n", body, &status);
    assert_int_equal (status, 200);
    json_t *data = json_object_get (doc, "data");
    assert_int_equal (json_array_size (data), 3);
    double norm = 0;
    json_t *first = json_object_get (json_array_get (data, 0), "embedding");
    assert_int_equal (json_array_size (first), 64);
    size_t i;
    json_t *x;
    json_array_foreach (first, i, x)
        norm += json_real_value (x) * json_real_value (x);
    assert_true (norm > 0.999 && norm < 1.001);
    assert_true (json_equal (first, json_object_get (json_array_get (data, 1), "embedding")));
    assert_false (json_equal (first, json_object_get (json_array_get (data, 2), "embedding")));
    json_decref (doc);
}

//  The checker rejects a missing field, a wrong type, an empty required
//  list and a parent of the wrong kind; optional fields may be absent.
static void
test_shape_checker_rejects_drift (void **state)
{
    (void) state;
    json_t *doc = json_loads ("{\"id\":\"5\",\"results\":[],\"genres\":[{\"id\":1},{\"id\":\"x\"}],\"n\":3}", 0, NULL);
    char err [256];
    assert_int_equal (sim_shape_check (doc, "id", "integer", false, err, sizeof err), -1);
    assert_non_null (strstr (err, "id"));
    assert_int_equal (sim_shape_check (doc, "title", "string", false, err, sizeof err), -1);
    assert_non_null (strstr (err, "missing"));
    assert_int_equal (sim_shape_check (doc, "results[].id", "integer", false, err, sizeof err), -1);
    assert_int_equal (sim_shape_check (doc, "genres[].id", "integer", false, err, sizeof err), -1);
    assert_non_null (strstr (err, "genres[1].id"));
    assert_int_equal (sim_shape_check (doc, "n.x", "integer", false, err, sizeof err), -1);
    assert_int_equal (sim_shape_check (doc, "title", "string", true, err, sizeof err), 0);
    assert_int_equal (sim_shape_check (doc, "n", "number", false, err, sizeof err), 0);
    assert_int_equal (sim_shape_check (doc, ".", "object", false, err, sizeof err), 0);
    assert_int_equal (sim_shape_check (NULL, ".", "object", false, err, sizeof err), -1);
    json_decref (doc);
}

//  An answer under the wrong_types fault fails the contract it otherwise meets.
static void
test_wrong_types_fault_breaks_the_contract (void **state)
{
    fixture_t *self = *state;
    int status;
    json_t *ok = s_exchange (self, "POST", "/_sim/faults", "",
                             "{\"provider\":\"tmdb\",\"fault\":\"wrong_types\",\"count\":1}", &status);
    assert_int_equal (status, 200);
    json_decref (ok);
    json_t *doc = s_exchange (self, "GET", "/tmdb/3/movie/19995?api_key=k", "", NULL, &status);
    assert_int_equal (status, 200);
    char err [256];
    assert_int_equal (sim_shape_check (doc, "id", "integer", false, err, sizeof err), -1);
    assert_int_equal (sim_shape_check (doc, "title", "string", false, err, sizeof err), -1);
    json_decref (doc);
    doc = s_exchange (self, "GET", "/tmdb/3/movie/19995?api_key=k", "", NULL, &status);
    assert_int_equal (sim_shape_check (doc, "id", "integer", false, err, sizeof err), 0);
    json_decref (doc);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_tmdb_answers_match_the_tmdb_v3_contract),
        cmocka_unit_test (test_streaming_availability_answers_match_the_v4_contract),
        cmocka_unit_test (test_watchmode_answers_match_the_watchmode_contract),
        cmocka_unit_test (test_youtube_answers_match_the_data_api_contract),
        cmocka_unit_test (test_openai_embeddings_match_the_openai_contract),
        cmocka_unit_test (test_shape_checker_rejects_drift),
        cmocka_unit_test (test_wrong_types_fault_breaks_the_contract),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
