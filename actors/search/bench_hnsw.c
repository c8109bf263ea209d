/*  mg-hnsw-bench: the vector index at a catalog's scale.

        mg-hnsw-bench [COUNT [DIMS [QUERIES]]]

    COUNT unit vectors of DIMS floats (clustered around random centres, as
    embeddings of a catalog are) go into the HNSW index of the search
    replicas (hnsw.c, index.c's parameters); prints the build time, the
    process's resident memory before and after, then QUERIES searches of
    the 100 nearest (a semantic query's SEMANTIC_TOP) timed against a
    brute-force scan of the same vectors in the same run, with recall@10.  */
#include "hnsw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define M               32          //  index.c HNSW_M
#define EF_CONSTRUCTION 80          //  index.c HNSW_EF_CONSTRUCTION
#define EF_SEARCH       64          //  index.c HNSW_EF_SEARCH
#define TOP             100         //  index.c SEMANTIC_TOP
#define CLUSTERS        200

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

//  Resident set size in KiB (/proc/self/statm).
static long
s_rss_kib (void)
{
    long pages = 0, rss = 0;
    FILE *file = fopen ("/proc/self/statm", "r");
    if (file) {
        if (fscanf (file, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose (file);
    }
    return rss * 4;
}

static double
s_uniform (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double) (*state >> 11) / (double) (1ULL << 52) - 1.0;
}

//  count unit vectors around CLUSTERS centres (centres from seed 42).
static float *
s_vectors (size_t count, int dims, uint64_t seed)
{
    uint64_t state = seed, cstate = 42;
    float *centres = malloc ((size_t) CLUSTERS * dims * sizeof *centres);
    float *out = malloc (count * dims * sizeof *out);
    if (!centres || !out)
        exit (1);
    for (size_t i = 0; i < (size_t) CLUSTERS * dims; i++)
        centres [i] = (float) s_uniform (&cstate);
    for (size_t i = 0; i < count; i++) {
        size_t c = (size_t) ((s_uniform (&state) + 1) / 2 * CLUSTERS) % CLUSTERS;
        double len = 0;
        for (int d = 0; d < dims; d++) {
            float v = centres [c * dims + d] + (float) (0.8 * s_uniform (&state));
            out [i * dims + d] = v;
            len += (double) v * v;
        }
        for (int d = 0; d < dims; d++)
            out [i * dims + d] /= (float) sqrt (len);
    }
    free (centres);
    return out;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
    size_t count = argc > 1 ? (size_t) atol (argv [1]) : 100000;
    int dims = argc > 2 ? atoi (argv [2]) : 768;
    int queries = argc > 3 ? atoi (argv [3]) : 200;
    if (count < 1000 || dims < 2 || queries < 10) {
        fprintf (stderr, "usage: mg-hnsw-bench [COUNT >= 1000 [DIMS >= 2 [QUERIES >= 10]]]\n");
        return 1;
    }
    char err [256];
    float *base = s_vectors (count, dims, 1);
    float *qs = s_vectors ((size_t) queries, dims, 7);
    long rss0 = s_rss_kib ();
    search_hnsw_t *index = search_hnsw_new ((uint32_t) dims, M, EF_CONSTRUCTION, err, sizeof err);
    double t0 = s_now_ms ();
    if (!index || search_hnsw_add (index, base, count, err, sizeof err)) {
        fprintf (stderr, "mg-hnsw-bench: %s\n", err);
        return 1;
    }
    double build_ms = s_now_ms () - t0;
    long rss1 = s_rss_kib ();
    printf ("vectors=%zu dims=%d M=%d efConstruction=%d build_ms=%.0f index_rss_kib=%ld (vectors alone: %zu KiB)\n",
            count, dims, M, EF_CONSTRUCTION, build_ms, rss1 - rss0, count * dims * sizeof (float) / 1024);
    double *hnsw_ms = malloc (queries * sizeof *hnsw_ms), *flat_ms = malloc (queries * sizeof *flat_ms);
    int64_t slots [TOP];
    float scores [TOP];
    float *all = malloc (count * sizeof *all);
    size_t hits = 0;
    for (int q = 0; q < queries; q++) {
        const float *query = qs + (size_t) q * dims;
        double s = s_now_ms ();
        int found = search_hnsw_search (index, query, TOP, EF_SEARCH, NULL, NULL, slots, scores, err, sizeof err);
        hnsw_ms [q] = s_now_ms () - s;
        s = s_now_ms ();
        for (size_t i = 0; i < count; i++) {
            float dot = 0;
            for (int d = 0; d < dims; d++)
                dot += base [i * dims + d] * query [d];
            all [i] = dot;
        }
        //  The true 10 best (the scan's part of the work is the dot products).
        int64_t best [10];
        for (int k = 0; k < 10; k++) {
            size_t arg = 0;
            for (size_t i = 1; i < count; i++)
                if (all [i] > all [arg])
                    arg = i;
            best [k] = (int64_t) arg;
            all [arg] = -2;
        }
        flat_ms [q] = s_now_ms () - s;
        for (int k = 0; k < 10 && k < found; k++)
            for (int j = 0; j < 10; j++)
                hits += slots [k] == best [j];
    }
    qsort (hnsw_ms, queries, sizeof *hnsw_ms, s_cmp);
    qsort (flat_ms, queries, sizeof *flat_ms, s_cmp);
    printf ("top-%d queries=%d efSearch=%d hnsw_p50_ms=%.3f hnsw_p99_ms=%.3f flat_p50_ms=%.3f flat/hnsw=%.1fx recall@10=%.3f\n",
            TOP, queries, EF_SEARCH > TOP ? EF_SEARCH : TOP, hnsw_ms [queries / 2], hnsw_ms [queries * 99 / 100],
            flat_ms [queries / 2], flat_ms [queries / 2] / hnsw_ms [queries / 2], (double) hits / (queries * 10.0));
    search_hnsw_destroy (&index);
    free (base);
    free (qs);
    free (all);
    free (hnsw_ms);
    free (flat_ms);
    return 0;
}
