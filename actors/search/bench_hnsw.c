/*  mg-hnsw-bench: the vector index at a catalog's scale.

        mg-hnsw-bench [COUNT [DIMS [QUERIES [SAVE_PATH]]]]

    COUNT unit vectors of DIMS floats (clustered around random centres, as
    embeddings of a catalog are), generated in batches in this process (not
    through PostgreSQL), go into the replicas' vector index of the kind
    MG_SEARCH_VECTOR_INDEX names (hnsw.h; index.c's parameters), staged and
    built as a snapshot load builds it (MG_SEARCH_BUILD_THREADS threads).
    Prints the build time, the process's resident memory (the vectors are
    regenerated, never held whole, so the growth is the index's), then
    QUERIES searches of the 100 nearest (a semantic query's SEMANTIC_TOP)
    with recall@10 against an exact scan of the same vectors. With
    SAVE_PATH the index is written there, dropped, read back (a restarted
    replica's path) and searched again.  */
#include "hnsw.h"
#include "bench_util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define M               32          //  index.c HNSW_M
#define EF_CONSTRUCTION 80          //  index.c HNSW_EF_CONSTRUCTION
#define EF_SEARCH       64          //  index.c HNSW_EF_SEARCH
#define TOP             100         //  index.c SEMANTIC_TOP
#define RECALL_K        10
#define CLUSTERS        200
#define BATCH           8192        //  vectors generated (and scanned) at a time

static double
s_uniform (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double) (*state >> 11) / (double) (1ULL << 52) - 1.0;
}

//  CLUSTERS random centres (seed 42).
static float *
s_centres (int dims)
{
    uint64_t state = 42;
    float *centres = malloc ((size_t) CLUSTERS * dims * sizeof *centres);
    if (!centres)
        exit (1);
    for (size_t i = 0; i < (size_t) CLUSTERS * dims; i++)
        centres [i] = (float) s_uniform (&state);
    return centres;
}

//  The next count unit vectors of the stream *state around centres into out.
static void
s_vectors (uint64_t *state, const float *centres, size_t count, int dims, float *out)
{
    for (size_t i = 0; i < count; i++) {
        size_t c = (size_t) ((s_uniform (state) + 1) / 2 * CLUSTERS) % CLUSTERS;
        double len = 0;
        for (int d = 0; d < dims; d++) {
            float v = centres [c * dims + d] + (float) (0.8 * s_uniform (state));
            out [i * dims + d] = v;
            len += (double) v * v;
        }
        for (int d = 0; d < dims; d++)
            out [i * dims + d] /= (float) sqrt (len);
    }
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

//  The exact RECALL_K best slots of each query (queries x RECALL_K into
//  best), one pass over the regenerated vectors with a matrix product.
static void
s_truth (size_t count, int dims, const float *centres, const float *qs, int queries, int64_t *best)
{
    float *batch = malloc ((size_t) BATCH * dims * sizeof *batch);
    float *dots = malloc ((size_t) BATCH * queries * sizeof *dots);
    float *score = malloc ((size_t) queries * RECALL_K * sizeof *score);
    if (!batch || !dots || !score)
        exit (1);
    for (size_t i = 0; i < (size_t) queries * RECALL_K; i++) {
        score [i] = -2;
        best [i] = -1;
    }
    uint64_t state = 1;
    for (size_t at = 0; at < count; at += BATCH) {
        size_t n = count - at < BATCH ? count - at : BATCH;
        s_vectors (&state, centres, n, dims, batch);
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, queries, (int) n, dims,
                     1.0f, qs, dims, batch, dims, 0.0f, dots, (int) n);
        for (int q = 0; q < queries; q++) {
            float *s = score + (size_t) q * RECALL_K;
            int64_t *b = best + (size_t) q * RECALL_K;
            for (size_t i = 0; i < n; i++) {
                float dot = dots [(size_t) q * n + i];
                if (dot <= s [RECALL_K - 1])
                    continue;
                int j = RECALL_K - 1;
                while (j > 0 && s [j - 1] < dot) {
                    s [j] = s [j - 1];
                    b [j] = b [j - 1];
                    j--;
                }
                s [j] = dot;
                b [j] = (int64_t) (at + i);
            }
        }
    }
    free (batch);
    free (dots);
    free (score);
}

//  QUERIES top-TOP searches: prints p50/p99 and recall@10 against truth.
static void
s_measure (search_hnsw_t *index, const char *label, const float *qs, int queries, int dims, const int64_t *truth)
{
    double *ms = malloc (queries * sizeof *ms);
    int64_t slots [TOP];
    float scores [TOP];
    char err [256];
    size_t hits = 0;
    if (!ms)
        exit (1);
    for (int q = 0; q < queries; q++) {
        double s = bench_now_ms ();
        int found = search_hnsw_search (index, qs + (size_t) q * dims, TOP, EF_SEARCH, NULL, NULL,
                                        slots, scores, err, sizeof err);
        ms [q] = bench_now_ms () - s;
        if (found < 0) {
            fprintf (stderr, "mg-hnsw-bench: %s\n", err);
            exit (1);
        }
        for (int k = 0; k < RECALL_K && k < found; k++)
            for (int j = 0; j < RECALL_K; j++)
                hits += slots [k] == truth [(size_t) q * RECALL_K + j];
    }
    qsort (ms, queries, sizeof *ms, s_cmp);
    printf ("%s: top-%d queries=%d p50_ms=%.3f p99_ms=%.3f recall@%d=%.3f (against an exact scan)\n",
            label, TOP, queries, ms [queries / 2], ms [queries * 99 / 100], RECALL_K,
            (double) hits / (queries * (double) RECALL_K));
    free (ms);
}

int
main (int argc, char **argv)
{
    size_t count = argc > 1 ? (size_t) atol (argv [1]) : 100000;
    int dims = argc > 2 ? atoi (argv [2]) : 768;
    int queries = argc > 3 ? atoi (argv [3]) : 200;
    const char *save = argc > 4 ? argv [4] : NULL;
    if (count < 1000 || dims < 2 || queries < 10) {
        fprintf (stderr, "usage: mg-hnsw-bench [COUNT >= 1000 [DIMS >= 2 [QUERIES >= 10 [SAVE_PATH]]]]\n");
        return 1;
    }
    char err [256];
    float *centres = s_centres (dims);
    float *qs = malloc ((size_t) queries * dims * sizeof *qs);
    float *batch = malloc ((size_t) BATCH * dims * sizeof *batch);
    int64_t *truth = malloc ((size_t) queries * RECALL_K * sizeof *truth);
    if (!qs || !batch || !truth)
        return 1;
    uint64_t qstate = 7;
    s_vectors (&qstate, centres, (size_t) queries, dims, qs);
    long rss0 = bench_status_kib ("VmRSS");
    search_hnsw_t *index = search_hnsw_new ((uint32_t) dims, M, EF_CONSTRUCTION, err, sizeof err);
    if (!index) {
        fprintf (stderr, "mg-hnsw-bench: %s\n", err);
        return 1;
    }
    double t0 = bench_now_ms (), gen_ms = 0;
    uint64_t state = 1;
    for (size_t at = 0; at < count; at += BATCH) {
        size_t n = count - at < BATCH ? count - at : BATCH;
        double g = bench_now_ms ();
        s_vectors (&state, centres, n, dims, batch);
        gen_ms += bench_now_ms () - g;
        if (search_hnsw_add (index, batch, n, err, sizeof err)) {
            fprintf (stderr, "mg-hnsw-bench: %s\n", err);
            return 1;
        }
    }
    if (search_hnsw_seal (index, err, sizeof err)) {
        fprintf (stderr, "mg-hnsw-bench: %s\n", err);
        return 1;
    }
    double build_ms = bench_now_ms () - t0 - gen_ms;
    long rss1 = bench_status_kib ("VmRSS");
    printf ("kind=%s vectors=%zu dims=%d build_ms=%.0f (generation excluded) build_threads=%s"
            " index_rss_mib=%ld peak_rss_mib=%ld (float vectors alone: %zu MiB)\n",
            search_hnsw_kind (index), count, dims, build_ms,
            getenv ("MG_SEARCH_BUILD_THREADS") ? getenv ("MG_SEARCH_BUILD_THREADS") : "2",
            (rss1 - rss0) / 1024, bench_status_kib ("VmHWM") / 1024, count * dims * sizeof (float) >> 20);
    fflush (stdout);
    double s = bench_now_ms ();
    s_truth (count, dims, centres, qs, queries, truth);
    printf ("exact top-%d of %d queries in %.0f ms\n", RECALL_K, queries, bench_now_ms () - s);
    s_measure (index, "built", qs, queries, dims, truth);
    if (save) {
        s = bench_now_ms ();
        if (search_hnsw_save (index, save, "bench", err, sizeof err)) {
            fprintf (stderr, "mg-hnsw-bench: %s\n", err);
            return 1;
        }
        double save_ms = bench_now_ms () - s;
        struct stat st;
        long size_mib = stat (save, &st) == 0 ? (long) (st.st_size >> 20) : -1;
        search_hnsw_destroy (&index);
        s = bench_now_ms ();
        if (search_hnsw_load (save, "bench", (uint32_t) dims, &index, err, sizeof err) != 0) {
            fprintf (stderr, "mg-hnsw-bench: cannot read back %s: %s\n", save, err);
            return 1;
        }
        printf ("saved in %.0f ms (%ld MiB), read back in %.0f ms\n", save_ms, size_mib, bench_now_ms () - s);
        s_measure (index, "read back", qs, queries, dims, truth);
    }
    search_hnsw_destroy (&index);
    free (centres);
    free (qs);
    free (batch);
    free (truth);
    return 0;
}
