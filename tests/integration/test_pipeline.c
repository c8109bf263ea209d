/*  The catalog pipeline over real processes: indexer.enqueue -> resolver
    (normalise, resolve) -> indexer.apply -> PostgreSQL, with change events.
    Each test gets a scratch database of its own.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <czmq.h>

#include "mg_client.h"
#include "mg_pg.h"
#include "mg_test.h"

typedef struct {
    char url [512];
    mg_test_env_t env;
    PGconn *admin;
    PGconn *pg;
    pid_t broker, indexer, resolver;
    mg_client_t *client;
    zsock_t *sub;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    char err [256];
    f->admin = mg_test_scratch_db ("mg_pipeline", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    mg_test_env_init (&f->env, f->url);
    f->broker = mg_test_spawn ("mg-broker", f->env.envp);
    f->indexer = mg_test_spawn ("mg-indexer", f->env.envp);
    f->sub = mg_test_socket (ZMQ_SUB, f->env.events, "content.changed");
    f->client = mg_client_new (f->env.endpoint);
    //  The indexer migrates the database; the resolver then loads from it.
    mg_test_wait_service (f->env.endpoint, "indexer", 15000);
    f->resolver = mg_test_spawn ("mg-resolver", f->env.envp);
    f->pg = mg_pg_connect (f->url, err, sizeof err);
    *state = f;
    return f->pg ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    mg_client_destroy (&f->client);
    zsock_destroy (&f->sub);
    mg_test_stop (f->resolver, SIGTERM);
    mg_test_stop (f->indexer, SIGTERM);
    mg_test_stop (f->broker, SIGTERM);
    PQfinish (f->pg);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

static long
s_scalar (fixture_t *f, const char *sql)
{
    PGresult *res = PQexec (f->pg, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long v = PQntuples (res) ? atol (PQgetvalue (res, 0, 0)) : -1;
    PQclear (res);
    return v;
}

//  A record with the fields the tests use.
static void
s_record (mg_raw_record_t *r, const char *source, const char *source_id, const char *title, int year)
{
    memset (r, 0, sizeof *r);
    r->source = strdup (source);
    r->source_id = strdup (source_id);
    r->title = strdup (title);
    if (year) {
        r->year = (uint64_t) year;
        r->has_year = true;
    }
}

static void
s_strlist (char ***list, size_t *count, const char *const *items)
{
    size_t n = 0;
    while (items [n])
        n++;
    *list = calloc (n, sizeof (char *));
    for (size_t i = 0; i < n; i++)
        (*list) [i] = strdup (items [i]);
    *count = n;
}

//  The six fixture records: every tier, a new entity and a bad one.
static void
s_fixture_batch (mg_enqueue_request_t *req)
{
    req->records = calloc (6, sizeof (mg_raw_record_t));
    req->records_count = 6;
    mg_raw_record_t *matrix = &req->records [0];
    s_record (matrix, "tmdb", "603", "The Matrix", 0);
    matrix->release_date = strdup ("1999-03-30");
    matrix->tmdb = 603;
    matrix->has_tmdb = true;
    matrix->imdb = strdup ("tt0133093");
    matrix->eidr = strdup ("10.5240/7791-8534-2C23-9030-8610-5");
    s_strlist (&matrix->genre_ids, &matrix->genre_ids_count, (const char *[]) { "28", "878", NULL });
    matrix->availability = calloc (2, sizeof (mg_raw_availability_t));
    matrix->availability_count = 2;
    matrix->availability [0] = (mg_raw_availability_t) { .platform = strdup ("Netflix"), .region = strdup ("us"),
        .type = strdup ("flatrate"), .quality = strdup ("4K") };
    matrix->availability [1] = (mg_raw_availability_t) { .platform = strdup ("Apple TV"), .region = strdup ("United Kingdom"),
        .type = strdup ("rental"), .price = 3.49, .has_price = true, .currency = strdup ("gbp") };
    mg_raw_record_t *ml = &req->records [1];
    s_record (ml, "movielens", "2571", "The Matrix", 1999);
    s_strlist (&ml->genres, &ml->genres_count, (const char *[]) { "Action", "Sci-Fi", "Thriller", NULL });
    mg_raw_record_t *reloaded = &req->records [2];
    s_record (reloaded, "tmdb", "604", "The Matrix Reloaded", 2003);
    reloaded->tmdb = 604;
    reloaded->has_tmdb = true;
    mg_raw_record_t *obscure = &req->records [3];
    s_record (obscure, "movielens", "99001", "A Film Nobody Else Lists", 1987);
    mg_raw_record_t *bad = &req->records [4];
    s_record (bad, "tmdb", "605", "Bad Region", 2001);
    bad->availability = calloc (1, sizeof (mg_raw_availability_t));
    bad->availability_count = 1;
    bad->availability [0] = (mg_raw_availability_t) { .platform = strdup ("netflix"), .region = strdup ("Narnia"),
        .type = strdup ("subscription") };
    mg_raw_record_t *eidr = &req->records [5];
    s_record (eidr, "watchmode", "w-1", "Matrix (Watchmode listing)", 0);
    eidr->eidr = strdup ("10.5240/7791-8534-2C23-9030-8610-5");
}

//  Enqueue the batch and wait until no job is queued or running.
static void
s_run_batch (fixture_t *f, mg_enqueue_request_t *req)
{
    mg_enqueue_reply_t reply;
    mg_error_t err = { 0 };
    int rc = mg_client_call (f->client, "indexer.enqueue", &mg_enqueue_request_desc, req,
                             &mg_enqueue_reply_desc, &reply, 5000, &err);
    if (rc)
        fail_msg ("enqueue failed: %s %s", err.code, err.message);
    assert_int_equal (reply.queued, req->records_count);
    int64_t until = mg_test_now_ms () + 20000;
    while (mg_test_now_ms () < until
       &&  s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state IN ('queued', 'running')") > 0)
        zclock_sleep (50);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state IN ('queued', 'running')"), 0);
}

static void
test_records_resolve_into_entities_by_every_tier (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { 0 };
    s_fixture_batch (&req);
    s_run_batch (f, &req);
    //  The Matrix (tmdb + movielens + watchmode), Reloaded, the obscure film.
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), 3);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_sources WHERE content_id = "
                                   "(SELECT content_id FROM external_ids WHERE source = 'tmdb' AND value = '603')"), 3);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM entity_merges WHERE tier = 3 AND source = 'movielens'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM entity_merges WHERE tier = 1 AND source = 'watchmode'"), 1);
    //  TMDB wins the title; the MovieLens id is kept as an external id.
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content WHERE title = 'The Matrix' AND year = 1999"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM external_ids WHERE source = 'movielens' AND value = '2571'"), 1);
    //  Genres from TMDB ids, availability normalised.
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_genres cg JOIN genres g ON g.id = cg.genre_id "
                                   "JOIN external_ids e ON e.content_id = cg.content_id AND e.source = 'tmdb' AND e.value = '603' "
                                   "WHERE g.slug IN ('action', 'science-fiction')"), 2);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM availability WHERE platform = 'netflix' AND region = 'US' "
                                   "AND type = 'subscription' AND quality = 'uhd'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM availability WHERE platform = 'apple-tv' AND region = 'GB' "
                                   "AND type = 'rent' AND currency = 'GBP' AND price = 3.49"), 1);
    //  The bad record failed alone, with its reason.
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'failed' AND last_error LIKE '%region%'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'"), 5);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

static void
test_reimport_of_unchanged_records_writes_nothing_and_announces_nothing (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { 0 };
    s_fixture_batch (&req);
    s_run_batch (f, &req);
    long seq = s_scalar (f, "SELECT sum(last_seq) FROM change_streams");
    long versions = s_scalar (f, "SELECT sum(version) FROM content");
    assert_true (seq >= 3);
    s_run_batch (f, &req);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), 3);
    assert_int_equal (s_scalar (f, "SELECT sum(last_seq) FROM change_streams"), seq);
    assert_int_equal (s_scalar (f, "SELECT sum(version) FROM content"), versions);
    //  A changed record is one update and one event.
    free (req.records [2].title);
    req.records [2].title = strdup ("The Matrix Reloaded (Remastered)");
    mg_enqueue_request_t one = { .records = &req.records [2], .records_count = 1 };
    s_run_batch (f, &one);
    assert_int_equal (s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'content.changed'"),
                      s_scalar (f, "SELECT count(*) FROM change_log WHERE stream = 'content.changed'"));
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content WHERE version = 2"), 1);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

//  The queue stores each record as its msgpack message, with its source
//  and id beside it; a job queued as JSON before the queue stored msgpack
//  (020_ingest_first_import) is still claimed and applied.
static void
test_queued_records_are_msgpack_and_older_json_jobs_still_apply (void **state)
{
    fixture_t *f = *state;
    PGresult *res = PQexec (f->pg, "INSERT INTO ingest_jobs (kind, payload) VALUES ('record', "
                                   "'{\"source\": \"tmdb\", \"source_id\": \"700\", \"title\": \"Queued Before\", "
                                   "\"tmdb\": 700, \"year\": 1970}')");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    mg_enqueue_request_t req = { 0 };
    s_fixture_batch (&req);
    s_run_batch (f, &req);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content WHERE title = 'Queued Before' AND year = 1970"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE payload IS NOT NULL AND state = 'done'"), 1);
    //  The six records: msgpack of raw.record, no JSON, source and id set.
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE record IS NOT NULL AND payload IS NULL "
                                   "AND payload_bytes = octet_length (record) AND source IS NOT NULL"), 6);
    res = PQexecParams (f->pg, "SELECT record FROM ingest_jobs WHERE source = 'tmdb' AND source_id = '603'",
                        0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (res), 1);
    mg_raw_record_t stored;
    char reason [MG_MSG_ERR_LEN];
    int rc = mg_msg_decode (&mg_raw_record_desc, (const uint8_t *) PQgetvalue (res, 0, 0),
                            (size_t) PQgetlength (res, 0, 0), &stored, reason, sizeof reason);
    PQclear (res);
    if (rc)
        fail_msg ("stored record: %s", reason);
    assert_string_equal (stored.title, "The Matrix");
    assert_string_equal (stored.eidr, "10.5240/7791-8534-2C23-9030-8610-5");
    assert_int_equal (stored.availability_count, 2);
    assert_string_equal (stored.availability [1].currency, "gbp");
    mg_msg_clear (&mg_raw_record_desc, &stored);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

//  A credit of the record (strings copied).
static mg_raw_credit_t
s_credit (const char *name, int64_t person, const char *department)
{
    return (mg_raw_credit_t) { .name = strdup (name), .person_id = person, .has_person_id = true,
                               .job = department ? strdup ("Director") : NULL,
                               .department = department ? strdup (department) : NULL };
}

//  A person is known for the department of most of their credits (a cast
//  credit counts as Acting), whether the credits come in the batch that
//  first names them or in later ones.
static void
test_a_person_is_known_for_the_department_of_most_credits (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { 0 };
    req.records = calloc (3, sizeof (mg_raw_record_t));
    req.records_count = 1;
    //  First batch: 801 directs one film and acts in none; 802 acts in it.
    s_record (&req.records [0], "tmdb", "9101", "First Film", 2001);
    req.records [0].crew = calloc (1, sizeof (mg_raw_credit_t));
    req.records [0].crew [0] = s_credit ("Dee Rector", 801, "Directing");
    req.records [0].crew_count = 1;
    req.records [0].cast = calloc (1, sizeof (mg_raw_credit_t));
    req.records [0].cast [0] = s_credit ("Ann Actor", 802, NULL);
    req.records [0].cast_count = 1;
    s_run_batch (f, &req);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 801 AND name = 'Dee Rector' "
                                   "AND known_for_department = 'Directing'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 802 "
                                   "AND known_for_department = 'Acting'"), 1);
    //  Second batch: 801 acts in two films, 803 (new) writes and directs one.
    for (size_t i = 1; i < 3; i++) {
        s_record (&req.records [i], "tmdb", i == 1 ? "9102" : "9103", i == 1 ? "Second Film" : "Third Film", 2002);
        req.records [i].cast = calloc (1, sizeof (mg_raw_credit_t));
        req.records [i].cast [0] = s_credit ("Dee Rector", 801, NULL);
        req.records [i].cast_count = 1;
    }
    req.records [2].crew = calloc (2, sizeof (mg_raw_credit_t));
    req.records [2].crew [0] = s_credit ("Wry Ter", 803, "Writing");
    req.records [2].crew [1] = s_credit ("Wry Ter", 803, "Writing");
    req.records [2].crew_count = 2;
    mg_enqueue_request_t later = { .records = &req.records [1], .records_count = 2 };
    s_run_batch (f, &later);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 801 "
                                   "AND known_for_department = 'Acting'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 803 "
                                   "AND known_for_department = 'Writing'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people"), 3);
    req.records_count = 3;
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

//  count crew credits of person (name) in department dept, appended to
//  r's crew.
static void
s_add_crew (mg_raw_record_t *r, const char *name, int64_t person, const char *dept, size_t count)
{
    r->crew = realloc (r->crew, (r->crew_count + count) * sizeof (mg_raw_credit_t));
    assert_non_null (r->crew);
    for (size_t i = 0; i < count; i++)
        r->crew [r->crew_count++] = s_credit (name, person, dept);
}

//  A changed title's credits are deleted, then copied back: the people of
//  the deleted ones are counted over the credits left, so a person stays
//  known for the department of most of their stored credits when a title
//  drops or thins their credits (and a batch's credits in the department a
//  person is known for leave the count as it was).
static void
test_a_department_follows_credits_a_changed_title_drops (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { 0 };
    req.records = calloc (3, sizeof (mg_raw_record_t));
    req.records_count = 3;
    //  811: Writing 3, Directing 2; 812: Writing 3, Directing 2.
    s_record (&req.records [0], "tmdb", "9111", "Written Often", 2003);
    s_add_crew (&req.records [0], "Wren Writer", 811, "Writing", 2);
    s_add_crew (&req.records [0], "Dora Drafter", 812, "Writing", 3);
    s_record (&req.records [1], "tmdb", "9112", "Directed Twice", 2003);
    s_add_crew (&req.records [1], "Wren Writer", 811, "Writing", 1);
    s_add_crew (&req.records [1], "Wren Writer", 811, "Directing", 2);
    s_add_crew (&req.records [1], "Dora Drafter", 812, "Directing", 2);
    mg_enqueue_request_t first = { .records = req.records, .records_count = 2 };
    s_run_batch (f, &first);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id IN (811, 812) "
                                   "AND known_for_department = 'Writing'"), 2);
    //  The first title changes: 811 writes it once, 812 not at all.
    s_record (&req.records [2], "tmdb", "9111", "Written Often", 2003);
    s_add_crew (&req.records [2], "Wren Writer", 811, "Writing", 1);
    mg_enqueue_request_t changed = { .records = &req.records [2], .records_count = 1 };
    s_run_batch (f, &changed);
    //  811: Writing 2, Directing 2 (a tie goes by name); 812: Directing 2.
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM credits WHERE person_tmdb_id IN (811, 812)"), 6);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id IN (811, 812) "
                                   "AND known_for_department = 'Directing'"), 2);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

#define SHARED_FILMS    1200     //  more than two claims of 500: batches applied side by side
#define SHARED_PEOPLE   40       //  every person in many films of every batch

//  Many films sharing a few people, claimed in several batches that the
//  resolver applies side by side (MG_RESOLVER_APPLIES): every job is done,
//  each person is stored once under their one name, and each is known for
//  the department a recount of all their stored credits gives, whichever
//  batch created them and whichever committed first.
static void
test_batches_applied_side_by_side_share_people (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { 0 };
    req.records = calloc (SHARED_FILMS, sizeof (mg_raw_record_t));
    assert_non_null (req.records);
    char id [32], title [64], name [32];
    for (size_t i = 0; i < SHARED_FILMS; i++) {
        mg_raw_record_t *r = &req.records [i];
        snprintf (id, sizeof id, "%zu", 20000 + i);
        snprintf (title, sizeof title, "Shared Cast %zu", i);
        s_record (r, "tmdb", id, title, 1990 + (int) (i % 30));
        r->tmdb = 20000 + i;          //  two TMDB ids are two films: no merge by title
        r->has_tmdb = true;
        r->cast = calloc (2, sizeof (mg_raw_credit_t));
        r->cast_count = 2;
        for (size_t c = 0; c < 2; c++) {
            int64_t person = 500 + (int64_t) ((i + c * 7) % SHARED_PEOPLE);
            snprintf (name, sizeof name, "Person %lld", (long long) person);
            r->cast [c] = s_credit (name, person, NULL);
        }
        int64_t person = 500 + (int64_t) ((i + 3) % SHARED_PEOPLE);
        snprintf (name, sizeof name, "Person %lld", (long long) person);
        r->crew = calloc (1, sizeof (mg_raw_credit_t));
        r->crew_count = 1;
        r->crew [0] = s_credit (name, person, i % 3 ? "Directing" : "Writing");
        req.records_count++;
    }
    //  Enqueued in three calls, as an importer would.
    for (size_t from = 0; from < SHARED_FILMS; from += 400) {
        mg_enqueue_request_t part = { .records = &req.records [from], .records_count = 400 };
        mg_enqueue_reply_t reply;
        mg_error_t err = { 0 };
        if (mg_client_call (f->client, "indexer.enqueue", &mg_enqueue_request_desc, &part,
                            &mg_enqueue_reply_desc, &reply, 10000, &err))
            fail_msg ("enqueue failed: %s %s", err.code, err.message);
        assert_int_equal (reply.queued, 400);
    }
    int64_t until = mg_test_now_ms () + 90000;
    while (mg_test_now_ms () < until
       &&  s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state IN ('queued', 'running')") > 0)
        zclock_sleep (100);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'"), SHARED_FILMS);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), SHARED_FILMS);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM credits"), SHARED_FILMS * 3);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people"), SHARED_PEOPLE);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE name <> 'Person ' || tmdb_id"), 0);
    //  The department of most credits, counted afresh over the whole table.
    assert_int_equal (s_scalar (f,
        "SELECT count(*) FROM people p LEFT JOIN ("
        "  SELECT DISTINCT ON (person_tmdb_id) person_tmdb_id, dept FROM ("
        "    SELECT person_tmdb_id, CASE WHEN role = 'cast' THEN 'Acting' ELSE department END AS dept, count (*) AS n "
        "    FROM credits GROUP BY 1, 2) x ORDER BY person_tmdb_id, n DESC, dept) d ON d.person_tmdb_id = p.tmdb_id "
        "WHERE p.known_for_department IS DISTINCT FROM d.dept"), 0);
    //  Every entity announced once.
    assert_int_equal (s_scalar (f, "SELECT count(DISTINCT content_id) FROM change_log WHERE stream = 'content.changed'"),
                      SHARED_FILMS);
    assert_int_equal (s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'content.changed'"), SHARED_FILMS);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

//  A video of the record (strings copied).
static mg_raw_video_t
s_video (const char *site, const char *key, const char *type)
{
    return (mg_raw_video_t) { .site = strdup (site), .key = strdup (key), .type = type ? strdup (type) : NULL };
}

//  Child rows of a title come from its lists as the tables can hold them:
//  a video repeated or on an unknown site is written once or not at all, a
//  type the table does not know is a clip; a changed record already stored
//  replaces its stored copy, its child rows and a person's profile image.
static void
test_child_rows_follow_the_record_through_a_change (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { .records = calloc (1, sizeof (mg_raw_record_t)), .records_count = 1 };
    mg_raw_record_t *r = &req.records [0];
    s_record (r, "tmdb", "78", "Blade Runner", 1982);
    r->tmdb = 78;
    r->has_tmdb = true;
    s_strlist (&r->alternate_titles, &r->alternate_titles_count,
               (const char *const []) { "Blade Runner\tFinal Cut", "Blade Runner\tFinal Cut", NULL });
    r->videos = calloc (4, sizeof (mg_raw_video_t));
    r->videos_count = 4;
    r->videos [0] = s_video ("youtube", "eogpIG53Cis", "trailer");
    r->videos [1] = s_video ("youtube", "eogpIG53Cis", "trailer");
    r->videos [2] = s_video ("vimeo", "1234", "behind the scenes");
    r->videos [3] = s_video ("dailymotion", "x2", "trailer");
    r->cast = calloc (1, sizeof (mg_raw_credit_t));
    r->cast_count = 1;
    r->cast [0] = (mg_raw_credit_t) { .name = strdup ("Harrison Ford"), .character = strdup ("Deckard"),
                                      .person_id = 3, .has_person_id = true, .profile_path = strdup ("/old.jpg") };
    s_run_batch (f, &req);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'done'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM videos"), 2);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM videos WHERE site = 'vimeo' AND type = 'clip'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_titles WHERE title = 'Blade Runner\tFinal Cut'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 3 AND profile_path = '/old.jpg'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_sources WHERE record->>'title' = 'Blade Runner' "
                                   "AND checksum IS NOT NULL AND length (checksum) = 32"), 1);

    //  The same record changed: one version more, its lists replaced.
    free (r->title);
    r->title = strdup ("Blade Runner: The Final Cut");
    mg_msg_clear (&mg_raw_video_desc, &r->videos [0]);
    r->videos [0] = s_video ("youtube", "gCcx85zbxz4", "teaser");
    free (r->cast [0].profile_path);
    r->cast [0].profile_path = strdup ("/new.jpg");
    s_run_batch (f, &req);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_sources"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_sources WHERE record->>'title' = 'Blade Runner: The Final Cut'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content WHERE version = 2 AND title = 'Blade Runner: The Final Cut'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM videos"), 3);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM videos WHERE key = 'gCcx85zbxz4' AND type = 'teaser'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM credits"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 3 AND profile_path = '/new.jpg'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_titles WHERE title = 'Blade Runner: The Final Cut'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content_titles WHERE title = 'Blade Runner'"), 0);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

static void
test_change_events_arrive_numbered_without_gaps (void **state)
{
    fixture_t *f = *state;
    zclock_sleep (300);               //  let the subscription reach the proxy
    mg_enqueue_request_t req = { 0 };
    s_fixture_batch (&req);
    s_run_batch (f, &req);
    zsock_set_rcvtimeo (f->sub, 2000);
    uint64_t expect = 1;
    int pb = 0;
    for (int i = 0; i < 6; i++) {
        zmsg_t *msg = zmsg_recv (f->sub);
        if (!msg)
            break;
        char *topic = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        if (!strcmp (topic, "content.changed")) {
            mg_change_event_t event;
            char reason [MG_MSG_ERR_LEN];
            assert_int_equal (mg_msg_decode (&mg_change_event_desc, zframe_data (body), zframe_size (body),
                                             &event, reason, sizeof reason), 0);
            assert_int_equal (event.seq, expect);
            expect++;
            mg_msg_clear (&mg_change_event_desc, &event);
        }
        else
        if (!strcmp (topic, "content.changed.pb"))
            pb++;
        free (topic);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    assert_int_equal (expect - 1, 3);     //  three entities, three events
    assert_int_equal (pb, 3);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

static void
test_resolve_matches_without_creating_anything (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { 0 };
    s_fixture_batch (&req);
    s_run_batch (f, &req);
    //  The resolver learns of entities as it creates them.
    mg_resolve_request_t query = { .body =
        "{\"records\":[{\"title\":\"Matrix\",\"year\":1999},"
        "{\"title\":\"Unknown Film\",\"year\":2020},"
        "{\"title\":42},"
        "{\"title\":\"whatever\",\"ids\":{\"imdb\":\"tt0133093\"}}]}" };
    mg_resolve_reply_t reply;
    mg_error_t err = { 0 };
    assert_int_equal (mg_client_call (f->client, "resolver.resolve", &mg_resolve_request_desc, &query,
                                      &mg_resolve_reply_desc, &reply, 5000, &err), 0);
    assert_int_equal (reply.results_count, 4);
    assert_non_null (reply.results [0].id);
    assert_int_equal (reply.results [0].tmdb_id, 603);
    assert_int_equal (reply.results [0].tier, 3);
    assert_null (reply.results [1].id);
    assert_null (reply.results [2].id);
    assert_int_equal (reply.errors_count, 1);
    assert_int_equal (reply.errors [0].index, 2);
    assert_int_equal (reply.results [3].tier, 2);
    assert_string_equal (reply.results [3].id, reply.results [0].id);
    mg_msg_clear (&mg_resolve_reply_desc, &reply);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), 3);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

//  resolver.resolve of one record (JSON); its TMDB id, 0 when it matched nothing.
static int64_t
s_resolve_tmdb (fixture_t *f, const char *record)
{
    char body [1024];
    snprintf (body, sizeof body, "{\"records\":[%s]}", record);
    mg_resolve_request_t query = { .body = body };
    mg_resolve_reply_t reply;
    mg_error_t err = { 0 };
    if (mg_client_call (f->client, "resolver.resolve", &mg_resolve_request_desc, &query,
                        &mg_resolve_reply_desc, &reply, 5000, &err))
        fail_msg ("resolve failed: %s %s", err.code, err.message);
    assert_int_equal (reply.results_count, 1);
    assert_int_equal (reply.errors_count, 0);
    int64_t tmdb = reply.results [0].id ? (int64_t) reply.results [0].tmdb_id : 0;
    mg_msg_clear (&mg_resolve_reply_desc, &reply);
    return tmdb;
}

//  The API reads a title the way exports write it, as the importer does:
//  trailing article, alternate title in parentheses, year inside the title.
static void
test_resolve_reads_titles_as_exports_write_them (void **state)
{
    fixture_t *f = *state;
    mg_enqueue_request_t req = { 0 };
    s_fixture_batch (&req);
    s_run_batch (f, &req);
    assert_int_equal (s_resolve_tmdb (f, "{\"title\":\"Matrix, The\",\"year\":1999}"), 603);
    assert_int_equal (s_resolve_tmdb (f, "{\"title\":\"Matrix Reloaded, The (Matrix 2, The)\",\"year\":2003}"), 604);
    assert_int_equal (s_resolve_tmdb (f, "{\"title\":\"Matrix, The (1999)\"}"), 603);
    assert_int_equal (s_resolve_tmdb (f, "{\"title\":\"Matrix, The (1999)\",\"genres\":[\"Action\"]}"), 603);
    //  The year given wins over one in the title; a wrong year finds nothing.
    assert_int_equal (s_resolve_tmdb (f, "{\"title\":\"Matrix, The (1999)\",\"year\":1950}"), 0);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

//  A second replica, loaded before the catalog had these titles and not
//  ingesting, matches what the first one created: it follows content.changed.
static void
test_every_resolver_replica_matches_what_any_created (void **state)
{
    fixture_t *f = *state;
    mg_test_env_t env = f->env;
    for (int i = 0; i < env.count; i++)
        env.envp [i] = env.text [i];
    mg_test_env_add (&env, "MG_RESOLVER_INGEST=0");
    pid_t second = mg_test_spawn ("mg-resolver", env.envp);
    assert_true (second > 0);
    zclock_sleep (500);             //  it loads the (empty) catalog and registers
    mg_enqueue_request_t req = { 0 };
    s_fixture_batch (&req);
    s_run_batch (f, &req);
    //  The broker spreads requests over both replicas: every answer must agree.
    int64_t until = mg_test_now_ms () + 15000;
    int agreed = 0;
    while (agreed < 20 && mg_test_now_ms () < until) {
        agreed = s_resolve_tmdb (f, "{\"title\":\"The Matrix Reloaded\",\"year\":2003}") == 604 ? agreed + 1 : 0;
        if (!agreed)
            zclock_sleep (100);
    }
    assert_int_equal (agreed, 20);
    mg_test_stop (second, SIGTERM);
    mg_msg_clear (&mg_enqueue_request_desc, &req);
}

//  Run mg-import with args against the fixture's broker; its exit status.
//  Standard error (progress, reasons) goes to the test log; the summary line
//  (standard output) is copied into summary.
static int
s_import (fixture_t *f, const char *args, char *summary, size_t size)
{
    char command [2048];
    snprintf (command, sizeof command, "MG_BROKER=%s %s/mg-import --wait %s", f->env.endpoint, MG_BIN_DIR, args);
    FILE *out = popen (command, "r");
    assert_non_null (out);
    summary [0] = '\0';
    char line [512];
    while (fgets (line, sizeof line, out))
        snprintf (summary, size, "%s", line);
    int status = pclose (out);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static long
s_tier_of (fixture_t *f, const char *source, const char *source_id)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT tier FROM entity_merges WHERE source = '%s' AND source_id = '%s'",
              source, source_id);
    return s_scalar (f, sql);
}

static void
test_import_merges_movielens_into_the_tmdb_catalog_and_rejects_bad_rows (void **state)
{
    fixture_t *f = *state;
    char summary [512];
    //  3 films, a line without id and a broken line (rejected by the importer),
    //  a bad release date (queued, then failed by the resolver with a reason).
    assert_int_equal (s_import (f, MG_SOURCE_DIR "/tests/fixtures/import/catalog.jsonl", summary, sizeof summary), 0);
    assert_non_null (strstr (summary, "4 records end to end"));
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), 3);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs WHERE state = 'failed' "
                                   "AND last_error LIKE '%release_date%'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM availability"), 44 + 38 + 13);

    long offers_before = s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'availability.changed'");
    //  MovieLens: Toy Story and The Matrix by TMDB id (links.csv), Star Wars
    //  by title and year, Jumanji (its TMDB id is not in the catalog) and an
    //  unlisted film as entities of their own; two malformed rows rejected.
    assert_int_equal (s_import (f, MG_SOURCE_DIR "/tests/fixtures/import/movielens", summary, sizeof summary), 0);
    assert_non_null (strstr (summary, "5 records end to end"));
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), 5);
    assert_int_equal (s_tier_of (f, "movielens", "1"), 2);
    assert_int_equal (s_tier_of (f, "movielens", "2571"), 2);
    assert_int_equal (s_tier_of (f, "movielens", "260"), 3);
    assert_int_equal (s_tier_of (f, "movielens", "2"), -1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM external_ids e JOIN external_ids t USING (content_id) "
                                   "WHERE e.source = 'movielens' AND e.value = '1' "
                                   "AND t.source = 'tmdb' AND t.value = '862'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content WHERE title = 'An Obscure Film Nobody Made' "
                                   "AND year = 1987"), 1);
    //  MovieLens lists no offers: new entities without any announce none.
    assert_int_equal (s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'availability.changed'"),
                      offers_before);

    //  The TMDB export: quoted commas, quotes and line breaks; a row whose
    //  genres column is not JSON is rejected; key crew only.
    assert_int_equal (s_import (f, MG_SOURCE_DIR "/tests/fixtures/import/tmdb_movies.csv", summary, sizeof summary), 0);
    assert_non_null (strstr (summary, "1 records end to end"));
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content WHERE title = 'A Letter, Two Lines' "
                                   "AND original_title = 'Une lettre, \"deux\" lignes' "
                                   "AND overview LIKE 'First line of the story,' || chr(10) || 'second line%'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM credits c JOIN external_ids e USING (content_id) "
                                   "WHERE e.source = 'tmdb' AND e.value = '900001'"), 2);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM credits WHERE person_name = 'Not Kept'"), 0);
    //  The people the stored credits name, entities of their own (011_people.sql).
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 501 AND name = 'Anne Actrice' "
                                   "AND known_for_department = 'Acting'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 502 "
                                   "AND known_for_department = 'Directing'"), 1);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM people WHERE tmdb_id = 503"), 0);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), 6);

    //  Importing it all again changes nothing and announces nothing.
    long content_seq = s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'content.changed'");
    long availability_seq = s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'availability.changed'");
    assert_int_equal (s_import (f, MG_SOURCE_DIR "/tests/fixtures/import/catalog.jsonl "
                                   MG_SOURCE_DIR "/tests/fixtures/import/movielens "
                                   MG_SOURCE_DIR "/tests/fixtures/import/tmdb_movies.csv", summary, sizeof summary), 0);
    assert_non_null (strstr (summary, "10 records end to end"));
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM content"), 6);
    assert_int_equal (s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'content.changed'"), content_seq);
    assert_int_equal (s_scalar (f, "SELECT last_seq FROM change_streams WHERE stream = 'availability.changed'"),
                      availability_seq);
}

static void
test_import_refuses_what_it_cannot_read (void **state)
{
    fixture_t *f = *state;
    char summary [512];
    assert_int_equal (s_import (f, "/nonexistent/catalog.jsonl", summary, sizeof summary), 1);
    assert_int_equal (s_import (f, MG_SOURCE_DIR "/tests/fixtures/import/movielens/links.csv",
                                summary, sizeof summary), 1);
    assert_int_equal (s_import (f, "--batch 0 x", summary, sizeof summary), 2);
    assert_int_equal (s_scalar (f, "SELECT count(*) FROM ingest_jobs"), 0);
}

int
main (void)
{
    if (!getenv ("MG_PG_URL")) {
        fprintf (stderr, "MG_PG_URL is not set (run through scripts/test)\n");
        return 1;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_records_resolve_into_entities_by_every_tier, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reimport_of_unchanged_records_writes_nothing_and_announces_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_queued_records_are_msgpack_and_older_json_jobs_still_apply, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_person_is_known_for_the_department_of_most_credits, setup, teardown),
        cmocka_unit_test_setup_teardown (test_a_department_follows_credits_a_changed_title_drops, setup, teardown),
        cmocka_unit_test_setup_teardown (test_batches_applied_side_by_side_share_people, setup, teardown),
        cmocka_unit_test_setup_teardown (test_child_rows_follow_the_record_through_a_change, setup, teardown),
        cmocka_unit_test_setup_teardown (test_change_events_arrive_numbered_without_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown (test_resolve_matches_without_creating_anything, setup, teardown),
        cmocka_unit_test_setup_teardown (test_resolve_reads_titles_as_exports_write_them, setup, teardown),
        cmocka_unit_test_setup_teardown (test_every_resolver_replica_matches_what_any_created, setup, teardown),
        cmocka_unit_test_setup_teardown (test_import_merges_movielens_into_the_tmdb_catalog_and_rejects_bad_rows, setup, teardown),
        cmocka_unit_test_setup_teardown (test_import_refuses_what_it_cannot_read, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
