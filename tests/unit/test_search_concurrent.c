/*  Queries at once on one index (a replica's worker threads), on a made-up
    catalog of 600 titles with a four-topic LSA model:
    - a hybrid query whose semantic side runs on a thread of its own while
      the keyword side runs answers, byte for byte, what it answers with
      the two sides one after the other;
    - four threads querying (keyword, hybrid, semantic, sorts, facets,
      autocomplete, similar titles) under a reader-writer lock as the
      replica holds it, while a writer re-puts titles under the write lock
      and settles the index, as the follower applies changes, get the
      answers one thread alone gets (keyword and autocomplete byte for
      byte; hybrid's first title) for a few seconds;
    - a snapshot load whose vectors are embedded and added on a thread of
      their own (index_pipe.c) answers every request as one whose puts
      add them, byte for byte.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "mg_lsa.h"

#define TITLES      600     //  titles of the catalog
#define READERS     4       //  threads querying at once
#define STRESS_S    3       //  seconds of queries and changes
#define REPUT_BATCH 16      //  titles the writer re-puts per turn

//  Words the titles are made of; the model knows the first eight.
static const char *const s_words [] = {
    "harbor", "storm", "orchard", "glass", "winter", "engine", "garden", "river",
    "lantern", "meadow", "signal", "copper", "summit", "canyon", "velvet", "ember",
};
#define WORDS (sizeof s_words / sizeof s_words [0])

typedef struct {
    char path [64];
    mg_lsa_t *lsa;
    search_index_t *index;
    pthread_rwlock_t lock;
} fixture_t;

//  Put title n (1-based): its words, type, year, popularity and rating
//  follow from n, so a re-put of n is the same title.
static int
s_put (search_index_t *index, int n)
{
    char id [40], json [512], title [96], overview [160], keywords [64], cast [64], release [16];
    const char *a = s_words [n % WORDS], *b = s_words [(n / WORDS) % WORDS], *c = s_words [(n * 7) % WORDS];
    snprintf (id, sizeof id, "00000000-0000-4000-8000-%012d", n);
    snprintf (title, sizeof title, "%s %s %d", a, b, n);
    snprintf (overview, sizeof overview, "a %s by the %s and a %s", c, a, s_words [(n * 3) % WORDS]);
    snprintf (keywords, sizeof keywords, "%s\n%s", c, b);
    snprintf (cast, sizeof cast, "Ann %s\nBo %s", s_words [(n * 5) % WORDS], b);
    snprintf (release, sizeof release, "%04d-%02d-01", 1950 + n % 70, 1 + n % 12);
    const char *type = n % 5 ? "movie" : "tv";
    snprintf (json, sizeof json, "{\"id\":\"%s\",\"type\":\"%s\",\"title\":\"%s\",\"genres\":[],"
              "\"external_ids\":{\"tmdb\":%d},\"availability\":[]}", id, type, title, n);
    mg_doc_t doc = {
        .id = id, .type = type, .title = title, .overview = overview, .keywords = keywords, .cast = cast,
        .year = 1950 + n % 70, .popularity = (double) ((n * 37) % 101) + 0.5, .has_rating = n % 3 != 0,
        .rating = (double) (n % 10), .release_date = release, .hit_json = json, .genres = "", .offers = ""
    };
    return search_index_put (index, &doc);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    //  Writer-preferring, as the replica's (actors/search/main.c): a
    //  stream of queries does not starve the follower.
    pthread_rwlockattr_t attr;
    if (!f || pthread_rwlockattr_init (&attr)
    ||  pthread_rwlockattr_setkind_np (&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP)
    ||  pthread_rwlock_init (&f->lock, &attr))
        return -1;
    pthread_rwlockattr_destroy (&attr);
    snprintf (f->path, sizeof f->path, "/tmp/test_concurrent_XXXXXX");
    int fd = mkstemp (f->path);
    if (fd < 0)
        return -1;
    close (fd);
    //  Terms in byte order (the model file's), four topics.
    char *terms [] = { "engine", "garden", "glass", "harbor", "orchard", "river", "storm", "winter" };
    float proj [] = { 0, 0, 1, 0.2f,  0, 1, 0, 0.3f,  0.5f, 0, 1, 0,  1, 0, 0, 0.4f,
                      0, 1, 0.3f, 0,  1, 0.2f, 0, 0,  1, 0, 0.4f, 0,  0, 0, 0.2f, 1 };
    float idf [8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    char err [256] = "";
    if (mg_lsa_write (f->path, terms, idf, proj, 8, 4, err, sizeof err)
    ||  !(f->lsa = mg_lsa_load (f->path, err, sizeof err))
    ||  !(f->index = search_index_new (f->lsa, err, sizeof err))) {
        fprintf (stderr, "setup: %s\n", err);
        return -1;
    }
    search_index_begin (f->index);
    for (int n = 1; n <= TITLES; n++)
        if (s_put (f->index, n))
            return -1;
    return search_index_commit (f->index);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    search_index_destroy (&f->index);
    mg_lsa_destroy (&f->lsa);
    pthread_rwlock_destroy (&f->lock);
    remove (f->path);
    free (f);
    return 0;
}

//  One request of the mix: a search (query), or an autocomplete of q, or
//  the titles similar to title similar.
typedef struct {
    search_query_t query;
    bool autocomplete;
    int similar;
    //  What re-puts of unchanged titles leave alone: the whole answer
    //  (keyword side, autocomplete), the first title (hybrid: the first
    //  keyword hit is guarded), or only that it answers (vector hits of
    //  equal cosine may come in another order once their slots changed).
    enum { SAME_BYTES, SAME_FIRST, ANSWERED } same;
} s_request_t;

static const s_request_t s_requests [] = {
    { .query = { .q = "harbor storm", .per_page = 20, .mode = SEARCH_MODE_KEYWORD } },
    { .query = { .q = "orchrd", .per_page = 20, .mode = SEARCH_MODE_KEYWORD } },
    { .query = { .q = "river", .per_page = 20, .mode = SEARCH_MODE_KEYWORD, .sort = SEARCH_SORT_RATING } },
    { .query = { .q = "glass", .per_page = 10, .offset = 30, .mode = SEARCH_MODE_KEYWORD,
                 .sort = SEARCH_SORT_POPULARITY, .facets = SEARCH_FACET_YEARS | SEARCH_FACET_TYPES } },
    { .query = { .q = "winter lantern", .per_page = 20, .mode = SEARCH_MODE_KEYWORD, .type = "tv",
                 .sort = SEARCH_SORT_RELEASE_DATE } },
    { .query = { .q = "", .per_page = 20, .mode = SEARCH_MODE_KEYWORD, .has_year_from = true, .year_from = 1990 } },
    { .query = { .q = "copper sum", .per_page = 20, .mode = SEARCH_MODE_KEYWORD }, .autocomplete = true },
    { .query = { .q = "garden engine", .per_page = 20, .mode = SEARCH_MODE_HYBRID, .semantic_ratio = 0.5 },
      .same = SAME_FIRST },
    { .query = { .q = "storm", .per_page = 20, .mode = SEARCH_MODE_HYBRID, .semantic_ratio = 0.7 },
      .same = SAME_FIRST },
    { .query = { .q = "harbor meadow", .per_page = 20, .mode = SEARCH_MODE_SEMANTIC }, .same = ANSWERED },
    { .query = { .q = "", .per_page = 20 }, .similar = 42, .same = ANSWERED },
};
#define REQUESTS (sizeof s_requests / sizeof s_requests [0])

//  Answer of request r as msgpack (*buf_p, caller frees) and the title of
//  its first result (first, "" when none). 0, or -1 when it failed.
static int
s_answer (search_index_t *index, const s_request_t *r, uint8_t **buf_p, size_t *len_p, char first [96])
{
    char err [256] = "";
    int rc;
    *first = '\0';
    if (r->autocomplete) {
        mg_autocomplete_reply_t rep = { 0 };
        rc = search_index_autocomplete (index, r->query.q, &rep, err, sizeof err);
        if (rc == 0 && rep.results_count)
            snprintf (first, 96, "%s", rep.results [0].title);
        rc = rc ? rc : mg_msg_encode (&mg_autocomplete_reply_desc, &rep, buf_p, len_p, err, sizeof err);
        mg_msg_clear (&mg_autocomplete_reply_desc, &rep);
    }
    else
    if (r->similar) {
        char id [40];
        snprintf (id, sizeof id, "00000000-0000-4000-8000-%012d", r->similar);
        mg_similar_reply_t rep = { 0 };
        rc = search_index_similar (index, id, &r->query, &rep, err, sizeof err);
        //  What the handler adds (search_on_similar), for the encoding.
        rep.page = rep.per_page = r->query.per_page;
        rep.has_page = rep.has_per_page = true;
        if (rc == 0 && rep.results_count)
            snprintf (first, 96, "%s", rep.results [0].title);
        rc = rc ? -1 : mg_msg_encode (&mg_similar_reply_desc, &rep, buf_p, len_p, err, sizeof err);
        mg_msg_clear (&mg_similar_reply_desc, &rep);
    }
    else {
        mg_search_reply_t rep = { 0 };
        rc = search_index_query (index, &r->query, &rep, err, sizeof err);
        //  What the handler adds (search_on_query), for the encoding.
        rep.page = rep.per_page = r->query.per_page;
        rep.has_page = rep.has_per_page = rep.has_took_ms = true;
        rep.generation = strdup ("0.0");
        if (rc == 0 && rep.results_count)
            snprintf (first, 96, "%s", rep.results [0].title);
        rc = rc ? rc : mg_msg_encode (&mg_search_reply_desc, &rep, buf_p, len_p, err, sizeof err);
        mg_msg_clear (&mg_search_reply_desc, &rep);
    }
    if (rc)
        fprintf (stderr, "request '%s' failed: %s\n", r->query.q, err);
    return rc;
}

static void
test_hybrid_sides_at_once_answer_as_one_after_the_other (void **state)
{
    fixture_t *f = *state;
    static const double ratios [] = { 0.2, 0.5, 0.8 };
    static const char *const queries [] = { "garden engine", "storm", "harbr", "river glass orchard", "winter" };
    for (size_t q = 0; q < sizeof queries / sizeof queries [0]; q++)
        for (size_t r = 0; r < sizeof ratios / sizeof ratios [0]; r++) {
            s_request_t request = { .query = { .q = queries [q], .per_page = 50, .mode = SEARCH_MODE_HYBRID,
                                               .semantic_ratio = ratios [r], .type = q % 2 ? "tv" : NULL,
                                               .facets = q == 3 ? SEARCH_FACET_TYPES : 0 } };
            uint8_t *together, *apart;
            size_t together_len, apart_len;
            char first [96], apart_first [96];
            search_index_set_sides (f->index, true);
            assert_int_equal (s_answer (f->index, &request, &together, &together_len, first), 0);
            search_index_set_sides (f->index, false);
            assert_int_equal (s_answer (f->index, &request, &apart, &apart_len, apart_first), 0);
            search_index_set_sides (f->index, true);
            //  Not an empty answer compared with itself.
            assert_true (*first);
            if (together_len != apart_len || memcmp (together, apart, apart_len) != 0)
                fail_msg ("'%s' at ratio %.1f: the sides at once answer differently (%zu bytes, %zu one after the other)",
                          queries [q], ratios [r], together_len, apart_len);
            free (together);
            free (apart);
        }
}

//  What one thread alone answers to each request.
typedef struct {
    uint8_t *buf [REQUESTS];
    size_t len [REQUESTS];
    char first [REQUESTS][96];
} s_expected_t;

typedef struct {
    fixture_t *f;
    const s_expected_t *expected;
    int seed;
    atomic_bool stop;
    atomic_size_t answered, wrong, failed, changes;
} s_stress_t;

//  A reader: the requests in turn under the read lock until stop, each
//  answer compared with the expected one.
static void *
s_reader (void *arg)
{
    s_stress_t *s = arg;
    for (size_t i = (size_t) s->seed; !atomic_load (&s->stop); i++) {
        size_t r = i % REQUESTS;
        uint8_t *buf = NULL;
        size_t len = 0;
        char first [96];
        pthread_rwlock_rdlock (&s->f->lock);
        int rc = s_answer (s->f->index, &s_requests [r], &buf, &len, first);
        pthread_rwlock_unlock (&s->f->lock);
        if (rc)
            atomic_fetch_add (&s->failed, 1);
        else
        if (s_requests [r].same == SAME_BYTES ? len != s->expected->len [r]
                                               || memcmp (buf, s->expected->buf [r], len) != 0
          : s_requests [r].same == SAME_FIRST ? strcmp (first, s->expected->first [r]) != 0
          : !*first) {
            fprintf (stderr, "request %zu ('%s') answered differently: first '%s', expected '%s'\n",
                     r, s_requests [r].query.q, first, s->expected->first [r]);
            atomic_fetch_add (&s->wrong, 1);
        }
        atomic_fetch_add (&s->answered, 1);
        free (buf);
    }
    return NULL;
}

//  The writer: re-puts titles (the same content: a change event of a title
//  that did not change) under the write lock and settles, as the follower
//  applies changes, until stop.
static void *
s_writer (void *arg)
{
    s_stress_t *s = arg;
    for (int n = 1; !atomic_load (&s->stop); ) {
        pthread_rwlock_wrlock (&s->f->lock);
        int rc = 0;
        for (int i = 0; i < REPUT_BATCH && rc == 0; i++, n = n % TITLES + 1)
            rc = s_put (s->f->index, n);
        rc = rc ? rc : search_index_settle (s->f->index);
        pthread_rwlock_unlock (&s->f->lock);
        atomic_fetch_add (rc ? &s->failed : &s->changes, 1);
        usleep (1000);
    }
    return NULL;
}

static void
test_queries_on_many_threads_while_changes_apply (void **state)
{
    fixture_t *f = *state;
    s_expected_t expected = { 0 };
    for (size_t r = 0; r < REQUESTS; r++) {
        assert_int_equal (s_answer (f->index, &s_requests [r], &expected.buf [r], &expected.len [r],
                                    expected.first [r]), 0);
        assert_true (*expected.first [r]);
    }
    s_stress_t runs [READERS];
    pthread_t readers [READERS], writer;
    s_stress_t *shared = &runs [0];
    for (int i = 0; i < READERS; i++) {
        runs [i] = (s_stress_t) { .f = f, .expected = &expected, .seed = i * 3 };
        assert_int_equal (pthread_create (&readers [i], NULL, s_reader, &runs [i]), 0);
    }
    assert_int_equal (pthread_create (&writer, NULL, s_writer, shared), 0);
    sleep (STRESS_S);
    for (int i = 0; i < READERS; i++)
        atomic_store (&runs [i].stop, true);
    for (int i = 0; i < READERS; i++)
        pthread_join (readers [i], NULL);
    pthread_join (writer, NULL);
    size_t answered = 0, wrong = 0, failed = 0;
    for (int i = 0; i < READERS; i++) {
        answered += atomic_load (&runs [i].answered);
        wrong += atomic_load (&runs [i].wrong);
        failed += atomic_load (&runs [i].failed);
        //  Every thread got answers in, not one thread alone.
        assert_true (atomic_load (&runs [i].answered) > 0);
    }
    fprintf (stderr, "%zu answers on %d threads, %zu batches of changes applied\n", answered, READERS,
             atomic_load (&shared->changes));
    assert_int_equal (failed, 0);
    assert_int_equal (wrong, 0);
    assert_true (atomic_load (&shared->changes) > 0);
    for (size_t r = 0; r < REQUESTS; r++)
        free (expected.buf [r]);
}

//  A new index of the fixture's model holding titles 1..TITLES, put in one
//  transaction as a snapshot load puts them, with some put twice and one
//  removed before the commit; vectors on their own thread unless pipe is 0.
static search_index_t *
s_snapshot (fixture_t *f, const char *pipe)
{
    char err [256] = "";
    assert_int_equal (setenv ("MG_SEARCH_BUILD_PIPE", pipe, 1), 0);
    search_index_t *index = search_index_new (f->lsa, err, sizeof err);
    assert_non_null (index);
    assert_int_equal (search_index_begin (index), 0);
    for (int n = 1; n <= TITLES; n++)
        assert_int_equal (s_put (index, n), 0);
    for (int n = 5; n <= 40; n += 5)
        assert_int_equal (s_put (index, n), 0);
    assert_int_equal (search_index_remove (index, "00000000-0000-4000-8000-000000000007"), 0);
    assert_int_equal (search_index_commit (index), 0);
    unsetenv ("MG_SEARCH_BUILD_PIPE");
    return index;
}

static void
test_snapshot_vectors_on_a_thread_answer_as_on_the_puts_thread (void **state)
{
    fixture_t *f = *state;
    search_index_t *threaded = s_snapshot (f, "1"), *inline_ = s_snapshot (f, "0");
    //  Every request, the vector ones included: the same slots, the same
    //  answers byte for byte.
    for (size_t r = 0; r < REQUESTS; r++) {
        uint8_t *a = NULL, *b = NULL;
        size_t a_len = 0, b_len = 0;
        char a_first [96], b_first [96];
        assert_int_equal (s_answer (threaded, &s_requests [r], &a, &a_len, a_first), 0);
        assert_int_equal (s_answer (inline_, &s_requests [r], &b, &b_len, b_first), 0);
        assert_true (*a_first);
        if (a_len != b_len || memcmp (a, b, a_len) != 0)
            fail_msg ("request %zu ('%s'): vectors built on a thread answer differently", r, s_requests [r].query.q);
        free (a);
        free (b);
    }
    search_index_destroy (&threaded);
    search_index_destroy (&inline_);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_hybrid_sides_at_once_answer_as_one_after_the_other),
        cmocka_unit_test (test_queries_on_many_threads_while_changes_apply),
        cmocka_unit_test (test_snapshot_vectors_on_a_thread_answer_as_on_the_puts_thread),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
