/*  Reference answers from the gateway's memory: GET /api/v1/genres is
    answered from the thread's memo after its first answer (a genre added in
    the database meanwhile is not seen, the ETag and 304 stay as the
    contract says), and a catalog change event (content.changed) makes the
    next answer fresh.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <czmq.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_http.h"
#include "mg_msg.h"
#include "mg_test.h"

#define START_WAIT_MS   30000       //  migrations and registration at start
#define EVENT_WAIT_MS   10000       //  a published event reaching the gateway (PUB connects late)
#define HTTP_WAIT_MS    5000
#define NEW_GENRE       "memotest"

typedef struct {
    mg_test_stack_t stack;
    PGconn *db;
} fixture_t;

static int
group_setup (void **state)
{
    //  One gateway thread: one memo, so "the next request" is its request.
    const char *settings [] = {
        "MG_RATE_ANONYMOUS=1000000/s,1000000/m", "MG_HTTP_THREADS=1",
        "MG_CATALOG_REFRESH_S=0",           //  the catalog itself reads the table every time
        "MG_REFERENCE_CACHE_S=600", NULL
    };
    mg_test_stack_options_t options = {
        .db = "mg_reference_memo", .settings = settings, .timeout_ms = START_WAIT_MS
    };
    if (mg_test_stack_setup (state, sizeof (fixture_t), &options))
        return -1;
    fixture_t *f = *state;
    f->db = PQconnectdb (f->stack.url);
    return PQstatus (f->db) == CONNECTION_OK ? 0 : -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (f)
        PQfinish (f->db);
    return mg_test_stack_teardown (state);
}

//  GET /api/v1/genres with extra header lines; status, body and ETag into the arguments.
static int
s_genres (fixture_t *f, const char *headers, char **body, char *etag, size_t etag_size)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (f->stack.http_port, "GET", "/api/v1/genres", headers, NULL,
                                       &reply, HTTP_WAIT_MS), 0);
    int status = reply.status;
    if (etag && !mg_http_header (&reply, "ETag", etag, etag_size))
        etag [0] = '\0';
    if (body)
        *body = strdup (reply.body ? reply.body : "");
    mg_http_reply_free (&reply);
    return status;
}

//  Publish one content.changed event (any title) on the broker's event bus.
static void
s_publish_change (zsock_t *pub)
{
    mg_change_event_t event = {
        .stream = "content.changed", .seq = 1, .has_seq = true,
        .content_id = "00000000-0000-4000-8000-00000000beef", .kind = "upsert"
    };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    assert_int_equal (mg_msg_encode (&mg_change_event_desc, &event, &body, &len, reason, sizeof reason), 0);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "content.changed");
    zmsg_addmem (msg, body, len);
    if (zmsg_send (&msg, pub))
        zmsg_destroy (&msg);
    free (body);
}

static void
test_genres_come_from_memory_until_the_catalog_changes (void **state)
{
    fixture_t *f = *state;
    char *before = NULL, etag [80];
    assert_int_equal (s_genres (f, "", &before, etag, sizeof etag), 200);
    assert_null (strstr (before, NEW_GENRE));
    assert_true (etag [0] == '"');
    //  A genre the catalog would now answer: the memo still answers the old list.
    PGresult *res = PQexec (f->db, "INSERT INTO genres (id, slug, name) VALUES (99, '" NEW_GENRE "', 'Memo Test')");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    char *again = NULL, etag_again [80];
    assert_int_equal (s_genres (f, "", &again, etag_again, sizeof etag_again), 200);
    assert_string_equal (again, before);
    assert_string_equal (etag_again, etag);
    free (again);
    //  The validators as for any public read: If-None-Match gives 304.
    char conditional [128];
    snprintf (conditional, sizeof conditional, "If-None-Match: %s\r\n", etag);
    assert_int_equal (s_genres (f, conditional, NULL, NULL, 0), 304);
    //  A change event: the next answer is the catalog's, with the new genre.
    zsock_t *pub = mg_test_socket (ZMQ_PUB, f->stack.env.publish, NULL);
    assert_non_null (pub);
    int64_t until = mg_test_now_ms () + EVENT_WAIT_MS;
    char *after = NULL, etag_after [80] = "";
    bool fresh = false;
    while (!fresh && mg_test_now_ms () < until) {
        s_publish_change (pub);         //  again until it arrives: a new PUB drops what it sends early
        usleep (200 * 1000);
        free (after);
        after = NULL;
        assert_int_equal (s_genres (f, "", &after, etag_after, sizeof etag_after), 200);
        fresh = strstr (after, NEW_GENRE) != NULL;
    }
    zsock_destroy (&pub);
    assert_true (fresh);
    assert_string_not_equal (etag_after, etag);
    free (after);
    free (before);
}

int
main (void)
{
    if (!getenv ("MG_PG_URL") || !getenv ("MG_REDIS_URL")) {
        fprintf (stderr, "MG_PG_URL and MG_REDIS_URL must be set (scripts/test does)\n");
        return 1;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_genres_come_from_memory_until_the_catalog_changes),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
