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
#include "lsa.h"
#include "hnsw.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <ctype.h>
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
#define TITLE_START   0.3      //  title similarity bonus when the query is the title's start (typed from it)
#define TITLE_WEIGHT  1.0      //  title similarity (0-1.5) against BM25 normalised to 0-1
#define POP_WEIGHT    0.1      //  popularity prior, log-scaled to 0-1
#define DROP_THRESHOLD 20      //  fewer AND matches than this -> add OR matches after them
#define RERANK_MAX    400      //  best-BM25 matches of each tier given the title similarity
#define CANDIDATES_MAX 6       //  typo candidates per query word
#define TYPO_SKIP_DOCS 40      //  a word this many titles hold is a word, not a typo
#define LONG_QUERY_WORDS 4     //  longer queries look for typos in unknown words only
#define GENRES_MAX    64       //  canonical genre slugs remembered (a uint64_t mask per title)
#define PLATFORMS_MAX 1024     //  distinct platform slugs remembered
#define OFFERS_MAX    256      //  offers kept per title (the loader's limit)
#define MATCH_MAX     (64 * 1024)  //  bytes of an FTS5 match expression
#define GROUP_MAX     1024     //  bytes of one word's group (word, CANDIDATES_MAX candidates, prefix)
//  The OR fallback (drop_tokens) costs one BM25 per posting it reads: its
//  words go in rarest first while their postings (documents per word, the
//  vocabulary's counts) stay within this bound, the rarest always. Common
//  words ("the", "of", "who") then cost nothing, and the words that can
//  still tell titles apart carry the fallback.
#define OR_POSTINGS_MAX 1500
//  Semantic side: the best SEMANTIC_TOP vector neighbours with a cosine of
//  at least SEMANTIC_MIN (weaker ones are noise: an LSA cosine of two
//  unrelated titles is ~0.0-0.15), fused with the keyword ranking by
//  weighted reciprocal ranks (RRF, k = 60).
#define SEMANTIC_TOP   100
#define SEMANTIC_MIN   0.2
#define RRF_K          60.0
//  The vector index: FAISS HNSW, inner product on unit vectors. M = 32
//  links per node and efConstruction = 80 give recall@10 ~ 1.0 at 100k x
//  768 with efSearch = 64 at ~1 ms a query (a flat scan: ~46 ms); a search
//  explores at least as many candidates as it wants results.
#define HNSW_M               32
#define HNSW_EF_CONSTRUCTION 80
#define HNSW_EF_SEARCH       64
//  HNSW cannot delete: a changed title's old vector stays as a dead slot
//  until dead slots outnumber both this and the live ones, then the graph
//  is rebuilt from the live vectors.
#define HNSW_DEAD_MIN        1024
//  similar: neighbours fetched, and the weight of genre overlap (Jaccard of
//  the genre sets) added to the cosine.
#define SIMILAR_TOP          100
#define SIMILAR_GENRE_WEIGHT 0.25
//  A title the query spells out (title similarity at least this: every
//  word found in one of its titles) keeps its keyword place above fused
//  results: a typed title is an answer, not a topic.
#define TITLE_TYPED    0.75

//  Fused score of guarded keyword hits (above any RRF score, which is < 1).
#define GUARD_SCORE    2.0
//  Exactness (Meilisearch's rule of that name, per field): the query is one
//  of the title's tags word for word (a keyword: tags are names, a query
//  naming one is asking for what carries it), or a phrase of 3 or more
//  words found word for word in its tagline (a quoted line). Below the
//  0.5 of a title typed word for word, so a typed title stays first.
#define TAG_EXACT      0.8
#define TAG_PHRASE     0.0     //  the query is a phrase inside a longer tag
#define TAGLINE_PHRASE 1.0
#define PHRASE_WORDS   3       //  words a tagline phrase needs
#define TAGLINE_SHARE  0.67    //  ... and the share of the tagline's words it covers

//  One offer of a title: platform (index into platforms), region, expiry.
typedef struct {
    uint16_t platform;
    char region [3];
    int64_t expires;           //  Unix seconds, 0 = never
} s_offer_t;

//  What filters, facets, sorts and the title similarity need of a title,
//  in memory by rowid: no SQL per match.
typedef struct {
    bool live, tv, has_rating;
    int year;                  //  0 = unknown
    double popularity, rating;
    char release [12];
    uint64_t genres;           //  bit i: genres [i]
    char *titles;              //  normalised titles, one per line
    int64_t slot;              //  HNSW slot + 1 of its unit vector, 0: none
    char *tags;                //  normalised keywords (tags), one per line
    char *tagline;             //  normalised tagline
    s_offer_t *offers;
    size_t offers_count;
} s_doc_t;

//  Statements kept prepared for the life of the index (one connection,
//  used under the replica's lock).
typedef enum {
    ST_ROWID, ST_DOC_INSERT, ST_FTS_DELETE, ST_FTS_INSERT, ST_DOC_DELETE, ST_MATCH, ST_ITEM,
    ST_SUGGEST, ST_VOCAB, ST_COUNT
} s_stmt_id_t;

static const char *const s_stmt_sql [ST_COUNT] = {
    [ST_ROWID] = "SELECT rowid FROM docs WHERE id = ?1",
    [ST_DOC_INSERT] = "INSERT OR REPLACE INTO docs (rowid, id, type, year, title, cast_names, item) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_FTS_DELETE] = "DELETE FROM fts WHERE rowid = ?1",
    [ST_FTS_INSERT] = "INSERT INTO fts (rowid, title, alt, tagline, keywords, overview, cast_names) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_DOC_DELETE] = "DELETE FROM docs WHERE rowid = ?1",
    [ST_MATCH] = NULL,         //  built from the weights (s_stmt)
    [ST_ITEM] = "SELECT item FROM docs WHERE rowid = ?1",
    [ST_SUGGEST] = "SELECT id, type, title, year, cast_names FROM docs WHERE rowid = ?1",
    [ST_VOCAB] = "SELECT term, doc FROM vocab",
};

struct search_index_t {
    sqlite3 *db;
    const search_lsa_t *lsa;   //  borrowed
    uint32_t dims;
    sqlite3_stmt *stmts [ST_COUNT];
    search_vocab_t *vocab;
    bool vocab_dirty;
    search_typo_t typo;
    search_hnsw_t *hnsw;       //  the titles' vectors, NULL without an embedder
    int64_t *slot_rowid;       //  by HNSW slot: the title's rowid, 0 once dead
    size_t slots_room, dead;
    double pop_max;
    char *genres [GENRES_MAX];
    size_t genres_count;
    char *platforms [PLATFORMS_MAX];
    size_t platforms_count;
    s_doc_t *docs;             //  by rowid (rowids are reused: a put of a known id keeps its rowid)
    size_t docs_room;
    int64_t next_rowid;
    size_t count;              //  live titles
};

typedef struct {
    int64_t rowid;
    int tier;                  //  0: every word matched, 1: some
    double bm25, title, score, popularity, rating;
    bool has_rating;
    char release [12];
    int typos;
    bool protected;            //  hybrid: a guarded keyword hit, keeps its keyword place
    double exact;              //  exactness bonus (TAG_EXACT, TAG_PHRASE, TAGLINE_PHRASE)
    double prior;              //  popularity prior added to the score (s_prior)
    int keyword_rank;
    int semantic_rank;         //  0: not a vector hit
    double cosine;
} s_hit_t;

static const char s_schema [] =
    "PRAGMA journal_mode = OFF;"
    "PRAGMA synchronous = OFF;"
    "CREATE TABLE docs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, "
    "  year INTEGER, title TEXT NOT NULL, cast_names TEXT NOT NULL, item TEXT NOT NULL);"
    "CREATE VIRTUAL TABLE fts USING fts5 (title, alt, tagline, keywords, overview, cast_names, "
    "  tokenize = 'unicode61 remove_diacritics 0', prefix = '1 2 3', detail = full);"
    "CREATE VIRTUAL TABLE vocab USING fts5vocab (fts, row);";

//  Fill err with the database's last error; returns -1.
static int
s_fail (search_index_t *self, char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf (err, errlen, "%s: %s", what, sqlite3_errmsg (self->db));
    return -1;
}

//  The kept statement id, reset and unbound; NULL (logged) when it cannot
//  be prepared.
static sqlite3_stmt *
s_stmt (search_index_t *self, s_stmt_id_t id)
{
    sqlite3_stmt *stmt = self->stmts [id];
    if (stmt) {
        sqlite3_reset (stmt);
        sqlite3_clear_bindings (stmt);
        return stmt;
    }
    char match [512];
    const char *sql = s_stmt_sql [id];
    if (id == ST_MATCH) {
        snprintf (match, sizeof match, "SELECT rowid, bm25 (fts, %g, %g, %g, %g, %g, %g) FROM fts WHERE fts MATCH ?1",
                  W_TITLE, W_ALT, W_TAGLINE, W_KEYWORDS, W_OVERVIEW, W_CAST);
        sql = match;
    }
    if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
        mg_error ("search index statement failed", "error=\"%s\"", sqlite3_errmsg (self->db));
        sqlite3_finalize (stmt);
        return NULL;
    }
    self->stmts [id] = stmt;
    return stmt;
}

//  Step a kept statement that returns no rows. Returns 0 or -1 (logged).
static int
s_run (search_index_t *self, sqlite3_stmt *stmt)
{
    int rc = stmt ? sqlite3_step (stmt) : SQLITE_ERROR;
    if (stmt && rc != SQLITE_DONE)
        mg_error ("search index write failed", "error=\"%s\"", sqlite3_errmsg (self->db));
    if (stmt)
        sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

search_index_t *
search_index_new (const search_lsa_t *lsa, char *err, size_t errlen)
{
    search_index_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->lsa = lsa;
    self->dims = lsa ? search_lsa_dims (lsa) : 0;
    self->vocab_dirty = true;
    self->next_rowid = 1;
    self->typo.one = (int) mg_config_int ("MG_SEARCH_TYPO_ONE", SEARCH_TYPO_ONE, 1, SEARCH_WORD_CPS);
    self->typo.two = (int) mg_config_int ("MG_SEARCH_TYPO_TWO", SEARCH_TYPO_TWO, 1, SEARCH_WORD_CPS);
    self->typo.wide_two = (int) mg_config_int ("MG_SEARCH_TYPO_WIDE_TWO", SEARCH_TYPO_WIDE_TWO, 1, SEARCH_WORD_CPS);
    if (lsa && !(self->hnsw = search_hnsw_new (self->dims, HNSW_M, HNSW_EF_CONSTRUCTION, err, errlen))) {
        free (self);
        return NULL;
    }
    if (sqlite3_open_v2 (":memory:", &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK
    ||  sqlite3_exec (self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK) {
        s_fail (self, err, errlen, "cannot create the index");
        search_index_destroy (&self);
        return NULL;
    }
    return self;
}

//  Forget what the doc table holds of one title.
static void
s_doc_clear (s_doc_t *doc)
{
    free (doc->titles);
    free (doc->tags);
    free (doc->tagline);
    free (doc->offers);
    memset (doc, 0, sizeof *doc);
}

void
search_index_destroy (search_index_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        search_index_t *self = *self_p;
        for (int i = 0; i < ST_COUNT; i++)
            sqlite3_finalize (self->stmts [i]);
        sqlite3_close (self->db);
        search_vocab_destroy (&self->vocab);
        search_hnsw_destroy (&self->hnsw);
        free (self->slot_rowid);
        for (size_t i = 0; i < self->genres_count; i++)
            free (self->genres [i]);
        for (size_t i = 0; i < self->platforms_count; i++)
            free (self->platforms [i]);
        for (size_t i = 0; i < self->docs_room; i++)
            s_doc_clear (&self->docs [i]);
        free (self->docs);
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

//  Normalised form of a '\n'-separated list (each item normalised, items
//  joined by spaces). Caller frees; NULL when out of memory.
static char *
s_norm (const char *text)
{
    return search_text_normalize (text ? text : "", text ? strlen (text) : 0);
}

//  Append each line of list (may be NULL) normalised to out (room bytes,
//  used so far in *used), '\n' between lines, empty ones dropped. 0, or -1
//  when out of memory.
static int
s_append_lines (char *out, size_t room, size_t *used, const char *list)
{
    for (const char *p = list; p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char *norm = search_text_normalize (p, len);
        if (!norm)
            return -1;
        size_t nlen = strlen (norm);
        if (nlen && *used + nlen + 2 <= room) {
            if (*used)
                out [(*used)++] = '\n';
            memcpy (out + *used, norm, nlen);
            *used += nlen;
        }
        free (norm);
        p = end ? end + 1 : p + len;
    }
    return 0;
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
    for (int i = 0; i < 3; i++)
        if (s_append_lines (out, room, &used, parts [i])) {
            free (out);
            return NULL;
        }
    out [used] = '\0';
    return out;
}

//  Each line of a '\n'-separated list normalised, one per line (empty
//  ones dropped). Caller frees; NULL when out of memory.
static char *
s_lines (const char *list)
{
    size_t room = (list ? strlen (list) * 2 : 0) + 2;
    char *out = malloc (room);
    if (!out)
        return NULL;
    size_t used = 0;
    if (s_append_lines (out, room, &used, list)) {
        free (out);
        return NULL;
    }
    out [used] = '\0';
    return out;
}

//  Rowid of id, 0 when unknown, -1 on error.
static int64_t
s_rowid (search_index_t *self, const char *id)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_ROWID);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step (stmt);
    int64_t rowid = step == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : step == SQLITE_DONE ? 0 : -1;
    sqlite3_reset (stmt);
    return rowid;
}

//  Index of slug in list (count of them), added when new; -1 when full.
static int
s_intern (char **list, size_t *count, size_t max, const char *slug, size_t len)
{
    for (size_t i = 0; i < *count; i++)
        if (strncmp (list [i], slug, len) == 0 && list [i][len] == '\0')
            return (int) i;
    if (*count == max)
        return -1;
    list [*count] = strndup (slug, len);
    if (!list [*count])
        return -1;
    return (int) (*count)++;
}

//  Mark the vector of d dead (HNSW keeps it until a rebuild).
static void
s_vec_forget (search_index_t *self, s_doc_t *d)
{
    if (d->slot > 0) {
        self->slot_rowid [d->slot - 1] = 0;
        self->dead++;
        d->slot = 0;
    }
}

//  A new graph of the live vectors, in rowid order. 0 or -1 (logged).
static int
s_vec_rebuild (search_index_t *self)
{
    char err [256];
    size_t live = search_hnsw_count (self->hnsw) - self->dead;
    search_hnsw_t *hnsw = search_hnsw_new (self->dims, HNSW_M, HNSW_EF_CONSTRUCTION, err, sizeof err);
    int64_t *slot_rowid = calloc (live ? live : 1, sizeof *slot_rowid);
    float *vectors = malloc ((live ? live : 1) * self->dims * sizeof *vectors);
    size_t n = 0;
    for (int64_t rowid = 1; hnsw && slot_rowid && vectors && rowid < self->next_rowid; rowid++) {
        s_doc_t *d = &self->docs [rowid];
        const float *vec = d->slot > 0 ? search_hnsw_vector (self->hnsw, d->slot - 1) : NULL;
        if (vec && n < live) {
            memcpy (vectors + n * self->dims, vec, self->dims * sizeof *vec);
            slot_rowid [n++] = rowid;
        }
    }
    int rc = hnsw && slot_rowid && vectors && search_hnsw_add (hnsw, vectors, n, err, sizeof err) == 0 ? 0 : -1;
    free (vectors);
    if (rc) {
        mg_error ("vector index rebuild failed", "reason=\"%s\"", hnsw ? err : "out of memory");
        search_hnsw_destroy (&hnsw);
        free (slot_rowid);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        self->docs [slot_rowid [i]].slot = (int64_t) i + 1;
    search_hnsw_destroy (&self->hnsw);
    free (self->slot_rowid);
    self->hnsw = hnsw;
    self->slot_rowid = slot_rowid;
    self->slots_room = live ? live : 1;
    self->dead = 0;
    return 0;
}

//  Add vec (a unit vector) as the vector of d (at rowid). 0 or -1 (logged).
static int
s_vec_add (search_index_t *self, int64_t rowid, s_doc_t *d, const float *vec)
{
    size_t held = search_hnsw_count (self->hnsw);
    if (self->dead > HNSW_DEAD_MIN && self->dead > held - self->dead) {
        if (s_vec_rebuild (self))
            return -1;
        held = search_hnsw_count (self->hnsw);
    }
    if (held == self->slots_room) {
        size_t room = self->slots_room ? self->slots_room * 2 : 1024;
        int64_t *slot_rowid = realloc (self->slot_rowid, room * sizeof *slot_rowid);
        if (!slot_rowid)
            return -1;
        self->slot_rowid = slot_rowid;
        self->slots_room = room;
    }
    char err [256];
    if (search_hnsw_add (self->hnsw, vec, 1, err, sizeof err)) {
        mg_error ("vector index add failed", "reason=\"%s\"", err);
        return -1;
    }
    self->slot_rowid [held] = rowid;
    d->slot = (int64_t) held + 1;
    return 0;
}

//  Fill the doc table's entry of rowid from doc. Returns 0 or -1 (memory).
static int
s_doc_fill (search_index_t *self, int64_t rowid, const search_doc_t *doc, char **titles)
{
    if ((size_t) rowid >= self->docs_room) {
        size_t room = self->docs_room ? self->docs_room : 1024;
        while (room <= (size_t) rowid)
            room *= 2;
        s_doc_t *docs = realloc (self->docs, room * sizeof *docs);
        if (!docs)
            return -1;
        memset (docs + self->docs_room, 0, (room - self->docs_room) * sizeof *docs);
        self->docs = docs;
        self->docs_room = room;
    }
    s_doc_t *d = &self->docs [rowid];
    s_vec_forget (self, d);
    s_doc_clear (d);
    d->tv = doc->type && strcmp (doc->type, "tv") == 0;
    d->year = doc->year;
    d->popularity = doc->popularity;
    d->has_rating = doc->has_rating;
    d->rating = doc->rating;
    snprintf (d->release, sizeof d->release, "%s", doc->release_date ? doc->release_date : "");
    for (const char *p = doc->genres; p && *p; ) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        int g = len ? s_intern (self->genres, &self->genres_count, GENRES_MAX, p, len) : -1;
        if (g >= 0)
            d->genres |= (uint64_t) 1 << g;
        p = end ? end + 1 : p + len;
    }
    size_t lines = 0;
    for (const char *p = doc->offers; p && *p; p++)
        lines += *p == '\n';
    d->offers = doc->offers && *doc->offers ? calloc (lines + 1, sizeof *d->offers) : NULL;
    if (doc->offers && *doc->offers && !d->offers)
        return -1;
    for (const char *p = doc->offers; p && *p && d->offers_count < OFFERS_MAX; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char platform [65], region [3], line [128];
        long long expires = 0;
        snprintf (line, sizeof line, "%.*s", (int) (len < sizeof line ? len : sizeof line - 1), p);
        int at = sscanf (line, "%64s %2s %lld", platform, region, &expires) == 3
            ? s_intern (self->platforms, &self->platforms_count, PLATFORMS_MAX, platform, strlen (platform)) : -1;
        if (at >= 0) {
            s_offer_t *o = &d->offers [d->offers_count++];
            o->platform = (uint16_t) at;
            memcpy (o->region, region, sizeof o->region);
            o->expires = expires;
        }
        p = end ? end + 1 : p + len;
    }
    if (self->lsa && doc->vector_stored) {
        if (doc->vector && doc->vector_dims == self->dims && s_vec_add (self, rowid, d, doc->vector))
            return -1;
    }
    else
    if (self->lsa) {
        float *vec = malloc (self->dims * sizeof *vec);
        int e = vec ? search_lsa_embed_doc (self->lsa, doc, vec) : -1;
        if (e == 0)
            e = s_vec_add (self, rowid, d, vec);
        free (vec);
        if (e < 0)
            return -1;
    }
    d->tags = s_lines (doc->keywords);
    d->tagline = s_norm (doc->tagline);
    if (!d->tags || !d->tagline)
        return -1;
    d->titles = *titles;
    *titles = NULL;
    d->live = true;
    return 0;
}

int
search_index_put (search_index_t *self, const search_doc_t *doc)
{
    assert (self && doc && doc->id && doc->title && doc->hit_json);
    int64_t rowid = s_rowid (self, doc->id);
    if (rowid < 0)
        return -1;
    bool known = rowid > 0;
    if (!known)
        rowid = self->next_rowid;
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
    sqlite3_stmt *stmt = ok && known ? s_stmt (self, ST_FTS_DELETE) : NULL;
    if (stmt)
        sqlite3_bind_int64 (stmt, 1, rowid);
    if (ok && (!known || s_run (self, stmt) == 0)) {
        stmt = s_stmt (self, ST_DOC_INSERT);
        if (stmt) {
            sqlite3_bind_int64 (stmt, 1, rowid);
            sqlite3_bind_text (stmt, 2, doc->id, -1, SQLITE_STATIC);
            sqlite3_bind_text (stmt, 3, doc->type, -1, SQLITE_STATIC);
            if (doc->year > 0)
                sqlite3_bind_int (stmt, 4, doc->year);
            sqlite3_bind_text (stmt, 5, doc->title, -1, SQLITE_STATIC);
            sqlite3_bind_text (stmt, 6, doc->cast ? doc->cast : "", -1, SQLITE_STATIC);
            sqlite3_bind_text (stmt, 7, doc->hit_json, -1, SQLITE_STATIC);
        }
        rc = s_run (self, stmt);
    }
    if (rc == 0) {
        stmt = s_stmt (self, ST_FTS_INSERT);
        if (stmt) {
            sqlite3_bind_int64 (stmt, 1, rowid);
            for (int i = 0; i < 6; i++)
                sqlite3_bind_text (stmt, 2 + i, cols [i], -1, SQLITE_STATIC);
        }
        rc = s_run (self, stmt);
    }
    if (rc == 0) {
        bool was_live = known && (size_t) rowid < self->docs_room && self->docs [rowid].live;
        rc = s_doc_fill (self, rowid, doc, &titles);
        if (rc == 0 && !was_live)
            self->count++;
        if (rc == 0 && !known)
            self->next_rowid++;
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
    int64_t rowid = s_rowid (self, id);
    if (rowid <= 0)
        return rowid < 0 ? -1 : 0;
    s_stmt_id_t deletes [] = { ST_FTS_DELETE, ST_DOC_DELETE };
    for (size_t i = 0; i < sizeof deletes / sizeof deletes [0]; i++) {
        sqlite3_stmt *stmt = s_stmt (self, deletes [i]);
        if (stmt)
            sqlite3_bind_int64 (stmt, 1, rowid);
        if (s_run (self, stmt))
            return -1;
    }
    if ((size_t) rowid < self->docs_room && self->docs [rowid].live) {
        s_vec_forget (self, &self->docs [rowid]);
        s_doc_clear (&self->docs [rowid]);
        self->count--;
    }
    self->vocab_dirty = true;
    return 0;
}

bool
search_index_semantic (search_index_t *self)
{
    assert (self);
    return self->lsa != NULL;
}

size_t
search_index_count (search_index_t *self)
{
    assert (self);
    return self->count;
}

int
search_index_add_genre (search_index_t *self, const char *slug)
{
    assert (self && slug);
    return s_intern (self->genres, &self->genres_count, GENRES_MAX, slug, strlen (slug)) < 0 ? -1 : 0;
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

//  A sealed vocabulary of the words statement id lists (term, documents),
//  or NULL.
static search_vocab_t *
s_vocab_read (search_index_t *self, s_stmt_id_t id)
{
    search_vocab_t *vocab = search_vocab_new ();
    sqlite3_stmt *stmt = vocab ? s_stmt (self, id) : NULL;
    int rc = stmt ? 0 : -1, step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW)
        rc = search_vocab_add (vocab, (const char *) sqlite3_column_text (stmt, 0),
                               (unsigned) sqlite3_column_int (stmt, 1));
    if (stmt)
        sqlite3_reset (stmt);
    if (rc == 0 && (step != SQLITE_DONE || search_vocab_seal (vocab)))
        rc = -1;
    if (rc)
        search_vocab_destroy (&vocab);
    return vocab;
}

//  Rebuild the vocabulary from the index when titles changed since.
static int
s_vocab (search_index_t *self)
{
    if (!self->vocab_dirty && self->vocab)
        return 0;
    search_vocab_t *vocab = s_vocab_read (self, ST_VOCAB);
    if (!vocab)
        return -1;
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
    bool last_typed;            //  q ends after its last word (a space, punctuation): no prefix
    bool unknown;               //  a word no title holds in any field (a typo, or a word the catalog lacks)
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

//  Plan q: words, typo candidates (wide: the second pass's budgets),
//  match expressions limited to the columns in scope ("" for all).
//  Returns the word count, or -1.
static int
s_plan (search_index_t *self, const char *q, const char *scope, bool wide, s_plan_t *plan)
{
    memset (plan, 0, sizeof *plan);
    plan->n = search_text_words (q, plan->words, SEARCH_QUERY_WORDS);
    //  Meilisearch's rule: the last word is a prefix only while it is being
    //  typed; "day " is the word day. (Retrieval keeps the prefix: it only
    //  adds candidates; the ranking stops crediting it.)
    size_t qlen = strlen (q);
    plan->last_typed = qlen > 0 && ((unsigned char) q [qlen - 1] < 0x80) && !isalnum ((unsigned char) q [qlen - 1]);
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
    char groups [SEARCH_QUERY_WORDS][GROUP_MAX];
    unsigned long postings [SEARCH_QUERY_WORDS];
    for (int i = 0; fits && i < plan->n; i++) {
        const char *word = plan->words [i];
        size_t length = search_text_length (word);
        plan->budget [i] = search_text_typo_budget (&self->typo, length, !distinctive || df [i] == 0, wide);
        if (df [i] == 0)
            plan->unknown = true;
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
        char *group = groups [i];
        size_t gused = 0;
        //  Words are letters and digits only, so quoting them is enough.
        int n = snprintf (group, GROUP_MAX, "\"%s\"", word);
        gused = n > 0 ? (size_t) n : 0;
        postings [i] = df [i];
        if (s_add_term (plan, word))
            fits = false;
        for (int c = 0; c < count && gused < GROUP_MAX; c++) {
            n = snprintf (group + gused, GROUP_MAX - gused, " OR \"%s\"", cand [c]);
            gused += n > 0 ? (size_t) n : 0;
            postings [i] += search_vocab_docs (self->vocab, cand [c]);
            if (s_add_term (plan, cand [c]))
                fits = false;
        }
        if (i == plan->n - 1 && gused < GROUP_MAX) {
            n = snprintf (group + gused, GROUP_MAX - gused, " OR \"%s\" *", word);
            gused += n > 0 ? (size_t) n : 0;
            postings [i] += search_vocab_prefix_docs (self->vocab, word, OR_POSTINGS_MAX);
        }
        if (gused >= GROUP_MAX)
            fits = false;
        fits = fits && s_cat (and_match, &and_used, "%s%s(%s)", i ? " AND " : scope, i ? "" : (*scope ? "(" : ""), group);
    }
    //  The OR fallback: groups rarest first within OR_POSTINGS_MAX.
    int order [SEARCH_QUERY_WORDS];
    for (int i = 0; i < plan->n; i++) {
        int at = i;
        while (at > 0 && postings [order [at - 1]] > postings [i]) {
            order [at] = order [at - 1];
            at--;
        }
        order [at] = i;
    }
    bool take [SEARCH_QUERY_WORDS] = { false };
    unsigned long sum = 0;
    for (int k = 0; k < plan->n; k++) {
        sum += postings [order [k]];
        if (k > 0 && sum > OR_POSTINGS_MAX)
            break;
        take [order [k]] = true;
    }
    for (int i = 0, first = 1; fits && i < plan->n; i++)
        if (take [i]) {
            fits = s_cat (or_match, &or_used, "%s%s(%s)", first ? scope : " OR ",
                          first && *scope ? "(" : "", groups [i]);
            first = 0;
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

//  A query's filters, resolved against the doc table once per query.
typedef struct {
    bool none;                 //  a filter no title can pass
    int tv;                    //  -1 any type, 0 movie, 1 tv
    bool has_year_from, has_year_to, has_min_rating;
    int year_from, year_to;
    double min_rating;
    uint64_t genres;           //  0: any; else a title needs one of these
    bool by_offer;             //  platforms or region given
    bool any_platform;         //  no platforms given (region only)
    bool platform [PLATFORMS_MAX];
    const char *region;
    bool mine;                 //  available=mine
    bool mine_platform [PLATFORMS_MAX];
    const char *mine_region;
    int64_t now;
} s_filter_t;

//  Resolve query's filters. A genre or platform the index does not know
//  matches no title.
static void
s_filter_init (search_index_t *self, const search_query_t *query, s_filter_t *f)
{
    memset (f, 0, sizeof *f);
    f->tv = !query->type ? -1 : strcmp (query->type, "tv") == 0;
    f->has_year_from = query->has_year_from;
    f->year_from = query->year_from;
    f->has_year_to = query->has_year_to;
    f->year_to = query->year_to;
    f->has_min_rating = query->has_min_rating;
    f->min_rating = query->min_rating;
    for (size_t i = 0; i < query->genres_count; i++)
        for (size_t g = 0; g < self->genres_count; g++)
            if (strcmp (self->genres [g], query->genres [i]) == 0)
                f->genres |= (uint64_t) 1 << g;
    f->none = query->genres_count && !f->genres;
    f->by_offer = query->platforms_count || query->region;
    f->any_platform = query->platforms_count == 0;
    for (size_t i = 0; i < query->platforms_count; i++)
        for (size_t p = 0; p < self->platforms_count; p++)
            if (strcmp (self->platforms [p], query->platforms [i]) == 0)
                f->platform [p] = true;
    f->region = query->region;
    f->mine = query->mine_only;
    for (size_t i = 0; f->mine && i < query->my_services_count; i++)
        for (size_t p = 0; p < self->platforms_count; p++)
            if (strcmp (self->platforms [p], query->my_services [i]) == 0)
                f->mine_platform [p] = true;
    f->mine_region = query->my_region;
    f->now = (int64_t) time (NULL);
}

//  True when offer is current and in region (when given).
static bool
s_offer_live (const s_offer_t *o, const char *region, int64_t now)
{
    return (o->expires == 0 || o->expires > now) && (!region || strcmp (o->region, region) == 0);
}

//  True when doc passes every filter of f.
static bool
s_keep (const s_doc_t *doc, const s_filter_t *f)
{
    if (!doc->live || f->none || (f->tv >= 0 && doc->tv != (f->tv == 1)))
        return false;
    if ((f->has_year_from || f->has_year_to) && doc->year <= 0)
        return false;
    if ((f->has_year_from && doc->year < f->year_from) || (f->has_year_to && doc->year > f->year_to))
        return false;
    if (f->has_min_rating && (!doc->has_rating || doc->rating < f->min_rating))
        return false;
    if (f->genres && !(doc->genres & f->genres))
        return false;
    if (f->by_offer) {
        bool found = false;
        for (size_t i = 0; !found && i < doc->offers_count; i++) {
            const s_offer_t *o = &doc->offers [i];
            found = s_offer_live (o, f->region, f->now) && (f->any_platform || f->platform [o->platform]);
        }
        if (!found)
            return false;
    }
    //  available=mine: an offer of its own, on one of the caller's services in their region.
    if (f->mine) {
        bool found = false;
        for (size_t i = 0; !found && i < doc->offers_count; i++) {
            const s_offer_t *o = &doc->offers [i];
            found = s_offer_live (o, f->mine_region, f->now) && f->mine_platform [o->platform];
        }
        if (!found)
            return false;
    }
    return true;
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

//  Collect the matches of match (tier) that pass f and are not already
//  in hits [0, known).
static int
s_collect (search_index_t *self, const char *match, const s_filter_t *f, int tier, s_hits_t *hits, size_t known)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_MATCH);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, match, -1, SQLITE_STATIC);
    s_hit_t *sorted = NULL;
    if (known) {
        sorted = malloc (known * sizeof *sorted);
        if (!sorted) {
            sqlite3_reset (stmt);
            return -1;
        }
        memcpy (sorted, hits->items, known * sizeof *sorted);
        qsort (sorted, known, sizeof *sorted, s_by_rowid);
    }
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64 (stmt, 0);
        if (rowid <= 0 || (size_t) rowid >= self->docs_room || !s_keep (&self->docs [rowid], f))
            continue;
        const s_doc_t *doc = &self->docs [rowid];
        s_hit_t hit = {
            .rowid = rowid, .tier = tier, .bm25 = -sqlite3_column_double (stmt, 1),
            .popularity = doc->popularity, .has_rating = doc->has_rating, .rating = doc->rating
        };
        memcpy (hit.release, doc->release, sizeof hit.release);
        if (sorted && bsearch (&hit, sorted, known, sizeof *sorted, s_by_rowid))
            continue;
        rc = s_hits_push (hits, &hit);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = -1;
    if (rc)
        mg_error ("search match failed", "error=\"%s\"", sqlite3_errmsg (self->db));
    free (sorted);
    sqlite3_reset (stmt);
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

//  True when the title line begins with the query's words in order (the
//  last one as a prefix when prefix_last): the title typed from its start.
static bool
s_starts_with (const char *line, const s_plan_t *plan, bool prefix_last)
{
    const char *p = line;
    for (int i = 0; i < plan->n; i++) {
        size_t len = strlen (plan->words [i]);
        if (strncmp (p, plan->words [i], len) != 0)
            return false;
        bool last = i == plan->n - 1;
        if (p [len] == ' ')
            p += len + 1;
        else
        if (p [len] == '\0')
            p += len;
        else
        if (!(last && prefix_last))
            return false;
        if (!*p && !last)
            return false;
    }
    return true;
}

//  Best title similarity of the title lines of doc.
static double
s_title_match (const s_doc_t *doc, const s_plan_t *plan, bool prefix_last, int *typos)
{
    *typos = 0;
    double best = 0;
    char line [4096];
    for (const char *p = doc->titles; p && *p; ) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        snprintf (line, sizeof line, "%.*s", (int) (len < sizeof line ? len : sizeof line - 1), p);
        int t;
        double m = search_text_title_match ((char (*)[SEARCH_WORD_BYTES]) plan->words, plan->weight,
                                            plan->budget, plan->n, prefix_last, line, &t);
        if (m > 0 && s_starts_with (line, plan, prefix_last))
            m += TITLE_START;
        if (m > best) {
            best = m;
            *typos = t;
        }
        p = end ? end + 1 : p + len;
    }
    return best;
}

//  True when phrase (normalised words) occurs in text (normalised words,
//  lines separated by '\n') on word boundaries; *whole when it is a whole
//  line.
static bool
s_phrase_in (const char *text, const char *phrase, size_t plen, bool *whole)
{
    *whole = false;
    bool found = false;
    for (const char *at = text; plen && at && (at = strstr (at, phrase)) != NULL; at++) {
        bool start = at == text || at [-1] == ' ' || at [-1] == '\n';
        char after = at [plen];
        bool end = after == '\0' || after == ' ' || after == '\n';
        if (start && end) {
            found = true;
            if ((at == text || at [-1] == '\n') && (after == '\0' || after == '\n')) {
                *whole = true;
                return true;
            }
        }
    }
    return found;
}

//  Words of normalised text (single spaces).
static int
s_word_count (const char *text)
{
    int n = *text ? 1 : 0;
    for (; *text; text++)
        n += *text == ' ';
    return n;
}

//  Exactness bonus of doc for the query phrase (n words).
static double
s_exactness (const s_doc_t *doc, const char *phrase, size_t plen, int n)
{
    double bonus = 0;
    bool whole;
    if (doc->tags && s_phrase_in (doc->tags, phrase, plen, &whole))
        bonus += whole ? TAG_EXACT : TAG_PHRASE;
    if (n >= PHRASE_WORDS && doc->tagline && s_phrase_in (doc->tagline, phrase, plen, &whole)
    &&  (double) n >= TAGLINE_SHARE * (double) s_word_count (doc->tagline))
        bonus += TAGLINE_PHRASE;
    return bonus;
}

//  The popularity prior of a title: POP_WEIGHT x log(1 + popularity) over
//  log(1 + the catalog's highest popularity), so 0..POP_WEIGHT whatever the
//  scale of TMDB's popularity (log: popularity is heavy-tailed, a blockbuster
//  is hundreds of times a classic).
static double
s_prior (const search_index_t *self, double popularity)
{
    double norm = log1p (self->pop_max > 0 ? self->pop_max : 1);
    return POP_WEIGHT * log1p (popularity > 0 ? popularity : 0) / norm;
}

//  Placeholder search (no words): every live title passing f, scored by
//  its popularity prior alone.
static int
s_placeholder (search_index_t *self, const s_filter_t *f, s_hits_t *hits)
{
    for (int64_t rowid = 1; rowid < (int64_t) self->docs_room; rowid++) {
        const s_doc_t *doc = &self->docs [rowid];
        if (!doc->live || !s_keep (doc, f))
            continue;
        s_hit_t hit = {
            .rowid = rowid, .popularity = doc->popularity, .has_rating = doc->has_rating,
            .rating = doc->rating, .prior = s_prior (self, doc->popularity)
        };
        hit.score = hit.prior;
        memcpy (hit.release, doc->release, sizeof hit.release);
        if (s_hits_push (hits, &hit))
            return -1;
    }
    return 0;
}

//  Give the best RERANK_MAX hits of each tier their final score.
static void
s_rank (search_index_t *self, const s_plan_t *plan, s_hits_t *hits)
{
    s_hits_sort (hits, s_by_bm25);
    char phrase [SEARCH_QUERY_WORDS * SEARCH_WORD_BYTES];
    size_t plen = 0;
    for (int i = 0; i < plan->n; i++)
        plen += (size_t) snprintf (phrase + plen, sizeof phrase - plen, "%s%s", i ? " " : "", plan->words [i]);
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
            double prior = s_prior (self, hit->popularity);
            hit->prior = prior;
            if (i - start < RERANK_MAX) {
                const s_doc_t *doc = &self->docs [hit->rowid];
                hit->title = s_title_match (doc, plan, !plan->last_typed, &hit->typos);
                hit->exact = s_exactness (doc, phrase, plen, plan->n);
                hit->score = TITLE_WEIGHT * hit->title + hit->exact + bm + prior;
            }
            else
                hit->score = bm + prior - 10;
        }
        start = end;
    }
}

//  Keyword hits of plan passing f into hits, ranked: the AND, then (when
//  it finds few) the OR fallback.
static int
s_keyword (search_index_t *self, const s_plan_t *plan, const s_filter_t *f, s_hits_t *hits)
{
    int rc = s_collect (self, plan->and_match, f, 0, hits, 0);
    if (rc == 0 && hits->count < DROP_THRESHOLD && plan->n > 1)
        rc = s_collect (self, plan->or_match, f, 1, hits, hits->count);
    if (rc == 0)
        s_rank (self, plan, hits);
    return rc;
}

//  Best title similarity among hits.
static double
s_best_title (const s_hits_t *hits)
{
    double best = 0;
    for (size_t i = 0; i < hits->count; i++)
        if (hits->items [i].title > best)
            best = hits->items [i].title;
    return best;
}

//  The second pass (people type "the msrfs"): when the first budget found
//  no title the query spells out and a word is in no title, plan q again
//  with the wide budgets and keep that answer (plan and hits) when it
//  spells out a title better.
static int
s_second_pass (search_index_t *self, const char *q, const s_filter_t *f, s_plan_t *plan, s_hits_t *hits)
{
    s_plan_t wide;
    s_hits_t more = { 0 };
    if (s_plan (self, q, "", true, &wide) < 0)
        return -1;
    int rc = s_keyword (self, &wide, f, &more);
    if (rc == 0 && s_best_title (&more) > s_best_title (hits)) {
        s_plan_t spare = *plan;
        *plan = wide;
        wide = spare;
        s_hits_t swap = *hits;
        *hits = more;
        more = swap;
    }
    free (more.items);
    s_plan_clear (&wide);
    return rc;
}

//  One facet value and its count, while counting.
typedef struct {
    const char *value;
    char text [12];
    uint64_t count;
} s_count_t;

//  Count desc, then value asc.
static int
s_by_count (const void *a, const void *b)
{
    const s_count_t *x = a, *y = b;
    if (x->count != y->count)
        return (x->count < y->count) - (x->count > y->count);
    return strcmp (x->value, y->value);
}

//  The first max of counts (n of them) with a count into out, in order.
static int
s_facet_list (s_count_t *counts, size_t n, size_t max, bool sort, mg_facet_count_t **out, size_t *count)
{
    if (sort && n)
        qsort (counts, n, sizeof *counts, s_by_count);
    *count = 0;
    *out = calloc (max ? max : 1, sizeof **out);
    if (!*out)
        return -1;
    for (size_t i = 0; i < n && *count < max; i++) {
        if (!counts [i].count)
            continue;
        mg_facet_count_t *f = &(*out) [*count];
        f->value = strdup (counts [i].value);
        if (!f->value)
            return -1;
        f->count = counts [i].count;
        f->has_count = true;
        (*count)++;
    }
    return 0;
}

static int
s_by_year_desc (const void *a, const void *b)
{
    int x = *(const int *) a, y = *(const int *) b;
    return (x < y) - (x > y);
}

//  Facets over every hit: genres, platforms (titles with a current offer
//  there, in region when given), years, types.
static int
s_facets (search_index_t *self, const search_query_t *query, const s_hits_t *hits, mg_search_facets_t *facets)
{
    s_count_t genres [GENRES_MAX] = { { 0 } };
    for (size_t g = 0; g < self->genres_count; g++)
        genres [g].value = self->genres [g];
    size_t np = self->platforms_count;
    s_count_t *platforms = calloc (np ? np : 1, sizeof *platforms);
    int64_t *seen = calloc (np ? np : 1, sizeof *seen);       //  last rowid counted per platform
    int *years = malloc ((hits->count ? hits->count : 1) * sizeof *years);
    s_count_t types [2] = { { .value = "movie" }, { .value = "tv" } };
    int rc = platforms && seen && years ? 0 : -1;
    for (size_t p = 0; rc == 0 && p < np; p++)
        platforms [p].value = self->platforms [p];
    int64_t now = (int64_t) time (NULL);
    size_t nyears = 0;
    for (size_t i = 0; rc == 0 && i < hits->count; i++) {
        int64_t rowid = hits->items [i].rowid;
        const s_doc_t *doc = &self->docs [rowid];
        for (size_t g = 0; g < self->genres_count; g++)
            if (doc->genres & ((uint64_t) 1 << g))
                genres [g].count++;
        for (size_t k = 0; k < doc->offers_count; k++) {
            const s_offer_t *o = &doc->offers [k];
            if (s_offer_live (o, query->region, now) && seen [o->platform] != rowid) {
                seen [o->platform] = rowid;
                platforms [o->platform].count++;
            }
        }
        if (doc->year > 0)
            years [nyears++] = doc->year;
        types [doc->tv ? 1 : 0].count++;
    }
    s_count_t year_counts [256];
    size_t ny = 0;
    if (rc == 0 && nyears)
        qsort (years, nyears, sizeof *years, s_by_year_desc);
    for (size_t i = 0; rc == 0 && i < nyears; i++) {
        if (ny && atoi (year_counts [ny - 1].text) == years [i])
            year_counts [ny - 1].count++;
        else {
            if (ny == sizeof year_counts / sizeof year_counts [0])
                break;
            s_count_t *y = &year_counts [ny++];
            snprintf (y->text, sizeof y->text, "%d", years [i]);
            y->value = y->text;
            y->count = 1;
        }
    }
    if (rc == 0)
        rc = s_facet_list (genres, self->genres_count, 64, true, &facets->genres, &facets->genres_count)
          || s_facet_list (platforms, np, 256, true, &facets->platforms, &facets->platforms_count)
          || s_facet_list (year_counts, ny, 256, false, &facets->years, &facets->years_count)
          || s_facet_list (types, 2, 2, true, &facets->types, &facets->types_count) ? -1 : 0;
    free (platforms);
    free (seen);
    free (years);
    return rc;
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

//  qsort order of two C strings.
static int
s_by_text (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  on_my_services of hit: the caller's services with a current offer in
//  their region, once each, by slug (as the catalog's lists give them).
static int
s_mark_mine (mg_search_hit_t *hit, const search_query_t *query, const char *now)
{
    hit->on_my_services = calloc (query->my_services_count + 1, sizeof (char *));
    if (!hit->on_my_services)
        return -1;
    for (size_t i = 0; i < hit->availability_count; i++) {
        const mg_offer_t *offer = &hit->availability [i];
        if (strcmp (offer->region, query->my_region) != 0
        ||  (offer->expires_at && strcmp (offer->expires_at, now) <= 0))
            continue;
        bool mine = false, seen = false;
        for (size_t s = 0; !mine && s < query->my_services_count; s++)
            mine = strcmp (query->my_services [s], offer->platform) == 0;
        for (size_t k = 0; !seen && k < hit->on_my_services_count; k++)
            seen = strcmp (hit->on_my_services [k], offer->platform) == 0;
        if (!mine || seen)
            continue;
        if (!(hit->on_my_services [hit->on_my_services_count] = strdup (offer->platform)))
            return -1;
        hit->on_my_services_count++;
    }
    qsort (hit->on_my_services, hit->on_my_services_count, sizeof (char *), s_by_text);
    return 0;
}

//  Decode the stored item of hit into out.
static int
s_fill_hit (search_index_t *self, const s_hit_t *hit, const search_query_t *query,
            const s_plan_t *plan, const char *now, mg_search_hit_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_ITEM);
    if (!stmt)
        return s_fail (self, err, errlen, "cannot read a title");
    sqlite3_bind_int64 (stmt, 1, hit->rowid);
    if (sqlite3_step (stmt) != SQLITE_ROW) {
        sqlite3_reset (stmt);
        return s_fail (self, err, errlen, "a matched title vanished");
    }
    json_error_t jerr;
    json_t *json = json_loads ((const char *) sqlite3_column_text (stmt, 0), 0, &jerr);
    sqlite3_reset (stmt);
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
    if (query->mine_mark && s_mark_mine (out, query, now)) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    s_trim_offers (out, query->region, now);
    if (query->explain) {
        mg_search_explain_t *x = calloc (1, sizeof *x);
        if (!x) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        out->explain = x;
        x->keyword_rank = (uint64_t) hit->keyword_rank;
        x->has_keyword_rank = hit->keyword_rank > 0;
        x->semantic_rank = (uint64_t) hit->semantic_rank;
        x->has_semantic_rank = hit->semantic_rank > 0;
        x->fused_score = score;
        x->has_fused_score = true;
        x->bm25 = round (hit->bm25 * 1e6) / 1e6;
        x->has_bm25 = true;
        x->title_match = round (hit->title * 1e6) / 1e6;
        x->has_title_match = true;
        x->typos = (uint64_t) hit->typos;
        x->has_typos = true;
        x->exactness = hit->exact;
        x->has_exactness = true;
        x->popularity = round (hit->prior * 1e6) / 1e6;
        x->has_popularity = true;
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

//  What the vector search may return: live titles passing f, but skip.
typedef struct {
    search_index_t *self;
    const s_filter_t *f;
    int64_t skip;              //  rowid left out (similar: the title itself), 0: none
} s_vec_keep_t;

//  search_hnsw_keep_fn over s_vec_keep_t.
static bool
s_vec_keep (void *arg, int64_t slot)
{
    s_vec_keep_t *keep = arg;
    int64_t rowid = keep->self->slot_rowid [slot];
    return rowid > 0 && rowid != keep->skip && s_keep (&keep->self->docs [rowid], keep->f);
}

//  A vector hit of rowid with cosine dot.
static s_hit_t
s_vec_hit (search_index_t *self, int64_t rowid, double dot)
{
    const s_doc_t *doc = &self->docs [rowid];
    s_hit_t hit = {
        .rowid = rowid, .cosine = dot, .score = dot, .popularity = doc->popularity,
        .has_rating = doc->has_rating, .rating = doc->rating
    };
    memcpy (hit.release, doc->release, sizeof hit.release);
    return hit;
}

//  The best k titles (k <= SIMILAR_TOP, SEMANTIC_TOP) that keep accepts
//  whose vector's cosine with qv is at least min, best first, into top;
//  their count, or -1. HNSW first; when it finds fewer than k above min
//  (a filter few titles pass starves the graph walk), a full scan of the
//  vectors gives the exact answer.
static int
s_nearest (search_index_t *self, const float *qv, s_vec_keep_t *keep, size_t k, double min, s_hit_t *top)
{
    int64_t slots [SEMANTIC_TOP > SIMILAR_TOP ? SEMANTIC_TOP : SIMILAR_TOP];
    float scores [SEMANTIC_TOP > SIMILAR_TOP ? SEMANTIC_TOP : SIMILAR_TOP];
    char err [256];
    assert (k <= sizeof slots / sizeof slots [0]);
    int found = search_hnsw_search (self->hnsw, qv, k, HNSW_EF_SEARCH, s_vec_keep, keep, slots, scores, err, sizeof err);
    if (found < 0) {
        mg_error ("vector search failed", "reason=\"%s\"", err);
        return -1;
    }
    size_t count = 0;
    for (int i = 0; i < found && scores [i] >= min; i++)
        top [count++] = s_vec_hit (self, self->slot_rowid [slots [i]], scores [i]);
    if (count == k || (size_t) found > count)
        return (int) count;
    count = 0;
    size_t held = search_hnsw_count (self->hnsw);
    for (size_t slot = 0; slot < held; slot++) {
        if (!s_vec_keep (keep, (int64_t) slot))
            continue;
        const float *vec = search_hnsw_vector (self->hnsw, (int64_t) slot);
        float dot = 0;
        for (uint32_t d = 0; d < self->dims; d++)
            dot += qv [d] * vec [d];
        if (dot < min || (count == k && dot <= top [count - 1].cosine))
            continue;
        size_t at = count < k ? count++ : count - 1;
        while (at > 0 && top [at - 1].cosine < dot) {
            top [at] = top [at - 1];
            at--;
        }
        top [at] = s_vec_hit (self, self->slot_rowid [slot], dot);
    }
    return (int) count;
}

//  The best SEMANTIC_TOP titles passing f whose vector's cosine with the
//  query's is at least SEMANTIC_MIN, best first, ranked from 1, into sem.
static int
s_semantic (search_index_t *self, const char *q, const s_filter_t *f, s_hits_t *sem)
{
    float *qv = malloc (self->dims * sizeof *qv);
    if (!qv)
        return -1;
    int e = search_lsa_embed_text (self->lsa, q, qv);
    s_hit_t top [SEMANTIC_TOP];
    s_vec_keep_t keep = { .self = self, .f = f };
    int count = e == 0 ? s_nearest (self, qv, &keep, SEMANTIC_TOP, SEMANTIC_MIN, top) : e > 0 ? 0 : -1;
    free (qv);
    int rc = count < 0 ? -1 : 0;
    for (int i = 0; rc == 0 && i < count; i++) {
        top [i].semantic_rank = i + 1;
        rc = s_hits_push (sem, &top [i]);
    }
    return rc;
}

//  Fuse the keyword hits (sorted by score) with the semantic ones. Guarded
//  keyword hits keep their keyword order above everything else: the first
//  one, a title the query spells out, an exact tag or tagline phrase, and
//  for a sentence (more than LONG_QUERY_WORDS words) every all-words hit
//  (a quoted line is matched, not paraphrased). The rest are ordered by
//  weighted reciprocal ranks, (1 - ratio) / (K + keyword rank) + ratio /
//  (K + semantic rank); semantic hits not in hits are added among them.
//  So the semantic side reorders and extends the tail, never the answers
//  the keyword side is sure of.
static int
s_fuse (s_hits_t *hits, s_hits_t *sem, double ratio, bool sentence)
{
    for (size_t i = 0; i < hits->count; i++) {
        s_hit_t *hit = &hits->items [i];
        hit->keyword_rank = (int) i + 1;
        hit->protected = hit->tier == 0
            && (i == 0 || sentence || hit->title >= TITLE_TYPED || hit->exact > 0);
        hit->score = hit->protected ? GUARD_SCORE - (double) i / (double) hits->count
                                    : (1 - ratio) / (RRF_K + (double) hit->keyword_rank);
        hit->tier = 0;
    }
    s_hits_sort (hits, s_by_rowid);
    size_t known = hits->count;
    for (size_t i = 0; i < sem->count; i++) {
        const s_hit_t *v = &sem->items [i];
        s_hit_t *hit = known ? bsearch (v, hits->items, known, sizeof *hits->items, s_by_rowid) : NULL;
        double add = ratio / (RRF_K + (double) v->semantic_rank);
        if (hit) {
            hit->semantic_rank = v->semantic_rank;
            hit->cosine = v->cosine;
            if (!hit->protected)
                hit->score += add;
        }
        else {
            s_hit_t fresh = *v;
            fresh.score = add;
            if (s_hits_push (hits, &fresh))
                return -1;
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
    int n = s_plan (self, query->q, "", false, &plan);
    if (n < 0) {
        snprintf (err, errlen, "the query could not be planned");
        return -1;
    }
    s_filter_t *filter = malloc (sizeof *filter);
    if (!filter) {
        s_plan_clear (&plan);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    s_filter_init (self, query, filter);
    s_hits_t hits = { 0 }, sem = { 0 };
    int rc = 0;
    double ratio = query->mode == SEARCH_MODE_KEYWORD || !self->lsa ? 0
                 : query->mode == SEARCH_MODE_SEMANTIC ? 1 : query->semantic_ratio;
    if (n == 0)
        rc = s_placeholder (self, filter, &hits);
    if (n > 0 && ratio < 1) {
        rc = s_keyword (self, &plan, filter, &hits);
        if (rc == 0 && plan.unknown && s_best_title (&hits) < TITLE_TYPED)
            rc = s_second_pass (self, query->q, filter, &plan, &hits);
    }
    if (rc == 0 && n > 0 && ratio > 0) {
        rc = s_semantic (self, query->q, filter, &sem);
        if (rc == 0 && ratio < 1) {
            s_hits_sort (&hits, s_by_score);
            rc = s_fuse (&hits, &sem, ratio, n > LONG_QUERY_WORDS);
        }
        else
        if (rc == 0) {
            free (hits.items);
            hits = sem;
            sem = (s_hits_t) { 0 };
        }
    }
    if (rc == 0) {
        if (query->sort == SEARCH_SORT_RELEVANCE)
            s_hits_sort (&hits, s_by_score);
        else {
            s_sort_key = query->sort;
            s_hits_sort (&hits, s_by_key);
        }
    }
    rep->facets = calloc (1, sizeof *rep->facets);
    if (rc == 0)
        rc = rep->facets ? s_facets (self, query, &hits, rep->facets) : -1;
    rep->total = hits.count;
    rep->has_total = true;
    size_t first = query->offset < hits.count ? (size_t) query->offset : hits.count;
    size_t count = hits.count - first < query->per_page ? hits.count - first : (size_t) query->per_page;
    if (rc == 0 && count) {
        rep->results = calloc (count, sizeof *rep->results);
        rc = rep->results ? 0 : -1;
        char now [32];
        s_now_text (now);
        for (size_t i = 0; rc == 0 && i < count; i++) {
            rc = s_fill_hit (self, &hits.items [first + i], query, &plan, now, &rep->results [i], err, errlen);
            if (rc == 0)
                rep->results_count++;
        }
    }
    if (rc && !*err)
        s_fail (self, err, errlen, "search failed");
    free (hits.items);
    free (sem.items);
    free (filter);
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
    s_filter_t *filter = malloc (sizeof *filter);
    if (!filter)
        return -1;
    s_filter_init (self, &none, filter);
    int rc = s_collect (self, match, filter, 0, hits, 0);
    free (filter);
    if (rc)
        return -1;
    s_rank (self, plan, hits);
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
    int n = s_plan (self, q, "{title alt} : ", false, &titles_plan);
    int m = s_plan (self, q, "{cast_names} : ", false, &people_plan);
    s_hits_t titles = { 0 }, people = { 0 };
    int rc = n < 0 || m < 0 ? -1 : 0;
    if (rc == 0 && n > 0)
        rc = s_suggest (self, &titles_plan, titles_plan.and_match, &titles)
          || s_suggest (self, &people_plan, people_plan.and_match, &people) ? -1 : 0;
    rep->results = calloc (SUGGESTIONS_MAX, sizeof *rep->results);
    if (!rep->results)
        rc = -1;
    sqlite3_stmt *stmt = rc == 0 ? s_stmt (self, ST_SUGGEST) : NULL;
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
    if (stmt)
        sqlite3_reset (stmt);
    if (rc)
        snprintf (err, errlen, "autocomplete failed");
    free (titles.items);
    free (people.items);
    s_plan_clear (&titles_plan);
    s_plan_clear (&people_plan);
    return rc;
}

//  Genre overlap of two titles: |a ∩ b| / |a ∪ b|, 0 when neither has one.
static double
s_genre_overlap (uint64_t a, uint64_t b)
{
    int all = __builtin_popcountll (a | b);
    return all ? (double) __builtin_popcountll (a & b) / all : 0;
}

int
search_index_similar (search_index_t *self, const char *id, const search_query_t *query,
                      mg_similar_reply_t *rep, char *err, size_t errlen)
{
    assert (self && id && query && rep);
    int64_t rowid = s_rowid (self, id);
    if (rowid < 0)
        return s_fail (self, err, errlen, "cannot look the title up");
    if (rowid == 0 || (size_t) rowid >= self->docs_room || !self->docs [rowid].live)
        return 1;
    const s_doc_t *doc = &self->docs [rowid];
    s_filter_t *filter = malloc (sizeof *filter);
    s_hit_t *top = malloc (SIMILAR_TOP * sizeof *top);
    int rc = filter && top ? 0 : -1;
    int count = 0;
    if (rc == 0 && self->hnsw && doc->slot > 0) {
        s_filter_init (self, query, filter);
        s_vec_keep_t keep = { .self = self, .f = filter, .skip = rowid };
        //  The title's vector is copied: the search may not move it, but
        //  nothing else should depend on that.
        float *qv = malloc (self->dims * sizeof *qv);
        if (qv)
            memcpy (qv, search_hnsw_vector (self->hnsw, doc->slot - 1), self->dims * sizeof *qv);
        count = qv ? s_nearest (self, qv, &keep, SIMILAR_TOP, 0, top) : -1;
        free (qv);
        rc = count < 0 ? -1 : 0;
    }
    for (int i = 0; rc == 0 && i < count; i++)
        top [i].score = top [i].cosine
                      + SIMILAR_GENRE_WEIGHT * s_genre_overlap (doc->genres, self->docs [top [i].rowid].genres);
    s_hits_t hits = { .items = top, .count = rc == 0 ? (size_t) count : 0, .room = SIMILAR_TOP };
    if (rc == 0)
        s_hits_sort (&hits, s_by_score);
    rep->total = hits.count;
    rep->has_total = true;
    size_t first = query->offset < hits.count ? (size_t) query->offset : hits.count;
    size_t n = hits.count - first < query->per_page ? hits.count - first : (size_t) query->per_page;
    if (rc == 0 && n) {
        rep->results = calloc (n, sizeof *rep->results);
        rc = rep->results ? 0 : -1;
        char now [32];
        s_now_text (now);
        s_plan_t plan = { 0 };
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = s_fill_hit (self, &hits.items [first + i], query, &plan, now, &rep->results [i], err, errlen);
            if (rc == 0)
                rep->results_count++;
        }
    }
    if (rc && !*err)
        snprintf (err, errlen, "similar titles failed");
    free (filter);
    free (top);
    return rc;
}
