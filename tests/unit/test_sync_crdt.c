/*  The replicated user state: add-wins watchlist, last-writer-wins progress
    and preferences, and convergence of many devices under reordering,
    duplication and partitions (a property test with a fixed seed).  */
#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt.h"

#define DEVICES      10
#define OPS          10000
#define TITLES       20
#define DRIFT_MS     60000

static const char *
s_title (int i)
{
    static char ids [TITLES][37];
    snprintf (ids [i], sizeof ids [i], "00000000-0000-4000-8000-%012d", i);
    return ids [i];
}

//  Apply the op json to state; asserts it parses and applies.
static void
s_apply (json_t *state, const json_t *op_json)
{
    sync_op_t op;
    char err [256];
    if (sync_op_from_json (op_json, &op, err, sizeof err))
        fail_msg ("op does not parse: %s", err);
    assert_int_equal (sync_state_apply (state, &op), 0);
}

//  A replica: its state and the op ids it has applied (ops apply once).
typedef struct {
    json_t *state;
    json_t *seen;
} replica_t;

static void
s_deliver (replica_t *r, const json_t *op_json)
{
    const char *id = json_string_value (json_object_get (op_json, "op_id"));
    if (json_object_get (r->seen, id))
        return;
    json_object_set_new (r->seen, id, json_true ());
    s_apply (r->state, op_json);
}

static char *
s_dump (const json_t *state)
{
    char *text = json_dumps (state, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null (text);
    return text;
}

//  The state as text once every tombstone is compacted away: what two
//  replicas that applied the same ops hold in common (a tombstone of an add
//  that came before its remove is the only trace a delivery order leaves).
static char *
s_settled (const json_t *state)
{
    json_t *copy = json_deep_copy (state);
    assert_non_null (copy);
    sync_state_compact (copy, (hlc_t) { INT64_MAX / 2, 0, 0 });
    char *text = s_dump (copy);
    json_decref (copy);
    return text;
}

static json_t *
s_op (const char *op_id, const char *type, hlc_t hlc, const char *content_id)
{
    char text [HLC_TEXT_LEN];
    hlc_format (hlc, text);
    json_t *op = json_pack ("{s:s, s:s, s:s}", "op_id", op_id, "type", type, "hlc", text);
    if (content_id)
        json_object_set_new (op, "content_id", json_string (content_id));
    return op;
}

static bool
s_listed (const json_t *state, const char *content_id)
{
    json_t *view = sync_state_view (state);
    bool found = false;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (view, "watchlist"), i, item)
        if (!strcmp (json_string_value (json_object_get (item, "content_id")), content_id))
            found = true;
    json_decref (view);
    return found;
}

static void
test_concurrent_add_and_remove_leave_the_title_listed (void **state)
{
    (void) state;
    json_t *add1 = s_op ("a1", "watchlist.add", (hlc_t) { 100, 0, 1 }, s_title (1));
    json_t *add2 = s_op ("a2", "watchlist.add", (hlc_t) { 90, 0, 2 }, s_title (1));   //  not seen by the remover
    json_t *remove = s_op ("r1", "watchlist.remove", (hlc_t) { 200, 0, 1 }, s_title (1));
    json_object_set_new (remove, "tags", json_pack ("[s]", "a1"));
    const json_t *orders [6][3] = { { add1, add2, remove }, { add1, remove, add2 }, { add2, add1, remove },
                                    { add2, remove, add1 }, { remove, add1, add2 }, { remove, add2, add1 } };
    char *first = NULL;
    for (int o = 0; o < 6; o++) {
        json_t *s = sync_state_new ();
        for (int i = 0; i < 3; i++)
            s_apply (s, orders [o][i]);
        assert_true (s_listed (s, s_title (1)));
        char *text = s_dump (s);
        if (!first)
            first = text;
        else {
            assert_string_equal (text, first);
            free (text);
        }
        json_decref (s);
    }
    free (first);
    //  A remove that saw both adds removes the title, in any order.
    json_object_set_new (remove, "tags", json_pack ("[s,s]", "a1", "a2"));
    json_t *s = sync_state_new ();
    s_apply (s, remove);
    s_apply (s, add2);
    s_apply (s, add1);
    assert_false (s_listed (s, s_title (1)));
    //  Each tombstone went when its add came: nothing is left of the title.
    assert_int_equal (json_object_size (json_object_get (s, "watchlist")), 0);
    json_decref (s);
    //  A tombstone whose add has not come stays until the horizon passes it.
    s = sync_state_new ();
    s_apply (s, remove);
    assert_int_equal (json_object_size (json_object_get (s, "watchlist")), 1);
    sync_state_compact (s, (hlc_t) { 150, 0, 0 });
    assert_int_equal (json_object_size (json_object_get (s, "watchlist")), 1);   //  newer than the horizon
    sync_state_compact (s, (hlc_t) { 201, 0, 0 });
    assert_int_equal (json_object_size (json_object_get (s, "watchlist")), 0);
    json_decref (s);
    json_decref (add1);
    json_decref (add2);
    json_decref (remove);
}

static void
test_the_later_progress_wins_even_when_it_arrives_first (void **state)
{
    (void) state;
    json_t *early = s_op ("p1", "progress.set", (hlc_t) { 100, 0, 1 }, s_title (2));
    json_object_set_new (early, "position_s", json_real (60));
    json_t *late = s_op ("p2", "progress.set", (hlc_t) { 100, 1, 1 }, s_title (2));
    json_object_set_new (late, "position_s", json_real (600));
    json_object_set_new (late, "duration_s", json_real (5400));
    json_t *s = sync_state_new ();
    s_apply (s, late);
    s_apply (s, early);
    json_t *view = sync_state_view (s);
    json_t *item = json_array_get (json_object_get (view, "progress"), 0);
    assert_true (json_real_value (json_object_get (item, "position_s")) == 600.0);
    assert_true (json_real_value (json_object_get (item, "duration_s")) == 5400.0);
    json_decref (view);
    json_decref (s);
    json_decref (early);
    json_decref (late);
}

static void
test_bad_ops_are_refused_with_the_field_named (void **state)
{
    (void) state;
    const char *cases [][2] = {
        { "{\"type\":\"watchlist.add\",\"hlc\":\"000000000001-00000000-00000001\"}", "op_id" },
        { "{\"op_id\":\"x\",\"type\":\"watchlist.flip\",\"hlc\":\"000000000001-00000000-00000001\"}", "type" },
        { "{\"op_id\":\"x\",\"type\":\"watchlist.add\",\"hlc\":\"yesterday\"}", "hlc" },
        { "{\"op_id\":\"x\",\"type\":\"watchlist.add\",\"hlc\":\"000000000001-00000000-00000001\",\"content_id\":\"603\"}", "content_id" },
        { "{\"op_id\":\"x\",\"type\":\"progress.set\",\"hlc\":\"000000000001-00000000-00000001\","
          "\"content_id\":\"00000000-0000-4000-8000-000000000001\",\"position_s\":-1}", "position_s" },
        { "{\"op_id\":\"x\",\"type\":\"progress.set\",\"hlc\":\"000000000001-00000000-00000001\","
          "\"content_id\":\"00000000-0000-4000-8000-000000000001\",\"position_s\":90,\"duration_s\":60}", "position_s" },
        { "{\"op_id\":\"x\",\"type\":\"preferences.set\",\"hlc\":\"000000000001-00000000-00000001\",\"field\":\"Bad Name\",\"value\":1}", "field" },
        { "{\"op_id\":\"x\",\"type\":\"watchlist.remove\",\"hlc\":\"000000000001-00000000-00000001\","
          "\"content_id\":\"00000000-0000-4000-8000-000000000001\",\"tags\":[1]}", "tags" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_error_t jerr;
        json_t *json = json_loads (cases [i][0], 0, &jerr);
        assert_non_null (json);
        sync_op_t op;
        char err [256] = "";
        assert_int_equal (sync_op_from_json (json, &op, err, sizeof err), -1);
        if (!strstr (err, cases [i][1]))
            fail_msg ("case %zu: '%s' does not name %s", i, err, cases [i][1]);
        json_decref (json);
    }
}

//  Fisher-Yates with rand_r.
static void
s_shuffle (const json_t **items, size_t n, unsigned *seed)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t) rand_r (seed) % (i + 1);
        const json_t *t = items [i];
        items [i] = items [j];
        items [j] = t;
    }
}

static void
test_ten_devices_converge_whatever_the_delivery_order (void **state)
{
    (void) state;
    unsigned seed = 20261128;
    replica_t devices [DEVICES];
    hlc_clock_t clocks [DEVICES];
    size_t delivered [DEVICES];               //  ops of the log each device has been given
    for (int d = 0; d < DEVICES; d++) {
        devices [d] = (replica_t) { sync_state_new (), json_object () };
        hlc_clock_init (&clocks [d], (uint32_t) d + 1, (hlc_t) { 0 }, DRIFT_MS);
        delivered [d] = 0;
    }
    json_t *log = json_array ();
    int64_t now = 1764300000000LL;
    for (int i = 0; i < OPS; i++) {
        int d = rand_r (&seed) % DEVICES;
        now += rand_r (&seed) % 3;            //  coarse clocks: many equal walls
        //  Partitions: a device catches up on the others' ops only now and then.
        if (rand_r (&seed) % 8 == 0)
            for (; delivered [d] < json_array_size (log); delivered [d]++) {
                json_t *op = json_array_get (log, delivered [d]);
                hlc_t remote, merged;
                hlc_parse (json_string_value (json_object_get (op, "hlc")), &remote);
                assert_int_equal (hlc_clock_receive (&clocks [d], remote, now, &merged), 0);
                s_deliver (&devices [d], op);
            }
        //  Device clocks disagree by up to a few seconds.
        hlc_t t = hlc_clock_now (&clocks [d], now + (d * 997) % 5000);
        char op_id [32];
        snprintf (op_id, sizeof op_id, "d%d-%d", d, i);
        int title = rand_r (&seed) % TITLES;
        int kind = rand_r (&seed) % 20;
        json_t *op;
        if (kind < 8)
            op = s_op (op_id, "watchlist.add", t, s_title (title));
        else
        if (kind < 13) {
            op = s_op (op_id, "watchlist.remove", t, s_title (title));
            const char *tags [SYNC_TAGS_MAX];
            size_t n = sync_state_tags (devices [d].state, s_title (title), tags);
            json_t *list = json_array ();
            for (size_t k = 0; k < n; k++)
                json_array_append_new (list, json_string (tags [k]));
            json_object_set_new (op, "tags", list);
        }
        else
        if (kind < 18) {
            op = s_op (op_id, "progress.set", t, s_title (title));
            json_object_set_new (op, "position_s", json_real (rand_r (&seed) % 5000));
            json_object_set_new (op, "duration_s", json_real (5000));
            json_object_set_new (op, "completed", json_boolean (rand_r (&seed) % 10 == 0));
        }
        else {
            op = s_op (op_id, "preferences.set", t, NULL);
            json_object_set_new (op, "field", json_string (kind == 18 ? "language" : "autoplay"));
            json_object_set_new (op, "value", json_integer (rand_r (&seed) % 100));
        }
        s_deliver (&devices [d], op);         //  a device sees its own op at once
        json_array_append_new (log, op);
    }
    //  The server gets every op, shuffled, some twice.
    size_t n = json_array_size (log);
    const json_t **order = calloc (n * 2, sizeof *order);
    assert_non_null (order);
    for (size_t i = 0; i < n; i++)
        order [i] = json_array_get (log, i);
    size_t total = n;
    for (size_t i = 0; i < n / 10; i++)
        order [total++] = json_array_get (log, (size_t) rand_r (&seed) % n);
    replica_t server = { sync_state_new (), json_object () };
    s_shuffle (order, total, &seed);
    for (size_t i = 0; i < total; i++)
        s_deliver (&server, order [i]);
    char *expected = s_settled (server.state);
    //  Each device catches up (in its own shuffled order) and ends equal.
    for (int d = 0; d < DEVICES; d++) {
        s_shuffle (order, total, &seed);
        for (size_t i = 0; i < total; i++)
            s_deliver (&devices [d], order [i]);
        char *text = s_settled (devices [d].state);
        assert_string_equal (text, expected);
        free (text);
        json_decref (devices [d].state);
        json_decref (devices [d].seen);
    }
    //  And a replay of the whole log in yet other orders gives the same state.
    for (int round = 0; round < 3; round++) {
        replica_t fresh = { sync_state_new (), json_object () };
        s_shuffle (order, total, &seed);
        for (size_t i = 0; i < total; i++)
            s_deliver (&fresh, order [i]);
        char *text = s_settled (fresh.state);
        assert_string_equal (text, expected);
        free (text);
        json_decref (fresh.state);
        json_decref (fresh.seen);
    }
    //  The run exercised every kind of outcome.
    json_t *view = sync_state_view (server.state);
    assert_true (json_array_size (json_object_get (view, "watchlist")) > 0);
    assert_true (json_array_size (json_object_get (view, "watchlist")) < TITLES);
    assert_int_equal (json_array_size (json_object_get (view, "progress")), TITLES);
    assert_int_equal (json_object_size (json_object_get (view, "preferences")), 2);
    json_decref (view);
    free (expected);
    free (order);
    json_decref (server.state);
    json_decref (server.seen);
    json_decref (log);
}

//  The ops of list as a network delivers them: shuffled, a tenth of them
//  twice. A new array of borrowed ops; its length into count.
static const json_t **
s_delivery (const json_t *list, unsigned *seed, size_t *count)
{
    size_t n = json_array_size (list);
    const json_t **order = calloc (n + n / 10 + 1, sizeof *order);
    assert_non_null (order);
    *count = 0;
    for (size_t i = 0; i < n; i++)
        order [(*count)++] = json_array_get (list, i);
    for (size_t i = 0; i < n / 10; i++)
        order [(*count)++] = json_array_get (list, (size_t) rand_r (seed) % n);
    s_shuffle (order, *count, seed);
    return order;
}

//  What the server does with an op it has not seen: complete it from its
//  state (sync_op_settle), apply it, and log the completed op. Returns the
//  logged op (new), or NULL for a duplicate.
static json_t *
s_serve (replica_t *server, const json_t *sent)
{
    const char *id = json_string_value (json_object_get (sent, "op_id"));
    if (json_object_get (server->seen, id))
        return NULL;
    json_object_set_new (server->seen, id, json_true ());
    json_t *logged = json_deep_copy (sent);
    sync_op_t op;
    char err [256];
    if (sync_op_from_json (logged, &op, err, sizeof err) || sync_op_settle (server->state, logged, &op, err, sizeof err))
        fail_msg ("op refused: %s", err);
    assert_int_equal (sync_state_apply (server->state, &op), 0);
    return logged;
}

//  Live tags of content_id in state.
static size_t
s_live (const json_t *state, const char *content_id)
{
    return json_object_size (json_object_get (json_object_get (json_object_get (state, "watchlist"), content_id),
                                              "tags"));
}

static void
test_watchlist_repeated_put_keeps_one_live_tag (void **state)
{
    (void) state;
    replica_t server = { sync_state_new (), json_object () };
    for (int i = 0; i < 70; i++) {
        char op_id [16];
        snprintf (op_id, sizeof op_id, "put-%d", i);
        json_t *op = s_op (op_id, "watchlist.add", (hlc_t) { 1000 + i, 0, 1 }, s_title (1));
        json_decref (s_serve (&server, op));
        json_decref (op);
        assert_int_equal (s_live (server.state, s_title (1)), 1);
    }
    json_t *view = sync_state_view (server.state);
    json_t *tags = json_object_get (json_array_get (json_object_get (view, "watchlist"), 0), "tags");
    assert_int_equal (json_array_size (tags), 1);
    assert_string_equal (json_string_value (json_array_get (tags, 0)), "put-69");
    json_decref (view);
    //  A remove without tags (DELETE) then ends the title, leaving nothing.
    json_t *remove = s_op ("del", "watchlist.remove", (hlc_t) { 2000, 0, 1 }, s_title (1));
    json_decref (s_serve (&server, remove));
    json_decref (remove);
    assert_int_equal (json_object_size (json_object_get (server.state, "watchlist")), 0);
    json_decref (server.state);
    json_decref (server.seen);
}

static void
test_watchlist_added_and_removed_ten_thousand_times_stays_small (void **state)
{
    (void) state;
    replica_t server = { sync_state_new (), json_object () };
    for (int i = 0; i < OPS; i++) {
        char op_id [24];
        snprintf (op_id, sizeof op_id, "%c-%d", i % 2 ? 'r' : 'a', i);
        json_t *op = s_op (op_id, i % 2 ? "watchlist.remove" : "watchlist.add", (hlc_t) { 1000 + i, 0, 1 },
                           s_title (2));
        json_decref (s_serve (&server, op));
        json_decref (op);
    }
    char *text = s_settled (server.state);
    assert_true (strlen (text) < 4096);
    free (text);
    text = s_dump (server.state);             //  even before compaction
    assert_true (strlen (text) < 4096);
    free (text);
    json_decref (server.state);
    json_decref (server.seen);
}

//  Item 2 of the integrity issue: 10 devices, 10,000 add/remove/progress
//  ops on three titles, delivered to the server shuffled and some twice;
//  the server completes each (adds supersede what it has seen) and logs
//  it. No title ever holds more than one live tag there, and every replica
//  that replays the log, in any order and with duplicates, ends equal.
static void
test_watchlist_ops_from_ten_devices_keep_one_live_tag_and_converge (void **state)
{
    (void) state;
    enum { FEW = 3 };
    unsigned seed = 20261205;
    replica_t devices [DEVICES];
    hlc_clock_t clocks [DEVICES];
    for (int d = 0; d < DEVICES; d++) {
        devices [d] = (replica_t) { sync_state_new (), json_object () };
        hlc_clock_init (&clocks [d], (uint32_t) d + 1, (hlc_t) { 0 }, DRIFT_MS);
    }
    json_t *sent = json_array ();
    int64_t now = 1764900000000LL;
    for (int i = 0; i < OPS; i++) {
        int d = rand_r (&seed) % DEVICES;
        now += rand_r (&seed) % 3;
        hlc_t t = hlc_clock_now (&clocks [d], now + (d * 997) % 5000);
        char op_id [32];
        snprintf (op_id, sizeof op_id, "d%d-%d", d, i);
        const char *title = s_title (rand_r (&seed) % FEW);
        int kind = rand_r (&seed) % 10;
        json_t *op;
        if (kind < 7) {
            op = s_op (op_id, kind < 4 ? "watchlist.add" : "watchlist.remove", t, title);
            //  Most devices name what they have seen; some name nothing
            //  (an add) or leave it to the server (a remove without tags).
            if (rand_r (&seed) % 4) {
                const char *tags [SYNC_TAGS_MAX];
                size_t n = sync_state_tags (devices [d].state, title, tags);
                json_t *list = json_array ();
                for (size_t k = 0; k < n; k++)
                    json_array_append_new (list, json_string (tags [k]));
                json_object_set_new (op, "tags", list);
            }
        }
        else {
            op = s_op (op_id, "progress.set", t, title);
            json_object_set_new (op, "position_s", json_real (rand_r (&seed) % 5000));
        }
        s_deliver (&devices [d], op);
        json_array_append_new (sent, op);
    }
    //  Delivery to the server: shuffled, a tenth twice.
    size_t n = json_array_size (sent), total;
    const json_t **order = s_delivery (sent, &seed, &total);
    replica_t server = { sync_state_new (), json_object () };
    json_t *log = json_array ();
    for (size_t i = 0; i < total; i++) {
        json_t *logged = s_serve (&server, order [i]);
        if (logged)
            json_array_append_new (log, logged);
        for (int k = 0; k < FEW; k++)
            assert_true (s_live (server.state, s_title (k)) <= 1);
    }
    assert_int_equal (json_array_size (log), n);
    char *expected = s_settled (server.state);
    //  Every device's replica replays the server's log in its own order.
    for (int d = 0; d < DEVICES; d++) {
        size_t count;
        const json_t **replay = s_delivery (log, &seed, &count);
        replica_t replica = { sync_state_new (), json_object () };
        for (size_t i = 0; i < count; i++)
            s_deliver (&replica, replay [i]);
        char *text = s_settled (replica.state);
        assert_string_equal (text, expected);
        free (text);
        free (replay);
        json_decref (replica.state);
        json_decref (replica.seen);
        json_decref (devices [d].state);
        json_decref (devices [d].seen);
    }
    //  The run listed and unlisted titles alike.
    json_t *view = sync_state_view (server.state);
    assert_int_equal (json_array_size (json_object_get (view, "progress")), FEW);
    json_decref (view);
    free (expected);
    free (order);
    json_decref (server.state);
    json_decref (server.seen);
    json_decref (log);
    json_decref (sent);
}

static void
test_trim_keeps_the_newest_progress_and_tombstones (void **state)
{
    (void) state;
    json_t *s = sync_state_new ();
    for (int i = 0; i < 5; i++) {
        char op_id [16];
        snprintf (op_id, sizeof op_id, "p%d", i);
        json_t *op = s_op (op_id, "progress.set", (hlc_t) { 100 + i, 0, 1 }, s_title (i));
        json_object_set_new (op, "position_s", json_real (i));
        s_apply (s, op);
        json_decref (op);
    }
    //  Removes of adds that never come: one tombstone each.
    for (int i = 0; i < 5; i++) {
        char op_id [16], tag [16];
        snprintf (op_id, sizeof op_id, "r%d", i);
        snprintf (tag, sizeof tag, "never-%d", i);
        json_t *op = s_op (op_id, "watchlist.remove", (hlc_t) { 200 + i, 0, 1 }, s_title (9));
        json_object_set_new (op, "tags", json_pack ("[s]", tag));
        s_apply (s, op);
        json_decref (op);
    }
    assert_int_equal (sync_state_titles (s), 0);
    sync_state_trim (s, 3, 2);
    json_t *progress = json_object_get (s, "progress");
    assert_int_equal (json_object_size (progress), 3);
    assert_null (json_object_get (progress, s_title (0)));
    assert_non_null (json_object_get (progress, s_title (4)));
    json_t *dead = json_object_get (json_object_get (json_object_get (s, "watchlist"), s_title (9)), "dead");
    assert_int_equal (json_object_size (dead), 2);
    assert_non_null (json_object_get (dead, "never-4"));
    assert_non_null (json_object_get (dead, "never-3"));
    json_decref (s);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_concurrent_add_and_remove_leave_the_title_listed),
        cmocka_unit_test (test_the_later_progress_wins_even_when_it_arrives_first),
        cmocka_unit_test (test_bad_ops_are_refused_with_the_field_named),
        cmocka_unit_test (test_ten_devices_converge_whatever_the_delivery_order),
        cmocka_unit_test (test_watchlist_repeated_put_keeps_one_live_tag),
        cmocka_unit_test (test_watchlist_added_and_removed_ten_thousand_times_stays_small),
        cmocka_unit_test (test_watchlist_ops_from_ten_devices_keep_one_live_tag_and_converge),
        cmocka_unit_test (test_trim_keeps_the_newest_progress_and_tombstones),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
