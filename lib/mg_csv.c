/*  CSV reading on libcsv: libcsv finds the fields, this file gathers them
    into rows with fixed limits and hands each row to the caller.  */
#include "mg_csv.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define READ_CHUNK  65536               //  bytes handed to libcsv at a time

typedef struct {
    char *buf;                          //  the row's fields, each NUL-terminated
    size_t used;
    size_t offsets [MG_CSV_FIELDS_MAX];
    size_t count;
    size_t row;
    int overflow;                       //  1: too many fields, 2: row too long
    size_t bad_row;                     //  the row that overflowed
    int stopped;
    size_t line;                        //  mg_csv_parse: the line being fed, passed as row
    mg_csv_row_fn *fn;
    void *arg;
} s_rows_t;

//  libcsv: one field ended.
static void
s_on_field (void *data, size_t len, void *arg)
{
    s_rows_t *self = arg;
    if (self->overflow || self->stopped)
        return;
    if (self->count == MG_CSV_FIELDS_MAX) {
        self->overflow = 1;
        self->bad_row = self->row + 1;
        return;
    }
    if (self->used + len + 1 > MG_CSV_ROW_MAX) {
        self->overflow = 2;
        self->bad_row = self->row + 1;
        return;
    }
    if (len)
        memcpy (self->buf + self->used, data, len);
    self->offsets [self->count++] = self->used;
    self->used += len;
    self->buf [self->used++] = '\0';
}

//  libcsv: one row ended.
static void
s_on_row (int terminator, void *arg)
{
    (void) terminator;
    s_rows_t *self = arg;
    self->row++;
    if (!self->overflow && !self->stopped) {
        char *fields [MG_CSV_FIELDS_MAX];
        for (size_t i = 0; i < self->count; i++)
            fields [i] = self->buf + self->offsets [i];
        if (self->fn (fields, self->count, self->line ? self->line : self->row, self->arg))
            self->stopped = 1;
    }
    self->count = 0;
    self->used = 0;
}

int
mg_csv_read (const char *path, mg_csv_row_fn *fn, void *arg, char *err, size_t errlen)
{
    gzFile in = gzopen (path, "rb");        //  reads plain files as they are
    if (!in) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno ? errno : ENOENT));
        return -1;
    }
    struct csv_parser parser;
    if (csv_init (&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0) {
        gzclose (in);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    s_rows_t rows = { .buf = malloc (MG_CSV_ROW_MAX), .fn = fn, .arg = arg };
    char *chunk = malloc (READ_CHUNK);
    int rc = 0;
    if (!rows.buf || !chunk) {
        snprintf (err, errlen, "out of memory");
        rc = -1;
    }
    while (rc == 0 && !rows.stopped && !rows.overflow) {
        int got = gzread (in, chunk, READ_CHUNK);
        if (got < 0) {
            int zerr;
            snprintf (err, errlen, "%s: %s", path, gzerror (in, &zerr));
            rc = -1;
            break;
        }
        if (got == 0) {
            if (csv_fini (&parser, s_on_field, s_on_row, &rows) != 0) {
                snprintf (err, errlen, "%s: row %zu: %s", path, rows.row + 1,
                          csv_strerror (csv_error (&parser)));
                rc = -1;
            }
            break;
        }
        if (csv_parse (&parser, chunk, (size_t) got, s_on_field, s_on_row, &rows) != (size_t) got) {
            snprintf (err, errlen, "%s: row %zu: %s", path, rows.row + 1,
                      csv_strerror (csv_error (&parser)));
            rc = -1;
        }
    }
    if (rc == 0 && rows.overflow == 1) {
        snprintf (err, errlen, "%s: row %zu: more than %d columns", path, rows.bad_row, MG_CSV_FIELDS_MAX);
        rc = -1;
    }
    if (rc == 0 && rows.overflow == 2) {
        snprintf (err, errlen, "%s: row %zu: longer than %d bytes", path, rows.bad_row, MG_CSV_ROW_MAX);
        rc = -1;
    }
    if (rc == 0 && rows.stopped)
        rc = 1;
    csv_free (&parser);
    free (chunk);
    free (rows.buf);
    gzclose (in);
    return rc;
}

int
mg_csv_parse (const char *data, size_t len, mg_csv_row_fn *fn, void *arg, char *err, size_t errlen,
              size_t *line)
{
    *line = 0;
    struct csv_parser parser;
    if (csv_init (&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    s_rows_t rows = { .buf = malloc (MG_CSV_ROW_MAX), .fn = fn, .arg = arg, .line = 1 };
    int rc = 0;
    if (!rows.buf) {
        snprintf (err, errlen, "out of memory");
        rc = -1;
    }
    //  Fed a line at a time, so a row is known by the line it ends on.
    size_t at = 0;
    while (rc == 0 && at < len && !rows.stopped && !rows.overflow) {
        const char *nl = memchr (data + at, '\n', len - at);
        size_t n = nl ? (size_t) (nl - (data + at)) + 1 : len - at;
        if (csv_parse (&parser, data + at, n, s_on_field, s_on_row, &rows) != n) {
            snprintf (err, errlen, "%s", csv_strerror (csv_error (&parser)));
            *line = rows.line;
            rc = -1;
        }
        at += n;
        if (rc == 0 && nl)
            rows.line++;
    }
    //  The last row ends with the text: on the last line, not past a final newline.
    if (len && data [len - 1] == '\n' && rows.line > 1)
        rows.line--;
    if (rc == 0 && !rows.stopped && !rows.overflow && csv_fini (&parser, s_on_field, s_on_row, &rows) != 0) {
        snprintf (err, errlen, "%s", csv_strerror (csv_error (&parser)));
        *line = rows.line;
        rc = -1;
    }
    if (rc == 0 && rows.overflow) {
        snprintf (err, errlen, rows.overflow == 1 ? "more than %d columns" : "a row longer than %d bytes",
                  rows.overflow == 1 ? MG_CSV_FIELDS_MAX : MG_CSV_ROW_MAX);
        *line = rows.line;
        rc = -1;
    }
    if (rc == 0 && rows.stopped)
        rc = 1;
    csv_free (&parser);
    free (rows.buf);
    return rc;
}

int
mg_csv_column (char **header, size_t count, const char *const *names)
{
    for (const char *const *name = names; *name; name++)
        for (size_t i = 0; i < count; i++)
            if (strcmp (header [i], *name) == 0)
                return (int) i;
    return -1;
}
