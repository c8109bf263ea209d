/*  The FAISS vector index shim: for each kind (hnsw, hnsw-sq8, ivf-sq8)
    nearest neighbours by inner product on unit vectors agree with a
    brute-force scan (recall@10), the keep callback filters results, and
    slots number vectors in the order they were added; staged vectors are
    searched exactly before the build; a saved index reads back only under
    the key (catalog generation) it was saved with; the "hnsw" kind's own
    graph walk answers what FAISS's search answers, bit for bit; an
    ivf-sq8 index of over 1,024 lists (an HNSW graph routes to them) holds
    each vector once and finds it as itself.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "hnsw.h"

#define DIMS      128
#define VECTORS   4000
#define CLUSTERS  40          //  embeddings of a catalog cluster by topic; uniform noise would not
#define QUERIES   100
#define K         10
#define M         32          //  the search index's parameters (index.c)
#define EF_BUILD  80
#define EF_SEARCH 64

//  A deterministic uniform number in [-1, 1).
static double
s_uniform (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double) (*state >> 11) / (double) (1ULL << 52) - 1.0;
}

//  Unit vectors around CLUSTERS random centres, count x DIMS.
static float *
s_vectors (size_t count, uint64_t seed)
{
    uint64_t state = seed;
    static float centres [CLUSTERS][DIMS];
    uint64_t cstate = 42;
    for (int c = 0; c < CLUSTERS; c++)
        for (int d = 0; d < DIMS; d++)
            centres [c][d] = (float) s_uniform (&cstate);
    float *out = malloc (count * DIMS * sizeof *out);
    assert_non_null (out);
    for (size_t i = 0; i < count; i++) {
        int c = (int) ((s_uniform (&state) + 1) / 2 * CLUSTERS) % CLUSTERS;
        double len = 0;
        for (int d = 0; d < DIMS; d++) {
            float v = centres [c][d] + (float) (0.8 * s_uniform (&state));
            out [i * DIMS + d] = v;
            len += (double) v * v;
        }
        for (int d = 0; d < DIMS; d++)
            out [i * DIMS + d] /= (float) sqrt (len);
    }
    return out;
}

//  Keep even slots only.
static bool
s_keep_even (void *arg, int64_t slot)
{
    (void) arg;
    return slot % 2 == 0;
}

//  The K best slots by a full scan (keep may be NULL) into best.
static void
s_brute (const float *base, size_t count, const float *query, search_hnsw_keep_fn keep, int64_t best [K])
{
    float score [K];
    int have = 0;
    for (size_t i = 0; i < count; i++) {
        if (keep && !keep (NULL, (int64_t) i))
            continue;
        float dot = 0;
        for (int d = 0; d < DIMS; d++)
            dot += base [i * DIMS + d] * query [d];
        int at = have < K ? have++ : K;
        while (at > 0 && score [at - 1] < dot) {
            if (at < K) {
                score [at] = score [at - 1];
                best [at] = best [at - 1];
            }
            at--;
        }
        if (at < K) {
            score [at] = dot;
            best [at] = (int64_t) i;
        }
    }
}

//  Share of the brute-force top K the index finds over QUERIES queries.
static double
s_recall (search_hnsw_t *index, const float *base, search_hnsw_keep_fn keep)
{
    float *queries = s_vectors (QUERIES, 7);
    size_t found = 0;
    for (int q = 0; q < QUERIES; q++) {
        int64_t truth [K], slots [K];
        float scores [K];
        char err [256];
        s_brute (base, VECTORS, queries + q * DIMS, keep, truth);
        int n = search_hnsw_search (index, queries + q * DIMS, K, EF_SEARCH, keep, NULL, slots, scores, err, sizeof err);
        assert_int_equal (n, K);
        for (int i = 0; i < n; i++) {
            if (keep)
                assert_true (keep (NULL, slots [i]));
            if (i)
                assert_true (scores [i] <= scores [i - 1]);
            for (int j = 0; j < K; j++)
                found += slots [i] == truth [j];
        }
    }
    free (queries);
    return (double) found / (QUERIES * K);
}

static const char *const s_kinds [] = { "hnsw", "hnsw-sq8", "ivf-sq8" };

//  A new index of kind (MG_SEARCH_VECTOR_INDEX) holding base, built.
static search_hnsw_t *
s_built (const char *kind, const float *base)
{
    char err [256];
    assert_int_equal (setenv ("MG_SEARCH_VECTOR_INDEX", kind, 1), 0);
    search_hnsw_t *index = search_hnsw_new (DIMS, M, EF_BUILD, err, sizeof err);
    assert_non_null (index);
    assert_string_equal (search_hnsw_kind (index), kind);
    //  Two adds: slots continue from the first batch.
    assert_int_equal (search_hnsw_add (index, base, VECTORS / 2, err, sizeof err), 0);
    assert_int_equal (search_hnsw_count (index), VECTORS / 2);
    assert_int_equal (search_hnsw_add (index, base + (VECTORS / 2) * DIMS, VECTORS / 2, err, sizeof err), 0);
    assert_int_equal (search_hnsw_count (index), VECTORS);
    assert_int_equal (search_hnsw_seal (index, err, sizeof err), 0);
    assert_int_equal (search_hnsw_count (index), VECTORS);
    return index;
}

static void
test_search_hnsw_recall_matches_brute_force (void **state)
{
    (void) state;
    float *base = s_vectors (VECTORS, 1);
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds [0]; i++) {
        search_hnsw_t *index = s_built (s_kinds [i], base);
        double recall = s_recall (index, base, NULL);
        print_message ("%s recall@%d: %.3f\n", s_kinds [i], K, recall);
        assert_true (recall >= 0.95);
        double filtered = s_recall (index, base, s_keep_even);
        print_message ("%s recall@%d, half the slots kept: %.3f\n", s_kinds [i], K, filtered);
        assert_true (filtered >= 0.95);
        //  A stored vector reads back as added (8-bit kinds: to a step).
        float vec [DIMS];
        assert_true (search_hnsw_vector (index, 17, vec));
        for (int d = 0; d < DIMS; d++)
            assert_true (fabsf (vec [d] - base [17 * DIMS + d]) < 0.02f);
        assert_false (search_hnsw_vector (index, VECTORS, vec));
        search_hnsw_destroy (&index);
        assert_null (index);
        search_hnsw_destroy (&index);
    }
    unsetenv ("MG_SEARCH_VECTOR_INDEX");
    free (base);
}

static void
test_search_hnsw_staged_vectors_are_searched_exactly (void **state)
{
    (void) state;
    char err [256];
    assert_int_equal (setenv ("MG_SEARCH_VECTOR_INDEX", "ivf-sq8", 1), 0);
    search_hnsw_t *index = search_hnsw_new (DIMS, M, EF_BUILD, err, sizeof err);
    assert_non_null (index);
    float *base = s_vectors (VECTORS, 1);
    assert_int_equal (search_hnsw_add (index, base, VECTORS, err, sizeof err), 0);
    //  Not sealed: every answer is the brute-force one.
    assert_true (s_recall (index, base, NULL) == 1.0);
    assert_true (s_recall (index, base, s_keep_even) == 1.0);
    search_hnsw_destroy (&index);
    assert_int_equal (setenv ("MG_SEARCH_VECTOR_INDEX", "no-such-kind", 1), 0);
    assert_null (search_hnsw_new (DIMS, M, EF_BUILD, err, sizeof err));
    assert_non_null (strstr (err, "MG_SEARCH_VECTOR_INDEX"));
    unsetenv ("MG_SEARCH_VECTOR_INDEX");
    free (base);
}

//  The first K slots of query q against index.
static void
s_top (search_hnsw_t *index, const float *query, int64_t slots [K])
{
    float scores [K];
    char err [256];
    assert_int_equal (search_hnsw_search (index, query, K, EF_SEARCH, NULL, NULL, slots, scores, err, sizeof err), K);
}

static void
test_search_hnsw_reads_back_only_its_generation (void **state)
{
    (void) state;
    char path [] = "/tmp/test_search_hnswXXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);
    assert_int_equal (unlink (path), 0);
    char err [256];
    float *base = s_vectors (VECTORS, 1);
    float *queries = s_vectors (QUERIES, 7);
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds [0]; i++) {
        search_hnsw_t *index = s_built (s_kinds [i], base), *back = NULL;
        //  No file yet: the caller builds.
        assert_int_equal (search_hnsw_load (path, "lsa-768 7.3.2", DIMS, &back, err, sizeof err), 1);
        assert_null (back);
        assert_int_equal (search_hnsw_save (index, path, "lsa-768 7.3.2", err, sizeof err), 0);
        //  Another generation, another model or another shape: rebuild.
        assert_int_equal (search_hnsw_load (path, "lsa-768 7.3.3", DIMS, &back, err, sizeof err), 1);
        assert_int_equal (search_hnsw_load (path, "lsa-512 7.3.2", DIMS, &back, err, sizeof err), 1);
        assert_int_equal (search_hnsw_load (path, "lsa-768 7.3", DIMS, &back, err, sizeof err), 1);
        assert_int_equal (search_hnsw_load (path, "lsa-768 7.3.2", DIMS * 2, &back, err, sizeof err), 1);
        assert_null (back);
        //  The same key: the same index, same answers, and it takes adds.
        assert_int_equal (search_hnsw_load (path, "lsa-768 7.3.2", DIMS, &back, err, sizeof err), 0);
        assert_non_null (back);
        assert_string_equal (search_hnsw_kind (back), s_kinds [i]);
        assert_int_equal (search_hnsw_count (back), VECTORS);
        for (int q = 0; q < QUERIES; q += 10) {
            int64_t a [K], b [K];
            s_top (index, queries + q * DIMS, a);
            s_top (back, queries + q * DIMS, b);
            assert_memory_equal (a, b, sizeof a);
        }
        assert_int_equal (search_hnsw_add (back, base, 1, err, sizeof err), 0);
        assert_int_equal (search_hnsw_count (back), VECTORS + 1);
        int64_t slot;
        float score;
        assert_int_equal (search_hnsw_search (back, base, 1, EF_SEARCH, s_keep_even, NULL, &slot, &score, err, sizeof err), 1);
        assert_int_equal (slot, 0);
        search_hnsw_destroy (&back);
        search_hnsw_destroy (&index);
        assert_int_equal (unlink (path), 0);
    }
    //  A file that is not an index under the right key line: an error.
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    assert_true (fprintf (file, "mg-vectors 1 k\nnot faiss\n") > 0);
    assert_int_equal (fclose (file), 0);
    search_hnsw_t *back = NULL;
    assert_int_equal (search_hnsw_load (path, "k", DIMS, &back, err, sizeof err), -1);
    assert_null (back);
    assert_int_equal (unlink (path), 0);
    unsetenv ("MG_SEARCH_VECTOR_INDEX");
    free (base);
    free (queries);
}

static void
test_search_hnsw_finds_a_vector_itself_first (void **state)
{
    (void) state;
    char err [256];
    search_hnsw_t *index = search_hnsw_new (DIMS, M, EF_BUILD, err, sizeof err);
    assert_non_null (index);
    int64_t slot;
    float score;
    assert_int_equal (search_hnsw_search (index, (float [DIMS]) { 1 }, 1, EF_SEARCH, NULL, NULL, &slot, &score, err, sizeof err), 0);
    float *base = s_vectors (200, 3);
    assert_int_equal (search_hnsw_add (index, base, 200, err, sizeof err), 0);
    assert_int_equal (search_hnsw_seal (index, err, sizeof err), 0);
    for (int i = 0; i < 200; i += 17) {
        assert_int_equal (search_hnsw_search (index, base + i * DIMS, 1, EF_SEARCH, NULL, NULL, &slot, &score, err, sizeof err), 1);
        assert_int_equal (slot, i);
        assert_true (fabsf (score - 1.0f) < 1e-4f);
    }
    free (base);
    search_hnsw_destroy (&index);
}

//  Slots of odd remainder by 3 only: a filter unlike the even one.
static bool
s_keep_thirds (void *arg, int64_t slot)
{
    (void) arg;
    return slot % 3 != 1;
}

//  VECTORS + QUERIES clustered unit vectors of dims: the first DIMS of
//  s_vectors' and a few more, normalised again.
static float *
s_wide_vectors (uint32_t dims)
{
    float *made = s_vectors (VECTORS + QUERIES, 3);
    float *base = malloc ((size_t) (VECTORS + QUERIES) * dims * sizeof *base);
    assert_non_null (base);
    uint64_t noise = 11;
    for (size_t i = 0; i < VECTORS + QUERIES; i++) {
        double len = 0;
        for (uint32_t d = 0; d < dims; d++) {
            float v = d < DIMS ? made [i * DIMS + d] : (float) (0.1 * s_uniform (&noise));
            base [i * dims + d] = v;
            len += (double) v * v;
        }
        for (uint32_t d = 0; d < dims; d++)
            base [i * dims + d] /= (float) sqrt (len);
    }
    free (made);
    return base;
}

//  search_hnsw_search against FAISS's own search on an index of kind, for
//  vectors of a width that fills SSE registers (128) and one that leaves a
//  tail (131), for a page and a semantic query's 100, with and without
//  filters: bit for bit when exact (slots and scores), else every score
//  within 1e-4 and all but one in 1,000 slots the same (rounding may swap
//  two results whose distances are a rounding apart).
static void
s_compare_with_faiss (const char *kind, bool exact)
{
    assert_int_equal (setenv ("MG_SEARCH_VECTOR_INDEX", kind, 1), 0);
    const uint32_t widths [] = { DIMS, DIMS + 3 };
    const size_t ks [] = { K, 100 };
    const search_hnsw_keep_fn keeps [] = { NULL, s_keep_even, s_keep_thirds };
    for (size_t w = 0; w < sizeof widths / sizeof widths [0]; w++) {
        uint32_t dims = widths [w];
        float *base = s_wide_vectors (dims);
        char err [256];
        search_hnsw_t *index = search_hnsw_new (dims, M, EF_BUILD, err, sizeof err);
        assert_non_null (index);
        assert_int_equal (search_hnsw_add (index, base, VECTORS, err, sizeof err), 0);
        assert_int_equal (search_hnsw_seal (index, err, sizeof err), 0);
        //  Lists left unprobed: the scan must choose them as FAISS does.
        if (strcmp (kind, "ivf-sq8") == 0)
            assert_true (search_hnsw_lists (index) > search_hnsw_probes (index));
        size_t compared = 0, same = 0;
        for (size_t q = 0; q < QUERIES; q++)
            for (size_t ki = 0; ki < sizeof ks / sizeof ks [0]; ki++)
                for (size_t f = 0; f < sizeof keeps / sizeof keeps [0]; f++) {
                    int64_t ours [100], faissed [100];
                    float ours_scores [100], faissed_scores [100];
                    const float *query = base + (VECTORS + q) * dims;
                    int n = search_hnsw_search (index, query, ks [ki], EF_SEARCH, keeps [f], NULL,
                                                ours, ours_scores, err, sizeof err);
                    int m = search_hnsw_search_faiss (index, query, ks [ki], EF_SEARCH, keeps [f], NULL,
                                                      faissed, faissed_scores, err, sizeof err);
                    assert_int_equal (n, m);
                    assert_int_equal (n, (int) ks [ki]);
                    if (exact) {
                        assert_memory_equal (ours, faissed, (size_t) n * sizeof *ours);
                        assert_memory_equal (ours_scores, faissed_scores, (size_t) n * sizeof *ours_scores);
                    }
                    for (int i = 0; i < n; i++) {
                        if (keeps [f])
                            assert_true (keeps [f] (NULL, ours [i]));
                        assert_true (fabsf (ours_scores [i] - faissed_scores [i]) < 1e-4f);
                        same += ours [i] == faissed [i];
                    }
                    compared += (size_t) n;
                }
        print_message ("%s, %u dims: %zu of %zu results are FAISS's\n", kind, dims, same, compared);
        assert_true (same * 1000 >= compared * 999);
        search_hnsw_destroy (&index);
        free (base);
    }
    unsetenv ("MG_SEARCH_VECTOR_INDEX");
}

//  The graph walk (search_hnsw_search on "hnsw") answers what FAISS's own
//  search answers, bit for bit.
static void
test_search_hnsw_walk_equals_faiss_search (void **state)
{
    (void) state;
    s_compare_with_faiss ("hnsw", true);
}

#define WIDE_VECTORS 40960    //  ivf-sq8 takes 39 points a list: 1,050 lists, an HNSW graph over them
#define WIDE_DIMS    8

static void
test_search_hnsw_ivf_over_a_graph_of_lists_finds_each_vector_as_itself (void **state)
{
    (void) state;
    uint64_t rng = 11;
    float *base = malloc ((size_t) WIDE_VECTORS * WIDE_DIMS * sizeof *base);
    assert_non_null (base);
    for (size_t i = 0; i < (size_t) WIDE_VECTORS * WIDE_DIMS; i += WIDE_DIMS) {
        double len = 0;
        for (int d = 0; d < WIDE_DIMS; d++) {
            base [i + d] = (float) s_uniform (&rng);
            len += (double) base [i + d] * base [i + d];
        }
        for (int d = 0; d < WIDE_DIMS; d++)
            base [i + d] /= (float) sqrt (len);
    }
    char err [256];
    assert_int_equal (setenv ("MG_SEARCH_VECTOR_INDEX", "ivf-sq8", 1), 0);
    search_hnsw_t *index = search_hnsw_new (WIDE_DIMS, M, EF_BUILD, err, sizeof err);
    assert_non_null (index);
    //  Trained on the first batch, the rest added to the lists in chunks.
    for (size_t at = 0; at < WIDE_VECTORS; at += WIDE_VECTORS / 4)
        assert_int_equal (search_hnsw_add (index, base + at * WIDE_DIMS, WIDE_VECTORS / 4, err, sizeof err), 0);
    assert_int_equal (search_hnsw_seal (index, err, sizeof err), 0);
    assert_int_equal (search_hnsw_count (index), WIDE_VECTORS);
    //  Every vector is held once, under its slot, and found as itself
    //  (its own list is probed first).
    size_t itself = 0;
    for (size_t i = 0; i < WIDE_VECTORS; i += 97) {
        int64_t slots [1];
        float scores [1];
        float back [WIDE_DIMS];
        assert_true (search_hnsw_vector (index, (int64_t) i, back));
        for (int d = 0; d < WIDE_DIMS; d++)
            assert_true (fabsf (back [d] - base [i * WIDE_DIMS + d]) < 0.02f);
        assert_int_equal (search_hnsw_search (index, base + i * WIDE_DIMS, 1, EF_SEARCH, NULL, NULL, slots, scores,
                                              err, sizeof err), 1);
        itself += slots [0] == (int64_t) i;
    }
    size_t probed = (WIDE_VECTORS + 96) / 97;
    fprintf (stderr, "ivf-sq8 over a graph of lists: %zu of %zu vectors found as themselves\n", itself, probed);
    assert_true (itself * 100 >= probed * 95);
    search_hnsw_destroy (&index);
    unsetenv ("MG_SEARCH_VECTOR_INDEX");
    free (base);
}

//  The "ivf-sq8" scan (search_hnsw_search) answers what FAISS's own search
//  answers: the same slots with the same distances but for float rounding
//  (its sums are taken in another order).
static void
test_search_hnsw_ivf_scan_equals_faiss_search (void **state)
{
    (void) state;
    s_compare_with_faiss ("ivf-sq8", false);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_search_hnsw_recall_matches_brute_force),
        cmocka_unit_test (test_search_hnsw_staged_vectors_are_searched_exactly),
        cmocka_unit_test (test_search_hnsw_reads_back_only_its_generation),
        cmocka_unit_test (test_search_hnsw_finds_a_vector_itself_first),
        cmocka_unit_test (test_search_hnsw_walk_equals_faiss_search),
        cmocka_unit_test (test_search_hnsw_ivf_over_a_graph_of_lists_finds_each_vector_as_itself),
        cmocka_unit_test (test_search_hnsw_ivf_scan_equals_faiss_search),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
