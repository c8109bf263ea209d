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
    //  One handler thread: a cut connection is the one the next call uses.
    mg_test_env_add (&f->env, "MG_SYNC_THREADS=%d", 1);
    mg_test_env_add (&f->env, "MG_SYNC_RETENTION_S=%d", 1);
    mg_test_env_add (&f->env, "MG_SYNC_OPS_KEEP_S=%d", 86400);
    mg_test_env_add (&f->env, "MG_SYNC_EVENTS_KEEP_S=%d", 86400);
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

//  s_ops, sent again (at most 3 times) while the answer is lost to a failure
//  that is not the batch's fault: a batch is idempotent by its op ids, so
//  this is what a client does, and a loaded machine can lose a worker.
static int
s_ops_retried (fixture_t *f, const char *user, const char *body, mg_sync_ops_reply_t *reply, char *code)
{
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = s_ops (f, user, body, reply, code);
        if (rc == 0 || (strcmp (code, "WORKER_LOST") && strcmp (code, "SERVICE_UNAVAILABLE")
                        && strcmp (code, "SERVICE_BUSY") && strcmp (code, "DEADLINE_EXCEEDED")))
            break;
        usleep (200 * 1000);
    }
    return rc;
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
    mg_sync_list_request_t who = { .user_id = BOB };
    mg_devices_reply_t list;
    assert_int_equal (s_call (f, "sync.devices.list", &mg_sync_list_request_desc, &who,
                              &mg_devices_reply_desc, &list, code), 0);
    assert_int_equal (list.results_count, 10);
    assert_int_equal (list.total, 10);
    assert_int_equal (list.page, 1);
    assert_int_equal (list.per_page, 20);
    mg_msg_clear (&mg_devices_reply_desc, &list);
    //  The list contract: pages of per_page.
    mg_sync_list_request_t second = { .user_id = BOB, .page = 2, .has_page = true, .per_page = 4, .has_per_page = true };
    assert_int_equal (s_call (f, "sync.devices.list", &mg_sync_list_request_desc, &second,
                              &mg_devices_reply_desc, &list, code), 0);
    assert_int_equal (list.results_count, 4);
    assert_int_equal (list.total, 10);
    assert_string_equal (list.results [0].id, ids [4]);
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

//  Run sql on the scratch database; asserts it succeeds. The first value
//  of the first row (0 when none) as a number.
static long
s_sql (fixture_t *f, const char *sql)
{
    char err [256];
    PGconn *pg = mg_pg_connect (f->url, err, sizeof err);
    assert_non_null (pg);
    PGresult *res = PQexec (pg, sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK && PQresultStatus (res) != PGRES_COMMAND_OK)
        fail_msg ("%s: %s", sql, PQresultErrorMessage (res));
    long n = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) ? atol (PQgetvalue (res, 0, 0)) : 0;
    PQclear (res);
    PQfinish (pg);
    return n;
}

//  sync.ops as user with body: asserts it succeeds.
static void
s_ops_ok (fixture_t *f, const char *user, const char *body)
{
    char code [64];
    mg_sync_ops_reply_t reply;
    if (s_ops_retried (f, user, body, &reply, code))
        fail_msg ("sync.ops refused: %s", code);
    mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
}

//  The total of user's list (method: sync.watchlist.list or sync.progress.list,
//  answered with desc) from its first page; asserts the call succeeds.
static uint64_t
s_total (fixture_t *f, const char *method, const mg_msgdesc_t *desc, const char *user)
{
    char code [64];
    mg_sync_list_request_t list = { .user_id = (char *) user };
    uint8_t reply [1024] __attribute__ ((aligned (16)));
    if (s_call (f, method, &mg_sync_list_request_desc, &list, desc, reply, code))
        fail_msg ("%s: %s", method, code);
    json_t *json = mg_msg_to_json (desc, reply);
    mg_msg_clear (desc, reply);
    assert_non_null (json);
    uint64_t total = (uint64_t) json_integer_value (json_object_get (json, "total"));
    json_decref (json);
    return total;
}

//  A batch of 100 ops from device on content: op i is an add when add (or,
//  with add false, alternately add and remove), ids prefix-<i>.
static char *
s_hundred (const char *device, const char *prefix, const char *content, bool add)
{
    size_t size = 100 * 200 + 128;
    char *body = malloc (size);
    assert_non_null (body);
    size_t used = (size_t) snprintf (body, size, "{\"device_id\":\"%s\",\"ops\":[", device);
    for (int i = 0; i < 100; i++)
        used += (size_t) snprintf (body + used, size - used,
                                   "%s{\"op_id\":\"%s-%d\",\"type\":\"%s\",\"content_id\":\"%s\"}",
                                   i ? "," : "", prefix, i, add || i % 2 == 0 ? "watchlist.add" : "watchlist.remove",
                                   content);
    snprintf (body + used, size - used, "]}");
    return body;
}

//  Item 2 of the integrity issue: a title put on the watchlist again and
//  again (70 PUTs, then 20 batches of 100 adds) keeps the account usable,
//  and 10,000 adds and removes leave the stored state small.
static void
test_watchlist_repeated_put_keeps_account_usable (void **state)
{
    fixture_t *f = *state;
    const char *user = "00000000-0000-4000-8000-00000000c0de";
    const char *title = "00000000-0000-4000-8000-000000000777";
    s_sql (f, "INSERT INTO users (id, email, password_hash) VALUES "
              "('00000000-0000-4000-8000-00000000c0de', 'carol@example.com', 'x')");
    char code [64], device [37];
    mg_sync_item_request_t put = { .user_id = (char *) user, .content_id = (char *) title };
    for (int i = 0; i < 70; i++) {
        mg_sync_state_t view;
        if (s_call (f, "sync.watchlist.put", &mg_sync_item_request_desc, &put, &mg_sync_state_desc, &view, code))
            fail_msg ("PUT %d: %s", i + 1, code);
        assert_int_equal (view.watchlist_count, 1);
        assert_int_equal (view.watchlist [0].tags_count, 1);
        mg_msg_clear (&mg_sync_state_desc, &view);
    }
    assert_int_equal (s_total (f, "sync.watchlist.list", &mg_watchlist_page_desc, user), 1);
    assert_int_equal (s_add_device (f, user, "phone", device, code), 0);
    for (int b = 0; b < 20; b++) {
        char prefix [16];
        snprintf (prefix, sizeof prefix, "add%d", b);
        char *body = s_hundred (device, prefix, title, true);
        s_ops_ok (f, user, body);
        free (body);
    }
    //  Then 10,000 ops that add and remove it in turn.
    for (int b = 0; b < 100; b++) {
        char prefix [16];
        snprintf (prefix, sizeof prefix, "cycle%d", b);
        char *body = s_hundred (device, prefix, title, false);
        s_ops_ok (f, user, body);
        free (body);
    }
    assert_int_equal (s_total (f, "sync.watchlist.list", &mg_watchlist_page_desc, user), 0);   //  the last op was a remove
    long size = s_sql (f, "SELECT octet_length (state::text) FROM sync_state "
                          "WHERE user_id = '00000000-0000-4000-8000-00000000c0de'");
    fprintf (stderr, "stored state after 12,070 watchlist writes: %ld bytes\n", size);
    assert_true (size > 0 && size < 4096);
}

//  No sequence of calls outgrows the sync.state reply: a batch that would
//  list more than 2,000 titles is refused (409), and progress keeps the
//  2,000 most recently updated titles.
static void
test_a_state_never_outgrows_its_reply (void **state)
{
    fixture_t *f = *state;
    const char *user = "00000000-0000-4000-8000-0000000b16b1";
    s_sql (f, "INSERT INTO users (id, email, password_hash) VALUES "
              "('00000000-0000-4000-8000-0000000b16b1', 'big@example.com', 'x')");
    size_t size = 200 * 200 + 64;
    char *body = malloc (size), code [64];
    assert_non_null (body);
    mg_sync_ops_reply_t reply;
    for (int b = 0; b < 21; b++) {
        size_t used = (size_t) snprintf (body, size, "{\"ops\":[");
        for (int i = 0; i < 100; i++)
            used += (size_t) snprintf (body + used, size - used,
                                       "%s{\"op_id\":\"big-%d-%d\",\"type\":\"%s\",\"content_id\":"
                                       "\"00000000-0000-4000-8000-%012d\",\"position_s\":1}", i ? "," : "", b, i,
                                       b < 20 ? "watchlist.add" : "progress.set", 100000 + b * 100 + i);
        snprintf (body + used, size - used, "]}");
        s_ops_ok (f, user, body);
    }
    //  2,000 listed; the 2,001st title is refused, and nothing of its batch applies.
    snprintf (body, size, "{\"ops\":[{\"op_id\":\"big-x\",\"type\":\"watchlist.add\","
              "\"content_id\":\"00000000-0000-4000-8000-000000999999\"}]}");
    assert_int_equal (s_ops (f, user, body, &reply, code), -1);
    assert_string_equal (code, "CONFLICT");
    //  Progress on 2,100 titles: the oldest 100 went.
    for (int b = 0; b < 20; b++) {
        size_t used = (size_t) snprintf (body, size, "{\"ops\":[");
        for (int i = 0; i < 100; i++)
            used += (size_t) snprintf (body + used, size - used,
                                       "%s{\"op_id\":\"pro-%d-%d\",\"type\":\"progress.set\",\"content_id\":"
                                       "\"00000000-0000-4000-8000-%012d\",\"position_s\":2}", i ? "," : "", b, i,
                                       300000 + b * 100 + i);
        snprintf (body + used, size - used, "]}");
        assert_int_equal (s_ops_retried (f, user, body, &reply, code), 0);
        assert_int_equal (reply.state->watchlist_count, 2000);
        assert_true (reply.state->progress_count <= 2000);
        mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
    }
    assert_int_equal (s_total (f, "sync.progress.list", &mg_progress_page_desc, user), 2000);
    free (body);
}

//  Item 9: the user lists are pages (results, total, page, per_page) whose
//  items carry their title's summary and offers in the caller's region
//  (preferred, else MG_DEFAULT_REGION); preferences stay one object.
static void
test_user_lists_are_pages_with_title_summaries (void **state)
{
    fixture_t *f = *state;
    const char *user = "00000000-0000-4000-8000-0000000011f7";
    s_sql (f, "INSERT INTO users (id, email, password_hash) VALUES "
              "('00000000-0000-4000-8000-0000000011f7', 'dora@example.com', 'x')");
    s_sql (f, "INSERT INTO content (id, type, title, year, poster_path, checksum) VALUES "
              "('00000000-0000-4000-8000-000000005001', 'movie', 'Listed Film', 2001, '/film.jpg', '\\x00'), "
              "('00000000-0000-4000-8000-000000005002', 'tv', 'Listed Show', 2010, NULL, '\\x00')");
    s_sql (f, "INSERT INTO content_genres (content_id, genre_id) SELECT '00000000-0000-4000-8000-000000005001', id "
              "FROM genres WHERE slug IN ('drama', 'war')");
    s_sql (f, "INSERT INTO availability (content_id, platform, region, type, quality, price, currency, source) VALUES "
              "('00000000-0000-4000-8000-000000005001', 'netflix', 'US', 'subscription', 'hd', NULL, NULL, 't'), "
              "('00000000-0000-4000-8000-000000005001', 'apple-tv', 'GB', 'rent', 'uhd', 3.99, 'GBP', 't')");
    char code [64], body [8192];
    //  25 titles, two of them in the catalog; progress on three.
    size_t used = (size_t) snprintf (body, sizeof body, "{\"ops\":[");
    for (int i = 0; i < 25; i++)
        used += (size_t) snprintf (body + used, sizeof body - used,
                                   "%s{\"op_id\":\"l-%d\",\"type\":\"watchlist.add\",\"content_id\":"
                                   "\"00000000-0000-4000-8000-%012d\"}", i ? "," : "", i, 5000 + i);
    for (int i = 0; i < 3; i++)
        used += (size_t) snprintf (body + used, sizeof body - used,
                                   ",{\"op_id\":\"p-%d\",\"type\":\"progress.set\",\"content_id\":"
                                   "\"00000000-0000-4000-8000-%012d\",\"position_s\":%d}", i, 5000 + i, 60 * (i + 1));
    snprintf (body + used, sizeof body - used, "]}");
    s_ops_ok (f, user, body);
    mg_sync_list_request_t first = { .user_id = (char *) user, .per_page = 10, .has_per_page = true };
    mg_watchlist_page_t page;
    assert_int_equal (s_call (f, "sync.watchlist.list", &mg_sync_list_request_desc, &first,
                              &mg_watchlist_page_desc, &page, code), 0);
    assert_int_equal (page.total, 25);
    assert_int_equal (page.page, 1);
    assert_int_equal (page.per_page, 10);
    assert_int_equal (page.results_count, 10);
    mg_msg_clear (&mg_watchlist_page_desc, &page);
    //  Newest first: the last page holds the first adds, 5001 and 5002 among them.
    mg_sync_list_request_t last = { .user_id = (char *) user, .page = 3, .has_page = true,
                                    .per_page = 10, .has_per_page = true };
    assert_int_equal (s_call (f, "sync.watchlist.list", &mg_sync_list_request_desc, &last,
                              &mg_watchlist_page_desc, &page, code), 0);
    assert_int_equal (page.results_count, 5);
    int described = 0;
    for (size_t i = 0; i < page.results_count; i++) {
        const mg_watchlist_entry_t *entry = &page.results [i];
        if (strcmp (entry->content_id, "00000000-0000-4000-8000-000000005001") == 0) {
            assert_non_null (entry->content);
            assert_string_equal (entry->content->title, "Listed Film");
            assert_string_equal (entry->content->type, "movie");
            assert_int_equal (entry->content->year, 2001);
            assert_string_equal (entry->content->poster, "https://image.tmdb.org/t/p/w500/film.jpg");
            assert_int_equal (entry->content->genres_count, 2);
            assert_string_equal (entry->content->region, "US");
            assert_int_equal (entry->content->availability_count, 1);
            assert_string_equal (entry->content->availability [0].platform, "netflix");
            described++;
        }
        else
        if (strcmp (entry->content_id, "00000000-0000-4000-8000-000000005002") == 0) {
            assert_non_null (entry->content);
            assert_string_equal (entry->content->title, "Listed Show");
            assert_int_equal (entry->content->availability_count, 0);
            described++;
        }
        else
            assert_null (entry->content);       //  not in the catalog
    }
    assert_int_equal (described, 2);
    mg_msg_clear (&mg_watchlist_page_desc, &page);
    //  Past the end: an empty page with the total; bad paging is the caller's.
    mg_sync_list_request_t beyond = { .user_id = (char *) user, .page = 9, .has_page = true };
    assert_int_equal (s_call (f, "sync.watchlist.list", &mg_sync_list_request_desc, &beyond,
                              &mg_watchlist_page_desc, &page, code), 0);
    assert_int_equal (page.results_count, 0);
    assert_int_equal (page.total, 25);
    mg_msg_clear (&mg_watchlist_page_desc, &page);
    mg_sync_list_request_t huge = { .user_id = (char *) user, .per_page = 101, .has_per_page = true };
    assert_int_equal (s_call (f, "sync.watchlist.list", &mg_sync_list_request_desc, &huge,
                              &mg_watchlist_page_desc, &page, code), -1);
    assert_string_equal (code, "INVALID_PARAMETER");
    //  A preferred region changes the offers shown.
    s_ops_ok (f, user, "{\"ops\":[{\"op_id\":\"r-1\",\"type\":\"preferences.set\",\"field\":\"region\","
                       "\"value\":\"GB\"}]}");
    mg_sync_list_request_t all = { .user_id = (char *) user };
    mg_progress_page_t progress;
    assert_int_equal (s_call (f, "sync.progress.list", &mg_sync_list_request_desc, &all,
                              &mg_progress_page_desc, &progress, code), 0);
    assert_int_equal (progress.total, 3);
    assert_int_equal (progress.results_count, 3);
    const mg_progress_entry_t *film = NULL;
    for (size_t i = 0; i < progress.results_count; i++)
        if (strcmp (progress.results [i].content_id, "00000000-0000-4000-8000-000000005001") == 0)
            film = &progress.results [i];
    assert_non_null (film);
    assert_true (film->position_s == 120.0);
    assert_string_equal (film->content->region, "GB");
    assert_int_equal (film->content->availability_count, 1);
    assert_string_equal (film->content->availability [0].platform, "apple-tv");
    mg_msg_clear (&mg_progress_page_desc, &progress);
    mg_sync_user_request_t who = { .user_id = (char *) user };
    mg_sync_preferences_t prefs;
    assert_int_equal (s_call (f, "sync.preferences.get", &mg_sync_user_request_desc, &who,
                              &mg_sync_preferences_desc, &prefs, code), 0);
    assert_string_equal (prefs.region, "GB");
    mg_msg_clear (&mg_sync_preferences_desc, &prefs);
}

//  Item 8: the retention job deletes op log rows and events past their
//  windows and keeps the rest: a batch resent inside the window is still
//  a duplicate, and a stream resuming from before the kept events resets.
static void
test_retention_keeps_the_dedupe_and_resume_windows (void **state)
{
    fixture_t *f = *state;
    const char *user = "00000000-0000-4000-8000-0000000000e7";
    s_sql (f, "INSERT INTO users (id, email, password_hash) VALUES "
              "('00000000-0000-4000-8000-0000000000e7', 'erin@example.com', 'x')");
    char code [64], device [37];
    assert_int_equal (s_add_device (f, user, "tablet", device, code), 0);
    char *old = s_hundred (device, "old", TITLE_1, false);
    char *recent = s_hundred (device, "recent", TITLE_2, false);
    s_ops_ok (f, user, old);
    s_ops_ok (f, user, recent);
    //  The first batch and its events become two days old (the windows are one day).
    s_sql (f, "UPDATE sync_ops SET applied_at = now () - interval '2 days' WHERE op_id LIKE 'old-%'");
    s_sql (f, "UPDATE sync_events SET created_at = now () - interval '2 days' "
              "WHERE user_id = '00000000-0000-4000-8000-0000000000e7' AND id <= 50");
    int64_t until = mg_test_now_ms () + 15000;
    while (mg_test_now_ms () < until
    &&  (s_sql (f, "SELECT count (*) FROM sync_ops WHERE op_id LIKE 'old-%'") > 0
    ||   s_sql (f, "SELECT count (*) FROM sync_events WHERE user_id = '00000000-0000-4000-8000-0000000000e7' "
                   "AND id <= 50") > 0))
        zclock_sleep (200);
    assert_int_equal (s_sql (f, "SELECT count (*) FROM sync_ops WHERE op_id LIKE 'old-%'"), 0);
    assert_int_equal (s_sql (f, "SELECT count (*) FROM sync_events WHERE user_id = "
                                "'00000000-0000-4000-8000-0000000000e7' AND id <= 50"), 0);
    assert_int_equal (s_sql (f, "SELECT count (*) FROM sync_ops WHERE op_id LIKE 'recent-%'"), 100);
    assert_true (s_sql (f, "SELECT count (*) FROM sync_events WHERE user_id = "
                           "'00000000-0000-4000-8000-0000000000e7' AND id > 50") > 0);
    //  Inside the window a resent batch is recognised.
    mg_sync_ops_reply_t reply;
    assert_int_equal (s_ops (f, user, recent, &reply, code), 0);
    assert_int_equal (reply.duplicates, 100);
    assert_int_equal (reply.applied, 0);
    mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
    //  A resume from before the kept events is told to refetch.
    mg_sync_events_request_t resume = { .user_id = (char *) user, .device_id = device, .since = 10, .has_since = true };
    mg_sync_events_reply_t events;
    assert_int_equal (s_call (f, "sync.events", &mg_sync_events_request_desc, &resume,
                              &mg_sync_events_reply_desc, &events, code), 0);
    assert_true (events.reset);
    mg_msg_clear (&mg_sync_events_reply_desc, &events);
    free (old);
    free (recent);
}

//  Issue 13 item 5: a failure of the database is never the caller's: with
//  the actor's connection cut under it, every handler answers
//  SERVICE_UNAVAILABLE with a retry_after (503 + Retry-After), and the
//  next call, on a new connection, succeeds.
static void
test_database_failures_are_503_never_client_errors (void **state)
{
    fixture_t *f = *state;
    char device [37], code [64];
    assert_int_equal (s_add_device (f, ALICE, "watch", device, code), 0);
    mg_sync_user_request_t user = { .user_id = ALICE };
    mg_sync_list_request_t list = { .user_id = ALICE };
    mg_sync_events_request_t events = { .user_id = ALICE, .device_id = device };
    mg_device_add_request_t add = { .user_id = ALICE, .name = "spare" };
    mg_sync_ops_request_t ops = { .user_id = ALICE, .body = "{\"ops\":[{\"op_id\":\"db-1\","
                                  "\"type\":\"watchlist.add\",\"content_id\":\"" TITLE_2 "\"}]}" };
    struct {
        const char *method;
        const mg_msgdesc_t *request, *reply;
        const void *message;
    } calls [] = {
        { "sync.events", &mg_sync_events_request_desc, &mg_sync_events_reply_desc, &events },
        { "sync.devices.list", &mg_sync_list_request_desc, &mg_devices_reply_desc, &list },
        { "sync.state", &mg_sync_user_request_desc, &mg_sync_state_desc, &user },
        { "sync.watchlist.list", &mg_sync_list_request_desc, &mg_watchlist_page_desc, &list },
        { "sync.devices.add", &mg_device_add_request_desc, &mg_device_desc, &add },
        { "sync.ops", &mg_sync_ops_request_desc, &mg_sync_ops_reply_desc, &ops },
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls [0]; i++) {
        //  The actor's one connection is cut (as by a restart of the server).
        s_sql (f, "SELECT count (pg_terminate_backend (pid)) FROM pg_stat_activity "
                  "WHERE datname = current_database () AND pid <> pg_backend_pid () AND backend_type = 'client backend'");
        uint8_t reply [4096] __attribute__ ((aligned (16)));
        mg_error_t err = { 0 };
        int rc = mg_client_call (f->client, calls [i].method, calls [i].request, calls [i].message,
                                 calls [i].reply, reply, CALL_MS, &err);
        if (rc == 0)
            mg_msg_clear (calls [i].reply, reply);
        if (rc == 0 || strcmp (err.code, "SERVICE_UNAVAILABLE") != 0 || !err.has_retry_after || err.retry_after < 1)
            fail_msg ("%s with the database gone: %s %s (retry_after %d)", calls [i].method,
                      rc ? err.code : "ok", rc ? err.message : "", (int) err.retry_after);
        mg_msg_clear (&mg_error_desc, &err);
        rc = mg_client_call (f->client, calls [i].method, calls [i].request, calls [i].message,
                             calls [i].reply, reply, CALL_MS, &err);
        if (rc)
            fail_msg ("%s after the database came back: %s %s", calls [i].method, err.code, err.message);
        mg_msg_clear (calls [i].reply, reply);
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
        cmocka_unit_test (test_watchlist_repeated_put_keeps_account_usable),
        cmocka_unit_test (test_user_lists_are_pages_with_title_summaries),
        cmocka_unit_test (test_a_state_never_outgrows_its_reply),
        cmocka_unit_test (test_retention_keeps_the_dedupe_and_resume_windows),
        cmocka_unit_test (test_database_failures_are_503_never_client_errors),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
