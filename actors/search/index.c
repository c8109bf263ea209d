/*  The in-memory search index (SQLite + FTS5) and its ranking.

    Retrieval: each query word becomes a group "word OR typo candidates
    (OR word* for the last word)"; the groups are ANDed, as Meilisearch and
    Typesense do: an AND is both more precise and far cheaper than an OR,
    because FTS5 scores every match and has no top-k pruning. When fewer
    than DROP_THRESHOLD titles match all words, titles matching any word
    are added after them (drop_tokens).

    Ranking of the matches: field-weighted BM25 (title highest), normalised
    by the best BM25 of the query, plus a title similarity (text.c) that
    rewards a title the query spells out, plus a small popularity prior that
    breaks near-ties towards the title people mean (remakes, sequels).  */
#include "index.h"
#include "text.h"
#include "vocab.h"
#include "mg_log.h"

#include <assert.h>
#include <stdarg.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  BM25 weights of the FTS5 columns: title, alt (original and other
//  titles), tagline, keywords, overview, cast.
#define W_TITLE      10.0
#define W_ALT         6.0
#define W_TAGLINE     4.0
#define W_KEYWORDS    5.0
#define W_OVERVIEW    1.0
#define W_CAST        2.0
#define TITLE_WEIGHT  1.0      //  title similarity (0-1.5) against BM25 normalised to 0-1
#define POP_WEIGHT    0.1      //  popularity prior, log-scaled to 0-1
#define DROP_THRESHOLD 20      //  fewer AND matches than this -> add OR matches after them
#define RERANK_MAX    400      //  best-BM25 matches of each tier given the title similarity
#define CANDIDATES_MAX 6       //  typo candidates per query word
#define TYPO_SKIP_DOCS 40      //  a word this many titles hold is a word, not a typo
#define LONG_QUERY_WORDS 4     //  longer queries look for typos in unknown words only
#define GENRES_MAX    64       //  canonical genre slugs remembered
#define MATCH_MAX     (64 * 1024)  //  bytes of an FTS5 match expression

struct search_index_t {
    sqlite3 *db;
    search_vocab_t *vocab;
    bool vocab_dirty;
    double pop_max;
    char *genres [GENRES_MAX];
    size_t genres_count;
};

typedef struct {
    int64_t rowid;
    int tier;                  //  0: every word matched, 1: some
    double bm25, title, score, popularity, rating;
    bool has_rating;
    char release [12];
    int typos;
    int keyword_rank;
} s_hit_t;

static const char s_schema [] =
    "PRAGMA journal_mode = OFF;"
    "PRAGMA synchronous = OFF;"
    "CREATE TABLE docs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, "
    "  year INTEGER, popularity REAL NOT NULL, rating REAL, release TEXT, titles TEXT NOT NULL, "
    "  title TEXT NOT NULL, cast_names TEXT NOT NULL, item TEXT NOT NULL);"
    "CREATE TABLE doc_genres (doc INTEGER NOT NULL, slug TEXT NOT NULL);"
    "CREATE INDEX doc_genres_doc ON doc_genres (doc);"
    "CREATE TABLE doc_offers (doc INTEGER NOT NULL, platform TEXT NOT NULL, region TEXT NOT NULL, "
    "  expires INTEGER NOT NULL);"
    "CREATE INDEX doc_offers_doc ON doc_offers (doc);"
    "CREATE VIRTUAL TABLE fts USING fts5 (title, alt, tagline, keywords, overview, cast_names, "
    "  tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3', detail = full);"
    "CREATE VIRTUAL TABLE vocab USING fts5vocab (fts, row);"
    "CREATE TEMP TABLE hits (doc INTEGER PRIMARY KEY);";

//  Fill err with the database's last error; returns -1.
static int
s_fail (search_index_t *self, char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf (err, errlen, "%s: %s", what, sqlite3_errmsg (self->db));
    return -1;
}

search_index_t *
search_index_new (char *err, size_t errlen)
{
    search_index_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->vocab_dirty = true;
    if (sqlite3_open_v2 (":memory:", &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK
    ||  sqlite3_exec (self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK) {
        s_fail (self, err, errlen, "cannot create the index");
        search_index_destroy (&self);
        return NULL;
    }
    return self;
}

void
search_index_destroy (search_index_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        search_index_t *self = *self_p;
        sqlite3_close (self->db);
        search_vocab_destroy (&self->vocab);
        for (size_t i = 0; i < self->genres_count; i++)
            free (self->genres [i]);
        free (self);
        *self_p = NULL;
    }
}

int
search_index_begin (search_index_t *self)
{
    assert (self);
    return sqlite3_exec (self->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
search_index_commit (search_index_t *self)
{
    assert (self);
    return sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

//  Prepare sql; NULL (logged) on failure.
static sqlite3_stmt *
s_prepare (search_index_t *self, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        mg_error ("search index statement failed", "error=\"%s\"", sqlite3_errmsg (self->db));
        return NULL;
    }
    return stmt;
}

//  Step a statement that returns no rows, then finalize it. Returns 0 or -1.
static int
s_run (search_index_t *self, sqlite3_stmt *stmt)
{
    int rc = stmt ? sqlite3_step (stmt) : SQLITE_ERROR;
    if (stmt && rc != SQLITE_DONE)
        mg_error ("search index write failed", "error=\"%s\"", sqlite3_errmsg (self->db));
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

//  Normalised form of a '\n'-separated list (each item normalised, items
//  joined by spaces). Caller frees; NULL when out of memory.
static char *
s_norm (const char *text)
{
    return search_text_normalize (text ? text : "", text ? strlen (text) : 0);
}

//  Normalised titles, one per line: title, original title, alternates.
static char *
s_titles (const search_doc_t *doc)
{
    const char *parts [3] = { doc->title, doc->original_title, doc->alternates };
    size_t room = 4;
    for (int i = 0; i < 3; i++)
        room += (parts [i] ? strlen (parts [i]) * 2 : 0) + 2;
    char *out = malloc (room);
    if (!out)
        return NULL;
    size_t used = 0;
    for (int i = 0; i < 3; i++) {
        const char *p = parts [i];
        while (p && *p) {
            const char *end = strchr (p, '\n');
            size_t len = end ? (size_t) (end - p) : strlen (p);
            char *norm = search_text_normalize (p, len);
            if (!norm) {
                free (out);
                return NULL;
            }
            size_t nlen = strlen (norm);
            if (nlen && used + nlen + 2 <= room) {
                if (used)
                    out [used++] = '\n';
                memcpy (out + used, norm, nlen);
                used += nlen;
            }
            free (norm);
            p = end ? end + 1 : p + len;
        }
    }
    out [used] = '\0';
    return out;
}

int
search_index_put (search_index_t *self, const search_doc_t *doc)
{
    assert (self && doc && doc->id && doc->title && doc->hit_json);
    if (search_index_remove (self, doc->id))
        return -1;
    char *titles = s_titles (doc);
    char *cols [6] = {
        s_norm (doc->title), NULL, s_norm (doc->tagline), s_norm (doc->keywords),
        s_norm (doc->overview), s_norm (doc->cast)
    };
    //  alt: every title but the first line of titles (the title itself).
    const char *nl = titles ? strchr (titles, '\n') : NULL;
    cols [1] = strdup (nl ? nl + 1 : "");
    int rc = -1;
    bool ok = titles != NULL;
    for (int i = 0; i < 6; i++)
        ok = ok && cols [i];
    sqlite3_stmt *stmt = ok ? s_prepare (self,
        "INSERT INTO docs (id, type, year, popularity, rating, release, titles, title, cast_names, item) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)") : NULL;
    if (stmt) {
        sqlite3_bind_text (stmt, 1, doc->id, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, doc->type, -1, SQLITE_STATIC);
        if (doc->year > 0)
            sqlite3_bind_int (stmt, 3, doc->year);
        sqlite3_bind_double (stmt, 4, doc->popularity);
        if (doc->has_rating)
            sqlite3_bind_double (stmt, 5, doc->rating);
        if (doc->release_date)
            sqlite3_bind_text (stmt, 6, doc->release_date, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 7, titles, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 8, doc->title, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 9, doc->cast ? doc->cast : "", -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 10, doc->hit_json, -1, SQLITE_STATIC);
        rc = s_run (self, stmt);
    }
    int64_t rowid = sqlite3_last_insert_rowid (self->db);
    if (rc == 0) {
        stmt = s_prepare (self, "INSERT INTO fts (rowid, title, alt, tagline, keywords, overview, cast_names) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        if (stmt) {
            sqlite3_bind_int64 (stmt, 1, rowid);
            for (int i = 0; i < 6; i++)
                sqlite3_bind_text (stmt, 2 + i, cols [i], -1, SQLITE_STATIC);
        }
        rc = s_run (self, stmt);
    }
    for (const char *p = doc->genres; rc == 0 && p && *p; ) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        stmt = s_prepare (self, "INSERT INTO doc_genres (doc, slug) VALUES (?1, ?2)");
        if (stmt) {
            sqlite3_bind_int64 (stmt, 1, rowid);
            sqlite3_bind_text (stmt, 2, p, (int) len, SQLITE_STATIC);
        }
        rc = s_run (self, stmt);
        p = end ? end + 1 : p + len;
    }
    for (const char *p = doc->offers; rc == 0 && p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char platform [65], region [3];
        long long expires = 0;
        char line [128];
        snprintf (line, sizeof line, "%.*s", (int) (len < sizeof line ? len : sizeof line - 1), p);
        if (sscanf (line, "%64s %2s %lld", platform, region, &expires) == 3) {
            stmt = s_prepare (self, "INSERT INTO doc_offers (doc, platform, region, expires) VALUES (?1, ?2, ?3, ?4)");
            if (stmt) {
                sqlite3_bind_int64 (stmt, 1, rowid);
                sqlite3_bind_text (stmt, 2, platform, -1, SQLITE_STATIC);
                sqlite3_bind_text (stmt, 3, region, -1, SQLITE_STATIC);
                sqlite3_bind_int64 (stmt, 4, expires);
            }
            rc = s_run (self, stmt);
        }
        p = end ? end + 1 : p + len;
    }
    if (doc->popularity > self->pop_max)
        self->pop_max = doc->popularity;
    self->vocab_dirty = true;
    free (titles);
    for (int i = 0; i < 6; i++)
        free (cols [i]);
    return rc;
}

int
search_index_remove (search_index_t *self, const char *id)
{
    assert (self && id);
    sqlite3_stmt *stmt = s_prepare (self, "SELECT rowid FROM docs WHERE id = ?1");
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
    int64_t rowid = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : -1;
    sqlite3_finalize (stmt);
    if (rowid < 0)
        return 0;
    static const char *deletes [] = {
        "DELETE FROM fts WHERE rowid = ?1", "DELETE FROM doc_genres WHERE doc = ?1",
        "DELETE FROM doc_offers WHERE doc = ?1", "DELETE FROM docs WHERE rowid = ?1"
    };
    for (size_t i = 0; i < sizeof deletes / sizeof deletes [0]; i++) {
        stmt = s_prepare (self, deletes [i]);
        if (stmt)
            sqlite3_bind_int64 (stmt, 1, rowid);
        if (s_run (self, stmt))
            return -1;
    }
    self->vocab_dirty = true;
    return 0;
}

size_t
search_index_count (search_index_t *self)
{
    assert (self);
    sqlite3_stmt *stmt = s_prepare (self, "SELECT count (*) FROM docs");
    size_t count = stmt && sqlite3_step (stmt) == SQLITE_ROW ? (size_t) sqlite3_column_int64 (stmt, 0) : 0;
    sqlite3_finalize (stmt);
    return count;
}

int
search_index_add_genre (search_index_t *self, const char *slug)
{
    assert (self && slug);
    if (search_index_genre_known (self, slug))
        return 0;
    if (self->genres_count == GENRES_MAX)
        return -1;
    self->genres [self->genres_count] = strdup (slug);
    if (!self->genres [self->genres_count])
        return -1;
    self->genres_count++;
    return 0;
}

bool
search_index_genre_known (search_index_t *self, const char *slug)
{
    assert (self && slug);
    for (size_t i = 0; i < self->genres_count; i++)
        if (strcmp (self->genres [i], slug) == 0)
            return true;
    return false;
}

//  Rebuild the vocabulary from the index when titles changed since.
static int
s_vocab (search_index_t *self)
{
    if (!self->vocab_dirty && self->vocab)
        return 0;
    search_vocab_t *vocab = search_vocab_new ();
    sqlite3_stmt *stmt = vocab ? s_prepare (self, "SELECT term, doc FROM vocab") : NULL;
    int rc = stmt ? 0 : -1;
    while (rc == 0 && sqlite3_step (stmt) == SQLITE_ROW)
        rc = search_vocab_add (vocab, (const char *) sqlite3_column_text (stmt, 0),
                               (unsigned) sqlite3_column_int (stmt, 1));
    sqlite3_finalize (stmt);
    if (rc) {
        search_vocab_destroy (&vocab);
        return -1;
    }
    search_vocab_seal (vocab);
    search_vocab_destroy (&self->vocab);
    self->vocab = vocab;
    self->vocab_dirty = false;
    return 0;
}

//  The query plan: words, their weights and typo budgets, and the FTS5
//  match expressions (AND of groups, OR of groups).
typedef struct {
    char words [SEARCH_QUERY_WORDS][SEARCH_WORD_BYTES];
    double weight [SEARCH_QUERY_WORDS];
    int budget [SEARCH_QUERY_WORDS];
    int n;
    char *and_match, *or_match;
    char **terms;               //  expanded terms (explain)
    size_t terms_count;
} s_plan_t;

static void
s_plan_clear (s_plan_t *plan)
{
    free (plan->and_match);
    free (plan->or_match);
    for (size_t i = 0; i < plan->terms_count; i++)
        free (plan->terms [i]);
    free (plan->terms);
    memset (plan, 0, sizeof *plan);
}

//  Append printf text to buf (size MATCH_MAX); false when it does not fit.
static bool
s_cat (char *buf, size_t *used, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static bool
s_cat (char *buf, size_t *used, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (buf + *used, MATCH_MAX - *used, fmt, args);
    va_end (args);
    if (n < 0 || (size_t) n >= MATCH_MAX - *used)
        return false;
    *used += (size_t) n;
    return true;
}

static int
s_add_term (s_plan_t *plan, const char *term)
{
    char **terms = realloc (plan->terms, (plan->terms_count + 1) * sizeof *terms);
    if (!terms)
        return -1;
    plan->terms = terms;
    plan->terms [plan->terms_count] = strdup (term);
    if (!plan->terms [plan->terms_count])
        return -1;
    plan->terms_count++;
    return 0;
}

//  Plan q: words, typo candidates, match expressions limited to the
//  columns in scope ("" for all). Returns the word count, or -1.
static int
s_plan (search_index_t *self, const char *q, const char *scope, s_plan_t *plan)
{
    memset (plan, 0, sizeof *plan);
    plan->n = search_text_words (q, plan->words, SEARCH_QUERY_WORDS);
    if (plan->n <= 0 || s_vocab (self))
        return plan->n;
    double docs = (double) search_index_count (self) + 1;
    bool distinctive = false;
    unsigned df [SEARCH_QUERY_WORDS];
    for (int i = 0; i < plan->n; i++) {
        df [i] = search_vocab_docs (self->vocab, plan->words [i]);
        if (df [i] > 0 && search_text_length (plan->words [i]) >= 5)
            distinctive = true;
    }
    char *and_match = malloc (MATCH_MAX), *or_match = malloc (MATCH_MAX);
    size_t and_used = 0, or_used = 0;
    bool fits = and_match && or_match;
    for (int i = 0; fits && i < plan->n; i++) {
        const char *word = plan->words [i];
        size_t length = search_text_length (word);
        plan->budget [i] = search_text_typo_budget (length, !distinctive || df [i] == 0);
        char cand [CANDIDATES_MAX][SEARCH_WORD_BYTES];
        //  A known word in a long query (a tagline, a sentence) is taken
        //  as typed: the other words carry the match, and scanning the
        //  vocabulary for each of them is what makes long queries slow.
        bool expand = df [i] < TYPO_SKIP_DOCS && (df [i] == 0 || plan->n <= LONG_QUERY_WORDS);
        int count = expand
            ? search_vocab_candidates (self->vocab, word, plan->budget [i], cand, NULL, CANDIDATES_MAX) : 0;
        unsigned weight_df = df [i];
        if (!weight_df && count)
            weight_df = search_vocab_docs (self->vocab, cand [0]);
        plan->weight [i] = log (1.0 + docs / (weight_df + 1.0));
        char group [4096];
        size_t gused = 0;
        group [0] = '\0';
        //  Words are letters and digits only, so quoting them is enough.
        int n = snprintf (group, sizeof group, "\"%s\"", word);
        gused = n > 0 ? (size_t) n : 0;
        if (s_add_term (plan, word))
            fits = false;
        for (int c = 0; c < count && gused < sizeof group; c++) {
            n = snprintf (group + gused, sizeof group - gused, " OR \"%s\"", cand [c]);
            gused += n > 0 ? (size_t) n : 0;
            if (s_add_term (plan, cand [c]))
                fits = false;
        }
        if (i == plan->n - 1 && gused < sizeof group) {
            n = snprintf (group + gused, sizeof group - gused, " OR \"%s\" *", word);
            gused += n > 0 ? (size_t) n : 0;
        }
        if (gused >= sizeof group)
            fits = false;
        fits = fits && s_cat (and_match, &and_used, "%s%s(%s)", i ? " AND " : scope, i ? "" : (*scope ? "(" : ""), group)
                    && s_cat (or_match, &or_used, "%s%s(%s)", i ? " OR " : scope, i ? "" : (*scope ? "(" : ""), group);
    }
    if (fits && *scope)
        fits = s_cat (and_match, &and_used, ")") && s_cat (or_match, &or_used, ")");
    plan->and_match = and_match;
    plan->or_match = or_match;
    if (!fits) {
        s_plan_clear (plan);
        return -1;
    }
    return plan->n;
}

//  The filter's WHERE text (after the MATCH) for query.
static void
s_where (const search_query_t *query, char *sql, size_t size)
{
    size_t used = 0;
    int n = snprintf (sql, size, "(?2 IS NULL OR d.type = ?2) AND (?3 IS NULL OR d.year >= ?3) "
                      "AND (?4 IS NULL OR d.year <= ?4) AND (?5 IS NULL OR d.rating >= ?5)");
    used = n > 0 ? (size_t) n : 0;
    if (query->genres_count) {
        n = snprintf (sql + used, size - used, " AND EXISTS (SELECT 1 FROM doc_genres g WHERE g.doc = d.rowid "
                      "AND g.slug IN (SELECT value FROM json_each (?6)))");
        used += n > 0 ? (size_t) n : 0;
    }
    if (query->platforms_count || query->region) {
        n = snprintf (sql + used, size - used, " AND EXISTS (SELECT 1 FROM doc_offers o WHERE o.doc = d.rowid "
                      "AND (o.expires = 0 OR o.expires > ?9) AND (?8 IS NULL OR o.region = ?8) "
                      "AND (?7 IS NULL OR o.platform IN (SELECT value FROM json_each (?7))))");
        used += n > 0 ? (size_t) n : 0;
    }
}

//  A JSON array text of strings (caller frees), NULL when count is 0.
static char *
s_json_list (char **items, size_t count)
{
    if (!count)
        return NULL;
    json_t *array = json_array ();
    for (size_t i = 0; array && i < count; i++)
        json_array_append_new (array, json_string (items [i]));
    char *text = array ? json_dumps (array, JSON_COMPACT) : NULL;
    json_decref (array);
    return text;
}

//  Bind the filter parameters (?2..?9) of query.
static void
s_bind_filters (sqlite3_stmt *stmt, const search_query_t *query, const char *genres, const char *platforms)
{
    if (query->type)
        sqlite3_bind_text (stmt, 2, query->type, -1, SQLITE_STATIC);
    if (query->has_year_from)
        sqlite3_bind_int (stmt, 3, query->year_from);
    if (query->has_year_to)
        sqlite3_bind_int (stmt, 4, query->year_to);
    if (query->has_min_rating)
        sqlite3_bind_double (stmt, 5, query->min_rating);
    if (genres)
        sqlite3_bind_text (stmt, 6, genres, -1, SQLITE_STATIC);
    if (platforms)
        sqlite3_bind_text (stmt, 7, platforms, -1, SQLITE_STATIC);
    if (query->region)
        sqlite3_bind_text (stmt, 8, query->region, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 9, (sqlite3_int64) time (NULL));
}

//  Growable array of hits.
typedef struct {
    s_hit_t *items;
    size_t count, room;
} s_hits_t;

static int
s_hits_push (s_hits_t *hits, const s_hit_t *hit)
{
    if (hits->count == hits->room) {
        size_t room = hits->room ? hits->room * 2 : 256;
        s_hit_t *items = realloc (hits->items, room * sizeof *items);
        if (!items)
            return -1;
        hits->items = items;
        hits->room = room;
    }
    hits->items [hits->count++] = *hit;
    return 0;
}

//  Sort hits by compare (qsort wants a non-NULL array even when empty).
static void
s_hits_sort (s_hits_t *hits, int (*compare) (const void *, const void *))
{
    if (hits->count)
        qsort (hits->items, hits->count, sizeof *hits->items, compare);
}

static int
s_by_rowid (const void *a, const void *b)
{
    int64_t x = ((const s_hit_t *) a)->rowid, y = ((const s_hit_t *) b)->rowid;
    return (x > y) - (x < y);
}

//  Collect the matches of match (tier) not already in hits [0, known).
static int
s_collect (search_index_t *self, const char *match, const char *where, const search_query_t *query,
           const char *genres, const char *platforms, int tier, s_hits_t *hits, size_t known)
{
    char sql [2048];
    snprintf (sql, sizeof sql,
              "SELECT d.rowid, bm25 (fts, %g, %g, %g, %g, %g, %g), d.popularity, d.rating, d.release "
              "FROM fts JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ?1 AND %s",
              W_TITLE, W_ALT, W_TAGLINE, W_KEYWORDS, W_OVERVIEW, W_CAST, where);
    sqlite3_stmt *stmt = s_prepare (self, sql);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, match, -1, SQLITE_STATIC);
    s_bind_filters (stmt, query, genres, platforms);
    s_hit_t *sorted = NULL;
    if (known) {
        sorted = malloc (known * sizeof *sorted);
        if (!sorted) {
            sqlite3_finalize (stmt);
            return -1;
        }
        memcpy (sorted, hits->items, known * sizeof *sorted);
        qsort (sorted, known, sizeof *sorted, s_by_rowid);
    }
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        s_hit_t hit = {
            .rowid = sqlite3_column_int64 (stmt, 0), .tier = tier,
            .bm25 = -sqlite3_column_double (stmt, 1),
            .popularity = sqlite3_column_double (stmt, 2),
            .has_rating = sqlite3_column_type (stmt, 3) != SQLITE_NULL,
            .rating = sqlite3_column_double (stmt, 3)
        };
        const unsigned char *release = sqlite3_column_text (stmt, 4);
        if (release)
            snprintf (hit.release, sizeof hit.release, "%s", (const char *) release);
        if (sorted && bsearch (&hit, sorted, known, sizeof *sorted, s_by_rowid))
            continue;
        rc = s_hits_push (hits, &hit);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = -1;
    if (rc)
        mg_error ("search match failed", "error=\"%s\"", sqlite3_errmsg (self->db));
    free (sorted);
    sqlite3_finalize (stmt);
    return rc;
}

static int
s_by_bm25 (const void *a, const void *b)
{
    const s_hit_t *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier - y->tier;
    return (x->bm25 < y->bm25) - (x->bm25 > y->bm25);
}

static int
s_by_score (const void *a, const void *b)
{
    const s_hit_t *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier - y->tier;
    if (x->score != y->score)
        return (x->score < y->score) - (x->score > y->score);
    return (x->rowid > y->rowid) - (x->rowid < y->rowid);
}

//  Sort key comparison for sort=popularity|rating|release_date, then score.
static search_sort_t s_sort_key;

static int
s_by_key (const void *a, const void *b)
{
    const s_hit_t *x = a, *y = b;
    int c = 0;
    if (s_sort_key == SEARCH_SORT_POPULARITY)
        c = (x->popularity < y->popularity) - (x->popularity > y->popularity);
    else
    if (s_sort_key == SEARCH_SORT_RATING)
        c = x->has_rating != y->has_rating ? (y->has_rating - x->has_rating)
          : (x->rating < y->rating) - (x->rating > y->rating);
    else {
        bool xr = x->release [0] != '\0', yr = y->release [0] != '\0';
        c = xr != yr ? (yr - xr) : -strcmp (x->release, y->release);
    }
    if (c)
        return c;
    return s_by_score (a, b);
}

//  Best title similarity of the title lines of rowid.
static double
s_title_match (search_index_t *self, sqlite3_stmt *stmt, const s_plan_t *plan, bool prefix_last,
               int64_t rowid, int *typos)
{
    sqlite3_reset (stmt);
    sqlite3_bind_int64 (stmt, 1, rowid);
    *typos = 0;
    if (sqlite3_step (stmt) != SQLITE_ROW)
        return 0;
    const char *titles = (const char *) sqlite3_column_text (stmt, 0);
    double best = 0;
    char line [4096];
    for (const char *p = titles; p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        snprintf (line, sizeof line, "%.*s", (int) (len < sizeof line ? len : sizeof line - 1), p);
        int t;
        double m = search_text_title_match ((char (*)[SEARCH_WORD_BYTES]) plan->words, plan->weight,
                                            plan->budget, plan->n, prefix_last, line, &t);
        if (m > best) {
            best = m;
            *typos = t;
        }
        p = end ? end + 1 : p + len;
    }
    (void) self;
    return best;
}

//  Give the best RERANK_MAX hits of each tier their final score.
static int
s_rank (search_index_t *self, const s_plan_t *plan, s_hits_t *hits)
{
    s_hits_sort (hits, s_by_bm25);
    sqlite3_stmt *stmt = s_prepare (self, "SELECT titles FROM docs WHERE rowid = ?1");
    if (!stmt)
        return -1;
    double pop_norm = log1p (self->pop_max > 0 ? self->pop_max : 1);
    size_t start = 0;
    while (start < hits->count) {
        size_t end = start;
        while (end < hits->count && hits->items [end].tier == hits->items [start].tier)
            end++;
        double top = hits->items [start].bm25 > 0 ? hits->items [start].bm25 : 1;
        for (size_t i = start; i < end; i++) {
            s_hit_t *hit = &hits->items [i];
            hit->keyword_rank = (int) (i + 1);
            double bm = hit->bm25 / top;
            double prior = POP_WEIGHT * log1p (hit->popularity > 0 ? hit->popularity : 0) / pop_norm;
            if (i - start < RERANK_MAX) {
                hit->title = s_title_match (self, stmt, plan, true, hit->rowid, &hit->typos);
                hit->score = TITLE_WEIGHT * hit->title + bm + prior;
            }
            else
                hit->score = bm + prior - 10;
        }
        start = end;
    }
    sqlite3_finalize (stmt);
    return 0;
}

//  Fill one facet list from sql (rows: value, count) over the hits table.
static int
s_facet (search_index_t *self, const char *sql, const char *region, mg_facet_count_t **out, size_t *count, size_t max)
{
    sqlite3_stmt *stmt = s_prepare (self, sql);
    if (!stmt)
        return -1;
    sqlite3_bind_int64 (stmt, 1, (sqlite3_int64) time (NULL));
    if (region)
        sqlite3_bind_text (stmt, 2, region, -1, SQLITE_STATIC);
    *out = calloc (max, sizeof **out);
    *count = 0;
    int rc = *out ? 0 : -1;
    while (rc == 0 && *count < max && sqlite3_step (stmt) == SQLITE_ROW) {
        mg_facet_count_t *f = &(*out) [*count];
        f->value = strdup ((const char *) sqlite3_column_text (stmt, 0));
        f->count = (uint64_t) sqlite3_column_int64 (stmt, 1);
        f->has_count = true;
        if (!f->value)
            rc = -1;
        else
            (*count)++;
    }
    sqlite3_finalize (stmt);
    return rc;
}

//  Facets over every hit (the hits table holds them).
static int
s_facets (search_index_t *self, const search_query_t *query, mg_search_facets_t *facets)
{
    return s_facet (self, "SELECT g.slug, count (*) FROM hits h JOIN doc_genres g ON g.doc = h.doc "
                          "WHERE ?1 IS NOT NULL GROUP BY g.slug ORDER BY 2 DESC, 1",
                    NULL, &facets->genres, &facets->genres_count, 64)
        || s_facet (self, "SELECT o.platform, count (DISTINCT o.doc) FROM hits h JOIN doc_offers o ON o.doc = h.doc "
                          "WHERE (o.expires = 0 OR o.expires > ?1) AND (?2 IS NULL OR o.region = ?2) "
                          "GROUP BY o.platform ORDER BY 2 DESC, 1",
                    query->region, &facets->platforms, &facets->platforms_count, 256)
        || s_facet (self, "SELECT CAST (d.year AS TEXT), count (*) FROM hits h JOIN docs d ON d.rowid = h.doc "
                          "WHERE d.year IS NOT NULL AND ?1 IS NOT NULL GROUP BY d.year ORDER BY d.year DESC",
                    NULL, &facets->years, &facets->years_count, 256)
        || s_facet (self, "SELECT d.type, count (*) FROM hits h JOIN docs d ON d.rowid = h.doc "
                          "WHERE ?1 IS NOT NULL GROUP BY d.type ORDER BY 2 DESC, 1",
                    NULL, &facets->types, &facets->types_count, 2) ? -1 : 0;
}

//  RFC 3339 UTC text of now, to compare with offers' expires_at.
static void
s_now_text (char out [32])
{
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  Drop offers that expired since the load or are outside region.
static void
s_trim_offers (mg_search_hit_t *hit, const char *region, const char *now)
{
    size_t kept = 0;
    for (size_t i = 0; i < hit->availability_count; i++) {
        mg_offer_t *offer = &hit->availability [i];
        bool keep = (!region || strcmp (offer->region, region) == 0)
                 && (!offer->expires_at || strcmp (offer->expires_at, now) > 0);
        if (keep) {
            if (kept != i)
                hit->availability [kept] = *offer;
            kept++;
        }
        else
            mg_msg_clear (&mg_offer_desc, offer);
    }
    hit->availability_count = kept;
}

//  Decode the stored item of hit into out.
static int
s_fill_hit (search_index_t *self, sqlite3_stmt *stmt, const s_hit_t *hit, const search_query_t *query,
            const s_plan_t *plan, const char *now, mg_search_hit_t *out, char *err, size_t errlen)
{
    sqlite3_reset (stmt);
    sqlite3_bind_int64 (stmt, 1, hit->rowid);
    if (sqlite3_step (stmt) != SQLITE_ROW)
        return s_fail (self, err, errlen, "a matched title vanished");
    json_error_t jerr;
    json_t *json = json_loads ((const char *) sqlite3_column_text (stmt, 0), 0, &jerr);
    if (!json) {
        snprintf (err, errlen, "stored item is not JSON: %s", jerr.text);
        return -1;
    }
    double score = round (hit->score * 1e6) / 1e6;
    json_object_set_new (json, "score", json_real (score));
    int rc = mg_msg_from_json (&mg_search_hit_desc, json, out, err, errlen);
    json_decref (json);
    if (rc)
        return -1;
    s_trim_offers (out, query->region, now);
    if (query->explain) {
        mg_search_explain_t *x = calloc (1, sizeof *x);
        if (!x) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        out->explain = x;
        x->keyword_rank = (uint64_t) hit->keyword_rank;
        x->has_keyword_rank = true;
        x->fused_score = score;
        x->has_fused_score = true;
        x->bm25 = round (hit->bm25 * 1e6) / 1e6;
        x->has_bm25 = true;
        x->title_match = round (hit->title * 1e6) / 1e6;
        x->has_title_match = true;
        x->typos = (uint64_t) hit->typos;
        x->has_typos = true;
        size_t nterms = plan->terms_count < 64 ? plan->terms_count : 64;
        x->terms = calloc (nterms ? nterms : 1, sizeof *x->terms);
        for (size_t i = 0; x->terms && i < nterms; i++) {
            x->terms [i] = strdup (plan->terms [i]);
            if (x->terms [i])
                x->terms_count++;
        }
    }
    return 0;
}

int
search_index_query (search_index_t *self, const search_query_t *query,
                    mg_search_reply_t *rep, char *err, size_t errlen)
{
    assert (self && query && rep);
    s_plan_t plan;
    int n = s_plan (self, query->q, "", &plan);
    if (n < 0) {
        snprintf (err, errlen, "the query could not be planned");
        return -1;
    }
    char where [1024];
    s_where (query, where, sizeof where);
    char *genres = s_json_list (query->genres, query->genres_count);
    char *platforms = s_json_list (query->platforms, query->platforms_count);
    s_hits_t hits = { 0 };
    int rc = 0;
    if (n > 0) {
        rc = s_collect (self, plan.and_match, where, query, genres, platforms, 0, &hits, 0);
        if (rc == 0 && hits.count < DROP_THRESHOLD && n > 1)
            rc = s_collect (self, plan.or_match, where, query, genres, platforms, 1, &hits, hits.count);
        if (rc == 0)
            rc = s_rank (self, &plan, &hits);
    }
    if (rc == 0) {
        if (query->sort == SEARCH_SORT_RELEVANCE)
            s_hits_sort (&hits, s_by_score);
        else {
            s_sort_key = query->sort;
            s_hits_sort (&hits, s_by_key);
        }
    }
    //  Facets count every hit: they go through the temp table once.
    sqlite3_stmt *stmt = rc == 0 ? s_prepare (self, "INSERT OR IGNORE INTO hits (doc) VALUES (?1)") : NULL;
    rc = rc == 0 && stmt && sqlite3_exec (self->db, "DELETE FROM hits", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < hits.count; i++) {
        sqlite3_reset (stmt);
        sqlite3_bind_int64 (stmt, 1, hits.items [i].rowid);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize (stmt);
    rep->facets = calloc (1, sizeof *rep->facets);
    if (rc == 0)
        rc = rep->facets ? s_facets (self, query, rep->facets) : -1;
    rep->total = hits.count;
    rep->has_total = true;
    size_t first = query->offset < hits.count ? (size_t) query->offset : hits.count;
    size_t count = hits.count - first < query->per_page ? hits.count - first : (size_t) query->per_page;
    if (rc == 0 && count) {
        rep->results = calloc (count, sizeof *rep->results);
        stmt = rep->results ? s_prepare (self, "SELECT item FROM docs WHERE rowid = ?1") : NULL;
        rc = stmt ? 0 : -1;
        char now [32];
        s_now_text (now);
        for (size_t i = 0; rc == 0 && i < count; i++) {
            rc = s_fill_hit (self, stmt, &hits.items [first + i], query, &plan, now, &rep->results [i], err, errlen);
            if (rc == 0)
                rep->results_count++;
        }
        sqlite3_finalize (stmt);
    }
    if (rc && !*err)
        s_fail (self, err, errlen, "search failed");
    sqlite3_exec (self->db, "DELETE FROM hits", NULL, NULL, NULL);
    free (hits.items);
    free (genres);
    free (platforms);
    s_plan_clear (&plan);
    return rc;
}

#define SUGGESTIONS_MAX 10     //  architecture §4
#define PEOPLE_MAX       3     //  suggestions that are cast members, at most

//  The cast member of cast ('\n'-separated) whose name the query words
//  match (last as prefix) into out; false when none.
static bool
s_person (const s_plan_t *plan, const char *cast, char *out, size_t size)
{
    for (const char *p = cast; p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char *norm = search_text_normalize (p, len);
        if (norm) {
            int typos;
            double m = search_text_title_match ((char (*)[SEARCH_WORD_BYTES]) plan->words, plan->weight,
                                                plan->budget, plan->n, true, norm, &typos);
            free (norm);
            //  every query word matched: coverage 1 at the least precision
            if (m >= 0.6 * 0.9) {
                snprintf (out, size, "%.*s", (int) len, p);
                return true;
            }
        }
        p = end ? end + 1 : p + len;
    }
    return false;
}

//  Up to max best matches of match into hits (tier 0), ranked by title
//  similarity and popularity.
static int
s_suggest (search_index_t *self, const s_plan_t *plan, const char *match, s_hits_t *hits)
{
    search_query_t none = { 0 };
    char where [1024];
    s_where (&none, where, sizeof where);
    if (s_collect (self, match, where, &none, NULL, NULL, 0, hits, 0) || s_rank (self, plan, hits))
        return -1;
    for (size_t i = 0; i < hits->count; i++)
        hits->items [i].score += hits->items [i].popularity > 0
            ? 0.3 * log1p (hits->items [i].popularity) / log1p (self->pop_max > 0 ? self->pop_max : 1) : 0;
    s_hits_sort (hits, s_by_score);
    return 0;
}

int
search_index_autocomplete (search_index_t *self, const char *q,
                           mg_autocomplete_reply_t *rep, char *err, size_t errlen)
{
    assert (self && q && rep);
    s_plan_t titles_plan, people_plan;
    int n = s_plan (self, q, "{title alt} : ", &titles_plan);
    int m = s_plan (self, q, "{cast_names} : ", &people_plan);
    s_hits_t titles = { 0 }, people = { 0 };
    int rc = n < 0 || m < 0 ? -1 : 0;
    if (rc == 0 && n > 0)
        rc = s_suggest (self, &titles_plan, titles_plan.and_match, &titles)
          || s_suggest (self, &people_plan, people_plan.and_match, &people) ? -1 : 0;
    rep->results = calloc (SUGGESTIONS_MAX, sizeof *rep->results);
    if (!rep->results)
        rc = -1;
    sqlite3_stmt *stmt = rc == 0 ? s_prepare (self, "SELECT id, type, title, year, cast_names FROM docs WHERE rowid = ?1") : NULL;
    if (rc == 0 && !stmt)
        rc = -1;
    size_t people_room = PEOPLE_MAX;
    if (titles.count + PEOPLE_MAX < SUGGESTIONS_MAX)
        people_room = SUGGESTIONS_MAX - titles.count;
    size_t title_room = SUGGESTIONS_MAX - (people.count < people_room ? people.count : people_room);
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        s_hits_t *list = pass == 0 ? &titles : &people;
        size_t room = pass == 0 ? title_room : SUGGESTIONS_MAX - rep->results_count;
        size_t added = 0;
        for (size_t i = 0; rc == 0 && i < list->count && added < room; i++) {
            sqlite3_reset (stmt);
            sqlite3_bind_int64 (stmt, 1, list->items [i].rowid);
            if (sqlite3_step (stmt) != SQLITE_ROW)
                continue;
            char person [257] = "";
            if (pass == 1 && !s_person (&people_plan, (const char *) sqlite3_column_text (stmt, 4), person, sizeof person))
                continue;
            mg_autocomplete_item_t *item = &rep->results [rep->results_count];
            item->id = strdup ((const char *) sqlite3_column_text (stmt, 0));
            item->type = strdup ((const char *) sqlite3_column_text (stmt, 1));
            item->title = strdup ((const char *) sqlite3_column_text (stmt, 2));
            if (sqlite3_column_type (stmt, 3) != SQLITE_NULL) {
                item->year = (uint64_t) sqlite3_column_int (stmt, 3);
                item->has_year = true;
            }
            if (*person)
                item->person = strdup (person);
            rep->results_count++;
            added++;
            if (!item->id || !item->type || !item->title || (*person && !item->person))
                rc = -1;
        }
    }
    sqlite3_finalize (stmt);
    if (rc)
        snprintf (err, errlen, "autocomplete failed");
    free (titles.items);
    free (people.items);
    s_plan_clear (&titles_plan);
    s_plan_clear (&people_plan);
    return rc;
}
