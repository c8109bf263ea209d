/*  CSV files (RFC 4180: quoted fields may hold commas, quotes and line
    breaks), plain or gzip'd, read row by row with libcsv.  */
#ifndef MG_CSV_H_INCLUDED
#define MG_CSV_H_INCLUDED

#include <stddef.h>

#define MG_CSV_FIELDS_MAX   64              //  columns a row may have
#define MG_CSV_ROW_MAX      (4 << 20)       //  bytes a row may hold (TMDB credits rows reach ~1 MB)

//  Called once per row, header included; row counts from 1. Fields are
//  NUL-terminated and valid only during the call. Non-zero stops reading.
typedef int (mg_csv_row_fn) (char **fields, size_t count, size_t row, void *arg);

//  Read path (gzip or plain text), calling fn for every row. Returns 0 when
//  the whole file was read, 1 when fn stopped it, -1 with err filled when the
//  file cannot be read or is not valid CSV (a row over the limits included).
int mg_csv_read (const char *path, mg_csv_row_fn *fn, void *arg, char *err, size_t errlen);

//  Parse data (len bytes of CSV in memory), calling fn for every row with
//  the line the row ends on (from 1) as its row. Returns 0 when all was
//  read, 1 when fn stopped it, -1 with err filled and *line the line at
//  fault when the text is not valid CSV (a row over the limits included).
int mg_csv_parse (const char *data, size_t len, mg_csv_row_fn *fn, void *arg, char *err, size_t errlen,
                  size_t *line);

//  Column index in header (count columns) of the first of names found, or -1.
int mg_csv_column (char **header, size_t count, const char *const *names);

#endif
