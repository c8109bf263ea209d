/*  Rows for COPY ... FROM STDIN (text format), built in memory and sent in
    one go. The apply path writes new source records and the child tables
    whose rows never collide with another entity's (credits, offers, videos,
    alternative titles) this way: the server then parses plain columns
    instead of walking a JSON parameter per statement, which was most of its
    time on a first import.  */
#include "indexer.h"
#include "mg_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Bytes sent per PQputCopyData call: big enough that the calls cost
//  nothing next to the rows, small enough to stay out of huge allocations.
#define COPY_CHUNK  (256 * 1024)

//  Room for need more bytes; false (and failed set) when out of memory.
static bool
s_reserve (indexer_copy_t *self, size_t need)
{
    if (self->failed)
        return false;
    if (self->used + need <= self->size)
        return true;
    size_t size = self->size ? self->size : 64 * 1024;
    while (size < self->used + need)
        size *= 2;
    char *data = realloc (self->data, size);
    if (!data) {
        self->failed = true;
        return false;
    }
    self->data = data;
    self->size = size;
    return true;
}

void
indexer_copy_field (indexer_copy_t *self, const char *text)
{
    //  A tab before every field but a row's first.
    size_t need = (text ? strlen (text) * 2 : 2) + 1;
    if (!s_reserve (self, need))
        return;
    if (self->used && self->data [self->used - 1] != '\n')
        self->data [self->used++] = '\t';
    if (!text) {
        memcpy (self->data + self->used, "\\N", 2);
        self->used += 2;
        return;
    }
    //  COPY's text format: backslash, tab, newline and carriage return are
    //  the only bytes with a meaning, so they are the only ones escaped.
    for (const char *p = text; *p; p++) {
        char c = *p;
        char escaped = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
        if (escaped) {
            self->data [self->used++] = '\\';
            self->data [self->used++] = escaped;
        }
        else
            self->data [self->used++] = c;
    }
}

void
indexer_copy_end_row (indexer_copy_t *self)
{
    if (s_reserve (self, 1))
        self->data [self->used++] = '\n';
    self->rows++;
}

void
indexer_copy_clear (indexer_copy_t *self)
{
    free (self->data);
    memset (self, 0, sizeof *self);
}

int
indexer_copy_send (PGconn *pg, const char *sql, indexer_copy_t *self, char *err, size_t errlen,
                   char sqlstate [8])
{
    sqlstate [0] = 0;
    if (self->failed) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    if (self->rows == 0)
        return 0;
    PGresult *res = PQexec (pg, sql);
    if (PQresultStatus (res) != PGRES_COPY_IN) {
        snprintf (sqlstate, 8, "%s", mg_pg_sqlstate (res));
        snprintf (err, errlen, "%s", PQresultErrorMessage (res));
        PQclear (res);
        return -1;
    }
    PQclear (res);
    bool sent = true;
    for (size_t at = 0; sent && at < self->used; at += COPY_CHUNK) {
        size_t len = self->used - at < COPY_CHUNK ? self->used - at : COPY_CHUNK;
        sent = PQputCopyData (pg, self->data + at, (int) len) == 1;
    }
    //  Ending with an error message makes the server abandon the COPY.
    if (PQputCopyEnd (pg, sent ? NULL : "rows not sent") != 1) {
        snprintf (err, errlen, "COPY not ended: %s", PQerrorMessage (pg));
        return -1;
    }
    int rc = 0;
    while ((res = PQgetResult (pg))) {
        if (PQresultStatus (res) != PGRES_COMMAND_OK && rc == 0) {
            snprintf (sqlstate, 8, "%s", mg_pg_sqlstate (res));
            snprintf (err, errlen, "%s", PQresultErrorMessage (res));
            rc = -1;
        }
        PQclear (res);
    }
    return rc;
}
