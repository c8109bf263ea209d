/*  mg-embed-train: builds the LSA model of the search replicas from the
    catalog in PostgreSQL (or, with --from FILE, from a file of source
    records in JSON Lines, as data/catalog.jsonl and bench/search_gen.py
    write them) and writes it to MG_EMBED_MODEL (or --out). --every K
    trains on every K-th title only: a model of a large catalog from an
    even sample of it (the vocabulary and its directions; every title is
    still embedded by the replicas).

    TF-IDF: a title's words with their field weights (lsa.c), sublinear tf
    (1 + ln tf), smoothed idf (ln ((1 + N) / (1 + df)) + 1), rows of unit
    length; words held by fewer than MIN_DF titles or more than MAX_DF_SHARE
    of them are dropped. Truncated SVD by a randomized range finder
    (Halko, Martinsson, Tropp 2011): Y = X Omega with OVERSAMPLE extra
    columns, POWER_ITERATIONS rounds of Q = orth (X X^T Q), then the
    eigenvectors of (X^T Q)^T (X^T Q) (dsyevr) give the top right singular
    vectors V_k = X^T Q U / sigma. The model's projection is
    V_k Sigma_k^(p - 1): a title and a query are both tfidf . projection
    (a title's row of U_k Sigma_k^p), compared by cosine.  */
#include "mg_lsa.h"
#include "record.h"
#include "mg_text.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIMS_DEFAULT      768   //  LSA dimensions (--dims): the vectors' 768 (docs/embedder.md)
#define OVERSAMPLE        40    //  extra random directions of the range finder
#define POWER_ITERATIONS  3     //  sharpen the spectrum of a slowly decaying TF-IDF matrix
#define MIN_DF            2     //  a word of one title tells nothing about any other
#define MAX_DF_SHARE      0.5   //  a word in half the titles is a stop word
//  A title's vector is its row of U_k Sigma_k^p (a query's: its fold-in).
//  p = 1 is plain LSA; p < 1 flattens the spectrum so that the first few
//  dimensions (the catalog's broadest themes) weigh less against the
//  specific ones (Caron 2001; Bullinaria and Levy 2012).
#define SIGMA_POWER_DEFAULT 0.5   //  measured better than 1 (docs/benchmarks.md)
#define BIGRAMS_DEFAULT     true    //  pairs of adjacent words as terms too (--no-bigrams: words only)
#define FIELD_BYTES         (64 * 1024) //  a record's joined keywords or genres (a title's are far fewer)
#define ROWS_FIRST          4096        //  titles' row starts allocated first; doubled as needed

static const char s_sql [] =
    "SELECT c.title, c.original_title, "
    "  (SELECT string_agg (t.title, E'\\n') FROM content_titles t WHERE t.content_id = c.id "
    "   AND t.title <> c.title AND t.title IS DISTINCT FROM c.original_title), "
    "  c.tagline, array_to_string (c.keywords, E'\\n'), c.overview, "
    "  (SELECT string_agg (g.slug, ',' ORDER BY g.id) FROM content_genres cg JOIN genres g ON g.id = cg.genre_id "
    "   WHERE cg.content_id = c.id) "
    "FROM content c ORDER BY c.id";

//  Words seen so far: open addressing over a power-of-two table.
typedef struct {
    char **words;
    uint32_t *slots;            //  index + 1, 0 = empty
    size_t count, room, slots_room;
    uint32_t *df;
} s_words_t;

static uint64_t
s_hash (const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211ull;
    return h;
}

//  Index of word, added when new; -1 when out of memory.
static long
s_words_index (s_words_t *w, const char *word)
{
    if ((w->count + 1) * 2 > w->slots_room) {
        size_t room = w->slots_room ? w->slots_room * 2 : 1 << 16;
        uint32_t *slots = calloc (room, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < w->count; i++) {
            size_t at = s_hash (w->words [i]) & (room - 1);
            while (slots [at])
                at = (at + 1) & (room - 1);
            slots [at] = (uint32_t) i + 1;
        }
        free (w->slots);
        w->slots = slots;
        w->slots_room = room;
    }
    size_t at = s_hash (word) & (w->slots_room - 1);
    while (w->slots [at]) {
        if (strcmp (w->words [w->slots [at] - 1], word) == 0)
            return w->slots [at] - 1;
        at = (at + 1) & (w->slots_room - 1);
    }
    if (w->count == w->room) {
        size_t room = w->room ? w->room * 2 : 1 << 15;
        char **words = realloc (w->words, room * sizeof *words);
        if (words)
            w->words = words;
        uint32_t *df = words ? realloc (w->df, room * sizeof *df) : NULL;
        if (!df)
            return -1;
        w->df = df;
        w->room = room;
    }
    w->words [w->count] = strdup (word);
    if (!w->words [w->count])
        return -1;
    w->df [w->count] = 0;
    w->slots [at] = (uint32_t) w->count + 1;
    return (long) w->count++;
}

//  One title's words while reading it, by word index.
typedef struct {
    s_words_t *words;
    mg_lsa_bag_t terms;
    bool bigrams;               //  keep pairs of words ("word word") as terms
} s_pairs_t;

static int
s_pairs_add (void *arg, const char *term, double weight)
{
    s_pairs_t *p = arg;
    if (!p->bigrams && strchr (term, ' '))
        return 0;
    long i = s_words_index (p->words, term);
    return i < 0 ? -1 : mg_lsa_bag_add (&p->terms, 0, (uint32_t) i, weight, NULL);
}

//  The sparse matrix: rows of (column, value).
typedef struct {
    size_t rows, cols, nnz, room;
    size_t *start;              //  rows + 1
    uint32_t *col;
    double *val;
} s_csr_t;

//  Orthonormal basis of the columns of a (m x n, row-major) in place.
static int
s_orth (double *a, int m, int n)
{
    double *tau = malloc ((size_t) n * sizeof *tau);
    int rc = !tau || LAPACKE_dgeqrf (LAPACK_ROW_MAJOR, m, n, a, n, tau)
                  || LAPACKE_dorgqr (LAPACK_ROW_MAJOR, m, n, n, a, n, tau) ? -1 : 0;
    free (tau);
    return rc;
}

//  out (rows x l) = X . b (cols x l).
static void
s_mul (const s_csr_t *x, const double *b, size_t l, double *out)
{
    memset (out, 0, x->rows * l * sizeof *out);
    for (size_t r = 0; r < x->rows; r++)
        for (size_t k = x->start [r]; k < x->start [r + 1]; k++)
            cblas_daxpy ((int) l, x->val [k], b + (size_t) x->col [k] * l, 1, out + r * l, 1);
}

//  out (cols x l) = X^T . b (rows x l).
static void
s_mul_t (const s_csr_t *x, const double *b, size_t l, double *out)
{
    memset (out, 0, x->cols * l * sizeof *out);
    for (size_t r = 0; r < x->rows; r++)
        for (size_t k = x->start [r]; k < x->start [r + 1]; k++)
            cblas_daxpy ((int) l, x->val [k], b + r * l, 1, out + (size_t) x->col [k] * l, 1);
}

static int
s_by_word (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  A standard normal deviate (Box-Muller) from a seeded generator.
static double
s_gauss (unsigned *seed)
{
    double u = (rand_r (seed) + 1.0) / ((double) RAND_MAX + 2.0);
    double v = (rand_r (seed) + 1.0) / ((double) RAND_MAX + 2.0);
    return sqrt (-2 * log (u)) * cos (2 * M_PI * v);
}

//  The catalog's titles one at a time: the rows of s_sql, or the lines of
//  a source-record file; every every-th of them.
typedef struct {
    PGresult *res;              //  rows, or NULL
    size_t row;
    FILE *file;                 //  lines, or NULL
    const char *path;
    char *line;
    size_t line_room, line_no;
    json_t *rec;                //  the record of the last line read
    char keywords [FIELD_BYTES], genres [FIELD_BYTES];
    size_t every;
} s_source_t;

//  The next title into doc, valid until the next call: 1, 0 at the end, or
//  -1 (a line that is not a JSON object, or a read error; logged).
static int
s_source_next (s_source_t *src, mg_doc_t *doc)
{
    if (src->res) {
        size_t rows = (size_t) PQntuples (src->res);
        if (src->row >= rows)
            return 0;
        int r = (int) src->row;
        src->row += src->every;
        #define COL(c) (PQgetisnull (src->res, r, c) ? NULL : PQgetvalue (src->res, r, c))
        *doc = (mg_doc_t) {
            .title = COL (0), .original_title = COL (1), .alternates = COL (2), .tagline = COL (3),
            .keywords = COL (4), .overview = COL (5), .genres = COL (6)
        };
        #undef COL
        return 1;
    }
    json_decref (src->rec);
    src->rec = NULL;
    for (;;) {
        errno = 0;
        ssize_t len = getline (&src->line, &src->line_room, src->file);
        if (len < 0) {
            if (errno) {
                mg_error ("cannot read the catalog file", "path=%s error=\"%s\"", src->path, strerror (errno));
                return -1;
            }
            return 0;
        }
        if (src->line_no++ % src->every == 0)
            break;
    }
    json_error_t jerr;
    src->rec = json_loads (src->line, 0, &jerr);
    if (!json_is_object (src->rec)) {
        mg_error ("not a JSON object", "path=%s line=%zu reason=\"%s\"", src->path, src->line_no,
                  src->rec ? "not an object" : jerr.text);
        return -1;
    }
    json_t *rec = src->rec;
    *doc = (mg_doc_t) {
        .title = json_string_value (json_object_get (rec, "title")),
        .original_title = json_string_value (json_object_get (rec, "original_title")),
        .tagline = json_string_value (json_object_get (rec, "tagline")),
        .keywords = search_record_join (json_object_get (rec, "keywords"), NULL, src->keywords, sizeof src->keywords),
        .overview = json_string_value (json_object_get (rec, "overview")),
        .genres = search_record_genres (rec, src->genres, sizeof src->genres)
    };
    return 1;
}

//  Open the titles of file (NULL: the catalog in PostgreSQL) into src. 0 or -1 (logged).
static int
s_source_open (s_source_t *src, const char *file, size_t every)
{
    *src = (s_source_t) { .every = every, .path = file };
    if (file) {
        src->file = fopen (file, "r");
        if (!src->file)
            mg_error ("cannot open the catalog file", "path=%s error=\"%s\"", file, strerror (errno));
        return src->file ? 0 : -1;
    }
    char reason [512] = "";
    PGconn *pg = mg_pg_connect_long (mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway"),
                                reason, sizeof reason);
    if (!pg) {
        mg_error ("cannot connect to PostgreSQL", "reason=\"%s\"", reason);
        return -1;
    }
    src->res = PQexec (pg, s_sql);
    int rc = 0;
    if (PQresultStatus (src->res) != PGRES_TUPLES_OK) {
        mg_error ("cannot read the catalog", "reason=\"%s\"", PQresultErrorMessage (src->res));
        PQclear (src->res);
        src->res = NULL;
        rc = -1;
    }
    PQfinish (pg);
    return rc;
}

static void
s_source_close (s_source_t *src)
{
    PQclear (src->res);
    json_decref (src->rec);
    free (src->line);
    if (src->file)
        fclose (src->file);
    *src = (s_source_t) { 0 };
}

int
main (int argc, char *argv [])
{
    mg_log_init ("embed-train");
    const char *out = mg_config_str ("MG_EMBED_MODEL", "var/lsa.model");
    long dims = DIMS_DEFAULT;
    double sigma_power = SIGMA_POWER_DEFAULT;
    bool bigrams = BIGRAMS_DEFAULT;
    const char *from = NULL;
    long every = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--out") == 0 && i + 1 < argc)
            out = argv [++i];
        else
        if (strcmp (argv [i], "--dims") == 0 && i + 1 < argc)
            dims = strtol (argv [++i], NULL, 10);
        else
        if (strcmp (argv [i], "--sigma-power") == 0 && i + 1 < argc)
            sigma_power = strtod (argv [++i], NULL);
        else
        if (strcmp (argv [i], "--bigrams") == 0 || strcmp (argv [i], "--no-bigrams") == 0)
            bigrams = argv [i][2] == 'b';
        else
        if (strcmp (argv [i], "--from") == 0 && i + 1 < argc)
            from = argv [++i];
        else
        if (strcmp (argv [i], "--every") == 0 && i + 1 < argc)
            every = strtol (argv [++i], NULL, 10);
        else {
            fprintf (stderr, "usage: mg-embed-train [--dims N] [--sigma-power P] [--bigrams|--no-bigrams] [--out PATH]\n"
                             "                      [--from FILE.jsonl] [--every K]\n"
                             "  builds the LSA model of mg-search from the catalog (MG_PG_URL), or from a file\n"
                             "  of source records (JSON Lines); --every K: from every K-th title only\n");
            return EXIT_FAILURE;
        }
    }
    if (every < 1 || every > 1000000) {
        fprintf (stderr, "mg-embed-train: --every must be 1-1000000\n");
        return EXIT_FAILURE;
    }
    if (dims < 2 || dims > 2048) {
        fprintf (stderr, "mg-embed-train: --dims must be 2-2048\n");
        return EXIT_FAILURE;
    }
    if (!(sigma_power >= 0 && sigma_power <= 2)) {
        fprintf (stderr, "mg-embed-train: --sigma-power must be 0-2\n");
        return EXIT_FAILURE;
    }
    struct timespec t0;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    char reason [512] = "";
    static s_source_t src;      //  its buffers are large: not on the stack
    if (s_source_open (&src, from, (size_t) every))
        return EXIT_FAILURE;
    size_t n = 0;
    s_words_t words = { 0 };
    s_pairs_t pairs = { .words = &words, .bigrams = bigrams };
    //  Per title: its words and their weights; all titles' rows in one bag.
    size_t rows_room = ROWS_FIRST;
    size_t *row_start = malloc (rows_room * sizeof *row_start);
    mg_lsa_bag_t all = { 0 };
    int rc = row_start ? 0 : -1;
    mg_doc_t doc;
    int got = 0;
    while (rc == 0 && (got = s_source_next (&src, &doc)) == 1) {
        if (n + 2 > rows_room) {
            size_t *grown = realloc (row_start, 2 * rows_room * sizeof *row_start);
            if (!grown) {
                rc = -1;
                break;
            }
            row_start = grown;
            rows_room *= 2;
        }
        pairs.terms.count = 0;
        rc = mg_lsa_doc_terms (&doc, s_pairs_add, &pairs);
        row_start [n] = all.count;
        for (size_t i = 0; rc == 0 && i < pairs.terms.count; i++) {
            bool added;
            rc = mg_lsa_bag_add (&all, row_start [n], pairs.terms.index [i], pairs.terms.tf [i], &added);
            if (rc == 0 && added)
                words.df [pairs.terms.index [i]]++;
        }
        n++;
    }
    if (got < 0) {
        snprintf (reason, sizeof reason, "the catalog could not be read");
        rc = -1;
    }
    s_source_close (&src);
    if (row_start)
        row_start [n] = all.count;
    mg_lsa_bag_free (&pairs.terms);
    //  Kept words, in byte order (the model's binary search), and their columns.
    uint32_t *column = rc == 0 ? malloc ((words.count ? words.count : 1) * sizeof *column) : NULL;
    char **kept = rc == 0 ? malloc ((words.count ? words.count : 1) * sizeof *kept) : NULL;
    size_t cols = 0;
    if (!column || !kept)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < words.count; i++)
        if (words.df [i] >= MIN_DF && words.df [i] <= MAX_DF_SHARE * (double) n)
            kept [cols++] = words.words [i];
    if (rc == 0 && cols)
        qsort (kept, cols, sizeof *kept, s_by_word);
    float *idf = rc == 0 ? malloc ((cols ? cols : 1) * sizeof *idf) : NULL;
    for (size_t i = 0; rc == 0 && i < words.count; i++)
        column [i] = UINT32_MAX;
    for (size_t c = 0; idf && c < cols; c++) {
        long i = s_words_index (&words, kept [c]);
        column [i] = (uint32_t) c;
        idf [c] = (float) (log ((1.0 + (double) n) / (1.0 + words.df [i])) + 1);
    }
    if (!idf)
        rc = -1;
    //  X: rows of unit length.
    s_csr_t x = { .rows = n, .cols = cols };
    x.start = rc == 0 ? calloc (n + 1, sizeof *x.start) : NULL;
    x.col = rc == 0 ? malloc ((all.count ? all.count : 1) * sizeof *x.col) : NULL;
    x.val = rc == 0 ? malloc ((all.count ? all.count : 1) * sizeof *x.val) : NULL;
    if (!x.start || !x.col || !x.val)
        rc = -1;
    for (size_t r = 0; rc == 0 && r < n; r++) {
        x.start [r] = x.nnz;
        double norm = 0;
        size_t first = x.nnz;
        for (size_t k = row_start [r]; k < row_start [r + 1]; k++) {
            uint32_t c = column [all.index [k]];
            if (c == UINT32_MAX)
                continue;
            x.col [x.nnz] = c;
            x.val [x.nnz] = (1 + log (all.tf [k])) * idf [c];
            norm += x.val [x.nnz] * x.val [x.nnz];
            x.nnz++;
        }
        for (size_t k = first; norm > 0 && k < x.nnz; k++)
            x.val [k] /= sqrt (norm);
    }
    if (rc == 0)
        x.start [n] = x.nnz;
    mg_lsa_bag_free (&all);
    free (row_start);
    size_t k = (size_t) dims;
    if (rc == 0 && (k >= n || k >= cols)) {
        mg_error ("too few titles or words for the dimensions asked", "titles=%zu words=%zu dims=%zu", n, cols, k);
        rc = -1;
    }
    size_t l = k + OVERSAMPLE < n && k + OVERSAMPLE < cols ? k + OVERSAMPLE : k;
    double *omega = rc == 0 ? malloc (cols * l * sizeof *omega) : NULL;
    double *y = rc == 0 ? malloc (n * l * sizeof *y) : NULL;
    double *g = rc == 0 ? malloc (l * l * sizeof *g) : NULL;
    double *ev = rc == 0 ? malloc (l * sizeof *ev) : NULL;
    double *u = rc == 0 ? malloc (l * l * sizeof *u) : NULL;
    float *proj = rc == 0 ? malloc (cols * k * sizeof *proj) : NULL;
    if (rc == 0 && (!omega || !y || !g || !ev || !u || !proj))
        rc = -1;
    unsigned seed = 20260101;
    for (size_t i = 0; rc == 0 && i < cols * l; i++)
        omega [i] = s_gauss (&seed);
    if (rc == 0) {
        s_mul (&x, omega, l, y);
        rc = s_orth (y, (int) n, (int) l);
    }
    for (int it = 0; rc == 0 && it < POWER_ITERATIONS; it++) {
        s_mul_t (&x, y, l, omega);
        rc = s_orth (omega, (int) cols, (int) l);
        if (rc == 0) {
            s_mul (&x, omega, l, y);
            rc = s_orth (y, (int) n, (int) l);
        }
    }
    //  Z = X^T Q (in omega); G = Z^T Z; its top k eigenvectors U; V_k = Z U / sigma.
    int found = 0;
    if (rc == 0) {
        s_mul_t (&x, y, l, omega);
        cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) l, (int) l, (int) cols, 1.0,
                     omega, (int) l, omega, (int) l, 0.0, g, (int) l);
        int *isuppz = malloc (2 * l * sizeof *isuppz);
        rc = !isuppz || LAPACKE_dsyevr (LAPACK_ROW_MAJOR, 'V', 'A', 'U', (int) l, g, (int) l, 0, 0, 0, 0, 0,
                                         &found, ev, u, (int) l, isuppz) ? -1 : 0;
        free (isuppz);
    }
    if (rc == 0 && (size_t) found < k)
        rc = -1;
    //  Eigenvalues ascend: column j of the projection is eigenvector l - 1 - j.
    double *top = rc == 0 ? malloc (l * k * sizeof *top) : NULL;
    double *vk = rc == 0 ? malloc (cols * k * sizeof *vk) : NULL;
    if (rc == 0 && (!top || !vk))
        rc = -1;
    for (size_t m = 0; rc == 0 && m < l; m++)
        for (size_t j = 0; j < k; j++) {
            size_t e = l - 1 - j;
            double sigma = ev [e] > 0 ? sqrt (ev [e]) : 0;
            top [m * k + j] = sigma > 0 ? u [m * l + e] * pow (sigma, sigma_power - 2) : 0;
        }
    if (rc == 0)
        cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) cols, (int) k, (int) l, 1.0,
                     omega, (int) l, top, (int) k, 0.0, vk, (int) k);
    for (size_t i = 0; rc == 0 && i < cols * k; i++)
        proj [i] = (float) vk [i];
    free (top);
    free (vk);
    if (rc == 0)
        rc = mg_lsa_write (out, kept, idf, proj, (uint32_t) cols, (uint32_t) k, reason, sizeof reason);
    struct timespec t1;
    clock_gettime (CLOCK_MONOTONIC, &t1);
    if (rc == 0)
        mg_info ("LSA model written", "path=%s titles=%zu words=%zu dims=%zu nnz=%zu took_ms=%.0f", out, n, cols, k,
                 x.nnz, (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
    else
        mg_error ("training failed", "reason=\"%s\"", *reason ? reason : "out of memory or LAPACK error");
    for (size_t i = 0; i < words.count; i++)
        free (words.words [i]);
    free (words.words);
    free (words.slots);
    free (words.df);
    free (column);
    free (kept);
    free (idf);
    free (x.start);
    free (x.col);
    free (x.val);
    free (omega);
    free (y);
    free (g);
    free (ev);
    free (u);
    free (proj);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
