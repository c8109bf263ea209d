/*  mg-search over a real broker and PostgreSQL: a replica loads fixture
    rows from a scratch database, answers search.query and
    search.autocomplete, re-reads a title named by a content.changed event,
    reloads everything when the event numbers jump (a gap), drops a
    deleted title, and answers two clients at once (its worker threads hold
    its lock for reading) while it applies a stream of changes.

    Fixtures: a movie "Amélie" (2001, comedy, romance; netflix FR), a tv
    "The Matrix Files" (1999, science-fiction), a movie "Matrix Revisited"
    (2001, documentary, overview mentions Keanu), a movie "Harbour Lights"
    (2003, an overview full of love that will change your life).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"

#define CALL_TTL_MS  5000
#define WAIT_MS      10000
#define STRESS_MS    3000       //  queries and changes at once
#define CLIENTS      2          //  clients querying at once (the replica's MG_WORKER_THREADS)

#define ID(x) "00000000-0000-4000-8000-0000000000" x

typedef struct {
    char url [512];
    mg_test_env_t env;
    char pub [80];
    PGconn *admin;
    PGconn *pg;
    pid_t broker;
    pid_t search;
    mg_client_t *client;
    zsock_t *events;
} fixture_t;

static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, original_title, year, overview, tagline, popularity, "
    "  vote_average, vote_count, keywords, checksum) VALUES "
    "('" ID ("a1") "', 'movie', 'Amélie', 'Le Fabuleux Destin d''Amélie Poulain', 2001, "
    "  'A shy waitress in Montmartre.', 'She''ll change your life.', 40, 7.8, 8000, '{paris,love}', '\\x00'), "
    "('" ID ("b2") "', 'tv', 'The Matrix Files', NULL, 1999, 'Hackers and agents.', NULL, 5, 6.0, 10, "
    "  '{hacker}', '\\x00'), "
    "('" ID ("c3") "', 'movie', 'Matrix Revisited', NULL, 2001, 'Keanu Reeves looks back.', NULL, 2, NULL, 0, "
    "  '{}', '\\x00'), "
    "('" ID ("e5") "', 'movie', 'Harbour Lights', NULL, 2003, 'Love, love and more love: it will change your life.', "
    "  NULL, 90, 6.5, 300, '{}', '\\x00')",
    "INSERT INTO content_genres (content_id, genre_id) SELECT x.id::uuid, g.id FROM (VALUES "
    "('" ID ("a1") "', 'comedy'), ('" ID ("a1") "', 'romance'), ('" ID ("b2") "', 'science-fiction'), "
    "('" ID ("c3") "', 'documentary')) x (id, slug) JOIN genres g ON g.slug = x.slug",
    "INSERT INTO external_ids (content_id, source, value) VALUES ('" ID ("a1") "', 'tmdb', '194')",
    "INSERT INTO credits (content_id, role, ord, person_name) VALUES ('" ID ("a1") "', 'cast', 0, 'Audrey Tautou')",
    "INSERT INTO availability (content_id, platform, region, type, quality, source) VALUES "
    "('" ID ("a1") "', 'netflix', 'FR', 'subscription', 'hd', 'sim')",
};

//  Run one statement; asserts success.
static void
s_exec (fixture_t *f, const char *sql)
{
    PGresult *res = PQexec (f->pg, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK)
        fail_msg ("%s: %s", sql, PQresultErrorMessage (res));
    PQclear (res);
}

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    char err [256];
    PGresult *res;
    f->admin = mg_test_scratch_db ("mg_search_follow", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    //  Migrate and write the fixtures before the replica takes its snapshot.
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    if (!f->pg || mg_pg_migrate (f->pg, mg_config_str ("MG_SQL_DIR", "config/sql"), err, sizeof err) < 0) {
        fprintf (stderr, "migrate: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < sizeof s_fixtures / sizeof s_fixtures [0]; i++) {
        res = PQexec (f->pg, s_fixtures [i]);
        int ok = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf (stderr, "fixture %zu: %s", i, PQresultErrorMessage (res));
        PQclear (res);
        if (!ok)
            return -1;
    }
    mg_test_env_init (&f->env, f->url);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->search = mg_test_spawn ("mg-search", f->env.envp);
    snprintf (f->pub, sizeof f->pub, "%s", f->env.publish);
    f->events = mg_test_socket (ZMQ_PUB, f->pub, NULL);
    f->client = mg_client_new (f->env.endpoint);
    //  The replica registers once its index is loaded.
    bool up = mg_test_wait_service (f->env.endpoint, "search", 20000) == 0;
    return up && f->events && f->client ? 0 : -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    mg_client_destroy (&f->client);
    zsock_destroy (&f->events);
    if (f->search > 0)
        mg_test_stop (f->search, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  search.query for q (and filters in req); asserts success.
static void
s_search (fixture_t *f, mg_search_request_t *req, mg_search_reply_t *rep)
{
    mg_error_t err = { 0 };
    int rc = mg_client_call (f->client, "search.query", &mg_search_request_desc, req,
                             &mg_search_reply_desc, rep, CALL_TTL_MS, &err);
    if (rc)
        fail_msg ("search.query %s: %s %s", req->q, err.code, err.message);
}

//  Id of the first result of q, or "" (into out).
static void
s_first (fixture_t *f, const char *q, char out [40])
{
    mg_search_request_t req = { .q = (char *) q, .mode = "keyword" };
    mg_search_reply_t rep;
    s_search (f, &req, &rep);
    snprintf (out, 40, "%s", rep.results_count ? rep.results [0].id : "");
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

//  Publish content.changed number seq for id once.
static void
s_publish (fixture_t *f, uint64_t seq, const char *id)
{
    mg_change_event_t event = {
        .stream = "content.changed", .seq = seq, .has_seq = true, .content_id = (char *) id, .kind = "upsert"
    };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_encode (&mg_change_event_desc, &event, &body, &len, reason, sizeof reason), 0);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "content.changed");
    zmsg_addmem (msg, body, len);
    if (zmsg_send (&msg, f->events))
        zmsg_destroy (&msg);
    free (body);
}

//  Publish content.changed number seq for id until q's first result is
//  expected ("" = no result) or WAIT_MS pass (a new PUB connection drops
//  what it sends before the proxy subscribed; a number already applied is
//  ignored by the replica, so sending it again is harmless).
static bool
s_publish_until (fixture_t *f, uint64_t seq, const char *id, const char *q, const char *expected)
{
    int64_t until = mg_test_now_ms () + WAIT_MS;
    bool seen = false;
    while (!seen && mg_test_now_ms () < until) {
        s_publish (f, seq, id);
        zclock_sleep (100);
        char first [40];
        s_first (f, q, first);
        seen = strcmp (first, expected) == 0;
    }
    return seen;
}

static void
test_search_finds_accented_titles_typed_plainly (void **state)
{
    fixture_t *f = *state;
    char first [40];
    s_first (f, "amelie", first);
    assert_string_equal (first, ID ("a1"));
    s_first (f, "fabuleux destin", first);          //  original title
    assert_string_equal (first, ID ("a1"));
    s_first (f, "amelei", first);                    //  a transposition
    assert_string_equal (first, ID ("a1"));
    s_first (f, "matrix fil", first);                //  last word as a prefix
    assert_string_equal (first, ID ("b2"));
}

static void
test_search_filters_facets_and_pages (void **state)
{
    fixture_t *f = *state;
    char *types [] = { "types" }, *years [] = { "years" };
    mg_search_request_t req = { .q = "matrix", .type = "movie", .facets = types, .facets_count = 1 };
    mg_search_reply_t rep;
    s_search (f, &req, &rep);
    assert_int_equal (rep.total, 1);
    assert_true (rep.has_total_exact && rep.total_exact);
    assert_string_equal (rep.results [0].id, ID ("c3"));
    assert_null (rep.facets->genres);               //  not asked for
    assert_int_equal (rep.facets->types_count, 1);
    assert_string_equal (rep.facets->types [0].value, "movie");
    mg_msg_clear (&mg_search_reply_desc, &rep);

    req = (mg_search_request_t) { .q = "matrix", .per_page = 1, .has_per_page = true, .page = 2, .has_page = true,
                                  .sort = "popularity", .facets = years, .facets_count = 1 };
    s_search (f, &req, &rep);
    assert_int_equal (rep.total, 2);
    assert_int_equal (rep.results_count, 1);
    assert_string_equal (rep.results [0].id, ID ("c3"));     //  the less popular one
    assert_int_equal (rep.facets->years_count, 2);
    assert_string_equal (rep.facets->years [0].value, "2001");
    mg_msg_clear (&mg_search_reply_desc, &rep);

    char *platforms [] = { "NETFLIX" };
    req = (mg_search_request_t) { .q = "amelie", .platforms = platforms, .platforms_count = 1, .region = "fr" };
    s_search (f, &req, &rep);
    assert_int_equal (rep.total, 1);
    assert_int_equal (rep.results [0].availability_count, 1);
    assert_int_equal (rep.results [0].external_ids->tmdb, 194);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    req.region = "US";
    s_search (f, &req, &rep);
    assert_int_equal (rep.total, 0);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_search_autocomplete_suggests_titles_and_people (void **state)
{
    fixture_t *f = *state;
    mg_autocomplete_request_t req = { .q = "audrey tau" };
    mg_autocomplete_reply_t rep;
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "search.autocomplete", &mg_autocomplete_request_desc, &req,
                                      &mg_autocomplete_reply_desc, &rep, CALL_TTL_MS, &err), 0);
    assert_int_equal (rep.results_count, 1);
    assert_string_equal (rep.results [0].id, ID ("a1"));
    assert_string_equal (rep.results [0].person, "Audrey Tautou");
    mg_msg_clear (&mg_autocomplete_reply_desc, &rep);
}

//  Exactness of the first result of q (keyword mode, explain) and its id.
static double
s_first_exactness (fixture_t *f, const char *q, char out [40])
{
    mg_search_request_t req = { .q = (char *) q, .mode = "keyword", .explain = true, .has_explain = true };
    mg_search_reply_t rep;
    s_search (f, &req, &rep);
    assert_true (rep.results_count > 0);
    assert_non_null (rep.results [0].explain);
    snprintf (out, 40, "%s", rep.results [0].id);
    double exactness = rep.results [0].explain->exactness;
    mg_msg_clear (&mg_search_reply_desc, &rep);
    return exactness;
}

static void
test_search_ranks_a_named_tag_and_a_quoted_tagline_first (void **state)
{
    fixture_t *f = *state;
    char first [40];
    //  "love" is one of Amélie's keywords; Harbour Lights says it three
    //  times in its overview and is more popular.
    assert_true (s_first_exactness (f, "love", first) >= 0.8);
    assert_string_equal (first, ID ("a1"));
    //  Amélie's tagline, quoted; Harbour Lights' overview has the same words.
    assert_true (s_first_exactness (f, "she'll change your life!", first) >= 1.0);
    assert_string_equal (first, ID ("a1"));
}

static void
test_search_follows_changes_and_resyncs_after_a_gap (void **state)
{
    fixture_t *f = *state;
    //  The next number: the title is re-read.
    s_exec (f, "UPDATE content SET title = 'Zebra Crossing', version = version + 1 WHERE id = '" ID ("b2") "'");
    s_exec (f, "UPDATE change_streams SET last_seq = 1 WHERE stream = 'content.changed'");
    assert_true (s_publish_until (f, 1, ID ("b2"), "zebra", ID ("b2")));
    //  A jump: events were lost, so the replica reloads everything, the
    //  title inserted without any event included.
    s_exec (f, "INSERT INTO content (id, type, title, popularity, checksum) VALUES "
               "('" ID ("d4") "', 'movie', 'Quokka Island', 1, '\\x00')");
    s_exec (f, "UPDATE change_streams SET last_seq = 10 WHERE stream = 'content.changed'");
    assert_true (s_publish_until (f, 10, ID ("b2"), "quokka", ID ("d4")));
    //  A deleted title leaves the index.
    s_exec (f, "DELETE FROM content WHERE id = '" ID ("d4") "'");
    s_exec (f, "UPDATE change_streams SET last_seq = 11 WHERE stream = 'content.changed'");
    assert_true (s_publish_until (f, 11, ID ("d4"), "quokka", ""));
}

//  One client querying the replica until stop: a title no change touches
//  must stay the first answer, whatever the follower applies meanwhile.
typedef struct {
    const char *endpoint;
    atomic_bool *stop;
    size_t answered, wrong, failed;
} s_client_run_t;

static void *
s_client_run (void *arg)
{
    s_client_run_t *run = arg;
    mg_client_t *client = mg_client_new (run->endpoint);
    static const char *const modes [] = { "keyword", "hybrid" };
    for (size_t i = 0; client && !atomic_load (run->stop); i++) {
        mg_search_request_t req = { .q = i % 3 ? "amelie" : "matrix revisited", .mode = (char *) modes [i % 2] };
        mg_search_reply_t rep = { 0 };
        mg_error_t err = { 0 };
        if (mg_client_call (client, "search.query", &mg_search_request_desc, &req, &mg_search_reply_desc, &rep,
                            CALL_TTL_MS, &err)) {
            fprintf (stderr, "search.query %s: %s %s\n", req.q, err.code, err.message);
            run->failed++;
            mg_msg_clear (&mg_error_desc, &err);
            continue;
        }
        const char *expected = i % 3 ? ID ("a1") : ID ("c3");
        if (!rep.results_count || strcmp (rep.results [0].id, expected) != 0)
            run->wrong++;
        run->answered++;
        mg_msg_clear (&mg_search_reply_desc, &rep);
    }
    mg_client_destroy (&client);
    return NULL;
}

static void
test_search_answers_clients_at_once_while_changes_apply (void **state)
{
    fixture_t *f = *state;
    atomic_bool stop = false;
    s_client_run_t runs [CLIENTS];
    pthread_t threads [CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        runs [i] = (s_client_run_t) { .endpoint = f->env.endpoint, .stop = &stop };
        assert_int_equal (pthread_create (&threads [i], NULL, s_client_run, &runs [i]), 0);
    }
    //  Meanwhile a stream of changes, each the next number (after the
    //  previous test's 11): the follower re-reads the title under its
    //  write lock between the clients' queries.
    uint64_t seq = 11;
    char sql [256];
    for (int64_t until = mg_test_now_ms () + STRESS_MS; mg_test_now_ms () < until; ) {
        seq++;
        snprintf (sql, sizeof sql, "UPDATE content SET title = 'Zebra Crossing %llu', version = version + 1 "
                  "WHERE id = '" ID ("b2") "'", (unsigned long long) seq);
        s_exec (f, sql);
        snprintf (sql, sizeof sql, "UPDATE change_streams SET last_seq = %llu WHERE stream = 'content.changed'",
                  (unsigned long long) seq);
        s_exec (f, sql);
        s_publish (f, seq, ID ("b2"));
        zclock_sleep (20);
    }
    atomic_store (&stop, true);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join (threads [i], NULL);
    //  The last change is in the index: the replica kept following.
    char last [64];
    snprintf (last, sizeof last, "crossing %llu", (unsigned long long) seq);
    assert_true (s_publish_until (f, seq, ID ("b2"), last, ID ("b2")));
    for (int i = 0; i < CLIENTS; i++) {
        fprintf (stderr, "client %d: %zu answers, %zu wrong, %zu failed\n", i, runs [i].answered, runs [i].wrong,
                 runs [i].failed);
        assert_true (runs [i].answered > 0);
        assert_int_equal (runs [i].wrong, 0);
        assert_int_equal (runs [i].failed, 0);
    }
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_search_finds_accented_titles_typed_plainly),
        cmocka_unit_test (test_search_filters_facets_and_pages),
        cmocka_unit_test (test_search_autocomplete_suggests_titles_and_people),
        cmocka_unit_test (test_search_ranks_a_named_tag_and_a_quoted_tagline_first),
        cmocka_unit_test (test_search_follows_changes_and_resyncs_after_a_gap),
        cmocka_unit_test (test_search_answers_clients_at_once_while_changes_apply),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
