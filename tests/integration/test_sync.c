/*  sync actor over a real broker and PostgreSQL: devices (at most 10),
    offline batches (atomic, idempotent by op id, at most 100 ops), the REST
    writes, convergence of concurrent writes, and users kept apart.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <pthread.h>

#include "mg_client.h"
#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"

#define ALICE    "00000000-0000-4000-8000-00000000a11c"
#define BOB      "00000000-0000-4000-8000-000000000b0b"
#define GHOST    "00000000-0000-4000-8000-0000000000ff"
#define TITLE_1  "00000000-0000-4000-8000-000000000001"
#define TITLE_2  "00000000-0000-4000-8000-000000000002"
#define CALL_MS  5000

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    pid_t broker, sync;
    mg_client_t *client;
} fixture_t;

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    f->admin = mg_test_scratch_db ("mg_sync", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    char err [256];
    PGconn *pg = mg_pg_connect (f->url, err, sizeof err);
    if (!pg || mg_pg_migrate (pg, mg_config_str ("MG_SQL_DIR", "config/sql"), err, sizeof err) < 0) {
        fprintf (stderr, "migrate: %s\n", err);
        PQfinish (pg);
        return -1;
    }
    PGresult *res = PQexec (pg, "INSERT INTO users (id, email, password_hash) VALUES "
                                "('" ALICE "', 'alice@example.com', 'x'), ('" BOB "', 'bob@example.com', 'x')");
    int ok = PQresultStatus (res) == PGRES_COMMAND_OK;
    PQclear (res);
    PQfinish (pg);
    if (!ok)
        return -1;
    mg_test_env_init (&f->env, f->url);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->sync = mg_test_spawn ("mg-sync", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    return mg_test_wait_service (f->env.endpoint, "sync", 15000);
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    if (f->sync > 0)
        mg_test_stop (f->sync, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  Call method; returns 0, or -1 with the error code copied into code.
static int
s_call (fixture_t *f, const char *method, const mg_msgdesc_t *req_desc, const void *req,
        const mg_msgdesc_t *rep_desc, void *rep, char *code)
{
    mg_error_t err = { 0 };
    int rc = mg_client_call (f->client, method, req_desc, req, rep_desc, rep, CALL_MS, &err);
    if (code)
        snprintf (code, 64, "%s", rc ? err.code : "");
    mg_msg_clear (&mg_error_desc, &err);
    return rc;
}

//  Register a device for user; its id into id (37 bytes). Returns the call's rc.
static int
s_add_device (fixture_t *f, const char *user, const char *name, char *id, char *code)
{
    mg_device_add_request_t request = { .user_id = (char *) user, .name = (char *) name };
    mg_device_t device;
    int rc = s_call (f, "sync.devices.add", &mg_device_add_request_desc, &request, &mg_device_desc, &device, code);
    if (rc == 0) {
        snprintf (id, 37, "%s", device.id);
        mg_msg_clear (&mg_device_desc, &device);
    }
    return rc;
}

//  POST /sync/ops as user with body; reply filled on success.
static int
s_ops (fixture_t *f, const char *user, const char *body, mg_sync_ops_reply_t *reply, char *code)
{
    mg_sync_ops_request_t request = { .user_id = (char *) user, .body = (char *) body };
    return s_call (f, "sync.ops", &mg_sync_ops_request_desc, &request, &mg_sync_ops_reply_desc, reply, code);
}

static void
test_at_most_ten_devices_and_removing_one_frees_a_slot (void **state)
{
    fixture_t *f = *state;
    char ids [11][37], code [64];
    for (int i = 0; i < 10; i++) {
        char name [16];
        snprintf (name, sizeof name, "tv-%d", i);
        assert_int_equal (s_add_device (f, BOB, name, ids [i], code), 0);
    }
    assert_int_equal (s_add_device (f, BOB, "eleventh", ids [10], code), -1);
    assert_string_equal (code, "CONFLICT");
    mg_sync_user_request_t who = { .user_id = BOB };
    mg_devices_reply_t list;
    assert_int_equal (s_call (f, "sync.devices.list", &mg_sync_user_request_desc, &who,
                              &mg_devices_reply_desc, &list, code), 0);
    assert_int_equal (list.results_count, 10);
    mg_msg_clear (&mg_devices_reply_desc, &list);
    //  Alice cannot remove Bob's device; Bob can, and the slot is free again.
    mg_device_request_t theirs = { .user_id = ALICE, .id = ids [3] };
    assert_int_equal (s_call (f, "sync.devices.remove", &mg_device_request_desc, &theirs, &mg_empty_desc, NULL, code), -1);
    assert_string_equal (code, "NOT_FOUND");
    mg_device_request_t mine = { .user_id = BOB, .id = ids [3] };
    assert_int_equal (s_call (f, "sync.devices.remove", &mg_device_request_desc, &mine, &mg_empty_desc, NULL, code), 0);
    assert_int_equal (s_add_device (f, BOB, "replacement", ids [10], code), 0);
    assert_int_equal (s_add_device (f, GHOST, "nobody", ids [0], code), -1);
    assert_string_equal (code, "NOT_FOUND");
}

static void
test_a_batch_applies_once_whole_and_converges (void **state)
{
    fixture_t *f = *state;
    char phone [37], tv [37], code [64];
    assert_int_equal (s_add_device (f, ALICE, "phone", phone, code), 0);
    assert_int_equal (s_add_device (f, ALICE, "tv", tv, code), 0);
    char body [2048];
    //  Offline on the phone: add two titles, watch one; the TV saw nothing of it.
    snprintf (body, sizeof body,
              "{\"device_id\":\"%s\",\"ops\":["
              "{\"op_id\":\"p-1\",\"type\":\"watchlist.add\",\"content_id\":\"" TITLE_1 "\"},"
              "{\"op_id\":\"p-2\",\"type\":\"watchlist.add\",\"content_id\":\"" TITLE_2 "\"},"
              "{\"op_id\":\"p-3\",\"type\":\"progress.set\",\"content_id\":\"" TITLE_1 "\",\"position_s\":120,\"duration_s\":5400},"
              "{\"op_id\":\"p-4\",\"type\":\"preferences.set\",\"field\":\"language\",\"value\":\"pt-BR\"}]}", phone);
    mg_sync_ops_reply_t reply;
    assert_int_equal (s_ops (f, ALICE, body, &reply, code), 0);
    assert_int_equal (reply.applied, 4);
    assert_int_equal (reply.duplicates, 0);
    assert_int_equal (reply.state->watchlist_count, 2);
    assert_int_equal (reply.state->progress_count, 1);
    assert_true (reply.state->progress [0].position_s == 120.0);
    assert_string_equal (reply.state->progress [0].device_id, phone);
    assert_string_equal (reply.state->preferences->language, "pt-BR");
    mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
    //  The same batch again (a retry after a lost answer) changes nothing.
    assert_int_equal (s_ops (f, ALICE, body, &reply, code), 0);
    assert_int_equal (reply.applied, 0);
    assert_int_equal (reply.duplicates, 4);
    assert_int_equal (reply.state->watchlist_count, 2);
    mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
    //  The TV removes title 2 without having seen the phone's add (it names
    //  no tags it has seen): add wins. A remove naming the add removes it.
    snprintf (body, sizeof body,
              "{\"device_id\":\"%s\",\"ops\":[{\"op_id\":\"t-1\",\"type\":\"watchlist.remove\","
              "\"content_id\":\"" TITLE_2 "\",\"tags\":[]},"
              "{\"op_id\":\"t-2\",\"type\":\"watchlist.remove\",\"content_id\":\"" TITLE_1 "\",\"tags\":[\"p-1\"]}]}", tv);
    assert_int_equal (s_ops (f, ALICE, body, &reply, code), 0);
    assert_int_equal (reply.applied, 2);
    assert_int_equal (reply.state->watchlist_count, 1);
    assert_string_equal (reply.state->watchlist [0].content_id, TITLE_2);
    mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
    //  Bob sees none of it.
    mg_sync_user_request_t bob = { .user_id = BOB };
    mg_sync_state_t bobs;
    assert_int_equal (s_call (f, "sync.state", &mg_sync_user_request_desc, &bob, &mg_sync_state_desc, &bobs, code), 0);
    assert_int_equal (bobs.watchlist_count, 0);
    assert_int_equal (bobs.progress_count, 0);
    mg_msg_clear (&mg_sync_state_desc, &bobs);
}

static void
test_bad_batches_change_nothing (void **state)
{
    fixture_t *f = *state;
    char code [64];
    mg_sync_ops_reply_t reply;
    //  A bad op anywhere refuses the whole batch.
    const char *mixed = "{\"ops\":[{\"op_id\":\"b-1\",\"type\":\"watchlist.add\",\"content_id\":\"" TITLE_1 "\"},"
                        "{\"op_id\":\"b-2\",\"type\":\"progress.set\",\"content_id\":\"" TITLE_1 "\",\"position_s\":-5}]}";
    assert_int_equal (s_ops (f, BOB, mixed, &reply, code), -1);
    assert_string_equal (code, "INVALID_PARAMETER");
    //  More than 100 ops is refused before anything else.
    char *big = malloc (101 * 16 + 64);
    size_t used = (size_t) sprintf (big, "{\"device_id\":42,\"ops\":[");
    for (int i = 0; i < 101; i++)
        used += (size_t) sprintf (big + used, "%s{}", i ? "," : "");
    sprintf (big + used, "]}");
    assert_int_equal (s_ops (f, BOB, big, &reply, code), -1);
    assert_string_equal (code, "PAYLOAD_TOO_LARGE");
    free (big);
    //  Far-future clocks, unknown devices, unknown preference fields, not JSON.
    const char *bad [][2] = {
        { "{\"ops\":[{\"op_id\":\"b-3\",\"type\":\"watchlist.add\",\"content_id\":\"" TITLE_1 "\","
          "\"hlc\":\"ffffffffffff-00000000-00000001\"}]}", "INVALID_PARAMETER" },
        { "{\"device_id\":\"00000000-0000-4000-8000-0000000000de\",\"ops\":[{\"op_id\":\"b-4\","
          "\"type\":\"watchlist.add\",\"content_id\":\"" TITLE_1 "\"}]}", "NOT_FOUND" },
        { "{\"ops\":[{\"op_id\":\"b-5\",\"type\":\"preferences.set\",\"field\":\"shoe_size\",\"value\":44}]}",
          "INVALID_PARAMETER" },
        { "{\"ops\":[{\"op_id\":\"b-6\",\"type\":\"preferences.set\",\"field\":\"region\",\"value\":\"usa\"}]}",
          "INVALID_PARAMETER" },
        { "[1,2", "INVALID_JSON" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (s_ops (f, BOB, bad [i][0], &reply, code), -1);
        assert_string_equal (code, bad [i][1]);
    }
    mg_sync_user_request_t bob = { .user_id = BOB };
    mg_sync_state_t bobs;
    assert_int_equal (s_call (f, "sync.state", &mg_sync_user_request_desc, &bob, &mg_sync_state_desc, &bobs, code), 0);
    assert_int_equal (bobs.watchlist_count, 0);
    assert_int_equal (bobs.progress_count, 0);
    assert_null (bobs.preferences->language);
    mg_msg_clear (&mg_sync_state_desc, &bobs);
}

static void
test_rest_writes_are_ops_too (void **state)
{
    fixture_t *f = *state;
    char code [64];
    mg_sync_state_t view;
    mg_sync_item_request_t add = { .user_id = BOB, .content_id = TITLE_1 };
    assert_int_equal (s_call (f, "sync.watchlist.put", &mg_sync_item_request_desc, &add, &mg_sync_state_desc, &view, code), 0);
    assert_int_equal (view.watchlist_count, 1);
    mg_msg_clear (&mg_sync_state_desc, &view);
    mg_sync_progress_request_t later = { .user_id = BOB, .content_id = TITLE_1, .position_s = 900, .has_position_s = true,
                                         .duration_s = 1000, .has_duration_s = true };
    assert_int_equal (s_call (f, "sync.progress.put", &mg_sync_progress_request_desc, &later, &mg_sync_state_desc, &view, code), 0);
    assert_true (view.progress [0].position_s == 900.0);
    mg_msg_clear (&mg_sync_state_desc, &view);
    mg_sync_title_request_t one = { .user_id = BOB, .content_id = TITLE_1 };
    mg_progress_item_t item;
    assert_int_equal (s_call (f, "sync.progress.get", &mg_sync_title_request_desc, &one, &mg_progress_item_desc, &item, code), 0);
    assert_true (item.position_s == 900.0 && item.duration_s == 1000.0);
    mg_msg_clear (&mg_progress_item_desc, &item);
    mg_sync_title_request_t other = { .user_id = BOB, .content_id = TITLE_2 };
    assert_int_equal (s_call (f, "sync.progress.get", &mg_sync_title_request_desc, &other, &mg_progress_item_desc, &item, code), -1);
    assert_string_equal (code, "NOT_FOUND");
    char *genres [] = { "drama", "war" };
    mg_sync_preferences_request_t prefs = { .user_id = BOB, .autoplay = false, .has_autoplay = true,
                                            .genres = genres, .genres_count = 2 };
    assert_int_equal (s_call (f, "sync.preferences.put", &mg_sync_preferences_request_desc, &prefs,
                              &mg_sync_state_desc, &view, code), 0);
    assert_true (view.preferences->has_autoplay && !view.preferences->autoplay);
    assert_int_equal (view.preferences->genres_count, 2);
    mg_msg_clear (&mg_sync_state_desc, &view);
    //  A REST delete removes every add the server has seen.
    assert_int_equal (s_call (f, "sync.watchlist.delete", &mg_sync_item_request_desc, &add, &mg_sync_state_desc, &view, code), 0);
    assert_int_equal (view.watchlist_count, 0);
    mg_msg_clear (&mg_sync_state_desc, &view);
}

//  The batch of round r: 100 watchlist adds from Alice.
static char *
s_big_batch (int r)
{
    size_t size = 100 * 160 + 64;
    char *body = malloc (size);
    assert_non_null (body);
    size_t used = (size_t) snprintf (body, size, "{\"ops\":[");
    for (int i = 0; i < 100; i++)
        used += (size_t) snprintf (body + used, size - used,
                                   "%s{\"op_id\":\"k%d-%d\",\"type\":\"watchlist.add\","
                                   "\"content_id\":\"00000000-0000-4000-8000-%012d\"}", i ? "," : "", r, i, 1000 + i);
    snprintf (body + used, size - used, "]}");
    return body;
}

typedef struct {
    const char *endpoint;
    const char *body;
} s_sender_t;

//  Thread: send one sync.ops batch as Alice on a client of its own.
static void *
s_send (void *arg)
{
    s_sender_t *sender = arg;
    mg_client_t *client = mg_client_new (sender->endpoint);
    mg_sync_ops_request_t request = { .user_id = ALICE, .body = (char *) sender->body };
    mg_sync_ops_reply_t reply;
    mg_error_t err = { 0 };
    if (client && mg_client_call (client, "sync.ops", &mg_sync_ops_request_desc, &request,
                                  &mg_sync_ops_reply_desc, &reply, CALL_MS, &err) == 0)
        mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
    mg_msg_clear (&mg_error_desc, &err);
    mg_client_destroy (&client);
    return NULL;
}

static long
s_ops_logged (fixture_t *f, int r)
{
    char err [256], sql [160];
    PGconn *pg = mg_pg_connect (f->url, err, sizeof err);
    assert_non_null (pg);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM sync_ops WHERE op_id LIKE 'k%d-%%'", r);
    PGresult *res = PQexec (pg, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long n = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    PQfinish (pg);
    return n;
}

static void
test_a_batch_cut_by_kill_9_applies_whole_or_not_and_retries_safely (void **state)
{
    fixture_t *f = *state;
    char code [64];
    for (int r = 0; r < 4; r++) {
        char *body = s_big_batch (r);
        //  The batch goes out from another thread; the sync actor dies while it runs.
        s_sender_t sender = { .endpoint = f->env.endpoint, .body = body };
        pthread_t thread;
        assert_int_equal (pthread_create (&thread, NULL, s_send, &sender), 0);
        zclock_sleep (5 + r * r * 10);              //  5, 15, 45, 95 ms: before, during and after the commit
        mg_test_stop (f->sync, SIGKILL);
        pthread_join (thread, NULL);
        long logged = s_ops_logged (f, r);
        assert_true (logged == 0 || logged == 100);
        fprintf (stderr, "round %d: %ld of 100 ops logged when the actor died\n", r, logged);
        f->sync = mg_test_spawn ("mg-sync", f->env.envp);
        //  The client retries: everything ends applied exactly once.
        mg_sync_ops_reply_t reply;
        int rc = -1;
        int64_t until = mg_test_now_ms () + 15000;
        while (rc && mg_test_now_ms () < until) {
            rc = s_ops (f, ALICE, body, &reply, code);
            if (rc)
                zclock_sleep (100);
        }
        assert_int_equal (rc, 0);
        assert_int_equal (reply.applied + reply.duplicates, 100);
        assert_int_equal (reply.duplicates, (uint64_t) logged);
        mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
        assert_int_equal (s_ops_logged (f, r), 100);
        free (body);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_at_most_ten_devices_and_removing_one_frees_a_slot),
        cmocka_unit_test (test_a_batch_applies_once_whole_and_converges),
        cmocka_unit_test (test_bad_batches_change_nothing),
        cmocka_unit_test (test_rest_writes_are_ops_too),
        cmocka_unit_test (test_a_batch_cut_by_kill_9_applies_whole_or_not_and_retries_safely),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
