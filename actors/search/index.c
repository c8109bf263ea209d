/*  The search index's life: schema, kept statements, put and remove of
    titles (their FTS5 rows and in-memory docs), the vocabulary. The
    vectors' slots are index_vectors.c's.  */
#include "index_impl.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FTS_COLUMNS  8          //  title, alt, tagline, keywords, overview, cast, crew, companies

static const char *const s_stmt_sql [ST_COUNT] = {
    [ST_ROWID] = "SELECT rowid FROM docs WHERE id = ?1",
    [ST_DOC_INSERT] = "INSERT OR REPLACE INTO docs (rowid, id, type, year, title, cast_names, item) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_FTS_DELETE] = "DELETE FROM fts WHERE rowid = ?1",
    [ST_FTS_INSERT] = "INSERT INTO fts (rowid, title, alt, tagline, keywords, overview, cast_names, crew_names, "
                      "companies) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_DOC_DELETE] = "DELETE FROM docs WHERE rowid = ?1",
    [ST_MATCH] = NULL,         //  built from the weights (index_stmt)
    [ST_ITEM] = "SELECT item_text (item) FROM docs WHERE rowid = ?1",
    [ST_SUGGEST] = "SELECT id, type, title, year, cast_names FROM docs WHERE rowid = ?1",
    [ST_VOCAB] = "SELECT term, doc FROM vocab",
    [ST_VOCAB_TEXT] = "SELECT term, max (doc) FROM vocab_col WHERE col <> 'companies' GROUP BY term",
    [ST_VOCAB_COMPANIES] = "SELECT term, doc FROM vocab_col WHERE col = 'companies'",
    [ST_PERSON_ROWID] = "SELECT rowid FROM people WHERE id = ?1",
    [ST_PERSON_PUT] = "INSERT OR REPLACE INTO people (rowid, id, popularity, item) VALUES (?1, ?2, ?3, ?4)",
    [ST_PERSON_FTS_DELETE] = "DELETE FROM pfts WHERE rowid = ?1",
    [ST_PERSON_FTS_INSERT] = "INSERT INTO pfts (rowid, name) VALUES (?1, ?2)",
    [ST_PERSON_MATCH] = "SELECT p.rowid, bm25 (pfts), pfts.name, p.popularity FROM pfts "
                        "JOIN people p ON p.rowid = pfts.rowid WHERE pfts MATCH ?1",
    [ST_PERSON_ALL] = "SELECT p.rowid, 0, pfts.name, p.popularity FROM people p JOIN pfts ON pfts.rowid = p.rowid",
    [ST_PERSON_ITEM] = "SELECT item FROM people WHERE rowid = ?1",
    [ST_MATCH_ROWID] = "SELECT rowid FROM fts WHERE fts MATCH ?1 AND rowid > ?2",
    [ST_MATCH_COUNT] = "SELECT count (*) FROM fts WHERE fts MATCH ?1",
    [ST_SLOT_IDS] = "SELECT rowid, id FROM docs",
};
static const char s_schema [] =
    "PRAGMA journal_mode = OFF;"
    "PRAGMA synchronous = OFF;"
    "CREATE TABLE docs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, "
    "  year INTEGER, title TEXT NOT NULL, cast_names TEXT NOT NULL, item BLOB NOT NULL);"
    "CREATE VIRTUAL TABLE fts USING fts5 (title, alt, tagline, keywords, overview, cast_names, crew_names, companies, "
    "  tokenize = 'unicode61 remove_diacritics 0', prefix = '1 2 3', detail = full);"
    "CREATE VIRTUAL TABLE vocab USING fts5vocab (fts, row);"
    "CREATE VIRTUAL TABLE vocab_col USING fts5vocab (fts, col);"
    "CREATE TABLE people (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, popularity REAL NOT NULL, "
    "  item TEXT NOT NULL);"
    "CREATE VIRTUAL TABLE pfts USING fts5 (name, tokenize = 'unicode61 remove_diacritics 0', "
    "  prefix = '1 2 3', detail = full);";
//  Result items are stored deflated (raw deflate, this preset dictionary:
//  the item's keys and the values many items share, the most frequent
//  last), as a 4-byte little-endian length of the JSON and the deflated
//  bytes: an item is mostly keys, genre slugs and offer groups, a third
//  of its JSON's size once deflated against them. item_text () (an SQL
//  function of the index's connection) gives the JSON back.
static const char s_item_dict [] =
    "documentarywesternwarhistorymusicfamilyanimationmysteryfantasyscience-fictionhorrorromance"
    "\"currency\":\"EUR\"\"currency\":\"GBP\"\"region\":\"CA\"\"region\":\"GB\"\"region\":\"DE\""
    "\"region\":\"FR\"\"region\":\"AU\"\"region\":\"BR\"\"region\":\"IN\"\"region\":\"JP\""
    "https://www.peacocktv.com/watch/https://www.paramountplus.com/movies/https://pluto.tv/on-demand/movies/"
    "https://tv.apple.com/movie/https://www.disneyplus.com/movies/https://www.netflix.com/title/"
    "https://play.google.com/store/movies/details?id=https://www.primevideo.com/detail/"
    "\"platform\":\"apple-tv-plus\"\"platform\":\"apple-tv\"\"platform\":\"peacock\""
    "\"platform\":\"paramount-plus\"\"platform\":\"pluto-tv\"\"platform\":\"netflix\""
    "\"platform\":\"disney-plus\"\"platform\":\"google-play\"\"platform\":\"prime-video\""
    "\"type\":\"rent\",\"type\":\"free\",\"type\":\"ads\",\"type\":\"buy\",\"type\":\"subscription\","
    "\"quality\":\"sd\",\"quality\":\"uhd\",\"quality\":\"hd\",\"price\":null,\"currency\":null,"
    "\"currency\":\"USD\",\"expires_at\":null}]},{\"platform\":\"\",\"region\":\"US\",\"deep_link\":\""
    "\"genres\":[\"thriller\",\"crime\",\"adventure\",\"action\",\"comedy\",\"drama\"],"
    "\"poster\":\"https://image.tmdb.org/t/p/w500/\",\"poster\":null,"
    "\"external_ids\":{\"imdb\":\"tt\",\"tmdb\":\"},\"availability\":[]}\",\"availability\":[{\"platform\":\""
    "{\"id\":\"00000000-0000-4000-8000-\",\"type\":\"movie\",\"type\":\"tv\",\"title\":\"\",\"original_title\":\""
    "\",\"year\":19\",\"year\":20\",\"overview\":\"";

#define ITEM_HEADER 4          //  bytes of the JSON's length before the deflated bytes

//  The deflated form of item (len bytes) into a new buffer (*packed,
//  *packed_len; caller frees). 0, or -1 (memory, zlib).
static int
s_item_pack (search_index_t *self, const char *item, size_t len, unsigned char **packed, size_t *packed_len)
{
    *packed = NULL;
    if (len > UINT32_MAX)
        return -1;
    if (!self->zpack) {
        self->zpack = calloc (1, sizeof *self->zpack);
        if (!self->zpack || deflateInit2 (self->zpack, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 9,
                                          Z_DEFAULT_STRATEGY) != Z_OK) {
            free (self->zpack);
            self->zpack = NULL;
            return -1;
        }
    }
    z_stream *z = self->zpack;
    size_t room = ITEM_HEADER + deflateBound (z, (uLong) len);
    unsigned char *out = malloc (room);
    if (!out || deflateReset (z) != Z_OK
    ||  deflateSetDictionary (z, (const Bytef *) s_item_dict, (uInt) (sizeof s_item_dict - 1)) != Z_OK) {
        free (out);
        return -1;
    }
    for (int i = 0; i < ITEM_HEADER; i++)
        out [i] = (unsigned char) (len >> (8 * i));
    z->next_in = (Bytef *) item;
    z->avail_in = (uInt) len;
    z->next_out = out + ITEM_HEADER;
    z->avail_out = (uInt) (room - ITEM_HEADER);
    if (deflate (z, Z_FINISH) != Z_STREAM_END) {
        free (out);
        return -1;
    }
    *packed = out;
    *packed_len = room - z->avail_out;
    return 0;
}

//  SQL item_text (item): the JSON of a stored item (a text item as it is).
static void
s_item_text (sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void) argc;
    search_index_t *self = sqlite3_user_data (ctx);
    if (sqlite3_value_type (argv [0]) != SQLITE_BLOB) {
        sqlite3_result_value (ctx, argv [0]);
        return;
    }
    const unsigned char *in = sqlite3_value_blob (argv [0]);
    int in_len = sqlite3_value_bytes (argv [0]);
    size_t len = 0;
    for (int i = 0; in && in_len > ITEM_HEADER && i < ITEM_HEADER; i++)
        len |= (size_t) in [i] << (8 * i);
    if (!self->zunpack) {
        self->zunpack = calloc (1, sizeof *self->zunpack);
        if (self->zunpack && inflateInit2 (self->zunpack, -15) != Z_OK) {
            free (self->zunpack);
            self->zunpack = NULL;
        }
    }
    z_stream *z = self->zunpack;
    char *out = z && len && len < (size_t) INT32_MAX ? malloc (len + 1) : NULL;
    bool ok = out && inflateReset (z) == Z_OK
           && inflateSetDictionary (z, (const Bytef *) s_item_dict, (uInt) (sizeof s_item_dict - 1)) == Z_OK;
    if (ok) {
        z->next_in = (Bytef *) in + ITEM_HEADER;
        z->avail_in = (uInt) (in_len - ITEM_HEADER);
        z->next_out = (Bytef *) out;
        z->avail_out = (uInt) len;
        ok = inflate (z, Z_FINISH) == Z_STREAM_END && z->avail_out == 0;
    }
    if (!ok) {
        free (out);
        sqlite3_result_error (ctx, "stored item does not inflate", -1);
        return;
    }
    out [len] = '\0';
    sqlite3_result_text (ctx, out, (int) len, free);
}

//  Fill err with the database's last error; returns -1.
int
index_fail (search_index_t *self, char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf (err, errlen, "%s: %s", what, sqlite3_errmsg (self->db));
    return -1;
}

//  The lane this thread's statements are taken from: 0 (the writer's)
//  unless a query entered one (index_lane_enter).
static _Thread_local int s_lane;

void
index_lane_enter (search_index_t *self)
{
    pthread_mutex_lock (&self->lanes_lock);
    int lane = 0;
    while (lane == 0) {
        for (int i = 1; i < INDEX_LANES && lane == 0; i++)
            if (!(self->lanes_busy & (1u << i)))
                lane = i;
        if (lane == 0)
            pthread_cond_wait (&self->lanes_free, &self->lanes_lock);
    }
    self->lanes_busy |= 1u << lane;
    pthread_mutex_unlock (&self->lanes_lock);
    s_lane = lane;
}

void
index_lane_leave (search_index_t *self)
{
    pthread_mutex_lock (&self->lanes_lock);
    self->lanes_busy &= ~(1u << s_lane);
    pthread_cond_signal (&self->lanes_free);
    pthread_mutex_unlock (&self->lanes_lock);
    s_lane = 0;
}

//  The kept statement id of this thread's lane, reset and unbound; NULL
//  (logged) when it cannot be prepared.
sqlite3_stmt *
index_stmt (search_index_t *self, index_stmt_id_t id)
{
    sqlite3_stmt *stmt = self->stmts [s_lane][id];
    if (stmt) {
        sqlite3_reset (stmt);
        sqlite3_clear_bindings (stmt);
        return stmt;
    }
    char match [512];
    const char *sql = s_stmt_sql [id];
    if (id == ST_MATCH) {
        snprintf (match, sizeof match, "SELECT rowid, mg_bm25 (fts, ?2, %g, %g, %g, %g, %g, %g, %g, %g) FROM fts WHERE fts MATCH ?1"
                 " AND rowid > ?3", W_TITLE, W_ALT, W_TAGLINE, W_KEYWORDS, W_OVERVIEW, W_CAST, W_CREW, W_COMPANIES);
        sql = match;
    }
    if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
        mg_error ("search index statement failed", "error=\"%s\"", sqlite3_errmsg (self->db));
        sqlite3_finalize (stmt);
        return NULL;
    }
    self->stmts [s_lane][id] = stmt;
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
search_index_new (const mg_lsa_t *lsa, char *err, size_t errlen)
{
    search_index_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    if (pthread_mutex_init (&self->lanes_lock, NULL)) {
        free (self);
        snprintf (err, errlen, "cannot create the index's lock");
        return NULL;
    }
    if (pthread_cond_init (&self->lanes_free, NULL)) {
        pthread_mutex_destroy (&self->lanes_lock);
        free (self);
        snprintf (err, errlen, "cannot create the index's lock");
        return NULL;
    }
    self->lsa = lsa;
    self->dims = lsa ? mg_lsa_dims (lsa) : 0;
    self->vocab_dirty = true;
    self->next_rowid = 1;
    self->typo.one = (int) mg_config_int ("MG_SEARCH_TYPO_ONE", MG_TEXT_TYPO_ONE, 1, MG_TEXT_WORD_CPS);
    self->typo.two = (int) mg_config_int ("MG_SEARCH_TYPO_TWO", MG_TEXT_TYPO_TWO, 1, MG_TEXT_WORD_CPS);
    self->typo.wide_two = (int) mg_config_int ("MG_SEARCH_TYPO_WIDE_TWO", MG_TEXT_TYPO_WIDE_TWO, 1, MG_TEXT_WORD_CPS);
    if (lsa && !(self->hnsw = search_hnsw_new (self->dims, HNSW_M, HNSW_EF_CONSTRUCTION, err, errlen))) {
        search_index_destroy (&self);
        return NULL;
    }
    //  Serialized: queries on several threads step their own statements
    //  (lanes) on this one connection.
    if (sqlite3_open_v2 (":memory:", &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK
    ||  sqlite3_exec (self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK
    ||  sqlite3_create_function_v2 (self->db, "item_text", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, self,
                                    s_item_text, NULL, NULL, NULL) != SQLITE_OK
    ||  index_bm25_register (self->db, &self->idf)) {
        index_fail (self, err, errlen, "cannot create the index");
        search_index_destroy (&self);
        return NULL;
    }
    return self;
}

//  Forget what the doc table holds of one title.
static void
s_doc_clear (index_doc_t *doc)
{
    free (doc->titles);
    free (doc->tags);
    free (doc->companies);
    free (doc->tagline);
    free (doc->cast);
    free (doc->crew);
    free (doc->offers);
    memset (doc, 0, sizeof *doc);
}

void
search_index_destroy (search_index_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        search_index_t *self = *self_p;
        //  A load given up between begin and commit: its thread ends here
        //  (what it failed on was logged).
        if (index_pipe_stop (self))
            mg_warn ("search index destroyed with failed vector adds", NULL);
        for (int lane = 0; lane < INDEX_LANES; lane++)
            for (int i = 0; i < ST_COUNT; i++)
                sqlite3_finalize (self->stmts [lane][i]);
        sqlite3_close (self->db);
        pthread_mutex_destroy (&self->lanes_lock);
        pthread_cond_destroy (&self->lanes_free);
        search_vocab_destroy (&self->vocab);
        search_vocab_destroy (&self->text_vocab);
        search_vocab_destroy (&self->company_vocab);
        index_idf_destroy (&self->idf);
        search_hnsw_destroy (&self->hnsw);
        free (self->slot_rowid);
        if (self->zpack)
            deflateEnd (self->zpack);
        if (self->zunpack)
            inflateEnd (self->zunpack);
        free (self->zpack);
        free (self->zunpack);
        for (size_t i = 0; i < self->genres_count; i++)
            free (self->genres [i]);
        for (size_t i = 0; i < self->platforms_count; i++)
            free (self->platforms [i]);
        for (size_t i = 0; i < self->docs_room; i++)
            s_doc_clear (&self->docs [i]);
        free (self->docs);
        free (self->read_slots);
        free (self);
        *self_p = NULL;
    }
}

int
search_index_begin (search_index_t *self)
{
    assert (self);
    if (sqlite3_exec (self->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    //  The vectors of the puts that follow go to a thread of their own.
    return self->pipe ? 0 : index_pipe_start (self);
}

//  The process's resident memory in MiB (/proc/self/statm), -1 unknown.
static long
s_rss_mib (void)
{
    FILE *file = fopen ("/proc/self/statm", "r");
    long pages = -1, resident = -1;
    bool ok = file && fscanf (file, "%ld %ld", &pages, &resident) == 2;
    if (file)
        fclose (file);
    long page = sysconf (_SC_PAGESIZE);
    return ok && page > 0 ? resident * (page / 1024) / 1024 : -1;
}

int
search_index_commit (search_index_t *self)
{
    assert (self);
    if (index_pipe_stop (self) || sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    //  A snapshot's vectors were staged by its puts: one parallel build.
    if (search_index_settle (self))
        return -1;
    //  The heap pages the build's buffers freed (staged vectors, FTS5's
    //  segment merges, the puts' copies) go back to the system: glibc
    //  keeps them otherwise. At 50,000 titles this returned nothing
    //  measurable (docs/benchmarks.md); the log line says what it returns
    //  at a replica's size.
    long before = s_rss_mib ();
    malloc_trim (0);
    mg_info ("search index committed", "rss_mib=%ld rss_trimmed_mib=%ld", before, s_rss_mib ());
    return 0;
}

int
search_index_settle (search_index_t *self)
{
    assert (self);
    char err [256];
    if (self->hnsw && search_hnsw_seal (self->hnsw, err, sizeof err)) {
        mg_error ("vector index build failed", "reason=\"%s\"", err);
        return -1;
    }
    if (index_vocab (self)) {
        mg_error ("search vocabulary rebuild failed", NULL);
        return -1;
    }
    return 0;
}

void
search_index_set_sides (search_index_t *self, bool concurrent)
{
    assert (self);
    self->sides_inline = !concurrent;
}

//  Normalised form of a '\n'-separated list (each item normalised, items
//  joined by spaces). Caller frees; NULL when out of memory.
static char *
s_norm (const char *text)
{
    return mg_text_normalize (text ? text : "", text ? strlen (text) : 0);
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
        char *norm = mg_text_normalize (p, len);
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
s_titles (const mg_doc_t *doc)
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
int64_t
index_rowid (search_index_t *self, const char *id)
{
    sqlite3_stmt *stmt = index_stmt (self, ST_ROWID);
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

//  Fill the doc table's entry of rowid from doc. Returns 0 or -1 (memory).
static int
s_doc_fill (search_index_t *self, int64_t rowid, const mg_doc_t *doc, char **titles)
{
    if ((size_t) rowid >= self->docs_room) {
        size_t room = self->docs_room ? self->docs_room : 1024;
        while (room <= (size_t) rowid)
            room *= 2;
        index_doc_t *docs = realloc (self->docs, room * sizeof *docs);
        if (!docs)
            return -1;
        memset (docs + self->docs_room, 0, (room - self->docs_room) * sizeof *docs);
        self->docs = docs;
        self->docs_room = room;
    }
    index_doc_t *d = &self->docs [rowid];
    //  A title put again: its first vector's slot may still be on its way.
    if (d->live && index_pipe_sync (self))
        return -1;
    index_vec_forget (self, d);
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
            index_offer_t *o = &d->offers [d->offers_count++];
            o->platform = (uint16_t) at;
            memcpy (o->region, region, sizeof o->region);
            o->expires = expires;
        }
        p = end ? end + 1 : p + len;
    }
    if (self->read_slots)
        index_vec_claim (self, rowid, d, doc->id);
    else
    if (self->pipe) {
        if (index_pipe_push (self, rowid, doc))
            return -1;
    }
    else
    if (self->lsa && doc->vector_stored) {
        if (doc->vector && doc->vector_dims == self->dims && index_vec_add (self, rowid, d, doc->vector))
            return -1;
    }
    else
    if (self->lsa) {
        float *vec = malloc (self->dims * sizeof *vec);
        int e = vec ? mg_lsa_embed_doc (self->lsa, doc, vec) : -1;
        if (e == 0)
            e = index_vec_add (self, rowid, d, vec);
        free (vec);
        if (e < 0)
            return -1;
    }
    d->tags = s_lines (doc->keywords);
    d->companies = s_lines (doc->companies);
    d->tagline = s_norm (doc->tagline);
    d->cast = s_lines (doc->cast);
    d->crew = s_lines (doc->directors);
    if (!d->tags || !d->companies || !d->tagline || !d->cast || !d->crew)
        return -1;
    d->titles = *titles;
    *titles = NULL;
    d->live = true;
    return 0;
}

int
search_index_put (search_index_t *self, const mg_doc_t *doc)
{
    assert (self && doc && doc->id && doc->title && doc->hit_json);
    int64_t rowid = index_rowid (self, doc->id);
    if (rowid < 0)
        return -1;
    bool known = rowid > 0;
    if (!known)
        rowid = self->next_rowid;
    char *titles = s_titles (doc);
    char *cols [FTS_COLUMNS] = {
        s_norm (doc->title), NULL, s_norm (doc->tagline), s_norm (doc->keywords),
        s_norm (doc->overview), s_norm (doc->cast), s_norm (doc->directors), s_norm (doc->companies)
    };
    //  alt: every title but the first line of titles (the title itself).
    const char *nl = titles ? strchr (titles, '\n') : NULL;
    cols [1] = strdup (nl ? nl + 1 : "");
    int rc = -1;
    unsigned char *item = NULL;
    size_t item_len = 0;
    bool ok = titles != NULL && s_item_pack (self, doc->hit_json, strlen (doc->hit_json), &item, &item_len) == 0;
    for (int i = 0; i < FTS_COLUMNS; i++)
        ok = ok && cols [i];
    sqlite3_stmt *stmt = ok && known ? index_stmt (self, ST_FTS_DELETE) : NULL;
    if (stmt)
        sqlite3_bind_int64 (stmt, 1, rowid);
    if (ok && (!known || s_run (self, stmt) == 0)) {
        stmt = index_stmt (self, ST_DOC_INSERT);
        if (stmt) {
            sqlite3_bind_int64 (stmt, 1, rowid);
            sqlite3_bind_text (stmt, 2, doc->id, -1, SQLITE_STATIC);
            sqlite3_bind_text (stmt, 3, doc->type, -1, SQLITE_STATIC);
            if (doc->year > 0)
                sqlite3_bind_int (stmt, 4, doc->year);
            sqlite3_bind_text (stmt, 5, doc->title, -1, SQLITE_STATIC);
            sqlite3_bind_text (stmt, 6, doc->cast ? doc->cast : "", -1, SQLITE_STATIC);
            sqlite3_bind_blob (stmt, 7, item, (int) item_len, SQLITE_STATIC);
        }
        rc = s_run (self, stmt);
    }
    if (rc == 0) {
        stmt = index_stmt (self, ST_FTS_INSERT);
        if (stmt) {
            sqlite3_bind_int64 (stmt, 1, rowid);
            for (int i = 0; i < FTS_COLUMNS; i++)
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
    free (item);
    for (int i = 0; i < FTS_COLUMNS; i++)
        free (cols [i]);
    return rc;
}

int
search_index_remove (search_index_t *self, const char *id)
{
    assert (self && id);
    int64_t rowid = index_rowid (self, id);
    if (rowid <= 0)
        return rowid < 0 ? -1 : 0;
    index_stmt_id_t deletes [] = { ST_FTS_DELETE, ST_DOC_DELETE };
    for (size_t i = 0; i < sizeof deletes / sizeof deletes [0]; i++) {
        sqlite3_stmt *stmt = index_stmt (self, deletes [i]);
        if (stmt)
            sqlite3_bind_int64 (stmt, 1, rowid);
        if (s_run (self, stmt))
            return -1;
    }
    if ((size_t) rowid < self->docs_room && self->docs [rowid].live) {
        if (index_pipe_sync (self))
            return -1;
        index_vec_forget (self, &self->docs [rowid]);
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

const char *index_phase_names [PHASE_COUNT] = {
    "plan (words, typo candidates)", "AND match (BM25)", "titles' own match", "company phrase",
    "rest counted (rowids)", "OR fallback", "rerank", "second pass (all of it)",
    "semantic side past the keyword side", "semantic: its thread's start", "semantic: query embedding",
    "semantic: vector walk", "semantic: starved walks (of the walk)", "fusion (and the union sorted)",
    "result items", "autocomplete matches"
};

uint64_t
index_clock_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void
index_phase_add (search_index_t *self, index_phase_t phase, uint64_t since_ns, size_t rows)
{
    index_phase_count (self, phase, index_clock_ns () - since_ns, 1, rows);
}

void
index_phase_count (search_index_t *self, index_phase_t phase, uint64_t ns, size_t runs, size_t rows)
{
    atomic_fetch_add_explicit (&self->phase_ns [phase], ns, memory_order_relaxed);
    atomic_fetch_add_explicit (&self->phase_runs [phase], runs, memory_order_relaxed);
    atomic_fetch_add_explicit (&self->phase_rows [phase], rows, memory_order_relaxed);
}

size_t
search_index_scored (search_index_t *self)
{
    assert (self);
    return self->scored;
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
s_vocab_read (search_index_t *self, index_stmt_id_t id)
{
    search_vocab_t *vocab = search_vocab_new ();
    sqlite3_stmt *stmt = vocab ? index_stmt (self, id) : NULL;
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

//  Rebuild the vocabularies from the index when titles changed since: every
//  word (documents holding it in any field), the words of the titles' text
//  (every field but the companies: typo candidates) and the companies'
//  words (a word only they hold is a name, not a typo).
int
index_vocab (search_index_t *self)
{
    if (!self->vocab_dirty && self->vocab)
        return 0;
    search_vocab_t *vocab = s_vocab_read (self, ST_VOCAB);
    search_vocab_t *text = vocab ? s_vocab_read (self, ST_VOCAB_TEXT) : NULL;
    search_vocab_t *companies = text ? s_vocab_read (self, ST_VOCAB_COMPANIES) : NULL;
    if (!companies) {
        search_vocab_destroy (&vocab);
        search_vocab_destroy (&text);
        return -1;
    }
    search_vocab_destroy (&self->vocab);
    search_vocab_destroy (&self->text_vocab);
    search_vocab_destroy (&self->company_vocab);
    self->vocab = vocab;
    self->text_vocab = text;
    self->company_vocab = companies;
    //  The phrases' row counts change with the titles, as the words' do.
    index_idf_clear (self->idf);
    self->vocab_dirty = false;
    return 0;
}

