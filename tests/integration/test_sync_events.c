/*  The sync actor's change events over a real broker and PostgreSQL: every
    applied change is published on sync.<user_id> after its commit with the
    user's next id, a user's topic carries only their changes, sync.events
    replays the kept events (and says reset past them), and handoffs and
    device changes are events too.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"

#define ALICE    "00000000-0000-4000-8000-00000000a11c"
#define BOB      "00000000-0000-4000-8000-000000000b0b"
#define TITLE_1  "00000000-0000-4000-8000-000000000001"
#define CALL_MS  5000
#define KEEP     10                 //  MG_SYNC_EVENTS_KEEP of the fixture

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    pid_t broker, sync;
    mg_client_t *client;
    zsock_t *alice, *bob;           //  SUB to sync.<ALICE>, sync.<BOB>
    char phone [37], tv [37];       //  Alice's devices
} fixture_t;

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

//  Apply ops (a JSON array text) for user from device (may be NULL); asserts success.
static void
s_ops (fixture_t *f, const char *user, const char *device, const char *ops)
{
    char body [8192];
    if (device)
        snprintf (body, sizeof body, "{\"device_id\":\"%s\",\"ops\":%s}", device, ops);
    else
        snprintf (body, sizeof body, "{\"ops\":%s}", ops);
    mg_sync_ops_request_t request = { .user_id = (char *) user, .body = body };
    mg_sync_ops_reply_t reply;
    char code [64];
    if (s_call (f, "sync.ops", &mg_sync_ops_request_desc, &request, &mg_sync_ops_reply_desc, &reply, code))
        fail_msg ("sync.ops: %s", code);
    mg_msg_clear (&mg_sync_ops_reply_desc, &reply);
}

//  The next event on sub (within CALL_MS), decoded; asserts its topic is
//  sync.<user>. Returns 0, or -1 when none came.
static int
s_next (zsock_t *sub, const char *user, mg_sync_event_t *event)
{
    zpoller_t *poller = zpoller_new (sub, NULL);
    void *ready = zpoller_wait (poller, CALL_MS);
    zpoller_destroy (&poller);
    if (!ready)
        return -1;
    zmsg_t *msg = zmsg_recv (sub);
    char *topic = zmsg_popstr (msg);
    zframe_t *body = zmsg_pop (msg);
    char expected [64], reason [256];
    snprintf (expected, sizeof expected, "sync.%s", user);
    assert_string_equal (topic, expected);
    assert_int_equal (mg_msg_decode (&mg_sync_event_desc, zframe_data (body), zframe_size (body), event, reason,
                                     sizeof reason), 0);
    assert_string_equal (event->user_id, user);
    free (topic);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    return 0;
}

//  A SUB on the broker's event endpoint for user, once it hears: a SUB
//  joins late, so changes are made until one comes through, then drained.
static zsock_t *
s_subscribe (fixture_t *f, const char *user)
{
    char topic [64];
    snprintf (topic, sizeof topic, "sync.%s", user);
    zsock_t *sub = mg_test_socket (ZMQ_SUB, f->env.events, topic);
    assert_non_null (sub);
    for (int i = 0; i < 100; i++) {
        char ops [256];
        snprintf (ops, sizeof ops, "[{\"op_id\":\"warm-%d\",\"type\":\"preferences.set\",\"field\":\"autoplay\","
                  "\"value\":true}]", i);
        s_ops (f, user, NULL, ops);
        zpoller_t *poller = zpoller_new (sub, NULL);
        void *ready = zpoller_wait (poller, 100);
        zpoller_destroy (&poller);
        if (ready)
            break;
    }
    //  Drain what the warm-up made.
    for (;;) {
        zpoller_t *poller = zpoller_new (sub, NULL);
        void *ready = zpoller_wait (poller, 300);
        zpoller_destroy (&poller);
        if (!ready)
            break;
        zmsg_t *msg = zmsg_recv (sub);
        zmsg_destroy (&msg);
    }
    return sub;
}

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    f->admin = mg_test_scratch_db ("mg_sync_events", f->url, sizeof f->url);
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
    mg_test_env_add (&f->env, "MG_SYNC_EVENTS_KEEP=%d", KEEP);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->sync = mg_test_spawn ("mg-sync", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    if (mg_test_wait_service (f->env.endpoint, "sync", 15000))
        return -1;
    f->alice = s_subscribe (f, ALICE);
    f->bob = s_subscribe (f, BOB);
    return 0;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    zsock_destroy (&f->alice);
    zsock_destroy (&f->bob);
    mg_client_destroy (&f->client);
    if (f->sync > 0)
        mg_test_stop (f->sync, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  sync.events for user's device since (< 0: none); reply filled. Returns the call's rc.
static int
s_replay (fixture_t *f, const char *user, const char *device, int64_t since, mg_sync_events_reply_t *reply,
          char *code)
{
    mg_sync_events_request_t request = { .user_id = (char *) user, .device_id = (char *) device,
                                         .since = since, .has_since = since >= 0 };
    return s_call (f, "sync.events", &mg_sync_events_request_desc, &request, &mg_sync_events_reply_desc,
                   reply, code);
}

static void
test_applied_changes_are_published_with_consecutive_ids_and_replayed_alike (void **state)
{
    fixture_t *f = *state;
    mg_device_add_request_t add = { .user_id = ALICE, .name = "phone" };
    mg_device_t device;
    char code [64];
    assert_int_equal (s_call (f, "sync.devices.add", &mg_device_add_request_desc, &add, &mg_device_desc, &device,
                              code), 0);
    snprintf (f->phone, sizeof f->phone, "%s", device.id);
    mg_msg_clear (&mg_device_desc, &device);
    add.name = "tv";
    assert_int_equal (s_call (f, "sync.devices.add", &mg_device_add_request_desc, &add, &mg_device_desc, &device,
                              code), 0);
    snprintf (f->tv, sizeof f->tv, "%s", device.id);
    mg_msg_clear (&mg_device_desc, &device);
    mg_sync_event_t event;
    assert_int_equal (s_next (f->alice, ALICE, &event), 0);
    assert_string_equal (event.type, "device.added");
    uint64_t first = event.id;
    mg_msg_clear (&mg_sync_event_desc, &event);
    assert_int_equal (s_next (f->alice, ALICE, &event), 0);
    assert_int_equal (event.id, first + 1);
    mg_msg_clear (&mg_sync_event_desc, &event);
    const char *batch = "[{\"op_id\":\"e-1\",\"type\":\"watchlist.add\",\"content_id\":\"" TITLE_1 "\"},"
                        "{\"op_id\":\"e-2\",\"type\":\"progress.set\",\"content_id\":\"" TITLE_1 "\",\"position_s\":60},"
                        "{\"op_id\":\"e-3\",\"type\":\"preferences.set\",\"field\":\"language\",\"value\":\"en\"}]";
    s_ops (f, ALICE, f->phone, batch);
    s_ops (f, ALICE, f->phone, batch);           //  all duplicates: no change, no event
    s_ops (f, ALICE, f->phone, "[{\"op_id\":\"e-4\",\"type\":\"watchlist.remove\",\"content_id\":\"" TITLE_1 "\"}]");
    const char *types [] = { "watchlist.add", "progress.set", "preferences.set", "watchlist.remove" };
    mg_sync_event_t live [4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal (s_next (f->alice, ALICE, &live [i]), 0);
        assert_int_equal (live [i].id, first + 2 + (uint64_t) i);
        assert_string_equal (live [i].type, types [i]);
        assert_string_equal (live [i].device_id, f->phone);
        assert_null (live [i].target);
    }
    //  The replay is the same events, byte for byte.
    mg_sync_events_reply_t reply;
    assert_int_equal (s_replay (f, ALICE, f->tv, (int64_t) first + 1, &reply, code), 0);
    assert_false (reply.reset);
    assert_false (reply.more);
    assert_int_equal (reply.last_id, first + 5);
    assert_int_equal (reply.events_count, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal (reply.events [i].id, live [i].id);
        assert_string_equal (reply.events [i].type, live [i].type);
        assert_string_equal (reply.events [i].data, live [i].data);
        mg_msg_clear (&mg_sync_event_desc, &live [i]);
    }
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
    //  Without since: only the last id.
    assert_int_equal (s_replay (f, ALICE, f->tv, -1, &reply, code), 0);
    assert_int_equal (reply.events_count, 0);
    assert_int_equal (reply.last_id, first + 5);
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
}

static void
test_a_users_topic_carries_only_their_changes (void **state)
{
    fixture_t *f = *state;
    s_ops (f, ALICE, NULL, "[{\"op_id\":\"iso-a\",\"type\":\"preferences.set\",\"field\":\"region\",\"value\":\"PT\"}]");
    s_ops (f, BOB, NULL, "[{\"op_id\":\"iso-b\",\"type\":\"preferences.set\",\"field\":\"region\",\"value\":\"BR\"}]");
    mg_sync_event_t event;
    assert_int_equal (s_next (f->bob, BOB, &event), 0);     //  asserts the topic and user
    assert_non_null (strstr (event.data, "\"iso-b\""));
    mg_msg_clear (&mg_sync_event_desc, &event);
    assert_int_equal (s_next (f->alice, ALICE, &event), 0);
    assert_non_null (strstr (event.data, "\"iso-a\""));
    mg_msg_clear (&mg_sync_event_desc, &event);
    //  Bob cannot replay Alice's events through her device.
    mg_sync_events_reply_t reply;
    char code [64];
    assert_int_equal (s_replay (f, BOB, f->tv, 0, &reply, code), -1);
    assert_string_equal (code, "NOT_FOUND");
}

static void
test_a_replay_past_the_kept_events_is_a_reset (void **state)
{
    fixture_t *f = *state;
    mg_sync_events_reply_t reply;
    char code [64], ops [4096];
    size_t used = (size_t) snprintf (ops, sizeof ops, "[");
    for (int i = 0; i < KEEP + 2; i++)
        used += (size_t) snprintf (ops + used, sizeof ops - used, "%s{\"op_id\":\"keep-%d\",\"type\":\"progress.set\","
                                   "\"content_id\":\"" TITLE_1 "\",\"position_s\":%d}", i ? "," : "", i, i);
    snprintf (ops + used, sizeof ops - used, "]");
    s_ops (f, ALICE, f->phone, ops);
    assert_int_equal (s_replay (f, ALICE, f->tv, -1, &reply, code), 0);
    uint64_t last = reply.last_id;
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
    assert_int_equal (s_replay (f, ALICE, f->tv, 0, &reply, code), 0);
    assert_true (reply.reset);
    assert_int_equal (reply.events_count, 0);
    assert_int_equal (reply.last_id, last);
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
    assert_int_equal (s_replay (f, ALICE, f->tv, (int64_t) (last - KEEP), &reply, code), 0);
    assert_false (reply.reset);
    assert_int_equal (reply.events_count, KEEP);
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
    assert_int_equal (s_replay (f, ALICE, f->tv, (int64_t) (last - KEEP - 1), &reply, code), 0);
    assert_true (reply.reset);
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
    assert_int_equal (s_replay (f, ALICE, f->tv, (int64_t) last + 1, &reply, code), 0);
    assert_true (reply.reset);
    mg_msg_clear (&mg_sync_events_reply_desc, &reply);
    assert_int_equal (s_replay (f, ALICE, "00000000-0000-4000-8000-0000000000ee", 0, &reply, code), -1);
    assert_string_equal (code, "NOT_FOUND");
    assert_int_equal (s_replay (f, ALICE, "not-a-device", 0, &reply, code), -1);
    assert_string_equal (code, "INVALID_PARAMETER");
    //  Drain the live copies of the batch.
    mg_sync_event_t event;
    for (int i = 0; i < KEEP + 2; i++) {
        assert_int_equal (s_next (f->alice, ALICE, &event), 0);
        mg_msg_clear (&mg_sync_event_desc, &event);
    }
}

static void
test_handoffs_and_device_removals_are_events (void **state)
{
    fixture_t *f = *state;
    mg_sync_handoff_request_t handoff = { .user_id = ALICE, .from_device = f->phone, .to_device = f->tv,
                                          .content_id = TITLE_1, .position_s = 99.5, .has_position_s = true };
    mg_sync_handoff_t stored;
    char code [64];
    assert_int_equal (s_call (f, "sync.handoff", &mg_sync_handoff_request_desc, &handoff, &mg_sync_handoff_desc,
                              &stored, code), 0);
    mg_sync_event_t event;
    assert_int_equal (s_next (f->alice, ALICE, &event), 0);
    assert_string_equal (event.type, "progress.set");
    assert_string_equal (event.device_id, f->phone);
    mg_msg_clear (&mg_sync_event_desc, &event);
    assert_int_equal (s_next (f->alice, ALICE, &event), 0);
    assert_string_equal (event.type, "handoff");
    assert_int_equal (event.id, stored.event_id);
    assert_string_equal (event.target, f->tv);
    assert_true (stored.progress->position_s == 99.5);
    mg_msg_clear (&mg_sync_event_desc, &event);
    mg_msg_clear (&mg_sync_handoff_desc, &stored);
    handoff.to_device = f->phone;
    assert_int_equal (s_call (f, "sync.handoff", &mg_sync_handoff_request_desc, &handoff, &mg_sync_handoff_desc,
                              &stored, code), -1);
    assert_string_equal (code, "INVALID_PARAMETER");
    mg_device_request_t gone = { .user_id = ALICE, .id = f->tv };
    assert_int_equal (s_call (f, "sync.devices.remove", &mg_device_request_desc, &gone, &mg_empty_desc, NULL, code), 0);
    assert_int_equal (s_next (f->alice, ALICE, &event), 0);
    assert_string_equal (event.type, "device.removed");
    assert_non_null (strstr (event.data, f->tv));
    mg_msg_clear (&mg_sync_event_desc, &event);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_applied_changes_are_published_with_consecutive_ids_and_replayed_alike),
        cmocka_unit_test (test_a_users_topic_carries_only_their_changes),
        cmocka_unit_test (test_a_replay_past_the_kept_events_is_a_reset),
        cmocka_unit_test (test_handoffs_and_device_removals_are_events),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
