/*  The keyword side of a replica persisted beside its vector index
    (MG_SEARCH_INDEX_FILE = PATH): PATH.db is a copy of the index's SQLite
    database (FTS5 tables, result items, people; VACUUM INTO), PATH.docs a
    SQLite file holding the doc table (what filters, facets, sorts and the
    ranking read by rowid). Both carry the key of the snapshot they were
    written from (model, catalog generation, title count) in a table of
    their own, and are written to a per-process temporary name and renamed,
    so replicas may share them and a crash never leaves half a file under
    the name. A replica that finds both under its snapshot's key copies the
    database into memory (the backup API: pages, no parsing) and reads the
    doc table back instead of reading the catalog from PostgreSQL.  */
#include "index_impl.h"
#include "mg_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  The doc table's text columns (titles to crew), from this column of a row.
#define DOC_TEXTS       6
#define DOC_TEXT_COLUMN 8

#define CRC_CHUNK       (1024 * 1024)   //  bytes read at a time to check a file

//  Raised when what the files hold changes shape (a file of another format
//  never carries the key a replica looks for).
#define STORE_FORMAT 1

static const char s_docs_schema [] =
    "PRAGMA journal_mode = OFF;"
    "PRAGMA synchronous = OFF;"
    "CREATE TABLE meta (key TEXT NOT NULL, db_bytes INTEGER NOT NULL, next_rowid INTEGER NOT NULL, "
    "  titles INTEGER NOT NULL, pop_max REAL NOT NULL, db_crc INTEGER NOT NULL);"
    "CREATE TABLE genres (i INTEGER PRIMARY KEY, slug TEXT NOT NULL);"
    "CREATE TABLE platforms (i INTEGER PRIMARY KEY, slug TEXT NOT NULL);"
    "CREATE TABLE doc (rowid INTEGER PRIMARY KEY, tv INTEGER, has_rating INTEGER, year INTEGER, "
    "  popularity REAL, rating REAL, release TEXT, genres INTEGER, titles TEXT, tags TEXT, companies TEXT, "
    "  tagline TEXT, cast_names TEXT, crew TEXT, offers BLOB);";

//  The key as stored: the format, then the caller's key.
static void
s_key (char *out, size_t room, const char *key)
{
    snprintf (out, room, "store=%d %s", STORE_FORMAT, key);
}

//  Run sql on db; 0 or -1.
static int
s_exec (sqlite3 *db, const char *sql)
{
    return sqlite3_exec (db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

//  Bytes of the file at path, -1 when there is none.
static long long
s_file_bytes (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 ? (long long) st.st_size : -1;
}

//  CRC-32 of the file at path, -1 when it does not read. A database copy
//  is checked whole before it is served: a flipped byte deep in an FTS5
//  page would otherwise only show as errors of the queries that touch it.
static long long
s_file_crc (const char *path)
{
    FILE *file = fopen (path, "rb");
    unsigned char *buffer = file ? malloc (CRC_CHUNK) : NULL;
    uLong crc = crc32 (0L, Z_NULL, 0);
    size_t n = 0;
    while (buffer && (n = fread (buffer, 1, CRC_CHUNK, file)) > 0)
        crc = crc32 (crc, buffer, (uInt) n);
    bool ok = buffer && !ferror (file);
    free (buffer);
    if (file)
        fclose (file);
    return ok ? (long long) crc : -1;
}

//  Bind text (may be NULL) to column at of stmt.
static void
s_bind_text (sqlite3_stmt *stmt, int at, const char *text)
{
    if (text)
        sqlite3_bind_text (stmt, at, text, -1, SQLITE_STATIC);
}

//  Write the doc table of self into the SQLite file at path, with key and
//  the size of the database copy it goes with. 0 or -1.
static int
s_docs_write (search_index_t *self, const char *path, const char *key, long long db_bytes, long long db_crc)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    remove (path);
    int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK
          && s_exec (db, s_docs_schema) == 0 && s_exec (db, "BEGIN") == 0 ? 0 : -1;
    if (rc == 0 && sqlite3_prepare_v2 (db, "INSERT INTO meta VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (stmt, 2, db_bytes);
        sqlite3_bind_int64 (stmt, 3, self->next_rowid);
        sqlite3_bind_int64 (stmt, 4, (sqlite3_int64) self->count);
        sqlite3_bind_double (stmt, 5, self->pop_max);
        sqlite3_bind_int64 (stmt, 6, db_crc);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
    }
    else
        rc = -1;
    sqlite3_finalize (stmt);
    stmt = NULL;
    const char *lists [2] = { "INSERT INTO genres VALUES (?1, ?2)", "INSERT INTO platforms VALUES (?1, ?2)" };
    for (int l = 0; l < 2 && rc == 0; l++) {
        char **names = l ? self->platforms : self->genres;
        size_t count = l ? self->platforms_count : self->genres_count;
        rc = sqlite3_prepare_v2 (db, lists [l], -1, &stmt, NULL) == SQLITE_OK ? 0 : -1;
        for (size_t i = 0; rc == 0 && i < count; i++) {
            sqlite3_reset (stmt);
            sqlite3_bind_int64 (stmt, 1, (sqlite3_int64) i);
            sqlite3_bind_text (stmt, 2, names [i], -1, SQLITE_STATIC);
            rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
        }
        sqlite3_finalize (stmt);
        stmt = NULL;
    }
    if (rc == 0)
        rc = sqlite3_prepare_v2 (db, "INSERT INTO doc VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                                 "?13, ?14, ?15)", -1, &stmt, NULL) == SQLITE_OK ? 0 : -1;
    for (int64_t rowid = 1; rc == 0 && rowid < self->next_rowid && (size_t) rowid < self->docs_room; rowid++) {
        const index_doc_t *d = &self->docs [rowid];
        if (!d->live)
            continue;
        sqlite3_reset (stmt);
        sqlite3_clear_bindings (stmt);
        sqlite3_bind_int64 (stmt, 1, rowid);
        sqlite3_bind_int (stmt, 2, d->tv);
        sqlite3_bind_int (stmt, 3, d->has_rating);
        sqlite3_bind_int (stmt, 4, d->year);
        sqlite3_bind_double (stmt, 5, d->popularity);
        sqlite3_bind_double (stmt, 6, d->rating);
        s_bind_text (stmt, 7, d->release);
        sqlite3_bind_int64 (stmt, 8, (sqlite3_int64) d->genres);
        const char *texts [DOC_TEXTS] = { d->titles, d->tags, d->companies, d->tagline, d->cast, d->crew };
        for (int i = 0; i < DOC_TEXTS; i++)
            s_bind_text (stmt, DOC_TEXT_COLUMN + 1 + i, texts [i]);
        if (d->offers_count)
            sqlite3_bind_blob (stmt, 15, d->offers, (int) (d->offers_count * sizeof *d->offers), SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize (stmt);
    rc = rc == 0 && s_exec (db, "COMMIT") == 0 ? 0 : -1;
    if (sqlite3_close (db) != SQLITE_OK)
        rc = -1;
    return rc;
}

int
search_index_store_write (search_index_t *self, const char *path, const char *key)
{
    assert (self && path && key);
    char stored [600], db_path [1024], docs_path [1024], db_tmp [1060], docs_tmp [1060];
    s_key (stored, sizeof stored, key);
    snprintf (db_path, sizeof db_path, "%s.db", path);
    snprintf (docs_path, sizeof docs_path, "%s.docs", path);
    snprintf (db_tmp, sizeof db_tmp, "%s.%ld.tmp", db_path, (long) getpid ());
    snprintf (docs_tmp, sizeof docs_tmp, "%s.%ld.tmp", docs_path, (long) getpid ());
    remove (db_tmp);
    //  The database first: a compact copy of every table, pages written
    //  in order (VACUUM INTO), then the doc table naming its size.
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->db, "VACUUM INTO ?1", -1, &stmt, NULL) == SQLITE_OK ? 0 : -1;
    if (rc == 0) {
        sqlite3_bind_text (stmt, 1, db_tmp, -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
    }
    if (rc)
        mg_warn ("cannot save the search index", "path=%s error=\"%s\"", db_tmp, sqlite3_errmsg (self->db));
    sqlite3_finalize (stmt);
    long long db_bytes = rc == 0 ? s_file_bytes (db_tmp) : -1;
    long long db_crc = db_bytes > 0 ? s_file_crc (db_tmp) : -1;
    rc = rc == 0 && db_crc >= 0 && s_docs_write (self, docs_tmp, stored, db_bytes, db_crc) == 0 ? 0 : -1;
    //  The doc table is renamed last: it holds the key, so a crash
    //  between the renames leaves a pair that no key matches.
    rc = rc == 0 && rename (db_tmp, db_path) == 0 && rename (docs_tmp, docs_path) == 0 ? 0 : -1;
    if (rc) {
        remove (db_tmp);
        remove (docs_tmp);
        mg_warn ("cannot save the search index's doc table", "path=%s", docs_path);
    }
    return rc;
}

//  Copy of text or NULL (column of stmt) into *out. 0, or -1 (memory).
static int
s_column_dup (sqlite3_stmt *stmt, int col, char **out)
{
    const char *text = (const char *) sqlite3_column_text (stmt, col);
    *out = strdup (text ? text : "");
    return *out ? 0 : -1;
}

//  Read the doc table saved at path under stored into self; the size the
//  database copy must have into *db_bytes. 0, or -1 (no such key, a file
//  that does not read, values out of range).
static int
s_docs_read (search_index_t *self, const char *path, const char *stored, long long *db_bytes, long long *db_crc)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
          && sqlite3_prepare_v2 (db, "SELECT key, db_bytes, next_rowid, titles, pop_max, db_crc FROM meta", -1,
                                 &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW ? 0 : -1;
    int64_t next_rowid = 0;
    if (rc == 0) {
        const char *key = (const char *) sqlite3_column_text (stmt, 0);
        *db_bytes = sqlite3_column_int64 (stmt, 1);
        *db_crc = sqlite3_column_int64 (stmt, 5);
        next_rowid = sqlite3_column_int64 (stmt, 2);
        self->pop_max = sqlite3_column_double (stmt, 4);
        rc = key && strcmp (key, stored) == 0 && next_rowid >= 1 && sqlite3_column_int64 (stmt, 3) >= 0 ? 0 : 1;
    }
    sqlite3_finalize (stmt);
    stmt = NULL;
    const char *lists [2] = { "SELECT i, slug FROM genres ORDER BY i", "SELECT i, slug FROM platforms ORDER BY i" };
    for (int l = 0; l < 2 && rc == 0; l++) {
        char **names = l ? self->platforms : self->genres;
        size_t *count = l ? &self->platforms_count : &self->genres_count;
        size_t max = l ? PLATFORMS_MAX : GENRES_MAX;
        rc = sqlite3_prepare_v2 (db, lists [l], -1, &stmt, NULL) == SQLITE_OK ? 0 : -1;
        int step = SQLITE_DONE;
        while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
            rc = *count < max && sqlite3_column_int64 (stmt, 0) == (sqlite3_int64) *count
               && s_column_dup (stmt, 1, &names [*count]) == 0 ? 0 : -1;
            *count += rc == 0;
        }
        rc = rc == 0 && step == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize (stmt);
        stmt = NULL;
    }
    size_t room = (size_t) (next_rowid > 0 ? next_rowid : 1);
    if (rc == 0) {
        self->docs = calloc (room, sizeof *self->docs);
        self->docs_room = self->docs ? room : 0;
        rc = self->docs && sqlite3_prepare_v2 (db, "SELECT * FROM doc ORDER BY rowid", -1, &stmt, NULL)
             == SQLITE_OK ? 0 : -1;
    }
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64 (stmt, 0);
        int offers = sqlite3_column_bytes (stmt, 14);
        rc = rowid >= 1 && rowid < next_rowid && offers % (int) sizeof (index_offer_t) == 0 ? 0 : -1;
        index_doc_t *d = rc == 0 ? &self->docs [rowid] : NULL;
        if (rc == 0) {
            d->tv = sqlite3_column_int (stmt, 1) != 0;
            d->has_rating = sqlite3_column_int (stmt, 2) != 0;
            d->year = sqlite3_column_int (stmt, 3);
            d->popularity = sqlite3_column_double (stmt, 4);
            d->rating = sqlite3_column_double (stmt, 5);
            const char *release = (const char *) sqlite3_column_text (stmt, 6);
            snprintf (d->release, sizeof d->release, "%s", release ? release : "");
            d->genres = (uint64_t) sqlite3_column_int64 (stmt, 7);
            char **texts [DOC_TEXTS] = { &d->titles, &d->tags, &d->companies, &d->tagline, &d->cast, &d->crew };
            for (int i = 0; rc == 0 && i < DOC_TEXTS; i++)
                rc = s_column_dup (stmt, DOC_TEXT_COLUMN + i, texts [i]);
        }
        d = rc == 0 ? d : NULL;
        if (d && offers > 0) {
            d->offers = malloc ((size_t) offers);
            rc = d->offers ? 0 : -1;
            if (rc == 0) {
                memcpy (d->offers, sqlite3_column_blob (stmt, 14), (size_t) offers);
                d->offers_count = (size_t) offers / sizeof *d->offers;
            }
            for (size_t i = 0; rc == 0 && i < d->offers_count; i++)
                rc = d->offers [i].platform < self->platforms_count && d->offers [i].region [2] == '\0' ? 0 : -1;
        }
        if (d && rc == 0 && !d->live) {
            d->live = true;
            self->count++;
        }
    }
    rc = rc == 0 && step == SQLITE_DONE ? 0 : rc ? rc : -1;
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    self->next_rowid = next_rowid;
    return rc;
}

//  True when the doc table at path is saved under stored (another key:
//  another generation, model or format, built anew without a warning).
static bool
s_docs_keyed (const char *path, const char *stored)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    bool keyed = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
              && sqlite3_prepare_v2 (db, "SELECT key FROM meta", -1, &stmt, NULL) == SQLITE_OK
              && sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_text (stmt, 0)
              && strcmp ((const char *) sqlite3_column_text (stmt, 0), stored) == 0;
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    return keyed;
}

//  Copy the database at path into self's (in memory). 0 or -1.
static int
s_db_read (search_index_t *self, const char *path)
{
    sqlite3 *file = NULL;
    int rc = sqlite3_open_v2 (path, &file, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_backup *backup = rc == 0 ? sqlite3_backup_init (self->db, "main", file, "main") : NULL;
    rc = backup && sqlite3_backup_step (backup, -1) == SQLITE_DONE ? 0 : -1;
    if (backup && sqlite3_backup_finish (backup) != SQLITE_OK)
        rc = -1;
    sqlite3_close (file);
    return rc;
}

//  True when the database copy holds the titles and people the doc table
//  says (a file that reads but does not fit is not served).
static bool
s_db_fits (search_index_t *self)
{
    sqlite3_stmt *stmt = NULL;
    bool fits = sqlite3_prepare_v2 (self->db, "SELECT (SELECT count (*) FROM docs), (SELECT max (rowid) FROM docs), "
                                    "(SELECT count (*) FROM people), (SELECT max (popularity) FROM people), "
                                    "(SELECT count (*) FROM fts_docsize)", -1, &stmt, NULL) == SQLITE_OK
             && sqlite3_step (stmt) == SQLITE_ROW
             && (size_t) sqlite3_column_int64 (stmt, 0) == self->count
             && sqlite3_column_int64 (stmt, 1) < self->next_rowid
             && (size_t) sqlite3_column_int64 (stmt, 4) == self->count;
    if (fits) {
        self->people = (size_t) sqlite3_column_int64 (stmt, 2);
        self->person_pop_max = sqlite3_column_double (stmt, 3);
    }
    sqlite3_finalize (stmt);
    return fits;
}

//  Give every title its vector's slot from the map read with the vectors.
//  0, or -1 when the map does not fit the titles.
static int
s_claim_slots (search_index_t *self)
{
    sqlite3_stmt *stmt = index_stmt (self, ST_SLOT_IDS);
    int step = SQLITE_DONE;
    while (stmt && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64 (stmt, 0);
        const char *id = (const char *) sqlite3_column_text (stmt, 1);
        if (rowid > 0 && rowid < self->next_rowid && self->docs [rowid].live && id)
            index_vec_claim (self, rowid, &self->docs [rowid], id);
    }
    if (stmt)
        sqlite3_reset (stmt);
    return stmt && step == SQLITE_DONE && search_index_vectors_complete (self) ? 0 : -1;
}

search_index_t *
search_index_store_read (const mg_lsa_t *lsa, const char *path, const char *key, const char *vectors_key,
                         char *err, size_t errlen)
{
    assert (path && key);
    char stored [600], db_path [1024], docs_path [1024];
    s_key (stored, sizeof stored, key);
    snprintf (db_path, sizeof db_path, "%s.db", path);
    snprintf (docs_path, sizeof docs_path, "%s.docs", path);
    if (s_file_bytes (docs_path) < 0 || s_file_bytes (db_path) < 0)
        return NULL;
    if (!s_docs_keyed (docs_path, stored))
        return NULL;
    search_index_t *self = search_index_new (lsa, err, errlen);
    if (!self)
        return NULL;
    //  The vectors first: they are read into an index that holds no title.
    int rc = 0;
    const char *why = NULL;
    if (lsa && (!vectors_key || search_index_vectors_read (self, path, vectors_key) != 1)) {
        rc = -1;
        why = "the vector index does not read";
    }
    long long db_bytes = -1, db_crc = -1;
    if (rc == 0 && (rc = s_docs_read (self, docs_path, stored, &db_bytes, &db_crc)) < 0)
        why = "the doc table does not read";
    if (rc == 0 && (s_file_bytes (db_path) != db_bytes || s_file_crc (db_path) != db_crc)) {
        rc = -1;
        why = "the database file is not the one saved (size or checksum)";
    }
    if (rc == 0 && (s_db_read (self, db_path) || !s_db_fits (self))) {
        rc = -1;
        why = "the database file does not read or does not fit the doc table";
    }
    if (rc == 0 && lsa && s_claim_slots (self)) {
        rc = -1;
        why = "the vector index does not fit it";
    }
    if (rc) {
        if (why)
            mg_warn ("saved search index unusable: building", "path=%s reason=\"%s\"", path, why);
        search_index_destroy (&self);
    }
    return self;
}
