/*  A replica's index persisted (MG_SEARCH_INDEX_FILE: the vectors, and
    beside them the SQLite database and the doc table) across restarts,
    over a real broker, real mg-search processes and a scratch catalog
    with an LSA model (mg-embed-train): the first replica builds the index
    and saves it; a new replica process of the same catalog generation
    reads it (its log says so, and it builds nothing) and answers keyword
    and semantic search as the first did; a truncated database file, one
    with bytes changed, or a doc table file of garbage is built anew (never
    served, never a crash);
    once the generation moves (a title added, its change event numbered),
    the next replica builds and saves anew, and a replica read from those
    files applies the next change event as after any load.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"

#define CALL_TTL_MS   5000
#define START_WAIT_MS 60000     //  migrations, snapshot load, build and registration, on a loaded machine
#define LOG_BYTES     (256 * 1024)

#define ID(x) "00000000-0000-4000-8000-00000000071" x

typedef struct {
    char url [512];
    char model [256];
    char index [256];
    char log [256];
    mg_test_env_t env;
    PGconn *admin;
    pid_t broker;
    pid_t replica;              //  the replica running, 0: none (stopped by teardown after a failure)
    mg_client_t *client;
} fixture_t;

static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, year, overview, popularity, checksum) VALUES "
    "('" ID ("1") "', 'movie', 'Star Voyager', 2001, 'An astronaut crew pilots a spaceship across the galaxy to a distant planet.', 10, '\\x00'), "
    "('" ID ("2") "', 'movie', 'Galaxy Drifters', 2005, 'Astronauts on a damaged spaceship drift through the galaxy toward an alien planet.', 8, '\\x00'), "
    "('" ID ("3") "', 'movie', 'Kitchen Hearts', 2012, 'A chef falls in love with a baker while cooking in a small restaurant kitchen.', 9, '\\x00'), "
    "('" ID ("4") "', 'movie', 'Recipe for Love', 2015, 'Two rival chefs cook in the same restaurant kitchen and fall in love.', 7, '\\x00')",
};

//  Run SQL on the scratch database; true when it succeeded.
static bool
s_sql (fixture_t *f, const char *sql)
{
    char err [256];
    PGconn *pg = mg_pg_connect (f->url, err, sizeof err);
    PGresult *res = pg ? PQexec (pg, sql) : NULL;
    bool ok = res && PQresultStatus (res) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf (stderr, "%s: %s\n", sql, res ? PQresultErrorMessage (res) : err);
    PQclear (res);
    PQfinish (pg);
    return ok;
}

//  A replica with its log in f->log (truncated), registered with the
//  broker (ping answered by it) within START_WAIT_MS; 0 when it did not.
static pid_t
s_replica (fixture_t *f)
{
    int fd = open (f->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int saved = dup (STDERR_FILENO);
    if (fd >= 0 && saved >= 0)
        dup2 (fd, STDERR_FILENO);
    pid_t pid = mg_test_spawn ("mg-search", f->env.envp);
    if (fd >= 0 && saved >= 0)
        dup2 (saved, STDERR_FILENO);
    if (saved >= 0)
        close (saved);
    if (fd >= 0)
        close (fd);
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (pid > 0 && mg_test_now_ms () < until) {
        mg_ping_reply_t pong;
        mg_error_t err = { 0 };
        if (mg_client_call (f->client, "search.ping", NULL, NULL, &mg_ping_reply_desc, &pong, 1000, &err) == 0) {
            bool found = pong.pid == (uint64_t) pid;
            mg_msg_clear (&mg_ping_reply_desc, &pong);
            if (found)
                return f->replica = pid;
        }
        else {
            mg_msg_clear (&mg_error_desc, &err);
            zclock_sleep (100);
        }
    }
    if (pid > 0)
        mg_test_stop (pid, SIGTERM);
    return 0;
}

//  True when the replica's log holds text.
static bool
s_logged (fixture_t *f, const char *text)
{
    static char buffer [LOG_BYTES];
    FILE *file = fopen (f->log, "r");
    size_t n = file ? fread (buffer, 1, sizeof buffer - 1, file) : 0;
    if (file)
        fclose (file);
    buffer [n] = '\0';
    return strstr (buffer, text) != NULL;
}

//  The ids of the hits of q in mode, in order, with their titles, total
//  and first offer region, into out.
static void
s_answer (fixture_t *f, const char *q, const char *mode, char *out, size_t room)
{
    mg_search_request_t req = { .q = (char *) q, .mode = (char *) mode };
    mg_search_reply_t rep;
    mg_error_t err = { 0 };
    if (mg_client_call (f->client, "search.query", &mg_search_request_desc, &req,
                        &mg_search_reply_desc, &rep, CALL_TTL_MS, &err))
        fail_msg ("%s search: %s %s", mode, err.code, err.message);
    assert_true (rep.results_count >= 2);
    size_t used = (size_t) snprintf (out, room, "total=%llu", (unsigned long long) rep.total);
    for (size_t i = 0; i < rep.results_count && used < room; i++)
        used += (size_t) snprintf (out + used, room - used, " %s:%s:%zu", rep.results [i].id,
                                   rep.results [i].title, rep.results [i].availability_count);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

//  The id of the best semantic hit of "astronaut spaceship" into id.
static void
s_best (fixture_t *f, char id [64])
{
    char answer [1024];
    s_answer (f, "astronaut spaceship", "semantic", answer, sizeof answer);
    snprintf (id, 64, "%.36s", strchr (answer, ' ') + 1);
}

//  What a replica answers to the keyword queries of the test, into out.
static void
s_keyword (fixture_t *f, char *out, size_t room)
{
    char kitchen [1024], love [1024];
    s_answer (f, "kitchen", "keyword", kitchen, sizeof kitchen);
    s_answer (f, "love chef", "hybrid", love, sizeof love);
    int n = snprintf (out, room, "%s | %s", kitchen, love);
    assert_true (n > 0 && (size_t) n < room);
}

//  Spoil the file at path: cut it to its first half (how cut), else
//  overwrite 8 bytes in its middle (how flip) or all of it (how garbage).
//  True when done.
static bool
s_spoil (const char *path, const char *how)
{
    struct stat st;
    if (stat (path, &st) || st.st_size < 64)
        return false;
    if (strcmp (how, "cut") == 0)
        return truncate (path, st.st_size / 2) == 0;
    bool flip = strcmp (how, "flip") == 0;
    FILE *file = fopen (path, "r+");
    bool ok = file && fseek (file, flip ? st.st_size / 2 : 0, SEEK_SET) == 0;
    for (off_t i = 0; ok && i < (flip ? 8 : st.st_size); i++)
        ok = fputc ((int) ((i * 7919 + 1) & 0xff), file) != EOF;
    return file && fclose (file) == 0 && ok;
}

//  Publish content.changed number seq for id until the replica's first
//  keyword hit of q is id or CALL_TTL_MS pass (a new PUB connection drops
//  what it sends before the proxy subscribed; a number already applied is
//  ignored by the replica). True when it was.
static bool
s_caught_up (fixture_t *f, uint64_t seq, const char *id, const char *q)
{
    zsock_t *events = mg_test_socket (ZMQ_PUB, f->env.publish, NULL);
    mg_change_event_t event = {
        .stream = "content.changed", .seq = seq, .has_seq = true, .content_id = (char *) id, .kind = "upsert"
    };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    bool seen = false;
    int64_t until = mg_test_now_ms () + CALL_TTL_MS;
    if (events && mg_msg_encode (&mg_change_event_desc, &event, &body, &len, reason, sizeof reason) == 0)
        while (!seen && mg_test_now_ms () < until) {
            zmsg_t *msg = zmsg_new ();
            zmsg_addstr (msg, "content.changed");
            zmsg_addmem (msg, body, len);
            if (zmsg_send (&msg, events))
                zmsg_destroy (&msg);
            zclock_sleep (100);
            mg_search_request_t req = { .q = (char *) q, .mode = "keyword" };
            mg_search_reply_t rep;
            mg_error_t err = { 0 };
            if (mg_client_call (f->client, "search.query", &mg_search_request_desc, &req,
                                &mg_search_reply_desc, &rep, CALL_TTL_MS, &err) == 0) {
                seen = rep.results_count && strcmp (rep.results [0].id, id) == 0;
                mg_msg_clear (&mg_search_reply_desc, &rep);
            }
            else
                mg_msg_clear (&mg_error_desc, &err);
        }
    free (body);
    zsock_destroy (&events);
    return seen;
}

//  A new replica that builds its index anew (the saved one unusable:
//  logged so when warned) and answers words to the keyword queries.
static void
s_builds_anew (fixture_t *f, const char *words, bool warned)
{
    char answer [2048];
    pid_t pid = s_replica (f);
    assert_true (pid > 0);
    assert_true (s_logged (f, "search index built and saved"));
    assert_false (s_logged (f, "search index loaded from files"));
    assert_true (!warned || s_logged (f, "saved search index unusable"));
    s_keyword (f, answer, sizeof answer);
    assert_string_equal (answer, words);
    mg_test_stop (pid, SIGTERM);
    f->replica = 0;
}

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    f->admin = mg_test_scratch_db ("mg_search_persist", f->url, sizeof f->url);
    if (!f->admin || mg_test_load_db (f->url, s_fixtures, sizeof s_fixtures / sizeof s_fixtures [0]))
        return -1;
    int pid = (int) getpid ();
    snprintf (f->model, sizeof f->model, "/tmp/mg_search_persist_%d.model", pid);
    snprintf (f->index, sizeof f->index, "/tmp/mg_search_persist_%d.idx", pid);
    snprintf (f->log, sizeof f->log, "/tmp/mg_search_persist_%d.log", pid);
    mg_test_env_init (&f->env, f->url);
    mg_test_env_add (&f->env, "MG_EMBED_MODEL=%s", f->model);
    mg_test_env_add (&f->env, "MG_SEARCH_INDEX_FILE=%s", f->index);
    mg_test_env_add (&f->env, "MG_LOG_LEVEL=info");
    if (!mg_test_run ("mg-embed-train", f->env.envp, (char *[]) { "--dims", "2", NULL })) {
        fprintf (stderr, "mg-embed-train failed\n");
        return -1;
    }
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    return f->broker > 0 && f->client ? 0 : -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    mg_client_destroy (&f->client);
    if (f->replica > 0)
        mg_test_stop (f->replica, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    const char *suffixes [] = { ".ids", ".db", ".docs" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes [0]; i++) {
        char path [300];
        snprintf (path, sizeof path, "%s%s", f->index, suffixes [i]);
        remove (path);
    }
    remove (f->model);
    remove (f->index);
    remove (f->log);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

static void
test_a_restarted_replica_reads_the_saved_index_until_the_generation_moves (void **state)
{
    fixture_t *f = *state;
    //  The first replica builds the index and saves it.
    pid_t first = s_replica (f);
    assert_true (first > 0);
    assert_true (s_logged (f, "vector index built and saved"));
    assert_true (s_logged (f, "search index built and saved"));
    char built [64], read [64], rebuilt [64], words [2048], words_read [2048];
    s_best (f, built);
    s_keyword (f, words, sizeof words);
    mg_test_stop (first, SIGTERM);
    f->replica = 0;
    struct stat saved;
    assert_int_equal (stat (f->index, &saved), 0);
    char db [300], docs [300];
    snprintf (db, sizeof db, "%s.db", f->index);
    snprintf (docs, sizeof docs, "%s.docs", f->index);

    //  A new process, the same generation: read from the files, not built
    //  (nor read from PostgreSQL), the same answers.
    pid_t second = s_replica (f);
    assert_true (second > 0);
    assert_true (s_logged (f, "search index loaded from files"));
    assert_false (s_logged (f, "index built"));
    s_best (f, read);
    assert_string_equal (read, built);
    s_keyword (f, words_read, sizeof words_read);
    assert_string_equal (words_read, words);
    mg_test_stop (second, SIGTERM);
    f->replica = 0;
    struct stat kept;
    assert_int_equal (stat (f->index, &kept), 0);
    assert_int_equal (kept.st_ino, saved.st_ino);      //  not written again

    //  A truncated database, one with 8 bytes changed in its middle, then
    //  a doc table of garbage: built anew.
    assert_true (s_spoil (db, "cut"));
    s_builds_anew (f, words, true);
    assert_true (s_spoil (db, "flip"));
    s_builds_anew (f, words, true);
    assert_true (s_spoil (docs, "garbage"));
    s_builds_anew (f, words, false);

    //  The generation moves (a title added and its event numbered): built anew.
    assert_true (s_sql (f, "INSERT INTO content (id, type, title, year, overview, popularity, checksum) VALUES "
                           "('" ID ("5") "', 'movie', 'Orbit Kitchen', 2020, "
                           "'A chef cooks for the astronaut crew of a spaceship.', 5, '\\x00')"));
    assert_true (s_sql (f, "UPDATE change_streams SET last_seq = last_seq + 1 WHERE stream = 'content.changed'"));
    pid_t fifth = s_replica (f);
    assert_true (fifth > 0);
    assert_true (s_logged (f, "vector index built and saved"));
    assert_true (s_logged (f, "search index built and saved"));
    assert_false (s_logged (f, "loaded from file"));
    s_best (f, rebuilt);
    mg_test_stop (fifth, SIGTERM);
    f->replica = 0;

    //  Read from the files of that generation, then caught up from events
    //  as after any load: the next content.changed number re-reads its title.
    pid_t sixth = s_replica (f);
    assert_true (sixth > 0);
    assert_true (s_logged (f, "search index loaded from files"));
    assert_true (s_sql (f, "INSERT INTO content (id, type, title, year, overview, popularity, checksum) VALUES "
                           "('" ID ("6") "', 'movie', 'Quasar Pantry', 2021, 'A pantry on a quasar.', 4, '\\x00')"));
    char err [256];
    PGconn *pg = mg_pg_connect (f->url, err, sizeof err);
    PGresult *res = pg ? PQexec (pg, "SELECT last_seq FROM change_streams WHERE stream = 'content.changed'") : NULL;
    bool known = res && PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1;
    uint64_t next = known ? strtoull (PQgetvalue (res, 0, 0), NULL, 10) + 1 : 0;
    PQclear (res);
    PQfinish (pg);
    assert_true (known);
    assert_true (s_caught_up (f, next, ID ("6"), "quasar pantry"));
    mg_test_stop (sixth, SIGTERM);
    f->replica = 0;
    struct stat again;
    assert_int_equal (stat (f->index, &again), 0);
    assert_true (again.st_ino != saved.st_ino);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_restarted_replica_reads_the_saved_index_until_the_generation_moves),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
