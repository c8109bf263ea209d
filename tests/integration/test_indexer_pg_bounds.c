/*  indexer.apply over a real broker, indexer and PostgreSQL while another
    session holds a lock on content: the batch is answered
    SERVICE_UNAVAILABLE with retry_after (lock_timeout, a database failure,
    not the record's fault), its job is not failed and stays claimed, and
    the same apply succeeds once the lock is gone. A batch the server
    aborts as one side of a deadlock is applied again by the indexer itself
    and succeeds in the same call.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_pg.h"
#include "mg_test.h"

#define CALL_TTL_MS  8000       //  far above the lock bound under test
#define ENTITY       "00000000-0000-4000-8000-000000000701"

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    PGconn *pg;
    pid_t broker;
    pid_t indexer;
    mg_client_t *client;
} fixture_t;

//  A scratch database, broker and indexer; lock_timeout_ms the indexer's
//  lock bound, or 0 for its own.
static int
s_setup (void **state, int lock_timeout_ms)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    char err [256];
    f->admin = mg_test_scratch_db ("mg_indexer_pg_bounds", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    mg_test_env_init (&f->env, f->url);
    if (lock_timeout_ms) {
        char bound [64];
        snprintf (bound, sizeof bound, "MG_PG_LOCK_TIMEOUT_MS=%d", lock_timeout_ms);
        mg_test_env_add (&f->env, bound);
    }
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    f->client = mg_client_new (f->env.endpoint);
    if (!f->client || mg_test_wait_service (f->env.endpoint, "indexer", 20000))
        return -1;
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    return f->pg ? 0 : -1;
}

//  Lock waits bounded at 300 ms.
static int
setup (void **state)
{
    return s_setup (state, 300);
}

//  The indexer's own lock bound (5 s), longer than the server's 1 s
//  deadlock_timeout: a deadlock is found before either side gives up.
static int
setup_own_bounds (void **state)
{
    return s_setup (state, 0);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    if (f->indexer > 0)
        mg_test_stop (f->indexer, SIGTERM);
    if (f->broker > 0)
        mg_test_stop (f->broker, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  State of job id.
static char *
s_job_state (fixture_t *f, uint64_t id)
{
    char text [24];
    snprintf (text, sizeof text, "%llu", (unsigned long long) id);
    const char *params [1] = { text };
    PGresult *res = PQexecParams (f->pg, "SELECT state FROM ingest_jobs WHERE id = $1::bigint",
                                  1, NULL, params, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    char *state = strdup (PQgetvalue (res, 0, 0));
    PQclear (res);
    return state;
}

static void
test_a_locked_catalog_is_503_and_fails_no_job (void **state)
{
    fixture_t *f = *state;
    //  One record queued and claimed, as the resolver would.
    mg_raw_record_t record = { .source = "tmdb", .source_id = "701", .title = "Locked Out",
                               .year = 2001, .has_year = true };
    mg_enqueue_request_t enqueue = { .records = &record, .records_count = 1 };
    mg_enqueue_reply_t queued;
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "indexer.enqueue", &mg_enqueue_request_desc, &enqueue,
                                      &mg_enqueue_reply_desc, &queued, CALL_TTL_MS, &err), 0);
    mg_msg_clear (&mg_enqueue_reply_desc, &queued);
    mg_claim_request_t claim = { .worker = "test", .max = 1, .has_max = true };
    mg_claim_reply_t claimed;
    assert_int_equal (mg_client_call (f->client, "indexer.claim", &mg_claim_request_desc, &claim,
                                      &mg_claim_reply_desc, &claimed, CALL_TTL_MS, &err), 0);
    assert_int_equal (claimed.jobs_count, 1);
    uint64_t job = claimed.jobs [0].id;
    mg_msg_clear (&mg_claim_reply_desc, &claimed);

    char reason [256];
    PGconn *locker = mg_pg_connect (f->url, reason, sizeof reason);
    assert_non_null (locker);
    PGresult *res = PQexec (locker, "BEGIN; LOCK TABLE content IN ACCESS EXCLUSIVE MODE");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);

    mg_apply_item_t item = { .job = job, .has_job = true, .entity = ENTITY,
                             .new_entity = true, .has_new_entity = true, .record = &record };
    mg_apply_request_t apply = { .items = &item, .items_count = 1 };
    mg_apply_reply_t applied;
    int64_t started = mg_test_now_ms ();
    assert_int_equal (mg_client_call (f->client, "indexer.apply", &mg_apply_request_desc, &apply,
                                      &mg_apply_reply_desc, &applied, CALL_TTL_MS, &err), -1);
    assert_string_equal (err.code, "SERVICE_UNAVAILABLE");
    assert_true (err.has_retry_after && err.retry_after >= 1);
    assert_true (mg_test_now_ms () - started < CALL_TTL_MS);
    mg_msg_clear (&mg_error_desc, &err);
    //  The record did nothing wrong: its job is still claimed, not failed.
    char *job_state = s_job_state (f, job);
    assert_string_equal (job_state, "running");
    free (job_state);

    res = PQexec (locker, "ROLLBACK");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    PQfinish (locker);
    assert_int_equal (mg_client_call (f->client, "indexer.apply", &mg_apply_request_desc, &apply,
                                      &mg_apply_reply_desc, &applied, CALL_TTL_MS, &err), 0);
    assert_int_equal (applied.created, 1);
    assert_int_equal (applied.failed, 0);
    mg_msg_clear (&mg_apply_reply_desc, &applied);
    job_state = s_job_state (f, job);
    assert_string_equal (job_state, "done");
    free (job_state);
}

//  Run sql on conn, expecting status.
static void
s_exec (PGconn *conn, const char *sql, ExecStatusType status)
{
    PGresult *res = PQexec (conn, sql);
    if (PQresultStatus (res) != status)
        fail_msg ("%s: %s", sql, PQerrorMessage (conn));
    PQclear (res);
}

//  Lock waits of the scratch database's sessions.
static long
s_lock_waits (fixture_t *f)
{
    PGresult *res = PQexec (f->pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database () "
                                   "AND wait_event_type = 'Lock'");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long waits = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    return waits;
}

//  Wait (bounded) until count sessions wait for a lock; the count seen.
static long
s_await_lock_waits (fixture_t *f, long count)
{
    int64_t until = mg_test_now_ms () + CALL_TTL_MS;
    long waits = s_lock_waits (f);
    while (waits < count && mg_test_now_ms () < until) {
        zclock_sleep (20);
        waits = s_lock_waits (f);
    }
    return waits;
}

//  An indexer.apply made on a thread of its own.
typedef struct {
    const char *endpoint;
    mg_apply_request_t *request;
    mg_apply_reply_t reply;
    mg_error_t err;
    int rc;
} s_apply_call_t;

static void *
s_apply_run (void *arg)
{
    s_apply_call_t *call = arg;
    mg_client_t *client = mg_client_new (call->endpoint);
    call->rc = client ? mg_client_call (client, "indexer.apply", &mg_apply_request_desc, call->request,
                                        &mg_apply_reply_desc, &call->reply, CALL_TTL_MS * 2, &call->err) : -1;
    mg_client_destroy (&client);
    return NULL;
}

//  Wait for the apply on thread to end; it must succeed with no item
//  failed. Returns the entities it created.
static uint64_t
s_join_apply (pthread_t thread, s_apply_call_t *call)
{
    assert_int_equal (pthread_join (thread, NULL), 0);
    if (call->rc)
        fail_msg ("apply failed: %s %s", call->err.code, call->err.message);
    assert_int_equal (call->reply.failed, 0);
    uint64_t created = call->reply.created;
    mg_msg_clear (&mg_apply_reply_desc, &call->reply);
    return created;
}

//  Apply record alone as a new entity; it must succeed.
static void
s_apply_new (fixture_t *f, const char *entity, mg_raw_record_t *record)
{
    mg_error_t err = { 0 };
    mg_apply_item_t item = { .entity = (char *) entity, .new_entity = true, .has_new_entity = true,
                             .record = record };
    mg_apply_request_t apply = { .items = &item, .items_count = 1 };
    mg_apply_reply_t applied;
    if (mg_client_call (f->client, "indexer.apply", &mg_apply_request_desc, &apply,
                        &mg_apply_reply_desc, &applied, CALL_TTL_MS, &err))
        fail_msg ("apply failed: %s %s", err.code, err.message);
    assert_int_equal (applied.failed, 0);
    mg_msg_clear (&mg_apply_reply_desc, &applied);
}

//  A second session on the scratch database.
static PGconn *
s_other_session (fixture_t *f)
{
    char reason [256];
    PGconn *other = mg_pg_connect (f->url, reason, sizeof reason);
    if (!other)
        fail_msg ("cannot connect: %s", reason);
    return other;
}

//  A record of one film whose cast is the given people (tmdb ids and
//  profile images); strings are the caller's.
static void
s_film (mg_raw_record_t *record, mg_raw_credit_t *cast, size_t count, const char *id, const char *title)
{
    *record = (mg_raw_record_t) { .source = "tmdb", .source_id = (char *) id, .title = (char *) title,
                                  .year = 2002, .has_year = true, .cast = cast, .cast_count = count };
}

//  Two transactions that wait on each other through people rows (as two
//  batches applied side by side can): the server aborts the indexer's
//  (40P01), and the indexer applies the batch again instead of answering
//  503 and leaving its jobs for a claim after the resolver's lease.
static void
test_a_batch_aborted_by_a_deadlock_is_applied_again (void **state)
{
    fixture_t *f = *state;
    //  Person 9001 is known (a first film, applied alone).
    mg_raw_credit_t known = { .name = "Kay Known", .person_id = 9001, .has_person_id = true,
                              .profile_path = "/a.jpg" };
    mg_raw_record_t first;
    s_film (&first, &known, 1, "711", "Known Before");
    s_apply_new (f, "00000000-0000-4000-8000-000000000711", &first);

    //  Another session holds 9001's row. The next batch adds person 9000
    //  (first: people are inserted in id order) and gives 9001 a new
    //  profile image, so it waits on that row while holding its new 9000.
    PGconn *other = s_other_session (f);
    //  The indexer's side waits first and so finds the deadlock first;
    //  this keeps the other session from doing it instead.
    s_exec (other, "SET deadlock_timeout = '30s'", PGRES_COMMAND_OK);
    s_exec (other, "BEGIN", PGRES_COMMAND_OK);
    s_exec (other, "UPDATE people SET updated_at = now () WHERE tmdb_id = 9001", PGRES_COMMAND_OK);
    mg_raw_credit_t cast [2] = {
        { .name = "Kay Known", .person_id = 9001, .has_person_id = true, .profile_path = "/b.jpg" },
        { .name = "Nu Person", .person_id = 9000, .has_person_id = true }
    };
    mg_raw_record_t second;
    s_film (&second, cast, 2, "712", "Known Again");
    mg_apply_item_t next = { .entity = "00000000-0000-4000-8000-000000000712", .new_entity = true,
                             .has_new_entity = true, .record = &second };
    mg_apply_request_t batch = { .items = &next, .items_count = 1 };
    s_apply_call_t call = { .endpoint = f->env.endpoint, .request = &batch };
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_apply_run, &call), 0);
    //  Until the indexer's transaction waits for 9001's row (the only
    //  lock wait there can be).
    assert_int_equal (s_await_lock_waits (f, 1), 1);
    //  Closing the cycle: this insert waits for the indexer's new 9000 row.
    s_exec (other, "INSERT INTO people (tmdb_id, name) VALUES (9000, 'Other') ON CONFLICT DO NOTHING",
            PGRES_COMMAND_OK);
    s_exec (other, "ROLLBACK", PGRES_COMMAND_OK);
    PQfinish (other);
    assert_int_equal (s_join_apply (thread, &call), 1);
    //  The batch's rows, once each.
    PGresult *res = PQexec (f->pg, "SELECT (SELECT count(*) FROM credits), "
                                   "(SELECT name FROM people WHERE tmdb_id = 9000), "
                                   "(SELECT profile_path FROM people WHERE tmdb_id = 9001), "
                                   "(SELECT count(*) FROM content)");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "3");
    assert_string_equal (PQgetvalue (res, 0, 1), "Nu Person");
    assert_string_equal (PQgetvalue (res, 0, 2), "/b.jpg");
    assert_string_equal (PQgetvalue (res, 0, 3), "2");
    PQclear (res);
}

//  An offer of a record (strings are the caller's).
static mg_raw_availability_t
s_offer (const char *platform)
{
    return (mg_raw_availability_t) { .platform = (char *) platform, .region = "US", .type = "subscription",
                                     .quality = "hd" };
}

//  Two sources of one stored title in two batches applied side by side:
//  the title's canonical row and offers come from both, whichever commits
//  last (neither overwrites the title with a merge that lacks the other's
//  record). Another session holds the title's row meanwhile, so both
//  batches are under way at once.
static void
test_two_batches_changing_one_title_both_count (void **state)
{
    fixture_t *f = *state;
    const char *entity = "00000000-0000-4000-8000-000000000721";
    mg_raw_record_t base = { .source = "tmdb", .source_id = "721", .title = "Two Sources",
                             .year = 2003, .has_year = true };
    s_apply_new (f, entity, &base);

    PGconn *other = s_other_session (f);
    s_exec (other, "BEGIN", PGRES_COMMAND_OK);
    s_exec (other, "SELECT id FROM content FOR NO KEY UPDATE", PGRES_TUPLES_OK);
    mg_raw_availability_t offers [2] = { s_offer ("netflix"), s_offer ("hulu") };
    const char *sources [2] = { "streaming_availability", "watchmode" };
    mg_raw_record_t records [2];
    mg_apply_item_t items [2];
    mg_apply_request_t batches [2];
    s_apply_call_t calls [2];
    pthread_t threads [2];
    for (int b = 0; b < 2; b++) {
        records [b] = (mg_raw_record_t) { .source = (char *) sources [b], .source_id = "721", .title = "Two Sources",
                                          .year = 2003, .has_year = true, .availability = &offers [b],
                                          .availability_count = 1 };
        items [b] = (mg_apply_item_t) { .entity = (char *) entity, .tier = 2, .has_tier = true,
                                        .confidence = 0.99, .has_confidence = true, .record = &records [b] };
        batches [b] = (mg_apply_request_t) { .items = &items [b], .items_count = 1 };
        calls [b] = (s_apply_call_t) { .endpoint = f->env.endpoint, .request = &batches [b] };
        assert_int_equal (pthread_create (&threads [b], NULL, s_apply_run, &calls [b]), 0);
    }
    //  Both batches wait on the title's row before going on.
    assert_int_equal (s_await_lock_waits (f, 2), 2);
    s_exec (other, "COMMIT", PGRES_COMMAND_OK);
    PQfinish (other);
    for (int b = 0; b < 2; b++)
        assert_int_equal (s_join_apply (threads [b], &calls [b]), 0);
    PGresult *res = PQexec (f->pg, "SELECT string_agg (platform || ':' || source, ',' ORDER BY platform) FROM availability");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "hulu:watchmode,netflix:streaming_availability");
    PQclear (res);
    //  The canonical title's list of titles is the union of all three.
    res = PQexec (f->pg, "SELECT (SELECT count(*) FROM content_sources), "
                         "(SELECT string_agg (source, ',' ORDER BY source) FROM content_titles)");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "3");
    assert_string_equal (PQgetvalue (res, 0, 1), "streaming_availability,tmdb,watchmode");
    PQclear (res);
}

//  A batch whose credits name a known person while another transaction's
//  credits of that person, which moved their department, are not
//  committed yet: the person is known for the department of most of all
//  their credits once both are in (the batch's people insert waits for the
//  other writer, then counts), not for the count the batch could see
//  without the other's.
static void
test_a_department_counts_credits_committed_meanwhile (void **state)
{
    fixture_t *f = *state;
    //  9100 directs one film.
    mg_raw_credit_t director = { .name = "Dee Rector", .person_id = 9100, .has_person_id = true,
                                 .job = "Director", .department = "Directing" };
    mg_raw_record_t first = { .source = "tmdb", .source_id = "731", .title = "Directed Once",
                              .year = 2004, .has_year = true, .crew = &director, .crew_count = 1 };
    s_apply_new (f, "00000000-0000-4000-8000-000000000731", &first);
    //  Another writer of credits adds four writing credits, not committed yet.
    PGconn *other = s_other_session (f);
    s_exec (other, "BEGIN", PGRES_COMMAND_OK);
    s_exec (other, "INSERT INTO credits (content_id, role, ord, person_name, person_tmdb_id, job, department) "
                   "SELECT '00000000-0000-4000-8000-000000000731', 'crew', n, 'Dee Rector', 9100, 'Writer', 'Writing' "
                   "FROM generate_series (1, 4) n", PGRES_COMMAND_OK);
    //  The batch: 9100 acts in three films.
    mg_raw_credit_t cast [3];
    mg_raw_record_t records [3];
    mg_apply_item_t items [3];
    const char *ids [3] = { "732", "733", "734" };
    const char *entities [3] = { "00000000-0000-4000-8000-000000000732", "00000000-0000-4000-8000-000000000733",
                                 "00000000-0000-4000-8000-000000000734" };
    const char *titles [3] = { "Acted One", "Acted Two", "Acted Three" };
    for (int i = 0; i < 3; i++) {
        cast [i] = (mg_raw_credit_t) { .name = "Dee Rector", .person_id = 9100, .has_person_id = true };
        s_film (&records [i], &cast [i], 1, ids [i], titles [i]);
        items [i] = (mg_apply_item_t) { .entity = (char *) entities [i], .new_entity = true,
                                        .has_new_entity = true, .record = &records [i] };
    }
    mg_apply_request_t batch = { .items = items, .items_count = 3 };
    s_apply_call_t call = { .endpoint = f->env.endpoint, .request = &batch };
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_apply_run, &call), 0);
    assert_int_equal (s_await_lock_waits (f, 1), 1);
    s_exec (other, "COMMIT", PGRES_COMMAND_OK);
    PQfinish (other);
    assert_int_equal (s_join_apply (thread, &call), 3);
    //  Writing 4, Acting 3, Directing 1.
    PGresult *res = PQexec (f->pg, "SELECT known_for_department FROM people WHERE tmdb_id = 9100");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    assert_string_equal (PQgetvalue (res, 0, 0), "Writing");
    PQclear (res);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_a_locked_catalog_is_503_and_fails_no_job, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_batch_aborted_by_a_deadlock_is_applied_again, setup_own_bounds, teardown),
        cmocka_unit_test_setup_teardown (test_two_batches_changing_one_title_both_count, setup_own_bounds, teardown),
        cmocka_unit_test_setup_teardown (test_a_department_counts_credits_committed_meanwhile, setup_own_bounds, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
