/*  mg-embedder over a real broker, PostgreSQL and Redis, beside a search
    replica: it stores one unit vector per title in content_vectors (and
    announces each on vectors.changed), answers embedder.embed from the
    model and then from the Redis cache, re-embeds a title whose text
    changed and the whole catalog when the model changes; the search
    replica follows stored vector changes (similar titles move with them).

    Fixtures: three titles about astronauts in space, three about chefs in
    love; LSA models trained on them by mg-embed-train (3 and 2 dims).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"

#define CALL_TTL_MS  5000
#define WAIT_MS      20000

#define ID(x) "00000000-0000-4000-8000-00000000061" x
#define SPACE1   ID ("1")
#define SPACE2   ID ("2")
#define SPACE3   ID ("3")
#define COOK1    ID ("4")
#define COOK2    ID ("5")
#define COOK3    ID ("6")

typedef struct {
    char url [512];
    char model_a [256], model_b [256];
    char env_model [300];
    mg_test_env_t env;
    PGconn *admin;
    PGconn *pg;
    pid_t broker, embedder, search;
    mg_client_t *client;
    zsock_t *vectors;               //  SUB vectors.changed
    zsock_t *publish;               //  PUB, as the embedder would
} fixture_t;

static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, year, overview, popularity, checksum) VALUES "
    "('" SPACE1 "', 'movie', 'Star Voyager', 2001, 'An astronaut crew pilots a spaceship across the galaxy to a distant planet.', 10, '\\x00'), "
    "('" SPACE2 "', 'movie', 'Galaxy Drifters', 2005, 'Astronauts on a damaged spaceship drift through the galaxy toward an alien planet.', 8, '\\x00'), "
    "('" SPACE3 "', 'tv', 'Moon Station', 2010, 'A lonely astronaut on a lunar station watches the planet and the galaxy.', 6, '\\x00'), "
    "('" COOK1 "', 'movie', 'Kitchen Hearts', 2012, 'A chef falls in love with a baker while cooking in a small restaurant kitchen.', 9, '\\x00'), "
    "('" COOK2 "', 'movie', 'Recipe for Love', 2015, 'Two rival chefs cook in the same restaurant kitchen and fall in love.', 7, '\\x00'), "
    "('" COOK3 "', 'tv', 'The Last Bakery', 2018, 'A baker and a chef save a family restaurant kitchen with one recipe.', 5, '\\x00')",
    "INSERT INTO content_genres (content_id, genre_id) SELECT x.id::uuid, g.id FROM (VALUES "
    "('" SPACE1 "', 'science-fiction'), ('" SPACE2 "', 'science-fiction'), ('" SPACE3 "', 'science-fiction'), "
    "('" COOK1 "', 'romance'), ('" COOK2 "', 'romance'), ('" COOK3 "', 'comedy')) x (id, slug) "
    "JOIN genres g ON g.slug = x.slug",
};

//  Run mg-embed-train --dims dims --out path on the fixture database.
static bool
s_train (fixture_t *f, const char *dims, const char *path)
{
    char bin [1024];
    snprintf (bin, sizeof bin, "%s/mg-embed-train", MG_BIN_DIR);
    pid_t pid = fork ();
    if (pid == 0) {
        setenv ("MG_PG_URL", f->url, 1);
        execl (bin, bin, "--dims", dims, "--out", path, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    return pid > 0 && waitpid (pid, &status, 0) == pid && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

//  Start mg-embedder with the model at path.
static pid_t
s_start_embedder (fixture_t *f, const char *path)
{
    //  The env's last setting is the model: replaced for a restart.
    snprintf (f->env.text [f->env.count - 1], sizeof f->env.text [0], "MG_EMBED_MODEL=%s", path);
    return mg_test_spawn ("mg-embedder", f->env.envp);
}

//  First integer of a one-row query.
static long
s_scalar (fixture_t *f, const char *sql)
{
    PGresult *res = PQexec (f->pg, sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1)
        fail_msg ("%s: %s", sql, PQresultErrorMessage (res));
    long v = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    return v;
}

//  Wait until sql answers want; true when it did within WAIT_MS.
static bool
s_wait_scalar (fixture_t *f, const char *sql, long want)
{
    int64_t until = mg_test_now_ms () + WAIT_MS;
    while (mg_test_now_ms () < until) {
        if (s_scalar (f, sql) == want)
            return true;
        zclock_sleep (50);
    }
    return false;
}

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    char err [256];
    if (sodium_init () < 0)
        return -1;
    f->admin = mg_test_scratch_db ("mg_embedder", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    if (!f->pg || mg_pg_migrate (f->pg, mg_config_str ("MG_SQL_DIR", "config/sql"), err, sizeof err) < 0) {
        fprintf (stderr, "migrate: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < sizeof s_fixtures / sizeof s_fixtures [0]; i++) {
        PGresult *res = PQexec (f->pg, s_fixtures [i]);
        int ok = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf (stderr, "fixture %zu: %s", i, PQresultErrorMessage (res));
        PQclear (res);
        if (!ok)
            return -1;
    }
    snprintf (f->model_a, sizeof f->model_a, "/tmp/mg_embedder_%d_a.model", (int) getpid ());
    snprintf (f->model_b, sizeof f->model_b, "/tmp/mg_embedder_%d_b.model", (int) getpid ());
    if (!s_train (f, "3", f->model_a) || !s_train (f, "2", f->model_b)) {
        fprintf (stderr, "mg-embed-train failed\n");
        return -1;
    }
    mg_test_env_init (&f->env, f->url);
    mg_test_env_add (&f->env, "MG_REDIS_URL=%s", mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:56379"));
    mg_test_env_add (&f->env, "MG_EMBED_SYNC_MS=200");
    mg_test_env_add (&f->env, "MG_EMBED_MODEL=%s", f->model_a);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->vectors = mg_test_socket (ZMQ_SUB, f->env.events, "vectors.changed");
    f->publish = mg_test_socket (ZMQ_PUB, f->env.publish, NULL);
    f->client = mg_client_new (f->env.endpoint);
    //  The replica first, so that it sees the embedder's vectors arrive.
    f->search = mg_test_spawn ("mg-search", f->env.envp);
    bool up = mg_test_wait_service (f->env.endpoint, "search", 20000) == 0;
    zclock_sleep (300);             //  our SUB joins the proxy before the first vectors.changed
    f->embedder = s_start_embedder (f, f->model_a);
    up = up && mg_test_wait_service (f->env.endpoint, "embedder", 20000) == 0;
    return up && f->vectors && f->publish && f->client ? 0 : -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    mg_client_destroy (&f->client);
    zsock_destroy (&f->vectors);
    zsock_destroy (&f->publish);
    if (f->embedder > 0)
        mg_test_stop (f->embedder, SIGTERM);
    if (f->search > 0)
        mg_test_stop (f->search, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    remove (f->model_a);
    remove (f->model_b);
    free (f);
    return 0;
}

static void
test_embedder_stores_a_unit_vector_per_title_and_announces_it (void **state)
{
    fixture_t *f = *state;
    assert_true (s_wait_scalar (f, "SELECT count(*) FROM content_vectors WHERE dims = 3 AND model LIKE 'lsa-3d-%'", 6));
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_vectors "
                                   "WHERE abs (sqrt ((SELECT sum (x * x) FROM unnest (vector) x)) - 1) < 1e-4"), 6);
    //  Six vectors.changed events, numbered from the stream's last number.
    long last = s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'vectors.changed'");
    assert_true (last >= 6);
    int seen = 0;
    zpoller_t *poller = zpoller_new (f->vectors, NULL);
    while (seen < 6 && zpoller_wait (poller, 2000)) {
        zmsg_t *msg = zmsg_recv (f->vectors);
        char *topic = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        mg_change_event_t event;
        char reason [MG_MSG_ERR_LEN];
        assert_string_equal (topic, "vectors.changed");
        assert_int_equal (mg_msg_decode (&mg_change_event_desc, zframe_data (body), zframe_size (body), &event,
                                         reason, sizeof reason), 0);
        assert_true (event.seq >= 1 && (long) event.seq <= last);
        mg_msg_clear (&mg_change_event_desc, &event);
        free (topic);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
        seen++;
    }
    zpoller_destroy (&poller);
    assert_int_equal (seen, 6);
}

//  embedder.embed of texts (count of them); asserts success.
static void
s_embed (fixture_t *f, char **texts, size_t count, mg_embed_reply_t *rep)
{
    mg_embed_request_t req = { .texts = texts, .texts_count = count };
    mg_error_t err = { 0 };
    if (mg_client_call (f->client, "embedder.embed", &mg_embed_request_desc, &req, &mg_embed_reply_desc, rep,
                        CALL_TTL_MS, &err))
        fail_msg ("embedder.embed: %s %s", err.code, err.message);
}

//  Decode a base64 vector of dims floats into out; its length.
static double
s_decode (const char *b64, float *out, uint32_t dims)
{
    size_t len = 0;
    assert_int_equal (sodium_base642bin ((unsigned char *) out, dims * sizeof *out, b64, strlen (b64), NULL, &len,
                                         NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal (len, dims * sizeof *out);
    double norm = 0;
    for (uint32_t d = 0; d < dims; d++)
        norm += (double) out [d] * out [d];
    return sqrt (norm);
}

static void
test_embedder_embeds_a_batch_then_answers_from_the_cache (void **state)
{
    fixture_t *f = *state;
    //  Unique texts: the Redis cache outlives runs of this test.
    char text [2][128];
    snprintf (text [0], sizeof text [0], "astronaut galaxy spaceship %d %ld", (int) getpid (), (long) mg_test_now_ms ());
    snprintf (text [1], sizeof text [1], "qqqq%dzzzz", (int) getpid ());
    char *texts [3] = { text [0], text [1], "chef kitchen" };
    mg_embed_reply_t rep;
    s_embed (f, texts, 3, &rep);
    assert_int_equal (rep.dims, 3);
    assert_non_null (strstr (rep.model, "lsa-3d-"));
    assert_int_equal (rep.vectors_count, 3);
    float a [3], c [3];
    assert_non_null (rep.vectors [0].vector);
    assert_true (fabs (s_decode (rep.vectors [0].vector, a, 3) - 1) < 1e-4);
    assert_false (rep.vectors [0].cached);
    assert_null (rep.vectors [1].vector);                //  no word the model knows
    assert_true (fabs (s_decode (rep.vectors [2].vector, c, 3) - 1) < 1e-4);
    //  Space and kitchen are different topics.
    assert_true (a [0] * c [0] + a [1] * c [1] + a [2] * c [2] < 0.5);
    mg_msg_clear (&mg_embed_reply_desc, &rep);
    s_embed (f, texts, 2, &rep);
    assert_true (rep.vectors [0].cached);
    assert_true (rep.vectors [1].cached);
    assert_null (rep.vectors [1].vector);
    float again [3];
    s_decode (rep.vectors [0].vector, again, 3);
    assert_memory_equal (again, a, sizeof a);
    mg_msg_clear (&mg_embed_reply_desc, &rep);
    //  Too long a text is the caller's fault.
    char *long_text = calloc (1, 1100);
    memset (long_text, 'a', 1099);
    mg_embed_request_t req = { .texts = &long_text, .texts_count = 1 };
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "embedder.embed", &mg_embed_request_desc, &req, &mg_embed_reply_desc,
                                      &rep, CALL_TTL_MS, &err), -1);
    assert_non_null (err.code);
    mg_msg_clear (&mg_error_desc, &err);
    free (long_text);
}

static void
test_embedder_reembeds_a_title_whose_text_changed (void **state)
{
    fixture_t *f = *state;
    assert_true (s_wait_scalar (f, "SELECT count(*) FROM content_vectors", 6));
    PQclear (PQexec (f->pg, "CREATE TEMP TABLE before AS SELECT vector, updated_at FROM content_vectors "
                            "WHERE content_id = '" COOK3 "'"));
    PQclear (PQexec (f->pg, "UPDATE content SET overview = 'An astronaut bakes bread on a spaceship in the galaxy.' "
                            "WHERE id = '" COOK3 "'"));
    //  No event needed: the syncer's pass finds the stale text.
    assert_true (s_wait_scalar (f, "SELECT count(*) FROM content_vectors v, before b WHERE v.content_id = '" COOK3 "' "
                                   "AND v.updated_at > b.updated_at AND v.vector <> b.vector", 1));
}

//  similar titles of id through the bus; the first result's id into first.
static void
s_similar_first (fixture_t *f, const char *id, char first [40])
{
    mg_similar_request_t req = { .id = (char *) id };
    mg_similar_reply_t rep;
    mg_error_t err = { 0 };
    if (mg_client_call (f->client, "search.similar", &mg_similar_request_desc, &req, &mg_similar_reply_desc, &rep,
                        CALL_TTL_MS, &err))
        fail_msg ("search.similar: %s %s", err.code, err.message);
    snprintf (first, 40, "%s", rep.results_count ? rep.results [0].id : "");
    mg_msg_clear (&mg_similar_reply_desc, &rep);
}

static void
test_search_replica_follows_stored_vector_changes (void **state)
{
    fixture_t *f = *state;
    char first [40];
    s_similar_first (f, SPACE1, first);
    assert_true (strcmp (first, SPACE2) == 0 || strcmp (first, SPACE3) == 0);
    //  Store COOK2's vector for SPACE1 (same model and text: the embedder
    //  leaves it), number it on the stream and announce it as the embedder would.
    PGresult *res = PQexec (f->pg,
        "WITH v AS (UPDATE content_vectors SET vector = (SELECT vector FROM content_vectors WHERE content_id = '" COOK2 "') "
        "  WHERE content_id = '" SPACE1 "' RETURNING 1) "
        "UPDATE change_streams SET last_seq = last_seq + 1 WHERE stream = 'vectors.changed' AND EXISTS (SELECT 1 FROM v) "
        "RETURNING last_seq");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    uint64_t seq = strtoull (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    mg_change_event_t event = {
        .stream = "vectors.changed", .seq = seq, .has_seq = true, .content_id = SPACE1, .kind = "upsert"
    };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_encode (&mg_change_event_desc, &event, &body, &len, reason, sizeof reason), 0);
    int64_t until = mg_test_now_ms () + WAIT_MS;
    bool moved = false;
    while (!moved && mg_test_now_ms () < until) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, "vectors.changed");
        zmsg_addmem (msg, body, len);
        if (zmsg_send (&msg, f->publish))
            zmsg_destroy (&msg);
        zclock_sleep (100);
        s_similar_first (f, SPACE1, first);
        moved = strcmp (first, COOK2) == 0;        //  its vector is now COOK2's: cosine 1
    }
    free (body);
    assert_true (moved);
}

static void
test_embedder_model_change_reembeds_the_catalog (void **state)
{
    fixture_t *f = *state;
    assert_true (s_wait_scalar (f, "SELECT count(*) FROM content_vectors WHERE model LIKE 'lsa-3d-%'", 6));
    mg_test_stop (f->embedder, SIGTERM);
    f->embedder = s_start_embedder (f, f->model_b);
    assert_true (f->embedder > 0);
    assert_true (s_wait_scalar (f, "SELECT count(*) FROM content_vectors WHERE model LIKE 'lsa-2d-%' AND dims = 2", 6));
    mg_embed_reply_t rep;
    char *texts [1] = { "astronaut galaxy" };
    s_embed (f, texts, 1, &rep);
    assert_int_equal (rep.dims, 2);
    assert_non_null (strstr (rep.model, "lsa-2d-"));
    mg_msg_clear (&mg_embed_reply_desc, &rep);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_embedder_stores_a_unit_vector_per_title_and_announces_it),
        cmocka_unit_test (test_embedder_embeds_a_batch_then_answers_from_the_cache),
        cmocka_unit_test (test_embedder_reembeds_a_title_whose_text_changed),
        cmocka_unit_test (test_search_replica_follows_stored_vector_changes),
        cmocka_unit_test (test_embedder_model_change_reembeds_the_catalog),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
