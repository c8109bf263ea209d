/*  BM25 of the keyword matches without a walk of each phrase's postings
    per query.

    FTS5's bm25 () counts, at the first row of every statement run, the
    rows holding each phrase of the expression (xQueryPhrase): a walk of
    the phrase's whole posting list, so a common word ("the", or the
    prefix "the*") costs a pass over most of the catalog per statement,
    however few matches the query then scores (KEYWORD_TOP). mg_bm25 ()
    computes the same score, term for term the formula of FTS5's bm25
    (k1 1.2, b 0.75, IDF log ((N - n + 0.5) / (n + 0.5)), floored at
    1e-6), but takes each phrase's row count n from its first argument:
    the counts of the expression's phrases in order, which index_idf_bind
    keeps per phrase (and its columns) from one query to the next until
    the index changes. A phrase without a count is counted the way bm25
    () counts it.  */
#include "index_impl.h"
#include "mg_log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BM25_K1      1.2         //  FTS5's bm25 constants (fts5_aux.c)
#define BM25_B       0.75
#define BM25_IDF_MIN 1e-6        //  FTS5's floor of a phrase's IDF
#define IDF_SLOTS    8192        //  phrase counts kept (a power of two); cleared when full
#define IDF_FULL     (IDF_SLOTS * 3 / 4)
#define PHRASE_KEY_MAX 4096      //  bytes of a column filter and one phrase (longer: bm25 () counts)

//  One phrase's count: key is the phrase with the columns it is matched in.
typedef struct {
    uint64_t hash;
    char *key;
    int64_t rows;
} s_idf_slot_t;

struct index_idf_t {
    pthread_mutex_t lock;       //  queries of several lanes share the counts
    s_idf_slot_t slots [IDF_SLOTS];
    size_t used;
};

//  What one statement run's rows share (FTS5 auxdata, as bm25 () keeps).
typedef struct {
    int phrases;
    double avgdl;
    double *idf;
    double *freq;
} s_run_t;

//  xQueryPhrase callback: one more row holds the phrase.
static int
s_count_row (const Fts5ExtensionApi *api, Fts5Context *fts, void *arg)
{
    (void) api;
    (void) fts;
    (*(int64_t *) arg)++;
    return SQLITE_OK;
}

//  Free a run's shared data (FTS5 calls it when the statement run ends).
static void
s_run_free (void *arg)
{
    s_run_t *run = arg;
    if (run) {
        free (run->idf);
        free (run->freq);
        free (run);
    }
}

//  The run's shared data: average row length, each phrase's IDF from the
//  counts blob (bm25's own count where it has none). NULL on error.
static s_run_t *
s_run (const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_value *counts, int *rc)
{
    s_run_t *run = api->xGetAuxdata (fts, 0);
    if (run)
        return run;
    int phrases = api->xPhraseCount (fts);
    sqlite3_int64 rows = 0, tokens = 0;
    run = calloc (1, sizeof *run);
    if (run) {
        run->phrases = phrases;
        run->idf = calloc ((size_t) phrases + 1, sizeof *run->idf);
        run->freq = calloc ((size_t) phrases + 1, sizeof *run->freq);
    }
    if (!run || !run->idf || !run->freq) {
        s_run_free (run);
        *rc = SQLITE_NOMEM;
        return NULL;
    }
    *rc = api->xRowCount (fts, &rows);
    if (*rc == SQLITE_OK)
        *rc = api->xColumnTotalSize (fts, -1, &tokens);
    run->avgdl = (double) tokens / (double) rows;
    const unsigned char *known = sqlite3_value_type (counts) == SQLITE_BLOB ? sqlite3_value_blob (counts) : NULL;
    //  Counts of another number of phrases are not this expression's.
    int have = known ? sqlite3_value_bytes (counts) / (int) sizeof (int64_t) : 0;
    if (have != phrases)
        have = 0;
    for (int i = 0; *rc == SQLITE_OK && i < phrases; i++) {
        int64_t given = -1;
        if (i < have)
            memcpy (&given, known + (size_t) i * sizeof given, sizeof given);     //  a blob need not be aligned
        sqlite3_int64 hits = given;
        if (given < 0) {
            int64_t counted = 0;
            *rc = api->xQueryPhrase (fts, i, &counted, s_count_row);
            hits = counted;
        }
        double idf = log ((rows - hits + 0.5) / (hits + 0.5));
        run->idf [i] = idf <= 0.0 ? BM25_IDF_MIN : idf;
    }
    if (*rc == SQLITE_OK)
        *rc = api->xSetAuxdata (fts, run, s_run_free);
    if (*rc != SQLITE_OK) {
        s_run_free (run);
        return NULL;
    }
    return run;
}

//  SQL mg_bm25 (fts, counts, weight of column 0, weight of column 1, ...):
//  FTS5's bm25 () (negative: smaller is better) with the phrases' row
//  counts given.
static void
s_bm25 (const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int rc = SQLITE_OK;
    s_run_t *run = argc > 0 ? s_run (api, fts, argv [0], &rc) : NULL;
    if (!run) {
        sqlite3_result_error_code (ctx, argc > 0 ? rc : SQLITE_ERROR);
        return;
    }
    memset (run->freq, 0, sizeof *run->freq * (size_t) run->phrases);
    int insts = 0;
    rc = api->xInstCount (fts, &insts);
    for (int i = 0; rc == SQLITE_OK && i < insts; i++) {
        int phrase, column, offset;
        rc = api->xInst (fts, i, &phrase, &column, &offset);
        if (rc == SQLITE_OK)
            run->freq [phrase] += argc - 1 > column ? sqlite3_value_double (argv [column + 1]) : 1.0;
    }
    int tokens = 0;
    if (rc == SQLITE_OK)
        rc = api->xColumnSize (fts, -1, &tokens);
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code (ctx, rc);
        return;
    }
    double score = 0.0;
    for (int i = 0; i < run->phrases; i++)
        score += run->idf [i] * ((run->freq [i] * (BM25_K1 + 1.0))
                               / (run->freq [i] + BM25_K1 * (1 - BM25_B + BM25_B * tokens / run->avgdl)));
    sqlite3_result_double (ctx, -1.0 * score);
}

int
index_bm25_register (sqlite3 *db, index_idf_t **idf_p)
{
    fts5_api *api = NULL;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, "SELECT fts5 (?1)", -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_pointer (stmt, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step (stmt);
    sqlite3_finalize (stmt);
    if (!api || api->xCreateFunction (api, "mg_bm25", NULL, s_bm25, NULL) != SQLITE_OK)
        return -1;
    if (!*idf_p) {
        index_idf_t *idf = calloc (1, sizeof *idf);
        if (!idf || pthread_mutex_init (&idf->lock, NULL)) {
            free (idf);
            return -1;
        }
        *idf_p = idf;
    }
    return 0;
}

//  Forget every count (caller holds the lock).
static void
s_idf_clear (index_idf_t *idf)
{
    for (size_t i = 0; i < IDF_SLOTS; i++) {
        free (idf->slots [i].key);
        idf->slots [i] = (s_idf_slot_t) { 0 };
    }
    idf->used = 0;
}

void
index_idf_clear (index_idf_t *idf)
{
    if (idf) {
        pthread_mutex_lock (&idf->lock);
        s_idf_clear (idf);
        pthread_mutex_unlock (&idf->lock);
    }
}

void
index_idf_destroy (index_idf_t **idf_p)
{
    if (*idf_p) {
        s_idf_clear (*idf_p);
        pthread_mutex_destroy (&(*idf_p)->lock);
        free (*idf_p);
        *idf_p = NULL;
    }
}

//  FNV-1a hash of key, never 0 (0 marks nothing).
static uint64_t
s_hash (const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *key; key++)
        h = (h ^ (uint8_t) *key) * 1099511628211ULL;
    return h ? h : 1;
}

//  The slot of key: its own, or the empty one where it goes.
static s_idf_slot_t *
s_slot (index_idf_t *idf, const char *key, uint64_t hash)
{
    for (size_t at = hash & (IDF_SLOTS - 1);; at = (at + 1) & (IDF_SLOTS - 1)) {
        s_idf_slot_t *slot = &idf->slots [at];
        if (!slot->key || (slot->hash == hash && strcmp (slot->key, key) == 0))
            return slot;
    }
}

//  Rows holding key's phrase in its columns: kept, else counted (a walk
//  of its postings, as bm25 () does) and kept. -1 when it cannot count.
static int64_t
s_rows (search_index_t *self, const char *key)
{
    uint64_t hash = s_hash (key);
    pthread_mutex_lock (&self->idf->lock);
    s_idf_slot_t *slot = s_slot (self->idf, key, hash);
    int64_t rows = slot->key ? slot->rows : -1;
    pthread_mutex_unlock (&self->idf->lock);
    if (rows >= 0)
        return rows;
    sqlite3_stmt *stmt = index_stmt (self, ST_MATCH_COUNT);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_TRANSIENT);        //  key is the caller's buffer
    rows = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : -1;
    sqlite3_reset (stmt);
    if (rows < 0)
        return -1;
    char *copy = strdup (key);
    pthread_mutex_lock (&self->idf->lock);
    if (self->idf->used >= IDF_FULL)
        s_idf_clear (self->idf);
    slot = s_slot (self->idf, key, hash);
    if (!slot->key && copy) {
        *slot = (s_idf_slot_t) { hash, copy, rows };
        self->idf->used++;
        copy = NULL;
    }
    pthread_mutex_unlock (&self->idf->lock);
    free (copy);
    return rows;
}

//  The row counts of match's phrases, in order, into counts (at most
//  MATCH_PHRASES_MAX); their number, 0 for an expression of another shape
//  (left to bm25 ()'s own counts), -1 when one cannot be counted.
static int
s_phrase_rows (search_index_t *self, const char *match, int64_t counts [MATCH_PHRASES_MAX])
{
    //  The expressions are built by index_plan and index_rank: an optional
    //  column filter ending in ':' before the first phrase, then phrases
    //  "words" (a trailing " *": a prefix) joined by AND, OR and
    //  parentheses. Any other shape is left to bm25 ()'s own counts.
    const char *quote = strchr (match, '"');
    const char *colon = quote ? memchr (match, ':', (size_t) (quote - match)) : NULL;
    size_t scope = colon ? (size_t) (colon - match) + 1 : 0;
    if (!quote || (scope && memchr (colon + 1, ':', (size_t) (quote - colon - 1))) || strchr (quote, ':'))
        return 0;
    int n = 0;
    char key [PHRASE_KEY_MAX];
    for (const char *p = quote; p && *p && n < MATCH_PHRASES_MAX; p = strchr (p, '"')) {
        const char *end = strchr (p + 1, '"');
        if (!end)
            return 0;
        bool prefix = strncmp (end + 1, " *", 2) == 0;
        size_t len = (size_t) (end + 1 - p);
        if (scope + len + 3 >= sizeof key)
            return 0;
        memcpy (key, match, scope);
        memcpy (key + scope, p, len);
        memcpy (key + scope + len, prefix ? " *" : "", prefix ? 3 : 1);
        int64_t rows = s_rows (self, key);
        if (rows < 0)
            return -1;
        counts [n++] = rows;
        p = end + 1;
    }
    return n;
}

int
index_idf_bind (search_index_t *self, sqlite3_stmt *stmt, int param, const char *match)
{
    int64_t counts [MATCH_PHRASES_MAX];
    int n = s_phrase_rows (self, match, counts);
    if (n <= 0)
        return n;
    return sqlite3_bind_blob (stmt, param, counts, n * (int) sizeof *counts, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

int64_t
index_idf_rows_max (search_index_t *self, const char *match)
{
    int64_t counts [MATCH_PHRASES_MAX];
    int n = s_phrase_rows (self, match, counts);
    int64_t most = n > 0 ? 0 : -1;
    for (int i = 0; i < n; i++)
        most = counts [i] > most ? counts [i] : most;
    return most;
}
