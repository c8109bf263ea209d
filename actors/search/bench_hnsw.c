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
    replica's path) and searched again.

    Then the same queries with filters, as the replica's semantic side
    runs them (search_nearest, nearest.h, and before it the index's search
    with an exact scan of every slot when starved): each vector has a
    title's filter attributes drawn about as bench/search_gen.py draws them
    (1-3 genres, here uniform over 19, a year of 1920-2024, a rating of
    3-9), independent
    of the vector; the queries cycle through filters of every selectivity
    (none, a genre, a decade, rating >= 8, a genre and a decade, a genre
    and a year, a genre, a year and rating >= 8), never chosen for any
    vector. Per filter: CPU time a query of both ways, alternated query
    by query, recall@10 of each against an exact filtered scan of the
    float vectors, and how often the index was starved.  */
#include "hnsw.h"
#include "nearest.h"
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
#define MIN_COSINE      0.2f        //  index.c SEMANTIC_MIN
#define GENRES          19          //  the bundled catalog's genres
#define FILTERS         7
//  A title's filter attributes, one record a vector read where the filter
//  asks, about the size of the replica's doc table entry (index_doc_t)
//  so that the filter's reads cost what the replica's cost.
#define DOC_BYTES       128

typedef struct {
    uint32_t genres;            //  bit g: genre g
    int16_t year;
    uint8_t rating;             //  tenths
    char pad [DOC_BYTES - 7];
} s_doc_t;

//  One query's filter (kind: s_filter_names) over the records.
typedef struct {
    int kind;
    uint32_t genre;             //  0: any
    int year_from, year_to, min_rating;
    const s_doc_t *docs;
} s_filter_t;

static const char *const s_filter_names [FILTERS] = {
    "none", "a genre", "a decade", "rating >= 8", "a genre, a decade", "a genre, a year",
    "a genre, a year, rating >= 8"
};

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

//  True when doc passes f.
static bool
s_pass (const s_filter_t *f, const s_doc_t *doc)
{
    return (!f->genre || (doc->genres & f->genre)) && doc->year >= f->year_from && doc->year <= f->year_to
        && doc->rating >= f->min_rating;
}

//  search_hnsw_keep_fn over s_filter_t.
static bool
s_keep (void *arg, int64_t slot)
{
    const s_filter_t *f = arg;
    return s_pass (f, &f->docs [slot]);
}

//  search_nearest_filter_t's passing over s_filter_t: the records in order.
static void
s_passing (void *arg, uint64_t *bits, size_t slots)
{
    const s_filter_t *f = arg;
    for (size_t slot = 0; slot < slots; slot++)
        if (s_pass (f, &f->docs [slot]))
            bits [slot / 64] |= (uint64_t) 1 << (slot % 64);
}

//  The exact RECALL_K best slots of each query that its filter (filters
//  NULL: none) passes, and their inner products (queries x RECALL_K into
//  best and score; -1 and -2 where fewer pass), one pass over the
//  regenerated vectors with a matrix product.
static void
s_truth (size_t count, int dims, const float *centres, const float *qs, int queries, const s_filter_t *filters,
         int64_t *best, float *score)
{
    float *batch = malloc ((size_t) BATCH * dims * sizeof *batch);
    float *dots = malloc ((size_t) BATCH * queries * sizeof *dots);
    if (!batch || !dots)
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
                if (dot <= s [RECALL_K - 1] || (filters && !s_keep ((void *) &filters [q], (int64_t) (at + i))))
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
}

//  CPU time of this thread, ms.
static double
s_cpu_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

//  QUERIES top-TOP searches ("ivf-sq8": of probes lists, 0: as configured):
//  prints p50/p99 of the wall and CPU time and recall@10 against truth.
static void
s_measure (search_hnsw_t *index, const char *label, const float *qs, int queries, int dims, const int64_t *truth,
           size_t probes)
{
    double *ms = malloc (queries * sizeof *ms), *cpu = malloc (queries * sizeof *cpu);
    int64_t slots [TOP];
    float scores [TOP];
    char err [256];
    size_t hits = 0;
    if (!ms || !cpu)
        exit (1);
    for (int q = 0; q < queries; q++) {
        double s = bench_now_ms (), c = s_cpu_ms ();
        int found = search_hnsw_search_wide (index, qs + (size_t) q * dims, TOP, EF_SEARCH, probes, NULL, NULL,
                                             slots, scores, err, sizeof err);
        ms [q] = bench_now_ms () - s;
        cpu [q] = s_cpu_ms () - c;
        if (found < 0) {
            fprintf (stderr, "mg-hnsw-bench: %s\n", err);
            exit (1);
        }
        for (int k = 0; k < RECALL_K && k < found; k++)
            for (int j = 0; j < RECALL_K; j++)
                hits += slots [k] == truth [(size_t) q * RECALL_K + j];
    }
    qsort (ms, queries, sizeof *ms, s_cmp);
    qsort (cpu, queries, sizeof *cpu, s_cmp);
    printf ("%s: top-%d queries=%d p50_ms=%.3f p99_ms=%.3f cpu_p50_ms=%.3f cpu_p99_ms=%.3f recall@%d=%.3f"
            " (against an exact scan)\n", label, TOP, queries, ms [queries / 2], ms [queries * 99 / 100],
            cpu [queries / 2], cpu [queries * 99 / 100], RECALL_K, (double) hits / (queries * (double) RECALL_K));
    free (ms);
    free (cpu);
}

//  The replica's semantic side before search_nearest: the index's search
//  (FAISS's own for "ivf-sq8"), and when it found fewer than TOP, all at
//  least MIN_COSINE, a scan of every slot (the filter, then the vector
//  read back). Its count; *starved counts the scans.
static int
s_before (search_hnsw_t *index, const float *query, int dims, s_filter_t *f, int64_t *slots, float *scores,
          size_t *starved)
{
    char err [256];
    int found = search_hnsw_lists (index)
              ? search_hnsw_search_faiss (index, query, TOP, EF_SEARCH, s_keep, f, slots, scores, err, sizeof err)
              : search_hnsw_search (index, query, TOP, EF_SEARCH, s_keep, f, slots, scores, err, sizeof err);
    if (found < 0) {
        fprintf (stderr, "mg-hnsw-bench: %s\n", err);
        exit (1);
    }
    int count = 0;
    while (count < found && scores [count] >= MIN_COSINE)
        count++;
    if (count == TOP || found > count)
        return count;
    (*starved)++;
    float *vec = malloc ((size_t) dims * sizeof *vec);
    if (!vec)
        exit (1);
    size_t held = 0;
    for (size_t slot = 0; slot < search_hnsw_count (index); slot++) {
        if (!s_keep (f, (int64_t) slot) || !search_hnsw_vector (index, (int64_t) slot, vec))
            continue;
        float dot = 0;
        for (int d = 0; d < dims; d++)
            dot += query [d] * vec [d];
        if (dot >= MIN_COSINE)
            search_nearest_offer (slots, scores, &held, TOP, (int64_t) slot, dot);
    }
    free (vec);
    return (int) held;
}

//  Truth entries of query q at least MIN_COSINE that found (count slots) holds.
static size_t
s_recalled (const int64_t *slots, int count, const int64_t *truth, const float *truth_score, int q, size_t *wanted)
{
    size_t hits = 0;
    for (int j = 0; j < RECALL_K; j++) {
        if (truth_score [(size_t) q * RECALL_K + j] < MIN_COSINE)
            continue;
        (*wanted)++;
        for (int i = 0; i < RECALL_K && i < count; i++)
            hits += slots [i] == truth [(size_t) q * RECALL_K + j];
    }
    return hits;
}

//  The queries with their filters both ways, alternated query by query (the
//  first way switching each query): per filter the CPU time a query p50,
//  p99 and mean, recall@10 against truth, and what the starved ones did.
static void
s_filtered (search_hnsw_t *index, const float *qs, int queries, int dims, s_filter_t *filters,
            const int64_t *truth, const float *truth_score)
{
    int per = (queries + FILTERS - 1) / FILTERS;
    double *cpu [2];
    cpu [0] = malloc ((size_t) FILTERS * per * sizeof (double));
    cpu [1] = malloc ((size_t) FILTERS * per * sizeof (double));
    if (!cpu [0] || !cpu [1])
        exit (1);
    int64_t slots [TOP];
    float scores [TOP];
    char err [256];
    printf ("filtered: %d queries, %s way first on alternate queries; CPU ms a query p50/p99/mean,"
            " recall@%d against an exact filtered scan of the float vectors\n", queries, "either", RECALL_K);
    for (int kind = 0; kind < FILTERS; kind++) {
        size_t n = 0, hits [2] = { 0, 0 }, wanted = 0, starved = 0, results [2] = { 0, 0 };
        search_nearest_stats_t stats = { 0 };
        for (int q = kind; q < queries; q += FILTERS, n++) {
            const float *query = qs + (size_t) q * dims;
            for (int turn = 0; turn < 2; turn++) {
                int way = (turn + q / FILTERS) % 2;        //  0: before, 1: search_nearest
                double start = s_cpu_ms ();
                int count = way == 0 ? s_before (index, query, dims, &filters [q], slots, scores, &starved)
                          : search_nearest (index, query, (uint32_t) dims, TOP, EF_SEARCH, MIN_COSINE,
                                            &(search_nearest_filter_t) { s_keep, s_passing, &filters [q] },
                                            slots, scores, &stats, err, sizeof err);
                cpu [way][n] = s_cpu_ms () - start;
                if (count < 0) {
                    fprintf (stderr, "mg-hnsw-bench: %s\n", err);
                    exit (1);
                }
                size_t w = 0;
                hits [way] += s_recalled (slots, count, truth, truth_score, q, &w);
                wanted += way == 0 ? w : 0;
                results [way] += (size_t) count;
            }
        }
        for (int way = 0; way < 2; way++)
            qsort (cpu [way], n, sizeof (double), s_cmp);
        double mean [2] = { 0, 0 };
        for (size_t i = 0; i < n; i++)
            for (int way = 0; way < 2; way++)
                mean [way] += cpu [way][i] / (double) n;
        printf ("  %-28s n=%zu  before: %.2f/%.2f/%.2f ms recall %.3f starved %zu  |"
                "  search_nearest: %.2f/%.2f/%.2f ms recall %.3f further %zu exact %zu (%.0f vectors a query)"
                "  results a query %.1f / %.1f\n",
                s_filter_names [kind], n, cpu [0][n / 2], cpu [0][n * 99 / 100], mean [0],
                wanted ? (double) hits [0] / (double) wanted : 1.0, starved,
                cpu [1][n / 2], cpu [1][n * 99 / 100], mean [1], wanted ? (double) hits [1] / (double) wanted : 1.0,
                stats.widened, stats.exact, (double) stats.scanned / (double) n,
                (double) results [0] / (double) n, (double) results [1] / (double) n);
        fflush (stdout);
    }
    free (cpu [0]);
    free (cpu [1]);
}

//  count records as bench/search_gen.py draws a title's attributes (seed 11).
static s_doc_t *
s_docs (size_t count)
{
    s_doc_t *docs = calloc (count, sizeof *docs);
    if (!docs)
        exit (1);
    uint64_t state = 11;
    for (size_t i = 0; i < count; i++) {
        int genres = 1 + (int) ((s_uniform (&state) + 1) / 2 * 3) % 3;
        while (__builtin_popcount (docs [i].genres) < genres)
            docs [i].genres |= (uint32_t) 1 << ((int) ((s_uniform (&state) + 1) / 2 * GENRES) % GENRES);
        docs [i].year = (int16_t) (1920 + (int) ((s_uniform (&state) + 1) / 2 * 105) % 105);
        docs [i].rating = (uint8_t) (30 + (int) ((s_uniform (&state) + 1) / 2 * 61) % 61);
    }
    return docs;
}

//  Query q's filter: kind q % FILTERS, its genre, decade or year drawn (seed 13).
static void
s_filters (s_filter_t *filters, int queries, const s_doc_t *docs)
{
    uint64_t state = 13;
    for (int q = 0; q < queries; q++) {
        int kind = q % FILTERS;
        uint32_t genre = (uint32_t) 1 << ((int) ((s_uniform (&state) + 1) / 2 * GENRES) % GENRES);
        int decade = 1920 + 10 * ((int) ((s_uniform (&state) + 1) / 2 * 10) % 10);
        int year = 1920 + (int) ((s_uniform (&state) + 1) / 2 * 105) % 105;
        s_filter_t f = { .kind = kind, .year_from = 0, .year_to = 9999, .docs = docs };
        f.genre = kind == 1 || kind >= 4 ? genre : 0;
        if (kind == 2 || kind == 4) {
            f.year_from = decade;
            f.year_to = decade + 9;
        }
        if (kind >= 5)
            f.year_from = f.year_to = year;
        f.min_rating = kind == 3 || kind == 6 ? 80 : 0;
        filters [q] = f;
    }
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
    float *truth_score = malloc ((size_t) queries * RECALL_K * sizeof *truth_score);
    s_filter_t *filters = malloc ((size_t) queries * sizeof *filters);
    if (!qs || !batch || !truth || !truth_score || !filters)
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
    s_truth (count, dims, centres, qs, queries, NULL, truth, truth_score);
    printf ("exact top-%d of %d queries in %.0f ms\n", RECALL_K, queries, bench_now_ms () - s);
    s_measure (index, "built", qs, queries, dims, truth, 0);
    //  MG_BENCH_PROBES: more ivf-sq8 searches, each of that many lists.
    const char *more = getenv ("MG_BENCH_PROBES");
    for (char *end; more && *more; more = end) {
        long probes = strtol (more, &end, 10);
        if (end == more || probes <= 0)
            break;
        char label [64];
        snprintf (label, sizeof label, "built, %ld lists probed", probes);
        s_measure (index, label, qs, queries, dims, truth, (size_t) probes);
    }
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
        s_measure (index, "read back", qs, queries, dims, truth, 0);
    }
    s_doc_t *docs = s_docs (count);
    s_filters (filters, queries, docs);
    s = bench_now_ms ();
    s_truth (count, dims, centres, qs, queries, filters, truth, truth_score);
    printf ("exact filtered top-%d of %d queries in %.0f ms\n", RECALL_K, queries, bench_now_ms () - s);
    s_filtered (index, qs, queries, dims, filters, truth, truth_score);
    search_hnsw_destroy (&index);
    free (docs);
    free (filters);
    free (truth_score);
    free (centres);
    free (qs);
    free (batch);
    free (truth);
    return 0;
}
