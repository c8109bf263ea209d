/*  The vectors of the search index: each title's slot in the FAISS index
    (dead slots of changed titles, a rebuild when they outnumber the live
    ones), and the index saved to and read back from its file with the
    map of which title each slot is of (docs/search.md, "Persistence").  */
#include "index_impl.h"
#include "mg_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
index_vec_forget (search_index_t *self, index_doc_t *d)
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
        index_doc_t *d = &self->docs [rowid];
        if (d->slot > 0 && n < live && search_hnsw_vector (self->hnsw, d->slot - 1, vectors + n * self->dims))
            slot_rowid [n++] = rowid;
    }
    int rc = hnsw && slot_rowid && vectors && search_hnsw_add (hnsw, vectors, n, err, sizeof err) == 0
          && search_hnsw_seal (hnsw, err, sizeof err) == 0 ? 0 : -1;
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

int
index_vec_append (search_index_t *self, int64_t rowid, const float *vec)
{
    size_t held = search_hnsw_count (self->hnsw);
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
    return 0;
}

int
index_vec_add (search_index_t *self, int64_t rowid, index_doc_t *d, const float *vec)
{
    size_t held = search_hnsw_count (self->hnsw);
    if (self->dead > HNSW_DEAD_MIN && self->dead > held - self->dead) {
        if (s_vec_rebuild (self))
            return -1;
        held = search_hnsw_count (self->hnsw);
    }
    if (index_vec_append (self, rowid, vec))
        return -1;
    d->slot = (int64_t) held + 1;
    return 0;
}

static int
s_by_slot_id (const void *a, const void *b)
{
    return strcmp (((const index_slot_id_t *) a)->id, ((const index_slot_id_t *) b)->id);
}

void
index_vec_claim (search_index_t *self, int64_t rowid, index_doc_t *d, const char *id)
{
    index_slot_id_t key;
    snprintf (key.id, sizeof key.id, "%s", id);
    index_slot_id_t *found = bsearch (&key, self->read_slots, self->read_count, sizeof key, s_by_slot_id);
    if (!found)
        return;
    if (self->slot_rowid [found->slot]) {
        self->read_clash = true;
        return;
    }
    self->slot_rowid [found->slot] = rowid;
    d->slot = found->slot + 1;
    self->read_claimed++;
}

int
search_index_vectors_read (search_index_t *self, const char *path, const char *key)
{
    assert (self && path && key);
    if (!self->hnsw || self->count)
        return 0;
    char err [256] = "", ids_path [1024];
    snprintf (ids_path, sizeof ids_path, "%s.ids", path);
    search_hnsw_t *hnsw = NULL;
    int rc = search_hnsw_load (path, key, self->dims, &hnsw, err, sizeof err);
    if (rc) {
        if (rc < 0)
            mg_warn ("saved vector index unreadable: building", "path=%s reason=\"%s\"", path, err);
        return rc < 0 ? -1 : 0;
    }
    //  The map: the key, then one line per slot, "slot id", every slot once.
    size_t held = search_hnsw_count (hnsw);
    FILE *file = fopen (ids_path, "r");
    index_slot_id_t *slots = calloc (held ? held : 1, sizeof *slots);
    int64_t *slot_rowid = calloc (held ? held : 1, sizeof *slot_rowid);
    size_t count = 0;
    char line [1024];
    bool ok = file && slots && slot_rowid && fgets (line, sizeof line, file)
           && strcspn (line, "\n") == strlen (key) && strncmp (line, key, strlen (key)) == 0;
    while (ok && fgets (line, sizeof line, file)) {
        long long slot;
        char id [40];
        ok = count < held && sscanf (line, "%lld %39s", &slot, id) == 2 && slot >= 0 && (size_t) slot < held;
        if (ok) {
            snprintf (slots [count].id, sizeof slots [count].id, "%s", id);
            slots [count++].slot = slot;
        }
    }
    ok = ok && count == held;
    if (file)
        fclose (file);
    if (!ok) {
        mg_warn ("saved vector index has no usable slot map: building", "path=%s", ids_path);
        free (slots);
        free (slot_rowid);
        search_hnsw_destroy (&hnsw);
        return -1;
    }
    qsort (slots, count, sizeof *slots, s_by_slot_id);
    search_hnsw_destroy (&self->hnsw);
    free (self->slot_rowid);
    self->hnsw = hnsw;
    self->slot_rowid = slot_rowid;
    self->slots_room = held ? held : 1;
    self->dead = 0;
    self->read_slots = slots;
    self->read_count = count;
    self->read_claimed = 0;
    self->read_clash = false;
    return 1;
}

bool
search_index_vectors_complete (search_index_t *self)
{
    assert (self);
    bool complete = self->read_slots && !self->read_clash && self->read_claimed == self->read_count;
    //  The puts that follow (the follower's) add vectors as usual.
    free (self->read_slots);
    self->read_slots = NULL;
    return complete;
}

int
search_index_vectors_write (search_index_t *self, const char *path, const char *key)
{
    assert (self && path && key);
    if (!self->hnsw)
        return 0;
    char err [256] = "", ids_path [1024], tmp [1060];
    snprintf (ids_path, sizeof ids_path, "%s.ids", path);
    //  Replicas sharing a file each write their own temporary one.
    snprintf (tmp, sizeof tmp, "%s.%ld.tmp", ids_path, (long) getpid ());
    //  The map first: an index file is only ever read with a map that was
    //  written for it (a crash between the two renames leaves a map the
    //  old index's key never matches).
    FILE *file = fopen (tmp, "w");
    sqlite3_stmt *stmt = file && fprintf (file, "%s\n", key) > 0 ? index_stmt (self, ST_SLOT_IDS) : NULL;
    bool ok = stmt != NULL;
    int step = SQLITE_DONE;
    while (ok && (step = sqlite3_step (stmt)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64 (stmt, 0);
        if (rowid > 0 && (size_t) rowid < self->docs_room && self->docs [rowid].slot > 0)
            ok = fprintf (file, "%lld %s\n", (long long) self->docs [rowid].slot - 1,
                          (const char *) sqlite3_column_text (stmt, 1)) > 0;
    }
    ok = ok && step == SQLITE_DONE && self->dead == 0;
    if (stmt)
        sqlite3_reset (stmt);
    if (file)
        ok = fclose (file) == 0 && ok;
    ok = ok && rename (tmp, ids_path) == 0;
    if (!ok) {
        remove (tmp);
        mg_warn ("cannot save the vector index's slot map", "path=%s", ids_path);
        return -1;
    }
    if (search_hnsw_save (self->hnsw, path, key, err, sizeof err)) {
        mg_warn ("cannot save the vector index", "path=%s reason=\"%s\"", path, err);
        return -1;
    }
    return 0;
}
