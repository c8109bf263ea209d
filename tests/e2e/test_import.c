/*  List import end to end: real mg-broker, mg-accounts, mg-ratelimit,
    mg-resolver, mg-catalog, mg-sync and mg-gateway over HTTP, on a scratch
    database holding a catalog the fixtures of tests/fixtures/import/ match:

      The Matrix 1999 (tt0133093)        Inception 2010 (tt1375666)
      Breaking Bad, tv 2008 (tt0903747)  The Dark Knight 2008 (tt0468569)
      Avatar 2009 (tt0499549)            Crouching Tiger, Hidden Dragon 2000
      Titanic 1997, twice (no ids: every Titanic row is ambiguous)
      Hamlet 1948 and Hamlet 1996 (a Hamlet row without a year is ambiguous)

    Nothing else is in the database, so every count is exact.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_pg.h"
#include "mg_sse.h"
#include "mg_test.h"

#define TIMEOUT_MS     40000        //  a 1,000-row file is run in its call (ASan, a loaded machine)
#define START_WAIT_MS  60000
#define DONE_WAIT_MS   120000       //  a queued import to finish
#define SECRET         "e2e-secret-import-0123456789abcdef0123"
#define LEASE_S        2            //  MG_IMPORT_LEASE_S: a killed worker's job is claimed again this soon
#define POLL_MS        3600000      //  MG_IMPORT_POLL_MS: the worker's backstop look, far past DONE_WAIT_MS, so a
                                    //  queued job done in time was started by its notification (or a lease running out)
#define FILE_MAX       (5 * 1024 * 1024)

#define C(n) "00000000-0000-4000-8000-0000000c00" n
#define TITLE(id, type, title, year) \
    "INSERT INTO content (id, type, title, year, popularity, checksum) VALUES ('" id "', '" type "', '" \
    title "', " year ", 1, '\\x00')"
#define EXTERNAL(id, source, value) \
    "INSERT INTO external_ids (content_id, source, value) VALUES ('" id "', '" source "', '" value "')"

static const char *s_catalog [] = {
    TITLE (C ("01"), "movie", "The Matrix", "1999"), EXTERNAL (C ("01"), "imdb", "tt0133093"),
    EXTERNAL (C ("01"), "tmdb", "603"),
    TITLE (C ("02"), "movie", "Inception", "2010"), EXTERNAL (C ("02"), "imdb", "tt1375666"),
    TITLE (C ("03"), "tv", "Breaking Bad", "2008"), EXTERNAL (C ("03"), "imdb", "tt0903747"),
    TITLE (C ("04"), "movie", "The Dark Knight", "2008"), EXTERNAL (C ("04"), "imdb", "tt0468569"),
    TITLE (C ("05"), "movie", "Titanic", "1997"), TITLE (C ("06"), "movie", "Titanic", "1997"),
    TITLE (C ("07"), "movie", "Avatar", "2009"), EXTERNAL (C ("07"), "imdb", "tt0499549"),
    TITLE (C ("08"), "movie", "Crouching Tiger, Hidden Dragon", "2000"),
    TITLE (C ("09"), "movie", "Hamlet", "1948"), TITLE (C ("10"), "movie", "Hamlet", "1996"),
};

typedef struct {
    mg_test_env_t env;
    PGconn *admin;
    char pg_url [512];
    int http_port;
    pid_t broker, accounts, ratelimit, resolver, catalog, sync, gateway;
} fixture_t;

typedef struct {
    char auth [1200];               //  "Authorization: Bearer ...\r\n"
    char id [37];
} user_t;

static fixture_t *s_f;

//  The bytes of tests/fixtures/import/name (caller frees), length in len.
static char *
s_fixture (const char *name, size_t *len)
{
    char path [512];
    snprintf (path, sizeof path, "%s/tests/fixtures/import/%s", MG_SOURCE_DIR, name);
    FILE *file = fopen (path, "rb");
    assert_non_null (file);
    char *data = malloc (1 << 16);
    assert_non_null (data);
    *len = fread (data, 1, (1 << 16) - 1, file);
    data [*len] = '\0';
    fclose (file);
    return data;
}

//  POST data (len bytes) as content_type to path with extra headers. Asserts an answer came.
static void
s_post (const char *path, const char *headers, const char *content_type, const char *data, size_t len,
        mg_http_reply_t *reply)
{
    size_t room = len + 4096;
    char *request = malloc (room);
    assert_non_null (request);
    int head = snprintf (request, room, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                         "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", path, headers, content_type, len);
    memcpy (request + head, data, len);
    int rc = mg_http_exchange (s_f->http_port, request, (size_t) head + len, reply, TIMEOUT_MS);
    free (request);
    if (rc)
        fail_msg ("POST %s: no answer", path);
}

//  The JSON body of reply, which must have status. Frees reply; caller decrefs.
static json_t *
s_json (mg_http_reply_t *reply, int status)
{
    if (reply->status != status)
        fail_msg ("expected %d, got %d: %s", status, reply->status, reply->body ? reply->body : "");
    json_t *json = json_loads (reply->body, 0, NULL);
    if (!json)
        fail_msg ("not JSON: %s", reply->body);
    mg_http_reply_free (reply);
    return json;
}

//  GET path as user; its JSON body, which must come with status.
static json_t *
s_get (const user_t *user, const char *path, const char *headers, int status)
{
    char all [1400];
    snprintf (all, sizeof all, "%s%s", user->auth, headers ? headers : "");
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (s_f->http_port, "GET", path, all, NULL, &reply, TIMEOUT_MS), 0);
    return s_json (&reply, status);
}

//  GET path as user while sync may be restarting: a 503 (no worker, or
//  the worker lost) is asked again, as a client would, for START_WAIT_MS.
static json_t *
s_get_patient (const user_t *user, const char *path)
{
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (true) {
        mg_http_reply_t reply;
        assert_int_equal (mg_http_request (s_f->http_port, "GET", path, user->auth, NULL, &reply, TIMEOUT_MS), 0);
        if (reply.status != 503 || mg_test_now_ms () > until)
            return s_json (&reply, 200);
        mg_http_reply_free (&reply);
        usleep (100 * 1000);
    }
}

//  Import fixture name (as content_type) for user; the reply, which must have status.
static json_t *
s_import (const user_t *user, const char *name, const char *content_type, int status)
{
    size_t len;
    char *data = s_fixture (name, &len);
    mg_http_reply_t reply;
    s_post ("/api/v1/me/import", user->auth, content_type, data, len, &reply);
    free (data);
    return s_json (&reply, status);
}

static json_int_t
s_int (const json_t *json, const char *key)
{
    const json_t *value = json_object_get (json, key);
    if (!json_is_integer (value))
        fail_msg ("%s is not an integer", key);
    return json_integer_value (value);
}

//  Asserts the report's format and counts.
static void
s_assert_counts (const json_t *job, const char *format, int matched, int ambiguous, int unmatched)
{
    const char *told = json_string_value (json_object_get (job, "format"));
    if (!told || strcmp (told, format) != 0)
        fail_msg ("format %s, expected %s", told ? told : "(none)", format);
    if (s_int (job, "matched") != matched || s_int (job, "ambiguous") != ambiguous
    ||  s_int (job, "unmatched") != unmatched)
        fail_msg ("%s: matched/ambiguous/unmatched %lld/%lld/%lld, expected %d/%d/%d", format,
                  (long long) s_int (job, "matched"), (long long) s_int (job, "ambiguous"),
                  (long long) s_int (job, "unmatched"), matched, ambiguous, unmatched);
    assert_int_equal (s_int (job, "rows"), matched + ambiguous + unmatched);
    //  The first 500 not imported are listed, the rest counted.
    int listed = ambiguous + unmatched < 500 ? ambiguous + unmatched : 500;
    assert_int_equal (json_array_size (json_object_get (job, "issues")), listed);
    json_int_t more = json_integer_value (json_object_get (job, "issues_more"));
    assert_int_equal (more, ambiguous + unmatched - listed);
}

//  Register and sign in a new user of this run into user (retried while the stack warms up).
static void
s_user (user_t *user, const char *name)
{
    char body [256];
    snprintf (body, sizeof body, "{\"email\":\"import-%s-%ld-%d@example.com\",\"password\":\"password-1\"}", name,
              (long) time (NULL), (int) getpid ());
    bool registered = false;
    int64_t until = mg_test_now_ms () + START_WAIT_MS;
    while (mg_test_now_ms () < until) {
        mg_http_reply_t reply;
        int rc = mg_http_request (s_f->http_port, "POST", registered ? "/api/v1/auth/login" : "/api/v1/auth/register",
                                  "", body, &reply, TIMEOUT_MS);
        int status = rc ? 0 : reply.status;
        json_t *json = status ? json_loads (reply.body, 0, NULL) : NULL;
        mg_http_reply_free (&reply);
        if (status == 201 && !registered) {
            snprintf (user->id, sizeof user->id, "%s",
                      json_string_value (json_object_get (json_object_get (json, "user"), "id")));
            registered = true;
        }
        else
        if (status == 200 && registered) {
            snprintf (user->auth, sizeof user->auth, "Authorization: Bearer %s\r\n",
                      json_string_value (json_object_get (json, "access_token")));
            json_decref (json);
            return;
        }
        else
        if (status != 0 && status < 500)
            fail_msg ("sign in %s: %d", name, status);
        json_decref (json);
        usleep (200 * 1000);
    }
    fail_msg ("sign in %s: the stack did not answer", name);
}

//  The number of rows of sync_ops of user.
static long
s_op_count (const user_t *user)
{
    char reason [256];
    PGconn *pg = mg_pg_connect (s_f->pg_url, reason, sizeof reason);
    assert_non_null (pg);
    const char *params [] = { user->id };
    PGresult *res = PQexecParams (pg, "SELECT count(*) FROM sync_ops WHERE user_id = $1::uuid", 1, NULL, params,
                                  NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long count = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    PQfinish (pg);
    return count;
}

//  A plain title,year file of rows rows: odd rows The Matrix (matched, the
//  same title again), even rows a title the catalog lacks. Caller frees.
static char *
s_big_file (size_t rows, size_t *len)
{
    size_t room = rows * 40 + 32;
    char *data = malloc (room);
    assert_non_null (data);
    size_t used = (size_t) snprintf (data, room, "title,year\n");
    for (size_t i = 0; i < rows; i++)
        used += (size_t) snprintf (data + used, room - used, i % 2 ? "Nowhere Film %zu,2001\n" : "The Matrix,1999\n",
                                   i);
    *len = used;
    return data;
}

//  Poll the job at location until it is done (asserts it is within DONE_WAIT_MS); its last state.
static json_t *
s_wait_done (const user_t *user, const char *location, json_int_t *seen_between)
{
    int64_t until = mg_test_now_ms () + DONE_WAIT_MS;
    while (mg_test_now_ms () < until) {
        json_t *job = s_get_patient (user, location);
        const char *status = json_string_value (json_object_get (job, "status"));
        if (strcmp (status, "done") == 0)
            return job;
        if (strcmp (status, "failed") == 0)
            fail_msg ("the import failed: %s", json_string_value (json_object_get (job, "error")));
        json_int_t processed = s_int (job, "processed");
        if (seen_between && processed > 0 && processed < s_int (job, "rows"))
            *seen_between = processed;
        json_decref (job);
        usleep (100 * 1000);
    }
    fail_msg ("the import at %s did not finish", location);
    return NULL;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    pid_t pids [] = { f->gateway, f->sync, f->catalog, f->resolver, f->ratelimit, f->accounts, f->broker };
    for (size_t i = 0; i < sizeof pids / sizeof pids [0]; i++)
        if (pids [i] > 0)
            mg_test_stop (pids [i], SIGTERM);
    if (f->admin)
        mg_test_drop_db (&f->admin, f->pg_url);
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
    f->admin = mg_test_scratch_db ("e2e_import", f->pg_url, sizeof f->pg_url);
    if (!f->admin || mg_test_load_db (f->pg_url, s_catalog, sizeof s_catalog / sizeof s_catalog [0])) {
        group_teardown (state);
        *state = NULL;
        return -1;
    }
    mg_test_env_init (&f->env, f->pg_url);
    f->http_port = mg_test_free_port ();
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_JWT_SECRET=%s", SECRET);
    mg_test_env_add (&f->env, "MG_RATE_ANONYMOUS=100000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RATE_FREE=100000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RESOLVER_INGEST=0");
    mg_test_env_add (&f->env, "MG_PWHASH_MEMLIMIT_KIB=16384");
    mg_test_env_add (&f->env, "MG_REQUEST_TIMEOUT_MS=8000");
    mg_test_env_add (&f->env, "MG_IMPORT_LEASE_S=%d", LEASE_S);
    mg_test_env_add (&f->env, "MG_IMPORT_POLL_MS=%d", POLL_MS);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->accounts = mg_test_spawn ("mg-accounts", f->env.envp);
    f->ratelimit = mg_test_spawn ("mg-ratelimit", f->env.envp);
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    f->catalog = mg_test_spawn ("mg-catalog", f->env.envp);
    f->sync = mg_test_spawn ("mg-sync", f->env.envp);
    f->gateway = mg_test_spawn ("mg-gateway", f->env.envp);
    const char *services [] = { "accounts", "ratelimit", "resolver", "catalog", "sync" };
    for (size_t i = 0; i < sizeof services / sizeof services [0]; i++)
        if (mg_test_wait_service (f->env.endpoint, services [i], START_WAIT_MS)) {
            fprintf (stderr, "%s did not start\n", services [i]);
            group_teardown (state);
            *state = NULL;
            return -1;
        }
    if (mg_test_wait_http (f->http_port, "/health", 200, START_WAIT_MS)) {
        group_teardown (state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static void
test_each_fixture_format_gives_exact_counts (void **state)
{
    (void) state;
    user_t user;
    s_user (&user, "formats");
    static const struct {
        const char *file, *type, *format;
        int matched, ambiguous, unmatched, added, watched;
    } cases [] = {
        { "imdb_list.csv", "text/csv", "imdb", 3, 0, 1, 2, 1 },
        { "imdb_ratings.csv", "text/csv", "imdb-ratings", 1, 1, 0, 0, 1 },
        { "letterboxd_watchlist.csv", "text/csv; charset=utf-8", "letterboxd-watchlist", 2, 1, 0, 2, 0 },
        { "letterboxd_diary.csv", "text/csv", "letterboxd-diary", 1, 1, 0, 0, 1 },
        { "trakt_watchlist.json", "application/json", "trakt", 3, 0, 0, 1, 0 },
        { "trakt_history.ndjson", "application/x-ndjson", "trakt", 1, 1, 0, 0, 0 },
        { "plain.csv", "text/csv", "plain", 2, 1, 1, 0, 0 },
    };
    //  One user in this order: added/watched count what each file brought
    //  that the ones before had not (Breaking Bad and Avatar are on the list
    //  already when the Trakt watchlist comes, Inception only as watched).
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *job = s_import (&user, cases [i].file, cases [i].type, 200);
        assert_string_equal (json_string_value (json_object_get (job, "status")), "done");
        s_assert_counts (job, cases [i].format, cases [i].matched, cases [i].ambiguous, cases [i].unmatched);
        if (s_int (job, "added") != cases [i].added || s_int (job, "watched") != cases [i].watched)
            fail_msg ("%s: added/watched %lld/%lld, expected %d/%d", cases [i].file, (long long) s_int (job, "added"),
                      (long long) s_int (job, "watched"), cases [i].added, cases [i].watched);
        assert_int_equal (s_int (job, "unchanged"), cases [i].matched - cases [i].added - cases [i].watched);
        json_decref (job);
    }
    //  The plain list's report: the Hamlet row (line 4) with both Hamlets,
    //  the unknown film (line 5) with its reason.
    json_t *job = s_import (&user, "plain.csv", "text/csv", 200);
    json_t *issues = json_object_get (job, "issues");
    json_t *hamlet = json_array_get (issues, 0), *nowhere = json_array_get (issues, 1);
    assert_int_equal (s_int (hamlet, "line"), 4);
    assert_string_equal (json_string_value (json_object_get (hamlet, "status")), "ambiguous");
    json_t *candidates = json_object_get (hamlet, "candidates");
    assert_int_equal (json_array_size (candidates), 2);
    json_int_t years = s_int (json_array_get (candidates, 0), "year") + s_int (json_array_get (candidates, 1), "year");
    assert_int_equal (years, 1948 + 1996);
    assert_string_equal (json_string_value (json_object_get (json_array_get (candidates, 0), "title")), "Hamlet");
    assert_int_equal (s_int (nowhere, "line"), 5);
    assert_string_equal (json_string_value (json_object_get (nowhere, "status")), "unmatched");
    assert_non_null (json_string_value (json_object_get (nowhere, "reason")));
    json_decref (job);
    //  What the files put on the list and marked watched.
    job = s_get (&user, "/api/v1/me/watchlist?per_page=100", NULL, 200);
    assert_int_equal (s_int (job, "total"), 5);     //  Matrix, Breaking Bad, Avatar, Crouching Tiger, Inception
    json_decref (job);
    job = s_get (&user, "/api/v1/me/progress?per_page=100", NULL, 200);
    assert_int_equal (s_int (job, "total"), 3);     //  Inception, The Dark Knight, The Matrix: completed
    json_decref (job);
}

static void
test_importing_the_same_file_again_changes_nothing (void **state)
{
    (void) state;
    user_t user;
    s_user (&user, "again");
    json_t *first = s_import (&user, "imdb_list.csv", "text/csv", 200);
    assert_int_equal (s_int (first, "added") + s_int (first, "watched"), 3);
    json_decref (first);
    json_t *list = s_get (&user, "/api/v1/me/watchlist", NULL, 200);
    json_t *progress = s_get (&user, "/api/v1/me/progress", NULL, 200);
    long ops = s_op_count (&user);
    assert_int_equal (ops, 3);
    json_t *again = s_import (&user, "imdb_list.csv", "text/csv", 200);
    assert_int_equal (s_int (again, "matched"), 3);
    assert_int_equal (s_int (again, "added"), 0);
    assert_int_equal (s_int (again, "watched"), 0);
    assert_int_equal (s_int (again, "unchanged"), 3);
    json_decref (again);
    assert_int_equal (s_op_count (&user), ops);
    json_t *list_after = s_get (&user, "/api/v1/me/watchlist", NULL, 200);
    json_t *progress_after = s_get (&user, "/api/v1/me/progress", NULL, 200);
    assert_true (json_equal (list, list_after));
    assert_true (json_equal (progress, progress_after));
    assert_int_equal (s_int (list_after, "total"), 2);
    assert_int_equal (s_int (progress_after, "total"), 1);
    assert_true (json_is_true (json_object_get (json_array_get (json_object_get (progress_after, "results"), 0),
                                                "completed")));
    json_decref (list);
    json_decref (list_after);
    json_decref (progress);
    json_decref (progress_after);
}

static void
test_malformed_file_is_400_naming_the_line (void **state)
{
    (void) state;
    user_t user;
    s_user (&user, "malformed");
    static const char bad_quote [] = "title,year\nThe Matrix,1999\nAvatar \"x,2009\nHamlet,\n";
    mg_http_reply_t reply;
    s_post ("/api/v1/me/import", user.auth, "text/csv", bad_quote, sizeof bad_quote - 1, &reply);
    json_t *json = s_json (&reply, 400);
    json_t *error = json_object_get (json, "error");
    assert_string_equal (json_string_value (json_object_get (error, "code")), "INVALID_PARAMETER");
    const char *message = json_string_value (json_object_get (error, "message"));
    if (!strstr (message, "line 3"))
        fail_msg ("the message does not name line 3: %s", message);
    json_decref (json);
    static const char unknown [] = "name;when\nThe Matrix;1999\n";
    s_post ("/api/v1/me/import", user.auth, "text/csv", unknown, sizeof unknown - 1, &reply);
    json = s_json (&reply, 400);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (json, "error"), "message")), "line 1"));
    json_decref (json);
    static const char json_bad [] = "[\n {\"movie\": {\"title\": \"Avatar\", \"year\": 2009}},\n {\"movie\": \n";
    s_post ("/api/v1/me/import", user.auth, "application/json", json_bad, sizeof json_bad - 1, &reply);
    json = s_json (&reply, 400);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (json, "error"), "message")), "line "));
    json_decref (json);
    //  Not UTF-8: refused before anything is sent on.
    static const char latin1 [] = "title,year\nAm\xe9lie,2001\n";
    s_post ("/api/v1/me/import", user.auth, "text/csv", latin1, sizeof latin1 - 1, &reply);
    json = s_json (&reply, 400);
    assert_non_null (strstr (json_string_value (json_object_get (json_object_get (json, "error"), "message")), "line 2"));
    json_decref (json);
    //  No import was recorded for any of them, nor an op.
    assert_int_equal (s_op_count (&user), 0);
    s_post ("/api/v1/me/import", user.auth, "text/plain", "a", 1, &reply);
    json_decref (s_json (&reply, 415));
}

static void
test_multipart_form_with_a_file_field (void **state)
{
    (void) state;
    user_t user;
    s_user (&user, "multipart");
    size_t len;
    char *file = s_fixture ("letterboxd_watchlist.csv", &len);
    char *body = malloc (len + 1024);
    assert_non_null (body);
    int used = sprintf (body, "preamble\r\n--XyZ-42\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
                              "not the file\r\n--XyZ-42\r\nContent-Disposition: form-data; name=\"file\"; "
                              "filename=\"watchlist.csv\"\r\n\r\n");
    memcpy (body + used, file, len);
    used += (int) len;
    used += sprintf (body + used, "\r\n--XyZ-42--\r\n");
    mg_http_reply_t reply;
    s_post ("/api/v1/me/import", user.auth, "multipart/form-data; boundary=XyZ-42", body, (size_t) used, &reply);
    json_t *job = s_json (&reply, 200);
    s_assert_counts (job, "letterboxd-watchlist", 2, 1, 0);
    json_decref (job);
    //  A form without the field, and one cut short.
    s_post ("/api/v1/me/import", user.auth, "multipart/form-data; boundary=XyZ-42", body, 80, &reply);
    json_decref (s_json (&reply, 400));
    s_post ("/api/v1/me/import", user.auth, "multipart/form-data; boundary=Other", body, (size_t) used, &reply);
    json_decref (s_json (&reply, 400));
    free (body);
    free (file);
}

static void
test_large_file_is_queued_started_at_once_and_polled_to_done (void **state)
{
    (void) state;
    user_t user, other;
    s_user (&user, "large");
    s_user (&other, "other");
    size_t len;
    char *data = s_big_file (1500, &len);
    mg_http_reply_t reply;
    s_post ("/api/v1/me/import", user.auth, "text/csv", data, len, &reply);
    free (data);
    char location [128];
    assert_true (mg_http_header (&reply, "Location", location, sizeof location));
    json_t *job = s_json (&reply, 202);
    assert_int_equal (s_int (job, "rows"), 1500);
    assert_string_equal (json_string_value (json_object_get (job, "format")), "plain");
    char expected [128];
    snprintf (expected, sizeof expected, "/api/v1/me/imports/%s", json_string_value (json_object_get (job, "id")));
    assert_string_equal (location, expected);
    json_decref (job);
    //  Another user's job is not found; a malformed id is a bad request.
    json_decref (s_get (&other, location, NULL, 404));
    json_decref (s_get (&user, "/api/v1/me/imports/nope", NULL, 400));
    //  The worker waits an hour between looks (POLL_MS): the job queued
    //  wakes it, so it is done well within DONE_WAIT_MS.
    job = s_wait_done (&user, location, NULL);
    s_assert_counts (job, "plain", 750, 0, 750);
    assert_int_equal (s_int (job, "processed"), 1500);
    assert_int_equal (s_int (job, "added"), 1);
    assert_int_equal (s_int (job, "unchanged"), 749);
    json_decref (job);
}

static void
test_restarted_sync_resumes_an_unfinished_import (void **state)
{
    fixture_t *f = *state;
    user_t user;
    s_user (&user, "resume");
    size_t len;
    char *data = s_big_file (6000, &len);
    mg_http_reply_t reply;
    s_post ("/api/v1/me/import", user.auth, "text/csv", data, len, &reply);
    free (data);
    char location [128];
    assert_true (mg_http_header (&reply, "Location", location, sizeof location));
    json_t *queued = s_json (&reply, 202);
    char job_id [37];
    snprintf (job_id, sizeof job_id, "%s", json_string_value (json_object_get (queued, "id")));
    json_decref (queued);
    //  Kill the sync process once the job is under way, mid-file.
    int64_t until = mg_test_now_ms () + DONE_WAIT_MS;
    json_int_t processed = 0;
    while (processed == 0 && mg_test_now_ms () < until) {
        json_t *job = s_get (&user, location, NULL, 200);
        processed = s_int (job, "processed");
        json_decref (job);
        if (processed == 0)
            usleep (20 * 1000);
    }
    mg_test_stop (f->sync, SIGKILL);
    f->sync = -1;
    //  Where the job stands with no sync process alive (read from the database).
    char reason [256];
    PGconn *pg = mg_pg_connect (s_f->pg_url, reason, sizeof reason);
    assert_non_null (pg);
    const char *params [] = { job_id };
    PGresult *res = PQexecParams (pg, "SELECT processed, status FROM import_jobs WHERE id = $1::uuid", 1, NULL,
                                  params, NULL, NULL, 0);
    assert_int_equal (PQntuples (res), 1);
    long left_at = atol (PQgetvalue (res, 0, 0));
    assert_string_equal (PQgetvalue (res, 0, 1), "running");
    PQclear (res);
    PQfinish (pg);
    f->sync = mg_test_spawn ("mg-sync", f->env.envp);
    assert_int_equal (mg_test_wait_service (f->env.endpoint, "sync", START_WAIT_MS), 0);
    json_t *job;
    assert_true (left_at > 0);
    if (left_at >= 6000)
        fail_msg ("the job finished before the kill: nothing to resume (processed %ld)", left_at);
    job = s_wait_done (&user, location, NULL);
    s_assert_counts (job, "plain", 3000, 0, 3000);
    assert_int_equal (s_int (job, "issues_more"), 3000 - 500);
    json_decref (job);
    //  The one title once, whatever ran twice.
    job = s_get (&user, "/api/v1/me/watchlist", NULL, 200);
    assert_int_equal (s_int (job, "total"), 1);
    json_decref (job);
    assert_int_equal (s_op_count (&user), 1);
}

static void
test_over_5_mb_is_413 (void **state)
{
    (void) state;
    user_t user;
    s_user (&user, "big");
    size_t len = FILE_MAX + 1;
    char *data = malloc (len);
    assert_non_null (data);
    memset (data, 'a', len);
    memcpy (data, "title,year\n", 11);
    mg_http_reply_t reply;
    s_post ("/api/v1/me/import", user.auth, "text/csv", data, len, &reply);
    json_t *json = s_json (&reply, 413);
    assert_string_equal (json_string_value (json_object_get (json_object_get (json, "error"), "code")),
                         "PAYLOAD_TOO_LARGE");
    json_decref (json);
    //  Other routes keep their limit (1 MiB).
    s_post ("/api/v1/sync/ops", user.auth, "application/json", data, 2 * 1024 * 1024, &reply);
    json_decref (s_json (&reply, 413));
    free (data);
}

static void
test_another_device_sees_the_imported_titles (void **state)
{
    (void) state;
    user_t user;
    s_user (&user, "devices");
    mg_http_reply_t reply;
    char headers [1400];
    snprintf (headers, sizeof headers, "%s", user.auth);
    assert_int_equal (mg_http_request (s_f->http_port, "POST", "/api/v1/me/devices", headers,
                                       "{\"name\":\"phone\"}", &reply, TIMEOUT_MS), 0);
    json_t *device = s_json (&reply, 201);
    char device_id [64];
    snprintf (device_id, sizeof device_id, "%s", json_string_value (json_object_get (device, "id")));
    json_decref (device);
    char path [160];
    snprintf (path, sizeof path, "/api/v1/sync/stream?device_id=%s", device_id);
    mg_sse_t *stream = mg_sse_open (s_f->http_port, path, user.auth, &reply, TIMEOUT_MS);
    assert_non_null (stream);
    json_t *job = s_import (&user, "trakt_watchlist.json", "application/json", 200);
    assert_int_equal (s_int (job, "added"), 3);
    json_decref (job);
    int adds = 0;
    int64_t until = mg_test_now_ms () + TIMEOUT_MS;
    while (adds < 3 && mg_test_now_ms () < until) {
        mg_sse_event_t event;
        if (mg_sse_next (stream, &event, 1000) != 0)
            continue;
        if (strcmp (event.type, "watchlist.add") == 0)
            adds++;
        mg_sse_event_free (&event);
    }
    mg_sse_close (&stream);
    assert_int_equal (adds, 3);
    char device_header [128];
    snprintf (device_header, sizeof device_header, "X-Device-Id: %s\r\n", device_id);
    json_t *list = s_get (&user, "/api/v1/me/watchlist", device_header, 200);
    assert_int_equal (s_int (list, "total"), 3);
    json_decref (list);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_each_fixture_format_gives_exact_counts),
        cmocka_unit_test (test_importing_the_same_file_again_changes_nothing),
        cmocka_unit_test (test_malformed_file_is_400_naming_the_line),
        cmocka_unit_test (test_multipart_form_with_a_file_field),
        cmocka_unit_test (test_large_file_is_queued_started_at_once_and_polled_to_done),
        cmocka_unit_test (test_over_5_mb_is_413),
        cmocka_unit_test (test_another_device_sees_the_imported_titles),
        cmocka_unit_test (test_restarted_sync_resumes_an_unfinished_import),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
