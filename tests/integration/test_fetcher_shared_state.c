/*  The fetcher's shared state against a real Redis and PostgreSQL: quotas
    taken by two processes add up exactly, a key pool rotates on
    exhaustion, the breaker opens / half-opens / closes as documented, a
    lease has one holder, the response cache ages and revalidates, and dead
    letters are recorded and replayed once.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fetcher.h"
#include "mg_pg.h"
#include "mg_test.h"

#define REDIS_TIMEOUT_MS 2000
#define WORKERS          2          //  processes sharing one quota

static char s_provider [64];        //  a provider name of this run's own

static const char *
s_redis_url (void)
{
    const char *url = getenv ("MG_REDIS_URL");
    return url ? url : "redis://127.0.0.1:6379";
}

//  A provider name unique to this process and tag.
static const char *
s_name (const char *tag)
{
    snprintf (s_provider, sizeof s_provider, "test%d%s", (int) getpid (), tag);
    return s_provider;
}

static void
test_two_processes_share_a_daily_quota_exactly (void **state)
{
    (void) state;
    quota_spec_t spec = { .provider = s_name ("wm"), .daily_units = 1000, .keys = 1 };
    int pipes [WORKERS][2];
    pid_t pids [WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        assert_int_equal (pipe (pipes [w]), 0);
        pids [w] = fork ();
        assert_true (pids [w] >= 0);
        if (pids [w] == 0) {
            mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
            long granted = 0;
            char why [FETCHER_WHY_LEN];
            for (;;) {
                quota_grant_t grant;
                if (quota_take (redis, &spec, 1, &grant, why, sizeof why) || !grant.granted)
                    break;
                granted++;
            }
            mg_redis_destroy (&redis);
            if (write (pipes [w][1], &granted, sizeof granted) != sizeof granted)
                _exit (1);
            _exit (0);
        }
        close (pipes [w][1]);
    }
    long total = 0;
    for (int w = 0; w < WORKERS; w++) {
        long granted = 0;
        assert_int_equal (read (pipes [w][0], &granted, sizeof granted), sizeof granted);
        close (pipes [w][0]);
        int status;
        assert_int_equal (waitpid (pids [w], &status, 0), pids [w]);
        total += granted;
    }
    assert_int_equal (total, 1000);
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    assert_int_equal (quota_used_today (redis, &spec, 0), 1000);
    mg_redis_destroy (&redis);
}

static void
test_rate_window_refuses_with_the_wait_to_its_end (void **state)
{
    (void) state;
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    //  A window far longer than the test: the 6th call is refused.
    quota_spec_t spec = { .provider = s_name ("sa"), .rate_limit = 5, .rate_window_ms = 3600000,
                          .keys = 1 };
    char why [FETCHER_WHY_LEN];
    quota_grant_t grant;
    int granted = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal (quota_take (redis, &spec, 1, &grant, why, sizeof why), 0);
        granted += grant.granted;
    }
    assert_int_equal (granted, 5);
    assert_false (grant.exhausted);
    assert_true (grant.wait_ms > 0 && grant.wait_ms <= 3600000);
    mg_redis_destroy (&redis);
}

static void
test_key_pool_rotates_when_a_key_is_spent_or_refused (void **state)
{
    (void) state;
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    //  YouTube-like: 1,000 units per key, a search costs 100.
    quota_spec_t spec = { .provider = s_name ("yt"), .daily_units = 1000, .keys = 3 };
    char why [FETCHER_WHY_LEN];
    quota_grant_t grant;
    for (int i = 0; i < 10; i++) {
        assert_int_equal (quota_take (redis, &spec, 100, &grant, why, sizeof why), 0);
        assert_true (grant.granted);
        assert_int_equal (grant.key_index, 0);
    }
    assert_int_equal (quota_take (redis, &spec, 100, &grant, why, sizeof why), 0);
    assert_true (grant.granted);
    assert_int_equal (grant.key_index, 1);
    assert_int_equal (grant.units_left, 900);
    //  The provider says key 1 is spent (403 quotaExceeded): everyone moves on.
    assert_int_equal (quota_exhaust (redis, &spec, 1, why, sizeof why), 0);
    assert_int_equal (quota_take (redis, &spec, 1, &grant, why, sizeof why), 0);
    assert_true (grant.granted);
    assert_int_equal (grant.key_index, 2);
    assert_int_equal (quota_used_today (redis, &spec, 1), 1000);
    //  Spend key 2, then nothing is left today.
    for (int i = 0; i < 9; i++) {
        assert_int_equal (quota_take (redis, &spec, 100, &grant, why, sizeof why), 0);
        assert_true (grant.granted);
    }
    assert_int_equal (quota_take (redis, &spec, 100, &grant, why, sizeof why), 0);
    assert_false (grant.granted);
    assert_true (grant.exhausted);
    assert_true (grant.wait_ms > 0);
    //  A cheaper call still fits in key 2's last 99 units.
    assert_int_equal (quota_take (redis, &spec, 1, &grant, why, sizeof why), 0);
    assert_true (grant.granted);
    assert_int_equal (grant.key_index, 2);
    mg_redis_destroy (&redis);
}

static void
test_breaker_opens_on_half_failures_probes_once_and_closes_or_reopens (void **state)
{
    (void) state;
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    breaker_spec_t spec = { .provider = s_name ("br"), .window_ms = 60000, .min_requests = 20,
                            .failure_pct = 50, .probe_after_ms = 1500 };
    char why [FETCHER_WHY_LEN];
    breaker_state_t st;
    bool allowed;
    //  19 outcomes, all failures: too few to judge.
    for (int i = 0; i < 19; i++) {
        assert_int_equal (breaker_record (redis, &spec, false, &st, why, sizeof why), 0);
        assert_int_equal (st, BREAKER_CLOSED);
    }
    assert_int_equal (breaker_record (redis, &spec, false, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_OPEN);
    assert_int_equal (breaker_allow (redis, &spec, &allowed, &st, why, sizeof why), 0);
    assert_false (allowed);
    assert_int_equal (st, BREAKER_OPEN);
    //  After the probe delay exactly one caller is let through.
    int64_t start = mg_test_now_ms ();
    do {
        assert_int_equal (breaker_allow (redis, &spec, &allowed, &st, why, sizeof why), 0);
        if (!allowed)
            usleep (20 * 1000);
    } while (!allowed && mg_test_now_ms () - start < 5000);
    assert_true (allowed);
    assert_int_equal (st, BREAKER_HALF_OPEN);
    assert_int_equal (breaker_allow (redis, &spec, &allowed, &st, why, sizeof why), 0);
    assert_false (allowed);
    //  The probe fails: open again.
    assert_int_equal (breaker_record (redis, &spec, false, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_OPEN);
    start = mg_test_now_ms ();
    do {
        assert_int_equal (breaker_allow (redis, &spec, &allowed, &st, why, sizeof why), 0);
        if (!allowed)
            usleep (20 * 1000);
    } while (!allowed && mg_test_now_ms () - start < 5000);
    assert_true (allowed);
    //  The probe succeeds: closed, with fresh counts.
    assert_int_equal (breaker_record (redis, &spec, true, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_CLOSED);
    assert_int_equal (breaker_state (redis, &spec, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_CLOSED);
    mg_redis_destroy (&redis);
}

static void
test_breaker_stays_closed_below_half_failures (void **state)
{
    (void) state;
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    breaker_spec_t spec = { .provider = s_name ("bc"), .window_ms = 60000, .min_requests = 20,
                            .failure_pct = 50, .probe_after_ms = 1500 };
    char why [FETCHER_WHY_LEN];
    breaker_state_t st;
    //  9 failures in 20 (45 %): closed; the 21st, a failure, makes 10 in 21: closed.
    for (int i = 0; i < 20; i++)
        assert_int_equal (breaker_record (redis, &spec, i >= 9, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_CLOSED);
    assert_int_equal (breaker_record (redis, &spec, false, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_CLOSED);
    //  11 in 22 is 50 %: open.
    assert_int_equal (breaker_record (redis, &spec, false, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_OPEN);
    assert_string_equal (breaker_state_name (st), "open");
    mg_redis_destroy (&redis);
}

static void
test_batched_successes_count_toward_the_failure_share (void **state)
{
    (void) state;
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    breaker_spec_t spec = { .provider = s_name ("bm"), .window_ms = 60000, .min_requests = 20,
                            .failure_pct = 50, .probe_after_ms = 1500 };
    char why [FETCHER_WHY_LEN];
    breaker_state_t st;
    //  30 successes in one call: it takes 30 failures to reach half.
    assert_int_equal (breaker_record_many (redis, &spec, 30, 0, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_CLOSED);
    for (int i = 0; i < 29; i++) {
        assert_int_equal (breaker_record_many (redis, &spec, 0, 1, &st, why, sizeof why), 0);
        assert_int_equal (st, BREAKER_CLOSED);
    }
    assert_int_equal (breaker_record_many (redis, &spec, 0, 1, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_OPEN);
    //  Outcomes arriving while open change nothing.
    assert_int_equal (breaker_record_many (redis, &spec, 5, 0, &st, why, sizeof why), 0);
    assert_int_equal (st, BREAKER_OPEN);
    mg_redis_destroy (&redis);
}

static void
test_a_lease_has_one_holder_until_released_or_expired (void **state)
{
    (void) state;
    mg_redis_t *a = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    mg_redis_t *b = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    char why [FETCHER_WHY_LEN];
    bool taken;
    const char *name = s_name ("lease");
    assert_int_equal (lease_take (a, name, "A", 60000, &taken, why, sizeof why), 0);
    assert_true (taken);
    assert_int_equal (lease_take (b, name, "B", 60000, &taken, why, sizeof why), 0);
    assert_false (taken);
    //  B cannot release A's lease.
    assert_int_equal (lease_release (b, name, "B", why, sizeof why), 0);
    assert_int_equal (lease_take (b, name, "B", 60000, &taken, why, sizeof why), 0);
    assert_false (taken);
    assert_int_equal (lease_release (a, name, "A", why, sizeof why), 0);
    assert_int_equal (lease_take (b, name, "B", 200, &taken, why, sizeof why), 0);
    assert_true (taken);
    //  B dies holding it: it expires.
    int64_t start = mg_test_now_ms ();
    do {
        usleep (50 * 1000);
        assert_int_equal (lease_take (a, name, "A", 60000, &taken, why, sizeof why), 0);
    } while (!taken && mg_test_now_ms () - start < 5000);
    assert_true (taken);
    assert_true (schedule_due (0, 1000, 5));
    assert_false (schedule_due (5000, 1000, 5500));
    assert_true (schedule_due (5000, 1000, 6000));
    mg_redis_destroy (&a);
    mg_redis_destroy (&b);
}

static void
test_cache_entries_age_and_revalidate (void **state)
{
    (void) state;
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    char key [128], why [FETCHER_WHY_LEN];
    char url [128];
    snprintf (url, sizeof url, "http://h/sa/shows/tt%d?country=us", (int) getpid ());
    assert_int_equal (cache_key ("sa", url, key, sizeof key), 0);
    cache_entry_t entry;
    assert_int_equal (cache_get (redis, key, 1000, &entry, why, sizeof why), 0);
    assert_null (entry.body);
    static const char body [] = "{\"streamingOptions\":{}}";
    assert_int_equal (cache_put (redis, key, body, sizeof body - 1, "\"v1\"", why, sizeof why), 0);
    assert_int_equal (cache_get (redis, key, 60000, &entry, why, sizeof why), 0);
    assert_non_null (entry.body);
    assert_string_equal (entry.body, body);
    assert_string_equal (entry.etag, "\"v1\"");
    assert_true (entry.fresh);
    cache_entry_clear (&entry);
    //  With a TTL shorter than its age it is stale but still there.
    usleep (30 * 1000);
    assert_int_equal (cache_get (redis, key, 10, &entry, why, sizeof why), 0);
    assert_non_null (entry.body);
    assert_false (entry.fresh);
    assert_true (entry.age_ms >= 10);
    cache_entry_clear (&entry);
    //  A 304 makes it fresh again.
    assert_int_equal (cache_touch (redis, key, why, sizeof why), 0);
    assert_int_equal (cache_get (redis, key, 10, &entry, why, sizeof why), 0);
    assert_true (entry.fresh);
    cache_entry_clear (&entry);
    char other [128];
    assert_int_equal (cache_key ("sa", "http://h/none", other, sizeof other), 0);
    assert_int_equal (cache_touch (redis, other, why, sizeof why), -1);
    mg_redis_destroy (&redis);
}

//  Pipelined look-ups and writes give what one-by-one calls give, a miss
//  among hits included, and survive Redis forgetting the scripts.
static void
test_cache_look_ups_and_writes_in_one_round_trip (void **state)
{
    (void) state;
    mg_redis_t *redis = mg_redis_new (s_redis_url (), REDIS_TIMEOUT_MS, 0);
    enum { N = 5 };
    char keys [N][128], url [128], why [FETCHER_WHY_LEN], bodies [N][64];
    const char *key_p [N], *body_p [N], *etag_p [N];
    size_t lens [N];
    int64_t ttl [N];
    for (int i = 0; i < N; i++) {
        snprintf (url, sizeof url, "http://h/tmdb/3/movie/%d?pid=%d", i, (int) getpid ());
        assert_int_equal (cache_key ("tmdb", url, keys [i], sizeof keys [i]), 0);
        snprintf (bodies [i], sizeof bodies [i], "{\"id\":%d}", i);
        key_p [i] = keys [i];
        body_p [i] = bodies [i];
        lens [i] = strlen (bodies [i]);
        etag_p [i] = i % 2 ? "\"odd\"" : NULL;
        ttl [i] = 60000;
    }
    //  Everything but the last stored, in one round trip.
    assert_int_equal (cache_put_many (redis, N - 1, key_p, body_p, lens, etag_p, why, sizeof why), N - 1);
    cache_entry_t entries [N];
    assert_int_equal (cache_get_many (redis, N, key_p, ttl, entries, why, sizeof why), 0);
    for (int i = 0; i < N - 1; i++) {
        assert_non_null (entries [i].body);
        assert_string_equal (entries [i].body, bodies [i]);
        assert_string_equal (entries [i].etag, i % 2 ? "\"odd\"" : "");
        assert_true (entries [i].fresh);
        cache_entry_clear (&entries [i]);
    }
    assert_null (entries [N - 1].body);
    //  Redis forgets its scripts (restart, SCRIPT FLUSH): both load them again.
    const char *flush [] = { "SCRIPT", "FLUSH" };
    redisReply *reply = mg_redis_command (redis, 2, flush, why, sizeof why);
    assert_non_null (reply);
    freeReplyObject (reply);
    assert_int_equal (cache_put_many (redis, N, key_p, body_p, lens, etag_p, why, sizeof why), N);
    reply = mg_redis_command (redis, 2, flush, why, sizeof why);
    assert_non_null (reply);
    freeReplyObject (reply);
    assert_int_equal (cache_get_many (redis, N, key_p, ttl, entries, why, sizeof why), 0);
    for (int i = 0; i < N; i++) {
        assert_non_null (entries [i].body);
        assert_string_equal (entries [i].body, bodies [i]);
        cache_entry_clear (&entries [i]);
    }
    //  Nothing to do is no round trip and no error.
    assert_int_equal (cache_get_many (redis, 0, key_p, ttl, entries, why, sizeof why), 0);
    assert_int_equal (cache_put_many (redis, 0, key_p, body_p, lens, etag_p, why, sizeof why), 0);
    mg_redis_destroy (&redis);
}

static void
test_dead_letters_are_recorded_counted_and_replayed_once (void **state)
{
    (void) state;
    char url [512];
    PGconn *admin = mg_test_scratch_db ("fetcher_dl", url, sizeof url);
    assert_non_null (admin);
    char why [FETCHER_WHY_LEN];
    assert_int_equal (mg_pg_prepare (url), 0);
    PGconn *conn = mg_pg_connect (url, why, sizeof why);
    assert_non_null (conn);
    assert_int_equal (deadletter_count (conn, why, sizeof why), 0);
    int64_t a = deadletter_add (conn, "sa", "availability", "{\"id\":\"tt0133093\",\"country\":\"us\"}",
                                "503 after 4 attempts", 4, why, sizeof why);
    int64_t b = deadletter_add (conn, "tmdb", "title", "{\"tmdb\":603}", "timeout", 4, why, sizeof why);
    assert_true (a > 0 && b > a);
    assert_int_equal (deadletter_add (conn, "tmdb", "title", "{not json", "x", 1, why, sizeof why), -1);
    assert_int_equal (deadletter_count (conn, why, sizeof why), 2);
    deadletter_t *list = NULL;
    int n = deadletter_pending (conn, 10, &list, why, sizeof why);
    assert_int_equal (n, 2);
    assert_int_equal (list [0].id, a);
    assert_string_equal (list [0].provider, "sa");
    assert_string_equal (list [0].reason, "503 after 4 attempts");
    assert_non_null (strstr (list [0].payload, "tt0133093"));
    deadletter_list_free (&list, n);
    assert_null (list);
    assert_int_equal (deadletter_mark_replayed (conn, a, why, sizeof why), 0);
    assert_int_equal (deadletter_mark_replayed (conn, a, why, sizeof why), -1);
    assert_int_equal (deadletter_count (conn, why, sizeof why), 1);
    PQfinish (conn);
    mg_test_drop_db (&admin, url);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_two_processes_share_a_daily_quota_exactly),
        cmocka_unit_test (test_rate_window_refuses_with_the_wait_to_its_end),
        cmocka_unit_test (test_key_pool_rotates_when_a_key_is_spent_or_refused),
        cmocka_unit_test (test_breaker_opens_on_half_failures_probes_once_and_closes_or_reopens),
        cmocka_unit_test (test_breaker_stays_closed_below_half_failures),
        cmocka_unit_test (test_batched_successes_count_toward_the_failure_share),
        cmocka_unit_test (test_a_lease_has_one_holder_until_released_or_expired),
        cmocka_unit_test (test_cache_entries_age_and_revalidate),
        cmocka_unit_test (test_cache_look_ups_and_writes_in_one_round_trip),
        cmocka_unit_test (test_dead_letters_are_recorded_counted_and_replayed_once),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
