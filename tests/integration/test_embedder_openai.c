/*  The embedder's OpenAI backend against mg-provider-sim's /openai/v1: a
    batch comes back as unit vectors of the dimensions asked; 429 (with
    Retry-After), 5xx, a held request (timeout) and a malformed body are
    retried, a Retry-After too long to wait fails at once, a refused key is
    not retried; and mg-embedder with MG_EMBED_BACKEND=openai, over a real
    broker, stores the catalog's vectors and answers embedder.embed.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>

#include "embedder.h"
#include "mg_client.h"
#include "mg_config.h"
#include "mg_http.h"
#include "mg_pg.h"
#include "mg_test.h"

#define DIMS          768
#define START_WAIT_MS 20000
#define WAIT_MS       20000

#define ID(x) "00000000-0000-4000-8000-00000000071" x

typedef struct {
    int port;
    char base [128];
    pid_t sim;
} fixture_t;

static fixture_t s_fixture;

//  An admin call to the simulator; asserts 200.
static void
s_admin (fixture_t *f, const char *path, const char *body)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (f->port, "POST", path, "", body, &reply, 5000), 0);
    if (reply.status != 200)
        fail_msg ("%s %s: %d %s", path, body, reply.status, reply.body);
    mg_http_reply_free (&reply);
}

//  OpenAI requests the simulator has answered since the last reset.
static long
s_requests (fixture_t *f)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (f->port, "GET", "/_sim/stats", "", NULL, &reply, 5000), 0);
    json_error_t error;
    json_t *doc = json_loads (reply.body, 0, &error);
    mg_http_reply_free (&reply);
    assert_non_null (doc);
    json_t *n = json_object_get (json_object_get (json_object_get (doc, "providers"), "openai"), "requests");
    assert_true (json_is_integer (n));
    long v = (long) json_integer_value (n);
    json_decref (doc);
    return v;
}

static int
group_setup (void **state)
{
    fixture_t *f = &s_fixture;
    f->port = mg_test_free_port ();
    snprintf (f->base, sizeof f->base, "http://127.0.0.1:%d/openai/v1", f->port);
    char port [32], catalog [512];
    snprintf (port, sizeof port, "MG_SIM_PORT=%d", f->port);
    snprintf (catalog, sizeof catalog, "MG_SIM_CATALOG=%s/data/catalog.jsonl.gz", MG_SOURCE_DIR);
    const char *env [] = { port, catalog, NULL };
    f->sim = mg_test_spawn ("mg-provider-sim", env);
    int64_t deadline = mg_test_now_ms () + START_WAIT_MS;
    mg_http_reply_t reply = { 0 };
    while (f->sim > 0 && mg_test_now_ms () < deadline) {
        if (mg_http_request (f->port, "GET", "/_sim/stats", "", NULL, &reply, 1000) == 0 && reply.status == 200)
            break;
        mg_http_reply_free (&reply);
        usleep (100 * 1000);
    }
    bool up = reply.status == 200;
    mg_http_reply_free (&reply);
    //  Quick retries and a short per-attempt timeout for the held request.
    setenv ("MG_OPENAI_TIMEOUT_MS", "1000", 1);
    setenv ("MG_OPENAI_ATTEMPTS", "4", 1);
    *state = f;
    return up ? 0 : -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (f && f->sim > 0)
        mg_test_stop (f->sim, SIGTERM);
    return 0;
}

//  A fresh simulator state (no faults, counters at zero).
static int
s_reset (void **state)
{
    s_admin (*state, "/_sim/reset", "{}");
    return 0;
}

//  Embed texts with key; asserts the outcome rc.
static void
s_embed (fixture_t *f, const char *key, const char *const *texts, size_t count, float *out, int rc)
{
    embedder_openai_t *client = embedder_openai_new (f->base, key, "text-embedding-3-small", DIMS);
    assert_non_null (client);
    char err [512] = "";
    int got = embedder_openai_embed (client, texts, count, out, err, sizeof err);
    if (got != rc)
        fail_msg ("embed: %d, expected %d (%s)", got, rc, err);
    embedder_openai_destroy (&client);
}

static void
test_embedder_openai_batch_gives_unit_vectors_in_input_order (void **state)
{
    fixture_t *f = *state;
    const char *texts [3] = { "astronauts lost in space", "a chef in love", "astronauts lost in space" };
    float *out = malloc (3 * DIMS * sizeof *out);
    s_embed (f, "sk-test", texts, 3, out, 0);
    for (int i = 0; i < 3; i++) {
        double norm = 0;
        for (int d = 0; d < DIMS; d++)
            norm += (double) out [i * DIMS + d] * out [i * DIMS + d];
        assert_true (fabs (norm - 1) < 1e-4);
    }
    assert_memory_equal (out, out + 2 * DIMS, DIMS * sizeof *out);           //  same text, same vector
    assert_memory_not_equal (out, out + DIMS, DIMS * sizeof *out);
    assert_int_equal (s_requests (f), 1);                                    //  one batch, one request
    free (out);
}

static void
test_embedder_openai_retries_429_then_succeeds (void **state)
{
    fixture_t *f = *state;
    s_admin (f, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"429\",\"count\":1,\"retry_after\":1}");
    const char *texts [1] = { "a chef in love" };
    float out [DIMS];
    s_embed (f, "sk-test", texts, 1, out, 0);
    assert_int_equal (s_requests (f), 2);
}

static void
test_embedder_openai_a_retry_after_too_long_fails_without_retrying (void **state)
{
    fixture_t *f = *state;
    s_admin (f, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"429\",\"count\":1,\"retry_after\":3600}");
    const char *texts [1] = { "a chef in love" };
    float out [DIMS];
    s_embed (f, "sk-test", texts, 1, out, -1);
    assert_int_equal (s_requests (f), 1);
}

static void
test_embedder_openai_retries_5xx_timeouts_and_malformed_bodies (void **state)
{
    fixture_t *f = *state;
    s_admin (f, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"500\",\"count\":1}");
    s_admin (f, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"timeout\",\"count\":1}");
    s_admin (f, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"malformed\",\"count\":1}");
    const char *texts [2] = { "a chef in love", "astronauts" };
    float out [2 * DIMS];
    s_embed (f, "sk-test", texts, 2, out, 0);
    assert_int_equal (s_requests (f), 4);
    //  More failures than attempts: the call fails, after MG_OPENAI_ATTEMPTS requests.
    s_admin (f, "/_sim/faults", "{\"provider\":\"openai\",\"fault\":\"503\",\"count\":10}");
    s_embed (f, "sk-test", texts, 2, out, -1);
    assert_int_equal (s_requests (f), 8);
}

static void
test_embedder_openai_a_refused_key_is_not_retried (void **state)
{
    fixture_t *f = *state;
    const char *texts [1] = { "a chef in love" };
    float out [DIMS];
    s_embed (f, "invalid-key", texts, 1, out, -1);
    assert_int_equal (s_requests (f), 1);
}

static void
test_embedder_actor_with_openai_stores_and_embeds (void **state)
{
    fixture_t *f = *state;
    char url [512], err [256];
    PGconn *admin = mg_test_scratch_db ("mg_embedder_openai", url, sizeof url);
    assert_non_null (admin);
    PGconn *pg = mg_pg_connect (url, err, sizeof err);
    assert_non_null (pg);
    assert_true (mg_pg_migrate (pg, mg_config_str ("MG_SQL_DIR", "config/sql"), err, sizeof err) >= 0);
    PGresult *res = PQexec (pg,
        "INSERT INTO content (id, type, title, overview, checksum) VALUES "
        "('" ID ("1") "', 'movie', 'Star Voyager', 'An astronaut crew pilots a spaceship.', '\\x00'), "
        "('" ID ("2") "', 'movie', 'Kitchen Hearts', 'A chef falls in love.', '\\x00')");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    mg_test_env_t env;
    mg_test_env_init (&env, url);
    mg_test_env_add (&env, "MG_EMBED_BACKEND=openai");
    mg_test_env_add (&env, "MG_OPENAI_BASE_URL=%s", f->base);
    mg_test_env_add (&env, "OPENAI_API_KEY=sk-test");
    mg_test_env_add (&env, "MG_REDIS_URL=%s", mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:56379"));
    pid_t broker = mg_test_spawn ("mg-broker", env.envp);
    pid_t embedder = mg_test_spawn ("mg-embedder", env.envp);
    assert_int_equal (mg_test_wait_service (env.endpoint, "embedder", START_WAIT_MS), 0);
    int64_t until = mg_test_now_ms () + WAIT_MS;
    long stored = 0;
    while (stored < 2 && mg_test_now_ms () < until) {
        res = PQexec (pg, "SELECT count(*) FROM content_vectors WHERE model = 'openai-text-embedding-3-small-768d' "
                          "AND dims = 768 AND cardinality (vector) = 768");
        stored = PQresultStatus (res) == PGRES_TUPLES_OK ? atol (PQgetvalue (res, 0, 0)) : 0;
        PQclear (res);
        if (stored < 2)
            zclock_sleep (50);
    }
    assert_int_equal (stored, 2);
    mg_client_t *client = mg_client_new (env.endpoint);
    char text [64];
    snprintf (text, sizeof text, "astronaut %d %ld", (int) getpid (), (long) mg_test_now_ms ());
    char *texts [1] = { text };
    mg_embed_request_t req = { .texts = texts, .texts_count = 1 };
    mg_embed_reply_t rep;
    mg_error_t error = { 0 };
    assert_int_equal (mg_client_call (client, "embedder.embed", &mg_embed_request_desc, &req, &mg_embed_reply_desc,
                                      &rep, 5000, &error), 0);
    assert_string_equal (rep.model, "openai-text-embedding-3-small-768d");
    assert_int_equal (rep.dims, DIMS);
    assert_int_equal (rep.vectors_count, 1);
    assert_non_null (rep.vectors [0].vector);
    assert_int_equal (strlen (rep.vectors [0].vector), 4 * ((DIMS * 4 + 2) / 3));
    mg_msg_clear (&mg_embed_reply_desc, &rep);
    mg_client_destroy (&client);
    mg_test_stop (embedder, SIGTERM);
    mg_test_stop (broker, SIGTERM);
    PQfinish (pg);
    mg_test_drop_db (&admin, url);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup (test_embedder_openai_batch_gives_unit_vectors_in_input_order, s_reset),
        cmocka_unit_test_setup (test_embedder_openai_retries_429_then_succeeds, s_reset),
        cmocka_unit_test_setup (test_embedder_openai_a_retry_after_too_long_fails_without_retrying, s_reset),
        cmocka_unit_test_setup (test_embedder_openai_retries_5xx_timeouts_and_malformed_bodies, s_reset),
        cmocka_unit_test_setup (test_embedder_openai_a_refused_key_is_not_retried, s_reset),
        cmocka_unit_test_setup (test_embedder_actor_with_openai_stores_and_embeds, s_reset),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
